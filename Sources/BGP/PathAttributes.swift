import IPAddressing
import NIOCore

public enum PathAttributeValue: Hashable, Sendable {
    case origin(Origin)
    case asPath(ASPath)
    case nextHop(IPv4Address)
    case multiExitDisc(UInt32)
    case localPref(UInt32)
    case atomicAggregate
    case aggregator(Aggregator)
    case communities([Community])
    case originatorID(IPv4Address)
    case clusterList([IPv4Address])
    case mpReachNLRI(MPReachNLRI)
    case mpUnreachNLRI(MPUnreachNLRI)
    case extendedCommunities([ExtendedCommunity])
    case as4Path(ASPath)
    case as4Aggregator(Aggregator)
    case largeCommunities([LargeCommunity])
    /// An attribute Caracal does not interpret. `flags` keeps the Optional
    /// and Transitive bits as received (Partial is `PathAttribute.partial`).
    case unknown(type: UInt8, flags: UInt8, value: [UInt8])

    public var typeCode: UInt8 {
        switch self {
        case .origin: PathAttributeType.origin
        case .asPath: PathAttributeType.asPath
        case .nextHop: PathAttributeType.nextHop
        case .multiExitDisc: PathAttributeType.multiExitDisc
        case .localPref: PathAttributeType.localPref
        case .atomicAggregate: PathAttributeType.atomicAggregate
        case .aggregator: PathAttributeType.aggregator
        case .communities: PathAttributeType.communities
        case .originatorID: PathAttributeType.originatorID
        case .clusterList: PathAttributeType.clusterList
        case .mpReachNLRI: PathAttributeType.mpReachNLRI
        case .mpUnreachNLRI: PathAttributeType.mpUnreachNLRI
        case .extendedCommunities: PathAttributeType.extendedCommunities
        case .as4Path: PathAttributeType.as4Path
        case .as4Aggregator: PathAttributeType.as4Aggregator
        case .largeCommunities: PathAttributeType.largeCommunity
        case .unknown(let t, _, _): t
        }
    }
}

/// One path attribute as it travels: its value plus the two flag bits that
/// are the sender's choice (Partial, Extended Length). Optional and
/// Transitive follow from the type.
public struct PathAttribute: Hashable, Sendable {
    public var value: PathAttributeValue
    /// RFC 4271 §4.3: an optional transitive attribute passed on by a
    /// speaker that did not recognise it.
    public var partial: Bool
    /// Use a 2-octet length even when the value fits in 255 octets (longer
    /// values always get one; the decoder sets this only when a short value
    /// came with the flag, so that decode and encode are exact inverses).
    public var extendedLength: Bool

    public init(_ value: PathAttributeValue, partial: Bool = false, extendedLength: Bool = false) {
        self.value = value
        self.partial = partial
        self.extendedLength = extendedLength
    }

    var flags: UInt8 {
        var f: UInt8
        if case .unknown(_, let raw, _) = value {
            f = raw & (AttributeFlags.optional | AttributeFlags.transitive)
        } else {
            f = PathAttributeType.requiredFlags(value.typeCode) ?? 0
        }
        if partial { f |= AttributeFlags.partial }
        return f
    }
}

/// The path attributes of an UPDATE, in wire order.
public struct PathAttributes: Hashable, Sendable {
    public var list: [PathAttribute]

    public init(_ list: [PathAttribute] = []) { self.list = list }
    public init(_ values: [PathAttributeValue]) { list = values.map { PathAttribute($0) } }

    public var isEmpty: Bool { list.isEmpty }

    public subscript(type: UInt8) -> PathAttribute? {
        list.first { $0.value.typeCode == type }
    }

    /// Replaces the attribute of the value's type, or appends it.
    public mutating func set(_ value: PathAttributeValue) {
        if let i = list.firstIndex(where: { $0.value.typeCode == value.typeCode }) {
            list[i].value = value
        } else {
            list.append(PathAttribute(value))
        }
    }

    public mutating func remove(type: UInt8) { list.removeAll { $0.value.typeCode == type } }

