@testable import BGP
import IPAddressing
import NIOCore
import Testing

@Suite struct FramingTests {
    @Test func keepalive() throws {
        let bytes = try roundTrip(.keepalive)
        #expect(bytes == [UInt8](repeating: 0xFF, count: 16) + [0, 19, 4])
    }

    @Test func streamDecodingWaitsForWholeMessages() throws {
        let one = BGPMessage.keepalive.encoded(context: ctx4)
        var buf = ByteBuffer(bytes: one + one.prefix(10))
        #expect(try BGPMessage.decode(from: &buf, context: ctx4)?.message == .keepalive)
        #expect(try BGPMessage.decode(from: &buf, context: ctx4) == nil)
        #expect(buf.readableBytes == 10)
        buf.writeBytes(one.dropFirst(10))
        #expect(try BGPMessage.decode(from: &buf, context: ctx4)?.message == .keepalive)
        #expect(buf.readableBytes == 0)
        let all = BGPMessage.decodeAll(one + one + one, context: ctx4)
        #expect(all.messages.count == 3 && all.error == nil)
    }

    @Test func markerNotAllOnes() throws {
        var bytes = BGPMessage.keepalive.encoded(context: ctx4)
        bytes[3] = 0
        let e = try #require(decodeError(bytes))
        #expect(e.notification == NotificationMessage(code: 1, subcode: 1))
        #expect(e.action == .sessionReset)
    }

    @Test(arguments: [0, 18, 4097, 65535])
    func badLength(_ length: Int) throws {
        var bytes = [UInt8](repeating: 0xFF, count: 16) + [UInt8(length >> 8), UInt8(length & 0xFF), 4]
        bytes += [UInt8](repeating: 0, count: max(0, length - 19))
        let e = try #require(decodeError(bytes))
        #expect(e.notification == NotificationMessage(code: 1, subcode: 2, data: [UInt8(length >> 8), UInt8(length & 0xFF)]))
    }

    @Test func extendedMessageAllowsLargeUpdatesOnlyWhenNegotiated() throws {
        let nlri = (0..<2000).map { IPv4NLRI(IPv4Prefix(host: IPv4Address(0x0A00_0000 + UInt32($0)))) }
        let m = BGPMessage.update(UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath(sequence: [65001])), .nextHop(ip4("10.0.0.1"))]), nlri: nlri))
        let ext = CodecContext(fourOctetAS: true, extendedMessage: true)
        let bytes = try roundTrip(m, context: ext)
        #expect(bytes.count > 4096)
        let e = try #require(decodeError(bytes, context: ctx4))
        #expect(e.notification.code == 1 && e.notification.subcode == 2)
        // OPEN and KEEPALIVE stay within 4096 even then (RFC 8654 §3).
        let bigOpen = frame(1, [4, 0xFD, 0xE9, 0, 90, 1, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 4100))
        #expect(decodeError(bigOpen, context: ext)?.notification.subcode == 2)
    }

    @Test(arguments: [0, 6, 200])
    func badType(_ t: UInt8) throws {
        let e = try #require(decodeError(frame(t, [])))
        #expect(e.notification == NotificationMessage(code: 1, subcode: 3, data: [t]))
    }

    @Test func perTypeMinimumLengths() throws {
        // KEEPALIVE with a body, OPEN under 29, UPDATE under 23, NOTIFICATION under 21.
        for (t, body) in [(UInt8(4), [UInt8(0)]), (1, [4, 0, 1]), (2, [0, 0]), (3, [6])] {
            let bytes = frame(t, body)
            let e = try #require(decodeError(bytes))
            #expect(e.notification == NotificationMessage(code: 1, subcode: 2, data: [0, UInt8(bytes.count)]), "type \(t)")
        }
    }

    @Test func trailingAndTruncatedBytesAreErrors() throws {
        let one = BGPMessage.keepalive.encoded(context: ctx4)
        #expect(decodeError(one + [0]) != nil)
        #expect(decodeError(Array(one.prefix(18))) != nil)
        let partial = BGPMessage.decodeAll(one + one.prefix(5), context: ctx4)
        #expect(partial.messages.count == 1)
        #expect(partial.error != nil)
    }
}

