import Foundation
import Testing
import TestSupport

extension InteropTests {
    /// An unnumbered link: eBGP with BIRD over the veth's IPv6 link-local
    /// addresses only (`fe80::1%ll0`). IPv6 routes both ways with
    /// link-local next hops, IPv4 routes over the same session by RFC 8950,
    /// in both kernels as `via [inet6] fe80::x dev IF`, and pings across
    /// them; a connection from the peer's address on another interface is
    /// refused.
    @Test func linkLocalPeeringWithBIRD() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b"), c = try net.namespace("c")
                try net.veth(a, "ll0", nil, b, "ll1", nil)
                try net.veth(a, "ll2", nil, c, "ll3", nil)
                // Only the addresses the test chooses: no autoconfigured ones.
                for (ns, dev, address) in [(a, "ll0", "fe80::1"), (b, "ll1", "fe80::2"), (a, "ll2", "fe80::11"), (c, "ll3", "fe80::2")] {
                    try ns.ip("-6", "addr", "flush", "dev", dev, "scope", "link")
                    try ns.ip("addr", "add", "\(address)/64", "dev", dev, "nodad")
                }
                try a.ip("addr", "add", "10.244.62.1/32", "dev", "lo")
                try a.ip("addr", "add", "fd00:244:62::1/128", "dev", "lo", "nodad")
                try b.ip("addr", "add", "10.98.62.1/32", "dev", "lo")
                try b.ip("addr", "add", "fd00:98:62::1/128", "dev", "lo", "nodad")
                let bird = try BIRD(in: b, config: """
                    router id 10.98.62.1;
                    protocol device {}
                    protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
                    protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
                    protocol static { ipv4; route 10.98.62.0/24 blackhole; }
                    protocol static { ipv6; route fd00:98:62::/64 blackhole; }
                    protocol bgp ll { local fe80::2 as 65002; neighbor fe80::1 % 'll1' as 64512; interface "ll1"; \(Self.birdTimers)
                      ipv4 { extended next hop on; import all; export where source = RTS_STATIC; };
                      ipv6 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.244.62.1", listen: ["fe80::1%ll0", "fe80::11%ll2"], originate: ["10.244.62.0/24", "fd00:244:62::/64"], peers: """
                      - name: bird
                        address: "fe80::2%ll0"
                        remoteAS: 65002
                        holdTime: 9
                        connectRetryTime: 1
                        importPolicy: accept-all
                        exportPolicy: accept-all
                """, policies: """
                      - name: accept-all
                        default: accept
                """), directory: dir)
                #expect(try eventually { try agent.established("fe80::2%ll0") && bird.established("ll") }, "\(agent.daemon.output)")
                let peer = try #require(try agent.peer("fe80::2%ll0"))
                #expect((peer["capabilities"] as? [String])?.contains("extended-next-hop") == true, "\(peer)")
                // Caracal's kernel: BIRD's routes through its link-local address on ll0.
                #expect(try eventually { try agent.kernelRoutes("-6").contains("fd00:98:62::/64 via fe80::2 dev ll0") },
                        "\((try? agent.kernelRoutes("-6")) ?? "")")
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.62.0/24 via inet6 fe80::2 dev ll0") },
                        "\((try? agent.kernelRoutes()) ?? "")")
                // BIRD's kernel: ours through fe80::1 on ll1 (we have no global
                // address there: the link-local next hop alone).
                #expect(try eventually { try b.run(["ip", "-6", "route"]).stdout.contains("fd00:244:62::/64 via fe80::1 dev ll1") },
                        "\((try? b.run(["ip", "-6", "route"]).stdout) ?? "")")
                #expect(try eventually { try b.run(["ip", "route"]).stdout.contains("10.244.62.0/24 via inet6 fe80::1 dev ll1") },
                        "\((try? b.run(["ip", "route"]).stdout) ?? "") \((try? bird.cli("show route all")) ?? "")")
                #expect(try a.run(["ping", "-6", "-c", "1", "-W", "2", "-I", "fd00:244:62::1", "fd00:98:62::1"]).succeeded)
                #expect(try a.run(["ping", "-c", "1", "-W", "2", "-I", "10.244.62.1", "10.98.62.1"]).succeeded)
                #expect(try b.run(["ping", "-c", "1", "-W", "2", "-I", "10.98.62.1", "10.244.62.1"]).succeeded)

                // The peer's address on another interface (ll2, where Caracal
                // also listens) is not the peer: closed without a word.
                let probe = try c.run(["python3", "-c", """
                    import socket
                    s = socket.create_connection(("fe80::11%ll3", 179), timeout=5)
                    s.settimeout(5)
                    print("closed" if s.recv(100) == b"" else "answered")
                    """])
                #expect(probe.stdout.contains("closed"), "\(probe.stdout) \(probe.stderr)")
                #expect(eventually(5) { agent.daemon.output.contains("scope=ll2") }, "\(agent.daemon.output.suffix(2000))")
                #expect(try agent.established("fe80::2%ll0"), "the real peer's session is untouched")
            }
        }
    }
}
