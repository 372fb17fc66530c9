import IPAddressing

/// Path attribute type codes (IANA "BGP Path Attributes").
public enum PathAttributeType {
    public static let origin: UInt8 = 1
    public static let asPath: UInt8 = 2
    public static let nextHop: UInt8 = 3
    public static let multiExitDisc: UInt8 = 4
    public static let localPref: UInt8 = 5
    public static let atomicAggregate: UInt8 = 6
    public static let aggregator: UInt8 = 7
    public static let communities: UInt8 = 8
    public static let originatorID: UInt8 = 9
    public static let clusterList: UInt8 = 10
    public static let mpReachNLRI: UInt8 = 14
    public static let mpUnreachNLRI: UInt8 = 15
    public static let extendedCommunities: UInt8 = 16
    public static let as4Path: UInt8 = 17
    public static let as4Aggregator: UInt8 = 18
    public static let largeCommunity: UInt8 = 32

    public static func name(_ t: UInt8) -> String {
        switch t {
        case origin: "ORIGIN"
        case asPath: "AS_PATH"
        case nextHop: "NEXT_HOP"
        case multiExitDisc: "MULTI_EXIT_DISC"
        case localPref: "LOCAL_PREF"
        case atomicAggregate: "ATOMIC_AGGREGATE"
        case aggregator: "AGGREGATOR"
        case communities: "COMMUNITIES"
        case originatorID: "ORIGINATOR_ID"
        case clusterList: "CLUSTER_LIST"
        case mpReachNLRI: "MP_REACH_NLRI"
        case mpUnreachNLRI: "MP_UNREACH_NLRI"
        case extendedCommunities: "EXTENDED_COMMUNITIES"
        case as4Path: "AS4_PATH"
        case as4Aggregator: "AS4_AGGREGATOR"
        case largeCommunity: "LARGE_COMMUNITY"
        default: "attribute-\(t)"
        }
    }

    /// The Optional and Transitive bits each known type must carry
    /// (RFC 4271 §5, RFC 4456, RFC 4760, RFC 6793, RFC 4360, RFC 8092).
    static func requiredFlags(_ t: UInt8) -> UInt8? {
        switch t {
        case origin, asPath, nextHop, localPref, atomicAggregate: AttributeFlags.transitive
        case multiExitDisc, originatorID, clusterList, mpReachNLRI, mpUnreachNLRI: AttributeFlags.optional
        case aggregator, communities, extendedCommunities, as4Path, as4Aggregator, largeCommunity:
            AttributeFlags.optional | AttributeFlags.transitive
        default: nil
        }
    }
}

public enum AttributeFlags {
    public static let optional: UInt8 = 0x80
    public static let transitive: UInt8 = 0x40
    public static let partial: UInt8 = 0x20
    public static let extendedLength: UInt8 = 0x10
}

public enum Origin: UInt8, Hashable, Sendable, CustomStringConvertible {
    case igp = 0
    case egp = 1
    case incomplete = 2
    public var description: String {
        switch self {
        case .igp: "IGP"
        case .egp: "EGP"
        case .incomplete: "incomplete"
        }
    }
}

public struct ASPathSegment: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        case set = 1
        case sequence = 2
        /// RFC 5065.
        case confedSequence = 3
        case confedSet = 4
    }
    public var kind: Kind
    /// At most 255 per segment on the wire; the encoder splits longer ones.
    public var asns: [UInt32]
    public init(_ kind: Kind, _ asns: [UInt32]) {
        self.kind = kind
        self.asns = asns
    }
}

public struct ASPath: Hashable, Sendable, CustomStringConvertible {
    public var segments: [ASPathSegment]
    public init(_ segments: [ASPathSegment] = []) { self.segments = segments }
    public init(sequence: [UInt32]) { segments = sequence.isEmpty ? [] : [ASPathSegment(.sequence, sequence)] }

