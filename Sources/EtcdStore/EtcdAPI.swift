import Foundation

// The etcd v3 JSON gateway's request and response bodies (etcd 3.4,
// `etcdserver/etcdserverpb/rpc.proto` through grpc-gateway): snake_case
// names, `bytes` as base64 (Foundation's default `Data` coding), int64 as
// JSON strings, default values omitted (a PUT event has no "type", a false
// boolean is absent).

/// An int64 field: the gateway writes it as a string and reads either form.
struct EtcdInt64: Codable, Hashable, Sendable {
    var value: Int64
    init(_ value: Int64) { self.value = value }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) {
            value = n
        } else {
            let s = try c.decode(String.self)
            guard let n = Int64(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an int64: \(s)")
            }
            value = n
        }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}

struct ResponseHeader: Decodable, Sendable {
    var revision: EtcdInt64?
}

struct MVCCKeyValue: Decodable, Sendable {
    var key: Data
    var value: Data?
    var create_revision: EtcdInt64?
    var mod_revision: EtcdInt64?
    var lease: EtcdInt64?
}

struct RangeRequest: Encodable, Sendable {
    var key: Data
    var range_end: Data?
    var revision: EtcdInt64?
    var limit: EtcdInt64?
    var keys_only: Bool?
    var count_only: Bool?
}

struct RangeResponse: Decodable, Sendable {
    var header: ResponseHeader?
    var kvs: [MVCCKeyValue]?
    var more: Bool?
}

struct PutRequest: Encodable, Sendable {
    var key: Data
    var value: Data
    var lease: EtcdInt64?
}

struct DeleteRangeRequest: Encodable, Sendable {
    var key: Data
    var range_end: Data?
}

/// A Txn compare (`Compare` in rpc.proto); `range_end` makes it hold for
/// every key in the range (etcd 3.3+).
struct Compare: Encodable, Sendable {
    enum Result: String, Encodable, Sendable { case EQUAL, LESS }
    enum Target: String, Encodable, Sendable { case MOD, CREATE }
    var key: Data
    var range_end: Data?
    var target: Target
    var result: Result
    var mod_revision: EtcdInt64?
    var create_revision: EtcdInt64?

    static func modRevision(_ key: Data, equals revision: Int64) -> Compare {
        Compare(key: key, target: .MOD, result: .EQUAL, mod_revision: EtcdInt64(revision))
    }
    /// The key does not exist (an absent key has every revision 0).
    static func absent(_ key: Data) -> Compare {
        Compare(key: key, target: .CREATE, result: .EQUAL, create_revision: EtcdInt64(0))
    }
    /// No key in [key, rangeEnd) was written after `revision`: catches keys
    /// created or changed in a listed range (not deletions: a deleted key
    /// is no longer in the range to compare).
    static func unchangedSince(_ key: Data, rangeEnd: Data, revision: Int64) -> Compare {
        Compare(key: key, range_end: rangeEnd, target: .MOD, result: .LESS, mod_revision: EtcdInt64(revision + 1))
    }
}

struct RequestOp: Encodable, Sendable {
    var request_put: PutRequest?
    var request_delete_range: DeleteRangeRequest?
    var request_range: RangeRequest?
}

struct ResponseOp: Decodable, Sendable {
    var response_range: RangeResponse?
}

struct TxnRequest: Encodable, Sendable {
    var compare: [Compare]
    var success: [RequestOp]
    var failure: [RequestOp] = []
}

struct TxnResponse: Decodable, Sendable {
    var header: ResponseHeader?
    var succeeded: Bool?
    var responses: [ResponseOp]?
}

struct CompactionRequest: Encodable, Sendable {
    var revision: EtcdInt64
    /// Wait until the compaction is applied to the backend, so that a
    /// following read sees it.
    var physical: Bool
}

struct WatchCreateRequest: Encodable, Sendable {
    var key: Data
    var range_end: Data?
    var start_revision: EtcdInt64?
}

struct WatchRequest: Encodable, Sendable {
    var create_request: WatchCreateRequest
}

struct WatchEventJSON: Decodable, Sendable {
    /// Absent for a PUT (the default value is omitted).
    var type: String?
    var kv: MVCCKeyValue
}

struct WatchResponse: Decodable, Sendable {
    var header: ResponseHeader?
    var created: Bool?
    var canceled: Bool?
    var compact_revision: EtcdInt64?
    var cancel_reason: String?
    var events: [WatchEventJSON]?
}

/// One line of a gateway stream: `{"result": …}` or `{"error": …}`.
struct StreamLine<T: Decodable & Sendable>: Decodable, Sendable {
    var result: T?
    var error: GatewayError?
}

struct LeaseGrantRequest: Encodable, Sendable {
    var TTL: EtcdInt64
    var ID: EtcdInt64 = EtcdInt64(0)
}

struct LeaseGrantResponse: Decodable, Sendable {
    var ID: EtcdInt64?
    var TTL: EtcdInt64?
    var error: String?
}

struct LeaseIDRequest: Encodable, Sendable {
    var ID: EtcdInt64
}

struct LeaseKeepAliveResponse: Decodable, Sendable {
    var ID: EtcdInt64?
    var TTL: EtcdInt64?
}

struct AuthenticateRequest: Encodable, Sendable {
    var name: String
    var password: String
}

struct AuthenticateResponse: Decodable, Sendable {
    var token: String?
}

/// The gateway's error body: HTTP 4xx/5xx with the gRPC status code.
struct GatewayError: Decodable, Sendable {
    var error: String?
    var message: String?
    var code: Int?
}

/// The end of the key range holding every key that starts with `prefix`
/// (etcd's `range_end` convention: the prefix with its last byte plus one;
/// "\0" when the prefix is all 0xff or empty, meaning "to the end").
func rangeEnd(ofPrefix prefix: Data) -> Data {
    var bytes = [UInt8](prefix)
    while let last = bytes.last {
        if last < 0xff {
            bytes[bytes.count - 1] = last + 1
            return Data(bytes)
        }
        bytes.removeLast()
    }
    return Data([0])
}
