#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAddressing

/// Where the cluster's own resources live in the key space (IPAM keeps
/// `ipam/`, the CNI plugin `endpoints/`). Every agent watches these.
public enum ClusterKeys {
    public static let nodes = "cluster/nodes/"
    public static func node(_ name: String) -> String { nodes + name }
    public static let liveness = "cluster/liveness/"
    public static func liveness(_ name: String) -> String { liveness + name }
    public static let bgpConfiguration = "cluster/bgp/configuration"
    public static let bgpPeers = "cluster/bgp/peers/"
    public static func bgpPeer(_ name: String) -> String { bgpPeers + name }
    public static let namespaces = "cluster/namespaces/"
    public static func namespace(_ name: String) -> String { namespaces + name }
    /// `cluster/policies/<namespace>/<name>` for NetworkPolicy,
    /// `cluster/policies/_global/<name>` for GlobalNetworkPolicy.
    /// Each node's established sessions, published by its agent when they
    /// change (`caracal cluster graph`).
    public static let sessions = "cluster/sessions/"
    public static func sessions(_ node: String) -> String { sessions + node }
    public static let policies = "cluster/policies/"
    public static func policy(namespace: String?, name: String) -> String { policies + (namespace ?? "_global") + "/" + name }
}

/// A node as its agent registers it (Calico's Node resource, BGP part).
public struct NodeSpec: Codable, Hashable, Sendable {
    public var name: String
    /// The node's addresses for BGP and as next hops: at most one IPv4
    /// and one IPv6 (each family's sessions use that family's address).
    public var addresses: [IPAddress]
    /// nil: the cluster's AS (`BGPClusterSettings.asNumber`).
    public var asNumber: UInt32?
    public var labels: [String: String]
    /// Set on route reflectors (RFC 4456 CLUSTER_ID). Used when the
    /// cluster runs reflectors instead of a full mesh.
    public var routeReflectorClusterID: IPv4Address?
    /// Where the node's speaker listens (179 unless moved, e.g. in tests).
    public var bgpPort: Int?
    /// How the addresses were chosen (autodetection reported in status).
    public var addressSource: String?

    public init(name: String, addresses: [IPAddress], asNumber: UInt32? = nil, labels: [String: String] = [:],
                routeReflectorClusterID: IPv4Address? = nil, bgpPort: Int? = nil, addressSource: String? = nil) {
        self.name = name
        self.addresses = addresses
        self.asNumber = asNumber
        self.labels = labels
        self.routeReflectorClusterID = routeReflectorClusterID
        self.bgpPort = bgpPort
        self.addressSource = addressSource
    }

    public var ipv4: IPAddress? { addresses.first { $0.isIPv4 } }
    public var ipv6: IPAddress? { addresses.first { !$0.isIPv4 } }
    public func address(ipv4 family: Bool) -> IPAddress? { family ? ipv4 : ipv6 }
    public var isReflector: Bool { routeReflectorClusterID != nil }
}

/// A node's liveness, refreshed by its agent every heartbeat. Observers
/// time it by their own clock (when they last saw it change), never by the
/// writer's timestamp, so clock skew between nodes does not matter.
public struct NodeLiveness: Codable, Hashable, Sendable {
    public enum State: String, Codable, Sendable {
        case running
        /// Stopped on purpose (restart or upgrade) with forwarding kept:
        /// peers keep its routes by graceful restart until `until`.
        case restarting
    }
    public var node: String
    public var state: State
    /// Increases with every heartbeat: observers see a change each time.
    public var sequence: UInt64
    public var heartbeat: Date
    public var until: Date?
    public var agentVersion: String?

    public init(node: String, state: State, sequence: UInt64, heartbeat: Date, until: Date? = nil, agentVersion: String? = nil) {
        self.node = node
        self.state = state
        self.sequence = sequence
        self.heartbeat = heartbeat
        self.until = until
        self.agentVersion = agentVersion
    }
}

