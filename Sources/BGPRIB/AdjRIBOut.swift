import BGP
import IPAddressing

/// RFC 7911 send mode of a family: every eligible path, or the best N.
public enum AddPathSend: Hashable, Sendable {
    case all
    case best(Int)

    var limit: Int {
        switch self {
        case .all: .max
        case .best(let n): max(1, n)
        }
    }
}

/// How a peer is sent routes: everything that decides what it gets besides
/// which paths are best. Peers with equal settings form an update group:
/// each route's exported form (advertisement rules, export policy,
/// attribute rewriting) and its UPDATEs are computed and encoded once per
/// group, not once per peer — what lets one reflector serve thousands of
/// clients (FRR's update groups).
public struct OutputSettings: Hashable, Sendable {
    public var exportPolicy: RoutePolicy
    public var isInternal: Bool
    public var isReflectorClient: Bool
    public var nextHopSelf: Bool
    /// This speaker's address on the session: the next hop sent to eBGP
    /// peers and with `nextHopSelf`.
    public var localAddress: IPAddress
    /// Our IPv6 link-local address on a link-local session: sent beside
    /// `localAddress` as the 32-octet next hop of RFC 2545 §3 (or alone,
    /// as `localAddress`, when we have no global address there).
    public var linkLocalAddress: IPv6Address?
    /// 4-octet AS, ADD-PATH, extended messages as negotiated for sending.
    public var context: CodecContext
    /// The families negotiated on the session (RFC 4760; without the
    /// capability, IPv4 unicast only).
    public var families: Set<AddressFamily>
    /// ADD-PATH send per family; used where `context.addPath` says the
    /// peer receives path IDs.
    public var addPathSend: [AddressFamily: AddPathSend]
    /// RFC 8950 (Extended Next Hop capability): IPv4 routes may carry an
    /// IPv6 next hop.
    public var extendedNextHop: Bool
    /// Set (by `AdjRIBOut.addPeer`) only when the export policy matches on
    /// the neighbour: such a peer is a group of its own.
    public internal(set) var neighbour: IPAddress?

    public init(exportPolicy: RoutePolicy, isInternal: Bool, isReflectorClient: Bool, nextHopSelf: Bool = false,
                localAddress: IPAddress, linkLocalAddress: IPv6Address? = nil, context: CodecContext,
                families: Set<AddressFamily> = [.ipv4Unicast],
                addPathSend: [AddressFamily: AddPathSend] = [:], extendedNextHop: Bool = false) {
        self.exportPolicy = exportPolicy
        self.isInternal = isInternal
        self.isReflectorClient = isReflectorClient
        self.nextHopSelf = nextHopSelf
        self.localAddress = localAddress
        self.linkLocalAddress = linkLocalAddress
        self.context = context
        self.families = families
        self.addPathSend = addPathSend
        self.extendedNextHop = extendedNextHop
    }

    /// How many paths per prefix of `family` the group is sent.
    func pathLimit(_ family: AddressFamily) -> Int? {
        context.addPath.contains(family) ? (addPathSend[family] ?? .best(1)).limit : nil
    }
}

/// UPDATEs for some peers: the same messages (and their encoding, done
/// once) for every member listed.
public struct GroupOutput: Sendable {
    public var members: [IPAddress]
    public var messages: [UpdateMessage]
    /// The messages encoded for the group's session context, back to back:
    /// what the speaker writes to every member's socket.
    public var encoded: [UInt8]
}

/// The Adj-RIBs-Out of all peers, kept per update group, and the UPDATEs
/// that bring each group from what it was sent to what it should have now.
///
/// A group's members are sent the same UPDATEs, including paths that one of
/// them sent us: like FRR's update groups, a group of several members
/// relies on the receiver's loop detection there (its own ORIGINATOR_ID,
/// RFC 4456 §8; its own AS, RFC 4271 §9.1.2). A group of one member is never
/// sent its own paths (FRR's `onlypeer`), so an eBGP peer with its own
/// policy sees what BIRD would send it.
public struct AdjRIBOut: Sendable {
    public var speaker: RIBSpeaker
    public private(set) var settings: [IPAddress: OutputSettings] = [:]
    private var groupTable: [OutputSettings: Group] = [:]
    private var sourceIndex: [IPAddress: UInt32] = [:]
    private var store = AttributeStore()
    /// Within one `apply`: a group's export of an attribute set from one
    /// peer, when its export policy looks at nothing prefix-specific (the
    /// NLRI of an UPDATE share their attributes: one export, not one per
    /// prefix). Keyed by object identity, so it never outlives the call.
    private var exportCache: [ExportCacheKey: ExportedRoute?] = [:]
    /// RFC 4724 restarting speaker: peers whose End-of-RIB is awaited
    /// before anything is sent (nil: not restarting).
    public private(set) var awaitingEndOfRIB: Set<IPAddress>?
    /// Members whose session cannot take more now (back-pressure): what
    /// each was last sent for every (prefix, path ID) that changed since
    /// (`pause`), so `resume` sends the difference to now: one entry per
    /// prefix however often it changed, so memory is bounded by the table,
    /// not by the churn.
    private var held: [IPAddress: Held] = [:]

