import Dispatch
import Policy

/// Encodes sets (with their elements) and non-base chains' rules into
/// batch parts on background lanes, as they are handed in, and assembles
/// a full-replace transaction from them in the order the kernel needs
/// (sets, chains, maps and their elements, rules).
///
/// Encoding is a good share of a full apply. With one lane it runs on the
/// second core while `PolicyCompiler` is still compiling (objects arrive
/// through its `finished` callback); with a compiled `Ruleset` every
/// object is known at once and they are spread over two lanes.
final class ObjectEncoder: @unchecked Sendable {
    /// One serial queue and its own parts: no lane touches another's.
    private final class Lane: @unchecked Sendable {
        let queue: DispatchQueue
        let sets: BatchBuffer
        let rules = BatchBuffer()
        var setMessages: [String: Range<Int>] = [:]
        var ruleMessages: [String: Range<Int>] = [:]

        init(index: Int) {
            queue = DispatchQueue(label: "caracal.nftables.encode.\(index)")
            // Set IDs name sets within a transaction: lanes never share one,
            // nor with the assembled batch (whose own IDs start at 1).
            sets = BatchBuffer(setIDsAbove: UInt32(index + 1) << 24)
        }
    }

    private let lanes: [Lane]
    private var next = 0

    init(lanes count: Int) {
        lanes = (0..<max(1, count)).map(Lane.init)
    }

    /// Hands one finished object to the next lane. Call from one thread.
    func submit(_ object: PolicyCompiler.Finished) {
        let lane = lanes[next]
        next = (next + 1) % lanes.count
        lane.queue.async {
            switch object {
            case .set(let s):
                let start = lane.sets.messageCount
                KernelObjects.addSet(lane.sets, s)
                KernelObjects.elementMessages(lane.sets, set: s.name, KernelObjects.elements(for: s), delete: false)
                lane.setMessages[s.name] = start..<lane.sets.messageCount
            case .chain(let c):
                let start = lane.rules.messageCount
                for (j, rule) in c.rules.enumerated() { KernelObjects.addRule(lane.rules, chain: c.name, rule, index: j) }
                lane.ruleMessages[c.name] = start..<lane.rules.messageCount
            }
        }
    }

    /// Submits every set and chain of `r` (the compiled-ruleset case).
    func submitAll(of r: Ruleset) {
        for s in r.sets { submit(.set(s)) }
        for c in r.chains where c.hook == nil { submit(.chain(c)) }
    }

    /// Waits for the lanes, then appends the whole of `r` to `b`: what was
    /// submitted is copied, anything else (base chains, maps) is encoded
    /// here. Objects submitted but not in `r` (sets no rule looks up) are
    /// left out.
    func assemble(_ r: Ruleset, into b: BatchBuffer) {
        for lane in lanes { lane.queue.sync {} }
        // One allocation for what is copied (megabytes for a large table),
        // plus room for what is encoded here.
        b.batch.reserveCapacity(forAdditional: lanes.reduce(64 << 10) { $0 + $1.sets.batch.byteCount + $1.rules.batch.byteCount })
        for s in r.sets {
            if let (lane, range) = find(s.name, \.setMessages) { b.append(lane.sets, messages: range); continue }
            KernelObjects.addSet(b, s)
            KernelObjects.elementMessages(b, set: s.name, KernelObjects.elements(for: s), delete: false)
        }
        for c in r.chains { KernelObjects.addChain(b, c.name, hook: c.hook) }
        KernelObjects.addMap(b, Ruleset.fromProfileMap)
        KernelObjects.addMap(b, Ruleset.toProfileMap)
        KernelObjects.elementMessages(b, set: Ruleset.fromProfileMap, KernelObjects.mapElements(r.fromProfile), delete: false)
        KernelObjects.elementMessages(b, set: Ruleset.toProfileMap, KernelObjects.mapElements(r.toProfile), delete: false)
        for c in r.chains {
            if let (lane, range) = find(c.name, \.ruleMessages) { b.append(lane.rules, messages: range); continue }
            for (j, rule) in c.rules.enumerated() { KernelObjects.addRule(b, chain: c.name, rule, index: j) }
        }
    }

    private func find(_ name: String, _ index: KeyPath<Lane, [String: Range<Int>]>) -> (Lane, Range<Int>)? {
        for lane in lanes { if let r = lane[keyPath: index][name] { return (lane, r) } }
        return nil
    }
}