@Suite struct OpenTests {
    static let allCapabilities: [Capability] = [
        .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast),
        .routeRefresh, .enhancedRouteRefresh, .extendedMessage,
        .fourOctetAS(4_200_000_001),
        .gracefulRestart(GracefulRestartCapability(restarting: true, notification: true, restartTime: 120, families: [
            .init(.ipv4Unicast, forwardingPreserved: true), .init(.ipv6Unicast, forwardingPreserved: false),
        ])),
        .addPath([AddPathFamily(.ipv4Unicast, .both), AddPathFamily(.ipv6Unicast, .receive)]),
        .extendedNextHop([.ipv4UnicastOverIPv6]),
        .fqdn(hostname: "node-1", domain: "example.net"),
        .unknown(code: 71, value: [0, 1, 1, 0x80, 0, 0, 0x10]),
        .unknown(code: 128, value: []),
    ]

    @Test func everyCapabilityRoundTrips() throws {
        let open = OpenMessage(asNumber: 4_200_000_001, holdTime: 90, bgpIdentifier: ip4("192.0.2.1"), capabilities: Self.allCapabilities)
        #expect(open.myAS == 23456)
        #expect(open.asNumber == 4_200_000_001)
        try roundTrip(.open(open))
        // One capability per optional parameter, as some peers send.
        var split = open
        split.capabilityParameters = open.capabilities.map { [$0] }
        try roundTrip(.open(split))
    }

    @Test func exactBytes() throws {
        let open = OpenMessage(myAS: 65001, holdTime: 9, bgpIdentifier: ip4("10.0.0.1"),
                               capabilityParameters: [[.multiprotocol(.ipv4Unicast), .routeRefresh, .fourOctetAS(65001)]])
        let bytes = try roundTrip(.open(open))
        #expect(bytes.dropFirst(19).map { $0 } == [4, 0xFD, 0xE9, 0, 9, 10, 0, 0, 1, 16,
                                                  2, 14, 1, 4, 0, 1, 0, 1, 2, 0, 65, 4, 0, 0, 0xFD, 0xE9])
    }

    @Test func gracefulRestartBits() throws {
        // R and N set, restart time 300, IPv4 with F, IPv6 without.
        let value: [UInt8] = [0xC1, 0x2C, 0, 1, 1, 0x80, 0, 2, 1, 0]
        let body: [UInt8] = [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, UInt8(value.count + 4), 2, UInt8(value.count + 2), 64, UInt8(value.count)] + value
        let d = try BGPMessage.decode(frame(1, body), context: .initial)
        guard case .open(let o) = d.message, case .gracefulRestart(let g) = o.capabilities.first else {
            Issue.record("not GR"); return
        }
        #expect(g.restarting && g.notification && g.restartTime == 300)
        #expect(g.families.map(\.forwardingPreserved) == [true, false])
        #expect(d.message.encoded(context: .initial) == frame(1, body))
    }

    @Test func extendedOptionalParameters() throws {
        // RFC 9072: forced, and automatic when capabilities exceed 255 octets.
        var open = OpenMessage(myAS: 65001, holdTime: 90, bgpIdentifier: ip4("10.0.0.1"), capabilityParameters: [[.routeRefresh]], extendedParameters: true)
        let bytes = try roundTrip(.open(open))
        #expect(bytes[28] == 255 && bytes[29] == 255)
        open.extendedParameters = false
        open.capabilityParameters = [(0..<60).map { _ in Capability.unknown(code: 200, value: [1, 2, 3]) }]
        let big = open.encoded()
        let d = try BGPMessage.decode(big, context: ctx4)
        guard case .open(let o) = d.message else { Issue.record("not OPEN"); return }
        #expect(o.extendedParameters)
        #expect(o.capabilities == open.capabilities)
    }

    @Test func unsupportedVersion() throws {
        let e = try #require(decodeError(frame(1, [3, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 0])))
        #expect(e.notification == NotificationMessage(code: 2, subcode: 1, data: [0, 4]))
        #expect(e.reason == .unsupportedVersion(3))
    }

    @Test(arguments: [UInt16(1), 2])
    func unacceptableHoldTime(_ h: UInt16) throws {
        let e = try #require(decodeError(frame(1, [4, 0xFD, 0xE9, 0, UInt8(h), 1, 2, 3, 4, 0])))
        #expect(e.notification == NotificationMessage(code: 2, subcode: 6))
    }

    @Test func zeroIdentifierAndZeroAS() throws {
        #expect(decodeError(frame(1, [4, 0xFD, 0xE9, 0, 90, 0, 0, 0, 0, 0]))?.notification == NotificationMessage(code: 2, subcode: 3))
        #expect(decodeError(frame(1, [4, 0, 0, 0, 90, 1, 1, 1, 1, 0]))?.notification == NotificationMessage(code: 2, subcode: 2))
        // RFC 7607: AS 0 in the 4-octet capability.
        #expect(decodeError(frame(1, [4, 0xFD, 0xE9, 0, 90, 1, 1, 1, 1, 8, 2, 6, 65, 4, 0, 0, 0, 0]))?.notification == NotificationMessage(code: 2, subcode: 2))
    }

    @Test func unsupportedOptionalParameter() throws {
        let e = try #require(decodeError(frame(1, [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 3, 1, 1, 0])))
        #expect(e.notification == NotificationMessage(code: 2, subcode: 4))
    }

    @Test func malformedParameterLengths() throws {
        // Opt Parm Len larger than what follows, a capability running past its parameter, a bad MP length.
        for body: [UInt8] in [
            [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 5, 2, 0],
            [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 4, 2, 2, 1, 4],
            [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 5, 2, 3, 1, 1, 0],
            [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 4, 2, 2, 2, 1],  // route refresh with a value
            [4, 0xFD, 0xE9, 0, 90, 1, 2, 3, 4, 8, 2, 6, 69, 4, 0, 1, 1, 9],  // ADD-PATH mode 9
        ] {
            let e = try #require(decodeError(frame(1, body)))
            #expect(e.notification.code == 2 && e.notification.subcode == 0, "\(body)")
        }
    }
}

