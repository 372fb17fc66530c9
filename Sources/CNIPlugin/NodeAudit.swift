import ClusterModel
import Datastore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAM
import IPAddressing
import KeyValueStore
import JSON
import NetNS
import Netlink

/// What a node's kernel holds for Caracal's pods, read once: the ground
/// truth the datastore's records are compared with.
public struct LiveNode: Sendable {
    /// Caracal's host veths (`crc…`), by name, with their indexes.
    public var hostVeths: [String: UInt32]
    /// Caracal's host routes (protocol 201, /32 or /128 out of a host veth).
    public var hostRoutes: [(prefix: IPPrefix, interfaceIndex: UInt32)]
    /// Whether each endpoint's network namespace path is still a network
    /// namespace, by path.
    public var liveNamespaces: Set<String>

    public init(hostVeths: [String: UInt32], hostRoutes: [(prefix: IPPrefix, interfaceIndex: UInt32)], liveNamespaces: Set<String>) {
        self.hostVeths = hostVeths
        self.hostRoutes = hostRoutes
        self.liveNamespaces = liveNamespaces
    }

    /// Reads the node (the namespace `wiring` runs in) for `endpoints`.
    public static func observe(wiring: PodWiring, endpoints: [EndpointRecord]) throws -> LiveNode {
        let rt = try RTNetlink(namespace: wiring.hostNamespace)
        var veths: [String: UInt32] = [:]
        for link in try rt.links() where PodWiring.isHostVeth(link) { veths[link.name] = link.index }
        let indexes = Set(veths.values)
        var routes: [(prefix: IPPrefix, interfaceIndex: UInt32)] = []
        for family in [RouteFilter.Family.ipv4, .ipv6] {
            try rt.forEachRoute(RouteFilter(family: family, table: .main, protocol: .caracal)) { route in
                guard route.destination.length == (family == .ipv4 ? 32 : 128) else { return }
                for hop in route.nextHops where hop.gateway == nil {
                    if indexes.contains(hop.interfaceIndex) { routes.append((route.destination, hop.interfaceIndex)) }
                }
            }
        }
        var live = Set<String>()
        for path in Set(endpoints.compactMap(\.netns)) where NetworkNamespace(path: path).isNetworkNamespace { live.insert(path) }
        return LiveNode(hostVeths: veths, hostRoutes: routes, liveNamespaces: live)
    }
}

/// One thing `caracal ipam check` finds wrong. `isDead` findings are
/// provably dead and `caracal ipam gc` removes them once seen twice; the
/// others are broken attachments for an operator (or CNI CHECK) to look at.
public struct AuditFinding: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// The endpoint's network namespace is gone (a reboot, or a runtime
        /// that refused DEL for a vanished namespace): the address leaks.
        case networkNamespaceGone
        /// A live namespace, but the host veth is gone: the pod is cut off.
        case hostVethMissing
        /// The host route to a pod address is missing or leads elsewhere.
        case hostRouteMissing
        /// A host veth that no endpoint of this node names.
        case hostVethWithoutEndpoint
        /// A Caracal host route out of a pod's veth to an address that
        /// pod's endpoint does not hold.
        case hostRouteWithoutEndpoint
        /// An allocation of this node with no endpoint record.
        case allocationWithoutEndpoint
        /// An endpoint record with no allocation.
        case endpointWithoutAllocation
        /// ADD never finished (the namespace is still there).
        case endpointStuckWiring
    }

    public var kind: Kind
    public var node: String
    public var containerID: String?
    public var ifName: String?
    public var namespace: String?
    public var pod: String?
    public var ips: [IPAddress]
    public var hostVeth: String?
    public var detail: String

    public var isDead: Bool {
        switch kind {
        case .networkNamespaceGone, .hostVethWithoutEndpoint, .hostRouteWithoutEndpoint, .allocationWithoutEndpoint: true
        case .hostVethMissing, .hostRouteMissing, .endpointWithoutAllocation, .endpointStuckWiring: false
        }
    }

    /// Identifies the finding across runs (the two-observation rule).
    public var key: String {
        switch kind {
        case .hostVethWithoutEndpoint: "\(node)/veth/\(hostVeth ?? "")"
        case .hostRouteWithoutEndpoint: "\(node)/route/\(ips.first?.description ?? "")"
        default: "\(node)/\(kind.rawValue)/\(containerID ?? "")/\(ifName ?? "")"
        }
    }
}

