#if canImport(FoundationEssentials)
import ClusterModel
import FoundationEssentials
#else
import Foundation
#endif
import IPAddressing

/// An address pool, defined by an admin. Pods get /32 (/128) addresses from
/// blocks of the pool; blocks are claimed by nodes.
public struct Pool: Codable, Hashable, Sendable {
    public var name: String
    public var cidr: IPPrefix
    /// Prefix length of the blocks nodes claim (default /26 for IPv4,
    /// /122 for IPv6).
    public var blockSize: Int
    /// A disabled pool hands out nothing new; existing allocations stay.
    public var disabled: Bool
    /// A strict pool never lends single addresses out of another node's
    /// block: a node whose blocks are full and that can claim no new block
    /// gets "exhausted".
    public var strict: Bool
    /// Node labels that must all match for a node to claim blocks
    /// (`kubernetes.io/hostname` is always the node name). Empty: any node.
    public var nodeSelector: [String: String]
    /// Namespaces that may use the pool; nil: every namespace.
    public var allowedNamespaces: [String]?
    /// Maximum addresses per namespace; the key "*" applies to namespaces
    /// not listed. Held sticky claims count.
    public var namespaceQuotas: [String: Int]
    /// Excluded ranges (reservations): never handed out automatically, and
    /// refused when requested.
    public var excluded: [IPRange]
    /// Seconds a released address waits before it is handed out again.
    public var cooldownSeconds: Double
    /// Seconds an empty block stays with its node before it is released.
    public var blockGraceSeconds: Double
    /// Seconds a dead node (its liveness silent past the cluster's
    /// `livenessTimeout`) keeps its allocations and blocks in this pool
    /// before the cluster reclaims them: its pods' addresses are released,
    /// sticky claims keep theirs, empty blocks return to the pool and the
    /// others lose their affinity, for another node to adopt.
    public var nodeLossGraceSeconds: Double
    /// Whether the pool's network address (and, for IPv4, its broadcast
    /// address) may be handed out. Off by default, as operators expect:
    /// host-local never hands them out, and Calico skips them unless told
    /// otherwise; some hosts and middleboxes still treat them specially.
    /// Pools of /31, /32, /127 and /128 have no such addresses.
    public var useNetworkAddresses: Bool

    public static let defaultCooldownSeconds: Double = 30
    public static let defaultBlockGraceSeconds: Double = 300
    /// Kubernetes evicts the pods of an unreachable node after 300 s (the
    /// default `tolerationSeconds`); twice that leaves their replacements
    /// time to start elsewhere before their old addresses are reused.
    public static let defaultNodeLossGraceSeconds: Double = 600
    public static let ipv4BlockSizes = 20...32
    public static let ipv6BlockSizes = 116...128

    public init(
        name: String, cidr: IPPrefix, blockSize: Int? = nil, disabled: Bool = false, strict: Bool = false,
        nodeSelector: [String: String] = [:], allowedNamespaces: [String]? = nil,
        namespaceQuotas: [String: Int] = [:], excluded: [IPRange] = [],
        cooldownSeconds: Double = Pool.defaultCooldownSeconds, blockGraceSeconds: Double = Pool.defaultBlockGraceSeconds,
        useNetworkAddresses: Bool = false, nodeLossGraceSeconds: Double = Pool.defaultNodeLossGraceSeconds
    ) {
        self.name = name
        self.cidr = cidr
        self.blockSize = blockSize ?? (cidr.isIPv4 ? max(26, cidr.length) : max(122, cidr.length))
        self.disabled = disabled
        self.strict = strict
        self.nodeSelector = nodeSelector
        self.allowedNamespaces = allowedNamespaces
        self.namespaceQuotas = namespaceQuotas
        self.excluded = excluded
        self.cooldownSeconds = cooldownSeconds
        self.blockGraceSeconds = blockGraceSeconds
        self.useNetworkAddresses = useNetworkAddresses
        self.nodeLossGraceSeconds = nodeLossGraceSeconds
    }

