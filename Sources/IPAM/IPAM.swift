#if canImport(FoundationEssentials)
import ClusterModel
import FoundationEssentials
#else
import Foundation
#endif
import IPAddressing
import KeyValueStore
import JSON

/// What a pod asks of IPAM on ADD.
public struct AllocationRequest: Hashable, Sendable {
    public var containerID: String
    public var ifName: String
    public var namespace: String
    public var pod: String
    public var node: String
    /// A sticky claim name: the same addresses every time, on any node.
    public var claim: String?
    /// Exact addresses wanted (at most one per family is used per family
    /// asked for; extra ones are allocated too).
    public var requested: [IPAddress]
    public var ipv4: Bool
    public var ipv6: Bool
    /// Pools this network may use, in preference order; empty: all pools.
    public var pools: [String]

    public init(
        containerID: String, ifName: String, namespace: String = "default", pod: String = "", node: String,
        claim: String? = nil, requested: [IPAddress] = [], ipv4: Bool = true, ipv6: Bool = false, pools: [String] = []
    ) {
        self.containerID = containerID
        self.ifName = ifName
        self.namespace = namespace
        self.pod = pod
        self.node = node
        self.claim = claim
        self.requested = requested
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.pools = pools
    }

    public var handleID: String { HandleRecord.id(containerID: containerID, ifName: ifName) }
}

/// One address handed out.
public struct Allocation: Hashable, Sendable {
    public var ip: IPAddress
    public var pool: String
    /// The pool's prefix (a pod's later attachment routes it).
    public var poolCIDR: IPPrefix
    public var block: IPPrefix
    /// True when the block belongs to another node (or none): the node must
    /// advertise this address as a host route.
    public var borrowed: Bool
}

/// Everything known about one address (`caracal ipam show IP`).
public struct AddressInfo: Hashable, Sendable {
    public var ip: IPAddress
    public var pool: Pool?
    public var block: Block?
    public var slot: Slot?
    public var coolingUntil: Date?
    public var holder: HandleRecord?
    public var excluded: Bool

    public var state: String {
        if pool == nil { return "not-in-pool" }
        if excluded { return "excluded" }
        if let slot {
            if slot.handle != nil { return "allocated" }
            if slot.claim != nil { return "claimed" }
        }
        if coolingUntil != nil { return "cooling" }
        return "free"
    }
}

/// IPAM's rules over a `KVTransaction`: pools, node blocks claimed by
/// compare-and-swap, allocation from own blocks first, borrowing, fixed
/// addresses, sticky claims, quotas, cooldown and history. Every public
/// operation runs inside the caller's transaction, so an allocation (slot,
/// handle, usage, history, claim) commits completely or not at all.
public struct IPAM: Sendable {
    public var clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    // MARK: Records

    static func load<T: Decodable>(_ type: T.Type, _ tx: KVTransaction, _ key: String) throws -> T? {
        guard let data = try tx.get(key) else { return nil }
        return try decode(type, data, key)
    }

