/// What one session is configured with (RFC 5880 §6.8.1's local
/// variables); intervals in microseconds.
public struct BFDSessionConfiguration: Hashable, Sendable {
    /// bfd.DesiredMinTxInterval while Up.
    public var desiredMinTxInterval: UInt32
    /// bfd.RequiredMinRxInterval.
    public var requiredMinRxInterval: UInt32
    /// bfd.DetectMult.
    public var detectMultiplier: UInt8
    /// §6.1 passive role: send nothing until the peer has been heard.
    public var passive: Bool
    /// §6.8.3: the transmit interval advertised while not Up (at least 1 s).
    public var slowTxInterval: UInt32

    public static let minimumSlowTxInterval: UInt32 = 1_000_000

    public init(desiredMinTxInterval: UInt32, requiredMinRxInterval: UInt32, detectMultiplier: UInt8,
                passive: Bool = false, slowTxInterval: UInt32 = BFDSessionConfiguration.minimumSlowTxInterval) {
        self.desiredMinTxInterval = max(1, desiredMinTxInterval)
        self.requiredMinRxInterval = requiredMinRxInterval
        self.detectMultiplier = max(1, detectMultiplier)
        self.passive = passive
        self.slowTxInterval = max(Self.minimumSlowTxInterval, slowTxInterval)
    }
}

public enum BFDTimer: String, Hashable, Sendable, CaseIterable {
    /// The periodic transmission (§6.8.7).
    case transmit
    /// The detection time (§6.8.4).
    case detection
}

public enum BFDEvent: Hashable, Sendable {
    /// A packet the codec accepted, for this session (the caller found it
    /// by Your Discriminator, or by addresses when that is zero, and
    /// checked TTL 255 for single hop).
    case received(BFDControlPacket)
    case timerExpired(BFDTimer)
    /// §6.8.16: local administrative down, with the diagnostic to send
    /// (Administratively Down unless told otherwise).
    case adminDown(BFDDiagnostic)
    /// Back from AdminDown to Down.
    case adminUp
    /// New intervals or multiplier (a configuration reload): a Poll
    /// Sequence while Up (§6.8.3).
    case reconfigure(BFDSessionConfiguration)
}

public enum BFDAction: Hashable, Sendable {
    /// Transmit this packet now.
    case send(BFDControlPacket)
    /// Start (or restart) a timer; the duration already has its jitter.
    case startTimer(BFDTimer, microseconds: UInt64)
    case stopTimer(BFDTimer)
    /// bfd.SessionState changed (the clients' notification, RFC 5882).
    case stateChanged(BFDStateChange)
}

public struct BFDStateChange: Hashable, Sendable {
    public var from: BFDState
    public var to: BFDState
    /// bfd.LocalDiag after the change.
    public var diagnostic: BFDDiagnostic
    /// The peer's state as last received: AdminDown means the peer took
    /// the session down on purpose, which clients must not treat as a
    /// path failure (RFC 5882 §3.2).
    public var remoteState: BFDState
    /// The peer's C bit as last received.
    public var remoteControlPlaneIndependent: Bool

    /// A client (BGP) should act: Up went Down, and not because the peer
    /// said AdminDown.
    public var isFailure: Bool { from == .up && to == .down && remoteState != .adminDown }
}

/// Why the session dropped a packet the codec accepted.
public enum BFDDiscard: Hashable, Sendable {
    /// Your Discriminator names another session.
    case discriminatorMismatch
    /// The A bit while the session uses no authentication (§6.8.6).
    case authenticationNotConfigured
    /// Local AdminDown (§6.8.6).
    case adminDown
}

/// The RFC 5880 §6.8 state machine for one asynchronous-mode session, as
/// a value: `handle(event)` moves the state and returns what to do. No
/// clock and no socket: the caller runs the two timers, sends packets and
/// feeds back events. Randomness (the §6.8.7 jitter) is injected.
public struct BFDSession<Random: RandomNumberGenerator & Sendable>: Sendable {
    public private(set) var configuration: BFDSessionConfiguration
    public private(set) var state: BFDState = .down
    public private(set) var localDiagnostic: BFDDiagnostic = .none
    public let localDiscriminator: UInt32
    /// bfd.RemoteDiscr: 0 until heard, and again after a detection time
    /// without a packet.
    public private(set) var remoteDiscriminator: UInt32 = 0
    public private(set) var remoteState: BFDState = .down
    /// bfd.RemoteMinRxInterval: 1 µs until heard (§6.8.1).
    public private(set) var remoteMinRxInterval: UInt32 = 1
    public private(set) var remoteDesiredMinTxInterval: UInt32 = 0
    public private(set) var remoteDetectMultiplier: UInt8 = 0
    public private(set) var remoteControlPlaneIndependent = false
    /// A Poll Sequence is under way (our packets carry P).
    public private(set) var polling = false
    /// The values in force for our transmission and for detection; during
    /// a Poll Sequence an increase of the first and a decrease of the second
    /// wait for the Final (§6.8.3).
    public private(set) var activeDesiredMinTx: UInt32
    public private(set) var activeRequiredMinRx: UInt32
    /// The timers running (two flags: this is on every packet's path).
    public var runningTimers: Set<BFDTimer> {
        Set(BFDTimer.allCases.filter { $0 == .transmit ? transmitRunning : detectionRunning })
    }
    private var transmitRunning = false
    private var detectionRunning = false
    private var random: Random

