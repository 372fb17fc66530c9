import ClusterModel
import Foundation
import IPAM
import IPAddressing
import KeyValueStore
import Testing
import TestSupport
@testable import Datastore

@Suite("SQLite datastore")
struct SQLiteStoreTests {
    @Test func keyValueBasicsAndRevisions() throws {
        try TemporaryDirectory.with { dir in
            let store = try SQLiteStore(path: dir.appendingPathComponent("sub/c.db").path)
            #expect(try store.revision() == 0)
            try store.transaction { tx in
                try tx.put("a/1", Data("x".utf8))
                try tx.put("a/2", Data("y".utf8))
                try tx.put("b/1", Data("z".utf8))
            }
            #expect(try store.revision() == 1)
            try store.transaction { tx in try tx.put("a/2", Data("y2".utf8)) }
            #expect(try store.revision(of: "a/1") == 1)
            #expect(try store.revision(of: "a/2") == 2)
            let (a1, keys, nope) = try store.read { tx in
                (try tx.get("a/1"), try tx.list(prefix: "a/").map(\.key), try tx.get("nope"))
            }
            #expect(a1 == Data("x".utf8))
            #expect(keys == ["a/1", "a/2"])
            #expect(nope == nil)
            #expect(throws: (any Error).self) { try store.read { tx in try tx.put("c", Data()) } }
            // Read-only transactions do not bump the revision.
            _ = try store.transaction { tx in try tx.get("a/1") }
            #expect(try store.revision() == 2)
            try store.transaction { tx in try tx.delete("a/1") }
            #expect(try store.read { try $0.get("a/1") } == nil)
            // WAL mode is on for every opener.
            let mode = try Command.check(["sqlite3", store.path, "PRAGMA journal_mode;"]).stdout
            #expect(mode.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
        }
    }

    @Test func aVersionOneFileIsMigratedWithItsData() throws {
        try TemporaryDirectory.with { dir in
            let path = dir.appendingPathComponent("v1.db").path
            // The version 1 schema, as an earlier Caracal wrote it.
            try Command.check(["sqlite3", path, """
                PRAGMA journal_mode = WAL;
                CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, revision INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO meta VALUES ('revision', 7);
                INSERT INTO kv VALUES ('ipam/pools/a', x'7b7d', 3), ('endpoints/c/eth0', x'7b7d', 7);
                PRAGMA user_version = 1;
                """])
            let store = try SQLiteStore(path: path, create: false)
            #expect(try store.revision() == 7)
            #expect(try store.read { try $0.entries(prefix: "").map { "\($0.key)@\($0.modRevision)" } } == ["endpoints/c/eth0@7", "ipam/pools/a@3"])
            try store.transaction { try $0.delete("endpoints/c/eth0") }
            #expect(try store.changes(prefix: "endpoints/", after: 7).events == [.delete(key: "endpoints/c/eth0", modRevision: 8)])
            #expect(try Command.check(["sqlite3", path, "PRAGMA user_version;"]).stdout.hasPrefix("2"))
        }
    }

    @Test func walGrowsWithoutAutocheckpointUntilCheckpointed() throws {
        try TemporaryDirectory.with { dir in
            let path = dir.appendingPathComponent("c.db").path
            func size(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0 }
            let store = try SQLiteStore(path: path, autocheckpointPages: 0)
            let blob = Data(repeating: 7, count: 3000)
            for i in 0..<60 { try store.transaction { try $0.put("k/\(i)", blob) } }
            // 60 commits of ~1 page each stay in the WAL: none was checkpointed.
            #expect(store.walPages >= 60)
            let (walPages, done) = try store.checkpoint()
            #expect(walPages >= 60 && done == walPages, "wal \(walPages), checkpointed \(done)")
            #expect(size(path) > 60 * 3000, "the pages are in the database file now")
            // With the default, commits checkpoint on their own past the limit.
            let other = try SQLiteStore(path: dir.appendingPathComponent("d.db").path)
            for i in 0..<(SQLiteStore.walAutocheckpointPages + 20) { try other.transaction { try $0.put("k/\(i)", blob) } }
            #expect(other.walPages < SQLiteStore.walAutocheckpointPages, "checkpointed at the limit, then restarted")
            #expect(try other.checkpoint().walPages < SQLiteStore.walAutocheckpointPages + 20)
            #expect(try store.read { try $0.list(prefix: "k/").count } == 60)
        }
    }

