import ClusterModel
import EtcdStore
import Foundation
import KeyValueStore

/// Which backend holds the datastore, chosen the same way by the CLI
/// (`--datastore`), the CNI plugin (its conflist's `datastore` object)
/// and the agent (docs/datastore.md):
/// - `embedded:PATH` (or a bare absolute path): the node's SQLite file;
/// - `etcd:URL[,URL…]`: an etcd v3 cluster, with TLS, credentials and the
///   key prefix in `EtcdConfig`.
public enum DatastoreLocation: Hashable, Sendable, CustomStringConvertible {
    case embedded(path: String)
    case etcd(EtcdConfig)

    public init(parsing text: String) throws {
        if text.hasPrefix("etcd:") {
            self = .etcd(try EtcdConfig(endpointList: String(text.dropFirst("etcd:".count))))
        } else if text.hasPrefix("embedded:") {
            self = .embedded(path: String(text.dropFirst("embedded:".count)))
        } else if text.hasPrefix("/") {
            self = .embedded(path: text)
        } else {
            throw EtcdConfigError(field: "datastore", problem: "\(text): expected embedded:PATH, etcd:URL[,URL…] or an absolute path")
        }
    }

    /// etcd as the CNI conflist's `datastore` object and the agent's
    /// `spec.cluster.datastore` describe it; reads the password file.
    /// Errors name the field (`EtcdConfigError`).
    public init(etcd: EtcdSettings) throws {
        var config = EtcdConfig(
            endpoints: try etcd.endpoints.map(EtcdEndpoint.init),
            tls: EtcdTLS(caFile: etcd.caFile, certFile: etcd.certFile, keyFile: etcd.keyFile),
            username: etcd.username, prefix: etcd.prefix ?? EtcdConfig.defaultPrefix)
        if let ms = etcd.timeoutMs { config.requestTimeoutMs = ms }
        if let file = etcd.passwordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw EtcdConfigError(field: "passwordFile", problem: "cannot read a password from \(file)")
            }
            config.password = text.trimmingCharacters(in: .newlines)
        }
        self = .etcd(config)
    }

    /// Opens the store. `create` applies to the embedded file only (an etcd
    /// prefix needs no creating).
    public func open(create: Bool = false) throws -> any KVStore {
        switch self {
        case .embedded(let path): try SQLiteStore(path: path, create: create)
        case .etcd(let config): try EtcdStore(config)
        }
    }

    public var description: String {
        switch self {
        case .embedded(let path): "embedded:\(path)"
        case .etcd(let config): "etcd:" + config.endpoints.map(\.url).joined(separator: ",") + " (prefix \(config.prefix))"
        }
    }
}
