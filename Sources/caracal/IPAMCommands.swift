import ClusterModel
import ArgumentParser
import CNIPlugin
import Cluster
import Datastore
import Foundation
import IPAM
import IPAddressing
import KeyValueStore
import EtcdStore
import NetNS

/// `caracal ipam ...`: pools, addresses, history and repairs, straight from
/// the node's datastore (the same file the plugin and agent use).
struct IPAMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipam",
        abstract: "Inspect and manage IP address pools, allocations, claims and history.",
        subcommands: [Pools.self, List.self, Show.self, History.self, Check.self, GC.self, Release.self, Reclaim.self, PoolCommand.self])
}

struct DatastoreOptions: ParsableArguments {
    @Option(
        name: .customLong("datastore"),
        help: "The datastore: a path or embedded:PATH (the node's file), or etcd:URL[,URL...] (env CARACAL_DATASTORE).")
    var path: String = ProcessInfo.processInfo.environment["CARACAL_DATASTORE"] ?? SQLiteStore.defaultPath

    @OptionGroup var etcd: EtcdOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// Opens the datastore; only `pool create` may create it.
    func open(create: Bool = false) throws -> any KVStore {
        try etcd.apply(to: DatastoreLocation(parsing: path)).open(create: create)
    }
}

/// How the CLI reaches etcd beyond its URLs, the same fields as the CNI
/// conflist's `datastore` object (docs/datastore.md).
struct EtcdOptions: ParsableArguments {
    @Option(name: .customLong("etcd-prefix"), help: "Key prefix in etcd (default /caracal/).")
    var prefix: String?
    @Option(name: .customLong("etcd-ca"), help: "CA certificate (PEM) for https:// endpoints.")
    var caFile: String?
    @Option(name: .customLong("etcd-cert"), help: "Client certificate (PEM).")
    var certFile: String?
    @Option(name: .customLong("etcd-key"), help: "Client key (PEM).")
    var keyFile: String?
    @Option(name: .customLong("etcd-user"), help: "etcd user; the password comes from env CARACAL_ETCD_PASSWORD.")
    var user: String?

    func apply(to location: DatastoreLocation) -> DatastoreLocation {
        guard case .etcd(var config) = location else { return location }
        if let prefix { config.prefix = prefix }
        config.tls = EtcdTLS(caFile: caFile, certFile: certFile, keyFile: keyFile)
        config.username = user
        config.password = ProcessInfo.processInfo.environment["CARACAL_ETCD_PASSWORD"]
        return .etcd(config)
    }
}

struct NodeOptions: ParsableArguments {
    @Option(help: "This node's name, as the CNI config's nodeName (env CARACAL_NODE; default: the short host name).")
    var node: String = ProcessInfo.processInfo.environment["CARACAL_NODE"] ?? CNIPlugin.defaultNodeName()
}

/// One line for a finding of `ipam check` / `ipam gc`.
func describe(_ f: AuditFinding) -> String {
    var who = ""
    if let id = f.containerID { who = " container \(id) \(f.ifName ?? "")" }
    if let ns = f.namespace, let pod = f.pod { who += " (\(ns)/\(pod))" }
    let ips = f.ips.isEmpty ? "" : " ips \(f.ips.map(\.description).joined(separator: ","))"
    return "\(f.isDead ? "dead" : "broken"): \(f.kind.rawValue):\(who)\(ips) node \(f.node): \(f.detail)"
}

/// Prints rows as left-aligned columns, each as wide as its widest cell
/// (the first row is the header).
func printTable(_ rows: [[String]]) {
    let widths = rows.reduce(into: [Int]()) { w, row in
        for (i, cell) in row.enumerated() {
            if i == w.count { w.append(0) }
            w[i] = max(w[i], cell.count)
        }
    }
    for row in rows {
        let cells = row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
        print(cells.joined(separator: "  "))
    }
}

/// Prints a JSON value (sorted keys, ISO 8601 dates).
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

