@testable import BGP
import Foundation
import Testing

/// Messages captured from BIRD and GoBGP (Vectors/README.md): each decodes
/// cleanly and re-encodes to the same bytes.
@Suite struct VectorTests {
    struct Vector: CustomTestStringConvertible, Sendable {
        var name: String
        var context: CodecContext
        var bytes: [UInt8]
        var testDescription: String { name }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")

    static func load() -> [Vector] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".hex") }.sorted()
        return files.compactMap { name in
            guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else { return nil }
            var context = CodecContext(fourOctetAS: false)
            var hex = ""
            for line in text.split(separator: "\n") {
                if line.hasPrefix("# context:") {
                    context.fourOctetAS = line.contains("four-octet-as")
                    if let r = line.range(of: "add-path=") {
                        for f in line[r.upperBound...].split(separator: ",") {
                            if let fam = AddressFamily(name: String(f)) { context.addPath.insert(fam) }
                        }
                    }
                } else if !line.hasPrefix("#") {
                    hex += line
                }
            }
            return Vector(name: name, context: context, bytes: Hex.decode(hex) ?? [])
        }
    }

    @Test func thereAreVectorsOfEveryKind() {
        let names = Self.load().map(\.name)
        #expect(names.count >= 20)
        for kind in ["open", "update", "keepalive", "notification", "route-refresh"] {
            #expect(names.contains { $0.hasSuffix("-\(kind).hex") }, "no \(kind) vector")
        }
        #expect(names.contains { $0.hasPrefix("bird-") } && names.contains { $0.hasPrefix("gobgp-") })
    }

    @Test(arguments: load())
    func decodesAndReencodesByteForByte(_ v: Vector) throws {
        #expect(!v.bytes.isEmpty)
        let d = try BGPMessage.decode(v.bytes, context: v.context)
        #expect(d.errors.isEmpty, "\(d.errors)")
        #expect(d.message.encoded(context: v.context) == v.bytes)
    }

    @Test func capturedContentIsUnderstood() throws {
        let all = Dictionary(uniqueKeysWithValues: Self.load().map { ($0.name, $0) })
        func decode(_ n: String) throws -> BGPMessage { let v = try #require(all[n]); return try BGPMessage.decode(v.bytes, context: v.context).message }
        guard case .open(let bird) = try decode("bird-v4-1-open.hex"), case .open(let gobgp) = try decode("gobgp-v4-1-open.hex") else {
            Issue.record("OPENs missing"); return
        }
        #expect(bird.asNumber == 65001 && gobgp.asNumber == 65002)
        #expect(bird.capabilities.contains(.enhancedRouteRefresh))
        #expect(gobgp.capabilities.contains { if case .fqdn = $0 { true } else { false } })
        // Negotiating GoBGP's OPEN from BIRD's side gives ADD-PATH both ways.
        let config = SessionConfiguration(localAS: 65001, peerAS: 65002, bgpIdentifier: bird.bgpIdentifier, holdTime: 9,
                                          families: [.ipv4Unicast], addPath: [AddPathFamily(.ipv4Unicast, .both)])
        let n = try NegotiatedSession.negotiate(local: config, peer: gobgp)
        #expect(n.addPathReceive == [.ipv4Unicast] && n.addPathSend == [.ipv4Unicast])
        #expect(n.holdTime == 9 && n.keepaliveTime == 3)
        guard case .notification(let cease) = try decode("bird-v4-1-notification.hex") else { Issue.record("no NOTIFICATION"); return }
        #expect(cease.shutdownCommunication == "caracal vector capture")
        guard case .update(let u) = try decode("bird-v4-1-update.hex") else { Issue.record("no UPDATE"); return }
        #expect(u.attributes.largeCommunities == [LargeCommunity(65001, 1, 2)])
        #expect(u.nlri.first?.pathID != nil)
    }
}
