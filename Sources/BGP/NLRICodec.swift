import IPAddressing
import NIOCore

/// NLRI encoding (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3): per prefix an
/// optional 4-octet Path Identifier, a length in bits, and the fewest octets
/// that hold that many bits. This is the decoder's hot path: no allocation
/// per prefix beyond the array append.
enum NLRICodec {
    /// Nil when the field is syntactically wrong: a length over 32, or a
    /// prefix that runs past the end.
    @inline(__always)
    static func decodeIPv4(_ r: WireReader, addPath: Bool, into out: inout [IPv4NLRI]) -> Bool {
        let base = r.base
        var p = r.position
        let end = r.end
        while p < end {
            var pathID: UInt32?
            if addPath {
                guard end - p >= 4 else { return false }
                pathID = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8 | UInt32(base[p + 3])
                p += 4
                guard p < end else { return false }
            }
            let len = base[p]
            p += 1
            guard len <= 32 else { return false }
            let n = (Int(len) + 7) >> 3
            guard end - p >= n else { return false }
            var v: UInt32 = 0
            switch n {
            case 4: v = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8 | UInt32(base[p + 3])
            case 3: v = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8
            case 2: v = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16
            case 1: v = UInt32(base[p]) << 24
            default: v = 0
            }
            p += n
            out.append(IPv4NLRI(IPv4Prefix(uncheckedAddress: v, length: len), pathID: pathID))
        }
        return true
    }

    @inline(__always)
    static func decodeIPv6(_ r: WireReader, addPath: Bool, into out: inout [IPv6NLRI]) -> Bool {
        let base = r.base
        var p = r.position
        let end = r.end
        while p < end {
            var pathID: UInt32?
            if addPath {
                guard end - p >= 4 else { return false }
                pathID = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8 | UInt32(base[p + 3])
                p += 4
                guard p < end else { return false }
            }
            let len = base[p]
            p += 1
            guard len <= 128 else { return false }
            let n = (Int(len) + 7) >> 3
            guard end - p >= n else { return false }
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<n {
                let b = UInt64(base[p + i])
                if i < 8 { hi |= b << UInt64(56 - 8 * i) } else { lo |= b << UInt64(56 - 8 * (i - 8)) }
            }
            p += n
            out.append(IPv6NLRI(IPv6Prefix(uncheckedHigh: hi, low: lo, length: len), pathID: pathID))
        }
        return true
    }

    @inline(__always)
    static func size(_ n: IPv4NLRI) -> Int { (n.pathID == nil ? 0 : 4) + 1 + (Int(n.prefix.length) + 7) / 8 }
    @inline(__always)
    static func size(_ n: IPv6NLRI) -> Int { (n.pathID == nil ? 0 : 4) + 1 + (Int(n.prefix.length) + 7) / 8 }

    /// Writes each prefix; the path ID is written when `addPath` is set (0
    /// when the value has none), and left out otherwise.
    static func encode(_ list: [IPv4NLRI], addPath: Bool, into b: inout ByteBuffer) {
        for n in list {
            if addPath { b.writeU32(n.pathID ?? 0) }
            let len = n.prefix.length
            b.writeU8(len)
            let v = n.prefix.address.value
            for i in 0..<((Int(len) + 7) / 8) { b.writeU8(UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * i))) }
        }
    }

    static func encode(_ list: [IPv6NLRI], addPath: Bool, into b: inout ByteBuffer) {
        for n in list {
            if addPath { b.writeU32(n.pathID ?? 0) }
            let len = n.prefix.length
            b.writeU8(len)
            let a = n.prefix.address
            for i in 0..<((Int(len) + 7) / 8) {
                b.writeU8(i < 8 ? UInt8(truncatingIfNeeded: a.high >> UInt64(56 - 8 * i))
                    : UInt8(truncatingIfNeeded: a.low >> UInt64(56 - 8 * (i - 8))))
            }
        }
    }

    /// Whether a family's NLRI are decoded into typed prefixes.
    static func isTyped(_ f: AddressFamily) -> Bool {
        (f.afi == .ipv4 || f.afi == .ipv6) && (f.safi == .unicast || f.safi == .multicast)
    }

    static func decode(_ family: AddressFamily, _ r: WireReader, addPath: Bool) -> NLRIList? {
        if family.afi == .ipv4, isTyped(family) {
            var l: [IPv4NLRI] = []
            return decodeIPv4(r, addPath: addPath, into: &l) ? .ipv4(l) : nil
        }
        if family.afi == .ipv6, isTyped(family) {
            var l: [IPv6NLRI] = []
            return decodeIPv6(r, addPath: addPath, into: &l) ? .ipv6(l) : nil
        }
        var copy = r
        return .raw(copy.rest())
    }

    static func encode(_ list: NLRIList, addPath: Bool, into b: inout ByteBuffer) {
        switch list {
        case .ipv4(let l): encode(l, addPath: addPath, into: &b)
        case .ipv6(let l): encode(l, addPath: addPath, into: &b)
        case .raw(let bytes): b.writeBytes(bytes)
        }
    }
}
