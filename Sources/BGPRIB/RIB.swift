import BGP
import IPAddressing

/// A change of the Loc-RIB: the prefix's new best path set (best first;
/// more than one with multipath), or `[]` when it is no longer reachable.
/// The agent turns these into kernel routes; the RIB knows no kernel.
public struct RIBChange: Hashable, Sendable, CustomStringConvertible {
    public var prefix: IPPrefix
    public var best: [Path]
    public var description: String { best.isEmpty ? "\(prefix) withdrawn" : "\(prefix) → " + best.map(\.description).joined(separator: " | ") }
}

/// The speaker's routing tables: one Adj-RIB-In per peer, kept as received
/// (before import policy, so a policy change is re-applied from it without
/// a route refresh, as BIRD's `import table` does), the same after import
/// policy, and the Loc-RIB of best path sets. Pure: the sessions feed it
/// decoded UPDATEs and read changes back.
///
/// Storage: all three tables are one hash table per address family, prefix
/// → the paths to it (`PathSlot`, one inline), each path 24 bytes
/// (`StoredPath`: interned attributes as received and as accepted, the
/// peer's index, flags, the path ID, its rank in the best set). Per-peer
/// operations (a session down, a policy change, a sweep) walk the table, as
/// BIRD's do; the per-prefix ones (an UPDATE) touch only their prefix.
public struct RIB: Sendable {
    public var decision: DecisionProcess
    public private(set) var attributes = AttributeStore()
    /// Import policy per peer (RFC 8212 default: an eBGP peer without one
    /// accepts nothing).
    public private(set) var importPolicies: [IPAddress: RoutePolicy] = [:]
    /// Peers with an Established session.
    public private(set) var peers: [IPAddress: RIBPeer] = [:]
    /// Report a change for every prefix whose candidate paths changed, not
    /// only when its best set did: what ADD-PATH send needs.
    public var reportsEveryPathChange = false
    /// Prefixes with a best path.
    public private(set) var prefixCount = 0

    private var table4: [IPv4Prefix: PathSlot] = [:]
    private var table6: [IPv6Prefix: PathSlot] = [:]
    /// Every peer with paths in the tables (a restarting one included), by
    /// index; index 0 is this speaker (routes it originates).
    private var peerTable: [RIBPeer?] = [nil]
    private var peerIndex: [IPAddress: Int] = [:]
    private var freeIndices: [Int] = []
    /// Per peer index: paths received, paths accepted, paths stale.
    private var received: [Int] = [0]
    private var acceptedCount: [Int] = [0]
    private var staleCount: [Int] = [0]

    public init(decision: DecisionProcess) {
        self.decision = decision
        peerIndex[RIBPeer.local(decision.speaker).address] = 0
    }

    public var speaker: RIBSpeaker { decision.speaker }

    /// A session reached Established (again, after a graceful restart: its
    /// stale paths stay until its End-of-RIB).
    public mutating func peerUp(_ peer: RIBPeer, importPolicy: RoutePolicy? = nil) {
        peers[peer.address] = peer
        importPolicies[peer.address] = importPolicy ?? importPolicies[peer.address] ?? .defaultPolicy(external: !speaker.isInternal(peer))
        if let i = peerIndex[peer.address] {
            peerTable[i] = peer
        } else if let i = freeIndices.popLast() {
            peerTable[i] = peer
            peerIndex[peer.address] = i
        } else {
            precondition(peerTable.count < StoredPath.maxPeers, "more than 2^24 BGP peers")
            peerIndex[peer.address] = peerTable.count
            peerTable.append(peer)
            received.append(0)
            acceptedCount.append(0)
            staleCount.append(0)
        }
    }

