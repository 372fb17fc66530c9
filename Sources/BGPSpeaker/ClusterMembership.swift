import ClusterModel
import IPAddressing
import StrictYAML

/// `spec.cluster` of the agent configuration: which node this agent is,
/// where the cluster's datastore is, and how the node's addresses are
/// found (docs/config.md).
public struct ClusterMembership: Hashable, Sendable {
    public var nodeName: String
    /// `embedded:PATH`, an absolute path, or `etcd:URL[,URL…]`.
    public var datastore: String
    /// Set when `datastore` is given as an object of `type: etcd` (TLS,
    /// credentials, prefix: the CNI conflist's `datastore` object).
    public var etcd: EtcdSettings?
    public var ipv4: AddressDetection = .firstFound
    public var ipv6: AddressDetection = .none
    public var labels: [String: String] = [:]
    /// Makes the node a route reflector when the cluster runs reflectors.
    public var routeReflectorClusterID: IPv4Address?
    /// Host veth prefix of the CNI plugin's pods (policy matches it).
    public var interfacePrefix: String = "crc"
    /// Program network policy into nftables.
    public var policy: Bool = true

    public init(nodeName: String, datastore: String) {
        self.nodeName = nodeName
        self.datastore = datastore
    }

    static func parse(_ field: YField) throws(YAMLInputError) -> ClusterMembership {
        let m = try field.mapping(allowed: ["nodeName", "datastore", "nodeAddress", "labels", "routeReflectorClusterID",
                                            "interfacePrefix", "policy"])
        guard let name = m["nodeName"] else { throw field.error("nodeName is required") }
        guard let store = m["datastore"] else { throw field.error("datastore is required (a path, embedded:PATH or etcd:URL)") }
        var c = ClusterMembership(nodeName: try name.string(), datastore: "")
        if store.isMapping {
            (c.datastore, c.etcd) = try parseDatastore(store)
        } else {
            c.datastore = try store.string()
        }
        guard !c.nodeName.isEmpty, c.nodeName.count <= 253,
              c.nodeName.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }) else {
            throw name.error("must be a DNS-1123 name (a-z, 0-9, '-', '.')")
        }
        if let a = m["nodeAddress"] {
            let am = try a.mapping(allowed: ["ipv4", "ipv6"])
            if let f = am["ipv4"] { c.ipv4 = try AddressDetection.parse(f, ipv4: true) }
            if let f = am["ipv6"] { c.ipv6 = try AddressDetection.parse(f, ipv4: false) }
        }
        c.labels = try m["labels"]?.stringMap() ?? [:]
        if let f = m["routeReflectorClusterID"] {
            guard let id = IPv4Address(try f.string()) else { throw f.error("expected an IPv4 address (RFC 4456 CLUSTER_ID)") }
            c.routeReflectorClusterID = id
        }
        if let f = m["interfacePrefix"] {
            c.interfacePrefix = try f.string()
            guard (1...8).contains(c.interfacePrefix.count) else { throw f.error("must be 1-8 characters") }
        }
        if let f = m["policy"] { c.policy = try f.bool() }
        return c
    }

    /// The object form, as in the CNI conflist (docs/datastore.md):
    /// `{type: embedded, path: P}` or `{type: etcd, endpoints: [...],
    /// prefix, timeoutMs, tls: {caFile, certFile, keyFile}, username,
    /// passwordFile}`.
    static func parseDatastore(_ field: YField) throws(YAMLInputError) -> (String, EtcdSettings?) {
        let m = try field.mapping(allowed: ["type", "path", "endpoints", "prefix", "timeoutMs", "tls", "username", "passwordFile"])
        let type = try m["type"]?.string() ?? "embedded"
        switch type {
        case "embedded":
            for key in ["endpoints", "prefix", "timeoutMs", "tls", "username", "passwordFile"] where m[key] != nil {
                throw m[key]!.error("only for type: etcd")
            }
            guard let p = m["path"] else { throw field.error("path is required for type: embedded") }
            let path = try p.string()
            guard path.hasPrefix("/") else { throw p.error("must be an absolute path") }
            return (path, nil)
        case "etcd":
            if let p = m["path"] { throw p.error("only for type: embedded") }
            guard let e = m["endpoints"] else { throw field.error("endpoints is required for type: etcd") }
            var s = EtcdSettings(endpoints: try e.stringList())
            guard !s.endpoints.isEmpty else { throw e.error("at least one etcd endpoint is required") }
            s.prefix = try m["prefix"]?.string()
            if let f = m["timeoutMs"] {
                s.timeoutMs = try f.int()
                guard (1...600_000).contains(s.timeoutMs!) else { throw f.error("must be 1-600000") }
            }
            if let t = m["tls"] {
                let tm = try t.mapping(allowed: ["caFile", "certFile", "keyFile"])
                s.caFile = try tm["caFile"]?.string()
                s.certFile = try tm["certFile"]?.string()
                s.keyFile = try tm["keyFile"]?.string()
            }
            s.username = try m["username"]?.string()
            s.passwordFile = try m["passwordFile"]?.string()
            for (name, path) in s.files {
                if let path, !path.hasPrefix("/") { throw field.error("\(name) must be an absolute path") }
            }
            return ("etcd:" + s.endpoints.joined(separator: ","), s)
        default:
            throw m["type"]!.error("must be embedded or etcd")
        }
    }
}

