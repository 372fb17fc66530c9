import ClusterModel
import IPAddressing
import Policy

/// One BGP session a node should have.
public struct PlannedPeer: Hashable, Sendable, Comparable {
    public enum Kind: String, Hashable, Sendable, Codable {
        /// Another node of a full mesh.
        case mesh
        /// A route reflector this node is a client of, or (seen from a
        /// reflector) another reflector: plain iBGP.
        case reflector
        /// A node this reflector serves (RFC 4456 client).
        case reflectorClient
        /// A BGPPeer outside the cluster (a ToR).
        case external
    }
    public var name: String
    public var address: IPAddress
    public var asNumber: UInt32
    public var kind: Kind
    /// The node (cluster sessions) or BGPPeer name (external).
    public var owner: String
    public var holdTime: UInt16
    public var passwordFile: String?
    public var ttlSecurity: Bool = false
    public var multihop: Int?
    public var maxPrefixes: Int?
    public var importPolicy: String?
    public var exportPolicy: String?

    public var isCluster: Bool { kind != .external }
    public static func < (a: PlannedPeer, b: PlannedPeer) -> Bool { a.address < b.address }
}

/// A route the node itself owns (not learned by BGP).
public enum LocalRoute: Hashable, Sendable, Comparable {
    /// A block of this node: unallocated addresses in it die here.
    case blackhole(IPPrefix)
    /// A local pod's address, out of its host-side veth.
    case pod(IPPrefix, interface: String)

    public var prefix: IPPrefix {
        switch self {
        case .blackhole(let p), .pod(let p, _): p
        }
    }
    public static func < (a: LocalRoute, b: LocalRoute) -> Bool { a.prefix < b.prefix }
}

/// What one node should be doing, worked out from the cluster state alone
/// (pure: the agent applies it to the speaker, the kernel and nftables).
public struct NodePlan: Hashable, Sendable {
    public var peers: [PlannedPeer]
    /// Prefixes the node advertises: its blocks, its pods' addresses outside
    /// them (borrowed and sticky ones), and the cluster's service ranges.
    public var originate: [IPPrefix]
    public var localRoutes: [LocalRoute]

    /// - Parameter isLive: whether a node's liveness is current; dead nodes
    ///   get no sessions (their routes go at once, without graceful restart).
    public init(_ state: ClusterState, node name: String, isLive: (String) -> Bool) {
        peers = []
        originate = []
        localRoutes = []
        guard let me = state.nodes[name] else { return }
        let others = state.nodes.values.filter { $0.name != name && isLive($0.name) }.sorted { $0.name < $1.name }
        for other in others {
            let kind: PlannedPeer.Kind
            if state.bgp.nodeToNodeMesh {
                kind = .mesh
            } else if me.isReflector {
                kind = other.isReflector ? .reflector : .reflectorClient
            } else if other.isReflector {
                kind = .reflector
            } else {
                continue
            }
            // One session per family both nodes have (Calico's way): IPv6
            // routes need an IPv6 next hop.
            for ipv4 in [true, false] {
                guard me.address(ipv4: ipv4) != nil, let address = other.address(ipv4: ipv4) else { continue }
                peers.append(PlannedPeer(name: ipv4 ? other.name : "\(other.name)-v6", address: address,
                                         asNumber: state.asNumber(of: other), kind: kind, owner: other.name,
                                         holdTime: state.bgp.holdTime))
            }
        }
        for spec in state.peers.values.sorted(by: { $0.name < $1.name }) where spec.selects(me) {
            guard !peers.contains(where: { $0.address == spec.peerIP }), me.address(ipv4: spec.peerIP.isIPv4) != nil else { continue }
            peers.append(PlannedPeer(name: spec.name, address: spec.peerIP, asNumber: spec.asNumber, kind: .external, owner: spec.name,
                                     holdTime: spec.holdTime ?? 90, passwordFile: spec.passwordFile, ttlSecurity: spec.ttlSecurity ?? false,
                                     multihop: spec.multihop, maxPrefixes: spec.maxPrefixes, importPolicy: spec.importPolicy,
                                     exportPolicy: spec.exportPolicy))
        }
        peers.sort()

        let ownBlocks = state.blocks.filter { $0.value.node == name }.keys.sorted()
        var originated = Set(ownBlocks)
        var routes = ownBlocks.map(LocalRoute.blackhole)
        for endpoint in state.endpoints.values where endpoint.node == name {
            for ip in endpoint.ips {
                let host = IPPrefix(address: ip, length: ip.isIPv4 ? 32 : 128)!
                // Addresses outside the node's blocks (borrowed, fixed,
                // sticky) are advertised one by one.
                if !ownBlocks.contains(where: { $0.contains(ip) }) { originated.insert(host) }
                routes.append(.pod(host, interface: endpoint.hostVeth))
            }
        }
        originated.formUnion(state.bgp.serviceCIDRs)
        originate = originated.sorted()
        localRoutes = routes.sorted()
    }
}

/// The policy compiler's input from the cluster state, as seen from one
/// node: endpoints on it carry their interface (enforced here), the others
/// are peers only.
public struct PolicyInput: Hashable, Sendable {
    public var policies: PolicySet
    public var inventory: EndpointInventory

    public init(_ state: ClusterState, node: String) {
        // Parsed as they arrived (`ClusterState.parsedPolicies`); a document
        // that did not parse never entered the state (its error was logged).
        var set = PolicySet()
        for key in state.parsedPolicies.keys.sorted() {
            let parsed = state.parsedPolicies[key]!
            set.networkPolicies += parsed.networkPolicies
            set.globalPolicies += parsed.globalPolicies
        }
        policies = set
        var namespaces: [String: [String: String]] = [:]
        for ns in state.namespaces.values { namespaces[ns.name] = ns.labels }
        // One policy endpoint per pod: a pod's interfaces share its labels.
        var byPod: [String: Endpoint] = [:]
        for record in state.endpoints.values.sorted(by: { $0.id < $1.id }) {
            let id = "\(record.namespace)/\(record.pod)"
            let local = record.node == node
            if var existing = byPod[id] {
                existing.addresses += record.ips.map(NumericAddress.init)
                byPod[id] = existing
                continue
            }
            byPod[id] = Endpoint(namespace: record.namespace, name: record.pod, labels: record.labels,
                                 addresses: record.ips.map(NumericAddress.init), interface: local ? record.hostVeth : nil)
        }
        inventory = EndpointInventory(namespaces: namespaces, endpoints: byPod.values.sorted { $0.id < $1.id })
    }
}
