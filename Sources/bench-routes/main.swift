// bench-routes: Caracal's side of `make bench-routes` (scripts/bench/routes.sh).
// Runs inside a namespace prepared by the script; programs COUNT IPv4 /32
// routes on device IFINDEX through the Netlink module and the
// RouteProgrammer, and prints one JSON line of timings in seconds.
import ClusterModel
import Foundation
import IPAddressing
import Netlink
import Routing

func argument(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let value = Int(args[i + 1]) { return value }
    return fallback
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench-routes: \(message)\n".utf8))
    exit(1)
}

let count = argument("--count", 100_000)
let ifindex = UInt32(argument("--ifindex", 0))
let proto = RouteProtocol(UInt8(argument("--protocol", 201)))
guard ifindex != 0 else { fail("--ifindex is required") }

// The desired state exists before programming starts (it comes from the RIB).
let routes: [Route] = (0..<count).map { i in
    .device(.v4(IPv4Prefix(host: IPv4Address(0x0b00_0000 + UInt32(i)))), interfaceIndex: ifindex, protocol: proto)
}
let filter = RouteFilter(family: .ipv4, table: .main, protocol: proto)
var results: [String: Double] = [:]

do {
    let netlink = try RTNetlink()
    func check(_ expected: Int, _ what: String) throws {
        let present = try netlink.routes(filter).count
        if present != expected { fail("\(what): \(present) routes present, expected \(expected)") }
    }
    func program(_ operation: RouteOperation, _ ack: NetlinkAcknowledgement) throws -> Double {
        try seconds {
            let result = try netlink.apply(routes, operation, acknowledgement: ack)
            if !result.succeeded { fail("\(operation): \(result.failures.count) failures, first \(result.failures[0])") }
        }
    }

    // Encoding alone (no syscalls): the user-space share of an add.
    results["encode_only"] = seconds {
        let batch = NetlinkBatch(capacity: count * 64)
        for route in routes { batch.appendRoute(route, .add) }
        if batch.count != count { fail("encoded \(batch.count)") }
    }

    // Raw Netlink module: batches, ACK on the last message of each send.
    results["add"] = try program(.add, .errorsAndLast)
    var dumped = 0
    results["dump"] = try seconds { dumped = try netlink.routes(filter).count }
    if dumped != count { fail("dump returned \(dumped), expected \(count)") }
    // The same dump, counting messages without decoding them.
    var raw = 0
    results["dump_undecoded"] = try seconds {
        try netlink.socket.dump(type: 26, request: { message in  // RTM_GETROUTE
            message.put(header: (UInt8(2), UInt8(0), UInt8(0), UInt8(0), UInt8(254), proto.rawValue, UInt8(0), UInt8(0), UInt32(0)))
        }) { _ in raw += 1 }
    }
    if raw != count { fail("undecoded dump returned \(raw), expected \(count)") }
    results["delete"] = try program(.delete, .errorsAndLast)
    try check(0, "after delete")

    // The same with an ACK for every message.
    results["add_ack_each"] = try program(.add, .everyMessage)
    results["delete_ack_each"] = try program(.delete, .everyMessage)
    try check(0, "after delete (ack each)")

    // The reconciler: full desired set onto an empty table, then a resync
    // where nothing changed (100k desired, 100k present), then removal.
    let programmer = try RouteProgrammer(configuration: RouteProgrammerConfiguration(protocol: proto, tables: [.main]))
    try programmer.start()
    var report = RouteApplyReport()
    results["programmer_add"] = try seconds { report = try programmer.setDesired(routes) }
    if report.added != count { fail("programmer added \(report.added)") }
    results["resync_noop"] = try seconds { report = try programmer.resync() }
    results["resync_noop_writes"] = Double(report.writes)
    if report.writes != 0 { fail("no-change resync wrote \(report.writes) messages") }
    results["programmer_delete"] = try seconds { report = try programmer.setDesired([]) }
    if report.deleted != count { fail("programmer deleted \(report.deleted)") }
    try check(0, "after programmer delete")
} catch {
    fail("\(error)")
}

let json = results.keys.sorted().map { "\"\($0)\": \(String(format: "%.6f", results[$0]!))" }.joined(separator: ", ")
print("{\(json)}")
