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
/// a route refresh), and the Loc-RIB of best path sets. Pure: the sessions
/// feed it decoded UPDATEs and read changes back.
public struct RIB: Sendable {
    public var decision: DecisionProcess
    public private(set) var attributes = AttributeStore()
    /// Adj-RIB-In: peer address → prefix → path ID → path, as received
    /// (before import policy: a policy change is re-applied from here
    /// without a route refresh, as BIRD's `import table` does).
    public private(set) var adjRIBIn: [IPAddress: [IPPrefix: [UInt32: Path]]] = [:]
    /// The same after import policy: the paths the decision sees.
    public private(set) var accepted: [IPAddress: [IPPrefix: [UInt32: Path]]] = [:]
    /// Import policy per peer (RFC 8212 default: an eBGP peer without one
    /// accepts nothing).
    public private(set) var importPolicies: [IPAddress: RoutePolicy] = [:]
    public private(set) var peers: [IPAddress: RIBPeer] = [:]
    /// Loc-RIB: prefix → best path set (best first).
    public private(set) var locRIB: [IPPrefix: [Path]] = [:]
    /// Paths kept after their session went down gracefully (RFC 4724) or
    /// while a route refresh runs (RFC 7313), until the peer sends them
    /// again or its End-of-RIB / EoRR sweeps them: peer → prefix → path IDs.
    public private(set) var stale: [IPAddress: [IPPrefix: Set<UInt32>]] = [:]

    public init(decision: DecisionProcess) { self.decision = decision }

    public var speaker: RIBSpeaker { decision.speaker }

    /// A session reached Established (again, after a graceful restart: its
    /// stale paths stay until its End-of-RIB).
    public mutating func peerUp(_ peer: RIBPeer, importPolicy: RoutePolicy? = nil) {
        peers[peer.address] = peer
        importPolicies[peer.address] = importPolicy ?? importPolicies[peer.address] ?? .defaultPolicy(external: !speaker.isInternal(peer))
        if adjRIBIn[peer.address] == nil { adjRIBIn[peer.address] = [:] }
    }

    /// Replaces a peer's import policy and re-applies it to what the peer
    /// sent (soft reconfiguration inbound: no route refresh needed).
    public mutating func setImportPolicy(_ policy: RoutePolicy, for address: IPAddress) -> [RIBChange] {
        importPolicies[address] = policy
        guard let table = adjRIBIn[address] else { return [] }
        for paths in table.values { for p in paths.values { applyImportPolicy(p) } }
        return table.keys.sorted().compactMap { recompute($0) }
    }

    /// Received and accepted paths of a peer (status).
    public func counts(for address: IPAddress) -> (received: Int, accepted: Int) {
        (adjRIBIn[address]?.values.reduce(0) { $0 + $1.count } ?? 0, accepted[address]?.values.reduce(0) { $0 + $1.count } ?? 0)
    }

    /// A session went down. Without graceful restart its paths are
    /// withdrawn. With it (RFC 4724 helper; RFC 8538 after a NOTIFICATION
    /// other than Hard Reset, when the N-bit was negotiated) they stay and
    /// keep forwarding, marked stale, until the restarted session sends
    /// them again and its End-of-RIB sweeps the rest, or the caller's stale
    /// timer ends it (`sweepStale`).
    public mutating func peerDown(_ address: IPAddress, gracefulRestart: Bool = false) -> [RIBChange] {
        if gracefulRestart, let table = adjRIBIn[address] {
            var marks = stale[address] ?? [:]
            for (prefix, paths) in table { marks[prefix, default: []].formUnion(paths.keys) }
            stale[address] = marks
            return []
        }
        stale[address] = nil
        peers[address] = nil
        guard let table = adjRIBIn.removeValue(forKey: address) else { return [] }
        for paths in table.values { for p in paths.values { attributes.release(p.attributes) } }
        for paths in (accepted.removeValue(forKey: address) ?? [:]).values { for p in paths.values { attributes.release(p.attributes) } }
        return table.keys.sorted().compactMap { recompute($0) }
    }

