import ClusterModel
import IPAddressing
import JSON

/// DNS settings (config `dns`, capability `runtimeConfig.dns`, result `dns`).
public struct DNSConfig: Hashable, Sendable {
    public var nameservers: [String] = []
    public var domain: String?
    public var search: [String] = []
    public var options: [String] = []

    public init(nameservers: [String] = [], domain: String? = nil, search: [String] = [], options: [String] = []) {
        self.nameservers = nameservers
        self.domain = domain
        self.search = search
        self.options = options
    }

    public var isEmpty: Bool { nameservers.isEmpty && domain == nil && search.isEmpty && options.isEmpty }

    init(_ r: FieldReader) throws(CNIError) {
        nameservers = try r.stringArray("nameservers") ?? []
        domain = try r.string("domain")
        search = try r.stringArray("search") ?? []
        options = try r.stringArray("options") ?? []
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if !nameservers.isEmpty { o["nameservers"] = .array(nameservers.map { .string($0) }) }
        if let domain { o["domain"] = .string(domain) }
        if !search.isEmpty { o["search"] = .array(search.map { .string($0) }) }
        if !options.isEmpty { o["options"] = .array(options.map { .string($0) }) }
        return .object(o)
    }
}

/// The plugin's `ipam` section: `{"type": "caracal", "pools": [...],
/// "assignIPv4": true, "assignIPv6": false}`. `pools` entries are pool names
/// (defined by an admin in the datastore) or full pool definitions (objects,
/// created in the datastore when absent; see the IPAM module for the keys).
public struct IPAMSection: Hashable, Sendable {
    public var type: String
    public var poolNames: [String]
    public var poolDefinitions: [(path: String, json: JSONValue)] { definitions.map { ($0.path, $0.json) } }
    public var assignIPv4: Bool
    public var assignIPv6: Bool
    /// `statefulSetClaims`: sticky claims derived from StatefulSet members.
    public var statefulSetClaims: StatefulSetClaims?
    private var definitions: [Definition]
    private struct Definition: Hashable, Sendable {
        var path: String
        var json: JSONValue
    }

    public static let supportedTypes: Set<String> = ["caracal", "caracal-ipam"]

    init(_ r: FieldReader) throws(CNIError) {
        type = try r.requiredString("type")
        guard IPAMSection.supportedTypes.contains(type) else {
            throw CNIError.invalidField(r.field("type"), "unsupported IPAM type \"\(type)\" (caracal-cni does its own IPAM: use \"caracal\")")
        }
        poolNames = []
        definitions = []
        for (i, entry) in (try r.array("pools") ?? []).enumerated() {
            let path = "\(r.field("pools"))[\(i)]"
            switch entry {
            case .string(let name) where !name.isEmpty:
                poolNames.append(name)
            case .object(let o):
                guard case .string(let name)? = o["name"], !name.isEmpty else {
                    throw CNIError.invalidField("\(path).name", "missing")
                }
                poolNames.append(name)
                definitions.append(Definition(path: path, json: entry))
            default:
                throw CNIError.invalidField(path, "expected a pool name or a pool object, got \(entry.typeName)")
            }
        }
        assignIPv4 = try r.bool("assignIPv4") ?? true
        assignIPv6 = try r.bool("assignIPv6") ?? false
        statefulSetClaims = try r.object("statefulSetClaims").map { r throws(CNIError) in try StatefulSetClaims(r) }
        guard assignIPv4 || assignIPv6 else {
            throw CNIError.invalidField(r.field("assignIPv4"), "at least one of assignIPv4 and assignIPv6 must be true")
        }
    }

    public static func == (a: IPAMSection, b: IPAMSection) -> Bool {
        a.type == b.type && a.poolNames == b.poolNames && a.definitions == b.definitions
            && a.assignIPv4 == b.assignIPv4 && a.assignIPv6 == b.assignIPv6 && a.statefulSetClaims == b.statefulSetClaims
    }
    public func hash(into h: inout Hasher) { h.combine(type); h.combine(poolNames) }
}

/// A label for policy outside Kubernetes (`args.cni.labels`, CNI conventions).
public struct Label: Hashable, Sendable, Codable {
    public var key: String
    public var value: String
    public init(key: String, value: String) { self.key = key; self.value = value }
}

