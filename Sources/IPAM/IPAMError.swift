import IPAddressing

/// Why IPAM refused. The plugin maps each case to a CNI code (100+ for the
/// IPAM-specific ones, documented in docs/cni.md).
public enum IPAMError: Error, Hashable, Sendable, CustomStringConvertible {
    case requestedIPNotInPool(IPAddress)
    case ipHeld(IPAddress, by: String)
    case claimInUse(String, by: String)
    case quotaExceeded(namespace: String, pool: String, limit: Int)
    case requestedIPReserved(IPAddress, pool: String)
    case exhausted(family: String, pools: [String])
    case noEligiblePool(family: String, reason: String)
    case namespaceNotAllowed(namespace: String, pools: [String])
    case alreadyAllocated(handle: String)
    case invalidPool(field: String, problem: String)
    case poolOverlaps(String, existing: String)
    case poolInUse(String, allocations: Int)
    case unknownPool(String)
    case unknownClaim(String)
    case corruptRecord(key: String, problem: String)

    public var description: String {
        switch self {
        case .requestedIPNotInPool(let ip): "requested IP \(ip) is not in any pool"
        case .ipHeld(let ip, let by): "IP \(ip) is held by another workload (\(by))"
        case .claimInUse(let c, let by): "claim \(c) is in use by another workload (\(by))"
        case .quotaExceeded(let ns, let pool, let limit): "quota exceeded: namespace \(ns) holds its \(limit) addresses in pool \(pool)"
        case .requestedIPReserved(let ip, let pool): "requested IP \(ip) is in an excluded range of pool \(pool)"
        case .exhausted(let f, let pools): "no free \(f) address in pools [\(pools.joined(separator: ", "))]"
        case .noEligiblePool(let f, let reason): "no \(f) pool can serve this pod: \(reason)"
        case .namespaceNotAllowed(let ns, let pools): "namespace \(ns) may not use pools [\(pools.joined(separator: ", "))]"
        case .alreadyAllocated(let h): "\(h) already holds an allocation"
        case .invalidPool(let f, let p): "\(f): \(p)"
        case .poolOverlaps(let p, let e): "pool \(p) overlaps pool \(e)"
        case .poolInUse(let p, let n): "pool \(p) still has \(n) allocations"
        case .unknownPool(let p): "no pool named \(p)"
        case .unknownClaim(let c): "no claim named \(c)"
        case .corruptRecord(let k, let p): "undecodable record \(k): \(p)"
        }
    }
}