    /// Withdraws the peer's paths still stale in `family` (nil: every
    /// family): its End-of-RIB (RFC 4724 §4.2), the end of an enhanced route
    /// refresh (RFC 7313 EoRR), or the stale-path timer.
    public mutating func sweepStale(_ address: IPAddress, family: AddressFamily? = nil) -> [RIBChange] {
        guard let marks = stale[address] else { return [] }
        var touched: [IPPrefix] = []
        for (prefix, ids) in marks where family.map({ Self.family(of: prefix) == $0 }) ?? true {
            for id in ids { touched.append(remove(prefix, pathID: id, from: address)) }
            stale[address]?[prefix] = nil
        }
        if stale[address]?.isEmpty == true { stale[address] = nil }
        return Set(touched).sorted().compactMap { recompute($0) }
    }

    /// RFC 7313 BoRR: the peer is about to send `family` again; what it
    /// does not resend before EoRR (`sweepStale`) goes.
    public mutating func beginRouteRefresh(_ address: IPAddress, family: AddressFamily) {
        guard let table = adjRIBIn[address] else { return }
        for (prefix, paths) in table where Self.family(of: prefix) == family {
            stale[address, default: [:]][prefix, default: []].formUnion(paths.keys)
        }
    }

    /// Whether `path` is kept only until its peer's End-of-RIB.
    public func isStale(_ path: Path) -> Bool { stale[path.peer.address]?[path.prefix]?.contains(path.pathID) == true }

    /// A route this speaker originates (a node's blocks and borrowed /32s).
    /// It wins over learned paths to the same prefix, as a static route's
    /// preference does over BGP in BIRD.
    public mutating func originate(_ prefix: IPPrefix, nextHop: IPAddress, attributes values: PathAttributes? = nil) -> [RIBChange] {
        var stored = values ?? PathAttributes([.origin(.igp), .asPath(ASPath())])
        stored.remove(type: PathAttributeType.mpReachNLRI)
        stored.remove(type: PathAttributeType.mpUnreachNLRI)
        _ = add(prefix, pathID: 0, peer: RIBPeer.local(speaker), attributes: stored, nextHop: nextHop)
        return recompute(prefix).map { [$0] } ?? []
    }

    /// Stops originating `prefix`.
    public mutating func withdrawOrigination(_ prefix: IPPrefix) -> [RIBChange] {
        _ = remove(prefix, pathID: 0, from: RIBPeer.local(speaker).address)
        return recompute(prefix).map { [$0] } ?? []
    }

    static func family(of prefix: IPPrefix) -> AddressFamily { prefix.address.isIPv4 ? .ipv4Unicast : .ipv6Unicast }

    /// Applies one UPDATE from `address` (already validated by the codec;
    /// RFC 7606 treat-as-withdraw UPDATEs arrive here as withdrawals).
    public mutating func receive(_ update: UpdateMessage, from address: IPAddress) -> [RIBChange] {
        guard let peer = peers[address] else { return [] }
        if let family = update.endOfRIB { return sweepStale(address, family: family) }
        var touched = Set<IPPrefix>()
        for n in update.withdrawnIPv4 { touched.insert(remove(.v4(n.prefix), pathID: n.pathID ?? 0, from: address)) }
        for n in update.withdrawnIPv6 { touched.insert(remove(.v6(n.prefix), pathID: n.pathID ?? 0, from: address)) }
        let reach4 = update.reachableIPv4, reach6 = update.reachableIPv6
        if !reach4.isEmpty || !reach6.isEmpty {
            // The attributes a path carries: without the NLRI containers.
            var stored = update.attributes
            stored.remove(type: PathAttributeType.mpReachNLRI)
            stored.remove(type: PathAttributeType.mpUnreachNLRI)
            let hop4: IPAddress? = {
                if case .ipv4(let a)? = update.attributes.mpReach?.nextHop { return .v4(a) }
                return update.attributes.nextHop.map { .v4($0) }
            }()
            let hop6: IPAddress? = { if case .ipv6(let g, _)? = update.attributes.mpReach?.nextHop { .v6(g) } else { nil } }()
            for n in reach4 {
                guard let hop = hop4 else { continue }
                touched.insert(add(.v4(n.prefix), pathID: n.pathID ?? 0, peer: peer, attributes: stored, nextHop: hop))
            }
            for n in reach6 {
                guard let hop = hop6 else { continue }
                touched.insert(add(.v6(n.prefix), pathID: n.pathID ?? 0, peer: peer, attributes: stored, nextHop: hop))
            }
        }
        return touched.sorted().compactMap { recompute($0) }
    }

