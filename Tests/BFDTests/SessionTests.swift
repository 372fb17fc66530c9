import BFD
import BGP
import Testing

typealias Session = BFDSession<SplitMix64>

let fast = BFDSessionConfiguration(desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000, detectMultiplier: 3)

func session(_ config: BFDSessionConfiguration = fast, discriminator: UInt32 = 7, seed: UInt64 = 1) -> Session {
    Session(configuration: config, localDiscriminator: discriminator, random: SplitMix64(seed: seed))
}

/// A peer's packet to our session 7 from its discriminator 9.
func peer(_ state: BFDState, poll: Bool = false, final: Bool = false, tx: UInt32 = 100_000, rx: UInt32 = 100_000, mult: UInt8 = 3,
          your: UInt32 = 7, c: Bool = false, diag: BFDDiagnostic = .none) -> BFDControlPacket {
    BFDControlPacket(diagnostic: diag, state: state, poll: poll, final: final, controlPlaneIndependent: c, detectMultiplier: mult,
                     myDiscriminator: 9, yourDiscriminator: state == .down || state == .adminDown ? (your == 7 ? 0 : your) : your,
                     desiredMinTxInterval: tx, requiredMinRxInterval: rx)
}

func sent(_ actions: [BFDAction]) -> [BFDControlPacket] {
    actions.compactMap { if case .send(let p) = $0 { p } else { nil } }
}

func changes(_ actions: [BFDAction]) -> [BFDStateChange] {
    actions.compactMap { if case .stateChanged(let c) = $0 { c } else { nil } }
}

func timer(_ t: BFDTimer, _ actions: [BFDAction]) -> UInt64? {
    actions.compactMap { if case .startTimer(t, let us) = $0 { us } else { nil } }.last
}

/// A session driven into `state` by a peer's packets (or admin down).
func session(in state: BFDState, _ config: BFDSessionConfiguration = fast) -> Session {
    var s = session(config)
    _ = s.start()
    switch state {
    case .down: break
    case .adminDown: _ = s.handle(.adminDown(.administrativelyDown))
    case .initial: _ = s.handle(.received(peer(.down)))
    case .up: _ = s.handle(.received(peer(.initial)))
    }
    precondition(s.state == state)
    return s
}