    /// Replaces a peer's import policy and re-applies it to what the peer
    /// sent (soft reconfiguration inbound: no route refresh needed).
    public mutating func setImportPolicy(_ policy: RoutePolicy, for address: IPAddress) -> [RIBChange] {
        importPolicies[address] = policy
        guard let i = peerIndex[address], i != 0 else { return [] }
        return prefixes(of: i).compactMap { prefix in
            var touch = Touch.none
            let paths = slot(prefix)?.paths ?? []
            for (k, old) in paths.enumerated() where old.peer == i {
                let accepted = importResult(prefix, old.received, peer: i)
                var released: InternedAttributes?
                withSlot(prefix) { slot in
                    slot?.update(k) { p in
                        released = p.separatelyAccepted
                        p.accepted = accepted
                    }
                }
                if let released { attributes.release(released) }
                acceptedCount[i] += (accepted == nil ? 0 : 1) - (old.accepted == nil ? 0 : 1)
                if old.accepted !== accepted { touch = max(touch, old.rank > 0 ? .best : .paths) }
            }
            return recompute(prefix, touch)
        }
    }

    /// Paths of a peer kept only until its End-of-RIB (a counter, no walk).
    public func staleCount(for address: IPAddress) -> Int {
        peerIndex[address].map { staleCount[$0] } ?? 0
    }

    /// Received and accepted paths of a peer (status).
    public func counts(for address: IPAddress) -> (received: Int, accepted: Int) {
        guard let i = peerIndex[address] else { return (0, 0) }
        return (received[i], acceptedCount[i])
    }

    /// A session went down. Without graceful restart its paths are
    /// withdrawn. With it (RFC 4724 helper; RFC 8538 after a NOTIFICATION
    /// other than Hard Reset, when the N-bit was negotiated) they stay and
    /// keep forwarding, marked stale, until the restarted session sends
    /// them again and its End-of-RIB sweeps the rest, or the caller's stale
    /// timer ends it (`sweepStale`).
    public mutating func peerDown(_ address: IPAddress, gracefulRestart: Bool = false) -> [RIBChange] {
        peers[address] = nil
        guard let i = peerIndex[address], i != 0 else { return [] }
        if gracefulRestart {
            markStale(peer: i, family: nil)
            return []
        }
        let changes = prefixes(of: i).compactMap { recompute($0, removeAll($0, peer: i, onlyStale: false)) }
        releaseIndexIfUnused(i, address)
        return changes
    }

    /// Withdraws the peer's paths still stale in `family` (nil: every
    /// family): its End-of-RIB (RFC 4724 §4.2), the end of an enhanced route
    /// refresh (RFC 7313 EoRR), or the stale-path timer.
    public mutating func sweepStale(_ address: IPAddress, family: AddressFamily? = nil) -> [RIBChange] {
        guard let i = peerIndex[address], i != 0, staleCount[i] > 0 else { return [] }
        let changes = prefixes(of: i, family: family).compactMap { recompute($0, removeAll($0, peer: i, onlyStale: true)) }
        releaseIndexIfUnused(i, address)
        return changes
    }

    /// RFC 7313 BoRR: the peer is about to send `family` again; what it
    /// does not resend before EoRR (`sweepStale`) goes.
    public mutating func beginRouteRefresh(_ address: IPAddress, family: AddressFamily) {
        guard let i = peerIndex[address], i != 0 else { return }
        markStale(peer: i, family: family)
    }

    /// Whether `path` is kept only until its peer's End-of-RIB.
    public func isStale(_ path: Path) -> Bool {
        guard let i = peerIndex[path.peer.address], let slot = slot(path.prefix),
              let k = slot.firstIndex(peer: i, pathID: path.pathID) else { return false }
        return slot[k].isStale
    }

    /// A route this speaker originates (a node's blocks and borrowed /32s).
    /// It wins over learned paths to the same prefix, as a static route's
    /// preference does over BGP in BIRD.
    public mutating func originate(_ prefix: IPPrefix, nextHop: IPAddress, attributes values: PathAttributes? = nil) -> [RIBChange] {
        var stored = values ?? PathAttributes([.origin(.igp), .asPath(ASPath())])
        stored.remove(type: PathAttributeType.mpReachNLRI)
        stored.remove(type: PathAttributeType.mpUnreachNLRI)
        let touch = add(prefix, pathID: 0, peer: 0, received: attributes.intern(stored, nextHop: nextHop))
        return recompute(prefix, touch).map { [$0] } ?? []
    }

    /// Stops originating `prefix`.
    public mutating func withdrawOrigination(_ prefix: IPPrefix) -> [RIBChange] {
        recompute(prefix, remove(prefix, pathID: 0, peer: 0)).map { [$0] } ?? []
    }