/// Compares the datastore's records with a live node. Pure: the same
/// inputs give the same findings, so the agent can run it periodically.
public enum NodeAudit {
    public static func findings(
        node: String, endpoints: [EndpointRecord], handles: [HandleRecord], live: LiveNode
    ) -> [AuditFinding] {
        var out: [AuditFinding] = []
        let handleIDs = Set(handles.map(\.id))
        let endpointIDs = Set(endpoints.map(\.id))
        func finding(_ kind: AuditFinding.Kind, _ e: EndpointRecord, _ detail: String) -> AuditFinding {
            AuditFinding(
                kind: kind, node: e.node, containerID: e.containerID, ifName: e.ifName, namespace: e.namespace, pod: e.pod,
                ips: e.ips, hostVeth: e.hostVeth, detail: detail)
        }
        // The datastore against itself (every node).
        for h in handles where !endpointIDs.contains(h.id) {
            out.append(AuditFinding(
                kind: .allocationWithoutEndpoint, node: h.node, containerID: h.containerID, ifName: h.ifName, namespace: h.namespace,
                pod: h.pod, ips: h.ips, hostVeth: nil, detail: "an allocation with no endpoint record"))
        }
        for e in endpoints where !handleIDs.contains(e.id) {
            out.append(finding(.endpointWithoutAllocation, e, "an endpoint record with no allocation"))
        }
        // This node's endpoints against its kernel.
        let mine = endpoints.filter { $0.node == node }
        var routesByVeth: [UInt32: Set<IPPrefix>] = [:]
        for r in live.hostRoutes { routesByVeth[r.interfaceIndex, default: []].insert(r.prefix) }
        for e in mine {
            guard let netns = e.netns, live.liveNamespaces.contains(netns) else {
                out.append(finding(.networkNamespaceGone, e, "network namespace \(e.netns ?? "(none recorded)") is gone"))
                continue
            }
            if e.state == .wiring { out.append(finding(.endpointStuckWiring, e, "ADD never finished")) }
            guard let index = live.hostVeths[e.hostVeth] else {
                out.append(finding(.hostVethMissing, e, "host veth \(e.hostVeth) is missing"))
                continue
            }
            let routed = routesByVeth[index] ?? []
            for ip in e.ips where !routed.contains(PodWiring.hostPrefix(ip)) {
                var f = finding(.hostRouteMissing, e, "no route \(PodWiring.hostPrefix(ip)) dev \(e.hostVeth)")
                f.ips = [ip]
                out.append(f)
            }
        }
        // The kernel against this node's records.
        let recorded = Dictionary(mine.map { ($0.hostVeth, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, index) in live.hostVeths.sorted(by: { $0.key < $1.key }) {
            guard let e = recorded[name] else {
                out.append(AuditFinding(
                    kind: .hostVethWithoutEndpoint, node: node, ips: (routesByVeth[index] ?? []).map(\.address).sorted(),
                    hostVeth: name, detail: "host veth \(name) has no endpoint record"))
                continue
            }
            let held = Set(e.ips.map(PodWiring.hostPrefix))
            for prefix in (routesByVeth[index] ?? []).sorted() where !held.contains(prefix) {
                out.append(AuditFinding(
                    kind: .hostRouteWithoutEndpoint, node: node, containerID: e.containerID, ifName: e.ifName, ips: [prefix.address],
                    hostVeth: name, detail: "route \(prefix) dev \(name) leads to a pod that does not hold it"))
            }
        }
        return out
    }
}

/// A dead finding seen by an earlier `gc` run: `gc/suspects/<key>`.
public struct GCSuspect: Codable, Hashable, Sendable {
    public var firstSeen: Date
    public var finding: AuditFinding

    public static let prefix = "gc/suspects/"

    /// Calico's rule for leaked addresses: act only on what was seen dead
    /// by two observations at least `minAge` apart, so that an ADD or DEL
    /// in flight (a veth made before its record, a record written before
    /// its veth) is never mistaken for a leak.
    public static func plan(
        dead: [AuditFinding], suspects: [String: GCSuspect], now: Date, minAge: Double
    ) -> (act: [AuditFinding], observe: [AuditFinding], forget: [String]) {
        var act: [AuditFinding] = []
        var observe: [AuditFinding] = []
        let current = Set(dead.map(\.key))
        for f in dead {
            if let s = suspects[f.key], s.finding == f, now.timeIntervalSince(s.firstSeen) >= minAge {
                act.append(f)
            } else if suspects[f.key]?.finding != f {
                observe.append(f)
            }
        }
        let forget = suspects.keys.filter { !current.contains($0) }.sorted()
        return (act, observe, forget)
    }
}

/// `caracal ipam gc` (and, later, the agent's periodic sweep): removes what
/// the audit proves dead, under the two-observation rule.
public struct NodeGC {
    public var wiring: PodWiring
    public var ipam: IPAM
    public var node: String

    public init(wiring: PodWiring, ipam: IPAM = IPAM(), node: String) {
        self.wiring = wiring
        self.ipam = ipam
        self.node = node
    }

    public struct Report: Codable, Sendable {
        public var node: String
        /// Dead findings seen for the first time (acted on by a later run).
        public var observed: [AuditFinding]
        /// Dead findings removed by this run.
        public var removed: [AuditFinding]
        /// Findings left for an operator: broken, not provably dead.
        public var reported: [AuditFinding]
    }

    /// One sweep: observe, then in one transaction release what was seen
    /// dead before (still dead, and its records unchanged) and remember
    /// what is newly dead; links and routes go after the commit.
    public func run(store: any KVStore, minAge: Double, now: Date = Date()) throws -> Report {
        let (endpoints, handles) = try store.read { tx in (try Endpoints.all(tx), try ipam.handles(tx)) }
        let live = try LiveNode.observe(wiring: wiring, endpoints: endpoints)
        // Only this node's kernel was read: act on this node's findings only.
        let findings = NodeAudit.findings(node: node, endpoints: endpoints, handles: handles, live: live).filter { $0.node == node }
        let dead = findings.filter(\.isDead)
        let plan = try store.read { tx in
            var suspects: [String: GCSuspect] = [:]
            for (key, value) in try tx.list(prefix: GCSuspect.prefix + node + "/") {
                suspects[String(key.dropFirst(GCSuspect.prefix.count))] = try JSONValueDecoder().decode(GCSuspect.self, from: value)
            }
            return GCSuspect.plan(dead: dead, suspects: suspects, now: now, minAge: minAge)
        }
        // Each release re-checks its finding in the transaction that acts on
        // it; chunks keep every transaction within KVLimits.
        var act: [AuditFinding] = []
        for chunk in plan.act.chunked(by: CNIPlugin.releasesPerTransaction) {
            act += try store.transaction { tx -> [AuditFinding] in
                var done: [AuditFinding] = []
                for f in chunk where try stillDead(f, tx) {
                    if let id = f.containerID, let ifName = f.ifName, f.kind == .networkNamespaceGone || f.kind == .allocationWithoutEndpoint {
                        _ = try ipam.release(containerID: id, ifName: ifName, reason: "GC: \(f.detail)", tx)
                        try Endpoints.delete(containerID: id, ifName: ifName, tx)
                    }
                    try tx.delete(GCSuspect.prefix + f.key)
                    done.append(f)
                }
                return done
            }
        }
        let bookkeeping: [(key: String, suspect: GCSuspect?)] =
            plan.observe.map { (GCSuspect.prefix + $0.key, GCSuspect(firstSeen: now, finding: $0)) }
            + plan.forget.map { (GCSuspect.prefix + $0, nil) }
        for chunk in bookkeeping.chunked(by: KVLimits.maxWritesPerTransaction) {
            try store.transaction { tx in
                for (key, suspect) in chunk {
                    if let suspect { try tx.put(key, Data(try JSONValueEncoder().encodedBytes(suspect))) } else { try tx.delete(key) }
                }
            }
        }
        if !act.isEmpty { try store.transaction { tx in _ = try ipam.releaseEmptyBlocks(node: node, tx) } }
        let observe = plan.observe
        try wiring.forgetConnections(of: act.filter { $0.kind == .networkNamespaceGone || $0.kind == .allocationWithoutEndpoint }.flatMap(\.ips))
        for f in act {
            switch f.kind {
            case .networkNamespaceGone, .hostVethWithoutEndpoint:
                try wiring.unwire(netns: nil, ifName: f.ifName ?? "", hostVeth: f.hostVeth)
            case .hostRouteWithoutEndpoint:
                try wiring.removeHostRoutes(f.ips, hostVeth: f.hostVeth)
            default: break
            }
        }
        return Report(node: node, observed: observe, removed: act, reported: findings.filter { !$0.isDead })
    }

    /// Re-checks a finding against the records inside the transaction that
    /// acts on it: an ADD or DEL since the observation wins.
    private func stillDead(_ f: AuditFinding, _ tx: KVTransaction) throws -> Bool {
        switch f.kind {
        case .networkNamespaceGone:
            guard let id = f.containerID, let ifName = f.ifName, let e = try Endpoints.get(containerID: id, ifName: ifName, tx) else { return false }
            return e.hostVeth == f.hostVeth && !(e.netns.map { NetworkNamespace(path: $0).isNetworkNamespace } ?? false)
        case .allocationWithoutEndpoint:
            guard let id = f.containerID, let ifName = f.ifName else { return false }
            return try Endpoints.get(containerID: id, ifName: ifName, tx) == nil && ipam.handle(containerID: id, ifName: ifName, tx) != nil
        case .hostVethWithoutEndpoint:
            return try !Endpoints.all(tx).contains { $0.node == node && $0.hostVeth == f.hostVeth }
        case .hostRouteWithoutEndpoint:
            guard let id = f.containerID, let ifName = f.ifName else { return true }
            let e = try Endpoints.get(containerID: id, ifName: ifName, tx)
            return !(e.map { e in f.ips.allSatisfy { e.ips.contains($0) } } ?? false)
        default:
            return false
        }
    }
}