@Suite struct SessionTests {
    @Test func startsDownSendingSlowlyWithYourDiscriminatorZero() {
        var s = session()
        let a = s.start()
        let t = try! #require(timer(.transmit, a))
        #expect((750_000...1_000_000).contains(t), "§6.8.3: at least 1 s while not Up, jittered to 75–100 %")
        let p = sent(s.handle(.timerExpired(.transmit)))
        #expect(p == [BFDControlPacket(state: .down, detectMultiplier: 3, myDiscriminator: 7, yourDiscriminator: 0,
                                       desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 100_000)])
        #expect(s.detectionTime == nil, "no detection before the peer is heard")
    }

    @Test func passiveSessionWaitsForThePeer() {
        var config = fast
        config.passive = true
        var s = session(config)
        _ = s.start()
        #expect(sent(s.handle(.timerExpired(.transmit))).isEmpty)
        let a = s.handle(.received(peer(.down)))
        #expect(s.state == .initial)
        #expect(timer(.transmit, a) != nil)
        #expect(sent(s.handle(.timerExpired(.transmit))).first?.yourDiscriminator == 9)
    }

    /// §6.8.6's transitions: every local state × every received state.
    @Test func everyStateTimesEveryReceivedState() {
        let expected: [BFDState: [BFDState: (BFDState, BFDDiagnostic)]] = [
            .adminDown: [.adminDown: (.adminDown, .administrativelyDown), .down: (.adminDown, .administrativelyDown),
                         .initial: (.adminDown, .administrativelyDown), .up: (.adminDown, .administrativelyDown)],
            .down: [.adminDown: (.down, .none), .down: (.initial, .none), .initial: (.up, .none), .up: (.down, .none)],
            .initial: [.adminDown: (.down, .neighborSignaledSessionDown), .down: (.initial, .none), .initial: (.up, .none), .up: (.up, .none)],
            .up: [.adminDown: (.down, .neighborSignaledSessionDown), .down: (.down, .neighborSignaledSessionDown),
                  .initial: (.up, .none), .up: (.up, .none)],
        ]
        for local in BFDState.allCases {
            for remote in BFDState.allCases {
                var s = session(in: local)
                let a = s.handle(.received(peer(remote)))
                let (state, diag) = expected[local]![remote]!
                #expect(s.state == state, "\(local) + received \(remote)")
                #expect(s.localDiagnostic == diag, "\(local) + received \(remote)")
                #expect(changes(a).count == (state == local ? 0 : 1))
                if local == .adminDown {
                    #expect(s.lastDiscard == .adminDown)
                    #expect(timer(.detection, a) == nil)
                } else {
                    #expect(s.lastDiscard == nil)
                    #expect(timer(.detection, a) == 3 * 100_000 || remote != .up || local != .up)
                }
            }
        }
    }

    /// Every local state × every other event.
    @Test func everyStateTimesTimersAndAdministration() {
        for local in BFDState.allCases {
            // Transmit timer: one packet in the current state, timer again.
            var s = session(in: local)
            let a = s.handle(.timerExpired(.transmit))
            #expect(sent(a).map(\.state) == [local])
            #expect(timer(.transmit, a) != nil)
            // Detection timer: Init and Up go Down (diag 1); all forget the peer.
            s = session(in: local)
            let d = s.handle(.timerExpired(.detection))
            if local == .initial || local == .up {
                #expect(s.state == .down && s.localDiagnostic == .controlDetectionTimeExpired)
                #expect(changes(d).first?.isFailure == (local == .up))
            } else {
                #expect(s.state == local && changes(d).isEmpty)
            }
            if local != .adminDown { #expect(s.remoteDiscriminator == 0 && s.detectionTime == nil) }
            // Admin down: AdminDown, packet sent at once, detection stopped.
            s = session(in: local)
            let ad = s.handle(.adminDown(.administrativelyDown))
            #expect(s.state == .adminDown)
            if local != .adminDown {
                #expect(sent(ad).map(\.state) == [.adminDown] && sent(ad).first?.diagnostic == .administrativelyDown)
                #expect(!s.runningTimers.contains(.detection))
            } else {
                #expect(ad.isEmpty)
            }
            // Admin up: only from AdminDown, to Down.
            s = session(in: local)
            _ = s.handle(.adminUp)
            #expect(s.state == (local == .adminDown ? .down : local))
        }
    }

    @Test func staleTimerEventsAreIgnored() {
        var s = session(in: .up)
        _ = s.handle(.timerExpired(.detection))
        #expect(s.handle(.timerExpired(.detection)).isEmpty, "detection timer no longer running")
        var t = session()
        #expect(t.handle(.timerExpired(.transmit)).isEmpty, "not started")
    }

    @Test func upStartsAPollSequenceAndTheFinalEndsIt() {
        var s = session(in: .initial)
        let a = s.handle(.received(peer(.up)))
        #expect(s.state == .up && s.polling)
        #expect(s.advertisedDesiredMinTx == 100_000)
        // A decrease applies at once: fast transmission right away.
        let t = try! #require(timer(.transmit, a))
        #expect((75_000...100_000).contains(t))
        let p = sent(s.handle(.timerExpired(.transmit)))
        #expect(p.first?.poll == true && p.first?.desiredMinTxInterval == 100_000)
        _ = s.handle(.received(peer(.up, final: true)))
        #expect(!s.polling)
        #expect(sent(s.handle(.timerExpired(.transmit))).first?.poll == false)
    }

    @Test func aPollIsAnsweredAtOnceWithFinal() {
        var s = session(in: .up)
        let a = s.handle(.received(peer(.up, poll: true)))
        let f = sent(a)
        #expect(f.count == 1 && f[0].final && !f[0].poll)
    }

    @Test func slowConfigurationNeedsNoPoll() {
        let slow = BFDSessionConfiguration(desiredMinTxInterval: 2_000_000, requiredMinRxInterval: 2_000_000, detectMultiplier: 3)
        let s = session(in: .up, slow)
        #expect(!s.polling)
    }

    @Test func detectionTimeIsTheirMultiplierTimesTheSlowerOfOurRxAndTheirTx() {
        var s = session(in: .up)
        _ = s.handle(.received(peer(.up, tx: 300_000, mult: 5)))
        #expect(s.detectionTime == 5 * 300_000)
        let a = s.handle(.received(peer(.up, tx: 50_000, mult: 2)))
        #expect(s.detectionTime == 2 * 100_000)
        #expect(timer(.detection, a) == 200_000)
    }

    @Test func transmitIntervalHonoursTheirRequiredRxAndJitter() {
        for mult: UInt8 in [1, 3] {
            var config = fast
            config.detectMultiplier = mult
            var s = session(in: .up, config)
            _ = s.handle(.received(peer(.up, final: true, rx: 400_000)))
            #expect(s.transmitInterval == 400_000)
            var seen: [UInt64] = []
            for _ in 0..<2000 { seen.append(timer(.transmit, s.handle(.timerExpired(.transmit)))!) }
            let top: UInt64 = mult == 1 ? 360_000 : 400_000
            #expect(seen.allSatisfy { (300_000...top).contains($0) }, "§6.8.7: 75–\(mult == 1 ? 90 : 100) %")
            #expect(seen.min()! < 310_000 && seen.max()! > top - 10_000, "the whole range is used")
        }
        // RemoteMinRx 0: the peer wants no packets.
        var s = session(in: .up)
        let a = s.handle(.received(peer(.up, rx: 0)))
        #expect(s.transmitInterval == nil && a.contains(.stopTimer(.transmit)))
    }

    @Test func remoteAdminDownIsNotAFailure() {
        var s = session(in: .up)
        let a = s.handle(.received(peer(.adminDown, diag: .administrativelyDown)))
        let c = try! #require(changes(a).first)
        #expect(c.to == .down && c.diagnostic == .neighborSignaledSessionDown && c.remoteState == .adminDown && !c.isFailure)
        var t = session(in: .up)
        let b = t.handle(.received(peer(.down)))
        #expect(changes(b).first?.isFailure == true)
    }

    @Test func theCBitIsRecordedAndReported() {
        var s = session(in: .up)
        _ = s.handle(.received(peer(.up, c: true)))
        #expect(s.remoteControlPlaneIndependent)
        let a = s.handle(.timerExpired(.detection))
        #expect(changes(a).first?.remoteControlPlaneIndependent == true)
        #expect(s.packet().controlPlaneIndependent == false, "Caracal's BFD shares fate with the agent")
    }

    @Test func discardsAuthenticationAndForeignDiscriminators() {
        var s = session(in: .up)
        var p = peer(.down)
        p.authentication = BFDAuthentication(type: 1, data: [1, 0, 0x41])
        #expect(s.handle(.received(p)).isEmpty && s.lastDiscard == .authenticationNotConfigured && s.state == .up)
        #expect(s.handle(.received(peer(.down, your: 8))).isEmpty && s.lastDiscard == .discriminatorMismatch && s.state == .up)
    }

    @Test func reconfigurationWhileUpWaitsForTheFinal() {
        var s = session(in: .up)
        _ = s.handle(.received(peer(.up, final: true)))
        #expect(!s.polling && s.transmitInterval == 100_000)
        let slower = BFDSessionConfiguration(desiredMinTxInterval: 500_000, requiredMinRxInterval: 50_000, detectMultiplier: 3)
        _ = s.handle(.reconfigure(slower))
        #expect(s.polling && s.advertisedDesiredMinTx == 500_000)
        #expect(s.transmitInterval == 100_000, "an increase waits for the Final")
        #expect(s.detectionTime == 300_000, "a decrease of RX waits for the Final")
        _ = s.handle(.received(peer(.up, final: true, tx: 50_000)))
        #expect(!s.polling && s.transmitInterval == 500_000 && s.detectionTime == 150_000)
        // While not Up: at once, no poll.
        var d = session()
        _ = d.start()
        let a = d.handle(.reconfigure(slower))
        #expect(!d.polling && d.advertisedDesiredMinTx == 1_000_000 && a.isEmpty)
    }

    @Test func goingDownReturnsToTheSlowRate() {
        var s = session(in: .up)
        _ = s.handle(.received(peer(.up, final: true)))
        let a = s.handle(.timerExpired(.detection))
        #expect(s.advertisedDesiredMinTx == 1_000_000)
        #expect((750_000...1_000_000).contains(timer(.transmit, a) ?? 0))
    }
}