    public init(configuration: BFDSessionConfiguration, localDiscriminator: UInt32, random: Random) {
        precondition(localDiscriminator != 0, "a discriminator is non-zero (§6.8.1)")
        self.configuration = configuration
        self.localDiscriminator = localDiscriminator
        self.random = random
        activeDesiredMinTx = configuration.slowTxInterval
        activeRequiredMinRx = configuration.requiredMinRxInterval
    }

    // MARK: Derived values

    /// bfd.DesiredMinTxInterval as advertised now: at least 1 s while not
    /// Up (§6.8.3).
    public var advertisedDesiredMinTx: UInt32 {
        state == .up ? configuration.desiredMinTxInterval : max(configuration.desiredMinTxInterval, configuration.slowTxInterval)
    }

    /// §6.8.7: the larger of our desired interval in force and the peer's
    /// required one; nil when the peer asked for none (RemoteMinRx 0).
    public var transmitInterval: UInt32? {
        remoteMinRxInterval == 0 ? nil : max(activeDesiredMinTx, remoteMinRxInterval)
    }

    /// §6.8.4 (asynchronous mode): the peer's multiplier times the larger of
    /// our required receive interval and its desired transmit interval;
    /// nil until heard.
    public var detectionTime: UInt64? {
        guard remoteDiscriminator != 0, remoteDetectMultiplier > 0 else { return nil }
        return UInt64(remoteDetectMultiplier) * UInt64(max(activeRequiredMinRx, remoteDesiredMinTxInterval))
    }

    /// The packet this session would send now.
    public func packet(poll: Bool = false, final: Bool = false) -> BFDControlPacket {
        BFDControlPacket(diagnostic: localDiagnostic, state: state, poll: poll, final: final,
                         controlPlaneIndependent: false, detectMultiplier: configuration.detectMultiplier,
                         myDiscriminator: localDiscriminator, yourDiscriminator: remoteDiscriminator,
                         desiredMinTxInterval: advertisedDesiredMinTx, requiredMinRxInterval: configuration.requiredMinRxInterval)
    }

    /// §6.8.7's jitter: 75–100 % of the interval, 75–90 % with a
    /// multiplier of 1.
    mutating func jittered(_ interval: UInt32) -> UInt64 {
        let top = configuration.detectMultiplier == 1 ? 0.90 : 1.0
        let unit = Double(random.next() >> 11) / Double(1 << 53)
        return max(1, UInt64(Double(interval) * (0.75 + (top - 0.75) * unit)))
    }

    // MARK: Events

    /// Starts the periodic transmission (call once when the session is
    /// created). A passive session waits for the peer (§6.1).
    public mutating func start() -> [BFDAction] {
        var out: [BFDAction] = []
        scheduleTransmit(&out)
        return out
    }

    public mutating func handle(_ event: BFDEvent) -> [BFDAction] {
        var out: [BFDAction] = []
        switch event {
        case .received(let p): receive(p, &out)
        case .timerExpired(.transmit):
            guard clear(.transmit) else { break }
            if mayTransmit { out.append(.send(packet(poll: polling))) }
            scheduleTransmit(&out)
        case .timerExpired(.detection):
            guard clear(.detection) else { break }
            detectionExpired(&out)
        case .adminDown(let diagnostic):
            guard state != .adminDown else { break }
            stop(.detection, &out)
            polling = false
            change(to: .adminDown, diagnostic: diagnostic, &out)
            // Tell the peer at once: it must not take this for a failure.
            out.append(.send(packet()))
            scheduleTransmit(&out)
        case .adminUp:
            guard state == .adminDown else { break }
            change(to: .down, diagnostic: .none, &out)
            scheduleTransmit(&out)
        case .reconfigure(let c):
            reconfigure(c, &out)
        }
        return out
    }

    /// The last discard reason, for the caller's counters (nil when the
    /// last packet was taken).
    public private(set) var lastDiscard: BFDDiscard?

    private var mayTransmit: Bool {
        !(configuration.passive && remoteDiscriminator == 0) && remoteMinRxInterval != 0
    }

    /// Marks `t` stopped; whether it was running.
    private mutating func clear(_ t: BFDTimer) -> Bool {
        switch t {
        case .transmit:
            defer { transmitRunning = false }
            return transmitRunning
        case .detection:
            defer { detectionRunning = false }
            return detectionRunning
        }
    }

    private mutating func stop(_ t: BFDTimer, _ out: inout [BFDAction]) {
        if clear(t) { out.append(.stopTimer(t)) }
    }

