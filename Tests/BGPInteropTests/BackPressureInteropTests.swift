import Foundation
import Testing
import TestSupport

extension InteropTests {
    /// A peer that stops reading: a raw peer opens a session, then reads
    /// nothing more (tiny receive buffer) while it keeps sending KEEPALIVEs,
    /// and BIRD's routes flap underneath. The agent's output to it pauses
    /// once its channel is not writable: the bytes queued for it stay
    /// bounded however much churn there is, what it is owed stays one entry
    /// per prefix, and RFC 9687's send hold timer ends the session (the
    /// memory goes with it); the BIRD session is untouched.
    @Test func aPeerThatStopsReadingIsBoundedAndEndedBySendHold() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let a = try net.namespace("a"), b = try net.namespace("b"), raw = try net.namespace("raw")
                try net.veth(a, "a0", "10.73.0.1/24", b, "b0", "10.73.0.2/24")
                try net.veth(a, "a1", "10.74.0.1/24", raw, "r0", "10.74.0.2/24")
                // Small socket buffers in the agent's namespace, so that what
                // the kernel holds is small beside what the churn writes.
                try a.check(["sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 8192 16384"])
                let routes = 5000
                let statics = (0..<routes).map { "route 10.200.\($0 / 250).\($0 % 250)/32 blackhole;" }.joined(separator: " ")
                let bird = try BIRD(in: b, config: """
                    router id 10.73.0.2;
                    protocol device {}
                    protocol static st { ipv4; \(statics) }
                    protocol bgp c { local 10.73.0.2 as 65073; neighbor 10.73.0.1 as 64512; \(Self.birdTimers)
                      ipv4 { import none; export where source = RTS_STATIC; }; }
                    """, directory: dir)
                let agent = try CaracalAgent(in: a, config: agentConfig(
                    routerID: "10.73.0.1", listen: ["10.73.0.1", "10.74.0.1"], originate: [], peers: """
                      - name: bird
                        address: 10.73.0.2
                        remoteAS: 65073
                        holdTime: 9
                        connectRetryTime: 1
                        importPolicy: all
                        exportPolicy: all
                      - name: slow
                        address: 10.74.0.2
                        remoteAS: 65074
                        passive: true
                        holdTime: 9
                        sendHoldTime: 20
                        importPolicy: all
                        exportPolicy: all
                """, policies: """
                      - name: all
                        default: accept
                """) + "\n  kernel:\n    programRoutes: false\n", directory: dir)
                #expect(try eventually { try agent.established("10.73.0.2") && agent.peer("10.73.0.2")?["received"] as? Int == routes },
                        "\(agent.daemon.output)")
                let script = dir.appendingPathComponent("slowpeer.py")
                try SlowPeer.script.write(to: script, atomically: true, encoding: .utf8)
                let peer = try Daemon("slowpeer", in: raw, ["python3", script.path, "10.74.0.1"], directory: dir)
                #expect(try eventually { try agent.established("10.74.0.2") }, "\(peer.output)")
                // Flap BIRD's routes: each flip is 5000 withdrawals or
                // announcements (about 25 kB of UPDATEs) for the slow peer.
                var maxQueued = 0, maxHeld = 0, paused = false
                for flip in 0..<20 {
                    _ = try bird.cli(flip % 2 == 0 ? "disable st" : "enable st")
                    Thread.sleep(forTimeInterval: 0.4)
                    guard let slow = try agent.peer("10.74.0.2"), slow["state"] as? String == "Established" else { break }
                    maxQueued = max(maxQueued, slow["sendQueueBytes"] as? Int ?? 0)
                    maxHeld = max(maxHeld, slow["outputHeld"] as? Int ?? 0)
                    paused = paused || slow["outputPaused"] as? Bool == true
                }
                #expect(paused, "the channel went over its high watermark and output paused")
                // Without back-pressure 20 flips queue about 500 kB; with it,
                // the NIO queue stays near its 64 kB high watermark plus one
                // write of the table.
                #expect(maxQueued > 0 && maxQueued < 160_000, "queued bytes \(maxQueued)")
                #expect(maxHeld <= routes, "at most one held route per prefix: \(maxHeld)")
                // RFC 9687: no byte leaves for 20 s (it sends KEEPALIVEs, so
                // the hold timer never fires): the session ends.
                #expect(try eventually(40) { (try agent.peer("10.74.0.2")?["info"] as? String ?? "").contains("Send Hold Timer Expired") },
                        "\((try? agent.peer("10.74.0.2")).flatMap { $0 } ?? [:])")
                #expect(try agent.peer("10.74.0.2")?["state"] as? String != "Established")
                #expect(try eventually(10) { try agent.peer("10.74.0.2")?["sendQueueBytes"] as? Int == 0 }, "its queue is freed")
                #expect(eventually(10) { peer.output.contains("closed") }, "\(peer.output)")
                #expect(try agent.established("10.73.0.2") && bird.established("c"), "the other session stays up")
            }
        }
    }
}

enum SlowPeer {
    /// OPEN, KEEPALIVE, then it never reads again (a 2 kB receive buffer,
    /// set before connecting) and sends a KEEPALIVE every 2 s until the
    /// connection is gone.
    static let script = RawPeer.common + #"""
    target = sys.argv[1]
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
            s.settimeout(2)
            s.connect((target, 179)); break
        except OSError:
            time.sleep(0.2)
    s.settimeout(30)
    s.sendall(open_message(65074, 9, "10.74.0.2"))
    print("got", read(s)[0], flush=True)
    s.sendall(msg(4, b""))
    print("got", read(s)[0], flush=True)
    print("not reading any more", flush=True)
    try:
        while True:
            s.sendall(msg(4, b"")); time.sleep(2)
    except OSError as e:
        print("closed", e, flush=True)
    """#
}
