import BFDService
import BGP
import BGPRIB
import Foundation
import IPAddressing
import Logging
import NIOCore
import NIOPosix

/// The BGP speaker: sessions over SwiftNIO driving the pure `SessionFSM`,
/// the RIB and the Adj-RIB-Out (`BGPRIB`). Every piece of its state is
/// confined to one event loop; the public methods hop onto it. The NIO
/// handlers only move bytes: decisions stay in the FSM and the RIB.
public final class BGPSpeaker: @unchecked Sendable {
    public let loop: EventLoop
    private(set) var configuration: SpeakerConfiguration
    private(set) var rib: RIB
    private var out: AdjRIBOut
    private(set) var peers: [IPAddress: PeerSession] = [:]
    private var listeners: [Channel] = []
    /// Each listener's address (its family decides which keys it holds).
    private var listenerAddresses: [ObjectIdentifier: IPAddress] = [:]
    private var nextConnectionID = 0
    private var restartDeferral: Scheduled<Void>?
    let logger: Logger
    /// BFD for the peers that want it (SpeakerBFD.swift).
    var bfd: BFDManager?
    private let metrics: SpeakerMetrics
    /// Loc-RIB changes, in order, for the owner to program (on the loop).
    private let onRIBChanges: ([RIBChange]) -> Void
    /// Called once the table is whole: at start, or after a restart's
    /// End-of-RIBs (the owner then programs the full set).
    private let onConverged: () -> Void
    private var converged = false
    /// After a restart: GR peers whose End-of-RIB the kernel's full set
    /// waits for, restarting ones included. Advertising no longer waits for
    /// a peer that restarts too (RFC 4724 §4.1, or both would wait), but the
    /// forwarding state kept from before the restart stays until that
    /// peer's routes are back, so a cluster restarted at once loses nothing.
    private var forwardingAwaits: Set<IPAddress>?
    /// Loc-RIB changes not yet given to the Adj-RIBs-Out (`propagate`).
    private var pendingOutput: [RIBChange] = []
    private var outputScheduled = false
    private var random = SplitMix64(seed: UInt64(truncatingIfNeeded: Date().timeIntervalSince1970.bitPattern))
    private var stopping = false

    public init(configuration: SpeakerConfiguration, loop: EventLoop, logger: Logger = Logger(label: "caracal.bgp"),
                onRIBChanges: @escaping ([RIBChange]) -> Void = { _ in }, onConverged: @escaping () -> Void = {}) {
        self.configuration = configuration
        self.loop = loop
        self.logger = logger
        self.metrics = SpeakerMetrics()
        self.onRIBChanges = onRIBChanges
        self.onConverged = onConverged
        rib = RIB(decision: DecisionProcess(speaker: configuration.ribSpeaker))
        out = AdjRIBOut(speaker: configuration.ribSpeaker)
    }

    // MARK: Lifecycle

    /// Originates the configured prefixes, listens and starts every peer.
    /// - Parameter restarting: this speaker restarted with its routes kept
    ///   in the kernel (RFC 4724 §4.1): it says so in its OPENs (R bit,
    ///   forwarding preserved) and sends nothing until its GR peers' End-of-RIB
    ///   or the restart time.
    public func start(restarting: Bool = false) -> EventLoopFuture<Void> {
        loop.flatSubmit { [self] in
            var changes: [RIBChange] = []
            for prefix in configuration.originate {
                changes += rib.originate(prefix, nextHop: nextHopForOrigination(prefix))
            }
            if !changes.isEmpty { onRIBChanges(changes) }
            if restarting && configuration.gracefulRestart.enabled {
                let awaited = Set(configuration.peers.filter(\.gracefulRestart).map(\.address))
                out.beginRestart(awaiting: awaited)
                forwardingAwaits = awaited
                restartDeferral = loop.scheduleTask(in: .seconds(Int64(configuration.gracefulRestart.restartTime))) { [self] in
                    logger.info("restart deferral ended by its timer", metadata: ["awaiting": "\((out.awaitingEndOfRIB ?? []).union(forwardingAwaits ?? []))"])
                    forwardingAwaits = nil
                    send(out.finishRestart())
                    checkConverged()
                }
            }
            checkConverged()
            for peer in configuration.peers { addPeer(peer, restarting: restarting) }
            return listen()
        }
    }

    /// Stops every session: with a Cease/Administrative Shutdown carrying
    /// `message` (RFC 9003), or, when `gracefully`, by closing the TCP
    /// connections without a NOTIFICATION so GR-capable peers keep our
    /// routes (RFC 4724 helper mode starts on a lost connection).
    public func shutdown(gracefully: Bool = false, message: String = "caracal agent shutting down") -> EventLoopFuture<Void> {
        loop.flatSubmit { [self] in
            stopping = true
            restartDeferral?.cancel()
            // AdminDown first: the peers' BFD must not see a failure.
            var closing: [EventLoopFuture<Void>] = bfd.map { [$0.shutdown()] } ?? []
            for peer in peers.values {
                peer.stopRestartTimers()
                for c in peer.connections {
                    if gracefully, let ch = c.channel {
                        closing.append(ch.close())
                        c.channel = nil
                        cancelTimers(c)
                    } else {
                        feed(peer, c, .manualStop(.cease(.administrativeShutdown, communication: message)))
                        if let w = c.lastWrite { closing.append(w.flatMap { _ in self.loop.makeSucceededVoidFuture() }) }
                    }
                }
            }
            closing += listeners.map { $0.close() }
            listeners = []
            listenerAddresses = [:]
            return EventLoopFuture.whenAllComplete(closing, on: loop).map { _ in }
        }
    }

    private func checkConverged() {
        guard !converged, out.awaitingEndOfRIB == nil, forwardingAwaits?.isEmpty ?? true else { return }
        converged = true
        restartDeferral?.cancel()
        logger.info("routing table converged", metadata: ["prefixes": "\(rib.prefixCount)"])
        onConverged()
    }

    // MARK: Peers

    private func addPeer(_ config: PeerConfiguration, restarting: Bool = false) {
        let session = PeerSession(config: config)
        session.restarting = restarting
        peers[config.address] = session
        let c = newConnection(session, primary: true, passive: config.passive, inbound: false)
        session.connections = [c]
        feed(session, c, .manualStart(passive: config.passive))
        bfdUpdate(session)
    }

