/// An IPv4 address held as one host-order `UInt32` (`10.0.0.1` is `0x0A00_0001`).
public struct IPv4Address: Hashable, Comparable, Sendable {
    public var value: UInt32

    @inlinable
    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Network-order bytes (4 of them).
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 4 else { return nil }
        var v: UInt32 = 0
        for b in bytes { v = v << 8 | UInt32(b) }
        value = v
    }

    /// The four octets in network order.
    public var bytes: [UInt8] {
        [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
         UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    public static let any = IPv4Address(0)
    public static let broadcast = IPv4Address(UInt32.max)

    public var isUnspecified: Bool { value == 0 }
    public var isLoopback: Bool { value >> 24 == 127 }
    /// 224.0.0.0/4.
    public var isMulticast: Bool { value >> 28 == 0xE }

    @inlinable
    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
}

extension IPv4Address: LosslessStringConvertible {
    /// Dotted quad only: exactly four decimal octets, no leading zeros
    /// (leading zeros are ambiguous: some parsers read them as octal).
    public init?(_ description: String) {
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        var value: UInt32 = 0
        for c in description.utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | current
                octets += 1
                current = 0
                digits = 0
            } else if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits > 0, current == 0 { return nil }  // leading zero
                current = current * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                guard current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard octets == 3, digits > 0 else { return nil }
        self.value = value << 8 | current
    }

    public var description: String {
        "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }
}

extension IPv4Address: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPv4Address(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv4 address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 prefix: a network address with its host bits zero, and a length 0...32.
public struct IPv4Prefix: Hashable, Comparable, Sendable {
    public let address: IPv4Address
    public let length: UInt8

    /// Masks off host bits; nil when `length > 32`.
    public init?(address: IPv4Address, length: Int) {
        guard length >= 0, length <= 32 else { return nil }
        self.address = IPv4Address(address.value & IPv4Prefix.mask(length))
        self.length = UInt8(length)
    }

    /// For callers that already hold a masked address and a valid length
    /// (decoders on hot paths). Masks anyway, so the invariant holds.
    @inlinable
    public init(uncheckedAddress value: UInt32, length: UInt8) {
        precondition(length <= 32)
        self.address = IPv4Address(value & (length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length))))
        self.length = length
    }

    /// A host route (/32).
    @inlinable
    public init(host: IPv4Address) {
        address = host
        length = 32
    }

    @inlinable
    public static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
    }

    public var netmask: IPv4Address { IPv4Address(IPv4Prefix.mask(Int(length))) }
    public var lastAddress: IPv4Address { IPv4Address(address.value | ~IPv4Prefix.mask(Int(length))) }
    /// Number of addresses covered (2^(32-length)).
    public var addressCount: UInt64 { UInt64(1) << UInt64(32 - Int(length)) }

    public func contains(_ a: IPv4Address) -> Bool {
        a.value & IPv4Prefix.mask(Int(length)) == address.value
    }

    /// True when `other` is this prefix or lies inside it.
    public func contains(_ other: IPv4Prefix) -> Bool {
        other.length >= length && contains(other.address)
    }

    /// Orders by address, then by length (shorter first).
    public static func < (a: IPv4Prefix, b: IPv4Prefix) -> Bool {
        a.address != b.address ? a.address < b.address : a.length < b.length
    }
}

extension IPv4Prefix: LosslessStringConvertible {
    /// `a.b.c.d/len`. Rejects set host bits ("10.0.0.1/24"), since that is
    /// almost always a typo for an address; use `init(address:length:)` to mask.
    public init?(_ description: String) {
        guard let (a, len) = splitPrefix(description), let addr = IPv4Address(a), len <= 32,
              addr.value & ~IPv4Prefix.mask(len) == 0
        else { return nil }
        self.init(address: addr, length: len)
    }

    public var description: String { "\(address)/\(length)" }
}

extension IPv4Prefix: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let p = IPv4Prefix(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IPv4 prefix: \(s)")
        }
        self = p
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Splits "addr/len" with a plain decimal length (no sign, no leading zeros).
func splitPrefix(_ s: String) -> (Substring, Int)? {
    guard let slash = s.lastIndex(of: "/") else { return nil }
    let lenText = s[s.index(after: slash)...]
    guard !lenText.isEmpty, lenText.count <= 3, lenText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
          lenText == "0" || lenText.first != "0", let len = Int(lenText)
    else { return nil }
    return (s[..<slash], len)
}

extension IPv4Address {
    init?(_ s: Substring) { self.init(String(s)) }
}
