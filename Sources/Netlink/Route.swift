import CMnl
import IPAddressing
#if canImport(Glibc)
import Glibc
#endif

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

/// What a dump of routes asks the kernel for; with strict checking the
/// kernel applies each given field as a filter.
public struct RouteFilter: Hashable, Sendable {
    public enum Family: Sendable, Hashable {
        case ipv4, ipv6
        /// The `AF_*` number netlink headers carry.
        var addressFamily: UInt8 { self == .ipv4 ? UInt8(AF_INET) : UInt8(AF_INET6) }
    }
    public var family: Family
    public var table: RouteTable?
    public var `protocol`: RouteProtocol?
    public var type: RouteType?
    /// Only routes with a next hop through this interface (`RTA_OIF`).
    public var outputInterface: UInt32?
    public init(family: Family, table: RouteTable? = nil, protocol: RouteProtocol? = nil, type: RouteType? = nil,
                outputInterface: UInt32? = nil) {
        self.family = family
        self.table = table
        self.protocol = `protocol`
        self.type = type
        self.outputInterface = outputInterface
    }
}

// MARK: - Encoding

/// How a route message changes the kernel.
public enum RouteOperation: Sendable {
    /// Create; fails with `EEXIST` if any route (ours or not) holds the key.
    case add
    /// Create or overwrite the route at this key.
    case replace
    /// Delete; only a route carrying the same protocol number matches.
    case delete
}

@inline(__always) func putAddress(_ message: NetlinkMessageWriter, _ type: UInt16, _ address: IPAddress) {
    switch address {
    case .v4(let a): message.put(type, a.value.bigEndian)
    case .v6(let a):
        var raw = (a.high.bigEndian, a.low.bigEndian)
        withUnsafeBytes(of: &raw) { message.put(type, bytes: $0) }
    }
}

