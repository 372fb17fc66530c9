/// Compiles endpoint events without recompiling the whole state: the
/// compile state (endpoint classes, selections, peer and named-port set
/// definitions, profile chains) is kept between events, and an event
/// touches only
/// - the selections the endpoint matches before or after, and the sets
///   defined over them (named-port sets when it has or had named ports);
/// - its class's profile (new chains only when the class is new);
/// - its interface's group (all groups only when a hash collision moves
///   one).
/// `ruleset` is always equal to `PolicyCompiler.compile` of the same
/// policies and live endpoints (tested with random event sequences).
/// A change of policies or namespace labels, or an endpoint in a namespace
/// not seen before, recompiles everything.
public struct IncrementalPolicyCompiler: Sendable {
    public let compiler: PolicyCompiler
    public let policies: PolicySet
    private var state: CompileState
    /// Live endpoint id → index in `state.index.inventory.endpoints`.
    private var indexOfID: [String: Int] = [:]
    private var profileOfClass: [ProfileGroups.Profile?] = []
    /// Local live endpoints per profile.
    private var profileUse: [ProfileGroups.Profile: Int] = [:]
    private var groups: [ProfileGroups.Profile: UInt32] = [:]
    public private(set) var ruleset: Ruleset

    public init(_ compiler: PolicyCompiler = PolicyCompiler(), policies: PolicySet, inventory: EndpointInventory) {
        self.compiler = compiler
        self.policies = policies
        state = CompileState(policies: policies, inventory: inventory)
        ruleset = Ruleset(interfacePrefix: compiler.interfacePrefix)
        rebuild(inventory)
    }

    /// The live endpoints (with the namespaces).
    public var inventory: EndpointInventory {
        var inv = state.index.inventory
        inv.endpoints = indexOfID.values.sorted().map { state.index.inventory.endpoints[$0] }
        return inv
    }

    private mutating func rebuild(_ live: EndpointInventory) {
        dirtyPeers = []
        tuplesDirty = false
        groupChanges = []
        state = CompileState(policies: policies, inventory: live)
        indexOfID = [:]
        for (i, e) in live.endpoints.enumerated() { indexOfID[e.id] = i }
        profileOfClass = Array(repeating: nil, count: state.index.classes.count)
        profileUse = [:]
        for (i, e) in live.endpoints.enumerated() where e.interface != nil {
            profileUse[profile(ofEndpoint: i), default: 0] += 1
        }
        groups = ProfileGroups.assign(Set(profileUse.keys))
        ruleset.interfaceGroups = live.endpoints.enumerated().compactMap { i, e in
            e.interface.map { InterfaceGroup(interface: $0, group: groups[profileOfClass[state.index.classOfEndpoint[i]]!]!) }
        }.sorted()
        assemble()
    }

    private mutating func profile(ofEndpoint i: Int) -> ProfileGroups.Profile {
        let c = state.index.classOfEndpoint[i]
        if c >= profileOfClass.count { profileOfClass += Array(repeating: nil, count: c - profileOfClass.count + 1) }
        if let p = profileOfClass[c] { return p }
        let ep = state.index.inventory.endpoints[i]
        let p = state.profile(for: ep)
        profileOfClass[c] = p
        return p
    }

    /// Adds an endpoint, or replaces the one with the same namespace/name.
    public mutating func upsert(_ e: Endpoint) {
        if let old = indexOfID[e.id] { detach(old) }
        guard state.index.nsLabelCache[e.namespace] != nil else {
            // A namespace not seen before changes namespace selections: start over.
            var live = inventory
            live.endpoints.append(e)
            rebuild(live)
            return
        }
        let i = attach(e)
        if e.interface != nil { use(profile(ofEndpoint: i), +1) }
        finishEvent()
    }

    /// Removes the endpoint `namespace/name` (no-op when absent).
    public mutating func remove(id: String) {
        guard let i = indexOfID[id] else { return }
        detach(i)
        finishEvent()
    }

    // MARK: State updates

    private var dirtyPeers = Set<String>()
    private var tuplesDirty = false
    /// Interfaces whose group changes: the endpoint index, nil when it goes.
    private var groupChanges: [(String, Int?)] = []

    private mutating func attach(_ e: Endpoint) -> Int {
        let i = state.index.append(e)
        indexOfID[e.id] = i
        if !e.ports.isEmpty { tuplesDirty = true }
        // New indices are the largest: appending keeps selections sorted.
        for (key, members) in state.index.selectionCache where selects(key, e) {
            state.index.selectionCache[key] = members + [i]
            dirtyPeers.formUnion(state.peerSets.peersBySelection[key] ?? [])
            tuplesDirty = true
        }
        if let iface = e.interface { groupChanges.append((iface, i)) }
        return i
    }

