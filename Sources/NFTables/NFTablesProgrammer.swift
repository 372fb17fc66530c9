import CNftnl
import Logging
import Netlink
import NetNS
import Policy
#if canImport(Glibc)
import Glibc
#endif

/// Programs an intermediate `Ruleset` into table `inet caracal` and the
/// interface groups of the host veths, and reads both back. Every table
/// change is one nf_tables transaction: the kernel applies all of it or
/// none of it, so a failure leaves the previous ruleset in force.
///
/// - The first apply (or one after drift in base chains, sets' types or
///   the interface prefix) replaces the table: add, delete and re-add it
///   in the same batch.
/// - Otherwise the current state (read back from the kernel, or passed in
///   by the caller) is diffed against the desired ruleset, and only the
///   difference is sent, in an order that never leaves a pod interface
///   pointing at a missing profile:
///   1. one transaction with new sets, chains and map elements, changed
///      chains (flushed and refilled, so re-applying never duplicates
///      rules) and set element changes;
///   2. the interface groups (RTM_NEWLINK per changed veth; group 0 for a
///      veth that is no longer an endpoint);
///   3. one transaction removing profiles no veth uses any more (map
///      elements, chains, sets).
/// A veth that does not exist yet is skipped and reported as pending: it
/// stays dropped (group 0, fail closed) until an apply finds it.
/// Sendable: its sockets serialize their own requests.
public final class NFTablesProgrammer: Sendable {
    private let socket: NetfilterSocket
    private let links: RTNetlink
    private let logger = Logger(label: "caracal.nftables")

    /// Opens a netfilter and a route socket, inside `namespace` when given.
    public init(namespace: NetworkNamespace? = nil) throws {
        socket = try NetfilterSocket(namespace: namespace)
        links = try RTNetlink(namespace: namespace)
    }

    public struct ApplyReport: Sendable, CustomStringConvertible {
        public var fullReplace: Bool
        /// nf_tables messages sent (both transactions).
        public var messages: Int
        public var diff: RulesetDiff?
        /// Interface groups set (RTM_NEWLINK requests that took effect).
        public var linkChanges = 0
        /// Endpoint veths that do not exist yet: no group set, dropped
        /// until a later apply finds them.
        public var pendingInterfaces: [String] = []
        /// What is in force after this apply: the desired ruleset minus
        /// the groups of pending interfaces. Pass it as `current` to the
        /// next apply.
        public var enforced: Ruleset
        /// Time spent diffing against the current state.
        public var diffSeconds: Double = 0
        /// Time spent compiling, when the programmer compiled
        /// (`replace(compiling:for:with:)`; encoding overlaps it).
        public var compileSeconds: Double = 0
        /// Time spent building the batch (libnftnl objects into bytes;
        /// after a compile by the programmer, what was left of it).
        public var encodeSeconds: Double = 0
        /// Time spent on the link groups (part of `commitSeconds`; on a
        /// first full replace it overlaps the transaction).
        public var linkSeconds: Double = 0
        /// Time from sending a full replace's transaction to its last
        /// acknowledgement: the kernel's work.
        public var transactionSeconds: Double = 0
        /// Time spent building the batches, committing them in the kernel
        /// and setting the interface groups.
        public var commitSeconds: Double = 0
        public var description: String {
            var s = messages == 0 && linkChanges == 0 ? "no changes"
                : (fullReplace ? "replaced table" : "incremental update") + " in \(messages) nftables messages, \(linkChanges) interface groups set"
            if !pendingInterfaces.isEmpty { s += "; \(pendingInterfaces.count) endpoint interfaces not present yet (dropped until they appear)" }
            return s
        }
    }

