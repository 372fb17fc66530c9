/// The policy model: Kubernetes NetworkPolicy (networking.k8s.io/v1) and
/// Caracal's GlobalNetworkPolicy, as validated value types.

public enum Direction: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    case ingress = "Ingress"
    case egress = "Egress"
    public static func < (a: Direction, b: Direction) -> Bool { a == .ingress && b == .egress }
    /// Short form used in chain names and comments.
    public var short: String { self == .ingress ? "in" : "out" }
}

/// Transport protocols a rule can name. ICMP only in global policies.
public enum L4Protocol: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    case tcp = "TCP", udp = "UDP", sctp = "SCTP", icmp = "ICMP", icmpv6 = "ICMPv6"
    public var number: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .sctp: 132
        case .icmp: 1
        case .icmpv6: 58
        }
    }
    public init?(number: UInt8) {
        guard let p = L4Protocol.allCases.first(where: { $0.number == number }) else { return nil }
        self = p
    }
    public var nftName: String { self == .icmpv6 ? "ipv6-icmp" : rawValue.lowercased() }
    public var hasPorts: Bool { self == .tcp || self == .udp || self == .sctp }
    public static func < (a: L4Protocol, b: L4Protocol) -> Bool { a.number < b.number }
}

/// `metav1.LabelSelector`: matchLabels AND every matchExpression. The empty
/// selector selects everything.
public struct LabelSelector: Hashable, Sendable {
    public enum Operator: String, Hashable, Sendable { case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist" }
    public struct Requirement: Hashable, Sendable {
        public var key: String
        public var op: Operator
        public var values: [String]
        public init(key: String, op: Operator, values: [String] = []) {
            self.key = key; self.op = op; self.values = values
        }
    }
    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// The same selector in Caracal's expression language, so that one
    /// evaluator serves both kinds of policy.
    public var selector: Selector {
        var parts: [Selector] = matchLabels.sorted { $0.key < $1.key }.map { .equals($0.key, $0.value) }
        for r in matchExpressions {
            switch r.op {
            case .in: parts.append(.isIn(r.key, r.values))
            case .notIn: parts.append(.notIn(r.key, r.values))
            case .exists: parts.append(.has(r.key))
            case .doesNotExist: parts.append(.not(.has(r.key)))
            }
        }
        return Selector.allOf(parts)
    }
}

/// A port in a rule: a number, a range (`endPort`) or a container port name.
public enum PortMatch: Hashable, Sendable, CustomStringConvertible {
    case range(UInt16, UInt16)
    case named(String)
    public var description: String {
        switch self {
        case let .range(a, b): a == b ? "\(a)" : "\(a)-\(b)"
        case let .named(n): n
        }
    }
}

public struct NetworkPolicyPort: Hashable, Sendable {
    public var proto: L4Protocol
    /// nil: every port of the protocol.
    public var port: PortMatch?
    public init(proto: L4Protocol, port: PortMatch?) { self.proto = proto; self.port = port }
}

public enum NetworkPolicyPeer: Hashable, Sendable {
    /// podSelector and/or namespaceSelector. nil namespaceSelector means the
    /// policy's own namespace; nil podSelector means every pod.
    case pods(podSelector: LabelSelector?, namespaceSelector: LabelSelector?)
    case ipBlock(cidr: CIDR, except: [CIDR])
}

public struct NetworkPolicyRule: Hashable, Sendable {
    /// Empty: every peer.
    public var peers: [NetworkPolicyPeer]
    /// Empty: every port.
    public var ports: [NetworkPolicyPort]
    public init(peers: [NetworkPolicyPeer] = [], ports: [NetworkPolicyPort] = []) {
        self.peers = peers; self.ports = ports
    }
}

public struct NetworkPolicy: Hashable, Sendable {
    public var namespace: String
    public var name: String
    public var podSelector: LabelSelector
    public var policyTypes: Set<Direction>
    public var ingress: [NetworkPolicyRule]
    public var egress: [NetworkPolicyRule]

    public init(namespace: String, name: String, podSelector: LabelSelector = LabelSelector(),
                policyTypes: Set<Direction>? = nil, ingress: [NetworkPolicyRule] = [], egress: [NetworkPolicyRule] = []) {
        self.namespace = namespace
        self.name = name
        self.podSelector = podSelector
        self.ingress = ingress
        self.egress = egress
        // Kubernetes' default: always Ingress, Egress when there are egress rules.
        self.policyTypes = policyTypes ?? (egress.isEmpty ? [.ingress] : [.ingress, .egress])
    }

