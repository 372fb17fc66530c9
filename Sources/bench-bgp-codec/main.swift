// bench-bgp-codec: decode and encode of UPDATE streams (scripts/bench/bgp-codec.sh).
//
//   bench-bgp-codec generate DIR   writes DIR/ipv4.bin (1M /32) and DIR/ipv6.bin (100k /128)
//   bench-bgp-codec run DIR REPEATS  decodes and encodes them, prints one JSON line
//
// The streams are what a peer sends on session start: shared attributes
// (ORIGIN, AS_PATH, NEXT_HOP or MP_REACH next hop, MED, LOCAL_PREF,
// communities, a large community) and as many prefixes per UPDATE as fit in
// 4096 octets, packed by Caracal's own packer.
import BGP
import Foundation
import IPAddressing
import NIOCore

let ipv4Count = 1_000_000
let ipv6Count = 100_000
let context = CodecContext(fourOctetAS: true)

func sharedAttributes() -> PathAttributes {
    PathAttributes([
        .origin(.igp), .asPath(ASPath(sequence: [65001, 65010, 4_200_000_001])), .nextHop(IPv4Address(10, 0, 0, 1)),
        .multiExitDisc(10), .localPref(100),
        .communities([Community(asn: 65001, value: 100), Community(asn: 65001, value: 200)]),
        .largeCommunities([LargeCommunity(65001, 1, 2)]),
    ])
}

func ipv4Prefixes() -> [IPv4NLRI] {
    (0..<ipv4Count).map { IPv4NLRI(IPv4Prefix(host: IPv4Address(0x0A00_0000 &+ UInt32($0)))) }
}

func ipv6Prefixes() -> [IPv6NLRI] {
    (0..<ipv6Count).map { IPv6NLRI(IPv6Prefix(host: IPv6Address(high: 0x2001_0DB8_0000_0000, low: UInt64($0)))) }
}

let ipv6NextHop = MPNextHop.ipv6(IPv6Address("2001:db8::1")!, linkLocal: nil)

func encodeStream(ipv4: [IPv4NLRI]?, ipv6: [IPv6NLRI]?) -> ByteBuffer {
    var out = ByteBuffer()
    out.reserveCapacity(ipv4 != nil ? 5_400_000 : 2_000_000)
    var attrs = sharedAttributes()
    let updates: [UpdateMessage]
    if let ipv4 {
        updates = UpdateMessage.packing(ipv4: ipv4, attributes: attrs, context: context)
    } else {
        attrs.remove(type: PathAttributeType.nextHop)
        updates = UpdateMessage.packing(ipv6: ipv6!, nextHop: ipv6NextHop, attributes: attrs, context: context)
    }
    for u in updates { BGPMessage.update(u).encode(into: &out, context: context) }
    return out
}

/// Decodes the whole stream into typed UPDATEs and counts the prefixes
/// (and folds them into a checksum so nothing is optimised away).
func decodeStream(_ stream: ByteBuffer) -> (prefixes: Int, checksum: UInt64) {
    var buf = stream
    var n = 0
    var sum: UInt64 = 0
    while true {
        let d: DecodedMessage?
        do { d = try BGPMessage.decode(from: &buf, context: context) } catch { fatalError("bench stream does not decode: \(error)") }
        guard let d else { break }
        guard case .update(let u) = d.message else { continue }
        for p in u.nlri {
            sum &+= UInt64(p.prefix.address.value) &+ UInt64(p.prefix.length)
        }
        n += u.nlri.count
        if case .ipv6(let l)? = u.attributes.mpReach?.nlri {
            for p in l { sum &+= p.prefix.address.low &+ UInt64(p.prefix.length) }
            n += l.count
        }
    }
    return (n, sum)
}

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: bench-bgp-codec generate DIR | run DIR REPEATS")
    exit(64)
}
let dir = URL(fileURLWithPath: args[2])

switch args[1] {
case "generate":
    for (name, stream) in [("ipv4.bin", encodeStream(ipv4: ipv4Prefixes(), ipv6: nil)), ("ipv6.bin", encodeStream(ipv4: nil, ipv6: ipv6Prefixes()))] {
        try Data(stream.readableBytesView).write(to: dir.appendingPathComponent(name))
    }
case "run":
    let repeats = args.count > 3 ? Int(args[3]) ?? 5 : 5
    var fields: [String] = []
    let v4 = ipv4Prefixes(), v6 = ipv6Prefixes()
    for (family, file, count) in [("ipv4", "ipv4.bin", ipv4Count), ("ipv6", "ipv6.bin", ipv6Count)] {
        let data = try Data(contentsOf: dir.appendingPathComponent(file))
        let stream = ByteBuffer(bytes: data)
        var best = Double.infinity
        var checksum: UInt64 = 0
        for _ in 0..<repeats {
            var r = (prefixes: 0, checksum: UInt64(0))
            best = min(best, seconds { r = decodeStream(stream) })
            precondition(r.prefixes == count, "decoded \(r.prefixes) prefixes, expected \(count)")
            checksum = r.checksum
        }
        var bestEncode = Double.infinity
        var encodedBytes = 0
        for _ in 0..<repeats {
            var out = ByteBuffer()
            bestEncode = min(bestEncode, seconds {
                out = family == "ipv4" ? encodeStream(ipv4: v4, ipv6: nil) : encodeStream(ipv4: nil, ipv6: v6)
            })
            encodedBytes = out.readableBytes
            precondition(out.readableBytesView.elementsEqual(data), "encoder output differs from the stream")
        }
        fields.append("\"\(family)_prefixes\":\(count)")
        fields.append("\"\(family)_bytes\":\(encodedBytes)")
        fields.append("\"\(family)_decode_s\":\(best)")
        fields.append("\"\(family)_decode_prefixes_per_s\":\(Int(Double(count) / best))")
        fields.append("\"\(family)_encode_s\":\(bestEncode)")
        fields.append("\"\(family)_encode_prefixes_per_s\":\(Int(Double(count) / bestEncode))")
        fields.append("\"\(family)_checksum\":\(checksum)")
    }
    print("{" + fields.joined(separator: ",") + "}")
default:
    print("unknown mode \(args[1])")
    exit(64)
}
