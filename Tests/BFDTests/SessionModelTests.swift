import BFD
import BGP
import Testing

/// Two sessions on a simulated link with a simulated clock (microseconds):
/// timers and packets are events in time order; the link can be cut.
struct TwoSessions {
    var sessions: [Session]
    var now: UInt64 = 0
    /// (due, session index, timer) and generation per timer to drop restarted ones.
    var timers: [(due: UInt64, index: Int, timer: BFDTimer, generation: Int)] = []
    var generations: [[BFDTimer: Int]] = [[:], [:]]
    var inFlight: [(due: UInt64, to: Int, packet: BFDControlPacket)] = []
    var linkUp = true
    var delay: UInt64 = 500
    var sentAt: [[UInt64]] = [[], []]
    var downs: [(at: UInt64, index: Int, change: BFDStateChange)] = []
    var ups: [(at: UInt64, index: Int)] = []

    init(_ a: BFDSessionConfiguration, _ b: BFDSessionConfiguration, seed: UInt64) {
        sessions = [Session(configuration: a, localDiscriminator: 11, random: SplitMix64(seed: seed)),
                    Session(configuration: b, localDiscriminator: 22, random: SplitMix64(seed: seed &+ 1))]
        for i in 0..<2 { let a = sessions[i].start(); apply(a, i) }
    }

    mutating func apply(_ actions: [BFDAction], _ i: Int) {
        for a in actions {
            switch a {
            case .send(let p):
                sentAt[i].append(now)
                // Through the codec, as the adapter does.
                let decoded = try! BFDControlPacket.decode(p.encode())
                if linkUp { inFlight.append((now + delay, 1 - i, decoded)) }
            case .startTimer(let t, let us):
                generations[i][t, default: 0] += 1
                timers.append((now + us, i, t, generations[i][t]!))
            case .stopTimer(let t):
                generations[i][t, default: 0] += 1
            case .stateChanged(let c):
                if c.to == .up { ups.append((now, i)) }
                if c.from == .up { downs.append((now, i, c)) }
            }
        }
    }

    /// Runs events until `until`.
    mutating func run(until: UInt64) {
        while true {
            let nextTimer = timers.indices.min { timers[$0].due < timers[$1].due }
            let nextPacket = inFlight.indices.min { inFlight[$0].due < inFlight[$1].due }
            let tDue = nextTimer.map { timers[$0].due } ?? .max, pDue = nextPacket.map { inFlight[$0].due } ?? .max
            guard min(tDue, pDue) <= until else { break }
            if pDue <= tDue, let p = nextPacket {
                let e = inFlight.remove(at: p)
                now = e.due
                let a = sessions[e.to].handle(.received(e.packet))
                apply(a, e.to)
            } else if let t = nextTimer {
                let e = timers.remove(at: t)
                now = e.due
                guard generations[e.index][e.timer] == e.generation else { continue }
                let a = sessions[e.index].handle(.timerExpired(e.timer))
                apply(a, e.index)
            }
        }
        now = until
    }
}

@Suite struct SessionModelTests {
    /// Up within a few slow intervals; no false Down while the link is up;
    /// after a cut, both Down (diag 1) within the detection time; Up again
    /// after the link returns. Random seeds and interval mixes.
    @Test func upDetectRecoverOverRandomSeeds() {
        let configs = [fast, BFDSessionConfiguration(desiredMinTxInterval: 50_000, requiredMinRxInterval: 300_000, detectMultiplier: 5),
                       BFDSessionConfiguration(desiredMinTxInterval: 200_000, requiredMinRxInterval: 20_000, detectMultiplier: 1)]
        for seed in UInt64(0)..<60 {
            let a = configs[Int(seed % 3)], b = configs[Int(seed / 3 % 3)]
            var m = TwoSessions(a, b, seed: seed)
            m.run(until: 5_000_000)
            #expect(m.sessions.allSatisfy { $0.state == .up }, "seed \(seed): \(m.sessions.map(\.state))")
            #expect(m.sessions.allSatisfy { !$0.polling }, "poll sequences end")
            #expect(m.downs.isEmpty, "no false Down, seed \(seed)")
            // Steady state: each side's gaps within its jittered interval.
            for i in 0..<2 {
                let interval = UInt64(m.sessions[i].transmitInterval!)
                let late = m.sentAt[i].filter { $0 > 4_000_000 }
                let gaps = zip(late.dropFirst(), late).map { $0 - $1 }
                #expect(gaps.allSatisfy { $0 <= interval }, "seed \(seed) side \(i)")
            }
            // Cut.
            let cut = m.now
            m.linkUp = false
            m.inFlight.removeAll()
            let detection = m.sessions.map { $0.detectionTime! }
            m.run(until: cut + 3_000_000)
            #expect(m.sessions.allSatisfy { $0.state == .down && $0.localDiagnostic == .controlDetectionTimeExpired })
            for d in m.downs {
                #expect(d.at - cut <= detection[d.index], "seed \(seed): down after \(d.at - cut) µs > \(detection[d.index])")
                #expect(d.change.isFailure)
            }
            // Back.
            m.linkUp = true
            m.run(until: m.now + 5_000_000)
            #expect(m.sessions.allSatisfy { $0.state == .up }, "seed \(seed) recovers")
        }
    }

    /// Admin down on one side takes the other down as not-a-failure.
    @Test func adminDownIsSeenAsNoFailure() {
        var m = TwoSessions(fast, fast, seed: 3)
        m.run(until: 4_000_000)
        let a = m.sessions[0].handle(.adminDown(.administrativelyDown))
        m.apply(a, 0)
        m.run(until: m.now + 2_000_000)
        #expect(m.sessions[0].state == .adminDown && m.sessions[1].state == .down)
        #expect(m.downs.first { $0.index == 1 }?.change.isFailure == false)
        m.apply(m.sessions[0].handle(.adminUp), 0)
        m.run(until: m.now + 5_000_000)
        #expect(m.sessions.allSatisfy { $0.state == .up })
    }
}
