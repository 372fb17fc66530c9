import JSON
/// The error codes of the CNI spec (SPEC.md "Error") and Caracal's own
/// plugin-specific codes (100 and above), each documented in
/// docs/cni.md. A plugin prints the error JSON on stdout and exits non-zero.
public struct CNIErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    // Spec-defined (1-99).
    public static let incompatibleVersion = CNIErrorCode(rawValue: 1)
    public static let unsupportedField = CNIErrorCode(rawValue: 2)
    public static let containerUnknown = CNIErrorCode(rawValue: 3)
    public static let invalidEnvironment = CNIErrorCode(rawValue: 4)
    public static let ioFailure = CNIErrorCode(rawValue: 5)
    public static let decodingFailure = CNIErrorCode(rawValue: 6)
    public static let invalidNetworkConfig = CNIErrorCode(rawValue: 7)
    public static let tryAgainLater = CNIErrorCode(rawValue: 11)
    /// STATUS: the plugin cannot serve ADD requests.
    public static let pluginNotAvailable = CNIErrorCode(rawValue: 50)
    /// STATUS: existing containers may be degraded.
    public static let pluginLimitedConnectivity = CNIErrorCode(rawValue: 51)

    // Caracal-specific (100+).
    /// The requested IP lies in no pool this pod may use.
    public static let requestedIPNotInPool = CNIErrorCode(rawValue: 100)
    /// The requested (or claimed) IP is held by another workload.
    public static let ipHeldByAnotherWorkload = CNIErrorCode(rawValue: 101)
    /// The pod's namespace has used its quota in every eligible pool.
    public static let quotaExceeded = CNIErrorCode(rawValue: 102)
    /// The requested IP is inside an excluded range (reservation) of its pool.
    public static let requestedIPReserved = CNIErrorCode(rawValue: 103)
    /// No eligible pool has a free address.
    public static let poolExhausted = CNIErrorCode(rawValue: 104)
    /// The pod's namespace may not use any pool (allowed namespaces).
    public static let namespaceNotAllowed = CNIErrorCode(rawValue: 105)
    /// ADD for a container and interface that already have an endpoint.
    public static let alreadyExists = CNIErrorCode(rawValue: 106)
    /// CHECK found the pod's wiring or allocation differs from what ADD made.
    public static let drift = CNIErrorCode(rawValue: 107)
    /// The datastore could not be opened or written.
    public static let datastoreFailure = CNIErrorCode(rawValue: 108)
    /// Programming the kernel (links, addresses, routes, sysctls) failed.
    public static let kernelFailure = CNIErrorCode(rawValue: 109)

    public var description: String { String(rawValue) }
}

/// A CNI error result: `{"cniVersion", "code", "msg", "details"}`.
public struct CNIError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: CNIErrorCode
    public var msg: String
    public var details: String

    public init(_ code: CNIErrorCode, _ msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }

    /// An invalid-config error (code 7) that names the field.
    public static func invalidField(_ field: String, _ problem: String) -> CNIError {
        CNIError(.invalidNetworkConfig, "\(field): \(problem)")
    }

    public var description: String {
        details.isEmpty ? "CNI error \(code.rawValue): \(msg)" : "CNI error \(code.rawValue): \(msg) (\(details))"
    }

    /// The error JSON in the given version's shape (unchanged since 0.1.0,
    /// `details` omitted when empty).
    public func json(cniVersion: CNIVersion) -> JSONValue {
        var o: [String: JSONValue] = [
            "cniVersion": .string(cniVersion.description),
            "code": .int(Int64(code.rawValue)),
            "msg": .string(msg),
        ]
        if !details.isEmpty { o["details"] = .string(details) }
        return .object(o)
    }

    /// Reads an error JSON (as printed by a plugin).
    public init(json: JSONValue) throws(CNIError) {
        guard let code = json["code"]?.intValue, let msg = json["msg"]?.stringValue else {
            throw CNIError(.decodingFailure, "not a CNI error object")
        }
        self.init(CNIErrorCode(rawValue: Int(code)), msg, details: json["details"]?.stringValue ?? "")
    }
}
