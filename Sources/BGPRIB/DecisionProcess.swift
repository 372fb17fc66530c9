import BGP
import IPAddressing

/// The steps of the decision process (RFC 4271 §9.1.2.2, RFC 4456 §9), in
/// the order they are applied; a losing path records the step it lost at.
public enum DecisionStep: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    case ineligible = 1, learnedOverLocal, localPref, asPathLength, origin, med, externalOverInternal, igpCost, routerID, clusterListLength, peerAddress

    public static func < (a: DecisionStep, b: DecisionStep) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .ineligible: "ineligible"
        case .learnedOverLocal: "learned, the speaker originates the prefix"
        case .localPref: "lower LOCAL_PREF"
        case .asPathLength: "longer AS_PATH"
        case .origin: "higher ORIGIN"
        case .med: "higher MED from the same neighbouring AS"
        case .externalOverInternal: "iBGP, an eBGP path exists"
        case .igpCost: "higher IGP cost to the next hop"
        case .routerID: "higher ORIGINATOR_ID or BGP Identifier"
        case .clusterListLength: "longer CLUSTER_LIST"
        case .peerAddress: "higher peer address"
        }
    }
}

/// The outcome for one prefix: the best path first, then the others that
/// tie with it through the IGP cost (up to `maximumPaths`, for ECMP), and
/// every other candidate with the step it lost at.
public struct Decision: Sendable {
    public var best: [Path]
    public var lost: [(path: Path, step: DecisionStep, reason: String)]
}

/// RFC 4271 §9.1.2.2 as the RFC writes it: a series of eliminations over
/// the candidate set, not a pairwise comparison (MED is only comparable
/// between paths from the same neighbouring AS, which makes a pairwise
/// order intransitive).
public struct DecisionProcess: Sendable {
    public var speaker: RIBSpeaker
    /// The IGP cost to a next hop; nil when it cannot be resolved. The
    /// caller supplies it (the agent: from the kernel's routes); by default
    /// every next hop resolves at cost 0.
    public var igpCost: @Sendable (IPAddress) -> UInt32?

    public init(speaker: RIBSpeaker, igpCost: @escaping @Sendable (IPAddress) -> UInt32? = { _ in 0 }) {
        self.speaker = speaker
        self.igpCost = igpCost
    }

    /// Why a path may not be used at all (RFC 4271 §9.1.2: unresolvable
    /// next hop, AS loop; RFC 4456 §8: reflection loops), nil when it may.
    public func ineligibility(_ path: Path) -> String? {
        let a = path.attributes.attributes
        if !path.peer.isLocal, igpCost(path.nextHop) == nil { return "next hop \(path.nextHop) is unresolvable" }
        if !speaker.isInternal(path.peer), let asPath = a.asPath {
            let own = asPath.segments.reduce(0) { $0 + $1.asns.filter { $0 == speaker.asn }.count }
            if own > path.peer.allowAsIn { return "AS_PATH holds our AS \(speaker.asn)" }
        }
        if a.originatorID == speaker.routerID { return "ORIGINATOR_ID is our router ID" }
        if a.clusterList.contains(speaker.clusterID) { return "CLUSTER_LIST holds our cluster ID" }
        return nil
    }

    public func decide(_ candidates: [Path]) -> Decision {
        var lost: [(path: Path, step: DecisionStep, reason: String)] = []
        var remaining: [Path] = []
        for p in candidates {
            if let why = ineligibility(p) { lost.append((p, .ineligible, why)) } else { remaining.append(p) }
        }
        func keep(_ step: DecisionStep, _ survives: (Path) -> Bool) {
            guard remaining.count > 1 else { return }
            var kept: [Path] = []
            for p in remaining {
                if survives(p) { kept.append(p) } else { lost.append((p, step, step.description)) }
            }
            remaining = kept
        }
        func keepBest<T: Comparable>(_ step: DecisionStep, highest: Bool = false, _ value: (Path) -> T) {
            guard let target = highest ? remaining.map(value).max() : remaining.map(value).min() else { return }
            keep(step) { value($0) == target }
        }
        // A route this speaker originates wins (BIRD's protocol preference
        // of static over BGP); the RFC's steps order the learned ones.
        if remaining.contains(where: \.peer.isLocal) { keep(.learnedOverLocal) { $0.peer.isLocal } }
        keepBest(.localPref, highest: true) { $0.localPref }
        keepBest(.asPathLength) { $0.asPathLength }
        keepBest(.origin) { $0.origin.rawValue }
        if speaker.alwaysCompareMed {
            keepBest(.med) { $0.med }
        } else {
            let lowest = Dictionary(remaining.map { ($0.neighbourAS, $0.med) }, uniquingKeysWith: min)
            keep(.med) { $0.med == lowest[$0.neighbourAS] }
        }
        if remaining.contains(where: { !speaker.isInternal($0.peer) }) {
            keep(.externalOverInternal) { !speaker.isInternal($0.peer) }
        }
        keepBest(.igpCost) { igpCost($0.nextHop) ?? .max }
        // Equal through the IGP cost: the multipath set. The rest of the
        // steps only order it (and pick the one best path).
        let tieBreak: (Path, Path) -> Bool = { a, b in
            (a.originatorOrRouterID, a.attributes.attributes.clusterList.count, a.peer.address, a.pathID)
                < (b.originatorOrRouterID, b.attributes.attributes.clusterList.count, b.peer.address, b.pathID)
        }
        let ordered = remaining.sorted(by: tieBreak)
        guard let best = ordered.first else { return Decision(best: [], lost: lost) }
        let multipath = Array(ordered.prefix(min(speaker.maximumPaths, RIBSpeaker.maximumPathsLimit)))
        for p in ordered.dropFirst(multipath.count) {
            let step: DecisionStep = p.originatorOrRouterID != best.originatorOrRouterID ? .routerID
                : p.attributes.attributes.clusterList.count != best.attributes.attributes.clusterList.count ? .clusterListLength : .peerAddress
            lost.append((p, step, step.description))
        }
        return Decision(best: multipath, lost: lost)
    }
}
