import ClusterModel
import CMnl
import IPAddressing
#if canImport(Glibc)
import Glibc
#endif

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
