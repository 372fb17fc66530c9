import BGP
import IPAddressing
import Testing
@testable import BGPRIB

@Suite("Adj-RIB-Out and update groups")
struct AdjRIBOutTests {
    let reflector = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!)
    let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: false)

    func clients(_ n: Int) -> [RIBPeer] { (1...n).map { peer("10.1.0.\($0)", routerID: "1.0.0.\($0)", client: true) } }

    func setUp(_ clients: [RIBPeer], external: RIBPeer? = nil, exportToExternal: RoutePolicy = .acceptAll)
        -> (rib: RIB, out: AdjRIBOut, peers: [IPAddress: RIBPeer]) {
        var rib = RIB(decision: DecisionProcess(speaker: reflector))
        var out = AdjRIBOut(speaker: reflector)
        var peers: [IPAddress: RIBPeer] = [:]
        for c in clients {
            rib.peerUp(c)
            peers[c.address] = c
            out.addPeer(c.address, OutputSettings(exportPolicy: .acceptAll, isInternal: true, isReflectorClient: true,
                                                  localAddress: IPAddress("10.0.0.1")!, context: context))
        }
        if let external {
            rib.peerUp(external, importPolicy: .acceptAll)
            peers[external.address] = external
            out.addPeer(external.address, OutputSettings(exportPolicy: exportToExternal, isInternal: false, isReflectorClient: false,
                                                         localAddress: IPAddress("192.0.2.100")!, context: context))
        }
        return (rib, out, peers)
    }

    func prefixes(_ updates: [UpdateMessage]?) -> [String] {
        (updates ?? []).flatMap { $0.reachableIPv4.map(\.prefix.description) + $0.reachableIPv6.map(\.prefix.description) }.sorted()
    }

    @Test func aClientsRouteIsReflectedToTheOthersOnceGroupedAndNeverBack() throws {
        let cs = clients(3)
        let ebgp = peer("192.0.2.1", asn: 64501)
        var (rib, out, peers) = setUp(cs, external: ebgp)
        #expect(out.groups.count == 2 && out.groups.contains { $0.members == 3 }, "three clients, one group; the eBGP peer another")
        let changes = rib.receive(update(["10.244.1.0/26"], [], nextHop: "10.1.0.1"), from: cs[0].address)
        let updates = out.apply(changes, peers: peers)
        #expect(updates[cs[0].address] == nil, "not back to its source")
        for c in cs.dropFirst() {
            let u = try #require(updates[c.address]?.first)
            #expect(prefixes(updates[c.address]) == ["10.244.1.0/26"])
            #expect(u.attributes.nextHop == IPv4Address("10.1.0.1")!, "reflected with its next hop")
            #expect(u.attributes.originatorID == cs[0].routerID && u.attributes.clusterList == [reflector.clusterID])
            // The UPDATE encodes and decodes as itself.
            let decoded = try BGPMessage.decode(BGPMessage.update(u).encoded(context: context), context: context)
            #expect(decoded.message == .update(u) && decoded.errors.isEmpty)
        }
        let toExternal = try #require(updates[ebgp.address]?.first)
        #expect(toExternal.attributes.nextHop == IPv4Address("192.0.2.100")! && toExternal.attributes.asPath?.segments.first?.asns == [65000])
        #expect(toExternal.attributes.localPref == nil && toExternal.attributes.originatorID == nil)
        // Withdrawn: every peer that had it hears so, once.
        let gone = out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), peers: peers)
        #expect(Set(gone.keys) == Set(cs.dropFirst().map(\.address) + [ebgp.address]))
        #expect(gone.values.allSatisfy { $0.count == 1 && $0[0].withdrawnIPv4.map(\.prefix.description) == ["10.244.1.0/26"] })
        #expect(out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), peers: peers).isEmpty)
    }

    @Test func exportPolicyAndManyPrefixesPacked() throws {
        let cs = clients(2)
        let ebgp = peer("192.0.2.1", asn: 64501)
        let onlyBlocks = RoutePolicy(terms: [.init(name: "blocks", matches: [.prefixList([.init(IPPrefix("10.244.0.0/16")!, ge: 26, le: 26)])],
                                                   actions: [.setMED(10)], disposition: .accept)], otherwise: .reject)
        var (rib, out, peers) = setUp(cs, external: ebgp, exportToExternal: onlyBlocks)
        var prefixesSent: [String] = []
        for i in 0..<1000 {
            prefixesSent.append("10.244.\(i / 4).\(i % 4 * 64)/26")
        }
        var changes = rib.receive(update(prefixesSent, [], nextHop: "10.1.0.1"), from: cs[0].address)
        changes += rib.receive(update(["10.244.250.7/32"], [], nextHop: "10.1.0.1"), from: cs[0].address)
        let updates = out.apply(changes, peers: peers)
        let toExternal = try #require(updates[ebgp.address])
        #expect(prefixes(toExternal) == prefixesSent.sorted(), "the /32 is not exported")
        #expect(toExternal.count > 1, "1000 prefixes (4000 bytes of NLRI) do not fit one 4096-byte UPDATE")
        #expect(toExternal.allSatisfy { $0.attributes.multiExitDisc == 10 && BGPMessage.update($0).encoded(context: context).count <= 4096 })
        #expect(prefixes(updates[cs[1].address]).count == 1001)
    }
}
