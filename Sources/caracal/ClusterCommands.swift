import ArgumentParser
import Cluster
import ClusterModel
import Datastore
import Foundation
import IPAM
import IPAddressing
import JSON
import KeyValueStore

/// `caracal apply -f FILE`: cluster resources into the datastore (every
/// document checked first; nothing is written when one is wrong).
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Store cluster resources: NetworkPolicy, GlobalNetworkPolicy, Namespace, BGPConfiguration, BGPPeer (docs/cluster.md).")
    @Option(name: .shortAndLong, help: "A YAML file of one or more documents ('-' for standard input).")
    var filename: String
    @OptionGroup var datastore: DatastoreOptions

    func run() throws {
        let text: String
        if filename == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let t = try? String(contentsOfFile: filename, encoding: .utf8) else { throw ValidationError("cannot read \(filename)") }
            text = t
        }
        let resources: [ClusterResource]
        do { resources = try ClusterResource.parse(text) } catch {
            FileHandle.standardError.write(Data("caracal apply: \(filename): \(error); nothing stored\n".utf8))
            throw ExitCode(1)
        }
        let store = try datastore.open(create: true)
        let encoded = try resources.map { ($0.key, try $0.encoded(), $0.reference) }
        var results: [[String: String]] = []
        for chunk in encoded.chunked(by: KVLimits.maxWritesPerTransaction) {
            let outcomes = try store.transaction { tx in
                try chunk.map { key, value, reference -> [String: String] in
                    let old = try tx.get(key)
                    if old == value { return ["resource": reference, "result": "unchanged"] }
                    try tx.put(key, value)
                    return ["resource": reference, "result": old == nil ? "created" : "configured"]
                }
            }
            results += outcomes
        }
        if datastore.json { return try printJSON(results) }
        for r in results { print("\(r["resource"]!) \(r["result"]!)") }
    }
}

/// `caracal delete KIND NAME`.
struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Remove a cluster resource: NetworkPolicy NS/NAME, GlobalNetworkPolicy NAME, Namespace NAME, BGPPeer NAME, BGPConfiguration default.")
    @Argument var kind: String
    @Argument var name: String
    @OptionGroup var datastore: DatastoreOptions

    func run() throws {
        let key: String
        switch kind {
        case "NetworkPolicy":
            let parts = name.split(separator: "/")
            guard parts.count == 2 else { throw ValidationError("NetworkPolicy takes NAMESPACE/NAME") }
            key = ClusterKeys.policy(namespace: String(parts[0]), name: String(parts[1]))
        case "GlobalNetworkPolicy": key = ClusterKeys.policy(namespace: nil, name: name)
        case "Namespace": key = ClusterKeys.namespace(name)
        case "BGPPeer": key = ClusterKeys.bgpPeer(name)
        case "BGPConfiguration": key = ClusterKeys.bgpConfiguration
        default: throw ValidationError("unknown kind \(kind)")
        }
        let existed = try datastore.open().transaction { tx -> Bool in
            guard try tx.get(key) != nil else { return false }
            try tx.delete(key)
            return true
        }
        guard existed else {
            FileHandle.standardError.write(Data("caracal delete: \(kind)/\(name) not found\n".utf8))
            throw ExitCode(1)
        }
        print("\(kind)/\(name) deleted")
    }
}

