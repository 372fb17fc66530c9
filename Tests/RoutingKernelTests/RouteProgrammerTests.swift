import ClusterModel
import Foundation
import MetricsTestKit
import IPAddressing
import Netlink
import Testing
import TestSupport
@testable import Routing

private func p(_ s: String) -> IPPrefix { IPPrefix(s)! }
private func a(_ s: String) -> IPAddress { IPAddress(s)! }

/// Namespace with veth `va` (10.1.0.1/24, fd00:1::1/64) up.
private struct Node {
    let ns: TestNamespace
    let rt: RTNetlink
    let va: UInt32
    init(_ net: TestNetwork) throws {
        ns = try net.namespace("node")
        let peer = try net.namespace("peer")
        try net.veth(ns, "va", "10.1.0.1/24", peer, "vb", "10.1.0.2/24")
        try ns.ip("-6", "addr", "add", "fd00:1::1/64", "dev", "va", "nodad")
        rt = try RTNetlink(namespace: ns.namespace)
        va = try #require(try rt.link(named: "va")).index
    }
    func ours() throws -> Set<Route> {
        Set(try rt.routes(RouteFilter(family: .ipv4, protocol: .caracal)) + rt.routes(RouteFilter(family: .ipv6, protocol: .caracal)))
    }
    func programmer(keep: Bool = false) throws -> RouteProgrammer {
        try RouteProgrammer(configuration: RouteProgrammerConfiguration(keepRoutesUntilFirstDesiredSet: keep, namespace: ns.namespace))
    }
}