    public var origin: Origin? { if case .origin(let v)? = self[PathAttributeType.origin]?.value { v } else { nil } }
    public var asPath: ASPath? { if case .asPath(let v)? = self[PathAttributeType.asPath]?.value { v } else { nil } }
    public var nextHop: IPv4Address? { if case .nextHop(let v)? = self[PathAttributeType.nextHop]?.value { v } else { nil } }
    public var multiExitDisc: UInt32? { if case .multiExitDisc(let v)? = self[PathAttributeType.multiExitDisc]?.value { v } else { nil } }
    public var localPref: UInt32? { if case .localPref(let v)? = self[PathAttributeType.localPref]?.value { v } else { nil } }
    public var atomicAggregate: Bool { self[PathAttributeType.atomicAggregate] != nil }
    public var aggregator: Aggregator? { if case .aggregator(let v)? = self[PathAttributeType.aggregator]?.value { v } else { nil } }
    public var communities: [Community] { if case .communities(let v)? = self[PathAttributeType.communities]?.value { v } else { [] } }
    public var originatorID: IPv4Address? { if case .originatorID(let v)? = self[PathAttributeType.originatorID]?.value { v } else { nil } }
    public var clusterList: [IPv4Address] { if case .clusterList(let v)? = self[PathAttributeType.clusterList]?.value { v } else { [] } }
    public var mpReach: MPReachNLRI? { if case .mpReachNLRI(let v)? = self[PathAttributeType.mpReachNLRI]?.value { v } else { nil } }
    public var mpUnreach: MPUnreachNLRI? { if case .mpUnreachNLRI(let v)? = self[PathAttributeType.mpUnreachNLRI]?.value { v } else { nil } }
    public var extendedCommunities: [ExtendedCommunity] { if case .extendedCommunities(let v)? = self[PathAttributeType.extendedCommunities]?.value { v } else { [] } }
    public var as4Path: ASPath? { if case .as4Path(let v)? = self[PathAttributeType.as4Path]?.value { v } else { nil } }
    public var as4Aggregator: Aggregator? { if case .as4Aggregator(let v)? = self[PathAttributeType.as4Aggregator]?.value { v } else { nil } }
    public var largeCommunities: [LargeCommunity] { if case .largeCommunities(let v)? = self[PathAttributeType.largeCommunity]?.value { v } else { [] } }

    /// The attributes to pass on to another peer (RFC 4271 §5): unrecognised
    /// optional non-transitive ones are dropped, unrecognised optional
    /// transitive ones are kept with the Partial bit set.
    public func forPropagation() -> PathAttributes {
        var out: [PathAttribute] = []
        for a in list {
            if case .unknown(_, let flags, _) = a.value {
                guard flags & AttributeFlags.optional != 0, flags & AttributeFlags.transitive != 0 else { continue }
                var c = a
                c.partial = true
                out.append(c)
            } else {
                out.append(a)
            }
        }
        return PathAttributes(out)
    }
}

// MARK: - Encoding

extension PathAttributes {
    func encode(into b: inout ByteBuffer, context: CodecContext) {
        for a in list { a.encode(into: &b, context: context) }
    }

    /// The attributes as they go on the wire (what an MRT dump stores).
    public func encodedBytes(context: CodecContext) -> [UInt8] {
        var b = ByteBuffer()
        encode(into: &b, context: context)
        return b.readBytes(length: b.readableBytes) ?? []
    }

    /// Size on the wire; used by the packer.
    func encodedSize(context: CodecContext) -> Int {
        var b = ByteBuffer()
        encode(into: &b, context: context)
        return b.readableBytes
    }
}

extension PathAttribute {
    /// Writes the value in place and fills the length in afterwards; a value
    /// that outgrows the 1-octet length is written again with the Extended
    /// Length flag (rare: only large attributes without the flag asked for).
    func encode(into b: inout ByteBuffer, context: CodecContext) {
        encode(into: &b, context: context, extended: extendedLength)
    }

    private func encode(into b: inout ByteBuffer, context: CodecContext, extended: Bool) {
        let start = b.writerIndex
        b.writeU8(flags | (extended ? AttributeFlags.extendedLength : 0))
        b.writeU8(value.typeCode)
        let lengthAt = b.writerIndex
        if extended { b.writeU16(0) } else { b.writeU8(0) }
        let valueStart = b.writerIndex
        value.encodeValue(into: &b, context: context)
        let n = b.writerIndex - valueStart
        if extended {
            b.setInteger(UInt16(truncatingIfNeeded: n), at: lengthAt)
        } else if n <= 255 {
            b.setInteger(UInt8(n), at: lengthAt)
        } else {
            b.moveWriterIndex(to: start)
            encode(into: &b, context: context, extended: true)
        }
    }
}

