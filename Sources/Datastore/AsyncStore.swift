import KeyValueStore
import NetNS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The async form of any `KVStore`, for the agent. Every backend's calls
/// block (SQLite's file lock and fsyncs, an etcd round trip through a
/// blocking client), so each runs on a dedicated thread and never on
/// Swift's cooperative pool. The CNI plugin keeps the blocking calls: one
/// process, one pod, no event loop (docs/cni.md, "Latency").
extension KVStore {
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (KVTransaction) throws -> T) async throws -> T {
        try await BackgroundTask.run { try self.transaction(body) }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (KVTransaction) throws -> T) async throws -> T {
        try await BackgroundTask.run { try self.read(body) }
    }

    /// Every change under `prefix` after `revision`, as change sets in
    /// revision order, until the consumer stops iterating. The stream ends
    /// with `KVStoreError.compacted` when the history it needs is gone: the
    /// watcher re-lists and watches again from that read's revision.
    ///
    /// One dedicated thread reads `changes(prefix:after:)` whenever the
    /// store's revision moved. SQLite has no cross-process notification,
    /// so that thread checks the revision every `pollInterval` (one
    /// indexed read); an etcd backend streams its native watch instead.
    public func watch(
        prefix: String, after revision: Revision, pollInterval: Duration = .milliseconds(100)
    ) -> AsyncThrowingStream<ChangeSet, Error> {
        AsyncThrowingStream { continuation in
            let stopped = Mutex(false)
            continuation.onTermination = { _ in stopped.withLock { $0 = true } }
            let sleepMicroseconds = UInt32(clamping: pollInterval.components.seconds * 1_000_000
                + pollInterval.components.attoseconds / 1_000_000_000_000)
            do {
                try BackgroundTask<Void>.detached {
                    var seen = revision
                    do {
                        while !stopped.withLock({ $0 }) {
                            if try self.revision() > seen {
                                let changes = try self.changes(prefix: prefix, after: seen)
                                if !changes.events.isEmpty { continuation.yield(changes) }
                                seen = changes.revision
                            } else {
                                usleep(sleepMicroseconds)
                            }
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}
