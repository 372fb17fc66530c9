/// Compiles policies plus endpoints into the intermediate `Ruleset`.
///
/// Evaluation model, per direction of each local endpoint:
/// 1. Global tier: the GlobalNetworkPolicies that select the endpoint, by
///    ascending order then name. The first rule that matches decides:
///    Allow (direction allowed), Deny (dropped), Pass (go to step 2); Log
///    logs and continues. If at least one global policy selects the
///    endpoint and no rule decides, the packet is dropped (end of tier, as
///    in Calico).
/// 2. Kubernetes tier: if any NetworkPolicy selects the endpoint for this
///    direction, it is isolated: allowed only if some rule of those
///    policies allows (union), dropped otherwise. If none selects it, the
///    direction is allowed.
/// A packet between two local pods must be allowed by the sender's egress
/// and by the receiver's ingress.
///
/// Profiles: endpoints selected by the same policies share one chain per
/// direction, so a new pod with an existing profile costs only set and map
/// elements. Chain and set names are derived from policy identities, never
/// from positions, so they are stable across recompiles.
public struct PolicyCompiler: Sendable {
    public var interfacePrefix: String

    public init(interfacePrefix: String = "crc") {
        self.interfacePrefix = interfacePrefix
    }

    public static let egressDispatch = "pod-egress"
    public static let ingressDispatch = "pod-ingress"
    public static let noPolicyChain = "no-policy"

    /// A set or chain the compiler has finished: it does not change later
    /// in the same compile (whether it ends up in the ruleset is decided at
    /// the end: a set no rule looks up is left out).
    public enum Finished: Sendable {
        case set(NamedSet)
        case chain(Chain)
    }

    /// `finished`, when given, receives every non-base chain and every set
    /// as soon as it is complete, on the compiling thread, so a programmer
    /// can encode them on another core while compiling goes on.
    public func compile(_ policies: PolicySet, _ inventory: EndpointInventory,
                        finished: (@Sendable (Finished) -> Void)? = nil) -> Ruleset {
        var state = CompileState(policies: policies, inventory: inventory)
        state.finished = finished
        // Each endpoint's profile: its (egress chain, ingress chain) pair.
        // Policies select by namespace and labels only, so endpoints of one
        // class (replicas of one workload) share a profile: it is worked out
        // once per class.
        // (Only local endpoints, those with a host interface, get profiles.)
        var profileOfClass = [ProfileGroups.Profile?](repeating: nil, count: state.index.classes.count)
        for (i, ep) in inventory.endpoints.enumerated() where ep.interface != nil {
            let c = state.index.classOfEndpoint[i]
            if profileOfClass[c] != nil { continue }
            profileOfClass[c] = state.profile(for: ep)
        }
        let groups = ProfileGroups.assign(Set(profileOfClass.compactMap { $0 }))
        var fromProfile: [GroupElement] = [], toProfile: [GroupElement] = []
        for (profile, group) in groups {
            fromProfile.append(GroupElement(group: group, verdict: .goto(profile.egress)))
            toProfile.append(GroupElement(group: group, verdict: .goto(profile.ingress)))
        }
        let groupOfClass = profileOfClass.map { $0.map { groups[$0]! } ?? 0 }
        var interfaceGroups: [InterfaceGroup] = []
        interfaceGroups.reserveCapacity(inventory.endpoints.count)
        for (i, ep) in inventory.endpoints.enumerated() {
            guard let iface = ep.interface else { continue }
            interfaceGroups.append(InterfaceGroup(interface: iface, group: groupOfClass[state.index.classOfEndpoint[i]]))
        }
        var chains = baseChains()
        chains += state.chains.values.sorted { $0.name < $1.name }
        // Only sets some rule looks up (a rule can be left out after its
        // set was made, e.g. a named port without a protocol).
        var used = Set<String>()
        for c in state.chains.values {
            for rule in c.rules {
                for m in rule.matches {
                    switch m {
                    case .addressInSet(_, let s, _), .destinationInTupleSet(let s, _): used.insert(s)
                    default: break
                    }
                }
            }
        }
        return Ruleset(interfacePrefix: interfacePrefix,
                       sets: state.peerSets.sets.values.filter { used.contains($0.name) }.sorted { $0.name < $1.name },
                       chains: chains,
                       fromProfile: fromProfile.sorted(), toProfile: toProfile.sorted(),
                       interfaceGroups: interfaceGroups.sorted())
    }

