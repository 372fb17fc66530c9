import BGP
import IPAddressing
import Testing
@testable import BGPRIB

let speaker = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!)
let prefix = IPPrefix("10.244.1.0/26")!

func peer(_ address: String, asn: UInt32 = 65000, routerID: String? = nil, client: Bool = false, allowAsIn: Int = 0) -> RIBPeer {
    RIBPeer(address: IPAddress(address)!, asn: asn, routerID: IPv4Address(routerID ?? address)!, isReflectorClient: client, allowAsIn: allowAsIn)
}

func path(
    from p: RIBPeer, _ values: [PathAttributeValue] = [], nextHop: String? = nil, pathID: UInt32 = 0, prefix: IPPrefix = prefix
) -> Path {
    var attributes = values
    if !attributes.contains(where: { $0.typeCode == PathAttributeType.origin }) { attributes.append(.origin(.igp)) }
    if !attributes.contains(where: { $0.typeCode == PathAttributeType.asPath }) {
        attributes.append(.asPath(ASPath(sequence: p.asn == speaker.asn ? [] : [p.asn])))
    }
    return Path(prefix: prefix, peer: p, pathID: pathID, attributes: InternedAttributes(PathAttributes(attributes),
                nextHop: IPAddress(nextHop ?? p.address.description)!))
}

@Suite("BGP decision process (RFC 4271 §9.1.2.2)")
struct DecisionTests {
    let process = DecisionProcess(speaker: speaker)

    func winner(_ paths: [Path], _ process: DecisionProcess? = nil) -> Path? { (process ?? self.process).decide(paths).best.first }
    func lostAt(_ paths: [Path], _ process: DecisionProcess? = nil) -> [DecisionStep] { (process ?? self.process).decide(paths).lost.map(\.step) }

    @Test func highestLocalPrefFirst() {
        let a = path(from: peer("10.1.0.1"), [.localPref(200), .asPath(ASPath(sequence: [1, 2, 3]))])
        let b = path(from: peer("10.1.0.2"), [.localPref(100)])
        #expect(winner([b, a]) == a, "LOCAL_PREF wins over a shorter AS_PATH")
        #expect(lostAt([a, b]) == [.localPref])
        // A path without LOCAL_PREF counts as 100.
        let c = path(from: peer("10.1.0.3"), [.localPref(99)])
        #expect(winner([c, b]) == b)
    }

    @Test func shortestASPathSetCountsOneConfedZero() {
        let e1 = peer("192.0.2.1", asn: 64501), e2 = peer("192.0.2.2", asn: 64502)
        let withSet = path(from: e1, [.asPath(ASPath([ASPathSegment(.sequence, [64501]), ASPathSegment(.set, [1, 2, 3])]))])
        let longer = path(from: e2, [.asPath(ASPath(sequence: [64502, 7, 8]))])
        #expect(withSet.asPathLength == 2 && winner([longer, withSet]) == withSet)
        let confed = path(from: e2, [.asPath(ASPath([ASPathSegment(.confedSequence, [1, 2, 3, 4]), ASPathSegment(.sequence, [64502])]))])
        #expect(confed.asPathLength == 1)
        #expect(winner([withSet, confed]) == confed && lostAt([withSet, confed]) == [.asPathLength])
    }

    @Test func lowestOrigin() {
        let a = path(from: peer("10.1.0.1"), [.origin(.incomplete)]), b = path(from: peer("10.1.0.2"), [.origin(.egp)])
        #expect(winner([a, b]) == b && lostAt([a, b]) == [.origin])
    }

    @Test func medOnlyWithinOneNeighbouringAS() {
        let x1 = path(from: peer("192.0.2.1", asn: 64501), [.multiExitDisc(50)])
        let x2 = path(from: peer("192.0.2.2", asn: 64501), [.multiExitDisc(10)])
        let y = path(from: peer("192.0.2.3", asn: 64502), [.multiExitDisc(5)])
        let d = process.decide([x1, x2, y])
        #expect(d.lost.first { $0.path == x1 }?.step == .med, "x1 loses to x2 on MED, same AS")
        #expect(!d.lost.contains { $0.path == x2 && $0.step == .med }, "x2 is not compared with y's MED")
        // A missing MED is the lowest value (RFC 4271 §9.1.2.2 (c)).
        let none = path(from: peer("192.0.2.4", asn: 64501))
        #expect(winner([x2, none]) == none)
        // With always-compare-med, y's MED 5 wins outright.
        var always = speaker
        always.alwaysCompareMed = true
        #expect(winner([x1, x2, y], DecisionProcess(speaker: always)) == y)
    }