    private mutating func scheduleTransmit(_ out: inout [BFDAction]) {
        guard let interval = transmitInterval else {
            stop(.transmit, &out)
            return
        }
        transmitRunning = true
        out.append(.startTimer(.transmit, microseconds: jittered(interval)))
    }

    private mutating func change(to new: BFDState, diagnostic: BFDDiagnostic, _ out: inout [BFDAction]) {
        let old = state
        let advertisedBefore = advertisedDesiredMinTx
        state = new
        localDiagnostic = diagnostic
        if new == .up {
            // §6.8.3: the advertised interval leaves its slow value, a
            // change while Up: a Poll Sequence (a decrease applies now).
            activeDesiredMinTx = min(activeDesiredMinTx, advertisedDesiredMinTx)
            polling = advertisedDesiredMinTx != advertisedBefore
        } else {
            polling = false
            activeDesiredMinTx = advertisedDesiredMinTx
            activeRequiredMinRx = configuration.requiredMinRxInterval
        }
        out.append(.stateChanged(BFDStateChange(from: old, to: new, diagnostic: diagnostic, remoteState: remoteState,
                                                remoteControlPlaneIndependent: remoteControlPlaneIndependent)))
    }

    private mutating func detectionExpired(_ out: inout [BFDAction]) {
        let wasHeard = remoteDiscriminator != 0
        remoteDiscriminator = 0
        remoteMinRxInterval = 1
        remoteDetectMultiplier = 0
        if state == .initial || state == .up {
            change(to: .down, diagnostic: .controlDetectionTimeExpired, &out)
        }
        // Back to the slow rate (and silence for a passive session).
        if wasHeard { scheduleTransmit(&out) }
    }

    /// RFC 5880 §6.8.6 from "If the A bit is set" on (the codec did the
    /// checks before).
    private mutating func receive(_ p: BFDControlPacket, _ out: inout [BFDAction]) {
        lastDiscard = nil
        guard p.yourDiscriminator == 0 || p.yourDiscriminator == localDiscriminator else {
            lastDiscard = .discriminatorMismatch
            return
        }
        guard p.authentication == nil else {
            lastDiscard = .authenticationNotConfigured
            return
        }
        let intervalBefore = transmitInterval
        let firstHeard = remoteDiscriminator == 0
        remoteDiscriminator = p.myDiscriminator
        remoteState = p.state
        remoteMinRxInterval = p.requiredMinRxInterval
        remoteDesiredMinTxInterval = p.desiredMinTxInterval
        remoteDetectMultiplier = p.detectMultiplier
        remoteControlPlaneIndependent = p.controlPlaneIndependent
        if p.final && polling {
            polling = false
            activeDesiredMinTx = advertisedDesiredMinTx
            activeRequiredMinRx = configuration.requiredMinRxInterval
        }
        guard state != .adminDown else {
            lastDiscard = .adminDown
            if transmitInterval != intervalBefore { scheduleTransmit(&out) }
            return
        }
        if p.state == .adminDown {
            if state != .down { change(to: .down, diagnostic: .neighborSignaledSessionDown, &out) }
        } else {
            switch (state, p.state) {
            case (.down, .down): change(to: .initial, diagnostic: .none, &out)
            case (.down, .initial): change(to: .up, diagnostic: .none, &out)
            case (.initial, .initial), (.initial, .up): change(to: .up, diagnostic: .none, &out)
            case (.up, .down): change(to: .down, diagnostic: .neighborSignaledSessionDown, &out)
            default: break
            }
        }
        // The received packet counts for the detection time.
        if let d = detectionTime {
            detectionRunning = true
            out.append(.startTimer(.detection, microseconds: d))
        }
        if p.poll { out.append(.send(packet(final: true))) }
        // A new interval (the peer's, ours on a state change or a Final) or
        // a passive session's first packet: the timer restarts with it.
        if transmitInterval != intervalBefore || (firstHeard && configuration.passive) || !transmitRunning {
            scheduleTransmit(&out)
        }
    }

    private mutating func reconfigure(_ c: BFDSessionConfiguration, _ out: inout [BFDAction]) {
        let intervalBefore = transmitInterval
        let advertisedBefore = advertisedDesiredMinTx
        let rxBefore = configuration.requiredMinRxInterval
        configuration = c
        if state == .up {
            if advertisedDesiredMinTx != advertisedBefore || c.requiredMinRxInterval != rxBefore { polling = true }
            // An increase of TX and a decrease of RX wait for the Final.
            activeDesiredMinTx = min(activeDesiredMinTx, advertisedDesiredMinTx)
            activeRequiredMinRx = max(activeRequiredMinRx, c.requiredMinRxInterval)
        } else {
            activeDesiredMinTx = advertisedDesiredMinTx
            activeRequiredMinRx = c.requiredMinRxInterval
        }
        if transmitInterval != intervalBefore { scheduleTransmit(&out) }
    }
}
