import BGP
import IPAddressing

/// What the RIB knows of a peer: enough to run the decision process and
/// the advertisement rules. The speaker fills it from its configuration
/// and the negotiated session.
public struct RIBPeer: Hashable, Sendable, CustomStringConvertible {
    /// The peer's address (the tie-break of RFC 4271 §9.1.2.2 (g)).
    public var address: IPAddress
    public var asn: UInt32
    /// The BGP Identifier from the peer's OPEN.
    public var routerID: IPv4Address
    /// A route-reflector client of this speaker (RFC 4456).
    public var isReflectorClient: Bool
    /// How many times our own AS may appear in an eBGP path (BIRD's
    /// `allow local as`); 0: a path with our AS is a loop.
    public var allowAsIn: Int
    /// The interface of a peer reached at its IPv6 link-local address (the
    /// session's scope id); 0 for any other. Its link-local next hops
    /// (RFC 2545 §3) are kept, and are reached, through this interface.
    public var interfaceIndex: UInt32

    public init(address: IPAddress, asn: UInt32, routerID: IPv4Address, isReflectorClient: Bool = false, allowAsIn: Int = 0,
                interfaceIndex: UInt32 = 0) {
        self.address = address
        self.asn = asn
        self.routerID = routerID
        self.isReflectorClient = isReflectorClient
        self.allowAsIn = allowAsIn
        self.interfaceIndex = interfaceIndex
    }

    public var description: String { isLocal ? "local" : "\(address) AS\(asn)" }

    /// The pseudo-peer of routes this speaker originates: the unspecified
    /// address, which no session has.
    public static func local(_ speaker: RIBSpeaker) -> RIBPeer {
        RIBPeer(address: .v4(IPv4Address(0)), asn: speaker.asn, routerID: speaker.routerID)
    }

    public var isLocal: Bool { address == .v4(IPv4Address(0)) }
}

/// This speaker, as the decision process and the advertisement rules see it.
public struct RIBSpeaker: Hashable, Sendable {
    public var asn: UInt32
    public var routerID: IPv4Address
    /// The reflector's CLUSTER_ID (RFC 4456 §7; default: the router ID).
    public var clusterID: IPv4Address
    /// Compare MED between paths from different neighbouring ASes too.
    public var alwaysCompareMed: Bool
    /// Paths installed together (ECMP) when they tie through the IGP cost.
    public var maximumPaths: Int
    /// Reflect between clients (RFC 4456 §8; off when clients are fully
    /// meshed among themselves).
    public var clientToClientReflection: Bool

    public init(asn: UInt32, routerID: IPv4Address, clusterID: IPv4Address? = nil, alwaysCompareMed: Bool = false,
                maximumPaths: Int = 1, clientToClientReflection: Bool = true) {
        self.asn = asn
        self.routerID = routerID
        self.clusterID = clusterID ?? routerID
        self.alwaysCompareMed = alwaysCompareMed
        self.maximumPaths = max(1, maximumPaths)
        self.clientToClientReflection = clientToClientReflection
    }

    public func isInternal(_ peer: RIBPeer) -> Bool { peer.asn == asn }

    /// The most paths a best set holds (the RIB keeps a path's rank in 7
    /// bits; the kernel's multipath routes and BIRD's `merge paths` limit
    /// are of the same order).
    public static let maximumPathsLimit = 127
}