    private mutating func detach(_ i: Int) {
        let e = state.index.inventory.endpoints[i]
        indexOfID[e.id] = nil
        let c = state.index.classOfEndpoint[i]
        state.index.remove(at: i)
        if !e.ports.isEmpty { tuplesDirty = true }
        for (key, members) in state.index.selectionCache where selects(key, e) {
            state.index.selectionCache[key] = members.filter { $0 != i }
            dirtyPeers.formUnion(state.peerSets.peersBySelection[key] ?? [])
            tuplesDirty = true
        }
        if let iface = e.interface {
            use(profileOfClass[c]!, -1)
            groupChanges.append((iface, nil))
        }
    }

    private func selects(_ key: EndpointIndex.SelectionKey, _ e: Endpoint) -> Bool {
        if let ns = key.namespaces {
            guard ns.matches(state.index.nsLabels(e.namespace)) else { return false }
        } else if let own = key.own, own != e.namespace {
            return false
        }
        return key.pods.matches(e.labels)
    }

    private mutating func use(_ p: ProfileGroups.Profile, _ delta: Int) {
        let n = (profileUse[p] ?? 0) + delta
        profileUse[p] = n > 0 ? n : nil
    }

    private mutating func finishEvent() {
        // Sets whose selections changed.
        for key in dirtyPeers {
            guard let def = state.peerSets.peerDefinitions[key] else { continue }
            let addrs = state.peerSets.resolve(def, state.index)
            state.peerSets.peerAddresses[key] = addrs
            for f in IPFamily.allCases {
                let name = "peers-\(Naming.hex(key))-\(PeerSets.familyTag(f))"
                state.peerSets.sets[name]?.ranges = addrs.ranges(f)
            }
        }
        if tuplesDirty || !dirtyPeers.isEmpty {
            for (name, def) in state.peerSets.tupleDefinitions where tuplesDirty || def.within.map(dirtyPeers.contains) == true {
                let tuples = state.peerSets.resolve(def, &state.index)
                state.peerSets.sets[name]?.tuples = tuples
            }
        }
        dirtyPeers = []
        tuplesDirty = false
        // Groups: renumber only when the profiles in use change.
        let assigned = ProfileGroups.assign(Set(profileUse.keys))
        let moved = assigned.contains { p, g in groups[p].map { $0 != g } ?? false }
        groups = assigned
        if moved {
            ruleset.interfaceGroups = indexOfID.values.compactMap { i -> InterfaceGroup? in
                let e = state.index.inventory.endpoints[i]
                return e.interface.map { InterfaceGroup(interface: $0, group: groups[profileOfClass[state.index.classOfEndpoint[i]]!]!) }
            }.sorted()
        } else {
            for (iface, index) in groupChanges {
                setGroup(iface, index.map { groups[profileOfClass[state.index.classOfEndpoint[$0]]!]! } ?? 0)
            }
        }
        groupChanges = []
        assemble()
    }

    /// Sorted insert, update or (group 0) removal of one interface's group.
    private mutating func setGroup(_ iface: String, _ g: UInt32) {
        var lo = 0, hi = ruleset.interfaceGroups.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ruleset.interfaceGroups[mid].interface < iface { lo = mid + 1 } else { hi = mid }
        }
        let found = lo < ruleset.interfaceGroups.count && ruleset.interfaceGroups[lo].interface == iface
        if g == 0 {
            if found { ruleset.interfaceGroups.remove(at: lo) }
        } else if found {
            ruleset.interfaceGroups[lo].group = g
        } else {
            ruleset.interfaceGroups.insert(InterfaceGroup(interface: iface, group: g), at: lo)
        }
    }

    /// Maps, chains reachable from the profiles in use, sets they reference.
    private mutating func assemble() {
        var fromProfile: [GroupElement] = [], toProfile: [GroupElement] = []
        var pending: [String] = []
        for (p, g) in groups {
            fromProfile.append(GroupElement(group: g, verdict: .goto(p.egress)))
            toProfile.append(GroupElement(group: g, verdict: .goto(p.ingress)))
            pending += [p.egress, p.ingress]
        }
        var reached = Set<String>()
        var setNames = Set<String>()
        while let name = pending.popLast() {
            guard reached.insert(name).inserted, let chain = state.chains[name] else { continue }
            for rule in chain.rules {
                switch rule.verdict {
                case .goto(let t)?, .jump(let t)?: pending.append(t)
                default: break
                }
                for m in rule.matches {
                    switch m {
                    case .addressInSet(_, let s, _), .destinationInTupleSet(let s, _): setNames.insert(s)
                    default: break
                    }
                }
            }
        }
        ruleset.chains = compiler.baseChains() + state.chains.values.filter { reached.contains($0.name) }.sorted { $0.name < $1.name }
        ruleset.sets = setNames.compactMap { state.peerSets.sets[$0] }.sorted { $0.name < $1.name }
        ruleset.fromProfile = fromProfile.sorted()
        ruleset.toProfile = toProfile.sorted()
    }
}
