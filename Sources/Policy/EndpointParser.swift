/// Reads the endpoint inventory file (YAML or JSON; see
/// docs/policy-endpoints.md): namespaces with labels, and endpoints with
/// namespace, name, labels, IPs, host interface and named ports.
public enum EndpointParser {
    public static func parse(_ text: String) throws(PolicyInputError) -> EndpointInventory {
        var inventory = EndpointInventory()
        var seenIDs = Set<String>()
        var seenInterfaces = Set<String>()
        var seenAddresses = Set<NumericAddress>()
        for doc in try yamlDocuments(text) where !doc.isNull {
            let top = try doc.mapping(allowed: ["namespaces", "endpoints"])
            for nf in try top["namespaces"]?.sequence() ?? [] {
                let m = try nf.mapping(allowed: ["name", "labels"])
                guard let n = m["name"] else { throw nf.error("missing field 'name'") }
                let name = try n.string()
                try PolicyParser.checkName(name, n)
                guard inventory.namespaces[name] == nil else { throw n.error("duplicate namespace '\(name)'") }
                inventory.namespaces[name] = try m["labels"]?.stringMap() ?? [:]
            }
            for ef in try top["endpoints"]?.sequence() ?? [] {
                let m = try ef.mapping(allowed: ["namespace", "name", "labels", "ips", "interface", "ports"])
                guard let nsf = m["namespace"] else { throw ef.error("missing field 'namespace'") }
                guard let nf = m["name"] else { throw ef.error("missing field 'name'") }
                let ns = try nsf.string(), name = try nf.string()
                try PolicyParser.checkName(ns, nsf)
                try PolicyParser.checkName(name, nf)
                guard seenIDs.insert("\(ns)/\(name)").inserted else { throw nf.error("duplicate endpoint '\(ns)/\(name)'") }
                var addresses: [NumericAddress] = []
                for af in try m["ips"]?.sequence() ?? [] {
                    let s = try af.string()
                    guard let a = NumericAddress(s) else { throw af.error("invalid IP address '\(s)'") }
                    guard seenAddresses.insert(a).inserted else { throw af.error("address \(a) is used by two endpoints") }
                    addresses.append(a)
                }
                var interface: String?
                if let iff = m["interface"] {
                    let s = try iff.string()
                    guard (1...15).contains(s.utf8.count), s.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != "\"" }) else {
                        throw iff.error("invalid interface name '\(s)' (1-15 characters)")
                    }
                    guard seenInterfaces.insert(s).inserted else { throw iff.error("interface '\(s)' is used by two endpoints") }
                    interface = s
                }
                var ports: [NamedPort] = []
                for pf in try m["ports"]?.sequence() ?? [] {
                    let pm = try pf.mapping(allowed: ["name", "port", "protocol"])
                    guard let pn = pm["name"], let pp = pm["port"] else { throw pf.error("a port needs 'name' and 'port'") }
                    let pname = try pn.string()
                    try PolicyParser.checkPortName(pname, pn)
                    let number = try pp.int()
                    guard (1...65535).contains(number) else { throw pp.error("port out of range 1-65535") }
                    var proto = L4Protocol.tcp
                    if let prf = pm["protocol"] {
                        guard let p = L4Protocol(rawValue: try prf.string()), p.hasPorts else { throw prf.error("protocol must be TCP, UDP or SCTP") }
                        proto = p
                    }
                    ports.append(NamedPort(name: pname, port: UInt16(number), proto: proto))
                }
                inventory.endpoints.append(Endpoint(namespace: ns, name: name, labels: try m["labels"]?.stringMap() ?? [:],
                                                    addresses: addresses, interface: interface, ports: ports))
            }
        }
        return inventory
    }
}
