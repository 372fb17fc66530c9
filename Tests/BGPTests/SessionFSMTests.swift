@testable import BGP
import IPAddressing
import Testing

let localConfig = SessionConfiguration(localAS: 65001, peerAS: 65002, bgpIdentifier: IPv4Address(10, 0, 0, 1), holdTime: 90,
                                       addPath: [AddPathFamily(.ipv4Unicast, .both)],
                                       gracefulRestart: GracefulRestartCapability(notification: true, restartTime: 120, families: [.init(.ipv4Unicast, forwardingPreserved: true)]))

let peerOpen = OpenMessage(asNumber: 65002, holdTime: 30, bgpIdentifier: IPv4Address(10, 0, 0, 2), capabilities: [
    .multiprotocol(.ipv4Unicast), .routeRefresh, .addPath([AddPathFamily(.ipv4Unicast, .send)]),
    .gracefulRestart(GracefulRestartCapability(notification: true, restartTime: 60, families: [])),
    .fqdn(hostname: "peer", domain: "lab"),
])

let headerError = BGPError(.markerNotAllOnes, NotificationMessage(header: .connectionNotSynchronized))
let openError = BGPError(.unsupportedOptionalParameter(9), NotificationMessage(open: .unsupportedOptionalParameter))
let updateError = BGPError(.invalidNetworkField(.ipv4Unicast), NotificationMessage(update: .invalidNetworkField))

/// The §8.1 events, numbered as in the RFC (20 and SendHold are tested apart).
let rfcEvents: [(Int, SessionEvent)] = [
    (1, .manualStart(passive: false)), (2, .manualStop(nil)), (3, .automaticStart(passive: false)),
    (4, .manualStart(passive: true)), (5, .automaticStart(passive: true)), (8, .automaticStop(nil)),
    (9, .timerExpired(.connectRetry)), (10, .timerExpired(.hold)), (11, .timerExpired(.keepalive)),
    (12, .timerExpired(.delayOpen)), (13, .timerExpired(.idleHold)),
    (14, .tcpConnectionValid), (15, .tcpConnectionInvalid), (16, .tcpConnectionAcknowledged),
    (17, .tcpConnectionConfirmed), (18, .tcpConnectionFails), (19, .openReceived(peerOpen)),
    (21, .decodeError(headerError)), (22, .decodeError(openError)), (23, .openCollisionDump),
    (24, .notificationReceived(NotificationMessage(open: .unsupportedVersionNumber, data: [0, 4]))),
    (25, .notificationReceived(NotificationMessage(cease: .administrativeReset))),
    (26, .keepaliveReceived), (27, .updateReceived), (28, .decodeError(updateError)),
]

/// Expected next state for every (state, event) pair of §8.2.2 without
/// DelayOpen. Events not listed keep the state.
let expectedTransitions: [SessionState: [Int: SessionState]] = [
    .idle: [1: .connect, 3: .connect, 4: .active, 5: .active],
    .connect: [2: .idle, 8: .idle, 9: .connect, 10: .idle, 11: .idle, 12: .openSent, 13: .idle, 16: .openSent, 17: .openSent,
               18: .idle, 19: .idle, 21: .idle, 22: .idle, 23: .idle, 24: .idle, 25: .idle, 26: .idle, 27: .idle, 28: .idle],
    .active: [2: .idle, 8: .idle, 9: .connect, 10: .idle, 11: .idle, 12: .openSent, 13: .idle, 16: .openSent, 17: .openSent,
              18: .idle, 19: .idle, 21: .idle, 22: .idle, 23: .idle, 24: .idle, 25: .idle, 26: .idle, 27: .idle, 28: .idle],
    .openSent: [2: .idle, 8: .idle, 9: .idle, 10: .idle, 11: .idle, 12: .idle, 13: .idle, 18: .active, 19: .openConfirm,
                21: .idle, 22: .idle, 23: .idle, 24: .idle, 25: .idle, 26: .idle, 27: .idle, 28: .idle],
    .openConfirm: [2: .idle, 8: .idle, 9: .idle, 10: .idle, 12: .idle, 13: .idle, 18: .idle, 19: .idle,
                   21: .idle, 22: .idle, 23: .idle, 24: .idle, 25: .idle, 26: .established, 27: .idle, 28: .idle],
    .established: [2: .idle, 8: .idle, 9: .idle, 10: .idle, 12: .idle, 13: .idle, 18: .idle, 19: .idle,
                   21: .idle, 22: .idle, 23: .idle, 24: .idle, 25: .idle, 28: .idle],
]

