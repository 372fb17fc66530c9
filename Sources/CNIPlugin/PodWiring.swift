import ClusterModel
import CNI
import IPAddressing
import NetNS
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// ptp-style wiring of one pod: a veth pair, no bridge, no encapsulation.
///
/// - Host side: a deterministic name (`crc` + 11 hex digits of a hash of the
///   attachment: container ID and `CNI_IFNAME`), a fixed MAC, no IP,
///   `proxy_arp` and IPv4 `forwarding` on, and a host route
///   `IP/32 dev crcX` per pod address.
/// - Pod side (`CNI_IFNAME`): the pod's IP as /32 (/128), the routes
///   `169.254.1.1 dev eth0 scope link` and `default via 169.254.1.1`, and for
///   IPv6 `default via fe80::ecee:eeff:feee:eeee` (the host side's
///   link-local, derived from its fixed MAC). A permanent neighbour entry for
///   169.254.1.1 means the pod never waits on ARP for its gateway.
public struct PodWiring: Sendable {
    public static let hostVethPrefix = "crc"
    public static let hostMAC = MACAddress("ee:ee:ee:ee:ee:ee")!
    public static let gateway4 = IPAddress("169.254.1.1")!
    /// EUI-64 link-local of `hostMAC` (RFC 4291 appendix A).
    public static let gateway6 = IPAddress("fe80::ecee:eeff:feee:eeee")!

    /// Where the plugin runs: the node's namespace (nil: the process's own).
    public var hostNamespace: NetworkNamespace?

    public init(hostNamespace: NetworkNamespace? = nil) { self.hostNamespace = hostNamespace }

    /// `crc` + the first 11 hex digits of FNV-1a-64 over
    /// "containerID/ifName", the spec's attachment key: each interface of a
    /// pod (a second network, Multus) and each sandbox of a pod gets its own
    /// host veth, so wiring one never finds another's veth "already there".
    /// 14 characters (the kernel allows 15).
    public static func hostVethName(containerID: String, ifName: String) -> String {
        let key = containerID + "/" + ifName
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        return hostVethPrefix + padded.prefix(11)
    }

