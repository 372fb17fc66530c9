import BGP
import IPAddressing

/// A path attribute set and next hop stored once and shared by every path
/// that carries them (a reflector holds the same few sets for thousands of
/// prefixes). The next hop lives here, not in each path, as in BIRD's
/// `rta`: most paths of a peer share both.
public final class InternedAttributes: Hashable, Sendable {
    public let attributes: PathAttributes
    public let nextHop: IPAddress
    public init(_ attributes: PathAttributes, nextHop: IPAddress) {
        self.attributes = attributes
        self.nextHop = nextHop
    }
    public static func == (a: InternedAttributes, b: InternedAttributes) -> Bool {
        a === b || (a.nextHop == b.nextHop && a.attributes == b.attributes)
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(attributes)
        hasher.combine(nextHop)
    }
}

/// The interning table: identical attribute sets map to one object, with a
/// count of the paths holding it; a set no path uses any more is dropped.
/// Counts are kept by object identity, so taking or dropping a use costs a
/// pointer hash, not a hash of the attributes.
public struct AttributeStore: Sendable {
    private struct Key: Hashable {
        var attributes: PathAttributes
        var nextHop: IPAddress
    }
    private var table: [Key: InternedAttributes] = [:]
    private var uses: [ObjectIdentifier: Int] = [:]
    public init() {}

    public var count: Int { table.count }

    /// The shared object for `attributes` and `nextHop`, counted `uses`
    /// times (an UPDATE's NLRI all share its attributes: one lookup).
    mutating func intern(_ attributes: PathAttributes, nextHop: IPAddress, uses n: Int = 1) -> InternedAttributes {
        let key = Key(attributes: attributes, nextHop: nextHop)
        if let hit = table[key] {
            uses[ObjectIdentifier(hit), default: 0] += n
            return hit
        }
        let value = InternedAttributes(attributes, nextHop: nextHop)
        table[key] = value
        uses[ObjectIdentifier(value)] = n
        return value
    }

    /// One more use of an object this store handed out.
    mutating func retain(_ value: InternedAttributes) {
        uses[ObjectIdentifier(value), default: 0] += 1
    }

    mutating func release(_ value: InternedAttributes, uses n: Int = 1) {
        let id = ObjectIdentifier(value)
        guard let count = uses[id] else { return }
        if count <= n {
            uses[id] = nil
            table[Key(attributes: value.attributes, nextHop: value.nextHop)] = nil
        } else {
            uses[id] = count - n
        }
    }
}

/// One path to a prefix, as received from a peer (ADD-PATH: several per
/// peer, told apart by `pathID`).
public struct Path: Hashable, Sendable, CustomStringConvertible {
    public var prefix: IPPrefix
    public var peer: RIBPeer
    public var pathID: UInt32
    public var attributes: InternedAttributes
    public var nextHop: IPAddress { attributes.nextHop }

    public init(prefix: IPPrefix, peer: RIBPeer, pathID: UInt32, attributes: InternedAttributes) {
        self.prefix = prefix
        self.peer = peer
        self.pathID = pathID
        self.attributes = attributes
    }

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
