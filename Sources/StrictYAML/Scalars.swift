import IPAddressing
import Yams

// Typed scalars shared by every configuration and resource parser.
extension YField {
    /// The value of `key` in a mapping already checked.
    public func value(_ key: String) -> YField? {
        guard case .mapping(let m) = node else { return nil }
        for (k, v) in m { if case .scalar(let ks) = k, ks.string == key { return child(key, v) } }
        return nil
    }

    public func bool() throws(YAMLInputError) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain, let v = ["true": true, "false": false][s.string] else {
            throw error("expected true or false")
        }
        return v
    }

    public func uint32() throws(YAMLInputError) -> UInt32 {
        let v = try int()
        guard let u = UInt32(exactly: v) else { throw error("expected 0-4294967295") }
        return u
    }

    /// An AS number, plain (64512) or asdot (1.10, RFC 5396).
    public func asNumber() throws(YAMLInputError) -> UInt32 {
        guard case .scalar(let s) = node else { throw error("expected an AS number") }
        let parts = s.string.split(separator: ".", omittingEmptySubsequences: false)
        let value: UInt32?
        if parts.count == 2, let high = UInt16(parts[0]), let low = UInt16(parts[1]) {
            value = UInt32(high) << 16 | UInt32(low)
        } else {
            value = UInt32(s.string)
        }
        guard let value, value != 0, value != 23456 /* AS_TRANS, RFC 6793 */ else { throw error("expected an AS number (1-4294967295, not 23456)") }
        return value
    }

    public func address() throws(YAMLInputError) -> IPAddress {
        guard let a = IPAddress(try string()) else { throw error("expected an IP address") }
        return a
    }

    public func prefix() throws(YAMLInputError) -> IPPrefix {
        guard let p = IPPrefix(try string()) else { throw error("expected a prefix such as 10.0.0.0/8") }
        return p
    }


    /// A BGP hold time: 0 (no keepalives) or 3-65535 seconds (RFC 4271 §4.2).
    public func holdTime() throws(YAMLInputError) -> UInt16 {
        let v = try int()
        guard v == 0 || (3...65535).contains(v) else { throw error("must be 0 or 3-65535 seconds (RFC 4271 §4.2)") }
        return UInt16(v)
    }
}