/// A network configuration as the runtime sends it on stdin (one plugin of a
/// conflist, with the runtime's injected keys). Parsing checks types and
/// values and names the field in every error (code 7); a version Caracal
/// cannot speak is code 1; unparseable JSON is code 6.
public struct NetworkConfig: Hashable, Sendable {
    public var cniVersion: CNIVersion
    public var name: String
    public var type: String
    /// MTU for both veth ends (default 1500: no encapsulation).
    public var mtu: Int
    public var ipam: IPAMSection?
    public var dns: DNSConfig?
    /// The previous plugin's result (chaining), or ADD's result on CHECK/DEL.
    public var prevResult: CNIResult?
    /// Capability `ips`: requested addresses (a prefix length is ignored).
    public var runtimeIPs: [String]
    /// Capability `mac`: the pod interface's MAC.
    public var runtimeMAC: String?
    /// Capability `dns`.
    public var runtimeDNS: DNSConfig?
    /// `args.cni.labels`.
    public var labels: [Label]
    /// `args.cni.ips`.
    public var argsIPs: [String]
    /// `args.cni.claim`: a sticky workload claim name.
    public var argsClaim: String?
    /// `datastore.path`: the node's datastore file.
    public var datastorePath: String?
    /// `datastore.busyTimeoutMs`: how long to wait for another writer
    /// before answering "try again later" (code 11).
    public var datastoreBusyTimeoutMs: Int?
    /// `datastore.type: etcd` and its fields (docs/datastore.md); nil for
    /// the embedded file (`type: embedded`, the default).
    public var etcd: EtcdSettings?
    /// `nodeName`: defaults to the host name.
    public var nodeName: String?
    /// `agentSocket`: the node agent's control socket. When an agent answers
    /// there, ADD returns only once the pod's policy is committed (the pod
    /// never starts blocked); default /run/caracal/agent.sock, skipped when
    /// nothing listens.
    public var agentSocket: String
    /// `agentTimeoutMs`: how long ADD waits for the agent (then code 11).
    public var agentTimeoutMs: Int
    public static let defaultAgentSocket = "/run/caracal/agent.sock"
    /// GC: `cni.dev/valid-attachments` (or the older `cni.dev/attachments`).
    public var validAttachments: [Attachment]?
    /// The whole document, as received.
    public var raw: JSONValue

    public static let defaultMTU = 1500
    public static let namePattern = "^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$"

    public init(parsing bytes: some Collection<UInt8>) throws(CNIError) {
        try self.init(json: try JSONValue.parse(bytes))
    }

