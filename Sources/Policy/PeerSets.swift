/// The named sets rules look up: peer address sets, shared by every rule
/// with the same peers, and named-port tuple sets. Each set remembers what
/// it is made of, so an endpoint event recomputes only the sets whose
/// selections it changes (`IncrementalPolicyCompiler`).
struct PeerSets {
    var sets: [String: NamedSet] = [:]
    /// Called with each set as soon as it is complete (see
    /// `PolicyCompiler.compile(_:_:finished:)`).
    var finished: (@Sendable (PolicyCompiler.Finished) -> Void)?
    var peerAddresses: [String: AddressSet] = [:]
    typealias SelectionKey = EndpointIndex.SelectionKey
    struct PeerDefinition { var selections: [SelectionKey]; var fixed: AddressSet; var intersect: AddressSet?; var subtract: AddressSet? }
    var peerDefinitions: [String: PeerDefinition] = [:]
    var peersBySelection: [SelectionKey: [String]] = [:]
    struct TupleDefinition { var selection: SelectionKey?; var portName: String; var proto: L4Protocol; var family: IPFamily; var within: String? }
    var tupleDefinitions: [String: TupleDefinition] = [:]
    /// Peer set names by peer text and family (saves re-deriving a name
    /// from the text's hash for every rule with the same peers).
    struct PeerSetKey: Hashable { var key: String; var family: IPFamily }
    var peerSetNames: [PeerSetKey: String] = [:]

    /// The address set of one peer definition (`key`: its canonical text),
    /// shared by every rule with the same peers: named by the peers, not by
    /// the rule, so its name and comment stay stable while pods come and go,
    /// and identical selections cost one set. (Few sets matter: the kernel
    /// finds a set by name with a linear walk, for every set, element
    /// message and lookup expression of a transaction.) `addrs` runs once
    /// per key.
    mutating func peerSet(_ key: String, _ f: IPFamily, _ addrs: () -> AddressSet) -> String {
        if let n = peerSetNames[PeerSetKey(key: key, family: f)] { return n }
        let n = "peers-\(Naming.hex(key))-\(Self.familyTag(f))"
        peerSetNames[PeerSetKey(key: key, family: f)] = n
        if sets[n] == nil {
            let all: AddressSet
            if let hit = peerAddresses[key] { all = hit } else { all = addrs(); peerAddresses[key] = all }
            var comment = "peers: " + key
            if comment.utf8.count > 120 { comment = String(decoding: Array(comment.utf8.prefix(117)), as: UTF8.self) + "..." }
            let set = NamedSet(name: n, kind: .addresses(f), ranges: all.ranges(f), comment: comment)
            sets[n] = set
            finished?(.set(set))
        }
        return n
    }

    mutating func tupleSet(_ name: String, _ def: TupleDefinition, _ comment: String, _ index: inout EndpointIndex) -> String {
        let n = Naming.identifier(name)
        if sets[n] == nil {
            tupleDefinitions[n] = def
            let set = NamedSet(name: n, kind: .addressProtoPort(def.family), tuples: resolve(def, &index), comment: comment)
            sets[n] = set
            finished?(.set(set))
        }
        return n
    }

    static func familyTag(_ f: IPFamily) -> String { f == .ipv4 ? "v4" : "v6" }

    static func namedPortTuples(_ eps: [Endpoint], _ name: String, _ proto: L4Protocol, within peers: AddressSet?) -> [AddressProtoPort] {
        var out: [AddressProtoPort] = []
        for e in eps {
            for np in e.ports where np.name == name && np.proto == proto {
                for a in e.addresses where peers?.contains(a) ?? true {
                    out.append(AddressProtoPort(address: a, proto: proto, port: np.port))
                }
            }
        }
        return out
    }

    /// Records a peer definition and returns its addresses.
    mutating func define(_ key: String, _ def: PeerDefinition, _ index: inout EndpointIndex) -> AddressSet {
        for k in def.selections {
            _ = index.select(k.pods, namespaces: k.namespaces, own: k.own)
            peersBySelection[k, default: []].append(key)
        }
        peerDefinitions[key] = def
        let s = resolve(def, index)
        peerAddresses[key] = s
        return s
    }

    func resolve(_ d: PeerDefinition, _ index: EndpointIndex) -> AddressSet {
        var s = d.fixed
        for k in d.selections { s = s.union(index.addresses(ofIndices: index.selectionCache[k] ?? [])) }
        if let i = d.intersect { s = s.intersection(i) }
        if let x = d.subtract { s = s.subtracting(x) }
        return s
    }

    /// The tuples of a named-port set, from its definition.
    func resolve(_ t: TupleDefinition, _ index: inout EndpointIndex) -> [AddressProtoPort] {
        let indices = t.selection.map { index.select($0.pods, namespaces: $0.namespaces, own: $0.own) } ?? (index.endpointsByPortName[t.portName] ?? [])
        let tuples = Self.namedPortTuples(
            indices.map { index.inventory.endpoints[$0] }, t.portName, t.proto, within: t.within.flatMap { peerAddresses[$0] })
        return Array(Set(tuples.filter { $0.address.family == t.family })).sorted()
    }
}
