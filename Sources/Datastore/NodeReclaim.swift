#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAM
import IPAddressing
import KeyValueStore

/// Takes back what a lost node held, once its pools' `nodeLossGraceSeconds`
/// have passed: its pods' allocations (with their endpoint records, so no
/// other node routes or polices a pod that is gone), then its blocks.
/// Sticky claims keep their addresses: a workload rescheduled elsewhere
/// comes back with the same IP. Every step is its own transaction of a
/// few handles (one release and its endpoint atomically), so a kill at any
/// point leaves a consistent store and a re-run finishes the job.
public struct NodeReclaim: Sendable {
    public struct Report: Hashable, Sendable {
        public var released: [HandleRecord] = []
        public var blocks: [IPAM.BlockReclaim] = []
        public var isEmpty: Bool { released.isEmpty && blocks.isEmpty }
    }

    public let ipam: IPAM
    public init(ipam: IPAM = IPAM()) { self.ipam = ipam }

    /// Blocks per transaction: two writes each, well inside
    /// `KVLimits.maxWritesPerTransaction`.
    static let blocksPerTransaction = 40
    /// Releases per transaction: a release writes about six keys, its
    /// endpoint one more.
    static let releasesPerTransaction = 12

    /// `deadFor`: seconds since the node was found dead (`.infinity` for an
    /// operator's explicit reclaim, which ignores the grace).
    public func reclaim(node: String, deadFor: Double, reason: String, in store: any KVStore) throws -> Report {
        var report = Report()
        let (pools, handles) = try store.read { tx in (try ipam.pools(tx), try ipam.handles(tx).filter { $0.node == node }) }
        let due = handles.filter { h in
            // A handle spanning pools waits for the longest of their graces.
            let grace = h.ips.map { ip in pools.first { $0.cidr.contains(ip) }?.nodeLossGraceSeconds ?? Pool.defaultNodeLossGraceSeconds }.max()
            return deadFor >= (grace ?? 0)
        }
        for chunk in due.chunked(by: Self.releasesPerTransaction) {
            let released = try store.transaction { tx in
                try chunk.compactMap { h -> HandleRecord? in
                    let r = try ipam.release(containerID: h.containerID, ifName: h.ifName, reason: reason, tx)
                    try Endpoints.delete(containerID: h.containerID, ifName: h.ifName, tx)
                    return r
                }
            }
            report.released += released
        }
        // The node's endpoint records without an allocation (released by
        // an operator, or by an earlier reclaim that was cut short).
        let minGrace = pools.map(\.nodeLossGraceSeconds).min() ?? Pool.defaultNodeLossGraceSeconds
        if deadFor >= minGrace {
            let orphans = try store.read { tx in
                try Endpoints.all(tx).filter { e in
                    guard e.node == node else { return false }
                    return try ipam.handle(containerID: e.containerID, ifName: e.ifName, tx) == nil
                }
            }
            for chunk in orphans.chunked(by: Self.releasesPerTransaction * 4) {
                try store.transaction { tx in
                    for e in chunk { try Endpoints.delete(containerID: e.containerID, ifName: e.ifName, tx) }
                }
            }
        }
        while true {
            let step = try store.transaction { tx in
                try ipam.reclaimBlocks(ofLostNode: node, deadFor: deadFor, limit: Self.blocksPerTransaction, tx)
            }
            report.blocks += step
            if step.count < Self.blocksPerTransaction { break }
        }
        return report
    }
}
