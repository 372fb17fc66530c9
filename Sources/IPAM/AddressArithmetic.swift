import IPAddressing

// Offsets inside prefixes: IPAM numbers the addresses of a block by ordinal
// (0 = the block's first address) and the blocks of a pool by index.
extension IPAddress {
    /// This address plus `n`, or nil on overflow past the family's end.
    func adding(_ n: UInt64) -> IPAddress? {
        switch self {
        case .v4(let a):
            let (v, o) = UInt64(a.value).addingReportingOverflow(n)
            guard !o, v <= UInt64(UInt32.max) else { return nil }
            return .v4(IPv4Address(UInt32(v)))
        case .v6(let a):
            let (low, carry) = a.low.addingReportingOverflow(n)
            let (high, o) = a.high.addingReportingOverflow(carry ? 1 : 0)
            guard !o else { return nil }
            return .v6(IPv6Address(high: high, low: low))
        }
    }

    /// `self - base` when it fits in 64 bits and self >= base (same family).
    func offset(from base: IPAddress) -> UInt64? {
        switch (self, base) {
        case (.v4(let a), .v4(let b)):
            return a.value >= b.value ? UInt64(a.value - b.value) : nil
        case (.v6(let a), .v6(let b)):
            guard (a.high, a.low) >= (b.high, b.low) else { return nil }
            let (low, borrow) = a.low.subtractingReportingOverflow(b.low)
            let high = a.high - b.high - (borrow ? 1 : 0)
            return high == 0 ? low : nil
        default:
            return nil
        }
    }

    var familyWidth: Int { isIPv4 ? 32 : 128 }
}

extension IPPrefix {
    var hostBits: Int { address.familyWidth - length }
    var isIPv4: Bool { address.isIPv4 }

    /// Number of addresses (saturating at UInt64.max).
    var addressCount: UInt64 { hostBits >= 64 ? UInt64.max : UInt64(1) << UInt64(hostBits) }

    var lastAddress: IPAddress { address.adding(addressCount &- 1) ?? address }

    func address(at ordinal: Int) -> IPAddress? {
        guard ordinal >= 0, UInt64(ordinal) < addressCount else { return nil }
        return address.adding(UInt64(ordinal))
    }

    func ordinal(of ip: IPAddress) -> Int? {
        guard contains(ip), let off = ip.offset(from: address), off < UInt64(Int.max) else { return nil }
        return Int(off)
    }

    /// How many sub-prefixes of length `length` this prefix holds
    /// (saturating).
    func subnetCount(length: Int) -> UInt64 {
        let bits = length - self.length
        return bits >= 63 ? UInt64(Int64.max) : UInt64(1) << UInt64(bits)
    }

    /// The `index`th sub-prefix of length `length`.
    func subnet(length: Int, index: UInt64) -> IPPrefix? {
        let shift = address.familyWidth - length
        guard index < subnetCount(length: length) else { return nil }
        // index << shift may exceed 64 bits for IPv6 pools with short
        // blocks; IPAM limits block host bits so the shifted value fits.
        guard shift < 64, index <= (UInt64.max >> UInt64(shift)) else { return nil }
        guard let start = address.adding(index << UInt64(shift)) else { return nil }
        return IPPrefix(address: start, length: length)
    }
}

/// An inclusive range of addresses of one family ("10.0.0.1-10.0.0.9", a
/// CIDR, or one address): IPAM's reservations (excluded ranges).
public struct IPRange: Hashable, Sendable, Codable, CustomStringConvertible {
    public var first: IPAddress
    public var last: IPAddress

    public init?(first: IPAddress, last: IPAddress) {
        guard first.isIPv4 == last.isIPv4, first <= last else { return nil }
        self.first = first
        self.last = last
    }

    public init?(_ text: String) {
        if let dash = text.firstIndex(of: "-") {
            guard let a = IPAddress(String(text[..<dash])), let b = IPAddress(String(text[text.index(after: dash)...])) else {
                return nil
            }
            self.init(first: a, last: b)
        } else if text.contains("/") {
            guard let p = IPPrefix(text) else { return nil }
            self.init(first: p.address, last: p.lastAddress)
        } else {
            guard let a = IPAddress(text) else { return nil }
            self.init(first: a, last: a)
        }
    }

    public func contains(_ ip: IPAddress) -> Bool { ip.isIPv4 == first.isIPv4 && first <= ip && ip <= last }

    public var description: String { first == last ? first.description : "\(first)-\(last)" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let r = IPRange(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an address, CIDR or a-b range: \(s)")
        }
        self = r
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
