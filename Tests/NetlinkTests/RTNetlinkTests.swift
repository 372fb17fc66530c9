import ClusterModel
import IPAddressing
import NetNS
import Testing
import TestSupport
@testable import Netlink
#if canImport(Glibc)
import Glibc
#endif

func prefix(_ text: String) -> IPPrefix { IPPrefix(text)! }
func address(_ text: String) -> IPAddress { IPAddress(text)! }

/// Namespace `a` with veth `va` (10.1.0.1/24, fd00:1::1/64) up, its peer `vb`
/// in namespace `b` (10.1.0.2/24, fd00:1::2/64).
struct Pair {
    let a: TestNamespace
    let b: TestNamespace
    let rt: RTNetlink
    let va: UInt32

    init(_ net: TestNetwork) throws {
        a = try net.namespace("a")
        b = try net.namespace("b")
        try net.veth(a, "va", "10.1.0.1/24", b, "vb", "10.1.0.2/24")
        try a.ip("-6", "addr", "add", "fd00:1::1/64", "dev", "va", "nodad")
        try b.ip("-6", "addr", "add", "fd00:1::2/64", "dev", "vb", "nodad")
        rt = try RTNetlink(namespace: a.namespace)
        va = try #require(try rt.link(named: "va")).index
    }

    func ipRoutes(_ family: String, _ args: String...) throws -> [String] {
        try a.check(["ip", family, "route", "show"] + args).stdout.split(separator: "\n").map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
    }
}

extension String {
    func trimmingCharacters(in _: CharacterSetLike) -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
enum CharacterSetLike { case whitespaces }

@Suite("rtnetlink routes against the kernel")
struct RouteTests {
    @Test(arguments: ["ipv4", "ipv6"])
    func addReplaceDumpDelete(family: String) throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            let v4 = family == "ipv4"
            let gw1 = address(v4 ? "10.1.0.2" : "fd00:1::2")
            let gw2 = address(v4 ? "10.1.0.3" : "fd00:1::3")
            let device = Route.device(prefix(v4 ? "10.9.0.1/32" : "fd00:9::1/128"), interfaceIndex: pair.va)
            let gateway = Route(destination: prefix(v4 ? "10.9.1.0/24" : "fd00:9:1::/64"), metric: 50,
                                nextHops: [NextHop(gateway: gw1, interfaceIndex: pair.va)])
            let ecmp = Route(destination: prefix(v4 ? "10.9.2.0/24" : "fd00:9:2::/64"), table: RouteTable(100), metric: 20,
                             nextHops: [NextHop(gateway: gw2, interfaceIndex: pair.va, weight: 3),
                                        NextHop(gateway: gw1, interfaceIndex: pair.va)])
            let blackhole = Route.blackhole(prefix(v4 ? "10.8.0.0/16" : "fd00:8::/48"))
            for route in [device, gateway, ecmp, blackhole] { try pair.rt.addRoute(route) }

            // A foreign route (protocol static) overlapping ours must not show in our dump.
            try pair.a.ip(v4 ? "-4" : "-6", "route", "add", v4 ? "10.9.0.0/16" : "fd00:9::/32", "via", gw1.description, "proto", "static")

            let filterFamily: RouteFilter.Family = v4 ? .ipv4 : .ipv6
            let main = try pair.rt.routes(RouteFilter(family: filterFamily, table: .main, protocol: .caracal))
            #expect(Set(main) == Set([device, gateway, blackhole].map(\.normalized)))
            let table100 = try pair.rt.routes(RouteFilter(family: filterFamily, table: RouteTable(100), protocol: .caracal))
            #expect(table100 == [ecmp.normalized])
            #expect(table100.first?.nextHops.map(\.weight).sorted() == [1, 3])
            let all = try pair.rt.routes(RouteFilter(family: filterFamily, protocol: .caracal))
            #expect(all.count == 4)
            let statics = try pair.rt.routes(RouteFilter(family: filterFamily, protocol: .static))
            #expect(statics.map(\.destination) == [prefix(v4 ? "10.9.0.0/16" : "fd00:9::/32")])

