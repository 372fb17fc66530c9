import Policy

/// The nf_tables expressions Caracal uses, as plain values: what a rule is
/// lowered to before it becomes libnftnl objects, and what a rule read back
/// from the kernel is decoded from.
enum KExpr: Hashable, Sendable {
    enum Register: UInt32 { case verdict = 0, r1 = 1, r2 = 2, r32_01 = 9, r32_02 = 10, r32_05 = 13 }
    enum MetaKey: UInt32 { case nfproto = 15, l4proto = 16, iifname = 6, oifname = 7, iifgroup = 21, oifgroup = 22 }
    enum Base: UInt32 { case network = 1, transport = 2 }
    enum CmpOp: UInt32 { case eq = 0, neq = 1, lte = 3, gte = 5 }

    case meta(MetaKey, UInt32)
    case cmp(UInt32, CmpOp, [UInt8])
    case payload(Base, offset: UInt32, length: UInt32, dreg: UInt32)
    case lookup(sreg: UInt32, set: String, dreg: UInt32?)
    case ctState(dreg: UInt32)
    case bitwise(sreg: UInt32, dreg: UInt32, mask: [UInt8], xor: [UInt8])
    case log(prefix: String)
    /// Every drop rule counts what it drops (`caracal policy drops`, the
    /// agent's `caracal_policy_dropped_packets_total`).
    case counter(packets: UInt64, bytes: UInt64)
    case verdict(Int32, chain: String?)
    case unknown(String)
}

// Kernel verdict codes (linux/netfilter.h and nf_tables.h).
enum KVerdict {
    static let drop: Int32 = 0, accept: Int32 = 1, `continue`: Int32 = -1, `return`: Int32 = -5, jump: Int32 = -3, goto: Int32 = -4

    static func code(_ v: Verdict) -> (Int32, String?) {
        switch v {
        case .accept: (accept, nil)
        case .drop: (drop, nil)
        case .return: (self.return, nil)
        case .jump(let c): (jump, c)
        case .goto(let c): (goto, c)
        }
    }

    static func verdict(_ code: Int32, _ chain: String?) -> Verdict? {
        switch code {
        case accept: .accept
        case drop: .drop
        case self.return: .return
        case jump: chain.map { .jump($0) }
        case goto: chain.map { .goto($0) }
        default: nil
        }
    }
}

func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
func nfproto(_ f: IPFamily) -> UInt8 { f == .ipv4 ? 2 : 10 }

enum Lowering {
    static func addressOffset(_ side: AddressSide, _ f: IPFamily) -> UInt32 {
        switch (f, side) {
        case (.ipv4, .source): 12
        case (.ipv4, .destination): 16
        case (.ipv6, .source): 8
        case (.ipv6, .destination): 24
        }
    }

    /// One-byte compare operands, made once (every rule has a few).
    static let byte: [[UInt8]] = (0...255).map { [UInt8($0)] }

    /// Emits the expressions of `m`, in order. (Through a closure: a full
    /// replace lowers thousands of rules, and arrays per match and per rule
    /// were a good share of encoding.)
    static func lower(_ m: Match, _ emit: (KExpr) -> Void) {
        switch m {
        case let .ctState(s):
            emit(.ctState(dreg: 1))
            emit(.bitwise(sreg: 1, dreg: 1, mask: le32(s.rawValue), xor: le32(0)))
            emit(.cmp(1, .neq, le32(0)))
        case let .interfacePrefix(side, p):
            emit(.meta(side == .input ? .iifname : .oifname, 1))
            emit(.cmp(1, .eq, Array(p.utf8)))
        case let .family(f):
            emit(.meta(.nfproto, 1))
            emit(.cmp(1, .eq, byte[Int(nfproto(f))]))
        case let .addressInSet(side, set, f):
            emit(.payload(.network, offset: addressOffset(side, f), length: f == .ipv4 ? 4 : 16, dreg: 1))
            emit(.lookup(sreg: 1, set: set, dreg: nil))
        case let .proto(p):
            emit(.meta(.l4proto, 1))
            emit(.cmp(1, .eq, byte[Int(p.number)]))
        case let .port(side, a, b):
            emit(.payload(.transport, offset: side == .source ? 0 : 2, length: 2, dreg: 1))
            if a == b {
                emit(.cmp(1, .eq, be16(a)))
            } else {
                emit(.cmp(1, .gte, be16(a)))
                emit(.cmp(1, .lte, be16(b)))
            }
        case let .destinationInTupleSet(set, f):
            // Concatenation in 32-bit registers, as nft lays it out.
            let v4 = f == .ipv4
            emit(.payload(.network, offset: addressOffset(.destination, f), length: v4 ? 4 : 16, dreg: 1))
            emit(.meta(.l4proto, v4 ? 9 : 2))
            emit(.payload(.transport, offset: 2, length: 2, dreg: v4 ? 10 : 13))
            emit(.lookup(sreg: 1, set: set, dreg: nil))
        case let .icmp(_, type, code):
            // Type and code are adjacent bytes; with a code both are one
            // 2-byte compare, as nft lowers `icmp type X icmp code Y`.
            if let code {
                emit(.payload(.transport, offset: 0, length: 2, dreg: 1))
                emit(.cmp(1, .eq, [type, code]))
            } else {
                emit(.payload(.transport, offset: 0, length: 1, dreg: 1))
                emit(.cmp(1, .eq, byte[Int(type)]))
            }
        }
    }

