import BFD
import BGP
import BGPSpeaker
import Cluster
import ClusterModel
import Datastore
import EtcdStore
import Foundation
import IPAM
import IPAddressing
import JSON
import KeyValueStore
import Logging
import Metrics
import NetNS
import Netlink
import NFTables
import NIOCore
import Policy
import Synchronization

/// The agent's cluster side: registers the node and keeps its liveness,
/// follows the datastore through its watch (a re-list after a gap or a
/// compaction), and applies the node's plan (`NodePlan`, `PolicyInput`):
/// sessions and originated prefixes to the speaker, local routes to the
/// kernel, policy to nftables. One task consumes every input in order, so
/// the state needs no lock; what the control socket reads is published
/// under a `Mutex`.
public final class NodeAgent: Sendable {
    public let membership: ClusterMembership
    public let node: NodeSpec
    let store: any KVStore
    let storeDescription: String
    let logger: Logger
    /// The speaker's configuration without the cluster's part: `spec.bgp`
    /// with its defaults filled.
    let base: SpeakerConfiguration
    private let published: Mutex<Published>
    private let inputs: AsyncStream<Input>
    private let feed: AsyncStream<Input>.Continuation
    private let initial: Mutex<Planning?>
    /// When this agent last wrote its heartbeat (monotonic seconds): while
    /// its own datastore access fails, others' silent records prove nothing.
    private let lastHeartbeat: Mutex<Double>
    /// Ends the current watch stream, so that `watch` opens a new one from
    /// the last revision it delivered (a stalled stream, see `handle`).
    private let rewatch = Mutex<(@Sendable () -> Void)?>(nil)
    private let metrics = NodeMetrics()
    /// Sessions dropped by a topology change (mesh ↔ reflectors) stay this
    /// long so the new ones are up first (make before break).
    static let switchGrace: Double = 5

    enum Input: Sendable {
        case changes(ChangeSet)
        case relist
        case tick
    }

    struct Published: Sendable {
        var appliedRevision: Revision = 0
        var waiters: [(Revision, @Sendable (Revision) -> Void)] = []
        var status: ClusterStatus
    }

    /// Everything the consumer task owns.
    struct Planning: Sendable {
        var state: ClusterState
        var seen: Revision
        var liveness = LivenessObserver()
        var applied: SpeakerConfiguration
        var appliedPeers: [IPAddress: PlannedPeer] = [:]
        var held: [IPAddress: (peer: PlannedPeer, until: Double)] = [:]
        var localRoutes: [LocalRoute] = []
        var policyCompiler: IncrementalPolicyCompiler?
        var policyInputs: (PolicySet, EndpointInventory)?
        var publishedSessions: [String]?
        /// When this agent last tried to reclaim each lost node (monotonic).
        var reclaimTried: [String: Double] = [:]
        /// When the watch last delivered this node's own liveness record,
        /// or was last (re)opened (monotonic).
        var ownEcho: Double = NodeAgent.now()
        /// Drop counters as last read (chain and rule → packets, bytes), and when.
        var drops: [String: (packets: UInt64, bytes: UInt64)] = [:]
        var dropsRead: Double = 0
    }