    static func family(of prefix: IPPrefix) -> AddressFamily { prefix.address.isIPv4 ? .ipv4Unicast : .ipv6Unicast }

    /// Applies one UPDATE from `address` (already validated by the codec;
    /// RFC 7606 treat-as-withdraw UPDATEs arrive here as withdrawals).
    public mutating func receive(_ update: UpdateMessage, from address: IPAddress) -> [RIBChange] {
        guard peers[address] != nil, let i = peerIndex[address] else { return [] }
        if let family = update.endOfRIB { return sweepStale(address, family: family) }
        // Reachability without the well-known mandatory attributes is
        // treated as a withdrawal (RFC 7606 §3 (d)); the codec flags it, and
        // the RIB never stores a path it could not send on.
        let announces = !update.nlri.isEmpty || update.attributes.mpReach != nil
        if announces && (update.attributes.origin == nil || update.attributes.asPath == nil
            || (!update.nlri.isEmpty && update.attributes.nextHop == nil)) {
            return withdraw(update.allPrefixes, from: address)
        }
        var touched: [IPPrefix: Touch] = [:]
        func note(_ prefix: IPPrefix, _ t: Touch) { touched[prefix] = max(touched[prefix] ?? .none, t) }
        for n in update.withdrawnIPv4 { note(.v4(n.prefix), remove(.v4(n.prefix), pathID: n.pathID ?? 0, peer: i)) }
        for n in update.withdrawnIPv6 { note(.v6(n.prefix), remove(.v6(n.prefix), pathID: n.pathID ?? 0, peer: i)) }
        // The attributes a path carries: without the NLRI containers.
        var stored = update.attributes
        stored.remove(type: PathAttributeType.mpReachNLRI)
        stored.remove(type: PathAttributeType.mpUnreachNLRI)
        // One interning per run of NLRI sharing a next hop: its NLRI share it.
        func announce(_ prefixes: [(IPPrefix, UInt32?)], nextHop: IPAddress?) {
            guard !prefixes.isEmpty, let nextHop else { return }
            let interned = attributes.intern(stored, nextHop: nextHop, uses: prefixes.count)
            for (prefix, id) in prefixes { note(prefix, add(prefix, pathID: id ?? 0, peer: i, received: interned)) }
        }
        // Classic NLRI: the NEXT_HOP attribute.
        announce(update.nlri.map { (.v4($0.prefix), $0.pathID) }, nextHop: update.attributes.nextHop.map { .v4($0) })
        if let mp = update.attributes.mpReach {
            // MP_REACH_NLRI: its own next hop; for IPv4 NLRI an IPv6 one is
            // RFC 8950's extended next hop.
            let hop: IPAddress? = switch mp.nextHop {
            case .ipv4(let a): .v4(a)
            case .ipv6(let g, let ll): .v6(Self.nextHop(global: g, linkLocal: ll, linkLocalPeer: peers[address]!.interfaceIndex != 0))
            case .raw: nil
            }
            switch mp.nlri {
            case .ipv4(let list): announce(list.map { (.v4($0.prefix), $0.pathID) }, nextHop: hop)
            case .ipv6(let list): announce(list.map { (.v6($0.prefix), $0.pathID) }, nextHop: hop)
            case .raw: break
            }
        }
        return touched.keys.sorted().compactMap { recompute($0, touched[$0]!) }
    }

    /// Which of an RFC 2545 §3 next hop's addresses a path keeps: the
    /// link-local one from a peer on a link-local session (it is on the
    /// link, whatever the global one is), or when the global one is missing
    /// (`::`) or itself link-local; else the global one.
    static func nextHop(global: IPv6Address, linkLocal: IPv6Address?, linkLocalPeer: Bool) -> IPv6Address {
        guard let linkLocal, linkLocal.isLinkLocal else { return global }
        return linkLocalPeer || global.isUnspecified || global.isLinkLocal ? linkLocal : global
    }