    struct Held: Sendable {
        /// What the member was last sent (nil: nothing) for each key.
        var sent: [ViewKey: ExportedRoute?] = [:]
        /// End-of-RIB owed after the table (a restart's deferred output).
        var endOfRIB: [AddressFamily] = []
    }

    struct Group: Sendable {
        var members: Set<IPAddress> = []
        /// (prefix, path ID) → the route as the group is sent it.
        var view: [ViewKey: ExportedRoute] = [:]
        /// Path IDs per prefix with more than one (ADD-PATH groups).
        var ids: [IPPrefix: [UInt32]] = [:]
        /// A group built for one member leaves that member's own paths out
        /// of its view (it is never sent them): a ToR's full table costs no
        /// view entries in its own group. Rebuilt without when a second
        /// member joins.
        var excluding: IPAddress?
    }

    struct ExportCacheKey: Hashable, Sendable {
        var attributes: ObjectIdentifier
        var source: IPAddress
        var ipv4: Bool
        var group: Int
    }

    struct ViewKey: Hashable, Sendable {
        var prefix: IPPrefix
        var pathID: UInt32
    }

    /// One route as sent: its interned attributes (next hop included) and
    /// where it came from.
    struct ExportedRoute: Hashable, Sendable {
        var attributes: InternedAttributes
        var source: UInt32
    }

    public init(speaker: RIBSpeaker) { self.speaker = speaker }

    /// Update groups in use and their sizes.
    public var groups: [(settings: OutputSettings, members: Int)] {
        groupTable.map { ($0.key, $0.value.members.count) }
    }

    /// Routes held for a peer (its group's view; status).
    public func advertisedCount(to address: IPAddress) -> Int {
        settings[address].flatMap { groupTable[$0]?.view.count } ?? 0
    }

    // MARK: Membership

    /// A session reached Established (or its output settings changed, after
    /// a reconfiguration). Returns its initial table and End-of-RIB per
    /// family (RFC 4724 §2), or for a changed peer only the difference
    /// between what it was sent and what its new group sends; nothing while
    /// this speaker is restarting (`finishRestart` sends it then).
    public mutating func addPeer(_ address: IPAddress, _ output: OutputSettings, rib: RIB) -> [GroupOutput] {
        var output = output
        let byNeighbour = output.exportPolicy.terms.contains { $0.matches.contains { if case .neighbourIn = $0 { true } else { false } } }
        output.neighbour = byNeighbour ? address : nil
        let previous = settings[address].map { effectiveView(for: address, in: $0) }
        if let old = settings[address] { leave(address, old) }
        settings[address] = output
        var outputs: [GroupOutput] = []
        if groupTable[output] == nil {
            groupTable[output] = build(output, excluding: address, rib: rib)
        } else if let only = groupTable[output]!.excluding {
            // A second member: the view gains the first one's paths (sent to
            // it as well, as a group of several is; see the type's comment).
            let before = groupTable[output]!
            var rebuilt = build(output, excluding: nil, rib: rib)
            rebuilt.members = before.members
            for route in before.view.values { store.release(route.attributes) }
            groupTable[output] = rebuilt
            if awaitingEndOfRIB == nil {
                var transitions: [Transition] = []
                for (key, route) in rebuilt.view where before.view[key] != route {
                    transitions.append(Transition(key: key, old: before.view[key], new: route))
                }
                for (key, route) in before.view where rebuilt.view[key] == nil { transitions.append(Transition(key: key, old: route, new: nil)) }
                if before.members.contains(only) { outputs += emit(transitions, to: [only], output) }
            }
        }
        groupTable[output]!.members.insert(address)
        guard awaitingEndOfRIB == nil else { return [] }
        let now = effectiveView(for: address, in: output)
        var transitions: [Transition] = []
        for (key, route) in now where previous?[key] != route { transitions.append(Transition(key: key, old: previous?[key], new: route)) }
        for (key, route) in previous ?? [:] where now[key] == nil { transitions.append(Transition(key: key, old: route, new: nil)) }
        outputs += emit(transitions, to: [address], output,
                        endOfRIB: previous == nil ? output.families.sorted() : [])
        return outputs
    }

