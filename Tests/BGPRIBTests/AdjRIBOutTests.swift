import BGP
import IPAddressing
import Testing
@testable import BGPRIB

@Suite("Adj-RIB-Out and update groups")
struct AdjRIBOutTests {
    let reflector = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!)
    let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: false)

    func clients(_ n: Int) -> [RIBPeer] { (1...n).map { peer("10.1.0.\($0)", routerID: "1.0.0.\($0)", client: true) } }

    func clientSettings(_ context: CodecContext? = nil) -> OutputSettings {
        OutputSettings(exportPolicy: .acceptAll, isInternal: true, isReflectorClient: true, localAddress: IPAddress("10.0.0.1")!,
                       context: context ?? self.context)
    }

    func setUp(_ clients: [RIBPeer], external: RIBPeer? = nil, exportToExternal: RoutePolicy = .acceptAll) -> (rib: RIB, out: AdjRIBOut) {
        var rib = RIB(decision: DecisionProcess(speaker: reflector))
        var out = AdjRIBOut(speaker: reflector)
        for c in clients {
            rib.peerUp(c)
            _ = out.addPeer(c.address, clientSettings(), rib: rib)
        }
        if let external {
            rib.peerUp(external, importPolicy: .acceptAll)
            _ = out.addPeer(external.address, OutputSettings(exportPolicy: exportToExternal, isInternal: false, isReflectorClient: false,
                                                             localAddress: IPAddress("192.0.2.100")!, context: context), rib: rib)
        }
        return (rib, out)
    }

    func prefixes(_ updates: [UpdateMessage]?) -> [String] {
        (updates ?? []).flatMap { $0.reachableIPv4.map(\.prefix.description) + $0.reachableIPv6.map(\.prefix.description) }.sorted()
    }

    @Test func aGroupIsComputedAndEncodedOnceAndItsSourceDropsItsOwnReflection() throws {
        let cs = clients(3)
        let ebgp = peer("192.0.2.1", asn: 64501)
        var (rib, out) = setUp(cs, external: ebgp)
        #expect(out.groups.count == 2 && out.groups.contains { $0.members == 3 }, "three clients, one group; the eBGP peer another")
        let output = out.apply(rib.receive(update(["10.244.1.0/26"], [], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib)
        #expect(output.count == 2)
        let group = try #require(output.first { $0.members.count == 3 })
        #expect(group.members == cs.map(\.address), "the group's members share one list of UPDATEs")
        let u = try #require(group.messages.first)
        #expect(prefixes(group.messages) == ["10.244.1.0/26"])
        #expect(u.attributes.nextHop == IPv4Address("10.1.0.1")!, "reflected with its next hop")
        // The source is in the group: it gets the reflection with its own
        // ORIGINATOR_ID, which RFC 4456 §8 makes it ignore (FRR's groups).
        #expect(u.attributes.originatorID == cs[0].routerID && u.attributes.clusterList == [reflector.clusterID])
        #expect(group.encoded == group.messages.flatMap { BGPMessage.update($0).encoded(context: context) }, "encoded once, for all")
        let decoded = try BGPMessage.decode(group.encoded, context: context)
        #expect(decoded.message == .update(u) && decoded.errors.isEmpty)
        let toExternal = try #require(output.perPeer[ebgp.address]?.first)
        #expect(toExternal.attributes.nextHop == IPv4Address("192.0.2.100")! && toExternal.attributes.asPath?.segments.first?.asns == [65000])
        #expect(toExternal.attributes.localPref == nil && toExternal.attributes.originatorID == nil)
        // Withdrawn: every member hears so, once.
        let gone = out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), rib: rib).perPeer
        #expect(Set(gone.keys) == Set(cs.map(\.address) + [ebgp.address]))
        #expect(gone.values.allSatisfy { $0.count == 1 && $0[0].withdrawnIPv4.map(\.prefix.description) == ["10.244.1.0/26"] })
        #expect(out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), rib: rib).isEmpty)
    }

    @Test func aGroupOfOneIsNeverSentItsOwnPaths() {
        let ebgp = peer("192.0.2.1", asn: 64501)
        var (rib, out) = setUp(clients(1), external: ebgp)
        let sent = out.apply(rib.receive(update(["10.99.0.0/24"], [.asPath(ASPath(sequence: [64501]))], nextHop: "192.0.2.1"), from: ebgp.address), rib: rib).perPeer
        #expect(sent[ebgp.address] == nil, "its own route is not sent back to the eBGP peer")
        #expect(prefixes(sent[IPAddress("10.1.0.1")!]) == ["10.99.0.0/24"])
        // A client's path replaces it as best: the eBGP peer now gets that one.
        let better = out.apply(rib.receive(update(["10.99.0.0/24"], [.localPref(300)], nextHop: "10.1.0.1"), from: IPAddress("10.1.0.1")!), rib: rib).perPeer
        #expect(prefixes(better[ebgp.address]) == ["10.99.0.0/24"])
        #expect(better[IPAddress("10.1.0.1")!]?.first?.withdrawnIPv4.map(\.prefix.description) == ["10.99.0.0/24"],
                "the client, alone in its group, loses the eBGP path and is not sent its own")
    }

    @Test func aGroupOfOneKeepsNoEntriesForItsOwnPathsUntilASecondMemberJoins() throws {
        let cs = clients(2)
        var (rib, out) = setUp([cs[0]])
        let p = rib.receive(update((0..<100).map { "10.244.\($0).0/24" }, [], nextHop: "10.1.0.1"), from: cs[0].address)
        #expect(out.apply(p, rib: rib).isEmpty, "nothing to send to the only member: its own paths")
        #expect(out.advertisedCount(to: cs[0].address) == 0, "and no view entries for them (a ToR's full table costs nothing here)")
        rib.peerUp(cs[1])
        let joined = out.addPeer(cs[1].address, clientSettings(), rib: rib).perPeer
        #expect(prefixes(joined[cs[1].address]).count == 100, "the newcomer gets the table")
        #expect(prefixes(joined[cs[0].address]).count == 100, "the first member now gets its own reflected too, as every member of a group does")
        #expect(out.advertisedCount(to: cs[0].address) == 100 && out.groups.count == 1)
    }

    @Test func exportPolicyAndManyPrefixesPacked() throws {
        let cs = clients(2)
        let ebgp = peer("192.0.2.1", asn: 64501)
        let onlyBlocks = RoutePolicy(terms: [.init(name: "blocks", matches: [.prefixList([.init(IPPrefix("10.244.0.0/16")!, ge: 26, le: 26)])],
                                                   actions: [.setMED(10)], disposition: .accept)], otherwise: .reject)
        var (rib, out) = setUp(cs, external: ebgp, exportToExternal: onlyBlocks)
        let sentPrefixes = (0..<1000).map { "10.244.\($0 / 4).\($0 % 4 * 64)/26" }
        var changes = rib.receive(update(sentPrefixes, [], nextHop: "10.1.0.1"), from: cs[0].address)
        changes += rib.receive(update(["10.244.250.7/32"], [], nextHop: "10.1.0.1"), from: cs[0].address)
        let updates = out.apply(changes, rib: rib).perPeer
        let toExternal = try #require(updates[ebgp.address])
        #expect(prefixes(toExternal) == sentPrefixes.sorted(), "the /32 is not exported")
        #expect(toExternal.count > 1, "1000 prefixes (4000 bytes of NLRI) do not fit one 4096-byte UPDATE")
        #expect(toExternal.allSatisfy { $0.attributes.multiExitDisc == 10 && BGPMessage.update($0).encoded(context: context).count <= 4096 })
        #expect(prefixes(updates[cs[1].address]).count == 1001)
    }

    @Test func aNewPeerGetsTheTableAndEndOfRIBAndAChangedPolicyOnlyTheDifference() throws {
        let cs = clients(1)
        var (rib, out) = setUp(cs)
        _ = out.apply(rib.receive(update(["10.244.1.0/26", "10.244.2.0/26", "10.8.0.0/16"], [], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib)
        let ebgp = peer("192.0.2.1", asn: 64501)
        rib.peerUp(ebgp, importPolicy: .acceptAll)
        let v6Too = OutputSettings(exportPolicy: .acceptAll, isInternal: false, isReflectorClient: false, localAddress: IPAddress("192.0.2.100")!,
                                   context: context, families: [.ipv4Unicast, .ipv6Unicast])
        let initial = out.addPeer(ebgp.address, v6Too, rib: rib).perPeer[ebgp.address] ?? []
        #expect(prefixes(initial) == ["10.244.1.0/26", "10.244.2.0/26", "10.8.0.0/16"].sorted())
        #expect(initial.suffix(2).map(\.endOfRIB) == [.ipv4Unicast, .ipv6Unicast], "End-of-RIB per family once the table went out")
        // Only the blocks from now on: one withdrawal, nothing re-announced.
        var narrowed = v6Too
        narrowed.exportPolicy = RoutePolicy(terms: [.init(name: "blocks", matches: [.prefixList([.init(IPPrefix("10.244.0.0/16")!, ge: 26)])],
                                                          disposition: .accept)], otherwise: .reject)
        let diff = out.addPeer(ebgp.address, narrowed, rib: rib).perPeer[ebgp.address] ?? []
        #expect(diff.count == 1 && diff[0].withdrawnIPv4.map(\.prefix.description) == ["10.8.0.0/16"] && prefixes(diff).isEmpty)
        #expect(out.groups.count == 2 && out.advertisedCount(to: ebgp.address) == 2)
    }

    @Test func addPathSendsEveryPathOrTheBestNWithPathIDs() throws {
        let cs = clients(3)
        var (rib, out) = setUp(Array(cs.prefix(2)))
        rib.reportsEveryPathChange = true
        let addPath = CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast])
        rib.peerUp(cs[2])
        var all = clientSettings(addPath)
        all.addPathSend = [.ipv4Unicast: .all]
        _ = out.addPeer(cs[2].address, all, rib: rib)
        _ = out.apply(rib.receive(update(["10.244.1.0/26"], [.localPref(100)], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib)
        let second = out.apply(rib.receive(update(["10.244.1.0/26"], [.localPref(50)], nextHop: "10.1.0.2"), from: cs[1].address), rib: rib).perPeer
        #expect(second[cs[0].address] == nil, "without ADD-PATH a worse path changes nothing")
        let viaAddPath = try #require(second[cs[2].address])
        #expect(viaAddPath.flatMap(\.reachableIPv4).map(\.pathID) == [2], "the second-best path, as path ID 2")
        let bytes = viaAddPath.flatMap { BGPMessage.update($0).encoded(context: addPath) }
        #expect(try BGPMessage.decode(bytes, context: addPath).message == .update(viaAddPath[0]))
        // The best goes: path 2 becomes path 1, and ID 2 is withdrawn.
        let gone = out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), rib: rib).perPeer
        let now = try #require(gone[cs[2].address])
        #expect(now.flatMap(\.withdrawnIPv4).map(\.pathID) == [2])
        #expect(now.flatMap(\.reachableIPv4).map { "\($0.pathID ?? 0) \($0.prefix)" } == ["1 10.244.1.0/26"])
        #expect(now.first { !$0.reachableIPv4.isEmpty }?.attributes.nextHop == IPv4Address("10.1.0.2")!)
    }

    @Test func aRestartingSpeakerSendsNothingUntilEveryEndOfRIBThenTheWholeTable() throws {
        let cs = clients(3)
        var rib = RIB(decision: DecisionProcess(speaker: reflector))
        var out = AdjRIBOut(speaker: reflector)
        out.beginRestart(awaiting: [cs[0].address, cs[1].address])
        for c in cs {
            rib.peerUp(c)
            #expect(out.addPeer(c.address, clientSettings(), rib: rib).isEmpty, "nothing while restarting")
        }
        #expect(out.apply(rib.receive(update(["10.244.1.0/26"], [], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib).isEmpty)
        #expect(out.endOfRIBReceived(from: cs[0].address).isEmpty, "still one End-of-RIB to come")
        _ = out.apply(rib.receive(update(["10.244.2.0/26"], [], nextHop: "10.1.0.2"), from: cs[1].address), rib: rib)
        let released = out.endOfRIBReceived(from: cs[1].address)
        #expect(released.count == 1 && released[0].members == cs.map(\.address))
        #expect(prefixes(released[0].messages) == ["10.244.1.0/26", "10.244.2.0/26"])
        #expect(released[0].messages.last?.endOfRIB == .ipv4Unicast)
        #expect(out.awaitingEndOfRIB == nil)
        // The timer path: the same table when a peer never sends its EoR.
        var timed = AdjRIBOut(speaker: reflector)
        timed.beginRestart(awaiting: [cs[0].address])
        _ = timed.addPeer(cs[1].address, clientSettings(), rib: rib)
        #expect(prefixes(timed.finishRestart().perPeer[cs[1].address]) == ["10.244.1.0/26"], "its own 10.244.2.0/26 is not sent to a group of one")
    }

    @Test func aPausedMemberIsOwedItsChangesAsStateNotMessages() throws {
        let cs = clients(3)
        let ebgp = peer("192.0.2.1", asn: 64501)
        var (rib, out) = setUp(cs, external: ebgp)
        _ = out.apply(rib.receive(update(["10.244.1.0/26", "10.244.2.0/26"], [], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib)
        out.pause(cs[1].address)
        // Churn while paused: the others get every UPDATE, the paused one none.
        for i in 0..<50 {
            let sent = out.apply(rib.receive(update(["10.244.1.0/26"], [.localPref(UInt32(100 + i))], nextHop: "10.1.0.1",
                                                    withdrawn: i % 2 == 0 ? ["10.244.2.0/26"] : []), from: cs[0].address), rib: rib)
            #expect(sent.allSatisfy { !$0.members.contains(cs[1].address) })
            #expect(sent.contains { $0.members == [cs[0].address, cs[2].address] }, "the group goes on without it")
            if i % 2 == 1 { _ = out.apply(rib.receive(update(["10.244.2.0/26"], [], nextHop: "10.1.0.1"), from: cs[0].address), rib: rib) }
        }
        #expect(out.isPaused(cs[1].address) && out.heldCount(for: cs[1].address) == 2, "two prefixes changed: two entries")
        // Resumed: only the net difference (10.244.2.0/26 ended as it was sent).
        let resumed = out.resume(cs[1].address).perPeer
        #expect(Set(resumed.keys) == [cs[1].address])
        let messages = try #require(resumed[cs[1].address])
        #expect(prefixes(messages) == ["10.244.1.0/26"] && messages.allSatisfy { $0.withdrawnIPv4.isEmpty })
        #expect(messages.first?.attributes.localPref == 149, "the last state, not the history")
        #expect(!out.isPaused(cs[1].address) && out.heldCount(for: cs[1].address) == 0)
        #expect(out.resume(cs[1].address).isEmpty)
        // Removing a paused peer forgets what it was owed.
        out.pause(cs[2].address)
        _ = out.apply(rib.receive(update([], [], nextHop: "10.1.0.1", withdrawn: ["10.244.1.0/26"]), from: cs[0].address), rib: rib)
        out.removePeer(cs[2].address)
        #expect(out.heldCount(for: cs[2].address) == 0 && out.resume(cs[2].address).isEmpty)
    }

    @Test func extendedNextHopCarriesIPv4RoutesOverAnIPv6NextHop() throws {
        let a = peer("fd00::1", routerID: "1.0.0.1", client: true)
        var rib = RIB(decision: DecisionProcess(speaker: reflector))
        rib.peerUp(a)
        // RFC 8950: IPv4 NLRI in MP_REACH_NLRI with an IPv6 next hop.
        let reach = MPReachNLRI(family: .ipv4Unicast, nextHop: .ipv6(IPv6Address("fd00::1")!, linkLocal: nil),
                                nlri: .ipv4([IPv4NLRI(IPv4Prefix("10.244.7.0/26")!)]))
        let changes = rib.receive(UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath()), .mpReachNLRI(reach)])), from: a.address)
        #expect(changes.first?.best.first?.nextHop == IPAddress("fd00::1")!)
        var out = AdjRIBOut(speaker: reflector)
        let plain = peer("10.1.0.2", client: true), enh = peer("fd00::2", routerID: "1.0.0.9", client: true)
        var capable = clientSettings()
        capable.extendedNextHop = true
        capable.localAddress = IPAddress("fd00::100")!
        _ = out.addPeer(plain.address, clientSettings(), rib: rib)
        let initial = out.addPeer(enh.address, capable, rib: rib).perPeer[enh.address] ?? []
        let mp = try #require(initial.first?.attributes.mpReach)
        #expect(mp.family == .ipv4Unicast && mp.nextHop == .ipv6(IPv6Address("fd00::1")!, linkLocal: nil))
        #expect(out.advertisedCount(to: plain.address) == 0, "without the capability the route cannot be sent")
    }
}
