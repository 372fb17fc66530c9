import ClusterModel
import CMnl
import Foundation
import IPAddressing
import Testing
@testable import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// Pure encoder/decoder tests: no sockets, no root.
@Suite("Netlink codec")
struct CodecTests {
    func roundTrip(_ route: Route) throws -> Route? {
        let batch = NetlinkBatch(capacity: 64)  // small: forces growth
        batch.appendRoute(route, .replace)
        var decoded: Route?
        try NetlinkMessage.forEach(in: batch.messageBytes(at: 0)) { decoded = try Route.decode($0) }
        return decoded
    }

    @Test func routesRoundTrip() throws {
        let routes: [Route] = [
            .device(prefix("10.0.0.1/32"), interfaceIndex: 7),
            .blackhole(prefix("fd00:8::/48"), table: RouteTable(1000), metric: 5),
            Route(destination: prefix("0.0.0.0/0"), protocol: .bird, nextHops: [NextHop(gateway: address("10.0.0.254"), interfaceIndex: 2, onLink: true)]),
            Route(destination: prefix("fd00:9::/64"), table: RouteTable(100), metric: 20,
                  nextHops: [NextHop(gateway: address("fd00::1"), interfaceIndex: 2, weight: 256),
                             NextHop(gateway: address("fd00::2"), interfaceIndex: 3, weight: 1, onLink: true)]),
            Route(destination: prefix("10.7.0.0/24"), nextHops: [NextHop(gateway: address("fd00:1::2"), interfaceIndex: 2)]),
        ]
        for route in routes { #expect(try roundTrip(route) == route) }
    }

    @Test func loneNextHopIsCanonical() throws {
        let lone = NextHops([NextHop(gateway: address("10.0.0.1"), interfaceIndex: 2, weight: 7)])
        #expect(lone.first?.weight == 1)
        let route = Route(destination: prefix("10.1.0.0/16"), nextHops: lone)
        #expect(try roundTrip(route) == route)
    }

    @Test func requestLayout() {
        let batch = NetlinkBatch()
        batch.appendRoute(.device(prefix("10.0.0.1/32"), interfaceIndex: 3), .add)
        let bytes = Array(batch.messageBytes(at: 0))
        // nlmsghdr(16) + rtmsg(12) + RTA_DST(8) + RTA_OIF(8), as `ip route add` sends it.
        #expect(bytes.count == 44)
        #expect(bytes[0] == 44 && bytes[4] == UInt8(RTM_NEWROUTE))
        let flags = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        #expect(flags == UInt16(NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL))
        #expect(Array(bytes[32..<36]) == [10, 0, 0, 1])
        batch.stamp(index: 0, sequence: 9, acknowledge: true)
        #expect(batch.messageBytes(at: 0)[8] == 9)
    }

    @Test func appendingARangeOfAnotherBatchCopiesThoseMessages() {
        let source = NetlinkBatch(capacity: 64)
        for i in 1...5 { source.appendRoute(.device(prefix("10.0.0.\(i)/32"), interfaceIndex: UInt32(i)), .add) }
        let target = NetlinkBatch(capacity: 64)  // small: forces growth
        target.appendRoute(.device(prefix("10.9.9.9/32"), interfaceIndex: 9), .add)
        target.appendMessages(of: source, 1..<4)
        target.appendMessages(of: source, 4..<5)  // the last message: up to byteCount
        target.appendMessages(of: source, 2..<2)
        #expect(target.count == 5)
        let expected = [0, 1, 2, 3, 4].map { $0 == 0 ? Array(target.messageBytes(at: 0)) : Array(source.messageBytes(at: $0)) }
        #expect((0..<5).map { Array(target.messageBytes(at: $0)) } == expected)
        #expect(target.byteCount == expected.map(\.count).reduce(0, +))
    }

    @Test func errorWithExtendedAck() throws {
        // NLMSG_ERROR, capped, with NLMSGERR_ATTR_MSG and NLMSGERR_ATTR_OFFS.
        var payload: [UInt8] = []
        withUnsafeBytes(of: Int32(-ENETDOWN)) { payload += $0 }
        payload += [44, 0, 0, 0, 24, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        let text = Array("Nexthop device is not up".utf8) + [0]
        payload += [UInt8(4 + text.count), 0, 1, 0] + text
        while payload.count % 4 != 0 { payload.append(0) }
        payload += [8, 0, 2, 0, 32, 0, 0, 0]
        var message: [UInt8] = []
        withUnsafeBytes(of: UInt32(16 + payload.count)) { message += $0 }
        message += [2, 0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0] + payload
        var error: NetlinkError?
        try message.withUnsafeBytes { buffer in
            try NetlinkMessage.forEach(in: buffer) { error = try NetlinkSocket.parseError($0, operation: "RTM_NEWROUTE") }
        }
        #expect(error?.errno == ENETDOWN)
        #expect(error?.kernelMessage == "Nexthop device is not up")
        #expect(error?.attributeOffset == 32)
    }

    @Test func conntrackEntriesDecode() throws {
        // Fuzz/FuzzNetlink/corpus/conntrack-v4-v6: an IPv4 entry in zone 7
        // (both tuples) and an IPv6 one (original tuple only).
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/FuzzNetlink/corpus/conntrack-v4-v6")
        let bytes = try [UInt8](Data(contentsOf: url))
        var entries: [ConntrackEntry] = []
        try bytes.withUnsafeBytes { try NetlinkMessage.forEach(in: $0) { entries.append(try ConntrackEntry.decode($0)) } }
        #expect(entries.count == 2)
        #expect(entries[0].family == 2 && entries[0].zone == 7)
        #expect(entries[0].addresses == [IPAddress("10.244.0.1")!, IPAddress("10.244.0.2")!])
        #expect(entries[0].originalTuple?.isEmpty == false)
        #expect(entries[1].family == 10 && entries[1].zone == nil && entries[1].addresses == [IPAddress("::1")!, IPAddress("::2")!])
        // A truncated address is malformed, not a crash or a wrong address.
        var bad = bytes
        bad[28] = 7  // CTA_IP_V4_SRC's length: 7 instead of 8
        #expect { try bad.withUnsafeBytes { try NetlinkMessage.forEach(in: $0) { _ = try ConntrackEntry.decode($0) } } } throws: {
            ($0 as? NetlinkError)?.kind == .malformed
        }
    }

    @Test func malformedInputThrows() {
        let cases: [[UInt8]] = [
            [40, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  // length beyond buffer
            [8, 0, 0, 0, 24, 0, 0, 0],                          // shorter than a header
            [16, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2],  // trailing bytes
        ]
        for bytes in cases {
            #expect {
                try bytes.withUnsafeBytes { try NetlinkMessage.forEach(in: $0) { _ = try Route.decode($0) } }
            } throws: { ($0 as? NetlinkError)?.kind == .malformed }
        }
        // An attribute claiming more bytes than it has.
        let attributes: [UInt8] = [12, 0, 1, 0, 10, 0]
        #expect(throws: NetlinkError.self) {
            try attributes.withUnsafeBytes { try NetlinkAttributes($0).forEach { _ in } }
        }
    }

    @Test func macAddressText() {
        #expect(MACAddress("02:AA:bb:0c:dd:0e")?.description == "02:aa:bb:0c:dd:0e")
        #expect(MACAddress("02:aa:bb") == nil)
        #expect(MACAddress("zz:aa:bb:0c:dd:0e") == nil)
    }

    @Test func interfaceNamesForSysctlPaths() {
        #expect(InterfaceSysctl.isValidInterfaceName("eth0"))
        #expect(InterfaceSysctl.isValidInterfaceName("all"))
        for bad in ["", ".", "..", "a/b", "sixteen-chars-xx", "a b"] { #expect(!InterfaceSysctl.isValidInterfaceName(bad)) }
    }
}