extension ASPath {
    func encode(into b: inout ByteBuffer, fourOctet: Bool) {
        for s in segments {
            // A segment holds at most 255 ASes; longer ones are split.
            var rest = s.asns[...]
            repeat {
                let chunk = rest.prefix(255)
                rest = rest.dropFirst(chunk.count)
                b.writeU8(s.kind.rawValue)
                b.writeU8(UInt8(chunk.count))
                for a in chunk {
                    // RFC 6793 §4.2.2: an AS that needs 4 octets is AS_TRANS
                    // towards a 2-octet speaker.
                    if fourOctet { b.writeU32(a) } else { b.writeU16(a > 0xFFFF ? UInt16(BGPLimits.asTrans) : UInt16(a)) }
                }
            } while !rest.isEmpty
        }
    }
}

extension PathAttributeValue {
    func encodeValue(into b: inout ByteBuffer, context: CodecContext) {
        switch self {
        case .origin(let o): b.writeU8(o.rawValue)
        case .asPath(let p): p.encode(into: &b, fourOctet: context.fourOctetAS)
        case .as4Path(let p): p.encode(into: &b, fourOctet: true)
        case .nextHop(let a), .originatorID(let a): b.writeU32(a.value)
        case .multiExitDisc(let v), .localPref(let v): b.writeU32(v)
        case .atomicAggregate: break
        case .aggregator(let a):
            if context.fourOctetAS { b.writeU32(a.asn) } else { b.writeU16(a.asn > 0xFFFF ? UInt16(BGPLimits.asTrans) : UInt16(a.asn)) }
            b.writeU32(a.address.value)
        case .as4Aggregator(let a):
            b.writeU32(a.asn)
            b.writeU32(a.address.value)
        case .communities(let cs): for c in cs { b.writeU32(c.rawValue) }
        case .clusterList(let ids): for i in ids { b.writeU32(i.value) }
        case .extendedCommunities(let cs): for c in cs { b.writeInteger(c.rawValue) }
        case .largeCommunities(let cs):
            for c in cs { b.writeU32(c.globalAdministrator); b.writeU32(c.localData1); b.writeU32(c.localData2) }
        case .mpReachNLRI(let m):
            b.writeU16(m.family.afi.rawValue)
            b.writeU8(m.family.safi.rawValue)
            b.writeU8(UInt8(truncatingIfNeeded: m.nextHop.encodedLength))
            switch m.nextHop {
            case .ipv4(let a): b.writeU32(a.value)
            case .ipv6(let g, let ll):
                b.writeInteger(g.high); b.writeInteger(g.low)
                if let ll { b.writeInteger(ll.high); b.writeInteger(ll.low) }
            case .raw(let bytes): b.writeBytes(bytes)
            }
            b.writeU8(0)  // reserved
            NLRICodec.encode(m.nlri, addPath: context.addPath.contains(m.family), into: &b)
        case .mpUnreachNLRI(let m):
            b.writeU16(m.family.afi.rawValue)
            b.writeU8(m.family.safi.rawValue)
            NLRICodec.encode(m.withdrawn, addPath: context.addPath.contains(m.family), into: &b)
        case .unknown(_, _, let v): b.writeBytes(v)
        }
    }
}

// MARK: - Decoding with RFC 7606 error handling

/// The outcome of parsing an UPDATE's attribute list: what parsed, and the
/// errors that RFC 7606 lets the session survive (discard, treat-as-withdraw).
struct AttributeParse {
    var attributes: [PathAttribute] = []
    var errors: [BGPError] = []
}

/// 256 bits, one per attribute type: duplicate detection without a heap
/// allocation per UPDATE.
struct AttributeTypeSet {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    func contains(_ t: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(t & 63)
        switch t >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }
    mutating func insert(_ t: UInt8) {
        let bit = UInt64(1) << UInt64(t & 63)
        switch t >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }
}

/// Where an attribute sits in the message, for NOTIFICATION data: copied
/// out only when an error needs it, never on the happy path.
struct AttributeBytes {
    let reader: WireReader
    let from: Int
    let to: Int
    var bytes: [UInt8] { reader.slice(from, to) }
}

