#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A store revision: the number of committed write transactions, the shape
/// of etcd's revision. Every key carries the revision that last wrote it.
public typealias Revision = Int64

/// One key with its value and the revision that wrote it.
public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: Data
    public var modRevision: Revision
    public init(key: String, value: Data, modRevision: Revision) {
        self.key = key
        self.value = value
        self.modRevision = modRevision
    }
}

/// A change reported by `changes(prefix:after:)` and `watch`.
public enum WatchEvent: Hashable, Sendable {
    case put(KeyValue)
    case delete(key: String, modRevision: Revision)

    public var key: String {
        switch self {
        case .put(let kv): kv.key
        case .delete(let key, _): key
        }
    }

    public var modRevision: Revision {
        switch self {
        case .put(let kv): kv.modRevision
        case .delete(_, let revision): revision
        }
    }
}

/// What changed under a prefix after a revision: every key written or
/// deleted since, in revision order (keys of one revision by name), each
/// with its latest state: a key written twice since `after` is reported
/// once, as it is now (a level-triggered watcher needs no more). Applying
/// the events to the state read at `after` gives the state at `revision`.
public struct ChangeSet: Hashable, Sendable {
    public var events: [WatchEvent]
    /// The store's revision when the changes were read; the next read
    /// continues after it.
    public var revision: Revision
    public init(events: [WatchEvent], revision: Revision) {
        self.events = events
        self.revision = revision
    }
}

public enum KVStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// History before `compactedThrough` is gone: the watcher must read the
    /// whole state again (a re-list) and watch from that read's revision.
    case compacted(requested: Revision, compactedThrough: Revision)
    /// A transaction wrote more keys than every backend accepts in one
    /// atomic commit (`KVLimits.maxWritesPerTransaction`).
    case transactionTooLarge(operations: Int, limit: Int)
    /// A write inside `read`.
    case readOnly(key: String)
    /// An optimistic backend's commit kept conflicting with other writers.
    case conflict(attempts: Int)

    public var description: String {
        switch self {
        case .compacted(let requested, let through):
            "revision \(requested) is compacted (history is kept after \(through)): re-list and watch again"
        case .transactionTooLarge(let operations, let limit):
            "a transaction of \(operations) operations exceeds the limit of \(limit)"
        case .readOnly(let key): "write of \(key) inside a read-only transaction"
        case .conflict(let attempts): "transaction still conflicted after \(attempts) attempts"
        }
    }
}

/// Bounds every backend enforces, so that code written against one runs on
/// all: etcd refuses a Txn with more than `--max-txn-ops` (default 128)
/// operations, and the etcd backend spends one of them on its revision
/// marker (docs/datastore.md), so a transaction writes at most 127 keys.
public enum KVLimits {
    /// Puts and deletes per transaction. (Reads are not counted here; an
    /// etcd backend compares a listed range as one compare, so code that
    /// reads many keys in a write transaction should list them.)
    public static let maxWritesPerTransaction = 127
}

/// The storage contract IPAM, the CNI plugin and the agent are written
/// against: keys ('/'-separated paths) with values and revisions,
/// serializable atomic transactions, and the changes since a revision.
///
/// - SQLite (`Datastore.SQLiteStore`) runs a transaction as one IMMEDIATE
///   transaction; an etcd v3 backend as software transactional memory:
///   reads record each key's mod revision (a list records its range), and
///   the commit is one `Txn` comparing them (create_revision == 0 for keys
///   read as absent, which makes a block claim a compare-and-swap), retried
///   when a compare fails. So a transaction body may run more than once and
///   must have no effects outside the transaction.
/// - Deletions are kept as tombstones until compacted, so `changes` reports
///   them; a watcher asking for history older than the compaction point is
///   told to re-list (`KVStoreError.compacted`).
public protocol KVTransaction: AnyObject {
    /// The key's value and mod revision, nil when absent.
    func entry(_ key: String) throws -> KeyValue?
    /// Every key starting with `prefix`, in ascending key order.
    func entries(prefix: String) throws -> [KeyValue]
    func put(_ key: String, _ value: Data) throws
    func delete(_ key: String) throws
    /// A hint: these keys and listings will be read. A store whose reads
    /// are round trips (etcd) fetches them in one; others ignore it.
    /// Reading them afterwards is what counts for conflicts.
    func prefetch(keys: [String], prefixes: [String]) throws
}

extension KVTransaction {
    public func prefetch(keys: [String], prefixes: [String]) throws {}
    public func get(_ key: String) throws -> Data? { try entry(key)?.value }
    public func list(prefix: String) throws -> [(key: String, value: Data)] {
        try entries(prefix: prefix).map { ($0.key, $0.value) }
    }
}

public protocol KVStore: Sendable {
    /// Runs `body` as one serializable transaction: all its writes commit
    /// together or not at all (also when the process dies mid-way), under
    /// a new revision when it wrote anything.
    func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T
    /// Runs `body` against a consistent snapshot; writes are refused.
    func read<T>(_ body: (KVTransaction) throws -> T) throws -> T
    /// The revision of the last committed write transaction.
    func revision() throws -> Revision
    /// The changes under `prefix` after `revision` (see `ChangeSet`);
    /// `KVStoreError.compacted` when that history is gone.
    func changes(prefix: String, after revision: Revision) throws -> ChangeSet
    /// Forgets deletions made at or before `revision`: `changes` from an
    /// older revision is then `.compacted`.
    func compact(through revision: Revision) throws
    /// The revision through which history was compacted (0: none).
    func compactedRevision() throws -> Revision
}

/// Counts the keys a transaction writes against `KVLimits`, the same way
/// in every backend (a key written twice is one operation: an optimistic
/// backend buffers writes and commits each key once).
public struct WriteBudget: Sendable {
    public private(set) var keys: Set<String> = []
    public init() {}

    public mutating func write(_ key: String) throws {
        keys.insert(key)
        if keys.count > KVLimits.maxWritesPerTransaction {
            throw KVStoreError.transactionTooLarge(operations: keys.count, limit: KVLimits.maxWritesPerTransaction)
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements: how bulk writers
    /// (GC sweeps, a migration) stay within `KVLimits`.
    public func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
