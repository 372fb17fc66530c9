/// An IPv6 address held as two host-order `UInt64` halves (`high` is the
/// first 8 bytes on the wire).
public struct IPv6Address: Hashable, Comparable, Sendable {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Network-order bytes (16 of them).
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        var i = 0
        for b in bytes {
            if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
            i += 1
        }
        high = h
        low = l
    }

    /// The sixteen bytes in network order.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            let shift = UInt64(56 - 8 * i)
            out[i] = UInt8(truncatingIfNeeded: high >> shift)
            out[i + 8] = UInt8(truncatingIfNeeded: low >> shift)
        }
        return out
    }

    /// The eight 16-bit groups.
    public var groups: [UInt16] {
        var out = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 {
            let shift = UInt64(48 - 16 * i)
            out[i] = UInt16(truncatingIfNeeded: high >> shift)
            out[i + 4] = UInt16(truncatingIfNeeded: low >> shift)
        }
        return out
    }

    public init(groups g: [UInt16]) {
        precondition(g.count == 8)
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(g[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(g[i]) }
        high = h
        low = l
    }

    public static let any = IPv6Address(high: 0, low: 0)
    public static let loopback = IPv6Address(high: 0, low: 1)

    public var isUnspecified: Bool { high == 0 && low == 0 }
    public var isLoopback: Bool { high == 0 && low == 1 }
    /// fe80::/10.
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }
    /// ff00::/8.
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// ::ffff:0:0/96: the embedded IPv4 address, if any.
    public var ipv4Mapped: IPv4Address? {
        high == 0 && low >> 32 == 0xFFFF ? IPv4Address(UInt32(truncatingIfNeeded: low)) : nil
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool {
        a.high != b.high ? a.high < b.high : a.low < b.low
    }
}

extension IPv6Address: LosslessStringConvertible {
    /// RFC 4291 §2.2 text: hex groups, at most one `::`, optional trailing
    /// dotted IPv4. Zone suffixes (`%eth0`) are not addresses and are rejected.
    public init?(_ description: String) {
        let s = Substring(description)
        guard !s.isEmpty, s.utf8.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        if let r = IPv6Address.doubleColon(in: s) {
            sawDoubleColon = true
            let before = s[..<r], after = s[s.index(r, offsetBy: 2)...]
            if IPv6Address.doubleColon(in: after) != nil { return nil }
            guard let h = IPv6Address.parseGroups(before, allowIPv4: false),
                  let t = IPv6Address.parseGroups(after, allowIPv4: true)
            else { return nil }
            head = h
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let g = IPv6Address.parseGroups(s, allowIPv4: true), g.count == 8 else { return nil }
            head = g
        }
        var all = head
        if sawDoubleColon {
            all += Array(repeating: 0, count: 8 - head.count - tail.count)
            all += tail
        }
        self.init(groups: all)
    }

    private static func doubleColon(in s: Substring) -> Substring.Index? {
        var i = s.startIndex
        while i < s.endIndex {
            let n = s.index(after: i)
            if n < s.endIndex, s[i] == ":", s[n] == ":" { return i }
            i = n
        }
        return nil
    }

    private static func parseGroups(_ s: Substring, allowIPv4: Bool) -> [UInt16]? {
        if s.isEmpty { return [] }
        let fields = s.split(separator: ":", omittingEmptySubsequences: false)
        var out: [UInt16] = []
        for (i, f) in fields.enumerated() {
            if allowIPv4, i == fields.count - 1, f.contains(".") {
                guard let v4 = IPv4Address(f) else { return nil }
                out.append(UInt16(truncatingIfNeeded: v4.value >> 16))
                out.append(UInt16(truncatingIfNeeded: v4.value))
                continue
            }
            guard (1...4).contains(f.utf8.count), f.utf8.allSatisfy({ $0.isHexDigit }),
                  let v = UInt16(f, radix: 16)
            else { return nil }
            out.append(v)
        }
        return out
    }

    /// RFC 5952 canonical text: lowercase, no leading zeros, the longest run
    /// (of two or more) zero groups compressed, the first on a tie; IPv4-mapped
    /// addresses as `::ffff:a.b.c.d`.
    public var description: String {
        if let v4 = ipv4Mapped { return "::ffff:\(v4)" }
        let g = groups
        var bestStart = -1, bestLen = 0
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8, g[j] == 0 { j += 1 }
                if j - i > bestLen, j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(g[...]) }
        return hex(g[0..<bestStart]) + "::" + hex(g[(bestStart + bestLen)...])
    }
}

extension UInt8 {
    var isHexDigit: Bool {
        (self >= 48 && self <= 57) || (self >= 65 && self <= 70) || (self >= 97 && self <= 102)
    }
}

extension IPv6Address: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPv6Address(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv6 address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv6 prefix: a network address with its host bits zero, and a length 0...128.
public struct IPv6Prefix: Hashable, Comparable, Sendable {
    public let address: IPv6Address
    public let length: UInt8

    /// Masks off host bits; nil when `length > 128`.
    public init?(address: IPv6Address, length: Int) {
        guard length >= 0, length <= 128 else { return nil }
        let (mh, ml) = IPv6Prefix.mask(length)
        self.address = IPv6Address(high: address.high & mh, low: address.low & ml)
        self.length = UInt8(length)
    }

    /// Hot-path initialiser for decoders; masks, traps on length > 128.
    @inlinable
    public init(uncheckedHigh high: UInt64, low: UInt64, length: UInt8) {
        precondition(length <= 128)
        let (mh, ml) = IPv6Prefix.mask(Int(length))
        address = IPv6Address(high: high & mh, low: low & ml)
        self.length = length
    }

    @inlinable
    public init(host: IPv6Address) {
        address = host
        length = 128
    }

    @inlinable
    public static func mask(_ length: Int) -> (UInt64, UInt64) {
        if length == 0 { return (0, 0) }
        if length <= 64 { return (~UInt64(0) << UInt64(64 - length), 0) }
        if length == 128 { return (~0, ~0) }
        return (~0, ~UInt64(0) << UInt64(128 - length))
    }

    public func contains(_ a: IPv6Address) -> Bool {
        let (mh, ml) = IPv6Prefix.mask(Int(length))
        return a.high & mh == address.high && a.low & ml == address.low
    }

    public func contains(_ other: IPv6Prefix) -> Bool {
        other.length >= length && contains(other.address)
    }

    public static func < (a: IPv6Prefix, b: IPv6Prefix) -> Bool {
        a.address != b.address ? a.address < b.address : a.length < b.length
    }
}

extension IPv6Prefix: LosslessStringConvertible {
    /// `addr/len`; rejects set host bits (see `IPv4Prefix.init?(_:)`).
    public init?(_ description: String) {
        guard let (a, len) = splitPrefix(description), let addr = IPv6Address(String(a)), len <= 128
        else { return nil }
        let (mh, ml) = IPv6Prefix.mask(len)
        guard addr.high & ~mh == 0, addr.low & ~ml == 0 else { return nil }
        self.init(address: addr, length: len)
    }

    public var description: String { "\(address)/\(length)" }
}

extension IPv6Prefix: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let p = IPv6Prefix(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv6 prefix: \(s)")
        }
        self = p
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
