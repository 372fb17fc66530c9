import ClusterModel
import CNI
import Datastore
import EtcdStore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAM
import IPAddressing
import KeyValueStore
import Logging
import NetNS
import Netlink
#if canImport(Glibc)
import Glibc
import JSON
#endif

/// What the plugin prints and how it exits.
public struct PluginOutcome: Sendable {
    public var stdout: String
    public var exitCode: Int32
}

/// caracal-cni: one CNI invocation (SPEC.md "Execution Protocol"). The
/// runtime passes `CNI_*` in the environment and the network config on
/// stdin; the answer is a result or an error JSON on stdout, logs go to
/// stderr (swift-log), and the exit code is non-zero on error.
public struct CNIPlugin {
    public var logger: Logger
    public var wiring: PodWiring
    public var ipam: IPAM

    public init(logger: Logger, wiring: PodWiring = PodWiring(), ipam: IPAM = IPAM()) {
        self.logger = logger
        self.wiring = wiring
        self.ipam = ipam
    }

    public func run(environment: [String: String], stdin: [UInt8]) -> PluginOutcome {
        // The version errors are reported in: the config's when we can read it.
        var replyVersion = CNIVersion.current
        let document = Result { () throws(CNIError) in try JSONValue.parse(stdin) }
        if case .success(let json) = document, let v = json["cniVersion"]?.stringValue.flatMap(CNIVersion.init), v.isSupported {
            replyVersion = v
        }
        do {
            let env = try CNIEnvironment(environment)
            if env.command == .version {
                return PluginOutcome(stdout: CNIVersion.versionInfo().encodedString, exitCode: 0)
            }
            let config = try NetworkConfig(json: try document.get())
            Timeline.mark("config")
            replyVersion = config.cniVersion
            guard config.cniVersion >= env.command.introducedIn else {
                throw CNIError(
                    .incompatibleVersion, "config version does not allow \(env.command.rawValue)",
                    details: "\(env.command.rawValue) needs cniVersion \(env.command.introducedIn) or later, the config is \(config.cniVersion)")
            }
            let context = try Context(env: env, config: config, fault: environment["CARACAL_CNI_FAULT"])
            switch env.command {
            case .add:
                let result = try add(context).json(version: config.cniVersion).encodedString
                Timeline.mark("encoded")
                return PluginOutcome(stdout: result, exitCode: 0)
            case .del: try del(context)
            case .check: try check(context)
            case .gc: try gc(context)
            case .status: try status(context)
            case .version: break
            }
            return PluginOutcome(stdout: "", exitCode: 0)
        } catch {
            let e = CNIPlugin.cniError(error)
            logger.error("\(environment["CNI_COMMAND"] ?? "?") failed", metadata: [
                "code": "\(e.code.rawValue)", "msg": "\(e.msg)", "details": "\(e.details)",
                "container": "\(environment["CNI_CONTAINERID"] ?? "")",
            ])
            return PluginOutcome(stdout: e.json(cniVersion: replyVersion).encodedString, exitCode: 1)
        }
    }

    /// Everything derived from one invocation.
    struct Context {
        var env: CNIEnvironment
        var config: NetworkConfig
        var node: String
        var datastorePath: String
        /// The embedded file at `datastorePath`, or etcd (`datastore.type`).
        var location: DatastoreLocation
        var namespace: String
        var pod: String
        /// `CARACAL_CNI_FAULT` (crash tests, docs/cni.md).
        var fault: String?

        init(env: CNIEnvironment, config: NetworkConfig, fault: String?) throws {
            self.fault = fault
            self.env = env
            self.config = config
            node = config.nodeName ?? CNIPlugin.defaultNodeName()
            datastorePath = config.datastorePath ?? SQLiteStore.defaultPath
            location = try Context.location(config, path: datastorePath)
            namespace = env.args.podNamespace ?? "default"
            pod = env.args.podName ?? ""
        }

        var containerID: String { env.containerID ?? "" }
        /// False only for an embedded file that is not there (etcd: always).
        var datastoreExists: Bool {
            guard case .embedded = location else { return true }
            return access(datastorePath, F_OK) == 0
        }