    public func rules(_ d: Direction) -> [NetworkPolicyRule] { d == .ingress ? ingress : egress }
}

public enum RuleAction: String, Hashable, Sendable, Codable, CaseIterable {
    case allow = "Allow", deny = "Deny", pass = "Pass", log = "Log"
}

/// One side of a global rule. All present fields must match (AND).
public struct EntityRule: Hashable, Sendable {
    public var selector: Selector?
    public var namespaceSelector: Selector?
    public var nets: [CIDR]
    public var notNets: [CIDR]
    public var ports: [PortMatch]
    public init(selector: Selector? = nil, namespaceSelector: Selector? = nil, nets: [CIDR] = [],
                notNets: [CIDR] = [], ports: [PortMatch] = []) {
        self.selector = selector; self.namespaceSelector = namespaceSelector
        self.nets = nets; self.notNets = notNets; self.ports = ports
    }
    /// Whether the addresses are constrained at all.
    public var constrainsAddresses: Bool {
        selector != nil || namespaceSelector != nil || !nets.isEmpty || !notNets.isEmpty
    }
}

public struct ICMPMatch: Hashable, Sendable {
    public var type: UInt8
    public var code: UInt8?
    public init(type: UInt8, code: UInt8? = nil) { self.type = type; self.code = code }
}

public struct GlobalRule: Hashable, Sendable {
    public var action: RuleAction
    public var proto: L4Protocol?
    public var icmp: ICMPMatch?
    public var source: EntityRule
    public var destination: EntityRule
    public init(action: RuleAction, proto: L4Protocol? = nil, icmp: ICMPMatch? = nil,
                source: EntityRule = EntityRule(), destination: EntityRule = EntityRule()) {
        self.action = action; self.proto = proto; self.icmp = icmp
        self.source = source; self.destination = destination
    }
}

/// Caracal's cluster-wide policy, evaluated before namespaced policies in
/// ascending `order` (absent order last, then by name).
public struct GlobalNetworkPolicy: Hashable, Sendable {
    public var name: String
    public var order: Double?
    public var selector: Selector
    public var namespaceSelector: Selector?
    public var types: Set<Direction>
    public var ingress: [GlobalRule]
    public var egress: [GlobalRule]

    public init(name: String, order: Double? = nil, selector: Selector = .all, namespaceSelector: Selector? = nil,
                types: Set<Direction>? = nil, ingress: [GlobalRule] = [], egress: [GlobalRule] = []) {
        self.name = name; self.order = order; self.selector = selector
        self.namespaceSelector = namespaceSelector
        self.ingress = ingress; self.egress = egress
        // Calico's default: Ingress unless only egress rules are given; Egress when there are egress rules.
        self.types = types ?? {
            var t: Set<Direction> = []
            if !ingress.isEmpty || egress.isEmpty { t.insert(.ingress) }
            if !egress.isEmpty { t.insert(.egress) }
            return t
        }()
    }

    public func rules(_ d: Direction) -> [GlobalRule] { d == .ingress ? ingress : egress }

    static func precedes(_ a: GlobalNetworkPolicy, _ b: GlobalNetworkPolicy) -> Bool {
        switch (a.order, b.order) {
        case let (x?, y?) where x != y: return x < y
        case (.some, .none): return true
        case (.none, .some): return false
        default: return a.name < b.name
        }
    }
}

/// Everything a policy file holds.
public struct PolicySet: Hashable, Sendable {
    public var networkPolicies: [NetworkPolicy]
    public var globalPolicies: [GlobalNetworkPolicy]
    public init(networkPolicies: [NetworkPolicy] = [], globalPolicies: [GlobalNetworkPolicy] = []) {
        self.networkPolicies = networkPolicies
        self.globalPolicies = globalPolicies
    }
    public var isEmpty: Bool { networkPolicies.isEmpty && globalPolicies.isEmpty }
}

// MARK: Endpoints

public struct NamedPort: Hashable, Sendable {
    public var name: String
    public var port: UInt16
    public var proto: L4Protocol
    public init(name: String, port: UInt16, proto: L4Protocol = .tcp) {
        self.name = name; self.port = port; self.proto = proto
    }
}

/// A workload: a pod (or anything with addresses) that policy selects.
public struct Endpoint: Hashable, Sendable {
    public var namespace: String
    public var name: String
    public var labels: [String: String]
    public var addresses: [NumericAddress]
    /// The host side veth. nil for endpoints on other nodes: they can be
    /// peers, but this node enforces nothing for them.
    public var interface: String?
    public var ports: [NamedPort]

    public init(namespace: String, name: String, labels: [String: String] = [:], addresses: [NumericAddress],
                interface: String? = nil, ports: [NamedPort] = []) {
        self.namespace = namespace; self.name = name; self.labels = labels
        self.addresses = addresses; self.interface = interface; self.ports = ports
    }

    public var id: String { "\(namespace)/\(name)" }
}

public struct EndpointInventory: Hashable, Sendable {
    /// Namespace name → labels. Every namespace also carries
    /// `kubernetes.io/metadata.name`, as the API server sets it.
    public var namespaces: [String: [String: String]]
    public var endpoints: [Endpoint]

    public init(namespaces: [String: [String: String]] = [:], endpoints: [Endpoint] = []) {
        self.namespaces = namespaces
        self.endpoints = endpoints
    }

    public func namespaceLabels(_ ns: String) -> [String: String] {
        var l = namespaces[ns] ?? [:]
        l["kubernetes.io/metadata.name"] = ns
        return l
    }

    public func endpoint(named id: String) -> Endpoint? { endpoints.first { $0.id == id } }
    public func endpoint(address: NumericAddress) -> Endpoint? { endpoints.first { $0.addresses.contains(address) } }
}
