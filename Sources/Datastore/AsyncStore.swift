import KeyValueStore
import NetNS

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
    /// revision order, until the task is cancelled. The stream ends with
    /// `KVStoreError.compacted` when the history it needs is gone: the
    /// watcher re-lists and watches again from that read's revision.
    ///
    /// Changes are read with `changes(prefix:after:)` whenever the store's
    /// revision moved; SQLite has no cross-process notification, so the
    /// revision is polled every `pollInterval` (one indexed read). An etcd
    /// backend streams its native watch instead.
    public func watch(
        prefix: String, after revision: Revision, pollInterval: Duration = .milliseconds(100)
    ) -> AsyncThrowingStream<ChangeSet, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                var seen = revision
                do {
                    while !Task.isCancelled {
                        let after = seen
                        let current = try await BackgroundTask.run { try self.revision() }
                        if current > after {
                            let changes = try await BackgroundTask.run { try self.changes(prefix: prefix, after: after) }
                            if !changes.events.isEmpty { continuation.yield(changes) }
                            seen = changes.revision
                        } else {
                            try await Task.sleep(for: pollInterval)
                        }
                    }
                    continuation.finish()
                } catch is CancellationError {
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
