/// RFC 4271 §8.2.2 session states.
public enum SessionState: String, Hashable, Sendable, CaseIterable {
    case idle = "Idle"
    case connect = "Connect"
    case active = "Active"
    case openSent = "OpenSent"
    case openConfirm = "OpenConfirm"
    case established = "Established"

    /// The transitions §8.2.2 allows out of each state (staying included).
    public var allowedNextStates: Set<SessionState> {
        switch self {
        case .idle: [.idle, .connect, .active]
        case .connect: [.connect, .active, .openSent, .openConfirm, .idle]
        case .active: [.active, .connect, .openSent, .openConfirm, .idle]
        case .openSent: [.openSent, .openConfirm, .active, .idle]
        case .openConfirm: [.openConfirm, .established, .idle]
        case .established: [.established, .idle]
        }
    }
}

public enum SessionTimer: String, Hashable, Sendable, CaseIterable {
    case connectRetry, hold, keepalive, delayOpen, idleHold
    /// RFC 9687.
    case sendHold
}

/// §8.1 events, grouped: administrative, timer, TCP, and message events.
/// Decode errors arrive as `.decodeError` carrying the codec's typed error;
/// its NOTIFICATION code selects BGPHeaderErr (1), BGPOpenMsgErr (2) or
/// UpdateMsgErr (3).
public enum SessionEvent: Hashable, Sendable {
    /// Events 1 and 4.
    case manualStart(passive: Bool)
    /// Event 2.
    case manualStop(NotificationMessage?)
    /// Events 3 and 5.
    case automaticStart(passive: Bool)
    /// Event 8.
    case automaticStop(NotificationMessage?)
    /// Events 9-13 and RFC 9687's SendHoldTimer_Expires.
    case timerExpired(SessionTimer)
    /// Event 14 (an incoming connection to accept); 15 is a rejected one.
    case tcpConnectionValid
    case tcpConnectionInvalid
    /// Event 16: our outgoing connection was acknowledged.
    case tcpConnectionAcknowledged
    /// Event 17: an incoming connection was accepted.
    case tcpConnectionConfirmed
    /// Event 18.
    case tcpConnectionFails
    /// Events 19 / 20 (which one depends on the DelayOpenTimer).
    case openReceived(OpenMessage)
    /// Events 21, 22, 28 (and ROUTE-REFRESH errors), by NOTIFICATION code;
    /// RFC 7606 non-fatal actions keep the session.
    case decodeError(BGPError)
    /// Event 23: §6.8 resolution chose to close this connection.
    case openCollisionDump
    /// Events 24 (version error) and 25.
    case notificationReceived(NotificationMessage)
    /// Event 26.
    case keepaliveReceived
    /// Event 27 (also used for UPDATEs with RFC 7606 treat-as-withdraw or
    /// attribute-discard errors: the session stays up).
    case updateReceived
    /// RFC 2918 / 7313 (outside RFC 4271's table: restarts the hold timer
    /// in Established, an FSM error before it).
    case routeRefreshReceived
    /// The transport wrote data: RFC 9687 send progress, and §8.2.2 "each
    /// time the local system sends a KEEPALIVE or UPDATE".
    case sendProgress
}

public enum SessionAction: Hashable, Sendable {
    /// Initiate the outgoing TCP connection.
    case connect
    /// Drop the TCP connection.
    case disconnect
    case send(BGPMessage)
    /// Start (or restart) a timer; the duration already has any jitter.
    case startTimer(SessionTimer, seconds: Double)
    case stopTimer(SessionTimer)
    /// Entered Established.
    case sessionUp(NegotiatedSession)
    /// Left Established: release the peer's routes (or keep them stale under
    /// graceful restart, which is the speaker's call).
    case sessionDown(reason: SessionDownReason)
    /// RFC 7606 AFI/SAFI disable.
    case disableFamily(AddressFamily)
}

public enum SessionDownReason: Hashable, Sendable {
    case stopped
    case notificationSent(NotificationMessage)
    case notificationReceived(NotificationMessage)
    case connectionLost
}

