import CNI
import Datastore
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Runs the built caracal-cni binary exactly as a runtime does: a clean
/// environment with CNI_* variables, the config on stdin, stdout/stderr and
/// the exit code captured. The plugin runs inside `host`, a test namespace
/// acting as the node, so it never touches the real host.
struct PluginHarness {
    let binary: String
    let host: TestNamespace
    let db: String

    static var binaryPath: String { BuiltProduct.path("caracal-cni") }

    /// - Parameter createDatastore: create the (empty) datastore first, as
    ///   the agent or `caracal ipam pool create` does; the plugin never does.
    init(host: TestNamespace, dir: URL, createDatastore: Bool = true) throws {
        binary = PluginHarness.binaryPath
        self.host = host
        db = dir.appendingPathComponent("caracal.db").path
        if createDatastore { _ = try SQLiteStore(path: db) }
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: JSONValue? { try? JSONValue.parse(Array(stdout.utf8)) }
        var code: Int? { json?["code"]?.intValue.map(Int.init) }
        var msg: String { json?["msg"]?.stringValue ?? "" }
    }

    func config(
        version: String = "1.1.0", pools: JSONValue? = nil, ipam extra: [String: JSONValue] = [:], top: [String: JSONValue] = [:]
    ) -> JSONValue {
        var ipam: [String: JSONValue] = ["type": "caracal"]
        ipam["pools"] = pools ?? [["name": "default", "cidr": "10.244.0.0/16", "cooldownSeconds": 0]]
        for (k, v) in extra { ipam[k] = v }
        var o: [String: JSONValue] = [
            "cniVersion": .string(version), "name": "caracal", "type": "caracal-cni", "mtu": 1400, "nodeName": "node1",
            "datastore": ["path": .string(db)], "ipam": .object(ipam),
        ]
        for (k, v) in top { o[k] = v }
        return .object(o)
    }

    @discardableResult
    func run(
        _ command: String, containerID: String? = nil, netns: String? = nil, ifName: String? = "eth0", args: String? = nil,
        config: JSONValue?, rawStdin: String? = nil, extraEnv: [String: String] = [:], path: Bool = true
    ) throws -> Outcome {
        var env = ["CNI_COMMAND=\(command)"]
        if let containerID { env.append("CNI_CONTAINERID=\(containerID)") }
        if let netns { env.append("CNI_NETNS=\(netns)") }
        if let ifName { env.append("CNI_IFNAME=\(ifName)") }
        if let args { env.append("CNI_ARGS=\(args)") }
        if path { env.append("CNI_PATH=/opt/cni/bin") }
        for (k, v) in extraEnv { env.append("\(k)=\(v)") }
        let stdin = rawStdin.map { Data($0.utf8) } ?? config.map { $0.encoded() } ?? Data()
        let r = try host.run(["env", "-i"] + env + [binary], stdin: stdin)
        return Outcome(status: r.status, stdout: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), stderr: r.stderr)
    }

    /// Starts the plugin in the background (for kill tests) with `env` and
    /// the default config on stdin.
    func start(_ env: [String]) throws -> Process {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/ip")
        child.arguments = ["netns", "exec", host.name, "env", "-i"] + env + [binary]
        let input = Pipe()
        child.standardInput = input
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        input.fileHandleForWriting.write(config().encoded())
        try input.fileHandleForWriting.close()
        return child
    }

    func add(_ id: String, pod: TestNamespace, args: String? = nil, config: JSONValue? = nil) throws -> Outcome {
        try run("ADD", containerID: id, netns: "/run/netns/\(pod.name)", args: args ?? "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=\(id)", config: config ?? self.config())
    }

    func del(_ id: String, pod: TestNamespace?, args: String? = nil, config: JSONValue? = nil) throws -> Outcome {
        try run("DEL", containerID: id, netns: pod.map { "/run/netns/\($0.name)" }, args: args ?? "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=\(id)", config: config ?? self.config())
    }

    /// Rows of the datastore under a key prefix (read with the sqlite3 CLI,
    /// as an operator would).
    func keys(_ prefix: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: db) else { return [] }
        let out = try Command.check(["sqlite3", db, "SELECT key FROM kv WHERE key LIKE '\(prefix)%' AND value IS NOT NULL ORDER BY key;"]).stdout
        return out.split(separator: "\n").map(String.init)
    }

    func hostLinks() throws -> [String] {
        try host.check(["ip", "-o", "link", "show"]).stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":")
            guard parts.count > 1 else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first.map(String.init)
        }
    }
}

/// Polls `condition` every 20 ms for up to 4 s.
func waitUntil(_ condition: () -> Bool) -> Bool {
    for _ in 0..<200 {
        if condition() { return true }
        usleep(20_000)
    }
    return false
}

extension JSONValue {
    /// The first IP of a result, without the prefix length.
    var firstIP: String? { self["ips"]?.arrayValue?.first?["address"]?.stringValue?.split(separator: "/").first.map(String.init) }
}