    /// Makes the kernel's table and interface groups equal to `desired`,
    /// changing as little as possible. `current` may pass the state in
    /// force (an earlier report's `enforced`; saves the dump); by default
    /// the kernel is asked.
    @discardableResult
    public func apply(_ desired: Ruleset, current: Ruleset?? = nil) throws -> ApplyReport {
        var knownLinks: [String: UInt32]?
        let existing: Ruleset?
        if let current {
            existing = current
        } else {
            let state = try readState()
            existing = state.ruleset
            knownLinks = state.links
        }
        guard let existing else { return try replace(desired, links: knownLinks) }
        let t0 = monotonicSeconds()
        let diff = RulesetDiff(from: existing, to: desired)
        let t1 = monotonicSeconds()
        if diff.needsFullReplace { return try replace(desired, links: knownLinks) }
        var report = ApplyReport(fullReplace: false, messages: 0, diff: diff, enforced: desired, diffSeconds: t1 - t0)
        if diff.isEmpty { return report }
        let first = BatchBuffer()
        encode(diff, desired, into: first)
        if first.messageCount > 0 { try socket.sendBatch(first) }
        let t2 = monotonicSeconds()
        try setGroups(diff.groupChanges, knownLinks: knownLinks, into: &report)
        let t3 = monotonicSeconds()
        let last = BatchBuffer()
        encodeRemovals(diff, into: last)
        if last.messageCount > 0 { try socket.sendBatch(last) }
        report.messages = first.messageCount + last.messageCount
        report.linkSeconds = t3 - t2
        report.commitSeconds = monotonicSeconds() - t1
        logger.debug("incremental nftables update", metadata: ["messages": "\(report.messages)", "links": "\(report.linkChanges)"])
        return report
    }

    /// Replaces the whole table atomically, then sets the interface groups.
    @discardableResult
    public func replace(_ desired: Ruleset) throws -> ApplyReport {
        try replace(desired, links: nil)
    }

    /// Compiles `policies` for `inventory` and replaces the whole table
    /// with the result, as `replace(_:)` does; each set and chain is encoded
    /// on a second core as soon as the compiler has finished it, so most
    /// of the encoding hides behind the compile. For a node's first apply.
    ///
    /// Whether a table is in force and the links' groups are read on a
    /// third thread meanwhile. When no table is in force, nothing reads the
    /// groups yet, so they are set while the kernel takes the transaction
    /// rather than after it (a failed transaction leaves groups that
    /// nothing reads, set right by the next apply).
    public func replace(compiling policies: PolicySet, for inventory: EndpointInventory,
                        with compiler: PolicyCompiler = PolicyCompiler()) throws -> (Ruleset, ApplyReport) {
        let t0 = monotonicSeconds()
        let prefix = compiler.interfacePrefix
        let reading = BackgroundTask { [self] in (inForce: try tableExists(), links: try linkGroups(prefix: prefix)) }
        let encoder = ObjectEncoder(lanes: 1)
        let desired = compiler.compile(policies, inventory, finished: encoder.submit)
        let compiled = monotonicSeconds()
        let read = try reading.wait().get()
        var report = try replace(desired, links: read.links, encoder: encoder, groupsDuringCommit: !read.inForce)
        report.compileSeconds = compiled - t0
        return (desired, report)
    }

    /// `groupsDuringCommit`: set the interface groups on another thread
    /// while the transaction runs (only when no table is in force).
    func replace(_ desired: Ruleset, links known: [String: UInt32]?, encoder: ObjectEncoder? = nil,
                 groupsDuringCommit: Bool = false) throws -> ApplyReport {
        let t0 = monotonicSeconds()
        let head = BatchBuffer()
        KernelObjects.addTable(head)
        KernelObjects.addTable(head, delete: true)
        KernelObjects.addTable(head)
        let objects = encoder ?? {
            let all = ObjectEncoder(lanes: 2)
            all.submitAll(of: desired)
            return all
        }()
        let parts = objects.assemble(desired, after: head)
        let t1 = monotonicSeconds()
        var report = ApplyReport(fullReplace: true, messages: parts.reduce(0) { $0 + $1.messages.count }, diff: nil, enforced: desired,
                                 encodeSeconds: t1 - t0)
        // Every Caracal-prefixed link's group, so only real changes are sent
        // and absent veths cost nothing.
        let groups = { @Sendable [self] in
            let t2 = monotonicSeconds()
            var groupReport = ApplyReport(fullReplace: true, messages: 0, diff: nil, enforced: desired)
            let current = try known ?? linkGroups(prefix: desired.interfacePrefix)
            let actual = current.filter { $0.value != 0 }.map { InterfaceGroup(interface: $0.key, group: $0.value) }.sorted()
            try setGroups(RulesetDiff.groupChanges(from: actual, to: desired.interfaceGroups), knownLinks: current, into: &groupReport)
            groupReport.linkSeconds = monotonicSeconds() - t2
            return groupReport
        }
        let send = { [self] in
            let t = monotonicSeconds()
            try socket.sendBatch(parts)
            report.transactionSeconds = monotonicSeconds() - t
        }
        let grouped: ApplyReport
        if groupsDuringCommit {
            let setting = BackgroundTask(groups)
            let sent = Result { try send() }
            grouped = try setting.wait().get()
            try sent.get()
        } else {
            try send()
            grouped = try groups()
        }
        report.linkChanges = grouped.linkChanges
        report.pendingInterfaces = grouped.pendingInterfaces
        report.enforced = grouped.enforced
        report.linkSeconds = grouped.linkSeconds
        report.commitSeconds = monotonicSeconds() - t0
        return report
    }