        static func location(_ config: NetworkConfig, path: String) throws -> DatastoreLocation {
            guard let etcd = config.etcd else { return .embedded(path: path) }
            do {
                return try DatastoreLocation(etcd: etcd)
            } catch let e as EtcdConfigError where e.field == "passwordFile" {
                throw CNIError(.ioFailure, "datastore.passwordFile: \(e.problem)")
            } catch let e as EtcdConfigError {
                throw CNIError.invalidField("datastore.\(e.field)", e.problem)
            }
        }
        var ifName: String { env.ifName ?? "eth0" }
        var hostVeth: String { PodWiring.hostVethName(containerID: containerID, ifName: ifName) }

        /// How long a plugin waits for another writer by default.
        static let defaultBusyTimeoutMs = 10_000

        /// - Parameter autocheckpoint: whether commits checkpoint the WAL
        ///   when it is large. The plugin never lets them: ADD checkpoints
        ///   a large WAL from a second connection while it wires the pod,
        ///   DEL and GC always while the kernel deletes veths, so that the
        ///   fdatasyncs stay off the critical path.
        func openStore(autocheckpoint: Bool = true) throws -> any KVStore {
            guard case .etcd(let config) = location else { return try openEmbedded(autocheckpoint: autocheckpoint) }
            do { return try EtcdStore(config) } catch {
                throw CNIError(.ioFailure, "cannot reach datastore \(location)", details: "\(error)")
            }
        }

        func openEmbedded(autocheckpoint: Bool = true) throws -> SQLiteStore {
            let timeout = Double(config.datastoreBusyTimeoutMs ?? Context.defaultBusyTimeoutMs) / 1000
            let pages = autocheckpoint ? SQLiteStore.walAutocheckpointPages : 0
            // Never created here (SQLiteStore.init's `create`): a mistyped
            // path must fail, not start a second IPAM.
            do {
                return try SQLiteStore(path: datastorePath, create: false, busyTimeout: timeout, autocheckpointPages: pages)
            } catch let e as SQLiteStore.NotFound {
                throw CNIError(.ioFailure, "datastore \(datastorePath) does not exist", details: e.description)
            } catch {
                throw CNIError(.ioFailure, "cannot open datastore \(datastorePath)", details: "\(error)")
            }
        }
    }

