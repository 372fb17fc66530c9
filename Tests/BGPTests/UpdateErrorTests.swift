@testable import BGP
import IPAddressing
import NIOCore
import Testing

/// RFC 4271 §6.3 errors with the RFC 7606 action for each.
@Suite struct UpdateErrorTests {
    let nlri: [UInt8] = [24, 10, 1, 2, 16, 10, 3]  // 10.1.2.0/24, 10.3.0.0/16

    /// Builds an UPDATE with the basic attributes except `drop`, plus `extra`.
    func update(replacing type: UInt8? = nil, with extra: [UInt8] = [], nlri: [UInt8]? = nil, withdrawn: [UInt8] = []) -> [UInt8] {
        var attrs: [UInt8] = []
        let basic: [(UInt8, [UInt8])] = [(1, attr(0x40, 1, [0])), (2, attr(0x40, 2, [2, 1, 0, 0, 0xFD, 0xE9])), (3, attr(0x40, 3, [10, 0, 0, 1]))]
        for (t, a) in basic {
            if t == type { attrs += extra } else { attrs += a }
        }
        if type == nil || !basic.contains(where: { $0.0 == type }) { attrs += extra }
        return frame(2, updateBody(withdrawn: withdrawn, attributes: attrs, nlri: nlri ?? self.nlri))
    }

    func expectSoft(_ bytes: [UInt8], _ action: ErrorAction, _ notification: NotificationMessage, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let d = decodeSoft(bytes, sourceLocation: sourceLocation) else { return }
        #expect(d.action == action, sourceLocation: sourceLocation)
        #expect(d.errors.map(\.notification).contains(notification), "\(d.errors)", sourceLocation: sourceLocation)
        if action == .treatAsWithdraw {
            guard case .update(let u) = d.message else { return }
            #expect(d.isTreatAsWithdraw, sourceLocation: sourceLocation)
            #expect(u.allPrefixes.ipv4.map(\.prefix.description).contains("10.1.2.0/24"), sourceLocation: sourceLocation)
        }
    }

    func expectFatal(_ bytes: [UInt8], _ action: ErrorAction, _ notification: NotificationMessage, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let e = decodeError(bytes, sourceLocation: sourceLocation) else { return }
        #expect(e.action == action, sourceLocation: sourceLocation)
        #expect(e.notification == notification, "\(e)", sourceLocation: sourceLocation)
    }

    @Test func cleanUpdateHasNoErrors() throws {
        let d = try #require(decodeSoft(update()))
        #expect(d.errors.isEmpty && d.action == nil)
    }

    // 3/1 Malformed Attribute List
    @Test func lengthsOverrunningTheMessageResetTheSession() {
        // Withdrawn Routes Length past the end.
        expectFatal(frame(2, [0, 50, 0, 0]), .sessionReset, NotificationMessage(update: .malformedAttributeList))
        // Total Path Attribute Length past the end.
        expectFatal(frame(2, [0, 0, 0, 50, 0x40, 1, 1, 0]), .sessionReset, NotificationMessage(update: .malformedAttributeList))
    }

    @Test func attributeOverrunningTheListIsTreatAsWithdraw() {
        // RFC 7606 §4: a community claiming 9 octets where 4 remain.
        let overrun: [UInt8] = [0xC0, 8, 9, 0, 0, 0, 1]
        expectSoft(update(with: overrun), .treatAsWithdraw, NotificationMessage(update: .attributeLengthError, data: overrun))
        // Fewer than 3 octets left for a header.
        expectSoft(update(with: [0x40, 1]), .treatAsWithdraw, NotificationMessage(update: .malformedAttributeList))
        // Extended length flag with only 3 octets left.
        expectSoft(update(with: [0x50, 1, 0]), .treatAsWithdraw, NotificationMessage(update: .malformedAttributeList))
    }

    @Test func mpAttributeOverrunResets() {
        expectFatal(update(with: [0x90, 14, 0, 40, 0, 2, 1]), .sessionReset, NotificationMessage(update: .attributeLengthError, data: [0x90, 14, 0, 40, 0, 2, 1]))
    }

    @Test func duplicateAttributes() throws {
        // RFC 7606 §3(g): MP attributes twice reset; others keep the first.
        let unreach = attr(0x80, 15, [0, 2, 1])
        expectFatal(update(with: unreach + unreach), .sessionReset, NotificationMessage(update: .malformedAttributeList))
        let d = try #require(decodeSoft(update(with: attr(0x40, 1, [2]))))
        #expect(d.action == .attributeDiscard)
        guard case .update(let u) = d.message else { return }
        #expect(u.attributes.origin == .igp)
    }

    // 3/2
    @Test func unrecognizedWellKnown() {
        let a = attr(0x40, 99, [1])
        expectFatal(update(with: a), .sessionReset, NotificationMessage(update: .unrecognizedWellKnownAttribute, data: a))
    }

