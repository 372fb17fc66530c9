import JSON

extension JSONValue {
    /// Parses a network config (or any CNI JSON) from stdin. Throws
    /// `CNIError` code 6 (decode failure) on anything that is not one
    /// well-formed JSON document.
    public static func parse(_ bytes: some Collection<UInt8>) throws(CNIError) -> JSONValue {
        let array = Array(bytes)
        if array.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw CNIError(.decodingFailure, "empty network configuration on stdin")
        }
        do {
            return try JSONValue(parsing: array)
        } catch {
            throw CNIError(.decodingFailure, "network configuration is not valid JSON", details: error.description)
        }
    }
}