    static func lower(_ rule: Rule, _ emit: (KExpr) -> Void) {
        for m in rule.matches { lower(m, emit) }
        if let p = rule.logPrefix { emit(.log(prefix: p)) }
        if let (side, map) = rule.dispatch {
            emit(.meta(side == .input ? .iifgroup : .oifgroup, 1))
            emit(.lookup(sreg: 1, set: map, dreg: 0))
        }
        if let v = rule.verdict {
            if v == .drop { emit(.counter(packets: 0, bytes: 0)) }
            let (code, chain) = KVerdict.code(v)
            emit(.verdict(code, chain: chain))
        }
    }

    /// Decodes what `lower` produces. Anything else becomes an opaque
    /// "unrecognized" comment so a dump shows drift instead of hiding it.
    static func decode(_ exprs: [KExpr], comment: String) -> Rule {
        var rule = Rule(verdict: nil, comment: comment)
        var i = 0
        var family: IPFamily?
        var unknown: [String] = []
        var counted = false
        func at(_ k: Int) -> KExpr? { i + k < exprs.count ? exprs[i + k] : nil }
        while i < exprs.count {
            switch (at(0), at(1), at(2), at(3)) {
            case let (.ctState(1)?, .bitwise(1, 1, mask, _)?, .cmp(1, .neq, _)?, _) where mask.count == 4:
                let v = UInt32(mask[0]) | UInt32(mask[1]) << 8 | UInt32(mask[2]) << 16 | UInt32(mask[3]) << 24
                rule.matches.append(.ctState(CTStates(rawValue: v))); i += 3
            case let (.meta(key, 1)?, .lookup(1, map, 0)?, _, _) where key == .iifgroup || key == .oifgroup:
                rule.dispatch = (key == .iifgroup ? .input : .output, map); i += 2
            case let (.meta(key, 1)?, .cmp(1, .eq, bytes)?, _, _) where key == .iifname || key == .oifname:
                let name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                rule.matches.append(.interfacePrefix(key == .iifname ? .input : .output, name)); i += 2
            case let (.meta(.nfproto, 1)?, .cmp(1, .eq, bytes)?, _, _) where bytes.count == 1 && (bytes[0] == 2 || bytes[0] == 10):
                family = bytes[0] == 2 ? .ipv4 : .ipv6
                rule.matches.append(.family(family!)); i += 2
            case let (.payload(.network, off, len, 1)?, .meta(.l4proto, r)?, .payload(.transport, 2, 2, _)?, .lookup(1, set, nil)?)
                where (len == 4 && off == 16 && r == 9) || (len == 16 && off == 24 && r == 2):
                rule.matches.append(.destinationInTupleSet(set, len == 4 ? .ipv4 : .ipv6)); i += 4
            case let (.payload(.network, off, len, 1)?, .lookup(1, set, nil)?, _, _) where len == 4 || len == 16:
                let f: IPFamily = len == 4 ? .ipv4 : .ipv6
                let side: AddressSide? = off == addressOffset(.source, f) ? .source : (off == addressOffset(.destination, f) ? .destination : nil)
                if let side { rule.matches.append(.addressInSet(side, set, f)); i += 2 } else { unknown.append("\(exprs[i])"); i += 1 }
            case let (.meta(.l4proto, 1)?, .cmp(1, .eq, bytes)?, _, _) where bytes.count == 1:
                if let p = L4Protocol(number: bytes[0]) { rule.matches.append(.proto(p)) } else { unknown.append("l4proto \(bytes[0])") }
                i += 2
            case let (.payload(.transport, off, 2, 1)?, .cmp(1, .gte, lo)?, .cmp(1, .lte, hi)?, _) where off <= 2 && lo.count == 2 && hi.count == 2:
                rule.matches.append(.port(off == 0 ? .source : .destination, UInt16(lo[0]) << 8 | UInt16(lo[1]), UInt16(hi[0]) << 8 | UInt16(hi[1])))
                i += 3
            case let (.payload(.transport, 0, 2, 1)?, .cmp(1, .eq, v)?, _, _)
                where v.count == 2 && (rule.matches.last == .proto(.icmp) || rule.matches.last == .proto(.icmpv6)):
                // After an ICMP protocol match, the first two transport bytes are type and code.
                rule.matches.append(.icmp(family ?? (rule.matches.last == .proto(.icmpv6) ? .ipv6 : .ipv4), v[0], v[1])); i += 2
            case let (.payload(.transport, off, 2, 1)?, .cmp(1, .eq, v)?, _, _) where (off == 0 || off == 2) && v.count == 2:
                let port = UInt16(v[0]) << 8 | UInt16(v[1])
                rule.matches.append(.port(off == 0 ? .source : .destination, port, port)); i += 2
            case let (.payload(.transport, 0, 1, 1)?, .cmp(1, .eq, t)?, c1, c2) where t.count == 1:
                var code: UInt8?
                i += 2
                if case let (.payload(.transport, 1, 1, 1)?, .cmp(1, .eq, c)?) = (c1, c2), c.count == 1 { code = c[0]; i += 2 }
                rule.matches.append(.icmp(family ?? .ipv4, t[0], code))
            case let (.log(prefix)?, _, _, _):
                rule.logPrefix = prefix; i += 1
            case (.counter?, _, _, _):
                counted = true; i += 1
            case let (.verdict(code, chain)?, _, _, _):
                if let v = KVerdict.verdict(code, chain) { rule.verdict = v } else { unknown.append("verdict \(code)") }
                i += 1
            default:
                unknown.append("\(exprs[i])"); i += 1
            }
        }
        // A drop rule without its counter (written by an earlier version)
        // differs from what is wanted, so the next apply replaces it.
        if rule.verdict == .drop, !counted { unknown.append("drop without counter") }
        if !unknown.isEmpty {
            rule.comment = "UNRECOGNIZED [" + unknown.joined(separator: "; ") + "] " + comment
        }
        return rule
    }
}
