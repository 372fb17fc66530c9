import AsyncHTTPClient
import Foundation
import KeyValueStore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Why an etcd call failed. Decided by the gRPC status code the gateway
/// returns in its error body (`code`, grpc-go's codes), or by the
/// transport, never by the message text.
public enum EtcdErrorKind: Hashable, Sendable {
    /// No endpoint accepted a connection (all refused, timed out or absent).
    case unreachable
    /// The request may or may not have been applied: the connection broke
    /// after it was sent. Not retried automatically for writes.
    case ambiguous
    case invalidArgument      // 3: e.g. too many operations in a Txn, duplicate key
    case deadlineExceeded     // 4
    case notFound             // 5: e.g. an unknown lease
    case permissionDenied     // 7
    case failedPrecondition   // 9
    case outOfRange           // 11: a revision compacted away or in the future
    case unavailable          // 14: no leader, member stopping
    case unauthenticated      // 16: bad credentials or an expired token
    case status(Int)          // any other gRPC code
    /// The body was not the JSON the API documents.
    case malformedResponse

    init(grpcCode: Int) {
        switch grpcCode {
        case 3: self = .invalidArgument
        case 4: self = .deadlineExceeded
        case 5: self = .notFound
        case 7: self = .permissionDenied
        case 9: self = .failedPrecondition
        case 11: self = .outOfRange
        case 14: self = .unavailable
        case 16: self = .unauthenticated
        default: self = .status(grpcCode)
        }
    }
}

public struct EtcdError: Error, Hashable, Sendable, CustomStringConvertible {
    public var kind: EtcdErrorKind
    /// The API path called (`/v3/kv/txn`).
    public var call: String
    /// The endpoint that answered or failed last.
    public var endpoint: String
    /// etcd's or the transport's message, for people.
    public var message: String

    public var description: String { "etcd \(call) at \(endpoint): \(kind): \(message)" }
}

/// A connection to an etcd cluster's v3 JSON gateway: several endpoints
/// with failover, optional TLS with a client certificate, optional
/// username/password (a token from `/v3/auth/authenticate` sent as the
/// `Authorization` header, renewed when etcd says it expired).
///
/// Calls block the calling thread until the answer arrives (the work runs
/// on AsyncHTTPClient's event loops), so they must never be made on an
/// event loop; the datastore's callers run them on dedicated threads or on
/// the CNI plugin's main thread.
public final class EtcdClient: Sendable {
    public let config: EtcdConfig
    let http: HTTPClient
    let logger: Logger
    /// The endpoint tried first: the last one that answered.
    private let preferred = Mutex(0)
    private let token = Mutex<String?>(nil)