    /// ICMPv6 router solicitation, neighbour solicitation, neighbour advertisement.
    static let neighbourDiscoveryTypes: [UInt8] = [133, 135, 136]

    func baseChains() -> [Chain] {
        let p = interfacePrefix
        let established = Rule(matches: [.ctState([.established, .related])], verdict: .accept,
                               comment: RuleOrigin.builtin("established and related accepted early").description)
        let invalidIn = Rule(matches: [.interfacePrefix(.input, p), .ctState(.invalid)], verdict: .drop,
                             comment: RuleOrigin.builtin("invalid from pod dropped").description)
        let invalidOut = Rule(matches: [.interfacePrefix(.output, p), .ctState(.invalid)], verdict: .drop,
                              comment: RuleOrigin.builtin("invalid to pod dropped").description)
        let forward = Chain(name: "forward", hook: .forward, rules: [
            established, invalidIn, invalidOut,
            Rule(verdict: .jump(Self.egressDispatch), comment: RuleOrigin.builtin("sender egress policy").description),
            Rule(verdict: .jump(Self.ingressDispatch), comment: RuleOrigin.builtin("receiver ingress policy").description),
        ])
        // Pod to host goes through input: the pod's egress policy applies.
        // Host to pod (kubelet probes) goes through output and is allowed.
        // IPv6 neighbour discovery between a pod and its host side (RFC 4861
        // §4: router solicitation 133, neighbour solicitation 135 and
        // advertisement 136) is link-local and untracked by conntrack, so it
        // is neither "established" nor allowed by policies written for
        // traffic; without it an IPv6 pod under egress deny loses its gateway
        // and cannot answer the host. Calico allows the same types.
        let neighbourDiscovery = Self.neighbourDiscoveryTypes.map { type in
            Rule(matches: [.interfacePrefix(.input, p), .family(.ipv6), .proto(.icmpv6), .icmp(.ipv6, type, nil)], verdict: .accept,
                 comment: RuleOrigin.builtin("IPv6 neighbour discovery from pod to host").description)
        }
        let input = Chain(name: "input", hook: .input, rules: [established, invalidIn] + neighbourDiscovery + [
            Rule(verdict: .jump(Self.egressDispatch), comment: RuleOrigin.builtin("pod to host: sender egress policy").description),
        ])
        let egress = Chain(name: Self.egressDispatch, rules: [
            .dispatch(.input, Ruleset.fromProfileMap, prefix: p, comment: RuleOrigin.builtin("dispatch by the sending pod's profile group").description),
            Rule(matches: [.interfacePrefix(.input, p)], verdict: .drop,
                 comment: RuleOrigin.builtin("fail closed: pod interface whose group has no profile").description),
        ])
        let ingress = Chain(name: Self.ingressDispatch, rules: [
            .dispatch(.output, Ruleset.toProfileMap, prefix: p, comment: RuleOrigin.builtin("dispatch by the receiving pod's profile group").description),
            Rule(matches: [.interfacePrefix(.output, p)], verdict: .drop,
                 comment: RuleOrigin.builtin("fail closed: pod interface whose group has no profile").description),
        ])
        let noPolicy = Chain(name: Self.noPolicyChain, rules: [
            Rule(verdict: .return, comment: RuleOrigin.builtin("no policy selects this endpoint in this direction").description),
        ])
        return [forward, input, egress, ingress, noPolicy]
    }
}

/// Interface group numbers of profiles. A profile's number is a hash of
/// its chain names (which derive from policy identities), so the same
/// profile keeps its number across recompiles and agent restarts without
/// any stored allocation. When two hashes collide, the profile first in
/// sorted order keeps the number and the other probes on to the next free
/// one (rare: about n²/2³² for n profiles). Numbers stay in 1...0x7fffffff: 0 is the kernel's default group
/// (a fresh veth), and iproute2 reads groups as signed integers.
public enum ProfileGroups {
    public struct Profile: Hashable, Sendable, Comparable {
        public var egress: String
        public var ingress: String
        public init(egress: String, ingress: String) { self.egress = egress; self.ingress = ingress }
        public static func < (a: Profile, b: Profile) -> Bool { (a.egress, a.ingress) < (b.egress, b.ingress) }
    }

    public static let maxGroup: UInt32 = 0x7fff_ffff

    public static func preferred(_ p: Profile) -> UInt32 {
        UInt32(Naming.fnv1a(p.egress + "|" + p.ingress) % UInt64(maxGroup)) + 1
    }