@inline(__always) func decodeAddress(_ value: UnsafeRawBufferPointer, family: UInt8) -> IPAddress? {
    if family == UInt8(AF_INET), value.count == 4 {
        return .v4(IPv4Address(UInt32(bigEndian: value.loadUnaligned(as: UInt32.self))))
    }
    if family == UInt8(AF_INET6), value.count == 16 {
        return .v6(IPv6Address(high: UInt64(bigEndian: value.loadUnaligned(as: UInt64.self)),
                               low: UInt64(bigEndian: value.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))
    }
    return nil
}

@inline(__always) func family(of address: IPAddress) -> UInt8 {
    (address.isIPv4 ? RouteFilter.Family.ipv4 : .ipv6).addressFamily
}

extension NetlinkBatch {
    /// Appends one route message.
    public func appendRoute(_ route: Route, _ operation: RouteOperation) {
        let flags: Int32
        switch operation {
        case .add: flags = NLM_F_CREATE | NLM_F_EXCL
        case .replace: flags = NLM_F_CREATE | NLM_F_REPLACE
        case .delete: flags = 0
        }
        let type = operation == .delete ? RTM_DELROUTE : RTM_NEWROUTE
        append(type: UInt16(type), flags: UInt16(flags)) { message in
            let routeFamily = family(of: route.destination.address)
            var header = rtmsg()
            header.rtm_family = routeFamily
            header.rtm_dst_len = UInt8(route.destination.length)
            header.rtm_table = route.table.rawValue < 256 ? UInt8(route.table.rawValue) : UInt8(RT_TABLE_COMPAT.rawValue)
            header.rtm_protocol = route.protocol.rawValue
            header.rtm_type = route.type.rawValue
            if operation == .delete {
                header.rtm_scope = RouteScope.nowhere.rawValue
            } else {
                header.rtm_scope = route.scope.rawValue
                if route.nextHops.count == 1 && route.nextHops[0].onLink { header.rtm_flags = UInt32(RTNH_F_ONLINK) }
            }
            message.put(header: header)
            if route.destination.length > 0 { putAddress(message, UInt16(RTA_DST.rawValue), route.destination.address) }
            if route.table.rawValue >= 256 { message.put(UInt16(RTA_TABLE.rawValue), route.table.rawValue) }
            if route.metric != 0 { message.put(UInt16(RTA_PRIORITY.rawValue), route.metric) }
            guard operation != .delete else { return }
            if route.nextHops.count == 1 {
                let hop = route.nextHops[0]
                if let gateway = hop.gateway { putGateway(message, gateway, routeFamily: routeFamily) }
                if hop.interfaceIndex != 0 { message.put(UInt16(RTA_OIF.rawValue), hop.interfaceIndex) }
            } else if route.nextHops.count > 1 {
                message.container(UInt16(RTA_MULTIPATH.rawValue)) {
                    for hop in route.nextHops {
                        var nexthop = rtnexthop()
                        nexthop.rtnh_flags = hop.onLink ? UInt8(RTNH_F_ONLINK) : 0
                        nexthop.rtnh_hops = UInt8(clamping: max(Int(hop.weight), 1) - 1)
                        nexthop.rtnh_ifindex = Int32(bitPattern: hop.interfaceIndex)
                        message.sized(header: nexthop, lengthOffset: 0) {
                            if let gateway = hop.gateway { putGateway(message, gateway, routeFamily: routeFamily) }
                        }
                    }
                }
            }
        }
    }

    private func putGateway(_ message: NetlinkMessageWriter, _ gateway: IPAddress, routeFamily: UInt8) {
        if family(of: gateway) == routeFamily {
            putAddress(message, UInt16(RTA_GATEWAY.rawValue), gateway)
        } else {
            // struct rtvia: a 16-bit family, then the address.
            var bytes: [UInt8] = [0, 0] + gateway.bytes
            let gatewayFamily = UInt16(family(of: gateway))
            withUnsafeBytes(of: gatewayFamily) { bytes[0] = $0[0]; bytes[1] = $0[1] }
            bytes.withUnsafeBytes { message.put(UInt16(RTA_VIA.rawValue), bytes: $0) }
        }
    }

}

func writeRouteDumpRequest(_ message: NetlinkMessageWriter, _ filter: RouteFilter) {
    var header = rtmsg()
    header.rtm_family = filter.family.addressFamily
    if let table = filter.table {
        header.rtm_table = table.rawValue < 256 ? UInt8(table.rawValue) : UInt8(RT_TABLE_COMPAT.rawValue)
    }
    header.rtm_protocol = filter.protocol?.rawValue ?? 0
    header.rtm_type = filter.type?.rawValue ?? 0
    message.put(header: header)
    if let table = filter.table, table.rawValue >= 256 { message.put(UInt16(RTA_TABLE.rawValue), table.rawValue) }
    if let index = filter.outputInterface { message.put(UInt16(RTA_OIF.rawValue), index) }
}

// MARK: - Decoding

extension Route {
    /// Decodes an `RTM_NEWROUTE`/`RTM_DELROUTE` message. Returns nil for
    /// routes Caracal does not model (other families, source-specific or
    /// TOS routes, cloned cache entries); throws on malformed bytes.
    public static func decode(_ message: NetlinkMessage) throws -> Route? {
        let header = try message.header(as: rtmsg.self)
        let routeFamily = header.rtm_family
        guard routeFamily == UInt8(AF_INET) || routeFamily == UInt8(AF_INET6) else { return nil }
        guard header.rtm_src_len == 0, header.rtm_tos == 0, header.rtm_flags & UInt32(RTM_F_CLONED) == 0 else { return nil }
        var destination: IPAddress? = nil
        var table = UInt32(header.rtm_table)
        var metric: UInt32 = 0
        var gateway: IPAddress? = nil
        var interfaceIndex: UInt32 = 0
        var multipath: UnsafeRawBufferPointer? = nil
        var hasSource = false
        try message.attributes(after: MemoryLayout<rtmsg>.size).forEach { attribute in
            switch attribute.type {
            case UInt16(RTA_DST.rawValue):
                guard let address = decodeAddress(attribute.value, family: routeFamily) else {
                    throw NetlinkError.malformed("RTA_DST of \(attribute.value.count) bytes")
                }
                destination = address
            case UInt16(RTA_TABLE.rawValue): table = attribute.u32 ?? table
            case UInt16(RTA_PRIORITY.rawValue): metric = attribute.u32 ?? 0
            case UInt16(RTA_OIF.rawValue): interfaceIndex = attribute.u32 ?? 0
            case UInt16(RTA_GATEWAY.rawValue): gateway = decodeAddress(attribute.value, family: routeFamily)
            case UInt16(RTA_VIA.rawValue): gateway = decodeVia(attribute.value)
            case UInt16(RTA_MULTIPATH.rawValue): multipath = attribute.value
            case UInt16(RTA_SRC.rawValue): hasSource = true
            default: break
            }
        }
        if hasSource { return nil }
        let length = Int(header.rtm_dst_len)
        let address = destination ?? (routeFamily == UInt8(AF_INET) ? .v4(.any) : .v6(.any))
        guard let prefix = IPPrefix(address: address, length: length) else {
            throw NetlinkError.malformed("route prefix length \(length)")
        }
        let onLink = header.rtm_flags & UInt32(RTNH_F_ONLINK) != 0
        var hops = NextHops.none
        if header.rtm_type != RouteType.unicast.rawValue {
            // Blackhole and similar routes have no way out; IPv6 reports `lo`.
        } else if let multipath {
            var list: [NextHop] = []
            var offset = 0
            while multipath.count - offset >= 8 {
                let length = Int(multipath.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
                guard length >= 8, length <= multipath.count - offset else {
                    throw NetlinkError.malformed("rtnexthop length \(length)")
                }
                let flags = multipath.load(fromByteOffset: offset + 2, as: UInt8.self)
                let weight = UInt16(multipath.load(fromByteOffset: offset + 3, as: UInt8.self)) + 1
                let index = multipath.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                var hopGateway: IPAddress? = nil
                try NetlinkAttributes(UnsafeRawBufferPointer(rebasing: multipath[(offset + 8)..<(offset + length)])).forEach { attribute in
                    if attribute.type == UInt16(RTA_GATEWAY.rawValue) { hopGateway = decodeAddress(attribute.value, family: routeFamily) }
                    if attribute.type == UInt16(RTA_VIA.rawValue) { hopGateway = decodeVia(attribute.value) }
                }
                list.append(NextHop(gateway: hopGateway, interfaceIndex: index, weight: weight,
                                    onLink: flags & UInt8(RTNH_F_ONLINK) != 0))
                offset += netlinkAlign(length)
            }
            // A hop with neither gateway nor device leads nowhere; drop it.
            hops = NextHops(list.filter { $0.gateway != nil || $0.interfaceIndex != 0 })
        } else if gateway != nil || interfaceIndex != 0 {
            hops = NextHops(NextHop(gateway: gateway, interfaceIndex: interfaceIndex, onLink: onLink))
        }
        return Route(destination: prefix, type: RouteType(rawValue: header.rtm_type), table: RouteTable(table),
                     protocol: RouteProtocol(header.rtm_protocol), scope: RouteScope(rawValue: header.rtm_scope),
                     metric: metric, nextHops: hops)
    }
}

private func decodeVia(_ value: UnsafeRawBufferPointer) -> IPAddress? {
    guard value.count >= 2 else { return nil }
    let viaFamily = value.loadUnaligned(as: UInt16.self)
    return decodeAddress(UnsafeRawBufferPointer(rebasing: value[2...]), family: UInt8(truncatingIfNeeded: viaFamily))
}
