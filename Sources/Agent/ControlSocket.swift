import Foundation
import Glibc
import NetNS
import NIOCore
import NIOPosix

/// One request on the control socket: a JSON object on one line.
public struct ControlRequest: Codable, Hashable, Sendable {
    public enum Command: String, Codable, Sendable { case status, routes, reset, reload, mrt, awaitPolicy }
    public var command: Command
    public var prefix: String?
    public var peer: String?
    /// routes: the peer's Adj-RIB-In as received (else after import policy).
    public var received: Bool?
    /// reset: "in" or "out" for a soft reset.
    public var soft: String?
    /// awaitPolicy: answer once the node's policy covers this datastore
    /// revision.
    public var revision: Int64?

    public init(command: Command, prefix: String? = nil, peer: String? = nil, received: Bool? = nil, soft: String? = nil) {
        self.command = command
        self.prefix = prefix
        self.peer = peer
        self.received = received
        self.soft = soft
    }
}

/// The answer: `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
public struct ControlResponse<Result: Codable & Sendable>: Codable, Sendable {
    public var ok: Bool
    public var result: Result?
    public var error: String?
}

public struct ControlError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

enum ControlJSON {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }
    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// The agent's control socket: a Unix socket, mode 0600, that the CLI
/// (`caracal status`, `caracal bgp …`, `caracal agent reload`) talks to;
/// one request and one answer per connection.
final class ControlServer: Sendable {
    let path: String
    private let channel: Channel

    static func start(path: String, group: EventLoopGroup,
                      handle: @escaping @Sendable (ControlRequest) -> EventLoopFuture<Data>) -> EventLoopFuture<ControlServer> {
        // A socket left by a killed agent is replaced; a live one is not.
        if FileManager.default.fileExists(atPath: path) {
            if (try? ControlClient.raw(path: path, request: Data("{\"command\":\"status\"}\n".utf8))) != nil {
                return group.next().makeFailedFuture(ControlError("\(path): another agent is running on this socket"))
            }
            unlink(path)
        }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let oldMask = umask(0o177)
        return ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ControlHandler(handle: handle)) }
            }
            .bind(unixDomainSocketPath: path)
            .always { _ in umask(oldMask) }
            .map { channel in
                chmod(path, 0o600)
                return ControlServer(path: path, channel: channel)
            }
    }

    private init(path: String, channel: Channel) {
        self.path = path
        self.channel = channel
    }

    func close() -> EventLoopFuture<Void> {
        channel.close().always { _ in unlink(self.path) }
    }
}

private final class ControlHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let handle: @Sendable (ControlRequest) -> EventLoopFuture<Data>
    var pending = ByteBuffer()

    init(handle: @escaping @Sendable (ControlRequest) -> EventLoopFuture<Data>) { self.handle = handle }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        guard let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if pending.readableBytes > 65536 { context.close(promise: nil) }
            return
        }
        let line = Data(pending.readableBytesView[pending.readerIndex..<newline])
        pending.clear()
        let answer: EventLoopFuture<Data>
        do {
            answer = handle(try ControlJSON.decoder().decode(ControlRequest.self, from: line))
        } catch {
            answer = context.eventLoop.makeFailedFuture(ControlError("bad request: \(error)"))
        }
        let channel = context.channel
        answer.whenComplete { result in
            var data: Data
            switch result {
            case .success(let d): data = d
            case .failure(let e):
                data = (try? ControlJSON.encoder().encode(ControlResponse<String>(ok: false, result: nil, error: "\(e)"))) ?? Data()
            }
            data.append(UInt8(ascii: "\n"))
            channel.writeAndFlush(ByteBuffer(bytes: data)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// The CLI's side: one request, one answer.
public enum ControlClient {
    public static func request<Result: Codable & Sendable>(path: String, _ request: ControlRequest, as: Result.Type) throws -> Result {
        var line = try ControlJSON.encoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        let data = try raw(path: path, request: line)
        let response = try ControlJSON.decoder().decode(ControlResponse<Result>.self, from: data)
        guard response.ok, let result = response.result else { throw ControlError(response.error ?? "the agent answered without a result") }
        return result
    }

    /// The agent's JSON answer as is (for `--json`); an error answer throws.
    public static func rawRequest(path: String, _ request: ControlRequest) throws -> Data {
        var line = try ControlJSON.encoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        let data = try raw(path: path, request: line)
        if let failure = try? ControlJSON.decoder().decode(ControlResponse<String>.self, from: data), !failure.ok {
            throw ControlError(failure.error ?? "the agent refused the request")
        }
        return data
    }

    /// Sends `request` and reads until the agent closes.
    static func raw(path: String, request: Data) throws -> Data {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ControlError("\(path): path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw ControlError("cannot reach the agent at \(path): \(String(cString: strerror(errno))) (is `caracal agent` running? --socket names another)")
        }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = Syscall.retryingInterrupts { write(fd, raw.baseAddress! + sent, raw.count - sent) }
                guard n > 0 else { throw ControlError("write: \(String(cString: strerror(errno)))") }
                sent += n
            }
        }
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Syscall.retryingInterrupts { read(fd, &buffer, buffer.count) }
            guard n > 0 else { break }
            out.append(contentsOf: buffer[0..<n])
        }
        return out
    }
}