func parseAddress(_ text: String) throws -> IPAddress {
    guard let ip = IPAddress(text) else { throw ValidationError("\"\(text)\" is not an IP address") }
    return ip
}

func formatDate(_ d: Date?) -> String {
    guard let d else { return "-" }
    return ISO8601DateFormatter().string(from: d)
}

extension IPAMCommand {
    struct Pools: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pools with their usage.")
        @OptionGroup var options: DatastoreOptions

        struct PoolView: Encodable {
            var pool: Pool
            var blocks: Int
            var allocated: Int
            var claimed: Int
            var capacity: UInt64
            var usageByNamespace: [String: Int]
        }

        func run() throws {
            let ipam = IPAM()
            let views = try options.open().read { tx in
                let usage = try ipam.usage(tx)
                return try ipam.pools(tx).map { pool -> PoolView in
                    let blocks = try ipam.blocks(pool: pool.name, tx)
                    let slots = blocks.flatMap(\.slots)
                    let hostBits = (pool.cidr.address.isIPv4 ? 32 : 128) - pool.cidr.length
                    return PoolView(
                        pool: pool, blocks: blocks.count, allocated: slots.filter { $0.handle != nil }.count,
                        claimed: slots.filter { $0.handle == nil && $0.claim != nil }.count,
                        capacity: hostBits >= 64 ? UInt64.max : UInt64(1) << UInt64(hostBits),
                        usageByNamespace: Dictionary(
                            usage.filter { $0.pool == pool.name }.map { ($0.namespace, $0.count) }, uniquingKeysWith: +))
                }
            }
            if options.json { return try printJSON(views) }
            if views.isEmpty { print("no pools"); return }
            var rows = [["NAME", "CIDR", "BLOCK", "BLOCKS", "ALLOCATED", "CLAIMED", "FLAGS"]]
            for v in views {
                var flags: [String] = []
                if v.pool.disabled { flags.append("disabled") }
                if v.pool.strict { flags.append("strict") }
                if !v.pool.nodeSelector.isEmpty { flags.append("nodes:" + v.pool.nodeSelector.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")) }
                if let ns = v.pool.allowedNamespaces { flags.append("namespaces:" + ns.joined(separator: ",")) }
                if !v.pool.namespaceQuotas.isEmpty { flags.append("quotas:" + v.pool.namespaceQuotas.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")) }
                rows.append([v.pool.name, v.pool.cidr.description, "/\(v.pool.blockSize)", "\(v.blocks)", "\(v.allocated)", "\(v.claimed)",
                             flags.joined(separator: " ")])
            }
            printTable(rows)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every allocation and sticky claim, with its block and holder (like calicoctl ipam show --show-blocks).")
        @OptionGroup var options: DatastoreOptions
        @Option(help: "Only allocations of this node.") var node: String?
        @Option(help: "Only allocations from this pool.") var pool: String?

        struct Row: Encodable {
            var ip: String
            var pool: String
            var block: String
            var blockNode: String?
            /// "allocated" (held by a pod) or "claimed" (a sticky claim with no pod now).
            var state: String
            var claim: String?
            var holder: HandleRecord?
            var hostVeth: String?
        }

        func run() throws {
            let ipam = IPAM()
            let rows = try options.open().read { tx -> [Row] in
                let handles = Dictionary(try ipam.handles(tx).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                let endpoints = Dictionary(try Endpoints.all(tx).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                var out: [Row] = []
                for p in try ipam.pools(tx) where pool == nil || p.name == pool {
                    for block in try ipam.blocks(pool: p.name, tx) {
                        for slot in block.slots {
                            guard let ip = block.address(ordinal: slot.ordinal) else { continue }
                            let holder = slot.handle.flatMap { handles[$0] }
                            if let node, (holder?.node ?? block.node) != node { continue }
                            out.append(Row(
                                ip: ip.description, pool: p.name, block: block.cidr.description, blockNode: block.node,
                                state: slot.handle == nil ? "claimed" : "allocated", claim: slot.claim, holder: holder,
                                hostVeth: slot.handle.flatMap { endpoints[$0]?.hostVeth }))
                        }
                    }
                }
                return out
            }
            if options.json { return try printJSON(rows) }
            if rows.isEmpty { print("no allocations"); return }
            var table = [["IP", "POOL", "BLOCK", "BLOCK NODE", "STATE", "POD", "CONTAINER", "NODE", "HOST VETH", "CLAIM"]]
            for r in rows {
                table.append([
                    r.ip, r.pool, r.block, r.blockNode ?? "-", r.state, r.holder.map { "\($0.namespace)/\($0.pod)" } ?? "-",
                    r.holder.map { "\($0.containerID) \($0.ifName)" } ?? "-", r.holder?.node ?? "-", r.hostVeth ?? "-", r.claim ?? "-",
                ])
            }
            printTable(table)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one address: pool, block, state and holder.")
        @OptionGroup var options: DatastoreOptions
        @Argument(help: "The IP address.") var ip: String

        struct View: Encodable {
            var ip: String
            var state: String
            var pool: String?
            var block: String?
            var blockNode: String?
            var claim: String?
            var coolingUntil: Date?
            var holder: HandleRecord?
            var endpoint: EndpointRecord?
        }

        func run() throws {
            let addr = try parseAddress(ip)
            let ipam = IPAM()
            let view = try options.open().read { tx -> View in
                let info = try ipam.lookup(addr, tx)
                let ep = try info.holder.flatMap { try Endpoints.get(containerID: $0.containerID, ifName: $0.ifName, tx) }
                return View(
                    ip: addr.description, state: info.state, pool: info.pool?.name, block: info.block?.cidr.description,
                    blockNode: info.block?.node, claim: info.slot?.claim, coolingUntil: info.coolingUntil, holder: info.holder,
                    endpoint: ep)
            }
            if options.json { return try printJSON(view) }
            print("ip:       \(view.ip)")
            print("state:    \(view.state)")
            print("pool:     \(view.pool ?? "-")")
            print("block:    \(view.block ?? "-") (node \(view.blockNode ?? "-"))")
            if let c = view.claim { print("claim:    \(c)") }
            if let u = view.coolingUntil { print("cooling:  until \(formatDate(u))") }
            if let h = view.holder {
                print("holder:   \(h.namespace)/\(h.pod) container \(h.containerID) \(h.ifName) on \(h.node) since \(formatDate(h.start))")
            }
            if let e = view.endpoint { print("endpoint: host veth \(e.hostVeth), mac \(e.mac ?? "-"), state \(e.state.rawValue)") }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who held an address, and when (append-only log).")
        @OptionGroup var options: DatastoreOptions
        @Argument(help: "The IP address.") var ip: String
        @Option(help: "Only the tenure covering this time (ISO 8601, e.g. 2026-11-17T14:05:00Z, or Unix seconds).")
        var at: String?

        func run() throws {
            let addr = try parseAddress(ip)
            var when: Date?
            if let at {
                if let secs = Double(at) { when = Date(timeIntervalSince1970: secs) }
                else if let d = ISO8601DateFormatter().date(from: at) { when = d }
                else { throw ValidationError("--at: \"\(at)\" is neither ISO 8601 nor Unix seconds") }
            }
            let ipam = IPAM()
            var records = try options.open().read { try ipam.history(addr, $0) }
            if let when { records = records.filter { $0.covers(when) }.suffix(1) }
            if options.json { return try printJSON(records) }
            if records.isEmpty {
                print(when == nil ? "no history for \(addr)" : "nobody held \(addr) at \(formatDate(when))")
                return
            }
            for r in records {
                let claim = r.claim.map { " claim \($0)" } ?? ""
                print("\(formatDate(r.start)) .. \(r.end.map(formatDate) ?? "now")  \(r.namespace)/\(r.pod)\(claim)  container \(r.containerID) \(r.ifName)  node \(r.node)  pool \(r.pool)\(r.reason.map { "  (\($0))" } ?? "")")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the datastore with the live node: leaked allocations, dead or broken attachments, stray veths and routes. Exits 1 when any are found.",
            discussion: """
                Run it on the node (in the node's network namespace): each endpoint of this node is checked against \
                its network namespace, host veth and host routes, and every Caracal host veth and route against \
                the records. Records of other nodes are checked against each other only. `caracal ipam gc` \
                removes what is provably dead.
                """)
        @OptionGroup var options: DatastoreOptions
        @OptionGroup var nodeOptions: NodeOptions

        struct Report: Encodable {
            var node: String
            var findings: [AuditFinding]
            var ok: Bool
        }

        func run() throws {
            let store = try options.open()
            let (endpoints, handles) = try store.read { tx in (try Endpoints.all(tx), try IPAM().handles(tx)) }
            let live = try LiveNode.observe(wiring: PodWiring(), endpoints: endpoints)
            let findings = NodeAudit.findings(node: nodeOptions.node, endpoints: endpoints, handles: handles, live: live)
            let report = Report(node: nodeOptions.node, findings: findings, ok: findings.isEmpty)
            if options.json { try printJSON(report) } else {
                for f in findings { print(describe(f)) }
                if report.ok {
                    print("ok: node \(report.node): every endpoint is live and wired, every allocation has an endpoint, no stray veth or route")
                } else if findings.contains(where: \.isDead) {
                    print("`caracal ipam gc` removes what is marked dead once it has been seen twice")
                }
            }
            if !report.ok { throw ExitCode(1) }
        }
    }

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Release what `ipam check` proves dead on this node, once seen dead twice (--min-age apart).",
            discussion: """
                Dead: an endpoint whose network namespace is gone, an allocation of this node without an \
                endpoint, a host veth or host route no endpoint holds. The first run only records what it \
                sees; a later run at least --min-age seconds after releases it if it is still dead and its \
                records are unchanged (an ADD or DEL in flight is never taken for a leak). Broken attachments \
                that are still alive are only reported.
                """)
        @OptionGroup var options: DatastoreOptions
        @OptionGroup var nodeOptions: NodeOptions
        @Option(help: "Seconds between the first observation of a dead attachment and its release.")
        var minAge: Double = 120

        func validate() throws {
            guard minAge >= 0, minAge.isFinite else { throw ValidationError("--min-age must be a non-negative number of seconds") }
        }

        func run() throws {
            let report = try NodeGC(wiring: PodWiring(), node: nodeOptions.node).run(store: try options.open(), minAge: minAge)
            if options.json { return try printJSON(report) }
            for f in report.removed { print("removed: \(describe(f))") }
            for f in report.observed { print("seen dead (released by a run in \(Int(minAge)) s or more if still dead): \(describe(f))") }
            for f in report.reported { print("left for an operator: \(describe(f))") }
            if report.removed.isEmpty && report.observed.isEmpty { print("nothing dead on node \(report.node)") }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release an allocation (by container, or by address) or a sticky claim.",
            discussion: """
                An allocation that a live attachment holds (its network namespace exists on this node, or it \
                belongs to another node) is refused unless --force: releasing it lets another pod take the \
                address and its route while the holder still uses it.
                """)
        @OptionGroup var options: DatastoreOptions
        @Option(help: "Container ID whose allocation to release.") var container: String?
        @Option(help: "Interface of that container.") var ifname = "eth0"
        @Option(help: "Release whatever holds this address (allocation and claim).") var ip: String?
        @Option(help: "Release this sticky claim.") var claim: String?
        @Flag(help: "Release even when a live attachment holds the address.") var force = false
        @OptionGroup var nodeOptions: NodeOptions

        struct Result: Encodable {
            var releasedAllocations: [HandleRecord]
            var releasedClaims: [ClaimRecord]
        }

        func validate() throws {
            guard [container, ip, claim].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --container, --ip, --claim")
            }
        }

        func run() throws {
            let ipam = IPAM()
            let result = try options.open().transaction { tx -> Result in
                var out = Result(releasedAllocations: [], releasedClaims: [])
                func releaseHandle(_ containerID: String, _ ifName: String) throws {
                    if !force, let e = try Endpoints.get(containerID: containerID, ifName: ifName, tx), isLive(e) {
                        throw ValidationError(
                            "\(e.ips.map(\.description).joined(separator: ",")) is held by a live attachment: pod \(e.namespace)/\(e.pod), "
                                + "container \(e.containerID) \(e.ifName), node \(e.node), host veth \(e.hostVeth), netns \(e.netns ?? "-"); "
                                + "delete the pod (CNI DEL), or pass --force")
                    }
                    if let h = try ipam.release(containerID: containerID, ifName: ifName, reason: "released by operator", tx) {
                        out.releasedAllocations.append(h)
                    }
                    try Endpoints.delete(containerID: containerID, ifName: ifName, tx)
                }
                if let container { try releaseHandle(container, ifname) }
                if let claim { out.releasedClaims.append(try ipam.releaseClaim(claim, tx)) }
                if let ip {
                    let info = try ipam.lookup(try parseAddress(ip), tx)
                    if let h = info.holder { try releaseHandle(h.containerID, h.ifName) }
                    if let c = info.slot?.claim { out.releasedClaims.append(try ipam.releaseClaim(c, tx)) }
                }
                return out
            }
            if options.json { return try printJSON(result) }
            for h in result.releasedAllocations {
                print("released \(h.ips.map(\.description).joined(separator: ",")) from container \(h.containerID) \(h.ifName) (\(h.namespace)/\(h.pod))")
            }
            for c in result.releasedClaims { print("released claim \(c.name) (\(c.ips.map(\.description).joined(separator: ",")))") }
            if result.releasedAllocations.isEmpty && result.releasedClaims.isEmpty { print("nothing to release") }
        }

        /// Live: its namespace is still a network namespace here, or it is
        /// another node's (which this node cannot see, so it counts as live).
        func isLive(_ e: EndpointRecord) -> Bool {
            guard e.node == nodeOptions.node else { return true }
            return e.netns.map { NetworkNamespace(path: $0).isNetworkNamespace } ?? false
        }
    }

    struct Reclaim: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take back a lost or decommissioned node's addresses and blocks now.",
            discussion: """
                What the cluster's agents do by themselves once a dead node's pools' nodeLossGraceSeconds have \
                passed: its pods' allocations and endpoint records are released, sticky claims keep their \
                addresses, empty blocks return to the pool and the others lose their affinity (another node \
                adopts them). A node whose liveness is recent is refused unless --force: its pods may still \
                use the addresses.
                """)
        @OptionGroup var options: DatastoreOptions
        @Argument(help: "The node to reclaim.") var node: String
        @Flag(help: "Reclaim even when the node's liveness is recent.") var force = false

        struct Result: Encodable {
            var node: String
            var releasedAllocations: [HandleRecord]
            var releasedBlocks: [String]
            var unaffinedBlocks: [String]
        }

        func run() throws {
            let store = try options.open()
            let state = try ClusterState.load(from: store).0
            if !force, ClusterCommand.isLive(state, node) {
                throw ValidationError("node \(node) is live (heartbeat within livenessTimeout \(state.bgp.livenessTimeout) s); pass --force")
            }
            let report = try NodeReclaim().reclaim(node: node, deadFor: .infinity, reason: "node \(node) reclaimed by operator", in: store)
            var result = Result(node: node, releasedAllocations: report.released, releasedBlocks: [], unaffinedBlocks: [])
            for b in report.blocks {
                switch b {
                case .released(let cidr): result.releasedBlocks.append(cidr.description)
                case .unaffined(let cidr, let n): result.unaffinedBlocks.append("\(cidr) (\(n) kept)")
                }
            }
            if options.json { return try printJSON(result) }
            for h in report.released {
                print("released \(h.ips.map(\.description).joined(separator: ",")) of \(h.namespace)/\(h.pod) (container \(h.containerID))")
            }
            for b in result.releasedBlocks { print("block \(b) returned to its pool") }
            for b in result.unaffinedBlocks { print("block \(b) left without affinity: sticky addresses kept") }
            if report.isEmpty { print("node \(node) holds nothing") }
        }
    }

    struct PoolCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pool", abstract: "Create or delete pools (admin).", subcommands: [Create.self, Delete.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a pool.")
            @OptionGroup var options: DatastoreOptions
            @Argument var name: String
            @Option(help: "The pool's CIDR.") var cidr: String
            @Option(help: "Block prefix length (default /26 IPv4, /122 IPv6).") var blockSize: Int?
            @Flag(help: "Never lend single addresses from another node's block.") var strict = false
            @Flag(help: "Create the pool disabled.") var disabled = false
            @Option(help: "Namespace allowed to use the pool (repeatable; default: all).") var namespace: [String] = []
            @Option(help: "Per-namespace quota NS=N (repeatable; * for others).") var quota: [String] = []
            @Option(help: "Excluded range: IP, CIDR or A-B (repeatable).") var exclude: [String] = []
            @Option(help: "Node label KEY=VALUE the node must carry (repeatable).") var nodeSelector: [String] = []
            @Option(help: "Seconds a released address waits before reuse.") var cooldown: Double = Pool.defaultCooldownSeconds
            @Option(help: "Seconds an empty block stays with its node.") var blockGrace: Double = Pool.defaultBlockGraceSeconds
            @Option(help: "Seconds a dead node keeps its addresses and blocks before the cluster reclaims them.")
            var nodeLossGrace: Double = Pool.defaultNodeLossGraceSeconds
            @Flag(help: "Also hand out the pool's network address (and IPv4 broadcast address), skipped by default.")
            var useNetworkAddresses = false

            func run() throws {
                guard let prefix = IPPrefix(cidr) else { throw ValidationError("--cidr: \"\(cidr)\" is not a CIDR") }
                var quotas: [String: Int] = [:]
                for q in quota {
                    let kv = q.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, let n = Int(kv[1]) else { throw ValidationError("--quota: \"\(q)\" is not NS=N") }
                    quotas[String(kv[0])] = n
                }
                var selector: [String: String] = [:]
                for s in nodeSelector {
                    let kv = s.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { throw ValidationError("--node-selector: \"\(s)\" is not KEY=VALUE") }
                    selector[String(kv[0])] = String(kv[1])
                }
                var ranges: [IPRange] = []
                for x in exclude {
                    guard let r = IPRange(x) else { throw ValidationError("--exclude: \"\(x)\" is not an IP, CIDR or A-B range") }
                    ranges.append(r)
                }
                let pool = Pool(
                    name: name, cidr: prefix, blockSize: blockSize, disabled: disabled, strict: strict, nodeSelector: selector,
                    allowedNamespaces: namespace.isEmpty ? nil : namespace, namespaceQuotas: quotas, excluded: ranges,
                    cooldownSeconds: cooldown, blockGraceSeconds: blockGrace, useNetworkAddresses: useNetworkAddresses,
                    nodeLossGraceSeconds: nodeLossGrace)
                do {
                    // The one command that creates a datastore (besides the agent).
                    try options.open(create: true).transaction { try IPAM().createPool(pool, $0) }
                } catch let e as IPAMError {
                    throw ValidationError(e.description)
                }
                if options.json { try printJSON(pool) } else { print("created pool \(name) \(prefix) blocks /\(pool.blockSize)") }
            }
        }

        struct Delete: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a pool that holds no addresses.")
            @OptionGroup var options: DatastoreOptions
            @Argument var name: String

            func run() throws {
                do {
                    try options.open().transaction { try IPAM().deletePool(named: name, $0) }
                } catch let e as IPAMError {
                    throw ValidationError(e.description)
                }
                if options.json { try printJSON(["deleted": name]) } else { print("deleted pool \(name)") }
            }
        }
    }
}