    /// A session from an address in a `peerRanges` prefix: a passive peer
    /// made from the range's template, gone again when its session ends.
    private func dynamicPeer(_ remote: IPAddress, scope: UInt32?) -> PeerSession? {
        guard let range = configuration.peerRanges.first(where: { $0.prefix.contains(remote) }) else { return nil }
        var config = range.template
        config.address = remote
        // A link-local neighbour is on the interface it came in on.
        config.interface = scope.flatMap(LinkScope.name(of:))
        config.name = "\(range.template.name)-\(config.scopedAddress)"
        let session = PeerSession(config: config)
        session.dynamic = true
        peers[remote] = session
        logger.info("dynamic neighbour", metadata: ["peer": "\(config.name)", "range": "\(range.prefix)"])
        return session
    }

    private func removePeer(_ address: IPAddress, reason: CeaseSubcode) {
        guard let session = peers[address] else { return }
        session.stopRestartTimers()
        for c in session.connections { feed(session, c, .manualStop(NotificationMessage(cease: reason))) }
        session.connections = []
        peers[address] = nil
        bfdRemove(session)
        propagate(rib.peerDown(address))
        out.removePeer(address)
        // A restarting speaker no longer waits for its End-of-RIB.
        forwardingAwaits?.remove(address)
        checkConverged()
    }

    private func sessionConfiguration(_ config: PeerConfiguration, passive: Bool, restarting: Bool) -> SessionConfiguration {
        let gr: GracefulRestartCapability? = configuration.gracefulRestart.enabled && config.gracefulRestart
            ? GracefulRestartCapability(restarting: restarting, notification: configuration.gracefulRestart.notification,
                                        restartTime: configuration.gracefulRestart.restartTime,
                                        families: config.families.map { .init($0, forwardingPreserved: restarting) })
            : nil
        var addPath: [AddPathFamily] = []
        var mode: AddPathFamily.Mode = []
        if config.addPathReceive { mode.insert(.receive) }
        if config.addPathSend != nil { mode.insert(.send) }
        if !mode.isEmpty { addPath = config.families.map { AddPathFamily($0, mode) } }
        // RFC 8950: IPv4 NLRI with an IPv6 next hop, on sessions over IPv6.
        let extendedNextHop: [ExtendedNextHopEntry] = config.address.isIPv4 ? []
            : [ExtendedNextHopEntry(nlriAFI: .ipv4, nlriSAFI: 1, nextHopAFI: .ipv6)]
        var session = SessionConfiguration(
            localAS: configuration.asNumber, peerAS: config.remoteAS.resolve(local: configuration.asNumber),
            bgpIdentifier: configuration.routerID, holdTime: config.holdTime, connectRetryTime: config.connectRetryTime,
            passive: passive, minimumSendHoldTime: config.sendHoldTime, families: config.families, addPath: addPath, gracefulRestart: gr,
            extendedNextHop: extendedNextHop, hostname: ProcessInfo.processInfo.hostName)
        session.anyExternalPeerAS = config.remoteAS == .external
        return session
    }

    private func newConnection(_ session: PeerSession, primary: Bool, passive: Bool, inbound: Bool) -> Connection {
        nextConnectionID += 1
        let fsm = SessionFSM(configuration: sessionConfiguration(session.config, passive: passive, restarting: session.restarting),
                             random: SplitMix64(seed: random.next()))
        let c = Connection(id: nextConnectionID, fsm: fsm, primary: primary, inbound: inbound)
        c.session = session
        return c
    }

    // MARK: The state machine's actions

    func feed(_ session: PeerSession, _ c: Connection, _ event: SessionEvent) {
        let before = c.fsm.state
        let actions = c.fsm.handle(event)
        if before != c.fsm.state {
            session.lastTransition = Date()
            logger.info("session state", metadata: ["peer": "\(session.config.name)", "address": "\(session.config.address)",
                                                    "from": "\(before.rawValue)", "to": "\(c.fsm.state.rawValue)", "event": "\(event)",
                                                    "connection": "\(c.id)"])
        }
        for action in actions { execute(action, session, c) }
        if c.fsm.state == .openConfirm && before != .openConfirm { resolveCollision(session, c) }
        if c.fsm.state == .idle { retire(session, c) }
        metrics.sessions(peers.values.map(\.state))
    }

    private func execute(_ action: SessionAction, _ session: PeerSession, _ c: Connection) {
        switch action {
        case .connect: connect(session, c)
        case .disconnect: close(c)
        case .send(let message):
            if case .notification(let n) = message { session.lastError = "sent \(n)" }
            write(message, c)
        case .startTimer(let timer, let seconds):
            c.timers[timer]?.cancel()
            c.timers[timer] = loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { [weak self, weak session, weak c] in
                guard let self, let session, let c, session.connections.contains(where: { $0 === c }) else { return }
                c.timers[timer] = nil
                self.feed(session, c, .timerExpired(timer))
            }
        case .stopTimer(let timer):
            c.timers.removeValue(forKey: timer)?.cancel()
        case .sessionUp(let negotiated): sessionUp(session, c, negotiated)
        case .sessionDown(let reason): sessionDown(session, c, reason)
        case .disableFamily(let family):
            logger.warning("address family disabled on the session (RFC 7606)", metadata: ["peer": "\(session.config.name)", "family": "\(family)"])
        }
    }

    /// A connection back in Idle: a second one goes away; the last one of a
    /// peer stays to restart (a colliding inbound one that won is replaced by
    /// a fresh one in the configured mode, started after the retry time).
    private func retire(_ session: PeerSession, _ c: Connection) {
        guard session.connections.contains(where: { $0 === c }) else { return }
        if session.connections.count > 1 {
            cancelTimers(c)
            session.connections.removeAll { $0 === c }
            return
        }
        if session.dynamic {
            // A dynamic neighbour lives as long as its session.
            cancelTimers(c)
            session.connections = []
            bfdRemove(session)
            if peers[session.config.address] === session { peers[session.config.address] = nil }
            return
        }
        guard !c.primary, !stopping, peers[session.config.address] === session else { return }
        cancelTimers(c)
        let fresh = newConnection(session, primary: true, passive: session.config.passive, inbound: false)
        session.connections = [fresh]
        session.restartTask = loop.scheduleTask(in: .nanoseconds(Int64(session.config.connectRetryTime * 1e9))) { [weak self, weak session] in
            guard let self, let session, session.connections.first === fresh, fresh.fsm.state == .idle, !session.heldDown, !session.bfdHeld else { return }
            self.feed(session, fresh, .manualStart(passive: session.config.passive))
        }
    }