    /// `hash` is the preferred number (a parameter so tests can force collisions).
    public static func assign(_ profiles: Set<Profile>, hash: (Profile) -> UInt32 = preferred) -> [Profile: UInt32] {
        var used = Set<UInt32>()
        var out: [Profile: UInt32] = [:]
        for p in profiles.sorted() {
            var g = hash(p)
            while used.contains(g) { g = g == maxGroup ? 1 : g + 1 }
            used.insert(g)
            out[p] = g
        }
        return out
    }
}

/// Names: nft identifiers (letters, digits, '-', '.', '_'), at most 64
/// bytes; longer ones keep a readable head plus a hash of the whole.
enum Naming {
    static func fnv1a(_ s: String) -> UInt64 {
        var s = s
        // Over the contiguous bytes: the generic UTF-8 view iterator costs
        // several times more per byte, and labels are hashed per endpoint.
        return s.withUTF8 { bytes in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
            return h
        }
    }

    static func hex(_ s: String, _ digits: Int = 12) -> String {
        let h = String(fnv1a(s), radix: 16)
        return String((String(repeating: "0", count: max(0, 16 - h.count)) + h).prefix(digits))
    }

    static func identifier(_ s: String) -> String {
        let clean = String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") ? $0 : "_" })
        if clean.utf8.count <= 64 { return clean }
        return String(clean.prefix(50)) + "_" + hex(s, 12)
    }
}

struct CompileState {
    let policies: PolicySet
    let globals: [GlobalNetworkPolicy]
    let podSelectors: [Selector]
    /// Which policies apply to a direction, precomputed (asked per endpoint class).
    let globalIsIngress: [Bool], globalIsEgress: [Bool]
    let policyIsIngress: [Bool], policyIsEgress: [Bool]
    /// NetworkPolicies by namespace, sorted by name within one.
    var policiesByNamespace: [String: [Int]] = [:]
    /// The endpoints and the selections of them (see `EndpointIndex`).
    var index: EndpointIndex
    /// The named sets the rules look up (see `PeerSets`).
    var peerSets = PeerSets()
    var chains: [String: Chain] = [:]
    /// See `PolicyCompiler.compile(_:_:finished:)`.
    var finished: (@Sendable (PolicyCompiler.Finished) -> Void)? {
        didSet { peerSets.finished = finished }
    }
    var profileByKey: [String: String] = [:]
    /// Cheap identity of a profile (indices, no strings) for the per-endpoint lookup.
    struct ProfileKey: Hashable { var direction: Direction; var globals: [Int]; var k8s: [Int] }
    var chainByProfile: [ProfileKey: String] = [:]
    var selectorTexts: [LabelSelector: String] = [:]

    init(policies: PolicySet, inventory: EndpointInventory) {
        self.policies = policies
        index = EndpointIndex(inventory)
        let gs = policies.globalPolicies.sorted(by: GlobalNetworkPolicy.precedes)
        globals = gs
        podSelectors = policies.networkPolicies.map { $0.podSelector.selector }
        globalIsIngress = gs.map { $0.types.contains(.ingress) }
        globalIsEgress = gs.map { $0.types.contains(.egress) }
        policyIsIngress = policies.networkPolicies.map { $0.policyTypes.contains(.ingress) }
        policyIsEgress = policies.networkPolicies.map { $0.policyTypes.contains(.egress) }
        // Sorted by name within a namespace, so selections come out in a canonical order.
        for i in policies.networkPolicies.indices.sorted(by: { policies.networkPolicies[$0].name < policies.networkPolicies[$1].name }) {
            policiesByNamespace[policies.networkPolicies[i].namespace, default: []].append(i)
        }
    }

    func globalSelects(_ g: GlobalNetworkPolicy, _ ep: Endpoint) -> Bool {
        g.selector.matches(ep.labels) && (g.namespaceSelector?.matches(index.nsLabels(ep.namespace)) ?? true)
    }

    // MARK: Profiles

    /// The endpoint's (egress, ingress) profile chains. Each selector is
    /// evaluated once for both directions.
    mutating func profile(for ep: Endpoint) -> ProfileGroups.Profile {
        let nsLabels = index.nsLabels(ep.namespace)
        let gs = globals.indices.filter {
            globals[$0].selector.matches(ep.labels) && (globals[$0].namespaceSelector?.matches(nsLabels) ?? true)
        }
        let ks = (policiesByNamespace[ep.namespace] ?? []).filter { podSelectors[$0].matches(ep.labels) }
        return ProfileGroups.Profile(egress: profileChain(.egress, gs.filter { globalIsEgress[$0] }, ks.filter { policyIsEgress[$0] }),
                                     ingress: profileChain(.ingress, gs.filter { globalIsIngress[$0] }, ks.filter { policyIsIngress[$0] }))
    }