    /// Removes Caracal's table (nothing else) after returning the groups of
    /// Caracal's veths to 0. No error when absent.
    public func deleteTable() throws {
        guard let prefix = try tablePrefix() else { return }
        let grouped = try linkGroups(prefix: prefix).filter { $0.value != 0 }
        try links.setLinkGroups(grouped.keys.sorted().map { ($0, 0) })
        let b = BatchBuffer()
        KernelObjects.addTable(b, delete: true)
        try socket.sendBatch(b)
    }

    /// Sets the changed groups. With `knownLinks` (name → group of every
    /// prefixed link), absent links are not asked for; without, the kernel
    /// answers ENODEV for them. Either way they are reported as pending and
    /// left out of `enforced`.
    func setGroups(_ changes: [InterfaceGroup], knownLinks: [String: UInt32]?, into report: inout ApplyReport) throws {
        var send: [(name: String, group: UInt32)] = []
        var pending: [String] = []
        for c in changes {
            if let knownLinks {
                guard let g = knownLinks[c.interface] else {
                    if c.group != 0 { pending.append(c.interface) }
                    continue
                }
                if g == c.group { continue }
            }
            send.append((c.interface, c.group))
        }
        let missing = try links.setLinkGroups(send)
        let missingSet = Set(missing)
        report.linkChanges += send.count - missing.count
        pending += send.filter { missingSet.contains($0.name) && $0.group != 0 }.map(\.name)
        guard !pending.isEmpty else { return }
        let p = Set(pending)
        report.pendingInterfaces = pending.sorted()
        report.enforced.interfaceGroups.removeAll { p.contains($0.interface) }
    }

    /// Name → interface group of every link whose name starts with `prefix`.
    public func linkGroups(prefix: String) throws -> [String: UInt32] {
        var out: [String: UInt32] = [:]
        for l in try links.links() where l.name.hasPrefix(prefix) { out[l.name] = l.group }
        return out
    }

    /// Step 1 of an incremental update: everything but the removal of
    /// profiles (a changed verdict for a group is delete + add here).
    func encode(_ d: RulesetDiff, _ desired: Ruleset, into b: BatchBuffer) {
        for s in d.addedSets {
            KernelObjects.addSet(b, s)
            KernelObjects.elementMessages(b, set: s.name, KernelObjects.elements(for: s), delete: false)
        }
        for c in d.addedChains { KernelObjects.addChain(b, c.name, hook: c.hook) }
        for c in d.addedChains {
            for rule in c.rules { KernelObjects.addRule(b, chain: c.name, rule) }
        }
        for c in d.changedChains {
            KernelObjects.flushChain(b, c.name)
            for rule in c.rules { KernelObjects.addRule(b, chain: c.name, rule) }
        }
        for c in d.changedSets {
            let f = c.kind.family
            let removed = c.removedRanges.flatMap { KernelObjects.rangeElements(f, $0) } + c.removedTuples.map { KernelObjects.tupleKey($0, f) }
            let added = c.addedRanges.flatMap { KernelObjects.rangeElements(f, $0) } + c.addedTuples.map { KernelObjects.tupleKey($0, f) }
            KernelObjects.elementMessages(b, set: c.name, removed, delete: true)
            KernelObjects.elementMessages(b, set: c.name, added, delete: false)
        }
        for map in Ruleset.profileMaps {
            let added = d.addedMapElements[map] ?? []
            let readded = Set(added.map(\.group))
            let changed = (d.removedMapElements[map] ?? []).filter { readded.contains($0.group) }
            KernelObjects.elementMessages(b, set: map, changed.map { KernelObjects.Element(key: KernelObjects.groupKey($0.group)) }, delete: true)
            KernelObjects.elementMessages(b, set: map, KernelObjects.mapElements(added), delete: false)
        }
    }

