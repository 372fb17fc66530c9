import Foundation
import NIOSSL

/// A config field that is wrong, named.
public struct EtcdConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "\(field): \(problem)" }
}

/// One etcd client URL: `http://HOST:PORT`, `https://HOST:PORT`, or a
/// unix socket, `unix:///PATH` (`unixs://` with TLS), which etcd serves
/// with `--listen-client-urls unix://…` (the tests use it: etcd runs in a
/// namespace of its own and the test process reaches it by the file).
public struct EtcdEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var url: String
    public var tls: Bool
    private var socketPath: String?

    public init(_ url: String) throws {
        self.url = url
        for (scheme, tls) in [("unix://", false), ("unixs://", true)] where url.hasPrefix(scheme) {
            let path = String(url.dropFirst(scheme.count))
            guard path.hasPrefix("/") else { throw EtcdConfigError(field: "endpoints", problem: "\(url): a unix socket path must be absolute") }
            self.socketPath = path
            self.tls = tls
            return
        }
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw EtcdConfigError(field: "endpoints", problem: "\(url): expected http://HOST:PORT, https://HOST:PORT or unix:///PATH")
        }
        self.tls = scheme == "https"
        self.socketPath = nil
    }

    public var description: String { url }

    /// AsyncHTTPClient sends no Host for a unix socket, and etcd's HTTP
    /// server refuses a request without one (HTTP/1.1 requires it).
    var hostHeader: String? { socketPath == nil ? nil : "localhost" }

    func url(path: String) throws -> URL {
        let made: URL?
        if let socketPath {
            made = tls ? URL(httpsURLWithSocketPath: socketPath, uri: path) : URL(httpURLWithSocketPath: socketPath, uri: path)
        } else {
            made = URL(string: url.hasSuffix("/") ? String(url.dropLast()) + path : url + path)
        }
        guard let made else { throw EtcdConfigError(field: "endpoints", problem: "\(url): cannot form a request URL") }
        return made
    }
}

/// TLS for `https://` endpoints: the CA that signed etcd's server
/// certificate (the system's roots when absent) and a client certificate
/// and key when etcd runs with `--client-cert-auth`.
public struct EtcdTLS: Hashable, Sendable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    func makeConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        switch (certFile, keyFile) {
        case (nil, nil): break
        case (let cert?, let key?):
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        case (nil, _): throw EtcdConfigError(field: "tls.certFile", problem: "a client key needs its certificate")
        case (_, nil): throw EtcdConfigError(field: "tls.keyFile", problem: "a client certificate needs its key")
        }
        return tls
    }
}

/// How to reach the cluster and where Caracal's keys live in it.
public struct EtcdConfig: Hashable, Sendable {
    public static let defaultPrefix = "/caracal/"

    public var endpoints: [EtcdEndpoint]
    public var tls: EtcdTLS
    public var username: String?
    public var password: String?
    /// Every key Caracal writes starts with it; another tenant's keys are
    /// never read or written.
    public var prefix: String
    public var connectTimeoutMs: Int
    /// Bound on one unary call (a Range, a Txn); a CNI ADD must fail well
    /// before the runtime's own timeout.
    public var requestTimeoutMs: Int

    public init(
        endpoints: [EtcdEndpoint], tls: EtcdTLS = EtcdTLS(), username: String? = nil, password: String? = nil,
        prefix: String = EtcdConfig.defaultPrefix, connectTimeoutMs: Int = 1000, requestTimeoutMs: Int = 5000
    ) {
        self.endpoints = endpoints
        self.tls = tls
        self.username = username
        self.password = password
        self.prefix = prefix
        self.connectTimeoutMs = connectTimeoutMs
        self.requestTimeoutMs = requestTimeoutMs
    }

    /// Comma-separated endpoint URLs, as the CLI's `etcd:URL[,URL…]` takes them.
    public init(endpointList: String, prefix: String = EtcdConfig.defaultPrefix) throws {
        let urls = endpointList.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        self.init(endpoints: try urls.map(EtcdEndpoint.init), prefix: prefix)
    }
}
