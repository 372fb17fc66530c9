#if canImport(Glibc)
import Glibc
#endif
import BFD
import BGP
import Foundation
import IPAddressing
import Logging
import Metrics
import NetNS
import NIOCore

/// A session's identity: one session per pair of addresses (RFC 5881 §3
/// on a link; RFC 5883 §4 across hops, on its own port).
public struct BFDKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var peer: IPAddress
    public var local: IPAddress
    /// RFC 5883: port 4784, no TTL check.
    public var multihop: Bool

    public init(peer: IPAddress, local: IPAddress, multihop: Bool = false) {
        self.peer = peer
        self.local = local
        self.multihop = multihop
    }

    public static func < (a: BFDKey, b: BFDKey) -> Bool {
        (a.peer, a.local, a.multihop ? 1 : 0) < (b.peer, b.local, b.multihop ? 1 : 0)
    }
    public var description: String { "\(peer) from \(local)\(multihop ? " (multihop)" : "")" }
}

/// What `caracal status` shows of a session.
public struct BFDSessionStatus: Codable, Hashable, Sendable {
    public var peer: String
    public var local: String
    public var state: String
    public var remoteState: String
    /// The last local diagnostic (the reason of the last state change).
    public var diagnostic: String
    public var remoteDiagnostic: String
    public var localDiscriminator: UInt32
    public var remoteDiscriminator: UInt32
    /// The negotiated transmit interval and detection time in milliseconds
    /// (nil before the peer is heard).
    public var transmitIntervalMs: Double?
    public var detectionTimeMs: Double?
    public var multiplier: Int
    public var remoteMultiplier: Int
    /// The peer's C bit.
    public var remoteControlPlaneIndependent: Bool
    public var sourcePort: Int
    public var downs: Int
    public var since: Date
}

/// BFD (RFC 5880 asynchronous mode over RFC 5881 single hop or RFC 5883
/// multihop) for many sessions, confined to one event loop like
/// `BGPSpeaker`: a pure `BFDSession` per session, its two timers on the
/// loop, a sending socket per session, and listening sockets (per family
/// and port) read on a dedicated
/// thread (`Sockets.swift` says why not NIO's datagram channel) whose
/// packets are handed to the loop in batches.
public final class BFDManager: @unchecked Sendable {
    public let loop: EventLoop
    /// The destination ports: single hop 3784 (RFC 5881), multihop 4784
    /// (RFC 5883).
    public let port: UInt16
    public let multihopPort: UInt16
    private let logger: Logger
    private var sessions: [BFDKey: ManagedSession] = [:]
    private var byDiscriminator: [UInt32: ManagedSession] = [:]
    /// The timer wheel (`arm`): slot → entries, the slots in order, and the
    /// one NIO task, for the earliest slot.
    private var wheel: [UInt64: [(ManagedSession, BFDTimer)]] = [:]
    private var slots: [UInt64] = []
    private var tick: Scheduled<Void>?
    private var tickSlot: UInt64?
    private var receivers: [BFDReceiveSocket] = []
    private var wakeWrite: Int32 = -1
    private var random = SplitMix64(seed: UInt64(truncatingIfNeeded: Date().timeIntervalSince1970.bitPattern) ^ UInt64(getpid()))
    private var nextSourcePort: UInt16
    private let metrics = BFDMetrics()
    /// Packets dropped, by reason (also `caracal_bfd_dropped_total{reason}`).
    public private(set) var dropped: [String: Int] = [:]
    public private(set) var received = 0
    public private(set) var sent = 0
    /// Every state change of every session (on the loop).
    public var onStateChange: ((BFDKey, BFDStateChange) -> Void)?

    public static let defaultPort: UInt16 = 3784
    public static let defaultMultihopPort: UInt16 = 4784

    public init(loop: EventLoop, port: UInt16 = BFDManager.defaultPort, multihopPort: UInt16 = BFDManager.defaultMultihopPort,
                logger: Logger = Logger(label: "caracal.bfd")) {
        self.loop = loop
        self.port = port
        self.multihopPort = multihopPort
        self.logger = logger
        nextSourcePort = BFDSendSocket.sourcePorts.lowerBound + UInt16(getpid() % 4096)
    }

    // MARK: Lifecycle

