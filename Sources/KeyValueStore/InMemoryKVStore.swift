#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// An in-memory `KVStore` (tests, dry runs) with the same semantics as the
/// persistent backends: revisions, tombstones, compaction and the
/// operation bound. Transactions are serialized by a lock and work on a
/// copy, so a throwing body leaves no trace.
public final class InMemoryKVStore: KVStore, Sendable {
    /// A key's state: a value, or a tombstone (nil) kept until compaction.
    struct Cell: Sendable {
        var value: Data?
        var modRevision: Revision
    }

    struct State: Sendable {
        var cells: [String: Cell] = [:]
        var revision: Revision = 0
        var compacted: Revision = 0
    }

    private let state = Mutex(State())

    public init() {}

    @discardableResult
    public func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        try state.withLock { state in
            let tx = Tx(state.cells, revision: state.revision + 1, readOnly: false)
            let result = try body(tx)
            if tx.wrote {
                state.cells = tx.cells
                state.revision += 1
            }
            return result
        }
    }

    public func read<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        let snapshot = state.withLock { $0 }
        return try body(Tx(snapshot.cells, revision: snapshot.revision, readOnly: true))
    }

    public func revision() throws -> Revision { state.withLock { $0.revision } }

    public func changes(prefix: String, after revision: Revision) throws -> ChangeSet {
        let snapshot = state.withLock { $0 }
        guard revision >= snapshot.compacted else {
            throw KVStoreError.compacted(requested: revision, compactedThrough: snapshot.compacted)
        }
        let events = snapshot.cells
            .filter { $0.key.hasPrefix(prefix) && $0.value.modRevision > revision }
            .sorted { ($0.value.modRevision, $0.key) < ($1.value.modRevision, $1.key) }
            .map { key, cell -> WatchEvent in
                cell.value.map { .put(KeyValue(key: key, value: $0, modRevision: cell.modRevision)) }
                    ?? .delete(key: key, modRevision: cell.modRevision)
            }
        return ChangeSet(events: events, revision: snapshot.revision)
    }

    public func compact(through revision: Revision) throws {
        state.withLock { state in
            let through = min(revision, state.revision)
            guard through > state.compacted else { return }
            state.cells = state.cells.filter { $0.value.value != nil || $0.value.modRevision > through }
            state.compacted = through
        }
    }

    public func compactedRevision() throws -> Revision { state.withLock { $0.compacted } }

    /// Live keys, sorted (tests).
    public var keys: [String] {
        state.withLock { $0.cells.filter { $0.value.value != nil }.keys.sorted() }
    }

    private final class Tx: KVTransaction {
        var cells: [String: Cell]
        let revision: Revision
        let readOnly: Bool
        var wrote = false
        var budget = WriteBudget()

        init(_ cells: [String: Cell], revision: Revision, readOnly: Bool) {
            self.cells = cells
            self.revision = revision
            self.readOnly = readOnly
        }

        func entry(_ key: String) throws -> KeyValue? {
            guard let cell = cells[key], let value = cell.value else { return nil }
            return KeyValue(key: key, value: value, modRevision: cell.modRevision)
        }

        func entries(prefix: String) throws -> [KeyValue] {
            cells.compactMap { key, cell in
                guard key.hasPrefix(prefix), let value = cell.value else { return nil }
                return KeyValue(key: key, value: value, modRevision: cell.modRevision)
            }.sorted { $0.key < $1.key }
        }

        func put(_ key: String, _ value: Data) throws {
            if readOnly { throw KVStoreError.readOnly(key: key) }
            try budget.write(key)
            cells[key] = Cell(value: value, modRevision: revision)
            wrote = true
        }

        func delete(_ key: String) throws {
            if readOnly { throw KVStoreError.readOnly(key: key) }
            try budget.write(key)
            guard cells[key]?.value != nil else { return }
            cells[key] = Cell(value: nil, modRevision: revision)
            wrote = true
        }
    }
}
