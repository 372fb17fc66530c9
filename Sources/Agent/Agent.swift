import BGP
import BGPRIB
import BGPSpeaker
import Cluster
import NFTables
import Foundation
import IPAddressing
import Logging
import NetNS
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `caracal agent`: the BGP speaker, the kernel route programmer and the
/// control socket in one process, run by swift-service-lifecycle (SIGTERM
/// and SIGINT shut down in order; SIGHUP reloads the configuration file).
public final class Agent: Service, @unchecked Sendable {
    public let configPath: String
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let speaker: BGPSpeaker
    private let kernel: KernelRoutes?
    private let restarting: Bool
    /// The speaker's configuration at start (with the cluster's part).
    private let bgpAtStart: SpeakerConfiguration
    /// The cluster side (nil: a stand-alone BGP router).
    private let nodeAgent: NodeAgent?
    private let policy: NFTablesProgrammer?
    private var control: ControlServer?
    private var metricsEndpoint: MetricsEndpoint?
    private let registry: PrometheusCollectorRegistry?
    /// The configuration running now (guarded: reloads come from the
    /// control socket's loop and from SIGHUP).
    private let current: Mutex<AgentConfiguration>

    public init(configPath: String, logger: Logger) throws {
        self.configPath = configPath
        self.logger = logger
        let config = try Self.load(configPath)
        current = Mutex(config)
        // Before any metric exists: the speaker's and the programmer's
        // counters are created below.
        registry = config.metricsAddress == nil ? nil : MetricsEndpoint.bootstrap()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let programs = config.programRoutes
        restarting = try programs && KernelRoutes.haveRoutes(namespace: nil)
        let kernel = programs ? try KernelRoutes(holding: restarting, localRoutes: config.cluster != nil, logger: logger) : nil
        self.kernel = kernel
        var bgp = config.bgp
        if config.cluster != nil {
            let node = try NodeAgent(configuration: config, logger: logger)
            let (first, local) = node.firstPlan()
            bgp = first
            kernel?.setLocal(local)
            nodeAgent = node
            policy = config.cluster!.policy ? try NFTablesProgrammer() : nil
        } else {
            nodeAgent = nil
            policy = nil
        }
        bgpAtStart = bgp
        speaker = BGPSpeaker(configuration: bgp, loop: group.next(), logger: logger,
                             onRIBChanges: { kernel?.apply($0) }, onConverged: { kernel?.converged() })
    }