    // 3/3
    @Test(arguments: [UInt8(1), 2, 3])
    func missingWellKnown(_ type: UInt8) {
        expectSoft(update(replacing: type), .treatAsWithdraw, NotificationMessage(update: .missingWellKnownAttribute, data: [type]))
    }

    @Test func attributesNotRequiredWithoutNLRI() throws {
        // Only withdrawals: no attributes needed.
        let d = try #require(decodeSoft(frame(2, updateBody(withdrawn: [8, 10]))))
        #expect(d.errors.isEmpty)
        // MP_REACH only: ORIGIN and AS_PATH needed, NEXT_HOP not.
        let mp = attr(0x80, 14, [0, 2, 1, 16] + ip6("2001:db8::1").bytes + [0, 32, 0x20, 0x01, 0x0d, 0xb8])
        let ok = try #require(decodeSoft(frame(2, updateBody(attributes: mp + attr(0x40, 1, [0]) + attr(0x40, 2, [])))))
        #expect(ok.errors.isEmpty)
        let missing = try #require(decodeSoft(frame(2, updateBody(attributes: mp + attr(0x40, 1, [0])))))
        #expect(missing.errors.first?.notification == NotificationMessage(update: .missingWellKnownAttribute, data: [2]))
        guard case .update(let u) = missing.message else { return }
        #expect(u.allPrefixes.ipv6 == [v6("2001:db8::/32")])
    }

    // 3/4
    @Test func attributeFlags() {
        let badOrigin = attr(0xC0, 1, [0])
        expectSoft(update(replacing: 1, with: badOrigin), .treatAsWithdraw, NotificationMessage(update: .attributeFlagsError, data: badOrigin))
        let badMED = attr(0x40, 4, [0, 0, 0, 1])
        expectSoft(update(with: badMED), .treatAsWithdraw, NotificationMessage(update: .attributeFlagsError, data: badMED))
        let badAggregator = attr(0x80, 7, [0, 0, 0, 1, 1, 2, 3, 4])
        expectSoft(update(with: badAggregator), .attributeDiscard, NotificationMessage(update: .attributeFlagsError, data: badAggregator))
        let badMP = attr(0x40, 15, [0, 2, 1])
        expectFatal(update(with: badMP), .sessionReset, NotificationMessage(update: .attributeFlagsError, data: badMP))
    }

    // 3/5, with RFC 7606 §7 per-attribute actions
    @Test func attributeLengths() {
        let treatAsWithdraw: [[UInt8]] = [
            attr(0x40, 1, [0, 0]),            // ORIGIN
            attr(0x40, 3, [10, 0, 0, 1, 1]),  // NEXT_HOP
            attr(0x80, 4, [0, 0, 1]),         // MED
            attr(0x40, 5, [0, 0, 0, 0, 1]),   // LOCAL_PREF
            attr(0xC0, 8, []),                // COMMUNITIES, empty
            attr(0xC0, 8, [0, 0, 0, 1, 2]),   // COMMUNITIES, not a multiple of 4
            attr(0x80, 9, [1, 2, 3]),         // ORIGINATOR_ID
            attr(0x80, 10, [1, 2, 3, 4, 5, 6]),  // CLUSTER_LIST
            attr(0xC0, 16, [0, 2, 0, 1, 0, 0, 0]),  // EXTENDED_COMMUNITIES
            attr(0xC0, 32, [UInt8](repeating: 1, count: 13)),  // LARGE_COMMUNITY
        ]
        for a in treatAsWithdraw {
            let replacing: UInt8? = a[1] <= 3 ? a[1] : nil
            expectSoft(update(replacing: replacing, with: a), .treatAsWithdraw, NotificationMessage(update: .attributeLengthError, data: a))
        }
        let discard: [[UInt8]] = [
            attr(0x40, 6, [1]),                    // ATOMIC_AGGREGATE
            attr(0xC0, 7, [0, 1, 1, 2, 3, 4]),     // AGGREGATOR (6 octets on a 4-octet session)
            attr(0xC0, 18, [0, 1, 1, 2, 3, 4]),    // AS4_AGGREGATOR
        ]
        for a in discard {
            expectSoft(update(with: a), .attributeDiscard, NotificationMessage(update: .attributeLengthError, data: a))
        }
    }

    // 3/6
    @Test func invalidOrigin() {
        let a = attr(0x40, 1, [3])
        expectSoft(update(replacing: 1, with: a), .treatAsWithdraw, NotificationMessage(update: .invalidOriginAttribute, data: a))
    }

    // 3/8
    @Test(arguments: [[UInt8(0), 0, 0, 0], [224, 0, 0, 5], [255, 255, 255, 255]])
    func invalidNextHop(_ nh: [UInt8]) {
        let a = attr(0x40, 3, nh)
        expectSoft(update(replacing: 3, with: a), .treatAsWithdraw, NotificationMessage(update: .invalidNextHopAttribute, data: a))
    }