    /// Opens the datastore, finds the node's addresses, registers the node
    /// and works out the first plan: the speaker starts with it.
    public init(configuration: AgentConfiguration, logger: Logger) throws {
        guard let membership = configuration.cluster else { throw ControlError("spec.cluster is missing") }
        self.membership = membership
        self.logger = logger
        let location: DatastoreLocation
        do {
            location = try membership.etcd.map { try DatastoreLocation(etcd: $0) } ?? DatastoreLocation(parsing: membership.datastore)
        } catch let e as EtcdConfigError {
            throw ControlError("spec.cluster.datastore.\(e.field): \(e.problem)")
        } catch {
            throw ControlError("spec.cluster.datastore: \(error)")
        }
        store = try location.open(create: true)
        storeDescription = location.description
        let (addresses, source) = try Self.detectAddresses(membership)
        guard !addresses.isEmpty else {
            throw ControlError("spec.cluster.nodeAddress: no address found (ipv4 \(membership.ipv4), ipv6 \(membership.ipv6)); pin one")
        }
        let settings = try store.read { tx in
            try tx.get(ClusterKeys.bgpConfiguration).map { try JSONValueDecoder().decode(BGPClusterSettings.self, from: $0) }
        } ?? BGPClusterSettings()
        var bgp = configuration.bgp
        if configuration.bgpDefaults.contains("asNumber") { bgp.asNumber = settings.asNumber }
        if configuration.bgpDefaults.contains("routerID") {
            guard case .v4(let v4)? = addresses.first(where: \.isIPv4) else {
                throw ControlError("spec.bgp.routerID: the node has no IPv4 address to take it from; set it")
            }
            bgp.routerID = v4
        }
        if configuration.bgpDefaults.contains("listen") {
            // The node's own addresses (a wildcard IPv6 socket would also
            // take IPv4, and peers are matched by address).
            bgp.listenAddresses = addresses
        }
        if let id = membership.routeReflectorClusterID { bgp.clusterID = id }
        base = bgp
        node = NodeSpec(name: membership.nodeName, addresses: addresses,
                        asNumber: configuration.bgpDefaults.contains("asNumber") ? nil : bgp.asNumber,
                        labels: membership.labels.merging(["kubernetes.io/hostname": membership.nodeName]) { a, _ in a },
                        routeReflectorClusterID: membership.routeReflectorClusterID, addressSource: source)
        (inputs, feed) = AsyncStream.makeStream(of: Input.self)
        published = Mutex(Published(status: ClusterStatus(node: node, datastore: storeDescription)))
        initial = Mutex(nil)
        lastHeartbeat = Mutex(Self.now())

        try register()
        let (state, errors) = try ClusterState.load(from: store)
        for e in errors { logger.warning("datastore record skipped", metadata: ["error": "\(e)"]) }
        var planning = Planning(state: state, seen: state.revision, applied: bgp)
        planning.liveness.observe(state.liveness, now: Self.now())
        initial.withLock { $0 = planning }
        logger.info("node registered", metadata: ["node": "\(node.name)", "addresses": "\(addresses)", "source": "\(source)",
                                                   "as": "\(bgp.asNumber)", "datastore": "\(storeDescription)"])
    }

    static func now() -> Double { MonotonicClock.seconds }
    /// Recorded in liveness (set by the executable).
    nonisolated(unsafe) public static var version: String?

    /// The first plan's speaker configuration and local routes.
    public func firstPlan() -> (SpeakerConfiguration, [LocalRoute]) {
        initial.withLock { p -> (SpeakerConfiguration, [LocalRoute]) in
            var planning = p!
            let plan = planPeers(&planning, now: Self.now())
            planning.applied = plan.config
            planning.appliedPeers = plan.peers
            planning.localRoutes = plan.local
            p = planning
            return (plan.config, plan.local)
        }
    }

    // MARK: Registration and liveness

    private func register() throws {
        let node = node
        let encoder = JSONValueEncoder()
        try store.transaction { tx in
            try tx.put(ClusterKeys.node(node.name), Data(try encoder.encodedBytes(node)))
            // IPAM's view of the node: pools' node selectors match these labels.
            try IPAM().setNode(NodeRecord(name: node.name, labels: node.labels), tx)
            let previous = try tx.get(ClusterKeys.liveness(node.name)).flatMap { try? JSONValueDecoder().decode(NodeLiveness.self, from: $0) }
            let live = NodeLiveness(node: node.name, state: .running, sequence: (previous?.sequence ?? 0) + 1, heartbeat: Date(),
                                    agentVersion: NodeAgent.version)
            try tx.put(ClusterKeys.liveness(node.name), Data(try encoder.encodedBytes(live)))
        }
    }

    private func heartbeat(_ state: NodeLiveness.State, until: Date? = nil) throws {
        let name = node.name
        try store.transaction { tx in
            let previous = try tx.get(ClusterKeys.liveness(name)).flatMap { try? JSONValueDecoder().decode(NodeLiveness.self, from: $0) }
            let live = NodeLiveness(node: name, state: state, sequence: (previous?.sequence ?? 0) + 1, heartbeat: Date(), until: until,
                                    agentVersion: NodeAgent.version)
            try tx.put(ClusterKeys.liveness(name), Data(try JSONValueEncoder().encodedBytes(live)))
        }
    }

