import Foundation
import Testing
@testable import Policy

/// Reachability through `explain` on the compiled ruleset.
struct Reach {
    let ruleset: Ruleset
    let explainer: PolicyExplainer
    init(_ policyYAML: String, inventory: EndpointInventory = Fixtures.inventory) throws {
        let set = try PolicyParser.parse(policyYAML)
        ruleset = PolicyCompiler().compile(set, inventory)
        explainer = PolicyExplainer(ruleset: ruleset, inventory: inventory)
    }
    func allowed(_ from: String, _ to: String, _ port: UInt16 = 80, _ proto: L4Protocol = .tcp) throws -> Bool {
        try explainer.explain(from: explainer.resolve(from), to: explainer.resolve(to), proto: proto, port: port).allowed
    }
    /// Every pod pair, as "x/a->y/b" for the allowed ones.
    func allowedPairs(_ port: UInt16 = 80, _ proto: L4Protocol = .tcp) throws -> Set<String> {
        var out = Set<String>()
        let all = Fixtures.namespaces.flatMap { ns in Fixtures.pods.map { "\(ns)/\($0)" } }
        for a in all { for b in all where a != b { if try allowed(a, b, port, proto) { out.insert("\(a)->\(b)") } } }
        return out
    }
}

func np(_ ns: String, _ name: String, _ spec: String) -> String {
    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: \(name), namespace: \(ns)}\nspec:\n" +
        spec.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n"
}

@Suite struct CompilerTests {
    static let allPods = Fixtures.namespaces.flatMap { ns in Fixtures.pods.map { "\(ns)/\($0)" } }
    static var allPairs: Set<String> {
        Set(allPods.flatMap { a in allPods.filter { $0 != a }.map { "\(a)->\($0)" } })
    }

    @Test func noPolicyAllowsEverything() throws {
        #expect(try Reach("").allowedPairs() == Self.allPairs)
    }

    @Test func defaultDenyIngressInNamespace() throws {
        let r = try Reach(np("x", "deny", "podSelector: {}\npolicyTypes: [Ingress]"))
        #expect(try r.allowedPairs() == Self.allPairs.filter { !$0.hasSuffix("->x/a") && !$0.contains("->x/") })
        let e = try r.explainer.explain(from: r.explainer.resolve("y/a"), to: r.explainer.resolve("x/b"), proto: .tcp, port: 80)
        #expect(!e.allowed && e.summary.contains("NetworkPolicy x/deny ingress"))
    }

    @Test func ingressFromSameNamespaceWithNamedPort() throws {
        let r = try Reach(np("x", "allow", """
        podSelector: {matchLabels: {pod: a}}
        ingress:
          - from: [{podSelector: {}}]
            ports: [{port: serve-81-tcp}]
        """))
        #expect(try r.allowed("x/b", "x/a", 81))
        #expect(try !r.allowed("x/b", "x/a", 80))
        #expect(try !r.allowed("y/b", "x/a", 81))
        #expect(try r.allowed("y/b", "x/b", 80))
        let e = try r.explainer.explain(from: r.explainer.resolve("x/b"), to: r.explainer.resolve("x/a"), proto: .tcp, port: 81)
        #expect(e.steps.contains { $0.comment == "NetworkPolicy x/allow ingress rule 0" })
    }

    @Test func podAndNamespaceSelectorsAreANDed() throws {
        let r = try Reach(np("x", "and", """
        podSelector: {matchLabels: {pod: a}}
        ingress:
          - from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]
        """))
        #expect(try r.allowed("y/b", "x/a"))
        #expect(try !r.allowed("y/a", "x/a"))
        #expect(try !r.allowed("x/b", "x/a"))
    }