    @Test func theOutcomeDoesNotDependOnTheCandidatesOrder() {
        // The MED case that makes a pairwise comparison intransitive.
        let a = path(from: peer("192.0.2.1", asn: 64501, routerID: "1.1.1.3"), [.multiExitDisc(100)])
        let b = path(from: peer("192.0.2.2", asn: 64502, routerID: "1.1.1.2"), [.multiExitDisc(50)])
        let c = path(from: peer("192.0.2.3", asn: 64501, routerID: "1.1.1.1"), [.multiExitDisc(200)])
        let orders = [[a, b, c], [a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a]]
        let winners = Set(orders.map { winner($0)! })
        #expect(winners.count == 1 && winners.first == b, "c loses to a on MED, then b wins on router ID")
    }

    @Test func externalOverInternal() {
        let i = path(from: peer("10.1.0.1", routerID: "1.0.0.1"), [.asPath(ASPath(sequence: [64501]))])
        let e = path(from: peer("192.0.2.1", asn: 64501, routerID: "9.9.9.9"))
        #expect(winner([i, e]) == e && lostAt([i, e]) == [.externalOverInternal])
    }

    @Test func lowestIGPCostToTheNextHop() {
        let near = path(from: peer("10.1.0.1", routerID: "9.0.0.1"), nextHop: "10.9.0.1")
        let far = path(from: peer("10.1.0.2", routerID: "1.0.0.1"), nextHop: "10.9.0.2")
        let process = DecisionProcess(speaker: speaker) { $0 == IPAddress("10.9.0.1")! ? 10 : 20 }
        #expect(winner([far, near], process) == near && lostAt([far, near], process) == [.igpCost])
    }

    @Test func originatorIDStandsInForTheRouterIDThenClusterListThenPeerAddress() {
        let reflected = path(from: peer("10.1.0.1", routerID: "1.0.0.1"), [.originatorID(IPv4Address("5.0.0.5")!)])
        let direct = path(from: peer("10.1.0.2", routerID: "3.0.0.3"))
        #expect(winner([reflected, direct]) == direct, "ORIGINATOR_ID 5.0.0.5 > router ID 3.0.0.3 (RFC 4456 §9)")
        #expect(lostAt([reflected, direct]) == [.routerID])
        let shortList = path(from: peer("10.1.0.3", routerID: "7.0.0.7"), [.originatorID(IPv4Address("4.0.0.4")!), .clusterList([IPv4Address("1.1.1.1")!])])
        let longList = path(from: peer("10.1.0.4", routerID: "2.0.0.2"),
                            [.originatorID(IPv4Address("4.0.0.4")!), .clusterList([IPv4Address("1.1.1.1")!, IPv4Address("2.2.2.2")!])])
        #expect(winner([longList, shortList]) == shortList && lostAt([longList, shortList]) == [.clusterListLength])
        let low = path(from: peer("10.1.0.5", routerID: "6.0.0.6"), [.originatorID(IPv4Address("4.0.0.4")!)])
        let high = path(from: peer("10.1.0.6", routerID: "6.0.0.6"), [.originatorID(IPv4Address("4.0.0.4")!)])
        #expect(winner([high, low]) == low && lostAt([high, low]) == [.peerAddress])
    }

    @Test func ineligiblePaths() {
        let process = DecisionProcess(speaker: speaker) { $0 == IPAddress("10.66.0.1")! ? nil : 0 }
        let unresolvable = path(from: peer("10.1.0.1"), nextHop: "10.66.0.1")
        let looped = path(from: peer("192.0.2.1", asn: 64501), [.asPath(ASPath(sequence: [64501, 65000, 7]))])
        let allowed = path(from: peer("192.0.2.2", asn: 64502, allowAsIn: 1), [.asPath(ASPath(sequence: [64502, 65000]))])
        let ownOriginator = path(from: peer("10.1.0.2"), [.originatorID(speaker.routerID)])
        let ownCluster = path(from: peer("10.1.0.3"), [.clusterList([speaker.clusterID])])
        let d = process.decide([unresolvable, looped, allowed, ownOriginator, ownCluster])
        #expect(d.best == [allowed], "allowAsIn 1 admits one occurrence of our AS")
        #expect(d.lost.count == 4 && d.lost.allSatisfy { $0.step == .ineligible })
        #expect(d.lost.first { $0.path == unresolvable }?.reason.contains("unresolvable") == true)
        #expect(d.lost.first { $0.path == looped }?.reason.contains("our AS") == true)
    }

    @Test func multipathTakesWhatTiesThroughTheIGPCost() {
        var ecmp = speaker
        ecmp.maximumPaths = 2
        let process = DecisionProcess(speaker: ecmp)
        let a = path(from: peer("10.1.0.1", routerID: "3.0.0.3")), b = path(from: peer("10.1.0.2", routerID: "1.0.0.1"))
        let c = path(from: peer("10.1.0.3", routerID: "2.0.0.2")), worse = path(from: peer("10.1.0.4"), [.localPref(50)])
        let d = process.decide([a, b, c, worse])
        #expect(d.best == [b, c], "best first, then the next by the tie-break, up to maximumPaths")
        #expect(Set(d.lost.map(\.path)) == [a, worse])
    }
}
