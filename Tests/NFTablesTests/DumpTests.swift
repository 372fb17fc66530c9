import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

/// Normalizes nft text for comparison up to formatting: whitespace, line
/// wrapping and element order, and nft's shorthand for `meta l4proto X th`.
func normalizedNft(_ text: String) -> [String] {
    var joined = text.replacingOccurrences(of: "\n", with: " ")
    joined = joined.replacingOccurrences(of: "\t", with: " ")
    while joined.contains("  ") { joined = joined.replacingOccurrences(of: "  ", with: " ") }
    // The listing shows a counter's values; the rendering only the counter.
    joined = joined.replacingOccurrences(of: #"counter packets \d+ bytes \d+"#, with: "counter", options: .regularExpression)
    for p in ["tcp", "udp", "sctp"] {
        joined = joined.replacingOccurrences(of: "meta l4proto \(p) th ", with: "\(p) ")
    }
    // Split into statements at braces; sort element lists.
    var out: [String] = []
    var current = ""
    var i = joined.startIndex
    while i < joined.endIndex {
        let c = joined[i]
        if joined[i...].hasPrefix("elements = { "), let close = joined[i...].firstIndex(of: "}") {
            let body = joined[joined.index(i, offsetBy: 13)..<close]
            let items = body.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.sorted()
            out.append(current.trimmingCharacters(in: .whitespaces)); current = ""
            out.append("elements = { " + items.joined(separator: ", ") + " }")
            i = joined.index(after: close)
            continue
        }
        if c == "{" || c == "}" {
            out.append(current.trimmingCharacters(in: .whitespaces) + String(c)); current = ""
        } else {
            current.append(c)
        }
        i = joined.index(after: i)
    }
    out.append(current.trimmingCharacters(in: .whitespaces))
    return out.filter { !$0.isEmpty }
}

@Suite(.serialized) struct DumpTests {
    static let policies = k8s("x", "web", """
        podSelector: {matchLabels: {pod: a}}
        ingress:
          - from: [{namespaceSelector: {matchLabels: {ns: y}}}, {ipBlock: {cidr: 10.99.3.0/24, except: [10.99.3.2/32]}}]
            ports: [{port: 80, endPort: 81}, {port: serve-80-udp, protocol: UDP}]
        """) + k8s("y", "deny-egress", "podSelector: {}\npolicyTypes: [Egress]")

    @Test func dumpIsValidNftAndEqualsTheKernelListing() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let ruleset = PolicyCompiler().compile(try PolicyParser.parse(Self.policies), topo.inventory())
            try programmer.apply(ruleset)
            let dump = NftRenderer.render(try #require(try programmer.read()))
            #expect(dump == NftRenderer.render(ruleset))
            try TemporaryDirectory.with { dir in
                let file = dir.appendingPathComponent("dump.nft")
                try dump.write(to: file, atomically: true, encoding: .utf8)
                // Check mode, inside the test's namespace.
                try topo.node.check(["nft", "-c", "-f", file.path])
                let listing = try topo.node.check(["nft", "list", "table", "inet", "caracal"]).stdout
                #expect(normalizedNft(listing) == normalizedNft(dump))
                // And nft loading the dump produces the same kernel state.
                let other = try net.namespace("reload")
                try other.check(["nft", "-f", file.path])
                // (The text holds the table, not the veths' groups: link state.)
                let reread = try NFTablesProgrammer(namespace: other.namespace).read()
                #expect(reread == ruleset.tableOnly)
            }
            try programmer.deleteTable()
            #expect(try programmer.read() == nil)
        }
    }
}

