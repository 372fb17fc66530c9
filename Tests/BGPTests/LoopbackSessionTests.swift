@testable import BGP
import IPAddressing
import NIOCore
import Testing

/// Two speakers, each a SessionFSM plus the codec, joined by in-memory byte
/// streams instead of TCP: every message goes through encode and decode with
/// the contexts the FSM negotiated, so the pieces are checked together.
@Suite struct LoopbackSessionTests {
    struct Speaker {
        var fsm: SessionFSM
        var inbox = ByteBuffer()
        var received: [DecodedMessage] = []
        var up: NegotiatedSession?
        var down: SessionDownReason?
        var sendContext: CodecContext { fsm.negotiated?.sendContext ?? .initial }
        var receiveContext: CodecContext { fsm.negotiated?.receiveContext ?? .initial }
    }

    /// Applies actions: messages go to the other side's inbox.
    func apply(_ actions: [SessionAction], from a: inout Speaker, to b: inout Speaker) {
        for action in actions {
            switch action {
            case .send(let m): m.encode(into: &b.inbox, context: a.sendContext)
            case .sessionUp(let n): a.up = n
            case .sessionDown(let r): a.down = r
            default: break
            }
        }
    }

    /// Delivers everything queued, in both directions, until quiet.
    func pump(_ a: inout Speaker, _ b: inout Speaker) throws {
        var progress = true
        while progress {
            progress = false
            for flip in [false, true] {
                var (x, y) = flip ? (b, a) : (a, b)
                while let d = try BGPMessage.decode(from: &x.inbox, context: x.receiveContext) {
                    progress = true
                    x.received.append(d)
                    let event: SessionEvent = switch d.message {
                    case .open(let o): .openReceived(o)
                    case .keepalive: .keepaliveReceived
                    case .update: .updateReceived
                    case .notification(let n): .notificationReceived(n)
                    case .routeRefresh: .routeRefreshReceived
                    }
                    apply(x.fsm.handle(event), from: &x, to: &y)
                }
                if flip { (b, a) = (x, y) } else { (a, b) = (x, y) }
            }
        }
    }

    /// A connects actively, B listens; the TCP connection comes up on both
    /// sides and the OPEN exchange runs to the end.
    func connect(_ left: SessionConfiguration, _ right: SessionConfiguration) throws -> (Speaker, Speaker) {
        var a = Speaker(fsm: SessionFSM(configuration: left, random: SplitMix64(seed: 1)))
        var b = Speaker(fsm: SessionFSM(configuration: right, random: SplitMix64(seed: 2)))
        apply(a.fsm.handle(.manualStart(passive: false)), from: &a, to: &b)
        apply(b.fsm.handle(.manualStart(passive: true)), from: &b, to: &a)
        apply(a.fsm.handle(.tcpConnectionAcknowledged), from: &a, to: &b)
        apply(b.fsm.handle(.tcpConnectionConfirmed), from: &b, to: &a)
        try pump(&a, &b)
        return (a, b)
    }

    @Test func establishExchangeRoutesAndShutDown() throws {
        let left = SessionConfiguration(localAS: 65001, peerAS: 4_200_000_002, bgpIdentifier: IPv4Address(10, 0, 0, 1), holdTime: 9,
                                        addPath: [AddPathFamily(.ipv4Unicast, .both)],
                                        gracefulRestart: GracefulRestartCapability(notification: true, restartTime: 90, families: [.init(.ipv4Unicast, forwardingPreserved: true)]),
                                        hostname: "left")
        let right = SessionConfiguration(localAS: 4_200_000_002, peerAS: 65001, bgpIdentifier: IPv4Address(10, 0, 0, 2), holdTime: 30, passive: true,
                                         addPath: [AddPathFamily(.ipv4Unicast, .receive)])
        var (a, b) = try connect(left, right)
        #expect(a.fsm.state == .established && b.fsm.state == .established)
        let na = try #require(a.up), nb = try #require(b.up)
        #expect(na.holdTime == 9 && nb.holdTime == 9)
        #expect(na.peerAS == 4_200_000_002 && nb.peerAS == 65001)
        // A sends path IDs (B receives them); B does not send any.
        #expect(na.addPathSend == [.ipv4Unicast] && na.addPathReceive.isEmpty)
        #expect(nb.addPathReceive == [.ipv4Unicast] && nb.addPathSend.isEmpty)
        #expect(nb.peerHostname == "left")
        #expect(nb.peerGracefulRestart?.families.first?.forwardingPreserved == true)
        #expect(!na.gracefulNotification)  // B did not offer N

        // A announces two paths for one prefix, then End-of-RIB.
        let attrs = PathAttributes([.origin(.igp), .asPath(ASPath(sequence: [65001])), .nextHop(IPv4Address(10, 0, 0, 1))])
        let paths = [IPv4NLRI(IPv4Prefix("10.1.0.0/24")!, pathID: 1), IPv4NLRI(IPv4Prefix("10.1.0.0/24")!, pathID: 2)]
        for u in UpdateMessage.packing(ipv4: paths, attributes: attrs, context: na.sendContext) + [.endOfRIB(.ipv4Unicast)] {
            apply([.send(.update(u))], from: &a, to: &b)
        }
        try pump(&a, &b)
        let updates = b.received.compactMap { d -> UpdateMessage? in if case .update(let u) = d.message { u } else { nil } }
        #expect(updates.flatMap(\.nlri) == paths)
        #expect(updates.last?.endOfRIB == .ipv4Unicast)
        #expect(b.fsm.state == .established)

        // A shuts down with a message; B goes down with the reason.
        apply(a.fsm.handle(.manualStop(.cease(.administrativeShutdown, communication: "maintenance"))), from: &a, to: &b)
        try pump(&a, &b)
        #expect(a.fsm.state == .idle && b.fsm.state == .idle)
        guard case .notificationReceived(let n)? = b.down else { Issue.record("B not down: \(String(describing: b.down))"); return }
        #expect(n.shutdownCommunication == "maintenance")
        guard case .notificationSent? = a.down else { Issue.record("A not down"); return }
    }

    @Test func openRefusedWithTheRightNotification() throws {
        let left = SessionConfiguration(localAS: 65001, peerAS: 65099, bgpIdentifier: IPv4Address(10, 0, 0, 1))
        let right = SessionConfiguration(localAS: 65002, peerAS: 65001, bgpIdentifier: IPv4Address(10, 0, 0, 2), passive: true)
        let (a, b) = try connect(left, right)
        // A expected AS 65099 and refuses B's OPEN with Bad Peer AS; B hears it.
        #expect(a.fsm.state == .idle && b.fsm.state == .idle)
        let notes = b.received.compactMap { d -> NotificationMessage? in if case .notification(let n) = d.message { n } else { nil } }
        #expect(notes == [NotificationMessage(open: .badPeerAS)])
    }
}
