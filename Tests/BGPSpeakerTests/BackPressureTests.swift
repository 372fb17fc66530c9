import BGP
import BGPRIB
import IPAddressing
import NIOCore
import NIOEmbedded
import Testing
@testable import BGPSpeaker

/// The send path and the channel's writability, on an `EmbeddedChannel`
/// driven by the speaker itself (its event loop is the channel's): while
/// the channel is not writable no UPDATE is produced and the changes wait,
/// one per prefix, in the Adj-RIB-Out; once writable, the rest comes,
/// coalesced.
@Suite("Back-pressure on the send path")
struct BackPressureTests {
    let peerAddress = IPAddress("10.0.0.2")!

    func configuration(originate: [String]) -> SpeakerConfiguration {
        var peer = PeerConfiguration(name: "slow", address: peerAddress, remoteAS: .internal)
        peer.passive = true
        peer.gracefulRestart = false
        peer.families = [.ipv4Unicast]
        var c = SpeakerConfiguration(asNumber: 64512, routerID: IPv4Address("10.0.0.1")!, originate: originate.map { IPPrefix($0)! },
                                     peers: [peer])
        c.gracefulRestart.enabled = false
        return c
    }

    /// Everything the speaker wrote since the last call, decoded.
    func sent(_ channel: EmbeddedChannel) throws -> [BGPMessage] {
        var bytes = ByteBuffer()
        while var chunk = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&chunk) }
        var out: [BGPMessage] = []
        let context = CodecContext(fourOctetAS: true, addPath: [], extendedMessage: false)
        while let d = try BGPMessage.decode(from: &bytes, context: context) { out.append(d.message) }
        #expect(bytes.readableBytes == 0)
        return out
    }

    func updates(_ messages: [BGPMessage]) -> (announced: [String], withdrawn: [String]) {
        var a: [String] = [], w: [String] = []
        for case .update(let u) in messages where u.endOfRIB == nil {
            a += u.nlri.map(\.prefix.description)
            w += u.withdrawnIPv4.map(\.prefix.description)
        }
        return (a.sorted(), w.sorted())
    }

    @Test func anUnwritableChannelGetsNoUpdatesAndTheRestComesCoalesced() throws {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        let speaker = BGPSpeaker(configuration: configuration(originate: ["10.244.1.0/24"]), loop: loop)
        _ = speaker.start()
        loop.run()
        channel.remoteAddress = try SocketAddress(ipAddress: "10.0.0.2", port: 40179)
        try channel.connect(to: try SocketAddress(ipAddress: "10.0.0.2", port: 179)).wait()
        let handler = BGPChannelHandler()
        try channel.pipeline.syncOperations.addHandler(handler)
        speaker.accepted(channel, handler)
        loop.run()
        // The peer's OPEN and KEEPALIVE: Established, and our table.
        let open = OpenMessage(asNumber: 64512, holdTime: 90, bgpIdentifier: IPv4Address("10.0.0.2")!,
                               capabilities: [.multiprotocol(.ipv4Unicast), .fourOctetAS(64512)])
        for m in [BGPMessage.open(open), .keepalive] {
            try channel.writeInbound(ByteBuffer(bytes: m.encoded(context: .initial)))
            loop.run()
        }
        let first = try sent(channel)
        #expect(first.contains { if case .open = $0 { true } else { false } })
        #expect(updates(first).announced == ["10.244.1.0/24"], "\(first)")
        func status() throws -> PeerStatus {
            let answer = speaker.status()
            loop.run()  // (an embedded loop runs its tasks only when told)
            return try #require(try answer.wait().peers.first)
        }
        #expect(try status().state == "Established" && !status().outputPaused)

        // Not writable: the changes are noted, nothing is written.
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        loop.run()
        #expect(try status().outputPaused)
        func originate(_ prefixes: [String]) throws {
            let done = speaker.reload(configuration(originate: prefixes))
            loop.run()
            _ = try done.wait()
        }
        try originate(["10.244.1.0/24", "10.244.2.0/24"])
        try originate(["10.244.2.0/24", "10.244.3.0/24"])
        // Churn: one prefix comes and goes a hundred times.
        for i in 0..<100 { try originate(i % 2 == 0 ? ["10.244.2.0/24", "10.244.4.0/24"] : ["10.244.2.0/24"]) }
        #expect(try sent(channel).isEmpty, "no UPDATE while the channel is not writable")
        #expect(try status().outputHeld == 4, "one entry per prefix touched (1, 2, 3, 4), however often it changed")

        // Writable: what changed, coalesced: 10.244.1.0/24 withdrawn, 2
        // announced; 3 and 4, which came and went, never sent.
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        loop.run()
        let rest = try sent(channel)
        #expect(updates(rest).announced == ["10.244.2.0/24"] && updates(rest).withdrawn == ["10.244.1.0/24"], "\(rest)")
        #expect(rest.count == 2, "one withdrawal, one announcement: \(rest)")
        #expect(try !status().outputPaused && status().outputHeld == 0)
        // And it flows again as usual.
        try originate(["10.244.2.0/24", "10.244.5.0/24"])
        #expect(updates(try sent(channel)).announced == ["10.244.5.0/24"])
        _ = speaker.shutdown()
        loop.run()
    }
}