    /// Withdraws prefixes of a peer: an UPDATE that RFC 7606 treats as a
    /// withdrawal (`UpdateMessage.allPrefixes`).
    public mutating func withdraw(_ w: Withdrawal, from address: IPAddress) -> [RIBChange] {
        guard peers[address] != nil, let i = peerIndex[address] else { return [] }
        var touched: [IPPrefix: Touch] = [:]
        for n in w.ipv4 { touched[.v4(n.prefix)] = max(touched[.v4(n.prefix)] ?? .none, remove(.v4(n.prefix), pathID: n.pathID ?? 0, peer: i)) }
        for n in w.ipv6 { touched[.v6(n.prefix)] = max(touched[.v6(n.prefix)] ?? .none, remove(.v6(n.prefix), pathID: n.pathID ?? 0, peer: i)) }
        return touched.keys.sorted().compactMap { recompute($0, touched[$0]!) }
    }

    /// Every path to `prefix` that import policy accepted.
    public func candidates(_ prefix: IPPrefix) -> [Path] {
        (slot(prefix)?.paths ?? []).compactMap { s in s.accepted.map { path(prefix, s, $0) } }
    }

    /// The decision for one prefix, with why each other path lost.
    public func explain(_ prefix: IPPrefix) -> Decision { decision.decide(candidates(prefix)) }

    /// The best set of `prefix` (best first), empty when unreachable.
    public func best(_ prefix: IPPrefix) -> [Path] {
        guard let slot = slot(prefix) else { return [] }
        return slot.paths.filter { $0.rank > 0 }.sorted { $0.rank < $1.rank }.map { path(prefix, $0, $0.accepted!) }
    }

    /// Up to `limit` eligible paths to `prefix`, best first: what ADD-PATH
    /// sends (RFC 7911 `best N`, or all).
    public func ranked(_ prefix: IPPrefix, limit: Int = .max) -> [Path] {
        var remaining = candidates(prefix), out: [Path] = []
        while out.count < limit, let next = decision.decide(remaining).best.first {
            out.append(next)
            remaining.removeAll { $0.peer.address == next.peer.address && $0.pathID == next.pathID }
        }
        return out
    }

    // MARK: Whole-table views (status, dumps, tests)

    /// The Loc-RIB: prefix → best path set (best first).
    public var locRIB: [IPPrefix: [Path]] {
        var out: [IPPrefix: [Path]] = [:]
        forEachBest { out[$0] = $1 }
        return out
    }

    /// Calls `body` with every reachable prefix and its best set.
    public func forEachBest(_ body: (IPPrefix, [Path]) -> Void) {
        forEachSlot { prefix, slot in
            let best = slot.paths.filter { $0.rank > 0 }.sorted { $0.rank < $1.rank }
            if !best.isEmpty { body(prefix, best.map { path(prefix, $0, $0.accepted!) }) }
        }
    }

    /// Adj-RIB-In: peer address → prefix → path ID → path, as received.
    public var adjRIBIn: [IPAddress: [IPPrefix: [UInt32: Path]]] { view { $0.received } }

    /// The same after import policy: the paths the decision sees.
    public var accepted: [IPAddress: [IPPrefix: [UInt32: Path]]] { view { $0.accepted } }

    /// Paths kept only until their peer's End-of-RIB or EoRR: peer → prefix
    /// → path IDs.
    public var stale: [IPAddress: [IPPrefix: Set<UInt32>]] {
        guard staleCount.contains(where: { $0 > 0 }) else { return [:] }
        var out: [IPAddress: [IPPrefix: Set<UInt32>]] = [:]
        forEachSlot { prefix, slot in
            for s in slot.paths where s.isStale { out[peer(at: s.peer).address, default: [:]][prefix, default: []].insert(s.pathID) }
        }
        return out
    }

    // MARK: Internals

    /// What a change did to a prefix's paths: nothing the decision sees,
    /// a candidate changed, a path in the best set changed, or one left.
    enum Touch: Comparable { case none, paths, best, bestRemoved }

    private func peer(at i: Int) -> RIBPeer { i == 0 ? .local(speaker) : peerTable[i]! }

    private func path(_ prefix: IPPrefix, _ s: StoredPath, _ a: InternedAttributes) -> Path {
        Path(prefix: prefix, peer: peer(at: s.peer), pathID: s.pathID, attributes: a)
    }

