#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes `Encodable` values to a `JSONValue`, or to compact JSON bytes with
/// sorted keys (`encodedBytes`): what Foundation's JSONEncoder writes with
/// `.sortedKeys` and `.secondsSince1970` dates, except that `/` is not
/// escaped. Optional properties that are nil are left out. The counterpart
/// of `JSONValueDecoder` (same reason: no dynamic casts, docs/cni.md
/// "Latency").
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let root = EncodingNode()
        try root.store(value, codingPath: [])
        return root.json
    }

    /// `encode(value)` as compact UTF-8 JSON with sorted keys.
    public func encodedBytes<T: Encodable>(_ value: T) throws -> [UInt8] { try encode(value).encodedBytes }
}

/// A value under construction: containers hand out references to their
/// children, so nested containers write into the same tree.
private final class EncodingNode {
    enum Content {
        case scalar(JSONValue)
        case object([String: EncodingNode])
        case array([EncodingNode])
    }
    var content: Content = .scalar(.null)

    var json: JSONValue {
        switch content {
        case .scalar(let v): v
        case .object(let o): .object(o.mapValues(\.json))
        case .array(let a): .array(a.map(\.json))
        }
    }

    func store<T: Encodable>(_ value: T, codingPath: [CodingKey]) throws {
        if T.self == Date.self {
            content = .scalar(try finite((value as! Date).timeIntervalSince1970, codingPath))
            return
        }
        try value.encode(to: JSONValueEncoding(node: self, codingPath: codingPath))
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([:])
    }

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    func child(_ key: String) -> EncodingNode {
        makeObject()
        guard case .object(var o) = content else { preconditionFailure("object expected") }
        if let existing = o[key] { return existing }
        let node = EncodingNode()
        content = .scalar(.null)  // drop the reference so `o` stays uniquely referenced
        o[key] = node
        content = .object(o)
        return node
    }

    func appendChild() -> EncodingNode {
        makeArray()
        guard case .array(var a) = content else { preconditionFailure("array expected") }
        let node = EncodingNode()
        content = .scalar(.null)
        a.append(node)
        content = .array(a)
        return node
    }

    var arrayCount: Int {
        if case .array(let a) = content { return a.count }
        return 0
    }
}

private func finite(_ d: Double, _ path: [CodingKey]) throws -> JSONValue {
    guard d.isFinite else {
        throw EncodingError.invalidValue(d, .init(codingPath: path, debugDescription: "Unable to encode \(d) directly in JSON."))
    }
    return .double(d)
}

private func integer<I: BinaryInteger>(_ i: I) -> JSONValue {
    if let n = Int64(exactly: i) { return .int(n) }
    return .double(Double(i))
}

private struct JSONValueEncoding: Encoder {
    let node: EncodingNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleEncoder(node: node, codingPath: codingPath) }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let codingPath: [CodingKey]

    private func set(_ value: JSONValue, _ key: Key) { node.child(key.stringValue).content = .scalar(value) }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(try finite(value, codingPath + [key]), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(try finite(Double(value), codingPath + [key]), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(integer(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try node.child(key.stringValue).store(value, codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        JSONValueEncoding(node: node.child(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        JSONValueEncoding(node: node.child(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder {
        JSONValueEncoding(node: node.child("super"), codingPath: codingPath + [JSONKey(stringValue: "super")])
    }
    mutating func superEncoder(forKey key: Key) -> Encoder {
        JSONValueEncoding(node: node.child(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let node: EncodingNode
    let codingPath: [CodingKey]
    var count: Int { node.arrayCount }

    private func append(_ value: JSONValue) { node.appendChild().content = .scalar(value) }
    private var nextPath: [CodingKey] { codingPath + [JSONKey(intValue: count)] }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(try finite(value, nextPath)) }
    mutating func encode(_ value: Float) throws { append(try finite(Double(value), nextPath)) }
    mutating func encode(_ value: Int) throws { append(integer(value)) }
    mutating func encode(_ value: Int8) throws { append(integer(value)) }
    mutating func encode(_ value: Int16) throws { append(integer(value)) }
    mutating func encode(_ value: Int32) throws { append(integer(value)) }
    mutating func encode(_ value: Int64) throws { append(integer(value)) }
    mutating func encode(_ value: UInt) throws { append(integer(value)) }
    mutating func encode(_ value: UInt8) throws { append(integer(value)) }
    mutating func encode(_ value: UInt16) throws { append(integer(value)) }
    mutating func encode(_ value: UInt32) throws { append(integer(value)) }
    mutating func encode(_ value: UInt64) throws { append(integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = nextPath
        try node.appendChild().store(value, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = nextPath
        return JSONValueEncoding(node: node.appendChild(), codingPath: path).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let path = nextPath
        return JSONValueEncoding(node: node.appendChild(), codingPath: path).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder {
        let path = nextPath
        return JSONValueEncoding(node: node.appendChild(), codingPath: path)
    }
}

private struct SingleEncoder: SingleValueEncodingContainer {
    let node: EncodingNode
    let codingPath: [CodingKey]

    private func set(_ value: JSONValue) { node.content = .scalar(value) }

    mutating func encodeNil() throws { set(.null) }
    mutating func encode(_ value: Bool) throws { set(.bool(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(try finite(value, codingPath)) }
    mutating func encode(_ value: Float) throws { set(try finite(Double(value), codingPath)) }
    mutating func encode(_ value: Int) throws { set(integer(value)) }
    mutating func encode(_ value: Int8) throws { set(integer(value)) }
    mutating func encode(_ value: Int16) throws { set(integer(value)) }
    mutating func encode(_ value: Int32) throws { set(integer(value)) }
    mutating func encode(_ value: Int64) throws { set(integer(value)) }
    mutating func encode(_ value: UInt) throws { set(integer(value)) }
    mutating func encode(_ value: UInt8) throws { set(integer(value)) }
    mutating func encode(_ value: UInt16) throws { set(integer(value)) }
    mutating func encode(_ value: UInt32) throws { set(integer(value)) }
    mutating func encode(_ value: UInt64) throws { set(integer(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.store(value, codingPath: codingPath) }
}
