/// What changes between two rulesets: the unit of an incremental update.
/// Set elements and map elements are diffed one by one; a chain whose
/// rules differ is replaced as a whole (flushed and refilled). Interface
/// group changes are link state, applied with rtnetlink after the table.
public struct RulesetDiff: Hashable, Sendable {
    public struct SetChange: Hashable, Sendable {
        public var name: String
        public var kind: NamedSet.Kind
        public var addedRanges: [ClosedRange<UInt128>] = []
        public var removedRanges: [ClosedRange<UInt128>] = []
        public var addedTuples: [AddressProtoPort] = []
        public var removedTuples: [AddressProtoPort] = []
    }
    public var addedSets: [NamedSet] = []
    public var removedSets: [String] = []
    public var changedSets: [SetChange] = []
    public var addedChains: [Chain] = []
    public var changedChains: [Chain] = []
    public var removedChains: [String] = []
    public var addedMapElements: [String: [GroupElement]] = [:]
    public var removedMapElements: [String: [GroupElement]] = [:]
    /// Host veths whose group changes (group 0: no longer an endpoint).
    public var groupChanges: [InterfaceGroup] = []
    /// Base chains, the interface prefix or a set's type or comment
    /// changed: the table is replaced in one transaction instead.
    public var needsFullReplace = false

    public var isEmpty: Bool {
        !needsFullReplace && addedSets.isEmpty && removedSets.isEmpty && changedSets.isEmpty && addedChains.isEmpty
            && changedChains.isEmpty && removedChains.isEmpty
            && addedMapElements.values.allSatisfy(\.isEmpty) && removedMapElements.values.allSatisfy(\.isEmpty)
            && groupChanges.isEmpty
    }

    public init(from old: Ruleset, to new: Ruleset) {
        if old.interfacePrefix != new.interfacePrefix { needsFullReplace = true }
        let oldSets = Dictionary(old.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newSets = Dictionary(new.sets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for s in new.sets {
            guard let o = oldSets[s.name] else { addedSets.append(s); continue }
            if o.kind != s.kind || o.comment != s.comment { needsFullReplace = true; continue }
            if o == s { continue }
            var c = SetChange(name: s.name, kind: s.kind)
            let or = Set(o.ranges), nr = Set(s.ranges)
            c.addedRanges = s.ranges.filter { !or.contains($0) }
            c.removedRanges = o.ranges.filter { !nr.contains($0) }
            let ot = Set(o.tuples), nt = Set(s.tuples)
            c.addedTuples = s.tuples.filter { !ot.contains($0) }
            c.removedTuples = o.tuples.filter { !nt.contains($0) }
            changedSets.append(c)
        }
        removedSets = old.sets.map(\.name).filter { newSets[$0] == nil }
        let oldChains = Dictionary(old.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newChains = Dictionary(new.chains.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for c in new.chains {
            guard let o = oldChains[c.name] else {
                if c.hook != nil { needsFullReplace = true }
                addedChains.append(c)
                continue
            }
            if o.hook != c.hook { needsFullReplace = true; continue }
            if o.rules != c.rules {
                if c.hook != nil { needsFullReplace = true }
                changedChains.append(c)
            }
        }
        removedChains = old.chains.filter { newChains[$0.name] == nil }.map(\.name)
        if old.chains.contains(where: { $0.hook != nil && newChains[$0.name] == nil }) { needsFullReplace = true }
        for map in Ruleset.profileMaps {
            // Both lists are sorted by group: one merge walk, no hashing.
            let o = old.map(map), n = new.map(map)
            var i = 0, j = 0
            var removed: [GroupElement] = [], added: [GroupElement] = []
            while i < o.count || j < n.count {
                if j == n.count || (i < o.count && o[i].group < n[j].group) { removed.append(o[i]); i += 1 }
                else if i == o.count || n[j].group < o[i].group { added.append(n[j]); j += 1 }
                else {
                    if o[i].verdict != n[j].verdict { removed.append(o[i]); added.append(n[j]) }
                    i += 1; j += 1
                }
            }
            removedMapElements[map] = removed
            addedMapElements[map] = added
        }
        groupChanges = Self.groupChanges(from: old.interfaceGroups, to: new.interfaceGroups)
    }

    /// The link changes from one sorted interface→group list to another:
    /// new and changed groups, and group 0 for interfaces no longer listed.
    public static func groupChanges(from o: [InterfaceGroup], to n: [InterfaceGroup]) -> [InterfaceGroup] {
        var out: [InterfaceGroup] = []
        var i = 0, j = 0
        while i < o.count || j < n.count {
            if j == n.count || (i < o.count && o[i].interface < n[j].interface) {
                if o[i].group != 0 { out.append(InterfaceGroup(interface: o[i].interface, group: 0)) }
                i += 1
            } else if i == o.count || n[j].interface < o[i].interface { out.append(n[j]); j += 1 }
            else {
                if o[i].group != n[j].group { out.append(n[j]) }
                i += 1; j += 1
            }
        }
        return out
    }

    /// Human-readable summary, one change per line, deterministic.
    public var text: String {
        var lines: [String] = []
        if needsFullReplace { lines.append("! table inet \(Ruleset.tableName) is replaced as a whole") }
        for s in addedSets { lines.append("+ set \(s.name)") }
        for c in changedSets {
            let f = c.kind.family
            for r in c.removedRanges { lines.append("- element \(c.name) { \(AddressSet.elementText(f, r)) }") }
            for r in c.addedRanges { lines.append("+ element \(c.name) { \(AddressSet.elementText(f, r)) }") }
            for t in c.removedTuples { lines.append("- element \(c.name) { \(t.address) . \(t.proto.nftName) . \(t.port) }") }
            for t in c.addedTuples { lines.append("+ element \(c.name) { \(t.address) . \(t.proto.nftName) . \(t.port) }") }
        }
        for c in addedChains {
            lines.append("+ chain \(c.name)")
            for r in c.rules { lines.append("+   " + NftRenderer.renderRule(r)) }
        }
        for c in changedChains {
            lines.append("~ chain \(c.name) (flushed and refilled)")
            for r in c.rules { lines.append("+   " + NftRenderer.renderRule(r)) }
        }
        for map in Ruleset.profileMaps {
            for e in removedMapElements[map] ?? [] { lines.append("- element \(map) { \(e.group) : \(e.verdict) }") }
            for e in addedMapElements[map] ?? [] { lines.append("+ element \(map) { \(e.group) : \(e.verdict) }") }
        }
        for g in groupChanges { lines.append("~ link \(g.interface) group \(g.group)") }
        for c in removedChains { lines.append("- chain \(c)") }
        for s in removedSets { lines.append("- set \(s)") }
        return lines.isEmpty ? "no changes\n" : lines.joined(separator: "\n") + "\n"
    }
}
