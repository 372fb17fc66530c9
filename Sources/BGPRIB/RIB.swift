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
    /// Adj-RIB-In: peer address → prefix → path ID → path.
    public private(set) var adjRIBIn: [IPAddress: [IPPrefix: [UInt32: Path]]] = [:]
    public private(set) var peers: [IPAddress: RIBPeer] = [:]
    /// Loc-RIB: prefix → best path set (best first).
    public private(set) var locRIB: [IPPrefix: [Path]] = [:]

    public init(decision: DecisionProcess) { self.decision = decision }

    public var speaker: RIBSpeaker { decision.speaker }

    /// A session reached Established.
    public mutating func peerUp(_ peer: RIBPeer) {
        peers[peer.address] = peer
        if adjRIBIn[peer.address] == nil { adjRIBIn[peer.address] = [:] }
    }

    /// A session went down: its paths are withdrawn.
    public mutating func peerDown(_ address: IPAddress) -> [RIBChange] {
        guard let table = adjRIBIn.removeValue(forKey: address) else { return [] }
        peers[address] = nil
        for paths in table.values { for p in paths.values { attributes.release(p.attributes) } }
        return table.keys.sorted().compactMap { recompute($0) }
    }

    /// Applies one UPDATE from `address` (already validated by the codec;
    /// RFC 7606 treat-as-withdraw UPDATEs arrive here as withdrawals).
    public mutating func receive(_ update: UpdateMessage, from address: IPAddress) -> [RIBChange] {
        guard let peer = peers[address] else { return [] }
        var touched = Set<IPPrefix>()
        for n in update.withdrawnIPv4 { touched.insert(remove(.v4(n.prefix), pathID: n.pathID ?? 0, from: address)) }
        for n in update.withdrawnIPv6 { touched.insert(remove(.v6(n.prefix), pathID: n.pathID ?? 0, from: address)) }
        let reach4 = update.reachableIPv4, reach6 = update.reachableIPv6
        if !reach4.isEmpty || !reach6.isEmpty {
            // The attributes a path carries: without the NLRI containers.
            var stored = update.attributes
            stored.list.removeAll { $0.value.typeCode == PathAttributeType.mpReachNLRI || $0.value.typeCode == PathAttributeType.mpUnreachNLRI }
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

    /// Every path to `prefix` in the Adj-RIBs-In.
    public func candidates(_ prefix: IPPrefix) -> [Path] {
        adjRIBIn.values.flatMap { ($0[prefix] ?? [:]).values }
    }

    /// The decision for one prefix, with why each other path lost.
    public func explain(_ prefix: IPPrefix) -> Decision { decision.decide(candidates(prefix)) }

    // MARK: Internals

    private mutating func add(_ prefix: IPPrefix, pathID: UInt32, peer: RIBPeer, attributes stored: PathAttributes, nextHop: IPAddress) -> IPPrefix {
        if let old = adjRIBIn[peer.address]?[prefix]?[pathID] { attributes.release(old.attributes) }
        let path = Path(prefix: prefix, peer: peer, pathID: pathID, attributes: attributes.intern(stored), nextHop: nextHop)
        adjRIBIn[peer.address, default: [:]][prefix, default: [:]][pathID] = path
        return prefix
    }

    private mutating func remove(_ prefix: IPPrefix, pathID: UInt32, from address: IPAddress) -> IPPrefix {
        if let old = adjRIBIn[address]?[prefix]?.removeValue(forKey: pathID) {
            attributes.release(old.attributes)
            if adjRIBIn[address]?[prefix]?.isEmpty == true { adjRIBIn[address]?[prefix] = nil }
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
