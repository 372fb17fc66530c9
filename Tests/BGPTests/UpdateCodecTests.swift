@testable import BGP
import IPAddressing
import NIOCore
import Testing

@Suite struct UpdateRoundTripTests {
    static let everyAttribute: [PathAttributeValue] = [
        .origin(.incomplete),
        .asPath(ASPath([ASPathSegment(.confedSequence, [65010]), ASPathSegment(.sequence, [65001, 4_200_000_000]),
                        ASPathSegment(.set, [65003, 65004]), ASPathSegment(.confedSet, [65011])])),
        .nextHop(ip4("192.0.2.1")),
        .multiExitDisc(50),
        .localPref(200),
        .atomicAggregate,
        .aggregator(Aggregator(asn: 4_200_000_000, address: ip4("192.0.2.9"))),
        .communities([Community(asn: 65001, value: 7), .noExport, .blackhole]),
        .originatorID(ip4("10.9.9.9")),
        .clusterList([ip4("10.0.0.1"), ip4("10.0.0.2")]),
        .extendedCommunities([.routeTarget(asn: 65001, value: 100), ExtendedCommunity(rawValue: 0x4300_0000_0000_0001)]),
        .as4Path(ASPath(sequence: [4_200_000_000, 65001])),
        .as4Aggregator(Aggregator(asn: 4_200_000_000, address: ip4("192.0.2.9"))),
        .largeCommunities([LargeCommunity(4_200_000_000, 1, 2), LargeCommunity(65001, 0, 0)]),
        .unknown(type: 99, flags: AttributeFlags.optional | AttributeFlags.transitive, value: [1, 2, 3]),
        .unknown(type: 100, flags: AttributeFlags.optional, value: []),
    ]

    @Test func everyAttributeRoundTrips() throws {
        let u = UpdateMessage(withdrawn: [v4("10.1.0.0/16")], attributes: PathAttributes(Self.everyAttribute),
                              nlri: [v4("10.2.0.0/24"), v4("0.0.0.0/0"), v4("10.3.3.3/32"), v4("10.128.0.0/9")])
        try roundTrip(.update(u))
        // The 2-octet AS encoding of the same (ASes that fit).
        var two = u
        two.attributes.set(.asPath(ASPath([ASPathSegment(.sequence, [65001, 23456]), ASPathSegment(.set, [1, 2])])))
        two.attributes.set(.aggregator(Aggregator(asn: 23456, address: ip4("192.0.2.9"))))
        let ctx2 = CodecContext(fourOctetAS: false)
        try roundTrip(.update(two), context: ctx2)
        // On a 2-octet session, a 4-octet AS goes out as AS_TRANS.
        let d = try BGPMessage.decode(BGPMessage.update(u).encoded(context: ctx2), context: ctx2)
        guard case .update(let back) = d.message else { Issue.record("not an UPDATE"); return }
        #expect(back.attributes.asPath?.segments[1].asns == [65001, 23456])
        #expect(back.attributes.aggregator?.asn == 23456)
        #expect(back.attributes.as4Path == u.attributes.as4Path)
    }

    @Test func accessorsAndText() {
        let a = PathAttributes(Self.everyAttribute)
        #expect(a.origin == .incomplete)
        #expect(a.asPath?.selectionLength == 3)
        #expect(a.asPath?.description == "(65010) 65001 4200000000 {65003,65004} [65011]")
        #expect(a.nextHop == ip4("192.0.2.1"))
        #expect(a.multiExitDisc == 50 && a.localPref == 200 && a.atomicAggregate)
        #expect(a.communities.map(\.description) == ["65001:7", "no-export", "blackhole"])
        #expect(a.extendedCommunities.first?.description == "rt:65001:100")
        #expect(a.largeCommunities.first?.description == "4200000000:1:2")
        #expect(a.clusterList.count == 2 && a.originatorID == ip4("10.9.9.9"))
        #expect(a.as4Aggregator?.asn == 4_200_000_000)
    }

    @Test func unknownOptionalTransitiveIsPropagatedWithPartial() throws {
        let a = PathAttributes(Self.everyAttribute).forPropagation()
        let unknown = a.list.filter { if case .unknown = $0.value { true } else { false } }
        #expect(unknown.count == 1)  // the non-transitive one is dropped
        #expect(unknown.first?.partial == true)
        let bytes = try roundTrip(.update(UpdateMessage(attributes: a, nlri: [v4("10.0.0.0/8")])))
        // flags 0xE0: optional, transitive, partial.
        #expect(bytes.windowContains([0xE0, 99, 3, 1, 2, 3]))
    }

