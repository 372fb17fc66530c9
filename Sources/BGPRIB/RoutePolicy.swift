import BGP
import IPAddressing

/// Import or export policy of one peer: ordered terms, each a set of
/// matches (all must hold) and actions, then accept, reject, or go on to
/// the next term. The speaker reads it from YAML; here it is a typed value
/// whose `validate()` names the bad field.
public struct RoutePolicy: Hashable, Sendable {
    public enum Disposition: String, Hashable, Sendable { case accept, reject }

    public struct Term: Hashable, Sendable {
        public var name: String
        public var matches: [Match]
        public var actions: [Action]
        /// What a matching route gets after the actions; nil: go on to the
        /// next term with the changed route.
        public var disposition: Disposition?
        public init(name: String, matches: [Match] = [], actions: [Action] = [], disposition: Disposition? = nil) {
            self.name = name
            self.matches = matches
            self.actions = actions
            self.disposition = disposition
        }
    }

    /// A prefix-list entry: routes within `prefix` whose length is in
    /// `ge...le` (`ge` defaults to the entry's length, `le` to `ge` when
    /// neither is given, else to the family's maximum), as in BIRD and FRR.
    public struct PrefixRange: Hashable, Sendable {
        public var prefix: IPPrefix
        public var ge: Int?
        public var le: Int?
        public init(_ prefix: IPPrefix, ge: Int? = nil, le: Int? = nil) {
            self.prefix = prefix
            self.ge = ge
            self.le = le
        }

        public func contains(_ route: IPPrefix) -> Bool {
            guard prefix.contains(route) else { return false }
            let width = prefix.address.isIPv4 ? 32 : 128
            let low = ge ?? prefix.length
            let high = le ?? (ge == nil ? prefix.length : width)
            return (low...high).contains(route.length)
        }
    }

    public enum Match: Hashable, Sendable {
        /// The route's prefix is in any of the ranges.
        case prefixList([PrefixRange])
        case family(AddressFamily)
        case community(Community)
        case largeCommunity(LargeCommunity)
        /// The AS appears anywhere in the AS_PATH.
        case asPathContains(UInt32)
        /// The route originates in this AS (the AS_PATH's last AS).
        case originatesIn(UInt32)
        case nextHopIn(IPPrefix)
        /// The route came from (import) or goes to (export) a peer in this prefix.
        case neighbourIn(IPPrefix)
    }

    public enum Action: Hashable, Sendable {
        case setLocalPref(UInt32)
        case setMED(UInt32)
        case addCommunities([Community])
        case removeCommunities([Community])
        case replaceCommunities([Community])
        case addLargeCommunities([LargeCommunity])
        case removeLargeCommunities([LargeCommunity])
        case replaceLargeCommunities([LargeCommunity])
        /// Prepends an AS (1-16 times).
        case prependAS(UInt32, times: Int)
        /// Export: this speaker's address as the next hop.
        case setNextHopSelf
    }

    public var terms: [Term]
    /// For routes no term accepted or rejected.
    public var otherwise: Disposition

    public init(terms: [Term] = [], otherwise: Disposition) {
        self.terms = terms
        self.otherwise = otherwise
    }

    public static let acceptAll = RoutePolicy(otherwise: .accept)
    public static let rejectAll = RoutePolicy(otherwise: .reject)

    /// RFC 8212: without configured policy an eBGP session accepts and
    /// sends nothing; an iBGP one everything.
    public static func defaultPolicy(external: Bool) -> RoutePolicy { external ? .rejectAll : .acceptAll }

    public struct InvalidPolicy: Error, Hashable, Sendable, CustomStringConvertible {
        public var field: String
        public var problem: String
        public var description: String { "\(field): \(problem)" }
    }