/// The NOTIFICATION §8.2.2 sends for (state, event), where it sends one.
let expectedNotifications: [SessionState: [Int: NotificationMessage]] = {
    var t: [SessionState: [Int: NotificationMessage]] = [:]
    let fsm: [SessionState: FSMSubcode] = [.openSent: .unexpectedMessageInOpenSent, .openConfirm: .unexpectedMessageInOpenConfirm, .established: .unexpectedMessageInEstablished]
    for (s, sub) in fsm {
        var m: [Int: NotificationMessage] = [
            2: NotificationMessage(cease: .administrativeShutdown),
            8: NotificationMessage(cease: .administrativeReset),
            10: NotificationMessage(.holdTimerExpired),
            21: headerError.notification,
            23: NotificationMessage(cease: .connectionCollisionResolution),
        ]
        for e in [9, 12, 13] { m[e] = NotificationMessage(fsm: sub) }
        switch s {
        case .openSent:
            m[22] = openError.notification
            for e in [11, 25, 26, 27, 28] { m[e] = NotificationMessage(fsm: sub) }
            // OPEN is accepted: no NOTIFICATION for 19.
        case .openConfirm:
            m[22] = openError.notification
            for e in [19, 27, 28] { m[e] = NotificationMessage(fsm: sub) }
        default:
            m[22] = NotificationMessage(fsm: sub)
            m[19] = NotificationMessage(fsm: sub)
            m[28] = updateError.notification
        }
        t[s] = m
    }
    return t
}()

func fsm(in state: SessionState, config: SessionConfiguration = localConfig) -> SessionFSM {
    var f = SessionFSM(configuration: config, random: SplitMix64(seed: 42))
    switch state {
    case .idle: break
    case .connect: _ = f.handle(.manualStart(passive: false))
    case .active: _ = f.handle(.manualStart(passive: true))
    case .openSent, .openConfirm, .established:
        _ = f.handle(.manualStart(passive: false))
        _ = f.handle(.tcpConnectionAcknowledged)
        if state != .openSent { _ = f.handle(.openReceived(peerOpen)) }
        if state == .established { _ = f.handle(.keepaliveReceived) }
    }
    precondition(f.state == state)
    return f
}

func sentNotifications(_ actions: [SessionAction]) -> [NotificationMessage] {
    actions.compactMap { if case .send(.notification(let n)) = $0 { n } else { nil } }
}

@Suite struct SessionFSMTests {
    @Test(arguments: SessionState.allCases)
    func everyEventInEveryState(_ state: SessionState) {
        for (number, event) in rfcEvents {
            var f = fsm(in: state)
            let before = f.connectRetryCounter
            let actions = f.handle(event)
            let expected = expectedTransitions[state]?[number] ?? state
            #expect(f.state == expected, "\(state) × event \(number) → \(f.state), expected \(expected)")
            #expect(state.allowedNextStates.contains(f.state))
            let sent = sentNotifications(actions)
            if let n = expectedNotifications[state]?[number] {
                #expect(sent == [n], "\(state) × event \(number) sent \(sent)")
            } else {
                #expect(sent.isEmpty, "\(state) × event \(number) sent \(sent)")
            }
            if f.state == .idle && state != .idle {
                #expect(actions.contains(.disconnect), "\(state) × \(number)")
                #expect(f.runningTimers.isSubset(of: [.idleHold]))
                // ManualStop resets the counter and does not restart (§8.2.2).
                if number == 2 {
                    #expect(f.connectRetryCounter == 0)
                    #expect(!f.runningTimers.contains(.idleHold))
                }
            }
            if state == .established, f.state == .idle {
                #expect(actions.contains { if case .sessionDown = $0 { true } else { false } })
            }
            _ = before
        }
    }

    @Test func establishesWithNegotiatedParameters() throws {
        var f = SessionFSM(configuration: localConfig, random: SplitMix64(seed: 1))
        var a = f.handle(.manualStart(passive: false))
        #expect(a.contains(.connect))
        #expect(a.contains { if case .startTimer(.connectRetry, let s) = $0 { s >= 3.75 && s <= 5 } else { false } })
        a = f.handle(.tcpConnectionAcknowledged)
        #expect(a.contains(.send(.open(localConfig.openMessage))))
        #expect(a.contains(.startTimer(.hold, seconds: 240)))
        #expect(f.state == .openSent)
        a = f.handle(.openReceived(peerOpen))
        #expect(a.contains(.send(.keepalive)))
        #expect(a.contains(.startTimer(.hold, seconds: 30)))
        #expect(a.contains { if case .startTimer(.keepalive, let s) = $0 { s >= 7.5 && s <= 10 } else { false } })
        a = f.handle(.keepaliveReceived)
        #expect(f.state == .established)
        guard case .sessionUp(let n)? = a.last else { Issue.record("no sessionUp"); return }
        #expect(n.holdTime == 30 && n.keepaliveTime == 10)
        #expect(n.peerAS == 65002 && n.peerIdentifier == IPv4Address(10, 0, 0, 2))
        #expect(n.fourOctetAS)
        #expect(n.families == [.ipv4Unicast])
        #expect(n.addPathReceive == [.ipv4Unicast] && n.addPathSend.isEmpty)
        #expect(n.routeRefresh && !n.enhancedRouteRefresh)
        #expect(!n.extendedMessage)
        #expect(n.gracefulNotification)
        #expect(n.peerGracefulRestart?.restartTime == 60)
        #expect(n.peerHostname == "peer.lab")
        #expect(n.receiveContext.addPath == [.ipv4Unicast])
        // RFC 9687 send hold timer: max(8 min, 2 × hold).
        #expect(a.contains(.startTimer(.sendHold, seconds: 480)))
        // Keepalive every hold/3, restarted on expiry.
        a = f.handle(.timerExpired(.keepalive))
        #expect(a.first == .send(.keepalive))
        a = f.handle(.timerExpired(.sendHold))
        #expect(sentNotifications(a) == [NotificationMessage(.sendHoldTimerExpired)])
        #expect(f.state == .idle)
    }

