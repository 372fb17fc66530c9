import Foundation
import Testing
@testable import Policy

/// The rendered nft text for fixed inputs must not change by accident.
/// Regenerate with CARACAL_UPDATE_GOLDEN=1 after an intended change and
/// review the diff.
@Suite struct GoldenTests {
    static let goldenDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let cases: [(String, String)] = [
        ("k8s", np("x", "web", """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Ingress, Egress]
        ingress:
          - from:
              - {namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}}
              - {ipBlock: {cidr: 10.99.3.0/24, except: [10.99.3.2/32]}}
            ports: [{port: 80, endPort: 81}, {port: serve-80-udp, protocol: UDP}, {protocol: SCTP, port: 9000}]
        egress:
          - to: [{ipBlock: {cidr: "fd00::/64"}}]
          - ports: [{port: 53, protocol: UDP}]
        """) + np("y", "deny", "podSelector: {}\npolicyTypes: [Ingress]")),
        ("global", """
        apiVersion: caracal.io/v1
        kind: GlobalNetworkPolicy
        metadata: {name: guard}
        spec:
          order: 10
          selector: "pod in {'a', 'b'}"
          namespaceSelector: "ns != 'z'"
          types: [Ingress, Egress]
          ingress:
            - {action: Log, protocol: ICMP, icmp: {type: 8, code: 0}}
            - {action: Deny, protocol: TCP, source: {selector: "pod == 'c'", notNets: [10.99.2.0/24], ports: ["1024:65535"]}, destination: {ports: [81]}}
            - {action: Pass}
          egress:
            - {action: Allow, protocol: UDP, destination: {ports: [serve-81-udp]}}

        """ + np("x", "same", "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]")),
    ]

    @Test(arguments: cases.map(\.0))
    func renderingMatchesGolden(name: String) throws {
        let yaml = Self.cases.first { $0.0 == name }!.1
        let ruleset = PolicyCompiler().compile(try PolicyParser.parse(yaml), Fixtures.inventory)
        // The table, then which veth carries which profile group.
        let text = NftRenderer.render(ruleset) + NftRenderer.renderGroups(ruleset)
        let file = Self.goldenDir.appendingPathComponent("\(name).nft")
        if ProcessInfo.processInfo.environment["CARACAL_UPDATE_GOLDEN"] == "1" {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: file, encoding: .utf8)
        #expect(text == golden, "rendering of \(name) changed; rerun with CARACAL_UPDATE_GOLDEN=1 and review")
    }

    @Test func everyPolicyRuleIsCommentedWithItsOrigin() throws {
        for (_, yaml) in Self.cases {
            let r = PolicyCompiler().compile(try PolicyParser.parse(yaml), Fixtures.inventory)
            for c in r.chains { for rule in c.rules { #expect(!rule.comment.isEmpty, "\(c.name)") } }
            #expect(r.chains.flatMap(\.rules).contains { $0.comment.hasPrefix("NetworkPolicy x/") && $0.comment.contains(" rule ") })
        }
    }
}
