import BGP
import IPAddressing
import Testing
import TestSupport
@testable import BGPRIB

func update(_ prefixes: [String], _ values: [PathAttributeValue], nextHop: String, withdrawn: [String] = [], pathID: UInt32? = nil) -> UpdateMessage {
    var attributes = values
    attributes.append(.nextHop(IPv4Address(nextHop)!))
    if !attributes.contains(where: { $0.typeCode == PathAttributeType.origin }) { attributes.append(.origin(.igp)) }
    if !attributes.contains(where: { $0.typeCode == PathAttributeType.asPath }) { attributes.append(.asPath(ASPath())) }
    return UpdateMessage(
        withdrawn: withdrawn.map { IPv4NLRI(IPv4Prefix($0)!, pathID: pathID) },
        attributes: prefixes.isEmpty ? PathAttributes() : PathAttributes(attributes),
        nlri: prefixes.map { IPv4NLRI(IPv4Prefix($0)!, pathID: pathID) })
}

@Suite("RIB: Adj-RIB-In, Loc-RIB and changes")
struct RIBTests {
    @Test func bestPathsChangeAsPathsComeAndGo() {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        let a = peer("10.1.0.1", routerID: "1.0.0.1"), b = peer("10.1.0.2", routerID: "2.0.0.2")
        rib.peerUp(a)
        rib.peerUp(b)
        let first = rib.receive(update(["10.244.1.0/26", "10.244.2.0/26"], [.localPref(100)], nextHop: "10.1.0.1"), from: a.address)
        #expect(first.map(\.prefix.description) == ["10.244.1.0/26", "10.244.2.0/26"])
        #expect(rib.attributes.count == 1, "both prefixes share one interned attribute set")
        // A better path from b takes one prefix; the other is unchanged.
        let better = rib.receive(update(["10.244.1.0/26"], [.localPref(200)], nextHop: "10.1.0.2"), from: b.address)
        #expect(better.count == 1 && better[0].best.first?.peer == b)
        // Withdrawn by b: back to a.
        let back = rib.receive(update([], [], nextHop: "10.1.0.2", withdrawn: ["10.244.1.0/26"]), from: b.address)
        #expect(back.count == 1 && back[0].best.first?.peer == a)
        #expect(rib.receive(update([], [], nextHop: "10.1.0.2", withdrawn: ["10.244.9.0/26"]), from: b.address).isEmpty,
                "withdrawing what was never sent changes nothing")
        // a goes down: both prefixes are gone.
        let down = rib.peerDown(a.address)
        #expect(down.count == 2 && down.allSatisfy(\.best.isEmpty) && rib.locRIB.isEmpty)
        #expect(rib.attributes.count == 0, "no path holds the set any more")
        #expect(rib.receive(update(["10.244.3.0/26"], [], nextHop: "10.1.0.1"), from: a.address).isEmpty, "a down peer is ignored")
    }

    @Test func addPathKeepsEveryPathIDAndExplainSaysWhyEachLost() {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        let a = peer("10.1.0.1")
        rib.peerUp(a)
        _ = rib.receive(update(["10.244.1.0/26"], [.localPref(100)], nextHop: "10.2.0.1", pathID: 1), from: a.address)
        _ = rib.receive(update(["10.244.1.0/26"], [.localPref(300)], nextHop: "10.2.0.2", pathID: 2), from: a.address)
        let p = IPPrefix("10.244.1.0/26")!
        #expect(rib.candidates(p).count == 2)
        let d = rib.explain(p)
        #expect(d.best.first?.pathID == 2 && d.lost.first?.step == .localPref)
        _ = rib.receive(update([], [], nextHop: "10.2.0.1", withdrawn: ["10.244.1.0/26"], pathID: 2), from: a.address)
        #expect(rib.locRIB[p]?.first?.pathID == 1)
    }

    @Test func ipv6ReachabilityThroughMPReach() {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        let a = peer("fd00::1", routerID: "1.0.0.1")
        rib.peerUp(a)
        let reach = MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(IPv6Address("fd00::1")!, linkLocal: nil),
                                nlri: .ipv6([IPv6NLRI(IPv6Prefix("fd00:244::/122")!)]))
        let changes = rib.receive(UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath()), .mpReachNLRI(reach)])), from: a.address)
        #expect(changes.first?.best.first?.nextHop == IPAddress("fd00::1")!)
        #expect(changes.first?.best.first?.attributes.attributes.mpReach == nil, "the NLRI container is not stored with the path")
    }

    /// After any sequence of announcements, withdrawals and session downs
    /// over several peers, the Loc-RIB equals the decision recomputed from
    /// scratch over what each peer currently announces, and the changes
    /// reported bring a consumer's copy to the same state.
    @Test(arguments: [1, 2, 3, 4, 5]) func locRIBEqualsABruteForceRecomputation(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var ecmp = speaker
        ecmp.maximumPaths = 2
        var rib = RIB(decision: DecisionProcess(speaker: ecmp))
        let peers = [peer("10.1.0.1", routerID: "1.0.0.4"), peer("10.1.0.2", routerID: "1.0.0.3"),
                     peer("192.0.2.1", asn: 64501, routerID: "1.0.0.2"), peer("192.0.2.2", asn: 64502, routerID: "1.0.0.1")]
        let prefixes = (0..<8).map { "10.244.\($0).0/26" }
        // The model: what each up peer currently announces.
        var announced: [IPAddress: [String: [PathAttributeValue]]] = [:]
        var consumer: [IPPrefix: [Path]] = [:]
        for _ in 0..<400 {
            let p = peers[Int(rng.next() % 4)]
            let isUp = announced[p.address] != nil
            switch rng.next() % 10 {
            case 0 where isUp:
                for c in rib.peerDown(p.address) { consumer[c.prefix] = c.best.isEmpty ? nil : c.best }
                announced[p.address] = nil
            case 1, 2 where !isUp || rng.next() % 2 == 0:
                if !isUp { rib.peerUp(p, importPolicy: .acceptAll); announced[p.address] = [:] }
            default:
                if !isUp { rib.peerUp(p, importPolicy: .acceptAll); announced[p.address] = [:] }
                let prefix = prefixes[Int(rng.next() % 8)]
                if rng.next() % 3 == 0 {
                    for c in rib.receive(update([], [], nextHop: "10.9.9.9", withdrawn: [prefix]), from: p.address) { consumer[c.prefix] = c.best.isEmpty ? nil : c.best }
                    announced[p.address]?[prefix] = nil
                } else {
                    var values: [PathAttributeValue] = [.localPref(UInt32(100 + rng.next() % 2 * 50)), .multiExitDisc(UInt32(rng.next() % 3))]
                    let hops = p.asn == speaker.asn ? [UInt32]() : [p.asn] + (0..<Int(rng.next() % 3)).map { _ in UInt32(64600 + rng.next() % 3) }
                    values.append(.asPath(ASPath(sequence: hops)))
                    for c in rib.receive(update([prefix], values, nextHop: "10.8.0.\(rng.next() % 4 + 1)"), from: p.address) { consumer[c.prefix] = c.best.isEmpty ? nil : c.best }
                    announced[p.address]?[prefix] = values
                }
            }
            // Brute force: build every current path afresh and decide.
            var expected: [IPPrefix: [Path]] = [:]
            for prefixText in prefixes {
                let prefix = IPPrefix(prefixText)!
                let candidates = peers.compactMap { p -> Path? in
                    guard let values = announced[p.address]?[prefixText] else { return nil }
                    return rib.candidates(prefix).first { $0.peer == p }.map { stored in
                        #expect(stored.attributes.attributes.localPref == values.compactMap { if case .localPref(let v) = $0 { v } else { nil } }.first)
                        return stored
                    }
                }
                #expect(candidates.count == peers.filter { announced[$0.address]?[prefixText] != nil }.count)
                let best = DecisionProcess(speaker: ecmp).decide(candidates.shuffled(using: &rng)).best
                if !best.isEmpty { expected[prefix] = best }
            }
            #expect(rib.locRIB == expected)
            #expect(consumer == expected)
        }
    }
}