    // 3/9 and RFC 7606 §7.11
    @Test func malformedMPReachDisablesTheFamily() {
        // IPv6 with a 5-octet next hop.
        let a = attr(0x80, 14, [0, 2, 1, 5, 1, 2, 3, 4, 5, 0])
        expectFatal(update(with: a), .afiSafiDisable(.ipv6Unicast), NotificationMessage(update: .optionalAttributeError, data: a))
        // Next hop length past the attribute.
        let b = attr(0x80, 14, [0, 2, 1, 16, 1, 2])
        expectFatal(update(with: b), .afiSafiDisable(.ipv6Unicast), NotificationMessage(update: .optionalAttributeError, data: b))
        // IPv6 NLRI with length 129.
        let c = attr(0x80, 15, [0, 2, 1, 129] + [UInt8](repeating: 0, count: 17))
        expectFatal(update(with: c), .afiSafiDisable(.ipv6Unicast), NotificationMessage(update: .optionalAttributeError, data: c))
        // Too short to name a family: reset.
        let d = attr(0x80, 15, [0, 2])
        expectFatal(update(with: d), .sessionReset, NotificationMessage(update: .optionalAttributeError, data: d))
    }

    // 3/10
    @Test func invalidNetworkField() {
        expectFatal(update(nlri: [33, 10, 0, 0, 0, 0]), .sessionReset, NotificationMessage(update: .invalidNetworkField))
        expectFatal(update(nlri: [24, 10, 0]), .sessionReset, NotificationMessage(update: .invalidNetworkField))
        expectFatal(update(withdrawn: [16, 10]), .sessionReset, NotificationMessage(update: .invalidNetworkField))
        // ADD-PATH NLRI cut inside the path identifier.
        let ctx = CodecContext(fourOctetAS: true, addPath: [.ipv4Unicast])
        #expect(decodeError(update(nlri: [0, 0, 1]), context: ctx)?.notification == NotificationMessage(update: .invalidNetworkField))
    }

    // 3/11, RFC 7606 §7.2
    @Test func malformedASPath() {
        for value: [UInt8] in [
            [5, 1, 0, 0, 0, 1],        // unknown segment type
            [2, 0],                    // zero-length segment
            [2, 2, 0, 0, 0, 1],        // overrun
            [2, 1, 0, 0, 0, 1, 2],     // a single trailing octet
        ] {
            expectSoft(update(replacing: 2, with: attr(0x40, 2, value)), .treatAsWithdraw, NotificationMessage(update: .malformedASPath))
        }
    }

    @Test func malformedAS4PathIsDiscarded() {
        // RFC 6793 §6: confederation segments in AS4_PATH.
        let a = attr(0xC0, 17, [3, 1, 0, 0, 0, 1])
        expectSoft(update(with: a), .attributeDiscard, NotificationMessage(update: .optionalAttributeError, data: a))
    }

    @Test func treatAsWithdrawCollectsEveryPrefix() throws {
        let mpReach = attr(0x80, 14, [0, 2, 1, 16] + ip6("2001:db8::1").bytes + [0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 1])
        let mpUnreach = attr(0x80, 15, [0, 2, 1, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 9])
        let bad = attr(0x40, 1, [7])
        let bytes = frame(2, updateBody(withdrawn: [8, 11], attributes: mpReach + mpUnreach + bad + attr(0x40, 2, []) + attr(0x40, 3, [10, 0, 0, 1]), nlri: nlri))
        let d = try #require(decodeSoft(bytes))
        #expect(d.isTreatAsWithdraw)
        guard case .update(let u) = d.message else { return }
        let w = u.allPrefixes
        #expect(Set(w.ipv4.map(\.prefix.description)) == ["11.0.0.0/8", "10.1.2.0/24", "10.3.0.0/16"])
        #expect(Set(w.ipv6.map(\.prefix.description)) == ["2001:db8:1::/48", "2001:db8:0:9::/64"])
    }

    @Test func aggregatorWidthFollowsTheSession() throws {
        let ctx2 = CodecContext(fourOctetAS: false)
        let two = attr(0xC0, 7, [0xFD, 0xE9, 1, 2, 3, 4])
        let bytes = frame(2, updateBody(attributes: attr(0x40, 1, [0]) + attr(0x40, 2, [2, 1, 0xFD, 0xE9]) + attr(0x40, 3, [10, 0, 0, 1]) + two, nlri: nlri))
        let d = try BGPMessage.decode(bytes, context: ctx2)
        #expect(d.errors.isEmpty)
        guard case .update(let u) = d.message else { return }
        #expect(u.attributes.aggregator == Aggregator(asn: 65001, address: ip4("1.2.3.4")))
        #expect(d.message.encoded(context: ctx2) == bytes)
    }
}
