import Foundation
import MetricsTestKit
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

@Suite(.serialized) struct ProgrammerTests {
    @Test func applyDumpReapplyAndProbe() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let metrics = TestMetrics()
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace, metricsFactory: metrics)
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
            // Each step's time went to its swift-metrics timer.
            #expect(try metrics.expectTimer("caracal_policy_encode_duration").values.count == 1)
            #expect(try metrics.expectTimer("caracal_policy_transaction_duration").values.count == 1)
            let again = try programmer.apply(ruleset)
            #expect(again.messages == 0)
            #expect(try metrics.expectTimer("caracal_policy_diff_duration").values.count == 1, "the second apply diffed")
            let passed = try topo.run([
                .init(from: "x/a", to: "x/b", port: 80, proto: .tcp),
                .init(from: "y/a", to: "x/b", port: 80, proto: .tcp),
                .init(from: "x/a", to: "y/b", port: 80, proto: .udp),
                .init(from: "y/a", to: "x/b", port: 81, proto: .udp),
            ])
            #expect(passed.map(\.description).sorted() == ["x/a->x/b:80/TCP", "x/a->y/b:80/UDP"])
            // What was refused was counted, by the rule of the policy that
            // refused it (other rules may count stray packets of the pods'
            // own, such as IPv6 multicast listener reports).
            let drops = try programmer.dropCounts()
            let byPolicy = drops.filter { $0.rule.hasPrefix("NetworkPolicy x/deny ingress") }
            #expect(byPolicy.reduce(0) { $0 + $1.packets } >= 2 && byPolicy.allSatisfy { $0.bytes > 0 }, "\(drops)")
            #expect(try programmer.dropCounts(all: true).count > drops.count, "rules that dropped nothing are listed with all")
            // Reading counters back changes nothing: the next apply sends nothing.
            #expect(try programmer.apply(ruleset).messages == 0)
        }
    }

    /// The first-apply path encodes sets and chains while the compiler is
    /// still running; the table it leaves must equal a compile followed by
    /// a replace, for all the truth-table scenarios' policies at once
    /// (every kind of set, chain and rule they produce).
    @Test func compileWhileEncodingGivesTheSameTable() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            // Policy names repeat across scenarios: keep each scenario's documents apart by name.
            var yaml = ""
            for (i, sc) in scenarios.enumerated() where !sc.yaml.isEmpty {
                yaml += sc.yaml.replacingOccurrences(of: "metadata: {name: ", with: "metadata: {name: s\(i)-")
            }
            let policies = try PolicyParser.parse(yaml)
            #expect(policies.networkPolicies.count + policies.globalPolicies.count > 30)
            let (streamed, report) = try programmer.replace(compiling: policies, for: topo.inventory())
            #expect(report.fullReplace)
            let compiled = PolicyCompiler().compile(policies, topo.inventory())
            #expect(streamed == compiled)
            let back = try #require(try programmer.read())
            #expect(back == compiled)
            // No table was in force: every pod veth's group was set while the
            // kernel took the transaction.
            #expect(report.linkChanges == topo.inventory().endpoints.filter { $0.interface != nil }.count)
            #expect(report.pendingInterfaces.isEmpty)
            // Again with the table in force: the groups (unchanged) are then
            // compared after the transaction, and nothing differs.
            let (again, second) = try programmer.replace(compiling: policies, for: topo.inventory())
            #expect(again == compiled)
            #expect(second.linkChanges == 0)
            #expect(try programmer.read() == compiled)
            #expect(try programmer.apply(compiled).messages == 0)
            #expect(!compiled.sets.isEmpty && compiled.chains.count > 10)
        }
    }
}
