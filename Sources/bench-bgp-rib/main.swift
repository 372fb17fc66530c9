// bench-bgp-rib: the RIB in process. Each mode runs in its own process, so
// its resident-memory growth is its own. Prints one JSON line.
//   bench-bgp-rib ingest PATHS PEERS   PATHS /32s from each of PEERS iBGP peers (overlapping)
//   bench-bgp-rib fanout CLIENTS GROUPS  a reflector: each client sends 2 /32s; every
//                                        Adj-RIB-Out computed and its UPDATEs encoded
import BGP
import BGPRIB
import Foundation
import IPAddressing

func residentBytes() -> Int {
    // /proc/self/statm: size resident ... (pages)
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

let args = CommandLine.arguments
let speaker = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!)
let clock = ContinuousClock()
let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: false)

/// UPDATEs of `perUpdate` /32s each, from 10.128.0.0 upwards, with the
/// attributes a BGP peer sends (ORIGIN, AS_PATH, NEXT_HOP, LOCAL_PREF, a
/// community), built one at a time while ingesting.
func updates(count: Int, perUpdate: Int, nextHop: IPv4Address, localPref: UInt32, _ body: (UpdateMessage) -> Void) {
    let attributes: [PathAttributeValue] = [.origin(.igp), .asPath(ASPath()), .nextHop(nextHop), .localPref(localPref),
                                            .communities([Community(asn: 65000, value: 100)])]
    var i = 0
    while i < count {
        let n = min(perUpdate, count - i)
        let nlri = (0..<n).map { IPv4NLRI(IPv4Prefix(address: IPv4Address(0x0A80_0000 &+ UInt32(i + $0)), length: 32)!) }
        body(UpdateMessage(attributes: PathAttributes(attributes), nlri: nlri))
        i += n
    }
}

guard args.count == 4, let a = Int(args[2]), let b = Int(args[3]) else {
    FileHandle.standardError.write(Data("usage: bench-bgp-rib ingest PATHS PEERS | fanout CLIENTS GROUPS\n".utf8))
    exit(2)
}

switch args[1] {
case "ingest":
    let (paths, peerCount) = (a, b)
    var rib = RIB(decision: DecisionProcess(speaker: speaker))
    let peers = (0..<peerCount).map { RIBPeer(address: .v4(IPv4Address(0x0A01_0001 + UInt32($0))), asn: 65000, routerID: IPv4Address(0x0101_0001 + UInt32($0))) }
    for p in peers { rib.peerUp(p) }
    let before = residentBytes()
    var changes = 0
    let start = clock.now
    for (k, p) in peers.enumerated() {
        updates(count: paths, perUpdate: 1000, nextHop: IPv4Address(0x0A01_0001 + UInt32(k)), localPref: 100 + UInt32(k % 3)) { u in
            changes += rib.receive(u, from: p.address).count
        }
    }
    let elapsed = seconds(clock.now - start)
    let grown = residentBytes() - before
    let total = paths * peerCount
    print("{\"mode\":\"ingest\",\"peers\":\(peerCount),\"paths\":\(total),\"prefixes\":\(rib.prefixCount),\"changes\":\(changes),"
        + "\"seconds\":\(String(format: "%.3f", elapsed)),\"paths_per_s\":\(Int(Double(total) / elapsed)),"
        + "\"bytes_per_path\":\(grown / max(1, total)),\"attribute_sets\":\(rib.attributes.count)}")
case "fanout":
    let (clientCount, groupCount) = (a, b)
    var rib = RIB(decision: DecisionProcess(speaker: speaker))
    var out = AdjRIBOut(speaker: speaker)
    var peers: [RIBPeer] = []
    for c in 0..<clientCount {
        let p = RIBPeer(address: .v4(IPv4Address(0x0A02_0000 + UInt32(c + 1))), asn: 65000, routerID: IPv4Address(0x0202_0000 + UInt32(c + 1)),
                        isReflectorClient: true)
        peers.append(p)
        rib.peerUp(p)
        // Groups differ by the session's local address (as clients on
        // different subnets do).
        _ = out.addPeer(p.address, OutputSettings(exportPolicy: .acceptAll, isInternal: true, isReflectorClient: true,
                                                  localAddress: .v4(IPv4Address(0x0A00_0001 + UInt32(c % groupCount) << 8)), context: context), rib: rib)
    }
    let before = residentBytes()
    let start = clock.now
    var changes: [RIBChange] = []
    for (c, p) in peers.enumerated() {
        let base = 0x0A80_0000 + UInt32(c * 2)
        let u = UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath()), .nextHop(IPv4Address(0x0A02_0000 + UInt32(c + 1)))]),
                              nlri: [IPv4NLRI(IPv4Prefix(address: IPv4Address(base), length: 32)!), IPv4NLRI(IPv4Prefix(address: IPv4Address(base + 1), length: 32)!)])
        changes += rib.receive(u, from: p.address)
    }
    let ingested = clock.now
    // Every group's Adj-RIB-Out and its UPDATEs, encoded once per group.
    let outputs = out.apply(changes, rib: rib)
    let end = clock.now
    let bytes = outputs.reduce(0) { $0 + $1.encoded.count }
    let messages = outputs.reduce(0) { $0 + $1.messages.count }
    let delivered = outputs.reduce(0) { $0 + $1.messages.count * $1.members.count }
    let grown = residentBytes() - before
    print("{\"mode\":\"fanout\",\"clients\":\(clientCount),\"groups\":\(out.groups.count),\"prefixes\":\(rib.prefixCount),"
        + "\"ingest_s\":\(String(format: "%.3f", seconds(ingested - start))),\"out_and_encode_s\":\(String(format: "%.3f", seconds(end - ingested))),"
        + "\"updates\":\(messages),\"update_bytes\":\(bytes),\"updates_delivered\":\(delivered),\"rss_growth_mb\":\(String(format: "%.1f", Double(grown) / 1048576))}")
default:
    exit(2)
}
