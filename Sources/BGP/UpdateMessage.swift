import IPAddressing
import NIOCore

/// An UPDATE message (RFC 4271 §4.3): IPv4 unicast withdrawals and NLRI in
/// the classic fields, other families in MP_REACH / MP_UNREACH (RFC 4760).
public struct UpdateMessage: Hashable, Sendable {
    public var withdrawn: [IPv4NLRI]
    public var attributes: PathAttributes
    public var nlri: [IPv4NLRI]

    public init(withdrawn: [IPv4NLRI] = [], attributes: PathAttributes = PathAttributes(), nlri: [IPv4NLRI] = []) {
        self.withdrawn = withdrawn
        self.attributes = attributes
        self.nlri = nlri
    }

    /// The End-of-RIB marker (RFC 4724 §2): an empty UPDATE for IPv4
    /// unicast, an MP_UNREACH_NLRI with no prefixes for other families.
    public static func endOfRIB(_ family: AddressFamily) -> UpdateMessage {
        if family == .ipv4Unicast { return UpdateMessage() }
        let empty: NLRIList = family.afi == .ipv4 && NLRICodec.isTyped(family) ? .ipv4([])
            : family.afi == .ipv6 && NLRICodec.isTyped(family) ? .ipv6([]) : .raw([])
        return UpdateMessage(attributes: PathAttributes([.mpUnreachNLRI(MPUnreachNLRI(family: family, withdrawn: empty))]))
    }

    /// The family this UPDATE marks the End-of-RIB for, if it is one.
    public var endOfRIB: AddressFamily? {
        guard withdrawn.isEmpty, nlri.isEmpty else { return nil }
        if attributes.isEmpty { return .ipv4Unicast }
        if attributes.list.count == 1, let u = attributes.mpUnreach, u.withdrawn.isEmpty { return u.family }
        return nil
    }

    /// Every prefix this UPDATE touches, as withdrawals: what RFC 7606
    /// treat-as-withdraw removes.
    public var allPrefixes: Withdrawal {
        var w = Withdrawal()
        w.ipv4 = withdrawn + nlri
        for list in [attributes.mpReach?.nlri, attributes.mpUnreach?.withdrawn] {
            switch list {
            case .ipv4(let l)?: w.ipv4 += l
            case .ipv6(let l)?: w.ipv6 += l
            default: break
            }
        }
        return w
    }

    /// Prefixes reachable by this UPDATE, by family.
    public var reachableIPv4: [IPv4NLRI] {
        if case .ipv4(let l)? = attributes.mpReach?.nlri { return nlri + l }
        return nlri
    }
    public var reachableIPv6: [IPv6NLRI] {
        if case .ipv6(let l)? = attributes.mpReach?.nlri { return l }
        return []
    }
    public var withdrawnIPv4: [IPv4NLRI] {
        if case .ipv4(let l)? = attributes.mpUnreach?.withdrawn { return withdrawn + l }
        return withdrawn
    }
    public var withdrawnIPv6: [IPv6NLRI] {
        if case .ipv6(let l)? = attributes.mpUnreach?.withdrawn { return l }
        return []
    }

    // MARK: Decode

