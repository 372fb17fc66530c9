import Foundation
import IPAddressing
import Testing

@Suite struct IPv4Tests {
    @Test func parsesAndFormats() {
        #expect(IPv4Address("10.0.0.1")?.value == 0x0A00_0001)
        #expect(IPv4Address("255.255.255.255") == .broadcast)
        #expect(IPv4Address(0xC0A8_0101).description == "192.168.1.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d", "1.2.3.4 ", "-1.2.3.4", "1.2.3."] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
        #expect(IPv4Address(bytes: [10, 1, 2, 3]) == IPv4Address(10, 1, 2, 3))
        #expect(IPv4Address(10, 1, 2, 3).bytes == [10, 1, 2, 3])
        #expect(IPv4Address(bytes: [1, 2, 3]) == nil)
    }

    @Test func prefixes() throws {
        let p = try #require(IPv4Prefix("10.1.0.0/16"))
        #expect(p.length == 16)
        #expect(p.description == "10.1.0.0/16")
        #expect(p.contains(IPv4Address("10.1.200.3")!))
        #expect(!p.contains(IPv4Address("10.2.0.0")!))
        #expect(p.contains(IPv4Prefix("10.1.4.0/24")!))
        #expect(!p.contains(IPv4Prefix("10.0.0.0/8")!))
        #expect(IPv4Prefix("10.1.0.1/16") == nil)  // host bits set
        #expect(IPv4Prefix("10.1.0.0/33") == nil)
        #expect(IPv4Prefix("10.1.0.0/016") == nil)
        #expect(IPv4Prefix("10.1.0.0/") == nil)
        #expect(IPv4Prefix("10.1.0.0") == nil)
        #expect(IPv4Prefix(address: IPv4Address("10.1.2.3")!, length: 16)?.description == "10.1.0.0/16")
        #expect(IPv4Prefix("0.0.0.0/0")!.contains(IPv4Address("1.2.3.4")!))
        #expect(IPv4Prefix("10.0.0.0/8")!.lastAddress.description == "10.255.255.255")
        #expect(IPv4Prefix("10.0.0.0/8")!.netmask.description == "255.0.0.0")
        #expect(IPv4Prefix("10.0.0.0/30")!.addressCount == 4)
        #expect(IPv4Prefix("10.0.0.0/8")! < IPv4Prefix("10.0.0.0/9")!)
        #expect(IPv4Prefix("9.0.0.0/9")! < IPv4Prefix("10.0.0.0/8")!)
    }
}

@Suite struct IPv6Tests {
    @Test func parsesAndFormatsRFC5952() throws {
        let cases: [(String, String)] = [
            ("2001:db8::1", "2001:db8::1"),
            ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // first longest run
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // single zero not compressed
            ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
            ("::ffff:10.1.2.3", "::ffff:10.1.2.3"),
            ("fe80::1:2", "fe80::1:2"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ]
        for (input, canonical) in cases {
            let a = try #require(IPv6Address(input), "\(input)")
            #expect(a.description == canonical)
            #expect(IPv6Address(a.description) == a)
        }
        for bad in ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "12345::", "g::", "::1.2.3", "1:2:3:4:5:6:7::8", "fe80::1%eth0", "1.2.3.4"] {
            #expect(IPv6Address(bad) == nil, "\(bad)")
        }
        let a = IPv6Address("2001:db8::1")!
        #expect(IPv6Address(bytes: a.bytes) == a)
        #expect(a.bytes.count == 16)
        #expect(a.bytes[0] == 0x20 && a.bytes[15] == 1)
        #expect(IPv6Address("fe80::1")!.isLinkLocal)
        #expect(IPAddress("fe80::1")!.isIPv6LinkLocal && !IPAddress("fd00::1")!.isIPv6LinkLocal && !IPAddress("169.254.0.1")!.isIPv6LinkLocal)
        #expect(IPv6Address("ff02::1")!.isMulticast)
        #expect(IPv6Address("::ffff:1.2.3.4")!.ipv4Mapped == IPv4Address(1, 2, 3, 4))
    }

    @Test func prefixes() throws {
        let p = try #require(IPv6Prefix("2001:db8::/32"))
        #expect(p.contains(IPv6Address("2001:db8:ffff::1")!))
        #expect(!p.contains(IPv6Address("2001:db9::")!))
        #expect(p.contains(IPv6Prefix("2001:db8:1::/48")!))
        #expect(!p.contains(IPv6Prefix("2001::/16")!))
        #expect(IPv6Prefix("2001:db8::1/64") == nil)
        #expect(IPv6Prefix("2001:db8::/129") == nil)
        #expect(IPv6Prefix("2001:db8::1/128")?.description == "2001:db8::1/128")
        #expect(IPv6Prefix("2001:db8:0:0:8000::/65")?.length == 65)
        #expect(IPv6Prefix("2001:db8:0:0:4000::/65") == nil)
        #expect(IPv6Prefix(address: IPv6Address("2001:db8::ffff")!, length: 120)?.description == "2001:db8::ff00/120")
        #expect(IPv6Prefix("::/0")!.contains(IPv6Address("::1")!))
    }
}