    /// Rebuilds every group's view from the Loc-RIB and sends each member
    /// the difference: after a change that export depends on beyond the
    /// paths themselves (a peer became or stopped being a route-reflector
    /// client, RFC 4456 §6, which decides where its paths are reflected).
    public mutating func refreshAll(rib: RIB) -> [GroupOutput] {
        exportCache.removeAll(keepingCapacity: true)
        defer { exportCache.removeAll(keepingCapacity: true) }
        var outputs: [GroupOutput] = []
        for settings in Array(groupTable.keys) {
            let before = groupTable[settings]!
            var rebuilt = build(settings, excluding: before.excluding, rib: rib)
            rebuilt.members = before.members
            for route in before.view.values { store.release(route.attributes) }
            groupTable[settings] = rebuilt
            guard awaitingEndOfRIB == nil else { continue }
            var transitions: [Transition] = []
            for (key, route) in rebuilt.view where before.view[key] != route {
                transitions.append(Transition(key: key, old: before.view[key], new: route))
            }
            for (key, route) in before.view where rebuilt.view[key] == nil { transitions.append(Transition(key: key, old: route, new: nil)) }
            outputs += emit(transitions, to: before.members.sorted(), settings)
        }
        return outputs
    }

    public mutating func removePeer(_ address: IPAddress) {
        held[address] = nil
        guard let old = settings.removeValue(forKey: address) else { return }
        leave(address, old)
        awaitingEndOfRIB?.remove(address)
    }

    private mutating func leave(_ address: IPAddress, _ group: OutputSettings) {
        groupTable[group]?.members.remove(address)
        if groupTable[group]?.members.isEmpty == true {
            for route in groupTable[group]!.view.values { store.release(route.attributes) }
            groupTable[group] = nil
        }
    }

    // MARK: Restarting speaker (RFC 4724 §4.1)

    /// This speaker restarted: hold all output until every listed peer
    /// (those with graceful restart) has sent its End-of-RIB, or
    /// `finishRestart` is called when the caller's timer ends, so that peers
    /// are not sent a half-built table.
    public mutating func beginRestart(awaiting peers: Set<IPAddress>) {
        awaitingEndOfRIB = peers
    }

    /// A peer's End-of-RIB arrived (every family it negotiated); when it was
    /// the last one awaited, the deferred output goes out.
    public mutating func endOfRIBReceived(from address: IPAddress) -> [GroupOutput] {
        guard awaitingEndOfRIB != nil else { return [] }
        awaitingEndOfRIB!.remove(address)
        return awaitingEndOfRIB!.isEmpty ? finishRestart() : []
    }

    /// Ends the deferral: every member gets its group's table and End-of-RIB.
    public mutating func finishRestart() -> [GroupOutput] {
        guard awaitingEndOfRIB != nil else { return [] }
        awaitingEndOfRIB = nil
        var out: [GroupOutput] = []
        for (settings, group) in groupTable {
            let eor = settings.families.sorted()
            if group.members.count == 1, let only = group.members.first {
                let transitions = effectiveView(for: only, in: settings).map { Transition(key: $0.key, old: nil, new: $0.value) }
                out += emit(transitions, to: [only], settings, endOfRIB: eor)
            } else if !group.members.isEmpty {
                let transitions = group.view.map { Transition(key: $0.key, old: nil, new: $0.value) }
                out += emit(transitions, to: group.members.sorted(), settings, endOfRIB: eor)
            }
        }
        return out.sorted { $0.members[0] < $1.members[0] }
    }

    // MARK: Changes

