import Foundation
import TestSupport
import Testing

/// `caracal routes sync|show` end to end: the real binary acting inside a
/// test namespace, a desired-state file in a temporary directory.
@Suite struct RoutesCommandTests {
    func caracal(_ args: [String]) throws -> CommandResult {
        try Command.run([BuiltProduct.path("caracal"), "routes"] + args)
    }

    @Test func syncProgramsExactlyTheDesiredSetAndLeavesForeignRoutes() throws {
        try TemporaryDirectory.with { dir in
            try withTestNetwork { net in
                let node = try net.namespace("node")
                try net.veth(node, "u0", "10.98.0.1/30", try net.namespace("peer"), "u1", "10.98.0.2/30")
                // A foreign route (static) and a stale route of Caracal's protocol.
                try node.ip("route", "add", "10.97.0.0/24", "via", "10.98.0.2", "proto", "static")
                try node.ip("route", "add", "10.96.0.0/24", "via", "10.98.0.2", "proto", "201")
                let desired = dir.appendingPathComponent("routes.json").path
                try """
                [{"destination": "10.244.1.0/26", "via": "10.98.0.2", "dev": "u0"},
                 {"destination": "10.244.9.0/26", "type": "blackhole"}]
                """.write(toFile: desired, atomically: true, encoding: .utf8)

                let sync = try caracal(["sync", "--netns", node.name, "--desired", desired, "--json"])
                #expect(sync.status == 0, "\(sync.stdout)\(sync.stderr)")
                #expect(sync.stdout.contains("\"added\" : 2") && sync.stdout.contains("\"deleted\" : 1"), "\(sync.stdout)")

                let table = try node.ip("route", "show").stdout
                #expect(table.contains("10.244.1.0/26 via 10.98.0.2 dev u0 proto 201"))
                #expect(table.contains("blackhole 10.244.9.0/26 proto 201"))
                #expect(table.contains("10.97.0.0/24 via 10.98.0.2 dev u0 proto static"), "foreign route must stay")
                #expect(!table.contains("10.96.0.0/24"), "stale route of our protocol must go")

                // In sync now; a second pass writes nothing.
                let again = try caracal(["sync", "--netns", node.name, "--desired", desired, "--json"])
                #expect(again.stdout.contains("\"added\" : 0") && again.stdout.contains("\"deleted\" : 0"), "\(again.stdout)")
                let show = try caracal(["show", "--netns", node.name, "--desired", desired])
                #expect(show.status == 0 && show.stdout.contains("kernel matches the desired state"), "\(show.stdout)")

                // Drift is reported with exit status 3.
                try node.ip("route", "del", "10.244.1.0/26", "proto", "201")
                let drift = try caracal(["show", "--netns", node.name, "--desired", desired, "--json"])
                #expect(drift.status == 3 && drift.stdout.contains("\"missing\""), "\(drift.stdout)")
            }
        }
    }

    @Test func aBadDesiredFileChangesNothing() throws {
        try TemporaryDirectory.with { dir in
            try withTestNetwork { net in
                let node = try net.namespace("node")
                try node.ip("route", "add", "blackhole", "10.96.0.0/24", "proto", "201")
                let desired = dir.appendingPathComponent("routes.json").path
                try """
                [{"destination": "10.244.1.0/26", "via": "10.98.0.2", "dev": "nosuchdev"}]
                """.write(toFile: desired, atomically: true, encoding: .utf8)
                let sync = try caracal(["sync", "--netns", node.name, "--desired", desired])
                #expect(sync.status != 0 && sync.stderr.contains("nosuchdev"), "\(sync.stdout)\(sync.stderr)")
                #expect(try node.ip("route", "show").stdout.contains("blackhole 10.96.0.0/24"), "nothing may be removed")
            }
        }
    }
}
