import Foundation
import Testing
import TestSupport

/// `caracal agent` against real BGP daemons from Debian (BIRD 2, GoBGP 3),
/// each in a namespace of its own, joined by veths or a bridge namespace.
@Suite("BGP interop: caracal agent with BIRD and GoBGP", .serialized)
struct InteropTests {
    static let birdTimers = "hold time 9; keepalive time 3; connect delay time 1; connect retry time 2; error wait time 1, 5;"

    func agentConfig(as asn: Int = 64512, routerID: String, listen: [String], originate: [String], peers: String,
                     policies: String = "", extra: String = "") -> String {
        """
        apiVersion: caracal.io/v1alpha1
        kind: AgentConfiguration
        metadata:
          name: test
        spec:
          bgp:
            asNumber: \(asn)
            routerID: \(routerID)
            listen:
              addresses: [\(listen.map { "\"\($0)\"" }.joined(separator: ", "))]
            originate: [\(originate.map { "\"\($0)\"" }.joined(separator: ", "))]
        \(extra)
            policies:
        \(policies.isEmpty ? "      []" : policies)
            peers:
        \(peers)
          control:
            socket: @SOCKET@
        """
    }

    /// iBGP with BIRD over IPv4 and IPv6 sessions: each side's routes in
    /// the other's table and kernel, pings across them; then Caracal is
    /// killed and restarted: BIRD keeps its routes (graceful restart) and
    /// Caracal's kernel routes stay throughout.
    @Test func iBGPWithBIRDBothFamiliesPingAndGracefulRestart() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.61.0.1/24", b, "b0", "10.61.0.2/24")
                try a.ip("addr", "add", "fd61::1/64", "dev", "a0", "nodad")
                try b.ip("addr", "add", "fd61::2/64", "dev", "b0", "nodad")
                try a.ip("addr", "add", "10.244.61.1/32", "dev", "lo")
                try a.ip("addr", "add", "fd00:244:61::1/128", "dev", "lo", "nodad")
                try b.ip("addr", "add", "10.98.61.1/32", "dev", "lo")
                try b.ip("addr", "add", "fd00:98:61::1/128", "dev", "lo", "nodad")
                let bird = try BIRD(in: b, config: """
                    router id 10.61.0.2;
                    protocol device {}
                    protocol direct { ipv4; ipv6; interface "b0"; }
                    protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
                    protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
                    protocol static { ipv4; route 10.98.61.0/24 blackhole; }
                    protocol static { ipv6; route fd00:98:61::/64 blackhole; }
                    protocol bgp c4 { local 10.61.0.2 as 64512; neighbor 10.61.0.1 as 64512; \(Self.birdTimers)
                      graceful restart on; ipv4 { import all; export where source = RTS_STATIC; }; }
                    protocol bgp c6 { local fd61::2 as 64512; neighbor fd61::1 as 64512; \(Self.birdTimers)
                      graceful restart on; ipv6 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let config = agentConfig(routerID: "10.61.0.1", listen: ["10.61.0.1", "fd61::1"],
                                         originate: ["10.244.61.0/24", "fd00:244:61::/64"], peers: """
                      - name: bird4
                        address: 10.61.0.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv4-unicast]
                      - name: bird6
                        address: "fd61::2"
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv6-unicast]
                """) + "\n  metrics:\n    address: \"127.0.0.1:9464\"\n"
                var agent: CaracalAgent? = try CaracalAgent(in: a, config: config, directory: dir)
                #expect(try eventually { try agent!.established("10.61.0.2") && agent!.established("fd61::2") }, "\(agent!.daemon.output)")
                #expect(try eventually { try bird.established("c4") && bird.established("c6") })
                // Each side's routes in the other's table and kernel.
                #expect(try eventually { try agent!.kernelRoutes().contains("10.98.61.0/24 via 10.61.0.2 dev a0") })
                #expect(try eventually { try agent!.kernelRoutes("-6").contains("fd00:98:61::/64 via fd61::2 dev a0") })
                #expect(try eventually { try b.run(["ip", "route"]).stdout.contains("10.244.61.0/24 via 10.61.0.1") })
                #expect(try eventually { try b.run(["ip", "-6", "route"]).stdout.contains("fd00:244:61::/64 via fd61::1") })
                #expect(try a.run(["ping", "-c", "1", "-W", "2", "-I", "10.244.61.1", "10.98.61.1"]).succeeded)
                #expect(try a.run(["ping", "-6", "-c", "1", "-W", "2", "-I", "fd00:244:61::1", "fd00:98:61::1"]).succeeded)
                let peer = try #require(try agent!.peer("10.61.0.2"))
                #expect(peer["received"] as? Int == 1 && peer["advertised"] as? Int == 1)
                #expect((peer["capabilities"] as? [String])?.contains("graceful-restart") == true)
                // Prometheus metrics on the configured address.
                let metrics = try a.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9464/metrics').read().decode())"]).stdout
                #expect(metrics.contains("caracal_bgp_sessions{state=\"Established\"} 2"), "\(metrics.prefix(2000))")
                #expect(metrics.contains("caracal_bgp_updates_in_total") && metrics.contains("caracal_routes_programmed"))

                // Killed: BIRD keeps our route (stale) and our kernel routes stay.
                agent!.daemon.kill()
                #expect(try eventually(15) { try !bird.established("c4") })
                #expect(try bird.cli("show route 10.244.61.0/24").contains("10.244.61.0/24"), "kept by BIRD as stale")
                #expect(try agent!.kernelRoutes().contains("10.98.61.0/24"), "forwarding kept while the agent is down")
                #expect(try a.run(["ping", "-c", "1", "-W", "2", "-I", "10.244.61.1", "10.98.61.1"]).succeeded)
                agent = try CaracalAgent(in: a, config: config, directory: dir, name: "caracal-restarted")
                #expect(try eventually { try agent!.established("10.61.0.2") })
                #expect(try eventually { try agent!.status()["restarting"] as? Bool == false }, "converged after BIRD's End-of-RIB")
                #expect(agent!.daemon.output.contains("restarting=true"), "the agent saw its routes and restarted gracefully")
                #expect(try agent!.kernelRoutes().contains("10.98.61.0/24 via 10.61.0.2"))
                #expect(try bird.cli("show route 10.244.61.0/24").contains("10.244.61.0/24"))
                agent!.daemon.stop()
                #expect(agent!.daemon.output.contains("agent stopping"))
            }
        }
    }

    /// Caracal reflects between a BIRD client and a GoBGP client on one
    /// bridge: each sees the other's route with ORIGINATOR_ID and CLUSTER_LIST.
    @Test func routeReflectorForBIRDAndGoBGP() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let sw = try net.namespace("sw"), r = try net.namespace("r"), b = try net.namespace("b"), g = try net.namespace("g")
                try sw.ip("link", "add", "br0", "type", "bridge")
                try sw.ip("link", "set", "br0", "up")
                for (ns, address, port) in [(r, "10.62.0.1/24", "pr"), (b, "10.62.0.2/24", "pb"), (g, "10.62.0.3/24", "pg")] {
                    try net.veth(ns, "e0", address, sw, port)
                    try sw.ip("link", "set", port, "master", "br0")
                }
                let bird = try BIRD(in: b, config: """
                    router id 10.62.0.2;
                    protocol device {}
                    protocol direct { ipv4; interface "e0"; }
                    protocol static { ipv4; route 10.98.62.0/24 blackhole; }
                    protocol bgp reflector { local 10.62.0.2 as 64512; neighbor 10.62.0.1 as 64512; \(Self.birdTimers)
                      ipv4 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let gobgp = try GoBGP(in: g, asNumber: 64512, routerID: "10.62.0.3", neighbor: "10.62.0.1", peerAS: 64512, directory: dir)
                let agent = try CaracalAgent(in: r, config: agentConfig(
                    routerID: "10.62.0.1", listen: ["10.62.0.1"], originate: [], peers: """
                      - name: bird
                        address: 10.62.0.2
                        remoteAS: internal
                        routeReflectorClient: true
                        holdTime: 9
                        connectRetryTime: 1
                      - name: gobgp
                        address: 10.62.0.3
                        remoteAS: internal
                        routeReflectorClient: true
                        holdTime: 9
                        connectRetryTime: 1
                """, extra: """
                    routeReflector:
                      clusterID: 10.62.0.100
                """) + "\n  kernel:\n    programRoutes: false\n", directory: dir)
                #expect(try eventually { try agent.established("10.62.0.2") && agent.established("10.62.0.3") }, "\(agent.daemon.output)")
                _ = try gobgp.cli(["global", "rib", "add", "-a", "ipv4", "10.98.63.0/24", "nexthop", "10.62.0.3"])
                // BIRD, the client, gets GoBGP's route reflected.
                #expect(try eventually { try bird.cli("show route 10.98.63.0/24 all").contains("BGP.originator_id: 10.62.0.3") })
                let seen = try bird.cli("show route 10.98.63.0/24 all")
                #expect(seen.contains("BGP.cluster_list: 10.62.0.100"), "\(seen)")
                #expect(seen.contains("BGP.next_hop: 10.62.0.3"), "a reflector never rewrites the next hop")
                // GoBGP gets BIRD's.
                #expect(try eventually { try gobgp.rib()["10.98.62.0/24"] != nil })
                let attrs = try gobgp.cli(["-j", "global", "rib", "-a", "ipv4", "10.98.62.0/24"]).stdout
                #expect(attrs.contains("\"type\":9") && attrs.contains("10.62.0.2"), "ORIGINATOR_ID: \(attrs)")
                #expect(attrs.contains("\"type\":10") && attrs.contains("10.62.0.100"), "CLUSTER_LIST: \(attrs)")
                #expect(try agent.kernelRoutes().isEmpty, "kernel programming off: a pure reflector")
            }
        }
    }

    /// eBGP with GoBGP: Caracal's export policy filters and sets MED, our AS
    /// is prepended, GoBGP's route reaches the kernel; a peer with the wrong
    /// AS is refused with Bad Peer AS and status says so.
    @Test func eBGPWithGoBGPExportPolicyAndABadPeerAS() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), g = try net.namespace("g"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.64.0.1/24", g, "g0", "10.64.0.2/24")
                try net.veth(a, "a1", "10.66.0.1/24", b, "b0", "10.66.0.2/24")
                let gobgp = try GoBGP(in: g, asNumber: 65001, routerID: "10.64.0.2", neighbor: "10.64.0.1", peerAS: 64512, directory: dir)
                let bird = try BIRD(in: b, config: """
                    router id 10.66.0.2;
                    protocol device {}
                    protocol bgp c { local 10.66.0.2 as 65002; neighbor 10.66.0.1 as 64512; \(Self.birdTimers)
                      ipv4 { import all; export none; }; }
                    """, directory: dir)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.64.0.1", listen: ["10.64.0.1", "10.66.0.1"], originate: ["10.244.64.0/24", "10.77.0.0/16"], peers: """
                      - name: gobgp
                        address: 10.64.0.2
                        remoteAS: external
                        holdTime: 9
                        connectRetryTime: 1
                        importPolicy: accept-all
                        exportPolicy: blocks
                      - name: wrong-as
                        address: 10.66.0.2
                        remoteAS: 65009
                        holdTime: 9
                        connectRetryTime: 1
                """, policies: """
                      - name: accept-all
                        default: accept
                      - name: blocks
                        terms:
                          - name: pod-blocks
                            match:
                              prefixes: [{prefix: 10.244.0.0/16, le: 26}]
                            actions:
                              setMED: 50
                            then: accept
                        default: reject
                """), directory: dir)
                #expect(try eventually { try agent.established("10.64.0.2") && gobgp.established() }, "\(agent.daemon.output)")
                _ = try gobgp.cli(["global", "rib", "add", "-a", "ipv4", "10.98.64.0/24", "nexthop", "10.64.0.2"])
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.64.0/24 via 10.64.0.2 dev a0") })
                #expect(try eventually { try gobgp.rib()["10.244.64.0/24"] != nil })
                let rib = try gobgp.rib()
                #expect(rib["10.77.0.0/16"] == nil, "the export policy rejects what is not a pod block")
                let path = try gobgp.cli(["-j", "global", "rib", "-a", "ipv4", "10.244.64.0/24"]).stdout
                #expect(path.contains("\"asns\":[64512]"), "our AS prepended: \(path)")
                #expect(path.contains("\"metric\":50"), "MED set by the export policy: \(path)")
                #expect(try agent.peer("10.64.0.2")?["asNumber"] as? Int == 65001, "remoteAS external: the AS the peer opened with")
                // The wrong AS: refused, and status says why.
                #expect(try eventually { (try agent.peer("10.66.0.2")?["info"] as? String ?? "").contains("Bad Peer AS") },
                        "\((try? agent.peer("10.66.0.2")).flatMap { $0 } ?? [:])")
                #expect(try agent.peer("10.66.0.2")?["state"] as? String != "Established")
                #expect(try !bird.established("c"))
            }
        }
    }

    /// A raw peer (a script) sends a malformed UPDATE (treat-as-withdraw)
    /// and a good one, then a message with a broken marker: Caracal keeps
    /// the good route, drops the bad one, answers the header error with
    /// NOTIFICATION 1/1, and its session with BIRD stays up.
    @Test func malformedMessagesFromARawPeer() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), raw = try net.namespace("raw"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.65.0.1/24", raw, "r0", "10.65.0.2/24")
                try net.veth(a, "a1", "10.67.0.1/24", b, "b0", "10.67.0.2/24")
                let bird = try BIRD(in: b, config: """
                    router id 10.67.0.2;
                    protocol device {}
                    protocol bgp c { local 10.67.0.2 as 65007; neighbor 10.67.0.1 as 64512; \(Self.birdTimers)
                      ipv4 { import all; export none; }; }
                    """, directory: dir)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.65.0.1", listen: ["10.65.0.1", "10.67.0.1"], originate: [], peers: """
                      - name: raw
                        address: 10.65.0.2
                        remoteAS: 65005
                        passive: true
                        importPolicy: accept-all
                        exportPolicy: accept-all
                      - name: bird
                        address: 10.67.0.2
                        remoteAS: 65007
                        holdTime: 9
                        connectRetryTime: 1
                        importPolicy: accept-all
                        exportPolicy: accept-all
                """, policies: """
                      - name: accept-all
                        default: accept
                """), directory: dir)
                #expect(try eventually { try agent.established("10.67.0.2") })
                let script = dir.appendingPathComponent("rawpeer.py")
                try RawPeer.script.write(to: script, atomically: true, encoding: .utf8)
                let go = dir.appendingPathComponent("go").path
                let peer = try Daemon("rawpeer", in: raw, ["python3", script.path, "10.65.0.1", go], directory: dir)
                #expect(try eventually { try agent.established("10.65.0.2") }, "\(peer.output)")
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.66.0/24") }, "the good UPDATE's route")
                #expect(try !agent.kernelRoutes().contains("10.98.65.0/24"), "the malformed UPDATE is treated as a withdrawal")
                FileManager.default.createFile(atPath: go, contents: nil)
                #expect(eventually { peer.output.contains("NOTIFICATION 1 1") }, "\(peer.output)")
                #expect(try eventually { try !agent.established("10.65.0.2") })
                #expect(try agent.established("10.67.0.2") && bird.established("c"), "the other session stays up")
                #expect(try !agent.kernelRoutes().contains("10.98.66.0/24"), "the reset peer's routes are withdrawn")
            }
        }
    }

    /// TCP MD5 (RFC 2385): the right password comes up; a wrong one never
    /// does, and status says what to check.
    @Test func md5RightAndWrongPassword() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.68.0.1/24", b, "b0", "10.68.0.2/24")
                try net.veth(a, "a1", "10.69.0.1/24", b, "b1", "10.69.0.2/24")
                let bird = try BIRD(in: b, config: """
                    router id 10.68.0.2;
                    protocol device {}
                    protocol bgp right { local 10.68.0.2 as 65008; neighbor 10.68.0.1 as 64512; password "s3cret-key"; \(Self.birdTimers)
                      ipv4 { import all; export none; }; }
                    protocol bgp wrong { local 10.69.0.2 as 65008; neighbor 10.69.0.1 as 64512; password "not-the-key"; \(Self.birdTimers)
                      ipv4 { import all; export none; }; }
                    """, directory: dir)
                let secret = dir.appendingPathComponent("right.key")
                try "s3cret-key\n".write(to: secret, atomically: true, encoding: .utf8)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.68.0.1", listen: ["10.68.0.1", "10.69.0.1"], originate: [], peers: """
                      - name: right
                        address: 10.68.0.2
                        remoteAS: 65008
                        holdTime: 9
                        connectRetryTime: 1
                        password: {file: \(secret.path)}
                      - name: wrong
                        address: 10.69.0.2
                        remoteAS: 65008
                        holdTime: 9
                        connectRetryTime: 1
                        password: {env: WRONG_KEY}
                """), directory: dir, environment: ["WRONG_KEY": "s3cret-key", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
                #expect(try eventually { try agent.established("10.68.0.2") && bird.established("right") }, "\(agent.daemon.output)")
                Thread.sleep(forTimeInterval: 4)
                #expect(try !agent.established("10.69.0.2") && !bird.established("wrong"))
                #expect(try eventually { (try agent.peer("10.69.0.2")?["info"] as? String ?? "").contains("TCP MD5") },
                        "\((try? agent.peer("10.69.0.2")).flatMap { $0 } ?? [:])")
                // A password that resolves to nothing refuses to start.
                let bad = try Command.run([BuiltProduct.path("caracal"), "agent", "check", "--config", agent.configFile.path],
                                          environment: ["PATH": "/usr/bin:/bin"])
                #expect(!bad.succeeded && bad.stderr.contains("WRONG_KEY is not set"), "\(bad.stderr)")
            }
        }
    }
}

extension InteropTests {
    /// Dynamic neighbours: a session from any address of a range, with the
    /// range's settings; the peer is gone from status once its session ends.
    @Test func dynamicNeighboursFromARange() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.63.0.1/24", b, "b0", "10.63.0.7/24")
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.63.0.1", listen: ["10.63.0.1"], originate: ["10.244.63.0/24"], peers: "      []", policies: """
                      - name: accept-all
                        default: accept
                """, extra: """
                    peerRanges:
                      - name: rack
                        prefix: 10.63.0.0/24
                        remoteAS: 65003
                        holdTime: 9
                        importPolicy: accept-all
                        exportPolicy: accept-all
                """), directory: dir)
                let bird = try BIRD(in: b, config: """
                    router id 10.63.0.7;
                    protocol device {}
                    protocol static { ipv4; route 10.98.67.0/24 blackhole; }
                    protocol bgp c { local 10.63.0.7 as 65003; neighbor 10.63.0.1 as 64512; \(Self.birdTimers)
                      graceful restart off; ipv4 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                #expect(try eventually { try agent.established("10.63.0.7") }, "\(agent.daemon.output)")
                #expect(try agent.peer("10.63.0.7")?["name"] as? String == "rack-10.63.0.7")
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.67.0/24 via 10.63.0.7") })
                #expect(try eventually { try bird.cli("show route 10.244.63.0/24").contains("10.244.63.0/24") })
                bird.daemon.stop()
                #expect(try eventually { try agent.peer("10.63.0.7") == nil }, "a dynamic neighbour lives as long as its session")
                #expect(try eventually { try !agent.kernelRoutes().contains("10.98.67.0/24") }, "without graceful restart its routes leave at once")
            }
        }
    }
}

