import IPAddressing

/// Addresses as the policy compiler needs them: both families in one
/// integer type, CIDRs, and sets of disjoint ranges with union and
/// difference (ipBlock `except`, Calico `notNets`). Interval sets in the
/// kernel hold exactly these ranges.
public enum IPFamily: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    case ipv4, ipv6
    public var bits: Int { self == .ipv4 ? 32 : 128 }
    public var maxValue: UInt128 { self == .ipv4 ? UInt128(UInt32.max) : UInt128.max }
    public static func < (a: IPFamily, b: IPFamily) -> Bool { a == .ipv4 && b == .ipv6 }
}

public struct NumericAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var family: IPFamily
    public var value: UInt128

    public init(family: IPFamily, value: UInt128) {
        self.family = family
        self.value = value
    }

    /// Text through `IPAddressing` (dotted quad without leading zeros;
    /// RFC 4291 IPv6 text).
    public init?(_ text: String) {
        guard let a = IPAddress(text) else { return nil }
        self.init(a)
    }

    public init(_ a: IPAddress) {
        switch a {
        case .v4(let v4): self.init(family: .ipv4, value: UInt128(v4.value))
        case .v6(let v6): self.init(family: .ipv6, value: UInt128(v6.high) << 64 | UInt128(v6.low))
        }
    }

    /// The same address as `IPAddressing` holds it.
    public var scalar: IPAddress {
        switch family {
        case .ipv4: .v4(IPv4Address(UInt32(truncatingIfNeeded: value)))
        case .ipv6: .v6(IPv6Address(high: UInt64(truncatingIfNeeded: value >> 64), low: UInt64(truncatingIfNeeded: value)))
        }
    }

    /// Network-order bytes: 4 or 16.
    public var bytes: [UInt8] {
        let n = family == .ipv4 ? 4 : 16
        return (0..<n).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * (n - 1 - $0))) }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var v: UInt128 = 0
        for b in bytes { v = v << 8 | UInt128(b) }
        self.init(family: bytes.count == 4 ? .ipv4 : .ipv6, value: v)
    }

    public static func < (a: NumericAddress, b: NumericAddress) -> Bool {
        (a.family, a.value) < (b.family, b.value)
    }

    /// RFC 5952 text, from `IPAddressing`.
    public var description: String { scalar.description }
}