    /// Opens the listening sockets (both families) and starts the reader.
    /// Call once, from any thread; the sockets belong to the calling
    /// thread's network namespace.
    public func start() throws {
        let sockets = [try BFDReceiveSocket(v4: true, port: port), try BFDReceiveSocket(v4: false, port: port),
                       try BFDReceiveSocket(v4: true, port: multihopPort, multihop: true),
                       try BFDReceiveSocket(v4: false, port: multihopPort, multihop: true)]
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw BFDSocketError(operation: "pipe", errno: errno) }
        receivers = sockets
        wakeWrite = fds[1]
        let wakeRead = fds[0]
        try BackgroundTask<Void>.detached { [self] in readLoop(sockets, wake: wakeRead) }
    }

    /// Sends AdminDown on every session (RFC 5882 §3.2: the peers' clients
    /// must not take it for a failure), then closes everything.
    public func shutdown() -> EventLoopFuture<Void> {
        loop.submit { [self] in
            for s in sessions.values {
                execute(s.fsm.handle(.adminDown(.administrativelyDown)), s)
                cancelTimers(s)
            }
            sessions = [:]
            byDiscriminator = [:]
            tick?.cancel()
            wheel = [:]
            slots = []
            if wakeWrite >= 0 {
                var b: UInt8 = 1
                _ = write(wakeWrite, &b, 1)
                Glibc.close(wakeWrite)
                wakeWrite = -1
            }
            receivers = []
            metrics.sessions([])
        }
    }

    private func readLoop(_ sockets: [BFDReceiveSocket], wake: Int32) {
        var fds = sockets.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) } + [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        defer { Glibc.close(wake) }
        while true {
            let n = Syscall.retryingInterrupts { poll(&fds, nfds_t(fds.count), -1) }
            guard n >= 0, fds[fds.count - 1].revents == 0 else { return }
            // Let a few more arrive: one hand-over to the loop per batch
            // rather than two thread wake-ups per packet (a millisecond is
            // nothing against intervals of 10 ms and more).
            usleep(1000)
            var batch: [ReceivedDatagram] = []
            for (i, socket) in sockets.enumerated() where fds[i].revents != 0 {
                while batch.count < 1024, let d = socket.receive() { batch.append(d) }
            }
            guard !batch.isEmpty else { continue }
            let ready = batch
            loop.execute { [self] in received(ready) }
        }
    }

    // MARK: Sessions (on the loop)

    /// Adds (or reconfigures) the session to `key.peer` from `key.local`.
    public func addSession(_ key: BFDKey, configuration: BFDSessionConfiguration) throws {
        loop.preconditionInEventLoop()
        if let s = sessions[key] {
            if s.fsm.configuration != configuration { execute(s.fsm.handle(.reconfigure(configuration)), s) }
            return
        }
        let socket = try BFDSendSocket(local: key.local, startingAt: nextSourcePort)
        nextSourcePort = socket.sourcePort == BFDSendSocket.sourcePorts.upperBound ? BFDSendSocket.sourcePorts.lowerBound : socket.sourcePort + 1
        var discriminator: UInt32 = 0
        while discriminator == 0 || byDiscriminator[discriminator] != nil { discriminator = UInt32(truncatingIfNeeded: random.next()) }
        let s = ManagedSession(key: key, fsm: BFDSession(configuration: configuration, localDiscriminator: discriminator,
                                                         random: SplitMix64(seed: random.next())), socket: socket)
        sessions[key] = s
        byDiscriminator[discriminator] = s
        logger.info("BFD session added", metadata: ["peer": "\(key.peer)", "local": "\(key.local)", "discriminator": "\(discriminator)",
                                                   "sourcePort": "\(socket.sourcePort)"])
        execute(s.fsm.start(), s)
        metrics.sessions(sessions.values.map(\.fsm.state))
    }

    /// Removes a session, telling the peer AdminDown first.
    public func removeSession(_ key: BFDKey) {
        loop.preconditionInEventLoop()
        guard let s = sessions.removeValue(forKey: key) else { return }
        byDiscriminator[s.fsm.localDiscriminator] = nil
        let actions = s.fsm.handle(.adminDown(.administrativelyDown))
        for case .send(let p) in actions { send(p, s) }
        cancelTimers(s)
        metrics.sessions(sessions.values.map(\.fsm.state))
    }

    public func state(_ key: BFDKey) -> BFDState? { sessions[key]?.fsm.state }

    public var keys: [BFDKey] { sessions.keys.sorted() }

    public func status(_ key: BFDKey) -> BFDSessionStatus? {
        guard let s = sessions[key] else { return nil }
        let f = s.fsm
        let heard = f.remoteDiscriminator != 0
        return BFDSessionStatus(
            peer: key.peer.description, local: key.local.description, state: f.state.description, remoteState: f.remoteState.description,
            diagnostic: f.localDiagnostic.description, remoteDiagnostic: s.remoteDiagnostic.description,
            localDiscriminator: f.localDiscriminator, remoteDiscriminator: f.remoteDiscriminator,
            transmitIntervalMs: heard ? f.transmitInterval.map { Double($0) / 1000 } : nil, detectionTimeMs: f.detectionTime.map { Double($0) / 1000 },
            multiplier: Int(f.configuration.detectMultiplier), remoteMultiplier: Int(f.remoteDetectMultiplier),
            remoteControlPlaneIndependent: f.remoteControlPlaneIndependent, sourcePort: Int(s.socket.sourcePort), downs: s.downs, since: s.since)
    }

    /// Whether the peer's last packets said its BFD does not share fate with
    /// its control plane (the C bit).
    public func remoteControlPlaneIndependent(_ key: BFDKey) -> Bool { sessions[key]?.fsm.remoteControlPlaneIndependent ?? false }

    // MARK: Packets

    private func drop(_ reason: String, _ d: ReceivedDatagram, _ detail: @autoclosure () -> String) {
        dropped[reason, default: 0] += 1
        metrics.dropped(reason)
        logger.debug("BFD packet dropped", metadata: ["reason": "\(reason)", "from": "\(d.source)", "detail": "\(detail())"])
    }

    func received(_ batch: [ReceivedDatagram]) {
        for d in batch {
            received += 1
            metrics.packetsIn.increment()
            // RFC 5881 §5: single hop only; anything else may come from afar.
            // Multihop (RFC 5883 §5) cannot check it.
            guard d.multihop || d.ttl == 255 else { drop("ttl", d, "TTL \(d.ttl.map(String.init) ?? "unknown")"); continue }
            let p: BFDControlPacket
            do throws(BFDPacketError) {
                p = try BFDControlPacket.decode(d.bytes)
            } catch {
                drop(error.reason, d, error.description)
                continue
            }
            let found: ManagedSession?
            if p.yourDiscriminator != 0 {
                found = byDiscriminator[p.yourDiscriminator]
            } else if let local = d.destination {
                found = sessions[BFDKey(peer: d.source, local: local, multihop: d.multihop)]
            } else {
                found = sessions.values.first { $0.key.peer == d.source && $0.key.multihop == d.multihop }
            }
            guard let s = found else { drop("unknown_session", d, "Your Discriminator \(p.yourDiscriminator)"); continue }
            guard s.key.peer == d.source else { drop("address", d, "session \(s.key) got a packet from \(d.source)"); continue }
            guard s.key.multihop == d.multihop else { drop("port", d, "session \(s.key) got a packet on the other port"); continue }
            s.remoteDiagnostic = p.diagnostic
            let actions = s.fsm.handle(.received(p))
            if let discard = s.fsm.lastDiscard { drop(Self.label(discard), d, "session \(s.key)") }
            execute(actions, s)
        }
    }

    static func label(_ d: BFDDiscard) -> String {
        switch d {
        case .discriminatorMismatch: "discriminator_mismatch"
        case .authenticationNotConfigured: "authentication"
        case .adminDown: "admin_down"
        }
    }

    private func send(_ p: BFDControlPacket, _ s: ManagedSession) {
        if s.socket.send(p.encode(), to: s.key.peer, port: s.key.multihop ? multihopPort : port) {
            sent += 1
            metrics.packetsOut.increment()
        } else {
            metrics.sendErrors.increment()
        }
    }

    private func cancelTimers(_ s: ManagedSession) {
        // Wheel entries left behind find no slot of theirs and do nothing.
        s.armedSlot = TimerSlots()
        s.deadlines = TimerSlots()
    }

    /// The sessions' timers on a wheel of 2 ms slots, with one NIO task
    /// for the earliest slot. A NIO task per session timer put thousands of
    /// tasks in the loop's heap, whose sifting (a retain and release per
    /// swap) and wake-ups were most of the CPU with 1000 sessions; and the
    /// detection timer, pushed back by every packet, would have been a
    /// cancel (a linear search of that heap) and a new task per packet.
    /// Here a later deadline only updates the session's deadline: its entry
    /// fires on the old slot and re-arms for the rest. Deadlines round up
    /// to the grid, so a packet leaves at most 2 ms late and a detection
    /// fires at most 2 ms late, never early.
    static let timerGrid: UInt64 = 2_000_000

    private func arm(_ t: BFDTimer, at exact: NIODeadline, _ s: ManagedSession) {
        let slot = (exact.uptimeNanoseconds + Self.timerGrid - 1) / Self.timerGrid
        s.deadlines[t] = slot
        if let armed = s.armedSlot[t], armed <= slot { return }
        s.armedSlot[t] = slot
        if wheel[slot] == nil {
            wheel[slot] = []
            // Slots due, in order (few distinct ones: a binary insert).
            var lo = 0, hi = slots.count
            while lo < hi { let mid = (lo + hi) / 2; if slots[mid] < slot { lo = mid + 1 } else { hi = mid } }
            slots.insert(slot, at: lo)
        }
        wheel[slot]!.append((s, t))
        if tickSlot.map({ slot < $0 }) ?? true { scheduleTick(slot) }
    }

    private func scheduleTick(_ slot: UInt64) {
        tick?.cancel()
        tickSlot = slot
        tick = loop.scheduleTask(deadline: .uptimeNanoseconds(slot * Self.timerGrid)) { [weak self] in self?.runWheel() }
    }

    private func runWheel() {
        tick = nil
        tickSlot = nil
        let now = NIODeadline.now().uptimeNanoseconds / Self.timerGrid
        while let first = slots.first, first <= now {
            slots.removeFirst()
            for (s, t) in wheel.removeValue(forKey: first) ?? [] {
                guard s.armedSlot[t] == first, sessions[s.key] === s else { continue }
                s.armedSlot[t] = nil
                guard let due = s.deadlines[t] else { continue }
                if due > now {
                    arm(t, at: .uptimeNanoseconds(due * Self.timerGrid), s)
                    continue
                }
                s.deadlines[t] = nil
                execute(s.fsm.handle(.timerExpired(t)), s)
            }
        }
        if let next = slots.first, tickSlot.map({ next < $0 }) ?? true { scheduleTick(next) }
    }

    private func execute(_ actions: [BFDAction], _ s: ManagedSession) {
        for action in actions {
            switch action {
            case .send(let p): send(p, s)
            case .startTimer(let t, let us):
                arm(t, at: .now() + .microseconds(Int64(us)), s)
            case .stopTimer(let t):
                // The task stays: it finds no deadline and does nothing.
                s.deadlines[t] = nil
            case .stateChanged(let c):
                s.since = Date()
                if c.from == .up { s.downs += 1 }
                metrics.changed(to: c.to)
                metrics.sessions(sessions.values.map(\.fsm.state))
                logger.info("BFD session state", metadata: ["peer": "\(s.key.peer)", "local": "\(s.key.local)", "from": "\(c.from)",
                                                           "to": "\(c.to)", "diagnostic": "\(c.diagnostic)", "remoteState": "\(c.remoteState)"])
                if sessions[s.key] === s { onStateChange?(s.key, c) }
            }
        }
    }
}