    enum CodingKeys: String, CodingKey {
        case name, cidr, blockSize, disabled, strict, nodeSelector, allowedNamespaces, namespaceQuotas, excluded
        case cooldownSeconds, blockGraceSeconds, useNetworkAddresses, nodeLossGraceSeconds
    }

    /// Decodes with defaults for everything but `name` and `cidr`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let cidr = try c.decode(IPPrefix.self, forKey: .cidr)
        self.init(
            name: try c.decode(String.self, forKey: .name), cidr: cidr,
            blockSize: try c.decodeIfPresent(Int.self, forKey: .blockSize),
            disabled: try c.decodeIfPresent(Bool.self, forKey: .disabled) ?? false,
            strict: try c.decodeIfPresent(Bool.self, forKey: .strict) ?? false,
            nodeSelector: try c.decodeIfPresent([String: String].self, forKey: .nodeSelector) ?? [:],
            allowedNamespaces: try c.decodeIfPresent([String].self, forKey: .allowedNamespaces),
            namespaceQuotas: try c.decodeIfPresent([String: Int].self, forKey: .namespaceQuotas) ?? [:],
            excluded: try c.decodeIfPresent([IPRange].self, forKey: .excluded) ?? [],
            cooldownSeconds: try c.decodeIfPresent(Double.self, forKey: .cooldownSeconds) ?? Pool.defaultCooldownSeconds,
            blockGraceSeconds: try c.decodeIfPresent(Double.self, forKey: .blockGraceSeconds) ?? Pool.defaultBlockGraceSeconds,
            useNetworkAddresses: try c.decodeIfPresent(Bool.self, forKey: .useNetworkAddresses) ?? false,
            nodeLossGraceSeconds: try c.decodeIfPresent(Double.self, forKey: .nodeLossGraceSeconds) ?? Pool.defaultNodeLossGraceSeconds)
    }

    /// Checks the definition; the error names the field.
    public func validate() throws(IPAMError) {
        guard Names.isValid(name) else {
            throw .invalidPool(field: "name", problem: "\"\(name)\" must be 1-63 of [a-z0-9.-_], starting alphanumeric")
        }
        let sizes = cidr.isIPv4 ? Pool.ipv4BlockSizes : Pool.ipv6BlockSizes
        guard sizes.contains(blockSize) else {
            throw .invalidPool(field: "blockSize", problem: "\(blockSize) must be within /\(sizes.lowerBound)-/\(sizes.upperBound)")
        }
        guard blockSize >= cidr.length else {
            throw .invalidPool(field: "blockSize", problem: "/\(blockSize) is larger than the pool's /\(cidr.length)")
        }
        for (i, r) in excluded.enumerated() where !(cidr.contains(r.first) && cidr.contains(r.last)) {
            throw .invalidPool(field: "excluded[\(i)]", problem: "\(r) is not inside \(cidr)")
        }
        for (ns, q) in namespaceQuotas where q < 0 {
            throw .invalidPool(field: "namespaceQuotas.\(ns)", problem: "must not be negative")
        }
        guard cooldownSeconds >= 0, cooldownSeconds.isFinite else {
            throw .invalidPool(field: "cooldownSeconds", problem: "must be a non-negative number")
        }
        guard blockGraceSeconds >= 0, blockGraceSeconds.isFinite else {
            throw .invalidPool(field: "blockGraceSeconds", problem: "must be a non-negative number")
        }
        guard nodeLossGraceSeconds >= 0, nodeLossGraceSeconds.isFinite else {
            throw .invalidPool(field: "nodeLossGraceSeconds", problem: "must be a non-negative number")
        }
    }

    /// Never handed out automatically, and refused when requested: the
    /// excluded ranges, and the network (IPv4: and broadcast) address
    /// unless `useNetworkAddresses`.
    public func isExcluded(_ ip: IPAddress) -> Bool {
        isNetworkAddress(ip) || excluded.contains { $0.contains(ip) }
    }

    /// The pool's first address, and for IPv4 its last (RFC 919 broadcast);
    /// IPv6 has no broadcast, but its first is the subnet-router anycast
    /// address (RFC 4291 §2.6.1).
    public func isNetworkAddress(_ ip: IPAddress) -> Bool {
        guard !useNetworkAddresses, cidr.length < (cidr.isIPv4 ? 31 : 127) else { return false }
        return ip == cidr.address || (cidr.isIPv4 && ip == cidr.lastAddress)
    }

    public func allows(namespace: String) -> Bool { allowedNamespaces.map { $0.contains(namespace) } ?? true }

    public func selects(node: String, labels: [String: String]) -> Bool {
        var all = labels
        all["kubernetes.io/hostname"] = node
        return nodeSelector.allSatisfy { all[$0.key] == $0.value }
    }

    public func quota(for namespace: String) -> Int? { namespaceQuotas[namespace] ?? namespaceQuotas["*"] }
}

