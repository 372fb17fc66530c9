import Testing
@testable import Policy

/// The incremental compiler against the full compiler: after every event
/// of random sequences, both give the same ruleset.
@Suite struct IncrementalTests {
    /// A small deterministic generator (xorshift64*), so failures replay.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
    }

    static let policies = GoldenTests.cases.map(\.1).joined(separator: "\n---\n") + np("y", "named", """
        podSelector: {matchLabels: {app: db}}
        policyTypes: [Ingress, Egress]
        ingress:
          - from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}}]
            ports: [{port: http, protocol: TCP}]
        egress:
          - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]
            ports: [{port: metrics, protocol: TCP}]
        """) + """
        ---
        apiVersion: caracal.io/v1
        kind: GlobalNetworkPolicy
        metadata: {name: web-pass}
        spec:
          order: 5
          selector: "app == 'web'"
          ingress:
            - {action: Deny, protocol: TCP, source: {selector: "app == 'api'"}, destination: {ports: [http]}}
            - {action: Pass}

        """

    static func endpoint(_ id: Int, _ g: inout Generator) -> Endpoint {
        let ns = ["x", "y", "z", "w"][Int(g.next() % 4)]
        let apps = ["web", "api", "db"]
        var labels = ["pod": ["a", "b", "c"][Int(g.next() % 3)]]
        if g.next() % 4 != 0 { labels["app"] = apps[Int(g.next() % 3)] }
        var addresses = [NumericAddress(family: .ipv4, value: 0x0A63_0000 + UInt128(id))]
        if g.next() % 3 == 0 { addresses.append(NumericAddress(family: .ipv6, value: (0xFD00 << 112) + UInt128(id))) }
        let ports: [NamedPort] = g.next() % 2 == 0
            ? [NamedPort(name: "http", port: UInt16(8000 + g.next() % 3), proto: .tcp), NamedPort(name: "metrics", port: 9100, proto: .tcp)] : []
        return Endpoint(namespace: ns, name: "p\(id)", labels: labels, addresses: addresses,
                        interface: g.next() % 5 == 0 ? nil : "crcp\(id)", ports: ports)
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func matchesFullCompileAfterEveryEvent(seed: UInt64) throws {
        var g = Generator(state: 0x9E37_79B9_7F4A_7C15 &* seed)
        let policies = try PolicyParser.parse(Self.policies)
        var model: [String: Endpoint] = [:]
        let namespaces = Fixtures.inventory.namespaces
        var start = EndpointInventory(namespaces: namespaces)
        for id in 0..<12 {
            var e = Self.endpoint(id, &g)
            if e.namespace == "w" { e.namespace = "x" }  // "w" arrives later: a new namespace
            start.endpoints.append(e)
            model[e.id] = e
        }
        var inc = IncrementalPolicyCompiler(policies: policies, inventory: start)
        #expect(inc.ruleset == PolicyCompiler().compile(policies, start))
        for step in 0..<60 {
            switch g.next() % 3 {
            case 0:  // a new pod
                let e = Self.endpoint(100 + step, &g)
                inc.upsert(e)
                model[e.id] = e
            case 1:  // an existing pod changes (labels, ports, interface)
                guard let id = model.keys.sorted().randomElement(using: &g) else { continue }
                var e = Self.endpoint(Int(id.split(separator: "p").last!)!, &g)
                e.namespace = model[id]!.namespace
                inc.upsert(e)
                model[id] = e
            default:  // a pod goes
                guard let id = model.keys.sorted().randomElement(using: &g) else { continue }
                inc.remove(id: id)
                model[id] = nil
            }
            let full = PolicyCompiler().compile(policies, EndpointInventory(namespaces: namespaces, endpoints: model.values.sorted { $0.id < $1.id }))
            #expect(inc.ruleset == full, "seed \(seed) step \(step)")
            if inc.ruleset != full { break }
        }
    }

    @Test func aPodWithAnExistingProfileTouchesOnlyItsSetsAndGroup() throws {
        let policies = try PolicyParser.parse(Self.policies)
        var inc = IncrementalPolicyCompiler(policies: policies, inventory: Fixtures.inventory)
        let before = inc.ruleset
        inc.upsert(Endpoint(namespace: "x", name: "b2", labels: ["pod": "b"], addresses: [NumericAddress("10.99.1.20")!], interface: "crcxb2"))
        let diff = RulesetDiff(from: before, to: inc.ruleset)
        #expect(diff.addedChains.isEmpty && diff.changedChains.isEmpty && diff.addedSets.isEmpty && diff.removedSets.isEmpty)
        #expect(diff.addedMapElements.values.allSatisfy { $0.isEmpty })
        #expect(diff.groupChanges == [InterfaceGroup(interface: "crcxb2", group: inc.ruleset.group(of: "crcxb"))])
        #expect(!diff.changedSets.isEmpty)
    }
}