/// A small deterministic random source (SplitMix64). The FSM takes one at
/// init so that tests and fuzzers get reproducible jitter.
public struct SplitMix64: RandomNumberGenerator, Hashable, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The RFC 4271 §8 session state machine for one connection, as a value:
/// `handle(event)` moves the state and returns what to do. No clock, no
/// sockets: the caller runs timers and the connection and feeds back events.
public struct SessionFSM: Hashable, Sendable {
    public private(set) var state: SessionState = .idle
    public let configuration: SessionConfiguration
    public private(set) var connectRetryCounter = 0
    public private(set) var runningTimers: Set<SessionTimer> = []
    /// Set once the peer's OPEN was accepted.
    public private(set) var negotiated: NegotiatedSession?
    /// Whether the last start was passive (drives restarts).
    public private(set) var passive: Bool
    private var random: SplitMix64

    /// §8.2.2: "a large value" for the HoldTimer while waiting for OPEN; 4 minutes suggested.
    public static let largeHoldTime: Double = 240

    public init(configuration: SessionConfiguration, random: SplitMix64) {
        self.configuration = configuration
        self.random = random
        passive = configuration.passive
    }

    // MARK: Timer values

    /// §10: ConnectRetry, Keepalive (and our IdleHold/DelayOpen) are jittered
    /// by a factor in 0.75...1.0. The Hold and SendHold timers are not: they
    /// are limits agreed with the peer, and firing early would tear down a
    /// healthy session.
    mutating func jittered(_ seconds: Double) -> Double {
        let unit = Double(random.next() >> 11) / Double(1 << 53)
        return seconds * (0.75 + 0.25 * unit)
    }

    /// Exponential backoff on consecutive failures, capped.
    public func backoff() -> Double {
        let base = configuration.connectRetryTime
        let factor = Double(1 << min(connectRetryCounter, 20))
        return min(base * factor, max(base, configuration.connectRetryMaximum))
    }

    // MARK: Event handling

    public mutating func handle(_ event: SessionEvent) -> [SessionAction] {
        var out: [SessionAction] = []
        switch state {
        case .idle: idle(event, &out)
        case .connect, .active: connectOrActive(event, &out)
        case .openSent: openSent(event, &out)
        case .openConfirm: openConfirm(event, &out)
        case .established: established(event, &out)
        }
        return out
    }

    private mutating func start(_ t: SessionTimer, _ seconds: Double, _ out: inout [SessionAction]) {
        runningTimers.insert(t)
        out.append(.startTimer(t, seconds: seconds))
    }

    private mutating func stop(_ t: SessionTimer, _ out: inout [SessionAction]) {
        if runningTimers.remove(t) != nil { out.append(.stopTimer(t)) }
    }

    private mutating func startConnectRetry(_ out: inout [SessionAction]) {
        start(.connectRetry, jittered(backoff()), &out)
    }

    /// Idle, events 1/3/4/5 and 13.
    private mutating func idle(_ event: SessionEvent, _ out: inout [SessionAction]) {
        let startPassive: Bool
        switch event {
        case .manualStart(let p):
            startPassive = p
            connectRetryCounter = 0
        case .automaticStart(let p):
            startPassive = p
            connectRetryCounter = 0
        case .timerExpired(.idleHold):
            // DampPeerOscillations: the back-off is over; restart (keeping
            // the counter so the next failure backs off further).
            guard runningTimers.remove(.idleHold) != nil else { return }
            startPassive = passive
        default:
            return  // §8.2.2: every other event is ignored in Idle.
        }
        passive = startPassive
        stop(.idleHold, &out)
        startConnectRetry(&out)
        if startPassive {
            state = .active
        } else {
            out.append(.connect)
            state = .connect
        }
    }