    @Test func mpReachAndUnreachIPv6() throws {
        let u = UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: ip6("fe80::1")),
                                     nlri: .ipv6([v6("2001:db8:1::/48"), v6("2001:db8:2::1/128"), v6("::/0"), v6("2001:db8:0:0:8000::/65")]))),
            .origin(.igp), .asPath(ASPath(sequence: [65001])),
            .mpUnreachNLRI(MPUnreachNLRI(family: .ipv6Unicast, withdrawn: .ipv6([v6("2001:db8:9::/48")]))),
        ]))
        try roundTrip(.update(u))
        #expect(u.reachableIPv6.count == 4 && u.withdrawnIPv6.count == 1)
        // 16-octet next hop, and extended next hop (IPv4 NLRI over IPv6, RFC 8950).
        let x = UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: .ipv4Unicast, nextHop: .ipv6(ip6("2001:db8::2"), linkLocal: nil), nlri: .ipv4([v4("10.0.0.0/24")]))),
            .origin(.igp), .asPath(ASPath(sequence: [65001])),
        ]))
        try roundTrip(.update(x))
        #expect(x.reachableIPv4 == [v4("10.0.0.0/24")])
        // A family Caracal does not interpret is kept raw.
        let vpn = UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: AddressFamily(afi: .ipv4, safi: SAFI(rawValue: 128)), nextHop: .raw([0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]), nlri: .raw([1, 2, 3]))),
            .origin(.igp), .asPath(ASPath()),
        ]))
        try roundTrip(.update(vpn))
    }

    @Test func addPathIDs() throws {
        let ctx = CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast, .ipv6Unicast])
        let u = UpdateMessage(withdrawn: [v4("10.9.0.0/16", pathID: 7)],
                              attributes: PathAttributes([
                                  .origin(.igp), .asPath(ASPath(sequence: [65001])), .nextHop(ip4("10.0.0.1")),
                                  .mpReachNLRI(MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: nil), nlri: .ipv6([v6("2001:db8::/64", pathID: 1), v6("2001:db8::/64", pathID: 2)]))),
                              ]),
                              nlri: [v4("10.0.0.0/24", pathID: 1), v4("10.0.0.0/24", pathID: 2)])
        let bytes = try roundTrip(.update(u), context: ctx)
        // Withdrawn: path ID 7, /16, two octets.
        #expect(Array(bytes[19..<28]) == [0, 7, 0, 0, 0, 7, 16, 10, 9])
        // Without ADD-PATH for IPv4 the same bytes are not the same NLRI.
        let other = try? BGPMessage.decode(bytes, context: CodecContext(fourOctetAS: true, addPath: [.ipv6Unicast]))
        #expect(other?.message != .update(u))
    }

    @Test func endOfRIB() throws {
        let e4 = UpdateMessage.endOfRIB(.ipv4Unicast)
        #expect(try roundTrip(.update(e4)) == frame(2, [0, 0, 0, 0]))
        let e6 = UpdateMessage.endOfRIB(.ipv6Unicast)
        #expect(try roundTrip(.update(e6)) == frame(2, [0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]))
        #expect(e4.endOfRIB == .ipv4Unicast)
        #expect(e6.endOfRIB == .ipv6Unicast)
        #expect(UpdateMessage(withdrawn: [v4("10.0.0.0/8")]).endOfRIB == nil)
    }

    @Test func extendedLengthFlagIsKept() throws {
        let u = UpdateMessage(attributes: PathAttributes([
            PathAttribute(.origin(.igp)), PathAttribute(.asPath(ASPath(sequence: [1])), extendedLength: true),
            PathAttribute(.nextHop(ip4("10.0.0.1"))),
        ]), nlri: [v4("10.0.0.0/8")])
        let bytes = try roundTrip(.update(u))
        #expect(bytes.windowContains([0x50, 2, 0, 6, 2, 1, 0, 0, 0, 1]))
    }

    @Test func packingFillsMessages() throws {
        let attrs = PathAttributes([.origin(.igp), .asPath(ASPath(sequence: [65001])), .nextHop(ip4("10.0.0.1")), .communities([Community(asn: 1, value: 2)])])
        let prefixes = (0..<3000).map { IPv4NLRI(IPv4Prefix(host: IPv4Address(0x0A00_0000 + UInt32($0)))) }
        for ctx in [ctx4, CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast]), CodecContext(fourOctetAS: true, extendedMessage: true)] {
            let msgs = UpdateMessage.packing(ipv4: prefixes.map { var p = $0; if !ctx.addPath.isEmpty { p.pathID = 1 }; return p }, attributes: attrs, context: ctx)
            var seen = 0
            for (i, m) in msgs.enumerated() {
                let bytes = BGPMessage.update(m).encoded(context: ctx)
                #expect(bytes.count <= ctx.maxMessageSize)
                // Every message but the last is full: one more prefix would not fit.
                if i < msgs.count - 1 { #expect(bytes.count + (ctx.addPath.isEmpty ? 5 : 9) > ctx.maxMessageSize) }
                #expect(try BGPMessage.decode(bytes, context: ctx).message == .update(m))
                seen += m.nlri.count
            }
            #expect(seen == 3000)
        }
        let v6s = (0..<1000).map { IPv6NLRI(IPv6Prefix(host: IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64($0)))) }
        let m6 = UpdateMessage.packing(ipv6: v6s, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: nil), attributes: attrs, context: ctx4)
        #expect(m6.reduce(0) { $0 + $1.reachableIPv6.count } == 1000)
        for (i, m) in m6.enumerated() {
            let n = BGPMessage.update(m).encoded(context: ctx4).count
            #expect(n <= 4096)
            if i < m6.count - 1 { #expect(n + 17 > 4096) }
        }
        let w = UpdateMessage.packing(withdrawIPv4: prefixes, context: ctx4)
        #expect(w.reduce(0) { $0 + $1.withdrawn.count } == 3000)
        let w6 = UpdateMessage.packing(withdrawIPv6: v6s, context: ctx4)
        #expect(w6.reduce(0) { $0 + $1.withdrawnIPv6.count } == 1000)
        for m in w + w6 { #expect(BGPMessage.update(m).encoded(context: ctx4).count <= 4096) }
    }
}

extension Array where Element == UInt8 {
    func windowContains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        for i in 0...(count - needle.count) where Array(self[i..<(i + needle.count)]) == needle { return true }
        return false
    }
}