    /// Recomputes every group's view of `changes` (Loc-RIB changes) and
    /// returns the UPDATEs each group is sent (packed up to its session's
    /// size limit, withdrawals first), encoded once per group.
    public mutating func apply(_ changes: [RIBChange], rib: RIB) -> [GroupOutput] {
        exportCache.removeAll(keepingCapacity: true)
        defer { exportCache.removeAll(keepingCapacity: true) }
        var out: [GroupOutput] = []
        for settings in groupTable.keys.sorted(by: { $0.localAddress < $1.localAddress || ($0.localAddress == $1.localAddress && $0.hashValue < $1.hashValue) }) {
            var transitions: [Transition] = []
            for change in changes {
                transitions += update(settings, change, rib: rib)
            }
            guard awaitingEndOfRIB == nil, let group = groupTable[settings], !group.members.isEmpty else { continue }
            if group.members.count == 1, let only = group.members.first, let source = sourceIndex[only] {
                // A group of one is never sent its own paths.
                let own = transitions.compactMap { t -> Transition? in
                    let old = t.old?.source == source ? nil : t.old, new = t.new?.source == source ? nil : t.new
                    return old == new ? nil : Transition(key: t.key, old: old, new: new)
                }
                out += emit(own, to: [only], settings)
            } else {
                out += emit(transitions, to: group.members.sorted(), settings)
            }
        }
        return out
    }

    // MARK: Back-pressure

    /// The member's session cannot take more now (its channel is not
    /// writable): from here its changes are only noted, per (prefix, path
    /// ID), until `resume`.
    public mutating func pause(_ address: IPAddress) {
        guard settings[address] != nil, held[address] == nil else { return }
        held[address] = Held()
    }

    public func isPaused(_ address: IPAddress) -> Bool { held[address] != nil }

    /// How many routes (prefix, path ID) a paused member is owed: at most
    /// its table's size, however much changed meanwhile.
    public func heldCount(for address: IPAddress) -> Int { held[address]?.sent.count ?? 0 }

    /// The member can take more: what changed while it was paused, from
    /// what it was last sent to what its group holds now (a route that came
    /// and went meanwhile is not sent at all), then any End-of-RIB owed.
    public mutating func resume(_ address: IPAddress) -> [GroupOutput] {
        guard let h = held.removeValue(forKey: address), let output = settings[address] else { return [] }
        let now = effectiveView(for: address, in: output)
        var transitions: [Transition] = []
        for (key, sent) in h.sent {
            let current = now[key]
            if current != sent { transitions.append(Transition(key: key, old: sent, new: current)) }
        }
        return emit(transitions, to: [address], output, endOfRIB: h.endOfRIB)
    }

    /// UPDATEs for `members`, encoded once; a paused member's are noted
    /// instead (the first `old` of a key is what it was sent).
    private mutating func emit(_ transitions: [Transition], to members: [IPAddress], _ settings: OutputSettings,
                               endOfRIB: [AddressFamily] = []) -> [GroupOutput] {
        var active: [IPAddress] = []
        for member in members {
            guard held[member] != nil else { active.append(member); continue }
            for t in transitions where held[member]!.sent.index(forKey: t.key) == nil { held[member]!.sent[t.key] = .some(t.old) }
            held[member]!.endOfRIB += endOfRIB
        }
        guard !active.isEmpty else { return [] }
        let messages = Self.pack(transitions, settings) + endOfRIB.map { UpdateMessage.endOfRIB($0) }
        return messages.isEmpty ? [] : [GroupOutput(members: active, messages: messages, context: settings.context)]
    }

    /// A change of what a group is sent for one (prefix, path ID).
    struct Transition {
        var key: ViewKey
        var old: ExportedRoute?
        var new: ExportedRoute?
    }

    /// Brings one group's view of `change.prefix` up to date.
    private mutating func update(_ settings: OutputSettings, _ change: RIBChange, rib: RIB) -> [Transition] {
        let routes = exportedRoutes(change.prefix, best: change.best, settings, excluding: groupTable[settings]?.excluding, rib: rib)
        var group = groupTable.removeValue(forKey: settings)!
        defer { groupTable[settings] = group }
        let oldIDs = group.ids[change.prefix] ?? (group.view[ViewKey(prefix: change.prefix, pathID: 0)] != nil ? [0] : [])
        let newIDs = routes.map(\.pathID)
        var transitions: [Transition] = []
        for (id, route) in routes {
            let key = ViewKey(prefix: change.prefix, pathID: id)
            let old = group.view[key]
            if old == route {
                store.release(route.attributes)
                continue
            }
            group.view[key] = route
            if let old { store.release(old.attributes) }
            transitions.append(Transition(key: key, old: old, new: route))
        }
        for id in oldIDs where !newIDs.contains(id) {
            let key = ViewKey(prefix: change.prefix, pathID: id)
            if let old = group.view.removeValue(forKey: key) {
                store.release(old.attributes)
                transitions.append(Transition(key: key, old: old, new: nil))
            }
        }
        group.ids[change.prefix] = newIDs.count > 1 || newIDs.first.map({ $0 != 0 }) == true ? newIDs : nil
        return transitions
    }