    @Test func ipBlockExceptAndEndPortAndUnion() throws {
        let r = try Reach(np("x", "block", """
        podSelector: {}
        ingress:
          - from: [{ipBlock: {cidr: 10.99.2.0/24, except: [10.99.2.2/32]}}]
            ports: [{port: 80, endPort: 81}]
        """) + np("x", "other", """
        podSelector: {matchLabels: {pod: c}}
        ingress: [{from: [{namespaceSelector: {matchLabels: {ns: z}}}]}]
        """))
        #expect(try r.allowed("y/a", "x/b", 81))
        #expect(try !r.allowed("y/a", "x/b", 82))
        #expect(try !r.allowed("y/b", "x/b", 80))
        #expect(try r.allowed("z/a", "x/c", 9999))
        #expect(try r.allowed("y/c", "x/c", 80))
        #expect(try !r.allowed("z/a", "x/b", 80))
    }

    @Test func egressDefaultsAndProfilesAreShared() throws {
        let r = try Reach(np("x", "deny-egress", "podSelector: {}\npolicyTypes: [Egress]"))
        #expect(try !r.allowed("x/a", "y/a"))
        #expect(try r.allowed("y/a", "x/a"))
        // All three x pods share one profile (one group), whose egress goes
        // to the one egress profile chain; y and z pods share another.
        let groups = Set(r.ruleset.interfaceGroups.filter { $0.interface.hasPrefix("crcx") }.map(\.group))
        #expect(groups.count == 1)
        #expect(Set(r.ruleset.interfaceGroups.map(\.group)).count == 2)
        #expect(r.ruleset.fromProfile.count == 2 && r.ruleset.toProfile.count == 2)
        #expect(r.ruleset.fromProfile.first { $0.group == groups.first! }?.verdict.description.hasPrefix("goto k8s-out-") == true)
        #expect(r.ruleset.chains.filter { $0.name.hasPrefix("k8s-out-") }.count == 1)
    }

    @Test func newPodWithExistingProfileAddsOnlyElements() throws {
        let policies = try PolicyParser.parse(np("x", "allow", """
        podSelector: {matchLabels: {pod: a}}
        ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
        """))
        var inv = Fixtures.inventory
        let before = PolicyCompiler().compile(policies, inv)
        inv.endpoints.append(Endpoint(namespace: "x", name: "b2", labels: ["pod": "b"], addresses: [NumericAddress("10.99.1.20")!], interface: "crcxb2"))
        let after = PolicyCompiler().compile(policies, inv)
        #expect(before.chains == after.chains)
        #expect(before.sets.map(\.name) == after.sets.map(\.name))
        #expect(before.sets != after.sets)
        // No verdict element: the new veth joins its profile's group.
        #expect(after.fromProfile == before.fromProfile && after.toProfile == before.toProfile)
        #expect(after.interfaceGroups.count == before.interfaceGroups.count + 1)
        #expect(after.group(of: "crcxb2") == after.group(of: "crcxb") && after.group(of: "crcxb2") != 0)
        let diff = RulesetDiff(from: before, to: after)
        #expect(diff.addedMapElements.values.allSatisfy(\.isEmpty) && diff.groupChanges == [InterfaceGroup(interface: "crcxb2", group: after.group(of: "crcxb"))])
    }

    @Test func profileGroupsAreStableNonZeroAndDistinct() throws {
        let a = ProfileGroups.Profile(egress: "no-policy", ingress: "k8s-in-1")
        let b = ProfileGroups.Profile(egress: "k8s-out-2", ingress: "no-policy")
        let one = ProfileGroups.assign([a, b])
        #expect(one[a] == ProfileGroups.preferred(a) && one[b] == ProfileGroups.preferred(b))
        // Adding profiles does not renumber the others (barring a hash collision).
        var many = Set((0..<500).map { ProfileGroups.Profile(egress: "k8s-out-\($0)", ingress: "k8s-in-\($0 % 7)") })
        many.formUnion([a, b])
        let all = ProfileGroups.assign(many)
        #expect(all[a] == one[a] && all[b] == one[b])
        #expect(Set(all.values).count == all.count)
        #expect(all.values.allSatisfy { $0 >= 1 && $0 <= ProfileGroups.maxGroup })
    }

