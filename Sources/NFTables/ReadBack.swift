import CNftnl
import Netlink
import Policy
#if canImport(Glibc)
import Glibc
#endif

/// Packets and bytes one drop rule has dropped.
public struct DropCount: Codable, Hashable, Sendable {
    public var chain: String
    /// The rule's audit comment (`RuleOrigin`).
    public var rule: String
    public var packets: UInt64
    public var bytes: UInt64
}

/// Reading the table back: kernel dumps decoded into the same intermediate
/// `Ruleset` the programmer writes (the inverse of `KernelObjects`'
/// encoders and `Lowering`), so `caracal policy dump` shows what the
/// kernel enforces and `apply` diffs against it.
extension NFTablesProgrammer {
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
        try dumpRules(chain: only) { chain, comment, exprs in
            rulesByChain[chain, default: []].append(Lowering.decode(exprs, comment: comment))
        }
        return rulesByChain
    }

    /// What each drop rule has dropped since it was written, largest first
    /// (rules that dropped nothing too when `all`). Keyed by the rule's
    /// audit comment: the policy and direction it enforces.
    public func dropCounts(all: Bool = false) throws -> [DropCount] {
        var out: [DropCount] = []
        try dumpRules(chain: nil) { chain, comment, exprs in
            for case let .counter(packets, bytes) in exprs where all || packets > 0 {
                out.append(DropCount(chain: chain, rule: comment, packets: packets, bytes: bytes))
            }
        }
        return out.sorted { ($0.packets, $1.rule) > ($1.packets, $0.rule) }
    }

    /// Every rule of the table (of one chain when given: the kernel filters
    /// the dump) as its chain, comment and expressions.
    private func dumpRules(chain only: String?, _ each: (String, String, [KExpr]) -> Void) throws {
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
            each(chain, comment, exprs)
        }
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
        case "counter":
            return .counter(packets: nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_PACKETS)),
                            bytes: nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_BYTES)))
        case "immediate":
            guard u32(Int32(attr(NFTNL_EXPR_IMM_DREG))) == 0 else { break }
            return .verdict(Int32(bitPattern: u32(Int32(attr(NFTNL_EXPR_IMM_VERDICT)))), chain: str(Int32(attr(NFTNL_EXPR_IMM_CHAIN))))
        default: break
        }
        return .unknown(name)
    }
}