enum PathAttributeDecoder {
    static func decode(_ r: inout WireReader, context: CodecContext) throws(BGPError) -> AttributeParse {
        var out = AttributeParse()
        out.attributes.reserveCapacity(8)
        var seen = AttributeTypeSet()
        while !r.isAtEnd {
            let start = r.position
            // RFC 7606 §4: fewer octets left than a minimal attribute header,
            // or an attribute running past the list: treat-as-withdraw,
            // relying on the Total Path Attribute Length to find the NLRI.
            guard r.remaining >= 3 else {
                out.errors.append(BGPError(.attributeListOverrun, NotificationMessage(update: .malformedAttributeList), .treatAsWithdraw))
                return out
            }
            let flags = r.u8()!, type = r.u8()!
            let extended = flags & AttributeFlags.extendedLength != 0
            var length = 0
            if extended {
                guard let l = r.u16() else {
                    out.errors.append(BGPError(.attributeListOverrun, NotificationMessage(update: .malformedAttributeList), .treatAsWithdraw))
                    return out
                }
                length = Int(l)
            } else {
                length = Int(r.u8()!)
            }
            guard var value = r.sub(length) else {
                // Without the MP attributes we cannot find all the NLRI.
                if type == PathAttributeType.mpReachNLRI || type == PathAttributeType.mpUnreachNLRI {
                    throw BGPError(.attributeListOverrun, NotificationMessage(update: .attributeLengthError, data: r.slice(start, r.end)))
                }
                out.errors.append(BGPError(.attributeListOverrun, NotificationMessage(update: .attributeLengthError, data: r.slice(start, r.end)), .treatAsWithdraw))
                return out
            }
            let whole = AttributeBytes(reader: r, from: start, to: r.position)
            let partial = flags & AttributeFlags.partial != 0

            // RFC 7606 §3(g): MP attributes twice is a session reset; any
            // other attribute twice keeps the first copy.
            if seen.contains(type) {
                if type == PathAttributeType.mpReachNLRI || type == PathAttributeType.mpUnreachNLRI {
                    throw BGPError(.duplicateMPAttribute(type), NotificationMessage(update: .malformedAttributeList))
                }
                out.errors.append(BGPError(.duplicateAttribute(type), NotificationMessage(update: .malformedAttributeList), .attributeDiscard))
                continue
            }
            seen.insert(type)

            guard let required = PathAttributeType.requiredFlags(type) else {
                // Unrecognised: a well-known one is fatal (§6.3); optional
                // ones are kept as they are.
                if flags & AttributeFlags.optional == 0 {
                    throw BGPError(.unrecognizedWellKnownAttribute(type), NotificationMessage(update: .unrecognizedWellKnownAttribute, data: whole.bytes))
                }
                out.attributes.append(PathAttribute(.unknown(type: type, flags: flags & (AttributeFlags.optional | AttributeFlags.transitive), value: value.rest()),
                                                    partial: partial, extendedLength: extended && length <= 255))
                continue
            }
            let handling = malformedAction(type)
            // RFC 7606 §3(c): wrong Optional/Transitive bits make the
            // attribute malformed.
            if flags & (AttributeFlags.optional | AttributeFlags.transitive) != required {
                let e = BGPError(.attributeFlags(type: type, flags: flags), NotificationMessage(update: .attributeFlagsError, data: whole.bytes), handling)
                if handling == .sessionReset || type == PathAttributeType.mpReachNLRI || type == PathAttributeType.mpUnreachNLRI {
                    throw BGPError(e.reason, e.notification, .sessionReset)
                }
                out.errors.append(e)
                continue
            }
            do throws(BGPError) {
                let v = try decodeValue(type: type, &value, whole: whole, context: context)
                out.attributes.append(PathAttribute(v, partial: partial, extendedLength: extended && length <= 255))
            } catch {
                if error.action == .sessionReset || { if case .afiSafiDisable = error.action { true } else { false } }() {
                    throw error
                }
                out.errors.append(error)
            }
        }
        return out
    }

