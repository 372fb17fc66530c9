import BGP
import Foundation
import IPAddressing
import Testing
import TestSupport
@testable import BGPRIB

/// The MRT writer against a real reader: Debian's bgpdump.
@Suite("MRT TABLE_DUMP_V2 (RFC 6396)")
struct MRTTests {
    @Test func bgpdumpReadsTheLocRIB() throws {
        var ecmp = speaker
        ecmp.maximumPaths = 2
        var rib = RIB(decision: DecisionProcess(speaker: ecmp))
        let a = peer("10.1.0.1", routerID: "1.0.0.1"), b = peer("10.1.0.2", routerID: "1.0.0.2")
        let e = peer("192.0.2.1", asn: 4_200_000_001, routerID: "1.0.0.3")
        rib.peerUp(a)
        rib.peerUp(b)
        rib.peerUp(e, importPolicy: .acceptAll)
        _ = rib.receive(update(["10.244.1.0/26"], [.localPref(100), .communities([Community(asn: 65000, value: 7)])], nextHop: "10.1.0.1"), from: a.address)
        _ = rib.receive(update(["10.244.1.0/26"], [.localPref(100), .communities([Community(asn: 65000, value: 7)])], nextHop: "10.1.0.2"), from: b.address)
        _ = rib.receive(update(["198.51.100.0/24"], [.asPath(ASPath(sequence: [4_200_000_001, 64510])), .multiExitDisc(20)], nextHop: "192.0.2.1"),
                        from: e.address)
        let reach = MPReachNLRI(family: .ipv6Unicast, nextHop: .ipv6(IPv6Address("fd00::1")!, linkLocal: nil),
                                nlri: .ipv6([IPv6NLRI(IPv6Prefix("fd00:244::/122")!)]))
        _ = rib.receive(UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath()), .localPref(200), .mpReachNLRI(reach)])), from: a.address)
        _ = rib.originate(IPPrefix("10.244.9.0/26")!, nextHop: IPAddress("10.0.0.1")!)

        try TemporaryDirectory.with { dir in
            let file = dir.appendingPathComponent("rib.mrt")
            try Data(MRTTableDump.write(rib, timestamp: 1_800_000_000)).write(to: file)
            let out = try Command.check(["bgpdump", "-m", file.path]).stdout
            let lines = out.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
            // TABLE_DUMP2|time|B|peer|peer AS|prefix|AS path|origin|next hop|local pref|MED|communities|...
            #expect(lines.count == 5, "\(out)")
            #expect(lines.allSatisfy { $0[0] == "TABLE_DUMP2" && $0[1] == "1800000000" })
            let ecmpLines = lines.filter { $0[5] == "10.244.1.0/26" }
            #expect(Set(ecmpLines.map { $0[3] }) == ["10.1.0.1", "10.1.0.2"] && ecmpLines.allSatisfy { $0[8] == $0[3] && $0[9] == "100" })
            #expect(ecmpLines.allSatisfy { $0[11] == "65000:7" })
            let external = try #require(lines.first { $0[5] == "198.51.100.0/24" })
            #expect(external[3] == "192.0.2.1" && external[4] == "4200000001" && external[6] == "4200000001 64510" && external[10] == "20")
            let v6 = try #require(lines.first { $0[5] == "fd00:244::/122" })
            #expect(v6[8] == "fd00::1" && v6[9] == "200")
            let local = try #require(lines.first { $0[5] == "10.244.9.0/26" })
            #expect(local[3] == "0.0.0.0" && local[8] == "10.0.0.1" && local[7] == "IGP")
        }
    }
}
