import ClusterModel
import ArgumentParser
import Foundation
import IPAddressing
import NetNS
import Netlink
import Routing

/// `caracal routes`: the kernel's routes of Caracal's protocol in a
/// namespace, and, given a desired-state file, whether the kernel matches it.
struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Show the routes Caracal programmed and whether they match the desired state.",
        subcommands: [Show.self, Sync.self, RegisterProtocol.self],
        defaultSubcommand: Show.self
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Dump the kernel's routes of Caracal's protocol (filtered in the kernel); with --desired, show drift."
        )

        @OptionGroup var target: RouteTargetOptions

        @Option(name: .long, help: "Desired routes: a JSON array of route specs, e.g. [{\"destination\":\"10.0.0.0/24\",\"via\":\"10.1.0.2\",\"dev\":\"eth0\"}].")
        var desired: String?

        func run() throws {
            let namespace = try target.namespace()
            let specs = try desired.map(RouteTargetOptions.loadSpecs)
            let report = try KernelRouteReport.collect(namespace: namespace, protocol: target.routeProtocol, desired: specs)
            let proto = report.protocol
            let kernel = report.routes
            let names = report.deviceNames
            let drift = report.drift
            let spec = report.spec

            if target.json {
                struct Different: Encodable { var desired: RouteSpec; var kernel: RouteSpec }
                struct Drift: Encodable {
                    var inSync: Bool
                    var missing: [RouteSpec]
                    var unexpected: [RouteSpec]
                    var different: [Different]
                }
                struct Output: Encodable {
                    var `protocol`: UInt8
                    var namespace: String?
                    var routes: [RouteSpec]
                    var drift: Drift?
                }
                let output = Output(
                    protocol: proto.rawValue, namespace: target.netns, routes: kernel.map(spec),
                    drift: drift.map { d in
                        Drift(inSync: d.inSync, missing: d.missing.map(spec), unexpected: d.unexpected.map(spec),
                              different: d.different.map { Different(desired: spec($0.desired), kernel: spec($0.kernel)) })
                    })
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
            } else {
                print("\(kernel.count) routes with protocol \(proto)" + (target.netns.map { " in namespace \($0)" } ?? ""))
                for route in kernel { print("  " + text(route, names)) }
                if let drift {
                    print(drift.inSync ? "kernel matches the desired state" : "drift from the desired state:")
                    for route in drift.missing { print("  missing     " + text(route, names)) }
                    for route in drift.unexpected { print("  unexpected  " + text(route, names)) }
                    for (want, have) in drift.different {
                        print("  different   " + text(want, names))
                        print("     kernel   " + text(have, names))
                    }
                }
            }
            if let drift, !drift.inSync { throw ExitCode(3) }
        }

        private func text(_ route: Route, _ names: [UInt32: String]) -> String {
            var line = route.type == .unicast ? "\(route.destination)" : "\(route.type) \(route.destination)"
            for hop in route.nextHops {
                if route.nextHops.count > 1 { line += " nexthop" }
                if let gateway = hop.gateway { line += " via \(gateway)" }
                if hop.interfaceIndex != 0 { line += " dev \(names[hop.interfaceIndex] ?? "#\(hop.interfaceIndex)")" }
                if hop.weight != 1 { line += " weight \(hop.weight)" }
                if hop.onLink { line += " onlink" }
            }
            if route.table != .main { line += " table \(route.table)" }
            if route.scope != .universe { line += " scope \(route.scope)" }
            if route.metric != 0 { line += " metric \(route.metric)" }
            return line
        }
    }

    /// One reconcile pass of `RouteProgrammer`: the routes of Caracal's
    /// protocol become exactly the desired set. Routes of other protocols are
    /// never touched, even where they overlap.
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Make the kernel's routes of Caracal's protocol exactly the desired set (one reconcile pass)."
        )

        @OptionGroup var target: RouteTargetOptions

        @Option(name: .long, help: "Desired routes: a JSON array of route specs (as for `routes show --desired`).")
        var desired: String

        func run() throws {
            let namespace = try target.namespace()
            let specs = try RouteTargetOptions.loadSpecs(desired)
            let proto = target.routeProtocol
            let links = try RTNetlink(namespace: namespace).links()
            // Resolve everything before touching the kernel: a bad file changes nothing.
            let routes = try RouteSpec.resolve(specs, protocol: proto,
                interfaces: Dictionary(links.map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a }))
            let programmer = try RouteProgrammer(configuration: RouteProgrammerConfiguration(
                protocol: proto, keepRoutesUntilFirstDesiredSet: true, namespace: namespace))
            try programmer.start()
            let report = try programmer.setDesired(routes)
            if target.json {
                struct Output: Encodable {
                    var added: Int, replaced: Int, deleted: Int, failures: [String], desired: Int
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let output = Output(added: report.added, replaced: report.replaced, deleted: report.deleted,
                                    failures: report.failures.map(\.description), desired: routes.count)
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
            } else {
                print("\(routes.count) desired: \(report.added) added, \(report.replaced) replaced, \(report.deleted) deleted, \(report.failures.count) failed")
                for failure in report.failures { print("  " + failure.description) }
            }
            if !report.succeeded { throw ExitCode(1) }
        }
    }

    struct RegisterProtocol: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "register-protocol",
            abstract: "Write rt_protos.d/<name>.conf so `ip route` shows Caracal's routes as \"proto caracal\"."
        )

        @Option(name: .long, help: "Route protocol number.")
        var `protocol`: UInt8 = RouteProtocol.caracal.rawValue

        @Option(name: .long, help: "Name to show.")
        var name = "caracal"

        @Option(name: .long, help: "Directory to write into.")
        var directory = RouteProtocolRegistration.defaultDirectory

        func run() throws {
            let path = try RouteProtocolRegistration.install(protocol: RouteProtocol(`protocol`), name: name, directory: directory)
            print("wrote \(path)")
        }
    }
}

/// What both `routes show` and `routes sync` act on.
struct RouteTargetOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Option(name: .long, help: "Network namespace name (as in `ip netns`); default: the current one.")
    var netns: String?

    @Option(name: .long, help: "Route protocol number that marks Caracal's routes.")
    var `protocol`: UInt8 = RouteProtocol.caracal.rawValue

    var routeProtocol: RouteProtocol { RouteProtocol(`protocol`) }

    func namespace() throws -> NetworkNamespace? {
        let namespace = netns.map(NetworkNamespace.named)
        if let namespace, !namespace.exists { throw ValidationError("no network namespace \(namespace.path)") }
        return namespace
    }

    /// A desired-state file: a JSON array of `RouteSpec`.
    static func loadSpecs(_ path: String) throws -> [RouteSpec] {
        do {
            return try RouteSpec.parseList(Array(Data(contentsOf: URL(fileURLWithPath: path))))
        } catch {
            throw ValidationError("\(path): \(error)")
        }
    }
}
