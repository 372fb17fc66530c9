#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterModel
import IPAM
import IPAddressing
import JSON
import KeyValueStore
import Policy

/// What an agent knows of the cluster: every record it plans from, kept up
/// to date from the datastore's changes (a re-list builds it anew). A
/// record that does not decode is left out and reported, never fatal: one
/// bad write must not stop every node.
public struct ClusterState: Sendable {
    public var nodes: [String: NodeSpec] = [:]
    public var liveness: [String: NodeLiveness] = [:]
    public var bgp = BGPClusterSettings()
    public var peers: [String: BGPPeerSpec] = [:]
    public var namespaces: [String: NamespaceSpec] = [:]
    /// Keyed by datastore key.
    public var policies: [String: PolicyDocument] = [:]
    /// Each stored policy parsed once, when it arrives (keyed as `policies`).
    public var parsedPolicies: [String: PolicySet] = [:]
    /// Block CIDR → owning node (nil: claimed by nobody).
    public var blocks: [IPPrefix: BlockOwner] = [:]
    /// Block CIDR → addresses taken in it (for usage metrics; an
    /// allocation changes it without changing any plan).
    public var blockUsage: [IPPrefix: Int] = [:]
    /// Keyed by datastore key.
    public var endpoints: [String: EndpointRecord] = [:]
    public var revision: Revision = 0

    public struct BlockOwner: Hashable, Sendable {
        public var pool: String
        public var node: String?
    }

