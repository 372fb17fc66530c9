import AsyncHTTPClient
import Foundation
import KeyValueStore
import NIOCore

extension EtcdStore {
    /// etcd's native watch of `prefix` from after `revision`, as change
    /// sets (one per watch message: its events coalesced per key, in
    /// revision order). When the stream breaks (etcd restarted, an
    /// endpoint lost) it is opened again from the last revision delivered,
    /// on the next endpoint, after `reconnectDelay`. It ends with
    /// `KVStoreError.compacted` when etcd no longer has the history it
    /// needs (the `compact_revision` of a watch response): re-list, then
    /// watch from that read's revision.
    public func nativeWatch(prefix keyPrefix: String, after revision: Revision, reconnectDelay: Duration = .milliseconds(200)) -> AsyncThrowingStream<ChangeSet, Error> {
        let (stream, continuation) = AsyncThrowingStream<ChangeSet, Error>.makeStream()
        let task = Task {
            var seen = revision
            while !Task.isCancelled {
                do {
                    try await self.watchOnce(prefix: keyPrefix, after: &seen, continuation: continuation)
                } catch let error as KVStoreError {
                    continuation.finish(throwing: error)
                    return
                } catch is CancellationError {
                    break
                } catch {
                    logger.notice("etcd watch broke; watching again", metadata: ["prefix": "\(keyPrefix)", "after": "\(seen)", "error": "\(error)"])
                }
                try? await Task.sleep(for: reconnectDelay)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// One watch stream on one endpoint, until it ends or breaks.
    private func watchOnce(prefix keyPrefix: String, after seen: inout Revision, continuation: AsyncThrowingStream<ChangeSet, Error>.Continuation) async throws {
        let start = etcdKey(keyPrefix)
        let create = WatchCreateRequest(key: start, range_end: rangeEnd(ofPrefix: start), start_revision: EtcdInt64(max(seen, 1)))
        let response = try await client.openStream("/v3/watch", WatchRequest(create_request: create))
        var lines = LineBuffer()
        for try await part in response.body {
            for line in lines.append(part) {
                let message = try Self.decodeWatchLine(line)
                if let compacted = message.compact_revision?.value, compacted > 0 {
                    throw KVStoreError.compacted(requested: seen, compactedThrough: compacted)
                }
                var latest: [String: WatchEvent] = [:]
                var last = seen
                for event in message.events ?? [] {
                    guard let revision = event.kv.mod_revision?.value, revision > seen, let key = storeKey(event.kv.key) else { continue }
                    latest[key] = Self.watchEvent(event, key: key, revision: revision)
                    last = max(last, revision)
                }
                guard !latest.isEmpty else { continue }
                let events = latest.values.sorted { ($0.modRevision, $0.key) < ($1.modRevision, $1.key) }
                seen = last
                continuation.yield(ChangeSet(events: events, revision: last))
            }
        }
    }
}

extension EtcdClient {
    /// Opens a streaming call (the watch) on the first endpoint that
    /// answers; the caller reads the body until it ends.
    func openStream(_ path: String, _ body: some Encodable) async throws -> HTTPClientResponse {
        let bytes = try JSONEncoder().encode(body)
        var lastError: Error?
        for endpoint in endpointOrder() {
            var request = HTTPClientRequest(url: try endpoint.url(path: path).absoluteString)
            request.method = .POST
            if let host = endpoint.hostHeader { request.headers.replaceOrAdd(name: "Host", value: host) }
            request.headers.add(name: "Content-Type", value: "application/json")
            if let token = try authToken(endpoint) { request.headers.add(name: "Authorization", value: token) }
            request.body = .bytes(ByteBuffer(bytes: bytes))
            do {
                // The deadline covers the answer's head only (AsyncHTTPClient
                // cancels it once the head arrives), not the stream.
                let response = try await http.execute(request, deadline: .now() + .milliseconds(Int64(config.requestTimeoutMs)))
                guard response.status == .ok else {
                    let data = Data((try await response.body.collect(upTo: 1 << 16)).readableBytesView)
                    throw Self.error(status: response.status, body: data, call: path, endpoint: endpoint.url)
                }
                prefer(endpoint)
                return response
            } catch let error as EtcdError {
                throw error
            } catch {
                lastError = EtcdError(kind: .unreachable, call: path, endpoint: endpoint.url, message: "\(error)")
            }
        }
        throw lastError ?? EtcdError(kind: .unreachable, call: path, endpoint: "", message: "no endpoint")
    }
}