    static func load(_ path: String) throws -> AgentConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ControlError("\(path): cannot read the configuration") }
        do {
            return try AgentConfiguration.parse(text)
        } catch {
            throw ControlError("\(path): \(error)")
        }
    }

    public func run() async throws {
        let config = current.withLock { $0 }
        control = try await ControlServer.start(path: config.controlSocket, group: group) { [self] request in
            handle(request)
        }.get()
        if let address = config.metricsAddress, let registry {
            let (host, port) = try Self.hostPort(address)
            metricsEndpoint = try await MetricsEndpoint.start(host: host, port: port, registry: registry, group: group) { [self] readiness in
                probe(readiness: readiness)
            }.get()
            logger.info("metrics", metadata: ["address": "\(address)", "path": "/metrics"])
        }
        logger.info("agent starting", metadata: ["name": "\(config.name)", "as": "\(bgpAtStart.asNumber)",
                                                 "routerID": "\(bgpAtStart.routerID)",
                                                 "peers": "\(bgpAtStart.peers.count)", "restarting": "\(restarting)",
                                                 "control": "\(config.controlSocket)"])
        try await speaker.start(restarting: restarting).get()
        let cluster = nodeAgent.map { node in Task { [speaker, kernel, policy] in await node.run(speaker: speaker, kernel: kernel, policy: policy) } }
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                let report = try await reload()
                logger.info("configuration reloaded (SIGHUP)", metadata: ["report": "\(report)"])
            } catch {
                logger.error("reload refused; the running configuration stays", metadata: ["error": "\(error)"])
            }
        }
        logger.info("agent stopping")
        cluster?.cancel()
        await cluster?.value
        // Forwarding stays (routes and the ruleset are never flushed on
        // exit): peers keep this node's routes by graceful restart.
        await nodeAgent?.markRestarting(restartTime: Double(config.bgp.gracefulRestart.restartTime))
        try? await speaker.shutdown().get()
        try? await control?.close().get()
        try? await metricsEndpoint?.close().get()
        try? await group.shutdownGracefully()
    }

    /// `host:port` or `[v6]:port`.
    /// A peer as the CLI names it: a link-local one with its interface
    /// (`fe80::1%eth0`, as status shows it); peers are told apart by address.
    static func unscoped(_ peer: String) -> String { String(peer.prefix { $0 != "%" }) }

    static func hostPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw ControlError("spec.metrics.address: expected host:port, not \(text)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// Re-reads the file; a bad one is refused with the field named.
    func reload() async throws -> ReloadReport {
        let new = try Self.load(configPath)
        let old = current.withLock { $0 }
        if old.cluster != nil {
            throw ControlError("spec: a cluster member takes its sessions from the datastore; restart the agent to change its file")
        }
        if new.controlSocket != old.controlSocket || new.programRoutes != old.programRoutes {
            throw ControlError("spec.control / spec.kernel cannot change while running; restart the agent")
        }
        let report = try await speaker.reload(new.bgp).get()
        current.withLock { $0 = new }
        return report
    }

    /// Health: the agent's own loop answers. Readiness: this node's own
    /// state only, never another node's (a dead peer must not make every
    /// node unready): the speaker has converged (End-of-RIB after a
    /// restart), kernel routes are written without failure, and the node's
    /// policy was applied.
    private func probe(readiness: Bool) -> EventLoopFuture<ProbeResult> {
        guard readiness else { return group.next().makeSucceededFuture(ProbeResult(ok: true, detail: "ok")) }
        return speaker.status().map { [kernel, nodeAgent] status in
            var problems: [String] = []
            if status.restarting { problems.append("waiting for End-of-RIB after a restart") }
            if let failure = kernel?.lastFailure { problems.append("kernel routes: \(failure)") }
            if let node = nodeAgent {
                let c = node.status
                if c.policyRevision == 0 { problems.append("policy not applied yet") }
                if let e = c.lastPolicyError { problems.append("policy: \(e)") }
            }
            return ProbeResult(ok: problems.isEmpty, detail: problems.isEmpty ? "ready" : problems.joined(separator: "; "))
        }
    }

    private func handle(_ request: ControlRequest) -> EventLoopFuture<Data> {
        let loop = group.next()
        func encode<T: Codable & Sendable>(_ future: EventLoopFuture<T>) -> EventLoopFuture<Data> {
            future.flatMapThrowing { try ControlJSON.encoder().encode(ControlResponse(ok: true, result: $0, error: nil)) }
        }
        switch request.command {
        case .status:
            return encode(speaker.status().map { [kernel, nodeAgent] s in
                AgentStatus(bgp: s, kernelRoutes: kernel?.programmed, cluster: nodeAgent?.status)
            })
        case .awaitPolicy:
            guard let node = nodeAgent else { return loop.makeSucceededFuture(Data()).flatMapThrowing { _ in throw ControlError("not a cluster member") } }
            let promise = loop.makePromise(of: Int64.self)
            node.whenApplied(request.revision ?? 0) { promise.succeed($0) }
            return encode(promise.futureResult)
        case .routes:
            var prefix: IPPrefix?
            var peer: IPAddress?
            if let p = request.prefix {
                guard let v = IPPrefix(p) ?? IPAddress(p).map({ IPPrefix(address: $0, length: $0.isIPv4 ? 32 : 128)! }) else {
                    return loop.makeFailedFuture(ControlError("\(p): not a prefix"))
                }
                prefix = v
            }
            if let p = request.peer {
                guard let v = IPAddress(Self.unscoped(p)) else { return loop.makeFailedFuture(ControlError("\(p): not a peer address")) }
                peer = v
            }
            return encode(speaker.routes(prefix: prefix, peer: peer, received: request.received ?? false))
        case .reset:
            guard let p = request.peer, let address = IPAddress(Self.unscoped(p)) else { return loop.makeFailedFuture(ControlError("reset needs a peer address")) }
            var soft: BGPSpeaker.SoftReset?
            if let s = request.soft {
                guard let v = BGPSpeaker.SoftReset(rawValue: s) else { return loop.makeFailedFuture(ControlError("--soft takes in or out")) }
                soft = v
            }
            return encode(speaker.reset(peer: address, soft: soft).flatMapThrowing { found in
                guard found else { throw ControlError("no peer \(p)") }
                return "reset \(p)"
            })
        case .reload:
            let promise = loop.makePromise(of: ReloadReport.self)
            promise.completeWithTask { try await self.reload() }
            return encode(promise.futureResult)
        case .mrt:
            return encode(speaker.mrtDump().map { Data($0).base64EncodedString() })
        }
    }
}

public struct AgentStatus: Codable, Sendable {
    public var bgp: SpeakerStatus
    /// Routes the agent holds in the kernel (nil: kernel programming off).
    public var kernelRoutes: Int?
    public var cluster: ClusterStatus?
}