    private func cancelTimers(_ c: Connection) {
        for t in c.timers.values { t.cancel() }
        c.timers = [:]
    }

    private func connect(_ session: PeerSession, _ c: Connection) {
        c.connectGeneration += 1
        let generation = c.connectGeneration
        let config = session.config
        let handler = BGPChannelHandler()
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(Int64(max(1, config.connectRetryTime) * 1e9)))
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                do {
                    try SocketSecurity.apply(to: channel, peer: config)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        if let local = config.localAddress, let address = try? LinkScope.socketAddress(local, port: 0, interface: config.interface) {
            bootstrap = bootstrap.bind(to: address)
        }
        let target: SocketAddress
        do {
            // A link-local peer: the scope of its interface (sin6_scope_id).
            target = try LinkScope.socketAddress(config.address, port: configuration.port, interface: config.interface)
        } catch {
            session.lastError = "connect: \(error)"
            loop.execute { self.feed(session, c, .tcpConnectionFails) }
            return
        }
        bootstrap.connect(to: target).whenComplete { [weak self, weak session] result in
            guard let self, let session else { return }
            let current = session.connections.contains { $0 === c } && c.connectGeneration == generation && c.channel == nil
                && c.fsm.state == .connect
            switch result {
            case .success(let channel):
                guard current else { channel.close(promise: nil); return }
                self.attach(channel, handler, to: c, session)
                self.feed(session, c, .tcpConnectionAcknowledged)
            case .failure(let error):
                guard current else { return }
                session.lastError = "connect: \(error)" + (config.password == nil ? ""
                    : " (TCP MD5 is on: a peer with another password, or none, drops our SYNs silently)")
                self.feed(session, c, .tcpConnectionFails)
            }
        }
    }

    private func attach(_ channel: Channel, _ handler: BGPChannelHandler, to c: Connection, _ session: PeerSession) {
        c.channel = channel
        c.handler = handler
        handler.onInactive = { [weak self, weak session, weak c] in
            guard let self, let session, let c, c.channel === channel else { return }
            c.channel = nil
            self.feed(session, c, .tcpConnectionFails)
        }
        handler.onReadable = { [weak self, weak session, weak c] in
            guard let self, let session, let c, c.channel === channel else { return }
            self.readable(session, c)
        }
        handler.onWritabilityChanged = { [weak self, weak session, weak c] writable in
            guard let self, let session, let c, c.channel === channel else { return }
            self.writabilityChanged(session, c, writable)
        }
    }

    /// Back-pressure: while the channel is not writable (its queue is above
    /// the high watermark: the peer reads slower than we write) the peer's
    /// Adj-RIB-Out keeps its changes as state, one per prefix, instead of
    /// UPDATEs; once writable again it gets what changed meanwhile,
    /// coalesced. A peer that reads nothing at all is ended by RFC 9687's
    /// send hold timer (no write completes, so no `.sendProgress`).
    private func writabilityChanged(_ session: PeerSession, _ c: Connection, _ writable: Bool) {
        guard c.fsm.state == .established, session.connections.contains(where: { $0 === c }) else { return }
        let address = session.config.address
        if !writable {
            if !out.isPaused(address) { logger.debug("peer not reading fast enough: output paused", metadata: ["peer": "\(session.config.name)"]) }
            out.pause(address)
        } else if out.isPaused(address) {
            flushOutput()  // the rest of the table first, so what resumes is current
            let owed = out.heldCount(for: address)
            send(out.resume(address))
            logger.debug("output resumed", metadata: ["peer": "\(session.config.name)", "routes": "\(owed)"])
        }
    }

    private func close(_ c: Connection) {
        c.connectGeneration += 1
        guard let channel = c.channel else { return }
        c.channel = nil
        c.handler?.onReadable = nil
        // Let a NOTIFICATION queued just before go out first, unless the
        // peer reads nothing (RFC 9687): then it never would.
        if let w = c.lastWrite, channel.isWritable {
            let forced = loop.scheduleTask(in: .seconds(3)) { channel.close(promise: nil) }
            w.whenComplete { _ in
                forced.cancel()
                channel.close(promise: nil)
            }
        } else {
            channel.close(promise: nil)
        }
        c.lastWrite = nil
    }

    private func write(_ message: BGPMessage, _ c: Connection) {
        guard let channel = c.channel else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        message.encode(into: &buffer, context: c.sendContext)
        if case .update = message { metrics.updatesOut.increment() }
        write(buffer, c)
    }

    private func write(_ buffer: ByteBuffer, _ c: Connection) {
        guard let channel = c.channel else { return }
        let size = buffer.readableBytes
        c.queuedBytes += size
        let written = channel.writeAndFlush(buffer)
        c.lastWrite = written
        written.whenComplete { [weak c] _ in c?.queuedBytes -= size }
        // RFC 9687: progress on the send side restarts the SendHoldTimer.
        written.whenSuccess { [weak self, weak c] in
            guard let self, let c else { return }
            self.loop.execute {
                guard let session = c.session, session.connections.contains(where: { $0 === c }) else { return }
                if c.fsm.state == .established || c.fsm.state == .openConfirm { self.feed(session, c, .sendProgress) }
            }
        }
    }

    /// Decodes what arrived, each message with the context negotiated so far.
    private func readable(_ session: PeerSession, _ c: Connection) {
        guard let handler = c.handler else { return }
        while c.channel != nil {
            let decoded: DecodedMessage?
            do throws(BGPError) {
                decoded = try BGPMessage.decode(from: &handler.inbound, context: c.receiveContext)
            } catch {
                // After a header error the stream cannot be resynchronised.
                session.lastError = "received malformed message: \(error)"
                metrics.malformed.increment()
                handler.inbound.clear()
                feed(session, c, .decodeError(error))
                return
            }
            guard let decoded else { return }
            received(decoded, session, c)
        }
    }

