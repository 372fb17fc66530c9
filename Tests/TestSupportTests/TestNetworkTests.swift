import Foundation
import Testing
import NetNS
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite("Test network namespaces")
struct TestNetworkTests {
    @Test func vethBetweenNamespacesCarriesTraffic() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let b = try net.namespace("b")
            try net.veth(a, "va", "10.200.0.1/30", b, "vb", "10.200.0.2/30")
            #expect(try a.canPing("10.200.0.2"))
            #expect(try b.canPing("10.200.0.1"))
            // The host namespace never saw the links.
            let host = try Command.check(["ip", "-o", "link", "show"]).stdout
            #expect(!host.contains(" va@"))
            #expect(!host.contains(" vb@"))
        }
    }

    @Test func emptyNamespaceReachesNothing() throws {
        try withTestNetwork { net in
            let empty = try net.emptyNamespace()
            let routes = try empty.check(["ip", "-4", "route", "show"]).stdout
            #expect(routes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(try !empty.canPing("10.200.0.2"))
        }
    }

    @Test func cleanupDeletesNamespacesEvenWhenTheBodyThrows() throws {
        struct Boom: Error {}
        var name = ""
        #expect(throws: Boom.self) {
            try withTestNetwork { net in
                name = try net.namespace("x").name
                #expect(FileManager.default.fileExists(atPath: "/run/netns/\(name)"))
                throw Boom()
            }
        }
        #expect(!name.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(name)"))
    }

    @Test func performRunsInsideTheNamespaceOnly() throws {
        try withTestNetwork { net in
            let a = try net.namespace("p")
            try net.veth(a, "inside0", nil, try net.namespace("q"), "other0", nil)
            // if_nametoindex uses the calling thread's namespace.
            let inside = try a.perform { if_nametoindex("inside0") }
            #expect(inside != 0)
            #expect(if_nametoindex("inside0") == 0)
        }
    }

    @Test func performReportsAMissingNamespace() {
        let missing = NetworkNamespace.named("crc-does-not-exist-\(getpid())")
        #expect(!missing.exists)
        #expect(throws: NetNSError.self) { try missing.perform { 1 } }
    }

    @Test func temporaryDirectoryIsRemovedAfterUse() throws {
        var path = ""
        try TemporaryDirectory.with { dir in
            path = dir.path
            try Data("x".utf8).write(to: dir.appendingPathComponent("f"))
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