            // iproute2 sees the same routes.
            let text = try pair.ipRoutes(v4 ? "-4" : "-6", "table", "100", "proto", "201")
            #expect(text.count >= 1 && text[0].hasPrefix(v4 ? "10.9.2.0/24" : "fd00:9:2::/64"))
            #expect(try pair.ipRoutes(v4 ? "-4" : "-6", "proto", "201").contains { $0.hasPrefix("blackhole") })

            // Adding the same key again fails with EEXIST; replace changes it in place.
            #expect(throws: NetlinkError.self) { try pair.rt.addRoute(gateway) }
            var moved = gateway
            moved.nextHops = [NextHop(gateway: gw2, interfaceIndex: pair.va)]
            try pair.rt.replaceRoute(moved)
            let afterReplace = try pair.rt.routes(RouteFilter(family: filterFamily, table: .main, protocol: .caracal))
            #expect(afterReplace.contains(moved.normalized))
            #expect(!afterReplace.contains(gateway.normalized))
            // Replacing an ECMP route swaps its whole next-hop set (IPv6 too).
            var rebalanced = ecmp
            rebalanced.nextHops = [NextHop(gateway: gw1, interfaceIndex: pair.va, weight: 5),
                                   NextHop(gateway: address(v4 ? "10.1.0.4" : "fd00:1::4"), interfaceIndex: pair.va)]
            try pair.rt.replaceRoute(rebalanced)
            #expect(try pair.rt.routes(RouteFilter(family: filterFamily, table: RouteTable(100), protocol: .caracal)) == [rebalanced.normalized])

            // Delete carries our protocol: it cannot remove the foreign route.
            var foreignKey = Route.device(prefix(v4 ? "10.9.0.0/16" : "fd00:9::/32"), interfaceIndex: pair.va)
            foreignKey.protocol = .caracal
            #expect { try pair.rt.deleteRoute(foreignKey) } throws: { ($0 as? NetlinkError)?.errno == ESRCH }
            for route in [device, moved, rebalanced, blackhole] { try pair.rt.deleteRoute(route) }
            #expect(try pair.rt.routes(RouteFilter(family: filterFamily, protocol: .caracal)).isEmpty)
            #expect(try pair.rt.routes(RouteFilter(family: filterFamily, protocol: .static)).count == 1)
        }
    }

    @Test func scopeAndGatewayOfAnotherFamily() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            // An IPv4 route via an IPv6 next hop (RFC 8950) goes out as RTA_VIA.
            let via6 = Route(destination: prefix("10.7.0.0/24"),
                             nextHops: [NextHop(gateway: address("fd00:1::2"), interfaceIndex: pair.va)])
            try pair.rt.addRoute(via6)
            let host = Route(destination: prefix("10.7.1.1/32"), scope: .host,
                             nextHops: [NextHop(interfaceIndex: pair.va)])
            try pair.rt.addRoute(host)
            let dumped = try pair.rt.routes(RouteFilter(family: .ipv4, protocol: .caracal))
            #expect(Set(dumped) == [via6, host])
            #expect(try pair.ipRoutes("-4", "proto", "201").contains { $0.contains("via inet6 fd00:1::2") })
        }
    }

    @Test func batchedApplyReportsEachFailure() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            var changes: [(Route, RouteOperation)] = []
            for i in 0..<3000 {
                let route = Route.device(.v4(IPv4Prefix(host: IPv4Address(0x0a40_0000 + UInt32(i)))), interfaceIndex: pair.va)
                changes.append((route, .add))
            }
            changes.insert((Route.device(prefix("10.64.0.5/32"), interfaceIndex: pair.va), .add), at: 2000)  // duplicate
            changes.append((Route.device(prefix("10.65.0.1/32"), interfaceIndex: 424242), .add))  // no such device
            for mode in [NetlinkAcknowledgement.everyMessage, .errorsAndLast] {
                let result = try pair.rt.apply(changes, acknowledgement: mode)
                if mode == .everyMessage {
                    #expect(result.failures.map(\.messageIndex) == [2000, 3001])
                    #expect(result.failures.map(\.errno) == [EEXIST, ENODEV])
                } else {
                    // Every add now finds its route present (EEXIST); the last has no device.
                    #expect(result.failures.count == 3002)
                    #expect(result.failures.map(\.messageIndex) == Array(0..<3002))
                    #expect(result.failures.last?.errno == ENODEV)
                }
                #expect(try pair.rt.routes(RouteFilter(family: .ipv4, protocol: .caracal)).count == 3000)
            }
        }
    }
}