/// An address prefix such as `10.0.0.0/8` or `fd00::/64`. A bare address is
/// a host prefix. Host bits must be zero, as Kubernetes validation requires.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public var address: NumericAddress
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = NumericAddress(String(parts[0])) else { return nil }
        let len: Int
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...a.family.bits).contains(l),
                  parts[1].allSatisfy({ $0.isNumber }) else { return nil }
            len = l
        } else {
            len = a.family.bits
        }
        address = a
        prefixLength = len
        guard range.lowerBound == a.value else { return nil }
    }

    public var family: IPFamily { address.family }

    public var range: ClosedRange<UInt128> {
        let hostBits = family.bits - prefixLength
        let hostMask: UInt128 = hostBits == 0 ? 0 : (hostBits >= 128 ? UInt128.max : (UInt128(1) << UInt128(hostBits)) - 1)
        let lo = address.value & ~hostMask & family.maxValue
        return lo...(lo | hostMask)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A set of addresses of both families, kept as sorted, disjoint, non-adjacent
/// closed ranges per family (the canonical form: equal sets are equal values).
public struct AddressSet: Hashable, Sendable {
    public private(set) var v4: [ClosedRange<UInt128>] = []
    public private(set) var v6: [ClosedRange<UInt128>] = []

    public init() {}

    public static func everything(_ family: IPFamily) -> AddressSet {
        var s = AddressSet()
        s.insert(family, 0...family.maxValue)
        return s
    }

    public init(_ cidrs: [CIDR]) {
        for c in cidrs { insert(c.family, c.range) }
    }

    /// Many addresses at once (one sort, not one per insert).
    public init(addresses: [NumericAddress]) {
        v4 = AddressSet.normalize(addresses.filter { $0.family == .ipv4 }.map { $0.value...$0.value })
        v6 = AddressSet.normalize(addresses.filter { $0.family == .ipv6 }.map { $0.value...$0.value })
    }

    public var isEmpty: Bool { v4.isEmpty && v6.isEmpty }

    public func ranges(_ family: IPFamily) -> [ClosedRange<UInt128>] { family == .ipv4 ? v4 : v6 }

    public func contains(_ address: NumericAddress) -> Bool {
        let rs = ranges(address.family)
        // Binary search over disjoint sorted ranges.
        var lo = 0, hi = rs.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if rs[mid].upperBound < address.value { lo = mid + 1 }
            else if rs[mid].lowerBound > address.value { hi = mid - 1 }
            else { return true }
        }
        return false
    }

    public mutating func insert(_ address: NumericAddress) {
        insert(address.family, address.value...address.value)
    }

    public mutating func insert(_ family: IPFamily, _ r: ClosedRange<UInt128>) {
        var list = ranges(family)
        list.append(r)
        setRanges(family, AddressSet.normalize(list))
    }

    public func union(_ other: AddressSet) -> AddressSet {
        var s = AddressSet()
        s.v4 = AddressSet.normalize(v4 + other.v4)
        s.v6 = AddressSet.normalize(v6 + other.v6)
        return s
    }

    public func subtracting(_ other: AddressSet) -> AddressSet {
        var s = AddressSet()
        s.v4 = AddressSet.subtract(v4, other.v4)
        s.v6 = AddressSet.subtract(v6, other.v6)
        return s
    }

    public func intersection(_ other: AddressSet) -> AddressSet {
        var s = AddressSet()
        for f in IPFamily.allCases {
            let everything = [0...f.maxValue]
            let complement = AddressSet.subtract(everything, other.ranges(f))
            s.setRanges(f, AddressSet.subtract(ranges(f), complement))
        }
        return s
    }

    private mutating func setRanges(_ f: IPFamily, _ r: [ClosedRange<UInt128>]) {
        if f == .ipv4 { v4 = r } else { v6 = r }
    }

    /// Builds a set from ranges that are already sorted and disjoint.
    public init(v4: [ClosedRange<UInt128>], v6: [ClosedRange<UInt128>]) {
        self.v4 = AddressSet.normalize(v4)
        self.v6 = AddressSet.normalize(v6)
    }

    static func normalize(_ input: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        let sorted = input.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt128>] = []
        for r in sorted {
            if let last = out.last, last.upperBound == UInt128.max || r.lowerBound <= last.upperBound + 1 {
                if r.upperBound > last.upperBound { out[out.count - 1] = last.lowerBound...r.upperBound }
            } else {
                out.append(r)
            }
        }
        return out
    }

    static func subtract(_ a: [ClosedRange<UInt128>], _ b: [ClosedRange<UInt128>]) -> [ClosedRange<UInt128>] {
        var out: [ClosedRange<UInt128>] = []
        var j = 0
        for r in a {
            var lo = r.lowerBound
            let hi = r.upperBound
            var done = false
            while j < b.count, b[j].upperBound < lo { j += 1 }
            var k = j
            while k < b.count, b[k].lowerBound <= hi {
                if b[k].lowerBound > lo { out.append(lo...(b[k].lowerBound - 1)) }
                if b[k].upperBound >= hi { done = true; break }
                lo = b[k].upperBound + 1
                k += 1
            }
            if !done { out.append(lo...hi) }
        }
        return out
    }

    /// nft element text for one range: an address, a prefix, or `a-b`.
    public static func elementText(_ family: IPFamily, _ r: ClosedRange<UInt128>) -> String {
        let lo = NumericAddress(family: family, value: r.lowerBound)
        if r.lowerBound == r.upperBound { return lo.description }
        let span = r.upperBound - r.lowerBound
        // A prefix: span+1 is a power of two and lo is aligned to it.
        if span != UInt128.max, (span + 1) & span == 0, r.lowerBound & span == 0 {
            let hostBits = (span + 1).trailingZeroBitCount
            return "\(lo)/\(family.bits - hostBits)"
        }
        if span == UInt128.max { return "\(lo)/0" }
        return "\(lo)-\(NumericAddress(family: family, value: r.upperBound))"
    }
}