    /// The path with `asn` prepended `times` times: into the leading
    /// AS_SEQUENCE while it holds at most 255 ASes, else as a new one
    /// (RFC 4271 §5.1.2).
    public func prepending(_ asn: UInt32, times: Int = 1) -> ASPath {
        var copy = segments
        let added = [UInt32](repeating: asn, count: times)
        if let first = copy.first, first.kind == .sequence, first.asns.count + times <= 255 {
            copy[0] = ASPathSegment(.sequence, added + first.asns)
        } else {
            copy.insert(ASPathSegment(.sequence, added), at: 0)
        }
        return ASPath(copy)
    }

    /// Path length for route selection (RFC 4271 §9.1.2.2: a set counts as
    /// one; RFC 5065 §5.3: confederation segments count zero).
    public var selectionLength: Int {
        segments.reduce(0) { n, s in
            switch s.kind {
            case .sequence: n + s.asns.count
            case .set: n + 1
            case .confedSequence, .confedSet: n
            }
        }
    }

    /// The first AS of the first AS_SEQUENCE, the neighbour AS (§9.1.2.2).
    public var firstAS: UInt32? {
        guard let s = segments.first, s.kind == .sequence else { return nil }
        return s.asns.first
    }

    /// "65001 65002 {65003,65004} (65010)".
    public var description: String {
        segments.map { s in
            let list = s.asns.map(String.init)
            switch s.kind {
            case .sequence: return list.joined(separator: " ")
            case .set: return "{" + list.joined(separator: ",") + "}"
            case .confedSequence: return "(" + list.joined(separator: " ") + ")"
            case .confedSet: return "[" + list.joined(separator: ",") + "]"
            }
        }.joined(separator: " ")
    }
}

public struct Aggregator: Hashable, Sendable, CustomStringConvertible {
    public var asn: UInt32
    public var address: IPv4Address
    public init(asn: UInt32, address: IPv4Address) {
        self.asn = asn
        self.address = address
    }
    public var description: String { "\(asn) \(address)" }
}

/// RFC 1997 community.
public struct Community: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(asn: UInt16, value: UInt16) { rawValue = UInt32(asn) << 16 | UInt32(value) }

    public static let noExport = Community(rawValue: 0xFFFF_FF01)
    public static let noAdvertise = Community(rawValue: 0xFFFF_FF02)
    public static let noExportSubconfed = Community(rawValue: 0xFFFF_FF03)
    /// RFC 3765.
    public static let noPeer = Community(rawValue: 0xFFFF_FF04)
    /// RFC 8326.
    public static let gracefulShutdown = Community(rawValue: 0xFFFF_0000)
    /// RFC 7999.
    public static let blackhole = Community(rawValue: 0xFFFF_029A)
    /// RFC 9494.
    public static let llgrStale = Community(rawValue: 0xFFFF_0006)
    public static let noLLGR = Community(rawValue: 0xFFFF_0007)

    public var description: String {
        switch self {
        case .noExport: "no-export"
        case .noAdvertise: "no-advertise"
        case .noExportSubconfed: "no-export-subconfed"
        case .noPeer: "no-peer"
        case .gracefulShutdown: "graceful-shutdown"
        case .blackhole: "blackhole"
        case .llgrStale: "llgr-stale"
        case .noLLGR: "no-llgr"
        default: "\(rawValue >> 16):\(rawValue & 0xFFFF)"
        }
    }
}

/// RFC 4360 extended community: 8 octets, type and subtype first.
public struct ExtendedCommunity: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public var type: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 56) }
    public var subtype: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 48) }
    /// Bit 0x40 of the type: not to be propagated beyond the AS.
    public var isTransitive: Bool { type & 0x40 == 0 }

    /// Route target in the 2-octet-AS-specific form (type 0x00, subtype 0x02).
    public static func routeTarget(asn: UInt16, value: UInt32) -> ExtendedCommunity {
        ExtendedCommunity(rawValue: 0x0002 << 48 | UInt64(asn) << 32 | UInt64(value))
    }

    public var description: String {
        let kind: String? = switch subtype {
        case 0x02: "rt"
        case 0x03: "ro"
        default: nil
        }
        if let kind {
            switch type {
            case 0x00: return "\(kind):\((rawValue >> 32) & 0xFFFF):\(rawValue & 0xFFFF_FFFF)"
            case 0x01: return "\(kind):\(IPv4Address(UInt32(truncatingIfNeeded: rawValue >> 16))):\(rawValue & 0xFFFF)"
            case 0x02: return "\(kind):\((rawValue >> 16) & 0xFFFF_FFFF):\(rawValue & 0xFFFF)"
            default: break
            }
        }
        return "0x" + (0..<8).map { i in [UInt8(truncatingIfNeeded: rawValue >> UInt64(56 - 8 * i))].hex }.joined()
    }
}

