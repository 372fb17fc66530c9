@testable import BGP
import Foundation
import IPAddressing
import Testing
import TestSupport

/// Caracal's encoder checked by an independent decoder: each message goes
/// into a pcap (text2pcap, TCP port 179) and tshark's BGP dissector must
/// parse it without a malformed-packet or expert error, and read the same
/// values back.
@Suite struct TsharkCrossCheckTests {
    static let messages: [BGPMessage] = [
        .open(OpenMessage(asNumber: 4_200_000_001, holdTime: 90, bgpIdentifier: IPv4Address(192, 0, 2, 1), capabilities: OpenTests.allCapabilities)),
        .update(UpdateMessage(withdrawn: [v4("10.9.0.0/16")], attributes: PathAttributes(UpdateRoundTripTests.everyAttribute.filter {
            if case .unknown = $0 { false } else { true }
        }), nlri: [v4("10.2.0.0/24"), v4("10.3.3.3/32")])),
        .update(UpdateMessage(attributes: PathAttributes([
            .mpReachNLRI(MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(ip6("2001:db8::1"), linkLocal: ip6("fe80::1")), nlri: .ipv6([v6("2001:db8:1::/48"), v6("2001:db8:2::1/128")]))),
            .origin(.igp), .asPath(ASPath(sequence: [65001])), .largeCommunities([LargeCommunity(65001, 7, 8)]),
        ]))),
        .update(.endOfRIB(.ipv6Unicast)),
        .notification(.cease(.administrativeShutdown, communication: "maintenance")),
        .keepalive,
        .routeRefresh(RouteRefreshMessage(family: .ipv6Unicast, subtype: .beginning)),
    ]

    @Test func tsharkDecodesEveryMessageCaracalEncodes() throws {
        try TemporaryDirectory.with { dir in
            var hexdump = ""
            for m in Self.messages {
                let bytes = m.encoded(context: ctx4)
                for (i, chunk) in stride(from: 0, to: bytes.count, by: 16).map({ ($0, bytes[$0..<min($0 + 16, bytes.count)]) }) {
                    hexdump += String(format: "%06x ", i) + chunk.map { String(format: "%02x", $0) }.joined(separator: " ") + "\n"
                }
            }
            let text = dir.appendingPathComponent("msgs.txt"), pcap = dir.appendingPathComponent("msgs.pcap")
            try hexdump.write(to: text, atomically: true, encoding: .utf8)
            try Command.check(["text2pcap", "-q", "-4", "10.0.0.1,10.0.0.2", "-T", "40000,179", text.path, pcap.path])
            // One line per packet: message type, expert messages (malformed or errors).
            let out = try Command.check(["tshark", "-r", pcap.path, "-o", "tcp.desegment_tcp_streams:FALSE", "-T", "fields",
                                         "-E", "separator=|", "-e", "bgp.type", "-e", "_ws.expert.message", "-e", "_ws.malformed"]).stdout
            let lines = out.split(separator: "\n").map(String.init)
            #expect(lines.count == Self.messages.count)
            for (line, m) in zip(lines, Self.messages) {
                let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                #expect(fields.first == String(m.type.rawValue), "\(m.type): \(line)")
                #expect(fields.dropFirst().allSatisfy { $0.isEmpty }, "tshark flags \(m.type): \(line)")
            }
            // Values tshark reads back.
            let values = try Command.check(["tshark", "-r", pcap.path, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,",
                                            "-e", "bgp.open.myas", "-e", "bgp.cap.4as", "-e", "bgp.update.path_attribute.as_path_segment.as4",
                                            "-e", "bgp.large_communities.ga", "-e", "bgp.mp_reach_nlri_ipv6_prefix",
                                            "-e", "bgp.notify.major_error", "-e", "bgp.notify.minor_error_cease", "-e", "bgp.notify.communication"]).stdout
            #expect(values.contains("23456|4200000001"), "\(values)")
            #expect(values.contains("4200000000"), "\(values)")
            #expect(values.contains("2001:db8:1::"), "\(values)")
            #expect(values.contains("6|2|maintenance"), "\(values)")
        }
    }
}
