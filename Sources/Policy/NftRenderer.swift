/// Renders a `Ruleset` as nft syntax, deterministically (same ruleset, same
/// bytes), in the layout `nft list table` uses, so the two can be compared.
/// Interface groups are link state, not nft syntax: `renderGroups` lists
/// them separately.
public enum NftRenderer {
    public static func render(_ r: Ruleset) -> String {
        var blocks = r.sets.map(renderSet)
        blocks.append(renderMap(Ruleset.fromProfileMap, r.fromProfile))
        blocks.append(renderMap(Ruleset.toProfileMap, r.toProfile))
        blocks += r.chains.map(renderChain)
        return "table inet \(Ruleset.tableName) {\n" + blocks.joined(separator: "\n") + "}\n"
    }

    static func quote(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "'") + "\""
    }

    static func elements(_ items: [String]) -> String {
        "\t\telements = { " + items.joined(separator: ", ") + " }\n"
    }

    public static func renderSet(_ s: NamedSet) -> String {
        var out = "\tset \(s.name) {\n"
        let addr = s.kind.family == .ipv4 ? "ipv4_addr" : "ipv6_addr"
        switch s.kind {
        case .addresses:
            out += "\t\ttype \(addr)\n\t\tflags interval\n"
        case .addressProtoPort:
            out += "\t\ttype \(addr) . inet_proto . inet_service\n"
        }
        if !s.comment.isEmpty { out += "\t\tcomment \(quote(s.comment))\n" }
        switch s.kind {
        case .addresses(let f):
            if !s.ranges.isEmpty { out += elements(s.ranges.map { AddressSet.elementText(f, $0) }) }
        case .addressProtoPort:
            if !s.tuples.isEmpty {
                out += elements(s.tuples.map { "\($0.address) . \($0.proto.nftName) . \($0.port)" })
            }
        }
        return out + "\t}\n"
    }

    public static func renderMap(_ name: String, _ elems: [GroupElement]) -> String {
        var out = "\tmap \(name) {\n\t\ttype devgroup : verdict\n"
        if !elems.isEmpty { out += elements(elems.map { "\($0.group) : \($0.verdict)" }) }
        return out + "\t}\n"
    }

    /// The interface groups, one `# link NAME group N` line each (a
    /// comment, so the text stays loadable by `nft -f`).
    public static func renderGroups(_ r: Ruleset) -> String {
        r.interfaceGroups.map { "# link \($0.interface) group \($0.group)\n" }.joined()
    }

    public static func renderChain(_ c: Chain) -> String {
        var out = "\tchain \(c.name) {\n"
        if let hook = c.hook {
            out += "\t\ttype filter hook \(hook.rawValue) priority filter; policy accept;\n"
        }
        for rule in c.rules { out += "\t\t" + renderRule(rule) + "\n" }
        return out + "\t}\n"
    }

    public static func renderRule(_ rule: Rule) -> String {
        // `ip saddr`, `icmp type` and the like imply `meta nfproto`; nft
        // adds and hides that dependency itself, so it is not printed.
        var parts: [String] = []
        for (i, m) in rule.matches.enumerated() {
            if case .family(let f) = m, rule.matches[(i + 1)...].contains(where: { $0.impliedFamily == f }) { continue }
            // `icmpv6 type` implies `meta l4proto ipv6-icmp` the same way: nft
            // adds it (after `meta nfproto`) and does not print it.
            if case .proto(let p) = m, i + 1 < rule.matches.count, case .icmp(let f, _, _) = rule.matches[i + 1],
               p == (f == .ipv4 ? .icmp : .icmpv6) { continue }
            parts.append(renderMatch(m))
        }
        if let prefix = rule.logPrefix { parts.append("log prefix \(quote(prefix))") }
        if let (side, map) = rule.dispatch { parts.append("\(side == .input ? "iifgroup" : "oifgroup") vmap @\(map)") }
        if let v = rule.verdict {
            // Drop rules count (the kernel lists the counts after it).
            if v == .drop { parts.append("counter") }
            parts.append(v.description)
        }
        if !rule.comment.isEmpty { parts.append("comment \(quote(rule.comment))") }
        return parts.joined(separator: " ")
    }

    static func ctStateText(_ s: CTStates) -> String {
        var names: [String] = []
        if s.contains(.invalid) { names.append("invalid") }
        if s.contains(.established) { names.append("established") }
        if s.contains(.related) { names.append("related") }
        if s.contains(.new) { names.append("new") }
        return names.joined(separator: ",")
    }

    public static func renderMatch(_ m: Match) -> String {
        switch m {
        case let .ctState(s): return "ct state \(ctStateText(s))"
        case let .interfacePrefix(side, p): return "\(side.rawValue) \(quote(p + "*"))"
        case let .family(f): return "meta nfproto \(f.rawValue)"
        case let .addressInSet(side, set, f): return "\(f == .ipv4 ? "ip" : "ip6") \(side.rawValue) @\(set)"
        case let .proto(p): return "meta l4proto \(p.nftName)"
        case let .port(side, a, b): return "th \(side.rawValue) \(a == b ? "\(a)" : "\(a)-\(b)")"
        case let .destinationInTupleSet(set, f): return "\(f == .ipv4 ? "ip" : "ip6") daddr . meta l4proto . th dport @\(set)"
        case let .icmp(f, type, code):
            let kw = f == .ipv4 ? "icmp" : "icmpv6"
            let name = (f == .ipv4 ? icmpTypeNames : icmpv6TypeNames)[type] ?? "\(type)"
            let codeName = code.map { (f == .ipv4 ? icmpCodeNames : icmpv6CodeNames)[$0] ?? "\($0)" }
            return "\(kw) type \(name)" + (codeName.map { " \(kw) code \($0)" } ?? "")
        }
    }
}

