import ArgumentParser
import Cluster
import Foundation
import NetNS
import NFTables
import Policy

/// `caracal policy …`: apply, dump and explain network policy.
///
/// What Caracal intends comes from files until the agent supplies it: the
/// policy file (NetworkPolicy / GlobalNetworkPolicy YAML) and the endpoint
/// file (docs/policy-endpoints.md). `apply` records both in the state
/// directory after a successful commit, so `dump --diff` and `explain`
/// compare against the last applied intent by default.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Network policy: compile to nftables, apply, dump and explain.",
        subcommands: [PolicyApply.self, PolicyDump.self, PolicyExplain.self, PolicyDrops.self]
    )
}

struct IntentOptions: ParsableArguments {
    @Option(name: .long, help: "Policy file (YAML/JSON, one or more documents). Default: the last applied one.")
    var policies: String?

    @Option(name: .long, help: "Endpoint file (see docs/policy-endpoints.md). Default: the last applied one.")
    var endpoints: String?

    @Option(name: .long, help: "Where apply records the intent it committed.")
    var stateDir: String = "/var/lib/caracal/policy"

    @Option(name: .long, help: "Host veth name prefix of Caracal's pods.")
    var interfacePrefix: String = "crc"

    func read(_ path: String) throws -> String {
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PolicyCLIError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    func load() throws -> (PolicySet, EndpointInventory) {
        let policyPath = policies ?? "\(stateDir)/policies.yaml"
        let endpointPath = endpoints ?? "\(stateDir)/endpoints.yaml"
        do {
            let set = try PolicyParser.parse(try read(policyPath))
            let inv = try EndpointParser.parse(try read(endpointPath))
            return (set, inv)
        } catch let e as PolicyInputError {
            throw PolicyCLIError("invalid input, nothing applied: \(e)")
        }
    }

    var compiler: PolicyCompiler { PolicyCompiler(interfacePrefix: interfacePrefix) }

    func compile(_ set: PolicySet, _ inv: EndpointInventory) -> Ruleset {
        compiler.compile(set, inv)
    }
}

struct NetnsOption: ParsableArguments {
    @Option(name: .long, help: "Network namespace name (/run/netns/NAME) to act in.")
    var netns: String?

    func programmer() throws -> NFTablesProgrammer {
        try NFTablesProgrammer(namespace: netns.map { NetworkNamespace.named($0) })
    }
}

/// A failure of a policy command: printed as "Error: …" without usage.
struct PolicyCLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func writeJSON(_ object: Any) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]) {
        print(String(decoding: data, as: UTF8.self))
    }
}

struct PolicyApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Validate, compile and commit policies in one nftables transaction.")

    @Option(name: [.customShort("f"), .long], help: "Policy file to apply.")
    var file: String

    @OptionGroup var intent: IntentOptions
    @OptionGroup var ns: NetnsOption

    @Flag(help: "Print the change that would be committed; change nothing.")
    var dryRun = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        var opts = intent
        opts.policies = file
        // Validation first: any error and nothing is applied.
        let (set, inv) = try opts.load()
        let programmer = try ns.programmer()
        let current = try programmer.read()
        let desired: Ruleset, report: NFTablesProgrammer.ApplyReport
        if current == nil && !dryRun {
            // No table yet: compile and encode on two cores.
            (desired, report) = try programmer.replace(compiling: set, for: inv, with: opts.compiler)
            try finish(opts, set, inv, desired, report)
            return
        }
        desired = opts.compile(set, inv)
        let diff = current.map { RulesetDiff(from: $0, to: desired) }
        if dryRun {
            if json {
                writeJSON(["dryRun": true, "fullReplace": diff?.needsFullReplace ?? true, "changes": diff?.text ?? "create table"])
            } else if let diff {
                print(diff.text, terminator: "")
            } else {
                print("+ table inet \(Ruleset.tableName) (new)")
                print(NftRenderer.render(desired), terminator: "")
            }
            return
        }
        report = try programmer.apply(desired, current: .some(current))
        try finish(opts, set, inv, desired, report)
    }

    private func finish(_ opts: IntentOptions, _ set: PolicySet, _ inv: EndpointInventory, _ desired: Ruleset,
                        _ report: NFTablesProgrammer.ApplyReport) throws {
        try recordIntent(policyText: try opts.read(file), endpointText: try opts.read(opts.endpoints ?? "\(opts.stateDir)/endpoints.yaml"))
        if json {
            writeJSON(["applied": true, "fullReplace": report.fullReplace, "messages": report.messages,
                       "interfaceGroupsSet": report.linkChanges, "pendingInterfaces": report.pendingInterfaces,
                       "networkPolicies": set.networkPolicies.count, "globalPolicies": set.globalPolicies.count,
                       "endpoints": inv.endpoints.count, "chains": desired.chains.count, "sets": desired.sets.count])
        } else {
            print("applied \(set.networkPolicies.count) NetworkPolicies, \(set.globalPolicies.count) GlobalNetworkPolicies for \(inv.endpoints.count) endpoints: \(report)")
        }
    }

    /// Atomically replaces the recorded intent (write, then rename).
    func recordIntent(policyText: String, endpointText: String) throws {
        let dir = intent.stateDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in [("policies.yaml", policyText), ("endpoints.yaml", endpointText)] {
            let tmp = "\(dir)/.\(name).tmp"
            try text.write(toFile: tmp, atomically: false, encoding: .utf8)
            guard rename(tmp, "\(dir)/\(name)") == 0 else { throw PolicyCLIError("cannot record \(dir)/\(name)") }
        }
    }
}

