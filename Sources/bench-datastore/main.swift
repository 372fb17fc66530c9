// bench-datastore: allocation and release throughput of IPAM over the
// embedded SQLite datastore, one transaction per operation exactly as the
// plugin does (ADD: allocate; DEL: release). Prints one JSON line.
// Usage: bench-datastore DB_PATH COUNT
import Datastore
import Foundation
import IPAM
import IPAddressing

let args = CommandLine.arguments
guard args.count == 3, let count = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: bench-datastore DB_PATH COUNT\n".utf8))
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
