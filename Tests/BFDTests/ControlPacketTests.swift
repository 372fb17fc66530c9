import BFD
import BGP
import Testing

/// RFC 5880 §4.1 encoding and §6.8.6's reception checks.
@Suite struct ControlPacketTests {
    static let sample = BFDControlPacket(diagnostic: .controlDetectionTimeExpired, state: .up, poll: true, controlPlaneIndependent: true,
                                         detectMultiplier: 3, myDiscriminator: 0x0102_0304, yourDiscriminator: 0xA0B0_C0D0,
                                         desiredMinTxInterval: 100_000, requiredMinRxInterval: 200_000, requiredMinEchoRxInterval: 0)

    @Test func encodesTheFieldsWhereTheRFCPutsThem() throws {
        let bytes = Self.sample.encode()
        #expect(bytes == [0x21, 0xE8, 3, 24, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0,
                          0x00, 0x01, 0x86, 0xA0, 0x00, 0x03, 0x0D, 0x40, 0, 0, 0, 0])
        #expect(try BFDControlPacket.decode(bytes) == Self.sample)
    }

    /// A first packet as a peer sends it (Down, no diagnostic, Your
    /// Discriminator 0, 1 s slow TX, 100 ms RX), written out by hand.
    @Test func decodesAFirstDownPacket() throws {
        let bytes: [UInt8] = [0x20, 0x40, 0x03, 0x18, 0x5d, 0x8c, 0x9e, 0x32, 0, 0, 0, 0,
                              0x00, 0x0f, 0x42, 0x40, 0x00, 0x01, 0x86, 0xa0, 0, 0, 0, 0]
        let p = try BFDControlPacket.decode(bytes)
        #expect(p.state == .down && p.diagnostic == .none && p.yourDiscriminator == 0 && p.detectMultiplier == 3)
        #expect(p.desiredMinTxInterval == 1_000_000 && p.requiredMinRxInterval == 100_000 && !p.poll && !p.final)
    }

    @Test func roundTripsEveryFlagStateAndDiagnostic() throws {
        var rng = SplitMix64(seed: 5880)
        for _ in 0..<5000 {
            let state = BFDState(rawValue: UInt8(rng.next() % 4))!
            let auth: BFDAuthentication? = rng.next() % 4 == 0
                ? BFDAuthentication(type: UInt8(truncatingIfNeeded: rng.next()), data: (0..<Int(rng.next() % 30)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
                : nil
            let p = BFDControlPacket(
                diagnostic: BFDDiagnostic(rawValue: UInt8(rng.next() % 32))!, state: state, poll: rng.next() % 2 == 0,
                final: rng.next() % 2 == 0, controlPlaneIndependent: rng.next() % 2 == 0, demand: rng.next() % 2 == 0,
                detectMultiplier: UInt8(1 + rng.next() % 255), myDiscriminator: UInt32(1 + rng.next() % 0xFFFF_FFFE),
                yourDiscriminator: state == .down || state == .adminDown ? UInt32(truncatingIfNeeded: rng.next() % 2 == 0 ? 0 : rng.next())
                    : UInt32(1 + rng.next() % 0xFFFF_FFFE),
                desiredMinTxInterval: UInt32(truncatingIfNeeded: rng.next()), requiredMinRxInterval: UInt32(truncatingIfNeeded: rng.next()),
                requiredMinEchoRxInterval: UInt32(truncatingIfNeeded: rng.next()), authentication: auth)
            let bytes = p.encode()
            #expect(bytes.count == p.length)
            #expect(try BFDControlPacket.decode(bytes) == p)
            // Bytes past Length (padding from a sender) are ignored.
            #expect(try BFDControlPacket.decode(bytes + [0, 0, 0]) == p)
        }
    }

    func rejects(_ bytes: [UInt8], _ expected: BFDPacketError, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try BFDControlPacket.decode(bytes) }
    }

    @Test func rejectsEachViolationOfTheReceptionRules() {
        let good = Self.sample.encode()
        var b = good
        rejects(Array(good.prefix(23)), .truncated(datagram: 23))
        rejects([], .truncated(datagram: 0))
        b[0] = 0x41; rejects(b, .unsupportedVersion(2))
        b = good; b[0] = 0x01; rejects(b, .unsupportedVersion(0))
        b = good; b[3] = 23; rejects(b, .lengthTooShort(23, authenticationPresent: false))
        b = good; b[3] = 25; rejects(b, .lengthExceedsDatagram(length: 25, datagram: 24))
        b = good; b[2] = 0; rejects(b, .zeroDetectMultiplier)
        b = good; b[1] |= 0x01; rejects(b, .multipointSet)
        b = good; b[4...7] = [0, 0, 0, 0]; rejects(b, .zeroMyDiscriminator)
        b = good; b[8...11] = [0, 0, 0, 0]; rejects(b, .zeroYourDiscriminator(state: .up))
        b[1] = (b[1] & 0x3F) | BFDState.initial.rawValue << 6; rejects(b, .zeroYourDiscriminator(state: .initial))
        // Zero is fine while Down or AdminDown.
        for s in [BFDState.down, .adminDown] {
            b[1] = (b[1] & 0x3F) | s.rawValue << 6
            #expect((try? BFDControlPacket.decode(b))?.state == s)
        }
        // The A bit without an authentication section.
        b = good; b[1] |= 0x04; rejects(b, .lengthTooShort(24, authenticationPresent: true))
        rejects(b + [1, 2], .lengthTooShort(24, authenticationPresent: true))
        b[3] = 26; rejects(b + [1, 1], .authenticationLength(declared: 1, available: 2))
        rejects(b + [1, 5, 0], .authenticationLength(declared: 5, available: 2))
        #expect((try? BFDControlPacket.decode(b + [1, 2]))?.authentication == BFDAuthentication(type: 1, data: []))
    }

    @Test func errorsHaveAReasonAndText() {
        let all: [BFDPacketError] = [.truncated(datagram: 3), .unsupportedVersion(2), .lengthTooShort(20, authenticationPresent: false),
                                     .lengthExceedsDatagram(length: 30, datagram: 24), .zeroDetectMultiplier, .multipointSet,
                                     .zeroMyDiscriminator, .zeroYourDiscriminator(state: .up), .authenticationLength(declared: 1, available: 4)]
        #expect(Set(all.map(\.reason)) == ["length", "version", "detect_multiplier", "multipoint", "discriminator"])
        #expect(all.allSatisfy { !$0.description.isEmpty })
        #expect(BFDDiagnostic.neighborSignaledSessionDown.description == "Neighbor Signaled Session Down")
        #expect(BFDDiagnostic(rawValue: 9)!.description == "Reserved (9)")
        #expect(BFDDiagnostic(rawValue: 32) == nil)
    }
}
