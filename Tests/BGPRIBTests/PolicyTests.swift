import BGP
import IPAddressing
import Testing
@testable import BGPRIB

@Suite("Route policy")
struct RoutePolicyTests {
    func p(_ s: String) -> IPPrefix { IPPrefix(s)! }

    @Test func prefixRangesFollowGeAndLe() {
        let exact = RoutePolicy.PrefixRange(p("10.244.0.0/16"))
        #expect(exact.contains(p("10.244.0.0/16")) && !exact.contains(p("10.244.1.0/24")))
        let upTo26 = RoutePolicy.PrefixRange(p("10.244.0.0/16"), le: 26)
        #expect(upTo26.contains(p("10.244.1.0/26")) && upTo26.contains(p("10.244.0.0/16")) && !upTo26.contains(p("10.244.1.1/32")))
        let hosts = RoutePolicy.PrefixRange(p("10.244.0.0/16"), ge: 32)
        #expect(hosts.contains(p("10.244.1.1/32")) && !hosts.contains(p("10.244.1.0/26")) && !hosts.contains(p("10.245.0.1/32")))
    }

    @Test func validationNamesTheField() {
        func field(_ policy: RoutePolicy) -> String? {
            do { try policy.validate(); return nil } catch { return error.field }
        }
        #expect(field(RoutePolicy(terms: [.init(name: "a", matches: [.prefixList([.init(p("10.0.0.0/8"), le: 33)])])], otherwise: .accept))
                == "terms[0].matches[0].prefixList[0].le")
        #expect(field(RoutePolicy(terms: [.init(name: "a", matches: [.prefixList([.init(p("10.0.0.0/8"), ge: 30, le: 24)])])], otherwise: .accept))
                == "terms[0].matches[0].prefixList[0].ge")
        #expect(field(RoutePolicy(terms: [.init(name: "a"), .init(name: "a")], otherwise: .accept)) == "terms[1].name")
        #expect(field(RoutePolicy(terms: [.init(name: "a", actions: [.prependAS(1, times: 0)])], otherwise: .accept)) == "terms[0].actions[0].times")
        #expect(field(RoutePolicy(terms: [.init(name: "ok", matches: [.prefixList([.init(p("fd00::/48"), ge: 64, le: 128)])])], otherwise: .reject)) == nil)
    }

    @Test func termsMatchActAndDecideInOrder() {
        let policy = RoutePolicy(terms: [
            .init(name: "no-hosts", matches: [.prefixList([.init(p("0.0.0.0/0"), ge: 32)])], disposition: .reject),
            .init(name: "tag", matches: [.asPathContains(64501)], actions: [.addCommunities([Community(asn: 65000, value: 7)]), .setLocalPref(50)]),
            .init(name: "from-64501", matches: [.originatesIn(64501), .neighbourIn(p("192.0.2.0/24"))],
                  actions: [.prependAS(65000, times: 2)], disposition: .accept),
        ], otherwise: .reject)
        let attributes = PathAttributes([.origin(.igp), .asPath(ASPath(sequence: [64502, 64501]))])
        let host = policy.evaluate(prefix: p("10.1.1.1/32"), attributes: attributes, nextHop: IPAddress("192.0.2.1")!, neighbour: IPAddress("192.0.2.1")!)
        #expect(!host.accepted && host.decidedBy == "no-hosts")
        let net = policy.evaluate(prefix: p("10.1.0.0/24"), attributes: attributes, nextHop: IPAddress("192.0.2.1")!, neighbour: IPAddress("192.0.2.1")!)
        #expect(net.accepted && net.decidedBy == "from-64501")
        #expect(net.attributes.localPref == 50 && net.attributes.communities == [Community(asn: 65000, value: 7)])
        #expect(net.attributes.asPath?.segments.first?.asns == [65000, 65000, 64502, 64501])
        let elsewhere = policy.evaluate(prefix: p("10.1.0.0/24"), attributes: attributes, nextHop: IPAddress("198.51.100.1")!,
                                        neighbour: IPAddress("198.51.100.1")!)
        #expect(!elsewhere.accepted && elsewhere.decidedBy == nil, "tagged by one term, then the default rejects")
        let replaced = RoutePolicy(terms: [.init(name: "r", actions: [.replaceCommunities([]), .removeLargeCommunities([LargeCommunity(1, 2, 3)]), .setNextHopSelf])],
                                   otherwise: .accept)
            .evaluate(prefix: p("10.1.0.0/24"), attributes: PathAttributes([.communities([.noExport]), .largeCommunities([LargeCommunity(1, 2, 3)])]),
                      nextHop: IPAddress("10.0.0.1")!, neighbour: IPAddress("10.0.0.1")!)
        #expect(replaced.attributes.communities.isEmpty && replaced.attributes.largeCommunities.isEmpty && replaced.nextHopSelf)
    }

    @Test func anEBGPPeerWithoutPolicyAcceptsNothingAndAPolicyChangeNeedsNoResend() {
        var rib = RIB(decision: DecisionProcess(speaker: speaker))
        let ebgp = peer("192.0.2.1", asn: 64501), ibgp = peer("10.1.0.1")
        rib.peerUp(ebgp)
        rib.peerUp(ibgp)
        #expect(rib.receive(update(["10.7.0.0/24"], [.asPath(ASPath(sequence: [64501]))], nextHop: "192.0.2.1"), from: ebgp.address).isEmpty,
                "RFC 8212: no policy, nothing accepted")
        #expect(rib.counts(for: ebgp.address) == (received: 1, accepted: 0))
        #expect(rib.receive(update(["10.8.0.0/24"], [], nextHop: "10.1.0.1"), from: ibgp.address).count == 1, "iBGP accepts by default")
        // Soft reconfiguration: the kept Adj-RIB-In is re-evaluated.
        let policy = RoutePolicy(terms: [.init(name: "pref", actions: [.setLocalPref(300)])], otherwise: .accept)
        let changes = rib.setImportPolicy(policy, for: ebgp.address)
        #expect(changes.count == 1 && changes[0].best.first?.attributes.attributes.localPref == 300)
        #expect(rib.adjRIBIn[ebgp.address]?[IPPrefix("10.7.0.0/24")!]?[0]?.attributes.attributes.localPref == nil, "the Adj-RIB-In keeps what was received")
        #expect(rib.setImportPolicy(.rejectAll, for: ebgp.address).map(\.description) == ["10.7.0.0/24 withdrawn"])
    }
}
