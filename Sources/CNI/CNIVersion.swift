import JSON
/// A CNI spec version ("1.1.0"). Results are encoded in the version of the
/// config the runtime sent; versions this plugin cannot speak get code 1.
public struct CNIVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses "MAJOR.MINOR.PATCH" (decimal, no leading sign). Returns nil
    /// for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var nums: [Int] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 6, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else {
                return nil
            }
            nums.append(n)
        }
        self.init(nums[0], nums[1], nums[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: CNIVersion, b: CNIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public static let v0_3_0 = CNIVersion(0, 3, 0)
    public static let v0_3_1 = CNIVersion(0, 3, 1)
    public static let v0_4_0 = CNIVersion(0, 4, 0)
    public static let v1_0_0 = CNIVersion(1, 0, 0)
    public static let v1_1_0 = CNIVersion(1, 1, 0)

    /// What caracal-cni speaks. 0.3.x results have the same shape as 0.4.0's.
    public static let supported: [CNIVersion] = [.v0_3_0, .v0_3_1, .v0_4_0, .v1_0_0, .v1_1_0]
    public static let current = CNIVersion.v1_1_0

    public var isSupported: Bool { CNIVersion.supported.contains(self) }

    /// Result-shape family: 0.3.0–0.4.0 put `"version"` on each IP, 1.0.0
    /// dropped it, 1.1.0 added interface/route attributes.
    public var hasIPVersionField: Bool { self < .v1_0_0 }
    public var hasExtendedRouteFields: Bool { self >= .v1_1_0 }

    /// Checks a config's version, throwing code 1 for one we cannot speak.
    public static func negotiate(_ text: String) throws(CNIError) -> CNIVersion {
        guard let v = CNIVersion(text), v.isSupported else {
            throw CNIError(
                .incompatibleVersion, "incompatible CNI versions",
                details: "config is \"\(text)\", plugin supports [\(supported.map(\.description).joined(separator: " "))]")
        }
        return v
    }

    /// The VERSION command's answer.
    public static func versionInfo() -> JSONValue {
        ["cniVersion": .string(current.description), "supportedVersions": .array(supported.map { .string($0.description) })]
    }
}
