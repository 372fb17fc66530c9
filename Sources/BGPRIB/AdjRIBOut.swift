import BGP
import IPAddressing

/// How a peer is sent routes: everything that decides what it gets besides
/// which paths are best. Peers with equal settings form an update group:
/// each route's exported form (advertisement rules, export policy,
/// attribute rewriting) is computed once per group, not once per peer —
/// what lets one reflector serve thousands of clients (FRR's update groups).
public struct OutputSettings: Hashable, Sendable {
    public var exportPolicy: RoutePolicy
    public var isInternal: Bool
    public var isReflectorClient: Bool
    public var nextHopSelf: Bool
    /// This speaker's address on the session: the next hop sent to eBGP
    /// peers and with `nextHopSelf`.
    public var localAddress: IPAddress
    /// 4-octet AS, ADD-PATH, extended messages as negotiated for sending.
    public var context: CodecContext
    /// Set (by `AdjRIBOut.addPeer`) only when the export policy matches on
    /// the neighbour: such a peer is a group of its own.
    public internal(set) var neighbour: IPAddress?

    public init(exportPolicy: RoutePolicy, isInternal: Bool, isReflectorClient: Bool, nextHopSelf: Bool = false,
                localAddress: IPAddress, context: CodecContext) {
        self.exportPolicy = exportPolicy
        self.isInternal = isInternal
        self.isReflectorClient = isReflectorClient
        self.nextHopSelf = nextHopSelf
        self.localAddress = localAddress
        self.context = context
    }
}

/// One route as sent: interned attributes (MP_REACH excluded) and next hop.
public struct ExportedRoute: Hashable, Sendable {
    public var attributes: InternedAttributes
    public var nextHop: IPAddress
    /// The peer the path came from (a peer is never sent its own paths).
    public var source: IPAddress
}

/// The Adj-RIBs-Out of all peers, computed per update group, and the
/// UPDATEs that bring each peer from what it was sent to what it should
/// have now.
public struct AdjRIBOut: Sendable {
    public var speaker: RIBSpeaker
    public private(set) var settings: [IPAddress: OutputSettings] = [:]
    /// Per group: prefix → the exported route, or nil when the group gets
    /// nothing for it.
    private var groupViews: [OutputSettings: [IPPrefix: ExportedRoute]] = [:]
    /// What each peer was last sent.
    public private(set) var sent: [IPAddress: [IPPrefix: ExportedRoute]] = [:]
    private var store = AttributeStore()

    public init(speaker: RIBSpeaker) { self.speaker = speaker }

    /// Update groups in use and their sizes.
    public var groups: [(settings: OutputSettings, members: Int)] {
        Dictionary(grouping: settings.values, by: { $0 }).map { ($0.key, $0.value.count) }
    }

    public mutating func addPeer(_ address: IPAddress, _ output: OutputSettings) {
        var output = output
        let byNeighbour = output.exportPolicy.terms.contains { $0.matches.contains { if case .neighbourIn = $0 { true } else { false } } }
        output.neighbour = byNeighbour ? address : nil
        settings[address] = output
        sent[address] = sent[address] ?? [:]
    }

    public mutating func removePeer(_ address: IPAddress) {
        settings[address] = nil
        sent[address] = nil
        let used = Set(settings.values)
        groupViews = groupViews.filter { used.contains($0.key) }
    }

