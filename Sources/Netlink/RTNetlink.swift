import ClusterModel
import CMnl
import IPAddressing
import NetNS
#if canImport(Glibc)
import Glibc
#endif

/// Typed rtnetlink operations (routes, links, addresses, neighbours) over one
/// `NETLINK_ROUTE` socket, bound to the namespace it was opened for.
public final class RTNetlink: Sendable {
    public let socket: NetlinkSocket

    /// Opens a route socket in `namespace` (nil: the caller's namespace).
    public init(namespace: NetworkNamespace? = nil, receiveTimeout: Duration = .seconds(5)) throws {
        socket = try NetlinkSocket(.route, namespace: namespace, receiveTimeout: receiveTimeout)
    }

    public init(socket: NetlinkSocket) { self.socket = socket }

    // MARK: Routes

    public func addRoute(_ route: Route) throws { try perform { $0.appendRoute(route, .add) } }
    public func replaceRoute(_ route: Route) throws { try perform { $0.appendRoute(route, .replace) } }
    public func deleteRoute(_ route: Route) throws { try perform { $0.appendRoute(route, .delete) } }

    /// Applies many route changes in batched sends. Each failure comes back
    /// with `messageIndex` equal to its position in `changes`. Messages are
    /// encoded one send's worth at a time into a reused buffer, so memory
    /// stays bounded and the kernel copies from cache-hot pages.
    public func apply(
        _ changes: some Collection<(Route, RouteOperation)>, acknowledgement: NetlinkAcknowledgement = .everyMessage
    ) throws -> NetlinkBatchResult {
        try applyStreaming(count: changes.count, acknowledgement: acknowledgement) { batch, range in
            for (route, operation) in changes.dropFirst(range.lowerBound).prefix(range.count) { batch.appendRoute(route, operation) }
        }
    }

    /// Applies one operation to many routes (see `apply(_:acknowledgement:)`).
    public func apply(
        _ routes: [Route], _ operation: RouteOperation, acknowledgement: NetlinkAcknowledgement = .everyMessage
    ) throws -> NetlinkBatchResult {
        try applyStreaming(count: routes.count, acknowledgement: acknowledgement) { batch, range in
            for index in range { batch.appendRoute(routes[index], operation) }
        }
    }

    /// Messages encoded per send by `apply`.
    public static let messagesPerSend = 1024

    private func applyStreaming(
        count: Int, acknowledgement: NetlinkAcknowledgement, encode: (NetlinkBatch, Range<Int>) -> Void
    ) throws -> NetlinkBatchResult {
        let batch = NetlinkBatch(capacity: Self.messagesPerSend * 96)
        var failures: [NetlinkError] = []
        var start = 0
        while start < count {
            let range = start..<min(count, start + Self.messagesPerSend)
            batch.removeAll()
            encode(batch, range)
            for var failure in try socket.execute(batch, acknowledgement: acknowledgement).failures {
                failure.messageIndex = failure.messageIndex.map { $0 + start }
                failures.append(failure)
            }
            start = range.upperBound
        }
        return NetlinkBatchResult(messageCount: count, failures: failures)
    }

    /// Dumps routes matching `filter`; the kernel does the filtering.
    public func routes(_ filter: RouteFilter) throws -> [Route] {
        var routes: [Route] = []
        try forEachRoute(filter) { routes.append($0) }
        return routes
    }

    /// Streams a filtered route dump without collecting it.
    /// A table that does not exist yet (nothing was ever added to it) dumps as empty.
    public func forEachRoute(_ filter: RouteFilter, _ body: (Route) throws -> Void) throws {
        do {
            try dumpRoutes(filter, body)
        } catch let error as NetlinkError where error.errno == ENOENT && filter.table != nil && error.operation == "RTM_GETROUTE" {
            return  // "FIB table does not exist"
        }
    }

    private func dumpRoutes(_ filter: RouteFilter, _ body: (Route) throws -> Void) throws {
        try socket.dump(type: UInt16(RTM_GETROUTE), request: { writeRouteDumpRequest($0, filter) }) { message in
            guard message.type == UInt16(RTM_NEWROUTE), let route = try Route.decode(message) else { return }
            // Old kernels ignore some filters; enforce them here too.
            if let table = filter.table, route.table != table { return }
            if let proto = filter.protocol, route.protocol != proto { return }
            if let type = filter.type, route.type != type { return }
            if let index = filter.outputInterface, !route.nextHops.contains(where: { $0.interfaceIndex == index }) { return }
            try body(route)
        }
    }

