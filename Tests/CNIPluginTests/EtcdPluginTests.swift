import CNI
import Datastore
import EtcdStore
import Foundation
import IPAM
import IPAddressing
import JSON
import KeyValueStore
import Synchronization
import Testing
import TestSupport

/// caracal-cni straight to etcd on three "hosts": network namespaces with
/// their own node names and no file in common; the only thing they share
/// is one etcd (in a namespace of its own, reached by its unix socket).
@Suite("caracal-cni on etcd")
struct EtcdPluginTests {
    static let hosts = 3, podsPerHost = 50, wave = 10

    @Test func threeHostsOfConcurrentAddsShareOneEtcdWithoutDuplicates() throws {
        try withEtcd { etcd in
            try withTestNetwork { net in
                try TemporaryDirectory.with { dir in
                    let hosts = try (1...Self.hosts).map { try net.namespace("host\($0)") }
                    let harnesses = try hosts.map { try PluginHarness(host: $0, dir: dir, createDatastore: false) }
                    let configs = (1...Self.hosts).map { node in
                        harnesses[0].config(top: [
                            "nodeName": .string("node\(node)"),
                            "datastore": ["type": "etcd", "endpoints": [.string(etcd.endpoint)]],
                        ])
                    }
                    let pods = try (1...Self.hosts).map { h in try (0..<Self.podsPerHost).map { try net.namespace("h\(h)p\($0)") } }
                    // Waves of `wave` ADDs per host, all hosts at once: each
                    // plugin process is started from a thread of its own.
                    let collected = Mutex<[(node: Int, outcome: PluginHarness.Outcome)]>([])
                    for start in stride(from: 0, to: Self.podsPerHost, by: Self.wave) {
                        let group = DispatchGroup()
                        for n in 0..<(Self.hosts * Self.wave) {
                            let h = n / Self.wave, i = start + n % Self.wave
                            group.enter()
                            Thread {
                                let outcome = (try? harnesses[h].add("h\(h + 1)c\(i)", pod: pods[h][i], config: configs[h]))
                                    ?? PluginHarness.Outcome(status: -1, stdout: "", stderr: "could not run")
                                collected.withLock { $0.append((h + 1, outcome)) }
                                group.leave()
                            }.start()
                        }
                        group.wait()
                    }
                    let outcomes = collected.withLock { $0 }
                    let failed = outcomes.filter { $0.outcome.status != 0 }
                    #expect(failed.isEmpty, "\(failed.prefix(3).map { "\($0.outcome.stdout) \($0.outcome.stderr.suffix(300))" })")
                    let ips = outcomes.compactMap { $0.outcome.json?.firstIP }
                    #expect(ips.count == Self.hosts * Self.podsPerHost)
                    #expect(Set(ips).count == ips.count, "no address handed out twice")

                    let store = try EtcdStore(EtcdConfig(endpoints: [try EtcdEndpoint(etcd.endpoint)]))
                    let blocks = try store.read { try IPAM().blocks(pool: "default", $0) }
                    #expect(Set(blocks.map(\.cidr)).count == blocks.count, "no block claimed twice")
                    let holder = Dictionary(uniqueKeysWithValues: blocks.map { ($0.cidr.description, $0.node) })
                    // Every address lies in a block of the node that asked for it.
                    for (node, outcome) in outcomes {
                        guard let ip = outcome.json?.firstIP, let block = blocks.first(where: { $0.cidr.contains(IPAddress(ip)!) }) else {
                            Issue.record("no block holds \(outcome.json?.firstIP ?? "?")"); continue
                        }
                        #expect(holder[block.cidr.description] == "node\(node)", "\(ip) of node\(node)")
                    }
                    // Each host's records agree with its kernel.
                    let caracal = BuiltProduct.path("caracal")
                    for (h, host) in hosts.enumerated() {
                        let check = try host.run([caracal, "ipam", "check", "--datastore", "etcd:\(etcd.endpoint)", "--node", "node\(h + 1)"])
                        #expect(check.succeeded, "host \(h + 1): \(check.stdout) \(check.stderr)")
                    }
                }
            }
        }
    }

    @Test func anUnreachableEtcdFailsAnAddFastWithCodeEleven() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let host = try net.namespace("host")
                let pod = try net.namespace("pod")
                let harness = try PluginHarness(host: host, dir: dir, createDatastore: false)
                let config = harness.config(top: [
                    "datastore": ["type": "etcd", "endpoints": [.string("unix://\(dir.path)/no-etcd.sock")], "timeoutMs": 1000],
                ])
                let started = Date()
                let outcome = try harness.add("c1", pod: pod, config: config)
                #expect(outcome.status != 0 && outcome.code == 11, "\(outcome.stdout)")
                #expect(Date().timeIntervalSince(started) < 5, "fails fast, well inside a runtime's timeout")
                #expect(try harness.hostLinks().filter { $0.hasPrefix("crc") }.isEmpty, "no veth left behind")
            }
        }
    }
}
