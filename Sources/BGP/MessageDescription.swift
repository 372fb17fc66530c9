/// A minimal JSON value for status and decode output; keys keep their
/// insertion order so output is stable.
public indirect enum JSONValue: Hashable, Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered() == b.rendered() }
    public func hash(into h: inout Hasher) { h.combine(rendered()) }

    public func rendered() -> String {
        var s = ""
        render(into: &s)
        return s
    }

    private func render(into s: inout String) {
        switch self {
        case .string(let v): JSONValue.quote(v, into: &s)
        case .int(let v): s += String(v)
        case .bool(let v): s += v ? "true" : "false"
        case .null: s += "null"
        case .array(let vs):
            s += "["
            for (i, v) in vs.enumerated() {
                if i > 0 { s += "," }
                v.render(into: &s)
            }
            s += "]"
        case .object(let kvs):
            s += "{"
            for (i, (k, v)) in kvs.enumerated() {
                if i > 0 { s += "," }
                JSONValue.quote(k, into: &s)
                s += ":"
                v.render(into: &s)
            }
            s += "}"
        }
    }

    private static func quote(_ v: String, into s: inout String) {
        s += "\""
        for u in v.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        s += "\""
    }
}

extension NotificationMessage {
    public var json: JSONValue {
        var o: [(String, JSONValue)] = [
            ("code", .int(Int64(code))), ("code_name", .string(codeName)),
            ("subcode", .int(Int64(subcode))), ("subcode_name", .string(subcodeName)),
            ("data", .string(data.hex)),
        ]
        if let c = shutdownCommunication { o.append(("shutdown_communication", .string(c))) }
        return .object(o)
    }
}

extension BGPError {
    public var json: JSONValue {
        .object([("reason", .string(reason.description)), ("action", .string(action.description)), ("notification", notification.json)])
    }
}

extension IPv4NLRI {
    var json: JSONValue { pathID.map { .object([("prefix", .string(prefix.description)), ("path_id", .int(Int64($0)))]) } ?? .string(prefix.description) }
}

extension IPv6NLRI {
    var json: JSONValue { pathID.map { .object([("prefix", .string(prefix.description)), ("path_id", .int(Int64($0)))]) } ?? .string(prefix.description) }
}

extension NLRIList {
    var json: JSONValue {
        switch self {
        case .ipv4(let l): .array(l.map(\.json))
        case .ipv6(let l): .array(l.map(\.json))
        case .raw(let b): .object([("raw", .string(b.hex))])
        }
    }
    var text: String {
        switch self {
        case .ipv4(let l): l.map(\.description).joined(separator: " ")
        case .ipv6(let l): l.map(\.description).joined(separator: " ")
        case .raw(let b): "raw " + b.hex
        }
    }
}

extension PathAttribute {
    public var name: String { PathAttributeType.name(value.typeCode) }

