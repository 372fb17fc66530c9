import IPAddressing
import Policy

/// `caracal policy explain` over the whole cluster: a packet between two
/// pods meets the sender's egress policy on the sender's node and the
/// receiver's ingress policy on the receiver's node, each enforced there
/// and nowhere else. Each end is evaluated on its own node's ruleset (as
/// that node's agent compiles it), and the flow is allowed only when both
/// allow it.
public struct ClusterExplanation: Sendable, CustomStringConvertible {
    public struct Leg: Sendable {
        /// "egress" (at the sender's node) or "ingress" (at the receiver's).
        public var direction: String
        /// The node that enforces this leg; nil for an address outside the
        /// cluster (nothing of Caracal's enforces for it).
        public var node: String?
        public var endpoint: String
        public var explanation: Explanation?
    }
    public var allowed: Bool
    public var legs: [Leg]

    public var description: String {
        var s = (allowed ? "ALLOW" : "DENY") + "\n"
        for leg in legs {
            let place = leg.node.map { "on node \($0)" } ?? "outside the cluster: not enforced by Caracal"
            guard let e = leg.explanation else {
                s += "  \(leg.direction) of \(leg.endpoint) \(place)\n"
                continue
            }
            s += "  \(leg.direction) of \(leg.endpoint) \(place): " + e.description.split(separator: "\n").joined(separator: "\n    ") + "\n"
        }
        return s
    }
}

extension ClusterState {
    public enum ExplainError: Error, CustomStringConvertible {
        case unknown(String)
        public var description: String {
            switch self { case .unknown(let s): "unknown pod or address '\(s)' (use namespace/pod or an IP)" }
        }
    }

    /// The node a pod (`namespace/pod`) or a pod address lives on, and its
    /// canonical name; nil node for an address no pod holds.
    func locate(_ text: String) throws(ExplainError) -> (node: String?, id: String) {
        if let ip = IPAddress(text) {
            if let e = endpoints.values.first(where: { $0.ips.contains(ip) }) { return (e.node, "\(e.namespace)/\(e.pod)") }
            return (nil, text)
        }
        guard let e = endpoints.values.first(where: { "\($0.namespace)/\($0.pod)" == text }) else { throw .unknown(text) }
        return (e.node, text)
    }

    public func explain(from: String, to: String, proto: L4Protocol, port: UInt16,
                        interfacePrefix: String = "crc") throws -> ClusterExplanation {
        let source = try locate(from), destination = try locate(to)
        let compiler = PolicyCompiler(interfacePrefix: interfacePrefix)
        func leg(_ direction: String, at node: String?, endpoint: String) throws -> ClusterExplanation.Leg {
            guard let node else { return .init(direction: direction, node: nil, endpoint: endpoint, explanation: nil) }
            let input = PolicyInput(self, node: node)
            let explainer = PolicyExplainer(ruleset: compiler.compile(input.policies, input.inventory), inventory: input.inventory)
            let e = try explainer.explain(from: explainer.resolve(from), to: explainer.resolve(to), proto: proto, port: port)
            return .init(direction: direction, node: node, endpoint: endpoint, explanation: e)
        }
        var legs = [try leg("egress", at: source.node, endpoint: source.id)]
        if destination.node != source.node || source.node == nil {
            legs.append(try leg("ingress", at: destination.node, endpoint: destination.id))
        } else {
            // Both on one node: one evaluation there covers both directions,
            // the sender's egress and the receiver's ingress.
            legs[0].direction = "egress and ingress"
            legs[0].endpoint = "\(source.id) to \(destination.id)"
        }
        return ClusterExplanation(allowed: legs.allSatisfy { $0.explanation?.allowed ?? true }, legs: legs)
    }
}