    /// Every path to `prefix` that import policy accepted.
    public func candidates(_ prefix: IPPrefix) -> [Path] {
        accepted.values.flatMap { ($0[prefix] ?? [:]).values }
    }

    /// The decision for one prefix, with why each other path lost.
    public func explain(_ prefix: IPPrefix) -> Decision { decision.decide(candidates(prefix)) }

    // MARK: Internals

    private mutating func add(_ prefix: IPPrefix, pathID: UInt32, peer: RIBPeer, attributes stored: PathAttributes, nextHop: IPAddress) -> IPPrefix {
        if let old = adjRIBIn[peer.address]?[prefix]?[pathID] { attributes.release(old.attributes) }
        // Sent again: no longer stale.
        if stale[peer.address]?[prefix]?.remove(pathID) != nil, stale[peer.address]?[prefix]?.isEmpty == true {
            stale[peer.address]?[prefix] = nil
        }
        let path = Path(prefix: prefix, peer: peer, pathID: pathID, attributes: attributes.intern(stored), nextHop: nextHop)
        adjRIBIn[peer.address, default: [:]][prefix, default: [:]][pathID] = path
        applyImportPolicy(path)
        return prefix
    }

    /// Puts `path` (as received) through its peer's import policy into
    /// `accepted`, or takes it out of it.
    private mutating func applyImportPolicy(_ path: Path) {
        let address = path.peer.address
        if let old = accepted[address]?[path.prefix]?.removeValue(forKey: path.pathID) { attributes.release(old.attributes) }
        let policy = path.peer.isLocal ? .acceptAll : importPolicies[address] ?? .defaultPolicy(external: !speaker.isInternal(path.peer))
        let outcome = policy.evaluate(prefix: path.prefix, attributes: path.attributes.attributes, nextHop: path.nextHop, neighbour: address)
        if outcome.accepted {
            var kept = path
            kept.attributes = attributes.intern(outcome.attributes)
            accepted[address, default: [:]][path.prefix, default: [:]][path.pathID] = kept
        } else if accepted[address]?[path.prefix]?.isEmpty == true {
            accepted[address]?[path.prefix] = nil
        }
    }

    private mutating func remove(_ prefix: IPPrefix, pathID: UInt32, from address: IPAddress) -> IPPrefix {
        if let old = adjRIBIn[address]?[prefix]?.removeValue(forKey: pathID) {
            attributes.release(old.attributes)
            if adjRIBIn[address]?[prefix]?.isEmpty == true { adjRIBIn[address]?[prefix] = nil }
        }
        if let old = accepted[address]?[prefix]?.removeValue(forKey: pathID) {
            attributes.release(old.attributes)
            if accepted[address]?[prefix]?.isEmpty == true { accepted[address]?[prefix] = nil }
        }
        return prefix
    }

    /// Re-runs the decision for `prefix`; the change, if its best set moved.
    private mutating func recompute(_ prefix: IPPrefix) -> RIBChange? {
        let best = decision.decide(candidates(prefix)).best
        let old = locRIB[prefix] ?? []
        guard best != old else { return nil }
        locRIB[prefix] = best.isEmpty ? nil : best
        return RIBChange(prefix: prefix, best: best)
    }
}