    /// RFC 7606 §7 (and RFC 6793 §6 for the AS4 attributes): what to do when
    /// an attribute of this type is malformed.
    static func malformedAction(_ type: UInt8) -> ErrorAction {
        switch type {
        case PathAttributeType.atomicAggregate, PathAttributeType.aggregator,
             PathAttributeType.as4Path, PathAttributeType.as4Aggregator:
            .attributeDiscard
        case PathAttributeType.mpReachNLRI, PathAttributeType.mpUnreachNLRI:
            .sessionReset
        default:
            .treatAsWithdraw
        }
    }

    static func decodeValue(type: UInt8, _ v: inout WireReader, whole: AttributeBytes, context: CodecContext) throws(BGPError) -> PathAttributeValue {
        let n = v.remaining
        let action = malformedAction(type)
        func lengthError() -> BGPError {
            BGPError(.attributeLength(type: type, length: n), NotificationMessage(update: .attributeLengthError, data: whole.bytes), action)
        }
        switch type {
        case PathAttributeType.origin:
            guard n == 1 else { throw lengthError() }
            let o = v.u8()!
            guard let origin = Origin(rawValue: o) else {
                throw BGPError(.invalidOrigin(o), NotificationMessage(update: .invalidOriginAttribute, data: whole.bytes), .treatAsWithdraw)
            }
            return .origin(origin)
        case PathAttributeType.asPath:
            guard let p = decodeASPath(&v, fourOctet: context.fourOctetAS, allowConfed: true) else {
                throw BGPError(.malformedASPath, NotificationMessage(update: .malformedASPath), .treatAsWithdraw)
            }
            return .asPath(p)
        case PathAttributeType.as4Path:
            // RFC 6793 §6: confederation segments in AS4_PATH are malformed.
            guard let p = decodeASPath(&v, fourOctet: true, allowConfed: false) else {
                throw BGPError(.malformedAS4Path, NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .attributeDiscard)
            }
            return .as4Path(p)
        case PathAttributeType.nextHop:
            guard n == 4 else { throw lengthError() }
            let a = IPv4Address(v.u32()!)
            // §6.3: a next hop that is not a valid host address.
            if a.isUnspecified || a.isMulticast || a == .broadcast {
                throw BGPError(.invalidNextHop, NotificationMessage(update: .invalidNextHopAttribute, data: whole.bytes), .treatAsWithdraw)
            }
            return .nextHop(a)
        case PathAttributeType.multiExitDisc:
            guard n == 4 else { throw lengthError() }
            return .multiExitDisc(v.u32()!)
        case PathAttributeType.localPref:
            guard n == 4 else { throw lengthError() }
            return .localPref(v.u32()!)
        case PathAttributeType.originatorID:
            guard n == 4 else { throw lengthError() }
            return .originatorID(IPv4Address(v.u32()!))
        case PathAttributeType.atomicAggregate:
            guard n == 0 else { throw lengthError() }
            return .atomicAggregate
        case PathAttributeType.aggregator:
            guard n == (context.fourOctetAS ? 8 : 6) else { throw lengthError() }
            let asn = context.fourOctetAS ? v.u32()! : UInt32(v.u16()!)
            guard asn != 0 else {
                throw BGPError(.zeroAggregatorAS(type), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .attributeDiscard)
            }
            return .aggregator(Aggregator(asn: asn, address: IPv4Address(v.u32()!)))
        case PathAttributeType.as4Aggregator:
            guard n == 8 else { throw lengthError() }
            let asn = v.u32()!
            guard asn != 0 else {
                throw BGPError(.zeroAggregatorAS(type), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .attributeDiscard)
            }
            return .as4Aggregator(Aggregator(asn: asn, address: IPv4Address(v.u32()!)))
        case PathAttributeType.communities:
            guard n > 0, n % 4 == 0 else { throw lengthError() }
            var cs: [Community] = []
            cs.reserveCapacity(n / 4)
            while let c = v.u32() { cs.append(Community(rawValue: c)) }
            return .communities(cs)
        case PathAttributeType.clusterList:
            guard n > 0, n % 4 == 0 else { throw lengthError() }
            var ids: [IPv4Address] = []
            while let c = v.u32() { ids.append(IPv4Address(c)) }
            return .clusterList(ids)
        case PathAttributeType.extendedCommunities:
            guard n > 0, n % 8 == 0 else { throw lengthError() }
            var cs: [ExtendedCommunity] = []
            while let c = v.u64() { cs.append(ExtendedCommunity(rawValue: c)) }
            return .extendedCommunities(cs)
        case PathAttributeType.largeCommunity:
            guard n > 0, n % 12 == 0 else { throw lengthError() }
            var cs: [LargeCommunity] = []
            while let g = v.u32(), let a = v.u32(), let b = v.u32() { cs.append(LargeCommunity(g, a, b)) }
            return .largeCommunities(cs)
        case PathAttributeType.mpReachNLRI:
            return .mpReachNLRI(try decodeMPReach(&v, whole: whole, context: context))
        case PathAttributeType.mpUnreachNLRI:
            return .mpUnreachNLRI(try decodeMPUnreach(&v, whole: whole, context: context))
        default:
            preconditionFailure("decodeValue called for an unknown type")
        }
    }

