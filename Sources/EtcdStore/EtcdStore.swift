import Foundation
import KeyValueStore
import Logging
import Synchronization

/// The etcd v3 backend of `KVStore` (docs/datastore.md).
///
/// - Keys live under `config.prefix` (default `/caracal/`); the store
///   never reads or writes outside it.
/// - Revisions are etcd's. Every write transaction also puts the store's
///   revision marker (`<prefix>.revision`), so `revision()` is the
///   revision of this store's last write (not another tenant's), and
///   `changes` knows exactly where history up to it ends: at the marker's
///   event.
/// - A transaction is optimistic: reads come from one snapshot revision
///   and record what they saw; the commit is one `Txn` comparing it, and
///   the whole body runs again when another writer got there first.
public final class EtcdStore: KVStore, Sendable {
    public let client: EtcdClient
    let prefix: String
    let marker: Data
    let logger: Logger
    /// Attempts of one transaction before `KVStoreError.conflict`.
    public let maxAttempts: Int

    public static let markerName = ".revision"

    public init(_ config: EtcdConfig, maxAttempts: Int = 64, logger: Logger = Logger(label: "caracal.etcd")) throws {
        guard !config.prefix.isEmpty else { throw EtcdConfigError(field: "prefix", problem: "must not be empty") }
        self.client = try EtcdClient(config, logger: logger)
        self.prefix = config.prefix
        self.marker = Data((config.prefix + Self.markerName).utf8)
        self.maxAttempts = maxAttempts
        self.logger = logger
    }

    // MARK: - Keys

    func etcdKey(_ key: String) -> Data { Data((prefix + key).utf8) }

    /// The store's key for an etcd key, nil for the marker and for keys
    /// outside the prefix.
    func storeKey(_ key: Data) -> String? {
        guard key != marker else { return nil }
        let full = String(decoding: key, as: UTF8.self)
        guard full.hasPrefix(prefix) else { return nil }
        return String(full.dropFirst(prefix.count))
    }

    // MARK: - KVStore