/// Every kind of match the compiler emits survives the kernel round trip:
/// IPv6 sets, complements reaching the top of the address space (no end
/// element), tuple sets of both families, ICMP type/code, log, source port
/// ranges, Pass gotos.
@Suite(.serialized) struct RoundTripTests {
    static let everything = k8s("x", "web", """
        podSelector: {matchLabels: {pod: a}}
        policyTypes: [Ingress, Egress]
        ingress:
          - from: [{ipBlock: {cidr: "fd00::/64", except: ["fd00::1/128"]}}, {namespaceSelector: {}}]
            ports: [{port: serve-80-udp, protocol: UDP}, {protocol: SCTP, port: 9000, endPort: 9100}]
        egress:
          - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
        """) + gnp("guard", """
        order: 1
        types: [Ingress, Egress]
        ingress:
          - {action: Log, protocol: ICMP, icmp: {type: 8, code: 0}}
          - {action: Allow, protocol: ICMPv6, icmp: {type: 128}}
          - {action: Deny, protocol: TCP, source: {notNets: [10.99.2.0/24, "fd00::/8"], ports: ["1024:65535"]}, destination: {ports: [81, serve-81-tcp]}}
          - {action: Pass}
        egress:
          - {action: Allow, protocol: UDP, destination: {selector: "pod == 'b'", ports: [serve-81-udp]}}
          - {action: Pass}
        """)

    @Test func everyMatchKindReadsBackEqual() throws {
        try withTestNetwork { net in
            let topo = try PodTopology(net)
            let programmer = try NFTablesProgrammer(namespace: topo.node.namespace)
            let ruleset = PolicyCompiler().compile(try PolicyParser.parse(Self.everything), topo.inventory())
            try programmer.apply(ruleset)
            let back = try #require(try programmer.read())
            #expect(back == ruleset)
            #expect(!NftRenderer.render(back).contains("UNRECOGNIZED"))
            #expect(try programmer.apply(ruleset).messages == 0)
            try TemporaryDirectory.with { dir in
                let file = dir.appendingPathComponent("dump.nft")
                try NftRenderer.render(back).write(to: file, atomically: true, encoding: .utf8)
                try topo.node.check(["nft", "-c", "-f", file.path])
                // nft lists ICMP rules exactly as Caracal prints them, and
                // loading the text gives back the same kernel expressions
                // (ICMP type and code included).
                let listing = try topo.node.check(["nft", "list", "table", "inet", "caracal"]).stdout
                let icmpRules = NftRenderer.render(back).split(separator: "\n")
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("icmp") }
                #expect(icmpRules.contains { $0.contains("icmp code") } && icmpRules.contains { $0.hasPrefix("icmpv6 type") })
                for rule in icmpRules { #expect(listing.contains(rule), "nft lists it otherwise: \(rule)") }
                let other = try net.namespace("reload")
                try other.check(["nft", "-f", file.path])
                #expect(try NFTablesProgrammer(namespace: other.namespace).read() == ruleset.tableOnly)
            }
            // Kernel and explain agree on what this state allows.
            let probes: [PodTopology.Probe] = [
                .init(from: "x/b", to: "x/a", port: 80, proto: .udp),  // Pass, then the named UDP port
                .init(from: "x/b", to: "x/a", port: 81, proto: .udp),  // Pass, no rule for UDP 81: isolated
                .init(from: "x/b", to: "x/a", port: 81, proto: .tcp),  // global Deny (source outside notNets)
                .init(from: "x/a", to: "y/b", port: 81, proto: .udp),  // global egress Allow to pod b's named port
                .init(from: "x/a", to: "y/b", port: 80, proto: .udp),  // Pass, then egress ipBlock excludes 10/8
            ]
            let passed = try topo.run(probes)
            #expect(passed.map(\.description).sorted() == ["x/a->y/b:81/UDP", "x/b->x/a:80/UDP"])
            let explainer = PolicyExplainer(ruleset: back, inventory: topo.inventory())
            for p in probes {
                let e = try explainer.explain(from: explainer.resolve(p.from), to: explainer.resolve(p.to), proto: p.proto, port: p.port)
                #expect(e.allowed == passed.contains(p), "\(p): \(e)")
            }
            try programmer.deleteTable()
        }
    }
}