    /// What a group is sent for a prefix: the best path, or with ADD-PATH
    /// the best N eligible paths numbered 1…N by rank (a path's ID is its
    /// rank: a new best renumbers, which the receiver sees as replacements).
    private mutating func exportedRoutes(_ prefix: IPPrefix, best: [Path], _ settings: OutputSettings, excluding: IPAddress?,
                                         rib: RIB) -> [(pathID: UInt32, route: ExportedRoute)] {
        let family = RIB.family(of: prefix)
        guard settings.families.contains(family) else { return [] }
        if let limit = settings.pathLimit(family) {
            var out: [(UInt32, ExportedRoute)] = []
            var rank: UInt32 = 0
            for path in rib.ranked(prefix, limit: limit) {
                guard let route = export(path, settings) else { continue }
                rank += 1
                // An excluded path keeps its rank (the numbering stays the
                // group's) but takes no entry.
                if path.peer.address == excluding { store.release(route.attributes) } else { out.append((rank, route)) }
            }
            return out
        }
        guard let first = best.first, first.peer.address != excluding else { return [] }
        return export(first, settings).map { [(UInt32(0), $0)] } ?? []
    }

    /// A group's view, as one member gets it (a group of one: without its
    /// own paths).
    private func effectiveView(for address: IPAddress, in settings: OutputSettings) -> [ViewKey: ExportedRoute] {
        guard let group = groupTable[settings] else { return [:] }
        guard group.members.count <= 1, let source = sourceIndex[address] else { return group.view }
        return group.view.filter { $0.value.source != source }
    }

    /// A new group's view, from the Loc-RIB.
    private mutating func build(_ settings: OutputSettings, excluding: IPAddress?, rib: RIB) -> Group {
        groupTable[settings] = Group(excluding: excluding)
        rib.forEachBest { prefix, best in
            _ = update(settings, RIBChange(prefix: prefix, best: best), rib: rib)
        }
        return groupTable.removeValue(forKey: settings)!
    }

    /// A group's form of a path, nil when it gets none.
    private mutating func export(_ path: Path, _ group: OutputSettings) -> ExportedRoute? {
        // The policy may look at the prefix: then no sharing.
        let cacheable = group.exportPolicy.terms.allSatisfy { t in
            t.matches.allSatisfy { if case .prefixList = $0 { false } else { true } }
        }
        guard cacheable else { return exportUncached(path, group) }
        let key = ExportCacheKey(attributes: ObjectIdentifier(path.attributes), source: path.peer.address, ipv4: path.prefix.address.isIPv4,
                                 group: group.hashValue)
        if let hit = exportCache[key] {
            // The view holds one count per entry.
            if let hit { store.retain(hit.attributes) }
            return hit
        }
        let route = exportUncached(path, group)
        exportCache[key] = .some(route)
        return route
    }

    private mutating func exportUncached(_ path: Path, _ group: OutputSettings) -> ExportedRoute? {
        // The rules need the receiving side's kind only (never to its own
        // sender: handled per member).
        let receiver = Advertisement.Receiver(isInternal: group.isInternal, isReflectorClient: group.isReflectorClient)
        guard Advertisement.mayAdvertise(path, to: receiver, speaker: speaker) else { return nil }
        var (attributes, nextHop) = Advertisement.exported(
            path, toInternal: group.isInternal, speaker: speaker, localAddress: group.localAddress, nextHopSelf: group.nextHopSelf)
        let outcome = group.exportPolicy.evaluate(
            prefix: path.prefix, attributes: attributes, nextHop: nextHop, neighbour: group.neighbour ?? group.localAddress)
        guard outcome.accepted else { return nil }
        attributes = outcome.attributes
        if outcome.nextHopSelf { nextHop = group.localAddress }
        // A next hop of the other family only where RFC 8950 allows it (an
        // IPv6 next hop for IPv4); else the route cannot be sent.
        if case .v6 = nextHop, path.prefix.address.isIPv4, !group.extendedNextHop { return nil }
        if case .v4 = nextHop, !path.prefix.address.isIPv4 { return nil }
        attributes.remove(type: PathAttributeType.nextHop)
        let source: UInt32
        if let known = sourceIndex[path.peer.address] {
            source = known
        } else {
            source = UInt32(sourceIndex.count)
            sourceIndex[path.peer.address] = source
        }
        return ExportedRoute(attributes: store.intern(attributes, nextHop: nextHop), source: source)
    }

