import IPAddressing

// Routes as desired state and as the kernel reports them: what the route
// programmer diffs, the RIB will produce, and the agent advertises. Pure
// values; their netlink encoding lives in the Netlink module.

/// A routing table id (`RT_TABLE_MAIN` is 254).
public struct RouteTable: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ id: UInt32) { rawValue = id }
    public static let main = RouteTable(254)
    public static let local = RouteTable(255)
    public static func < (a: RouteTable, b: RouteTable) -> Bool { a.rawValue < b.rawValue }
    public var description: String {
        switch rawValue { case 254: "main"; case 255: "local"; case 253: "default"; default: "\(rawValue)" }
    }
}

/// The `rtm_protocol` of a route: who installed it. Caracal owns exactly the
/// routes carrying its own number and never touches others.
public struct RouteProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ value: UInt8) { rawValue = value }
    public static let redirect = RouteProtocol(1)
    public static let kernel = RouteProtocol(2)
    public static let boot = RouteProtocol(3)
    public static let `static` = RouteProtocol(4)
    public static let bird = RouteProtocol(12)
    public static let bgp = RouteProtocol(186)
    /// Caracal's default number; see deploy/rt_protos.d/caracal.conf.
    public static let caracal = RouteProtocol(201)
    public var description: String {
        switch rawValue {
        case 1: "redirect"; case 2: "kernel"; case 3: "boot"; case 4: "static"
        case 12: "bird"; case 186: "bgp"; case 201: "caracal"; default: "\(rawValue)"
        }
    }
}

/// The `rtm_scope` of a route.
public struct RouteScope: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let universe = RouteScope(rawValue: 0)
    public static let site = RouteScope(rawValue: 200)
    public static let link = RouteScope(rawValue: 253)
    public static let host = RouteScope(rawValue: 254)
    public static let nowhere = RouteScope(rawValue: 255)
    public var description: String {
        switch rawValue { case 0: "global"; case 200: "site"; case 253: "link"; case 254: "host"; case 255: "nowhere"; default: "\(rawValue)" }
    }
}

/// The `rtm_type` of a route. Caracal programs unicast and blackhole routes;
/// dumps of other daemons' routes may show the rest.
public struct RouteType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unicast = RouteType(rawValue: 1)
    public static let local = RouteType(rawValue: 2)
    public static let broadcast = RouteType(rawValue: 3)
    public static let anycast = RouteType(rawValue: 4)
    public static let multicast = RouteType(rawValue: 5)
    public static let blackhole = RouteType(rawValue: 6)
    public static let unreachable = RouteType(rawValue: 7)
    public static let prohibit = RouteType(rawValue: 8)
    public var description: String {
        switch rawValue {
        case 1: "unicast"; case 2: "local"; case 3: "broadcast"; case 4: "anycast"; case 5: "multicast"
        case 6: "blackhole"; case 7: "unreachable"; case 8: "prohibit"; default: "type \(rawValue)"
        }
    }
}

/// One way out: a gateway, a device, or both. A gateway of the other family
/// than the destination (IPv4 over an IPv6 next hop, RFC 8950) is sent as `RTA_VIA`.
public struct NextHop: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var gateway: IPAddress?
    public var interfaceIndex: UInt32
    /// ECMP weight, 1...256 (`rtnh_hops + 1`).
    public var weight: UInt16
    /// `RTNH_F_ONLINK`: the gateway is on the link even without a matching prefix.
    public var onLink: Bool

    public init(gateway: IPAddress? = nil, interfaceIndex: UInt32 = 0, weight: UInt16 = 1, onLink: Bool = false) {
        self.gateway = gateway
        self.interfaceIndex = interfaceIndex
        self.weight = weight
        self.onLink = onLink
    }

    public static func < (a: NextHop, b: NextHop) -> Bool {
        if a.interfaceIndex != b.interfaceIndex { return a.interfaceIndex < b.interfaceIndex }
        if a.gateway != b.gateway {
            guard let ga = a.gateway else { return true }
            guard let gb = b.gateway else { return false }
            return ga < gb
        }
        if a.weight != b.weight { return a.weight < b.weight }
        return !a.onLink && b.onLink
    }

    public var description: String {
        var parts: [String] = []
        if let gateway { parts.append("via \(gateway)") }
        if interfaceIndex != 0 { parts.append("dev #\(interfaceIndex)") }
        if weight != 1 { parts.append("weight \(weight)") }
        if onLink { parts.append("onlink") }
        return parts.joined(separator: " ")
    }
}