/// A slot per timer.
struct TimerSlots {
    private var transmit: UInt64?
    private var detection: UInt64?

    subscript(_ t: BFDTimer) -> UInt64? {
        get { t == .transmit ? transmit : detection }
        set { if t == .transmit { transmit = newValue } else { detection = newValue } }
    }
}

/// Confined to the manager's event loop.
final class ManagedSession: @unchecked Sendable {
    let key: BFDKey
    var fsm: BFDSession<SplitMix64>
    let socket: BFDSendSocket
    /// The wheel slot each timer's entry waits in, and the slot the state
    /// machine asked for (nil: stopped), which may be later (fields, not
    /// dictionaries: this is on every packet's path).
    var armedSlot = TimerSlots()
    var deadlines = TimerSlots()
    var since = Date()
    var downs = 0
    var remoteDiagnostic: BFDDiagnostic = .none

    init(key: BFDKey, fsm: BFDSession<SplitMix64>, socket: BFDSendSocket) {
        self.key = key
        self.fsm = fsm
        self.socket = socket
    }
}

/// `caracal_bfd_sessions{state}`, `caracal_bfd_state_changes_total{to}`,
/// `caracal_bfd_packets_in_total`, `caracal_bfd_packets_out_total`,
/// `caracal_bfd_send_errors_total`, `caracal_bfd_dropped_total{reason}`.
final class BFDMetrics {
    let packetsIn = Counter(label: "caracal_bfd_packets_in_total")
    let packetsOut = Counter(label: "caracal_bfd_packets_out_total")
    let sendErrors = Counter(label: "caracal_bfd_send_errors_total")
    private var gauges: [BFDState: Gauge] = [:]
    /// Counters with one dimension, made on first use: "label/value" → counter.
    private var labelled: [String: Counter] = [:]

    func sessions(_ states: [BFDState]) {
        for s in BFDState.allCases {
            let g = gauges[s] ?? Gauge(label: "caracal_bfd_sessions", dimensions: [("state", s.description)])
            gauges[s] = g
            g.record(states.filter { $0 == s }.count)
        }
    }

    private func increment(_ label: String, _ dimension: String, _ value: String) {
        let key = label + "/" + value
        let c = labelled[key] ?? Counter(label: label, dimensions: [(dimension, value)])
        labelled[key] = c
        c.increment()
    }

    func changed(to state: BFDState) { increment("caracal_bfd_state_changes_total", "to", state.description) }

    func dropped(_ reason: String) { increment("caracal_bfd_dropped_total", "reason", reason) }
}