@Suite("rtnetlink links, addresses, neighbours, sysctls")
struct LinkTests {
    @Test func vethAcrossNamespacesCarriesTraffic() throws {
        try withTestNetwork { net in
            let host = try net.namespace("host")
            let pod = try net.namespace("pod")
            let hostRT = try RTNetlink(namespace: host.namespace)
            let podRT = try RTNetlink(namespace: pod.namespace)
            let podMAC = MACAddress("02:00:00:00:00:02")!
            let echoed = try hostRT.createVeth(name: "cali1", peer: VethPeer(name: "eth0", namespace: pod.namespace, macAddress: podMAC), mtu: 1400)
            #expect(try hostRT.link(named: "eth0") == nil)
            let hostEnd = try #require(try hostRT.link(named: "cali1"))
            let podEnd = try #require(try podRT.link(named: "eth0"))
            // The kernel's echo (6.1+) names the new end and its peer's index.
            #expect(echoed?.index == hostEnd.index && echoed?.name == "cali1" && echoed?.peerIndex == podEnd.index)
            #expect(hostEnd.kind == "veth" && podEnd.kind == "veth")
            #expect(hostEnd.mtu == 1400 && podEnd.mtu == 1400)
            #expect(podEnd.macAddress == podMAC)
            #expect(!hostEnd.isUp && !podEnd.isUp)
            try hostRT.setLinkUp(index: hostEnd.index)
            try podRT.setLinkUp(index: podEnd.index)
            #expect(try hostRT.link(index: hostEnd.index)?.isUp == true)

            try hostRT.addAddress(InterfaceAddress(interfaceIndex: hostEnd.index, address: address("10.2.0.1"), prefixLength: 24))
            try podRT.addAddress(InterfaceAddress(interfaceIndex: podEnd.index, address: address("10.2.0.2"), prefixLength: 24))
            try hostRT.addAddress(InterfaceAddress(interfaceIndex: hostEnd.index, address: address("fd00:2::1"), prefixLength: 64, flags: InterfaceAddress.noDAD))
            try podRT.addAddress(InterfaceAddress(interfaceIndex: podEnd.index, address: address("fd00:2::2"), prefixLength: 64, flags: InterfaceAddress.noDAD))
            #expect(try pod.canPing("10.2.0.1"))
            #expect(try host.canPing("fd00:2::2"))

            // A pod-style /32 route through the host end with our own code, then traffic to it.
            try podRT.addAddress(InterfaceAddress(interfaceIndex: podEnd.index, address: address("10.3.0.5"), prefixLength: 32))
            try hostRT.addRoute(.device(prefix("10.3.0.5/32"), interfaceIndex: hostEnd.index))
            #expect(try host.canPing("10.3.0.5"))
        }
    }

