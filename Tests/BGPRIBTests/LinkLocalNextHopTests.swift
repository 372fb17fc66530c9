import BGP
import IPAddressing
import Testing
@testable import BGPRIB

/// RFC 2545 §3 next hops on IPv6 link-local sessions (unnumbered fabrics):
/// which address a received path keeps, what goes out, and that a
/// link-local next hop never leaves its link.
@Suite("Link-local next hops (RFC 2545, RFC 8950)")
struct LinkLocalNextHopTests {
    let speaker = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!)
    let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: false)
    let ll = IPv6Address("fe80::2")!

    func reach(_ prefix: String, global: String, linkLocal: String?) -> UpdateMessage {
        let nlri: NLRIList = prefix.contains(":") ? .ipv6([IPv6NLRI(IPv6Prefix(prefix)!)]) : .ipv4([IPv4NLRI(IPv4Prefix(prefix)!)])
        let family: AddressFamily = prefix.contains(":") ? .ipv6Unicast : .ipv4Unicast
        let hop = MPNextHop.ipv6(IPv6Address(global)!, linkLocal: linkLocal.map { IPv6Address($0)! })
        return UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath(sequence: [65001])),
                                                         .mpReachNLRI(MPReachNLRI(family: family, nextHop: hop, nlri: nlri))]))
    }

    func rib(with peers: [RIBPeer]) -> RIB {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        for p in peers { rib.peerUp(p, importPolicy: .acceptAll) }
        return rib
    }

    @Test func aLinkLocalPeersPathKeepsItsLinkLocalNextHop() {
        var scoped = peer("fe80::2", asn: 65001, routerID: "10.0.0.2")
        scoped.interfaceIndex = 7
        let global = peer("fd00::2", asn: 65001, routerID: "10.0.0.9")
        var rib = rib(with: [scoped, global])
        // From the link-local peer: the link-local address, even beside a global one.
        #expect(rib.receive(reach("fd00:98::/64", global: "fd00::2", linkLocal: "fe80::2"), from: scoped.address).first?.best.first?.nextHop
                == .v6(ll))
        // IPv4 over the same session (RFC 8950) too.
        #expect(rib.receive(reach("10.98.0.0/24", global: "fd00::2", linkLocal: "fe80::2"), from: scoped.address).first?.best.first?.nextHop
                == .v6(ll))
        // From a peer on a global session: the global address.
        #expect(rib.receive(reach("fd00:97::/64", global: "fd00::3", linkLocal: "fe80::3"), from: global.address).first?.best.first?.nextHop
                == IPAddress("fd00::3")!)
        // No usable global (`::`, or a link-local in its place): the link-local one.
        #expect(rib.receive(reach("fd00:96::/64", global: "::", linkLocal: "fe80::3"), from: global.address).first?.best.first?.nextHop
                == IPAddress("fe80::3")!)
        #expect(rib.receive(reach("fd00:95::/64", global: "fe80::4", linkLocal: nil), from: global.address).first?.best.first?.nextHop
                == IPAddress("fe80::4")!)
        #expect(RIB.nextHop(global: IPv6Address("fd00::3")!, linkLocal: nil, linkLocalPeer: true) == IPv6Address("fd00::3")!,
                "no link-local part: the global one")
    }

    func linkLocalSettings(global: String?) -> OutputSettings {
        var s = OutputSettings(exportPolicy: .acceptAll, isInternal: false, isReflectorClient: false,
                               localAddress: .v6(IPv6Address(global ?? "fe80::1")!), linkLocalAddress: IPv6Address("fe80::1")!,
                               context: context, families: [.ipv4Unicast, .ipv6Unicast])
        s.extendedNextHop = true
        return s
    }

    @Test func onALinkLocalSessionOurNextHopIsGlobalPlusLinkLocalOrLinkLocalAlone() throws {
        var rib = rib(with: [])
        _ = rib.originate(IPPrefix("fd00:244::/64")!, nextHop: .v6(IPv6Address(high: 0, low: 0)))
        _ = rib.originate(IPPrefix("10.244.0.0/24")!, nextHop: .v4(IPv4Address("10.0.0.1")!))
        for (global, expected) in [("fd00::1", MPNextHop.ipv6(IPv6Address("fd00::1")!, linkLocal: IPv6Address("fe80::1")!)),
                                   (nil, MPNextHop.ipv6(IPv6Address("fe80::1")!, linkLocal: nil))] {
            var out = AdjRIBOut(speaker: speaker)
            let sent = out.addPeer(IPAddress("fe80::2")!, linkLocalSettings(global: global), rib: rib).perPeer[IPAddress("fe80::2")!] ?? []
            let reaches = sent.compactMap(\.attributes.mpReach)
            let v6 = try #require(reaches.first { $0.family == .ipv6Unicast })
            let v4 = try #require(reaches.first { $0.family == .ipv4Unicast }, "IPv4 over the IPv6 session: RFC 8950")
            #expect(v6.nextHop == expected && v4.nextHop == expected, "global \(global ?? "none")")
            // The 32-octet form survives the wire.
            let bytes = sent.flatMap { BGPMessage.update($0).encoded(context: context) }
            let decoded = BGPMessage.decodeAll(bytes, context: context).messages.compactMap { d -> MPReachNLRI? in
                if case .update(let u) = d.message { u.attributes.mpReach } else { nil }
            }
            #expect(decoded.map(\.nextHop) == reaches.map(\.nextHop))
        }
    }

    @Test func aLinkLocalNextHopIsNeverPassedOn() throws {
        var scoped = peer("fe80::2", asn: 65001, routerID: "10.0.0.2")
        scoped.interfaceIndex = 7
        let client = peer("fd00::9", routerID: "10.0.0.9", client: true)
        var rib = rib(with: [scoped, client])
        var out = AdjRIBOut(speaker: speaker)
        _ = out.addPeer(client.address, OutputSettings(exportPolicy: .acceptAll, isInternal: true, isReflectorClient: true,
                                                       localAddress: IPAddress("fd00::1")!, context: context, families: [.ipv6Unicast]), rib: rib)
        let sent = out.apply(rib.receive(reach("fd00:98::/64", global: "fd00::2", linkLocal: "fe80::2"), from: scoped.address), rib: rib)
        let mp = try #require(sent.perPeer[client.address]?.first?.attributes.mpReach)
        #expect(mp.nextHop == .ipv6(IPv6Address("fd00::1")!, linkLocal: nil), "our address, not fe80::2 of another link")
        // From an iBGP peer, reflected: the same.
        var inner = peer("fe80::3", routerID: "10.0.0.3", client: true)
        inner.interfaceIndex = 8
        rib.peerUp(inner)
        let reflected = out.apply(rib.receive(reach("fd00:99::/64", global: "::", linkLocal: "fe80::3"), from: inner.address), rib: rib)
        #expect(reflected.perPeer[client.address]?.first?.attributes.mpReach?.nextHop == .ipv6(IPv6Address("fd00::1")!, linkLocal: nil))
    }
}
