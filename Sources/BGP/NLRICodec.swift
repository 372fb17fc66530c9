import IPAddressing
import NIOCore

/// NLRI encoding (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3): per prefix an
/// optional 4-octet Path Identifier, a length in bits, and the fewest octets
/// that hold that many bits. This is the decoder's hot path: no allocation
/// per prefix beyond the array append.
enum NLRICodec {
    /// Validates the field and counts its prefixes: nil when it is
    /// syntactically wrong (a length over `maxLength`, a prefix or path ID
    /// running past the end). A first pass, so the typed array is allocated
    /// once at its exact size.
    @inline(__always)
    static func count(_ r: WireReader, addPath: Bool, maxLength: UInt8) -> Int? {
        let base = r.base
        var p = r.position
        let end = r.end
        var n = 0
        let idBytes = addPath ? 4 : 0
        while p < end {
            p += idBytes
            guard p < end else { return nil }
            let len = base[p]
            guard len <= maxLength else { return nil }
            p += 1 + (Int(len) + 7) >> 3
            guard p <= end else { return nil }
            n += 1
        }
        return n
    }

    @inline(__always)
    static func readU32(_ base: UnsafeRawBufferPointer, _ p: Int) -> UInt32 {
        UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8 | UInt32(base[p + 3])
    }

    static func decodeIPv4(_ r: WireReader, addPath: Bool) -> [IPv4NLRI]? {
        guard let n = count(r, addPath: addPath, maxLength: 32) else { return nil }
        if n == 0 { return [] }
        let base = r.base
        return [IPv4NLRI](unsafeUninitializedCapacity: n) { out, initialized in
            var p = r.position
            for i in 0..<n {
                var pathID: UInt32?
                if addPath {
                    pathID = readU32(base, p)
                    p += 4
                }
                let len = base[p]
                p += 1
                var v: UInt32
                switch (Int(len) + 7) >> 3 {
                case 4: v = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: p, as: UInt32.self))
                case 3: v = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16 | UInt32(base[p + 2]) << 8
                case 2: v = UInt32(base[p]) << 24 | UInt32(base[p + 1]) << 16
                case 1: v = UInt32(base[p]) << 24
                default: v = 0
                }
                p += (Int(len) + 7) >> 3
                (out.baseAddress! + i).initialize(to: IPv4NLRI(IPv4Prefix(uncheckedAddress: v, length: len), pathID: pathID))
            }
            initialized = n
        }
    }

    static func decodeIPv6(_ r: WireReader, addPath: Bool) -> [IPv6NLRI]? {
        guard let n = count(r, addPath: addPath, maxLength: 128) else { return nil }
        if n == 0 { return [] }
        let base = r.base
        return [IPv6NLRI](unsafeUninitializedCapacity: n) { out, initialized in
            var p = r.position
            for i in 0..<n {
                var pathID: UInt32?
                if addPath {
                    pathID = readU32(base, p)
                    p += 4
                }
                let len = base[p]
                p += 1
                let bytes = (Int(len) + 7) >> 3
                var hi: UInt64 = 0, lo: UInt64 = 0
                if bytes == 16 {
                    hi = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                    lo = UInt64(bigEndian: base.loadUnaligned(fromByteOffset: p + 8, as: UInt64.self))
                } else {
                    for j in 0..<bytes {
                        let b = UInt64(base[p + j])
                        if j < 8 { hi |= b << UInt64(56 - 8 * j) } else { lo |= b << UInt64(56 - 8 * (j - 8)) }
                    }
                }
                p += bytes
                (out.baseAddress! + i).initialize(to: IPv6NLRI(IPv6Prefix(uncheckedHigh: hi, low: lo, length: len), pathID: pathID))
            }
            initialized = n
        }
    }

    @inline(__always)
    static func size(_ n: IPv4NLRI) -> Int { (n.pathID == nil ? 0 : 4) + 1 + (Int(n.prefix.length) + 7) / 8 }
    @inline(__always)
    static func size(_ n: IPv6NLRI) -> Int { (n.pathID == nil ? 0 : 4) + 1 + (Int(n.prefix.length) + 7) / 8 }

    /// Writes each prefix; the path ID is written when `addPath` is set (0
    /// when the value has none), and left out otherwise. Sizes first, then
    /// one pass over raw bytes: no per-prefix bounds checks or growth.
    static func encode(_ list: [IPv4NLRI], addPath: Bool, into b: inout ByteBuffer) {
        let idBytes = addPath ? 4 : 0
        var total = 0
        for n in list { total += idBytes + 1 + (Int(n.prefix.length) + 7) >> 3 }
        guard total > 0 else { return }
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var p = 0
            for n in list {
                if addPath { storeU32(n.pathID ?? 0, raw, &p) }
                let len = n.prefix.length
                raw[p] = len
                p += 1
                let v = n.prefix.address.value
                let count = (Int(len) + 7) >> 3
                for i in 0..<count { raw[p + i] = UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * i)) }
                p += count
            }
            return p
        }
    }

    static func encode(_ list: [IPv6NLRI], addPath: Bool, into b: inout ByteBuffer) {
        let idBytes = addPath ? 4 : 0
        var total = 0
        for n in list { total += idBytes + 1 + (Int(n.prefix.length) + 7) >> 3 }
        guard total > 0 else { return }
        b.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var p = 0
            for n in list {
                if addPath { storeU32(n.pathID ?? 0, raw, &p) }
                let len = n.prefix.length
                raw[p] = len
                p += 1
                let a = n.prefix.address
                let count = (Int(len) + 7) >> 3
                for i in 0..<count {
                    raw[p + i] = i < 8 ? UInt8(truncatingIfNeeded: a.high >> UInt64(56 - 8 * i))
                        : UInt8(truncatingIfNeeded: a.low >> UInt64(56 - 8 * (i - 8)))
                }
                p += count
            }
            return p
        }
    }

    @inline(__always)
    private static func storeU32(_ v: UInt32, _ raw: UnsafeMutableRawBufferPointer, _ p: inout Int) {
        raw[p] = UInt8(truncatingIfNeeded: v >> 24)
        raw[p + 1] = UInt8(truncatingIfNeeded: v >> 16)
        raw[p + 2] = UInt8(truncatingIfNeeded: v >> 8)
        raw[p + 3] = UInt8(truncatingIfNeeded: v)
        p += 4
    }

    /// Whether a family's NLRI are decoded into typed prefixes.
    static func isTyped(_ f: AddressFamily) -> Bool {
        (f.afi == .ipv4 || f.afi == .ipv6) && (f.safi == .unicast || f.safi == .multicast)
    }

    static func decode(_ family: AddressFamily, _ r: WireReader, addPath: Bool) -> NLRIList? {
        if family.afi == .ipv4, isTyped(family) {
            return decodeIPv4(r, addPath: addPath).map { .ipv4($0) }
        }
        if family.afi == .ipv6, isTyped(family) {
            return decodeIPv6(r, addPath: addPath).map { .ipv6($0) }
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
