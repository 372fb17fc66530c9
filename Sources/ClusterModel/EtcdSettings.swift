/// How to reach an etcd datastore: the CNI conflist's `datastore` object
/// when `type` is `etcd`, the agent's `spec.cluster.datastore` in the same
/// form, and the CLI's `--etcd-*` flags (docs/datastore.md). A plain value;
/// `DatastoreLocation(etcd:)` (module Datastore) makes it a connection
/// configuration.
public struct EtcdSettings: Hashable, Sendable {
    public var endpoints: [String]
    public var prefix: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var username: String?
    /// A file holding the password, so that it is not in the configuration
    /// (which runtimes log and show).
    public var passwordFile: String?
    /// Bound on one etcd call; an ADD fails with code 11 past it.
    public var timeoutMs: Int?

    public init(endpoints: [String], prefix: String? = nil, caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil,
                username: String? = nil, passwordFile: String? = nil, timeoutMs: Int? = nil) {
        self.endpoints = endpoints
        self.prefix = prefix
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.username = username
        self.passwordFile = passwordFile
        self.timeoutMs = timeoutMs
    }

    /// The fields that name files, which must be absolute paths.
    public var files: [(field: String, path: String?)] {
        [("tls.caFile", caFile), ("tls.certFile", certFile), ("tls.keyFile", keyFile), ("passwordFile", passwordFile)]
    }
}