    @Test func linkChangesLookupsAndDelete() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            let mac = MACAddress("02:aa:bb:cc:dd:ee")!
            try pair.rt.setLink(index: pair.va, LinkChange(mtu: 1300, macAddress: mac))
            var link = try #require(try pair.rt.link(index: pair.va))
            #expect(link.mtu == 1300 && link.macAddress == mac && link.name == "va")
            try pair.rt.setLink(index: pair.va, LinkChange(up: false, name: "vx"))
            link = try #require(try pair.rt.link(named: "vx"))
            #expect(link.index == pair.va && !link.isUp)
            #expect(try pair.rt.link(named: "va") == nil)
            #expect(Set(try pair.rt.links().map(\.name)) == ["lo", "vx"])
            try pair.rt.deleteLink(index: pair.va)
            #expect(try pair.rt.link(index: pair.va) == nil)
            #expect(try pair.b.check(["ip", "-o", "link"]).stdout.contains("vb") == false)
        }
    }

    @Test func interfaceGroupsSetByNameAndReadBack() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            #expect(try pair.rt.link(index: pair.va)?.group == 0)
            #expect(try pair.rt.setLinkGroup(named: "va", 0x7fff_fff0))
            #expect(try pair.rt.link(index: pair.va)?.group == 0x7fff_fff0)
            // iproute2 sees the same number.
            #expect(try pair.a.check(["ip", "-o", "link", "show", "dev", "va"]).stdout.contains("group 2147483632"))
            // Several at once; an absent link is reported, the rest applied.
            let missing = try pair.rt.setLinkGroups([("nosuch0", 5), ("va", 17), ("nosuch1", 6)])
            #expect(missing == ["nosuch0", "nosuch1"])
            #expect(try pair.rt.link(named: "va")?.group == 17)
            try pair.rt.setLink(index: pair.va, LinkChange(group: 0))
            #expect(try pair.rt.link(index: pair.va)?.group == 0)
            #expect(try !pair.rt.setLinkGroup(named: "nosuch0", 1))
        }
    }

    @Test func proxyARPAndUpInOneLinkChange() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            try pair.rt.setLink(index: pair.va, LinkChange(up: true, ipv4ProxyARP: true))
            #expect(try InterfaceSysctl.ipv4ProxyARP.read(interface: "va", namespace: pair.a.namespace) == "1")
            #expect(try #require(try pair.rt.link(index: pair.va)).isUp)
            try pair.rt.setLink(index: pair.va, LinkChange(ipv4ProxyARP: false))
            #expect(try InterfaceSysctl.ipv4ProxyARP.read(interface: "va", namespace: pair.a.namespace) == "0")
            #expect(try #require(try pair.rt.link(index: pair.va)).isUp, "the flag is left alone when not asked")
        }
    }

    @Test func forwardingAndProxyARPInOneLinkChange() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            // A fresh namespace's default is 0, so the new link starts at 0.
            try InterfaceSysctl.ipv4Forwarding.write("0", interface: "va", namespace: pair.a.namespace)
            try pair.rt.setLink(index: pair.va, LinkChange(ipv4ProxyARP: true, ipv4Forwarding: true))
            #expect(try InterfaceSysctl.ipv4Forwarding.read(interface: "va", namespace: pair.a.namespace) == "1")
            #expect(try InterfaceSysctl.ipv4ProxyARP.read(interface: "va", namespace: pair.a.namespace) == "1")
            #expect(try InterfaceSysctl.ipv4Forwarding.read(interface: "all", namespace: pair.a.namespace) == "0",
                    "only the link changes, not the namespace's switch")
            try pair.rt.setLink(index: pair.va, LinkChange(ipv4Forwarding: false))
            #expect(try InterfaceSysctl.ipv4Forwarding.read(interface: "va", namespace: pair.a.namespace) == "0")
            #expect(try InterfaceSysctl.ipv4ProxyARP.read(interface: "va", namespace: pair.a.namespace) == "1")
        }
    }

    @Test func performSendsABatchAndThrowsItsFirstFailure() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            let a = InterfaceAddress(interfaceIndex: pair.va, address: address("10.6.0.1"), prefixLength: 32)
            let n = Neighbor(interfaceIndex: pair.va, address: address("169.254.1.1"), linkAddress: MACAddress("ee:ee:ee:ee:ee:ee")!)
            try pair.rt.perform { batch in
                batch.appendAddress(a)
                batch.appendLinkChange(index: pair.va, LinkChange(up: true))
                batch.appendNeighbor(n)
            }
            #expect(try pair.rt.addresses(interfaceIndex: pair.va).contains { $0.address == a.address })
            #expect(try pair.rt.neighbors(interfaceIndex: pair.va).contains(n))
            // The second add of the address fails (EEXIST); the kernel still
            // handles the message after it.
            let b = InterfaceAddress(interfaceIndex: pair.va, address: address("10.6.0.2"), prefixLength: 32)
            #expect { try pair.rt.perform { $0.appendAddress(a); $0.appendAddress(b) } } throws: { ($0 as? NetlinkError)?.errno == EEXIST && ($0 as? NetlinkError)?.kind == .refused }
            #expect(try pair.rt.addresses(interfaceIndex: pair.va).contains { $0.address == b.address })
            try pair.rt.perform { $0.appendAddress(a, delete: true); $0.appendNeighbor(n, delete: true) }
            #expect(try !pair.rt.addresses(interfaceIndex: pair.va).contains { $0.address == a.address })
        }
    }

    @Test func addressesAddListDelete() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            let v4 = InterfaceAddress(interfaceIndex: pair.va, address: address("10.5.0.1"), prefixLength: 28)
            let v6 = InterfaceAddress(interfaceIndex: pair.va, address: address("fd00:5::1"), prefixLength: 80, flags: InterfaceAddress.noDAD)
            try pair.rt.addAddress(v4)
            try pair.rt.addAddress(v6)
            let listed = try pair.rt.addresses(interfaceIndex: pair.va)
            #expect(listed.contains { $0.address == v4.address && $0.prefixLength == 28 })
            #expect(listed.contains { $0.address == v6.address && $0.prefixLength == 80 && $0.flags & InterfaceAddress.noDAD != 0 })
            #expect(try pair.rt.addresses(family: .ipv4, interfaceIndex: pair.va).allSatisfy { $0.address.isIPv4 })
            #expect(try pair.a.check(["ip", "addr", "show", "dev", "va"]).stdout.contains("10.5.0.1/28"))
            #expect(throws: NetlinkError.self) { try pair.rt.addAddress(v4) }
            try pair.rt.deleteAddress(v4)
            try pair.rt.deleteAddress(v6)
            let after = try pair.rt.addresses(interfaceIndex: pair.va)
            #expect(!after.contains { $0.address == v4.address || $0.address == v6.address })
        }
    }

    @Test func neighboursAddListDelete() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            let mac = MACAddress("02:11:22:33:44:55")!
            let n4 = Neighbor(interfaceIndex: pair.va, address: address("10.1.0.77"), linkAddress: mac)
            let n6 = Neighbor(interfaceIndex: pair.va, address: address("fd00:1::77"), linkAddress: mac)
            try pair.rt.setNeighbor(n4)
            try pair.rt.setNeighbor(n6)
            let listed = try pair.rt.neighbors(interfaceIndex: pair.va)
            #expect(listed.contains(n4) && listed.contains(n6))
            #expect(try pair.a.check(["ip", "neigh", "show", "dev", "va"]).stdout.contains("10.1.0.77 lladdr 02:11:22:33:44:55 PERMANENT"))
            try pair.rt.deleteNeighbor(n4)
            try pair.rt.deleteNeighbor(n6)
            let after = try pair.rt.neighbors(interfaceIndex: pair.va)
            #expect(!after.contains(n4) && !after.contains(n6))

            // Proxy entries (answer ARP/NDP for an address on another link).
            let proxy6 = Neighbor(interfaceIndex: pair.va, address: address("fd00:1::99"), linkAddress: nil, state: 0, flags: Neighbor.proxy)
            try pair.rt.setNeighbor(proxy6)
            #expect(try pair.a.check(["ip", "-6", "neigh", "show", "proxy"]).stdout.contains("fd00:1::99 dev va proxy"))
            #expect(try pair.rt.neighbors(family: .ipv6, proxy: true).contains { $0.address == proxy6.address })
            try pair.rt.deleteNeighbor(proxy6)
            #expect(try !pair.a.check(["ip", "-6", "neigh", "show", "proxy"]).stdout.contains("fd00:1::99"))
        }
    }

    @Test func sysctlsFollowTheThreadsNamespace() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            for (setting, value) in [(InterfaceSysctl.ipv4ProxyARP, "1"), (.ipv4Forwarding, "1"), (.ipv6Forwarding, "1"), (.ipv6AcceptDAD, "0")] {
                try setting.write(value, interface: "va", namespace: pair.a.namespace)
                #expect(try setting.read(interface: "va", namespace: pair.a.namespace) == value)
                let key = setting.description.replacingOccurrences(of: "%", with: "va")
                #expect(try pair.a.check(["sysctl", "-n", key]).stdout.hasPrefix(value))
            }
            // The same path from the test's own thread is the host namespace, which has no "va"
            // (the namespaces' veths never exist there), and namespace b's copy is untouched.
            #expect { try InterfaceSysctl.ipv4ProxyARP.read(interface: "va", namespace: nil) } throws: { ($0 as? NetlinkError)?.errno == ENOENT }
            #expect(try InterfaceSysctl.ipv4ProxyARP.read(interface: "vb", namespace: pair.b.namespace) == "0")
            #expect { try InterfaceSysctl.ipv4ProxyARP.write("1", interface: "../x", namespace: pair.a.namespace) } throws: {
                ($0 as? NetlinkError)?.kind == .invalidArgument
            }
        }
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

