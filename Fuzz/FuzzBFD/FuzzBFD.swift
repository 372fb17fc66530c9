import BFD
import BGP
import FuzzSupport

/// Events a byte can pick: the peer's packets in each state with and
/// without P, F and C, other discriminators, authentication, both timers
/// (stale ones too), administration and reconfiguration.
func peerPacket(_ state: BFDState, poll: Bool = false, final: Bool = false, c: Bool = false, your: UInt32 = 7,
                tx: UInt32 = 100_000, rx: UInt32 = 100_000, mult: UInt8 = 3) -> BFDEvent {
    .received(BFDControlPacket(state: state, poll: poll, final: final, controlPlaneIndependent: c, detectMultiplier: mult,
                               myDiscriminator: 9, yourDiscriminator: state == .down || state == .adminDown ? 0 : your,
                               desiredMinTxInterval: tx, requiredMinRxInterval: rx))
}

let auth = BFDControlPacket(state: .up, detectMultiplier: 3, myDiscriminator: 9, yourDiscriminator: 7, desiredMinTxInterval: 1,
                            requiredMinRxInterval: 1, authentication: BFDAuthentication(type: 1, data: [1, 0]))
let events: [BFDEvent] = BFDState.allCases.flatMap { s in
    [peerPacket(s), peerPacket(s, poll: true), peerPacket(s, final: true), peerPacket(s, c: true),
     peerPacket(s, tx: 1_000_000, rx: 0), peerPacket(s, tx: 10_000, rx: 2_000_000, mult: 1), peerPacket(s, your: 8)]
} + [
    .received(auth), .timerExpired(.transmit), .timerExpired(.transmit), .timerExpired(.detection), .timerExpired(.detection),
    .adminDown(.administrativelyDown), .adminDown(.pathDown), .adminUp,
    .reconfigure(BFDSessionConfiguration(desiredMinTxInterval: 300_000, requiredMinRxInterval: 50_000, detectMultiplier: 2)),
    .reconfigure(BFDSessionConfiguration(desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000, detectMultiplier: 3)),
    .reconfigure(BFDSessionConfiguration(desiredMinTxInterval: 20_000, requiredMinRxInterval: 0, detectMultiplier: 1, passive: true)),
]

let allowed: [BFDState: Set<BFDState>] = [.adminDown: [.down], .down: [.initial, .up, .adminDown],
                                          .initial: [.up, .down, .adminDown], .up: [.down, .adminDown]]

/// Decoder: never traps; a clean decode re-encodes to a packet that
/// decodes to the same value. FSM: only §6.8.6 transitions, each reported
/// once; every packet sent decodes; P and F never together; slow TX while
/// not Up; jitter within 75–100 %; no detection timer in AdminDown; polls
/// only while Up.
func fuzzBFD(_ input: [UInt8]) {
    guard let mode = input.first else { return }
    if mode & 1 == 0 {
        let bytes = input.dropFirst()
        if let p = try? BFDControlPacket.decode(bytes) {
            precondition((try? BFDControlPacket.decode(p.encode())) == p, "re-encode of \(p)")
            var s = BFDSession(configuration: BFDSessionConfiguration(desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000,
                                                                      detectMultiplier: 3), localDiscriminator: 7, random: SplitMix64(seed: 1))
            _ = s.start()
            _ = s.handle(.received(p))
        }
        return
    }
    guard input.count > 1 else { return }
    var s = BFDSession(configuration: BFDSessionConfiguration(desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000,
                                                              detectMultiplier: 3, passive: input[1] & 1 == 1),
                       localDiscriminator: 7, random: SplitMix64(seed: UInt64(input[1])))
    _ = s.start()
    for byte in input.dropFirst(2) {
        let before = s.state
        let actions = s.handle(events[Int(byte) % events.count])
        let reported = actions.compactMap { if case .stateChanged(let c) = $0 { c } else { nil } }
        if before == s.state {
            precondition(reported.isEmpty, "a change reported without one")
        } else {
            precondition(allowed[before]!.contains(s.state), "\(before) → \(s.state)")
            precondition(reported.count == 1 && reported[0].from == before && reported[0].to == s.state)
        }
        for a in actions {
            switch a {
            case .send(let p):
                precondition(!(p.poll && p.final), "P and F together")
                precondition((try? BFDControlPacket.decode(p.encode())) == p, "our packet does not decode: \(p)")
            case .startTimer(.transmit, let us):
                let i = UInt64(s.transmitInterval!)
                precondition(us >= i * 3 / 4 && us <= i, "jitter \(us) for \(i)")
            case .startTimer(.detection, let us):
                precondition(us > 0 && s.state != .adminDown)
            default: break
            }
        }
        if s.state != .up { precondition(s.advertisedDesiredMinTx >= 1_000_000 && !s.polling) }
        if s.state == .adminDown { precondition(!s.runningTimers.contains(.detection)) }
        if s.state == .up || s.state == .initial { precondition(s.remoteDiscriminator != 0) }
    }
}

#if FUZZING
@_cdecl("FuzzBFD_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzBFD)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzBFD", fuzzBFD) }
}
#endif
