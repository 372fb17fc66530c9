/// Address Family Identifier (IANA; RFC 4760).
public struct AFI: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let ipv4 = AFI(rawValue: 1)
    public static let ipv6 = AFI(rawValue: 2)
    public static func < (a: AFI, b: AFI) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .ipv4: "ipv4"
        case .ipv6: "ipv6"
        default: "afi-\(rawValue)"
        }
    }
}

/// Subsequent Address Family Identifier (IANA; RFC 4760).
public struct SAFI: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unicast = SAFI(rawValue: 1)
    public static let multicast = SAFI(rawValue: 2)
    public static func < (a: SAFI, b: SAFI) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch self {
        case .unicast: "unicast"
        case .multicast: "multicast"
        default: "safi-\(rawValue)"
        }
    }
}

/// An AFI/SAFI pair: the unit of multiprotocol negotiation, ADD-PATH and
/// graceful restart.
public struct AddressFamily: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var afi: AFI
    public var safi: SAFI
    public init(afi: AFI, safi: SAFI) {
        self.afi = afi
        self.safi = safi
    }
    public static let ipv4Unicast = AddressFamily(afi: .ipv4, safi: .unicast)
    public static let ipv6Unicast = AddressFamily(afi: .ipv6, safi: .unicast)
    public static func < (a: AddressFamily, b: AddressFamily) -> Bool {
        a.afi != b.afi ? a.afi < b.afi : a.safi < b.safi
    }
    /// "ipv4-unicast", "ipv6-unicast", "afi-25-safi-70".
    public var description: String { "\(afi)-\(safi)" }

    /// Parses the names `description` produces, plus "ipv4" / "ipv6" for unicast.
    public init?(name: String) {
        switch name.lowercased() {
        case "ipv4", "ipv4-unicast": self = .ipv4Unicast
        case "ipv6", "ipv6-unicast": self = .ipv6Unicast
        case "ipv4-multicast": self.init(afi: .ipv4, safi: .multicast)
        case "ipv6-multicast": self.init(afi: .ipv6, safi: .multicast)
        default: return nil
        }
    }
}

/// What the decoder and encoder need to know about the session: the wire
/// format of AS numbers, NLRI and the size limit all depend on what was
/// negotiated in the OPEN exchange.
public struct CodecContext: Hashable, Sendable {
    /// RFC 6793: AS numbers in AS_PATH and AGGREGATOR are 4 octets.
    public var fourOctetAS: Bool
    /// RFC 7911: NLRI of these families carry a 4-octet Path Identifier (in
    /// the direction this context is used for: received for decode, sent for
    /// encode).
    public var addPath: Set<AddressFamily>
    /// RFC 8654: messages (other than OPEN and KEEPALIVE) may be up to 65535 octets.
    public var extendedMessage: Bool

    public init(fourOctetAS: Bool = true, addPath: Set<AddressFamily> = [], extendedMessage: Bool = false) {
        self.fourOctetAS = fourOctetAS
        self.addPath = addPath
        self.extendedMessage = extendedMessage
    }

    /// Before the OPEN exchange: 2-octet AS numbers, no ADD-PATH, 4096 octets.
    public static let initial = CodecContext(fourOctetAS: false)

    public var maxMessageSize: Int { extendedMessage ? BGPLimits.extendedMessageSize : BGPLimits.maxMessageSize }
}

public enum BGPLimits {
    public static let headerSize = 19
    public static let maxMessageSize = 4096
    public static let extendedMessageSize = 65535
    public static let minOpenSize = 29
    public static let minUpdateSize = 23
    public static let minNotificationSize = 21
    public static let routeRefreshSize = 23
    /// RFC 6793 §9: the 2-octet stand-in for a 4-octet AS number.
    public static let asTrans: UInt32 = 23456
}

public enum MessageType: UInt8, Sendable, CustomStringConvertible {
    case open = 1
    case update = 2
    case notification = 3
    case keepalive = 4
    case routeRefresh = 5

    public var description: String {
        switch self {
        case .open: "OPEN"
        case .update: "UPDATE"
        case .notification: "NOTIFICATION"
        case .keepalive: "KEEPALIVE"
        case .routeRefresh: "ROUTE-REFRESH"
        }
    }
}
