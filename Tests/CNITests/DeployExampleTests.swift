import Foundation
import Testing
@testable import CNI
import JSON

/// The example conflist shipped in deploy/cni must be what the plugin
/// accepts: each plugin entry is sent to its plugin the way libcni does it
/// (the list's `name` and `cniVersion` injected), and Caracal's entry must
/// parse with the values the example promises.
@Suite("deploy/cni example conflist")
struct DeployExampleTests {
    static let conflist = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/cni/10-caracal.conflist")

    @Test func caracalIsTheFirstPluginAndItsEntryParses() throws {
        let list = try JSONValue.parse(Array(Data(contentsOf: Self.conflist)))
        guard case let .object(top) = list, case let .array(plugins)? = top["plugins"] else {
            Issue.record("conflist has no plugins array"); return
        }
        guard case var .object(first)? = plugins.first else { Issue.record("no first plugin"); return }
        #expect(first["type"] == .string("caracal-cni"))
        first["name"] = top["name"]
        first["cniVersion"] = top["cniVersion"]
        let config = try NetworkConfig(parsing: Array(JSONValue.object(first).encoded()))
        // 1.0.0: the newest version podman 4.3's CNI library (and its chained
        // portmap) reads; docs/cni.md "Runtimes".
        #expect(config.cniVersion == .v1_0_0)
        #expect(config.name == "caracal")
        #expect(config.mtu == 1500)
        #expect(config.datastorePath == "/var/lib/caracal/caracal.db")
        #expect(config.ipam?.type == "caracal")
        // The pool is an admin's resource (`caracal ipam pool create`), named here.
        #expect(config.ipam?.poolNames == ["default-ipv4"])
        #expect(config.ipam?.poolDefinitions.isEmpty == true)
    }
}
