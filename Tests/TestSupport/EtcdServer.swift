import Foundation

/// A single-member etcd (Debian's `/usr/bin/etcd`) for one test: its own
/// network namespace (only `lo`, so it can reach nothing and nothing
/// outside the test reaches it), its data in a temporary directory, and
/// its client and peer listeners on unix sockets in that directory, so
/// the test process and its helpers reach it by the socket's path
/// without a route into the namespace. `stop()` kills it by pid and
/// removes the namespace and the directory; `withEtcd` always calls it.
public final class EtcdServer: @unchecked Sendable {
    public let directory: URL
    public let network: TestNetwork
    public let namespace: TestNamespace
    private var process: Process?
    /// The write end of the guard shell's stdin: closing it (or this
    /// process dying) makes the guard SIGKILL etcd, so no etcd outlives
    /// its test.
    private var lifeline: FileHandle?
    private let name: String
    /// The member names of its cluster (itself alone for a single member).
    private let cluster: [String]
    /// Whether `stop` removes the directory and the namespaces (a cluster's
    /// members share its).
    private let ownsResources: Bool

    /// The client URL for Caracal's config: `unix:///…/etcd.sock:0`.
    public var endpoint: String { "unix://\(directory.path)/\(name).sock:0" }

    public init(name: String = "etcd", extraArguments: [String] = []) throws {
        self.name = name
        cluster = [name]
        ownsResources = true
        network = TestNetwork()
        directory = try Self.makeDirectory()
        do {
            namespace = try network.namespace(name)
        } catch {
            network.cleanup()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        do { try start(extraArguments: extraArguments) } catch {
            stop()
            throw error
        }
    }

    /// A member of `EtcdCluster`: its own namespace in the cluster's
    /// network, its sockets in the cluster's directory; not started.
    init(member name: String, of cluster: [String], directory: URL, network: TestNetwork) throws {
        self.name = name
        self.cluster = cluster
        ownsResources = false
        self.network = network
        self.directory = directory
        namespace = try network.namespace(name)
    }

    static func makeDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("crc-etcd-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    deinit { stop() }

    /// Starts etcd (again, after `kill()`: same data, same socket).
    public func start(extraArguments: [String] = []) throws {
        try launch(extraArguments: extraArguments)
        try waitUntilReady()
    }

    /// Starts the process without waiting (a cluster's members wait for each other).
    func launch(extraArguments: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        // etcd takes a unix URL's host as the socket's path, relative to
        // its working directory.
        let client = "unix://\(name).sock:0", peer = "unix://\(name)-peer.sock:0"
        // A killed etcd leaves its sockets behind, and etcd will not bind over them.
        for socket in ["\(name).sock:0", "\(name)-peer.sock:0"] {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(socket))
        }
        // The guard: etcd in the background, then a read of the lifeline
        // that returns at EOF and kills etcd. (Not `wait`: dash's wait did
        // not return under the test process here.)
        let guardScript = "exec 3<&0; \"$@\" & read _ <&3; kill -9 $!"
        p.arguments = ["-c", guardScript, "etcd-guard", "/usr/bin/ip", "netns", "exec", namespace.name, "/usr/bin/etcd",
            "--name", name, "--data-dir", directory.appendingPathComponent("\(name)-data").path,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", cluster.map { "\($0)=unix://\($0)-peer.sock:0" }.joined(separator: ","),
            "--logger", "zap", "--log-outputs", directory.appendingPathComponent("\(name).log").path] + extraArguments
        p.currentDirectoryURL = directory
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        process = p
        lifeline = stdin.fileHandleForWriting
    }

    /// Polls the gateway until it answers (etcd elects itself within a second or two).
    func waitUntilReady() throws {
        let socket = directory.appendingPathComponent("\(name).sock:0").path
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if Self.gatewayAnswers(socket) { return }
            guard process?.isRunning == true else { throw EtcdServerError(log: log) }
            usleep(50_000)
        }
        throw EtcdServerError(log: log)
    }

    /// One Range through the JSON gateway on the unix socket, answered 200.
    static func gatewayAnswers(_ socketPath: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.map { UInt8(bitPattern: $0) }) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        let body = "{\"key\":\"AA==\"}"
        let request = "POST /v3/kv/range HTTP/1.1\r\nHost: etcd\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        guard write(fd, request, request.utf8.count) == request.utf8.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &reply, reply.count)
        return n > 12 && String(decoding: reply[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    /// Kills etcd (SIGKILL) and waits for it; the data stays.
    public func kill() {
        guard let p = process else { return }
        try? lifeline?.close()
        lifeline = nil
        p.waitUntilExit()
        process = nil
    }

    public func stop() {
        kill()
        guard ownsResources else { return }
        network.cleanup()
        try? FileManager.default.removeItem(at: directory)
    }

    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }
}

public struct EtcdServerError: Error, CustomStringConvertible {
    public var log: String
    public var description: String { "etcd did not become ready; its log ends:\n\(log.suffix(2000))" }
}

/// Runs `body` with a fresh etcd and always stops it.
public func withEtcd<T>(_ body: (EtcdServer) throws -> T) throws -> T {
    let server = try EtcdServer()
    defer { server.stop() }
    return try body(server)
}

public func withEtcd<T>(_ body: (EtcdServer) async throws -> T) async throws -> T {
    let server = try EtcdServer()
    defer { server.stop() }
    return try await body(server)
}

/// A three-member (or larger) etcd cluster for one test: each member in a
/// namespace of its own, all sockets (client and peer) in one temporary
/// directory, so the members reach each other and the test reaches them
/// by path. `stop()` kills every member and removes it all.
public final class EtcdCluster: @unchecked Sendable {
    public let members: [EtcdServer]
    private let network = TestNetwork()
    private let directory: URL

    public var endpoints: [String] { members.map(\.endpoint) }

    public init(size: Int = 3) throws {
        directory = try EtcdServer.makeDirectory()
        let names = (1...size).map { "m\($0)" }
        var made: [EtcdServer] = []
        do {
            for name in names {
                made.append(try EtcdServer(member: name, of: names, directory: directory, network: network))
            }
            // All at once: a member serves only once a quorum has met.
            for member in made { try member.launch() }
            for member in made { try member.waitUntilReady() }
        } catch {
            for member in made { member.stop() }
            network.cleanup()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        members = made
    }

    deinit { stop() }

    public func stop() {
        for member in members { member.stop() }
        network.cleanup()
        try? FileManager.default.removeItem(at: directory)
    }
}