private func waitUntil(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

@Suite("RouteProgrammer against the kernel")
struct RouteProgrammerTests {
    @Test func resyncRemovesOnlyOurUndesiredRoutesAndLeavesForeignOnes() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            // Leftovers of an earlier run (ours) and routes of other daemons, one overlapping.
            try node.ns.ip("route", "add", "10.20.0.1/32", "dev", "va", "proto", "201")
            try node.ns.ip("-6", "route", "add", "fd00:20::1/128", "dev", "va", "proto", "201")
            try node.ns.ip("route", "add", "10.20.0.0/16", "via", "10.1.0.2", "proto", "static")
            try node.ns.ip("route", "add", "10.21.0.1/32", "dev", "va", "proto", "bird")
            let before = try node.ns.check(["ip", "route", "show", "proto", "static"]).stdout
                + node.ns.check(["ip", "route", "show", "proto", "bird"]).stdout

            let programmer = try node.programmer()
            let report = try programmer.start()
            #expect(report.deleted == 2)
            #expect(try node.ours().isEmpty)

            // Desired routes, including one at the exact key of the foreign BIRD route.
            let wanted = [
                Route.device(p("10.20.0.5/32"), interfaceIndex: node.va),
                Route(destination: p("10.22.0.0/24"), nextHops: [NextHop(gateway: a("10.1.0.2"), interfaceIndex: node.va),
                                                                 NextHop(gateway: a("10.1.0.3"), interfaceIndex: node.va)]),
                Route.blackhole(p("10.23.0.0/26")),
                Route.device(p("fd00:20::5/128"), interfaceIndex: node.va),
                Route.blackhole(p("fd00:23::/122")),
                Route.device(p("10.21.0.1/32"), interfaceIndex: node.va),  // held by bird
            ]
            let applied = try programmer.setDesired(wanted)
            #expect(applied.added == 5)
            #expect(applied.failures.count == 1 && applied.failures[0].isForeignConflict)
            #expect(try node.ours() == Set(wanted.dropLast().map(\.normalized)))
            #expect(programmer.status.conflicts.map(\.destination) == [p("10.21.0.1/32")])

            // A second resync with nothing changed writes nothing.
            let again = try programmer.resync()
            #expect(again.writes == 1)  // only the retry of the conflicting add
            #expect(again.failures.count == 1)
            let after = try node.ns.check(["ip", "route", "show", "proto", "static"]).stdout
                + node.ns.check(["ip", "route", "show", "proto", "bird"]).stdout
            #expect(after == before)

            // Incremental update.
            let extra = Route.device(p("10.20.0.6/32"), interfaceIndex: node.va)
            let incremental = try programmer.update(upserting: [extra], removing: [wanted[2].key])
            #expect(incremental.added == 1 && incremental.deleted == 1)
            #expect(try node.ours().contains(extra.normalized))
            #expect(try !node.ours().contains(wanted[2].normalized))
        }
    }

    @Test func metricsCountProgrammedRoutesAndApplies() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            let metrics = TestMetrics()
            let programmer = try RouteProgrammer(
                configuration: RouteProgrammerConfiguration(namespace: node.ns.namespace), metricsFactory: metrics)
            try programmer.start()
            let routes = (1...3).map { Route.device(.v4(IPv4Prefix(host: IPv4Address(0x0a60_0000 + UInt32($0)))), interfaceIndex: node.va) }
            try programmer.setDesired(routes)
            #expect(try metrics.expectGauge("caracal_routes_programmed").lastValue == 3)
            try programmer.update(removing: [routes[0].key])
            #expect(try metrics.expectGauge("caracal_routes_programmed").lastValue == 2)
            #expect(try metrics.expectTimer("caracal_route_apply_duration").values.count == 2)
            #expect(try metrics.expectCounter("caracal_route_writes_total").totalValue == 4)
            #expect(try metrics.expectCounter("caracal_route_resyncs_total").totalValue == 1)
        }
    }

    @Test func tableScopedProgrammerLeavesOtherTablesAlone() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            try node.ns.ip("route", "add", "10.80.0.1/32", "dev", "va", "proto", "201")                 // main
            try node.ns.ip("route", "add", "10.80.0.2/32", "dev", "va", "proto", "201", "table", "100")  // ours
            let programmer = try RouteProgrammer(configuration: RouteProgrammerConfiguration(
                tables: [RouteTable(100)], namespace: node.ns.namespace))
            #expect(try programmer.start().deleted == 1)
            #expect(try node.ours().map(\.destination) == [p("10.80.0.1/32")])
            #expect(throws: RouteSetError.self) { try programmer.setDesired([Route.device(p("10.80.0.3/32"), interfaceIndex: node.va)]) }
            let wanted = Route.device(p("10.80.0.4/32"), interfaceIndex: node.va, table: RouteTable(100))
            #expect(try programmer.setDesired([wanted]).added == 1)
            #expect(try node.ours() == [Route.device(p("10.80.0.1/32"), interfaceIndex: node.va), wanted])
        }
    }

    @Test func gracefulRestartKeepsRoutesUntilFirstDesiredSet() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            try node.ns.ip("route", "add", "10.30.0.1/32", "dev", "va", "proto", "201")
            try node.ns.ip("route", "add", "10.30.0.2/32", "dev", "va", "proto", "201")
            let programmer = try node.programmer(keep: true)
            #expect(try programmer.start().writes == 0)
            #expect(programmer.status.holdingForGracefulRestart)
            #expect(try node.ours().count == 2)
            try programmer.setDesired([Route.device(p("10.30.0.2/32"), interfaceIndex: node.va)])
            #expect(try node.ours().map(\.destination) == [p("10.30.0.2/32")])
            #expect(!programmer.status.holdingForGracefulRestart)
        }
    }

    @Test func externalDeletionAndChangeAreRepaired() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            let programmer = try node.programmer()
            try programmer.start()
            let v4 = Route.device(p("10.40.0.1/32"), interfaceIndex: node.va)
            let v6 = Route.device(p("fd00:40::1/128"), interfaceIndex: node.va)
            let gw = Route(destination: p("10.41.0.0/24"), nextHops: [NextHop(gateway: a("10.1.0.2"), interfaceIndex: node.va)])
            try programmer.setDesired([v4, v6, gw])
            try programmer.startMonitoring()
            defer { programmer.stopMonitoring() }

            try node.ns.ip("route", "del", "10.40.0.1/32")
            try node.ns.ip("-6", "route", "del", "fd00:40::1/128")
            try node.ns.ip("route", "replace", "10.41.0.0/24", "via", "10.1.0.9", "dev", "va", "proto", "201")
            let expected = Set([v4, v6, gw].map(\.normalized))
            #expect(try waitUntil { try node.ours() == expected })

            // Someone adds a route with our protocol that we do not want: removed.
            try node.ns.ip("route", "add", "10.42.0.1/32", "dev", "va", "proto", "201")
            #expect(try waitUntil { try node.ours() == expected })
        }
    }

    @Test func routesComeBackWhenTheirLinkReturns() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            let programmer = try node.programmer()
            try programmer.start()
            try programmer.startMonitoring()
            defer { programmer.stopMonitoring() }
            let wanted = [Route.device(p("10.60.0.1/32"), interfaceIndex: node.va),
                          Route(destination: p("10.61.0.0/24"), nextHops: [NextHop(gateway: a("10.1.0.2"), interfaceIndex: node.va)])]
            try programmer.setDesired(wanted)
            // IPv4 drops a downed device's routes without a notification per route.
            try node.ns.ip("link", "set", "va", "down")
            #expect(try waitUntil { try node.ours().isEmpty })
            // The programmer noticed through the link event (no route notifications came).
            #expect(waitUntil { programmer.status.programmed.isEmpty })
            try node.ns.ip("link", "set", "va", "up")
            try node.ns.ip("addr", "replace", "10.1.0.1/24", "dev", "va")
            #expect(try waitUntil { try node.ours() == Set(wanted.map(\.normalized)) })
        }
    }

    @Test func survivesNotificationStorm() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            let programmer = try node.programmer()
            try programmer.start()
            // A tiny monitor queue: the storm overflows it (ENOBUFS) and the programmer resyncs.
            try programmer.startMonitoring(receiveBufferSize: 4096)
            defer { programmer.stopMonitoring() }
            var wanted: [Route] = []
            for i in 0..<4000 {
                wanted.append(.device(.v4(IPv4Prefix(host: IPv4Address(0x0a50_0000 + UInt32(i)))), interfaceIndex: node.va))
            }
            #expect(try programmer.setDesired(wanted).added == 4000)
            // An external burst: a foreign tool deletes 500 of our routes at once.
            let script = (0..<500).map { "route del \(IPv4Address(0x0a50_0000 + UInt32($0)))/32" }.joined(separator: "\n") + "\n"
            try node.ns.check(["ip", "-batch", "-"], stdin: Data(script.utf8))
            let repaired = try waitUntil(10) { try node.ours().count == 4000 }
            let count = try node.ours().count
            #expect(repaired, "kernel has \(count), programmer knows \(programmer.status.programmed.count), resyncs \(programmer.status.resyncs)")
            #expect(programmer.status.resyncs >= 1)
        }
    }

    @Test func badRouteCarriesKernelMessage() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            try node.ns.ip("link", "set", "va", "down")
            let programmer = try node.programmer()
            try programmer.start()
            let report = try programmer.setDesired([Route.device(p("10.50.0.1/32"), interfaceIndex: node.va)])
            #expect(report.failures.count == 1)
            #expect(report.failures.first?.error.kernelMessage == "Device for nexthop is not up")
        }
    }
}