    /// Connect and Active differ only in a few events; both are here.
    private mutating func connectOrActive(_ event: SessionEvent, _ out: inout [SessionAction]) {
        let inConnect = state == .connect
        switch event {
        case .manualStart, .automaticStart:
            return
        case .manualStop(let n):
            if runningTimers.contains(.delayOpen), configuration.sendNotificationWithoutOpen {
                out.append(.send(.notification(n ?? NotificationMessage(cease: .administrativeShutdown))))
            }
            stop(.delayOpen, &out)
            stop(.connectRetry, &out)
            out.append(.disconnect)
            connectRetryCounter = 0
            toIdle(&out, automatic: false)
        case .timerExpired(.connectRetry):
            if inConnect {
                out.append(.disconnect)
                stop(.delayOpen, &out)
            }
            startConnectRetry(&out)
            out.append(.connect)
            state = .connect
        case .timerExpired(.delayOpen):
            runningTimers.remove(.delayOpen)
            stop(.connectRetry, &out)
            sendOpen(&out)
        case .tcpConnectionValid, .tcpConnectionInvalid:
            return
        case .tcpConnectionAcknowledged, .tcpConnectionConfirmed:
            stop(.connectRetry, &out)
            if let delay = configuration.delayOpenTime {
                start(.delayOpen, jittered(delay), &out)
            } else {
                sendOpen(&out)
            }
        case .tcpConnectionFails:
            if inConnect, !runningTimers.contains(.delayOpen) {
                stop(.connectRetry, &out)
                out.append(.disconnect)
                toIdle(&out, automatic: true)
            } else if inConnect {
                // Connect with DelayOpen running: back to listening (Active).
                stop(.delayOpen, &out)
                startConnectRetry(&out)
                state = .active
            } else {
                stop(.delayOpen, &out)
                out.append(.disconnect)
                connectRetryCounter += 1
                stop(.connectRetry, &out)
                toIdle(&out, automatic: true)
            }
        case .openReceived(let open) where runningTimers.contains(.delayOpen):
            // Event 20.
            stop(.connectRetry, &out)
            stop(.delayOpen, &out)
            do throws(BGPError) {
                let n = try NegotiatedSession.negotiate(local: configuration, peer: open)
                out.append(.send(.open(configuration.openMessage)))
                out.append(.send(.keepalive))
                enterOpenConfirm(n, &out)
            } catch {
                // BGPOpenMsgErr: we have not sent OPEN yet.
                if configuration.sendNotificationWithoutOpen { out.append(.send(.notification(error.notification))) }
                fail(&out)
            }
        case .decodeError(let e) where e.notification.code == NotificationCode.messageHeaderError.rawValue
            || e.notification.code == NotificationCode.openMessageError.rawValue:
            // Events 21, 22.
            if configuration.sendNotificationWithoutOpen { out.append(.send(.notification(e.notification))) }
            fail(&out)
        case .notificationReceived(let n) where n.code == NotificationCode.openMessageError.rawValue
            && n.subcode == OpenSubcode.unsupportedVersionNumber.rawValue:
            // Event 24: the counter is not increased when DelayOpen was running.
            let delay = runningTimers.contains(.delayOpen)
            stop(.connectRetry, &out)
            stop(.delayOpen, &out)
            out.append(.disconnect)
            if !delay { connectRetryCounter += 1 }
            toIdle(&out, automatic: true)
        case .sendProgress:
            return
        default:
            // Events 8, 10, 11, 13, 19, 23, 25-28 and timers not running.
            // SendHold is not one of RFC 4271's events: a stale one is ignored.
            // Other timer events follow the RFC even when stale.
            if case .timerExpired(.sendHold) = event { return }
            fail(&out)
        }
    }

    /// Closes and goes to Idle after an error (§8.2.2 "any other event").
    private mutating func fail(_ out: inout [SessionAction]) {
        stop(.connectRetry, &out)
        stop(.delayOpen, &out)
        out.append(.disconnect)
        connectRetryCounter += 1
        toIdle(&out, automatic: true)
    }

    private mutating func sendOpen(_ out: inout [SessionAction]) {
        out.append(.send(.open(configuration.openMessage)))
        start(.hold, SessionFSM.largeHoldTime, &out)
        state = .openSent
    }

    private mutating func enterOpenConfirm(_ n: NegotiatedSession, _ out: inout [SessionAction]) {
        negotiated = n
        if n.holdTime > 0 {
            start(.keepalive, jittered(Double(n.keepaliveTime)), &out)
            start(.hold, Double(n.holdTime), &out)
        } else {
            stop(.keepalive, &out)
            stop(.hold, &out)
        }
        state = .openConfirm
    }

    /// Stops every timer and goes to Idle; with automatic restart after a
    /// failure, the IdleHoldTimer starts with the backoff.
    private mutating func toIdle(_ out: inout [SessionAction], automatic: Bool) {
        for t in [SessionTimer.connectRetry, .hold, .keepalive, .delayOpen, .sendHold] { stop(t, &out) }
        negotiated = nil
        state = .idle
        if automatic, configuration.automaticRestart {
            start(.idleHold, jittered(backoff()), &out)
        }
    }

    /// Sends `n`, closes, and goes to Idle (OpenSent, OpenConfirm,
    /// Established error paths).
    private mutating func notifyAndClose(_ n: NotificationMessage, counter: Int?, _ out: inout [SessionAction]) {
        out.append(.send(.notification(n)))
        close(reason: .notificationSent(n), counter: counter, &out)
    }