struct PolicyDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the enforced ruleset, read back from the kernel, as nft syntax.")

    @OptionGroup var intent: IntentOptions
    @OptionGroup var ns: NetnsOption

    @Flag(help: "Compare with what Caracal intends and show the drift (exit status 2 on drift).")
    var diff = false

    func run() throws {
        let programmer = try ns.programmer()
        let kernel = try programmer.read()
        let text = kernel.map { NftRenderer.render($0) + NftRenderer.renderGroups($0) } ?? ""
        guard diff else {
            if kernel == nil { throw PolicyCLIError("no table inet \(Ruleset.tableName) in this namespace") }
            print(text, terminator: "")
            return
        }
        let (set, inv) = try intent.load()
        let desired = intent.compile(set, inv)
        var drift = false
        let intended = NftRenderer.render(desired)
        let enforced = kernel.map(NftRenderer.render) ?? ""
        if intended != enforced {
            drift = true
            print("--- intended\n+++ kernel")
            print(LineDiff.unified(intended, enforced), terminator: "")
        }
        // Link state: every endpoint veth must carry its profile's group.
        let links = try programmer.linkGroups(prefix: desired.interfacePrefix)
        let report = GroupDrift(intended: desired, links: links)
        for line in report.lines { print(line) }
        if !report.drifted.isEmpty { drift = true }
        if drift { throw ExitCode(2) }
        print("no drift: the kernel enforces what Caracal intends" + (report.pending.isEmpty ? "" : " (\(report.pending.count) endpoint interfaces not present yet)"))
    }
}

struct PolicyDrops: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drops",
        abstract: "What each drop rule has dropped since it was written, by the policy and direction it enforces.",
        discussion: """
            Read from the kernel's counters of this node's table (every drop rule counts). A rule rewritten \
            by a policy change starts again from zero. --watch N prints the packets dropped in each N \
            seconds instead.
            """)
    @OptionGroup var ns: NetnsOption
    @Flag(help: "Also list the rules that dropped nothing.") var all = false
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Every N seconds, print what was dropped since the last print (until interrupted).") var watch: Double?

    func run() throws {
        let programmer = try ns.programmer()
        guard try programmer.read() != nil else { throw PolicyCLIError("no table inet \(Ruleset.tableName) in this namespace") }
        if let interval = watch {
            guard interval > 0 else { throw ValidationError("--watch must be a positive number of seconds") }
            var last = Dictionary(try programmer.dropCounts(all: true).map { ("\($0.chain) \($0.rule)", $0.packets) }, uniquingKeysWith: +)
            while true {
                Thread.sleep(forTimeInterval: interval)
                let now = try programmer.dropCounts(all: true)
                for d in now {
                    let key = "\(d.chain) \(d.rule)"
                    let delta = d.packets >= (last[key] ?? 0) ? d.packets - (last[key] ?? 0) : d.packets
                    if delta > 0 { print("\(formatDate(Date()))  \(delta) packets  \(d.rule)") }
                }
                last = Dictionary(now.map { ("\($0.chain) \($0.rule)", $0.packets) }, uniquingKeysWith: +)
            }
        }
        let drops = try programmer.dropCounts(all: all)
        if json { return try printJSON(drops) }
        if drops.isEmpty { print("nothing dropped"); return }
        var table = [["PACKETS", "BYTES", "CHAIN", "RULE"]]
        for d in drops { table.append([String(d.packets), String(d.bytes), d.chain, d.rule]) }
        printTable(table)
    }
}

/// Interface groups that differ from what the intended ruleset says: an
/// endpoint veth with another group (its packets meet another profile, or
/// are dropped), or a Caracal-prefixed veth with a group it should not
/// have. A veth that does not exist yet is pending, not drift.
struct GroupDrift {
    var drifted: [String] = []
    var pending: [String] = []

