import Foundation
import NFTables
import Policy
import TestSupport
import Testing

/// `caracal policy …` end to end: the real binary, a test namespace, files
/// in a temporary directory.
@Suite(.serialized) struct CLITests {
    static var caracal: String { BuiltProduct.path("caracal") }

    @Test func applyDumpDiffExplainAndRejectBadInput() throws {
        try TemporaryDirectory.with { dir in
            try withTestNetwork { net in
                let node = try net.namespace("node")
                let policies = dir.appendingPathComponent("p.yaml").path, endpoints = dir.appendingPathComponent("e.yaml").path
                let state = dir.appendingPathComponent("state").path
                try (k8s("x", "web", "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}], ports: [{port: 80}]}]"))
                    .write(toFile: policies, atomically: true, encoding: .utf8)
                try """
                namespaces: [{name: x, labels: {ns: x}}, {name: y, labels: {ns: y}}]
                endpoints:
                  - {namespace: x, name: a, labels: {pod: a}, ips: [10.99.1.1], interface: crcxa}
                  - {namespace: y, name: b, labels: {pod: b}, ips: [10.99.2.2], interface: crcyb}
                """.write(toFile: endpoints, atomically: true, encoding: .utf8)
                func run(_ args: [String]) throws -> CommandResult { try Command.run([Self.caracal, "policy"] + args) }

                // Offline explain: no kernel involved.
                let allow = try run(["explain", "--policies", policies, "--endpoints", endpoints, "--from", "y/b", "--to", "x/a", "--port", "80/TCP"])
                #expect(allow.status == 0 && allow.stdout.contains("NetworkPolicy x/web ingress rule 0"), "\(allow)")
                let deny = try run(["explain", "--policies", policies, "--endpoints", endpoints, "--from", "10.99.2.2", "--to", "x/a", "--port", "81/TCP", "--json"])
                #expect(deny.status == 1 && deny.stdout.contains("\"allowed\" : false"))

                let dry = try run(["apply", "-f", policies, "--endpoints", endpoints, "--netns", node.name, "--state-dir", state, "--dry-run"])
                #expect(dry.status == 0 && dry.stdout.contains("table inet caracal"))
                #expect(try NFTablesProgrammer(namespace: node.namespace).read() == nil, "dry run changes nothing")

                // x/a's host veth exists (its pod end stays unplugged); y/b's
                // does not yet: it is pending, not drift.
                try node.ip("link", "add", "crcxa", "type", "veth", "peer", "name", "podxa")
                let apply = try run(["apply", "-f", policies, "--endpoints", endpoints, "--netns", node.name, "--state-dir", state, "--json"])
                #expect(apply.status == 0 && apply.stdout.contains("\"applied\" : true") && apply.stdout.contains("\"pendingInterfaces\" : [\n    \"crcyb\""), "\(apply)")
                let group = try #require(try NFTablesProgrammer(namespace: node.namespace).linkGroups(prefix: "crc")["crcxa"])
                #expect(group != 0)
                let clean = try run(["dump", "--diff", "--netns", node.name, "--state-dir", state])
                #expect(clean.status == 0 && clean.stdout.contains("no drift") && clean.stdout.contains("crcyb not present yet"), "\(clean)")
                let dump = try run(["dump", "--netns", node.name])
                #expect(dump.stdout.contains("comment \"NetworkPolicy x/web ingress rule 0\""))
                #expect(dump.stdout.contains("# link crcxa group \(group)"))
                // The dump, link lines included, is valid nft syntax.
                let dumpFile = dir.appendingPathComponent("dump.nft")
                try dump.stdout.write(to: dumpFile, atomically: true, encoding: .utf8)
                try node.check(["nft", "-c", "-f", dumpFile.path])
                // The kernel's explain reads the group: x/a's ingress profile
                // decides; y/b's veth has no group yet, so its packets are dropped.
                let kernelExplain = try run(["explain", "--kernel", "--netns", node.name, "--state-dir", state, "--from", "10.99.3.3", "--to", "x/a", "--port", "81/TCP"])
                let pendingExplain = try run(["explain", "--kernel", "--netns", node.name, "--state-dir", state, "--from", "y/b", "--to", "x/a", "--port", "80/TCP"])
                #expect(pendingExplain.status == 1 && pendingExplain.stdout.contains("fail closed"), "\(pendingExplain)")
                #expect(kernelExplain.status == 1 && kernelExplain.stdout.contains("x/web"), "\(kernelExplain)")

                // Drift made behind Caracal's back shows up: a map element…
                try node.check(["nft", "add", "element", "inet", "caracal", "to-profile", "{ 4242 : accept }"])
                let drift = try run(["dump", "--diff", "--netns", node.name, "--state-dir", state])
                #expect(drift.status == 2 && drift.stdout.contains("4242"))
                try node.check(["nft", "delete", "element", "inet", "caracal", "to-profile", "{ 4242 }"])
                // …and a veth whose group is not its profile's.
                try node.ip("link", "set", "dev", "crcxa", "group", "7")
                let groupDrift = try run(["dump", "--diff", "--netns", node.name, "--state-dir", state])
                #expect(groupDrift.status == 2 && groupDrift.stdout.contains("~ link crcxa group 7, intended \(group)"), "\(groupDrift)")
                try node.ip("link", "set", "dev", "crcxa", "group", "\(group)")

                // Bad input: error names the document and field; nothing applied.
                let before = try NFTablesProgrammer(namespace: node.namespace).read()
                try (k8s("x", "web", "podSelector: {}\npolicyTypes: [Ingress]") + k8s("x", "bad", "podSelector: {}\ningres: []"))
                    .write(toFile: policies, atomically: true, encoding: .utf8)
                let bad = try run(["apply", "-f", policies, "--endpoints", endpoints, "--netns", node.name, "--state-dir", state])
                #expect(bad.status != 0 && bad.stderr.contains("document 2") && bad.stderr.contains("spec.ingres"), "\(bad)")
                #expect(try NFTablesProgrammer(namespace: node.namespace).read() == before)
            }
        }
    }
}
