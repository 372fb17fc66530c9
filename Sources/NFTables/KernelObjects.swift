import CNftnl
import Netlink
import Policy
#if canImport(Glibc)
import Glibc
#endif

/// Turns intermediate-ruleset pieces into nf_tables messages (through
/// libnftnl objects) and kernel dump replies back into them.
enum KernelObjects {
    /// The table's name as a C string, made once. (Passing a Swift
    /// `String` where C wants `const char *` copies it into a fresh array
    /// per call; a full replace names the table ~5000 times. Names that
    /// vary go through `withCString`, which does not copy a native string.)
    nonisolated(unsafe) static let tableC = UnsafePointer(strdup(Ruleset.tableName)!)
    static let family = UInt32(NFPROTO_INET)

    // nft's datatype numbers (so `nft list` shows the types).
    static let typeIPv4: UInt32 = 7, typeIPv6: UInt32 = 8, typeProto: UInt32 = 12, typeService: UInt32 = 13, typeDevgroup: UInt32 = 35

    static func msg(_ t: UInt32) -> UInt32 { caracal_nft_msg(UInt16(t)) }

    // MARK: Userdata (comments)

    /// One TLV: type, length, the string (at most 126 bytes) and its NUL.
    /// Built in one allocation: every rule has one.
    static func udata(_ type: UInt8, _ s: String) -> [UInt8] {
        let n = min(s.utf8.count, 126)
        return [UInt8](unsafeUninitializedCapacity: n + 3) { out, count in
            out[0] = type
            out[1] = UInt8(n + 1)
            var s = s
            if n > 0 { s.withUTF8 { (out.baseAddress! + 2).update(from: $0.baseAddress!, count: n) } }
            out[n + 2] = 0
            count = n + 3
        }
    }

    static func udataString(_ data: [UInt8], _ type: UInt8) -> String? {
        var i = 0
        while i + 2 <= data.count {
            let t = data[i], l = Int(data[i + 1])
            guard i + 2 + l <= data.count else { return nil }
            if t == type { return String(decoding: data[(i + 2)..<(i + 2 + l)].prefix { $0 != 0 }, as: UTF8.self) }
            i += 2 + l
        }
        return nil
    }

    // MARK: Building

    static func addTable(_ b: BatchBuffer, delete: Bool = false) {
        let t = nftnl_table_alloc()!
        defer { nftnl_table_free(t) }
        nftnl_table_set_str(t, attr(NFTNL_TABLE_NAME), tableC)
        nftnl_table_set_u32(t, attr(NFTNL_TABLE_FAMILY), family)
        b.add(msg(delete ? NFT_MSG_DELTABLE.rawValue : NFT_MSG_NEWTABLE.rawValue), flags: delete ? 0 : NLM_F_CREATE) { nftnl_table_nlmsg_build_payload($0, t) }
    }