/// Cluster-wide BGP settings (Calico's default BGPConfiguration).
public struct BGPClusterSettings: Codable, Hashable, Sendable {
    public var asNumber: UInt32
    /// Every node peers with every other (the default). Off: nodes with a
    /// route-reflector cluster ID reflect, the others peer only with them.
    public var nodeToNodeMesh: Bool
    /// Hold time of in-cluster sessions (keepalives at a third of it).
    public var holdTime: UInt16
    /// Seconds between liveness heartbeats.
    public var heartbeatInterval: Double
    /// A node whose liveness has not changed for this long is dead: its
    /// sessions are dropped without graceful-restart retention.
    public var livenessTimeout: Double
    public var serviceClusterIPs: [IPPrefix]
    public var serviceExternalIPs: [IPPrefix]
    public var serviceLoadBalancerIPs: [IPPrefix]
    /// BFD between nodes (RFC 5880/5881); nil: the defaults (on, 100 ms × 3).
    public var bfd: ClusterBFD?

    public static let defaultASNumber: UInt32 = 64512
    public var nodeBFD: ClusterBFD { bfd ?? ClusterBFD() }

    public init(asNumber: UInt32 = BGPClusterSettings.defaultASNumber, nodeToNodeMesh: Bool = true, holdTime: UInt16 = 9,
                heartbeatInterval: Double = 1, livenessTimeout: Double = 3,
                serviceClusterIPs: [IPPrefix] = [], serviceExternalIPs: [IPPrefix] = [], serviceLoadBalancerIPs: [IPPrefix] = []) {
        self.asNumber = asNumber
        self.nodeToNodeMesh = nodeToNodeMesh
        self.holdTime = holdTime
        self.heartbeatInterval = heartbeatInterval
        self.livenessTimeout = livenessTimeout
        self.serviceClusterIPs = serviceClusterIPs
        self.serviceExternalIPs = serviceExternalIPs
        self.serviceLoadBalancerIPs = serviceLoadBalancerIPs
    }

    public var serviceCIDRs: [IPPrefix] { serviceClusterIPs + serviceExternalIPs + serviceLoadBalancerIPs }
}

/// A BGP peer outside the cluster (a ToR), Calico's BGPPeer: the nodes
/// whose labels match `nodeSelector` (empty: all) peer with it.
public struct BGPPeerSpec: Codable, Hashable, Sendable {
    public var name: String
    public var peerIP: IPAddress
    public var asNumber: UInt32
    public var nodeSelector: [String: String]
    /// TCP MD5 (RFC 2385) secret, read from this file on each node.
    public var passwordFile: String?
    public var holdTime: UInt16?
    public var ttlSecurity: Bool?
    /// eBGP multihop TTL.
    public var multihop: Int?
    public var maxPrefixes: Int?
    /// Names of policies in the agent configuration (spec.bgp.policies).
    public var importPolicy: String?
    public var exportPolicy: String?
    public var port: Int?

    public init(name: String, peerIP: IPAddress, asNumber: UInt32, nodeSelector: [String: String] = [:]) {
        self.name = name
        self.peerIP = peerIP
        self.asNumber = asNumber
        self.nodeSelector = nodeSelector
    }

    public func selects(_ node: NodeSpec) -> Bool {
        nodeSelector.allSatisfy { key, value in
            (key == "kubernetes.io/hostname" ? node.name : node.labels[key]) == value
        }
    }
}

/// A namespace's labels (for namespaceSelector).
public struct NamespaceSpec: Codable, Hashable, Sendable {
    public var name: String
    public var labels: [String: String]
    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }
}

/// A stored policy document: its YAML as the user wrote it (checked by the
/// policy parser before it was stored; each agent parses it again).
public struct PolicyDocument: Codable, Hashable, Sendable {
    public var kind: String
    public var namespace: String?
    public var name: String
    public var source: String
    public init(kind: String, namespace: String?, name: String, source: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.source = source
    }
}

/// The sessions a node's agent has established (peer names), for views of
/// the whole cluster.
public struct NodeSessions: Codable, Hashable, Sendable {
    public var node: String
    public var established: [String]
    public init(node: String, established: [String]) {
        self.node = node
        self.established = established
    }
}

/// BFD on the sessions between nodes: a dead node's traffic moves in
/// `multiplier × interval` (300 ms by default) instead of the liveness
/// timeout; a restarting agent signals AdminDown first, which is no failure.
public struct ClusterBFD: Codable, Hashable, Sendable {
    public var enabled: Bool
    /// Milliseconds.
    public var minTx: Int
    public var minRx: Int
    public var multiplier: Int
    public init(enabled: Bool = true, minTx: Int = 100, minRx: Int = 100, multiplier: Int = 3) {
        self.enabled = enabled
        self.minTx = minTx
        self.minRx = minRx
        self.multiplier = multiplier
    }
}