    @Test func groupCollisionsProbeToTheNextFreeNumber() throws {
        // Every profile hashes to the top number: the first in sorted order
        // keeps it, the next ones wrap around to 1, 2.
        let ps = ["c", "a", "b"].map { ProfileGroups.Profile(egress: $0, ingress: "x") }
        let assigned = ProfileGroups.assign(Set(ps)) { _ in ProfileGroups.maxGroup }
        #expect(assigned[ps[1]] == ProfileGroups.maxGroup && assigned[ps[2]] == 1 && assigned[ps[0]] == 2)
    }

    @Test func unknownInterfaceHasGroupZeroAndIsDroppedByExplain() throws {
        let r = try Reach(np("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]"))
        #expect(r.ruleset.group(of: "crcxz") == 0)
        let e = RulesetEvaluator(r.ruleset).evaluate(PacketProbe(hook: .forward, inputInterface: "crcxz", outputInterface: "crcya",
                                                                  source: NumericAddress("10.99.1.9")!, destination: NumericAddress("10.99.2.1")!,
                                                                  proto: .tcp, destinationPort: 80))
        #expect(!e.allowed && e.summary.contains("fail closed"))
        // A host interface outside the prefix never meets the profile maps,
        // whatever its group: the dispatch rule is guarded by the prefix.
        let host = RulesetEvaluator(r.ruleset).evaluate(PacketProbe(hook: .forward, inputInterface: "eth0", outputInterface: "crcya",
                                                                     source: NumericAddress("192.0.2.1")!, destination: NumericAddress("10.99.2.1")!,
                                                                     proto: .tcp, destinationPort: 80))
        #expect(host.allowed)
    }

    @Test func renderingIsDeterministic() throws {
        let yaml = np("x", "a", "podSelector: {}\ningress: [{from: [{namespaceSelector: {}}]}]") + np("y", "b", "podSelector: {}\npolicyTypes: [Egress]")
        let set = try PolicyParser.parse(yaml)
        var inv = Fixtures.inventory
        let one = NftRenderer.render(PolicyCompiler().compile(set, inv))
        inv.endpoints.reverse()
        let two = NftRenderer.render(PolicyCompiler().compile(PolicySet(networkPolicies: set.networkPolicies.reversed()), inv))
        #expect(one == two)
        if let dir = ProcessInfo.processInfo.environment["CARACAL_RENDER_OUT"] {
            try one.write(toFile: dir, atomically: true, encoding: .utf8)
        }
    }
}

@Suite struct NamingTests {
    /// nft's scanner: identifiers start with a letter, '_' or '.', then
    /// letters, digits, '/', '-', '_', '.'.
    static func isNftIdentifier(_ s: String) -> Bool {
        guard let first = s.first, first.isASCII, first.isLetter || first == "_" || first == "." else { return false }
        return s.utf8.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/-_.".contains($0)) }
    }

    @Test func longNamesStayValidAndDistinct() throws {
        let long = String(repeating: "very-long-policy-name-", count: 10) + "end"
        let yaml = np("x", long + "1", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]")
            + np("x", long + "2", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]")
        let r = PolicyCompiler().compile(try PolicyParser.parse(yaml), Fixtures.inventory)
        let names = r.sets.map(\.name) + r.chains.map(\.name)
        for n in names { #expect(Self.isNftIdentifier(n), "\(n)") }
        #expect(Set(r.sets.map(\.name)).count == r.sets.count)
        // Both policies have the same peers: they share one set per family.
        #expect(r.sets.count == 2)
        let setNames = Set(r.sets.map(\.name))
        let users = r.chains.flatMap(\.rules).filter { rule in
            rule.matches.contains { if case .addressInSet(_, let n, _) = $0 { setNames.contains(n) } else { false } }
        }
        #expect(users.count == 4)  // two policies × two families
    }
}
