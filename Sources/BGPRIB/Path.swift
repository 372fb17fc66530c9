import BGP
import IPAddressing

/// A path attribute set stored once and shared by every path that carries
/// it (a reflector holds the same few sets for thousands of prefixes).
public final class InternedAttributes: Hashable, Sendable {
    public let attributes: PathAttributes
    init(_ attributes: PathAttributes) { self.attributes = attributes }
    public static func == (a: InternedAttributes, b: InternedAttributes) -> Bool { a === b || a.attributes == b.attributes }
    public func hash(into hasher: inout Hasher) { hasher.combine(attributes) }
}

/// The interning table: identical attribute sets map to one object; a set
/// no path uses any more is dropped.
public struct AttributeStore: Sendable {
    private var table: [PathAttributes: (value: InternedAttributes, uses: Int)] = [:]
    public init() {}

    public var count: Int { table.count }

    mutating func intern(_ attributes: PathAttributes) -> InternedAttributes {
        if let hit = table[attributes] {
            table[attributes] = (hit.value, hit.uses + 1)
            return hit.value
        }
        let value = InternedAttributes(attributes)
        table[attributes] = (value, 1)
        return value
    }

    mutating func release(_ value: InternedAttributes) {
        guard let hit = table[value.attributes] else { return }
        if hit.uses <= 1 { table[value.attributes] = nil } else { table[value.attributes] = (hit.value, hit.uses - 1) }
    }
}

/// One path to a prefix, as received from a peer (ADD-PATH: several per
/// peer, told apart by `pathID`).
public struct Path: Hashable, Sendable, CustomStringConvertible {
    public var prefix: IPPrefix
    public var peer: RIBPeer
    public var pathID: UInt32
    public var attributes: InternedAttributes
    public var nextHop: IPAddress

    public var description: String {
        "\(prefix) via \(nextHop) from \(peer)\(pathID == 0 ? "" : " id \(pathID)") [\(attributes.attributes.asPath?.description ?? "")]"
    }

    var localPref: UInt32 { attributes.attributes.localPref ?? Path.defaultLocalPref }
    /// RFC 4271 §9.1.2.2 (c): a path without MED has the lowest value.
    var med: UInt32 { attributes.attributes.multiExitDisc ?? 0 }
    var origin: Origin { attributes.attributes.origin ?? .incomplete }
    var asPathLength: Int { attributes.attributes.asPath?.selectionLength ?? 0 }
    /// The neighbouring AS a MED is comparable within: the first AS of the
    /// path (0 for a path of our own AS).
    var neighbourAS: UInt32 { attributes.attributes.asPath?.firstAS ?? 0 }
    /// RFC 4456 §9: the ORIGINATOR_ID stands in for the BGP Identifier.
    var originatorOrRouterID: UInt32 { (attributes.attributes.originatorID ?? peer.routerID).value }

    public static let defaultLocalPref: UInt32 = 100
}