    /// A planned stop: peers keep the routes until `restartTime` (graceful
    /// restart), and liveness says so, so nobody takes the node for dead.
    public func markRestarting(restartTime: Double) async {
        do {
            try await BackgroundTask.run { try self.heartbeat(.restarting, until: Date().addingTimeInterval(restartTime)) }
        } catch {
            logger.warning("could not record the restart in the datastore", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Running

    /// Runs until cancelled: the watch, the heartbeat, and the consumer.
    public func run(speaker: BGPSpeaker, kernel: KernelRoutes?, policy: NFTablesProgrammer?) async {
        let start = initial.withLock { $0! }
        let interval = start.state.bgp.heartbeatInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watch(after: start.seen) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                    do {
                        try await BackgroundTask.run { try self.heartbeat(.running) }
                        self.lastHeartbeat.withLock { $0 = Self.now() }
                    } catch {
                        self.logger.warning("heartbeat not written", metadata: ["error": "\(error)"])
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int(interval * 500)))
                    self.feed.yield(.tick)
                }
            }
            group.addTask {
                var planning = start
                // The first policy apply: fail closed from the start.
                await self.applyPolicy(&planning, policy: policy, revision: planning.seen)
                for await input in self.inputs {
                    if Task.isCancelled { break }
                    await self.handle(input, &planning, speaker: speaker, kernel: kernel, policy: policy)
                }
            }
            await withTaskCancellationHandler {
                await group.next()
            } onCancel: {
                self.feed.finish()
            }
            group.cancelAll()
        }
    }

    private func watch(after revision: Revision) async {
        enum End: Sendable { case ended, restarted, compacted, failed(String) }
        var from = revision
        while !Task.isCancelled {
            let start = from
            // Each stream in a task of its own, which `rewatch` cancels.
            let attempt = Task { () -> (Revision, End) in
                var at = start
                do {
                    // etcd streams its native watch; SQLite has no cross-process
                    // notification and is polled (one indexed read per 20 ms).
                    let stream = (store as? EtcdStore)?.nativeWatch(prefix: "", after: start)
                        ?? store.watch(prefix: "", after: start, pollInterval: .milliseconds(20))
                    for try await changes in stream {
                        feed.yield(.changes(changes))
                        at = changes.revision
                        if Task.isCancelled { break }
                    }
                    return (at, Task.isCancelled ? .restarted : .ended)
                } catch KVStoreError.compacted {
                    return (at, .compacted)
                } catch {
                    return (at, Task.isCancelled ? .restarted : .failed("\(error)"))
                }
            }
            rewatch.withLock { $0 = { attempt.cancel() } }
            let (at, end) = await withTaskCancellationHandler { await attempt.value } onCancel: { attempt.cancel() }
            from = at
            switch end {
            case .ended:
                return
            case .restarted:
                if Task.isCancelled { return }
                logger.notice("datastore watch reopened", metadata: ["after": "\(from)"])
            case .compacted:
                logger.notice("watch history compacted: re-listing")
                feed.yield(.relist)
                // The consumer re-lists; the watch resumes from the store's
                // revision (changes before it are in the listing).
                from = (try? store.revision()) ?? from
            case .failed(let error):
                logger.warning("datastore watch failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// A watch stream whose connection died silently (no reset: a NAT or
    /// firewall dropped it, a peer vanished) delivers nothing and reports
    /// nothing. The agent's own heartbeat, written every interval, must
    /// come back through the watch within milliseconds: when the writes
    /// succeed and none has come back for this long, the stream is stale.
    static func watchStallSeconds(heartbeatInterval: Double) -> Double { max(3, 4 * heartbeatInterval) }
    /// Without an echo of its own heartbeat for this long, the agent takes
    /// nobody new for dead (less than `livenessTimeout`, which is at least
    /// twice the interval).
    static func blindAfter(heartbeatInterval: Double) -> Double { 1.5 * heartbeatInterval + 0.25 }

    private func handle(_ input: Input, _ p: inout Planning, speaker: BGPSpeaker, kernel: KernelRoutes?, policy: NFTablesProgrammer?) async {
        var aspects: ClusterState.Aspects = []
        switch input {
        case .changes(let changes):
            if changes.events.contains(where: { $0.key == ClusterKeys.liveness(node.name) }) { p.ownEcho = Self.now() }
            for event in changes.events where ClusterState.isWatched(event.key) {
                let (a, error) = p.state.apply(event)
                aspects.formUnion(a)
                if let error { logger.warning("datastore record skipped", metadata: ["error": "\(error)"]) }
            }
            p.seen = max(p.seen, changes.revision)
        case .relist:
            do {
                let (state, errors) = try await BackgroundTask.run { try ClusterState.load(from: self.store) }
                for e in errors { logger.warning("datastore record skipped", metadata: ["error": "\(e)"]) }
                p.state = state
                p.seen = max(p.seen, state.revision)
                p.ownEcho = Self.now()
                p.policyInputs = nil
                aspects = .all
            } catch {
                logger.error("re-list failed", metadata: ["error": "\(error)"])
                return
            }
        case .tick:
            await publishSessions(&p, speaker: speaker)
            await reclaimLostNodes(&p)
            if let policy, Self.now() - p.dropsRead >= Self.dropsInterval { await recordDrops(&p, policy) }
            let wrote = lastHeartbeat.withLock { $0 }
            if wrote - p.ownEcho > Self.watchStallSeconds(heartbeatInterval: p.state.bgp.heartbeatInterval) {
                logger.warning("datastore watch stalled: the node's own heartbeats do not come back through it; reopening",
                               metadata: ["silentFor": "\(Int(Self.now() - p.ownEcho))", "after": "\(p.seen)"])
                Counter(label: "caracal_agent_watch_restarts_total").increment()
                p.ownEcho = Self.now()
                rewatch.withLock { $0 }?()
            }
        }
        let now = Self.now()
        if aspects.contains(.liveness) { p.liveness.observe(p.state.liveness, now: now) }
        // This node judges others only while it sees its own heartbeats
        // come back through the watch: a stale watch shows every other
        // record as silent too.
        let cutOff = now - lastHeartbeat.withLock { $0 } > p.state.bgp.livenessTimeout
            || now - p.ownEcho > Self.blindAfter(heartbeatInterval: p.state.bgp.heartbeatInterval)
        if p.liveness.evaluate(p.state, now: now, me: node.name, datastoreReachable: !cutOff) { aspects.insert(.peering) }
        if !p.held.isEmpty, p.held.values.contains(where: { $0.until <= now }) { aspects.insert(.peering) }
        if !aspects.intersection([.peering, .routes]).isEmpty {
            let plan = planPeers(&p, now: now)
            if plan.config != p.applied {
                do {
                    let report = try await speaker.reload(plan.config).get()
                    p.applied = plan.config
                    p.appliedPeers = plan.peers
                    if !(report.added.isEmpty && report.removed.isEmpty && report.reset.isEmpty) {
                        logger.info("sessions changed", metadata: ["added": "\(report.added)", "removed": "\(report.removed)",
                                                                   "reset": "\(report.reset)"])
                    }
                } catch {
                    logger.error("the speaker refused the cluster's plan", metadata: ["error": "\(error)"])
                }
            }
            if plan.local != p.localRoutes {
                kernel?.setLocal(plan.local)
                p.localRoutes = plan.local
            }
        }
        if aspects.contains(.policy) {
            await applyPolicy(&p, policy: policy, revision: p.seen)
        } else {
            publishApplied(p.seen)
        }
        let live = p.liveness
        let state = p.state
        let peers = p.applied.peers.count
        metrics.record(state, node: node.name, live: live, originated: p.applied.originate.count, local: p.localRoutes.count)
        published.withLock {
            $0.status.nodes = state.nodes.keys.sorted().map { name in
                ClusterStatus.NodeRow(name: name, addresses: state.nodes[name]!.addresses.map(\.description),
                                      reflector: state.nodes[name]!.isReflector, liveness: live.describe(name, state, me: self.node.name))
            }
            $0.status.revision = p.seen
            $0.status.mesh = state.bgp.nodeToNodeMesh
            $0.status.sessions = peers
            $0.status.originated = p.applied.originate.count
            $0.status.localRoutes = p.localRoutes.count
            var rows: [String: ClusterStatus.IPAMRow] = [:]
            for (cidr, owner) in state.blocks where owner.node == self.node.name {
                rows[owner.pool, default: .init(pool: owner.pool, blocks: [], used: 0)].blocks.append(cidr.description)
                rows[owner.pool]!.used += state.blockUsage[cidr] ?? 0
            }
            $0.status.ipam = rows.values.sorted { $0.pool < $1.pool }.map { var r = $0; r.blocks.sort(); return r }
        }
    }

    private func publishSessions(_ p: inout Planning, speaker: BGPSpeaker) async {
        guard let status = try? await speaker.status().get() else { return }
        let established = status.peers.filter { $0.state == "Established" }.map(\.name).sorted()
        // Nodes whose BFD is Up: their forwarding plane answers (a node cut
        // off from the datastore alone is not dead).
        let addresses = Set(status.peers.filter { $0.bfd?.state == BFDState.up.description }.compactMap { IPAddress($0.address) })
        p.liveness.bfdUp = Set(p.state.nodes.values.filter { !Set($0.addresses).isDisjoint(with: addresses) }.map(\.name))
        guard established != p.publishedSessions else { return }
        let record = NodeSessions(node: node.name, established: established)
        do {
            try await BackgroundTask.run {
                try self.store.transaction { tx in
                    try tx.put(ClusterKeys.sessions(record.node), Data(try JSONValueEncoder().encodedBytes(record)))
                }
            }
            p.publishedSessions = established
        } catch {
            logger.warning("session status not published", metadata: ["error": "\(error)"])
        }
    }

    /// A node dead past its pools' `nodeLossGraceSeconds` loses its pods'
    /// addresses (sticky claims keep theirs) and its blocks
    /// (`NodeReclaim`). One live node does it, the first by name, so that
    /// a large cluster does not race on the same records (each step is a
    /// compare-and-swap transaction, so a race would still be safe); if
    /// it dies, the next takes over. The time counts from when this agent
    /// found the node dead, so a restarted reclaimer waits the grace anew.
    private func reclaimLostNodes(_ p: inout Planning) async {
        let me = node.name
        let live = p.liveness
        guard !live.dead.isEmpty, !live.cutOff,
              p.state.nodes.keys.filter({ live.isLive($0, me: me) }).min() == me else { return }
        let now = Self.now()
        for name in live.dead.sorted() {
            guard let since = live.deadSince[name], now - (p.reclaimTried[name] ?? -.infinity) >= Self.reclaimInterval else { continue }
            let holds = p.state.blocks.values.contains { $0.node == name } || p.state.endpoints.values.contains { $0.node == name }
            guard holds else { continue }
            p.reclaimTried[name] = now
            let deadFor = now - since
            do {
                let report = try await BackgroundTask.run {
                    try NodeReclaim().reclaim(node: name, deadFor: deadFor,
                                              reason: "node \(name) lost for \(Int(deadFor)) s (reclaimed by \(me))", in: self.store)
                }
                guard !report.isEmpty else { continue }
                logger.notice("lost node's addresses reclaimed", metadata: [
                    "node": "\(name)", "deadFor": "\(Int(deadFor))", "released": "\(report.released.flatMap(\.ips))",
                    "blocks": "\(report.blocks)"])
                Counter(label: "caracal_ipam_reclaimed_addresses_total").increment(by: report.released.reduce(0) { $0 + $1.ips.count })
                Counter(label: "caracal_ipam_reclaimed_blocks_total").increment(by: report.blocks.count)
            } catch {
                logger.warning("reclaiming a lost node failed; retrying", metadata: ["node": "\(name)", "error": "\(error)"])
            }
        }
        for name in p.reclaimTried.keys where !live.dead.contains(name) { p.reclaimTried[name] = nil }
    }
    /// The kernel's drop counters as Prometheus counters, per rule (the
    /// policy and direction in its audit comment), for the rules that
    /// dropped something. A rule rewritten by a policy change starts from
    /// zero again: a count below the last one is all new.
    private func recordDrops(_ p: inout Planning, _ policy: NFTablesProgrammer) async {
        p.dropsRead = Self.now()
        guard let counts = try? await BackgroundTask.run({ try policy.dropCounts() }) else { return }
        var seen: [String: (packets: UInt64, bytes: UInt64)] = [:]
        for d in counts {
            let key = d.chain + " " + d.rule
            let last = p.drops[key] ?? (0, 0)
            let packets = d.packets >= last.packets ? d.packets - last.packets : d.packets
            let bytes = d.bytes >= last.bytes ? d.bytes - last.bytes : d.bytes
            if packets > 0 {
                Counter(label: "caracal_policy_dropped_packets_total", dimensions: [("rule", d.rule)]).increment(by: Int64(packets))
                Counter(label: "caracal_policy_dropped_bytes_total", dimensions: [("rule", d.rule)]).increment(by: Int64(bytes))
            }
            seen[key] = (d.packets, d.bytes)
        }
        p.drops = seen
    }
    static let dropsInterval: Double = 10

    /// Seconds between reclaim attempts for one lost node.
    static let reclaimInterval: Double = 5

    /// The plan's sessions (with dropped ones held for the switch grace) as
    /// a speaker configuration.
    private func planPeers(_ p: inout Planning, now: Double) -> (config: SpeakerConfiguration, peers: [IPAddress: PlannedPeer], local: [LocalRoute]) {
        let live = p.liveness
        let state = p.state
        let me = node.name
        let plan = NodePlan(state, node: me, isLive: { live.isLive($0, me: me) })
        var peers = Dictionary(plan.peers.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for (address, old) in p.appliedPeers where old.isCluster && live.isLive(old.owner, me: me) {
            let new = peers[address]
            // Removed, or no longer served as a client: keep the old session
            // until the new topology's sessions are up.
            guard new == nil || (old.kind == .reflectorClient && new!.kind != .reflectorClient) else { continue }
            if p.held[address] == nil { p.held[address] = (old, now + Self.switchGrace) }
        }
        for (address, h) in p.held {
            if h.until <= now || peers[address] == h.peer || !live.isLive(h.peer.owner, me: me) {
                p.held[address] = nil
            } else {
                peers[address] = h.peer
            }
        }
        var config = base
        var names = Set(config.peers.map(\.name))
        let staticAddresses = Set(config.peers.map(\.address))
        for peer in peers.values.sorted() where !staticAddresses.contains(peer.address) {
            guard let c = peerConfiguration(peer, clusterBFD: state.bgp.nodeBFD) else { continue }
            guard names.insert(c.name).inserted else { continue }
            config.peers.append(c)
        }
        config.originate = Array(Set(base.originate).union(plan.originate)).sorted()
        return (config, peers, plan.localRoutes)
    }

    private func peerConfiguration(_ peer: PlannedPeer, clusterBFD: ClusterBFD?) -> PeerConfiguration? {
        var c = PeerConfiguration(name: peer.name, address: peer.address, remoteAS: .number(peer.asNumber))
        c.holdTime = peer.holdTime
        c.families = peer.address.isIPv4 ? [.ipv4Unicast] : [.ipv6Unicast]
        c.routeReflectorClient = peer.kind == .reflectorClient
        if peer.isCluster {
            // A restarted node comes back in about a second.
            c.connectRetryTime = 1
            if let bfd = clusterBFD, bfd.enabled {
                var settings = BFDSettings(minTx: bfd.minTx, minRx: bfd.minRx, multiplier: bfd.multiplier)
                // A node's agent signals AdminDown when it restarts: a failure
                // is a dead node, whose kept routes go at once.
                settings.failureEndsRestart = true
                c.bfd = settings
            }
            return c
        }
        c.ttlSecurity = peer.ttlSecurity
        if let hops = peer.multihop { c.ttl = hops }
        if let limit = peer.maxPrefixes { c.maxPrefixes = MaxPrefixes(limit: limit, action: .warn, restartAfter: 60) }
        for (field, name) in [("importPolicy", peer.importPolicy), ("exportPolicy", peer.exportPolicy)] {
            guard let name else { continue }
            guard base.policies[name] != nil else {
                logger.error("BGPPeer refers to a policy this node does not define; peer skipped",
                             metadata: ["peer": "\(peer.name)", "field": "spec.\(field)", "policy": "\(name)"])
                return nil
            }
        }
        c.importPolicy = peer.importPolicy
        c.exportPolicy = peer.exportPolicy
        if let file = peer.passwordFile {
            guard let secret = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                  !secret.isEmpty else {
                logger.error("BGPPeer password file unreadable; peer skipped", metadata: ["peer": "\(peer.name)", "file": "\(file)"])
                return nil
            }
            c.password = secret
        }
        return c
    }

    // MARK: Policy

    private func applyPolicy(_ p: inout Planning, policy programmer: NFTablesProgrammer?, revision: Revision) async {
        guard let programmer else { publishApplied(revision); return }
        let input = PolicyInput(p.state, node: node.name)
        if let (set, inventory) = p.policyInputs, set == input.policies, inventory.namespaces == input.inventory.namespaces,
           var compiler = p.policyCompiler {
            // Only endpoints changed: the incremental compiler.
            let old = Dictionary(inventory.endpoints.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            let new = Dictionary(input.inventory.endpoints.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for (id, e) in new where old[id] != e { compiler.upsert(e) }
            for id in old.keys where new[id] == nil { compiler.remove(id: id) }
            p.policyCompiler = compiler
        } else {
            p.policyCompiler = IncrementalPolicyCompiler(PolicyCompiler(interfacePrefix: membership.interfacePrefix),
                                                         policies: input.policies, inventory: input.inventory)
        }
        p.policyInputs = (input.policies, input.inventory)
        let ruleset = p.policyCompiler!.ruleset
        let start = Self.now()
        do {
            let report = try await BackgroundTask.run { try programmer.apply(ruleset) }
            let seconds = Self.now() - start
            Metrics.Timer(label: "caracal_agent_policy_apply_duration").recordNanoseconds(Int64(seconds * 1e9))
            published.withLock {
                $0.status.policies = input.policies.networkPolicies.count + input.policies.globalPolicies.count
                $0.status.localEndpoints = input.inventory.endpoints.filter { $0.interface != nil }.count
                $0.status.lastPolicyApply = "\(report)"
                $0.status.lastPolicyError = nil
            }
            metrics.localEndpoints.record(input.inventory.endpoints.filter { $0.interface != nil }.count)
            publishApplied(revision)
        } catch {
            logger.error("policy apply failed; the previous ruleset stays", metadata: ["error": "\(error)"])
            published.withLock { $0.status.lastPolicyError = "\(error)" }
            p.policyInputs = nil
        }
    }

    private func publishApplied(_ revision: Revision) {
        let ready = published.withLock { s -> [@Sendable (Revision) -> Void] in
            s.appliedRevision = max(s.appliedRevision, revision)
            s.status.policyRevision = s.appliedRevision
            let (done, waiting) = s.waiters.reduce(into: ([(Revision, @Sendable (Revision) -> Void)](), [(Revision, @Sendable (Revision) -> Void)]())) {
                if $1.0 <= s.appliedRevision { $0.0.append($1) } else { $0.1.append($1) }
            }
            s.waiters = waiting
            return done.map(\.1)
        }
        let revision = published.withLock { $0.appliedRevision }
        for r in ready { r(revision) }
    }

    /// Calls `done` once everything the datastore held at `revision` is in
    /// the node's policy (the CNI plugin's wait before ADD returns).
    public func whenApplied(_ revision: Revision, _ done: @escaping @Sendable (Revision) -> Void) {
        let now = published.withLock { s -> Revision? in
            if s.appliedRevision >= revision { return s.appliedRevision }
            s.waiters.append((revision, done))
            return nil
        }
        if let now { done(now) }
    }

    public var status: ClusterStatus { published.withLock { $0.status } }

    // MARK: Addresses

    static func detectAddresses(_ m: ClusterMembership) throws -> ([IPAddress], String) {
        let netlink = try RTNetlink()
        let links = Dictionary(try netlink.links().map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
        let candidates = try netlink.addresses().compactMap { a -> (interface: String, address: IPAddress, up: Bool)? in
            guard let link = links[a.interfaceIndex] else { return nil }
            return (link.name, a.address, link.flags & 1 != 0)
        }
        var out: [IPAddress] = []
        var sources: [String] = []
        for (ipv4, method) in [(true, m.ipv4), (false, m.ipv6)] {
            if let a = method.select(from: candidates, ipv4: ipv4, podInterfacePrefix: m.interfacePrefix) {
                out.append(a)
                sources.append("\(ipv4 ? "ipv4" : "ipv6") \(method)")
            } else if method != .none {
                throw ControlError("spec.cluster.nodeAddress.\(ipv4 ? "ipv4" : "ipv6"): \(method) matches no address on this node")
            }
        }
        return (out, sources.joined(separator: ", "))
    }
}

/// When each node's liveness last changed, by this agent's clock.
struct LivenessObserver: Sendable {
    var lastChange: [String: (sequence: UInt64, at: Double)] = [:]
    var dead: Set<String> = []
    /// When each dead node was found dead, by this agent's clock.
    var deadSince: [String: Double] = [:]
    var timeout: Double = 3
    /// This node could not reach the datastore at the last evaluation.
    var cutOff = false
    /// Nodes with a BFD session Up with this one: alive whatever their
    /// liveness record says.
    var bfdUp: Set<String> = []

    mutating func observe(_ records: [String: NodeLiveness], now: Double) {
        for (name, r) in records where lastChange[name]?.sequence != r.sequence { lastChange[name] = (r.sequence, now) }
    }

    func isLive(_ name: String, me: String) -> Bool { name == me || !dead.contains(name) }

    /// Recomputes the dead set; true when it changed. While this node cannot
    /// reach the datastore, nobody new is declared dead (the records did not
    /// stop changing: this node stopped seeing them), and once it can, every
    /// node gets a fresh timeout.
    mutating func evaluate(_ state: ClusterState, now: Double, me: String, datastoreReachable: Bool = true) -> Bool {
        timeout = state.bgp.livenessTimeout
        if !datastoreReachable {
            cutOff = true
            return false
        }
        if cutOff {
            cutOff = false
            for name in lastChange.keys { lastChange[name]!.at = now }
        }
        var newDead = Set<String>()
        for name in state.nodes.keys where name != me {
            if let r = state.liveness[name], r.state == .restarting, let until = r.until, until > Date() { continue }
            // A node first seen now gets the benefit of the doubt.
            if lastChange[name] == nil { lastChange[name] = (state.liveness[name]?.sequence ?? 0, now) }
            if now - lastChange[name]!.at > timeout, !bfdUp.contains(name) { newDead.insert(name) }
        }
        defer {
            dead = newDead
            deadSince = newDead.reduce(into: [:]) { $0[$1] = deadSince[$1] ?? now }
        }
        return newDead != dead
    }

    func describe(_ name: String, _ state: ClusterState, me: String) -> String {
        if name == me { return "self" }
        if dead.contains(name) { return "dead" }
        return state.liveness[name]?.state.rawValue ?? "unknown"
    }
}

/// `caracal status`'s cluster part.
public struct ClusterStatus: Codable, Hashable, Sendable {
    public struct NodeRow: Codable, Hashable, Sendable {
        public var name: String
        public var addresses: [String]
        public var reflector: Bool
        /// self, running, restarting, dead or unknown.
        public var liveness: String
    }
    public var node: NodeSpec
    public var datastore: String
    public var revision: Revision = 0
    public var policyRevision: Revision = 0
    public var mesh: Bool = true
    public var nodes: [NodeRow] = []
    public var sessions: Int = 0
    public var originated: Int = 0
    public var localRoutes: Int = 0
    public var policies: Int = 0
    public var localEndpoints: Int = 0
    public var lastPolicyApply: String?
    public var lastPolicyError: String?
    /// This node's blocks and addresses in use, per pool.
    public var ipam: [IPAMRow] = []
    public struct IPAMRow: Codable, Hashable, Sendable {
        public var pool: String
        public var blocks: [String]
        public var used: Int
    }

    init(node: NodeSpec, datastore: String) {
        self.node = node
        self.datastore = datastore
    }
}

/// The node's Prometheus gauges (swift-metrics; docs/operations.md lists them).
struct NodeMetrics: Sendable {
    let originated = Gauge(label: "caracal_agent_originated_prefixes")
    let localRoutes = Gauge(label: "caracal_agent_local_routes")
    let localEndpoints = Gauge(label: "caracal_agent_local_endpoints")

    func record(_ state: ClusterState, node: String, live: LivenessObserver, originated: Int, local: Int) {
        self.originated.record(originated)
        localRoutes.record(local)
        var byState: [String: Int] = ["self": 0, "running": 0, "restarting": 0, "dead": 0, "unknown": 0]
        for name in state.nodes.keys { byState[live.describe(name, state, me: node), default: 0] += 1 }
        for (s, n) in byState { Gauge(label: "caracal_cluster_nodes", dimensions: [("state", s)]).record(n) }
        var blocks: [String: Int] = [:], used: [String: Int] = [:]
        for (cidr, owner) in state.blocks where owner.node == node {
            blocks[owner.pool, default: 0] += 1
            used[owner.pool, default: 0] += state.blockUsage[cidr] ?? 0
        }
        for (pool, n) in blocks {
            Gauge(label: "caracal_ipam_node_blocks", dimensions: [("pool", pool)]).record(n)
            Gauge(label: "caracal_ipam_node_addresses_used", dimensions: [("pool", pool)]).record(used[pool] ?? 0)
        }
    }
}
