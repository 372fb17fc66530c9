import Yams

/// Strict reader of policy files: one or more YAML (or JSON) documents, each
/// a NetworkPolicy (networking.k8s.io/v1), a GlobalNetworkPolicy
/// (caracal.io/v1) or a `List` of them. Any error rejects the whole input.
public enum PolicyParser {
    public static let globalAPIVersion = "caracal.io/v1"

    public static func parse(_ text: String) throws(PolicyInputError) -> PolicySet {
        var set = PolicySet()
        for doc in try yamlDocuments(text) where !doc.isNull {
            try parseObject(doc, into: &set)
        }
        return set
    }

    public static func parseObject(_ doc: YField, into set: inout PolicySet) throws(PolicyInputError) {
        let before = (set.networkPolicies.count, set.globalPolicies.count)
        try parseOne(doc, into: &set)
        // Duplicates are reported at the document that repeats a name.
        if set.networkPolicies.count > before.0, let p = set.networkPolicies.last,
           set.networkPolicies.dropLast().contains(where: { $0.namespace == p.namespace && $0.name == p.name }) {
            throw doc.error("duplicate NetworkPolicy \(p.namespace)/\(p.name)")
        }
        if set.globalPolicies.count > before.1, let p = set.globalPolicies.last,
           set.globalPolicies.dropLast().contains(where: { $0.name == p.name }) {
            throw doc.error("duplicate GlobalNetworkPolicy \(p.name)")
        }
    }

    static func parseOne(_ doc: YField, into set: inout PolicySet) throws(PolicyInputError) {
        let top = try doc.mapping(allowed: ["apiVersion", "kind", "metadata", "spec", "items", "status"])
        guard let kindField = top["kind"] else { throw doc.error("missing field 'kind'") }
        let kind = try kindField.string()
        let api = try top["apiVersion"]?.string()
        switch kind {
        case "List", "NetworkPolicyList", "GlobalNetworkPolicyList":
            for item in try (top["items"]?.sequence() ?? []) { try parseObject(item, into: &set) }
        case "NetworkPolicy":
            guard api == "networking.k8s.io/v1" else {
                throw (top["apiVersion"] ?? kindField).error("NetworkPolicy needs apiVersion networking.k8s.io/v1")
            }
            set.networkPolicies.append(try networkPolicy(top, doc))
        case "GlobalNetworkPolicy":
            guard api == globalAPIVersion else {
                throw (top["apiVersion"] ?? kindField).error("GlobalNetworkPolicy needs apiVersion \(globalAPIVersion)")
            }
            set.globalPolicies.append(try globalPolicy(top, doc))
        default:
            throw kindField.error("unsupported kind '\(kind)' (NetworkPolicy, GlobalNetworkPolicy or List)")
        }
    }