    static func decode(_ r: inout WireReader, context: CodecContext) throws(BGPError) -> (UpdateMessage, [BGPError]) {
        let malformed = BGPError(.inconsistentLengths, NotificationMessage(update: .malformedAttributeList))
        // RFC 7606 §4: lengths that overrun the message are a session reset.
        guard let wlen = r.u16(), let wr = r.sub(Int(wlen)), let alen = r.u16(), var ar = r.sub(Int(alen)) else {
            throw malformed
        }
        let nr = r.sub(r.remaining)!
        let addPath4 = context.addPath.contains(.ipv4Unicast)
        guard let withdrawn = NLRICodec.decodeIPv4(wr, addPath: addPath4) else {
            throw BGPError(.invalidNetworkField(.ipv4Unicast), NotificationMessage(update: .invalidNetworkField))
        }
        let parsed = try PathAttributeDecoder.decode(&ar, context: context)
        guard let nlri = NLRICodec.decodeIPv4(nr, addPath: addPath4) else {
            throw BGPError(.invalidNetworkField(.ipv4Unicast), NotificationMessage(update: .invalidNetworkField))
        }
        let update = UpdateMessage(withdrawn: withdrawn, attributes: PathAttributes(parsed.attributes), nlri: nlri)
        var errors = parsed.errors
        // RFC 7606 §3(d): a missing well-known mandatory attribute is a
        // treat-as-withdraw; required only when the UPDATE announces routes,
        // and NEXT_HOP only for the classic NLRI field (RFC 4760 §3).
        if !errors.contains(where: { $0.action == .treatAsWithdraw }) {
            let a = update.attributes
            let announces = !nlri.isEmpty || !(a.mpReach?.nlri.isEmpty ?? true)
            var missing: UInt8?
            if announces, a[PathAttributeType.origin] == nil { missing = PathAttributeType.origin }
            else if announces, a[PathAttributeType.asPath] == nil { missing = PathAttributeType.asPath }
            else if !nlri.isEmpty, a[PathAttributeType.nextHop] == nil { missing = PathAttributeType.nextHop }
            if let missing {
                errors.append(BGPError(.missingWellKnownAttribute(missing), NotificationMessage(update: .missingWellKnownAttribute, data: [missing]), .treatAsWithdraw))
            }
        }
        return (update, errors)
    }

    // MARK: Encode

    func encodeBody(into b: inout ByteBuffer, context: CodecContext) {
        let addPath4 = context.addPath.contains(.ipv4Unicast)
        let wAt = b.writerIndex
        b.writeU16(0)
        NLRICodec.encode(withdrawn, addPath: addPath4, into: &b)
        b.setInteger(UInt16(truncatingIfNeeded: b.writerIndex - wAt - 2), at: wAt)
        let aAt = b.writerIndex
        b.writeU16(0)
        attributes.encode(into: &b, context: context)
        b.setInteger(UInt16(truncatingIfNeeded: b.writerIndex - aAt - 2), at: aAt)
        NLRICodec.encode(nlri, addPath: addPath4, into: &b)
    }
}

/// Prefixes to withdraw, by family.
public struct Withdrawal: Hashable, Sendable {
    public var ipv4: [IPv4NLRI] = []
    public var ipv6: [IPv6NLRI] = []
    public init(ipv4: [IPv4NLRI] = [], ipv6: [IPv6NLRI] = []) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }
    public var isEmpty: Bool { ipv4.isEmpty && ipv6.isEmpty }
}

// MARK: - Packing

/// What packing needs of an NLRI entry of either family.
protocol NLRIItem {
    var pathID: UInt32? { get }
    var encodedSize: Int { get }
}

extension IPv4NLRI: NLRIItem {
    var encodedSize: Int { NLRICodec.size(self) }
}

extension IPv6NLRI: NLRIItem {
    var encodedSize: Int { NLRICodec.size(self) }
}

extension UpdateMessage {
    private static let fixedOverhead = BGPLimits.headerSize + 2 + 2

    /// Announces `nlri` (IPv4 unicast, classic NLRI field) with shared
    /// `attributes`, as few UPDATEs as possible: each holds as many prefixes
    /// as fit under the session's message size limit.
    public static func packing(ipv4 nlri: [IPv4NLRI], attributes: PathAttributes, context: CodecContext) -> [UpdateMessage] {
        let room = context.maxMessageSize - fixedOverhead - attributes.encodedSize(context: context)
        let addPath = context.addPath.contains(.ipv4Unicast)
        return chunks(nlri, room: room, size: { NLRICodec.size($0) + (addPath && $0.pathID == nil ? 4 : 0) })
            .map { UpdateMessage(attributes: attributes, nlri: $0) }
    }

