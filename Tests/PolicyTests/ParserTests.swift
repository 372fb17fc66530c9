import Testing
@testable import Policy

@Suite struct ParserTests {
    @Test func parsesMultiDocumentK8sAndGlobal() throws {
        let yaml = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: web, namespace: x}
        spec:
          podSelector:
            matchLabels: {pod: a}
            matchExpressions:
              - {key: tier, operator: In, values: [fe]}
          ingress:
            - from:
                - podSelector: {matchLabels: {pod: b}}
                  namespaceSelector: {matchLabels: {ns: y}}
                - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
              ports:
                - {port: 80}
                - {protocol: UDP, port: serve-53, }
                - {protocol: SCTP, port: 1000, endPort: 2000}
        ---
        apiVersion: caracal.io/v1
        kind: GlobalNetworkPolicy
        metadata: {name: deny-db}
        spec:
          order: 10
          selector: "role == 'db'"
          ingress:
            - action: Deny
              protocol: TCP
              source: {namespaceSelector: "ns == 'z'", nets: [10.0.0.0/8], notNets: [10.9.0.0/16]}
              destination: {ports: [5432, "6000:6010", "metrics"]}
            - action: Allow
              protocol: ICMP
              icmp: {type: 8, code: 0}
          egress:
            - action: Pass
        """
        let set = try PolicyParser.parse(yaml)
        #expect(set.networkPolicies.count == 1)
        let np = set.networkPolicies[0]
        #expect(np.namespace == "x" && np.name == "web")
        #expect(np.policyTypes == [.ingress])
        #expect(np.ingress[0].peers.count == 2)
        #expect(np.ingress[0].ports == [
            NetworkPolicyPort(proto: .tcp, port: .range(80, 80)),
            NetworkPolicyPort(proto: .udp, port: .named("serve-53")),
            NetworkPolicyPort(proto: .sctp, port: .range(1000, 2000)),
        ])
        let g = set.globalPolicies[0]
        #expect(g.order == 10 && g.types == [.ingress, .egress])
        #expect(g.ingress[0].destination.ports == [.range(5432, 5432), .range(6000, 6010), .named("metrics")])
        #expect(g.ingress[1].icmp == ICMPMatch(type: 8, code: 0))
        #expect(g.egress[0].action == .pass)
    }

    @Test func policyTypesDefaults() throws {
        let onlyEgress = try PolicyParser.parse("""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p, namespace: x}
        spec:
          podSelector: {}
          egress: [{}]
        """).networkPolicies[0]
        #expect(onlyEgress.policyTypes == [.ingress, .egress])
        let explicit = try PolicyParser.parse("""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p, namespace: x}
        spec:
          podSelector: {}
          policyTypes: [Egress]
        """).networkPolicies[0]
        #expect(explicit.policyTypes == [.egress])
    }

    func error(_ yaml: String) -> PolicyInputError? {
        do { _ = try PolicyParser.parse(yaml); return nil } catch { return error }
    }

    @Test func unknownFieldNamesDocumentPathAndPosition() throws {
        let e = try #require(error("""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: ok, namespace: x}
        spec: {podSelector: {}}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: bad, namespace: x}
        spec:
          podSelector: {}
          ingress:
            - from:
                - podSelectr: {}
        """))
        #expect(e.document == 2)
        #expect(e.path == "spec.ingress[0].from[0].podSelectr")
        #expect(e.line == 13 && e.column == 11, "\(e)")
        #expect(e.message.contains("unknown field"))
    }

    @Test func badSelectorNamesPosition() throws {
        let e = try #require(error("""
        apiVersion: caracal.io/v1
        kind: GlobalNetworkPolicy
        metadata: {name: g}
        spec:
          selector: "app == 'web' &&& x"
        """))
        #expect(e.document == 1 && e.path == "spec.selector" && e.line == 5)
        #expect(e.message.contains("position 15"))
    }

    @Test func badYAMLNamesDocument() throws {
        let e = try #require(error("kind: NetworkPolicy\n---\nfoo: [unclosed\n"))
        #expect(e.document == 2)
        #expect(e.line != nil)
    }

    @Test(arguments: [
        ("spec: {podSelector: {}, ingress: [{ports: [{port: 0}]}]}", "spec.ingress[0].ports[0].port"),
        ("spec: {podSelector: {}, ingress: [{ports: [{port: http, endPort: 90}]}]}", "spec.ingress[0].ports[0].endPort"),
        ("spec: {podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}", "spec.ingress[0].ports[0].endPort"),
        ("spec: {podSelector: {}, ingress: [{ports: [{protocol: ICMP}]}]}", "spec.ingress[0].ports[0].protocol"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/8}}]}]}", "spec.ingress[0].from[0].ipBlock.cidr"),
        ("spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]}]}", "spec.ingress[0].from[0].ipBlock.except[0]"),
        ("spec: {podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}}", "spec.podSelector.matchExpressions[0].values"),
        ("spec: {podSelector: {matchExpressions: [{key: a, operator: Has}]}}", "spec.podSelector.matchExpressions[0].operator"),
        ("spec: {podSelector: {}, policyTypes: [Sideways]}", "spec.policyTypes[0]"),
        ("spec: {podSelector: {}, ingress: [{from: [{}]}]}", "spec.ingress[0].from[0]"),
    ])
    func invalidK8sFields(spec: String, path: String) throws {
        let e = try #require(error("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n" + spec))
        #expect(e.path == path, "\(e)")
    }

    @Test func duplicatesAndKinds() {
        let one = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec: {}\n"
        #expect(error(one + "---\n" + one)?.message.contains("duplicate") == true)
        #expect(error("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")?.path == "kind")
        #expect(error("apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {}\n")?.path == "apiVersion")
    }

    @Test func listsAndEmptyDocuments() throws {
        let s = try PolicyParser.parse("""
        ---
        apiVersion: v1
        kind: List
        items:
          - apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: p, namespace: x}
            spec: {podSelector: {}}
        ---
        """)
        #expect(s.networkPolicies.count == 1 && s.networkPolicies[0].ingress.isEmpty)
    }

    @Test func endpointsFile() throws {
        let inv = Fixtures.inventory
        #expect(inv.endpoints.count == 9)
        #expect(inv.namespaceLabels("y") == ["ns": "y", "kubernetes.io/metadata.name": "y"])
        #expect(inv.endpoint(named: "z/c")?.interface == "crczc")
        #expect(throws: PolicyInputError.self) { try EndpointParser.parse("endpoints: [{namespace: x, name: a, ips: [1.2.3]}]") }
        #expect(throws: PolicyInputError.self) { try EndpointParser.parse("endpoints: [{namespace: x, name: a, ips: [1.2.3.4]}, {namespace: x, name: b, ips: [1.2.3.4]}]") }
        // JSON is YAML.
        let json = try EndpointParser.parse(#"{"endpoints": [{"namespace": "x", "name": "a", "ips": ["fd00::1"], "interface": "crc1"}]}"#)
        #expect(json.endpoints[0].addresses == [NumericAddress("fd00::1")!])
    }
}
