@testable import BGP
import IPAddressing
import Testing

@Suite struct SessionCheckTests {
    func session(isInternal: Bool = false, fourOctet: Bool = true, families: Set<AddressFamily> = [.ipv4Unicast, .ipv6Unicast]) throws -> NegotiatedSession {
        let peerAS: UInt32 = isInternal ? 65001 : 65002
        let config = SessionConfiguration(localAS: 65001, peerAS: peerAS, bgpIdentifier: ip4("10.0.0.1"), families: Array(families))
        var caps: [Capability] = families.map { .multiprotocol($0) }
        if fourOctet { caps.append(.fourOctetAS(peerAS)) }
        let open = OpenMessage(myAS: UInt16(peerAS), holdTime: 90, bgpIdentifier: ip4("10.0.0.2"), capabilityParameters: [caps])
        return try NegotiatedSession.negotiate(local: config, peer: open)
    }

    func update(_ attrs: [PathAttributeValue]) -> UpdateMessage {
        UpdateMessage(attributes: PathAttributes([.origin(.igp), .nextHop(ip4("10.0.0.2"))] + attrs), nlri: [v4("10.1.0.0/16")])
    }

    @Test func externalPeerMustPutItsASFirst() throws {
        let s = try session()
        #expect(update([.asPath(ASPath(sequence: [65002, 7]))]).checked(for: s).1.isEmpty)
        let (_, e) = update([.asPath(ASPath(sequence: [65009, 7]))]).checked(for: s)
        #expect(e.map(\.action) == [.treatAsWithdraw])
        #expect(e.first?.notification == NotificationMessage(update: .malformedASPath))
        // Route servers may leave their AS out.
        #expect(update([.asPath(ASPath(sequence: [65009]))]).checked(for: s, enforceFirstAS: false).1.isEmpty)
        // Confederation segments from outside the confederation.
        let confed = update([.asPath(ASPath([ASPathSegment(.confedSequence, [65100]), ASPathSegment(.sequence, [65002])]))]).checked(for: s)
        #expect(confed.1.map(\.action) == [.treatAsWithdraw])
        // iBGP: no first-AS rule.
        #expect(update([.asPath(ASPath())]).checked(for: try session(isInternal: true)).1.isEmpty)
    }

    @Test func internalOnlyAttributesFromExternalPeersAreDiscarded() throws {
        let u = update([.asPath(ASPath(sequence: [65002])), .localPref(500), .originatorID(ip4("1.1.1.1")), .clusterList([ip4("2.2.2.2")])])
        let (out, e) = u.checked(for: try session())
        #expect(e.count == 3 && e.allSatisfy { $0.action == .attributeDiscard })
        #expect(out.attributes.localPref == nil && out.attributes.originatorID == nil && out.attributes.clusterList.isEmpty)
        let (same, none) = u.checked(for: try session(isInternal: true))
        #expect(none.isEmpty && same == u)
    }

    @Test func as4AttributesIgnoredBetweenNewSpeakers() throws {
        let u = update([.asPath(ASPath(sequence: [65002])), .as4Path(ASPath(sequence: [4_200_000_000]))])
        let (out, e) = u.checked(for: try session())
        #expect(out.attributes.as4Path == nil && e.map(\.action) == [.attributeDiscard])
        #expect(u.checked(for: try session(fourOctet: false)).1.isEmpty)
    }

    @Test func familiesNotNegotiatedAreIgnored() throws {
        let u = UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: nil), nlri: .ipv6([v6("2001:db8::/32")]))),
            .origin(.igp), .asPath(ASPath(sequence: [65002])),
        ]))
        let (out, e) = u.checked(for: try session(families: [.ipv4Unicast]))
        #expect(out.attributes.mpReach == nil && e.map(\.action) == [.attributeDiscard])
    }

    @Test func extendedNextHopOnlyWhenNegotiated() throws {
        let u = UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: .ipv4Unicast, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: nil), nlri: .ipv4([v4("10.0.0.0/8")]))),
            .origin(.igp), .asPath(ASPath(sequence: [65002])),
        ]))
        #expect(u.checked(for: try session()).1.map(\.action) == [.treatAsWithdraw])
        var s = try session()
        s.extendedNextHop = [.ipv4UnicastOverIPv6]
        #expect(u.checked(for: s).1.isEmpty)
    }

    @Test func rfc7607ZeroAS() throws {
        let tests: [([UInt8], ErrorAction)] = [
            (attr(0x40, 2, [2, 1, 0, 0, 0, 0]), .treatAsWithdraw),          // AS_PATH with AS 0
            (attr(0xC0, 7, [0, 0, 0, 0, 1, 2, 3, 4]), .attributeDiscard),    // AGGREGATOR AS 0
            (attr(0xC0, 18, [0, 0, 0, 0, 1, 2, 3, 4]), .attributeDiscard),   // AS4_AGGREGATOR AS 0
            (attr(0xC0, 17, [2, 1, 0, 0, 0, 0]), .attributeDiscard),         // AS4_PATH with AS 0
        ]
        for (a, action) in tests {
            var attrs = attr(0x40, 1, [0]) + attr(0x40, 3, [10, 0, 0, 1])
            if a[1] != 2 { attrs += attr(0x40, 2, []) }
            let d = try BGPMessage.decode(frame(2, updateBody(attributes: attrs + a, nlri: [8, 10])), context: ctx4)
            #expect(d.action == action, "\(a)")
        }
    }

    @Test func as4PathReconstruction() {
        // RFC 6793 §4.2.3: AS_PATH 65001 23456 23456 65002, AS4_PATH 4200000001 4200000002 65002.
        var a = PathAttributes([
            .asPath(ASPath(sequence: [65001, 23456, 23456, 65002])),
            .as4Path(ASPath(sequence: [4_200_000_001, 4_200_000_002, 65002])),
            .aggregator(Aggregator(asn: 23456, address: ip4("1.1.1.1"))),
            .as4Aggregator(Aggregator(asn: 4_200_000_009, address: ip4("1.1.1.1"))),
        ])
        var r = a.effectiveASPath(fourOctetSession: false)
        #expect(r.asPath == ASPath(sequence: [65001, 4_200_000_001, 4_200_000_002, 65002]))
        #expect(r.aggregator?.asn == 4_200_000_009)
        // On a 4-octet session nothing is merged.
        #expect(a.effectiveASPath(fourOctetSession: true).asPath == a.asPath)
        // AGGREGATOR not AS_TRANS: AS4_PATH and AS4_AGGREGATOR are ignored.
        a.set(.aggregator(Aggregator(asn: 65005, address: ip4("1.1.1.1"))))
        r = a.effectiveASPath(fourOctetSession: false)
        #expect(r.asPath == a.asPath && r.aggregator?.asn == 65005)
        // An AS4_PATH longer than AS_PATH is ignored.
        let b = PathAttributes([.asPath(ASPath(sequence: [23456])), .as4Path(ASPath(sequence: [1, 2]))])
        #expect(b.effectiveASPath(fourOctetSession: false).asPath == b.asPath)
        // Sets count one.
        let c = PathAttributes([.asPath(ASPath([ASPathSegment(.sequence, [65001]), ASPathSegment(.set, [23456, 65003])])),
                                .as4Path(ASPath([ASPathSegment(.set, [4_200_000_001, 65003])]))])
        #expect(c.effectiveASPath(fourOctetSession: false).asPath == ASPath([ASPathSegment(.sequence, [65001]), ASPathSegment(.set, [4_200_000_001, 65003])]))
    }
}