extension InteropTests {
    /// Caracal as graceful-restart helper: BIRD is killed and comes back;
    /// its routes stay in Caracal's RIB and kernel, marked stale, until its
    /// End-of-RIB. Then max-prefix trips (restart action) and is reported,
    /// and a reload changes an export policy without resetting the session
    /// it does not affect, while a bad file is refused with the field named.
    @Test func helperRestartMaxPrefixAndReload() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b"), c = try net.namespace("c")
                try net.veth(a, "a0", "10.75.0.1/24", b, "b0", "10.75.0.2/24")
                try net.veth(a, "a1", "10.76.0.1/24", c, "c0", "10.76.0.2/24")
                let birdConfig = """
                    router id 10.75.0.2;
                    protocol device {}
                    protocol static { ipv4; route 10.98.75.0/24 blackhole; route 10.98.76.0/24 blackhole; }
                    protocol bgp c { local 10.75.0.2 as 64512; neighbor 10.75.0.1 as 64512; \(Self.birdTimers)
                      graceful restart on; graceful restart time 30; ipv4 { import all; export where source = RTS_STATIC; }; }
                    """
                var bird = try BIRD(in: b, config: birdConfig, directory: dir)
                let flooder = try BIRD(in: c, config: """
                    router id 10.76.0.2;
                    protocol device {}
                    protocol static { ipv4; route 10.99.1.0/24 blackhole; route 10.99.2.0/24 blackhole; route 10.99.3.0/24 blackhole; }
                    protocol bgp c { local 10.76.0.2 as 65010; neighbor 10.76.0.1 as 64512; \(Self.birdTimers)
                      ipv4 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir, name: "flooder")
                func config(export: String) -> String {
                    agentConfig(routerID: "10.75.0.1", listen: ["10.75.0.1", "10.76.0.1"], originate: ["10.244.75.0/24", "10.77.0.0/16"], peers: """
                      - name: bird
                        address: 10.75.0.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                      - name: flooder
                        address: 10.76.0.2
                        remoteAS: 65010
                        holdTime: 9
                        connectRetryTime: 1
                        importPolicy: all
                        exportPolicy: \(export)
                        maxPrefixes: {limit: 2, action: restart, restartAfter: 600}
                """, policies: """
                      - name: all
                        default: accept
                      - name: none
                        default: reject
                """)
                }
                let agent = try CaracalAgent(in: a, config: config(export: "all"), directory: dir)
                #expect(try eventually { try agent.established("10.75.0.2") }, "\(agent.daemon.output)")
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.76.0/24 via 10.75.0.2") })

                // Max prefixes: 3 > 2, Cease and no restart for 600 s.
                #expect(try eventually { (try agent.peer("10.76.0.2")?["info"] as? String ?? "").contains("max prefixes exceeded") })
                #expect(try eventually { try flooder.cli("show protocols all c").contains("Maximum number of prefixes reached") },
                        "\((try? flooder.cli("show protocols all c")) ?? "")")
                #expect(try agent.peer("10.76.0.2")?["state"] as? String != "Established")

                // BIRD killed: its routes stay, stale, in the RIB and the kernel.
                let flapsBefore = try agent.peer("10.75.0.2")?["flaps"] as? Int ?? -1
                bird.daemon.kill()
                #expect(try eventually { try agent.peer("10.75.0.2")?["state"] as? String != "Established" })
                #expect(try eventually { try agent.peer("10.75.0.2")?["stale"] as? Int == 2 })
                #expect(try agent.kernelRoutes().contains("10.98.76.0/24 via 10.75.0.2"), "kept while BIRD restarts")
                bird = try BIRD(in: b, config: birdConfig, directory: dir, name: "bird-restarted")
                #expect(try eventually { try agent.established("10.75.0.2") })
                #expect(try eventually { try agent.peer("10.75.0.2")?["stale"] as? Int == 0 }, "End-of-RIB swept the stale marks")
                #expect(try agent.kernelRoutes().contains("10.98.76.0/24 via 10.75.0.2"))
                #expect(try agent.peer("10.75.0.2")?["flaps"] as? Int == flapsBefore + 1)

                // Reload: the flooder's export policy changes; BIRD's session
                // stays as it is. A bad file is refused and changes nothing.
                let since = try agent.peer("10.75.0.2")?["since"] as? String
                try config(export: "none").replacingOccurrences(of: "@SOCKET@", with: agent.socket)
                    .write(to: agent.configFile, atomically: true, encoding: .utf8)
                let reload = try Command.run([BuiltProduct.path("caracal"), "agent", "reload", "--socket", agent.socket])
                #expect(reload.succeeded && reload.stdout.contains("reloaded"), "\(reload.stdout) \(reload.stderr)")
                #expect(try agent.peer("10.75.0.2")?["since"] as? String == since && agent.established("10.75.0.2"), "untouched")
                try "apiVersion: caracal.io/v1alpha1\nkind: AgentConfiguration\nspec:\n  bgp:\n    asNumber: 64512\n    routerID: 10.75.0.1\n    colour: red\n"
                    .write(to: agent.configFile, atomically: true, encoding: .utf8)
                let bad = try Command.run([BuiltProduct.path("caracal"), "agent", "reload", "--socket", agent.socket])
                #expect(!bad.succeeded && bad.stderr.contains("spec.bgp.colour"), "\(bad.stderr)")
                #expect(try agent.established("10.75.0.2"), "the running configuration stays")
                _ = bird
            }
        }
    }
}

enum RawPeer {
    /// What the raw peers share: message framing, an OPEN (4-octet AS,
    /// IPv4 unicast) and reading one message.
    static let common = #"""
    import os, socket, struct, sys, time
    def msg(t, body): return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
    def open_message(asn, hold, router_id):
        caps = bytes([1, 4, 0, 1, 0, 1]) + bytes([65, 4]) + struct.pack("!I", asn)
        opt = bytes([2, len(caps)]) + caps
        return msg(1, struct.pack("!BHH4sB", 4, asn, hold, socket.inet_aton(router_id), len(opt)) + opt)
    def read(s):
        head = b""
        while len(head) < 19: head += s.recv(19 - len(head))
        length, t = struct.unpack("!HB", head[16:19])
        body = b""
        while len(body) < length - 19: body += s.recv(length - 19 - len(body))
        return t, body

    """#

    /// A minimal BGP speaker in Python: OPEN, KEEPALIVE, a malformed UPDATE
    /// (ORIGIN 7: treat-as-withdraw, RFC 7606 §7.1), a good UPDATE, then —
    /// once the test creates the `go` file — a message with a broken marker;
    /// prints the NOTIFICATION it gets back.
    static let script = common + #"""
    target, go = sys.argv[1], sys.argv[2]
    def update(prefix, origin):
        attrs = bytes([0x40, 1, 1, origin])
        attrs += bytes([0x40, 2, 6, 2, 1]) + struct.pack("!I", 65005)
        attrs += bytes([0x40, 3, 4]) + socket.inet_aton("10.65.0.2")
        nlri = bytes([24]) + socket.inet_aton(prefix)[:3]
        return msg(2, struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri)
    for _ in range(100):
        try:
            s = socket.create_connection((target, 179), timeout=2); break
        except OSError:
            time.sleep(0.2)
    s.settimeout(30)
    s.sendall(open_message(65005, 90, "10.65.0.2"))
    t, _ = read(s); print("got", t, flush=True)
    s.sendall(msg(4, b""))
    t, _ = read(s); print("got", t, flush=True)
    s.sendall(update("10.98.65.0", 7))
    s.sendall(update("10.98.66.0", 0))
    while not os.path.exists(go):
        s.sendall(msg(4, b"")); time.sleep(0.5)
    s.sendall(b"\x00" * 16 + struct.pack("!HB", 19, 4))
    while True:
        t, body = read(s)
        if t == 3:
            print("NOTIFICATION", body[0], body[1], flush=True); break
    """#
}

extension InteropTests {
    /// TCP MD5 for dynamic neighbours: each listener holds one key for the
    /// whole range (TCP_MD5SIG_EXT, TCP_MD5SIG_FLAG_PREFIX). A BIRD session
    /// from an address of the range with the right password comes up; one
    /// with a wrong password, and one with none, never do: the kernel drops
    /// their segments and counts why. A reload changes the range's key.
    @Test func md5ForADynamicNeighbourRange() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), good = try net.namespace("good"), bad = try net.namespace("bad"), bare = try net.namespace("bare")
                try net.veth(a, "a1", "10.72.1.1/24", good, "b0", "10.72.1.7/24")
                try net.veth(a, "a2", "10.72.2.1/24", bad, "b0", "10.72.2.8/24")
                try net.veth(a, "a3", "10.72.3.1/24", bare, "b0", "10.72.3.9/24")
                let secret = dir.appendingPathComponent("rack.key")
                try "r4ck-secret\n".write(to: secret, atomically: true, encoding: .utf8)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.72.1.1", listen: ["10.72.1.1", "10.72.2.1", "10.72.3.1"], originate: ["10.244.72.0/24"], peers: "      []",
                    policies: """
                      - name: accept-all
                        default: accept
                """, extra: """
                    peerRanges:
                      - name: rack
                        prefix: 10.72.0.0/16
                        remoteAS: 65072
                        holdTime: 9
                        password: {file: \(secret.path)}
                        importPolicy: accept-all
                        exportPolicy: accept-all
                """), directory: dir)
                func bird(_ ns: TestNamespace, _ local: String, _ neighbor: String, _ password: String?) throws -> BIRD {
                    try BIRD(in: ns, config: """
                        router id \(local);
                        protocol device {}
                        protocol static { ipv4; route 10.98.72.0/24 blackhole; }
                        protocol bgp rack { local \(local) as 65072; neighbor \(neighbor) as 64512;
                          \(password.map { "password \"\($0)\";" } ?? "") \(Self.birdTimers)
                          ipv4 { import all; export where source = RTS_STATIC; }; }
                        """, directory: dir, name: "bird-\(local)")
                }
                let right = try bird(good, "10.72.1.7", "10.72.1.1", "r4ck-secret")
                let wrong = try bird(bad, "10.72.2.8", "10.72.2.1", "not-the-key")
                let none = try bird(bare, "10.72.3.9", "10.72.3.1", nil)
                #expect(try eventually { try agent.established("10.72.1.7") && right.established("rack") }, "\(agent.daemon.output)")
                #expect(try agent.peer("10.72.1.7")?["name"] as? String == "rack-10.72.1.7")
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.72.0/24 via 10.72.1.7") })
                #expect(try eventually { try right.cli("show route 10.244.72.0/24").contains("10.244.72.0/24") })
                // BIRD retries every 2 s: several attempts of each meanwhile.
                #expect(try eventually(10) { try a.run(["nstat", "-az", "TcpExtTCPMD5Failure", "TcpExtTCPMD5NotFound"]).stdout
                        .split(separator: "\n").filter { $0.hasPrefix("TcpExtTCPMD5") }
                        .compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }.filter { $0 > 0 }.count == 2 },
                        "a wrong key and a missing one, counted by the kernel: \((try? a.run(["nstat", "-az"]).stdout) ?? "")")
                Thread.sleep(forTimeInterval: 2)
                #expect(try !wrong.established("rack") && !none.established("rack"))
                #expect(try agent.peer("10.72.2.8") == nil && agent.peer("10.72.3.9") == nil, "no connection ever reached the agent")
                #expect(try agent.established("10.72.1.7"))
                // A reload with another key: the listeners take it (the
                // other password now comes up); the established session keeps
                // the key its socket was accepted with.
                try "not-the-key\n".write(to: secret, atomically: true, encoding: .utf8)
                let reload = try Command.run([BuiltProduct.path("caracal"), "agent", "reload", "--socket", agent.socket])
                #expect(reload.succeeded, "\(reload.stdout) \(reload.stderr)")
                #expect(try eventually { try agent.established("10.72.2.8") && wrong.established("rack") }, "\(agent.daemon.output.suffix(1500))")
                #expect(try agent.established("10.72.1.7") && right.established("rack"))
                #expect(try !none.established("rack") && agent.peer("10.72.3.9") == nil)
            }
        }
    }
}
