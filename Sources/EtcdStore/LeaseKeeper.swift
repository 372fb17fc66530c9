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
            return false
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

/// Keeps a lease alive from a task: a keep-alive every third of its TTL,
/// as etcd's own client does. `run` returns `LeaseError.expired` when a
/// keep-alive comes too late (the node was cut off longer than the TTL):
/// the agent must then grant a new lease and put its keys again.
public struct LeaseKeeper: Sendable {
    public let store: EtcdStore
    public let lease: EtcdLease

    public init(store: EtcdStore, lease: EtcdLease) {
        self.store = store
        self.lease = lease
    }

    /// Renews until cancelled (returns) or the lease is gone (throws).
    /// A failed renewal (etcd unreachable) is retried until the TTL runs out.
    public func run() async throws {
        let interval = Duration.milliseconds(max(lease.ttlSeconds * 1000 / 3, 100))
        while !Task.isCancelled {
            do {
                _ = try await BackgroundTask.run { try store.keepAlive(lease) }
            } catch let error as LeaseError {
                throw error
            } catch {
                store.logger.warning("lease keep-alive failed; retrying", metadata: ["lease": "\(lease.id)", "error": "\(error)"])
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}