    public func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        var backoff = Backoff()
        for attempt in 1...maxAttempts {
            let tx = EtcdTransaction(store: self, readOnly: false)
            do {
                let result = try body(tx)
                if try tx.commit() { return result }
            } catch is EtcdTransaction.SnapshotLost {
                // Compacted past the snapshot mid-way: run again on a fresh one.
            }
            logger.trace("etcd transaction conflicted", metadata: ["attempt": "\(attempt)"])
            backoff.wait()
        }
        throw KVStoreError.conflict(attempts: maxAttempts)
    }

    public func read<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        while true {
            do { return try body(EtcdTransaction(store: self, readOnly: true)) } catch is EtcdTransaction.SnapshotLost {}
        }
    }

    public func revision() throws -> Revision {
        let answer: RangeResponse = try client.call("/v3/kv/range", RangeRequest(key: marker), idempotent: true)
        // Nothing written yet: the cluster's revision, which no later write
        // of this store can be at or below.
        return answer.kvs?.first?.mod_revision?.value ?? answer.header?.revision?.value ?? 0
    }

    /// Reads etcd's history with a watch from `after` (not `after + 1`:
    /// etcd refuses a watch that starts below its compaction revision, and
    /// the contract says `after` itself must not be compacted) and stops
    /// at the marker's event at the store's revision, which every write
    /// transaction makes.
    public func changes(prefix keyPrefix: String, after: Revision) throws -> ChangeSet {
        let through = try revision()
        guard through > after else { return ChangeSet(events: [], revision: max(through, after)) }
        let watched = Data(prefix.utf8)
        let create = WatchCreateRequest(key: watched, range_end: rangeEnd(ofPrefix: watched), start_revision: EtcdInt64(max(after, 1)))
        let collected = Mutex<(latest: [String: WatchEvent], compacted: Revision?, done: Bool)>(([:], nil, false))
        let marker = self.marker
        try client.stream("/v3/watch", WatchRequest(create_request: create), timeout: .milliseconds(client.config.requestTimeoutMs)) { line in
            let message = try Self.decodeWatchLine(line)
            return collected.withLock { state in
                if let compacted = message.compact_revision?.value, compacted > 0 {
                    state.compacted = compacted
                    return false
                }
                for event in message.events ?? [] {
                    guard let revision = event.kv.mod_revision?.value, revision > after, revision <= through else { continue }
                    if event.kv.key == marker {
                        if revision == through { state.done = true }
                        continue
                    }
                    guard let key = self.storeKey(event.kv.key), key.hasPrefix(keyPrefix) else { continue }
                    state.latest[key] = Self.watchEvent(event, key: key, revision: revision)
                }
                return !state.done
            }
        }
        let result = collected.withLock { $0 }
        if let compacted = result.compacted {
            throw KVStoreError.compacted(requested: after, compactedThrough: compacted)
        }
        guard result.done else {
            throw EtcdError(kind: .ambiguous, call: "/v3/watch", endpoint: "", message: "the watch ended before revision \(through)")
        }
        let events = result.latest.values.sorted { ($0.modRevision, $0.key) < ($1.modRevision, $1.key) }
        return ChangeSet(events: events, revision: through)
    }

    /// Compacts etcd's history through `revision` (clamped to the current
    /// revision), physically, so that a following read sees it. Note that
    /// etcd's compaction is cluster-wide, not per prefix.
    public func compact(through revision: Revision) throws {
        let target = min(revision, try clusterRevision())
        guard target > 1 else { return }
        do {
            let _: EmptyResponse = try client.call("/v3/kv/compaction", CompactionRequest(revision: EtcdInt64(target), physical: true), idempotent: true)
        } catch let error as EtcdError where error.kind == .outOfRange {
            // Compacted at or past `target` meanwhile: nothing to do.
        }
    }

    /// etcd has no call for it, but a read at a revision below the
    /// compaction point is refused (OutOfRange) and one at or above it is
    /// served: the smallest served revision, by bisection (one read when
    /// nothing was compacted).
    public func compactedRevision() throws -> Revision {
        func served(_ revision: Revision) throws -> Bool {
            do {
                let _: RangeResponse = try client.call(
                    "/v3/kv/range", RangeRequest(key: marker, revision: EtcdInt64(revision), count_only: true), idempotent: true)
                return true
            } catch let error as EtcdError where error.kind == .outOfRange {
                return false
            }
        }
        if try served(1) { return 0 }
        var low: Revision = 1, high = try clusterRevision()  // low refused, high served
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if try served(middle) { high = middle } else { low = middle }
        }
        return high
    }

    func clusterRevision() throws -> Revision {
        let answer: RangeResponse = try client.call("/v3/kv/range", RangeRequest(key: marker, count_only: true), idempotent: true)
        return answer.header?.revision?.value ?? 0
    }

    // MARK: - Decoding

    static func decodeWatchLine(_ line: Data) throws -> WatchResponse {
        let decoded: StreamLine<WatchResponse>
        do { decoded = try JSONDecoder().decode(StreamLine<WatchResponse>.self, from: line) } catch {
            throw EtcdError(kind: .malformedResponse, call: "/v3/watch", endpoint: "", message: "\(error)")
        }
        if let error = decoded.error, let code = error.code {
            throw EtcdError(kind: EtcdErrorKind(grpcCode: code), call: "/v3/watch", endpoint: "", message: error.message ?? "")
        }
        guard let result = decoded.result else {
            throw EtcdError(kind: .malformedResponse, call: "/v3/watch", endpoint: "", message: "a line with neither result nor error")
        }
        return result
    }

    static func watchEvent(_ event: WatchEventJSON, key: String, revision: Revision) -> WatchEvent {
        event.type == "DELETE"
            ? .delete(key: key, modRevision: revision)
            : .put(KeyValue(key: key, value: event.kv.value ?? Data(), modRevision: revision))
    }
}

struct EmptyResponse: Decodable, Sendable {}

/// Jittered exponential back-off between conflicting attempts, so that
/// writers racing for one key spread out instead of colliding again.
struct Backoff {
    private var ceilingMicroseconds: UInt32 = 500

    mutating func wait() {
        usleep(UInt32.random(in: 0...ceilingMicroseconds))
        ceilingMicroseconds = min(ceilingMicroseconds * 2, 50_000)
    }
}