    /// UPDATEs for a list of transitions: withdrawals, then one run of
    /// announcements per attribute set and next hop (IPv4 NLRI with
    /// NEXT_HOP, or in MP_REACH_NLRI with an IPv6 next hop; IPv6 in
    /// MP_REACH_NLRI), each packed to the session's message size.
    static func pack(_ transitions: [Transition], _ settings: OutputSettings) -> [UpdateMessage] {
        let context = settings.context
        var out: [UpdateMessage] = []
        var announce: [InternedAttributes: [ViewKey]] = [:]
        var withdraw: [ViewKey] = []
        for t in transitions {
            if let route = t.new { announce[route.attributes, default: []].append(t.key) } else { withdraw.append(t.key) }
        }
        func id(_ key: ViewKey, _ family: AddressFamily) -> UInt32? { context.addPath.contains(family) ? key.pathID : nil }
        let w4 = withdraw.sorted { ($0.prefix, $0.pathID) < ($1.prefix, $1.pathID) }.compactMap { k in
            if case .v4(let p) = k.prefix { IPv4NLRI(p, pathID: id(k, .ipv4Unicast)) } else { nil }
        }
        let w6 = withdraw.sorted { ($0.prefix, $0.pathID) < ($1.prefix, $1.pathID) }.compactMap { k in
            if case .v6(let p) = k.prefix { IPv6NLRI(p, pathID: id(k, .ipv6Unicast)) } else { nil }
        }
        if !w4.isEmpty { out += UpdateMessage.packing(withdrawIPv4: w4, context: context) }
        if !w6.isEmpty { out += UpdateMessage.packing(withdrawIPv6: w6, context: context) }
        // A deterministic order: by next hop, then each set's first prefix.
        let runs = announce.map { (attributes: $0.key, keys: $0.value.sorted { ($0.prefix, $0.pathID) < ($1.prefix, $1.pathID) }) }
        for run in runs.sorted(by: { ($0.attributes.nextHop, $0.keys[0].prefix) < ($1.attributes.nextHop, $1.keys[0].prefix) }) {
            let attributes = run.attributes.attributes
            let v4 = run.keys.compactMap { k in if case .v4(let p) = k.prefix { IPv4NLRI(p, pathID: id(k, .ipv4Unicast)) } else { nil } }
            let v6 = run.keys.compactMap { k in if case .v6(let p) = k.prefix { IPv6NLRI(p, pathID: id(k, .ipv6Unicast)) } else { nil } }
            switch run.attributes.nextHop {
            case .v4(let hop):
                var withHop = attributes
                withHop.list.append(PathAttribute(.nextHop(hop)))
                if !v4.isEmpty { out += UpdateMessage.packing(ipv4: v4, attributes: withHop, context: context) }
            case .v6(let hop):
                // Our own global next hop on a link-local session goes with
                // our link-local address (RFC 2545 §3); RFC 8950 IPv4 too.
                let own = settings.linkLocalAddress.flatMap { ll in run.attributes.nextHop == settings.localAddress && hop != ll ? ll : nil }
                let nextHop = MPNextHop.ipv6(hop, linkLocal: own)
                if !v4.isEmpty { out += UpdateMessage.packing(ipv4: v4, nextHop: nextHop, attributes: attributes, context: context) }
                if !v6.isEmpty { out += UpdateMessage.packing(ipv6: v6, nextHop: nextHop, attributes: attributes, context: context) }
            }
        }
        return out
    }
}

extension GroupOutput {
    init(members: [IPAddress], messages: [UpdateMessage], context: CodecContext) {
        self.members = members
        self.messages = messages
        var bytes: [UInt8] = []
        for m in messages { bytes += BGPMessage.update(m).encoded(context: context) }
        self.encoded = bytes
    }
}

extension Array where Element == GroupOutput {
    /// The UPDATEs each peer is sent (tests, logs).
    public var perPeer: [IPAddress: [UpdateMessage]] {
        var out: [IPAddress: [UpdateMessage]] = [:]
        for g in self { for m in g.members { out[m, default: []] += g.messages } }
        return out
    }
}
