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
                let reread = try NFTablesProgrammer(namespace: other.namespace).read()
                #expect(reread == ruleset)
            }
            try programmer.deleteTable()
            #expect(try programmer.read() == nil)
        }
    }
}