    /// Recomputes every group's view of `changes` (Loc-RIB changes) and
    /// returns, per peer, the UPDATEs to send (packed up to its session's
    /// size limit, withdrawals first).
    public mutating func apply(_ changes: [RIBChange], peers: [IPAddress: RIBPeer]) -> [IPAddress: [UpdateMessage]] {
        for group in Set(settings.values) {
            for change in changes {
                groupViews[group, default: [:]][change.prefix] = change.best.first.flatMap { export($0, group) }
            }
        }
        var out: [IPAddress: [UpdateMessage]] = [:]
        for (address, group) in settings {
            let view = groupViews[group] ?? [:]
            var announce: [ExportedRoute: [IPPrefix]] = [:]
            var withdraw: [IPPrefix] = []
            for change in changes {
                // Split horizon per peer: never its own path back.
                let route = view[change.prefix].flatMap { $0.source == address ? nil : $0 }
                let before = sent[address]?[change.prefix]
                guard route != before else { continue }
                if let route {
                    announce[route, default: []].append(change.prefix)
                } else {
                    withdraw.append(change.prefix)
                }
                sent[address]?[change.prefix] = route
            }
            let messages = Self.pack(announce: announce, withdraw: withdraw, context: group.context)
            if !messages.isEmpty { out[address] = messages }
        }
        return out
    }

    /// A group's form of a best path, nil when it gets none.
    private mutating func export(_ path: Path, _ group: OutputSettings) -> ExportedRoute? {
        // The rules need the receiving side's kind only (never to its own
        // sender: `apply` filters that per peer).
        let receiver = Advertisement.Receiver(isInternal: group.isInternal, isReflectorClient: group.isReflectorClient)
        guard Advertisement.mayAdvertise(path, to: receiver, speaker: speaker) else { return nil }
        var (attributes, nextHop) = Advertisement.exported(
            path, toInternal: group.isInternal, speaker: speaker, localAddress: group.localAddress, nextHopSelf: group.nextHopSelf)
        let outcome = group.exportPolicy.evaluate(
            prefix: path.prefix, attributes: attributes, nextHop: nextHop, neighbour: group.neighbour ?? group.localAddress)
        guard outcome.accepted else { return nil }
        attributes = outcome.attributes
        if outcome.nextHopSelf { nextHop = group.localAddress }
        return ExportedRoute(attributes: store.intern(attributes), nextHop: nextHop, source: path.peer.address)
    }

    /// UPDATEs for a peer: withdrawals, then one run of announcements per
    /// attribute set and next hop (IPv4 NLRI with NEXT_HOP; IPv6 in
    /// MP_REACH_NLRI), each packed to the session's message size.
    static func pack(announce: [ExportedRoute: [IPPrefix]], withdraw: [IPPrefix], context: CodecContext) -> [UpdateMessage] {
        var out: [UpdateMessage] = []
        let w4 = withdraw.compactMap { if case .v4(let p) = $0 { IPv4NLRI(p) } else { nil } }
        let w6 = withdraw.compactMap { if case .v6(let p) = $0 { IPv6NLRI(p) } else { nil } }
        if !w4.isEmpty { out += UpdateMessage.packing(withdrawIPv4: w4, context: context) }
        if !w6.isEmpty { out += UpdateMessage.packing(withdrawIPv6: w6, context: context) }
        // A deterministic order: by next hop, then the attributes' order of
        // first prefix.
        for (route, prefixes) in announce.sorted(by: { ($0.key.nextHop, $0.value.min()!) < ($1.key.nextHop, $1.value.min()!) }) {
            let sorted = prefixes.sorted()
            switch route.nextHop {
            case .v4(let hop):
                var attributes = route.attributes.attributes
                attributes.remove(type: PathAttributeType.nextHop)
                attributes.list.append(PathAttribute(.nextHop(hop)))
                let nlri = sorted.compactMap { if case .v4(let p) = $0 { IPv4NLRI(p) } else { nil } }
                if !nlri.isEmpty { out += UpdateMessage.packing(ipv4: nlri, attributes: attributes, context: context) }
            case .v6(let hop):
                var attributes = route.attributes.attributes
                attributes.remove(type: PathAttributeType.nextHop)
                let nlri = sorted.compactMap { if case .v6(let p) = $0 { IPv6NLRI(p) } else { nil } }
                if !nlri.isEmpty {
                    out += UpdateMessage.packing(ipv6: nlri, nextHop: .ipv6(hop, linkLocal: nil), attributes: attributes, context: context)
                }
            }
        }
        return out
    }
}
