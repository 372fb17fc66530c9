import BGP
import BGPRIB
import FuzzSupport
import IPAddressing

/// One input: a stream of BGP messages (ADD-PATH for IPv4 and IPv6, 4-octet
/// AS) whose UPDATEs are fed to a RIB from three peers in turn (two iBGP,
/// one a reflector client; one eBGP); a marker byte before a message takes
/// a peer down instead. Properties: nothing traps, and after every step the
/// Loc-RIB equals the decision recomputed from the Adj-RIBs-In, so the
/// RIB's incremental bookkeeping never drifts from its own tables; and the
/// UPDATEs the Adj-RIB-Out encodes for each update group (one with ADD-PATH)
/// decode cleanly under that group's session context.
func fuzzRIB(_ input: [UInt8]) {
    let speaker = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!, maximumPaths: 2)
    var rib = RIB(decision: DecisionProcess(speaker: speaker) { $0 == IPAddress("10.66.0.1")! ? nil : 1 })
    let peers = [
        RIBPeer(address: IPAddress("10.1.0.1")!, asn: 65000, routerID: IPv4Address("1.0.0.1")!),
        RIBPeer(address: IPAddress("10.1.0.2")!, asn: 65000, routerID: IPv4Address("1.0.0.2")!, isReflectorClient: true),
        RIBPeer(address: IPAddress("192.0.2.1")!, asn: 64501, routerID: IPv4Address("1.0.0.3")!),
    ]
    // The eBGP peer's import policy rewrites (and sometimes rejects), so
    // the post-policy table is exercised too.
    let importPolicy = RoutePolicy(terms: [
        .init(name: "long", matches: [.prefixList([.init(IPPrefix("0.0.0.0/0")!, ge: 25)])], disposition: .reject),
        .init(name: "pref", actions: [.setLocalPref(150), .addCommunities([Community(asn: 65000, value: 1)])]),
    ], otherwise: .accept)
    for p in peers { rib.peerUp(p, importPolicy: p.asn == 65000 ? nil : importPolicy) }
    let context = CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast, .ipv6Unicast], extendedMessage: false)
    rib.reportsEveryPathChange = true
    var out = AdjRIBOut(speaker: speaker)
    let sendContexts = [CodecContext(fourOctetAS: true), context, CodecContext(fourOctetAS: false)]
    for (k, p) in peers.enumerated() {
        let settings = OutputSettings(exportPolicy: .acceptAll, isInternal: p.asn == 65000, isReflectorClient: p.isReflectorClient,
                                      localAddress: p.asn == 65000 ? IPAddress("10.0.0.1")! : IPAddress("fd00::100")!,
                                      context: sendContexts[k], families: [.ipv4Unicast, .ipv6Unicast],
                                      addPathSend: [.ipv4Unicast: .best(2), .ipv6Unicast: .all], extendedNextHop: k == 2)
        check(out.addPeer(p.address, settings, rib: rib), sendContexts[k])
    }
    func check(_ outputs: [GroupOutput], _ context: CodecContext) {
        for g in outputs {
            let (decoded, rest) = BGPMessage.decodeAll(g.encoded, context: context)
            guard rest == nil, decoded.count == g.messages.count, decoded.allSatisfy({ $0.errors.isEmpty }) else {
                fatalError("an UPDATE the Adj-RIB-Out encoded does not decode: \(rest.map { "\($0)" } ?? "") \(g.messages)")
            }
        }
    }
    let (messages, _) = BGPMessage.decodeAll(input, context: context)
    for (i, d) in messages.enumerated() {
        let p = peers[i % peers.count]
        guard case .update(let u) = d.message else {
            // Any other message: the session restarts (gracefully for a
            // KEEPALIVE, so stale paths and their sweep are exercised).
            _ = rib.peerDown(p.address, gracefulRestart: d.message == .keepalive)
            rib.peerUp(p)
            continue
        }
        // The session applies RFC 7606: treat-as-withdraw removes the prefixes.
        let changes = d.isTreatAsWithdraw ? rib.withdraw(u.allPrefixes, from: p.address) : rib.receive(u, from: p.address)
        for g in out.apply(changes, rib: rib) {
            check([g], out.settings[g.members[0]]!.context)
        }
        for prefix in Set(rib.adjRIBIn.values.flatMap(\.keys)).union(rib.locRIB.keys) {
            let expected = rib.explain(prefix).best
            guard (rib.locRIB[prefix] ?? []) == expected else {
                fatalError("Loc-RIB drifted for \(prefix): \(rib.locRIB[prefix] ?? []) vs \(expected)")
            }
        }
    }
}

#if FUZZING
@_cdecl("FuzzBGPRIB_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzRIB)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzBGPRIB", fuzzRIB) }
}
#endif
