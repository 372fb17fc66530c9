/// The intermediate ruleset: what the compiler produces, what the nft
/// renderer prints, what `NFTables` programs into the kernel and what
/// `explain` evaluates. One value, so the simulator and the dataplane
/// cannot disagree.
///
/// Shape (table `inet caracal`):
/// - base chains `forward` and `input` accept established/related early,
///   then jump to `pod-egress` dispatch (the sending pod's egress profile)
///   and `pod-ingress` dispatch (the receiving pod's ingress profile);
/// - every endpoint's host veth carries the kernel interface group
///   (IFLA_GROUP) of its profile; the dispatch chains look the group up
///   (`meta iifgroup` / `meta oifgroup`) in a verdict map with one element
///   per profile that `goto`s the profile chain. A new pod with an existing
///   profile therefore adds no verdict element: only plain set elements and
///   one RTM_NEWLINK for its group. An interface with Caracal's prefix whose
///   group has no element (group 0 of a fresh veth) is dropped (fail closed);
/// - profile chains are shared by every endpoint that the same policies
///   select, and `return` to the base chain when the direction is allowed.
///
/// `interfaceGroups` is the only part that is not in the nft table: it is
/// link state, programmed with rtnetlink after the table.
public struct Ruleset: Hashable, Sendable {
    public static let tableName = "caracal"
    public static let fromProfileMap = "from-profile"
    public static let toProfileMap = "to-profile"
    public static let profileMaps = [fromProfileMap, toProfileMap]

    public var interfacePrefix: String
    /// Sorted by name.
    public var sets: [NamedSet]
    /// Base chains first (in a fixed order), then the rest sorted by name.
    public var chains: [Chain]
    /// Profile group → verdict (a `goto` to the profile's egress chain), sorted by group.
    public var fromProfile: [GroupElement]
    /// Profile group → `goto` the profile's ingress chain, sorted by group.
    public var toProfile: [GroupElement]
    /// Host veth → its profile's group, sorted by interface.
    public var interfaceGroups: [InterfaceGroup]

    public init(interfacePrefix: String, sets: [NamedSet] = [], chains: [Chain] = [],
                fromProfile: [GroupElement] = [], toProfile: [GroupElement] = [], interfaceGroups: [InterfaceGroup] = []) {
        self.interfacePrefix = interfacePrefix
        self.sets = sets
        self.chains = chains
        self.fromProfile = fromProfile
        self.toProfile = toProfile
        self.interfaceGroups = interfaceGroups
    }

    public func set(named name: String) -> NamedSet? { sets.first { $0.name == name } }
    public func chain(named name: String) -> Chain? { chains.first { $0.name == name } }
    public func map(_ name: String) -> [GroupElement] { name == Ruleset.fromProfileMap ? fromProfile : toProfile }

    /// The group `interface` is meant to carry (0, the kernel's default,
    /// when it is no endpoint's).
    public func group(of interface: String) -> UInt32 {
        var lo = 0, hi = interfaceGroups.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if interfaceGroups[mid].interface < interface { lo = mid + 1 } else { hi = mid }
        }
        return lo < interfaceGroups.count && interfaceGroups[lo].interface == interface ? interfaceGroups[lo].group : 0
    }

    /// The same ruleset without link state: what an nft text can hold.
    public var tableOnly: Ruleset {
        var r = self
        r.interfaceGroups = []
        return r
    }
}

/// One element of a profile dispatch map: interface group → verdict.
public struct GroupElement: Hashable, Sendable, Comparable {
    public var group: UInt32
    public var verdict: Verdict
    public init(group: UInt32, verdict: Verdict) { self.group = group; self.verdict = verdict }
    public static func < (a: GroupElement, b: GroupElement) -> Bool { a.group < b.group }
}

/// A host veth and the interface group (IFLA_GROUP) of its profile.
public struct InterfaceGroup: Hashable, Sendable, Comparable {
    public var interface: String
    public var group: UInt32
    public init(interface: String, group: UInt32) { self.interface = interface; self.group = group }
    public static func < (a: InterfaceGroup, b: InterfaceGroup) -> Bool { a.interface < b.interface }
}

/// An (address, protocol, port) tuple: the element of a named-port set.
public struct AddressProtoPort: Hashable, Sendable, Comparable {
    public var address: NumericAddress
    public var proto: L4Protocol
    public var port: UInt16
    public init(address: NumericAddress, proto: L4Protocol, port: UInt16) {
        self.address = address; self.proto = proto; self.port = port
    }
    public static func < (a: AddressProtoPort, b: AddressProtoPort) -> Bool {
        (a.address, a.proto.number, a.port) < (b.address, b.proto.number, b.port)
    }
}

public struct NamedSet: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Interval set of addresses (`flags interval`).
        case addresses(IPFamily)
        /// Concatenated set `addr . inet_proto . inet_service`.
        case addressProtoPort(IPFamily)
        public var family: IPFamily {
            switch self { case .addresses(let f), .addressProtoPort(let f): f }
        }
    }
    public var name: String
    public var kind: Kind
    /// Disjoint, sorted, non-adjacent ranges (for `.addresses`).
    public var ranges: [ClosedRange<UInt128>]
    /// Sorted tuples (for `.addressProtoPort`).
    public var tuples: [AddressProtoPort]
    public var comment: String

    public init(name: String, kind: Kind, ranges: [ClosedRange<UInt128>] = [], tuples: [AddressProtoPort] = [], comment: String) {
        self.name = name; self.kind = kind; self.ranges = ranges; self.tuples = tuples; self.comment = comment
    }

    public func contains(_ a: NumericAddress) -> Bool {
        guard case .addresses(let f) = kind, a.family == f else { return false }
        return AddressSet(v4: f == .ipv4 ? ranges : [], v6: f == .ipv6 ? ranges : []).contains(a)
    }

    public func contains(_ t: AddressProtoPort) -> Bool {
        guard case .addressProtoPort(let f) = kind, t.address.family == f else { return false }
        return tuples.contains(t)
    }
}

