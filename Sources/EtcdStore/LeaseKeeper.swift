import Foundation
import KeyValueStore
import NetNS
import Synchronization

/// An etcd lease: keys put with it disappear (deleted, as any deletion,
/// seen by watchers) when it expires. Node liveness: the agent keeps its
/// node key on a lease it renews; if the node dies, the key goes.
public struct EtcdLease: Hashable, Sendable {
    public var id: Int64
    public var ttlSeconds: Int64
    public init(id: Int64, ttlSeconds: Int64) {
        self.id = id
        self.ttlSeconds = ttlSeconds
    }
}

public enum LeaseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// etcd answered a keep-alive with TTL 0: the lease is gone (expired
    /// or revoked), and so are its keys.
    case expired(id: Int64)

    public var description: String {
        switch self {
        case .expired(let id): "lease \(id) expired: its keys are gone"
        }
    }
}

extension EtcdStore {
    /// A new lease of `ttlSeconds` (etcd may grant a longer one: its
    /// minimum TTL is 1.5 election timeouts).
    public func grantLease(ttlSeconds: Int64) throws -> EtcdLease {
        let answer: LeaseGrantResponse = try client.call("/v3/lease/grant", LeaseGrantRequest(TTL: EtcdInt64(ttlSeconds)), idempotent: false)
        guard let id = answer.ID?.value, let ttl = answer.TTL?.value else {
            throw EtcdError(kind: .malformedResponse, call: "/v3/lease/grant", endpoint: "", message: answer.error ?? "no ID or TTL")
        }
        return EtcdLease(id: id, ttlSeconds: ttl)
    }

    /// Renews the lease once; `LeaseError.expired` when it is gone.
    @discardableResult
    public func keepAlive(_ lease: EtcdLease) throws -> Int64 {
        // The gateway maps the bidirectional LeaseKeepAlive stream onto one
        // POST: one request in, one `{"result": …}` line out.
        let ttl = Mutex<Int64?>(nil)
        try client.stream("/v3/lease/keepalive", LeaseIDRequest(ID: EtcdInt64(lease.id)), timeout: .milliseconds(client.config.requestTimeoutMs)) { line in
            let decoded = try JSONDecoder().decode(StreamLine<LeaseKeepAliveResponse>.self, from: line)
            if let error = decoded.error, let code = error.code {
                throw EtcdError(kind: EtcdErrorKind(grpcCode: code), call: "/v3/lease/keepalive", endpoint: "", message: error.message ?? "")
            }
            ttl.withLock { $0 = decoded.result?.TTL?.value ?? 0 }
            return true  // the answer ends after its one line
        }
        let remaining = ttl.withLock { $0 } ?? 0
        if remaining <= 0 { throw LeaseError.expired(id: lease.id) }
        return remaining
    }

    public func revoke(_ lease: EtcdLease) throws {
        let _: EmptyResponse = try client.call("/v3/lease/revoke", LeaseIDRequest(ID: EtcdInt64(lease.id)), idempotent: true)
    }

    /// Puts `key` attached to `lease`, in one transaction of its own (the
    /// store's revision marker moves with it).
    public func put(_ key: String, _ value: Data, lease: EtcdLease) throws {
        let ops = [
            RequestOp(request_put: PutRequest(key: etcdKey(key), value: value, lease: EtcdInt64(lease.id))),
            RequestOp(request_put: PutRequest(key: marker, value: Data())),
        ]
        let _: TxnResponse = try client.call("/v3/kv/txn", TxnRequest(compare: [], success: ops), idempotent: false)
    }
}

/// Keeps a lease alive: a keep-alive every third of its TTL, as etcd's
/// own client does, from a dedicated thread started by `start()`, so that
/// neither a busy cooperative pool nor a slow caller delays a renewal (a
/// node's liveness must not depend on them). A failed renewal (etcd
/// unreachable) is retried until the lease is gone; then `onExpired` is
/// called once with `LeaseError.expired` (the node was cut off longer
/// than the TTL): the agent must grant a new lease and put its keys again.
public final class LeaseKeeper: Sendable {
    public let store: EtcdStore
    public let lease: EtcdLease
    private let onExpired: @Sendable (LeaseError) -> Void
    private let state = Mutex<(stopped: Bool, expired: LeaseError?)>((false, nil))

    public init(store: EtcdStore, lease: EtcdLease, onExpired: @escaping @Sendable (LeaseError) -> Void = { _ in }) {
        self.store = store
        self.lease = lease
        self.onExpired = onExpired
    }

    /// Why renewing ended, if it did.
    public var expired: LeaseError? { state.withLock { $0.expired } }

    public func start() throws {
        let intervalMicroseconds = UInt32(clamping: max(lease.ttlSeconds * 1_000_000 / 3, 100_000))
        try BackgroundTask<Void>.detached { [self] in
            while !state.withLock({ $0.stopped }) {
                do {
                    try store.keepAlive(lease)
                } catch let error as LeaseError {
                    state.withLock { $0.expired = error }
                    onExpired(error)
                    return
                } catch {
                    store.logger.warning("lease keep-alive failed; retrying", metadata: ["lease": "\(lease.id)", "error": "\(error)"])
                }
                // Short steps, so that `stop` ends the thread promptly.
                var slept: UInt32 = 0
                while slept < intervalMicroseconds, !state.withLock({ $0.stopped }) {
                    usleep(20_000)
                    slept += 20_000
                }
            }
        }
    }

    /// Stops renewing (the lease then expires after its TTL, unless revoked).
    public func stop() { state.withLock { $0.stopped = true } }
}