@Suite("caracal routes report against the kernel")
struct KernelRouteReportTests {
    @Test func reportsOwnRoutesAndDrift() throws {
        try withTestNetwork { net in
            let node = try Node(net)
            try node.ns.ip("route", "add", "10.70.0.1/32", "dev", "va", "proto", "201")
            try node.ns.ip("-6", "route", "add", "fd00:70::/64", "via", "fd00:1::2", "proto", "201")
            try node.ns.ip("route", "add", "blackhole", "10.71.0.0/16", "proto", "201")
            try node.ns.ip("route", "add", "10.72.0.0/16", "via", "10.1.0.2", "proto", "static")
            let desired = [
                RouteSpec(destination: p("10.70.0.1/32"), dev: "va"),
                RouteSpec(destination: p("fd00:70::/64"), via: a("fd00:1::3"), dev: "va"),
                RouteSpec(destination: p("10.73.0.0/24"), type: "blackhole"),
            ]
            let report = try KernelRouteReport.collect(namespace: node.ns.namespace, protocol: .caracal, desired: desired)
            #expect(report.routes.map(\.destination) == [p("10.70.0.1/32"), p("10.71.0.0/16"), p("fd00:70::/64")])
            #expect(report.spec(report.routes[0]).dev == "va")
            let drift = try #require(report.drift)
            #expect(drift.missing.map(\.destination) == [p("10.73.0.0/24")])
            #expect(drift.unexpected.map(\.destination) == [p("10.71.0.0/16")])
            #expect(drift.different.map(\.kernel.destination) == [p("fd00:70::/64")])
            #expect(throws: RouteSpecError.unknownDevice("eth7")) {
                try KernelRouteReport.collect(namespace: node.ns.namespace, protocol: .caracal,
                                              desired: [RouteSpec(destination: p("10.0.0.0/8"), dev: "eth7")])
            }
            let inSync = try KernelRouteReport.collect(namespace: node.ns.namespace, protocol: .caracal,
                                                       desired: report.routes.map(report.spec))
            #expect(inSync.drift?.inSync == true)
        }
    }
}