    public var valueText: String {
        switch value {
        case .origin(let o): o.description
        case .asPath(let p), .as4Path(let p): p.description
        case .nextHop(let a), .originatorID(let a): a.description
        case .multiExitDisc(let v), .localPref(let v): String(v)
        case .atomicAggregate: ""
        case .aggregator(let a), .as4Aggregator(let a): a.description
        case .communities(let cs): cs.map(\.description).joined(separator: " ")
        case .clusterList(let ids): ids.map(\.description).joined(separator: " ")
        case .extendedCommunities(let cs): cs.map(\.description).joined(separator: " ")
        case .largeCommunities(let cs): cs.map(\.description).joined(separator: " ")
        case .mpReachNLRI(let m): "\(m.family) next-hop \(m.nextHop) nlri \(m.nlri.text)"
        case .mpUnreachNLRI(let m): "\(m.family) withdrawn \(m.withdrawn.text)"
        case .unknown(_, let flags, let v): "flags 0x\([flags].hex)\(partial ? " partial" : "") value \(v.hex)"
        }
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("type", .int(Int64(value.typeCode))), ("name", .string(name))]
        if partial { o.append(("partial", .bool(true))) }
        switch value {
        case .mpReachNLRI(let m):
            o += [("family", .string(m.family.description)), ("next_hop", .string(m.nextHop.description)), ("nlri", m.nlri.json)]
        case .mpUnreachNLRI(let m):
            o += [("family", .string(m.family.description)), ("withdrawn", m.withdrawn.json)]
        case .communities(let cs): o.append(("value", .array(cs.map { .string($0.description) })))
        case .extendedCommunities(let cs): o.append(("value", .array(cs.map { .string($0.description) })))
        case .largeCommunities(let cs): o.append(("value", .array(cs.map { .string($0.description) })))
        case .clusterList(let ids): o.append(("value", .array(ids.map { .string($0.description) })))
        case .multiExitDisc(let v), .localPref(let v): o.append(("value", .int(Int64(v))))
        case .asPath(let p), .as4Path(let p):
            o.append(("value", .string(p.description)))
            o.append(("segments", .array(p.segments.map { s in
                .object([("type", .int(Int64(s.kind.rawValue))), ("asns", .array(s.asns.map { .int(Int64($0)) }))])
            })))
        case .unknown(_, let flags, let v):
            o += [("flags", .int(Int64(flags))), ("value", .string(v.hex))]
        default: o.append(("value", .string(valueText)))
        }
        return .object(o)
    }
}

extension BGPMessage {
    /// Multi-line human-readable form.
    public var text: String { text(endOfRIB: true) }

    /// `endOfRIB: false` never labels an UPDATE End-of-RIB (for UPDATEs
    /// that had malformed attributes removed).
    public func text(endOfRIB: Bool) -> String {
        switch self {
        case .open(let o): return o.description
        case .keepalive: return "KEEPALIVE"
        case .notification(let n): return "NOTIFICATION \(n)"
        case .routeRefresh(let r): return r.description
        case .update(let u):
            if endOfRIB, let f = u.endOfRIB { return "UPDATE End-of-RIB \(f)" }
            var lines = ["UPDATE"]
            if !u.withdrawn.isEmpty { lines.append("  withdrawn \(u.withdrawn.map(\.description).joined(separator: " "))") }
            for a in u.attributes.list { lines.append("  \(a.name) \(a.valueText)".trimmingTrailingSpaces) }
            if !u.nlri.isEmpty { lines.append("  nlri \(u.nlri.map(\.description).joined(separator: " "))") }
            return lines.joined(separator: "\n")
        }
    }

    public var json: JSONValue { json(endOfRIB: true) }

    public func json(endOfRIB: Bool) -> JSONValue {
        var o: [(String, JSONValue)] = [("type", .string(type.description))]
        switch self {
        case .open(let m):
            o += [("version", .int(Int64(m.version))), ("my_as", .int(Int64(m.myAS))), ("as", .int(Int64(m.asNumber))),
                  ("hold_time", .int(Int64(m.holdTime))), ("bgp_identifier", .string(m.bgpIdentifier.description)),
                  ("extended_parameters", .bool(m.extendedParameters)),
                  ("capabilities", .array(m.capabilities.map { c in
                      .object([("code", .int(Int64(c.code))), ("name", .string(CapabilityCode.name(c.code))), ("value", .string(c.description))])
                  }))]
        case .keepalive: break
        case .notification(let n): o.append(("notification", n.json))
        case .routeRefresh(let r):
            o += [("family", .string(r.family.description)), ("subtype", .int(Int64(r.subtype)))]
        case .update(let u):
            if endOfRIB, let f = u.endOfRIB { o.append(("end_of_rib", .string(f.description))) }
            o += [("withdrawn", .array(u.withdrawn.map(\.json))), ("attributes", .array(u.attributes.list.map(\.json))),
                  ("nlri", .array(u.nlri.map(\.json)))]
        }
        return .object(o)
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
