import Dispatch
import Netlink
import Policy

/// Encodes sets (with their elements) and non-base chains' rules into
/// batch parts on background lanes, as they are handed in, and assembles
/// a full-replace transaction from them in the order the kernel needs
/// (sets, chains, maps and their elements, rules). The transaction is sent
/// from the lanes' buffers in place, with what is encoded at the end (the
/// table, chain declarations, maps, base chains' rules) as parts between.
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
            // nor with the head buffer (whose own IDs start at 1).
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
                for rule in c.rules { KernelObjects.addRule(lane.rules, chain: c.name, rule) }
                lane.ruleMessages[c.name] = start..<lane.rules.messageCount
            }
        }
    }

    /// Submits every set and chain of `r` (the compiled-ruleset case).
    func submitAll(of r: Ruleset) {
        for s in r.sets { submit(.set(s)) }
        for c in r.chains where c.hook == nil { submit(.chain(c)) }
    }

    /// Waits for the lanes, then returns the whole of `r` as transaction
    /// parts, after the `head` messages, in `r`'s order (so the kernel lists
    /// the table as `caracal policy dump` prints it): what was submitted
    /// stays in the lanes' buffers, anything else (base chains, maps) is
    /// encoded into `head`. Objects submitted but not in `r` (sets no rule
    /// looks up) are left out. Neighbouring messages of one buffer form one
    /// part; there are a few hundred for a large table.
    func assemble(_ r: Ruleset, after head: BatchBuffer) -> [NetlinkBatchSlice] {
        for lane in lanes { lane.queue.sync {} }
        var parts = [NetlinkBatchSlice(head.batch)]
        func append(_ buffer: BatchBuffer, _ range: Range<Int>) {
            if let last = parts.last, last.batch === buffer.batch, last.messages.upperBound == range.lowerBound {
                parts[parts.count - 1] = NetlinkBatchSlice(buffer.batch, last.messages.lowerBound..<range.upperBound)
            } else {
                parts.append(NetlinkBatchSlice(buffer.batch, range))
            }
        }
        func encoded(_ body: () -> Void) {
            let start = head.messageCount
            body()
            append(head, start..<head.messageCount)
        }
        for s in r.sets {
            if let (lane, range) = find(s.name, \.setMessages) { append(lane.sets, range); continue }
            encoded {
                KernelObjects.addSet(head, s)
                KernelObjects.elementMessages(head, set: s.name, KernelObjects.elements(for: s), delete: false)
            }
        }
        encoded {
            for c in r.chains { KernelObjects.addChain(head, c.name, hook: c.hook) }
            KernelObjects.addMap(head, Ruleset.fromProfileMap)
            KernelObjects.addMap(head, Ruleset.toProfileMap)
            KernelObjects.elementMessages(head, set: Ruleset.fromProfileMap, KernelObjects.mapElements(r.fromProfile), delete: false)
            KernelObjects.elementMessages(head, set: Ruleset.toProfileMap, KernelObjects.mapElements(r.toProfile), delete: false)
        }
        for c in r.chains {
            if let (lane, range) = find(c.name, \.ruleMessages) { append(lane.rules, range); continue }
            encoded { for rule in c.rules { KernelObjects.addRule(head, chain: c.name, rule) } }
        }
        return parts
    }

    private func find(_ name: String, _ index: KeyPath<Lane, [String: Range<Int>]>) -> (Lane, Range<Int>)? {
        for lane in lanes { if let r = lane[keyPath: index][name] { return (lane, r) } }
        return nil
    }
}
