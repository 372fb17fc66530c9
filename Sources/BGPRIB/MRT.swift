import BGP
import IPAddressing

/// A Loc-RIB snapshot in MRT TABLE_DUMP_V2 (RFC 6396 §4.3): the route
/// forensics format BIRD, GoBGP and FRR users already read with `bgpdump`.
/// Written by hand: no Swift library writes MRT, and it is a few fixed
/// fields around the BGP attribute encoding the codec already has.
public enum MRTTableDump {
    static let type: UInt16 = 13  // TABLE_DUMP_V2
    static let peerIndexTable: UInt16 = 1, ribIPv4Unicast: UInt16 = 2, ribIPv6Unicast: UInt16 = 4

    /// One PEER_INDEX_TABLE record, then one RIB record per prefix holding
    /// its best path set.
    /// - Parameter timestamp: seconds since 1970 (the caller's clock).
    public static func write(_ rib: RIB, timestamp: UInt32, viewName: String = "") -> [UInt8] {
        // Every peer a best path came from (the local pseudo-peer included),
        // in address order.
        let peers: [RIBPeer] = Array(Set(rib.locRIB.values.flatMap { $0.map(\.peer) })).sorted { $0.address < $1.address }
        let index = Dictionary(uniqueKeysWithValues: peers.enumerated().map { ($1.address, UInt16($0)) })

        var out: [UInt8] = []
        var table: [UInt8] = []
        table.append(u32: rib.speaker.routerID.value)
        let name = Array(viewName.utf8.prefix(65535))
        table.append(u16: UInt16(name.count))
        table += name
        table.append(u16: UInt16(peers.count))
        for p in peers {
            let isIPv6 = !p.address.isIPv4
            table.append(UInt8((isIPv6 ? 0x01 : 0) | 0x02))  // 4-octet AS always
            table.append(u32: p.routerID.value)
            table += addressBytes(p.address)
            table.append(u32: p.asn)
        }
        record(&out, timestamp, peerIndexTable, table)

        // AS numbers are always 4 octets in TABLE_DUMP_V2 (§4.3.4).
        let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: true)
        var sequence: UInt32 = 0
        for (prefix, best) in rib.locRIB.sorted(by: { $0.key < $1.key }) {
            var entry: [UInt8] = []
            entry.append(u32: sequence)
            sequence &+= 1
            entry.append(UInt8(prefix.length))
            entry += Array(addressBytes(prefix.address).prefix((prefix.length + 7) / 8))
            entry.append(u16: UInt16(best.count))
            for path in best {
                var attributes = path.attributes.attributes
                attributes.remove(type: PathAttributeType.nextHop)
                var bytes = attributes.encodedBytes(context: context)
                switch path.nextHop {
                case .v4(let hop):
                    bytes += PathAttributes([.nextHop(hop)]).encodedBytes(context: context)
                case .v6(let hop):
                    // §4.3.4: MP_REACH_NLRI holds only the next hop's length
                    // and address here (optional, non-transitive, type 14).
                    let value: [UInt8] = [16] + addressBytes(.v6(hop))
                    bytes += [0x80, 14, UInt8(value.count)] + value
                }
                entry.append(u16: index[path.peer.address] ?? 0)
                entry.append(u32: timestamp)
                entry.append(u16: UInt16(bytes.count))
                entry += bytes
            }
            record(&out, timestamp, prefix.address.isIPv4 ? ribIPv4Unicast : ribIPv6Unicast, entry)
        }
        return out
    }

    static func record(_ out: inout [UInt8], _ timestamp: UInt32, _ subtype: UInt16, _ body: [UInt8]) {
        out.append(u32: timestamp)
        out.append(u16: type)
        out.append(u16: subtype)
        out.append(u32: UInt32(body.count))
        out += body
    }

    static func addressBytes(_ a: IPAddress) -> [UInt8] {
        switch a {
        case .v4(let v): return withUnsafeBytes(of: v.value.bigEndian) { Array($0) }
        case .v6(let v): return withUnsafeBytes(of: v.high.bigEndian) { Array($0) } + withUnsafeBytes(of: v.low.bigEndian) { Array($0) }
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func append(u16 v: UInt16) { append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xff)]) }
    fileprivate mutating func append(u32 v: UInt32) { append(contentsOf: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]) }
}