    /// What a change touched, so the agent redoes only that part.
    public struct Aspects: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Sessions: nodes, cluster BGP settings, external peers.
        public static let peering = Aspects(rawValue: 1)
        /// Originated prefixes and local routes: blocks, endpoints, services.
        public static let routes = Aspects(rawValue: 2)
        /// Policy: policies, namespaces, endpoints.
        public static let policy = Aspects(rawValue: 4)
        /// A liveness record changed (heartbeats: not a plan change by itself).
        public static let liveness = Aspects(rawValue: 8)
        public static let all: Aspects = [.peering, .routes, .policy, .liveness]
    }

    /// The prefixes an agent watches.
    public static let watchedPrefixes = ["cluster/", blocksPrefix, endpointsPrefix]
    /// IPAM's block records (`IPAM.Keys.block`).
    public static let blocksPrefix = "ipam/blocks/"
    /// The CNI plugin's endpoint records (`Datastore.Endpoints.prefix`; a test
    /// checks they agree: this module does not link the SQLite adapter).
    public static let endpointsPrefix = "endpoints/"

    public init() {}

    public static func isWatched(_ key: String) -> Bool { watchedPrefixes.contains { key.hasPrefix($0) } }

    /// Applies one change; an undecodable record is removed and its error
    /// returned (the caller logs it).
    @discardableResult
    public mutating func apply(_ event: WatchEvent) -> (Aspects, Error?) {
        revision = max(revision, event.modRevision)
        switch event {
        case .put(let kv):
            do {
                return (try put(kv.key, kv.value), nil)
            } catch {
                return (remove(kv.key), RecordError(key: kv.key, underlying: "\(error)"))
            }
        case .delete(let key, _):
            return (remove(key), nil)
        }
    }

    public struct RecordError: Error, CustomStringConvertible {
        public var key: String
        public var underlying: String
        public var description: String { "\(key): \(underlying)" }
    }

    private mutating func put(_ key: String, _ value: Data) throws -> Aspects {
        let decoder = JSONValueDecoder()
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type, from: value) }
        if key.hasPrefix(ClusterKeys.nodes) {
            nodes[String(key.dropFirst(ClusterKeys.nodes.count))] = try decode(NodeSpec.self)
            return [.peering, .routes]
        } else if key.hasPrefix(ClusterKeys.liveness) {
            let name = String(key.dropFirst(ClusterKeys.liveness.count))
            let new = try decode(NodeLiveness.self)
            let stateChanged = liveness[name]?.state != new.state
            liveness[name] = new
            return stateChanged ? [.liveness, .peering] : .liveness
        } else if key == ClusterKeys.bgpConfiguration {
            bgp = try decode(BGPClusterSettings.self)
            return [.peering, .routes]
        } else if key.hasPrefix(ClusterKeys.bgpPeers) {
            peers[String(key.dropFirst(ClusterKeys.bgpPeers.count))] = try decode(BGPPeerSpec.self)
            return .peering
        } else if key.hasPrefix(ClusterKeys.namespaces) {
            namespaces[String(key.dropFirst(ClusterKeys.namespaces.count))] = try decode(NamespaceSpec.self)
            return .policy
        } else if key.hasPrefix(ClusterKeys.policies) {
            let doc = try decode(PolicyDocument.self)
            // Checked by `caracal apply`; parsed again here, once per write.
            parsedPolicies[key] = try PolicyParser.parse(doc.source)
            policies[key] = doc
            return .policy
        } else if key.hasPrefix(Self.blocksPrefix) {
            let block = try decode(Block.self)
            let owner = BlockOwner(pool: block.pool, node: block.node)
            blockUsage[block.cidr] = block.slots.count
            guard blocks[block.cidr] != owner else { return [] }  // an allocation, not a change of owner
            blocks[block.cidr] = owner
            return .routes
        } else if key.hasPrefix(Self.endpointsPrefix) {
            let new = try decode(EndpointRecord.self)
            let old = endpoints[key]
            endpoints[key] = new
            return old == new ? [] : [.routes, .policy]
        }
        return []
    }

    private mutating func remove(_ key: String) -> Aspects {
        if key.hasPrefix(ClusterKeys.nodes) {
            return nodes.removeValue(forKey: String(key.dropFirst(ClusterKeys.nodes.count))) == nil ? [] : [.peering, .routes]
        } else if key.hasPrefix(ClusterKeys.liveness) {
            return liveness.removeValue(forKey: String(key.dropFirst(ClusterKeys.liveness.count))) == nil ? [] : [.liveness, .peering]
        } else if key == ClusterKeys.bgpConfiguration {
            bgp = BGPClusterSettings()
            return [.peering, .routes]
        } else if key.hasPrefix(ClusterKeys.bgpPeers) {
            return peers.removeValue(forKey: String(key.dropFirst(ClusterKeys.bgpPeers.count))) == nil ? [] : .peering
        } else if key.hasPrefix(ClusterKeys.namespaces) {
            return namespaces.removeValue(forKey: String(key.dropFirst(ClusterKeys.namespaces.count))) == nil ? [] : .policy
        } else if key.hasPrefix(ClusterKeys.policies) {
            parsedPolicies[key] = nil
            return policies.removeValue(forKey: key) == nil ? [] : .policy
        } else if key.hasPrefix(Self.blocksPrefix) {
            // ipam/blocks/<pool>/<cidr>: the CIDR has a '/' of its own.
            let rest = key.dropFirst(Self.blocksPrefix.count)
            guard let slash = rest.firstIndex(of: "/"), let cidr = IPPrefix(String(rest[rest.index(after: slash)...])) else { return [] }
            blockUsage[cidr] = nil
            return blocks.removeValue(forKey: cidr) == nil ? [] : .routes
        } else if key.hasPrefix(Self.endpointsPrefix) {
            return endpoints.removeValue(forKey: key) == nil ? [] : [.routes, .policy]
        }
        return []
    }

    /// The whole state from a full read (a start or a re-list).
    public static func listing(_ entries: [KeyValue], revision: Revision) -> (ClusterState, [Error]) {
        var state = ClusterState()
        var errors: [Error] = []
        for kv in entries {
            if let e = state.apply(.put(kv)).1 { errors.append(e) }
        }
        state.revision = revision
        return (state, errors)
    }

    /// Reads the whole state from a store (a start or a re-list). The
    /// revision is read first: changes after it that the listing already
    /// holds come again through a watch from it, which is harmless (each
    /// event carries a key's latest state).
    public static func load(from store: any KVStore) throws -> (ClusterState, [Error]) {
        let revision = try store.revision()
        let entries = try store.read { tx in try watchedPrefixes.flatMap { try tx.entries(prefix: $0) } }
        return listing(entries, revision: revision)
    }

    /// The AS a node speaks with.
    public func asNumber(of node: NodeSpec) -> UInt32 { node.asNumber ?? bgp.asNumber }
}
