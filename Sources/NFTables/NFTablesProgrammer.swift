import CNftnl
import Logging
import Metrics
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
    let socket: NetfilterSocket
    let links: RTNetlink
    private let logger = Logger(label: "caracal.nftables")

    /// Where each apply's time went, as swift-metrics timers (one sample
    /// per apply that did the step): `caracal_policy_diff_duration`,
    /// `caracal_policy_compile_duration` (when the programmer compiled; the
    /// encoding overlaps it), `caracal_policy_encode_duration` (libnftnl
    /// objects into bytes; after a compile, what was left of it),
    /// `caracal_policy_transaction_duration` (a full replace's transaction,
    /// sent to last ACK: the kernel's work), `caracal_policy_link_duration`
    /// (interface groups) and `caracal_policy_commit_duration` (an
    /// incremental update's batches, kernel commits and groups).
    struct Timers: Sendable {
        let diff, compile, encode, link, transaction, commit: Metrics.Timer
        init(_ factory: MetricsFactory) {
            func timer(_ step: String) -> Metrics.Timer { Metrics.Timer(label: "caracal_policy_\(step)_duration", factory: factory) }
            (diff, compile, encode, link, transaction, commit) =
                (timer("diff"), timer("compile"), timer("encode"), timer("link"), timer("transaction"), timer("commit"))
        }

        func record(_ r: ApplyReport) {
            for (timer, seconds) in [(diff, r.diffSeconds), (compile, r.compileSeconds), (encode, r.encodeSeconds), (link, r.linkSeconds),
                                     (transaction, r.transactionSeconds), (commit, r.commitSeconds)] where seconds > 0 {
                timer.recordNanoseconds(Int64(seconds * 1e9))
            }
        }
    }
    let timers: Timers

    /// Opens a netfilter and a route socket, inside `namespace` when given.
    public init(namespace: NetworkNamespace? = nil, metricsFactory: MetricsFactory = MetricsSystem.factory) throws {
        socket = try NetfilterSocket(namespace: namespace)
        links = try RTNetlink(namespace: namespace)
        timers = Timers(metricsFactory)
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
        var diffSeconds: Double = 0
        /// Time spent compiling, when the programmer compiled
        /// (`replace(compiling:for:with:)`; encoding overlaps it).
        var compileSeconds: Double = 0
        /// Time spent building the batch (libnftnl objects into bytes;
        /// after a compile by the programmer, what was left of it).
        var encodeSeconds: Double = 0
        /// Time spent on the link groups (part of `commitSeconds`; on a
        /// first full replace it overlaps the transaction).
        var linkSeconds: Double = 0
        /// Time from sending a full replace's transaction to its last
        /// acknowledgement: the kernel's work.
        var transactionSeconds: Double = 0
        /// Time spent building the batches, committing them in the kernel
        /// and setting the interface groups.
        var commitSeconds: Double = 0
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
        let report = try applyTimed(desired, current: current)
        timers.record(report)
        return report
    }

    private func applyTimed(_ desired: Ruleset, current: Ruleset??) throws -> ApplyReport {
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
        let t0 = MonotonicClock.seconds
        let diff = RulesetDiff(from: existing, to: desired)
        let t1 = MonotonicClock.seconds
        if diff.needsFullReplace { return try replace(desired, links: knownLinks) }
        var report = ApplyReport(fullReplace: false, messages: 0, diff: diff, enforced: desired, diffSeconds: t1 - t0)
        if diff.isEmpty { return report }
        let first = BatchBuffer()
        encode(diff, desired, into: first)
        if first.messageCount > 0 { try socket.sendBatch(first) }
        let t2 = MonotonicClock.seconds
        try setGroups(diff.groupChanges, knownLinks: knownLinks, into: &report)
        let t3 = MonotonicClock.seconds
        let last = BatchBuffer()
        encodeRemovals(diff, into: last)
        if last.messageCount > 0 { try socket.sendBatch(last) }
        report.messages = first.messageCount + last.messageCount
        report.linkSeconds = t3 - t2
        report.commitSeconds = MonotonicClock.seconds - t1
        logger.debug("incremental nftables update", metadata: ["messages": "\(report.messages)", "links": "\(report.linkChanges)"])
        return report
    }

    /// Replaces the whole table atomically, then sets the interface groups.
    @discardableResult
    public func replace(_ desired: Ruleset) throws -> ApplyReport {
        let report = try replace(desired, links: nil)
        timers.record(report)
        return report
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
        let t0 = MonotonicClock.seconds
        let prefix = compiler.interfacePrefix
        let reading = BackgroundTask { [self] in (inForce: try tableExists(), links: try linkGroups(prefix: prefix)) }
        let encoder = ObjectEncoder(lanes: 1)
        let desired = compiler.compile(policies, inventory, finished: encoder.submit)
        let compiled = MonotonicClock.seconds
        let read = try reading.wait().get()
        var report = try replace(desired, links: read.links, encoder: encoder, groupsDuringCommit: !read.inForce)
        report.compileSeconds = compiled - t0
        timers.record(report)
        return (desired, report)
    }

    /// `groupsDuringCommit`: set the interface groups on another thread
    /// while the transaction runs (only when no table is in force).
    func replace(_ desired: Ruleset, links known: [String: UInt32]?, encoder: ObjectEncoder? = nil,
                 groupsDuringCommit: Bool = false) throws -> ApplyReport {
        let t0 = MonotonicClock.seconds
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
        let t1 = MonotonicClock.seconds
        var report = ApplyReport(fullReplace: true, messages: parts.reduce(0) { $0 + $1.messages.count }, diff: nil, enforced: desired,
                                 encodeSeconds: t1 - t0)
        // Every Caracal-prefixed link's group, so only real changes are sent
        // and absent veths cost nothing.
        let groups = { @Sendable [self] in
            let t2 = MonotonicClock.seconds
            var groupReport = ApplyReport(fullReplace: true, messages: 0, diff: nil, enforced: desired)
            let current = try known ?? linkGroups(prefix: desired.interfacePrefix)
            let actual = current.filter { $0.value != 0 }.map { InterfaceGroup(interface: $0.key, group: $0.value) }.sorted()
            try setGroups(RulesetDiff.groupChanges(from: actual, to: desired.interfaceGroups), knownLinks: current, into: &groupReport)
            groupReport.linkSeconds = MonotonicClock.seconds - t2
            return groupReport
        }
        let send = { [self] in
            let t = MonotonicClock.seconds
            try socket.sendBatch(parts)
            report.transactionSeconds = MonotonicClock.seconds - t
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
        report.commitSeconds = MonotonicClock.seconds - t0
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
}