    /// Withdraws IPv4 unicast prefixes, as many per UPDATE as fit.
    public static func packing(withdrawIPv4 list: [IPv4NLRI], context: CodecContext) -> [UpdateMessage] {
        let addPath = context.addPath.contains(.ipv4Unicast)
        return chunks(list, room: context.maxMessageSize - fixedOverhead, size: { NLRICodec.size($0) + (addPath && $0.pathID == nil ? 4 : 0) })
            .map { UpdateMessage(withdrawn: $0) }
    }

    /// Announces IPv6 prefixes in MP_REACH_NLRI (placed first, as RFC 7606
    /// §5.1 asks) with the other shared attributes.
    public static func packing(ipv6 nlri: [IPv6NLRI], nextHop: MPNextHop, attributes: PathAttributes, context: CodecContext) -> [UpdateMessage] {
        packingMP(nlri, family: .ipv6Unicast, nextHop: nextHop, attributes: attributes, context: context, wrap: NLRIList.ipv6)
    }

    /// Announces IPv4 prefixes in MP_REACH_NLRI: with an IPv6 next hop, as
    /// RFC 8950 allows when the peer sent the Extended Next Hop capability.
    public static func packing(ipv4 nlri: [IPv4NLRI], nextHop: MPNextHop, attributes: PathAttributes, context: CodecContext) -> [UpdateMessage] {
        var rest = attributes
        rest.remove(type: PathAttributeType.nextHop)
        return packingMP(nlri, family: .ipv4Unicast, nextHop: nextHop, attributes: rest, context: context, wrap: NLRIList.ipv4)
    }

    private static func packingMP<N>(
        _ nlri: [N], family: AddressFamily, nextHop: MPNextHop, attributes: PathAttributes, context: CodecContext, wrap: ([N]) -> NLRIList
    ) -> [UpdateMessage] where N: NLRIItem {
        let empty = PathAttribute(.mpReachNLRI(MPReachNLRI(family: family, nextHop: nextHop, nlri: wrap([]))), extendedLength: true)
        var rest = attributes
        rest.remove(type: PathAttributeType.mpReachNLRI)
        let base = PathAttributes([empty] + rest.list)
        let room = context.maxMessageSize - fixedOverhead - base.encodedSize(context: context)
        let addPath = context.addPath.contains(family)
        let size = { (n: N) in n.encodedSize + (addPath && n.pathID == nil ? 4 : 0) }
        return chunks(nlri, room: room, size: size).map { part in
            var attrs = base
            attrs.list[0].value = .mpReachNLRI(MPReachNLRI(family: family, nextHop: nextHop, nlri: wrap(part)))
            // The flag is only kept as a choice for short values (see
            // `PathAttribute.extendedLength`), so that the UPDATE round-trips.
            attrs.list[0].extendedLength = 5 + nextHop.encodedLength + part.reduce(0) { $0 + size($1) } <= 255
            return UpdateMessage(attributes: attrs)
        }
    }

    /// Withdraws IPv6 prefixes in MP_UNREACH_NLRI, as many per UPDATE as fit.
    public static func packing(withdrawIPv6 list: [IPv6NLRI], context: CodecContext) -> [UpdateMessage] {
        let family = AddressFamily.ipv6Unicast
        let overhead = 4 + 3  // attribute header with extended length, AFI, SAFI
        let addPath = context.addPath.contains(family)
        let size = { (n: IPv6NLRI) in NLRICodec.size(n) + (addPath && n.pathID == nil ? 4 : 0) }
        return chunks(list, room: context.maxMessageSize - fixedOverhead - overhead, size: size).map { part in
            let short = 3 + part.reduce(0) { $0 + size($1) } <= 255
            return UpdateMessage(attributes: PathAttributes([PathAttribute(.mpUnreachNLRI(MPUnreachNLRI(family: family, withdrawn: .ipv6(part))), extendedLength: short)]))
        }
    }

    private static func chunks<T>(_ items: [T], room: Int, size: (T) -> Int) -> [[T]] {
        guard room > 0 else { return [] }
        var out: [[T]] = []
        var current: [T] = []
        var used = 0
        for item in items {
            let s = size(item)
            if used + s > room, !current.isEmpty {
                out.append(current)
                current = []
                used = 0
            }
            current.append(item)
            used += s
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
