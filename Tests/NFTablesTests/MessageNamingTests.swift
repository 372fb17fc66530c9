import Netlink
@testable import NFTables
import Policy
import Testing

/// A refused message is named from its own bytes (nothing is kept per
/// message while encoding): libnftnl parses back what it built.
@Suite struct MessageNamingTests {
    @Test func everyMessageKindIsNamedFromItsBytes() throws {
        let b = BatchBuffer()
        KernelObjects.addTable(b)
        KernelObjects.addTable(b, delete: true)
        let set = NamedSet(name: "peers-a-v4", kind: .addresses(.ipv4), ranges: [0x0A00_0001...0x0A00_0003], comment: "peers: a")
        KernelObjects.addSet(b, set)
        KernelObjects.elementMessages(b, set: set.name, KernelObjects.elements(for: set), delete: false)
        KernelObjects.addMap(b, Ruleset.fromProfileMap)
        KernelObjects.addChain(b, "k8s-in-1", hook: nil)
        KernelObjects.addRule(b, chain: "k8s-in-1", Rule(matches: [.addressInSet(.source, set.name, .ipv4)], verdict: .return, comment: "first"))
        KernelObjects.addRule(b, chain: "other", Rule(verdict: .drop, comment: "elsewhere"))
        KernelObjects.addRule(b, chain: "k8s-in-1", Rule(verdict: .drop, comment: "second"))
        KernelObjects.flushChain(b, "k8s-in-1")
        KernelObjects.addRule(b, chain: "k8s-in-1", Rule(verdict: .accept, comment: "after the flush"))
        KernelObjects.deleteSet(b, set.name)
        KernelObjects.deleteChain(b, "k8s-in-1")
        let messages = (0..<b.messageCount).map { b.batch.messageBytes(at: $0) }
        #expect(messages.indices.map { KernelObjects.describe(messages, at: $0) } == [
            "add table",
            "delete table",
            "add set peers-a-v4",
            "add 2 elements of peers-a-v4",  // an interval: its start and its end
            "add map from-profile",
            "add chain k8s-in-1",
            "add rule k8s-in-1[0] \"first\"",
            "add rule other[0] \"elsewhere\"",
            "add rule k8s-in-1[1] \"second\"",
            "flush chain k8s-in-1",
            "add rule k8s-in-1[0] \"after the flush\"",
            "delete set peers-a-v4",
            "delete chain k8s-in-1",
        ])
        #expect(KernelObjects.describe(messages, at: messages.count) == "message \(messages.count)")
    }
}
