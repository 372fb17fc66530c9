import BGP
import IPAddressing
import Testing
@testable import BGPRIB

@Suite("Advertisement: split horizon, route reflection (RFC 4456 §8), export attributes")
struct AdvertisementTests {
    let client1 = peer("10.1.0.1", client: true), client2 = peer("10.1.0.2", client: true)
    let nonClient = peer("10.1.0.3"), external = peer("192.0.2.1", asn: 64501)

    @Test func reflectionMatrix() {
        let fromClient = path(from: client1), fromNonClient = path(from: nonClient), fromExternal = path(from: external)
        func may(_ p: Path, _ to: RIBPeer, _ s: RIBSpeaker = speaker) -> Bool { Advertisement.mayAdvertise(p, to: to, speaker: s) }
        // From a client: to the other clients and to non-clients, never back.
        #expect(may(fromClient, client2) && may(fromClient, nonClient) && !may(fromClient, client1))
        // From a non-client: to clients only (iBGP split horizon otherwise).
        #expect(may(fromNonClient, client1) && !may(fromNonClient, peer("10.1.0.4")))
        // eBGP-learned: to every iBGP peer; anything to eBGP peers.
        #expect(may(fromExternal, client1) && may(fromExternal, nonClient) && may(fromNonClient, peer("192.0.2.9", asn: 64509)))
        // Client-to-client reflection off (clients meshed among themselves).
        var meshed = speaker
        meshed.clientToClientReflection = false
        #expect(!may(fromClient, client2, meshed) && may(fromClient, nonClient, meshed))
    }

    @Test func wellKnownCommunities() {
        let noExport = path(from: nonClient, [.communities([.noExport])])
        #expect(!Advertisement.mayAdvertise(noExport, to: external, speaker: speaker))
        #expect(Advertisement.mayAdvertise(noExport, to: client1, speaker: speaker))
        let noAdvertise = path(from: external, [.communities([.noAdvertise])])
        #expect(!Advertisement.mayAdvertise(noAdvertise, to: client1, speaker: speaker))
    }

    @Test func reflectedPathsKeepTheirNextHopAndRecordTheirWay() {
        let local = IPAddress("10.1.0.100")!
        let p = path(from: client1, [.localPref(150)], nextHop: "10.244.0.7")
        let (a, hop) = Advertisement.exported(p, to: client2, speaker: speaker, localAddress: local)
        #expect(hop == IPAddress("10.244.0.7")!, "a reflector never rewrites the next hop")
        #expect(a.originatorID == client1.routerID && a.clusterList == [speaker.clusterID] && a.localPref == 150)
        // Reflected again by another reflector: the originator stays, clusters add up.
        let other = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.2")!)
        let again = Path(prefix: prefix, peer: peer("10.0.0.1"), pathID: 0, attributes: InternedAttributes(a, nextHop: hop))
        let (b, _) = Advertisement.exported(again, to: peer("10.1.0.9", client: true), speaker: other, localAddress: local)
        #expect(b.originatorID == client1.routerID && b.clusterList == [other.clusterID, speaker.clusterID])
    }

    @Test func toAnotherAS() {
        let local = IPAddress("192.0.2.100")!
        let learned = path(from: peer("192.0.2.7", asn: 64507), [.multiExitDisc(7), .localPref(120)])
        let (a, hop) = Advertisement.exported(learned, to: external, speaker: speaker, localAddress: local)
        #expect(hop == local)
        #expect(a.asPath?.segments.first?.asns == [65000, 64507], "our AS prepended")
        #expect(a.localPref == nil && a.multiExitDisc == nil, "no LOCAL_PREF; a neighbour's MED is not passed on (RFC 4271 §5.1.4)")
        let internalPath = path(from: client1, [.multiExitDisc(3), .originatorID(IPv4Address("1.2.3.4")!), .clusterList([speaker.clusterID])])
        let (b, _) = Advertisement.exported(internalPath, to: external, speaker: speaker, localAddress: local)
        #expect(b.multiExitDisc == 3 && b.originatorID == nil && b.clusterList.isEmpty && b.asPath?.segments.first?.asns == [65000])
        // eBGP-learned to iBGP: next hop kept unless next-hop-self.
        let (_, kept) = Advertisement.exported(learned, to: nonClient, speaker: speaker, localAddress: IPAddress("10.1.0.100")!)
        #expect(kept == learned.nextHop)
        let (_, own) = Advertisement.exported(learned, to: nonClient, speaker: speaker, localAddress: IPAddress("10.1.0.100")!, nextHopSelf: true)
        #expect(own == IPAddress("10.1.0.100")!)
    }
}
