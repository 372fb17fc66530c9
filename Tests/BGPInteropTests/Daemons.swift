import Foundation
import TestSupport

/// A daemon started inside a test namespace (BIRD, gobgpd, a Caracal
/// agent, a raw peer script), stopped when the test ends.
final class Daemon: @unchecked Sendable {
    let process = Process()
    let log: URL
    let name: String

    init(_ name: String, in ns: TestNamespace, _ arguments: [String], directory: URL, environment: [String: String]? = nil) throws {
        self.name = name
        log = directory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", ns.name] + arguments
        if let environment { process.environment = environment }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// SIGKILL: a crash, as far as its peers can tell.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait (bounded).
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        kill()
    }

    deinit { kill() }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(_ seconds: Double = 20, interval: Double = 0.2, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(interval * 1e6))
    }
    return try condition()
}

/// BIRD 2 in a namespace, with its control socket in the test directory.
final class BIRD {
    let daemon: Daemon
    let socket: String
    let pidFile: String

    init(in ns: TestNamespace, config: String, directory: URL, name: String = "bird") throws {
        let conf = directory.appendingPathComponent("\(name).conf")
        try config.write(to: conf, atomically: true, encoding: .utf8)
        socket = directory.appendingPathComponent("\(name).ctl").path
        pidFile = directory.appendingPathComponent("\(name).pid").path
        daemon = try Daemon(name, in: ns, ["bird", "-f", "-c", conf.path, "-s", socket, "-P", pidFile], directory: directory)
        _ = eventually(5) { FileManager.default.fileExists(atPath: socket) }
    }

    func cli(_ command: String) throws -> String {
        try Command.run(["birdc", "-s", socket] + command.split(separator: " ").map(String.init)).stdout
    }

    func established(_ protocolName: String) throws -> Bool {
        try cli("show protocols \(protocolName)").contains("Established")
    }
}

/// gobgpd with its API on a unix socket in the test directory.
final class GoBGP {
    let daemon: Daemon
    let api: String

    init(in ns: TestNamespace, config: String, directory: URL) throws {
        let conf = directory.appendingPathComponent("gobgp.toml")
        try config.write(to: conf, atomically: true, encoding: .utf8)
        api = directory.appendingPathComponent("gobgp.sock").path
        daemon = try Daemon("gobgpd", in: ns, ["gobgpd", "-f", conf.path, "--api-hosts", "unix://\(api)", "-p", "--pprof-disable"],
                            directory: directory)
        _ = eventually(5) { FileManager.default.fileExists(atPath: api) }
    }

    /// One IPv4 unicast neighbour with short timers.
    convenience init(in ns: TestNamespace, asNumber: Int, routerID: String, neighbor: String, peerAS: Int, directory: URL) throws {
        try self.init(in: ns, config: """
            [global.config]
              as = \(asNumber)
              router-id = "\(routerID)"
            [[neighbors]]
              [neighbors.config]
                neighbor-address = "\(neighbor)"
                peer-as = \(peerAS)
              [neighbors.timers.config]
                connect-retry = 2
                hold-time = 9
                keepalive-interval = 3
              [[neighbors.afi-safis]]
                [neighbors.afi-safis.config]
                  afi-safi-name = "ipv4-unicast"
            """, directory: directory)
    }

    func cli(_ arguments: [String]) throws -> CommandResult {
        try Command.run(["gobgp", "--target", "unix://\(api)"] + arguments)
    }

    /// The global RIB as JSON: prefix → its paths.
    func rib(_ family: String = "ipv4") throws -> [String: [[String: Any]]] {
        let out = try cli(["-j", "global", "rib", "-a", family]).stdout
        guard let data = out.data(using: .utf8), let json = try? JSONSerialization.jsonObject(with: data) as? [String: [[String: Any]]] else { return [:] }
        return json
    }

    func established() throws -> Bool {
        let out = try cli(["-j", "neighbor"]).stdout
        return out.contains("\"session_state\":6")
    }
}

/// A Caracal agent run as the CLI runs it.
final class CaracalAgent {
    let daemon: Daemon
    let socket: String
    let configFile: URL
    let ns: TestNamespace
    let directory: URL

    init(in ns: TestNamespace, config: String, directory: URL, name: String = "caracal", environment: [String: String]? = nil) throws {
        self.ns = ns
        self.directory = directory
        configFile = directory.appendingPathComponent("\(name).yaml")
        socket = directory.appendingPathComponent("\(name).sock").path
        try config.replacingOccurrences(of: "@SOCKET@", with: socket).write(to: configFile, atomically: true, encoding: .utf8)
        daemon = try Daemon(name, in: ns, [BuiltProduct.path("caracal"), "agent", "--config", configFile.path], directory: directory,
                            environment: environment)
        _ = eventually(10) { FileManager.default.fileExists(atPath: socket) }
    }

    func status() throws -> [String: Any] {
        let out = try Command.run([BuiltProduct.path("caracal"), "status", "--json", "--socket", socket]).stdout
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let result = json["result"] as? [String: Any], let bgp = result["bgp"] as? [String: Any] else { return [:] }
        return bgp
    }

    func peer(_ address: String) throws -> [String: Any]? {
        (try status()["peers"] as? [[String: Any]])?.first { $0["address"] as? String == address }
    }

    func established(_ address: String) throws -> Bool { try peer(address)?["state"] as? String == "Established" }

    func kernelRoutes(_ family: String = "-4") throws -> String {
        try ns.run(["ip", family, "route", "show", "proto", "201"]).stdout
    }
}