    @Test func holdTimeNegotiation() throws {
        func negotiate(_ mine: UInt16, _ theirs: UInt16) throws(BGPError) -> NegotiatedSession {
            var c = localConfig
            c.holdTime = mine
            var o = peerOpen
            o.holdTime = theirs
            return try NegotiatedSession.negotiate(local: c, peer: o)
        }
        #expect(try negotiate(90, 30).holdTime == 30)
        #expect(try negotiate(9, 180).holdTime == 9)
        #expect(try negotiate(9, 180).keepaliveTime == 3)
        #expect(try negotiate(0, 90).holdTime == 0)
        #expect(try negotiate(90, 0).keepaliveTime == 0)
        var c = localConfig
        c.minimumHoldTime = 10
        var o = peerOpen
        o.holdTime = 5
        #expect(throws: BGPError(.unacceptableHoldTime(5), NotificationMessage(open: .unacceptableHoldTime))) {
            try NegotiatedSession.negotiate(local: c, peer: o)
        }
        // Hold time 0: no keepalive or hold timer in OpenConfirm.
        var zero = peerOpen
        zero.holdTime = 0
        var f = fsm(in: .openSent)
        let a = f.handle(.openReceived(zero))
        #expect(f.state == .openConfirm)
        #expect(!a.contains { if case .startTimer(.keepalive, _) = $0 { true } else { false } })
        #expect(!f.runningTimers.contains(.hold))
    }

    @Test func openChecks() {
        var wrongAS = peerOpen
        wrongAS = OpenMessage(asNumber: 65009, holdTime: 30, bgpIdentifier: IPv4Address(10, 0, 0, 2), capabilities: [])
        var f = fsm(in: .openSent)
        var a = f.handle(.openReceived(wrongAS))
        #expect(sentNotifications(a) == [NotificationMessage(open: .badPeerAS)])
        #expect(f.state == .idle)
        // iBGP peer with our own identifier.
        var ibgp = localConfig
        ibgp.peerAS = 65001
        f = fsm(in: .openSent, config: ibgp)
        a = f.handle(.openReceived(OpenMessage(asNumber: 65001, holdTime: 30, bgpIdentifier: IPv4Address(10, 0, 0, 1), capabilities: [])))
        #expect(sentNotifications(a) == [NotificationMessage(open: .badBGPIdentifier)])
        // 4-octet AS: AS_TRANS in the 2-octet field is fine; a different small AS is not.
        var big = localConfig
        big.peerAS = 4_200_000_000
        #expect((try? NegotiatedSession.negotiate(local: big, peer: OpenMessage(asNumber: 4_200_000_000, holdTime: 30, bgpIdentifier: IPv4Address(1, 1, 1, 1), capabilities: [])))?.peerAS == 4_200_000_000)
        var lying = OpenMessage(asNumber: 4_200_000_000, holdTime: 30, bgpIdentifier: IPv4Address(1, 1, 1, 1), capabilities: [])
        lying.myAS = 65002
        #expect(throws: BGPError.self) { try NegotiatedSession.negotiate(local: big, peer: lying) }
        // A peer without the 4-octet capability (an OLD speaker) is identified by the 2-octet field.
        let old = OpenMessage(myAS: 65002, holdTime: 30, bgpIdentifier: IPv4Address(1, 1, 1, 1), capabilityParameters: [])
        let n = try? NegotiatedSession.negotiate(local: localConfig, peer: old)
        #expect(n?.fourOctetAS == false)
        #expect(n?.families == [.ipv4Unicast])
    }

    @Test func connectRetryBacksOffWithCapAndJitter() {
        var c = localConfig
        c.connectRetryTime = 2
        c.connectRetryMaximum = 30
        var f = SessionFSM(configuration: c, random: SplitMix64(seed: 7))
        _ = f.handle(.manualStart(passive: true))
        var delays: [Double] = []
        for _ in 0..<8 {
            // Active × TcpConnectionFails: counter + 1, Idle, IdleHold with backoff.
            let a = f.handle(.tcpConnectionFails)
            #expect(f.state == .idle)
            for case .startTimer(.idleHold, let s) in a { delays.append(s) }
            _ = f.handle(.timerExpired(.idleHold))
            #expect(f.state == .active)
        }
        let nominal = [4.0, 8, 16, 30, 30, 30, 30, 30]
        #expect(delays.count == 8)
        for (d, n) in zip(delays, nominal) {
            #expect(d >= 0.75 * n && d <= n, "\(d) vs \(n)")
        }
        // Different seeds give different jitter; the same seed the same.
        var g1 = SessionFSM(configuration: c, random: SplitMix64(seed: 1)), g2 = g1
        var g3 = SessionFSM(configuration: c, random: SplitMix64(seed: 2))
        let x1 = g1.handle(.manualStart(passive: false)), x2 = g2.handle(.manualStart(passive: false)), x3 = g3.handle(.manualStart(passive: false))
        #expect(x1 == x2)
        #expect(x1 != x3)
    }

    @Test func delayOpen() {
        var c = localConfig
        c.delayOpenTime = 5
        var f = fsm(in: .connect, config: c)
        var a = f.handle(.tcpConnectionAcknowledged)
        #expect(f.state == .connect)
        #expect(f.runningTimers.contains(.delayOpen))
        #expect(!a.contains { if case .send = $0 { true } else { false } })
        // Event 20: OPEN while DelayOpen runs → send OPEN + KEEPALIVE, OpenConfirm.
        var g = f
        a = g.handle(.openReceived(peerOpen))
        #expect(g.state == .openConfirm)
        #expect(a.contains(.send(.open(c.openMessage))) && a.contains(.send(.keepalive)))
        // Event 12: DelayOpen expires → OPEN, OpenSent.
        a = f.handle(.timerExpired(.delayOpen))
        #expect(f.state == .openSent)
        // Event 18 in Connect with DelayOpen running → Active.
        var h = fsm(in: .connect, config: c)
        _ = h.handle(.tcpConnectionAcknowledged)
        _ = h.handle(.tcpConnectionFails)
        #expect(h.state == .active)
        // Event 24 with DelayOpen running does not count as a failure.
        var k = fsm(in: .active, config: c)
        _ = k.handle(.tcpConnectionConfirmed)
        _ = k.handle(.notificationReceived(NotificationMessage(open: .unsupportedVersionNumber)))
        #expect(k.state == .idle && k.connectRetryCounter == 0)
    }

    @Test func rfc7606ErrorsKeepTheSession() {
        var f = fsm(in: .established)
        var a = f.handle(.decodeError(BGPError(.invalidOrigin(5), NotificationMessage(update: .invalidOriginAttribute), .treatAsWithdraw)))
        #expect(f.state == .established && sentNotifications(a).isEmpty)
        a = f.handle(.decodeError(BGPError(.malformedMPReach(.ipv6Unicast), NotificationMessage(update: .optionalAttributeError), .afiSafiDisable(.ipv6Unicast))))
        #expect(f.state == .established && a.contains(.disableFamily(.ipv6Unicast)))
        a = f.handle(.updateReceived)
        #expect(a == [.startTimer(.hold, seconds: 30)])
    }

    @Test func collisionResolutionByIdentifier() {
        #expect(CollisionResolution.keep(localIdentifier: IPv4Address(10, 0, 0, 2), remoteIdentifier: IPv4Address(10, 0, 0, 1)) == .locallyInitiated)
        #expect(CollisionResolution.keep(localIdentifier: IPv4Address(10, 0, 0, 1), remoteIdentifier: IPv4Address(10, 0, 0, 2)) == .remotelyInitiated)
        var f = fsm(in: .openConfirm)
        let a = f.handle(.openCollisionDump)
        #expect(sentNotifications(a) == [NotificationMessage(cease: .connectionCollisionResolution)])
    }

    @Test func randomEventSequencesStayWithinTheRFC() {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<200 {
            var f = SessionFSM(configuration: localConfig, random: SplitMix64(seed: rng.next()))
            for _ in 0..<50 {
                let before = f.state
                _ = f.handle(rfcEvents[Int(rng.next() % UInt64(rfcEvents.count))].1)
                #expect(before.allowedNextStates.contains(f.state))
            }
        }
    }
}