    mutating func profileChain(_ d: Direction, _ gs: [Int], _ ks: [Int]) -> String {
        let key = ProfileKey(direction: d, globals: gs, k8s: ks)
        if let chain = chainByProfile[key] { return chain }
        let chain = profileChainUncached(d, gs, ks)
        chainByProfile[key] = chain
        return chain
    }

    mutating func profileChainUncached(_ d: Direction, _ gs: [Int], _ ks: [Int]) -> String {
        if gs.isEmpty { return k8sChain(d, ks) }
        // The global chain depends on the Kubernetes policies only through
        // Pass; without Pass it is shared by every Kubernetes profile.
        let passes = gs.contains { globals[$0].rules(d).contains { $0.action == .pass } }
        let target = passes ? k8sChain(d, ks) : PolicyCompiler.noPolicyChain
        return globalChain(d, gs, passTarget: target, k8sKey: passes ? ks : [])
    }

    func policyID(_ i: Int) -> String {
        let p = policies.networkPolicies[i]
        return "\(p.namespace)/\(p.name)"
    }

    mutating func k8sChain(_ d: Direction, _ ks: [Int]) -> String {
        if ks.isEmpty { return PolicyCompiler.noPolicyChain }
        let key = "k8s|\(d.short)|" + ks.map(policyID).joined(separator: ",")
        if let name = profileByKey[key] { return name }
        let name = "k8s-\(d.short)-\(Naming.hex(key))"
        profileByKey[key] = name
        var rules: [Rule] = []
        for i in ks {
            let p = policies.networkPolicies[i]
            for (ri, r) in p.rules(d).enumerated() {
                rules += k8sRule(p, i, d, ri, r)
            }
        }
        let names = ks.map(policyID).joined(separator: ", ")
        let origin = RuleOrigin(kind: .networkPolicy, name: names.count > 60 ? "\(ks.count) policies" : names,
                                direction: d, detail: "isolated, no rule allows")
        rules.append(Rule(verdict: .drop, comment: origin.description))
        let chain = Chain(name: name, rules: rules)
        chains[name] = chain
        finished?(.chain(chain))
        return name
    }

    mutating func globalChain(_ d: Direction, _ gs: [Int], passTarget: String, k8sKey: [Int]) -> String {
        let key = "gnp|\(d.short)|" + gs.map { globals[$0].name }.joined(separator: ",") + "|" + k8sKey.map(policyID).joined(separator: ",")
        if let name = profileByKey[key] { return name }
        let name = "gnp-\(d.short)-\(Naming.hex(key))"
        profileByKey[key] = name
        var rules: [Rule] = []
        for gi in gs {
            let g = globals[gi]
            for (ri, r) in g.rules(d).enumerated() {
                rules += globalRule(g, d, ri, r, passTarget: passTarget)
            }
        }
        rules.append(Rule(verdict: .drop, comment: RuleOrigin(kind: .globalNetworkPolicy, name: "tier", direction: d,
                                                              detail: "end of global tier, no rule decided").description))
        let chain = Chain(name: name, rules: rules)
        chains[name] = chain
        finished?(.chain(chain))
        return name
    }

    mutating func peerText(_ p: NetworkPolicy, _ peer: NetworkPolicyPeer) -> String {
        switch peer {
        case let .pods(podSel, nsSel):
            let pods = podSel.map { selectorText($0) } ?? "all()"
            guard let nsSel else { return "pods \(pods) in namespace \(p.namespace)" }
            return "pods \(pods) in namespaces \(selectorText(nsSel))"
        case let .ipBlock(cidr, except):
            return "ipBlock \(cidr)" + (except.isEmpty ? "" : " except " + except.map(\.description).joined(separator: ","))
        }
    }

    /// A label selector in the expression language. Cached: peers repeat
    /// the same few selectors (a namespace's, an app's) across policies,
    /// and converting and printing one costs more than hashing it (though
    /// little: the hash of its labels is most of what is left).
    mutating func selectorText(_ s: LabelSelector) -> String {
        if let hit = selectorTexts[s] { return hit }
        let text = "\(s.selector)"
        selectorTexts[s] = text
        return text
    }

