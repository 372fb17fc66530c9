import ClusterModel
import IPAddressing
import Netlink
import Testing
@testable import Routing

private func p(_ s: String) -> IPPrefix { IPPrefix(s)! }
private func a(_ s: String) -> IPAddress { IPAddress(s)! }

@Suite("RouteDiff (pure)")
struct RouteDiffTests {
    let r1 = Route.device(p("10.0.0.1/32"), interfaceIndex: 3)
    let r2 = Route.device(p("10.0.0.2/32"), interfaceIndex: 3)
    let r3 = Route.blackhole(p("10.1.0.0/26"))

    func map(_ routes: [Route]) -> [RouteKey: Route] {
        Dictionary(uniqueKeysWithValues: routes.map { ($0.normalized.key, $0.normalized) })
    }

    @Test func addsReplacesAndDeletes() {
        var changed = r2
        changed.nextHops = [NextHop(gateway: a("10.9.9.9"), interfaceIndex: 4)]
        let diff = RouteDiff.between(desired: map([r1, changed]), actual: map([r2, r3])).sorted
        #expect(diff.additions == [r1])
        #expect(diff.replacements == [changed])
        #expect(diff.deletions == [r3])
        #expect(diff.count == 3)
    }

    @Test func noChangeIsEmpty() {
        #expect(RouteDiff.between(desired: map([r1, r2, r3]), actual: map([r1, r2, r3])).isEmpty)
    }

    @Test func gracefulRestartHoldKeepsUndesired() {
        let diff = RouteDiff.between(desired: map([r1]), actual: map([r1, r2, r3]), deleteUndesired: false)
        #expect(diff.isEmpty)
    }

    @Test func restrictedToKeys() {
        let diff = RouteDiff.between(desired: map([r1, r2]), actual: map([r3]), keys: [r1.key, r3.key])
        #expect(diff.additions == [r1])
        #expect(diff.deletions == [r3])
        #expect(diff.replacements.isEmpty)
    }

    @Test func ecmpOrderDoesNotMatter() {
        let hopA = NextHop(gateway: a("10.0.0.1"), interfaceIndex: 2)
        let hopB = NextHop(gateway: a("10.0.0.2"), interfaceIndex: 2)
        let x = Route(destination: p("10.5.0.0/16"), nextHops: [hopA, hopB])
        let y = Route(destination: p("10.5.0.0/16"), nextHops: [hopB, hopA])
        #expect(x == y)
        #expect(RouteDiff.between(desired: map([x]), actual: map([y])).isEmpty)
    }

    @Test func ipv6MetricZeroMeans1024() {
        let desired = Route.device(p("fd00::1/128"), interfaceIndex: 2)
        var kernel = desired
        kernel.metric = 1024
        #expect(desired.key == kernel.key)
        #expect(RouteDiff.between(desired: map([desired]), actual: map([kernel])).isEmpty)
    }

    @Test func desiredRoutesValidation() throws {
        let set = try DesiredRoutes([r1, r3], protocol: RouteProtocol(77))
        #expect(set.count == 2)
        #expect(set[r1.key]?.protocol == RouteProtocol(77))
        var clash = r1
        clash.nextHops = [NextHop(interfaceIndex: 9)]
        #expect(throws: RouteSetError.duplicateKey(r1, clash)) { try DesiredRoutes([r1, clash], protocol: .caracal) }
        #expect(throws: RouteSetError.self) { try DesiredRoutes([Route(destination: p("10.0.0.0/8"))], protocol: .caracal) }
        var badBlackhole = r3
        badBlackhole.nextHops = [NextHop(interfaceIndex: 1)]
        #expect(throws: RouteSetError.unexpectedNextHop(badBlackhole)) { try DesiredRoutes([badBlackhole], protocol: .caracal) }
    }

    @Test func protocolRegistrationFile() throws {
        #expect(RouteProtocolRegistration.contents(protocol: .caracal).hasSuffix("201\tcaracal\n"))
    }
}
