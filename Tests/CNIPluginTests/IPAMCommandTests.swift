import CNI
import Foundation
import Testing
import TestSupport
import JSON

/// `caracal ipam ...` against a datastore the plugin wrote.
@Suite("caracal ipam commands", .serialized)
struct IPAMCommandTests {
    var caracal: String { (PluginHarness.binaryPath as NSString).deletingLastPathComponent + "/caracal" }

    /// Runs `caracal ipam ARGS` in `node` (the plugin's node namespace, so
    /// that the live checks read that node's links and routes).
    func ipam(_ db: String, _ args: [String], in node: TestNamespace? = nil) throws -> CommandResult {
        let command = [caracal, "ipam"] + args + ["--datastore", db]
        return try node.map { try $0.run(command + ["--node", "node1"]) } ?? Command.run(command)
    }

    func json(_ r: CommandResult) throws -> JSONValue { try JSONValue.parse(Array(r.stdout.utf8)) }

    @Test func checkFindsAVanishedNamespaceAndGCReleasesItOnTheSecondLook() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let p = try PluginHarness(host: try net.namespace("node"), dir: dir)
                let keep = try net.namespace("keep"), gone = try net.namespace("gone")
                #expect(try p.add("keep", pod: keep).status == 0)
                let add = try p.add("gone", pod: gone)
                let ip = try #require(add.json?.firstIP)
                #expect(try ipam(p.db, ["check"], in: p.host).succeeded)
                // The namespace vanishes without a DEL (a reboot; podman
                // refuses DEL once the namespace is gone).
                try Command.check(["ip", "netns", "delete", gone.name])
                let check = try ipam(p.db, ["check", "--json"], in: p.host)
                #expect(check.status == 1)
                let findings = try #require(try json(check)["findings"]?.arrayValue)
                #expect(findings.count == 1 && findings[0]["kind"] == "networkNamespaceGone" && findings[0]["containerID"] == "gone", "\(check.stdout)")
                // First look: only observed. Second look: released.
                let first = try json(try ipam(p.db, ["gc", "--min-age", "0", "--json"], in: p.host))
                #expect(first["observed"]?.arrayValue?.count == 1 && first["removed"]?.arrayValue?.isEmpty == true)
                #expect(try ipam(p.db, ["show", ip, "--json"]).stdout.contains("allocated"))
                let second = try json(try ipam(p.db, ["gc", "--min-age", "0", "--json"], in: p.host))
                #expect(second["removed"]?.arrayValue?.first?["containerID"] == "gone", "\(second)")
                #expect(try p.keys("ipam/handles/") == ["ipam/handles/keep/eth0"])
                #expect(try ipam(p.db, ["check"], in: p.host).succeeded, "nothing left to find")
                // A stray host veth (no record) is also seen twice before it goes;
                // a long --min-age keeps it.
                try p.host.ip("link", "add", "crc00000000000", "type", "veth", "peer", "name", "strayp")
                #expect(try ipam(p.db, ["gc", "--min-age", "0"], in: p.host).succeeded)
                #expect(try p.hostLinks().contains("crc00000000000"))
                #expect(try ipam(p.db, ["gc", "--min-age", "3600"], in: p.host).succeeded)
                #expect(try p.hostLinks().contains("crc00000000000"), "not old enough")
                #expect(try ipam(p.db, ["gc", "--min-age", "0"], in: p.host).succeeded)
                #expect(try !p.hostLinks().contains("crc00000000000"))
                #expect(try p.keys("endpoints/") == ["endpoints/keep/eth0"], "the live pod is untouched")
                #expect(try ipam(p.db, ["check"], in: p.host).succeeded)
            }
        }
    }

    @Test func poolsShowHistoryCheckRelease() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let p = try PluginHarness(host: try net.namespace("node"), dir: dir)
                let db = p.db
                // An admin creates a pool; the plugin allocates from it by name.
                let create = try ipam(db, ["pool", "create", "shop", "--cidr", "10.50.0.0/24", "--block-size", "28",
                                           "--quota", "shop=5", "--exclude", "10.50.0.0-10.50.0.3", "--json"])
                #expect(create.succeeded, "\(create.stderr)")
                #expect(!(try ipam(db, ["pool", "create", "bad", "--cidr", "10.50.0.128/25"])).succeeded, "overlap refused")
                let pod = try net.namespace("pod")
                let before = Date()
                let add = try p.add("c1", pod: pod, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-0",
                                    config: p.config(pools: ["shop"]))
                #expect(add.status == 0, "\(add.stdout)")
                let ip = try #require(add.json?.firstIP)
                #expect(ip == "10.50.0.4", "the excluded range is skipped")

                let pools = try json(try ipam(db, ["pools", "--json"]))
                #expect(pools.arrayValue?.first?["pool"]?["name"] == "shop")
                #expect(pools.arrayValue?.first?["allocated"] == 1)
                #expect(pools.arrayValue?.first?["usageByNamespace"]?["shop"] == 1)

                let list = try json(try ipam(db, ["list", "--node", "node1", "--json"]))
                #expect(list.arrayValue?.count == 1 && list.arrayValue?.first?["ip"] == .string(ip))
                #expect(list.arrayValue?.first?["holder"]?["pod"] == "cart-0" && list.arrayValue?.first?["block"] == "10.50.0.0/28")
                #expect(try json(try ipam(db, ["list", "--node", "node2", "--json"])).arrayValue?.isEmpty == true)
                let table = try ipam(db, ["list"]).stdout.split(separator: "\n")
                #expect(table.count == 2 && table[1].contains("shop/cart-0"))
                #expect(table[0].range(of: "POD")?.lowerBound.utf16Offset(in: table[0]) == table[1].range(of: "shop/cart-0")?.lowerBound.utf16Offset(in: table[1]),
                        "columns line up")
                let show = try json(try ipam(db, ["show", ip, "--json"]))
                #expect(show["state"] == "allocated" && show["holder"]?["pod"] == "cart-0")
                #expect(show["endpoint"]?["hostVeth"]?.stringValue?.hasPrefix("crc") == true)
                #expect(try ipam(db, ["show", ip]).stdout.contains("shop/cart-0"))

                #expect(try ipam(db, ["check", "--json"], in: p.host).succeeded)
                // A live pod's address is not released without --force.
                let refused = try ipam(db, ["release", "--ip", ip], in: p.host)
                #expect(!refused.succeeded && refused.stderr.contains("shop/cart-0") && refused.stderr.contains("live"), "\(refused.stderr)")
                // An allocation whose endpoint vanished is reported.
                try Command.check(["sqlite3", db, "DELETE FROM kv WHERE key = 'endpoints/c1/eth0';"])
                let check = try ipam(db, ["check", "--json"], in: p.host)
                #expect(check.status == 1)
                let kinds = try json(check)["findings"]?.arrayValue?.compactMap { $0["kind"]?.stringValue }
                #expect(kinds?.contains("allocationWithoutEndpoint") == true && kinds?.contains("hostVethWithoutEndpoint") == true, "\(check.stdout)")

                Thread.sleep(forTimeInterval: 1.2)  // a tenure longer than the JSON dates' 1 s resolution
                let release = try json(try ipam(db, ["release", "--ip", ip, "--json"]))
                #expect(release["releasedAllocations"]?.arrayValue?.count == 1)
                #expect(try json(try ipam(db, ["show", ip, "--json"]))["state"] == "cooling")

                let history = try json(try ipam(db, ["history", ip, "--json"]))
                #expect(history.arrayValue?.count == 1)
                #expect(history.arrayValue?.first?["reason"] == "released by operator")
                let at = ISO8601DateFormatter().string(from: before.addingTimeInterval(-3600))
                #expect(try json(try ipam(db, ["history", ip, "--at", at, "--json"])).arrayValue?.isEmpty == true)
                // A time inside the tenure names the holder.
                let start = try #require(history.arrayValue?.first?["start"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) })
                let inside = ISO8601DateFormatter().string(from: start.addingTimeInterval(1))
                let holder = try json(try ipam(db, ["history", ip, "--at", inside, "--json"]))
                #expect(holder.arrayValue?.first?["pod"] == "cart-0" && holder.arrayValue?.first?["namespace"] == "shop")
                #expect(try ipam(db, ["history", ip, "--at", inside]).stdout.contains("shop/cart-0"))
                #expect(!(try ipam(db, ["history", ip, "--at", "yesterday"])).succeeded)
                #expect(try ipam(db, ["pool", "delete", "shop"]).succeeded)
            }
        }
    }
}