    static func entityText(_ e: EntityRule) -> String {
        var parts: [String] = []
        if e.selector != nil || e.namespaceSelector != nil {
            parts.append("selector \(e.selector ?? .all) in namespaces \(e.namespaceSelector ?? .all)")
        }
        if !e.nets.isEmpty { parts.append("nets " + e.nets.map(\.description).joined(separator: ",")) }
        if !e.notNets.isEmpty { parts.append("notNets " + e.notNets.map(\.description).joined(separator: ",")) }
        return "global " + parts.joined(separator: " ")
    }

    // MARK: Kubernetes rules

    mutating func k8sRule(_ p: NetworkPolicy, _ pi: Int, _ d: Direction, _ ri: Int, _ r: NetworkPolicyRule) -> [Rule] {
        let origin = RuleOrigin(kind: .networkPolicy, namespace: p.namespace, name: p.name, direction: d, ruleIndex: ri)
        let comment = origin.description
        var base: String { "k8s-\(p.namespace)-\(p.name)-\(d.short)\(ri)" }
        let peerSide: AddressSide = d == .ingress ? .source : .destination
        var peerAddrs: AddressSet?
        var peerKey = ""
        var families: [IPFamily?] = [nil]
        if !r.peers.isEmpty {
            var v4 = false, v6 = false
            for peer in r.peers {
                switch peer {
                case .pods: (v4, v6) = (true, true)
                case let .ipBlock(cidr, _): if cidr.family == .ipv4 { v4 = true } else { v6 = true }
                }
            }
            // The peer text is built from cached selector texts rather than
            // looked up by hashing the whole peer list.
            peerKey = r.peers.map { peerText(p, $0) }.joined(separator: "; ")
            if let hit = peerSets.peerAddresses[peerKey] { peerAddrs = hit } else {
                var def = PeerSets.PeerDefinition(selections: [], fixed: AddressSet(), intersect: nil, subtract: nil)
                for peer in r.peers {
                    switch peer {
                    case let .pods(podSel, nsSel):
                        def.selections.append(EndpointIndex.SelectionKey(pods: podSel?.selector ?? .all, namespaces: nsSel?.selector,
                                                           own: nsSel == nil ? p.namespace : nil))
                    case let .ipBlock(cidr, except):
                        def.fixed = def.fixed.union(AddressSet([cidr]).subtracting(AddressSet(except)))
                    }
                }
                peerAddrs = peerSets.define(peerKey, def, &index)
            }
            families = (v4 ? [.ipv4] : []) + (v6 ? [.ipv6] : [])
        } else if r.ports.contains(where: { if case .named = $0.port { true } else { false } }) {
            families = IPFamily.allCases
        }
        var rules: [Rule] = []
        for f in families {
            var common: [Match] = []
            if let f {
                common.append(.family(f))
                if let peerAddrs {
                    common.append(.addressInSet(peerSide, peerSets.peerSet(peerKey, f) { peerAddrs }, f))
                }
            }
            if r.ports.isEmpty {
                rules.append(Rule(matches: common, verdict: .return, comment: comment))
            }
            for (pj, port) in r.ports.enumerated() {
                var m = common
                // A named port's tuple set carries the protocol itself.
                if case .named? = port.port {} else { m.append(.proto(port.proto)) }
                switch port.port {
                case nil: break
                case let .range(a, b)?: m.append(.port(.destination, a, b))
                case let .named(name)?:
                    guard let f else { continue }
                    // Ingress: the name is resolved on the selected (receiving)
                    // pods; egress: on the peers.
                    let def: PeerSets.TupleDefinition
                    if d == .ingress {
                        def = PeerSets.TupleDefinition(selection: EndpointIndex.SelectionKey(pods: podSelectors[pi], namespaces: nil, own: p.namespace),
                                              portName: name, proto: port.proto, family: f, within: nil)
                    } else {
                        def = PeerSets.TupleDefinition(selection: nil, portName: name, proto: port.proto, family: f,
                                              within: peerAddrs == nil ? nil : peerKey)
                    }
                    let set = peerSets.tupleSet("\(base)-p\(pj)-\(PeerSets.familyTag(f))", def, comment + " port \(name)", &index)
                    m.append(.destinationInTupleSet(set, f))
                }
                rules.append(Rule(matches: m, verdict: .return, comment: comment))
            }
        }
        return rules
    }

    // MARK: Global rules