    /// Records are JSON (numbers for dates, sorted keys), read and written
    /// with `JSONValueDecoder` / `JSONValueEncoder` (docs/cni.md "Latency").
    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ key: String) throws -> T {
        do {
            return try JSONValueDecoder().decode(type, from: data)
        } catch {
            throw IPAMError.corruptRecord(key: key, problem: "\(error)")
        }
    }

    static func save<T: Encodable>(_ value: T, _ tx: KVTransaction, _ key: String) throws {
        try tx.put(key, Data(try JSONValueEncoder().encodedBytes(value)))
    }

    static func list<T: Decodable>(_ type: T.Type, _ tx: KVTransaction, prefix: String) throws -> [T] {
        try tx.list(prefix: prefix).map { try decode(type, $0.value, $0.key) }
    }

    // MARK: Pools

    public func pools(_ tx: KVTransaction) throws -> [Pool] {
        try IPAM.list(Pool.self, tx, prefix: Keys.pools)
    }

    public func pool(named name: String, _ tx: KVTransaction) throws -> Pool? {
        try IPAM.load(Pool.self, tx, Keys.pool(name))
    }

    /// Creates a pool. With `ifAbsent`, an existing pool of the same name is
    /// left as it is (plugin configs that carry pool definitions).
    @discardableResult
    public func createPool(_ pool: Pool, ifAbsent: Bool = false, _ tx: KVTransaction) throws -> Pool {
        try pool.validate()
        if let existing = try self.pool(named: pool.name, tx) {
            if ifAbsent { return existing }
            throw IPAMError.invalidPool(field: "name", problem: "pool \(pool.name) already exists")
        }
        for other in try pools(tx) where other.cidr.contains(pool.cidr) || pool.cidr.contains(other.cidr) {
            throw IPAMError.poolOverlaps(pool.name, existing: other.name)
        }
        try IPAM.save(pool, tx, Keys.pool(pool.name))
        return pool
    }

    /// Replaces a pool's settings (not its CIDR or block size).
    public func updatePool(_ pool: Pool, _ tx: KVTransaction) throws {
        try pool.validate()
        guard let existing = try self.pool(named: pool.name, tx) else { throw IPAMError.unknownPool(pool.name) }
        guard existing.cidr == pool.cidr else { throw IPAMError.invalidPool(field: "cidr", problem: "cannot change a pool's CIDR") }
        guard existing.blockSize == pool.blockSize else {
            throw IPAMError.invalidPool(field: "blockSize", problem: "cannot change a pool's block size")
        }
        try IPAM.save(pool, tx, Keys.pool(pool.name))
    }

    /// Deletes a pool that holds no addresses, with its empty blocks.
    public func deletePool(named name: String, _ tx: KVTransaction) throws {
        guard try pool(named: name, tx) != nil else { throw IPAMError.unknownPool(name) }
        let blocks = try IPAM.list(Block.self, tx, prefix: Keys.blocks(pool: name))
        let used = blocks.reduce(0) { $0 + $1.slots.count }
        if used > 0 { throw IPAMError.poolInUse(name, allocations: used) }
        for b in blocks { try dropBlock(b, tx) }
        for (key, _) in try tx.list(prefix: "ipam/usage/\(name)/") { try tx.delete(key) }
        try tx.delete(Keys.pool(name))
    }

    public func setNode(_ node: NodeRecord, _ tx: KVTransaction) throws {
        try IPAM.save(node, tx, Keys.node(node.name))
    }

    func nodeLabels(_ node: String, _ tx: KVTransaction) throws -> [String: String] {
        try IPAM.load(NodeRecord.self, tx, Keys.node(node))?.labels ?? [:]
    }

    // MARK: Allocation

    /// Allocates addresses for one container interface: the claim's
    /// addresses, else the requested ones, else automatic ones (own blocks,
    /// then a newly claimed block, then borrowing unless the pool is strict).
    public func allocate(_ req: AllocationRequest, _ tx: KVTransaction) throws -> [Allocation] {
        let now = clock()
        guard Names.isValid(req.node) else { throw IPAMError.invalidPool(field: "node", problem: "invalid node name \"\(req.node)\"") }
        guard Names.isValid(req.namespace) else {
            throw IPAMError.invalidPool(field: "namespace", problem: "invalid namespace \"\(req.namespace)\"")
        }
        let handleID = req.handleID
        // What every allocation reads, in one round trip on etcd.
        try tx.prefetch(keys: [Keys.handle(handleID), Keys.node(req.node)] + (req.claim.map { [Keys.claim($0)] } ?? []),
                        prefixes: [Keys.pools, Keys.affinities(node: req.node)])
        if try tx.get(Keys.handle(handleID)) != nil { throw IPAMError.alreadyAllocated(handle: handleID) }

        let allPools = try pools(tx)
        var ordered = allPools
        if !req.pools.isEmpty {
            ordered = req.pools.compactMap { n in allPools.first { $0.name == n } }
        }

        var wanted: [Bool] = []  // families still to serve: true = IPv4
        if req.ipv4 { wanted.append(true) }
        if req.ipv6 { wanted.append(false) }
        var result: [Allocation] = []
        var claim = try req.claim.flatMap { try IPAM.load(ClaimRecord.self, tx, Keys.claim($0)) }

        if var c = claim {
            guard c.namespace == req.namespace else {
                throw IPAMError.claimInUse(c.name, by: "namespace \(c.namespace)")
            }
            if let holder = c.holder, holder != handleID, try tx.get(Keys.handle(holder)) != nil {
                throw IPAMError.claimInUse(c.name, by: holder)
            }
            for ip in c.ips {
                result.append(try take(ip, req: req, claimName: c.name, fromClaim: true, ordered: allPools, now: now, tx))
                wanted.removeAll { $0 == ip.isIPv4 }
            }
            c.holder = handleID
            claim = c
        }
        for ip in req.requested where !result.contains(where: { $0.ip == ip }) {
            result.append(try take(ip, req: req, claimName: req.claim, fromClaim: false, ordered: allPools, now: now, tx))
            wanted.removeAll { $0 == ip.isIPv4 }
        }
        let labels = try nodeLabels(req.node, tx)
        for v4 in wanted {
            result.append(try allocateAutomatic(v4: v4, req: req, labels: labels, ordered: ordered, now: now, tx))
        }

        if let name = req.claim {
            var c = claim ?? ClaimRecord(name: name, namespace: req.namespace, ips: [], createdAt: now, holder: handleID)
            for a in result where !c.ips.contains(a.ip) { c.ips.append(a.ip) }
            try IPAM.save(c, tx, Keys.claim(name))
        }

        var historyKeys: [String] = []
        for a in result {
            let key = Keys.history(a.ip, start: now, handle: handleID)
            historyKeys.append(key)
            try IPAM.save(HistoryRecord(
                ip: a.ip, pool: a.pool, namespace: req.namespace, pod: req.pod, claim: req.claim,
                containerID: req.containerID, ifName: req.ifName, node: req.node, start: now, end: nil, reason: nil), tx, key)
        }
        try IPAM.save(HandleRecord(
            containerID: req.containerID, ifName: req.ifName, namespace: req.namespace, pod: req.pod, claim: req.claim,
            node: req.node, ips: result.map(\.ip), start: now, historyKeys: historyKeys), tx, Keys.handle(handleID))
        return result
    }

    /// Takes one specific address (requested, or a claim's).
    private func take(
        _ ip: IPAddress, req: AllocationRequest, claimName: String?, fromClaim: Bool, ordered: [Pool], now: Date,
        _ tx: KVTransaction
    ) throws -> Allocation {
        guard let pool = ordered.first(where: { $0.cidr.contains(ip) }) else { throw IPAMError.requestedIPNotInPool(ip) }
        if !fromClaim {
            guard !pool.disabled else { throw IPAMError.noEligiblePool(family: family(ip.isIPv4), reason: "pool \(pool.name) is disabled") }
            guard pool.allows(namespace: req.namespace) else {
                throw IPAMError.namespaceNotAllowed(namespace: req.namespace, pools: [pool.name])
            }
            guard !pool.isExcluded(ip) else { throw IPAMError.requestedIPReserved(ip, pool: pool.name) }
        }
        let cidr = IPPrefix(address: ip, length: pool.blockSize)!
        let key = Keys.block(pool: pool.name, cidr: cidr)
        var block: Block
        if let existing = try IPAM.load(Block.self, tx, key) {
            block = existing
        } else {
            // The block is unclaimed: claim it for this node (compare-and-swap:
            // the transaction read it as absent).
            // (`saveBlock` writes the node's affinity key.)
            block = Block(cidr: cidr, pool: pool.name, node: req.node, claimedAt: now, slots: [], cooling: [], emptySince: nil)
        }
        let ordinal = cidr.ordinal(of: ip)!
        if let i = block.slotIndex(ordinal) {
            let slot = block.slots[i]
            if let h = slot.handle, h != req.handleID {
                throw IPAMError.ipHeld(ip, by: try describeHandle(h, tx))
            }
            if let c = slot.claim, c != claimName { throw IPAMError.ipHeld(ip, by: "claim \(c)") }
            block.slots[i].handle = req.handleID
            block.slots[i].claim = claimName
        } else {
            try chargeQuota(pool: pool, namespace: req.namespace, node: req.node, tx)
            block.cooling.removeAll { $0.ordinal == ordinal || $0.until <= now }
            block.insert(Slot(ordinal: ordinal, handle: req.handleID, claim: claimName, namespace: req.namespace, countedBy: req.node))
        }
        try saveBlock(block, key: key, pool: pool, now: now, tx)
        return Allocation(ip: ip, pool: pool.name, poolCIDR: pool.cidr, block: cidr, borrowed: block.node != req.node)
    }

    private func describeHandle(_ id: String, _ tx: KVTransaction) throws -> String {
        guard let h = try IPAM.load(HandleRecord.self, tx, Keys.handle(id)) else { return "container \(id)" }
        let who = h.pod.isEmpty ? "" : "\(h.namespace)/\(h.pod), "
        return "\(who)container \(h.containerID) on \(h.node)"
    }

    private func family(_ v4: Bool) -> String { v4 ? "IPv4" : "IPv6" }

    /// A namespace's addresses in a pool: the sum of the per-node counters
    /// (and of the pool-wide one that records before them wrote).
    private func usage(pool: String, namespace: String, _ tx: KVTransaction) throws -> Int {
        let legacy = try IPAM.load(Int.self, tx, Keys.usage(pool: pool, namespace: namespace)) ?? 0
        return try tx.list(prefix: Keys.usageShards(pool: pool, namespace: namespace)).reduce(legacy) {
            $0 + (try IPAM.decode(Int.self, $1.value, $1.key))
        }
    }

    /// Counts a new slot against the namespace's quota, in the allocating
    /// node's own counter: allocations on different nodes then write no
    /// common key, so on an optimistic store (etcd) they do not conflict.
    /// Only a pool with a quota for the namespace reads every counter.
    private func chargeQuota(pool: Pool, namespace: String, node: String, _ tx: KVTransaction) throws {
        if let limit = pool.quota(for: namespace), try usage(pool: pool.name, namespace: namespace, tx) >= limit {
            throw IPAMError.quotaExceeded(namespace: namespace, pool: pool.name, limit: limit)
        }
        let key = Keys.usage(pool: pool.name, namespace: namespace, node: node)
        try IPAM.save((try IPAM.load(Int.self, tx, key) ?? 0) + 1, tx, key)
    }

    /// Uncounts a freed slot from the counter that counted it.
    private func refundQuota(pool: String, slot: Slot, _ tx: KVTransaction) throws {
        let key = slot.countedBy.map { Keys.usage(pool: pool, namespace: slot.namespace, node: $0) }
            ?? Keys.usage(pool: pool, namespace: slot.namespace)
        let used = try IPAM.load(Int.self, tx, key) ?? 0
        if used <= 1 { try tx.delete(key) } else { try IPAM.save(used - 1, tx, key) }
    }

    private func allocateAutomatic(
        v4: Bool, req: AllocationRequest, labels: [String: String], ordered: [Pool], now: Date, _ tx: KVTransaction
    ) throws -> Allocation {
        let fam = family(v4)
        let ofFamily = ordered.filter { $0.cidr.isIPv4 == v4 }
        guard !ofFamily.isEmpty else { throw IPAMError.noEligiblePool(family: fam, reason: "no \(fam) pool is defined") }
        let enabled = ofFamily.filter { !$0.disabled }
        guard !enabled.isEmpty else { throw IPAMError.noEligiblePool(family: fam, reason: "every \(fam) pool is disabled") }
        let onNode = enabled.filter { $0.selects(node: req.node, labels: labels) }
        guard !onNode.isEmpty else {
            throw IPAMError.noEligiblePool(family: fam, reason: "no \(fam) pool selects node \(req.node)")
        }
        let allowed = onNode.filter { $0.allows(namespace: req.namespace) }
        guard !allowed.isEmpty else { throw IPAMError.namespaceNotAllowed(namespace: req.namespace, pools: onNode.map(\.name)) }
        var candidates: [Pool] = []
        var quotaHit: IPAMError?
        for p in allowed {
            if let limit = p.quota(for: req.namespace), try usage(pool: p.name, namespace: req.namespace, tx) >= limit {
                quotaHit = IPAMError.quotaExceeded(namespace: req.namespace, pool: p.name, limit: limit)
            } else {
                candidates.append(p)
            }
        }
        if candidates.isEmpty, let quotaHit { throw quotaHit }

        // 1. The node's own blocks, skipping those whose affinity hint says
        //    they are full until some time (see `saveBlock`).
        let own = try tx.list(prefix: Keys.affinities(node: req.node))
        // The blocks that may have room and the node's usage counters, in
        // one round trip on etcd.
        var likely = candidates.map { Keys.usage(pool: $0.name, namespace: req.namespace, node: req.node) }
        for (key, hint) in own.lazy.filter({ IPAM.fullUntil($0.value).map { $0 <= now } ?? true }).prefix(4) {
            if let (pool, cidr) = Keys.affinityBlock(key, node: req.node) { likely.append(Keys.block(pool: pool, cidr: cidr)) }
        }
        try tx.prefetch(keys: likely, prefixes: [])
        for pool in candidates {
            let prefix = Keys.affinities(node: req.node) + pool.name + "/"
            for (key, hint) in own where key.hasPrefix(prefix) {
                if let full = IPAM.fullUntil(hint), full > now { continue }
                guard let cidr = IPPrefix(String(key.dropFirst(prefix.count))) else { continue }
                let blockKey = Keys.block(pool: pool.name, cidr: cidr)
                guard var block = try IPAM.load(Block.self, tx, blockKey) else { continue }
                if let o = block.firstFree(pool: pool, now: now) {
                    return try assign(o, in: &block, key: blockKey, pool: pool, req: req, now: now, tx)
                }
                try saveBlock(block, key: blockKey, pool: pool, now: now, tx)
            }
        }
        // 2. Adopt a block without affinity (a lost node's, see
        //    `reclaimBlocks`), or claim a new block; 3. borrow from another
        //    node's block.
        for pool in candidates {
            let existing = try IPAM.list(Block.self, tx, prefix: Keys.blocks(pool: pool.name))
            for var block in existing where block.node == nil {
                guard let o = block.firstFree(pool: pool, now: now) else { continue }
                block.node = req.node
                block.claimedAt = now
                return try assign(o, in: &block, key: Keys.block(pool: pool.name, cidr: block.cidr), pool: pool, req: req, now: now, tx)
            }
            let taken = Set(existing.map(\.cidr))
            let count = pool.cidr.subnetCount(length: pool.blockSize)
            var index: UInt64 = 0
            while index < count {
                defer { index += 1 }
                guard let cidr = pool.cidr.subnet(length: pool.blockSize, index: index) else { break }
                if taken.contains(cidr) { continue }
                var block = Block(cidr: cidr, pool: pool.name, node: req.node, claimedAt: now, slots: [], cooling: [], emptySince: nil)
                guard let o = block.firstFree(pool: pool, now: now) else { continue }  // wholly excluded
                return try assign(o, in: &block, key: Keys.block(pool: pool.name, cidr: cidr), pool: pool, req: req, now: now, tx)
            }
            if pool.strict { continue }
            for var block in existing where block.node != req.node {
                if let o = block.firstFree(pool: pool, now: now) {
                    return try assign(o, in: &block, key: Keys.block(pool: pool.name, cidr: block.cidr), pool: pool, req: req, now: now, tx)
                }
            }
        }
        if let quotaHit { throw quotaHit }
        throw IPAMError.exhausted(family: fam, pools: candidates.map(\.name))
    }

    private func assign(
        _ ordinal: Int, in block: inout Block, key: String, pool: Pool, req: AllocationRequest, now: Date, _ tx: KVTransaction
    ) throws -> Allocation {
        try chargeQuota(pool: pool, namespace: req.namespace, node: req.node, tx)
        block.cooling.removeAll { $0.until <= now }
        block.insert(Slot(ordinal: ordinal, handle: req.handleID, claim: req.claim, namespace: req.namespace, countedBy: req.node))
        try saveBlock(block, key: key, pool: pool, now: now, tx)
        return Allocation(
            ip: block.cidr.address(at: ordinal)!, pool: pool.name, poolCIDR: pool.cidr, block: block.cidr, borrowed: block.node != req.node)
    }

    // MARK: Release

    /// Releases a container interface's addresses. Idempotent: returns nil
    /// when there is nothing to release. Addresses bound to a sticky claim
    /// stay with the claim; others cool down before reuse.
    @discardableResult
    public func release(containerID: String, ifName: String, reason: String, _ tx: KVTransaction) throws -> HandleRecord? {
        let now = clock()
        let id = HandleRecord.id(containerID: containerID, ifName: ifName)
        guard let handle = try IPAM.load(HandleRecord.self, tx, Keys.handle(id)) else { return nil }
        // A claimed address stays with its claim; others are freed.
        try unbind(handle.ips, now: now, tx, owned: { $0.handle == id }, keep: { $0.claim != nil }, drop: { $0.handle = nil })
        for key in handle.historyKeys {
            guard var h = try IPAM.load(HistoryRecord.self, tx, key), h.end == nil else { continue }
            h.end = now
            h.reason = reason
            try IPAM.save(h, tx, key)
        }
        if let name = handle.claim, var c = try IPAM.load(ClaimRecord.self, tx, Keys.claim(name)), c.holder == id {
            c.holder = nil
            try IPAM.save(c, tx, Keys.claim(name))
        }
        try tx.delete(Keys.handle(id))
        return handle
    }

    /// For each address whose slot `owned` matches: when `keep` says another
    /// owner remains, only `drop` this owner; otherwise free the slot.
    private func unbind(
        _ ips: [IPAddress], now: Date, _ tx: KVTransaction, owned: (Slot) -> Bool, keep: (Slot) -> Bool, drop: (inout Slot) -> Void
    ) throws {
        let allPools = try pools(tx)
        for ip in ips {
            guard let pool = allPools.first(where: { $0.cidr.contains(ip) }),
                let cidr = IPPrefix(address: ip, length: pool.blockSize)
            else { continue }
            let key = Keys.block(pool: pool.name, cidr: cidr)
            guard var block = try IPAM.load(Block.self, tx, key), let o = cidr.ordinal(of: ip), let i = block.slotIndex(o),
                owned(block.slots[i])
            else { continue }
            if keep(block.slots[i]) {
                drop(&block.slots[i])
            } else {
                try freeSlot(at: i, in: &block, pool: pool, now: now, tx)
            }
            try saveBlock(block, key: key, pool: pool, now: now, tx)
        }
    }

    /// Saves a block and, when a node owns it, refreshes the hint stored as
    /// the value of the node's affinity key: empty when the block has a free
    /// address now, else the time the first cooling address frees up
    /// ("inf" when none does). Allocation skips hinted-full blocks without
    /// reading them, so it stays O(1) in the number of full blocks a node
    /// holds.
    func saveBlock(_ block: Block, key: String, pool: Pool, now: Date, _ tx: KVTransaction) throws {
        try IPAM.save(block, tx, key)
        guard let node = block.node else { return }
        var hint = Data()
        if block.firstFree(pool: pool, now: now) == nil {
            let next = block.cooling.filter { $0.until > now }.map(\.until).min()
            hint = Data((next.map { String($0.timeIntervalSince1970) } ?? "inf").utf8)
        }
        try tx.put(Keys.affinity(node: node, pool: pool.name, cidr: block.cidr), hint)
    }

    static func fullUntil(_ hint: Data) -> Date? {
        if hint.isEmpty { return nil }
        let text = String(decoding: hint, as: UTF8.self)
        if text == "inf" { return .distantFuture }
        return Double(text).map { Date(timeIntervalSince1970: $0) }
    }

    private func freeSlot(at i: Int, in block: inout Block, pool: Pool, now: Date, _ tx: KVTransaction) throws {
        let slot = block.slots.remove(at: i)
        block.cooling.removeAll { $0.until <= now || $0.ordinal == slot.ordinal }
        if pool.cooldownSeconds > 0 {
            block.cooling.append(Cooling(ordinal: slot.ordinal, until: now.addingTimeInterval(pool.cooldownSeconds)))
        }
        if block.slots.isEmpty { block.emptySince = now }
        try refundQuota(pool: pool.name, slot: slot, tx)
    }

    /// Releases a sticky claim: its addresses return to the pool (after the
    /// cooldown) once no pod holds them.
    @discardableResult
    public func releaseClaim(_ name: String, _ tx: KVTransaction) throws -> ClaimRecord {
        let now = clock()
        guard let claim = try IPAM.load(ClaimRecord.self, tx, Keys.claim(name)) else { throw IPAMError.unknownClaim(name) }
        // An address a pod still holds stays with the pod until its DEL.
        try unbind(claim.ips, now: now, tx, owned: { $0.claim == name }, keep: { $0.handle != nil }, drop: { $0.claim = nil })
        try tx.delete(Keys.claim(name))
        return claim
    }

    /// Releases this node's blocks that have been empty for their pool's
    /// grace period and have no address cooling down.
    @discardableResult
    public func releaseEmptyBlocks(node: String, _ tx: KVTransaction) throws -> [IPPrefix] {
        let now = clock()
        var released: [IPPrefix] = []
        let allPools = try pools(tx)
        for (key, _) in try tx.list(prefix: Keys.affinities(node: node)) {
            guard let (poolName, cidr) = Keys.affinityBlock(key, node: node) else { continue }
            guard let block = try IPAM.load(Block.self, tx, Keys.block(pool: poolName, cidr: cidr)) else {
                try tx.delete(key)  // dangling affinity
                continue
            }
            let grace = allPools.first { $0.name == poolName }?.blockGraceSeconds ?? Pool.defaultBlockGraceSeconds
            guard block.slots.isEmpty, !block.cooling.contains(where: { $0.until > now }),
                let since = block.emptySince, now.timeIntervalSince(since) >= grace
            else { continue }
            try dropBlock(block, tx)
            released.append(cidr)
        }
        return released
    }

    /// What became of a lost node's block.
    public enum BlockReclaim: Hashable, Sendable {
        /// Empty and not cooling down: back to the pool.
        case released(IPPrefix)
        /// Still holding addresses (sticky claims, or pods the node lost
        /// within a pool's grace): the affinity goes and the block stays
        /// for another node to adopt.
        case unaffined(IPPrefix, addresses: Int)
    }

    /// Takes back the blocks of a node that has been dead for `deadFor`
    /// seconds, in pools whose `nodeLossGraceSeconds` has passed; at most
    /// `limit` blocks (two writes each) so that a caller stays within
    /// `KVLimits.maxWritesPerTransaction`. Its pods' handles are released
    /// first (`release`), so what remains in a block is what must outlive
    /// the node: sticky claims.
    public func reclaimBlocks(ofLostNode node: String, deadFor: Double, limit: Int, _ tx: KVTransaction) throws -> [BlockReclaim] {
        let now = clock()
        let allPools = Dictionary(try pools(tx).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var done: [BlockReclaim] = []
        for (key, _) in try tx.list(prefix: Keys.affinities(node: node)) where done.count < limit {
            guard let (poolName, cidr) = Keys.affinityBlock(key, node: node) else { continue }
            let grace = allPools[poolName]?.nodeLossGraceSeconds ?? Pool.defaultNodeLossGraceSeconds
            guard deadFor >= grace else { continue }
            guard var block = try IPAM.load(Block.self, tx, Keys.block(pool: poolName, cidr: cidr)) else {
                try tx.delete(key)  // dangling affinity
                continue
            }
            if block.slots.isEmpty, !block.cooling.contains(where: { $0.until > now }) {
                try dropBlock(block, tx)
                done.append(.released(cidr))
            } else {
                try tx.delete(key)
                block.node = nil
                try IPAM.save(block, tx, Keys.block(pool: poolName, cidr: cidr))
                done.append(.unaffined(cidr, addresses: block.slots.count))
            }
        }
        return done
    }

    private func dropBlock(_ block: Block, _ tx: KVTransaction) throws {
        if let node = block.node { try tx.delete(Keys.affinity(node: node, pool: block.pool, cidr: block.cidr)) }
        try tx.delete(Keys.block(pool: block.pool, cidr: block.cidr))
    }

    // MARK: Queries

    public func handle(containerID: String, ifName: String, _ tx: KVTransaction) throws -> HandleRecord? {
        try IPAM.load(HandleRecord.self, tx, Keys.handle(HandleRecord.id(containerID: containerID, ifName: ifName)))
    }

    public func handles(_ tx: KVTransaction) throws -> [HandleRecord] {
        try IPAM.list(HandleRecord.self, tx, prefix: Keys.handles)
    }

    public func claims(_ tx: KVTransaction) throws -> [ClaimRecord] {
        try IPAM.list(ClaimRecord.self, tx, prefix: Keys.claims)
    }

    public func blocks(pool: String, _ tx: KVTransaction) throws -> [Block] {
        try IPAM.list(Block.self, tx, prefix: Keys.blocks(pool: pool))
    }

    /// Addresses per pool and namespace (the per-node counters summed).
    public func usage(_ tx: KVTransaction) throws -> [(pool: String, namespace: String, count: Int)] {
        var sums: [String: (pool: String, namespace: String, count: Int)] = [:]
        for (key, value) in try tx.list(prefix: "ipam/usage/") {
            let parts = key.split(separator: "/")
            guard parts.count == 4 || parts.count == 5 else { continue }
            sums["\(parts[2])/\(parts[3])", default: (String(parts[2]), String(parts[3]), 0)].count += try IPAM.decode(Int.self, value, key)
        }
        return sums.values.filter { $0.count != 0 }.sorted { ($0.pool, $0.namespace) < ($1.pool, $1.namespace) }
    }

    public func lookup(_ ip: IPAddress, _ tx: KVTransaction) throws -> AddressInfo {
        let now = clock()
        var info = AddressInfo(ip: ip, excluded: false)
        guard let pool = try pools(tx).first(where: { $0.cidr.contains(ip) }) else { return info }
        info.pool = pool
        info.excluded = pool.isExcluded(ip)
        let cidr = IPPrefix(address: ip, length: pool.blockSize)!
        guard let block = try IPAM.load(Block.self, tx, Keys.block(pool: pool.name, cidr: cidr)) else { return info }
        info.block = block
        let o = cidr.ordinal(of: ip)!
        info.slot = block.slotIndex(o).map { block.slots[$0] }
        info.coolingUntil = block.cooling.first { $0.ordinal == o && $0.until > now }?.until
        if let h = info.slot?.handle { info.holder = try IPAM.load(HandleRecord.self, tx, Keys.handle(h)) }
        return info
    }

    /// Every tenure of `ip`, oldest first.
    public func history(_ ip: IPAddress, _ tx: KVTransaction) throws -> [HistoryRecord] {
        try IPAM.list(HistoryRecord.self, tx, prefix: Keys.history(ip))
    }

    /// Who held `ip` at time `t` ("who had 10.244.3.7 last Tuesday 14:05").
    public func holder(of ip: IPAddress, at t: Date, _ tx: KVTransaction) throws -> HistoryRecord? {
        try history(ip, tx).last { $0.covers(t) }
    }

    /// Whether some pool could give a new pod on `node` an address of each
    /// family asked for (CNI STATUS). Returns the reason when not.
    public func canServe(node: String, ipv4: Bool, ipv6: Bool, pools names: [String] = [], _ tx: KVTransaction) throws -> String? {
        let now = clock()
        let labels = try nodeLabels(node, tx)
        var all = try pools(tx)
        if !names.isEmpty { all = all.filter { names.contains($0.name) } }
        for (v4, wanted) in [(true, ipv4), (false, ipv6)] where wanted {
            let usable = all.filter { $0.cidr.isIPv4 == v4 && !$0.disabled && $0.selects(node: node, labels: labels) }
            guard !usable.isEmpty else { return "no enabled \(family(v4)) pool selects node \(node)" }
            var ok = false
            for pool in usable where !ok {
                let blocks = try self.blocks(pool: pool.name, tx)
                if UInt64(blocks.count) < pool.cidr.subnetCount(length: pool.blockSize) { ok = true; break }
                for b in blocks where (b.node == node || !pool.strict) && b.firstFree(pool: pool, now: now) != nil {
                    ok = true
                    break
                }
            }
            if !ok { return "every \(family(v4)) pool for node \(node) is exhausted" }
        }
        return nil
    }
}