    private mutating func close(reason: SessionDownReason, counter: Int?, _ out: inout [SessionAction]) {
        let wasUp = state == .established
        out.append(.disconnect)
        if let c = counter { connectRetryCounter = c } else { connectRetryCounter += 1 }
        if wasUp { out.append(.sessionDown(reason: reason)) }
        toIdle(&out, automatic: counter == nil)
    }

    private func stopNotification(_ n: NotificationMessage?) -> NotificationMessage {
        n ?? NotificationMessage(cease: .administrativeShutdown)
    }

    private mutating func openSent(_ event: SessionEvent, _ out: inout [SessionAction]) {
        switch event {
        case .manualStart, .automaticStart, .tcpConnectionValid, .tcpConnectionInvalid,
             .tcpConnectionAcknowledged, .tcpConnectionConfirmed, .sendProgress:
            return  // second connections are tracked by the speaker (§6.8)
        case .manualStop(let n):
            notifyAndClose(stopNotification(n), counter: 0, &out)
        case .automaticStop(let n):
            notifyAndClose(n ?? NotificationMessage(cease: .administrativeReset), counter: nil, &out)
        case .timerExpired(.hold):
            notifyAndClose(NotificationMessage(.holdTimerExpired), counter: nil, &out)
        case .tcpConnectionFails:
            out.append(.disconnect)
            stop(.hold, &out)
            startConnectRetry(&out)
            state = .active
        case .openReceived(let open):
            stop(.delayOpen, &out)
            stop(.connectRetry, &out)
            do throws(BGPError) {
                let n = try NegotiatedSession.negotiate(local: configuration, peer: open)
                out.append(.send(.keepalive))
                enterOpenConfirm(n, &out)
            } catch {
                notifyAndClose(error.notification, counter: nil, &out)
            }
        case .decodeError(let e) where e.notification.code == NotificationCode.messageHeaderError.rawValue
            || e.notification.code == NotificationCode.openMessageError.rawValue:
            notifyAndClose(e.notification, counter: nil, &out)
        case .openCollisionDump:
            notifyAndClose(NotificationMessage(cease: .connectionCollisionResolution), counter: nil, &out)
        case .notificationReceived(let n) where n.code == NotificationCode.openMessageError.rawValue
            && n.subcode == OpenSubcode.unsupportedVersionNumber.rawValue:
            out.append(.disconnect)
            toIdle(&out, automatic: true)
        default:
            // SendHold is not one of RFC 4271's events: a stale one is ignored.
            // Other timer events follow the RFC even when stale.
            if case .timerExpired(.sendHold) = event { return }
            // Events 9, 11-13, 20, 25-28: FSM Error (RFC 6608 subcode 1).
            notifyAndClose(NotificationMessage(fsm: .unexpectedMessageInOpenSent), counter: nil, &out)
        }
    }

    private mutating func openConfirm(_ event: SessionEvent, _ out: inout [SessionAction]) {
        switch event {
        case .manualStart, .automaticStart, .tcpConnectionValid, .tcpConnectionInvalid,
             .tcpConnectionAcknowledged, .tcpConnectionConfirmed:
            return
        case .sendProgress:
            restartSendHold(&out)
        case .manualStop(let n):
            notifyAndClose(stopNotification(n), counter: 0, &out)
        case .automaticStop(let n):
            notifyAndClose(n ?? NotificationMessage(cease: .administrativeReset), counter: nil, &out)
        case .timerExpired(.hold):
            notifyAndClose(NotificationMessage(.holdTimerExpired), counter: nil, &out)
        case .timerExpired(.keepalive):
            out.append(.send(.keepalive))
            start(.keepalive, jittered(Double(negotiated?.keepaliveTime ?? 0)), &out)
        case .timerExpired(.sendHold) where runningTimers.contains(.sendHold):
            notifyAndClose(NotificationMessage(.sendHoldTimerExpired), counter: nil, &out)
        case .tcpConnectionFails:
            close(reason: .connectionLost, counter: nil, &out)
        case .notificationReceived(let n):
            // Events 24 (no counter increase) and 25.
            let version = n.code == NotificationCode.openMessageError.rawValue && n.subcode == OpenSubcode.unsupportedVersionNumber.rawValue
            close(reason: .notificationReceived(n), counter: version ? connectRetryCounter : nil, &out)
            if version, configuration.automaticRestart, !runningTimers.contains(.idleHold) {
                start(.idleHold, jittered(backoff()), &out)
            }
        case .decodeError(let e) where e.notification.code == NotificationCode.messageHeaderError.rawValue
            || e.notification.code == NotificationCode.openMessageError.rawValue:
            notifyAndClose(e.notification, counter: nil, &out)
        case .openCollisionDump:
            notifyAndClose(NotificationMessage(cease: .connectionCollisionResolution), counter: nil, &out)
        case .keepaliveReceived:
            guard let n = negotiated else { return }
            if n.holdTime > 0 { start(.hold, Double(n.holdTime), &out) }
            state = .established
            restartSendHold(&out)
            out.append(.sessionUp(n))
        default:
            // SendHold is not one of RFC 4271's events: a stale one is ignored.
            // Other timer events follow the RFC even when stale.
            if case .timerExpired(.sendHold) = event { return }
            // Events 9, 12, 13, 19, 20, 27, 28: FSM Error (subcode 2).
            notifyAndClose(NotificationMessage(fsm: .unexpectedMessageInOpenConfirm), counter: nil, &out)
        }
    }

