/// Addressing inside a prefix: the n-th address, an address's offset, and
/// the subnets of a given length (for IPAM blocks and pools).
extension IPv4Prefix {
    /// The address at `index` (0 is the network address); nil past the end.
    public func address(at index: UInt64) -> IPv4Address? {
        guard index < addressCount else { return nil }
        return IPv4Address(address.value &+ UInt32(truncatingIfNeeded: index))
    }

    /// The offset of `a` from the network address; nil when outside.
    public func index(of a: IPv4Address) -> UInt64? {
        contains(a) ? UInt64(a.value - address.value) : nil
    }

    /// The subnets of `length` that tile this prefix, in order; empty when
    /// `length` is shorter than this prefix or over 32.
    public func subnets(length newLength: Int) -> [IPv4Prefix] {
        guard newLength >= Int(length), newLength <= 32 else { return [] }
        let count = 1 << (newLength - Int(length))
        let step = newLength == 0 ? 0 : UInt32(1) << UInt32(32 - newLength)
        return (0..<count).map { IPv4Prefix(uncheckedAddress: address.value &+ UInt32($0) &* step, length: UInt8(newLength)) }
    }
}

extension IPv6Prefix {
    /// log2 of the number of addresses: 128 - length.
    public var hostBits: Int { 128 - Int(length) }

    /// The address at `index` (0 is the network address); nil past the end.
    public func address(at index: UInt64) -> IPv6Address? {
        if hostBits < 64, index >= UInt64(1) << UInt64(hostBits) { return nil }
        let (low, carry) = address.low.addingReportingOverflow(index)
        return IPv6Address(high: address.high &+ (carry ? 1 : 0), low: low)
    }

    /// The offset of `a` from the network address, when it fits in 64 bits.
    public func index(of a: IPv6Address) -> UInt64? {
        guard contains(a), a.high == address.high else { return nil }
        return a.low - address.low
    }

    /// The subnets of `length`, in order; at most `limit` of them.
    public func subnets(length newLength: Int, limit: Int = 1 << 16) -> [IPv6Prefix] {
        guard newLength >= Int(length), newLength <= 128 else { return [] }
        let bits = newLength - Int(length)
        let count = bits >= 62 ? limit : min(limit, 1 << bits)
        var out: [IPv6Prefix] = []
        out.reserveCapacity(count)
        for i in 0..<UInt64(count) {
            // Place i at bit position (128 - newLength).
            let shift = 128 - newLength
            var hi = address.high, lo = address.low
            if shift >= 64 {
                hi |= i << UInt64(shift - 64)
            } else {
                lo |= i << UInt64(shift)
                if shift > 0 { hi |= i >> UInt64(64 - shift) }
            }
            out.append(IPv6Prefix(uncheckedHigh: hi, low: lo, length: UInt8(newLength)))
        }
        return out
    }
}

extension IPPrefix {
    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var isIPv6: Bool { if case .v6 = self { true } else { false } }
}
