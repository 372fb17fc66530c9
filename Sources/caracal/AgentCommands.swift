import Agent
import ArgumentParser
import BGPSpeaker
import Foundation
import Logging
import ServiceLifecycle

/// Where the CLI finds the agent: `--socket`, else `CARACAL_SOCKET`, else
/// the default path.
struct SocketOption: ParsableArguments {
    @Option(name: .long, help: "The agent's control socket (default: $CARACAL_SOCKET or /run/caracal/agent.sock).")
    var socket: String?

    var path: String { socket ?? ProcessInfo.processInfo.environment["CARACAL_SOCKET"] ?? AgentConfiguration.defaultControlSocket }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent (BGP speaker, kernel routes, control socket).",
        discussion: "Reads the YAML configuration described in docs/config.md. SIGHUP or `caracal agent reload` re-reads it; SIGTERM stops.",
        subcommands: [AgentRun.self, AgentReload.self, AgentCheck.self],
        defaultSubcommand: AgentRun.self
    )
}

struct AgentRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the agent (the default).")

    @Option(name: .long, help: "The configuration file.")
    var config: String = "/etc/caracal/agent.yaml"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "caracal.agent")
        NodeAgent.version = CaracalVersion.string
        let agent: Agent
        do {
            agent = try Agent(configPath: config, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("caracal agent: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }
}

struct AgentCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Check a configuration file and exit (2 on an error).")

    @Option(name: .long, help: "The configuration file.")
    var config: String = "/etc/caracal/agent.yaml"

    func run() throws {
        guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
            FileHandle.standardError.write(Data("\(config): cannot read\n".utf8))
            throw ExitCode(2)
        }
        do {
            let c = try AgentConfiguration.parse(text)
            if let m = c.cluster {
                let from = c.bgpDefaults.sorted().joined(separator: ", ")
                print("\(config): OK (cluster member \(m.nodeName) on \(m.datastore); addresses ipv4 \(m.ipv4), ipv6 \(m.ipv6)"
                      + (m.routeReflectorClusterID.map { "; reflector cluster \($0)" } ?? "")
                      + (from.isEmpty ? "" : "; \(from) from the cluster") + "; \(c.bgp.peers.count) static peers, \(c.bgp.policies.count) policies)")
            } else {
                print("\(config): OK (AS \(c.bgp.asNumber), router ID \(c.bgp.routerID), \(c.bgp.peers.count) peers, \(c.bgp.policies.count) policies)")
            }
        } catch {
            FileHandle.standardError.write(Data("\(config): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct AgentReload: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Make the running agent re-read its configuration.")
    @OptionGroup var socket: SocketOption

    func run() throws {
        let report = try ControlClient.request(path: socket.path, ControlRequest(command: .reload), as: ReloadReport.self)
        print("reloaded: added \(report.added), removed \(report.removed), reset \(report.reset), policies re-applied \(report.reapplied)")
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The agent's BGP sessions, like `birdc show protocols` (--json for everything).")
    @OptionGroup var socket: SocketOption
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() throws {
        if json {
            let data = try ControlClient.rawRequest(path: socket.path, ControlRequest(command: .status))
            FileHandle.standardOutput.write(data)
            return
        }
        let status = try ControlClient.request(path: socket.path, ControlRequest(command: .status), as: AgentStatus.self)
        let b = status.bgp
        print("AS \(b.asNumber), router ID \(b.routerID)\(b.clusterID.map { ", route reflector cluster \($0)" } ?? "")"
              + ", \(b.prefixes) prefixes\(status.kernelRoutes.map { ", \($0) kernel routes" } ?? "")\(b.restarting ? ", restarting (waiting for End-of-RIB)" : "")")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let rows = [["Peer", "Address", "AS", "Type", "State", "Since", "Routes (rcvd/acc/adv)", "Info"]] + b.peers.map { p in
            [p.name, p.address, "\(p.asNumber)", p.type, p.state, formatter.string(from: p.since), "\(p.received)/\(p.accepted)/\(p.advertised)", p.info]
        }
        printTable(rows)
        if let table = bfdTable(b.peers) { print(""); printTable(table) }
        if let c = status.cluster {
            print("")
            print("node \(c.node.name) (\(c.node.addresses.map(\.description).joined(separator: ", ")); \(c.node.addressSource ?? "")), "
                  + "datastore \(c.datastore) at revision \(c.revision)")
            print("\(c.mesh ? "full mesh" : "route reflectors"), \(c.sessions) sessions, \(c.originated) prefixes originated, "
                  + "\(c.localRoutes) local routes; policy: \(c.policies) policies, \(c.localEndpoints) local endpoints, "
                  + "applied through revision \(c.policyRevision)")
            for r in c.ipam {
                print("IPAM pool \(r.pool): \(r.used) addresses in use in this node's blocks \(r.blocks.joined(separator: " "))")
            }
            printTable([["Node", "Addresses", "Role", "Liveness"]] + c.nodes.map { n in
                [n.name, n.addresses.joined(separator: " "), n.reflector ? "reflector" : "-", n.liveness]
            })
        }
    }
}

struct BGPRoutes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes", abstract: "The agent's Loc-RIB, a prefix's candidate paths (--detail), or a peer's Adj-RIB-In.")
    @OptionGroup var socket: SocketOption
    @Argument(help: "A prefix or address: its candidate paths and why each lost.") var prefix: String?
    @Option(name: .long, help: "A peer's table (after import policy; --in: as received).") var peer: String?
    @Flag(name: .customLong("in"), help: "With --peer: the Adj-RIB-In as received, before import policy.") var received = false
    @Flag(name: .long, help: "Show why each path lost.") var detail = false
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() throws {
        let request = ControlRequest(command: .routes, prefix: prefix, peer: peer, received: received)
        if json {
            FileHandle.standardOutput.write(try ControlClient.rawRequest(path: socket.path, request))
            return
        }
        let rows = try ControlClient.request(path: socket.path, request, as: [RouteRow].self)
        var table = [["", "Prefix", "Next hop", "From", "AS path", "LocPref", "MED", "Communities"] + (detail ? ["Why not best"] : [])]
        for r in rows {
            table.append([r.best ? "*" : (r.stale ? "s" : " "), r.prefix, r.nextHop, r.peer + (r.pathID == 0 ? "" : " #\(r.pathID)"), r.asPath,
                          r.localPref.map { "\($0)" } ?? "", r.med.map { "\($0)" } ?? "", r.communities.joined(separator: " ")]
                         + (detail ? [r.reason ?? ""] : []))
        }
        printTable(table)
    }
}

struct BGPReset: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "Reset a session (or re-apply policy: --soft in|out).")
    @OptionGroup var socket: SocketOption
    @Argument(help: "The peer's address.") var peer: String
    @Option(name: .long, help: "in: re-apply import policy from the kept Adj-RIB-In; out: send the table again.") var soft: String?

    func run() throws {
        print(try ControlClient.request(path: socket.path, ControlRequest(command: .reset, peer: peer, soft: soft), as: String.self))
    }
}

struct BGPMRTDump: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mrt-dump", abstract: "Write the Loc-RIB as MRT TABLE_DUMP_V2 (RFC 6396; bgpdump reads it).")
    @OptionGroup var socket: SocketOption
    @Argument(help: "The file to write.") var file: String

    func run() throws {
        let base64 = try ControlClient.request(path: socket.path, ControlRequest(command: .mrt), as: String.self)
        guard let data = Data(base64Encoded: base64) else { throw ValidationError("the agent sent a bad dump") }
        try data.write(to: URL(fileURLWithPath: file))
        print("\(file): \(data.count) bytes")
    }
}

/// `caracal status`: the BFD sessions of the peers that have one (nil: none).
func bfdTable(_ peers: [PeerStatus]) -> [[String]]? {
    let rows = peers.compactMap { p in p.bfd.map { s in
        [p.name, s.local, s.state, s.remoteState + (s.remoteControlPlaneIndependent ? " (C)" : ""), s.transmitIntervalMs.map { "\($0)" } ?? "-",
         s.detectionTimeMs.map { "\($0)" } ?? "-", s.diagnostic, "\(s.downs)"]
    } }
    return rows.isEmpty ? nil : [["BFD peer", "Local", "State", "Remote", "TX (ms)", "Detect (ms)", "Diagnostic", "Downs"]] + rows
}
