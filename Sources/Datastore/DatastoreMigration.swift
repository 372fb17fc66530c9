#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KeyValueStore

/// Copies every key of one store into another (`caracal datastore migrate`,
/// docs/datastore.md "Migrating"): the embedded file into etcd when a node
/// joins a cluster.
///
/// - Loses nothing: every live key of the source is written, then the
///   target is read back and compared key by key.
/// - Refuses a target that holds other data (a key the source lacks, or a
///   different value) unless `force`; with `force` the source's keys
///   overwrite, and the target's other keys stay (reported).
/// - Safe to re-run: keys already equal are not written again, so a run
///   interrupted half-way resumes, and a finished one changes nothing.
/// - The copy goes in transactions of at most `KVLimits`' writes, so it is
///   not atomic as a whole; the read-back is what says it is complete.
///   Revisions and deletion history are the target's own (a watcher
///   re-lists after a migration).
public enum DatastoreMigration {
    public struct Report: Hashable, Sendable, Codable {
        public var sourceKeys: Int
        public var written: Int
        public var alreadyEqual: Int
        /// Keys only the target holds (left in place).
        public var targetOnly: [String]
        /// Keys whose target value differed before the copy (overwritten under `force`).
        public var overwritten: [String]
    }

    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The target holds data the source does not: `force` to overwrite.
        case targetNotEmpty(differing: [String], targetOnly: [String])
        /// A key read back from the target is missing or different.
        case verificationFailed(key: String)

        public var description: String {
            switch self {
            case .targetNotEmpty(let differing, let targetOnly):
                "the target holds other data (\(differing.count) keys differ, e.g. \(differing.prefix(3)); \(targetOnly.count) keys only in the target, e.g. \(targetOnly.prefix(3))): use --force to overwrite"
            case .verificationFailed(let key): "key \(key) did not read back equal from the target"
            }
        }
    }

    public static func run(from source: any KVStore, to target: any KVStore, force: Bool) throws -> Report {
        let wanted = try source.read { tx in try tx.entries(prefix: "") }
        let present = Dictionary(uniqueKeysWithValues: try target.read { tx in try tx.entries(prefix: "") }.map { ($0.key, $0.value) })
        let wantedKeys = Set(wanted.map(\.key))
        let differing = wanted.filter { present[$0.key] != nil && present[$0.key] != $0.value }.map(\.key)
        let targetOnly = present.keys.filter { !wantedKeys.contains($0) }.sorted()
        if !force, !differing.isEmpty || !targetOnly.isEmpty {
            throw Failure.targetNotEmpty(differing: differing, targetOnly: targetOnly)
        }
        let toWrite = wanted.filter { present[$0.key] != $0.value }
        for chunk in toWrite.chunked(by: KVLimits.maxWritesPerTransaction) {
            try target.transaction { tx in
                for kv in chunk { try tx.put(kv.key, kv.value) }
            }
        }
        let after = Dictionary(uniqueKeysWithValues: try target.read { tx in try tx.entries(prefix: "") }.map { ($0.key, $0.value) })
        for kv in wanted where after[kv.key] != kv.value {
            throw Failure.verificationFailed(key: kv.key)
        }
        return Report(
            sourceKeys: wanted.count, written: toWrite.count, alreadyEqual: wanted.count - toWrite.count,
            targetOnly: targetOnly, overwritten: differing)
    }
}