/// RFC 8092 large community.
public struct LargeCommunity: Hashable, Sendable, CustomStringConvertible {
    public var globalAdministrator: UInt32
    public var localData1: UInt32
    public var localData2: UInt32
    public init(_ g: UInt32, _ l1: UInt32, _ l2: UInt32) {
        globalAdministrator = g
        localData1 = l1
        localData2 = l2
    }
    public var description: String { "\(globalAdministrator):\(localData1):\(localData2)" }
}

/// A prefix as carried in NLRI, with its RFC 7911 Path Identifier when
/// ADD-PATH is in use for the family.
public struct IPv4NLRI: Hashable, Sendable, CustomStringConvertible {
    public var prefix: IPv4Prefix
    public var pathID: UInt32?
    @inlinable
    public init(_ prefix: IPv4Prefix, pathID: UInt32? = nil) {
        self.prefix = prefix
        self.pathID = pathID
    }
    public var description: String { pathID.map { "\(prefix) path-id \($0)" } ?? prefix.description }
}

public struct IPv6NLRI: Hashable, Sendable, CustomStringConvertible {
    public var prefix: IPv6Prefix
    public var pathID: UInt32?
    @inlinable
    public init(_ prefix: IPv6Prefix, pathID: UInt32? = nil) {
        self.prefix = prefix
        self.pathID = pathID
    }
    public var description: String { pathID.map { "\(prefix) path-id \($0)" } ?? prefix.description }
}

/// The NLRI of one MP_REACH / MP_UNREACH attribute: typed for IPv4 and IPv6
/// unicast and multicast, raw bytes for families Caracal does not interpret.
public enum NLRIList: Hashable, Sendable {
    case ipv4([IPv4NLRI])
    case ipv6([IPv6NLRI])
    case raw([UInt8])

    public var isEmpty: Bool {
        switch self {
        case .ipv4(let l): l.isEmpty
        case .ipv6(let l): l.isEmpty
        case .raw(let b): b.isEmpty
        }
    }

    public var count: Int {
        switch self {
        case .ipv4(let l): l.count
        case .ipv6(let l): l.count
        case .raw: 0
        }
    }
}

/// The next hop of an MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950).
public enum MPNextHop: Hashable, Sendable, CustomStringConvertible {
    case ipv4(IPv4Address)
    /// Global, and the link-local address when 32 octets were sent.
    case ipv6(IPv6Address, linkLocal: IPv6Address?)
    /// Families Caracal does not interpret.
    case raw([UInt8])

    public var description: String {
        switch self {
        case .ipv4(let a): a.description
        case .ipv6(let g, let ll): ll.map { "\(g) (\($0))" } ?? g.description
        case .raw(let b): "0x" + b.hex
        }
    }

    var encodedLength: Int {
        switch self {
        case .ipv4: 4
        case .ipv6(_, let ll): ll == nil ? 16 : 32
        case .raw(let b): b.count
        }
    }
}

public struct MPReachNLRI: Hashable, Sendable {
    public var family: AddressFamily
    public var nextHop: MPNextHop
    public var nlri: NLRIList
    public init(family: AddressFamily, nextHop: MPNextHop, nlri: NLRIList) {
        self.family = family
        self.nextHop = nextHop
        self.nlri = nlri
    }
}

public struct MPUnreachNLRI: Hashable, Sendable {
    public var family: AddressFamily
    public var withdrawn: NLRIList
    public init(family: AddressFamily, withdrawn: NLRIList) {
        self.family = family
        self.withdrawn = withdrawn
    }
}