@Suite struct NotificationAndRefreshTests {
    @Test func everyCodeAndSubcodeRoundTripsWithNames() throws {
        var pairs: [(UInt8, UInt8)] = []
        for s in MessageHeaderSubcode.allCases { pairs.append((1, s.rawValue)) }
        for s in OpenSubcode.allCases { pairs.append((2, s.rawValue)) }
        for s in UpdateSubcode.allCases { pairs.append((3, s.rawValue)) }
        pairs.append((4, 0))
        for s in FSMSubcode.allCases { pairs.append((5, s.rawValue)) }
        for s in CeaseSubcode.allCases { pairs.append((6, s.rawValue)) }
        pairs += [(7, 1), (8, 0), (99, 7)]
        for (c, s) in pairs {
            let n = NotificationMessage(code: c, subcode: s, data: [1, 2])
            try roundTrip(.notification(n))
            if c != 99 {
                #expect(!n.subcodeName.hasPrefix("Unknown"), "\(c)/\(s)")
                #expect(n.knownCode != nil)
            }
        }
        #expect(NotificationMessage(code: 6, subcode: 2).description == "Cease (6) / Administrative Shutdown (2)")
        #expect(NotificationMessage(code: 3, subcode: 11).subcodeName == "Malformed AS_PATH")
    }

    @Test func shutdownCommunication() throws {
        let n = NotificationMessage.cease(.administrativeShutdown, communication: "maintenance, back at 18:00 ✓")
        try roundTrip(.notification(n))
        #expect(n.shutdownCommunication == "maintenance, back at 18:00 ✓")
        #expect(n.data.first == UInt8(n.data.count - 1))
        // Too long: cut to 255 octets on a character boundary.
        let long = NotificationMessage.cease(.administrativeReset, communication: String(repeating: "é", count: 200))
        #expect(long.data.count <= 256)
        #expect(long.shutdownCommunication?.count == 127)
        // Malformed (length past the data, bad UTF-8) is ignored, not an error.
        #expect(NotificationMessage(code: 6, subcode: 2, data: [9, 65]).shutdownCommunication == nil)
        #expect(NotificationMessage(code: 6, subcode: 2, data: [1, 0xFF]).shutdownCommunication == nil)
        #expect(NotificationMessage(code: 6, subcode: 3, data: [1, 65]).shutdownCommunication == nil)
    }

    @Test func routeRefreshSubtypes() throws {
        for s in [RouteRefreshMessage.Subtype.normal, .beginning, .end] {
            try roundTrip(.routeRefresh(RouteRefreshMessage(family: .ipv6Unicast, subtype: s)))
        }
        // Reserved subtypes decode (to be ignored by the session, RFC 7313 §5).
        let d = try BGPMessage.decode(frame(5, [0, 1, 7, 1]), context: ctx4)
        #expect(d.message == .routeRefresh(RouteRefreshMessage(family: .ipv4Unicast, rawSubtype: 7)))
    }

    @Test func routeRefreshBadLength() throws {
        let bytes = frame(5, [0, 1, 1, 1, 0])
        let e = try #require(decodeError(bytes))
        #expect(e.notification == NotificationMessage(code: 7, subcode: 1, data: bytes))
        #expect(decodeError(frame(5, [0, 1]))?.notification.code == 7)
    }
}

extension OpenMessage {
    func encoded() -> [UInt8] { BGPMessage.open(self).encoded(context: ctx4) }
}