    private func slot(_ prefix: IPPrefix) -> PathSlot? {
        switch prefix {
        case .v4(let p): table4[p]
        case .v6(let p): table6[p]
        }
    }

    private mutating func withSlot<R>(_ prefix: IPPrefix, _ body: (inout PathSlot?) -> R) -> R {
        switch prefix {
        case .v4(let p): body(&table4[p])
        case .v6(let p): body(&table6[p])
        }
    }

    private func forEachSlot(_ body: (IPPrefix, PathSlot) -> Void) {
        for (p, slot) in table4 { body(.v4(p), slot) }
        for (p, slot) in table6 { body(.v6(p), slot) }
    }

    private func view(_ attributes: (StoredPath) -> InternedAttributes?) -> [IPAddress: [IPPrefix: [UInt32: Path]]] {
        var out: [IPAddress: [IPPrefix: [UInt32: Path]]] = [:]
        for (address, i) in peerIndex where i == 0 || received[i] > 0 || peers[address] != nil { out[address] = [:] }
        out[RIBPeer.local(speaker).address] = nil
        forEachSlot { prefix, slot in
            for s in slot.paths where s.peer != 0 {
                if let a = attributes(s) { out[peer(at: s.peer).address, default: [:]][prefix, default: [:]][s.pathID] = path(prefix, s, a) }
            }
        }
        return out
    }

    /// The prefixes peer `i` has paths to (in `family`, or all), sorted.
    private func prefixes(of i: Int, family: AddressFamily? = nil) -> [IPPrefix] {
        guard received[i] > 0 else { return [] }
        var out: [IPPrefix] = []
        if family != .ipv6Unicast {
            for (p, slot) in table4 where (0..<slot.count).contains(where: { slot[$0].peer == i }) { out.append(.v4(p)) }
        }
        if family != .ipv4Unicast {
            for (p, slot) in table6 where (0..<slot.count).contains(where: { slot[$0].peer == i }) { out.append(.v6(p)) }
        }
        return out.sorted()
    }

    private mutating func markStale(peer i: Int, family: AddressFamily?) {
        for prefix in prefixes(of: i, family: family) {
            let marked = withSlot(prefix) { slot -> Int in
                var n = 0
                slot?.updateAll { p in
                    if p.peer == i && !p.isStale { p.isStale = true; n += 1 }
                }
                return n
            }
            staleCount[i] += marked
        }
    }

    private mutating func releaseIndexIfUnused(_ i: Int, _ address: IPAddress) {
        guard i != 0, received[i] == 0, peers[address] == nil else { return }
        peerTable[i] = nil
        peerIndex[address] = nil
        freeIndices.append(i)
    }

    /// The accepted form of a path from peer `i`: `received` itself when the
    /// policy changes nothing (no count of its own), a counted interned set
    /// when it rewrites, nil when it rejects.
    private mutating func importResult(_ prefix: IPPrefix, _ received: InternedAttributes, peer i: Int) -> InternedAttributes? {
        if i == 0 { return received }
        let address = peer(at: i).address
        let policy = importPolicies[address] ?? .defaultPolicy(external: !speaker.isInternal(peer(at: i)))
        if policy.terms.isEmpty { return policy.otherwise == .accept ? received : nil }
        let outcome = policy.evaluate(prefix: prefix, attributes: received.attributes, nextHop: received.nextHop, neighbour: address)
        guard outcome.accepted else { return nil }
        if outcome.attributes == received.attributes { return received }
        return attributes.intern(outcome.attributes, nextHop: received.nextHop)
    }

