/// A 48-bit Ethernet (EUI-48) address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    public var bytes: [UInt8]

    /// Nil unless exactly six bytes are given.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (colons or dashes).
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    public var isMulticast: Bool { bytes[0] & 1 != 0 }
    public var isLocallyAdministered: Bool { bytes[0] & 2 != 0 }

    public var description: String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined(separator: ":")
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = MACAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a MAC address: \(text)")
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