@Suite struct IPEnumTests {
    @Test func textAndOrdering() {
        #expect(IPAddress("10.0.0.1") == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(IPAddress("::1") == .v6(.loopback))
        #expect(IPAddress("x") == nil)
        #expect(IPAddress("255.0.0.0")! < IPAddress("::")!)
        #expect(IPPrefix("10.0.0.0/8")!.contains(IPAddress("10.9.9.9")!))
        #expect(!IPPrefix("10.0.0.0/8")!.contains(IPAddress("::ffff:10.9.9.9")!))
        #expect(IPPrefix("2001:db8::/32")!.contains(IPPrefix("2001:db8::/64")!))
        #expect(IPPrefix("10.0.0.0/8")!.length == 8)
        #expect(IPPrefix(address: IPAddress("10.1.1.1")!, length: 8)?.description == "10.0.0.0/8")
        #expect([IPPrefix("::/0")!, IPPrefix("10.0.0.0/8")!].sorted().first == IPPrefix("10.0.0.0/8"))
        #expect(IPAddress(bytes: [1, 2, 3, 4]) == IPAddress("1.2.3.4"))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }

    @Test func codableAsStrings() throws {
        struct Doc: Codable, Equatable {
            var a: IPAddress, b: IPv4Address, c: IPv6Address, p: IPPrefix, q: IPv4Prefix, r: IPv6Prefix
        }
        let d = Doc(a: IPAddress("2001:db8::1")!, b: IPv4Address("1.2.3.4")!, c: .loopback,
                    p: IPPrefix("10.0.0.0/8")!, q: IPv4Prefix("192.168.0.0/16")!, r: IPv6Prefix("fd00::/8")!)
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let json = String(decoding: try enc.encode(d), as: UTF8.self)
        #expect(json == #"{"a":"2001:db8::1","b":"1.2.3.4","c":"::1","p":"10.0.0.0\/8","q":"192.168.0.0\/16","r":"fd00::\/8"}"#)
        #expect(try JSONDecoder().decode(Doc.self, from: Data(json.utf8)) == d)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([IPv4Prefix].self, from: Data(#"["10.0.0.1/8"]"#.utf8))
        }
    }
}

@Suite struct PrefixArithmeticTests {
    @Test func ipv4() {
        let p = IPv4Prefix("10.1.0.0/30")!
        #expect(p.address(at: 0)?.description == "10.1.0.0")
        #expect(p.address(at: 3)?.description == "10.1.0.3")
        #expect(p.address(at: 4) == nil)
        #expect(p.index(of: IPv4Address("10.1.0.2")!) == 2)
        #expect(p.index(of: IPv4Address("10.1.0.4")!) == nil)
        #expect(IPv4Prefix("10.0.0.0/24")!.subnets(length: 26).map(\.description) == ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"])
        #expect(IPv4Prefix("10.0.0.0/24")!.subnets(length: 23).isEmpty)
        #expect(IPv4Prefix("0.0.0.0/0")!.subnets(length: 1).map(\.description) == ["0.0.0.0/1", "128.0.0.0/1"])
        #expect(IPv4Prefix("10.0.0.0/8")!.subnets(length: 26).count == 1 << 18)
    }

    @Test func ipv6() {
        let p = IPv6Prefix("2001:db8::/126")!
        #expect(p.address(at: 3)?.description == "2001:db8::3")
        #expect(p.address(at: 4) == nil)
        #expect(p.index(of: IPv6Address("2001:db8::2")!) == 2)
        #expect(IPv6Prefix("2001:db8::/32")!.subnets(length: 34).map(\.description) == ["2001:db8::/34", "2001:db8:4000::/34", "2001:db8:8000::/34", "2001:db8:c000::/34"])
        #expect(IPv6Prefix("2001:db8::/64")!.subnets(length: 66).map(\.description) == ["2001:db8::/66", "2001:db8:0:0:4000::/66", "2001:db8:0:0:8000::/66", "2001:db8:0:0:c000::/66"])
        #expect(IPv6Prefix("2001:db8::/60")!.subnets(length: 66).count == 64)
        #expect(IPv6Prefix("2001:db8::/32")!.subnets(length: 128, limit: 10).count == 10)
        #expect(IPPrefix("::/0")!.isIPv6 && IPPrefix("0.0.0.0/0")!.isIPv4)
    }
}