    @Test func aThrowingTransactionLeavesNothing() throws {
        try TemporaryDirectory.with { dir in
            let store = try SQLiteStore(path: dir.appendingPathComponent("c.db").path)
            struct Boom: Error {}
            #expect(throws: Boom.self) {
                try store.transaction { tx in
                    try tx.put("k", Data("v".utf8))
                    throw Boom()
                }
            }
            #expect(try store.read { try $0.get("k") } == nil)
            #expect(try store.revision() == 0)
        }
    }

    @Test func waitsForAnotherProcessesWriteTransaction() throws {
        try TemporaryDirectory.with { dir in
            let path = dir.appendingPathComponent("c.db").path
            let store = try SQLiteStore(path: path)
            // Another process holds the write lock for a moment, then commits.
            let other = Process()
            other.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            other.arguments = [path, "BEGIN IMMEDIATE; INSERT INTO kv VALUES ('other', x'01', 0);", ".shell sleep 0.7", "COMMIT;"]
            try other.run()
            Thread.sleep(forTimeInterval: 0.3)
            // Our transaction queues behind it instead of failing, and sees its write.
            let seen = try store.transaction { tx -> Bool in
                try tx.put("mine", Data([2]))
                return try tx.get("other") != nil
            }
            other.waitUntilExit()
            #expect(other.terminationStatus == 0)
            #expect(seen)
        }
    }

    @Test func aProcessKilledMidTransactionLeavesNothing() throws {
        try TemporaryDirectory.with { dir in
            let path = dir.appendingPathComponent("c.db").path
            let store = try SQLiteStore(path: path)
            let other = Process()
            other.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            // It writes, then spins forever inside the open transaction.
            other.arguments = [
                path,
                "BEGIN IMMEDIATE; INSERT INTO kv VALUES ('half', x'01', 0); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;",
                "COMMIT;",
            ]
            try other.run()
            Thread.sleep(forTimeInterval: 0.3)
            kill(other.processIdentifier, SIGKILL)
            other.waitUntilExit()
            let half = try store.transaction { tx -> Data? in
                let v = try tx.get("half")
                try tx.put("after", Data([1]))
                return v
            }
            #expect(half == nil)
            #expect(try store.read { try $0.get("after") } != nil)
        }
    }

    @Test func ipamOverSQLiteFromManyThreadsAndConnections() async throws {
        try await TemporaryDirectory.with { dir in
            let path = dir.appendingPathComponent("c.db").path
            let setup = try SQLiteStore(path: path)
            let ipam = IPAM()
            try setup.transaction { try ipam.createPool(Pool(name: "p", cidr: IPPrefix("10.0.0.0/24")!, blockSize: 28), $0) }
            // Each task opens its own connection, as separate plugin processes do.
            let ips = try await withThrowingTaskGroup(of: [IPAddress].self) { group in
                for i in 0..<40 {
                    group.addTask {
                        let store = try SQLiteStore(path: path)
                        return try store.transaction { tx in
                            try ipam.allocate(AllocationRequest(containerID: "c\(i)", ifName: "eth0", node: "n\(i % 2)"), tx).map(\.ip)
                        }
                    }
                }
                var all: [IPAddress] = []
                for try await r in group { all += r }
                return all
            }
            #expect(ips.count == 40 && Set(ips).count == 40)
            #expect(try setup.read { try ipam.handles($0) }.count == 40)
        }
    }

    @Test func endpointRecords() throws {
        try TemporaryDirectory.with { dir in
            let store = try SQLiteStore(path: dir.appendingPathComponent("c.db").path)
            let e = EndpointRecord(
                containerID: "c1", ifName: "eth0", namespace: "web", pod: "front-0", network: "caracal", netns: "/run/netns/x",
                ips: [IPAddress("10.0.0.1")!], mac: "aa:bb:cc:dd:ee:ff", hostVeth: "crc1234", labels: ["app": "front"],
                node: "n1", created: Date(timeIntervalSince1970: 1000))
            try store.transaction { try Endpoints.put(e, $0) }
            #expect(try store.read { try Endpoints.get(containerID: "c1", ifName: "eth0", $0) } == e)
            #expect(try store.read { try Endpoints.all($0) } == [e])
            try store.transaction { try Endpoints.delete(containerID: "c1", ifName: "eth0", $0) }
            #expect(try store.read { try Endpoints.all($0) }.isEmpty)
        }
    }
}

