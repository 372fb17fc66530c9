import BGP
import IPAddressing
import Testing
import TestSupport
@testable import BGPRIB

/// The model-based property test of the RIB issue: after any random
/// sequence of announcements, withdrawals, session downs (plain and
/// graceful), End-of-RIBs and import policy changes over several peers,
/// (1) the Loc-RIB equals the decision recomputed from scratch over what
/// each peer announced, after its import policy, and (2) what each peer was
/// sent, decoded from the bytes its update group was given, equals the
/// export of the Loc-RIB computed from scratch for that peer.
@Suite("RIB and Adj-RIB-Out against a brute-force model")
struct RIBModelTests {
    struct Receiver {
        var peer: RIBPeer
        var settings: OutputSettings
    }

    static let ecmp = RIBSpeaker(asn: 65000, routerID: IPv4Address("10.0.0.1")!, maximumPaths: 2)
    static let plain = CodecContext(fourOctetAS: true)
    static let addPath = CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast])
    static let tagging = RoutePolicy(terms: [
        .init(name: "no-long", matches: [.prefixList([.init(IPPrefix("10.244.0.0/16")!, ge: 25)])], disposition: .reject),
        .init(name: "prefer", matches: [.prefixList([.init(IPPrefix("10.244.0.0/21")!, ge: 21)])], actions: [.setLocalPref(180)]),
    ], otherwise: .accept)
    static let exportBlocks = RoutePolicy(terms: [
        .init(name: "blocks", matches: [.prefixList([.init(IPPrefix("10.244.0.0/16")!, ge: 24, le: 26)])],
              actions: [.setMED(7), .addCommunities([Community(asn: 65000, value: 9)])], disposition: .accept),
    ], otherwise: .reject)

    let receivers: [Receiver] = [
        // Two non-clients: one group of two.
        Receiver(peer: peer("10.1.0.1", routerID: "1.0.0.4"), settings: settings(internal: true, client: false, local: "10.0.0.1")),
        Receiver(peer: peer("10.1.0.2", routerID: "1.0.0.3"), settings: settings(internal: true, client: false, local: "10.0.0.1")),
        // A client receiving every path (ADD-PATH): a group of one.
        Receiver(peer: peer("10.1.0.3", routerID: "1.0.0.5", client: true),
                 settings: settings(internal: true, client: true, local: "10.0.0.1", context: addPath, addPathSend: [.ipv4Unicast: .all])),
        // eBGP: one with an export policy, one taking everything.
        Receiver(peer: peer("192.0.2.1", asn: 64501, routerID: "1.0.0.2"),
                 settings: settings(internal: false, client: false, local: "192.0.2.100", export: exportBlocks)),
        Receiver(peer: peer("192.0.2.2", asn: 64502, routerID: "1.0.0.1"), settings: settings(internal: false, client: false, local: "192.0.2.200")),
    ]

    static func settings(internal isInternal: Bool, client: Bool, local: String, export: RoutePolicy = .acceptAll, context: CodecContext = plain,
                         addPathSend: [AddressFamily: AddPathSend] = [:]) -> OutputSettings {
        OutputSettings(exportPolicy: export, isInternal: isInternal, isReflectorClient: client, localAddress: IPAddress(local)!,
                       context: context, addPathSend: addPathSend)
    }

    /// What a peer holds after the UPDATEs it was sent: (prefix, path ID) →
    /// attributes (NEXT_HOP apart) and next hop.
    typealias Received = [String: (Set<PathAttribute>, IPAddress)]

    static func consume(_ bytes: [UInt8], context: CodecContext, into table: inout Received) {
        let (messages, rest) = BGPMessage.decodeAll(bytes, context: context)
        #expect(rest == nil && messages.allSatisfy { $0.errors.isEmpty }, "every UPDATE decodes cleanly")
        for d in messages {
            guard case .update(let u) = d.message, u.endOfRIB == nil else { continue }
            for n in u.withdrawnIPv4 { table["\(n.prefix) \(n.pathID ?? 0)"] = nil }
            var kept = u.attributes
            kept.remove(type: PathAttributeType.nextHop)
            for n in u.reachableIPv4 {
                table["\(n.prefix) \(n.pathID ?? 0)"] = (Set(kept.list), .v4(u.attributes.nextHop!))
            }
        }
    }

    /// The export of the current Loc-RIB to `r`, from scratch.
    func expectedExport(_ rib: RIB, to r: Receiver, groupSize: Int) -> Received {
        var out: Received = [:]
        let kind = Advertisement.Receiver(isInternal: r.settings.isInternal, isReflectorClient: r.settings.isReflectorClient)
        for (prefix, best) in rib.locRIB {
            let paths = r.settings.context.addPath.isEmpty ? [best[0]] : rib.ranked(prefix)
            var id: UInt32 = r.settings.context.addPath.isEmpty ? 0 : 1
            for p in paths {
                guard Advertisement.mayAdvertise(p, to: kind, speaker: Self.ecmp) else { continue }
                var (attributes, hop) = Advertisement.exported(p, toInternal: kind.isInternal, speaker: Self.ecmp,
                                                               localAddress: r.settings.localAddress)
                let outcome = r.settings.exportPolicy.evaluate(prefix: prefix, attributes: attributes, nextHop: hop, neighbour: r.settings.localAddress)
                guard outcome.accepted else { continue }
                attributes = outcome.attributes
                if outcome.nextHopSelf { hop = r.settings.localAddress }
                attributes.remove(type: PathAttributeType.nextHop)
                defer { id += r.settings.context.addPath.isEmpty ? 0 : 1 }
                // A group of one is not sent its own paths.
                if groupSize == 1 && p.peer.address == r.peer.address { continue }
                out["\(prefix) \(id)"] = (Set(attributes.list), hop)
            }
        }
        return out
    }

    @Test(arguments: [11, 12, 13, 14, 15, 16]) func incrementalTablesEqualABruteForceRecomputation(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var rib = RIB(decision: DecisionProcess(speaker: Self.ecmp))
        rib.reportsEveryPathChange = true
        var out = AdjRIBOut(speaker: Self.ecmp)
        let prefixes = (0..<10).map { $0 < 8 ? "10.244.\($0).0/24" : "10.244.9.\($0 * 16)/28" }
        // The model: what each peer's Adj-RIB-In holds, which of it is
        // stale, which peers are up, and their import policies.
        var announced: [IPAddress: [String: [PathAttributeValue]]] = [:]
        var staleModel: [IPAddress: Set<String>] = [:]
        var up: Set<IPAddress> = []
        var policies: [IPAddress: RoutePolicy] = [:]
        var received: [IPAddress: Received] = [:]

        func deliver(_ outputs: [GroupOutput]) {
            for g in outputs {
                for m in g.members {
                    let context = receivers.first { $0.peer.address == m }!.settings.context
                    Self.consume(g.encoded, context: context, into: &received[m, default: [:]])
                }
            }
        }
        func bringUp(_ r: Receiver) {
            let policy = policies[r.peer.address] ?? .acceptAll
            rib.peerUp(r.peer, importPolicy: policy)
            up.insert(r.peer.address)
            announced[r.peer.address, default: [:]] = announced[r.peer.address] ?? [:]
            received[r.peer.address] = [:]
            deliver(out.addPeer(r.peer.address, r.settings, rib: rib))
        }

        for step in 0..<250 {
            let r = receivers[Int(rng.next() % UInt64(receivers.count))]
            let address = r.peer.address
            var changes: [RIBChange] = []
            switch rng.next() % 12 {
            case 0 where up.contains(address):
                // Session down: gracefully half the time.
                let graceful = rng.next() % 2 == 0
                changes = rib.peerDown(address, gracefulRestart: graceful)
                out.removePeer(address)
                up.remove(address)
                received[address] = nil
                if graceful {
                    staleModel[address, default: []].formUnion(announced[address]?.keys.map { $0 } ?? [])
                } else {
                    announced[address] = nil
                    staleModel[address] = nil
                }
            case 1 where up.contains(address):
                // End-of-RIB: the stale paths not sent again go.
                changes = rib.receive(.endOfRIB(.ipv4Unicast), from: address)
                for p in staleModel[address] ?? [] { announced[address]?[p] = nil }
                staleModel[address] = nil
            case 2 where !r.settings.isInternal && up.contains(address):
                // A new import policy, applied from the Adj-RIB-In.
                let policy = policies[address] == nil ? Self.tagging : .acceptAll
                policies[address] = policy == .acceptAll ? nil : policy
                changes = rib.setImportPolicy(policy, for: address)
            default:
                if !up.contains(address) { bringUp(r) }
                let prefix = prefixes[Int(rng.next() % UInt64(prefixes.count))]
                if rng.next() % 3 == 0 {
                    changes = rib.receive(update([], [], nextHop: "10.9.9.9", withdrawn: [prefix]), from: address)
                    announced[address]?[prefix] = nil
                } else {
                    var values: [PathAttributeValue] = [.localPref(UInt32(100 + rng.next() % 2 * 50)), .multiExitDisc(UInt32(rng.next() % 3))]
                    let hops = r.peer.asn == Self.ecmp.asn ? [UInt32]() : [r.peer.asn] + (0..<Int(rng.next() % 3)).map { _ in UInt32(64600 + rng.next() % 3) }
                    values.append(.asPath(ASPath(sequence: hops)))
                    let hop = r.peer.asn == Self.ecmp.asn ? "10.8.0.\(rng.next() % 4 + 1)" : address.description
                    changes = rib.receive(update([prefix], values, nextHop: hop), from: address)
                    announced[address]?[prefix] = values + [.nextHop(IPv4Address(hop)!)]
                }
                staleModel[address]?.remove(prefix)
            }
            deliver(out.apply(changes, rib: rib))

            // (1) The Loc-RIB against the decision over the model.
            var expected: [IPPrefix: [Path]] = [:]
            for text in prefixes {
                let prefix = IPPrefix(text)!
                var candidates: [Path] = []
                for rr in receivers {
                    guard var values = announced[rr.peer.address]?[text] else { continue }
                    let hop = values.compactMap { if case .nextHop(let h) = $0 { h } else { nil } }.first!
                    values.removeAll { $0.typeCode == PathAttributeType.nextHop }
                    if !values.contains(where: { $0.typeCode == PathAttributeType.origin }) { values.append(.origin(.igp)) }
                    let sent = update([text], values, nextHop: hop.description).attributes
                    let outcome = (policies[rr.peer.address] ?? .acceptAll).evaluate(prefix: prefix, attributes: sent, nextHop: .v4(hop), neighbour: rr.peer.address)
                    guard outcome.accepted else { continue }
                    let current = up.contains(rr.peer.address) ? rr.peer : rib.candidates(prefix).first { $0.peer.address == rr.peer.address }?.peer ?? rr.peer
                    candidates.append(Path(prefix: prefix, peer: current, pathID: 0, attributes: InternedAttributes(outcome.attributes, nextHop: .v4(hop))))
                }
                let best = DecisionProcess(speaker: Self.ecmp).decide(candidates.shuffled(using: &rng)).best
                if !best.isEmpty { expected[prefix] = best }
            }
            let actual = rib.locRIB
            #expect(Set(actual.keys) == Set(expected.keys), "step \(step): reachable prefixes")
            for (prefix, best) in expected {
                #expect(actual[prefix]?.map(\.peer.address) == best.map(\.peer.address), "step \(step): best set of \(prefix)")
                #expect(actual[prefix]?.map { Set($0.attributes.attributes.list) } == best.map { Set($0.attributes.attributes.list) })
            }
            #expect(rib.prefixCount == expected.count)

            // (2) Every up peer holds what a from-scratch export gives it.
            for rr in receivers where up.contains(rr.peer.address) {
                let mine = try #require(out.settings[rr.peer.address])
                let size = out.groups.first { $0.settings == mine }?.members ?? 0
                let want = expectedExport(rib, to: rr, groupSize: size)
                let got = received[rr.peer.address] ?? [:]
                #expect(Set(got.keys) == Set(want.keys), "step \(step): what \(rr.peer.address) holds")
                for (k, v) in want where got[k] != nil {
                    #expect(got[k]!.0 == v.0 && got[k]!.1 == v.1, "step \(step): \(rr.peer.address) \(k)")
                }
            }
        }
        // The attribute stores hold exactly what the tables use.
        _ = rib.peerDown(receivers[0].peer.address)
        for rr in receivers { _ = rib.peerDown(rr.peer.address) }
        #expect(rib.attributes.count == 0 && rib.locRIB.isEmpty && rib.prefixCount == 0)
    }
}
