import Foundation
import KeyValueStore
import NetNS
import Synchronization

extension EtcdStore {
    /// etcd's native watch of `prefix` from after `revision`, as change
    /// sets (one per watch message: its events coalesced per key, in
    /// revision order). When the stream breaks (etcd restarted, an
    /// endpoint lost) it is opened again from the last revision delivered,
    /// on the next endpoint, after `reconnectDelay`. It ends with
    /// `KVStoreError.compacted` when etcd no longer has the history it
    /// needs (the `compact_revision` of a watch response): re-list, then
    /// watch from that read's revision.
    ///
    /// The stream is read on a dedicated thread (docs/architecture.md,
    /// "Concurrency": event sources feed streams from their own threads),
    /// so a busy cooperative pool delays the consumer, never the watch.
    /// Ending the iteration cancels the HTTP stream and ends the thread.
    public func nativeWatch(prefix keyPrefix: String, after revision: Revision, reconnectDelay: Duration = .milliseconds(200)) -> AsyncThrowingStream<ChangeSet, Error> {
        let (stream, continuation) = AsyncThrowingStream<ChangeSet, Error>.makeStream()
        let cancellation = StreamCancellation()
        continuation.onTermination = { _ in cancellation.cancel() }
        let delayMicroseconds = UInt32(clamping: reconnectDelay.components.seconds * 1_000_000 + reconnectDelay.components.attoseconds / 1_000_000_000_000)
        do {
            try BackgroundTask<Void>.detached {
                let seen = WatchPosition(revision)
                while !cancellation.isCancelled {
                    do {
                        try self.watchOnce(prefix: keyPrefix, seen: seen, cancellation: cancellation, continuation: continuation)
                    } catch let error as KVStoreError {
                        continuation.finish(throwing: error)
                        return
                    } catch {
                        if cancellation.isCancelled { break }
                        self.logger.notice("etcd watch broke; watching again", metadata: [
                            "prefix": "\(keyPrefix)", "after": "\(seen.revision)", "error": "\(error)"])
                    }
                    usleep(delayMicroseconds)
                }
                continuation.finish()
            }
        } catch {
            continuation.finish(throwing: error)
        }
        return stream
    }

    /// One watch stream on one endpoint, until it ends, breaks or is cancelled.
    private func watchOnce(
        prefix keyPrefix: String, seen: WatchPosition, cancellation: StreamCancellation,
        continuation: AsyncThrowingStream<ChangeSet, Error>.Continuation
    ) throws {
        let start = etcdKey(keyPrefix)
        // From `seen`, not `seen + 1`: see `changes`.
        let create = WatchCreateRequest(key: start, range_end: rangeEnd(ofPrefix: start), start_revision: EtcdInt64(max(seen.revision, 1)))
        try client.stream("/v3/watch", WatchRequest(create_request: create), timeout: nil, cancellation: cancellation) { line in
            let message = try Self.decodeWatchLine(line)
            let after = seen.revision
            if let compacted = message.compact_revision?.value, compacted > 0 {
                throw KVStoreError.compacted(requested: after, compactedThrough: compacted)
            }
            var latest: [String: WatchEvent] = [:]
            var last = after
            for event in message.events ?? [] {
                guard let revision = event.kv.mod_revision?.value, revision > after, let key = self.storeKey(event.kv.key) else { continue }
                latest[key] = Self.watchEvent(event, key: key, revision: revision)
                last = max(last, revision)
            }
            if !latest.isEmpty {
                seen.revision = last
                continuation.yield(ChangeSet(events: latest.values.sorted { ($0.modRevision, $0.key) < ($1.modRevision, $1.key) }, revision: last))
            }
            return !cancellation.isCancelled
        }
        // The server ended the stream (etcd stopping): watch again.
        throw EtcdError(kind: .unavailable, call: "/v3/watch", endpoint: "", message: "the watch stream ended")
    }
}

/// The last revision a watch delivered, where it resumes after a break.
final class WatchPosition: Sendable {
    private let value: Mutex<Revision>
    init(_ revision: Revision) { value = Mutex(revision) }
    var revision: Revision {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