extension NftRenderer {
    /// The ICMP type names `nft list` prints (and `nft -f` reads), taken from
    /// nftables 1.0.6's listing of every type 0–255; other types print as numbers.
    static let icmpTypeNames: [UInt8: String] = [
        0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect", 8: "echo-request",
        9: "router-advertisement", 10: "router-solicitation", 11: "time-exceeded", 12: "parameter-problem",
        13: "timestamp-request", 14: "timestamp-reply", 15: "info-request", 16: "info-reply",
        17: "address-mask-request", 18: "address-mask-reply",
    ]
    /// The same for ICMPv6.
    static let icmpv6TypeNames: [UInt8: String] = [
        1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem",
        128: "echo-request", 129: "echo-reply", 130: "mld-listener-query", 131: "mld-listener-report",
        132: "mld-listener-done", 133: "nd-router-solicit", 134: "nd-router-advert", 135: "nd-neighbor-solicit",
        136: "nd-neighbor-advert", 137: "nd-redirect", 138: "router-renumbering", 141: "ind-neighbor-solicit",
        142: "ind-neighbor-advert", 143: "mld2-listener-report",
    ]
    /// ICMP code names `nft list` prints (nftables 1.0.6, codes 0–255).
    static let icmpCodeNames: [UInt8: String] = [
        0: "net-unreachable", 1: "host-unreachable", 2: "prot-unreachable", 3: "port-unreachable",
        4: "frag-needed", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited",
    ]
    /// The same for ICMPv6.
    static let icmpv6CodeNames: [UInt8: String] = [
        0: "no-route", 1: "admin-prohibited", 3: "addr-unreachable", 4: "port-unreachable",
        5: "policy-fail", 6: "reject-route",
    ]
}

extension Match {
    /// The family a match only makes sense in (nft adds `meta nfproto`).
    var impliedFamily: IPFamily? {
        switch self {
        case .addressInSet(_, _, let f), .destinationInTupleSet(_, let f), .icmp(let f, _, _): f
        default: nil
        }
    }
}