    /// RFC 7606 §7.2: unknown segment types, zero-length segments, overruns
    /// and a lone trailing octet are malformed; so is AS 0 (RFC 7607).
    static func decodeASPath(_ v: inout WireReader, fourOctet: Bool, allowConfed: Bool) -> ASPath? {
        var segs: [ASPathSegment] = []
        while !v.isAtEnd {
            guard let t = v.u8(), let kind = ASPathSegment.Kind(rawValue: t), let count = v.u8(), count > 0 else { return nil }
            if !allowConfed, kind == .confedSet || kind == .confedSequence { return nil }
            var asns: [UInt32] = []
            asns.reserveCapacity(Int(count))
            for _ in 0..<count {
                if fourOctet {
                    guard let a = v.u32(), a != 0 else { return nil }
                    asns.append(a)
                } else {
                    guard let a = v.u16(), a != 0 else { return nil }
                    asns.append(UInt32(a))
                }
            }
            segs.append(ASPathSegment(kind, asns))
        }
        return ASPath(segs)
    }

    static func decodeMPReach(_ v: inout WireReader, whole: AttributeBytes, context: CodecContext) throws(BGPError) -> MPReachNLRI {
        guard let afi = v.u16(), let safi = v.u8() else {
            throw BGPError(.malformedMPReach(nil), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .sessionReset)
        }
        let family = AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi))
        // RFC 7606 §7.11: when the fields do not add up the NLRI cannot be
        // located, so the family is disabled (or the session reset).
        func disable() -> BGPError {
            BGPError(.malformedMPReach(family), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .afiSafiDisable(family))
        }
        guard let nhLen = v.u8(), var nh = v.sub(Int(nhLen)), let _ = v.u8() else { throw disable() }
        let nextHop: MPNextHop
        if NLRICodec.isTyped(family) {
            switch (nhLen, family.afi) {
            case (4, .ipv4): nextHop = .ipv4(IPv4Address(nh.u32()!))
            // IPv6 next hops for IPv6 (RFC 2545) and IPv4 (RFC 8950).
            case (16, _): nextHop = .ipv6(IPv6Address(high: nh.u64()!, low: nh.u64()!), linkLocal: nil)
            case (32, _):
                nextHop = .ipv6(IPv6Address(high: nh.u64()!, low: nh.u64()!), linkLocal: IPv6Address(high: nh.u64()!, low: nh.u64()!))
            default: throw disable()
            }
        } else {
            nextHop = .raw(nh.rest())
        }
        guard let nlri = NLRICodec.decode(family, v, addPath: context.addPath.contains(family)) else {
            throw BGPError(.invalidNetworkField(family), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .afiSafiDisable(family))
        }
        return MPReachNLRI(family: family, nextHop: nextHop, nlri: nlri)
    }

    static func decodeMPUnreach(_ v: inout WireReader, whole: AttributeBytes, context: CodecContext) throws(BGPError) -> MPUnreachNLRI {
        guard let afi = v.u16(), let safi = v.u8() else {
            throw BGPError(.malformedMPUnreach(nil), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .sessionReset)
        }
        let family = AddressFamily(afi: AFI(rawValue: afi), safi: SAFI(rawValue: safi))
        guard let nlri = NLRICodec.decode(family, v, addPath: context.addPath.contains(family)) else {
            throw BGPError(.invalidNetworkField(family), NotificationMessage(update: .optionalAttributeError, data: whole.bytes), .afiSafiDisable(family))
        }
        return MPUnreachNLRI(family: family, withdrawn: nlri)
    }
}
