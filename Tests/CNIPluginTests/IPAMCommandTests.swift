import CNI
import Foundation
import Testing
import TestSupport

/// `caracal ipam ...` against a datastore the plugin wrote.
@Suite("caracal ipam commands", .serialized)
struct IPAMCommandTests {
    var caracal: String { (PluginHarness.binaryPath as NSString).deletingLastPathComponent + "/caracal" }

    func ipam(_ db: String, _ args: [String]) throws -> CommandResult {
        try Command.run([caracal, "ipam"] + args + ["--datastore", db])
    }

    func json(_ r: CommandResult) throws -> JSONValue { try JSONValue.parse(Array(r.stdout.utf8)) }

    @Test func poolsShowHistoryCheckRelease() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let p = PluginHarness(host: try net.namespace("node"), dir: dir)
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

                let show = try json(try ipam(db, ["show", ip, "--json"]))
                #expect(show["state"] == "allocated" && show["holder"]?["pod"] == "cart-0")
                #expect(show["endpoint"]?["hostVeth"]?.stringValue?.hasPrefix("crc") == true)
                #expect(try ipam(db, ["show", ip]).stdout.contains("shop/cart-0"))

                #expect(try ipam(db, ["check", "--json"]).succeeded)
                // An allocation whose endpoint vanished is reported.
                try Command.check(["sqlite3", db, "DELETE FROM kv WHERE key = 'endpoints/c1/eth0';"])
                let check = try ipam(db, ["check", "--json"])
                #expect(check.status == 1)
                #expect(try json(check)["allocationsWithoutEndpoint"]?.arrayValue?.count == 1)

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
