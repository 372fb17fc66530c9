import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

@Suite(.serialized) struct ProgrammerTests {
    @Test func applyDumpReapplyAndProbe() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let policies = try PolicyParser.parse("""
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: deny, namespace: x}
            spec: {podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}
            """)
            let ruleset = PolicyCompiler().compile(policies, topo.inventory())
            let first = try programmer.apply(ruleset)
            #expect(first.fullReplace)
            let back = try #require(try programmer.read())
            #expect(NftRenderer.render(back) == NftRenderer.render(ruleset))
            #expect(back == ruleset)
            let again = try programmer.apply(ruleset)
            #expect(again.messages == 0)
            let passed = try topo.run([
                .init(from: "x/a", to: "x/b", port: 80, proto: .tcp),
                .init(from: "y/a", to: "x/b", port: 80, proto: .tcp),
                .init(from: "x/a", to: "y/b", port: 80, proto: .udp),
                .init(from: "y/a", to: "x/b", port: 81, proto: .udp),
            ])
            #expect(passed.map(\.description).sorted() == ["x/a->x/b:80/TCP", "x/a->y/b:80/UDP"])
        }
    }
}