    static func chainObject(_ name: String, hook: Chain.Hook?) -> OpaquePointer {
        let c = nftnl_chain_alloc()!
        nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TABLE), tableC)
        name.withCString { _ = nftnl_chain_set_str(c, attr(NFTNL_CHAIN_NAME), $0) }
        nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_FAMILY), family)
        if let hook {
            nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TYPE), "filter")
            nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_HOOKNUM), UInt32(hook == .forward ? NF_INET_FORWARD.rawValue : NF_INET_LOCAL_IN.rawValue))
            nftnl_chain_set_s32(c, attr(NFTNL_CHAIN_PRIO), 0)
            nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_POLICY), UInt32(NF_ACCEPT))
        }
        return c
    }

    static func addChain(_ b: BatchBuffer, _ name: String, hook: Chain.Hook?) {
        let c = chainObject(name, hook: hook)
        defer { nftnl_chain_free(c) }
        b.add(msg(NFT_MSG_NEWCHAIN.rawValue), flags: NLM_F_CREATE) { nftnl_chain_nlmsg_build_payload($0, c) }
    }

    static func deleteChain(_ b: BatchBuffer, _ name: String) {
        let c = chainObject(name, hook: nil)
        defer { nftnl_chain_free(c) }
        b.add(msg(NFT_MSG_DELCHAIN.rawValue), flags: 0) { nftnl_chain_nlmsg_build_payload($0, c) }
    }

    /// Deletes every rule of a chain (a flush), inside the transaction.
    static func flushChain(_ b: BatchBuffer, _ name: String) {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), tableC)
        name.withCString { _ = nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), $0) }
        nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), family)
        b.add(msg(NFT_MSG_DELRULE.rawValue), flags: 0) { nftnl_rule_nlmsg_build_payload($0, r) }
    }

    static func addRule(_ b: BatchBuffer, chain: String, _ rule: Rule) {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), tableC)
        chain.withCString { _ = nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), $0) }
        nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), family)
        Lowering.lower(rule) { nftnl_rule_add_expr(r, expression($0)) }
        if !rule.comment.isEmpty {
            let u = udata(UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue), rule.comment)
            u.withUnsafeBytes { _ = nftnl_rule_set_data(r, attr(NFTNL_RULE_USERDATA), $0.baseAddress, UInt32($0.count)) }
        }
        b.add(msg(NFT_MSG_NEWRULE.rawValue), flags: NLM_F_CREATE | NLM_F_APPEND) { nftnl_rule_nlmsg_build_payload($0, r) }
    }

    /// (Each type is named by a literal, which C gets without a copy.)
    static func expression(_ e: KExpr) -> OpaquePointer {
        func setData(_ x: OpaquePointer, _ attr: Int32, _ bytes: [UInt8]) {
            bytes.withUnsafeBytes { _ = nftnl_expr_set(x, UInt16(attr), $0.baseAddress, UInt32($0.count)) }
        }
        switch e {
        case let .meta(key, dreg):
            let x = nftnl_expr_alloc("meta")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_META_KEY), key.rawValue)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_META_DREG), dreg)
            return x
        case let .cmp(sreg, op, data):
            let x = nftnl_expr_alloc("cmp")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CMP_SREG), sreg)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CMP_OP), op.rawValue)
            setData(x, Int32(attr(NFTNL_EXPR_CMP_DATA)), data)
            return x
        case let .payload(base, offset, length, dreg):
            let x = nftnl_expr_alloc("payload")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_LEN), length)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_PAYLOAD_DREG), dreg)
            return x
        case let .lookup(sreg, set, dreg):
            let x = nftnl_expr_alloc("lookup")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_LOOKUP_SREG), sreg)
            set.withCString { _ = nftnl_expr_set_str(x, attr(NFTNL_EXPR_LOOKUP_SET), $0) }
            if let dreg { nftnl_expr_set_u32(x, attr(NFTNL_EXPR_LOOKUP_DREG), dreg) }
            return x
        case let .ctState(dreg):
            let x = nftnl_expr_alloc("ct")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CT_KEY), UInt32(NFT_CT_STATE.rawValue))
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_CT_DREG), dreg)
            return x
        case let .bitwise(sreg, dreg, mask, xor):
            let x = nftnl_expr_alloc("bitwise")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_SREG), sreg)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_DREG), dreg)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            setData(x, Int32(attr(NFTNL_EXPR_BITWISE_MASK)), mask)
            setData(x, Int32(attr(NFTNL_EXPR_BITWISE_XOR)), xor)
            return x
        case let .log(prefix):
            let x = nftnl_expr_alloc("log")!
            nftnl_expr_set_str(x, attr(NFTNL_EXPR_LOG_PREFIX), prefix)
            return x
        case let .counter(packets, bytes):
            let x = nftnl_expr_alloc("counter")!
            nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_PACKETS), packets)
            nftnl_expr_set_u64(x, attr(NFTNL_EXPR_CTR_BYTES), bytes)
            return x
        case let .verdict(code, chain):
            let x = nftnl_expr_alloc("immediate")!
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_IMM_DREG), 0)
            nftnl_expr_set_u32(x, attr(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: code))
            if let chain { chain.withCString { _ = nftnl_expr_set_str(x, attr(NFTNL_EXPR_IMM_CHAIN), $0) } }
            return x
        case .unknown:
            preconditionFailure("unknown expressions are only produced by decoding")
        }
    }

    // MARK: Sets

    static func setObject(_ name: String) -> OpaquePointer {
        let s = nftnl_set_alloc()!
        nftnl_set_set_str(s, attr(NFTNL_SET_TABLE), tableC)
        name.withCString { _ = nftnl_set_set_str(s, attr(NFTNL_SET_NAME), $0) }
        nftnl_set_set_u32(s, attr(NFTNL_SET_FAMILY), family)
        return s
    }

    static func addSet(_ b: BatchBuffer, _ set: NamedSet) {
        let s = setObject(set.name)
        nftnl_set_set_u32(s, attr(NFTNL_SET_ID), b.nextSetID())
        defer { nftnl_set_free(s) }
        let f = set.kind.family
        let addrType = f == .ipv4 ? typeIPv4 : typeIPv6
        let addrLen: UInt32 = f == .ipv4 ? 4 : 16
        switch set.kind {
        case .addresses:
            nftnl_set_set_u32(s, attr(NFTNL_SET_FLAGS), UInt32(NFT_SET_INTERVAL.rawValue))
            nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_TYPE), addrType)
            nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_LEN), addrLen)
        case .addressProtoPort:
            nftnl_set_set_u32(s, attr(NFTNL_SET_FLAGS), 0)
            nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_TYPE), addrType << 12 | typeProto << 6 | typeService)
            nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_LEN), addrLen + 8)
        }
        var u = [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + le32(2)  // big endian
        if !set.comment.isEmpty { u += udata(UInt8(NFTNL_UDATA_SET_COMMENT.rawValue), set.comment) }
        u.withUnsafeBytes { _ = nftnl_set_set_data(s, attr(NFTNL_SET_USERDATA), $0.baseAddress, UInt32($0.count)) }
        b.add(msg(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE) { nftnl_set_nlmsg_build_payload($0, s) }
    }

    static func addMap(_ b: BatchBuffer, _ name: String) {
        let s = setObject(name)
        nftnl_set_set_u32(s, attr(NFTNL_SET_ID), b.nextSetID())
        defer { nftnl_set_free(s) }
        nftnl_set_set_u32(s, attr(NFTNL_SET_FLAGS), UInt32(NFT_SET_MAP.rawValue))
        nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_TYPE), typeDevgroup)
        nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_LEN), 4)
        nftnl_set_set_u32(s, attr(NFTNL_SET_DATA_TYPE), NFT_DATA_VERDICT.rawValue)
        nftnl_set_set_u32(s, attr(NFTNL_SET_DATA_LEN), 0)
        let u = [UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), 4] + le32(1)  // devgroup: host order, as nft has it
        u.withUnsafeBytes { _ = nftnl_set_set_data(s, attr(NFTNL_SET_USERDATA), $0.baseAddress, UInt32($0.count)) }
        b.add(msg(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE) { nftnl_set_nlmsg_build_payload($0, s) }
    }

    static func deleteSet(_ b: BatchBuffer, _ name: String) {
        let s = setObject(name)
        defer { nftnl_set_free(s) }
        b.add(msg(NFT_MSG_DELSET.rawValue), flags: 0) { nftnl_set_nlmsg_build_payload($0, s) }
    }

    /// One kernel element: key, optional flags and verdict.
    struct Element {
        var key: [UInt8]
        var intervalEnd = false
        var verdict: Verdict?
    }

    static func elements(for set: NamedSet) -> [Element] {
        switch set.kind {
        case .addresses(let f):
            return set.ranges.flatMap { rangeElements(f, $0) }
        case .addressProtoPort(let f):
            return set.tuples.map { tupleKey($0, f) }
        }
    }

    /// An interval is a start element and an end element holding end+1,
    /// flagged as the interval's end (none when the range reaches the top).
    static func rangeElements(_ f: IPFamily, _ r: ClosedRange<UInt128>) -> [Element] {
        var out = [Element(key: NumericAddress(family: f, value: r.lowerBound).bytes)]
        if r.upperBound != f.maxValue {
            out.append(Element(key: NumericAddress(family: f, value: r.upperBound + 1).bytes, intervalEnd: true))
        }
        return out
    }

    static func tupleKey(_ t: AddressProtoPort, _ f: IPFamily) -> Element {
        Element(key: t.address.bytes + [t.proto.number, 0, 0, 0] + be16(t.port) + [0, 0])
    }

    /// A devgroup key: the u32 in host byte order (what `meta iifgroup` loads).
    static func groupKey(_ g: UInt32) -> [UInt8] { withUnsafeBytes(of: g) { Array($0) } }

    static func group(fromKey k: [UInt8]) -> UInt32? {
        guard k.count == 4 else { return nil }
        return k.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    /// NEWSETELEM/DELSETELEM in chunks (a message stays well below 64 KiB
    /// per nft's own practice).
    static func elementMessages(_ b: BatchBuffer, set: String, _ elems: [Element], delete: Bool) {
        var start = 0
        while start < elems.count {
            let chunk = elems[start..<min(elems.count, start + 512)]
            start += chunk.count
            let s = setObject(set)
            defer { nftnl_set_free(s) }
            for el in chunk {
                let e = nftnl_set_elem_alloc()!
                el.key.withUnsafeBytes { _ = nftnl_set_elem_set(e, attr(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
                if el.intervalEnd { nftnl_set_elem_set_u32(e, attr(NFTNL_SET_ELEM_FLAGS), UInt32(NFT_SET_ELEM_INTERVAL_END.rawValue)) }
                if let v = el.verdict {
                    let (code, chain) = KVerdict.code(v)
                    nftnl_set_elem_set_u32(e, attr(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: code))
                    if let chain { chain.withCString { _ = nftnl_set_elem_set_str(e, attr(NFTNL_SET_ELEM_CHAIN), $0) } }
                }
                nftnl_set_elem_add(s, e)
            }
            b.add(msg(delete ? NFT_MSG_DELSETELEM.rawValue : NFT_MSG_NEWSETELEM.rawValue), flags: delete ? 0 : NLM_F_CREATE) { nftnl_set_elems_nlmsg_build_payload($0, s) }
        }
    }

    static func mapElements(_ elems: [GroupElement]) -> [Element] {
        elems.map { Element(key: groupKey($0.group), verdict: $0.verdict) }
    }
}

extension KernelObjects {
    // MARK: Naming a message (for errors)

    /// What message `index` of a transaction does, read from its own bytes
    /// (so nothing is kept per message for the rare failure): the object
    /// and its name; for a rule, its chain, position and comment. Decoded
    /// with `Netlink`'s bounds-checked attribute walk (libnftnl's parsers
    /// expect the kernel's dump format and refuse some requests).
    static func describe(_ messages: [UnsafeRawBufferPointer], at index: Int) -> String {
        guard messages.indices.contains(index) else { return "message \(index)" }
        /// The nf_tables message type and the top-level attributes.
        func decode(_ m: UnsafeRawBufferPointer) -> (type: UInt32, attributes: [UInt16: NetlinkAttribute]) {
            var type: UInt32 = 0
            var attributes: [UInt16: NetlinkAttribute] = [:]
            try? NetlinkMessage.forEach(in: m) { message in
                type = UInt32(message.type & 0xff)
                try message.attributes(after: MemoryLayout<nfgenmsg>.size).forEach { attributes[$0.type] = $0 }
            }
            return (type, attributes)
        }
        func string(_ attributes: [UInt16: NetlinkAttribute], _ type: UInt32) -> String { attributes[UInt16(type)]?.string ?? "?" }
        let (t, a) = decode(messages[index])
        let adds = [NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE, NFT_MSG_NEWSET, NFT_MSG_NEWSETELEM].map(\.rawValue).contains(t)
        let verb = adds ? "add" : "delete"
        switch t {
        case NFT_MSG_NEWTABLE.rawValue, NFT_MSG_DELTABLE.rawValue:
            return "\(verb) table"
        case NFT_MSG_NEWCHAIN.rawValue, NFT_MSG_DELCHAIN.rawValue:
            return "\(verb) chain \(string(a, NFTA_CHAIN_NAME.rawValue))"
        case NFT_MSG_DELRULE.rawValue:
            return "flush chain \(string(a, NFTA_RULE_CHAIN.rawValue))"
        case NFT_MSG_NEWRULE.rawValue:
            let chain = string(a, NFTA_RULE_CHAIN.rawValue)
            let comment = a[UInt16(NFTA_RULE_USERDATA.rawValue)].flatMap { udataString($0.bytes, UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue)) } ?? ""
            // Its position: rules appended to the chain earlier in the
            // transaction, since the chain was last flushed.
            var position = 0
            for earlier in messages[..<index] {
                let (et, ea) = decode(earlier)
                guard et == NFT_MSG_NEWRULE.rawValue || et == NFT_MSG_DELRULE.rawValue, string(ea, NFTA_RULE_CHAIN.rawValue) == chain else { continue }
                position = et == NFT_MSG_NEWRULE.rawValue ? position + 1 : 0
            }
            return "add rule \(chain)[\(position)] \"\(comment)\""
        case NFT_MSG_NEWSET.rawValue, NFT_MSG_DELSET.rawValue:
            let flags = a[UInt16(NFTA_SET_FLAGS.rawValue)]?.u32.map { UInt32(bigEndian: $0) } ?? 0
            return "\(verb) \(flags & UInt32(NFT_SET_MAP.rawValue) != 0 ? "map" : "set") \(string(a, NFTA_SET_NAME.rawValue))"
        case NFT_MSG_NEWSETELEM.rawValue, NFT_MSG_DELSETELEM.rawValue:
            var count = 0
            try? a[UInt16(NFTA_SET_ELEM_LIST_ELEMENTS.rawValue)]?.nested.forEach { _ in count += 1 }
            return "\(verb) \(count) elements of \(string(a, NFTA_SET_ELEM_LIST_SET.rawValue))"
        default:
            return "message \(index) (nf_tables type \(t))"
        }
    }
}

/// libnftnl attribute numbers come in as named enums or plain Ints.
@inline(__always) func attr<T: RawRepresentable>(_ x: T) -> UInt16 where T.RawValue: BinaryInteger { UInt16(x.rawValue) }
@inline(__always) func attr(_ x: Int) -> UInt16 { UInt16(x) }