    static let metadataFields: Set<String> = ["name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                                              "generation", "creationTimestamp", "managedFields", "selfLink"]

    static func metadata(_ top: [String: YField], _ doc: YField) throws(PolicyInputError) -> (name: String, namespace: String?) {
        guard let m = top["metadata"] else { throw doc.error("missing field 'metadata'") }
        let fields = try m.mapping(allowed: metadataFields)
        guard let n = fields["name"] else { throw m.error("missing field 'name'") }
        let name = try n.string()
        try checkName(name, n)
        let ns = try fields["namespace"]?.string()
        if let ns, let f = fields["namespace"] { try checkName(ns, f) }
        return (name, ns)
    }

    /// DNS-1123 labels/subdomains, as the API server requires.
    static func checkName(_ s: String, _ f: YField) throws(PolicyInputError) {
        func alnum(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
        let ok = !s.isEmpty && s.count <= 253 && s.allSatisfy { alnum($0) || $0 == "-" || $0 == "." }
            && alnum(s.first!) && alnum(s.last!)
        guard ok else { throw f.error("invalid name '\(s)': lower-case letters, digits, '-' and '.' only") }
    }

    // MARK: NetworkPolicy

    static func networkPolicy(_ top: [String: YField], _ doc: YField) throws(PolicyInputError) -> NetworkPolicy {
        let meta = try metadata(top, doc)
        guard let specField = top["spec"] else { throw doc.error("missing field 'spec'") }
        let spec = try specField.mapping(allowed: ["podSelector", "policyTypes", "ingress", "egress"])
        let podSelector = try spec["podSelector"].map { f throws(PolicyInputError) in try labelSelector(f) } ?? LabelSelector()
        let types = try spec["policyTypes"].map { f throws(PolicyInputError) in try directions(f) }
        var ingress: [NetworkPolicyRule] = []
        for f in try spec["ingress"]?.sequence() ?? [] { ingress.append(try k8sRule(f, peersKey: "from")) }
        var egress: [NetworkPolicyRule] = []
        for f in try spec["egress"]?.sequence() ?? [] { egress.append(try k8sRule(f, peersKey: "to")) }
        return NetworkPolicy(namespace: meta.namespace ?? "default", name: meta.name, podSelector: podSelector,
                             policyTypes: types, ingress: ingress, egress: egress)
    }

    /// A list of Ingress/Egress (policyTypes, types).
    static func directions(_ field: YField) throws(PolicyInputError) -> Set<Direction> {
        var s = Set<Direction>()
        for f in try field.sequence() {
            guard let d = Direction(rawValue: try f.string()) else { throw f.error("entries are Ingress or Egress") }
            s.insert(d)
        }
        return s
    }

    static func k8sRule(_ f: YField, peersKey: String) throws(PolicyInputError) -> NetworkPolicyRule {
        let m = try f.mapping(allowed: [peersKey, "ports"])
        var rule = NetworkPolicyRule()
        for p in try m[peersKey]?.sequence() ?? [] { rule.peers.append(try k8sPeer(p)) }
        for p in try m["ports"]?.sequence() ?? [] { rule.ports.append(try k8sPort(p)) }
        return rule
    }

    static func k8sPeer(_ f: YField) throws(PolicyInputError) -> NetworkPolicyPeer {
        let m = try f.mapping(allowed: ["podSelector", "namespaceSelector", "ipBlock"])
        if let b = m["ipBlock"] {
            guard m["podSelector"] == nil, m["namespaceSelector"] == nil else {
                throw b.error("ipBlock cannot be combined with podSelector or namespaceSelector")
            }
            let bm = try b.mapping(allowed: ["cidr", "except"])
            guard let cf = bm["cidr"] else { throw b.error("missing field 'cidr'") }
            let cidr = try cidrValue(cf, requirePrefix: true)
            var except: [CIDR] = []
            for e in try bm["except"]?.sequence() ?? [] {
                let c = try cidrValue(e, requirePrefix: true)
                guard c.family == cidr.family, c.prefixLength > cidr.prefixLength,
                      cidr.range.contains(c.range.lowerBound) else {
                    throw e.error("except \(c) must be a strict subset of \(cidr)")
                }
                except.append(c)
            }
            return .ipBlock(cidr: cidr, except: except)
        }
        guard m["podSelector"] != nil || m["namespaceSelector"] != nil else {
            throw f.error("a peer needs podSelector, namespaceSelector or ipBlock")
        }
        return .pods(podSelector: try m["podSelector"].map { s throws(PolicyInputError) in try labelSelector(s) },
                     namespaceSelector: try m["namespaceSelector"].map { s throws(PolicyInputError) in try labelSelector(s) })
    }

    static func k8sPort(_ f: YField) throws(PolicyInputError) -> NetworkPolicyPort {
        let m = try f.mapping(allowed: ["protocol", "port", "endPort"])
        var proto = L4Protocol.tcp
        if let pf = m["protocol"] {
            guard let p = L4Protocol(rawValue: try pf.string()), p.hasPorts else { throw pf.error("protocol must be TCP, UDP or SCTP") }
            proto = p
        }
        var port: PortMatch?
        if let pf = m["port"] {
            switch try pf.intOrString() {
            case .int(let n):
                guard (1...65535).contains(n) else { throw pf.error("port \(n) out of range 1-65535") }
                port = .range(UInt16(n), UInt16(n))
            case .string(let name):
                try checkPortName(name, pf)
                port = .named(name)
            }
        }
        if let ef = m["endPort"] {
            let end = try ef.int()
            guard case .range(let start, _)? = port else { throw ef.error("endPort needs a numeric port") }
            guard end >= Int(start), end <= 65535 else { throw ef.error("endPort \(end) must be between port \(start) and 65535") }
            port = .range(start, UInt16(end))
        }
        return NetworkPolicyPort(proto: proto, port: port)
    }

    static func checkPortName(_ name: String, _ f: YField) throws(PolicyInputError) {
        // IANA_SVC_NAME: 1-15 chars, lower-case alphanumerics and '-', at least one letter.
        let ok = (1...15).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            && name.contains(where: { $0.isLetter }) && !name.hasPrefix("-") && !name.hasSuffix("-") && !name.contains("--")
        guard ok else { throw f.error("invalid port name '\(name)'") }
    }

    static func labelSelector(_ f: YField) throws(PolicyInputError) -> LabelSelector {
        let m = try f.mapping(allowed: ["matchLabels", "matchExpressions"])
        var s = LabelSelector()
        if let ml = m["matchLabels"] { s.matchLabels = try ml.stringMap() }
        for e in try m["matchExpressions"]?.sequence() ?? [] {
            let em = try e.mapping(allowed: ["key", "operator", "values"])
            guard let k = em["key"] else { throw e.error("missing field 'key'") }
            guard let o = em["operator"] else { throw e.error("missing field 'operator'") }
            guard let op = LabelSelector.Operator(rawValue: try o.string()) else {
                throw o.error("operator must be In, NotIn, Exists or DoesNotExist")
            }
            let values = try em["values"]?.stringList() ?? []
            switch op {
            case .in, .notIn:
                guard !values.isEmpty else { throw e.error("operator \(op.rawValue) needs values") }
            case .exists, .doesNotExist:
                guard values.isEmpty else { throw (em["values"] ?? e).error("operator \(op.rawValue) takes no values") }
            }
            s.matchExpressions.append(.init(key: try k.string(), op: op, values: values))
        }
        return s
    }

    static func cidrValue(_ f: YField, requirePrefix: Bool = false) throws(PolicyInputError) -> CIDR {
        let s = try f.string()
        guard !requirePrefix || s.contains("/"), let c = CIDR(s) else {
            throw f.error("invalid CIDR '\(s)' (address/prefix, host bits zero)")
        }
        return c
    }

    // MARK: GlobalNetworkPolicy

    static func selectorValue(_ f: YField) throws(PolicyInputError) -> Selector {
        let text = try f.string()
        do {
            return try Selector(parsing: text)
        } catch {
            // Position inside the string, and the column of the string itself.
            throw PolicyInputError(document: f.document, path: f.path, line: f.node.mark?.line,
                                   column: f.node.mark?.column, message: "\(error)")
        }
    }

    static func globalPolicy(_ top: [String: YField], _ doc: YField) throws(PolicyInputError) -> GlobalNetworkPolicy {
        let meta = try metadata(top, doc)
        if meta.namespace != nil, let m = top["metadata"] { throw m.error("GlobalNetworkPolicy is not namespaced") }
        guard let specField = top["spec"] else { throw doc.error("missing field 'spec'") }
        let spec = try specField.mapping(allowed: ["order", "selector", "namespaceSelector", "types", "ingress", "egress"])
        let order = try spec["order"]?.double()
        let selector = try spec["selector"].map { f throws(PolicyInputError) in try selectorValue(f) } ?? .all
        let nsSelector = try spec["namespaceSelector"].map { f throws(PolicyInputError) in try selectorValue(f) }
        let types = try spec["types"].map { f throws(PolicyInputError) in try directions(f) }
        var ingress: [GlobalRule] = []
        for f in try spec["ingress"]?.sequence() ?? [] { ingress.append(try globalRule(f)) }
        var egress: [GlobalRule] = []
        for f in try spec["egress"]?.sequence() ?? [] { egress.append(try globalRule(f)) }
        return GlobalNetworkPolicy(name: meta.name, order: order, selector: selector, namespaceSelector: nsSelector,
                                   types: types, ingress: ingress, egress: egress)
    }

    static func globalRule(_ f: YField) throws(PolicyInputError) -> GlobalRule {
        let m = try f.mapping(allowed: ["action", "protocol", "icmp", "source", "destination"])
        guard let af = m["action"] else { throw f.error("missing field 'action'") }
        guard let action = RuleAction(rawValue: try af.string()) else { throw af.error("action must be Allow, Deny, Pass or Log") }
        var proto: L4Protocol?
        if let pf = m["protocol"] {
            guard let p = L4Protocol(rawValue: try pf.string()) else { throw pf.error("protocol must be TCP, UDP, SCTP, ICMP or ICMPv6") }
            proto = p
        }
        var icmp: ICMPMatch?
        if let icf = m["icmp"] {
            guard proto == .icmp || proto == .icmpv6 else { throw icf.error("icmp needs protocol ICMP or ICMPv6") }
            let im = try icf.mapping(allowed: ["type", "code"])
            guard let tf = im["type"] else { throw icf.error("missing field 'type'") }
            let t = try tf.int()
            guard (0...255).contains(t) else { throw tf.error("ICMP type out of range 0-255") }
            var code: UInt8?
            if let cf = im["code"] {
                let c = try cf.int()
                guard (0...255).contains(c) else { throw cf.error("ICMP code out of range 0-255") }
                code = UInt8(c)
            }
            icmp = ICMPMatch(type: UInt8(t), code: code)
        }
        let source = try m["source"].map { e throws(PolicyInputError) in try entityRule(e, allowNamedPorts: false) } ?? EntityRule()
        let destination = try m["destination"].map { e throws(PolicyInputError) in try entityRule(e, allowNamedPorts: true) } ?? EntityRule()
        if !source.ports.isEmpty || !destination.ports.isEmpty {
            guard let p = proto, p.hasPorts else {
                throw (m["protocol"] ?? f).error("ports need protocol TCP, UDP or SCTP")
            }
        }
        return GlobalRule(action: action, proto: proto, icmp: icmp, source: source, destination: destination)
    }

    static func entityRule(_ f: YField, allowNamedPorts: Bool) throws(PolicyInputError) -> EntityRule {
        let m = try f.mapping(allowed: ["selector", "namespaceSelector", "nets", "notNets", "ports"])
        var e = EntityRule()
        e.selector = try m["selector"].map { s throws(PolicyInputError) in try selectorValue(s) }
        e.namespaceSelector = try m["namespaceSelector"].map { s throws(PolicyInputError) in try selectorValue(s) }
        for n in try m["nets"]?.sequence() ?? [] { e.nets.append(try cidrValue(n)) }
        for n in try m["notNets"]?.sequence() ?? [] { e.notNets.append(try cidrValue(n)) }
        for p in try m["ports"]?.sequence() ?? [] {
            switch try p.intOrString() {
            case .int(let n):
                guard (1...65535).contains(n) else { throw p.error("port \(n) out of range 1-65535") }
                e.ports.append(.range(UInt16(n), UInt16(n)))
            case .string(let s):
                let bounds = s.split(separator: ":", omittingEmptySubsequences: false)
                if bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]) {
                    guard (1...65535).contains(a), (a...65535).contains(b) else { throw p.error("port range '\(s)' invalid") }
                    e.ports.append(.range(UInt16(a), UInt16(b)))
                } else {
                    guard allowNamedPorts else { throw p.error("named ports are only supported in destination") }
                    try checkPortName(s, p)
                    e.ports.append(.named(s))
                }
            }
        }
        return e
    }
}