    private func received(_ d: DecodedMessage, _ session: PeerSession, _ c: Connection) {
        switch d.message {
        case .open(let open):
            feed(session, c, .openReceived(open))
        case .keepalive:
            feed(session, c, .keepaliveReceived)
        case .notification(let n):
            session.lastError = "received \(n)"
            feed(session, c, .notificationReceived(n))
        case .routeRefresh(let r):
            feed(session, c, .routeRefreshReceived)
            if c.fsm.state == .established { routeRefreshRequested(session, r) }
        case .update(let u):
            metrics.updatesIn.increment()
            if !d.errors.isEmpty {
                metrics.malformed.increment()
                logger.warning("malformed UPDATE handled per RFC 7606", metadata: ["peer": "\(session.config.name)",
                                                                                    "action": "\(d.action.map { "\($0)" } ?? "")",
                                                                                    "errors": "\(d.errors)"])
            }
            feed(session, c, .updateReceived)
            guard c.fsm.state == .established else { return }
            process(u, d, session)
        }
    }

    // MARK: Collisions (§6.8)

    private func resolveCollision(_ session: PeerSession, _ c: Connection) {
        guard let peerID = c.fsm.negotiated?.peerIdentifier else { return }
        for other in session.connections where other !== c {
            if other.fsm.state == .established {
                // An established session wins over a new connection.
                feed(session, c, .openCollisionDump)
                return
            }
            guard other.fsm.state == .openConfirm else { continue }
            let keep = CollisionResolution.keep(localIdentifier: configuration.routerID, remoteIdentifier: peerID)
            let loser = (keep == .locallyInitiated) == c.inbound ? c : other
            logger.info("connection collision resolved", metadata: ["peer": "\(session.config.name)", "closing": "\(loser.id)"])
            feed(session, loser, .openCollisionDump)
            return
        }
    }

    // MARK: Listening

