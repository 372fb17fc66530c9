import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

/// The upstream network-policy e2e idea, in real namespaces: every scenario
/// is programmed into the node's nftables (incrementally, one after the
/// other, as the agent would), then every pod pair is probed with real TCP
/// and UDP, and the same matrix is asked of `explain`.
@Suite(.serialized) struct TruthTableTests {
    @Test func scenariosMatchExpectedReachability() throws {
        #expect(scenarios.count >= 30)
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let inventory = topo.inventory()
            defer { try? programmer.deleteTable() }
            for scenario in scenarios {
                let policies = try PolicyParser.parse(scenario.yaml)
                let ruleset = PolicyCompiler().compile(policies, inventory)
                try programmer.apply(ruleset)
                // Re-applying the same state is a no-op (no duplicate rules).
                #expect(try programmer.apply(ruleset).messages == 0, "\(scenario)")
                let explainer = PolicyExplainer(ruleset: ruleset, inventory: inventory)
                var probes: [PodTopology.Probe] = []
                var expected = Set<PodTopology.Probe>()
                var explained = Set<PodTopology.Probe>()
                for (port, proto, allowed) in scenario.checks {
                    for f in Pod.all {
                        for t in Pod.all where f != t {
                            let probe = PodTopology.Probe(from: f.description, to: t.description, port: port, proto: proto)
                            probes.append(probe)
                            if allowed(f, t) { expected.insert(probe) }
                            let e = try explainer.explain(from: explainer.resolve(f.description), to: explainer.resolve(t.description),
                                                          proto: proto, port: port)
                            if e.allowed { explained.insert(probe) }
                        }
                    }
                }
                let passed = try topo.run(probes)
                let kernelOnly = passed.subtracting(expected).map(\.description).sorted()
                let expectedOnly = expected.subtracting(passed).map(\.description).sorted()
                #expect(kernelOnly.isEmpty && expectedOnly.isEmpty,
                        "\(scenario): allowed but not expected \(kernelOnly.prefix(8)); expected but blocked \(expectedOnly.prefix(8))")
                #expect(explained == expected, "\(scenario): explain differs: \(explained.symmetricDifference(expected).map(\.description).sorted().prefix(8))")
            }
        }
    }
}
