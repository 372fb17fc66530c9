// bench-bfd PEER LOCALS_FILE SECONDS [MIN_TX_MS MIN_RX_MS MULTIPLIER]
//
// Runs one single-hop BFD session from each local address in LOCALS_FILE
// (one a line) to PEER, as the agent does (`BFDManager` on one event loop),
// waits until every session is Up, then measures SECONDS: the process's CPU
// time (user + system), packets, and every Up → Down (a false Down: the
// path stays up). Run it inside the namespace that holds the addresses
// (scripts/bench/bfd.sh). Prints one line of JSON.
import BFD
import BFDService
import Foundation
import IPAddressing
import NIOCore
import NIOPosix
import Synchronization

let args = CommandLine.arguments
guard args.count >= 4, let peer = IPAddress(args[1]), let seconds = Double(args[3]),
      let text = try? String(contentsOfFile: args[2], encoding: .utf8) else {
    print("usage: bench-bfd PEER LOCALS_FILE SECONDS [MIN_TX_MS MIN_RX_MS MULTIPLIER]")
    exit(2)
}
let locals = text.split(separator: "\n").compactMap { IPAddress(String($0)) }
let minTx = args.count > 4 ? UInt32(args[4]) ?? 100 : 100
let minRx = args.count > 5 ? UInt32(args[5]) ?? 100 : 100
let multiplier = args.count > 6 ? UInt8(args[6]) ?? 3 : 3
let config = BFDSessionConfiguration(desiredMinTxInterval: minTx * 1000, requiredMinRxInterval: minRx * 1000, detectMultiplier: multiplier)

struct Counts {
    var up = 0, downs = 0, measuring = false, downsWhileMeasuring = 0
    /// False Downs by diagnostic, and the seconds into the window of each.
    var byDiagnostic: [String: Int] = [:]
    var at: [Double] = []
    var windowStart = Date()
}
let counts = Mutex(Counts())
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let manager = BFDManager(loop: group.next())
try manager.start()
try manager.loop.submit {
    manager.onStateChange = { _, change in
        counts.withLock { c in
            if change.to == .up { c.up += 1 }
            if change.from == .up {
                c.up -= 1
                c.downs += 1
                if c.measuring {
                    c.downsWhileMeasuring += 1
                    c.byDiagnostic[change.diagnostic.description, default: 0] += 1
                    c.at.append((Date().timeIntervalSince(c.windowStart) * 100).rounded() / 100)
                }
            }
        }
    }
    for local in locals { try manager.addSession(BFDKey(peer: peer, local: local), configuration: config) }
}.wait()

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

let start = Date()
while counts.withLock({ $0.up }) < locals.count && Date().timeIntervalSince(start) < 120 { usleep(100_000) }
let upAfter = Date().timeIntervalSince(start)
let allUp = counts.withLock { $0.up } == locals.count
let (inBefore, outBefore) = try manager.loop.submit { (manager.received, manager.sent) }.wait()
counts.withLock { $0.measuring = true; $0.windowStart = Date() }
// The script starts measuring BIRD on this line.
FileHandle.standardError.write(Data("measuring: \(allUp ? "all up" : "NOT all up") after \(upAfter) s\n".utf8))
let cpu0 = cpuSeconds(), t0 = Date()
usleep(UInt32(seconds * 1e6))
let cpu = cpuSeconds() - cpu0, window = Date().timeIntervalSince(t0)
let (inAfter, outAfter) = try manager.loop.submit { (manager.received, manager.sent) }.wait()
let final = counts.withLock { $0 }
let result: [String: Any] = [
    "sessions": locals.count, "all_up": allUp, "up_after_s": (upAfter * 100).rounded() / 100,
    "window_s": (window * 10).rounded() / 10, "cpu_s": (cpu * 1000).rounded() / 1000,
    "cpu_pct_per_session": (cpu / window / Double(max(1, locals.count)) * 100 * 10000).rounded() / 10000,
    "false_downs": final.downsWhileMeasuring, "up_at_end": final.up, "false_downs_by_diagnostic": final.byDiagnostic,
    "false_downs_at_s": Array(final.at.prefix(50)),
    "packets_in_per_s": Int(Double(inAfter - inBefore) / window), "packets_out_per_s": Int(Double(outAfter - outBefore) / window),
    "dropped": try manager.loop.submit { manager.dropped }.wait(),
]
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
FileHandle.standardOutput.write(data + Data("\n".utf8))
// The script reads BIRD's side before our AdminDowns reach it.
usleep(2_000_000)
try manager.shutdown().wait()
try group.syncShutdownGracefully()