    private func listen() -> EventLoopFuture<Void> {
        let addresses = configuration.listenAddresses
        guard !addresses.isEmpty else { return loop.makeSucceededVoidFuture() }
        let binds = addresses.map { address -> EventLoopFuture<Void> in
            let keys = Self.listenerKeys(configuration, for: address)
            let bindAddress: SocketAddress
            do {
                bindAddress = try listenSocketAddress(address)
            } catch {
                return loop.makeFailedFuture(error)
            }
            return ServerBootstrap(group: loop)
                .serverChannelOption(ChannelOptions.backlog, value: 1024)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelInitializer { channel in
                    do {
                        for (key, password) in keys {
                            try SocketSecurity.setMD5(on: channel, peer: key.address, prefixLength: key.prefixLength, key: password,
                                                      ipv6Socket: !address.isIPv4)
                        }
                        return channel.eventLoop.makeSucceededVoidFuture()
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                }
                .childChannelInitializer { [weak self] channel in
                    let handler = BGPChannelHandler()
                    do {
                        try channel.pipeline.syncOperations.addHandler(handler)
                    } catch {
                        return channel.eventLoop.makeFailedFuture(error)
                    }
                    self?.accepted(channel, handler)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .bind(to: bindAddress)
                .map { [self] channel in
                    listeners.append(channel)
                    listenerAddresses[ObjectIdentifier(channel)] = address
                    logger.info("listening", metadata: ["address": "\(address)", "port": "\(configuration.port)"])
                }
        }
        return EventLoopFuture.andAllSucceed(binds, on: loop)
    }

    struct ListenerKey: Hashable {
        var address: IPAddress
        /// A `peerRanges` prefix's length (TCP_MD5SIG_FLAG_PREFIX); nil for a peer.
        var prefixLength: Int?
    }

    /// The TCP MD5 keys a listener on `address` holds: each peer's with a
    /// password, and one per `peerRanges` prefix with one (dynamic
    /// neighbours), of its family (IPv4 ones on a dual-stack `::` too).
    static func listenerKeys(_ configuration: SpeakerConfiguration, for address: IPAddress) -> [ListenerKey: String] {
        let dualStack = address == .v6(IPv6Address(high: 0, low: 0))
        var keys: [ListenerKey: String] = [:]
        for peer in configuration.peers where peer.address.isIPv4 == address.isIPv4 || dualStack {
            if let password = peer.password { keys[ListenerKey(address: peer.address)] = password }
        }
        for range in configuration.peerRanges where range.prefix.address.isIPv4 == address.isIPv4 || dualStack {
            if let password = range.template.password { keys[ListenerKey(address: range.prefix.address, prefixLength: range.prefix.length)] = password }
        }
        return keys
    }

    /// A reload: the listeners' keys follow the new configuration (added,
    /// changed and removed peers' and ranges' passwords); established
    /// sessions keep the keys their sockets were accepted with.
    private func updateListenerKeys(from old: SpeakerConfiguration) {
        for channel in listeners {
            guard let address = listenerAddresses[ObjectIdentifier(channel)] else { continue }
            let before = Self.listenerKeys(old, for: address), after = Self.listenerKeys(configuration, for: address)
            do {
                for (key, password) in after where before[key] != password {
                    try SocketSecurity.setMD5(on: channel, peer: key.address, prefixLength: key.prefixLength, key: password, ipv6Socket: !address.isIPv4)
                }
                for key in before.keys where after[key] == nil {
                    try SocketSecurity.removeMD5(on: channel, peer: key.address, prefixLength: key.prefixLength, ipv6Socket: !address.isIPv4)
                }
            } catch {
                logger.error("TCP MD5 keys of a listener not updated", metadata: ["address": "\(address)", "error": "\(error)"])
            }
        }
    }

    /// A listen address with its scope (`fe80::1%eth0`); a missing
    /// interface fails that bind.
    private func listenSocketAddress(_ address: IPAddress) throws -> SocketAddress {
        try LinkScope.socketAddress(address, port: configuration.port, interface: configuration.listenInterfaces[address])
    }

    /// An inbound connection (§8.1.1 events 14/17).
    func accepted(_ channel: Channel, _ handler: BGPChannelHandler) {
        loop.execute { [self] in
            let scope = LinkScope.scope(of: channel.remoteAddress)
            guard let remote = channel.remoteAddress?.ipAddress.flatMap(IPAddress.init), !stopping,
                  let session = peers[remote] ?? dynamicPeer(remote, scope: scope),
                  // A link-local peer only on its own interface.
                  session.config.interface.map({ LinkScope.index(of: $0) == scope && scope != nil }) ?? true else {
                logger.info("connection from an unknown address refused", metadata: ["remote": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                                                                                   "scope": "\(scope.flatMap(LinkScope.name(of:)) ?? "-")"])
                channel.close(promise: nil)
                return
            }
            if session.connections.contains(where: { $0.fsm.state == .established }) || session.heldDown || session.bfdHeld {
                // (Held down after max-prefix: not before `restartAfter`.)
                // A new connection while established: refused (Cease 5).
                var buffer = channel.allocator.buffer(capacity: 32)
                BGPMessage.notification(NotificationMessage(cease: .connectionRejected)).encode(into: &buffer, context: .initial)
                channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            if let c = session.connections.first(where: { $0.channel == nil && ($0.fsm.state == .active || $0.fsm.state == .connect) }) {
                // Waiting (or still connecting out): this connection is the one.
                c.connectGeneration += 1
                c.inbound = true
                attach(channel, handler, to: c, session)
                feed(session, c, .tcpConnectionConfirmed)
                return
            }
            // Idle (backing off): this connection replaces the waiting state
            // machine.
            for idle in session.connections where idle.fsm.state == .idle {
                cancelTimers(idle)
                session.connections.removeAll { $0 === idle }
            }
            // A collision (ours is in OpenSent/OpenConfirm), or an idle peer:
            // a state machine for this connection (a collision is resolved
            // once both OPENs are in). It is the peer's primary only for a
            // passive peer: an active one gets a fresh active state machine
            // when this one ends (`retire`).
            let c = newConnection(session, primary: session.connections.isEmpty && session.config.passive, passive: true, inbound: true)
            session.connections.append(c)
            feed(session, c, .manualStart(passive: true))
            attach(channel, handler, to: c, session)
            feed(session, c, .tcpConnectionConfirmed)
        }
    }

    // MARK: Routes

    /// The peer as the RIB knows it; a link-local one with its interface
    /// (the scope its connection came with), so that routes through it
    /// leave by that interface.
    private func ribPeer(_ session: PeerSession, _ n: NegotiatedSession) -> RIBPeer {
        RIBPeer(address: session.config.address, asn: n.peerAS, routerID: n.peerIdentifier,
                isReflectorClient: session.config.routeReflectorClient, allowAsIn: session.config.allowAsIn,
                interfaceIndex: session.interfaceIndex)
    }

    private func outputSettings(_ session: PeerSession, _ n: NegotiatedSession) -> OutputSettings {
        let config = session.config
        let export = config.exportPolicy.flatMap { configuration.policies[$0] } ?? .defaultPolicy(external: !n.isInternal)
        var addPathSend: [AddressFamily: AddPathSend] = [:]
        if let send = config.addPathSend { for f in n.addPathSend { addPathSend[f] = send } }
        var local = session.localAddress ?? config.localAddress ?? .v4(configuration.routerID)
        // RFC 2545 §3 on a link-local session: our global address on that
        // interface as the next hop, with our link-local one beside it; the
        // link-local one alone when the interface has no global address.
        var linkLocal: IPv6Address?
        if case .v6(let a) = local, a.isLinkLocal {
            linkLocal = a
            if let interface = config.interface, let global = LinkScope.globalIPv6(on: interface) { local = .v6(global) }
        }
        return OutputSettings(exportPolicy: export, isInternal: n.isInternal, isReflectorClient: config.routeReflectorClient,
                              nextHopSelf: config.nextHopSelf, localAddress: local, linkLocalAddress: linkLocal,
                              context: n.sendContext, families: n.families, addPathSend: addPathSend,
                              extendedNextHop: n.extendedNextHop.contains { $0.nlriAFI == .ipv4 && $0.nextHopAFI == .ipv6 })
    }

    private func sessionUp(_ session: PeerSession, _ c: Connection, _ n: NegotiatedSession) {
        // The other connection of a collision goes.
        for other in session.connections where other !== c {
            feed(session, other, other.channel == nil ? .manualStop(nil) : .openCollisionDump)
        }
        session.connections.removeAll { $0 !== c }
        session.establishedSince = Date()
        session.negotiated = n
        session.localAddress = c.channel?.localAddress?.ipAddress.flatMap(IPAddress.init)
        session.interfaceIndex = LinkScope.scope(of: c.channel?.remoteAddress) ?? 0
        session.maxPrefixWarned = false
        let config = session.config
        let peer = ribPeer(session, n)
        let importPolicy = config.importPolicy.flatMap { configuration.policies[$0] }
        rib.peerUp(peer, importPolicy: importPolicy)
        if config.addPathSend != nil { rib.reportsEveryPathChange = true }
        // A restarted peer's stale routes wait for its End-of-RIB, bounded
        // by the stale-routes time (RFC 4724 §4.2).
        if rib.staleCount(for: config.address) > 0, session.staleTimer != nil {
            session.staleTimer?.cancel()
            session.staleTimer = loop.scheduleTask(in: .nanoseconds(Int64(configuration.gracefulRestart.staleRoutesTime * 1e9))) { [weak self] in
                self?.sweepStale(config.address, why: "stale-routes time")
            }
        }
        logger.info("session established", metadata: ["peer": "\(config.name)", "as": "\(n.peerAS)", "routerID": "\(n.peerIdentifier)",
                                                     "families": "\(n.families.map(\.description).sorted())", "hold": "\(n.holdTime)"])
        bfdUpdate(session)
        flushOutput()  // the new peer's table is the current one
        send(out.addPeer(config.address, outputSettings(session, n), rib: rib))
        // A peer without GR is not waited for by a restarting speaker, nor
        // one that is restarting itself (its Restart State bit set, RFC 4724
        // §4.1): it waits for us in turn, so both would wait for the timer
        // (every agent of a cluster restarted at once).
        if out.awaitingEndOfRIB?.contains(config.address) == true, n.peerGracefulRestart?.restarting ?? true {
            send(out.endOfRIBReceived(from: config.address))
        }
        if n.peerGracefulRestart == nil { forwardingAwaits?.remove(config.address) }
        checkConverged()
    }

    private func sessionDown(_ session: PeerSession, _ c: Connection, _ reason: SessionDownReason) {
        let address = session.config.address
        session.flaps += 1
        session.establishedSince = nil
        let helper = configuration.gracefulRestart.enabled && session.config.gracefulRestart
            && (session.negotiated?.retainsRoutesAsHelper(after: reason) ?? false) && !session.bfdFailed
        out.removePeer(address)
        if helper, let restartTime = session.negotiated?.peerGracefulRestart?.restartTime {
            logger.info("peer restarting: keeping its routes as stale (RFC 4724)", metadata: ["peer": "\(session.config.name)",
                                                                                            "restartTime": "\(restartTime)"])
            propagate(rib.peerDown(address, gracefulRestart: true))
            session.staleTimer?.cancel()
            session.staleTimer = loop.scheduleTask(in: .seconds(Int64(restartTime))) { [weak self] in
                self?.sweepStale(address, why: "restart time")
            }
        } else {
            propagate(rib.peerDown(address))
        }
        session.negotiated = nil
    }

    /// Also for a peer that is gone since (a removed or dynamic neighbour):
    /// its stale routes must not outlive the timer.
    func sweepStale(_ address: IPAddress, why: String) {
        peers[address]?.staleTimer = nil
        let changes = rib.sweepStale(address)
        if !changes.isEmpty { logger.info("stale routes swept", metadata: ["peer": "\(address)", "why": "\(why)", "prefixes": "\(changes.count)"]) }
        propagate(changes)
    }

    private func process(_ u: UpdateMessage, _ d: DecodedMessage, _ session: PeerSession) {
        let address = session.config.address
        if d.isTreatAsWithdraw {
            propagate(rib.withdraw(u.allPrefixes, from: address))
            return
        }
        if let family = d.endOfRIB {
            propagate(rib.receive(u, from: address))
            if rib.staleCount(for: address) == 0 {
                session.staleTimer?.cancel()
                session.staleTimer = nil
            }
            logger.info("End-of-RIB received", metadata: ["peer": "\(session.config.name)", "family": "\(family)"])
            send(out.endOfRIBReceived(from: address))
            forwardingAwaits?.remove(address)
            checkConverged()
            return
        }
        propagate(rib.receive(u, from: address))
        checkMaxPrefixes(session)
    }

    private func checkMaxPrefixes(_ session: PeerSession) {
        guard let limit = session.config.maxPrefixes else { return }
        let received = rib.counts(for: session.config.address).received
        guard received > limit.limit else { return }
        switch limit.action {
        case .warn:
            guard !session.maxPrefixWarned else { return }
            session.maxPrefixWarned = true
            session.lastError = "max prefixes exceeded: \(received) > \(limit.limit)"
            logger.warning("max prefixes exceeded", metadata: ["peer": "\(session.config.name)", "received": "\(received)", "limit": "\(limit.limit)"])
        case .restart:
            // RFC 4486 §4: Cease/Maximum Number of Prefixes Reached, data AFI,
            // SAFI and the limit.
            var data: [UInt8] = [0, 1, 1]
            withUnsafeBytes(of: UInt32(clamping: limit.limit).bigEndian) { data += $0 }
            let n = NotificationMessage(cease: .maximumPrefixesReached, data: data)
            logger.warning("max prefixes exceeded: session stopped", metadata: ["peer": "\(session.config.name)", "received": "\(received)",
                                                                               "restartAfter": "\(limit.restartAfter)"])
            guard let c = session.connections.first(where: { $0.fsm.state == .established }) else { return }
            feed(session, c, .manualStop(n))
            session.lastError = "max prefixes exceeded: \(received) > \(limit.limit); restarting in \(Int(limit.restartAfter)) s"
            session.heldDown = true
            session.restartTask = loop.scheduleTask(in: .nanoseconds(Int64(limit.restartAfter * 1e9))) { [weak self, weak session] in
                guard let self, let session else { return }
                session.heldDown = false
                guard let c = session.connections.first, c.fsm.state == .idle else { return }
                self.feed(session, c, .manualStart(passive: session.config.passive))
            }
        }
    }

    private func routeRefreshRequested(_ session: PeerSession, _ r: RouteRefreshMessage) {
        guard r.knownSubtype == .normal, let n = session.negotiated else {
            // RFC 7313 BoRR/EoRR from the peer: mark, then sweep.
            if r.knownSubtype == .beginning { rib.beginRouteRefresh(session.config.address, family: r.family) }
            if r.knownSubtype == .end { propagate(rib.sweepStale(session.config.address, family: r.family)) }
            return
        }
        // Send the peer its whole table again (RFC 2918).
        flushOutput()
        out.removePeer(session.config.address)
        send(out.addPeer(session.config.address, outputSettings(session, n), rib: rib))
    }

    /// Loc-RIB changes: to the owner at once, and to the Adj-RIBs-Out once
    /// the event loop has handled what is ready now. Changes that arrive on
    /// many sessions in one burst (a reflector's clients converging) then
    /// leave as one packed UPDATE run per group instead of one UPDATE per
    /// incoming message: without it a reflector of N clients writes N² small
    /// UPDATEs.
    private func propagate(_ changes: [RIBChange]) {
        guard !changes.isEmpty else { return }
        metrics.decisions.increment(by: changes.count)
        onRIBChanges(changes)
        pendingOutput += changes
        guard !outputScheduled else { return }
        outputScheduled = true
        loop.execute { [self] in flushOutput() }
    }

    private func flushOutput() {
        outputScheduled = false
        guard !pendingOutput.isEmpty else { return }
        // Only each prefix's last state matters: the Adj-RIB-Out reads the
        // RIB as it is now.
        var latest: [IPPrefix: RIBChange] = [:]
        for change in pendingOutput { latest[change.prefix] = change }
        pendingOutput.removeAll(keepingCapacity: true)
        send(out.apply(latest.keys.sorted().map { latest[$0]! }, rib: rib))
    }

    /// Writes each group's encoded UPDATEs to its members' sessions.
    private func send(_ outputs: [GroupOutput]) {
        for g in outputs where !g.encoded.isEmpty {
            let buffer = ByteBuffer(bytes: g.encoded)
            metrics.updatesOut.increment(by: g.messages.count * g.members.count)
            for member in g.members {
                guard let c = peers[member]?.connections.first(where: { $0.fsm.state == .established }) else { continue }
                write(buffer, c)
                // Over the high watermark now: what follows waits as state
                // (the handler says so too, but this write already counts).
                if c.channel?.isWritable == false { out.pause(member) }
            }
        }
    }

    private func nextHopForOrigination(_ prefix: IPPrefix) -> IPAddress {
        // Rewritten per session (our local address) on the way out.
        prefix.address.isIPv4 ? .v4(configuration.routerID) : .v6(IPv6Address(high: 0, low: 0))
    }

    // MARK: Operations (status, reset, reload)

    public func status() -> EventLoopFuture<SpeakerStatus> {
        loop.submit { [self] in
            SpeakerStatus(asNumber: configuration.asNumber, routerID: configuration.routerID.description,
                          clusterID: configuration.clusterID?.description, prefixes: rib.prefixCount,
                          restarting: out.awaitingEndOfRIB != nil || !(forwardingAwaits?.isEmpty ?? true),
                          peers: configuration.peers.compactMap { peers[$0.address] }.map { peerStatus($0) }
                              + peers.values.filter(\.dynamic).sorted { $0.config.address < $1.config.address }.map { peerStatus($0) })
        }
    }

    private func peerStatus(_ s: PeerSession) -> PeerStatus {
        let counts = rib.counts(for: s.config.address)
        let n = s.negotiated
        let isInternal = s.config.remoteAS.isInternal(local: configuration.asNumber)
        var note = s.lastError ?? ""
        if !isInternal, s.config.importPolicy == nil || s.config.exportPolicy == nil {
            note = (note.isEmpty ? "" : note + "; ") + "RFC 8212: no \(s.config.importPolicy == nil ? "import" : "export") policy, nothing \(s.config.importPolicy == nil ? "accepted" : "sent")"
        }
        return PeerStatus(
            name: s.config.name, address: s.config.scopedAddress, asNumber: n?.peerAS ?? (s.config.remoteAS == .external ? 0 : s.config.remoteAS.resolve(local: configuration.asNumber)),
            type: isInternal ? (s.config.routeReflectorClient ? "iBGP rr-client" : "iBGP") : "eBGP",
            state: s.state.rawValue, since: s.establishedSince ?? s.lastTransition,
            info: note, received: counts.received, accepted: counts.accepted, advertised: out.advertisedCount(to: s.config.address),
            flaps: s.flaps, holdTime: n.map { Int($0.holdTime) }, peerRouterID: n?.peerIdentifier.description,
            families: n.map { $0.families.map(\.description).sorted() } ?? [],
            capabilities: n.map(Self.capabilities) ?? [], stale: rib.staleCount(for: s.config.address), bfd: bfdStatus(s),
            outputPaused: out.isPaused(s.config.address), outputHeld: out.heldCount(for: s.config.address),
            sendQueueBytes: s.connections.reduce(0) { $0 + $1.queuedBytes })
    }

    static func capabilities(_ n: NegotiatedSession) -> [String] {
        var out: [String] = []
        if n.fourOctetAS { out.append("4-octet-as") }
        if n.routeRefresh { out.append("route-refresh") }
        if n.enhancedRouteRefresh { out.append("enhanced-route-refresh") }
        if n.extendedMessage { out.append("extended-message") }
        if !n.addPathReceive.isEmpty { out.append("add-path-rx") }
        if !n.addPathSend.isEmpty { out.append("add-path-tx") }
        if n.peerGracefulRestart != nil { out.append(n.gracefulNotification ? "graceful-restart+N" : "graceful-restart") }
        if !n.extendedNextHop.isEmpty { out.append("extended-next-hop") }
        return out
    }

    /// Loc-RIB (or one peer's Adj-RIB-In / accepted table) as rows.
    public func routes(prefix: IPPrefix? = nil, peer: IPAddress? = nil, received: Bool = false) -> EventLoopFuture<[RouteRow]> {
        loop.submit { [self] in
            func row(_ p: Path, best: Bool, reason: String? = nil) -> RouteRow {
                let a = p.attributes.attributes
                return RouteRow(prefix: p.prefix.description, nextHop: p.nextHop.description, peer: p.peer.isLocal ? "local" : p.peer.address.description,
                                pathID: p.pathID, best: best, asPath: a.asPath?.description ?? "", localPref: a.localPref, med: a.multiExitDisc,
                                origin: a.origin.map { "\($0)" } ?? "", communities: a.communities.map(\.description),
                                stale: rib.isStale(p), reason: reason)
            }
            if let peer {
                let table = received ? rib.adjRIBIn[peer] ?? [:] : rib.accepted[peer] ?? [:]
                return table.filter { prefix == nil || $0.key == prefix }.sorted { $0.key < $1.key }
                    .flatMap { $0.value.values.sorted { $0.pathID < $1.pathID }.map { row($0, best: false) } }
            }
            if let prefix {
                let d = rib.explain(prefix)
                return d.best.map { row($0, best: true) } + d.lost.map { row($0.path, best: false, reason: $0.reason) }
            }
            return rib.locRIB.sorted { $0.key < $1.key }.flatMap { $0.value.map { row($0, best: true) } }
        }
    }

    /// `caracal bgp reset PEER [--soft in|out]`.
    public func reset(peer address: IPAddress, soft: SoftReset? = nil) -> EventLoopFuture<Bool> {
        loop.submit { [self] in
            guard let session = peers[address] else { return false }
            switch soft {
            case .inbound?:
                // The Adj-RIB-In is kept: re-applying import policy needs no
                // ROUTE-REFRESH.
                let policy = session.config.importPolicy.flatMap { configuration.policies[$0] }
                    ?? .defaultPolicy(external: !session.config.remoteAS.isInternal(local: configuration.asNumber))
                propagate(rib.setImportPolicy(policy, for: address))
            case .outbound?:
                if let n = session.negotiated {
                    out.removePeer(address)
                    send(out.addPeer(address, outputSettings(session, n), rib: rib))
                }
            case nil:
                for c in session.connections where c.fsm.state != .idle {
                    feed(session, c, .manualStop(.cease(.administrativeReset, communication: "reset by operator")))
                }
                if let c = session.connections.first { feed(session, c, .manualStart(passive: session.config.passive)) }
            }
            return true
        }
    }

    public enum SoftReset: String, Sendable { case inbound = "in", outbound = "out" }

    /// Applies a new configuration: peers added or removed, policies and
    /// origination changed, without touching sessions the change does not
    /// affect. Speaker-wide identity (AS, router ID, listen) needs a restart.
    public func reload(_ new: SpeakerConfiguration) -> EventLoopFuture<ReloadReport> {
        loop.submit { [self] in
            let old = configuration
            for (field, changed) in [("spec.bgp.asNumber", old.asNumber != new.asNumber), ("spec.bgp.routerID", old.routerID != new.routerID),
                                     ("spec.bgp.listen", old.listenAddresses != new.listenAddresses || old.listenInterfaces != new.listenInterfaces
                                                         || old.port != new.port),
                                     ("spec.bgp.routeReflector", old.clusterID != new.clusterID),
                                     ("spec.bgp.maximumPaths", old.maximumPaths != new.maximumPaths)] where changed {
                throw ReloadError(field: field, message: "cannot change while running; restart the agent")
            }
            var report = ReloadReport()
            configuration = new
            updateListenerKeys(from: old)
            let oldPeers = Dictionary(uniqueKeysWithValues: old.peers.map { ($0.address, $0) })
            let newPeers = Dictionary(uniqueKeysWithValues: new.peers.map { ($0.address, $0) })
            for address in oldPeers.keys where newPeers[address] == nil {
                removePeer(address, reason: .peerDeconfigured)
                report.removed.append(address.description)
            }
            for (address, peer) in newPeers.sorted(by: { $0.key < $1.key }) {
                guard let before = oldPeers[address] else {
                    addPeer(peer)
                    report.added.append(address.description)
                    continue
                }
                let policiesChanged = old.policies[before.importPolicy ?? ""] != new.policies[peer.importPolicy ?? ""]
                    || before.importPolicy != peer.importPolicy
                let exportChanged = old.policies[before.exportPolicy ?? ""] != new.policies[peer.exportPolicy ?? ""]
                    || before.exportPolicy != peer.exportPolicy
                var sessionFields = before, newSessionFields = peer
                sessionFields.bfd = nil; newSessionFields.bfd = nil  // reconfigured below, no new session
                sessionFields.importPolicy = nil; sessionFields.exportPolicy = nil; sessionFields.name = ""; sessionFields.maxPrefixes = nil
                newSessionFields.importPolicy = nil; newSessionFields.exportPolicy = nil; newSessionFields.name = ""; newSessionFields.maxPrefixes = nil
                // Client or not changes what is reflected, not the session
                // (a cluster switching between mesh and reflectors keeps it).
                sessionFields.routeReflectorClient = false; newSessionFields.routeReflectorClient = false
                guard let session = peers[address] else { continue }
                session.config = peer
                if before.routeReflectorClient != peer.routeReflectorClient, sessionFields == newSessionFields, let n = session.negotiated {
                    rib.peerUp(ribPeer(session, n))
                    send(out.addPeer(address, outputSettings(session, n), rib: rib))
                    send(out.refreshAll(rib: rib))
                    report.reapplied.append(address.description)
                }
                if sessionFields != newSessionFields {
                    // Transport or capabilities changed: a new session.
                    removePeer(address, reason: .otherConfigurationChange)
                    addPeer(peer)
                    report.reset.append(address.description)
                    continue
                }
                if before.bfd != peer.bfd { bfdUpdate(session) }
                if policiesChanged {
                    let policy = peer.importPolicy.flatMap { new.policies[$0] }
                        ?? .defaultPolicy(external: !peer.remoteAS.isInternal(local: new.asNumber))
                    propagate(rib.setImportPolicy(policy, for: address))
                    report.reapplied.append(address.description)
                }
                if exportChanged, let n = session.negotiated {
                    send(out.addPeer(address, outputSettings(session, n), rib: rib))
                    if !report.reapplied.contains(address.description) { report.reapplied.append(address.description) }
                }
            }
            var changes: [RIBChange] = []
            for prefix in Set(old.originate).subtracting(new.originate) { changes += rib.withdrawOrigination(prefix) }
            for prefix in Set(new.originate).subtracting(old.originate) { changes += rib.originate(prefix, nextHop: nextHopForOrigination(prefix)) }
            propagate(changes)
            return report
        }
    }

    /// An MRT TABLE_DUMP_V2 of the Loc-RIB (RFC 6396).
    public func mrtDump() -> EventLoopFuture<[UInt8]> {
        loop.submit { [self] in MRTTableDump.write(rib, timestamp: UInt32(Date().timeIntervalSince1970)) }
    }
}

/// A peer: its configuration, its connection(s) and what status shows.
/// Confined to the speaker's event loop, like `Connection`.
final class PeerSession: @unchecked Sendable {
    var config: PeerConfiguration
    var connections: [Connection] = []
    var negotiated: NegotiatedSession?
    var localAddress: IPAddress?
    /// The interface of a link-local peer's session (its scope id); 0 for
    /// others.
    var interfaceIndex: UInt32 = 0
    var establishedSince: Date?
    var lastTransition = Date()
    var lastError: String?
    var flaps = 0
    var restarting = false
    /// Accepted from a `peerRanges` prefix.
    var dynamic = false
    var maxPrefixWarned = false
    /// Stopped for max-prefix: no session (either way) until restartAfter.
    var heldDown = false
    var staleTimer: Scheduled<Void>?
    var restartTask: Scheduled<Void>?
    /// BFD (SpeakerBFD.swift): the session's key; torn down by BFD and held
    /// until BFD is Up (no restart, inbound refused, like `heldDown`); set
    /// while that teardown runs (no GR retention).
    var bfdKey: BFDKey?
    var bfdHeld = false
    var bfdFailed = false

    init(config: PeerConfiguration) { self.config = config }

    /// The most advanced state among its connections.
    var state: SessionState {
        let order: [SessionState] = [.established, .openConfirm, .openSent, .connect, .active, .idle]
        return order.first { s in connections.contains { $0.fsm.state == s } } ?? .idle
    }

    func stopRestartTimers() {
        restartTask?.cancel()
        restartTask = nil
    }
}

public struct ReloadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

public struct ReloadReport: Codable, Hashable, Sendable {
    public var added: [String] = []
    public var removed: [String] = []
    public var reset: [String] = []
    public var reapplied: [String] = []
}
