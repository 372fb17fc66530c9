import ClusterModel
import Foundation
import IPAddressing
import Netlink
import Testing
import TestSupport
@testable import Routing

@Suite("RouteSpec, RouteDrift and protocol registration (pure)")
struct RouteSpecTests {
    let devices: [String: UInt32] = ["eth0": 2, "eth1": 3]
    func index(_ name: String) throws -> UInt32 {
        guard let index = devices[name] else { throw RouteSpecError.unknownDevice(name) }
        return index
    }

    @Test func decodesAndResolvesSpecs() throws {
        let json = """
        [{"destination": "10.0.0.0/24", "via": "10.1.0.2", "dev": "eth0", "metric": 20},
         {"destination": "10.9.0.0/16", "type": "blackhole", "table": 100},
         {"destination": "fd00::/64", "nexthops": [{"via": "fd00:1::2", "dev": "eth0", "weight": 2}, {"via": "fd00:1::3", "dev": "eth1"}]},
         {"destination": "10.3.0.5/32", "dev": "eth1"}]
        """
        let specs = try RouteSpec.parseList(Array(json.utf8))
        let routes = try specs.map { try $0.resolve(protocol: .caracal, interfaceIndex: index) }
        #expect(routes[0] == Route(destination: IPPrefix("10.0.0.0/24")!, metric: 20,
                                   nextHops: [NextHop(gateway: IPAddress("10.1.0.2")!, interfaceIndex: 2)]))
        #expect(routes[1] == .blackhole(IPPrefix("10.9.0.0/16")!, table: RouteTable(100)))
        #expect(routes[2].nextHops.count == 2 && routes[2].nextHops.contains { $0.weight == 2 && $0.interfaceIndex == 2 })
        #expect(routes[3].scope == .link)
        // Specs of routes render back to the same routes.
        let names = Dictionary(uniqueKeysWithValues: devices.map { ($0.value, $0.key) })
        for route in routes {
            #expect(try RouteSpec(route, deviceName: { names[$0] }).resolve(protocol: .caracal, interfaceIndex: index) == route)
        }
    }

    @Test func rejectsBadSpecs() throws {
        #expect(throws: RouteSpecError.unknownDevice("eth9")) {
            try RouteSpec(destination: IPPrefix("10.0.0.0/8")!, dev: "eth9").resolve(protocol: .caracal, interfaceIndex: index)
        }
        #expect(throws: RouteSpecError.self) {
            try RouteSpec(destination: IPPrefix("10.0.0.0/8")!, type: "anycast").resolve(protocol: .caracal, interfaceIndex: index)
        }
    }

    /// A bad file is rejected with the element and field named.
    @Test(arguments: [
        (#"[{"destination": "10.0.0.0/24"}, {"destination": "10.0.0.1/8"}]"#, "[1].destination"),  // host bits set
        (#"[{"via": "10.1.0.2"}]"#, "[0].destination"),
        (#"[{"destination": "10.0.0.0/24", "metric": "low"}]"#, "[0].metric"),
        (#"[{"destination": "fd00::/64", "nexthops": [{"via": "fd00::1"}, {"via": "10.0.0.300"}]}]"#, "[0].nexthops[1].via"),
        (#"{"destination": "10.0.0.0/24"}"#, "top level"),
        (#"[{"destination": "10.0.0.0/24""#, ""),
    ])
    func parseErrorsNameTheField(json: String, field: String) throws {
        do {
            _ = try RouteSpec.parseList(Array(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            guard case let .undecodable(reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(reason.hasPrefix(field), "\(reason)")
        }
    }

    @Test func driftNamesMissingUnexpectedAndDifferent() {
        let a = Route.device(IPPrefix("10.0.0.1/32")!, interfaceIndex: 2)
        let b = Route.device(IPPrefix("10.0.0.2/32")!, interfaceIndex: 2)
        var bMoved = b
        bMoved.nextHops = [NextHop(interfaceIndex: 3)]
        let c = Route.blackhole(IPPrefix("10.9.0.0/16")!)
        let drift = RouteDrift(desired: [a, bMoved], kernel: [b, c])
        #expect(drift.missing == [a])
        #expect(drift.unexpected == [c])
        #expect(drift.different.map(\.desired) == [bMoved])
        #expect(!drift.inSync)
        #expect(RouteDrift(desired: [a, b], kernel: [b, a]).inSync)
    }

    @Test func registrationWritesIntoTheGivenDirectoryOnly() throws {
        try TemporaryDirectory.with { dir in
            let path = try RouteProtocolRegistration.install(protocol: RouteProtocol(205), directory: dir.path + "/rt_protos.d")
            #expect(path == dir.path + "/rt_protos.d/caracal.conf")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.split(separator: "\n").last == "205\tcaracal")
            #expect(throws: (any Error).self) {
                try RouteProtocolRegistration.install(name: "../evil", directory: dir.path)
            }
        }
    }
}