/// How a node's address of one family is chosen (Calico's
/// IP_AUTODETECTION_METHOD, pinnable so the wrong NIC is never picked).
public enum AddressDetection: Hashable, Sendable, CustomStringConvertible {
    /// The first global address on an interface that is up, skipping
    /// loopback and pod veths.
    case firstFound
    case interface(String)
    case cidr(IPPrefix)
    case address(IPAddress)
    /// No address of this family (no sessions of it).
    case none

    static func parse(_ field: YField, ipv4: Bool) throws(YAMLInputError) -> AddressDetection {
        let text = try field.string()
        let family = ipv4 ? "IPv4" : "IPv6"
        let d: AddressDetection
        if text == "first-found" {
            d = .firstFound
        } else if text == "none" {
            d = .none
        } else if text.hasPrefix("interface=") {
            d = .interface(String(text.dropFirst("interface=".count)))
        } else if text.hasPrefix("cidr="), let p = IPPrefix(String(text.dropFirst("cidr=".count))) {
            guard p.isIPv4 == ipv4 else { throw field.error("not an \(family) prefix") }
            d = .cidr(p)
        } else if let a = IPAddress(text) {
            guard a.isIPv4 == ipv4 else { throw field.error("not an \(family) address") }
            d = .address(a)
        } else {
            throw field.error("expected first-found, interface=NAME, cidr=PREFIX, an \(family) address, or none")
        }
        return d
    }

    /// Picks from the node's addresses: (interface name, address, up).
    public func select(from candidates: [(interface: String, address: IPAddress, up: Bool)], ipv4: Bool,
                       podInterfacePrefix: String) -> IPAddress? {
        let family = candidates.filter { $0.address.isIPv4 == ipv4 && !$0.address.isLinkLocalOrLoopback }
        switch self {
        case .none: return nil
        case .address(let a): return family.contains { $0.address == a } ? a : nil
        case .interface(let name): return family.first { $0.interface == name }?.address
        case .cidr(let p): return family.first { p.contains($0.address) }?.address
        case .firstFound:
            return family.first { $0.up && $0.interface != "lo" && !$0.interface.hasPrefix(podInterfacePrefix) }?.address
        }
    }

    public var description: String {
        switch self {
        case .firstFound: "first-found"
        case .interface(let n): "interface=\(n)"
        case .cidr(let p): "cidr=\(p)"
        case .address(let a): "\(a)"
        case .none: "none"
        }
    }
}

extension IPAddress {
    /// 127/8, 169.254/16, ::1, fe80::/10: never a node's address.
    var isLinkLocalOrLoopback: Bool {
        switch self {
        case .v4(let a): a.isLoopback || a.value >> 16 == 0xA9FE
        case .v6(let a): a.isLoopback || a.isLinkLocal
        }
    }
}