    public init(json: JSONValue) throws(CNIError) {
        raw = json
        let r = try FieldReader(json, path: "")
        guard r.has("cniVersion") else { throw CNIError.invalidField("cniVersion", "missing") }
        let versionText = try r.requiredString("cniVersion")
        cniVersion = try CNIVersion.negotiate(versionText)
        name = try r.requiredString("name")
        guard NetworkConfig.isValidNetworkName(name) else {
            throw CNIError.invalidField("name", "\"\(name)\" must match \(NetworkConfig.namePattern)")
        }
        type = try r.requiredString("type")
        mtu = try r.int("mtu", range: 68...65535) ?? NetworkConfig.defaultMTU
        ipam = try r.object("ipam").map { r throws(CNIError) in try IPAMSection(r) }
        dns = try r.object("dns").map { r throws(CNIError) in try DNSConfig(r) }
        if let prev = r.object["prevResult"], prev != .null {
            prevResult = try CNIResult(json: prev, path: "prevResult")
        } else {
            prevResult = nil
        }

        runtimeIPs = []
        runtimeMAC = nil
        runtimeDNS = nil
        if let rc = try r.object("runtimeConfig") {
            runtimeIPs = try rc.stringArray("ips") ?? []
            try NetworkConfig.checkAddresses(runtimeIPs, field: rc.field("ips"))
            runtimeMAC = try rc.string("mac")
            if let mac = runtimeMAC, MACAddressText.parse(mac) == nil {
                throw CNIError.invalidField(rc.field("mac"), "\"\(mac)\" is not a MAC address (aa:bb:cc:dd:ee:ff)")
            }
            runtimeDNS = try rc.object("dns").map { r throws(CNIError) in try DNSConfig(r) }
        }

        labels = []
        argsIPs = []
        argsClaim = nil
        if let args = try r.object("args"), let cni = try args.object("cni") {
            argsIPs = try cni.stringArray("ips") ?? []
            try NetworkConfig.checkAddresses(argsIPs, field: cni.field("ips"))
            argsClaim = try cni.string("claim")
            for (i, entry) in (try cni.array("labels") ?? []).enumerated() {
                let lr = try FieldReader(entry, path: "\(cni.field("labels"))[\(i)]")
                labels.append(Label(key: try lr.requiredString("key"), value: try lr.string("value") ?? ""))
            }
        }

        agentSocket = try r.string("agentSocket") ?? NetworkConfig.defaultAgentSocket
        guard agentSocket.hasPrefix("/") else { throw CNIError.invalidField("agentSocket", "must be an absolute path") }
        agentTimeoutMs = try r.int("agentTimeoutMs", range: 1...600_000) ?? 10_000
        if let ds = try r.object("datastore") {
            datastorePath = try ds.string("path")
            if let p = datastorePath, !p.hasPrefix("/") {
                throw CNIError.invalidField(ds.field("path"), "must be an absolute path")
            }
            datastoreBusyTimeoutMs = try ds.int("busyTimeoutMs", range: 1...600_000)
            switch try ds.string("type") ?? "embedded" {
            case "embedded": etcd = nil
            case "etcd": etcd = try EtcdSettings(ds)
            case let other: throw CNIError.invalidField(ds.field("type"), "\(other): expected embedded or etcd")
            }
        } else {
            datastorePath = nil
            datastoreBusyTimeoutMs = nil
            etcd = nil
        }
        nodeName = try r.string("nodeName")

        validAttachments = nil
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            guard let list = try r.array(key) else { continue }
            var out = validAttachments ?? []
            for (i, entry) in list.enumerated() {
                let ar = try FieldReader(entry, path: "\(key)[\(i)]")
                out.append(Attachment(containerID: try ar.requiredString("containerID"), ifName: try ar.requiredString("ifname")))
            }
            validAttachments = out
        }
    }

    public static func isValidNetworkName(_ name: String) -> Bool {
        guard let f = name.unicodeScalars.first, f.isASCII, f.properties.isAlphabetic || ("0"..."9").contains(f) else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && (("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || $0 == "_" || $0 == "." || $0 == "-")
        }
    }

    /// Every requested address from the capability and `args.cni.ips`, in
    /// that order, without duplicates (a "/len" suffix is ignored: pods get
    /// host routes).
    public var requestedIPs: [IPAddress] {
        var out: [IPAddress] = []
        for s in runtimeIPs + argsIPs {
            if let a = NetworkConfig.address(s), !out.contains(a) { out.append(a) }
        }
        return out
    }

    /// "10.0.0.5" or "10.0.0.5/24" → 10.0.0.5.
    public static func address(_ text: String) -> IPAddress? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard let len = Int(parts[1]), len >= 0, len <= (a.isIPv4 ? 32 : 128), parts[1].allSatisfy(\.isNumber) else { return nil }
        }
        return a
    }

    static func checkAddresses(_ list: [String], field: String) throws(CNIError) {
        for (i, s) in list.enumerated() where address(s) == nil {
            throw CNIError.invalidField("\(field)[\(i)]", "\"\(s)\" is not an IP address")
        }
    }
}

/// MAC address text ("aa:bb:cc:dd:ee:ff").
public enum MACAddressText {
    public static func parse(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    public static func format(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: ":")
    }
}

/// The conflist's `datastore` object when `type` is `etcd`:
///
///     "datastore": {"type": "etcd", "endpoints": ["https://10.0.0.1:2379"],
///                   "prefix": "/caracal/", "timeoutMs": 2000,
///                   "tls": {"caFile": "...", "certFile": "...", "keyFile": "..."},
///                   "username": "caracal-cni", "passwordFile": "/etc/caracal/etcd-password"}
extension EtcdSettings {
    init(_ ds: FieldReader) throws(CNIError) {
        self.init(endpoints: try ds.stringArray("endpoints") ?? [])
        if endpoints.isEmpty { throw CNIError.invalidField(ds.field("endpoints"), "at least one etcd endpoint is required") }
        prefix = try ds.string("prefix")
        if let tls = try ds.object("tls") {
            caFile = try tls.string("caFile")
            certFile = try tls.string("certFile")
            keyFile = try tls.string("keyFile")
        }
        username = try ds.string("username")
        passwordFile = try ds.string("passwordFile")
        timeoutMs = try ds.int("timeoutMs", range: 1...600_000)
        for (name, path) in files {
            if let path, !path.hasPrefix("/") { throw CNIError.invalidField(ds.field(name), "must be an absolute path") }
        }
    }
}