public enum InterfaceSide: String, Hashable, Sendable { case input = "iifname", output = "oifname" }
public enum AddressSide: String, Hashable, Sendable { case source = "saddr", destination = "daddr" }
public enum PortSide: String, Hashable, Sendable { case source = "sport", destination = "dport" }

public struct CTStates: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    // The kernel's NF_CT_STATE_* bits.
    public static let invalid = CTStates(rawValue: 1)
    public static let established = CTStates(rawValue: 2)
    public static let related = CTStates(rawValue: 4)
    public static let new = CTStates(rawValue: 8)
}

/// One condition of a rule; a rule matches when all of them do.
public enum Match: Hashable, Sendable {
    /// `ct state established,related`.
    case ctState(CTStates)
    /// `iifname "crc*"`.
    case interfacePrefix(InterfaceSide, String)
    /// `meta nfproto ipv4`.
    case family(IPFamily)
    /// `ip saddr @set` (the set's family decides `ip`/`ip6`).
    case addressInSet(AddressSide, String, IPFamily)
    /// `meta l4proto tcp`.
    case proto(L4Protocol)
    /// `th dport 80` or `th dport 80-90`.
    case port(PortSide, UInt16, UInt16)
    /// `ip daddr . meta l4proto . th dport @set`.
    case destinationInTupleSet(String, IPFamily)
    /// `icmp type 8` (with `icmp code 0` when given); ICMPv6 for v6.
    case icmp(IPFamily, UInt8, UInt8?)
}

public enum Verdict: Hashable, Sendable, CustomStringConvertible {
    case accept, drop, `return`
    case jump(String)
    case goto(String)
    public var description: String {
        switch self {
        case .accept: "accept"
        case .drop: "drop"
        case .return: "return"
        case .jump(let c): "jump \(c)"
        case .goto(let c): "goto \(c)"
        }
    }
}

/// Where a rule came from: what the audit comment and `explain` name.
public struct RuleOrigin: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case networkPolicy = "NetworkPolicy"
        case globalNetworkPolicy = "GlobalNetworkPolicy"
        case builtin = "caracal"
    }
    public var kind: Kind
    public var namespace: String?
    public var name: String
    public var direction: Direction?
    public var ruleIndex: Int?
    public var detail: String?

    public init(kind: Kind, namespace: String? = nil, name: String, direction: Direction? = nil,
                ruleIndex: Int? = nil, detail: String? = nil) {
        self.kind = kind; self.namespace = namespace; self.name = name
        self.direction = direction; self.ruleIndex = ruleIndex; self.detail = detail
    }

    public static func builtin(_ what: String) -> RuleOrigin { RuleOrigin(kind: .builtin, name: what) }

    /// The audit comment: `<kind> <ns/name> <direction> rule <i>[: detail]`,
    /// at most 127 bytes (the kernel's comment limit is 128 with the NUL).
    public var description: String {
        // Plain appends: one comment per policy rule of a full compile.
        var s = kind.rawValue
        s += " "
        if let namespace { s += namespace; s += "/" }
        s += name
        if let direction { s += direction == .ingress ? " ingress" : " egress" }
        if let ruleIndex { s += " rule "; s += String(ruleIndex) }
        if let detail { s += ": "; s += detail }
        if s.utf8.count > 127 { s = String(decoding: Array(s.utf8.prefix(124)), as: UTF8.self) + "..." }
        return s
    }
}

public struct Rule: Hashable, Sendable {
    public var matches: [Match]
    /// `log prefix "..."` before the verdict (Log action).
    public var logPrefix: String?
    /// `iifgroup vmap @from-profile`: dispatch on the interface group through
    /// a map (instead of a verdict).
    public var dispatch: (side: InterfaceSide, map: String)? {
        get { dispatchSide.map { ($0, dispatchMap ?? "") } }
        set { dispatchSide = newValue?.side; dispatchMap = newValue?.map }
    }
    private var dispatchSide: InterfaceSide?
    private var dispatchMap: String?
    /// nil: continue with the next rule (only with a log).
    public var verdict: Verdict?
    public var comment: String

    public init(matches: [Match] = [], logPrefix: String? = nil, verdict: Verdict?, comment: String) {
        self.matches = matches; self.logPrefix = logPrefix; self.verdict = verdict; self.comment = comment
    }

    /// `iifname "crc*" iifgroup vmap @map`: the prefix guard keeps
    /// interfaces that are not Caracal's out of the map, whatever group an
    /// operator gave them.
    public static func dispatch(_ side: InterfaceSide, _ map: String, prefix: String, comment: String) -> Rule {
        var r = Rule(matches: [.interfacePrefix(side, prefix)], verdict: nil, comment: comment)
        r.dispatch = (side, map)
        return r
    }
}

public struct Chain: Hashable, Sendable {
    public enum Hook: String, Hashable, Sendable { case forward, input }
    public var name: String
    public var hook: Hook?
    public var rules: [Rule]
    public init(name: String, hook: Hook? = nil, rules: [Rule] = []) {
        self.name = name; self.hook = hook; self.rules = rules
    }
}
