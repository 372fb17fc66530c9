import Foundation
import Testing
import TestSupport

/// BFD (RFC 5880/5881) between `caracal agent` and BIRD 2's `protocol bfd`,
/// in namespaces: sessions up with BGP, failure detection that takes BGP
/// and the kernel routes down within the detection time, malformed packets
/// dropped and counted, failover between two paths under a running ping,
/// and graceful restart kept where BFD is configured as graceful.
@Suite("BFD interop: caracal agent with BIRD", .serialized)
struct BFDInteropTests {
    static let birdTimers = InteropTests.birdTimers
    static let birdBFD = """
        protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; idle tx interval 1 s; multiplier 3; }; }
        """
    static let caracalBFD = "bfd: {minTx: 100, minRx: 100, multiplier: 3}"

    /// Two namespaces joined by a veth, BIRD in `b` with IPv4 and IPv6
    /// sessions (`direct`: single hop, so BIRD runs single-hop BFD) and BFD;
    /// the agent in `a` with metrics on 127.0.0.1:9464.
    func withBIRDPair(_ octet: Int, birdBGP: String = "bfd on;", caracalPeer: String = Self.caracalBFD,
                      _ body: (TestNamespace, TestNamespace, BIRD, CaracalAgent, URL) throws -> Void) throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.\(octet).0.1/24", b, "b0", "10.\(octet).0.2/24")
                try a.ip("addr", "add", "fd\(octet)::1/64", "dev", "a0", "nodad")
                try b.ip("addr", "add", "fd\(octet)::2/64", "dev", "b0", "nodad")
                let bird = try BIRD(in: b, config: """
                    router id 10.\(octet).0.2;
                    protocol device {}
                    protocol direct { ipv4; ipv6; interface "b0"; }
                    protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
                    protocol kernel { ipv6 { import none; export where source = RTS_BGP; }; }
                    protocol static { ipv4; route 10.98.\(octet).0/24 blackhole; }
                    protocol static { ipv6; route fd00:98:\(octet)::/64 blackhole; }
                    \(Self.birdBFD)
                    protocol bgp c4 { local 10.\(octet).0.2 as 64512; neighbor 10.\(octet).0.1 as 64512; direct; \(Self.birdTimers)
                      graceful restart on; \(birdBGP) ipv4 { import all; export where source = RTS_STATIC; }; }
                    protocol bgp c6 { local fd\(octet)::2 as 64512; neighbor fd\(octet)::1 as 64512; direct; \(Self.birdTimers)
                      graceful restart on; \(birdBGP) ipv6 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let config = InteropTests().agentConfig(
                    routerID: "10.\(octet).0.1", listen: ["10.\(octet).0.1", "fd\(octet)::1"],
                    originate: ["10.244.\(octet).0/24", "fd00:244:\(octet)::/64"], peers: """
                      - name: bird4
                        address: 10.\(octet).0.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv4-unicast]
                        \(caracalPeer)
                      - name: bird6
                        address: "fd\(octet)::2"
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv6-unicast]
                        \(caracalPeer)
                """) + "\n  metrics:\n    address: \"127.0.0.1:9464\"\n"
                let agent = try CaracalAgent(in: a, config: config, directory: dir)
                try body(a, b, bird, agent, dir)
            }
        }
    }

    /// An IPv4-only pair: BIRD in `b` with `extra` protocols and one BGP
    /// protocol `c4` (`birdBGP` inside it), the agent in `a` with one peer,
    /// `bird`, whose `bfd` line is `caracalBFD`.
    func withIPv4Pair(_ octet: Int, extra: String = "", birdBGP: String, caracalBFD: String,
                      _ body: (TestNamespace, TestNamespace, BIRD, CaracalAgent, URL) throws -> Void) throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.\(octet).0.1/24", b, "b0", "10.\(octet).0.2/24")
                let bird = try BIRD(in: b, config: """
                    router id 10.\(octet).0.2;
                    protocol device {}
                    protocol direct { ipv4; interface "b0"; }
                    protocol static { ipv4; route 10.98.\(octet).0/24 blackhole; }
                    \(extra)
                    protocol bgp c4 { local 10.\(octet).0.2 as 64512; neighbor 10.\(octet).0.1 as 64512; \(Self.birdTimers)
                      \(birdBGP) ipv4 { import all; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let agent = try CaracalAgent(in: a, config: InteropTests().agentConfig(
                    routerID: "10.\(octet).0.1", listen: ["10.\(octet).0.1"], originate: ["10.244.\(octet).0/24"], peers: """
                      - name: bird
                        address: 10.\(octet).0.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv4-unicast]
                        \(caracalBFD)
                """), directory: dir)
                try body(a, b, bird, agent, dir)
            }
        }
    }

    func bfd(_ agent: CaracalAgent, _ peer: String) throws -> [String: Any]? { try agent.peer(peer)?["bfd"] as? [String: Any] }

    func metrics(_ ns: TestNamespace) throws -> String {
        try ns.run(["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9464/metrics').read().decode())"]).stdout
    }

    /// A `caracal_bfd_dropped_total` counter from a Prometheus page.
    static func count(_ reason: String, in metrics: String) -> Int {
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("caracal_bfd_dropped_total{reason=\"\(reason)\"}") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Drops BFD leaving `ns` (BIRD's packets never reach us; ours still
    /// reach BIRD, which then sees us say Down).
    func dropOutgoingBFD(_ ns: TestNamespace, port: Int = 3784) throws {
        try ns.check(["nft", "add", "table", "inet", "bfdtest"])
        try ns.check(["nft", "add", "chain", "inet", "bfdtest", "out", "{ type filter hook output priority 0 ; }"])
        try ns.check(["nft", "add", "rule", "inet", "bfdtest", "out", "udp", "dport", "\(port)", "drop"])
    }

    @Test func sessionsComeUpAndAFailureTakesBGPAndKernelRoutesDownWithinTheDetectionTime() throws {
        try withBIRDPair(73) { a, b, bird, agent, _ in
            #expect(try eventually { try agent.established("10.73.0.2") && agent.established("fd73::2") }, "\(agent.daemon.output)")
            #expect(try eventually { try bfd(agent, "10.73.0.2")?["state"] as? String == "Up" && bfd(agent, "fd73::2")?["state"] as? String == "Up" },
                    "\(agent.daemon.output.suffix(3000))")
            let sessions = try bird.cli("show bfd sessions")
            #expect(sessions.contains("10.73.0.1") && sessions.contains("fd73::1") && !sessions.contains("Down"), "\(sessions)")
            let v4 = try #require(try bfd(agent, "10.73.0.2"))
            #expect(v4["transmitIntervalMs"] as? Double == 100 && v4["detectionTimeMs"] as? Double == 300, "\(v4)")
            #expect(v4["local"] as? String == "10.73.0.1" && v4["remoteState"] as? String == "Up")
            #expect(try eventually { try agent.kernelRoutes().contains("10.98.73.0/24") && agent.kernelRoutes("-6").contains("fd00:98:73::/64") })
            // Status shows the BFD table.
            let table = try Command.run([BuiltProduct.path("caracal"), "status", "--socket", agent.socket]).stdout
            #expect(table.contains("BFD peer") && table.contains("300.0"), "\(table)")

            // Cut BFD from BIRD: our detection time (3 × 100 ms) passes, BGP
            // goes down at once and the kernel routes go with it.
            try dropOutgoingBFD(b)
            let cut = Date()
            var gone: Double?
            while Date().timeIntervalSince(cut) < 5 {
                if try !agent.kernelRoutes().contains("10.98.73.0/24") && !agent.kernelRoutes("-6").contains("fd00:98:73::/64") {
                    gone = Date().timeIntervalSince(cut)
                    break
                }
                usleep(10_000)
            }
            let diagnosis = "\((try? agent.kernelRoutes()) ?? "") \((try? agent.kernelRoutes("-6")) ?? "") \((try? agent.status()) ?? [:]) \(agent.daemon.output.suffix(4000))"
            let elapsed = try #require(gone, "routes still in the kernel 5 s after the cut: \(diagnosis)")
            print("BFD interop: kernel routes gone \(Int(elapsed * 1000)) ms after the cut (detection time 300 ms)")
            #expect(elapsed < 1.5, "detection time 0.3 s, generously bounded")
            let peer = try #require(try agent.peer("10.73.0.2"))
            #expect(peer["state"] as? String != "Established")
            #expect((peer["info"] as? String)?.contains("BFD went down (Control Detection Time Expired)") == true, "\(peer)")
            #expect(try bfd(agent, "10.73.0.2")?["diagnostic"] as? String == "Control Detection Time Expired")
            #expect(agent.daemon.output.contains("Cease (6) / BFD Down (10)"), "RFC 9384's subcode")
            #expect(try eventually(5) { try bird.cli("show protocols c4").contains("BFD") || !bird.established("c4") })
            let m = try metrics(a)
            #expect(m.contains("caracal_bfd_state_changes_total{to=\"Down\"}"), "\(m.prefix(3000))")

            // BFD back: BGP starts again and the routes return.
            try b.check(["nft", "delete", "table", "inet", "bfdtest"])
            #expect(try eventually { try bfd(agent, "10.73.0.2")?["state"] as? String == "Up" && agent.established("10.73.0.2") })
            #expect(try eventually { try agent.kernelRoutes().contains("10.98.73.0/24") })
            #expect(try bfd(agent, "10.73.0.2")?["downs"] as? Int == 1)
        }
    }

    @Test func malformedPacketsAreDroppedAndCountedAndNeverDisturbTheSession() throws {
        try withBIRDPair(74) { a, b, _, agent, dir in
            #expect(try eventually { try bfd(agent, "10.74.0.2")?["state"] as? String == "Up" && bfd(agent, "fd74::2")?["state"] as? String == "Up" })
            // From BIRD's own addresses, so only the checks can stop them.
            let script = dir.appendingPathComponent("bad-bfd.py")
            try """
                import os, socket, struct, time
                def pkt(ver=1, state=1, flags=0, mult=3, length=24, my=0x1234, your=0):
                    return bytes([ver << 5, (state << 6) | flags, mult, length]) + struct.pack('>IIIII', my, your, 100000, 100000, 0)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('10.74.0.2', 0))
                def send(p, ttl=255):
                    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
                    s.sendto(p, ('10.74.0.1', 3784))
                send(pkt(), ttl=64)                  # ttl: otherwise a valid Down that would take the session down
                send(pkt(), ttl=254)                 # ttl
                send(pkt(ver=2))                     # version
                send(pkt(ver=0))                     # version
                send(pkt(length=20))                 # length below 24
                send(pkt()[:10])                     # length: truncated datagram
                send(pkt(length=40))                 # length beyond the datagram
                send(pkt(flags=0x04))                # length: A bit without an authentication section
                send(pkt(state=3, your=0xdeadbeef))  # unknown_session
                send(pkt(mult=0))                    # detect_multiplier
                send(pkt(flags=0x01))                # multipoint
                send(pkt(my=0))                      # discriminator
                send(pkt(state=3, your=0))           # discriminator: zero while Up
                for i in range(2000):                # garbage of every size, TTL 255
                    send(os.urandom(i % 64))
                    time.sleep(0.0005)
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                s6.bind(('fd74::2', 0))
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 64)
                s6.sendto(pkt(), ('fd74::1', 3784))  # ttl (hop limit)
                """.write(to: script, atomically: true, encoding: .utf8)
            try b.check(["python3", script.path])
            // The garbage adds to these; the total is everything sent.
            let reasons = ["ttl", "version", "length", "unknown_session", "detect_multiplier", "multipoint", "discriminator", "address"]
            var counts: [String: Int] = [:]
            for _ in 0..<50 {
                let page = try metrics(a)
                counts = Dictionary(uniqueKeysWithValues: reasons.map { ($0, Self.count($0, in: page)) })
                if counts.values.reduce(0, +) >= 2014 { break }
                usleep(200_000)
            }
            let total = counts.values.reduce(0, +)
            #expect(total == 2014, "every malformed packet counted: \(counts)")
            #expect(counts["ttl"] == 3, "\(counts)")
            #expect(counts["version"]! >= 2 && counts["length"]! >= 4 && counts["unknown_session"]! >= 1, "\(counts)")
            #expect(counts["detect_multiplier"]! >= 1 && counts["multipoint"]! >= 1 && counts["discriminator"]! >= 2, "\(counts)")
            // Nothing reached the session; the agent is alive.
            for peer in ["10.74.0.2", "fd74::2"] {
                let s = try #require(try bfd(agent, peer))
                #expect(s["state"] as? String == "Up" && s["downs"] as? Int == 0, "\(s)")
            }
            #expect(try agent.established("10.74.0.2"))
        }
    }

    /// A destination (an anycast address on two nodes) through two BIRD
    /// peers; the active one's link goes down; a ping every 50 ms from a pod
    /// behind the node loses no more than the detection time's worth of
    /// probes.
    @Test func failoverBetweenTwoPathsUnderAContinuousPing() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b"), c = try net.namespace("c")
                try net.veth(a, "ab", "10.75.1.1/24", b, "b0", "10.75.1.2/24")
                try net.veth(a, "ac", "10.75.2.1/24", c, "c0", "10.75.2.2/24")
                // A pod: its own namespace behind the node, in the node's pod range.
                let pod = try net.namespace("pod")
                try net.veth(a, "ap", "10.244.75.1/24", pod, "eth0", "10.244.75.2/24")
                try pod.ip("route", "add", "default", "via", "10.244.75.1")
                try a.check(["sysctl", "-q", "-w", "net.ipv4.conf.ab.forwarding=1", "net.ipv4.conf.ac.forwarding=1", "net.ipv4.conf.ap.forwarding=1"])
                var birds: [BIRD] = []
                for (ns, n, dev) in [(b, 1, "b0"), (c, 2, "c0")] {
                    try ns.ip("addr", "add", "10.98.75.1/32", "dev", "lo")
                    birds.append(try BIRD(in: ns, config: """
                        router id 10.75.\(n).2;
                        protocol device {}
                        protocol direct { ipv4; interface "\(dev)"; }
                        protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
                        protocol static { ipv4; route 10.98.75.0/24 blackhole; }
                        \(Self.birdBFD)
                        protocol bgp a { local 10.75.\(n).2 as 64512; neighbor 10.75.\(n).1 as 64512; direct; \(Self.birdTimers)
                          bfd on; ipv4 { import all; export where source = RTS_STATIC; }; }
                        """, directory: dir, name: "bird\(n)"))
                }
                let agent = try CaracalAgent(in: a, config: InteropTests().agentConfig(
                    routerID: "10.75.1.1", listen: ["10.75.1.1", "10.75.2.1"], originate: ["10.244.75.0/24"], peers: """
                      - name: b
                        address: 10.75.1.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv4-unicast]
                        \(Self.caracalBFD)
                      - name: c
                        address: 10.75.2.2
                        remoteAS: internal
                        holdTime: 9
                        connectRetryTime: 1
                        families: [ipv4-unicast]
                        \(Self.caracalBFD)
                """), directory: dir)
                #expect(try eventually {
                    try ["10.75.1.2", "10.75.2.2"].allSatisfy { try bfd(agent, $0)?["state"] as? String == "Up" && agent.established($0) }
                }, "\(agent.daemon.output.suffix(3000))")
                // The best path: the lower peer address, through b.
                #expect(try eventually { try agent.kernelRoutes().contains("10.98.75.0/24 via 10.75.1.2") })
                #expect(try eventually { try b.run(["ip", "route"]).stdout.contains("10.244.75.0/24") && c.run(["ip", "route"]).stdout.contains("10.244.75.0/24") })
                #expect(try pod.canPing("10.98.75.1"))

                // 120 probes 50 ms apart (6 s), from the pod.
                let ping = Process()
                ping.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                ping.arguments = ["ip", "netns", "exec", pod.name, "ping", "-n", "-i", "0.05", "-c", "120", "-W", "1", "10.98.75.1"]
                let out = Pipe()
                ping.standardOutput = out
                ping.standardError = out
                try ping.run()
                usleep(2_000_000)
                // b's side of the link goes down: our veth keeps its routes
                // (no carrier, but the kernel still uses them): only BFD can tell.
                try b.ip("link", "set", "b0", "down")
                let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                ping.waitUntilExit()
                let received = output.split(separator: "\n").first { $0.contains("packets transmitted") }.map(String.init) ?? ""
                let parts = received.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let sent = Int(parts.first?.split(separator: " ").first ?? "") ?? 0
                let got = Int(parts.dropFirst().first?.split(separator: " ").first ?? "") ?? 0
                print("BFD failover: \(sent - got) of \(sent) probes lost at 50 ms intervals (detection time 300 ms): \(received)")
                #expect(sent == 120)
                #expect(sent - got <= 20, "at most 1 s of probes lost: \(output.suffix(500))")
                #expect(try agent.kernelRoutes().contains("10.98.75.0/24 via 10.75.2.2"))
                #expect(try !agent.established("10.75.1.2") && agent.established("10.75.2.2"))
                _ = birds
            }
        }
    }

    /// The peer is restarting, not gone: with `bfd.graceful` Caracal keeps a
    /// killed BIRD's routes (graceful restart) although BFD went down (the
    /// default removes them within the detection time: the first test). And
    /// BIRD with `bfd graceful` keeps Caracal's routes when the agent is
    /// killed and restarted.
    @Test func gracefulRestartWhereBFDIsGracefulAndRemovalWhereItIsNot() throws {
        try withBIRDPair(76, birdBGP: "bfd graceful;", caracalPeer: "bfd: {minTx: 100, minRx: 100, multiplier: 3, graceful: true}") { a, b, bird, agent, dir in
            #expect(try eventually { try bfd(agent, "10.76.0.2")?["state"] as? String == "Up" && agent.established("10.76.0.2") })
            #expect(try eventually { try agent.kernelRoutes().contains("10.98.76.0/24") })
            #expect(try eventually { try b.run(["ip", "route"]).stdout.contains("10.244.76.0/24") })
            // BIRD killed: BFD goes down, our routes through it stay (stale).
            bird.daemon.kill()
            #expect(try eventually(5) { try bfd(agent, "10.76.0.2")?["state"] as? String == "Down" })
            usleep(500_000)
            #expect(try agent.kernelRoutes().contains("10.98.76.0/24"), "graceful: kept for the restart time")
            #expect(try agent.peer("10.76.0.2")?["stale"] as? Int == 1)
            let again = try BIRD(in: b, config: try String(contentsOf: dir.appendingPathComponent("bird.conf"), encoding: .utf8),
                                 directory: dir, name: "bird-restarted")
            #expect(try eventually { try agent.established("10.76.0.2") && agent.peer("10.76.0.2")?["stale"] as? Int == 0 })
            #expect(try agent.kernelRoutes().contains("10.98.76.0/24"))
            // The agent killed and restarted: BIRD (bfd graceful) keeps our route.
            #expect(try eventually { try again.established("c4") && bfd(agent, "10.76.0.2")?["state"] as? String == "Up" })
            agent.daemon.kill()
            #expect(try eventually(5) { try again.cli("show bfd sessions").contains("Down") })
            usleep(500_000)
            #expect(try b.run(["ip", "route"]).stdout.contains("10.244.76.0/24"), "BIRD's bfd graceful keeps our route")
            let config = try String(contentsOf: agent.configFile, encoding: .utf8).replacingOccurrences(of: agent.socket, with: "@SOCKET@")
            let restarted = try CaracalAgent(in: a, config: config, directory: dir,
                                             name: "caracal-restarted")
            #expect(try eventually { try restarted.established("10.76.0.2") && bfd(restarted, "10.76.0.2")?["state"] as? String == "Up" })
            #expect(try b.run(["ip", "route"]).stdout.contains("10.244.76.0/24"))
        }
    }

    /// RFC 5882 §4.3.1 with a peer whose BFD has the C bit (its BFD lives
    /// apart from its control plane: here a small Python speaker next to
    /// BIRD's BGP): BIRD killed, the BGP session lost, BFD still Up: the
    /// peer is restarting and its routes stay (stale, graceful restart);
    /// then BFD goes down too: its forwarding plane is gone and the stale
    /// routes leave at once instead of at the end of the restart time.
    @Test func aRestartingPeerWithTheCBitKeepsItsRoutesUntilItsBFDFails() throws {
        try withIPv4Pair(77, birdBGP: "direct; graceful restart on;", caracalBFD: Self.caracalBFD) { _, b, bird, agent, dir in
            let responder = dir.appendingPathComponent("bfd-c-bit.py")
            try """
                import select, socket, struct, time
                rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                rx.bind(('10.77.0.2', 3784))
                tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
                tx.bind(('10.77.0.2', 49300))
                state, your, due = 1, 0, 0.0
                def send(final=False):
                    flags = (state << 6) | 0x08 | (0x10 if final else 0)   # C: control plane independent
                    tx.sendto(bytes([0x20, flags, 3, 24]) + struct.pack('>IIIII', 0x77, your if state != 1 else 0, 100000, 100000, 0),
                              ('10.77.0.1', 3784))
                while True:
                    ready, _, _ = select.select([rx], [], [], max(0.0, due - time.time()))
                    if ready:
                        data, _ = rx.recvfrom(64)
                        if len(data) >= 24:
                            theirs, your = data[1] >> 6, struct.unpack('>I', data[4:8])[0]
                            if theirs == 0: state = 1
                            elif state == 1: state = {1: 2, 2: 3}.get(theirs, 1)
                            elif state == 2: state = 3 if theirs >= 2 else 2
                            elif theirs == 1: state = 1
                            if data[1] & 0x20: send(final=True)
                    if time.time() >= due:
                        send()
                        due = time.time() + 0.08
                """.write(to: responder, atomically: true, encoding: .utf8)
            let bfdPeer = try Daemon("bfd-c-bit", in: b, ["python3", responder.path], directory: dir)
            #expect(try eventually { try agent.established("10.77.0.2") && bfd(agent, "10.77.0.2")?["state"] as? String == "Up" },
                    "\(agent.daemon.output.suffix(3000)) \(bfdPeer.output)")
            #expect(try bfd(agent, "10.77.0.2")?["remoteControlPlaneIndependent"] as? Bool == true)
            #expect(try eventually { try agent.kernelRoutes().contains("10.98.77.0/24") })
            // The control plane goes; BFD stays Up: graceful restart keeps the route.
            bird.daemon.kill()
            #expect(try eventually(10) { try !agent.established("10.77.0.2") })
            usleep(1_000_000)
            #expect(try bfd(agent, "10.77.0.2")?["state"] as? String == "Up")
            #expect(try agent.peer("10.77.0.2")?["stale"] as? Int == 1)
            #expect(try agent.kernelRoutes().contains("10.98.77.0/24"), "restarting, BFD (C bit) Up: the route stays")
            // BFD fails too: the forwarding plane is gone, the stale route goes now.
            bfdPeer.kill()
            let cut = Date()
            #expect(try eventually(5, interval: 0.02) { try !agent.kernelRoutes().contains("10.98.77.0/24") })
            print("BFD C bit: stale route gone \(Int(Date().timeIntervalSince(cut) * 1000)) ms after the peer's BFD stopped")
            #expect(Date().timeIntervalSince(cut) < 2, "well before the 120 s restart time")
            #expect(agent.daemon.output.contains("C bit set"), "\(agent.daemon.output.suffix(2000))")
        }
    }

    /// Caracal to Caracal: BFD between two agents; one is stopped (SIGTERM)
    /// and started again, as an upgrade does. It says AdminDown first, so
    /// its peer's BFD goes Down without a failure, and graceful restart
    /// (the N-bit) keeps its route in the peer's kernel throughout. Then a
    /// reload changes an interval without a flap, and a real failure
    /// removes the route within the detection time.
    @Test func aCaracalAgentRestartingIsNoBFDFailureForItsCaracalPeer() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b")
                try net.veth(a, "a0", "10.78.0.1/24", b, "b0", "10.78.0.2/24")
                func config(_ me: Int, _ other: Int) -> String {
                    InteropTests().agentConfig(routerID: "10.78.0.\(me)", listen: ["10.78.0.\(me)"], originate: ["10.244.\(me).0/24"], peers: """
                          - name: node\(other)
                            address: 10.78.0.\(other)
                            remoteAS: internal
                            holdTime: 9
                            connectRetryTime: 1
                            families: [ipv4-unicast]
                            \(Self.caracalBFD)
                    """)
                }
                let agentA = try CaracalAgent(in: a, config: config(1, 2), directory: dir, name: "node1")
                var agentB = try CaracalAgent(in: b, config: config(2, 1), directory: dir, name: "node2")
                #expect(try eventually { try bfd(agentA, "10.78.0.2")?["state"] as? String == "Up" && bfd(agentB, "10.78.0.1")?["state"] as? String == "Up" },
                        "\(agentA.daemon.output.suffix(2000))")
                #expect(try bfd(agentA, "10.78.0.2")?["detectionTimeMs"] as? Double == 300)
                #expect(try eventually { try agentA.kernelRoutes().contains("10.244.2.0/24 via 10.78.0.2") })
                #expect(try eventually { try agentB.kernelRoutes().contains("10.244.1.0/24 via 10.78.0.1") })

                agentB.daemon.stop()
                #expect(try eventually(5) { try bfd(agentA, "10.78.0.2")?["remoteState"] as? String == "AdminDown" })
                #expect(try bfd(agentA, "10.78.0.2")?["downs"] as? Int == 1)
                #expect(try eventually(5) { try agentA.peer("10.78.0.2")?["stale"] as? Int == 1 })
                usleep(1_000_000)
                #expect(try agentA.kernelRoutes().contains("10.244.2.0/24 via 10.78.0.2"), "kept through the restart")
                #expect(!agentA.daemon.output.contains("BFD down: BGP session torn down"))

                agentB = try CaracalAgent(in: b, config: config(2, 1), directory: dir, name: "node2-restarted")
                #expect(try eventually { try agentA.established("10.78.0.2") && bfd(agentA, "10.78.0.2")?["state"] as? String == "Up" })
                #expect(try eventually { try agentA.peer("10.78.0.2")?["stale"] as? Int == 0 })
                #expect(try agentA.kernelRoutes().contains("10.244.2.0/24 via 10.78.0.2"))
                #expect(try eventually { try agentB.status()["restarting"] as? Bool == false })

                // A reload with a slower minTx: a Poll Sequence, no flap.
                let flaps = try agentA.peer("10.78.0.2")?["flaps"] as? Int
                let slower = try String(contentsOf: agentA.configFile, encoding: .utf8).replacingOccurrences(of: "minTx: 100", with: "minTx: 200")
                try slower.write(to: agentA.configFile, atomically: true, encoding: .utf8)
                let reload = try Command.run([BuiltProduct.path("caracal"), "agent", "reload", "--socket", agentA.socket])
                #expect(reload.succeeded, "\(reload.stdout) \(reload.stderr)")
                #expect(try eventually(5) { try bfd(agentA, "10.78.0.2")?["transmitIntervalMs"] as? Double == 200 })
                #expect(try eventually(5) { try bfd(agentB, "10.78.0.1")?["detectionTimeMs"] as? Double == 600 })
                #expect(try agentA.established("10.78.0.2") && agentA.peer("10.78.0.2")?["flaps"] as? Int == flaps)
                #expect(try bfd(agentA, "10.78.0.2")?["state"] as? String == "Up" && bfd(agentB, "10.78.0.1")?["downs"] as? Int == 0)

                // Node 2's packets stop (a dead node, as far as node 1 can
                // tell): its route leaves node 1's kernel within the detection time.
                try dropOutgoingBFD(b)
                let cut = Date()
                #expect(try eventually(5, interval: 0.02) { try !agentA.kernelRoutes().contains("10.244.2.0/24") })
                print("BFD Caracal to Caracal: route gone \(Int(Date().timeIntervalSince(cut) * 1000)) ms after the cut")
                #expect(Date().timeIntervalSince(cut) < 1.5)
                #expect(try agentA.peer("10.78.0.2")?["stale"] as? Int == 0, "no graceful-restart retention")
            }
        }
    }

    /// Multihop BFD (RFC 5883, port 4784): BIRD runs it for an iBGP session
    /// that is not `direct`; Caracal's peer has `bfd.multihop`. BIRD sends
    /// these with TTL 64, which multihop does not check. Cutting BIRD's BFD
    /// takes the session and the route down within the detection time.
    @Test func multihopWithBIRD() throws {
        try withIPv4Pair(79, extra: "protocol bfd { multihop { min rx interval 100 ms; min tx interval 100 ms; idle tx interval 1 s; multiplier 3; }; }",
                         birdBGP: "bfd on;", caracalBFD: "bfd: {minTx: 100, minRx: 100, multiplier: 3, multihop: true}") { _, b, bird, agent, _ in
            #expect(try eventually { try agent.established("10.79.0.2") && bfd(agent, "10.79.0.2")?["state"] as? String == "Up" },
                    "\(agent.daemon.output.suffix(3000))")
            #expect(try bird.cli("show bfd sessions").contains("Up"))
            #expect(try eventually { try agent.kernelRoutes().contains("10.98.79.0/24") })
            try dropOutgoingBFD(b, port: 4784)
            let cut = Date()
            #expect(try eventually(5, interval: 0.02) { try !agent.kernelRoutes().contains("10.98.79.0/24") })
            print("BFD multihop: route gone \(Int(Date().timeIntervalSince(cut) * 1000)) ms after the cut")
            #expect(Date().timeIntervalSince(cut) < 1.5)
            #expect(try bfd(agent, "10.79.0.2")?["diagnostic"] as? String == "Control Detection Time Expired")
        }
    }
}

