/// The endpoints the compiler works on, indexed so that compiling stays
/// near-linear in pods × the policies that can select them, not all pods ×
/// all policies. Endpoints with the same namespace and labels form a class:
/// selectors are evaluated once per class. Selections are cached: many
/// rules share selectors.
///
/// Endpoint indices are stable: `IncrementalPolicyCompiler` appends new
/// endpoints and leaves removed ones in place, dropped from every index.
struct EndpointIndex {
    var inventory: EndpointInventory
    struct EndpointClass { var namespace: String; var labels: [String: String]; var members: [Int] }
    var classes: [EndpointClass] = []
    var classOfEndpoint: [Int] = []
    var classesByNamespace: [String: [Int]] = [:]
    var endpointsByPortName: [String: [Int]] = [:]
    struct ClassKey: Hashable {
        var namespace: String
        var labels: [String: String]

        /// Asked once per endpoint. A dictionary's own hash runs a seeded
        /// hasher per element; an order-independent sum of FNV-1a hashes is
        /// a fraction of that (equality stays exact).
        func hash(into hasher: inout Hasher) {
            hasher.combine(namespace)
            var sum: UInt64 = 0
            for (k, v) in labels { sum &+= Naming.fnv1a(k) &* 0x9E37_79B9_7F4A_7C15 ^ Naming.fnv1a(v) }
            hasher.combine(sum)
        }
    }
    var classIndex: [ClassKey: Int] = [:]
    /// Every namespace of the inventory or of an endpoint, sorted, and
    /// their labels (same order).
    private(set) var allNamespaces: [String] = []
    private(set) var allNamespaceLabels: [[String: String]] = []
    var nsLabelCache: [String: [String: String]] = [:]
    /// What selects a set of endpoints: pods by labels, in namespaces by
    /// labels (or only `own`; everywhere when neither).
    struct SelectionKey: Hashable { var pods: Selector; var namespaces: Selector?; var own: String? }
    var selectionCache: [SelectionKey: [Int]] = [:]
    /// Namespaces by namespace selector (few distinct ones, asked per peer).
    var namespaceSelection: [Selector: [String]] = [:]

    init(_ inventory: EndpointInventory) {
        self.inventory = inventory
        classOfEndpoint.reserveCapacity(inventory.endpoints.count)
        for i in inventory.endpoints.indices { indexEndpoint(at: i) }
        // Every endpoint's namespace has classes: no pass over the endpoints.
        allNamespaces = Set(classesByNamespace.keys).union(inventory.namespaces.keys).sorted()
        allNamespaceLabels = allNamespaces.map { inventory.namespaceLabels($0) }
        for (ns, labels) in zip(allNamespaces, allNamespaceLabels) { nsLabelCache[ns] = labels }
    }

    /// Adds an endpoint (it goes last) to the indexes; returns its index.
    /// Cached selections are the caller's to update.
    mutating func append(_ e: Endpoint) -> Int {
        inventory.endpoints.append(e)
        let i = inventory.endpoints.count - 1
        indexEndpoint(at: i)
        return i
    }

    /// Drops endpoint `i` from the indexes (its index stays taken).
    mutating func remove(at i: Int) {
        let e = inventory.endpoints[i]
        classes[classOfEndpoint[i]].members.removeAll { $0 == i }
        for name in Set(e.ports.map(\.name)) { endpointsByPortName[name]?.removeAll { $0 == i } }
    }

    private mutating func indexEndpoint(at i: Int) {
        let e = inventory.endpoints[i]
        let key = ClassKey(namespace: e.namespace, labels: e.labels)
        if let c = classIndex[key] {
            classes[c].members.append(i)
            classOfEndpoint.append(c)
        } else {
            classIndex[key] = classes.count
            classesByNamespace[e.namespace, default: []].append(classes.count)
            classOfEndpoint.append(classes.count)
            classes.append(EndpointClass(namespace: e.namespace, labels: e.labels, members: [i]))
        }
        for name in Set(e.ports.map(\.name)) { endpointsByPortName[name, default: []].append(i) }
    }

    /// Endpoints whose labels match `pods`, in namespaces matching
    /// `namespaces` (or in `own` when no namespace selector; everywhere when
    /// neither). Cached: many rules share selectors.
    mutating func select(_ pods: Selector, namespaces: Selector?, own: String?) -> [Int] {
        let key = SelectionKey(pods: pods, namespaces: namespaces, own: own)
        if let hit = selectionCache[key] { return hit }
        let spaces: [String]
        if let namespaces {
            if let hit = namespaceSelection[namespaces] { spaces = hit } else {
                spaces = allNamespaces.indices.filter { namespaces.matches(allNamespaceLabels[$0]) }.map { allNamespaces[$0] }
                namespaceSelection[namespaces] = spaces
            }
        }
        else if let own { spaces = [own] }
        else { spaces = allNamespaces }
        var out: [Int] = []
        for ns in spaces {
            for c in classesByNamespace[ns] ?? [] where pods.matches(classes[c].labels) { out += classes[c].members }
        }
        out.sort()
        selectionCache[key] = out
        return out
    }

    func addresses(ofIndices idx: [Int]) -> AddressSet {
        AddressSet(addresses: idx.flatMap { inventory.endpoints[$0].addresses })
    }

    func nsLabels(_ ns: String) -> [String: String] { nsLabelCache[ns] ?? inventory.namespaceLabels(ns) }
}