    /// Step 3: profiles no longer used, after the veths left them.
    func encodeRemovals(_ d: RulesetDiff, into b: BatchBuffer) {
        for map in Ruleset.profileMaps {
            let readded = Set((d.addedMapElements[map] ?? []).map(\.group))
            let stale = (d.removedMapElements[map] ?? []).filter { !readded.contains($0.group) }
            KernelObjects.elementMessages(b, set: map, stale.map { KernelObjects.Element(key: KernelObjects.groupKey($0.group)) }, delete: true)
        }
        for c in d.removedChains { KernelObjects.flushChain(b, c) }
        for c in d.removedChains { KernelObjects.deleteChain(b, c) }
        for s in d.removedSets { KernelObjects.deleteSet(b, s) }
    }

    // MARK: Reading back

    func tableExists() throws -> Bool {
        var found = false
        try socket.dump({ buf, seq in
            _ = nftnl_nlmsg_build_hdr(buf, UInt16(KernelObjects.msg(NFT_MSG_GETTABLE.rawValue)), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), seq)
        }) { hdr in
            let t = nftnl_table_alloc()!
            defer { nftnl_table_free(t) }
            if nftnl_table_nlmsg_parse(hdr, t) >= 0,
               String(cString: nftnl_table_get_str(t, attr(NFTNL_TABLE_NAME))) == Ruleset.tableName {
                found = true
            }
        }
        return found
    }

    /// The table as the kernel holds it, with the non-zero interface
    /// groups of the links carrying Caracal's prefix, or nil when there is
    /// no table.
    public func read() throws -> Ruleset? {
        try readState().ruleset
    }

    /// The table and every prefixed link's group (0 included).
    func readState() throws -> (ruleset: Ruleset?, links: [String: UInt32]?) {
        guard var r = try readTable() else { return (nil, nil) }
        let groups = try linkGroups(prefix: r.interfacePrefix)
        r.interfaceGroups = groups.filter { $0.value != 0 }.map { InterfaceGroup(interface: $0.key, group: $0.value) }.sorted()
        return (r, groups)
    }

    /// The interface prefix of the table in force (what its fail-closed
    /// rule matches), nil when there is no table.
    func tablePrefix() throws -> String? {
        guard try tableExists() else { return nil }
        return Self.interfacePrefix(try readRules(chain: PolicyCompiler.egressDispatch)[PolicyCompiler.egressDispatch] ?? [])
    }

    static func interfacePrefix(_ egressDispatchRules: [Rule]) -> String {
        var prefix = ""
        for rule in egressDispatchRules {
            for case let .interfacePrefix(_, p) in rule.matches { prefix = p }
        }
        return prefix
    }

    /// Rules by chain, in chain order (of one chain when given: the kernel
    /// filters the dump).
    func readRules(chain only: String? = nil) throws -> [String: [Rule]] {
        var rulesByChain: [String: [Rule]] = [:]
        try socket.dump({ buf, seq in
            let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(KernelObjects.msg(NFT_MSG_GETRULE.rawValue)), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), seq)
            let r = nftnl_rule_alloc()!
            nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), Ruleset.tableName)
            nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), KernelObjects.family)
            if let only { nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), only) }
            nftnl_rule_nlmsg_build_payload(nlh, r)
            nftnl_rule_free(r)
        }) { hdr in
            let r = nftnl_rule_alloc()!
            defer { nftnl_rule_free(r) }
            guard nftnl_rule_nlmsg_parse(hdr, r) >= 0,
                  String(cString: nftnl_rule_get_str(r, attr(NFTNL_RULE_TABLE))) == Ruleset.tableName else { return }
            let chain = String(cString: nftnl_rule_get_str(r, attr(NFTNL_RULE_CHAIN)))
            var comment = ""
            var len: UInt32 = 0
            if nftnl_rule_is_set(r, attr(NFTNL_RULE_USERDATA)),
               let p = nftnl_rule_get_data(r, attr(NFTNL_RULE_USERDATA), &len) {
                comment = KernelObjects.udataString(Array(UnsafeRawBufferPointer(start: p, count: Int(len))),
                                                    UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue)) ?? ""
            }
            var exprs: [KExpr] = []
            if let it = nftnl_expr_iter_create(r) {
                while let e = nftnl_expr_iter_next(it) { exprs.append(Self.decodeExpr(e)) }
                nftnl_expr_iter_destroy(it)
            }
            rulesByChain[chain, default: []].append(Lowering.decode(exprs, comment: comment))
        }
        return rulesByChain
    }

    /// The nf_tables table alone (no link state).
    public func readTable() throws -> Ruleset? {
        guard try tableExists() else { return nil }
        // Chains.
        var chains: [(String, Chain.Hook?)] = []
        try socket.dump({ buf, seq in
            _ = nftnl_nlmsg_build_hdr(buf, UInt16(KernelObjects.msg(NFT_MSG_GETCHAIN.rawValue)), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), seq)
        }) { hdr in
            let c = nftnl_chain_alloc()!
            defer { nftnl_chain_free(c) }
            guard nftnl_chain_nlmsg_parse(hdr, c) >= 0,
                  String(cString: nftnl_chain_get_str(c, attr(NFTNL_CHAIN_TABLE))) == Ruleset.tableName else { return }
            let name = String(cString: nftnl_chain_get_str(c, attr(NFTNL_CHAIN_NAME)))
            var hook: Chain.Hook?
            if nftnl_chain_is_set(c, attr(NFTNL_CHAIN_HOOKNUM)) {
                hook = nftnl_chain_get_u32(c, attr(NFTNL_CHAIN_HOOKNUM)) == UInt32(NF_INET_FORWARD.rawValue) ? .forward : .input
            }
            chains.append((name, hook))
        }
        // Sets and their elements.
        struct RawSet { var name: String; var flags: UInt32; var keyType: UInt32; var comment: String }
        var rawSets: [RawSet] = []
        try socket.dump({ buf, seq in
            let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(KernelObjects.msg(NFT_MSG_GETSET.rawValue)), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), seq)
            let s = KernelObjects.setObject("")
            nftnl_set_unset(s, attr(NFTNL_SET_NAME))
            nftnl_set_nlmsg_build_payload(nlh, s)
            nftnl_set_free(s)
        }) { hdr in
            let s = nftnl_set_alloc()!
            defer { nftnl_set_free(s) }
            guard nftnl_set_nlmsg_parse(hdr, s) >= 0,
                  String(cString: nftnl_set_get_str(s, attr(NFTNL_SET_TABLE))) == Ruleset.tableName else { return }
            var comment = ""
            var len: UInt32 = 0
            if nftnl_set_is_set(s, attr(NFTNL_SET_USERDATA)),
               let p = nftnl_set_get_data(s, attr(NFTNL_SET_USERDATA), &len) {
                let bytes = Array(UnsafeRawBufferPointer(start: p, count: Int(len)))
                comment = KernelObjects.udataString(bytes, UInt8(NFTNL_UDATA_SET_COMMENT.rawValue)) ?? ""
            }
            rawSets.append(RawSet(name: String(cString: nftnl_set_get_str(s, attr(NFTNL_SET_NAME))),
                                  flags: nftnl_set_get_u32(s, attr(NFTNL_SET_FLAGS)),
                                  keyType: nftnl_set_get_u32(s, attr(NFTNL_SET_KEY_TYPE)), comment: comment))
        }
        var ruleset = Ruleset(interfacePrefix: "")
        for raw in rawSets {
            var elems: [KernelObjects.Element] = []
            try socket.dump({ buf, seq in
                let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(KernelObjects.msg(NFT_MSG_GETSETELEM.rawValue)), UInt16(NFPROTO_INET), UInt16(NLM_F_DUMP), seq)
                let s = KernelObjects.setObject(raw.name)
                nftnl_set_elems_nlmsg_build_payload(nlh, s)
                nftnl_set_free(s)
            }) { hdr in
                let s = nftnl_set_alloc()!
                defer { nftnl_set_free(s) }
                guard nftnl_set_elems_nlmsg_parse(hdr, s) >= 0, let it = nftnl_set_elems_iter_create(s) else { return }
                defer { nftnl_set_elems_iter_destroy(it) }
                while let e = nftnl_set_elems_iter_next(it) {
                    var len: UInt32 = 0
                    let key = nftnl_set_elem_get(e, attr(NFTNL_SET_ELEM_KEY), &len)
                    var el = KernelObjects.Element(key: key.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(len))) } ?? [])
                    if nftnl_set_elem_is_set(e, attr(NFTNL_SET_ELEM_FLAGS)) {
                        el.intervalEnd = nftnl_set_elem_get_u32(e, attr(NFTNL_SET_ELEM_FLAGS)) & UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue) != 0
                    }
                    if nftnl_set_elem_is_set(e, attr(NFTNL_SET_ELEM_VERDICT)) {
                        let code = Int32(bitPattern: nftnl_set_elem_get_u32(e, attr(NFTNL_SET_ELEM_VERDICT)))
                        let chain = nftnl_set_elem_is_set(e, attr(NFTNL_SET_ELEM_CHAIN))
                            ? String(cString: nftnl_set_elem_get_str(e, attr(NFTNL_SET_ELEM_CHAIN))) : nil
                        el.verdict = KVerdict.verdict(code, chain)
                    }
                    elems.append(el)
                }
            }
            if raw.flags & UInt32(NFT_SET_MAP.rawValue) != 0 {
                let m = elems.compactMap { e -> GroupElement? in
                    guard let v = e.verdict, let g = KernelObjects.group(fromKey: e.key) else { return nil }
                    return GroupElement(group: g, verdict: v)
                }.sorted()
                if raw.name == Ruleset.fromProfileMap { ruleset.fromProfile = m } else if raw.name == Ruleset.toProfileMap { ruleset.toProfile = m }
                continue
            }
            if let set = Self.decodeSet(name: raw.name, flags: raw.flags, keyType: raw.keyType, comment: raw.comment, elems) {
                ruleset.sets.append(set)
            }
        }
        ruleset.sets.sort { $0.name < $1.name }
        let rulesByChain = try readRules()
        let baseOrder = ["forward", "input", PolicyCompiler.egressDispatch, PolicyCompiler.ingressDispatch, PolicyCompiler.noPolicyChain]
        chains.sort { a, b in
            let ia = baseOrder.firstIndex(of: a.0) ?? Int.max, ib = baseOrder.firstIndex(of: b.0) ?? Int.max
            return ia != ib ? ia < ib : a.0 < b.0
        }
        ruleset.chains = chains.map { Chain(name: $0.0, hook: $0.1, rules: rulesByChain[$0.0] ?? []) }
        ruleset.interfacePrefix = Self.interfacePrefix(ruleset.chain(named: PolicyCompiler.egressDispatch)?.rules ?? [])
        return ruleset
    }

    static func decodeSet(name: String, flags: UInt32, keyType: UInt32, comment: String, _ elems: [KernelObjects.Element]) -> NamedSet? {
        let t = KernelObjects.self
        switch keyType {
        case t.typeIPv4, t.typeIPv6:
            let f: IPFamily = keyType == t.typeIPv4 ? .ipv4 : .ipv6
            // Sort by key, ends before starts at equal keys; pair them up.
            let keyed = elems.compactMap { e -> (UInt128, Bool)? in
                guard let a = NumericAddress(bytes: e.key), a.family == f else { return nil }
                return (a.value, e.intervalEnd)
            }.sorted { ($0.0, $0.1 ? 0 : 1) < ($1.0, $1.1 ? 0 : 1) }
            var ranges: [ClosedRange<UInt128>] = []
            var open: UInt128?
            for (k, isEnd) in keyed {
                if isEnd {
                    if let s = open, k > s { ranges.append(s...(k - 1)) }
                    open = nil
                } else {
                    if let s = open { ranges.append(s...s) }  // start without end: single element
                    open = k
                }
            }
            if let s = open { ranges.append(s...(flags & UInt32(NFT_SET_INTERVAL.rawValue) != 0 ? f.maxValue : s)) }
            return NamedSet(name: name, kind: .addresses(f), ranges: AddressSet(v4: f == .ipv4 ? ranges : [], v6: f == .ipv6 ? ranges : []).ranges(f), comment: comment)
        case t.typeIPv4 << 12 | t.typeProto << 6 | t.typeService, t.typeIPv6 << 12 | t.typeProto << 6 | t.typeService:
            let f: IPFamily = keyType >> 12 == t.typeIPv4 ? .ipv4 : .ipv6
            let alen = f == .ipv4 ? 4 : 16
            let tuples = elems.compactMap { e -> AddressProtoPort? in
                guard e.key.count == alen + 8, let a = NumericAddress(bytes: Array(e.key[0..<alen])),
                      let p = L4Protocol(number: e.key[alen]) else { return nil }
                return AddressProtoPort(address: a, proto: p, port: UInt16(e.key[alen + 4]) << 8 | UInt16(e.key[alen + 5]))
            }
            return NamedSet(name: name, kind: .addressProtoPort(f), tuples: tuples.sorted(), comment: comment)
        default:
            return nil
        }
    }

    static func decodeExpr(_ e: OpaquePointer) -> KExpr {
        let name = String(cString: nftnl_expr_get_str(e, attr(NFTNL_EXPR_NAME)))
        func u32(_ a: Int32) -> UInt32 { nftnl_expr_get_u32(e, UInt16(a)) }
        func isSet(_ a: Int32) -> Bool { nftnl_expr_is_set(e, UInt16(a)) }
        func data(_ a: Int32) -> [UInt8] {
            var len: UInt32 = 0
            guard let p = nftnl_expr_get(e, UInt16(a), &len) else { return [] }
            return Array(UnsafeRawBufferPointer(start: p, count: Int(len)))
        }
        func str(_ a: Int32) -> String? { isSet(a) ? String(cString: nftnl_expr_get_str(e, UInt16(a))) : nil }
        switch name {
        case "meta":
            guard let key = KExpr.MetaKey(rawValue: u32(Int32(attr(NFTNL_EXPR_META_KEY)))), isSet(Int32(attr(NFTNL_EXPR_META_DREG))) else { break }
            return .meta(key, u32(Int32(attr(NFTNL_EXPR_META_DREG))))
        case "cmp":
            guard let op = KExpr.CmpOp(rawValue: u32(Int32(attr(NFTNL_EXPR_CMP_OP)))) else { break }
            return .cmp(u32(Int32(attr(NFTNL_EXPR_CMP_SREG))), op, data(Int32(attr(NFTNL_EXPR_CMP_DATA))))
        case "payload":
            guard let base = KExpr.Base(rawValue: u32(Int32(attr(NFTNL_EXPR_PAYLOAD_BASE)))) else { break }
            return .payload(base, offset: u32(Int32(attr(NFTNL_EXPR_PAYLOAD_OFFSET))), length: u32(Int32(attr(NFTNL_EXPR_PAYLOAD_LEN))),
                            dreg: u32(Int32(attr(NFTNL_EXPR_PAYLOAD_DREG))))
        case "lookup":
            return .lookup(sreg: u32(Int32(attr(NFTNL_EXPR_LOOKUP_SREG))), set: str(Int32(attr(NFTNL_EXPR_LOOKUP_SET))) ?? "",
                           dreg: isSet(Int32(attr(NFTNL_EXPR_LOOKUP_DREG))) ? u32(Int32(attr(NFTNL_EXPR_LOOKUP_DREG))) : nil)
        case "ct":
            guard u32(Int32(attr(NFTNL_EXPR_CT_KEY))) == UInt32(NFT_CT_STATE.rawValue) else { break }
            return .ctState(dreg: u32(Int32(attr(NFTNL_EXPR_CT_DREG))))
        case "bitwise":
            return .bitwise(sreg: u32(Int32(attr(NFTNL_EXPR_BITWISE_SREG))), dreg: u32(Int32(attr(NFTNL_EXPR_BITWISE_DREG))),
                            mask: data(Int32(attr(NFTNL_EXPR_BITWISE_MASK))), xor: data(Int32(attr(NFTNL_EXPR_BITWISE_XOR))))
        case "log":
            return .log(prefix: str(Int32(attr(NFTNL_EXPR_LOG_PREFIX))) ?? "")
        case "immediate":
            guard u32(Int32(attr(NFTNL_EXPR_IMM_DREG))) == 0 else { break }
            return .verdict(Int32(bitPattern: u32(Int32(attr(NFTNL_EXPR_IMM_VERDICT)))), chain: str(Int32(attr(NFTNL_EXPR_IMM_CHAIN))))
        default: break
        }
        return .unknown(name)
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