    mutating func entityAddresses(_ e: EntityRule) -> AddressSet? {
        guard e.constrainsAddresses else { return nil }
        let key = Self.entityText(e)
        if let hit = peerSets.peerAddresses[key] { return hit }
        var def = PeerSets.PeerDefinition(selections: [], fixed: AddressSet(), intersect: nil, subtract: AddressSet(e.notNets))
        if e.selector != nil || e.namespaceSelector != nil {
            def.selections = [EndpointIndex.SelectionKey(pods: e.selector ?? .all, namespaces: e.namespaceSelector, own: nil)]
        } else {
            def.fixed = AddressSet.everything(.ipv4).union(.everything(.ipv6))
        }
        if !e.nets.isEmpty { def.intersect = AddressSet(e.nets) }
        return peerSets.define(key, def, &index)
    }

    static func entityFamilies(_ e: EntityRule) -> Set<IPFamily>? {
        guard e.constrainsAddresses else { return nil }
        if e.selector != nil || e.namespaceSelector != nil || e.nets.isEmpty { return Set(IPFamily.allCases) }
        return Set(e.nets.map(\.family))
    }

    mutating func globalRule(_ g: GlobalNetworkPolicy, _ d: Direction, _ ri: Int, _ r: GlobalRule, passTarget: String) -> [Rule] {
        let origin = RuleOrigin(kind: .globalNetworkPolicy, name: g.name, direction: d, ruleIndex: ri, detail: r.action.rawValue)
        let comment = origin.description
        let base = "gnp-\(g.name)-\(d.short)\(ri)"
        let src = entityAddresses(r.source), dst = entityAddresses(r.destination)
        var families: [IPFamily?]
        let hasNamed = r.destination.ports.contains { if case .named = $0 { true } else { false } }
        if r.proto == .icmp { families = [.ipv4] }
        else if r.proto == .icmpv6 { families = [.ipv6] }
        else {
            var fams: Set<IPFamily>?
            for e in [r.source, r.destination] {
                if let f = Self.entityFamilies(e) { fams = (fams ?? []).union(f) }
            }
            if hasNamed { fams = Set(IPFamily.allCases) }
            families = fams.map { $0.sorted() } ?? [nil]
        }
        let sports: [PortMatch?] = r.source.ports.isEmpty ? [nil] : r.source.ports
        let dports: [PortMatch?] = r.destination.ports.isEmpty ? [nil] : r.destination.ports
        let verdict: Verdict?
        switch r.action {
        case .allow: verdict = .return
        case .deny: verdict = .drop
        case .pass: verdict = .goto(passTarget)
        case .log: verdict = nil
        }
        let logPrefix = r.action == .log ? String("caracal \(g.name) \(d.short)\(ri): ".prefix(120)) : nil
        var rules: [Rule] = []
        for f in families {
            var common: [Match] = []
            if let f {
                common.append(.family(f))
                if let src {
                    common.append(.addressInSet(.source, peerSets.peerSet(Self.entityText(r.source), f) { src }, f))
                }
                if let dst {
                    common.append(.addressInSet(.destination, peerSets.peerSet(Self.entityText(r.destination), f) { dst }, f))
                }
            }
            if let p = r.proto, !(hasNamed && r.destination.ports.count == 1) { common.append(.proto(p)) }
            if let icmp = r.icmp, let f { common.append(.icmp(f, icmp.type, icmp.code)) }
            for sp in sports {
                for (pj, dp) in dports.enumerated() {
                    var m = common
                    if case let .range(a, b)? = sp { m.append(.port(.source, a, b)) }
                    switch dp {
                    case nil: break
                    case let .range(a, b)?: m.append(.port(.destination, a, b))
                    case let .named(name)?:
                        guard let f, let p = r.proto else { continue }
                        let def = PeerSets.TupleDefinition(selection: EndpointIndex.SelectionKey(pods: r.destination.selector ?? .all,
                                                                          namespaces: r.destination.namespaceSelector, own: nil),
                                                  portName: name, proto: p, family: f,
                                                  within: dst == nil ? nil : Self.entityText(r.destination))
                        let set = peerSets.tupleSet("\(base)-p\(pj)-\(PeerSets.familyTag(f))", def, comment + " port \(name)", &index)
                        m.append(.destinationInTupleSet(set, f))
                    }
                    rules.append(Rule(matches: m, logPrefix: logPrefix, verdict: verdict, comment: comment))
                }
            }
        }
        return rules
    }
}