/// One taken address of a block: held by a pod (`handle`), bound to a
/// sticky claim (`claim`), or both.
public struct Slot: Codable, Hashable, Sendable {
    public var ordinal: Int
    public var handle: String?
    public var claim: String?
    public var namespace: String
    /// The node whose usage counter counts this slot (`Keys.usage(pool:
    /// namespace:node:)`); nil: the pool-wide counter of earlier records.
    public var countedBy: String?
}

/// A released address waiting out its pool's cooldown.
public struct Cooling: Codable, Hashable, Sendable {
    public var ordinal: Int
    public var until: Date
}

/// A block of a pool. `node` is the node that claimed it (affinity); a
/// block without affinity holds only addresses requested explicitly.
public struct Block: Codable, Hashable, Sendable {
    public var cidr: IPPrefix
    public var pool: String
    public var node: String?
    public var claimedAt: Date
    /// Taken addresses, sorted by ordinal.
    public var slots: [Slot]
    public var cooling: [Cooling]
    /// Set when the last slot went; the block is released after the pool's
    /// grace period.
    public var emptySince: Date?

    func slotIndex(_ ordinal: Int) -> Int? { slots.firstIndex { $0.ordinal == ordinal } }

    /// The address of a slot's ordinal.
    public func address(ordinal: Int) -> IPAddress? { cidr.address(at: ordinal) }

    mutating func insert(_ slot: Slot) {
        let i = slots.firstIndex { $0.ordinal > slot.ordinal } ?? slots.endIndex
        slots.insert(slot, at: i)
        emptySince = nil
    }

    func isCooling(_ ordinal: Int, now: Date) -> Bool { cooling.contains { $0.ordinal == ordinal && $0.until > now } }

    /// The lowest ordinal that is free, not cooling down and not excluded.
    func firstFree(pool: Pool, now: Date) -> Int? {
        let count = Int(min(cidr.addressCount, 1 << 16))
        var taken = Set(slots.map(\.ordinal))
        for c in cooling where c.until > now { taken.insert(c.ordinal) }
        if taken.count >= count { return nil }
        for o in 0..<count where !taken.contains(o) {
            if let ip = cidr.address(at: o), !pool.isExcluded(ip) { return o }
        }
        return nil
    }
}

/// An allocation owner: one container's interface. Written in the same
/// transaction as the addresses it holds, so DEL and GC find everything.
public struct HandleRecord: Codable, Hashable, Sendable {
    public var containerID: String
    public var ifName: String
    public var namespace: String
    public var pod: String
    public var claim: String?
    public var node: String
    public var ips: [IPAddress]
    public var start: Date
    /// The history records opened for this allocation, to close on release.
    public var historyKeys: [String]

