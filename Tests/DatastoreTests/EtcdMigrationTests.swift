import Datastore
import EtcdStore
import Foundation
import IPAM
import IPAddressing
import KeyValueStore
import Testing
import TestSupport

/// IPAM over etcd, and `caracal datastore migrate` from the embedded file
/// into a real etcd.
@Suite("etcd: IPAM and migration")
struct EtcdMigrationTests {
    /// Allocators with their own clients (as separate plugin processes on
    /// separate nodes): no address handed out twice, no block claimed twice.
    @Test func ipamOverEtcdFromManyClients() async throws {
        try await withEtcd { server in
            let config = EtcdConfig(endpoints: [try EtcdEndpoint(server.endpoint)])
            let ipam = IPAM()
            try EtcdStore(config).transaction { try ipam.createPool(Pool(name: "p", cidr: IPPrefix("10.0.0.0/24")!, blockSize: 28), $0) }
            let allocations = try await withThrowingTaskGroup(of: [(node: String, allocation: Allocation)].self) { group in
                for i in 0..<30 {
                    group.addTask {
                        let store = try EtcdStore(config)
                        let node = "n\(i % 3)"
                        return try store.transaction { tx in
                            try ipam.allocate(AllocationRequest(containerID: "c\(i)", ifName: "eth0", node: node), tx).map { (node, $0) }
                        }
                    }
                }
                var all: [(node: String, allocation: Allocation)] = []
                for try await r in group { all += r }
                return all
            }
            let ips = allocations.map(\.allocation.ip)
            #expect(ips.count == 30 && Set(ips).count == 30, "no address handed out twice")
            let store = try EtcdStore(config)
            #expect(try store.read { try ipam.handles($0) }.count == 30)
            // Every address lies in a block its own node holds: no block went to two nodes.
            let blocks = try store.read { try ipam.blocks(pool: "p", $0) }
            let holder = Dictionary(uniqueKeysWithValues: blocks.map { ($0.cidr, $0.node) })
            #expect(Set(blocks.map(\.cidr)).count == blocks.count)
            for (node, allocation) in allocations {
                #expect(holder[allocation.block] == node, "\(allocation.ip) of \(node) in block \(allocation.block)")
            }
            #expect(blocks.reduce(0) { $0 + $1.slots.count } == 30)
        }
    }

    @Test func migrateCopiesEverythingRefusesOtherDataAndReruns() throws {
        try withEtcd { server in
            try TemporaryDirectory.with { dir in
                let path = dir.appendingPathComponent("node.db").path
                let embedded = try SQLiteStore(path: path)
                let ipam = IPAM()
                try embedded.transaction { try ipam.createPool(Pool(name: "p", cidr: IPPrefix("10.1.0.0/24")!, blockSize: 28), $0) }
                for i in 0..<20 {
                    _ = try embedded.transaction { try ipam.allocate(AllocationRequest(containerID: "c\(i)", ifName: "eth0", node: "n1"), $0) }
                }
                // More keys than one transaction may write.
                for chunk in (0..<300).map({ $0 }).chunked(by: 100) {
                    try embedded.transaction { tx in for i in chunk { try tx.put("bulk/\(i)", Data("\(i)".utf8)) } }
                }
                let source = try embedded.read { try $0.entries(prefix: "") }.map { [$0.key: $0.value] }
                let caracal = BuiltProduct.path("caracal")
                let from = "embedded:\(path)", to = "etcd:\(server.endpoint)"

                let first = try Command.check([caracal, "datastore", "migrate", "--from", from, "--to", to, "--json"])
                #expect(first.stdout.contains("\"written\":\(source.count)") || first.stdout.contains("\"written\" : \(source.count)"))
                let etcd = try EtcdStore(EtcdConfig(endpoints: [try EtcdEndpoint(server.endpoint)]))
                #expect(try etcd.read { try $0.entries(prefix: "") }.map { [$0.key: $0.value] } == source, "every key, equal")
                #expect(try etcd.read { try ipam.handles($0) }.count == 20)

                // Re-run: nothing to write.
                let again = try Command.check([caracal, "datastore", "migrate", "--from", from, "--to", to])
                #expect(again.stdout.contains("0 written, \(source.count) already there"))

                // The target now holds other data: refused, and nothing changes.
                try etcd.transaction { try $0.put("bulk/7", Data("changed".utf8)) }
                let refused = try Command.run([caracal, "datastore", "migrate", "--from", from, "--to", to])
                #expect(refused.status == 1 && refused.stderr.contains("--force"))
                #expect(try etcd.read { try $0.get("bulk/7") } == Data("changed".utf8))
                let forced = try Command.check([caracal, "datastore", "migrate", "--from", from, "--to", to, "--force"])
                #expect(forced.stdout.contains("1 written") && forced.stdout.contains("overwritten: bulk/7"))
                #expect(try etcd.read { try $0.get("bulk/7") } == Data("7".utf8))
            }
        }
    }
}
