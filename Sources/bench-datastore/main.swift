// bench-datastore: allocation and release throughput of IPAM over the
// embedded SQLite datastore, one transaction per operation exactly as the
// plugin does (ADD: allocate; DEL: release). Prints one JSON line.
// Usage: bench-datastore DB_PATH COUNT
//        bench-datastore latency LOCATION ALLOCATORS COUNT NODES
// The second form times each allocation (one transaction, retried on
// conflict as the plugin's are) from ALLOCATORS threads at once, each with
// its own connection, against any backend (`embedded:PATH`, `etcd:URL`);
// the allocators act for NODES nodes (1: they contend for one node's
// blocks, as concurrent ADDs on one node do). Prints p50/p99 in ms.
import Datastore
import Foundation
import IPAM
import IPAddressing
import KeyValueStore
import Synchronization

let args = CommandLine.arguments
if args.count == 6, args[1] == "latency", let allocators = Int(args[3]), let total = Int(args[4]), let nodes = Int(args[5]) {
    var location = try DatastoreLocation(parsing: args[2])
    // Each run in a key space of its own on a shared etcd.
    if case .etcd(var config) = location {
        config.prefix = "/bench-\(UInt32.random(in: 0...UInt32.max))/"
        location = .etcd(config)
    }
    let target = location
    let setup = try location.open(create: true)
    try setup.transaction {
        _ = try IPAM().createPool(Pool(name: "bench", cidr: IPPrefix("10.128.0.0/12")!, cooldownSeconds: 0), ifAbsent: true, $0)
    }
    let latencies = Mutex<[Double]>([])
    let failures = Mutex<[String]>([])
    let perAllocator = total / allocators
    let clock = ContinuousClock()
    let start = clock.now
    DispatchQueue.concurrentPerform(iterations: allocators) { a in
        do {
            let store = try target.open()
            let ipam = IPAM()
            var mine: [Double] = []
            mine.reserveCapacity(perAllocator)
            for i in 0..<perAllocator {
                let t = clock.now
                _ = try store.transaction { tx in
                    try ipam.allocate(AllocationRequest(containerID: "a\(a)-\(i)", ifName: "eth0", namespace: "bench", pod: "p\(a)-\(i)",
                                                        node: "node\(a % nodes)"), tx)
                }
                let d = (clock.now - t).components
                mine.append(Double(d.seconds) * 1e3 + Double(d.attoseconds) / 1e15)
            }
            latencies.withLock { $0 += mine }
        } catch {
            failures.withLock { $0.append("\(error)") }
        }
    }
    let wall = (clock.now - start).components
    let wallSeconds = Double(wall.seconds) + Double(wall.attoseconds) / 1e18
    if let f = failures.withLock({ $0.first }) {
        FileHandle.standardError.write(Data("bench-datastore: \(f)\n".utf8))
        exit(1)
    }
    let sorted = latencies.withLock { $0 }.sorted()
    func pct(_ q: Double) -> Double { (sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] * 1000).rounded() / 1000 }
    // Every allocation must have got its own address.
    let held = try setup.read { try IPAM().handles($0) }
    guard Set(held.flatMap(\.ips)).count == sorted.count else {
        FileHandle.standardError.write(Data("bench-datastore: \(sorted.count) allocations but \(Set(held.flatMap(\.ips)).count) distinct addresses\n".utf8))
        exit(1)
    }
    print("{\"allocations\":\(sorted.count),\"p50_ms\":\(pct(0.5)),\"p99_ms\":\(pct(0.99)),\"per_s\":\(Int(Double(sorted.count) / wallSeconds))}")
    exit(0)
}
guard args.count == 3, let count = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: bench-datastore DB_PATH COUNT | latency LOCATION ALLOCATORS COUNT NODES\n".utf8))
    exit(2)
}
let store = try SQLiteStore(path: args[1])
let ipam = IPAM()
try store.transaction {
    try ipam.createPool(Pool(name: "bench", cidr: IPPrefix("10.128.0.0/12")!, cooldownSeconds: 0), ifAbsent: true, $0)
}
let clock = ContinuousClock()
let allocStart = clock.now
for i in 0..<count {
    _ = try store.transaction { tx in
        try ipam.allocate(AllocationRequest(containerID: "bench\(i)", ifName: "eth0", namespace: "bench", pod: "pod\(i)", node: "node1"), tx)
    }
}
let allocTime = clock.now - allocStart
let releaseStart = clock.now
for i in 0..<count {
    try store.transaction { tx in
        _ = try ipam.release(containerID: "bench\(i)", ifName: "eth0", reason: "bench", tx)
    }
}
let releaseTime = clock.now - releaseStart
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
print("{\"alloc_per_s\":\(Int(Double(count) / seconds(allocTime))),\"release_per_s\":\(Int(Double(count) / seconds(releaseTime)))}")