    // MARK: Links

    /// Creates a veth pair `name` ↔ `peer.name`. The peer is created directly
    /// in `peer.namespace` (`IFLA_NET_NS_FD`), so it never appears here. Both
    /// ends start down: the kernel rejects `IFF_UP` on the peer at creation,
    /// so bring each end up with `setLink` afterwards.
    /// Returns the new first end as the kernel echoes it (`NLM_F_ECHO`,
    /// Linux 6.1+): its index, and the peer's index in `peerIndex`; nil from
    /// kernels that do not echo (look the links up then).
    @discardableResult
    public func createVeth(name: String, peer: VethPeer, mtu: UInt32? = nil, macAddress: MACAddress? = nil) throws -> Link? {
        try withNamespaceDescriptor(peer.namespace) { namespaceFD in
            var created: Link?
            try socket.query(type: UInt16(RTM_NEWLINK), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO), request: { message in
                message.put(header: ifinfomsg())
                message.put(UInt16(IFLA_IFNAME), string: name)
                if let mtu { message.put(UInt16(IFLA_MTU), mtu) }
                if let macAddress { macAddress.bytes.withUnsafeBytes { message.put(UInt16(IFLA_ADDRESS), bytes: $0) } }
                message.nested(UInt16(IFLA_LINKINFO)) {
                    message.put(UInt16(IFLA_INFO_KIND), string: "veth")
                    message.nested(UInt16(IFLA_INFO_DATA)) {
                        message.nested(UInt16(VETH_INFO_PEER)) {
                            // The peer's own ifinfomsg, then its attributes.
                            message.put(header: ifinfomsg())
                            message.put(UInt16(IFLA_IFNAME), string: peer.name)
                            if let mtu { message.put(UInt16(IFLA_MTU), mtu) }
                            if let mac = peer.macAddress { mac.bytes.withUnsafeBytes { message.put(UInt16(IFLA_ADDRESS), bytes: $0) } }
                            if let namespaceFD { message.put(UInt16(IFLA_NET_NS_FD), UInt32(bitPattern: namespaceFD)) }
                        }
                    }
                }
            }) { reply in
                if reply.type == UInt16(RTM_NEWLINK) { created = try Link.decode(reply) }
            }
            return created
        }
    }

    /// Changes flags, MTU, MAC address, name, namespace, group or proxy_arp
    /// of link `index` in one request.
    public func setLink(index: UInt32, _ change: LinkChange) throws {
        try withNamespaceDescriptor(change.namespace) { namespaceFD in
            try perform { $0.appendLinkChange(index: index, change, namespaceFD: namespaceFD) }
        }
    }

    /// Sets the interface group of many links, named, in batched sends (the
    /// kernel finds a link by `IFLA_IFNAME` when the index is 0). Returns
    /// the names that do not exist (ENODEV); other failures throw.
    @discardableResult
    public func setLinkGroups(_ groups: [(name: String, group: UInt32)]) throws -> [String] {
        let result = try applyStreaming(count: groups.count, acknowledgement: .everyMessage) { batch, range in
            for index in range {
                batch.append(type: UInt16(RTM_NEWLINK)) { message in
                    message.put(header: ifinfomsg())
                    message.put(UInt16(IFLA_IFNAME), string: groups[index].name)
                    message.put(UInt16(IFLA_GROUP), groups[index].group)
                }
            }
        }
        var missing: [String] = []
        for failure in result.failures {
            guard failure.errno == ENODEV, let index = failure.messageIndex else { throw failure }
            missing.append(groups[index].name)
        }
        return missing
    }

    /// Sets the interface group of link `name`; false when there is no such link.
    public func setLinkGroup(named name: String, _ group: UInt32) throws -> Bool {
        try setLinkGroups([(name, group)]).isEmpty
    }

    public func setLinkUp(index: UInt32, _ up: Bool = true) throws { try setLink(index: index, LinkChange(up: up)) }

    /// Deletes link `index` (for a veth, both ends go).
    public func deleteLink(index: UInt32) throws {
        try perform { batch in
            batch.append(type: UInt16(RTM_DELLINK)) { message in
                var header = ifinfomsg()
                header.ifi_index = Int32(bitPattern: index)
                message.put(header: header)
            }
        }
    }

    /// The link called `name`, or nil when there is none.
    public func link(named name: String) throws -> Link? {
        try getLink { message in
            message.put(header: ifinfomsg())
            message.put(UInt16(IFLA_IFNAME), string: name)
        }
    }

    /// The link with index `index`, or nil when there is none.
    public func link(index: UInt32) throws -> Link? {
        try getLink { message in
            var header = ifinfomsg()
            header.ifi_index = Int32(bitPattern: index)
            message.put(header: header)
        }
    }

    /// All links of the namespace.
    public func links() throws -> [Link] {
        var links: [Link] = []
        try socket.dump(type: UInt16(RTM_GETLINK), request: { $0.put(header: ifinfomsg()) }) { message in
            guard message.type == UInt16(RTM_NEWLINK) else { return }
            links.append(try Link.decode(message))
        }
        return links
    }

    private func getLink(_ request: (NetlinkMessageWriter) -> Void) throws -> Link? {
        do {
            var found: Link? = nil
            try socket.query(type: UInt16(RTM_GETLINK), request: request) { message in
                if message.type == UInt16(RTM_NEWLINK) { found = try Link.decode(message) }
            }
            return found
        } catch let error as NetlinkError where error.errno == ENODEV {
            return nil
        }
    }

    // MARK: Addresses

    public func addAddress(_ address: InterfaceAddress) throws {
        try perform { $0.appendAddress(address) }
    }

    public func deleteAddress(_ address: InterfaceAddress) throws {
        try perform { $0.appendAddress(address, delete: true) }
    }

    /// Addresses of one family, optionally of one interface (filtered in the kernel).
    public func addresses(family: RouteFilter.Family? = nil, interfaceIndex: UInt32? = nil) throws -> [InterfaceAddress] {
        var result: [InterfaceAddress] = []
        try socket.dump(type: UInt16(RTM_GETADDR), request: { message in
            var header = ifaddrmsg()
            header.ifa_family = family?.addressFamily ?? 0
            header.ifa_index = interfaceIndex ?? 0
            message.put(header: header)
        }) { message in
            guard message.type == UInt16(RTM_NEWADDR), let address = try InterfaceAddress.decode(message) else { return }
            // Checked again: a kernel without strict dump checking ignores the filter.
            if let interfaceIndex, address.interfaceIndex != interfaceIndex { return }
            result.append(address)
        }
        return result
    }

    // MARK: Neighbours

    /// Adds or replaces a neighbour entry.
    public func setNeighbor(_ neighbor: Neighbor) throws {
        try perform { $0.appendNeighbor(neighbor) }
    }

    public func deleteNeighbor(_ neighbor: Neighbor) throws {
        try perform { $0.appendNeighbor(neighbor, delete: true) }
    }

    /// Neighbour entries, optionally of one family and interface (filtered in the kernel).
    public func neighbors(family: RouteFilter.Family? = nil, interfaceIndex: UInt32? = nil, proxy: Bool = false) throws -> [Neighbor] {
        var result: [Neighbor] = []
        try socket.dump(type: UInt16(RTM_GETNEIGH), request: { message in
            var header = ndmsg()
            header.ndm_family = family?.addressFamily ?? 0
            header.ndm_flags = proxy ? UInt8(NTF_PROXY) : 0
            message.put(header: header)
            if let interfaceIndex { message.put(UInt16(NDA_IFINDEX), interfaceIndex) }
        }) { message in
            guard message.type == UInt16(RTM_NEWNEIGH), let neighbor = try Neighbor.decode(message) else { return }
            // Checked again: a kernel without strict dump checking ignores the filter.
            if let interfaceIndex, neighbor.interfaceIndex != interfaceIndex { return }
            result.append(neighbor)
        }
        return result
    }

    // MARK: Helpers

    /// Sends the messages `build` appends in one `sendmsg`, each with its own
    /// ACK, and throws the first failure (the kernel handles them in order
    /// and goes on after a failure). One round trip for a run of changes.
    public func perform(_ build: (NetlinkBatch) throws -> Void) throws {
        let batch = NetlinkBatch(capacity: 1024)
        try build(batch)
        try socket.perform(batch)
    }
}

