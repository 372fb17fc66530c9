import Testing
@testable import BGPSpeaker

@Suite("Agent configuration: a peer's bfd option")
struct BFDConfigurationTests {
    func parse(_ peer: String) throws(ConfigurationError) -> PeerConfiguration? {
        try AgentConfiguration.parse("""
            apiVersion: caracal.io/v1alpha1
            kind: AgentConfiguration
            spec:
              bgp:
                asNumber: 64512
                routerID: 10.0.0.1
                peers:
                  - address: 10.0.0.2
                    remoteAS: internal
            \(peer)
            """, environment: [:], readFile: { _ in nil }).bgp.peers.first
    }

    @Test func offUnlessAskedAndDefaultsWhenGiven() throws {
        #expect(try parse("")?.bfd == nil)
        #expect(try parse("        bfd: {}")?.bfd == BFDSettings(minTx: 100, minRx: 100, multiplier: 3))
        #expect(try parse("        bfd: {minTx: 50, minRx: 300, multiplier: 5, graceful: true}")?.bfd
            == BFDSettings(minTx: 50, minRx: 300, multiplier: 5, graceful: true))
        #expect(try parse("        bfd: {enabled: false, minTx: 50}")?.bfd == nil)
    }

    @Test func multihopForMultihopPeersOrWhenAsked() throws {
        #expect(try parse("        bfd: {}")?.bfd?.multihop == false)
        #expect(try parse("        ebgpMultihop: 2\n        bfd: {}")?.bfd?.multihop == true)
        #expect(try parse("        bfd: {multihop: true}")?.bfd?.multihop == true)
        #expect(try parse("        ebgpMultihop: 2\n        bfd: {multihop: false}")?.bfd?.multihop == false)
    }

    @Test func badValuesNameTheirField() {
        let cases: [(String, String, String)] = [
            ("        bfd: {minTx: 5}", "spec.bgp.peers[0].bfd.minTx", "10-60000"),
            ("        bfd: {minRx: 70000}", "spec.bgp.peers[0].bfd.minRx", "10-60000"),
            ("        bfd: {multiplier: 0}", "spec.bgp.peers[0].bfd.multiplier", "1-255"),
            ("        bfd: {interval: 1}", "spec.bgp.peers[0].bfd.interval", "unknown field"),
            ("        bfd: {multihop: 1}", "spec.bgp.peers[0].bfd.multihop", "true or false"),
        ]
        for (peer, path, message) in cases {
            do {
                _ = try parse(peer)
                Issue.record("accepted: \(peer)")
            } catch {
                #expect(error.path == path && error.message.contains(message), "\(peer): \(error)")
            }
        }
    }

    @Test func intervalsBecomeMicrosecondsForTheSession() {
        let c = BGPSpeaker.sessionConfiguration(BFDSettings(minTx: 100, minRx: 250, multiplier: 4))
        #expect(c.desiredMinTxInterval == 100_000 && c.requiredMinRxInterval == 250_000 && c.detectMultiplier == 4)
    }
}