@Suite("RIB: graceful restart, route refresh, origination")
struct RIBRestartTests {
    let a = peer("10.1.0.1", routerID: "1.0.0.1")

    func rib() -> RIB {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        rib.peerUp(a)
        _ = rib.receive(update(["10.244.1.0/26", "10.244.2.0/26"], [], nextHop: "10.1.0.1"), from: a.address)
        return rib
    }

    @Test func gracefulRestartKeepsPathsUntilEndOfRIBSweepsWhatWasNotResent() {
        var rib = rib()
        #expect(rib.peerDown(a.address, gracefulRestart: true).isEmpty, "nothing is withdrawn while the peer restarts")
        #expect(rib.locRIB.count == 2 && rib.locRIB.values.allSatisfy { rib.isStale($0[0]) })
        #expect(rib.staleCount(for: a.address) == 2)
        rib.peerUp(a)
        _ = rib.receive(update(["10.244.1.0/26"], [], nextHop: "10.1.0.1"), from: a.address)
        #expect(!rib.isStale(rib.locRIB[IPPrefix("10.244.1.0/26")!]![0]), "sent again: fresh")
        let swept = rib.receive(UpdateMessage.endOfRIB(.ipv4Unicast), from: a.address)
        #expect(swept.map(\.description) == ["10.244.2.0/26 withdrawn"])
        #expect(rib.stale.isEmpty && rib.locRIB.count == 1)
    }