    public var id: String { HandleRecord.id(containerID: containerID, ifName: ifName) }
    public static func id(containerID: String, ifName: String) -> String { Attachment.id(containerID: containerID, ifName: ifName) }
}

/// A sticky claim: a workload identity bound to fixed addresses. It
/// outlives pods and is released only explicitly.
public struct ClaimRecord: Codable, Hashable, Sendable {
    public var name: String
    public var namespace: String
    public var ips: [IPAddress]
    public var createdAt: Date
    /// The handle currently using the claim's addresses.
    public var holder: String?
}

/// One tenure of an address: who held it, from when to when, and why it
/// ended. Records are never deleted; `end` is set once, on release.
public struct HistoryRecord: Codable, Hashable, Sendable {
    public var ip: IPAddress
    public var pool: String
    public var namespace: String
    public var pod: String
    public var claim: String?
    public var containerID: String
    public var ifName: String
    public var node: String
    public var start: Date
    public var end: Date?
    public var reason: String?

    public func covers(_ t: Date) -> Bool { start <= t && (end.map { t < $0 } ?? true) }
}

enum Names {
    /// Pool, node and namespace names become key path components.
    static func isValid(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 253 else { return false }
        guard let f = u.first, isAlnum(f) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }
    }
    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}

/// The key layout. Every record is JSON.
public enum Keys {
    public static func pool(_ name: String) -> String { "ipam/pools/\(name)" }
    public static let pools = "ipam/pools/"
    public static func node(_ name: String) -> String { "ipam/nodes/\(name)" }
    public static func block(pool: String, cidr: IPPrefix) -> String { "ipam/blocks/\(pool)/\(cidr)" }
    public static func blocks(pool: String) -> String { "ipam/blocks/\(pool)/" }
    public static func affinity(node: String, pool: String, cidr: IPPrefix) -> String { "ipam/affinity/\(node)/\(pool)/\(cidr)" }
    public static func affinities(node: String) -> String { "ipam/affinity/\(node)/" }
    /// The pool and block an affinity key of `node` names (the inverse of
    /// `affinity(node:pool:cidr:)`), nil for a key that is not one.
    static func affinityBlock(_ key: String, node: String) -> (pool: String, cidr: IPPrefix)? {
        let rest = key.dropFirst(affinities(node: node).count)
        guard let slash = rest.firstIndex(of: "/"), let cidr = IPPrefix(String(rest[rest.index(after: slash)...])) else { return nil }
        return (String(rest[..<slash]), cidr)
    }
    public static func handle(_ id: String) -> String { "ipam/handles/\(id)" }
    public static let handles = "ipam/handles/"
    public static func claim(_ name: String) -> String { "ipam/claims/\(name)" }
    public static let claims = "ipam/claims/"
    /// Pool-wide counter, as written before counters were per node (read, and
    /// decremented as its slots go).
    public static func usage(pool: String, namespace: String) -> String { "ipam/usage/\(pool)/\(namespace)" }
    public static func usage(pool: String, namespace: String, node: String) -> String { "ipam/usage/\(pool)/\(namespace)/\(node)" }
    public static func usageShards(pool: String, namespace: String) -> String { "ipam/usage/\(pool)/\(namespace)/" }
    public static func history(_ ip: IPAddress) -> String { "ipam/history/\(ip)/" }
    public static func history(_ ip: IPAddress, start: Date, handle: String) -> String {
        let nanos = Int64((start.timeIntervalSince1970 * 1e9).rounded())
        let digits = String(nanos)
        return "ipam/history/\(ip)/\(String(repeating: "0", count: max(0, 20 - digits.count)))\(digits)-\(handle)"
    }
}

extension Block {
    /// A block just claimed, with nothing taken yet.
    public init(cidr: IPPrefix, pool: String, node: String?, claimedAt: Date) {
        self.cidr = cidr
        self.pool = pool
        self.node = node
        self.claimedAt = claimedAt
        slots = []
        cooling = []
        emptySince = nil
    }
}