/// IPV4_DEVCONF_FORWARDING and IPV4_DEVCONF_PROXY_ARP (linux/ip.h): the
/// attribute types of `forwarding` and `proxy_arp` inside IFLA_INET_CONF
/// (1-based devconf indexes).
let ipv4DevconfForwarding: UInt16 = 1
let ipv4DevconfProxyARP: UInt16 = 3

extension NetlinkBatch {
    /// Appends an RTM_NEWLINK changing link `index` (see `LinkChange`);
    /// `namespaceFD` moves it to that namespace.
    public func appendLinkChange(index: UInt32, _ change: LinkChange, namespaceFD: Int32? = nil) {
        append(type: UInt16(RTM_NEWLINK)) { message in
            var header = ifinfomsg()
            header.ifi_index = Int32(bitPattern: index)
            if let up = change.up {
                header.ifi_change = UInt32(IFF_UP)
                header.ifi_flags = up ? UInt32(IFF_UP) : 0
            }
            message.put(header: header)
            if let name = change.name { message.put(UInt16(IFLA_IFNAME), string: name) }
            if let mtu = change.mtu { message.put(UInt16(IFLA_MTU), mtu) }
            if let mac = change.macAddress { mac.bytes.withUnsafeBytes { message.put(UInt16(IFLA_ADDRESS), bytes: $0) } }
            if let namespaceFD { message.put(UInt16(IFLA_NET_NS_FD), UInt32(bitPattern: namespaceFD)) }
            if let group = change.group { message.put(UInt16(IFLA_GROUP), group) }
            if change.ipv4ProxyARP != nil || change.ipv4Forwarding != nil {
                // IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { FORWARDING, PROXY_ARP: u32 } } }
                // (net/ipv4/devinet.c inet_set_link_af).
                message.nested(UInt16(IFLA_AF_SPEC)) {
                    message.nested(UInt16(AF_INET)) {
                        message.nested(UInt16(IFLA_INET_CONF)) {
                            if let forwarding = change.ipv4Forwarding {
                                message.put(ipv4DevconfForwarding, UInt32(forwarding ? 1 : 0))
                            }
                            if let proxyARP = change.ipv4ProxyARP {
                                message.put(ipv4DevconfProxyARP, UInt32(proxyARP ? 1 : 0))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Appends an RTM_NEWADDR (create, exclusive) or RTM_DELADDR.
    public func appendAddress(_ address: InterfaceAddress, delete: Bool = false) {
        append(type: UInt16(delete ? RTM_DELADDR : RTM_NEWADDR), flags: delete ? 0 : UInt16(NLM_F_CREATE | NLM_F_EXCL)) { message in
            var header = ifaddrmsg()
            header.ifa_family = family(of: address.address)
            header.ifa_prefixlen = address.prefixLength
            header.ifa_scope = address.scope.rawValue
            header.ifa_index = address.interfaceIndex
            header.ifa_flags = UInt8(truncatingIfNeeded: address.flags)
            message.put(header: header)
            putAddress(message, UInt16(IFA_LOCAL), address.address)
            putAddress(message, UInt16(IFA_ADDRESS), address.address)
            if address.flags > 0xff { message.put(UInt16(IFA_FLAGS), address.flags) }
        }
    }

    /// Appends an RTM_NEWNEIGH (create or replace) or RTM_DELNEIGH.
    public func appendNeighbor(_ neighbor: Neighbor, delete: Bool = false) {
        append(type: UInt16(delete ? RTM_DELNEIGH : RTM_NEWNEIGH), flags: delete ? 0 : UInt16(NLM_F_CREATE | NLM_F_REPLACE)) { message in
            var header = ndmsg()
            header.ndm_family = family(of: neighbor.address)
            header.ndm_ifindex = Int32(bitPattern: neighbor.interfaceIndex)
            header.ndm_state = neighbor.state
            header.ndm_flags = neighbor.flags
            message.put(header: header)
            putAddress(message, UInt16(NDA_DST), neighbor.address)
            if let mac = neighbor.linkAddress, !delete {
                mac.bytes.withUnsafeBytes { message.put(UInt16(NDA_LLADDR), bytes: $0) }
            }
        }
    }
}
