/// An IPv4 or IPv6 address. Orders every IPv4 address before every IPv6 one.
public enum IPAddress: Hashable, Comparable, Sendable {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var isIPv6: Bool { if case .v6 = self { true } else { false } }
    /// An IPv6 link-local address (fe80::/10): meaningful with an interface only.
    public var isIPv6LinkLocal: Bool { if case .v6(let a) = self { a.isLinkLocal } else { false } }

    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): a.bytes
        case .v6(let a): a.bytes
        }
    }

    /// 4 bytes make an IPv4 address, 16 an IPv6 one, anything else nil.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        if let a = IPv4Address(bytes: bytes) { self = .v4(a) }
        else if let a = IPv6Address(bytes: bytes) { self = .v6(a) }
        else { return nil }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
}

extension IPAddress: LosslessStringConvertible {
    public init?(_ description: String) {
        if description.contains(":") {
            guard let a = IPv6Address(description) else { return nil }
            self = .v6(a)
        } else {
            guard let a = IPv4Address(description) else { return nil }
            self = .v4(a)
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
}

extension IPAddress: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let a = IPAddress(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IP address: \(s)")
        }
        self = a
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An IPv4 or IPv6 prefix. Orders every IPv4 prefix before every IPv6 one.
public enum IPPrefix: Hashable, Comparable, Sendable {
    case v4(IPv4Prefix)
    case v6(IPv6Prefix)

    public var length: Int {
        switch self {
        case .v4(let p): Int(p.length)
        case .v6(let p): Int(p.length)
        }
    }

    public var address: IPAddress {
        switch self {
        case .v4(let p): .v4(p.address)
        case .v6(let p): .v6(p.address)
        }
    }

    /// Masks host bits; nil when the length exceeds the family's width.
    public init?(address: IPAddress, length: Int) {
        switch address {
        case .v4(let a):
            guard let p = IPv4Prefix(address: a, length: length) else { return nil }
            self = .v4(p)
        case .v6(let a):
            guard let p = IPv6Prefix(address: a, length: length) else { return nil }
            self = .v6(p)
        }
    }

    /// False across families.
    public func contains(_ a: IPAddress) -> Bool {
        switch (self, a) {
        case (.v4(let p), .v4(let x)): p.contains(x)
        case (.v6(let p), .v6(let x)): p.contains(x)
        default: false
        }
    }

    /// False across families.
    public func contains(_ other: IPPrefix) -> Bool {
        switch (self, other) {
        case (.v4(let p), .v4(let x)): p.contains(x)
        case (.v6(let p), .v6(let x)): p.contains(x)
        default: false
        }
    }

    public static func < (a: IPPrefix, b: IPPrefix) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
}

extension IPPrefix: LosslessStringConvertible {
    public init?(_ description: String) {
        if description.contains(":") {
            guard let p = IPv6Prefix(description) else { return nil }
            self = .v6(p)
        } else {
            guard let p = IPv4Prefix(description) else { return nil }
            self = .v4(p)
        }
    }

    public var description: String {
        switch self {
        case .v4(let p): p.description
        case .v6(let p): p.description
        }
    }
}

extension IPPrefix: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let p = IPPrefix(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an IP prefix: \(s)")
        }
        self = p
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