    /// RFC 9687: max(8 minutes, 2 × hold time); off when hold time is 0.
    private mutating func restartSendHold(_ out: inout [SessionAction]) {
        guard let n = negotiated, n.holdTime > 0 else { return }
        start(.sendHold, max(configuration.minimumSendHoldTime, 2 * Double(n.holdTime)), &out)
    }

    private mutating func established(_ event: SessionEvent, _ out: inout [SessionAction]) {
        let hold = Double(negotiated?.holdTime ?? 0)
        switch event {
        case .manualStart, .automaticStart, .tcpConnectionValid, .tcpConnectionInvalid,
             .tcpConnectionAcknowledged, .tcpConnectionConfirmed:
            return
        case .sendProgress:
            // A KEEPALIVE or UPDATE went out: the keepalive interval restarts.
            if hold > 0, runningTimers.contains(.keepalive) {
                start(.keepalive, jittered(Double(negotiated?.keepaliveTime ?? 0)), &out)
            }
            restartSendHold(&out)
        case .manualStop(let n):
            notifyAndClose(stopNotification(n), counter: 0, &out)
        case .automaticStop(let n):
            notifyAndClose(n ?? NotificationMessage(cease: .administrativeReset), counter: nil, &out)
        case .timerExpired(.hold):
            notifyAndClose(NotificationMessage(.holdTimerExpired), counter: nil, &out)
        case .timerExpired(.sendHold) where runningTimers.contains(.sendHold):
            notifyAndClose(NotificationMessage(.sendHoldTimerExpired), counter: nil, &out)
        case .timerExpired(.keepalive):
            out.append(.send(.keepalive))
            start(.keepalive, jittered(Double(negotiated?.keepaliveTime ?? 0)), &out)
        case .openCollisionDump:
            notifyAndClose(NotificationMessage(cease: .connectionCollisionResolution), counter: nil, &out)
        case .notificationReceived(let n):
            close(reason: .notificationReceived(n), counter: nil, &out)
        case .tcpConnectionFails:
            close(reason: .connectionLost, counter: nil, &out)
        case .keepaliveReceived, .updateReceived, .routeRefreshReceived:
            if hold > 0 { start(.hold, hold, &out) }
        case .decodeError(let e) where e.notification.code == NotificationCode.updateMessageError.rawValue
            || e.notification.code == NotificationCode.routeRefreshMessageError.rawValue:
            switch e.action {
            case .sessionReset:
                notifyAndClose(e.notification, counter: nil, &out)
            case .afiSafiDisable(let f):
                if hold > 0 { start(.hold, hold, &out) }
                out.append(.disableFamily(f))
            case .treatAsWithdraw, .attributeDiscard:
                if hold > 0 { start(.hold, hold, &out) }
            }
        case .decodeError(let e) where e.notification.code == NotificationCode.messageHeaderError.rawValue:
            // A header error (§6.1) in Established: the stream is lost.
            notifyAndClose(e.notification, counter: nil, &out)
        default:
            // SendHold is not one of RFC 4271's events: a stale one is ignored.
            // Other timer events follow the RFC even when stale.
            if case .timerExpired(.sendHold) = event { return }
            // Events 9, 12, 13, 19, 20, 22: FSM Error (subcode 3).
            notifyAndClose(NotificationMessage(fsm: .unexpectedMessageInEstablished), counter: nil, &out)
        }
    }
}
