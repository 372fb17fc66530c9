import BGP
import IPAddressing
import FuzzSupport

let configuration = SessionConfiguration(
    localAS: 65001, peerAS: 65002, bgpIdentifier: IPv4Address(10, 0, 0, 1), holdTime: 9,
    delayOpenTime: nil, addPath: [AddPathFamily(.ipv4Unicast, .both)])

func open(holdTime: UInt16, asn: UInt32, id: UInt32) -> OpenMessage {
    OpenMessage(asNumber: asn, holdTime: holdTime, bgpIdentifier: IPv4Address(id), capabilities: [.multiprotocol(.ipv4Unicast), .routeRefresh])
}

/// Events a byte can pick; OPENs vary in hold time, AS and identifier so
/// both the accept and the refuse paths run.
let events: [SessionEvent] = [
    .manualStart(passive: false), .manualStart(passive: true), .manualStop(nil), .automaticStart(passive: false),
    .automaticStart(passive: true), .automaticStop(nil),
    .timerExpired(.connectRetry), .timerExpired(.hold), .timerExpired(.keepalive), .timerExpired(.delayOpen),
    .timerExpired(.idleHold), .timerExpired(.sendHold),
    .tcpConnectionValid, .tcpConnectionInvalid, .tcpConnectionAcknowledged, .tcpConnectionConfirmed, .tcpConnectionFails,
    .openReceived(open(holdTime: 30, asn: 65002, id: 0x0A00_0002)), .openReceived(open(holdTime: 0, asn: 65002, id: 0x0A00_0002)),
    .openReceived(open(holdTime: 30, asn: 65003, id: 0x0A00_0002)), .openReceived(open(holdTime: 3, asn: 65002, id: 0x0A00_0001)),
    .decodeError(BGPError(.markerNotAllOnes, NotificationMessage(header: .connectionNotSynchronized))),
    .decodeError(BGPError(.unsupportedVersion(3), NotificationMessage(open: .unsupportedVersionNumber))),
    .decodeError(BGPError(.invalidNetworkField(.ipv4Unicast), NotificationMessage(update: .invalidNetworkField))),
    .decodeError(BGPError(.invalidOrigin(4), NotificationMessage(update: .invalidOriginAttribute), .treatAsWithdraw)),
    .decodeError(BGPError(.malformedMPReach(.ipv6Unicast), NotificationMessage(update: .optionalAttributeError), .afiSafiDisable(.ipv6Unicast))),
    .decodeError(BGPError(.routeRefreshLength(24), NotificationMessage(.routeRefreshMessageError, subcode: 1))),
    .openCollisionDump,
    .notificationReceived(NotificationMessage(open: .unsupportedVersionNumber)), .notificationReceived(NotificationMessage(cease: .hardReset)),
    .keepaliveReceived, .updateReceived, .routeRefreshReceived, .sendProgress,
]

/// Properties: never traps; every step is one of §8.2.2's transitions; and
/// the actions agree with the transition (OPEN only on the way to OpenSent /
/// OpenConfirm, up only into Established, down only out of it, Idle holds no
/// timer but IdleHold).
func fuzzFSM(_ input: [UInt8]) {
    guard let seed = input.first else { return }
    var fsm = SessionFSM(configuration: configuration, random: SplitMix64(seed: UInt64(seed)))
    for byte in input.dropFirst() {
        let before = fsm.state
        let actions = fsm.handle(events[Int(byte) % events.count])
        let after = fsm.state
        precondition(before.allowedNextStates.contains(after), "\(before) → \(after) is not an RFC 4271 transition")
        for a in actions {
            switch a {
            case .send(.open):
                precondition((before == .connect || before == .active) && (after == .openSent || after == .openConfirm), "OPEN sent \(before)→\(after)")
            case .sessionUp:
                precondition(before == .openConfirm && after == .established, "up \(before)→\(after)")
            case .sessionDown:
                precondition(before == .established && after == .idle, "down \(before)→\(after)")
            case .startTimer(let t, let s):
                precondition(s >= 0 && s.isFinite, "timer \(t) \(s)")
            case .send(.keepalive):
                precondition(after != .idle || before == .openConfirm, "keepalive in \(after)")
            default: break
            }
        }
        if after == .idle { precondition(fsm.runningTimers.isSubset(of: [.idleHold]), "timers in Idle: \(fsm.runningTimers)") }
        if after == .established { precondition(fsm.negotiated != nil) }
        if after == .openConfirm || after == .established, let n = fsm.negotiated {
            precondition(n.holdTime == 0 || n.holdTime >= 3)
            precondition(n.keepaliveTime == n.holdTime / 3)
        }
    }
}

#if FUZZING
@_cdecl("FuzzBGPFSM_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzFSM)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzBGPFSM", fuzzFSM) }
}
#endif