    init(intended: Ruleset, links: [String: UInt32]) {
        var intendedNames = Set<String>()
        for g in intended.interfaceGroups {
            intendedNames.insert(g.interface)
            guard let actual = links[g.interface] else { pending.append(g.interface); continue }
            if actual != g.group {
                let chains = intended.fromProfile.first { $0.group == g.group }.map { " (\($0.verdict.description))" } ?? ""
                drifted.append("~ link \(g.interface) group \(actual), intended \(g.group)\(chains)")
            }
        }
        for (name, group) in links.sorted(by: { $0.key < $1.key }) where group != 0 && !intendedNames.contains(name) {
            drifted.append("~ link \(name) group \(group), intended 0 (no endpoint)")
        }
    }

    var lines: [String] { drifted + pending.map { "  link \($0) not present yet (pending, dropped until it appears)" } }
}

/// A small LCS line diff for `dump --diff`.
enum LineDiff {
    static func unified(_ a: String, _ b: String) -> String {
        let x = a.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let y = b.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let n = x.count, m = y.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out = "", i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, x[i] == y[j] { i += 1; j += 1 }
            else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] { out += "+\(y[j])\n"; j += 1 }
            else { out += "-\(x[i])\n"; i += 1 }
        }
        return out
    }
}

struct PolicyExplain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Say whether a packet is allowed, and which policy rule decided.",
        discussion: "A and B are IPs, ns/pod, or 'host'. Works offline with --policies and --endpoints.")

    @Option(help: "Source: IP, ns/pod or host.") var from: String
    @Option(help: "Destination: IP, ns/pod or host.") var to: String
    @Option(help: "PORT/PROTO, e.g. 80/TCP, 53/UDP, 8/ICMP (type for ICMP).") var port: String = "80/TCP"

    @OptionGroup var intent: IntentOptions

    @Flag(help: "Evaluate the ruleset read back from the kernel instead of the compiled intent.")
    var kernel = false
    @OptionGroup var ns: NetnsOption

    @Flag(help: "Print the result as JSON.") var json = false

    @Flag(help: "Explain over the cluster's datastore (--datastore or $CARACAL_DATASTORE): each end on its own node, where its policy is enforced.")
    var cluster = false
    @Option(name: .customLong("datastore"), help: "The cluster's datastore (with --cluster).")
    var datastorePath: String?

    func run() throws {
        let parts = port.split(separator: "/")
        guard parts.count == 2, let number = UInt16(parts[0]), let proto = L4Protocol.allCases.first(where: { $0.rawValue.lowercased() == parts[1].lowercased() }) else {
            throw ValidationError("--port must look like 80/TCP (protocols: TCP, UDP, SCTP, ICMP, ICMPv6)")
        }
        if cluster { return try explainCluster(proto: proto, port: number) }
        let (set, inv) = try intent.load()
        var ruleset = intent.compile(set, inv)
        if kernel {
            guard let k = try ns.programmer().read() else { throw PolicyCLIError("no table inet \(Ruleset.tableName) in the kernel") }
            ruleset = k
        }
        let explainer = PolicyExplainer(ruleset: ruleset, inventory: inv)
        let e: Explanation
        do {
            e = try explainer.explain(from: explainer.resolve(from), to: explainer.resolve(to), proto: proto, port: number)
        } catch {
            throw PolicyCLIError("\(error)")
        }
        if json {
            writeJSON(["allowed": e.allowed, "decidedBy": e.summary,
                       "steps": e.steps.map { ["chain": $0.chain, "rule": $0.ruleIndex.map { "\($0)" } ?? "end", "verdict": $0.verdict, "comment": $0.comment] }])
        } else {
            print(e, terminator: "")
        }
        if !e.allowed { throw ExitCode(1) }
    }

    private func explainCluster(proto: L4Protocol, port: UInt16) throws {
        var options = try DatastoreOptions.parse([])
        if let datastorePath { options.path = datastorePath }
        let state = try ClusterCommand.load(options)
        let e: ClusterExplanation
        do {
            e = try state.explain(from: from, to: to, proto: proto, port: port, interfacePrefix: intent.interfacePrefix)
        } catch {
            throw PolicyCLIError("\(error)")
        }
        if json {
            writeJSON(["allowed": e.allowed, "legs": e.legs.map { leg -> [String: Any] in
                ["direction": leg.direction, "node": leg.node ?? NSNull(), "endpoint": leg.endpoint,
                 "allowed": leg.explanation?.allowed ?? true, "decidedBy": leg.explanation?.summary ?? "not enforced by Caracal"]
            }])
        } else {
            print(e, terminator: "")
        }
        if !e.allowed { throw ExitCode(1) }
    }
}
