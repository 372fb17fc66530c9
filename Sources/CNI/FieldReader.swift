import JSON
/// Typed access to a JSON object that names the full field path in every
/// error ("ipam.pools[2]: expected string, got number"): a config error must
/// tell the operator exactly what to fix.
struct FieldReader {
    let object: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String) throws(CNIError) {
        guard case .object(let o) = value else {
            throw CNIError.invalidField(path.isEmpty ? "network configuration" : path, "expected object, got \(value.typeName)")
        }
        object = o
        self.path = path
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    func string(_ key: String) throws(CNIError) -> String? {
        guard let v = object[key], v != .null else { return nil }
        guard case .string(let s) = v else { throw CNIError.invalidField(field(key), "expected string, got \(v.typeName)") }
        return s
    }

    func requiredString(_ key: String) throws(CNIError) -> String {
        guard let s = try string(key) else { throw CNIError.invalidField(field(key), "missing") }
        guard !s.isEmpty else { throw CNIError.invalidField(field(key), "must not be empty") }
        return s
    }

    func bool(_ key: String) throws(CNIError) -> Bool? {
        guard let v = object[key], v != .null else { return nil }
        guard case .bool(let b) = v else { throw CNIError.invalidField(field(key), "expected boolean, got \(v.typeName)") }
        return b
    }

    func int(_ key: String, range: ClosedRange<Int64>) throws(CNIError) -> Int? {
        guard let v = object[key], v != .null else { return nil }
        guard let i = v.intValue else { throw CNIError.invalidField(field(key), "expected integer, got \(v.typeName)") }
        guard range.contains(i) else {
            throw CNIError.invalidField(field(key), "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(i)
    }

    func stringArray(_ key: String) throws(CNIError) -> [String]? {
        guard let v = object[key], v != .null else { return nil }
        guard case .array(let a) = v else { throw CNIError.invalidField(field(key), "expected array, got \(v.typeName)") }
        var out: [String] = []
        for (i, e) in a.enumerated() {
            guard case .string(let s) = e else {
                throw CNIError.invalidField("\(field(key))[\(i)]", "expected string, got \(e.typeName)")
            }
            out.append(s)
        }
        return out
    }

    func array(_ key: String) throws(CNIError) -> [JSONValue]? {
        guard let v = object[key], v != .null else { return nil }
        guard case .array(let a) = v else { throw CNIError.invalidField(field(key), "expected array, got \(v.typeName)") }
        return a
    }

    func object(_ key: String) throws(CNIError) -> FieldReader? {
        guard let v = object[key], v != .null else { return nil }
        return try FieldReader(v, path: field(key))
    }
}
