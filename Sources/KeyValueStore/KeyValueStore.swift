#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The storage contract IPAM is written against: a key-value store with
/// serializable, atomic transactions. The `Datastore` module implements it
/// over SQLite (one IMMEDIATE transaction per call); an etcd v3 backend
/// implements it as software transactional memory: reads record each key's
/// mod revision, and the commit is one etcd `Txn` comparing those revisions
/// (create_revision == 0 for keys read as absent, which makes a block claim a
/// compare-and-swap), retried when a compare fails.
///
/// Because a backend may run `body` more than once, a transaction body must
/// have no effects outside the transaction. Keys are '/'-separated paths.
public protocol KVTransaction: AnyObject {
    func get(_ key: String) throws -> Data?
    /// Every key starting with `prefix`, in ascending key order.
    func list(prefix: String) throws -> [(key: String, value: Data)]
    func put(_ key: String, _ value: Data) throws
    func delete(_ key: String) throws
}

public protocol KVStore: Sendable {
    /// Runs `body` as one serializable transaction: all its writes commit
    /// together or not at all (also when the process dies mid-way).
    func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T
    /// Runs `body` against a consistent snapshot; writes are rejected.
    func read<T>(_ body: (KVTransaction) throws -> T) throws -> T
}

/// An in-memory `KVStore` (tests, dry runs). Transactions are serialized by
/// a lock and work on a copy, so a throwing body leaves no trace.
public final class InMemoryKVStore: KVStore, @unchecked Sendable {
    private var data: [String: Data] = [:]
    private let lock = PthreadMutex()

    public init() {}

    @discardableResult
    public func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        let tx = Tx(data, readOnly: false)
        let result = try body(tx)
        data = tx.data
        return result
    }

    public func read<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        lock.lock()
        let snapshot = data
        lock.unlock()
        return try body(Tx(snapshot, readOnly: true))
    }

    public var keys: [String] {
        lock.lock()
        defer { lock.unlock() }
        return data.keys.sorted()
    }

    public struct ReadOnlyViolation: Error {}

    private final class Tx: KVTransaction {
        var data: [String: Data]
        let readOnly: Bool
        init(_ data: [String: Data], readOnly: Bool) {
            self.data = data
            self.readOnly = readOnly
        }
        func get(_ key: String) throws -> Data? { data[key] }
        func list(prefix: String) throws -> [(key: String, value: Data)] {
            data.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        func put(_ key: String, _ value: Data) throws {
            if readOnly { throw ReadOnlyViolation() }
            data[key] = value
        }
        func delete(_ key: String) throws {
            if readOnly { throw ReadOnlyViolation() }
            data[key] = nil
        }
    }
}

/// A pthread mutex (NSLock without Foundation: the CNI plugin links only
/// FoundationEssentials, see docs/cni.md "Latency").
public final class PthreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    public init() { pthread_mutex_init(mutex, nil) }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
