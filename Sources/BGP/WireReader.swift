import NIOCore

/// A bounds-checked cursor over bytes that a caller keeps alive (the
/// decoder's `withUnsafeReadableBytes` scope). Every read checks the bounds
/// first, so no input can read outside the buffer; callers check `remaining`
/// and map shortfalls to the RFC's error for that field.
struct WireReader {
    let base: UnsafeRawBufferPointer
    private(set) var position: Int
    let end: Int

    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        position = 0
        end = base.count
    }

    init(_ base: UnsafeRawBufferPointer, from: Int, to: Int) {
        precondition(from >= 0 && from <= to && to <= base.count)
        self.base = base
        position = from
        end = to
    }

    var remaining: Int { end - position }
    var isAtEnd: Bool { position >= end }

    @inline(__always)
    mutating func u8() -> UInt8? {
        guard position < end else { return nil }
        defer { position += 1 }
        return base[position]
    }

    @inline(__always)
    mutating func u16() -> UInt16? {
        guard end - position >= 2 else { return nil }
        defer { position += 2 }
        return UInt16(base[position]) << 8 | UInt16(base[position + 1])
    }

    @inline(__always)
    mutating func u32() -> UInt32? {
        guard end - position >= 4 else { return nil }
        defer { position += 4 }
        return UInt32(base[position]) << 24 | UInt32(base[position + 1]) << 16
            | UInt32(base[position + 2]) << 8 | UInt32(base[position + 3])
    }

    @inline(__always)
    mutating func u64() -> UInt64? {
        guard let h = u32(), let l = u32() else { return nil }
        return UInt64(h) << 32 | UInt64(l)
    }

    mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, end - position >= n else { return nil }
        defer { position += n }
        return Array(UnsafeRawBufferPointer(rebasing: base[position..<(position + n)]))
    }

    /// A sub-reader over the next `n` bytes; advances past them.
    mutating func sub(_ n: Int) -> WireReader? {
        guard n >= 0, end - position >= n else { return nil }
        defer { position += n }
        return WireReader(base, from: position, to: position + n)
    }

    mutating func rest() -> [UInt8] { bytes(remaining) ?? [] }

    /// The bytes between two absolute offsets (for NOTIFICATION data that
    /// must echo the offending attribute).
    func slice(_ from: Int, _ to: Int) -> [UInt8] {
        let lo = max(0, min(from, base.count)), hi = max(lo, min(to, base.count))
        return Array(UnsafeRawBufferPointer(rebasing: base[lo..<hi]))
    }
}

extension ByteBuffer {
    @inline(__always)
    mutating func writeU8(_ v: UInt8) { writeInteger(v) }
    @inline(__always)
    mutating func writeU16(_ v: UInt16) { writeInteger(v) }
    @inline(__always)
    mutating func writeU32(_ v: UInt32) { writeInteger(v) }

    /// Reserves a 1- or 2-octet length field, runs `body`, then fills the
    /// field with the number of bytes `body` wrote.
    mutating func writeLengthPrefixed(octets: Int, _ body: (inout ByteBuffer) -> Void) {
        let at = writerIndex
        if octets == 1 { writeInteger(UInt8(0)) } else { writeInteger(UInt16(0)) }
        let start = writerIndex
        body(&self)
        let n = writerIndex - start
        if octets == 1 { setInteger(UInt8(truncatingIfNeeded: n), at: at) } else { setInteger(UInt16(truncatingIfNeeded: n), at: at) }
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hex without separators.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

public enum Hex {
    /// Lowercase hex of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String { bytes.hex }

    /// Parses hex, ignoring whitespace, colons and an optional `0x` prefix per
    /// token; nil on any other character or an odd number of digits.
    public static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        var pending: UInt8?
        var prev: UInt8 = 0
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "x"), UInt8(ascii: "X"):
                // "0x" prefix: drop the pending 0.
                guard pending == 0, prev == UInt8(ascii: "0") else { return nil }
                pending = nil
                prev = c
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: ":"):
                prev = c
                continue
            default: return nil
            }
            prev = c
            if let p = pending { out.append(p << 4 | v); pending = nil } else { pending = v }
        }
        return pending == nil ? out : nil
    }
}
