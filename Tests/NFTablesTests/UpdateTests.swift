import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

@Suite(.serialized) struct UpdateTests {
    func probesTo(_ target: String, from sources: [String], port: UInt16 = 80) -> [PodTopology.Probe] {
        sources.map { PodTopology.Probe(from: $0, to: target, port: port, proto: .tcp) }
    }

    @Test func updateDeleteAndLabelChangeTakeEffect() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            var inventory = topo.inventory()
            let sources = ["x/b", "y/b", "z/c"]
            func reachable(_ yaml: String) throws -> [String] {
                let ruleset = PolicyCompiler().compile(try PolicyParser.parse(yaml), inventory)
                try programmer.apply(ruleset)
                return try topo.run(probesTo("x/a", from: sources)).map(\.from).sorted()
            }
            // Only pods labelled pod=b (any namespace) may reach x/a.
            let onlyB = k8s("x", "p", "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]")
            #expect(try reachable(onlyB) == ["x/b", "y/b"])
            // Update the same policy: now only namespace z.
            let onlyZ = k8s("x", "p", "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]")
            #expect(try reachable(onlyZ) == ["z/c"])
            // Label change: z/c becomes pod=b; with the first policy it now
            // gets in, and the change costs set elements only.
            let before = PolicyCompiler().compile(try PolicyParser.parse(onlyB), inventory)
            try programmer.apply(before)
            let i = inventory.endpoints.firstIndex { $0.id == "z/c" }!
            inventory.endpoints[i].labels["pod"] = "b"
            let after = PolicyCompiler().compile(try PolicyParser.parse(onlyB), inventory)
            let report = try programmer.apply(after)
            let diff = try #require(report.diff)
            #expect(!report.fullReplace && diff.addedChains.isEmpty && diff.changedChains.isEmpty && !diff.changedSets.isEmpty)
            #expect(try programmer.read() == after)
            #expect(try topo.run(probesTo("x/a", from: sources)).map(\.from).sorted() == ["x/b", "y/b", "z/c"])
            // Delete every policy.
            #expect(try reachable("") == ["x/b", "y/b", "z/c"])
            try programmer.deleteTable()
        }
    }

    @Test func newPodIsDeniedUntilItsChainExistsAndCostsOnlyElements() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let policies = try PolicyParser.parse(k8s("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]"))
            var inventory = topo.inventory()
            try programmer.apply(PolicyCompiler().compile(policies, inventory))
            // The pod's veth exists, the agent has not programmed it yet.
            try topo.addPod("x", "d", address: "10.99.1.4")
            let both = [PodTopology.Probe(from: "x/d", to: "x/a", port: 80, proto: .tcp),
                        PodTopology.Probe(from: "x/b", to: "x/d", port: 80, proto: .tcp),
                        PodTopology.Probe(from: "x/b", to: "x/a", port: 80, proto: .tcp)]
            #expect(try topo.run(both).map(\.description) == ["x/b->x/a:80/TCP"])
            let explain = PolicyExplainer(ruleset: PolicyCompiler().compile(policies, inventory), inventory: inventory)
            let e = explain.evaluator.evaluate(PacketProbe(hook: .forward, inputInterface: "crcxd", outputInterface: "crcxa",
                                                           source: NumericAddress("10.99.1.4")!, destination: NumericAddress("10.99.1.1")!,
                                                           proto: .tcp, destinationPort: 80))
            #expect(!e.allowed && e.summary.contains("fail closed"))
            inventory.endpoints.append(Endpoint(namespace: "x", name: "d", labels: ["pod": "d"], addresses: [NumericAddress("10.99.1.4")!], interface: "crcxd"))
            let report = try programmer.apply(PolicyCompiler().compile(policies, inventory))
            let diff = try #require(report.diff)
            #expect(!report.fullReplace && diff.addedChains.isEmpty && diff.changedChains.isEmpty && diff.addedSets.isEmpty)
            // No verdict element: set elements plus the veth's group.
            #expect(diff.addedMapElements.values.allSatisfy(\.isEmpty) && diff.removedMapElements.values.allSatisfy(\.isEmpty))
            #expect(report.linkChanges == 1 && report.pendingInterfaces.isEmpty)
            #expect(try topo.run(both).count == 3)
            // An operator (or anything else) resetting the group drops the
            // pod again: fail closed, and the next apply repairs it.
            try topo.node.ip("link", "set", "dev", "crcxd", "group", "0")
            #expect(try topo.run(both).map(\.description) == ["x/b->x/a:80/TCP"])
            #expect(try programmer.apply(PolicyCompiler().compile(policies, inventory)).linkChanges == 1)
            #expect(try topo.run(both).count == 3)
            try programmer.deleteTable()
        }
    }

    @Test func aPodMovingToANewProfileRetiresTheOldOne() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            // x/a alone is selected by "web" (its own profile); x/b and x/c share another.
            let policies = try PolicyParser.parse(k8s("x", "web", "podSelector: {matchLabels: {app: web}}\ningress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]")
                                                   + k8s("x", "api", "podSelector: {matchLabels: {app: api}}\ningress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]"))
            var inventory = topo.inventory()
            func label(_ id: String, _ app: String) {
                let i = inventory.endpoints.firstIndex { $0.id == id }!
                inventory.endpoints[i].labels["app"] = app
            }
            label("x/a", "web")
            let before = PolicyCompiler().compile(policies, inventory)
            try programmer.apply(before)
            let probes = [PodTopology.Probe(from: "x/b", to: "x/a", port: 80, proto: .tcp),
                          PodTopology.Probe(from: "x/c", to: "x/a", port: 80, proto: .tcp)]
            #expect(try topo.run(probes).map(\.from) == ["x/b"])
            // x/a becomes "api": a new profile; the "web" profile has no pod left.
            label("x/a", "api")
            let after = PolicyCompiler().compile(policies, inventory)
            let report = try programmer.apply(after)
            let diff = try #require(report.diff)
            #expect(!report.fullReplace && report.linkChanges == 1)
            #expect(diff.addedChains.count == 1 && diff.removedChains.count == 1)
            #expect(diff.addedMapElements.values.map(\.count) == [1, 1] && diff.removedMapElements.values.map(\.count) == [1, 1])
            // The kernel holds exactly the new state: no stale chain, element or set.
            #expect(try programmer.read() == after)
            #expect(try topo.run(probes).map(\.from) == ["x/c"])
            try programmer.deleteTable()
            #expect(try programmer.linkGroups(prefix: "crc").values.allSatisfy { $0 == 0 })
        }
    }

    @Test func anEndpointWhoseVethIsMissingIsPendingUntilItAppears() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let policies = try PolicyParser.parse(k8s("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]"))
            var inventory = topo.inventory()
            // The agent learns of x/d before its veth exists.
            inventory.endpoints.append(Endpoint(namespace: "x", name: "d", labels: ["pod": "d"], addresses: [NumericAddress("10.99.1.4")!], interface: "crcxd"))
            let desired = PolicyCompiler().compile(policies, inventory)
            let first = try programmer.apply(desired)
            #expect(first.pendingInterfaces == ["crcxd"])
            #expect(first.enforced.group(of: "crcxd") == 0 && first.enforced.group(of: "crcxa") != 0)
            #expect(try programmer.read() == first.enforced)
            // The veth appears; the next apply from the enforced state sets its group.
            try topo.addPod("x", "d", address: "10.99.1.4")
            let probe = [PodTopology.Probe(from: "x/d", to: "x/a", port: 80, proto: .tcp)]
            #expect(try topo.run(probe).isEmpty)  // group 0: dropped
            let second = try programmer.apply(desired, current: .some(first.enforced))
            #expect(second.pendingInterfaces.isEmpty && second.linkChanges == 1 && second.messages == 0)
            #expect(try programmer.read() == desired)
            #expect(try topo.run(probe).count == 1)
            try programmer.deleteTable()
        }
    }

    @Test func hostToPodIsAllowedUnderDefaultDeny() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let policies = try PolicyParser.parse(k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress, Egress]"))
            try programmer.apply(PolicyCompiler().compile(policies, topo.inventory()))
            let passed = try topo.run([PodTopology.Probe(from: "node", to: "x/a", port: 80, proto: .tcp),
                                       PodTopology.Probe(from: "y/a", to: "x/a", port: 80, proto: .tcp)])
            #expect(passed.map(\.description) == ["node->x/a:80/TCP"])
            try programmer.deleteTable()
        }
    }

    @Test func failedApplyLeavesThePreviousRulesetInForce() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let inventory = topo.inventory()
            let old = PolicyCompiler().compile(try PolicyParser.parse(k8s("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]")), inventory)
            try programmer.apply(old)
            // A new state whose last rule references a set that does not
            // exist: the kernel rejects the transaction at that message, after
            // accepting everything before it.
            var broken = PolicyCompiler().compile(try PolicyParser.parse(""), inventory)
            let last = broken.chains.count - 1
            broken.chains[last].rules.append(Rule(matches: [.addressInSet(.source, "no-such-set", .ipv4)], verdict: .drop, comment: "injected failure"))
            for full in [true, false] {
                #expect(throws: NFTablesError.self) {
                    if full { try programmer.replace(broken) } else { try programmer.apply(broken) }
                }
                #expect(try programmer.read() == old)
                let passed = try topo.run([PodTopology.Probe(from: "y/a", to: "x/a", port: 80, proto: .tcp),
                                           PodTopology.Probe(from: "x/a", to: "y/a", port: 80, proto: .tcp)])
                #expect(passed.map(\.description) == ["x/a->y/a:80/TCP"])
            }
            // The error names the failing message from its own bytes: its
            // chain, its position there and its comment.
            let failing = "add rule \(broken.chains[last].name)[\(broken.chains[last].rules.count - 1)] \"injected failure\""
            for full in [true, false] {
                do {
                    if full { try programmer.replace(broken) } else { try programmer.apply(broken) }
                    Issue.record("the broken ruleset was applied")
                } catch {
                    #expect("\(error)".contains(failing), "\(error)")
                }
            }
            try programmer.deleteTable()
        }
    }
}