/// `caracal cluster …`: the cluster as the datastore describes it.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Nodes, their sessions and prefixes, from the datastore.",
        subcommands: [Nodes.self, Graph.self])

    static func load(_ datastore: DatastoreOptions) throws -> ClusterState {
        try ClusterState.load(from: datastore.open()).0
    }

    /// A node is taken as live here when its heartbeat is recent by the
    /// writer's clock (one machine's view; agents use their own clock).
    static func isLive(_ state: ClusterState, _ name: String) -> Bool {
        guard let l = state.liveness[name] else { return false }
        if l.state == .restarting, let until = l.until { return until > Date() }
        return Date().timeIntervalSince(l.heartbeat) <= state.bgp.livenessTimeout
    }

    struct Nodes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registered nodes, their liveness and blocks.")
        @OptionGroup var datastore: DatastoreOptions

        func run() throws {
            let state = try ClusterCommand.load(datastore)
            let rows = state.nodes.values.sorted { $0.name < $1.name }.map { n -> [String: String] in
                let blocks = state.blocks.filter { $0.value.node == n.name }.keys.sorted().map(\.description)
                let live = state.liveness[n.name]
                return ["name": n.name, "addresses": n.addresses.map(\.description).joined(separator: " "),
                        "as": "\(state.asNumber(of: n))", "reflector": n.routeReflectorClusterID?.description ?? "",
                        "liveness": ClusterCommand.isLive(state, n.name) ? (live?.state.rawValue ?? "running") : "stale",
                        "blocks": blocks.joined(separator: " ")]
            }
            if datastore.json { return try printJSON(rows) }
            printTable([["Node", "Addresses", "AS", "Reflector", "Liveness", "Blocks"]]
                       + rows.map { [$0["name"]!, $0["addresses"]!, $0["as"]!, $0["reflector"]!, $0["liveness"]!, $0["blocks"]!] })
        }
    }

    struct Graph: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The cluster as Graphviz DOT: nodes with their prefixes, the sessions the plan gives them, reflectors.",
            discussion: "Session states come from each node's published status when agents run (dashed: planned, not established).")
        @OptionGroup var datastore: DatastoreOptions

        func run() throws {
            let state = try ClusterCommand.load(datastore)
            let store = try datastore.open()
            let established: Set<String> = try store.read { tx in
                var out = Set<String>()
                for kv in try tx.entries(prefix: ClusterKeys.sessions) {
                    guard let s = try? JSONValueDecoder().decode(NodeSessions.self, from: kv.value) else { continue }
                    for peer in s.established { out.insert("\(s.node)|\(peer)") }
                }
                return out
            }
            var lines = ["graph caracal {", "  graph [label=\"Caracal cluster: \(state.bgp.nodeToNodeMesh ? "full mesh" : "route reflectors"), AS \(state.bgp.asNumber)\", fontname=Helvetica];",
                         "  node [shape=box, style=rounded, fontname=Helvetica];"]
            for n in state.nodes.values.sorted(by: { $0.name < $1.name }) {
                let plan = NodePlan(state, node: n.name, isLive: { ClusterCommand.isLive(state, $0) })
                let prefixes = plan.originate.map(\.description)
                let shown = prefixes.prefix(6).joined(separator: "\\n") + (prefixes.count > 6 ? "\\n… \(prefixes.count - 6) more" : "")
                let live = ClusterCommand.isLive(state, n.name)
                lines.append("  \"\(n.name)\" [label=\"\(n.name)\\n\(n.addresses.map(\.description).joined(separator: " "))\(n.isReflector ? "\\n(reflector)" : "")\\n\(shown)\"\(live ? "" : ", color=red, fontcolor=red")\(n.isReflector ? ", peripheries=2" : "")];")
            }
            var drawn = Set<String>()
            for n in state.nodes.values.sorted(by: { $0.name < $1.name }) {
                let plan = NodePlan(state, node: n.name, isLive: { ClusterCommand.isLive(state, $0) })
                for p in plan.peers {
                    let pair = [n.name, p.owner].sorted().joined(separator: "|") + (p.address.isIPv4 ? "" : "-v6")
                    guard drawn.insert(pair).inserted else { continue }
                    let up = established.contains("\(n.name)|\(p.name)")
                    let label = (p.kind == .reflectorClient ? "rr-client" : p.kind == .external ? "eBGP" : "iBGP") + (p.address.isIPv4 ? "" : " v6")
                    if p.kind == .external {
                        lines.append("  \"\(p.owner)\" [shape=ellipse];")
                    }
                    lines.append("  \"\(n.name)\" -- \"\(p.owner)\" [label=\"\(label)\"\(up ? "" : ", style=dashed")];")
                }
            }
            lines.append("}")
            print(lines.joined(separator: "\n"))
        }
    }
}