    /// A random locally administered unicast MAC (what the kernel gives a
    /// veth end without one).
    static func randomMAC() -> MACAddress {
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255) }
        bytes[0] = (bytes[0] & 0xFE) | 0x02
        return MACAddress(bytes: bytes)!
    }

    public struct Wired: Sendable {
        public var hostMAC: String
        public var podMAC: String
        /// The pod's routes through this interface's gateway: the default
        /// routes for the pod's first attachment, the networks' prefixes
        /// for a later one.
        public var gatewayRoutes: [IPPrefix]
    }

    /// What `wire` managed to create, so a failure can be undone.
    public final class Progress: @unchecked Sendable {
        public var hostVethCreated = false
        public init() {}
    }

    /// The pair, once created: the indexes later steps need, and the route
    /// sockets of both namespaces (the pod's is opened once per ADD: it
    /// costs a thread that enters the namespace).
    public struct Pair: Sendable {
        public var hostIndex: UInt32
        public var podIndex: UInt32
        public var podMAC: String
        public var host: RTNetlink
        public var pod: RTNetlink
    }

    /// Step 1 (needs no address, so it runs while IPAM allocates): creates
    /// the pair, sets the host side up with `proxy_arp` (and, for IPv6, its
    /// fixed link-local address, added before the link is up so that it
    /// skips DAD). Throws `CNIError` 106 when the pod already has `ifName`;
    /// `progress` says whether there is a pair to undo.
    public func createPair(
        netns: String, ifName: String, hostVeth: String, mtu: Int, podMAC: MACAddress?, ipv6: Bool, progress: Progress
    ) throws -> Pair {
        let podNS = NetworkNamespace(path: netns)
        let host = try RTNetlink(namespace: hostNamespace)
        let pod = try RTNetlink(namespace: podNS)
        // The pod's MAC is chosen here (as the kernel would: random, locally
        // administered, unicast) unless the runtime asked for one, so that
        // the kernel's echo of the new pair is all ADD needs to know.
        let mac = podMAC ?? PodWiring.randomMAC()
        func create() throws -> Link? {
            try host.createVeth(
                name: hostVeth, peer: VethPeer(name: ifName, namespace: podNS, macAddress: mac), mtu: UInt32(mtu),
                macAddress: PodWiring.hostMAC)
        }
        var echoed: Link?
        do {
            echoed = try create()
        } catch let e as NetlinkError where e.errno == EEXIST {
            // Either the pod already has the interface (ADD must fail), or a
            // host veth of this name is left from an earlier sandbox of the
            // same pod that was never deleted (the name derives from the pod).
            if try pod.link(named: ifName) != nil {
                throw CNIError(.alreadyExists, "interface \(ifName) already exists in \(netns)")
            }
            guard let stale = try host.link(named: hostVeth) else { throw e }
            try host.deleteLink(index: stale.index)
            echoed = try create()
        }
        progress.hostVethCreated = true
        // Fault injection for the crash tests (docs/cni.md).
        if getenv("CARACAL_CNI_FAULT").map({ String(cString: $0) }) == "stop-after-veth" { raise(SIGSTOP) }
        // The echo carries the host end's index and, in IFLA_LINK, the pod
        // end's; kernels before 6.1 do not echo, so look both up there.
        let hostIndex: UInt32
        let podIndex: UInt32
        if let echoed, echoed.name == hostVeth, let peer = echoed.peerIndex {
            (hostIndex, podIndex) = (echoed.index, peer)
        } else {
            guard let hostLink = try host.link(named: hostVeth), let podLink = try pod.link(named: ifName) else {
                throw CNIError(.kernelFailure, "veth \(hostVeth) / \(ifName) vanished after creation")
            }
            (hostIndex, podIndex) = (hostLink.index, podLink.index)
        }
        if ipv6 {
            try ignoringExists {
                try host.addAddress(InterfaceAddress(
                    interfaceIndex: hostIndex, address: PodWiring.gateway6, prefixLength: 64, scope: .link,
                    flags: InterfaceAddress.noDAD))
            }
        }
        // proxy_arp, forwarding and up in one RTM_NEWLINK (no /proc write).
        // The veth's own forwarding switch decides whether what the pod
        // sends is forwarded; it is set here rather than trusted to follow
        // `all`, which concurrent writers can leave unpropagated
        // (docs/cni.md, "Forwarding").
        try host.setLink(index: hostIndex, LinkChange(up: true, ipv4ProxyARP: true, ipv4Forwarding: true))
        return Pair(hostIndex: hostIndex, podIndex: podIndex, podMAC: mac.description, host: host, pod: pod)
    }

    /// Whether the pod's `ifName` is the peer of the host veth `hostVeth`:
    /// a pair this plugin made (for an ADD that was interrupted).
    public func isOwnPair(netns: String, ifName: String, hostVeth: String) -> Bool {
        let podNS = NetworkNamespace(path: netns)
        guard let host = try? RTNetlink(namespace: hostNamespace), let pod = try? RTNetlink(namespace: podNS),
            let hostLink = (try? host.link(named: hostVeth)) ?? nil, let podLink = (try? pod.link(named: ifName)) ?? nil
        else { return false }
        return hostLink.kind == "veth" && hostLink.peerIndex == podLink.index && podLink.peerIndex == hostLink.index
    }

    /// Step 2: the pod's addresses, routes and gateway neighbour, and the
    /// host routes to the pod.
    ///
    /// A pod's first Caracal attachment gets the default routes. A later one
    /// (a second network, or Multus) finds a default route already there and
    /// routes only `networks` (its pools' prefixes) through its own
    /// gateway, so the first attachment keeps carrying everything else.
    public func configure(_ pair: Pair, ips: [IPAddress], networks: [IPPrefix]) throws -> Wired {
        let host = pair.host
        let pod = pair.pod
        let has4 = ips.contains { $0.isIPv4 }
        let has6 = ips.contains { $0.isIPv6 }
        if has4 { try enableForwarding(.ipv4Forwarding) }
        if has6 { try enableForwarding(.ipv6Forwarding) }
        let any4 = IPPrefix("0.0.0.0/0")!, any6 = IPPrefix("::/0")!
        // The routes through this interface's gateway: the defaults for the
        // pod's first attachment; for a later one only its networks, and the
        // gateway's link route with a metric of its own (the first one's
        // `169.254.1.1 dev eth0` has the same key).
        func appendRoutes(_ batch: NetlinkBatch, first: Bool) -> [IPPrefix] {
            let via4 = has4 ? (first ? [any4] : networks.filter(\.isIPv4)) : []
            let via6 = has6 ? (first ? [any6] : networks.filter { !$0.isIPv4 }) : []
            if has4 {
                batch.appendRoute(Route(
                    destination: IPPrefix(address: PodWiring.gateway4, length: 32)!, protocol: .boot, scope: .link,
                    metric: first ? 0 : pair.podIndex, nextHops: NextHops(NextHop(interfaceIndex: pair.podIndex))), .add)
            }
            for prefix in via4 + via6 {
                let gateway = prefix.isIPv4 ? PodWiring.gateway4 : PodWiring.gateway6
                batch.appendRoute(Route(
                    destination: prefix, protocol: .boot, nextHops: NextHops(NextHop(gateway: gateway, interfaceIndex: pair.podIndex))), .add)
            }
            return via4 + via6
        }
        // One batch per namespace, one round trip each (the kernel handles
        // a send's messages in order, so the link is up before the routes).
        var gatewayRoutes: [IPPrefix] = []
        do {
            try pod.perform { batch in
                for ip in ips {
                    batch.appendAddress(InterfaceAddress(
                        interfaceIndex: pair.podIndex, address: ip, prefixLength: ip.isIPv4 ? 32 : 128,
                        flags: ip.isIPv6 ? InterfaceAddress.noDAD : 0))
                }
                batch.appendLinkChange(index: pair.podIndex, LinkChange(up: true))
                if has4 { batch.appendNeighbor(Neighbor(interfaceIndex: pair.podIndex, address: PodWiring.gateway4, linkAddress: PodWiring.hostMAC)) }
                if has6 { batch.appendNeighbor(Neighbor(interfaceIndex: pair.podIndex, address: PodWiring.gateway6, linkAddress: PodWiring.hostMAC)) }
                gatewayRoutes = appendRoutes(batch, first: true)
            }
        } catch let e as NetlinkError where e.errno == EEXIST {
            // A later attachment (a second network, Multus): the pod's
            // default route is another interface's. Tried second so that the
            // common first attachment costs no extra round trip.
            try pod.perform { batch in gatewayRoutes = appendRoutes(batch, first: false) }
        }
        try addHostRoutes(host, ips: ips, hostIndex: pair.hostIndex)
        return Wired(hostMAC: PodWiring.hostMAC.description, podMAC: pair.podMAC, gatewayRoutes: gatewayRoutes)
    }

    static func hostPrefix(_ ip: IPAddress) -> IPPrefix { IPPrefix(address: ip, length: ip.isIPv4 ? 32 : 128)! }

    /// The host routes to the pod, added exclusively: a route that already
    /// leads elsewhere is replaced only when it is Caracal's route to
    /// another node (a sticky address that moved here); one that leads to
    /// another local interface (a live pod's veth) or that another daemon
    /// owns fails the ADD, naming it, instead of cutting that pod off.
    func addHostRoutes(_ host: RTNetlink, ips: [IPAddress], hostIndex: UInt32) throws {
        do {
            try host.perform { batch in
                for ip in ips { batch.appendRoute(Route.device(PodWiring.hostPrefix(ip), interfaceIndex: hostIndex), .add) }
            }
            return
        } catch let e as NetlinkError where e.errno == EEXIST {}
        // Some exist (the kernel went on past the failure): decide each.
        for ip in ips {
            let dst = PodWiring.hostPrefix(ip)
            let existing = try host.routes(RouteFilter(family: ip.isIPv4 ? .ipv4 : .ipv6, table: .main))
                .filter { $0.destination == dst && $0.type == .unicast }
            var takeover = false
            for route in existing where !route.nextHops.contains(where: { $0.interfaceIndex == hostIndex && $0.gateway == nil }) {
                let device = route.nextHops.first(where: { $0.gateway == nil })?.interfaceIndex
                if let device {
                    let name = (try? host.link(index: device))??.name ?? "ifindex \(device)"
                    throw CNIError(
                        .ipHeldByAnotherWorkload, "address \(ip) is routed to \(name) on this node",
                        details: "another attachment holds it (a live pod's veth); release it there first, or find who holds it with `caracal ipam show \(ip)`")
                }
                guard route.protocol == .caracal else {
                    throw CNIError(
                        .ipHeldByAnotherWorkload, "a route to \(dst) of another owner (protocol \(route.protocol)) exists on this node",
                        details: "Caracal replaces only its own routes")
                }
                takeover = true
            }
            if takeover || existing.isEmpty {
                try host.replaceRoute(Route.device(dst, interfaceIndex: hostIndex))
            }
        }
    }

    private func enableForwarding(_ sysctl: InterfaceSysctl) throws {
        if try sysctl.read(interface: "all", namespace: hostNamespace) != "1" {
            try sysctl.write("1", interface: "all", namespace: hostNamespace)
        }
    }

    private func ignoringExists(_ body: () throws -> Void) throws {
        do { try body() } catch let e as NetlinkError where e.errno == EEXIST {}
    }

    /// Whether `namespace` is the node's own (where the host veths live).
    public func isHostNamespace(_ namespace: NetworkNamespace) -> Bool {
        namespace.isSame(as: hostNamespace ?? .current)
    }

    /// Deletes the pod interface (which takes its veth peer with it) and the
    /// host veth. Missing namespaces and links are not errors. A "pod"
    /// namespace that is the node's own is never touched (its `ifName` is a
    /// node interface).
    public func unwire(netns: String?, ifName: String, hostVeth: String?) throws {
        // Deleting the host end removes the pod end too, and needs no thread
        // inside the pod's namespace.
        if let hostVeth {
            let host = try RTNetlink(namespace: hostNamespace)
            if let link = try host.link(named: hostVeth) {
                try ignoringMissing { try host.deleteLink(index: link.index) }
                return
            }
        }
        if let netns {
            let podNS = NetworkNamespace(path: netns)
            if podNS.isNetworkNamespace, !isHostNamespace(podNS), let pod = try? RTNetlink(namespace: podNS),
                let link = try pod.link(named: ifName)
            {
                try ignoringMissing { try pod.deleteLink(index: link.index) }
            }
        }
    }

    private func ignoringMissing(_ body: () throws -> Void) throws {
        do { try body() } catch let e as NetlinkError where e.errno == ENODEV || e.errno == ENOENT || e.errno == ESRCH {}
    }

    /// Whether `link` looks like one of Caracal's host veths.
    public static func isHostVeth(_ link: Link) -> Bool {
        link.name.hasPrefix(hostVethPrefix) && link.name.count == 14 && link.kind == "veth"
    }

    /// Deletes the node's conntrack entries that name any of `ips`, so a
    /// released address starts with no flows of its previous holder
    /// (docs/cni.md, "Released addresses"). Returns how many went.
    @discardableResult
    public func forgetConnections(of ips: [IPAddress]) throws -> Int {
        guard !ips.isEmpty else { return 0 }
        return try ConntrackTable(namespace: hostNamespace).deleteEntries(involving: Set(ips))
    }

    /// Host links that look like Caracal's host veths.
    public func hostVeths() throws -> [String] {
        try RTNetlink(namespace: hostNamespace).links().filter(PodWiring.isHostVeth).map(\.name)
    }

    /// Deletes the host routes to `ips` out of `hostVeth` (missing ones
    /// are not errors).
    public func removeHostRoutes(_ ips: [IPAddress], hostVeth: String?) throws {
        let host = try RTNetlink(namespace: hostNamespace)
        guard let hostVeth, let link = try host.link(named: hostVeth) else { return }
        for ip in ips {
            try ignoringMissing {
                try host.deleteRoute(Route.device(PodWiring.hostPrefix(ip), interfaceIndex: link.index))
            }
        }
    }

    /// Verifies everything `wire` set up; returns the differences found.
    public func verify(netns: String, ifName: String, hostVeth: String, ips: [IPAddress]) throws -> [String] {
        var drift: [String] = []
        let podNS = NetworkNamespace(path: netns)
        guard podNS.exists else { return ["network namespace \(netns) is gone"] }
        let pod = try RTNetlink(namespace: podNS)
        let host = try RTNetlink(namespace: hostNamespace)
        guard let podLink = try pod.link(named: ifName) else { return ["interface \(ifName) is missing in \(netns)"] }
        if !podLink.isUp { drift.append("interface \(ifName) is down") }
        let addresses = try pod.addresses(interfaceIndex: podLink.index)
        for ip in ips where !addresses.contains(where: { $0.address == ip && Int($0.prefixLength) == (ip.isIPv4 ? 32 : 128) }) {
            drift.append("address \(ip)/\(ip.isIPv4 ? 32 : 128) is missing on \(ifName)")
        }
        if ips.contains(where: \.isIPv4) {
            let routes = try pod.routes(RouteFilter(family: .ipv4, table: .main))
            if !routes.contains(where: { $0.destination == IPPrefix(address: PodWiring.gateway4, length: 32)! && $0.nextHops.contains { $0.interfaceIndex == podLink.index && $0.gateway == nil } }) {
                drift.append("route 169.254.1.1 dev \(ifName) scope link is missing")
            }
            if !routes.contains(where: { $0.destination == IPPrefix("0.0.0.0/0")! && $0.nextHops.contains { $0.gateway == PodWiring.gateway4 } }) {
                drift.append("route default via 169.254.1.1 is missing")
            }
        }
        if ips.contains(where: \.isIPv6) {
            let routes = try pod.routes(RouteFilter(family: .ipv6, table: .main))
            if !routes.contains(where: { $0.destination == IPPrefix("::/0")! && $0.nextHops.contains { $0.gateway == PodWiring.gateway6 } }) {
                drift.append("route default via \(PodWiring.gateway6) is missing")
            }
        }
        guard let hostLink = try host.link(named: hostVeth) else {
            drift.append("host veth \(hostVeth) is missing")
            return drift
        }
        if !hostLink.isUp { drift.append("host veth \(hostVeth) is down") }
        if ips.contains(where: \.isIPv4) {
            if try InterfaceSysctl.ipv4ProxyARP.read(interface: hostVeth, namespace: hostNamespace) != "1" {
                drift.append("proxy_arp is off on \(hostVeth)")
            }
            if try InterfaceSysctl.ipv4Forwarding.read(interface: hostVeth, namespace: hostNamespace) != "1" {
                drift.append("forwarding is off on \(hostVeth): the pod's traffic is not forwarded")
            }
        }
        for fam in [RouteFilter.Family.ipv4, .ipv6] {
            let mine = ips.filter { $0.isIPv4 == (fam == .ipv4) }
            if mine.isEmpty { continue }
            let routes = try host.routes(RouteFilter(family: fam, table: .main))
            for ip in mine {
                let dst = PodWiring.hostPrefix(ip)
                if !routes.contains(where: { $0.destination == dst && $0.nextHops.contains { $0.interfaceIndex == hostLink.index } }) {
                    drift.append("host route \(dst) dev \(hostVeth) is missing")
                }
            }
        }
        return drift
    }
}
