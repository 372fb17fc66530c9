import JSON
/// A CNI result (SPEC.md "Success"): interfaces, IPs, routes and DNS,
/// encoded in the version the runtime asked for:
/// - 0.3.0–0.4.0: each IP carries `"version": "4"|"6"`;
/// - 1.0.0: no `version`;
/// - 1.1.0: interfaces may carry `mtu`, routes `mtu`, `advmss`, `priority`,
///   `table` and `scope`.
public struct CNIResult: Hashable, Sendable {
    public struct Interface: Hashable, Sendable {
        public var name: String
        public var mac: String?
        public var mtu: Int?
        /// Set for interfaces inside the container (the netns path).
        public var sandbox: String?
        public init(name: String, mac: String? = nil, mtu: Int? = nil, sandbox: String? = nil) {
            self.name = name
            self.mac = mac
            self.mtu = mtu
            self.sandbox = sandbox
        }
    }

    public struct IPConfig: Hashable, Sendable {
        /// CIDR notation: "10.244.1.7/32".
        public var address: String
        public var gateway: String?
        /// Index into `interfaces`.
        public var interface: Int?
        public init(address: String, gateway: String? = nil, interface: Int? = nil) {
            self.address = address
            self.gateway = gateway
            self.interface = interface
        }
        public var isIPv6: Bool { address.contains(":") }
    }

    public struct Route: Hashable, Sendable {
        public var dst: String
        public var gw: String?
        public var mtu: Int?
        public var advmss: Int?
        public var priority: Int?
        public var table: Int?
        public var scope: Int?
        public init(dst: String, gw: String? = nil, mtu: Int? = nil, advmss: Int? = nil, priority: Int? = nil, table: Int? = nil, scope: Int? = nil) {
            self.dst = dst
            self.gw = gw
            self.mtu = mtu
            self.advmss = advmss
            self.priority = priority
            self.table = table
            self.scope = scope
        }
    }

    public var interfaces: [Interface]
    public var ips: [IPConfig]
    public var routes: [Route]
    public var dns: DNSConfig

    public init(interfaces: [Interface] = [], ips: [IPConfig] = [], routes: [Route] = [], dns: DNSConfig = DNSConfig()) {
        self.interfaces = interfaces
        self.ips = ips
        self.routes = routes
        self.dns = dns
    }

    /// The result JSON in `version`'s shape.
    public func json(version: CNIVersion) -> JSONValue {
        var o: [String: JSONValue] = ["cniVersion": .string(version.description)]
        o["interfaces"] = .array(interfaces.map { i in
            var e: [String: JSONValue] = ["name": .string(i.name)]
            if let mac = i.mac { e["mac"] = .string(mac) }
            if let sandbox = i.sandbox { e["sandbox"] = .string(sandbox) }
            if version.hasExtendedRouteFields, let mtu = i.mtu { e["mtu"] = .int(Int64(mtu)) }
            return .object(e)
        })
        o["ips"] = .array(ips.map { ip in
            var e: [String: JSONValue] = ["address": .string(ip.address)]
            if let gw = ip.gateway { e["gateway"] = .string(gw) }
            if let idx = ip.interface { e["interface"] = .int(Int64(idx)) }
            if version.hasIPVersionField { e["version"] = .string(ip.isIPv6 ? "6" : "4") }
            return .object(e)
        })
        if !routes.isEmpty {
            o["routes"] = .array(routes.map { r in
                var e: [String: JSONValue] = ["dst": .string(r.dst)]
                if let gw = r.gw { e["gw"] = .string(gw) }
                if version.hasExtendedRouteFields {
                    if let v = r.mtu { e["mtu"] = .int(Int64(v)) }
                    if let v = r.advmss { e["advmss"] = .int(Int64(v)) }
                    if let v = r.priority { e["priority"] = .int(Int64(v)) }
                    if let v = r.table { e["table"] = .int(Int64(v)) }
                    if let v = r.scope { e["scope"] = .int(Int64(v)) }
                }
                return .object(e)
            })
        }
        if !dns.isEmpty { o["dns"] = dns.json }
        return .object(o)
    }

    /// Reads a result of any supported version (`prevResult`, a plugin's
    /// stdout). Errors name the field under `path`.
    public init(json: JSONValue, path: String = "result") throws(CNIError) {
        let r = try FieldReader(json, path: path)
        interfaces = []
        for (i, e) in (try r.array("interfaces") ?? []).enumerated() {
            let ir = try FieldReader(e, path: "\(r.field("interfaces"))[\(i)]")
            interfaces.append(Interface(
                name: try ir.requiredString("name"), mac: try ir.string("mac"),
                mtu: try ir.int("mtu", range: 0...65535), sandbox: try ir.string("sandbox")))
        }
        ips = []
        for (i, e) in (try r.array("ips") ?? []).enumerated() {
            let ir = try FieldReader(e, path: "\(r.field("ips"))[\(i)]")
            let idx = try ir.int("interface", range: 0...Int64(Int32.max))
            if let idx, idx >= interfaces.count {
                throw CNIError.invalidField(ir.field("interface"), "index \(idx) but only \(interfaces.count) interfaces")
            }
            ips.append(IPConfig(address: try ir.requiredString("address"), gateway: try ir.string("gateway"), interface: idx))
        }
        routes = []
        for (i, e) in (try r.array("routes") ?? []).enumerated() {
            let rr = try FieldReader(e, path: "\(r.field("routes"))[\(i)]")
            routes.append(Route(
                dst: try rr.requiredString("dst"), gw: try rr.string("gw"),
                mtu: try rr.int("mtu", range: 0...65535), advmss: try rr.int("advmss", range: 0...65535),
                priority: try rr.int("priority", range: 0...Int64(UInt32.max)),
                table: try rr.int("table", range: 0...Int64(UInt32.max)), scope: try rr.int("scope", range: 0...255)))
        }
        dns = try r.object("dns").map { r throws(CNIError) in try DNSConfig(r) } ?? DNSConfig()
    }

    /// Appends another plugin's result to this one (chaining: `prevResult`
    /// first, then ours), re-basing our interface indexes.
    public func appending(_ other: CNIResult) -> CNIResult {
        var out = self
        let base = interfaces.count
        out.interfaces += other.interfaces
        out.ips += other.ips.map { ip in
            var ip = ip
            ip.interface = ip.interface.map { $0 + base }
            return ip
        }
        out.routes += other.routes
        if out.dns.isEmpty { out.dns = other.dns }
        return out
    }
}