    public init(_ config: EtcdConfig, logger: Logger = Logger(label: "caracal.etcd")) throws {
        guard !config.endpoints.isEmpty else {
            throw EtcdConfigError(field: "endpoints", problem: "at least one endpoint is required")
        }
        self.config = config
        self.logger = logger
        var http = HTTPClient.Configuration()
        http.httpVersion = .http1Only
        http.timeout = .init(connect: .milliseconds(Int64(config.connectTimeoutMs)))
        // Fail a connection attempt at once and try the next endpoint,
        // instead of AsyncHTTPClient's retrying until the deadline.
        http.connectionPool.retryConnectionEstablishment = false
        http.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        if config.endpoints.contains(where: \.tls) {
            http.tlsConfiguration = try config.tls.makeConfiguration()
        }
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    deinit {
        // Not `syncShutdown`: the last reference may drop on any thread.
        _ = http.shutdown()
    }

    /// One unary call. `idempotent` calls (reads) are retried on the next
    /// endpoint whatever broke; writes only when the connection was never
    /// made, so a Txn is never sent twice.
    func call<Request: Encodable, Response: Decodable>(
        _ path: String, _ body: Request, as: Response.Type = Response.self, idempotent: Bool
    ) throws -> Response {
        let bytes = try JSONEncoder().encode(body)
        var reauthenticated = false
        while true {
            let (status, data, endpoint) = try send(path, bytes, idempotent: idempotent)
            if status == .ok {
                do { return try JSONDecoder().decode(Response.self, from: data) } catch {
                    throw EtcdError(kind: .malformedResponse, call: path, endpoint: endpoint, message: "\(error)")
                }
            }
            let failure = Self.error(status: status, body: data, call: path, endpoint: endpoint)
            if failure.kind == .unauthenticated, config.username != nil, !reauthenticated {
                // The token expired (etcd's simple tokens live 5 minutes by default).
                token.withLock { $0 = nil }
                reauthenticated = true
                continue
            }
            throw failure
        }
    }

    /// A streaming call (watch): `onLine` gets each JSON line as it
    /// arrives and returns false to stop reading, which closes the stream.
    /// Blocks until then, until the stream ends, or until `timeout`.
    /// Without a `timeout` it runs until the stream ends or `cancellation`
    /// is cancelled (a watch).
    func stream(
        _ path: String, _ body: some Encodable, timeout: Duration?, cancellation: StreamCancellation? = nil,
        onLine: @escaping @Sendable (Data) throws -> Bool
    ) throws {
        let bytes = try JSONEncoder().encode(body)
        try failingOver(path, idempotent: true) { endpoint in
            let delegate = LineDelegate(onLine: onLine)
            let task = http.execute(
                request: try makeRequest(endpoint, path, bytes), delegate: delegate, deadline: timeout.map { .now() + TimeAmount($0) })
            if let cancellation, !cancellation.register(task) { throw CancellationError() }
            do {
                try task.futureResult.wait()
            } catch where delegate.stopped {
                // The consumer had what it needed and cancelled the rest.
            }
            if let status = delegate.status, status != .ok {
                throw Self.error(status: status, body: delegate.unread, call: path, endpoint: endpoint.url)
            }
        }
    }

    // MARK: - Transport

    private func send(_ path: String, _ bytes: Data, idempotent: Bool) throws -> (HTTPResponseStatus, Data, String) {
        try failingOver(path, idempotent: idempotent) { endpoint in
            let request = try makeRequest(endpoint, path, bytes)
            let response = try http.execute(request: request, deadline: .now() + .milliseconds(Int64(config.requestTimeoutMs))).wait()
            return (response.status, response.body.map { Data($0.readableBytesView) } ?? Data(), endpoint.url)
        }
    }

    /// Runs `attempt` against each endpoint in turn, from the preferred
    /// one, until one answers (an `EtcdError` is an answer). A transport
    /// failure moves on when the request cannot have reached etcd, or for
    /// any failure when `idempotent`; otherwise it is `.ambiguous`.
    private func failingOver<T>(_ path: String, idempotent: Bool, _ attempt: (EtcdEndpoint) throws -> T) throws -> T {
        var lastError: EtcdError?
        for endpoint in endpointOrder() {
            do {
                let result = try attempt(endpoint)
                prefer(endpoint)
                return result
            } catch let error as EtcdError {
                throw error
            } catch let error as KVStoreError {
                throw error  // a stream's consumer decided (compacted)
            } catch let error as CancellationError {
                throw error
            } catch {
                let connect = Self.isConnectFailure(error)
                lastError = EtcdError(kind: connect ? .unreachable : .ambiguous, call: path, endpoint: endpoint.url, message: "\(error)")
                logger.debug("etcd endpoint failed", metadata: ["endpoint": "\(endpoint.url)", "call": "\(path)", "error": "\(error)"])
                if connect || idempotent { continue }
                throw lastError!
            }
        }
        throw lastError ?? EtcdError(kind: .unreachable, call: path, endpoint: "", message: "no endpoint")
    }

    /// Endpoints from the preferred one on, each once.
    private func endpointOrder() -> [EtcdEndpoint] {
        let first = preferred.withLock { $0 }
        let all = config.endpoints
        return (0..<all.count).map { all[(first + $0) % all.count] }
    }

    private func prefer(_ endpoint: EtcdEndpoint) {
        if let i = config.endpoints.firstIndex(of: endpoint) { preferred.withLock { $0 = i } }
    }

    private func makeRequest(_ endpoint: EtcdEndpoint, _ path: String, _ body: Data) throws -> HTTPClient.Request {
        var request = try HTTPClient.Request(url: endpoint.url(path: path), method: .POST)
        if let host = endpoint.hostHeader { request.headers.replaceOrAdd(name: "Host", value: host) }
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token = try authToken(endpoint) { request.headers.add(name: "Authorization", value: token) }
        request.body = .data(body)
        return request
    }

    private func authToken(_ endpoint: EtcdEndpoint) throws -> String? {
        guard let username = config.username else { return nil }
        if let cached = token.withLock({ $0 }) { return cached }
        let path = "/v3/auth/authenticate"
        let body = try JSONEncoder().encode(AuthenticateRequest(name: username, password: config.password ?? ""))
        var request = try HTTPClient.Request(url: endpoint.url(path: path), method: .POST)
        if let host = endpoint.hostHeader { request.headers.replaceOrAdd(name: "Host", value: host) }
        request.body = .data(body)
        let response = try http.execute(request: request, deadline: .now() + .milliseconds(Int64(config.requestTimeoutMs))).wait()
        let data = response.body.map { Data($0.readableBytesView) } ?? Data()
        guard response.status == .ok else { throw Self.error(status: response.status, body: data, call: path, endpoint: endpoint.url) }
        guard let fresh = try? JSONDecoder().decode(AuthenticateResponse.self, from: data).token else {
            throw EtcdError(kind: .malformedResponse, call: path, endpoint: endpoint.url, message: "no token in the answer")
        }
        token.withLock { $0 = fresh }
        return fresh
    }

    static func error(status: HTTPResponseStatus, body: Data, call: String, endpoint: String) -> EtcdError {
        guard let gateway = try? JSONDecoder().decode(GatewayError.self, from: body), let code = gateway.code else {
            return EtcdError(kind: .malformedResponse, call: call, endpoint: endpoint, message: "HTTP \(status.code): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return EtcdError(kind: EtcdErrorKind(grpcCode: code), call: call, endpoint: endpoint, message: gateway.message ?? gateway.error ?? "")
    }

    /// A failure before the request could have reached etcd.
    static func isConnectFailure(_ error: Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        if case ChannelError.connectTimeout = error { return true }
        if let e = error as? IOError { return [ECONNREFUSED, ENOENT, EHOSTUNREACH, ENETUNREACH].contains(e.errnoCode) }
        return false
    }
}

/// Splits a streamed body into lines and hands each to `onLine`; when
/// `onLine` says it has enough, cancels the rest of the transfer
/// (`Task.cancel`, AsyncHTTPClient's way to end a stream early). A non-200
/// answer's body is kept for the error.
final class LineDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    // Touched only on the request's event loop, one callback at a time,
    // and read after the task's future completed.
    private(set) var status: HTTPResponseStatus?
    private var lines = LineBuffer()
    private(set) var stopped = false
    /// What came and was not a line yet (an error answer's body).
    var unread: Data { lines.unread }
    private let onLine: @Sendable (Data) throws -> Bool

    init(onLine: @escaping @Sendable (Data) throws -> Bool) { self.onLine = onLine }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        status = head.status
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        guard status == .ok, !stopped else {
            lines.keep(buffer)
            return task.eventLoop.makeSucceededVoidFuture()
        }
        do {
            for line in lines.append(buffer) where try !onLine(line) {
                stopped = true
                task.cancel()
                break
            }
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        if status == .ok, !stopped, !unread.isEmpty { _ = try onLine(unread) }
    }
}

/// Ends a blocking `stream` from another thread (a watch whose consumer
/// went away): cancels the transfer in flight and any later one.
final class StreamCancellation: Sendable {
    private let state = Mutex<(task: HTTPClient.Task<Void>?, cancelled: Bool)>((nil, false))

    /// False when already cancelled (the caller stops).
    func register(_ task: HTTPClient.Task<Void>) -> Bool {
        let cancelled = state.withLock { state in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
        return !cancelled
    }

    func cancel() {
        let task = state.withLock { state in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }
}

/// A gateway stream's bytes cut into its lines (one JSON object each).
struct LineBuffer {
    private(set) var unread = Data()

    /// The complete lines the bytes finish, without empty ones.
    mutating func append(_ buffer: ByteBuffer) -> [Data] {
        unread.append(contentsOf: buffer.readableBytesView)
        var lines: [Data] = []
        while let newline = unread.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Data(unread[unread.startIndex..<newline])
            unread = Data(unread[(newline + 1)...])
            if !line.isEmpty { lines.append(line) }
        }
        return lines
    }

    /// Keeps bytes that are not to be cut (an error answer's body).
    mutating func keep(_ buffer: ByteBuffer) { unread.append(contentsOf: buffer.readableBytesView) }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