    /// The node's name when the config gives none: gethostname(2) up to the
    /// first dot (no resolver lookups, unlike ProcessInfo.hostName).
    public static func defaultNodeName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.split(separator: ".").first.map(String.init) ?? "localhost"
    }

    /// CNI_NETNS of ADD and CHECK: present, a network namespace, and not
    /// the node's own (wiring that would put the pod's default route and
    /// address on the node itself), each a code 4 otherwise.
    func podNamespace(_ c: Context) throws -> String {
        guard let netns = c.env.netns else { throw CNIError(.invalidEnvironment, "required env variables [CNI_NETNS] missing") }
        let ns = NetworkNamespace(path: netns)
        guard ns.isNetworkNamespace else { throw CNIError(.invalidEnvironment, "CNI_NETNS: \(netns) is not a network namespace") }
        guard !wiring.isHostNamespace(ns) else {
            throw CNIError(.invalidEnvironment, "CNI_NETNS: \(netns) is the plugin's own network namespace, not a pod's")
        }
        return netns
    }

    // MARK: ADD

    func add(_ c: Context) throws -> CNIResult {
        guard let section = c.config.ipam else { throw CNIError.invalidField("ipam", "missing") }
        let netns = try podNamespace(c)
        let definitions = try poolDefinitions(section)
        Timeline.mark("pools")
        let requested = c.config.requestedIPs + c.env.args.requestedIPs.filter { !c.config.requestedIPs.contains($0) }
        let claim = c.config.argsClaim ?? c.env.args.claim
            ?? section.statefulSetClaims?.claim(namespace: c.env.args.podNamespace, pod: c.env.args.podName, labels: c.config.labels)
        let hostVeth = c.hostVeth
        let now = ipam.clock()
        var labels: [String: String] = [:]
        for l in c.config.labels { labels[l.key] = l.value }

        // The veth pair needs no address: the kernel makes it on another
        // thread while the datastore opens and the allocation transaction
        // runs. A pair left by a process killed here has no endpoint record;
        // DEL (through the pod's namespace) or GC (unclaimed host veths)
        // removes it.
        let progress = PodWiring.Progress()
        let podMAC = (c.config.runtimeMAC ?? c.env.args.mac).flatMap(MACAddress.init)
        let wantsIPv6 = section.assignIPv6 || requested.contains(where: \.isIPv6)
        let createPair = { @Sendable [wiring, ifName = c.ifName] in
            try wiring.createPair(
                netns: netns, ifName: ifName, hostVeth: hostVeth, mtu: c.config.mtu, podMAC: podMAC, ipv6: wantsIPv6,
                progress: progress)
        }
        let pairing = BackgroundTask(createPair)
        let store: any KVStore
        do { store = try c.openStore(autocheckpoint: false) } catch {
            _ = pairing.wait()
            if progress.hostVethCreated {
                try? wiring.unwire(netns: netns, ifName: c.ifName, hostVeth: hostVeth)
            }
            throw error
        }
        Timeline.mark("open")

        // 1. One transaction: leftovers of a crashed ADD go, addresses are
        //    allocated, and the endpoint is recorded as "wiring".
        let allocated = Result { try store.transaction { tx -> ([Allocation], EndpointRecord?) in
            var leftover: EndpointRecord?
            // What this transaction reads first, in one round trip on etcd.
            try tx.prefetch(keys: [Endpoints.key(containerID: c.containerID, ifName: c.ifName),
                                   Keys.handle(HandleRecord.id(containerID: c.containerID, ifName: c.ifName)), Keys.node(c.node)]
                                + (claim.map { [Keys.claim($0)] } ?? []),
                            prefixes: [Keys.pools, Keys.affinities(node: c.node)])
            if let existing = try Endpoints.get(containerID: c.containerID, ifName: c.ifName, tx) {
                guard existing.state == .wiring else {
                    throw CNIError(.alreadyExists, "container \(c.containerID) already has interface \(c.ifName) on network \(existing.network)")
                }
                leftover = existing
                try ipam.release(containerID: c.containerID, ifName: c.ifName, reason: "ADD retried after an interrupted ADD", tx)
                try Endpoints.delete(containerID: c.containerID, ifName: c.ifName, tx)
            }
            for p in definitions { try ipam.createPool(p, ifAbsent: true, tx) }
            // Pools the config names must exist; with none named, some must.
            for (i, name) in section.poolNames.enumerated() where try ipam.pool(named: name, tx) == nil {
                throw CNIError.invalidField(
                    "ipam.pools[\(i)]", "no pool named \(name) in datastore \(c.location) (create it with `caracal ipam pool create` or define it here)")
            }
            if section.poolNames.isEmpty, try ipam.pools(tx).isEmpty {
                throw CNIError.invalidField(
                    "ipam.pools", "no pool is defined in datastore \(c.location) (create one with `caracal ipam pool create` or define it here)")
            }
            let a = try ipam.allocate(AllocationRequest(
                containerID: c.containerID, ifName: c.ifName, namespace: c.namespace, pod: c.pod, node: c.node, claim: claim,
                requested: requested, ipv4: section.assignIPv4, ipv6: section.assignIPv6, pools: section.poolNames), tx)
            try Endpoints.put(EndpointRecord(
                containerID: c.containerID, ifName: c.ifName, namespace: c.namespace, pod: c.pod, podUID: c.env.args.podUID,
                network: c.config.name, netns: netns, ips: a.map(\.ip),
                borrowedIPs: a.filter(\.borrowed).map(\.ip), hostVeth: hostVeth, labels: labels, node: c.node,
                claim: claim, state: .wiring, created: now), tx)
            return (a, leftover)
        } }
        Timeline.mark("allocated")
        // A WAL past its limit is checkpointed from a second connection
        // while the pod is wired (its fdatasyncs off the critical path),
        // joined before the result goes out.
        let checkpointing = ((store as? SQLiteStore)?.walPages ?? 0) >= SQLiteStore.walAutocheckpointPages
            ? BackgroundTask { [c] in try c.openEmbedded(autocheckpoint: false).checkpoint().walPages } : nil
        var paired = pairing.wait()
        Timeline.mark("paired")
        guard case .success(let (allocations, leftover)) = allocated else {
            if progress.hostVethCreated { try? wiring.unwire(netns: netns, ifName: c.ifName, hostVeth: hostVeth) }
            _ = try allocated.get()
            fatalError("unreachable")
        }
        // Fault injection for the crash tests (docs/cni.md): stop right after
        // the allocation committed, so a test can kill -9 the plugin there.
        if c.fault == "stop-after-allocation" { raise(SIGSTOP) }
        // An interrupted ADD of this container may have made its pair (with
        // or without recording the endpoint). The transaction above proved
        // no finished endpoint exists, so replace that pair and try again
        // (deleting the host end removes the pod end).
        if case .failure(let e as CNIError) = paired, e.code == .alreadyExists,
            leftover != nil || wiring.isOwnPair(netns: netns, ifName: c.ifName, hostVeth: hostVeth)
        {
            try? wiring.unwire(netns: netns, ifName: c.ifName, hostVeth: leftover?.hostVeth ?? hostVeth)
            paired = Result { try createPair() }
        } else if let leftover, leftover.hostVeth != hostVeth {
            try? wiring.unwire(netns: nil, ifName: c.ifName, hostVeth: leftover.hostVeth)
        }
        let ips = allocations.map(\.ip)
        logger.info("allocated", metadata: ["container": "\(c.containerID)", "ips": "\(ips)", "node": "\(c.node)", "claim": "\(claim ?? "")"])

        // 2. Wire the pod; on any failure undo the wiring and the allocation.
        let wired: PodWiring.Wired
        do {
            // The pools' prefixes, which a pod's later attachment routes.
            let networks = Array(Set(allocations.map(\.poolCIDR))).sorted()
            wired = try wiring.configure(try paired.get(), ips: ips, networks: networks)
            Timeline.mark("configured")
            // 3. The endpoint is ready.
            try store.transaction { tx in
                guard var e = try Endpoints.get(containerID: c.containerID, ifName: c.ifName, tx) else { return }
                e.state = .ready
                e.mac = wired.podMAC
                try Endpoints.put(e, tx)
            }
            // Fail closed until the agent's rules cover the pod; return once
            // they do, so the pod never starts blocked.
            let outcome = try AgentHandshake.awaitPolicy(socket: c.config.agentSocket, revision: { try store.revision() },
                                                         timeoutMs: c.config.agentTimeoutMs)
            Timeline.mark(outcome == .applied ? "policy" : "no agent")
        } catch {
            logger.warning("ADD failed, undoing", metadata: ["container": "\(c.containerID)", "error": "\(error)"])
            if progress.hostVethCreated { try? wiring.unwire(netns: netns, ifName: c.ifName, hostVeth: hostVeth) }
            _ = try? store.transaction { tx in
                try ipam.release(containerID: c.containerID, ifName: c.ifName, reason: "ADD failed", tx)
                try Endpoints.delete(containerID: c.containerID, ifName: c.ifName, tx)
            }
            throw error
        }

        if case .failure(let error)? = checkpointing?.wait() {
            logger.notice("WAL checkpoint failed", metadata: ["error": "\(error)"])
        }
        Timeline.mark("ready")
        var result = CNIResult(
            interfaces: [
                .init(name: hostVeth, mac: wired.hostMAC, mtu: c.config.mtu),
                .init(name: c.ifName, mac: wired.podMAC, mtu: c.config.mtu, sandbox: netns),
            ],
            ips: ips.map { ip in
                .init(address: "\(ip)/\(ip.isIPv4 ? 32 : 128)", gateway: ip.isIPv4 ? PodWiring.gateway4.description : PodWiring.gateway6.description, interface: 1)
            },
            routes: [],
            dns: c.config.runtimeDNS ?? c.config.dns ?? DNSConfig())
        for prefix in wired.gatewayRoutes {
            result.routes.append(.init(dst: prefix.description, gw: (prefix.isIPv4 ? PodWiring.gateway4 : PodWiring.gateway6).description))
        }
        if let prev = c.config.prevResult { result = prev.appending(result) }
        return result
    }

    /// Pool objects in `ipam.pools`, decoded and validated (errors name the field).
    func poolDefinitions(_ section: IPAMSection) throws -> [Pool] {
        try section.poolDefinitions.map { path, json in
            let pool: Pool
            do {
                pool = try JSONValueDecoder().decode(Pool.self, from: json)
            } catch let error as DecodingError {
                throw CNIError.invalidField(([path] + error.fieldPath.map(\.stringValue)).joined(separator: "."), error.problem)
            } catch {
                throw CNIError.invalidField(path, "\(error)")
            }
            do { try pool.validate() } catch let e as IPAMError {
                if case .invalidPool(let field, let problem) = e { throw CNIError.invalidField("\(path).\(field)", problem) }
                throw e
            }
            return pool
        }
    }

    // MARK: DEL

    /// Best effort and idempotent: succeeds when called twice, when the
    /// namespace is gone and after a failed ADD, and always releases the IP.
    /// On the embedded file nothing is touched before the write lock is
    /// held, so a busy datastore (code 11) means nothing was done; on etcd
    /// the links may already be gone when the commit fails (code 11), and
    /// the runtime's retry releases the addresses.
    func del(_ c: Context) throws {
        let store: any KVStore
        do { store = try c.openStore(autocheckpoint: false) } catch let e as CNIError where e.code == .ioFailure && !c.datastoreExists {
            // No datastore, so nothing allocated in it: remove the links only.
            logger.notice("DEL: no datastore, removing links only", metadata: ["path": "\(c.datastorePath)", "error": "\(e.msg)"])
            try wiring.unwire(netns: c.env.netns, ifName: c.ifName, hostVeth: c.hostVeth)
            return
        }
        var unwiring: BackgroundTask<Void>?
        let released: HandleRecord?
        do {
            released = try store.transaction { tx -> HandleRecord? in
                let endpoint = try Endpoints.get(containerID: c.containerID, ifName: c.ifName, tx)
                // The kernel takes ~15 ms to delete a veth (synchronize_net);
                // the release runs meanwhile. Released addresses cool down
                // before reuse, so releasing before the link is gone is safe.
                // Then the node's conntrack entries of the released
                // addresses go, so the next holder inherits no flows.
                // An optimistic backend (etcd) may run this body again
                // after a conflict: the links are removed once, by the
                // first run's task.
                if unwiring == nil { unwiring = BackgroundTask { [wiring, netns = c.env.netns, ifName = c.ifName, hostVeth = endpoint?.hostVeth ?? c.hostVeth,
                                             ips = endpoint?.ips ?? []] in
                    try wiring.unwire(netns: netns, ifName: ifName, hostVeth: hostVeth)
                    try wiring.forgetConnections(of: ips)
                } }
                let h = try ipam.release(containerID: c.containerID, ifName: c.ifName, reason: "DEL", tx)
                try Endpoints.delete(containerID: c.containerID, ifName: c.ifName, tx)
                try ipam.releaseEmptyBlocks(node: c.node, tx)
                return h
            }
        } catch {
            _ = unwiring?.wait()
            throw error
        }
        // The WAL's checkpoint (and its fdatasyncs) while the kernel is
        // still deleting the veth: ADDs then rarely checkpoint themselves.
        checkpoint(store)
        if case .failure(let error)? = unwiring?.wait() {
            // The addresses are released regardless; GC sweeps leftover links.
            logger.warning("DEL: could not remove links", metadata: ["container": "\(c.containerID)", "error": "\(error)"])
        }
        logger.info("released", metadata: ["container": "\(c.containerID)", "ips": "\(released?.ips ?? [])"])
    }

    // MARK: CHECK

    func check(_ c: Context) throws {
        guard let prev = c.config.prevResult else { throw CNIError.invalidField("prevResult", "missing (CHECK needs ADD's result)") }
        let netns = try podNamespace(c)
        let store = try c.openStore()
        let (endpoint, handle) = try store.read { tx in
            (try Endpoints.get(containerID: c.containerID, ifName: c.ifName, tx),
             try ipam.handle(containerID: c.containerID, ifName: c.ifName, tx))
        }
        guard let endpoint else { throw CNIError(.drift, "no endpoint recorded for container \(c.containerID) \(c.ifName)") }
        guard endpoint.state == .ready else { throw CNIError(.drift, "ADD never finished for container \(c.containerID)") }
        guard let handle, Set(handle.ips) == Set(endpoint.ips) else {
            throw CNIError(.drift, "IPAM holds no allocation matching the endpoint's addresses \(endpoint.ips)")
        }
        // The pod interface's addresses in prevResult must be ours.
        if let idx = prev.interfaces.firstIndex(where: { $0.name == c.ifName && $0.sandbox == netns }) {
            let prevIPs = Set(prev.ips.filter { $0.interface == idx }.compactMap { NetworkConfig.address($0.address) })
            if prevIPs != Set(handle.ips) {
                throw CNIError(.drift, "prevResult addresses \(prevIPs.sorted()) differ from the allocation \(handle.ips)")
            }
        }
        let drift = try wiring.verify(netns: netns, ifName: c.ifName, hostVeth: endpoint.hostVeth, ips: handle.ips)
        if !drift.isEmpty { throw CNIError(.drift, drift.joined(separator: "; ")) }
    }

    /// A best-effort WAL checkpoint (a failure only leaves it to a later run).
    func checkpoint(_ store: any KVStore) {
        guard let store = store as? SQLiteStore else { return }
        do { try store.checkpoint() } catch {
            logger.notice("WAL checkpoint failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: GC

    /// Releases every allocation and host veth of this node and network
    /// whose attachment is not in `cni.dev/valid-attachments`.
    func gc(_ c: Context) throws {
        guard let valid = c.config.validAttachments else {
            throw CNIError.invalidField("cni.dev/valid-attachments", "missing (GC needs the list of valid attachments)")
        }
        let keep = Set(valid.map { HandleRecord.id(containerID: $0.containerID, ifName: $0.ifName) })
        let store = try c.openStore(autocheckpoint: false)
        let (endpoints, handles) = try store.read { tx in (try Endpoints.all(tx), try ipam.handles(tx)) }
        let stale = endpoints.filter { $0.node == c.node && $0.network == c.config.name && !keep.contains($0.id) }
        let staleIDs = Set(stale.map(\.id))
        let endpointIDs = Set(endpoints.map(\.id))
        // Allocations without any endpoint record on this node are orphans.
        let orphans = handles.filter { $0.node == c.node && !keep.contains($0.id) && !endpointIDs.contains($0.id) }
        for e in stale {
            do { try wiring.unwire(netns: e.netns, ifName: e.ifName, hostVeth: e.hostVeth) } catch {
                logger.warning("GC: could not remove links", metadata: ["container": "\(e.containerID)", "error": "\(error)"])
            }
        }
        do { try wiring.forgetConnections(of: stale.flatMap(\.ips)) } catch {
            logger.warning("GC: could not delete conntrack entries", metadata: ["error": "\(error)"])
        }
        // In chunks: a transaction writes at most KVLimits.maxWritesPerTransaction
        // keys, and one release writes about six.
        for chunk in stale.chunked(by: CNIPlugin.releasesPerTransaction) {
            try store.transaction { tx in
                for e in chunk {
                    try ipam.release(containerID: e.containerID, ifName: e.ifName, reason: "GC", tx)
                    try Endpoints.delete(containerID: e.containerID, ifName: e.ifName, tx)
                }
            }
        }
        for chunk in orphans.filter({ !staleIDs.contains($0.id) }).chunked(by: CNIPlugin.releasesPerTransaction) {
            try store.transaction { tx in
                for h in chunk { try ipam.release(containerID: h.containerID, ifName: h.ifName, reason: "GC (no endpoint)", tx) }
            }
        }
        try store.transaction { tx in _ = try ipam.releaseEmptyBlocks(node: c.node, tx) }
        // Host veths no endpoint claims (left by a crash or a failed DEL).
        let remaining = Set(try store.read { try Endpoints.all($0) }.filter { $0.node == c.node }.map(\.hostVeth))
        for name in try wiring.hostVeths() where !remaining.contains(name) {
            try? wiring.unwire(netns: nil, ifName: "", hostVeth: name)
        }
        checkpoint(store)
        logger.info("GC", metadata: ["released": "\(stale.count + orphans.count)"])
    }

    /// Releases per transaction in bulk sweeps (GC): well inside
    /// `KVLimits.maxWritesPerTransaction` at about six keys per release.
    static let releasesPerTransaction = 16

    // MARK: STATUS

    func status(_ c: Context) throws {
        let section = c.config.ipam
        let store: any KVStore
        do { store = try c.openStore() } catch let e as CNIError {
            throw CNIError(.pluginNotAvailable, "datastore unavailable", details: e.details)
        }
        let definitions = try section.map { try poolDefinitions($0) } ?? []
        let reason = try store.read { tx -> String? in
            // A pool the config defines that the datastore does not hold yet
            // is created, empty, by the next ADD: it can serve.
            for p in definitions where try ipam.pool(named: p.name, tx) == nil && !p.disabled {
                if p.cidr.address.isIPv4 || !(section?.assignIPv4 ?? true) { return nil }
            }
            return try ipam.canServe(
                node: c.node, ipv4: section?.assignIPv4 ?? true, ipv6: section?.assignIPv6 ?? false,
                pools: section?.poolNames ?? [], tx)
        }
        if let reason { throw CNIError(.pluginNotAvailable, "no pool can serve a new pod", details: reason) }
    }

    // MARK: Errors

    /// Maps any failure to the spec's error JSON codes (docs/cni.md).
    public static func cniError(_ error: Error) -> CNIError {
        switch error {
        case let e as CNIError:
            return e
        case let e as IPAMError:
            switch e {
            case .requestedIPNotInPool: return CNIError(.requestedIPNotInPool, e.description)
            case .ipHeld, .claimInUse: return CNIError(.ipHeldByAnotherWorkload, e.description)
            case .quotaExceeded: return CNIError(.quotaExceeded, e.description)
            case .requestedIPReserved: return CNIError(.requestedIPReserved, e.description)
            case .exhausted, .noEligiblePool: return CNIError(.poolExhausted, e.description)
            case .namespaceNotAllowed: return CNIError(.namespaceNotAllowed, e.description)
            case .alreadyAllocated: return CNIError(.alreadyExists, e.description)
            case .invalidPool(let field, let problem): return CNIError.invalidField(field, problem)
            case .poolOverlaps, .poolInUse, .unknownPool, .unknownClaim: return CNIError(.invalidNetworkConfig, e.description)
            case .corruptRecord: return CNIError(.datastoreFailure, e.description)
            }
        case let e as NetlinkError:
            return CNIError(.kernelFailure, "kernel refused a network change", details: e.description)
        case let e as NetNSError:
            return CNIError(.kernelFailure, "network namespace operation failed", details: e.description)
        default:
            if SQLiteStore.isBusy(error) {
                return CNIError(.tryAgainLater, "datastore is busy", details: "\(error)")
            }
            // etcd out of reach or without a leader, or writers kept
            // conflicting: nothing was committed, the runtime retries.
            if let e = error as? EtcdError, [.unreachable, .unavailable, .deadlineExceeded, .ambiguous].contains(e.kind) {
                return CNIError(.tryAgainLater, "datastore unreachable", details: e.description)
            }
            if case KVStoreError.conflict = error {
                return CNIError(.tryAgainLater, "datastore is busy", details: "\(error)")
            }
            return CNIError(.datastoreFailure, "datastore operation failed", details: "\(error)")
        }
    }
}