@Suite("rtnetlink monitor")
struct MonitorTests {
    @Test func eventsStreamFromADedicatedThreadAndStopWithTheConsumer() async throws {
        try await withTestNetwork { net in
            let pair = try Pair(net)
            let monitor = try RTNetlinkMonitor(namespace: pair.a.namespace)
            let route = Route.device(prefix("10.33.0.1/32"), interfaceIndex: pair.va)
            let adding = Task { try await Task.sleep(for: .milliseconds(50)); try pair.rt.addRoute(route) }
            var seen = false
            for try await batch in monitor.events() where batch.contains(.routeAdded(route)) {
                seen = true
                break
            }
            try await adding.value
            #expect(seen)
            #expect(waitFor { monitor.isStopped }, "ending the iteration stops the monitor's thread")
        }
    }

    @Test func seesChangesAndSurvivesOverrun() throws {
        try withTestNetwork { net in
            let pair = try Pair(net)
            // A deliberately tiny queue: a burst overflows it.
            let monitor = try RTNetlinkMonitor(namespace: pair.a.namespace, receiveBufferSize: 4096)
            let route = Route.device(prefix("10.30.0.1/32"), interfaceIndex: pair.va)
            try pair.rt.addRoute(route)
            var events: [NetworkEvent] = []
            for _ in 0..<20 where !events.contains(.routeAdded(route)) { events += try monitor.next(timeout: .milliseconds(100)) }
            #expect(events.contains(.routeAdded(route)))
            try pair.a.ip("route", "del", "10.30.0.1/32")
            events = []
            for _ in 0..<20 where !events.contains(.routeRemoved(route)) { events += try monitor.next(timeout: .milliseconds(100)) }
            #expect(events.contains(.routeRemoved(route)))

            // Storm: 5000 routes in one batch overflow a 4 KiB queue.
            var changes: [(Route, RouteOperation)] = []
            for i in 0..<5000 {
                changes.append((Route.device(.v4(IPv4Prefix(host: IPv4Address(0x0a50_0000 + UInt32(i)))), interfaceIndex: pair.va), .add))
            }
            #expect(try pair.rt.apply(changes, acknowledgement: .errorsAndLast).succeeded)
            events = []
            for _ in 0..<200 where !events.contains(.resyncRequired) { events += try monitor.next(timeout: .milliseconds(100)) }
            #expect(events.contains(.resyncRequired))
            // Still alive afterwards.
            for _ in 0..<50 { if try monitor.next(timeout: .milliseconds(100)).isEmpty { break } }
            let later = Route.device(prefix("10.31.0.1/32"), interfaceIndex: pair.va)
            try pair.rt.addRoute(later)
            events = []
            for _ in 0..<20 where !events.contains(.routeAdded(later)) { events += try monitor.next(timeout: .milliseconds(100)) }
            #expect(events.contains(.routeAdded(later)))
            // Woken by its socket, not a timer: a waiting next() returns as
            // soon as a change arrives, and stop() ends a wait at once.
            let waiting = BackgroundTask { try monitor.next() }
            usleep(50_000)
            try pair.rt.addRoute(Route.device(prefix("10.32.0.1/32"), interfaceIndex: pair.va))
            #expect(try waiting.wait().get().contains(.routeAdded(Route.device(prefix("10.32.0.1/32"), interfaceIndex: pair.va))))
            let stopped = BackgroundTask { try monitor.next() }
            monitor.stop()
            #expect(try stopped.wait().get().isEmpty && monitor.isStopped)
        }
    }
}

/// Polls `condition` every 10 ms for up to 2 s.
private func waitFor(_ condition: () -> Bool) -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        usleep(10_000)
    }
    return false
}