    @Test func theStaleTimerEndsARestartThatNeverCameBack() {
        var rib = rib()
        _ = rib.peerDown(a.address, gracefulRestart: true)
        let swept = rib.sweepStale(a.address)
        #expect(swept.count == 2 && swept.allSatisfy(\.best.isEmpty) && rib.locRIB.isEmpty)
        // A plain session down after a graceful one clears everything.
        var other = self.rib()
        _ = other.peerDown(a.address, gracefulRestart: true)
        #expect(other.peerDown(a.address).count == 2 && other.stale.isEmpty)
    }

    @Test func enhancedRouteRefreshSweepsWhatTheRefreshDidNotResend() {
        var rib = rib()
        rib.beginRouteRefresh(a.address, family: .ipv4Unicast)
        _ = rib.receive(update(["10.244.2.0/26"], [], nextHop: "10.1.0.1"), from: a.address)
        let swept = rib.sweepStale(a.address, family: .ipv4Unicast)
        #expect(swept.map(\.description) == ["10.244.1.0/26 withdrawn"])
        #expect(rib.sweepStale(a.address, family: .ipv6Unicast).isEmpty)
    }

    @Test func originatedRoutesWinAndGoToEveryPeer() {
        var rib = rib()
        let block = IPPrefix("10.244.1.0/26")!
        let changes = rib.originate(block, nextHop: IPAddress("10.0.0.1")!)
        #expect(changes.first?.best.first?.peer.isLocal == true)
        #expect(rib.explain(block).lost.first?.step == .learnedOverLocal)
        let ours = rib.locRIB[block]![0]
        let client = peer("10.1.0.9", client: true), nonClient = peer("10.1.0.8"), ebgp = peer("192.0.2.1", asn: 64501)
        #expect(Advertisement.mayAdvertise(ours, to: nonClient, speaker: speaker) && Advertisement.mayAdvertise(ours, to: client, speaker: speaker))
        let (attributes, hop) = Advertisement.exported(ours, to: nonClient, speaker: speaker, localAddress: IPAddress("10.0.0.1")!)
        #expect(attributes.originatorID == nil && attributes.clusterList.isEmpty && hop == IPAddress("10.0.0.1")!, "not reflected")
        let (toEBGP, _) = Advertisement.exported(ours, to: ebgp, speaker: speaker, localAddress: IPAddress("192.0.2.100")!)
        #expect(toEBGP.asPath?.segments.first?.asns == [65000])
        #expect(rib.withdrawOrigination(block).first?.best.first?.peer == a, "back to the learned path")
    }
}
