#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAddressing
import JSON
import Policy
import StrictYAML
import Yams

/// A cluster resource as `caracal apply -f` stores it (Calico's
/// `calicoctl apply` kinds, Caracal's subset): checked in full before
/// anything is written, every error naming the document and field.
public enum ClusterResource: Hashable, Sendable {
    case bgpConfiguration(BGPClusterSettings)
    case bgpPeer(BGPPeerSpec)
    case namespace(NamespaceSpec)
    case policy(PolicyDocument)

    public static let apiVersion = "caracal.io/v1alpha1"

    public var key: String {
        switch self {
        case .bgpConfiguration: ClusterKeys.bgpConfiguration
        case .bgpPeer(let p): ClusterKeys.bgpPeer(p.name)
        case .namespace(let n): ClusterKeys.namespace(n.name)
        case .policy(let d): ClusterKeys.policy(namespace: d.namespace, name: d.name)
        }
    }

    /// `Kind/name` (`Kind/namespace/name` for namespaced policies).
    public var reference: String {
        switch self {
        case .bgpConfiguration: "BGPConfiguration/default"
        case .bgpPeer(let p): "BGPPeer/\(p.name)"
        case .namespace(let n): "Namespace/\(n.name)"
        case .policy(let d): "\(d.kind)/" + (d.namespace.map { "\($0)/" } ?? "") + d.name
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONValueEncoder()
        switch self {
        case .bgpConfiguration(let v): return Data(try encoder.encodedBytes(v))
        case .bgpPeer(let v): return Data(try encoder.encodedBytes(v))
        case .namespace(let v): return Data(try encoder.encodedBytes(v))
        case .policy(let v): return Data(try encoder.encodedBytes(v))
        }
    }

    /// Every document of a YAML stream; nothing when one is wrong.
    public static func parse(_ text: String) throws(YAMLInputError) -> [ClusterResource] {
        var out: [ClusterResource] = []
        var keys = Set<String>()
        for doc in try yamlDocuments(text) where !doc.isNull {
            let resource = try parseOne(doc)
            guard keys.insert(resource.key).inserted else { throw doc.error("\(resource.reference) appears twice") }
            out.append(resource)
        }
        return out
    }

    static func parseOne(_ doc: YField) throws(YAMLInputError) -> ClusterResource {
        let root = try doc.mapping(allowed: ["apiVersion", "kind", "metadata", "spec"])
        guard let kindField = root["kind"] else { throw doc.error("kind is required") }
        let kind = try kindField.string()
        switch kind {
        case "NetworkPolicy", "GlobalNetworkPolicy":
            // The policy parser checks it (and its apiVersion) where it was
            // written; the document is stored as YAML.
            var set = PolicySet()
            try PolicyParser.parseObject(doc, into: &set)
            let source: String
            do { source = try Yams.serialize(node: doc.node) } catch { throw doc.error("cannot re-serialize: \(error)") }
            if let p = set.networkPolicies.first {
                return .policy(PolicyDocument(kind: kind, namespace: p.namespace, name: p.name, source: source))
            }
            guard let g = set.globalPolicies.first else { throw doc.error("no policy in the document") }
            return .policy(PolicyDocument(kind: kind, namespace: nil, name: g.name, source: source))
        case "Namespace":
            guard let v = root["apiVersion"], try v.string() == "v1" else { throw (root["apiVersion"] ?? doc).error("apiVersion must be v1") }
            let (name, labels) = try metadata(root, doc)
            if let spec = root["spec"] { _ = try spec.mapping(allowed: ["finalizers"]) }
            return .namespace(NamespaceSpec(name: name, labels: labels))
        case "BGPConfiguration":
            try checkVersion(root, doc)
            let (name, _) = try metadata(root, doc)
            guard name == "default" else { throw doc.child("metadata", doc.node).error("the cluster has one BGPConfiguration, named default") }
            return .bgpConfiguration(try bgpConfiguration(root["spec"]))
        case "BGPPeer":
            try checkVersion(root, doc)
            let (name, _) = try metadata(root, doc)
            guard let spec = root["spec"] else { throw doc.error("spec is required") }
            return .bgpPeer(try bgpPeer(name, spec))
        default:
            throw kindField.error("unknown kind \(kind) (NetworkPolicy, GlobalNetworkPolicy, Namespace, BGPConfiguration, BGPPeer)")
        }
    }

    static func checkVersion(_ root: [String: YField], _ doc: YField) throws(YAMLInputError) {
        guard let v = root["apiVersion"], try v.string() == apiVersion else {
            throw (root["apiVersion"] ?? doc).error("apiVersion must be \(apiVersion)")
        }
    }

    static func metadata(_ root: [String: YField], _ doc: YField) throws(YAMLInputError) -> (String, [String: String]) {
        guard let field = root["metadata"] else { throw doc.error("metadata.name is required") }
        let m = try field.mapping(allowed: ["name", "labels", "annotations"])
        guard let nameField = m["name"] else { throw field.error("name is required") }
        let name = try nameField.string()
        guard isDNSLabel(name) else { throw nameField.error("\"\(name)\" must be a DNS-1123 label (a-z, 0-9, '-', at most 63)") }
        return (name, try m["labels"]?.stringMap() ?? [:])
    }

    static func isDNSLabel(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 63 && s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            && s.first != "-" && s.last != "-"
    }

    static func bgpConfiguration(_ field: YField?) throws(YAMLInputError) -> BGPClusterSettings {
        var c = BGPClusterSettings()
        guard let field else { return c }
        let m = try field.mapping(allowed: ["asNumber", "nodeToNodeMesh", "holdTime", "heartbeatInterval", "livenessTimeout",
                                            "serviceClusterIPs", "serviceExternalIPs", "serviceLoadBalancerIPs", "bfd"])
        if let f = m["bfd"] {
            let b = try f.mapping(allowed: ["enabled", "minTx", "minRx", "multiplier"])
            var bfd = ClusterBFD()
            if let v = b["enabled"] { bfd.enabled = try v.bool() }
            for (key, path) in [("minTx", \ClusterBFD.minTx), ("minRx", \ClusterBFD.minRx)] {
                guard let v = b[key] else { continue }
                bfd[keyPath: path] = try v.int()
                guard (10...60_000).contains(bfd[keyPath: path]) else { throw v.error("must be 10-60000 milliseconds") }
            }
            if let v = b["multiplier"] {
                bfd.multiplier = try v.int()
                guard (1...255).contains(bfd.multiplier) else { throw v.error("must be 1-255") }
            }
            c.bfd = bfd
        }
        if let f = m["asNumber"] { c.asNumber = try f.asNumber() }
        if let f = m["nodeToNodeMesh"] { c.nodeToNodeMesh = try f.bool() }
        if let f = m["holdTime"] { c.holdTime = try f.holdTime() }
        if let f = m["heartbeatInterval"] {
            c.heartbeatInterval = try f.double()
            guard c.heartbeatInterval >= 0.1, c.heartbeatInterval <= 60 else { throw f.error("must be 0.1-60 seconds") }
        }
        if let f = m["livenessTimeout"] {
            c.livenessTimeout = try f.double()
            guard c.livenessTimeout > 0, c.livenessTimeout.isFinite else { throw f.error("must be a positive number of seconds") }
        }
        guard c.livenessTimeout >= 2 * c.heartbeatInterval else {
            throw field.error("livenessTimeout must be at least twice heartbeatInterval (one lost heartbeat must not kill a node)")
        }
        func prefixes(_ key: String) throws(YAMLInputError) -> [IPPrefix] {
            var out: [IPPrefix] = []
            for f in try m[key]?.sequence() ?? [] { out.append(try f.prefix()) }
            return out
        }
        c.serviceClusterIPs = try prefixes("serviceClusterIPs")
        c.serviceExternalIPs = try prefixes("serviceExternalIPs")
        c.serviceLoadBalancerIPs = try prefixes("serviceLoadBalancerIPs")
        return c
    }

    static func bgpPeer(_ name: String, _ field: YField) throws(YAMLInputError) -> BGPPeerSpec {
        let m = try field.mapping(allowed: ["peerIP", "asNumber", "nodeSelector", "passwordFile", "holdTime", "ttlSecurity",
                                            "multihop", "maxPrefixes", "importPolicy", "exportPolicy"])
        guard let ip = m["peerIP"] else { throw field.error("peerIP is required") }
        guard let asField = m["asNumber"] else { throw field.error("asNumber is required") }
        var p = BGPPeerSpec(name: name, peerIP: try ip.address(), asNumber: try asField.asNumber(),
                            nodeSelector: try m["nodeSelector"]?.stringMap() ?? [:])
        if let f = m["passwordFile"] {
            p.passwordFile = try f.string()
            guard p.passwordFile!.hasPrefix("/") else { throw f.error("must be an absolute path (read on each node)") }
        }
        if let f = m["holdTime"] { p.holdTime = try f.holdTime() }
        if let f = m["ttlSecurity"] { p.ttlSecurity = try f.bool() }
        if let f = m["multihop"] {
            let v = try f.int()
            guard (1...255).contains(v) else { throw f.error("must be 1-255") }
            p.multihop = v
        }
        if let f = m["maxPrefixes"] {
            let v = try f.int()
            guard v > 0 else { throw f.error("must be positive") }
            p.maxPrefixes = v
        }
        p.importPolicy = try m["importPolicy"]?.string()
        p.exportPolicy = try m["exportPolicy"]?.string()
        return p
    }
}