/// The next hops of a route in canonical (sorted) order, so two routes with
/// the same ECMP set compare equal whatever order they were given in. Holds a
/// single next hop without allocating.
public struct NextHops: RandomAccessCollection, Hashable, Sendable, ExpressibleByArrayLiteral {
    private var single: NextHop?
    private var many: [NextHop]

    public init(_ hops: some Sequence<NextHop>) {
        var all = Array(hops)
        if all.count <= 1 {
            single = all.first.map(Self.alone)
            many = []
        } else {
            all.sort()
            single = nil
            many = all
        }
    }
    public init(arrayLiteral elements: NextHop...) { self.init(elements) }
    public init(_ hop: NextHop) { single = Self.alone(hop); many = [] }

    /// A weight means nothing without other paths (the kernel keeps none for
    /// a single next hop), so a lone hop always has weight 1.
    private static func alone(_ hop: NextHop) -> NextHop {
        var hop = hop
        hop.weight = 1
        return hop
    }
    public static let none = NextHops([])

    public var startIndex: Int { 0 }
    public var endIndex: Int { single != nil ? 1 : many.count }
    public subscript(position: Int) -> NextHop { single ?? many[position] }
}

/// A kernel route as Caracal programs and reads it.
public struct Route: Hashable, Sendable, CustomStringConvertible {
    public var destination: IPPrefix
    public var type: RouteType
    public var table: RouteTable
    public var `protocol`: RouteProtocol
    public var scope: RouteScope
    /// `RTA_PRIORITY`. IPv6 stores 0 as 1024; `normalized` applies that.
    public var metric: UInt32
    /// Empty for blackholes; more than one makes an ECMP route (`RTA_MULTIPATH`).
    public var nextHops: NextHops

    public init(
        destination: IPPrefix, type: RouteType = .unicast, table: RouteTable = .main,
        protocol: RouteProtocol = .caracal, scope: RouteScope? = nil, metric: UInt32 = 0,
        nextHops: NextHops = .none
    ) {
        self.destination = destination
        self.type = type
        self.table = table
        self.protocol = `protocol`
        self.metric = metric
        self.nextHops = nextHops
        if let scope {
            self.scope = scope
        } else if destination.address.isIPv4 && type == .unicast && !nextHops.isEmpty && nextHops.allSatisfy({ $0.gateway == nil }) {
            self.scope = .link  // what `ip route add PREFIX dev X` chooses
        } else {
            self.scope = .universe
        }
    }

    /// A unicast route straight out of a device.
    public static func device(_ destination: IPPrefix, interfaceIndex: UInt32, table: RouteTable = .main,
                              protocol: RouteProtocol = .caracal, metric: UInt32 = 0) -> Route {
        Route(destination: destination, table: table, protocol: `protocol`, metric: metric,
              nextHops: NextHops(NextHop(interfaceIndex: interfaceIndex)))
    }

    /// A blackhole route (traffic is dropped silently).
    public static func blackhole(_ destination: IPPrefix, table: RouteTable = .main,
                                 protocol: RouteProtocol = .caracal, metric: UInt32 = 0) -> Route {
        Route(destination: destination, type: .blackhole, table: table, protocol: `protocol`, metric: metric)
    }

    public var isIPv4: Bool { if case .v4 = destination { true } else { false } }

    /// The route as the kernel will report it: IPv6 metric 0 becomes 1024
    /// (`IP6_RT_PRIO_USER`) and IPv6 has no scopes.
    public var normalized: Route {
        var copy = self
        if !isIPv4 {
            if copy.metric == 0 { copy.metric = 1024 }
            copy.scope = .universe
        }
        return copy
    }

    /// What identifies a route in the kernel's table: a second route with the
    /// same key replaces it rather than adding to it.
    public var key: RouteKey {
        RouteKey(destination: destination, table: table, metric: metric == 0 && !isIPv4 ? 1024 : metric)
    }

    public var description: String {
        var text = type == .unicast ? "\(destination)" : "\(type) \(destination)"
        for hop in nextHops { text += " " + hop.description }
        text += " table \(table) proto \(self.protocol)"
        if scope != .universe { text += " scope \(scope)" }
        if metric != 0 { text += " metric \(metric)" }
        return text
    }
}

/// The kernel's identity of a route within one family (we always use TOS 0).
public struct RouteKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var destination: IPPrefix
    public var table: RouteTable
    public var metric: UInt32
    public init(destination: IPPrefix, table: RouteTable, metric: UInt32) {
        self.destination = destination
        self.table = table
        self.metric = metric
    }
    public static func < (a: RouteKey, b: RouteKey) -> Bool {
        (a.destination, a.table.rawValue, a.metric) < (b.destination, b.table.rawValue, b.metric)
    }
    public var description: String { "\(destination) table \(table) metric \(metric)" }
}