@Suite("Reclaiming a lost node")
struct NodeReclaimTests {
    @Test func aLostNodesPodsAndBlocksComeBackAfterTheGraceAndStickyClaimsStay() throws {
        let store = InMemoryKVStore()
        let ipam = IPAM()
        let pool = Pool(name: "p", cidr: IPPrefix("10.0.0.0/24")!, blockSize: 28, cooldownSeconds: 0, nodeLossGraceSeconds: 60)
        try store.transaction { _ = try ipam.createPool(pool, $0) }
        func add(_ id: String, node: String, claim: String? = nil) throws -> Allocation {
            try store.transaction { tx in
                let a = try ipam.allocate(AllocationRequest(containerID: id, ifName: "eth0", pod: id, node: node, claim: claim), tx)[0]
                try Endpoints.put(EndpointRecord(containerID: id, ifName: "eth0", namespace: "default", pod: id, network: "caracal",
                                                 netns: nil, ips: [a.ip], hostVeth: "v\(id)", node: node, claim: claim,
                                                 created: Date()), tx)
                return a
            }
        }
        // n1: fourteen pods and a sticky one fill 10.0.0.0/28 (.0 is the
        // network address); one more opens 10.0.0.16/28 and is deleted.
        for i in 0..<14 { _ = try add("a\(i)", node: "n1") }
        let sticky = try add("s", node: "n1", claim: "db-0")
        let extra = try add("x", node: "n1")
        #expect(extra.block == IPPrefix("10.0.0.16/28")!)
        try store.transaction { tx in
            _ = try ipam.release(containerID: "x", ifName: "eth0", reason: "DEL", tx)
            try Endpoints.delete(containerID: "x", ifName: "eth0", tx)
        }
        let other = try add("o", node: "n2")
        #expect(other.block == IPPrefix("10.0.0.32/28")!)

        // Within the grace: nothing moves.
        let early = try NodeReclaim().reclaim(node: "n1", deadFor: 30, reason: "test", in: store)
        #expect(early.isEmpty)
        #expect(try store.read { try ipam.handles($0) }.count == 16)

        let report = try NodeReclaim().reclaim(node: "n1", deadFor: 60, reason: "node n1 lost", in: store)
        #expect(report.released.count == 15)
        #expect(Set(report.blocks) == [.released(IPPrefix("10.0.0.16/28")!), .unaffined(IPPrefix("10.0.0.0/28")!, addresses: 1)])
        try store.read { tx in
            #expect(try ipam.handles(tx).map(\.containerID) == ["o"])
            #expect(try Endpoints.all(tx).map(\.containerID) == ["o"])
            let claim = try ipam.claims(tx).first
            #expect(claim?.ips == [sticky.ip] && claim?.holder == nil)
            let blocks = try ipam.blocks(pool: "p", tx)
            #expect(blocks.first { $0.cidr == IPPrefix("10.0.0.0/28")! }?.node == nil)
            #expect(!blocks.contains { $0.cidr == IPPrefix("10.0.0.16/28")! })
            #expect(try ipam.history(other.ip, tx).count == 1)
            #expect(try ipam.history(sticky.ip, tx).first?.reason == "node n1 lost")
        }
        // A re-run finds nothing left.
        #expect(try NodeReclaim().reclaim(node: "n1", deadFor: 600, reason: "again", in: store).isEmpty)

        // n3 needs a block: it adopts the unaffined one before carving a new one.
        let adopted = try add("n", node: "n3")
        #expect(adopted.block == IPPrefix("10.0.0.0/28")! && !adopted.borrowed && adopted.ip != sticky.ip)
        #expect(try store.read { try ipam.blocks(pool: "p", $0) }.first { $0.cidr == IPPrefix("10.0.0.0/28")! }?.node == "n3")
        // The sticky workload comes back elsewhere with its address.
        let back = try add("s2", node: "n2", claim: "db-0")
        #expect(back.ip == sticky.ip)
    }

    @Test func manyPodsAreReclaimedInTransactionsWithinTheWriteLimit() throws {
        // KVLimits.maxWritesPerTransaction is enforced by every store.
        let store = InMemoryKVStore()
        let ipam = IPAM()
        try store.transaction { _ = try ipam.createPool(Pool(name: "p", cidr: IPPrefix("10.1.0.0/20")!, blockSize: 28,
                                                               cooldownSeconds: 0, nodeLossGraceSeconds: 0), $0) }
        for i in 0..<300 {
            try store.transaction { _ = try ipam.allocate(AllocationRequest(containerID: "c\(i)", ifName: "eth0", node: "n1"), $0) }
        }
        let report = try NodeReclaim().reclaim(node: "n1", deadFor: 0, reason: "test", in: store)
        #expect(report.released.count == 300)
        #expect(report.blocks.count == 19)  // 15 + 18 × 16 addresses
        #expect(try store.read { try ipam.handles($0) }.isEmpty)
        #expect(try store.read { try $0.list(prefix: "ipam/blocks/") }.isEmpty)
    }
}