    /// Stores a path as received; the caller hands over one store count of
    /// `received`.
    private mutating func add(_ prefix: IPPrefix, pathID: UInt32, peer i: Int, received new: InternedAttributes) -> Touch {
        let accepted = importResult(prefix, new, peer: i)
        var released: [InternedAttributes] = []
        var wasAccepted = false, wasStale = false, existed = false
        let touch = withSlot(prefix) { slot -> Touch in
            let fresh = StoredPath(peer: i, pathID: pathID, received: new, accepted: accepted)
            guard slot != nil else {
                slot = .one(fresh)
                return .paths
            }
            guard let k = slot!.firstIndex(peer: i, pathID: pathID) else {
                slot!.append(fresh)
                return .paths
            }
            existed = true
            return slot!.update(k) { p -> Touch in
                wasAccepted = p.accepted != nil
                wasStale = p.isStale
                // Sent again: no longer stale.
                p.isStale = false
                if p.received === new {
                    // The same attributes again: nothing changes.
                    released.append(new)
                    if let extra = accepted, extra !== new { released.append(extra) }
                    return .none
                }
                released.append(p.received)
                if let old = p.separatelyAccepted { released.append(old) }
                let sameDecision = p.accepted === accepted
                p.received = new
                p.accepted = accepted
                return sameDecision ? .none : p.rank > 0 ? .best : .paths
            }
        }
        for r in released { attributes.release(r) }
        if wasStale { staleCount[i] -= 1 }
        if !existed { received[i] += 1 }
        if touch != .none || !existed { acceptedCount[i] += (accepted == nil ? 0 : 1) - (wasAccepted ? 1 : 0) }
        return touch
    }

    private mutating func remove(_ prefix: IPPrefix, pathID: UInt32, peer i: Int) -> Touch {
        var gone: StoredPath?
        withSlot(prefix) { slot in
            guard let k = slot?.firstIndex(peer: i, pathID: pathID) else { return }
            gone = slot![k]
            if slot!.remove(at: k) == false { slot = nil }
        }
        guard let gone else { return .none }
        forget(gone, peer: i)
        return gone.rank > 0 ? .bestRemoved : gone.accepted == nil ? .none : .paths
    }

    /// Removes every path of peer `i` to `prefix` (only the stale ones).
    private mutating func removeAll(_ prefix: IPPrefix, peer i: Int, onlyStale: Bool) -> Touch {
        var goneList: [StoredPath] = []
        withSlot(prefix) { slot in
            guard let s = slot else { return }
            let keep = ContiguousArray(s.paths.filter { p in
                let goes = p.peer == i && (!onlyStale || p.isStale)
                if goes { goneList.append(p) }
                return !goes
            })
            guard !goneList.isEmpty else { return }
            slot = keep.isEmpty ? nil : keep.count == 1 ? .one(keep[0]) : .many(keep)
        }
        var touch = Touch.none
        for gone in goneList {
            forget(gone, peer: i)
            touch = max(touch, gone.rank > 0 ? .bestRemoved : gone.accepted == nil ? .none : .paths)
        }
        return touch
    }

    /// Bookkeeping for a path taken out of the tables.
    private mutating func forget(_ gone: StoredPath, peer i: Int) {
        attributes.release(gone.received)
        if let a = gone.separatelyAccepted { attributes.release(a) }
        received[i] -= 1
        if gone.accepted != nil { acceptedCount[i] -= 1 }
        if gone.isStale { staleCount[i] -= 1 }
    }

    /// Re-runs the decision for `prefix`; the change, if its best set moved
    /// (or, with `reportsEveryPathChange`, if any candidate did).
    private mutating func recompute(_ prefix: IPPrefix, _ touch: Touch) -> RIBChange? {
        guard touch != .none else { return nil }
        let stored = slot(prefix)?.paths ?? []
        let old = stored.filter { $0.rank > 0 }.sorted { $0.rank < $1.rank }.map { Key(peer: $0.peer, pathID: $0.pathID) }
        let best = decision.decide(candidates(prefix)).best
        let new = best.map { Key(peer: peerIndex[$0.peer.address]!, pathID: $0.pathID) }
        guard touch >= .best || old != new || reportsEveryPathChange else { return nil }
        // A prefix whose only best paths were removed had a best set.
        let hadBest = !old.isEmpty || touch == .bestRemoved
        if old != new || hadBest != !new.isEmpty {
            withSlot(prefix) { slot in
                slot?.updateAll { p in
                    p.rank = (new.firstIndex(of: Key(peer: p.peer, pathID: p.pathID)).map { $0 + 1 } ?? 0)
                }
            }
            prefixCount += (new.isEmpty ? 0 : 1) - (hadBest ? 1 : 0)
        }
        return RIBChange(prefix: prefix, best: best)
    }

    private struct Key: Equatable {
        var peer: Int
        var pathID: UInt32
    }
}