    /// Checks what the types cannot; the error names the field
    /// (`terms[1].matches[0].prefixList[2].le`).
    public func validate() throws(InvalidPolicy) {
        var names = Set<String>()
        for (t, term) in terms.enumerated() {
            let at = "terms[\(t)]"
            guard !term.name.isEmpty else { throw InvalidPolicy(field: "\(at).name", problem: "must not be empty") }
            guard names.insert(term.name).inserted else { throw InvalidPolicy(field: "\(at).name", problem: "\"\(term.name)\" is used twice") }
            for (m, match) in term.matches.enumerated() {
                guard case .prefixList(let ranges) = match else { continue }
                for (r, range) in ranges.enumerated() {
                    let field = "\(at).matches[\(m)].prefixList[\(r)]"
                    let width = range.prefix.address.isIPv4 ? 32 : 128
                    for (name, value) in [("ge", range.ge), ("le", range.le)] {
                        if let value, !(range.prefix.length...width).contains(value) {
                            throw InvalidPolicy(field: "\(field).\(name)", problem: "\(value) is outside /\(range.prefix.length)-/\(width)")
                        }
                    }
                    if let ge = range.ge, let le = range.le, ge > le {
                        throw InvalidPolicy(field: "\(field).ge", problem: "\(ge) is greater than le \(le)")
                    }
                }
            }
            for (a, action) in term.actions.enumerated() {
                if case .prependAS(_, let times) = action, !(1...16).contains(times) {
                    throw InvalidPolicy(field: "\(at).actions[\(a)].times", problem: "\(times) is outside 1-16")
                }
            }
        }
    }

    /// The route as the policy leaves it.
    public struct Outcome: Hashable, Sendable {
        public var accepted: Bool
        public var attributes: PathAttributes
        public var nextHopSelf: Bool
        /// The term that decided, nil when `otherwise` did.
        public var decidedBy: String?
    }

    public func evaluate(prefix: IPPrefix, attributes: PathAttributes, nextHop: IPAddress, neighbour: IPAddress) -> Outcome {
        var out = Outcome(accepted: otherwise == .accept, attributes: attributes, nextHopSelf: false, decidedBy: nil)
        for term in terms where term.matches.allSatisfy({ matches($0, prefix, out.attributes, nextHop, neighbour) }) {
            for action in term.actions { apply(action, to: &out) }
            if let d = term.disposition {
                out.accepted = d == .accept
                out.decidedBy = term.name
                return out
            }
        }
        return out
    }

    private func matches(_ m: Match, _ prefix: IPPrefix, _ a: PathAttributes, _ nextHop: IPAddress, _ neighbour: IPAddress) -> Bool {
        switch m {
        case .prefixList(let ranges): ranges.contains { $0.contains(prefix) }
        case .family(let f): (prefix.address.isIPv4 ? AddressFamily.ipv4Unicast : .ipv6Unicast) == f
        case .community(let c): a.communities.contains(c)
        case .largeCommunity(let c): a.largeCommunities.contains(c)
        case .asPathContains(let asn): a.asPath?.segments.contains { $0.asns.contains(asn) } ?? false
        case .originatesIn(let asn): a.asPath?.segments.last?.asns.last == asn
        case .nextHopIn(let p): p.contains(nextHop)
        case .neighbourIn(let p): p.contains(neighbour)
        }
    }

    private func apply(_ action: Action, to out: inout Outcome) {
        func setCommunities(_ cs: [Community]) {
            if cs.isEmpty { out.attributes.remove(type: PathAttributeType.communities) } else { out.attributes.set(.communities(cs)) }
        }
        func setLarge(_ cs: [LargeCommunity]) {
            if cs.isEmpty { out.attributes.remove(type: PathAttributeType.largeCommunity) } else { out.attributes.set(.largeCommunities(cs)) }
        }
        let communities = out.attributes.communities, large = out.attributes.largeCommunities
        switch action {
        case .setLocalPref(let v): out.attributes.set(.localPref(v))
        case .setMED(let v): out.attributes.set(.multiExitDisc(v))
        case .addCommunities(let cs): setCommunities(communities + cs.filter { !communities.contains($0) })
        case .removeCommunities(let cs): setCommunities(communities.filter { !cs.contains($0) })
        case .replaceCommunities(let cs): setCommunities(cs)
        case .addLargeCommunities(let cs): setLarge(large + cs.filter { !large.contains($0) })
        case .removeLargeCommunities(let cs): setLarge(large.filter { !cs.contains($0) })
        case .replaceLargeCommunities(let cs): setLarge(cs)
        case .prependAS(let asn, let times):
            out.attributes.set(.asPath((out.attributes.asPath ?? ASPath()).prepending(asn, times: times)))
        case .setNextHopSelf: out.nextHopSelf = true
        }
    }
}
