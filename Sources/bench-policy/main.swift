// bench-policy: full compile+apply and incremental add-one-pod through
// libnftnl, against `nft -f` of Caracal's own rendered text for the same
// state, in a namespace given by scripts/bench/policy.sh. Prints one JSON
// object with all figures on its last line.
import CSystemShim
import Foundation
import NetNS
import MetricsTestKit
import NFTables
import Policy

let args = CommandLine.arguments
guard let nsIndex = args.firstIndex(of: "--netns"), nsIndex + 1 < args.count else {
    print("usage: bench-policy --netns NAME [--work DIR]")
    exit(2)
}
let netnsName = args[nsIndex + 1]
let namespace = NetworkNamespace.named(netnsName)
let work = args.firstIndex(of: "--work").map { args[$0 + 1] } ?? NSTemporaryDirectory()

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

func maxRSSMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// Starts `arguments` (looked up in PATH) and returns its pid. Commands are
/// spawned and reaped directly, never through Foundation's `Process`: its
/// `waitUntilExit` polls its run loop every 50 ms (which rounded every timed
/// `nft -f` up to the next 50 ms), and its run loop needs a loopback socket
/// pair, which this process, living in the bench namespace, does not have.
func start(_ arguments: [String]) -> pid_t {
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { posix_spawnp(&pid, arguments[0], nil, nil, $0.baseAddress!, environ) }
    precondition(rc == 0, "posix_spawnp \(arguments[0]): \(rc)")
    return pid
}

/// Waits for `pid`; its exit status as a shell reports it (128 + signal).
func reap(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    precondition(Syscall.retryingInterrupts { waitpid(pid, &status, 0) } >= 0, "waitpid")
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

@discardableResult
func spawn(_ arguments: [String]) -> Int32 { reap(start(arguments)) }

@discardableResult
func sh(_ command: String) -> Int32 { spawn(["/bin/sh", "-c", command]) }

func shOut(_ command: String) -> String {
    let out = "\(work)/sh-out"
    precondition(sh("\(command) > \(out)") == 0, command)
    return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
}

/// A real pod for endpoint `e`: a namespace behind a veth named like the
/// endpoint's interface, wired as the CNI plugin does (pod /32, default
/// route via 169.254.1.1 on-link, a /32 route on the node).
func wirePod(_ e: Endpoint, _ podNS: String) {
    let ip = "\(e.addresses[0])", dev = e.interface!
    let cmds = [
        "ip netns add \(podNS)",
        "ip -n \(netnsName) link add \(dev) type veth peer name eth0 netns \(podNS)",
        "ip -n \(netnsName) link set \(dev) up", "ip -n \(podNS) link set eth0 up",
        "ip -n \(netnsName) addr add 169.254.1.1/32 dev \(dev)",
        "ip -n \(podNS) addr add \(ip)/32 dev eth0",
        "ip -n \(podNS) route add 169.254.1.1 dev eth0 scope link",
        "ip -n \(podNS) route add default via 169.254.1.1 dev eth0",
        "ip -n \(netnsName) route add \(ip)/32 dev \(dev)",
    ]
    for c in cmds { precondition(sh(c) == 0, c) }
}

/// Rules one TCP SYN from `a` to `b` meets in the kernel: a trace rule in
/// a separate table sets `meta nftrace` on it, `nft -a monitor trace`
/// reports every rule of table caracal that decided something (with its
/// handle) and every base-chain policy. Per chain the packet entered, the
/// rules evaluated are the position of the last reported rule plus one
/// (the whole chain when its policy applied). Returns (evaluated rules,
/// reported rule events, chain path).
func kernelTrace(from a: Endpoint, to b: Endpoint, podNS: String) -> (Int, Int, String) {
    let trace = "table inet caracal-trace { chain pre { type filter hook prerouting priority -300; ip saddr \(a.addresses[0]) ip daddr \(b.addresses[0]) tcp flags syn meta nftrace set 1; }; }"
    try! trace.write(toFile: "\(work)/trace.nft", atomically: true, encoding: .utf8)
    precondition(sh("ip netns exec \(netnsName) nft -f \(work)/trace.nft") == 0)
    let out = "\(work)/trace.out"
    // Line-buffered, and exec'd down to nft itself, which the signal stops.
    let monitor = start(["/bin/sh", "-c", "exec ip netns exec \(netnsName) stdbuf -oL nft -a monitor trace > \(out)"])
    usleep(300_000)
    sh("ip netns exec \(podNS) timeout 0.3 bash -c 'echo > /dev/tcp/\(b.addresses[0])/80' 2>/dev/null")
    usleep(300_000)
    kill(monitor, SIGTERM)
    _ = reap(monitor)
    sh("ip netns exec \(netnsName) nft delete table inet caracal-trace")
    let lines = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    // The first traced packet only (a retransmitted SYN would be traced again).
    guard let id = lines.first(where: { $0.contains(" inet caracal ") })?.split(separator: " ").dropFirst(2).first else { return (0, 0, "no trace") }
    var evaluated: [String: Int] = [:], order: [String] = [], events = 0
    var handles: [String: [String]] = [:]
    func position(_ chain: String, _ handle: String) -> Int {
        if handles[chain] == nil {
            handles[chain] = shOut("ip netns exec \(netnsName) nft -a list chain inet caracal \(chain)")
                .split(separator: "\n").filter { $0.contains("# handle") && !$0.contains("chain \(chain)") }
                .map { String($0.split(separator: " ").last!) }
        }
        return (handles[chain]!.firstIndex(of: handle) ?? -1) + 1
    }
    for l in lines where l.hasPrefix("trace id \(id) inet caracal ") {
        let words = l.split(separator: " ").map(String.init)
        // trace id ID inet caracal CHAIN rule … # handle N (verdict …) | policy …
        guard words.count > 6 else { continue }
        let chain = words[5]
        if !order.contains(chain) { order.append(chain) }
        if words[6] == "rule", let h = words.firstIndex(of: "handle").map({ words[$0 + 1] }) {
            events += 1
            evaluated[chain] = max(evaluated[chain] ?? 0, position(chain, h))
        } else if words[6] == "policy" {
            _ = position(chain, "")
            evaluated[chain] = handles[chain]!.count
        }
    }
    return (evaluated.values.reduce(0, +), events, order.joined(separator: " → "))
}

/// Synthetic cluster: 100 namespaces, pods spread over 200 app labels,
/// `policyCount` NetworkPolicies selecting by app with namespace+pod peers,
/// ports and port ranges, every fourth with an egress ipBlock rule. Pod i
/// has app a(i % 200) in namespace ns(i % 100) of team t(i % 10), so a
/// peer `app a(k+1)` in the namespaces of team t((k+1) % 10) selects every
/// pod of that app: the peer sets hold the pods (50 each at 10000 pods).
func synthetic(pods: Int, policyCount: Int) -> (PolicySet, EndpointInventory) {
    var inv = EndpointInventory()
    for n in 0..<100 { inv.namespaces["ns\(n)"] = ["team": "t\(n % 10)"] }
    for i in 0..<pods { inv.endpoints.append(endpoint(i)) }
    var set = PolicySet()
    for k in 0..<policyCount {
        var p = NetworkPolicy(namespace: "ns\(k % 100)", name: "p\(k)",
                              podSelector: LabelSelector(matchLabels: ["app": "a\(k % 200)"]),
                              ingress: [NetworkPolicyRule(
                                  peers: [.pods(podSelector: LabelSelector(matchLabels: ["app": "a\((k + 1) % 200)"]),
                                                namespaceSelector: LabelSelector(matchLabels: ["team": "t\((k + 1) % 10)"]))],
                                  ports: [NetworkPolicyPort(proto: .tcp, port: .range(80, 80)), NetworkPolicyPort(proto: .tcp, port: .range(8080, 8090))])])
        if k % 4 == 0 {
            p.egress = [NetworkPolicyRule(peers: [.ipBlock(cidr: CIDR("10.0.0.0/8")!, except: [CIDR("10.1.0.0/16")!])],
                                          ports: [NetworkPolicyPort(proto: .udp, port: .range(53, 53))])]
            p.policyTypes = [.ingress, .egress]
        }
        set.networkPolicies.append(p)
    }
    for t in 0..<40 {
        set.globalPolicies.append(GlobalNetworkPolicy(
            name: "canary\(t)", order: Double(t), selector: .has("canary\(t)"), types: [.egress],
            egress: [GlobalRule(action: .deny, destination: EntityRule(nets: [CIDR("192.0.2.0/24")!])), GlobalRule(action: .pass)]))
    }
    return (set, inv)
}

/// Pod i; `like` copies the namespace and labels of pod `like` (same
/// profile); `canary` adds a label only a dedicated global policy selects
/// (a profile no pod has yet).
func endpoint(_ i: Int, like: Int? = nil, canary: Int? = nil) -> Endpoint {
    let v = UInt128(0x0A80_0000 + i)
    let j = like ?? i
    var labels = ["app": "a\(j % 200)", "tier": "t\(j % 3)"]
    if let canary { labels["canary\(canary)"] = "yes" }
    return Endpoint(namespace: "ns\(j % 100)", name: "pod\(i)", labels: labels,
                    addresses: [NumericAddress(family: .ipv4, value: v)], interface: "crc\(String(i, radix: 16))")
}

/// nft commands for an incremental change (the reference for incremental).
func nftCommands(_ d: RulesetDiff) -> String {
    var out = ""
    let t = "inet \(Ruleset.tableName)"
    // New sets and chains as a table block (nft adds to the existing table).
    if !d.addedSets.isEmpty || !d.addedChains.isEmpty {
        out += "table \(t) {\n" + d.addedSets.map(NftRenderer.renderSet).joined() + d.addedChains.map(NftRenderer.renderChain).joined() + "}\n"
    }
    for c in d.changedChains {
        out += "flush chain \(t) \(c.name)\n"
        for r in c.rules { out += "add rule \(t) \(c.name) \(NftRenderer.renderRule(r))\n" }
    }
    for c in d.changedSets {
        let f = c.kind.family
        if !c.removedRanges.isEmpty { out += "delete element \(t) \(c.name) { \(c.removedRanges.map { AddressSet.elementText(f, $0) }.joined(separator: ", ")) }\n" }
        if !c.addedRanges.isEmpty { out += "add element \(t) \(c.name) { \(c.addedRanges.map { AddressSet.elementText(f, $0) }.joined(separator: ", ")) }\n" }
    }
    for map in Ruleset.profileMaps {
        let removed = d.removedMapElements[map] ?? [], added = d.addedMapElements[map] ?? []
        if !removed.isEmpty { out += "delete element \(t) \(map) { \(removed.map { "\($0.group)" }.joined(separator: ", ")) }\n" }
        if !added.isEmpty { out += "add element \(t) \(map) { \(added.map { "\($0.group) : \($0.verdict)" }.joined(separator: ", ")) }\n" }
    }
    return out
}

/// `nft -f` of `text` (then `extra`, if given), spawned directly: this
/// process is in the bench namespace, so no shell and no `ip netns exec`
/// (which alone adds ~3 ms) are timed with nft.
func nftFile(_ text: String, then extra: [String]? = nil) -> Double {
    let path = "\(work)/bench-policy.nft"
    try! text.write(toFile: path, atomically: true, encoding: .utf8)
    let start = now()
    var rc = spawn(["nft", "-f", path])
    if rc == 0, let extra { rc = spawn(extra) }
    if rc != 0 { print(text) }
    let t = now() - start
    precondition(rc == 0, "nft -f failed")
    return t
}

// `--compile-only`: compile times alone (no kernel), for profiling.
if args.contains("--compile-only") {
    for pods in [1000, 10000] {
        let (set, inv) = synthetic(pods: pods, policyCount: 1000)
        var times: [Double] = []
        var kept: [Ruleset] = []  // freed after the timing, as an apply keeps its ruleset
        for _ in 0..<9 {
            let t0 = now()
            kept.append(PolicyCompiler().compile(set, inv))
            times.append(now() - t0)
        }
        kept.removeAll()
        print("compile \(pods) pods: \(String(format: "%.4f", median(times))) s (min \(String(format: "%.4f", times.min()!)) s)")
    }
    exit(0)
}

// The reference commands are spawned from here into the bench namespace:
// join it (children inherit the namespace of the thread that spawns them).
let nsFD = open("/run/netns/\(netnsName)", O_RDONLY)
precondition(nsFD >= 0 && caracal_setns_net(nsFD) == 0, "cannot enter /run/netns/\(netnsName)")
close(nsFD)
// The programmer reports where each apply's time went as swift-metrics
// timers; this in-process backend lets the bench read them.
let metrics = TestMetrics()
let programmer = try NFTablesProgrammer(namespace: namespace, metricsFactory: metrics)

/// Runs one apply and returns its result with the seconds each step took
/// (0 for a step it did not do), from the programmer's timers.
func timed<T>(_ apply: () throws -> T) rethrows -> (T, [String: Double]) {
    let steps = ["diff", "compile", "encode", "link", "transaction", "commit"]
    func samples(_ step: String) -> [Int64] { (try? metrics.expectTimer("caracal_policy_\(step)_duration").values) ?? [] }
    let before = Dictionary(uniqueKeysWithValues: steps.map { ($0, samples($0).count) })
    let result = try apply()
    var seconds: [String: Double] = [:]
    for step in steps {
        let after = samples(step)
        seconds[step] = after.count > before[step]! ? Double(after.last!) / 1e9 : 0
    }
    return (result, seconds)
}

// `--apply-only N`: N full applies of the 10000-pod state (no reference, no
// trace), for profiling the kernel side with perf.
if let i = args.firstIndex(of: "--apply-only"), i + 1 < args.count, let n = Int(args[i + 1]) {
    let (set, inv) = synthetic(pods: 10000, policyCount: 1000)
    for _ in 0..<n {
        try programmer.deleteTable()
        let t0 = now()
        let (_, time) = try timed { try programmer.replace(compiling: set, for: inv) }
        let t2 = now()
        print(String(format: "total %.4f s: compile %.4f s, encode %.4f s, kernel %.4f s, links %.4f s", t2 - t0, time["compile"]!,
                     time["encode"]!, time["transaction"]!, time["link"]!))
    }
    exit(0)
}
// `--encode-only`: eight full replaces of the compiled 10000-pod state
// (two encoding lanes, then the transaction), for profiling the encoder.
if args.contains("--encode-only") {
    let (set, inv) = synthetic(pods: 10000, policyCount: 1000)
    let r = PolicyCompiler().compile(set, inv)
    for _ in 0..<8 {
        try programmer.deleteTable()
        let (_, time) = try timed { try programmer.replace(r) }
        print(String(format: "encode (2 lanes) %.4f s, transaction %.4f", time["encode"]!, time["transaction"]!))
    }
    exit(0)
}
// Pods 1 and 2 are real at every scale (the same endpoints in every
// synthetic state): the packet-path trace probes between them.
let probePods = ["\(netnsName)-p1", "\(netnsName)-p2"]
precondition(sh("ip netns exec \(netnsName) sysctl -qw net.ipv4.ip_forward=1") == 0)
wirePod(endpoint(1), probePods[0])
wirePod(endpoint(2), probePods[1])
defer { for p in probePods { sh("ip netns delete \(p) 2>/dev/null") } }
var results: [String: Any] = [:]
var table: [String] = []

// MARK: Full compile + apply vs nft -f of the dumped text

for pods in [1000, 10000] {
    let (set, inv) = synthetic(pods: pods, policyCount: 1000)
    var caracal: [Double] = [], compileOnly: [Double] = [], reference: [Double] = [], encodeTimes: [Double] = [], kernelTimes: [Double] = []
    // A first apply (not counted) gives the text nft loads; then Caracal
    // and nft -f alternate, so a slower stretch of a shared machine falls
    // on both sides alike.
    try programmer.deleteTable()
    var ruleset = try programmer.replace(compiling: set, for: inv).0
    let dumped = NftRenderer.render(try programmer.read()!)
    // Twenty-five of each: on this shared machine the kernel's time for the
    // same transaction varies by half from one to the next (0.10–0.16 s),
    // for Caracal's batch as for nft's, and the median of more samples
    // moves less from run to run.
    for _ in 0..<25 {
        try programmer.deleteTable()
        let start = now()
        let ((compiled, _), time) = try timed { try programmer.replace(compiling: set, for: inv) }
        caracal.append(now() - start)
        ruleset = compiled
        encodeTimes.append(time["encode"]!)
        kernelTimes.append(time["transaction"]!)
        compileOnly.append(time["compile"]!)
        try programmer.deleteTable()
        reference.append(nftFile(dumped))
    }
    try programmer.deleteTable()
    let c = median(caracal), r = median(reference)
    // The spread: quartiles of the ratio of each Caracal apply to the nft
    // load right after it.
    let pairs = zip(caracal, reference).map { $0 / $1 }.sorted()
    let (p25, p75) = (pairs[pairs.count / 4], pairs[pairs.count * 3 / 4])
    results["full_\(pods)_pair_ratio_p25"] = p25
    results["full_\(pods)_pair_ratio_p75"] = p75
    results["full_\(pods)_caracal_s"] = c
    results["full_\(pods)_compile_s"] = median(compileOnly)
    results["full_\(pods)_encode_s"] = median(encodeTimes)
    results["full_\(pods)_kernel_s"] = median(kernelTimes)
    results["full_\(pods)_nft_f_s"] = r
    results["full_\(pods)_ratio"] = c / r
    results["full_\(pods)_chains"] = ruleset.chains.count
    results["full_\(pods)_sets"] = ruleset.sets.count
    results["full_\(pods)_rules"] = ruleset.chains.map(\.rules.count).reduce(0, +)
    table.append("| full apply, \(pods) pods, 1000 policies (\(ruleset.chains.count) chains, \(ruleset.sets.count) sets) | \(String(format: "%.3f s", c)) (compile with encoding alongside \(String(format: "%.3f", median(compileOnly))) s, rest of encoding \(String(format: "%.3f", median(encodeTimes))) s, kernel transaction \(String(format: "%.3f", median(kernelTimes))) s) | \(String(format: "%.3f s", r)) | \(String(format: "%.2f", c / r)) (pairs \(String(format: "%.2f–%.2f", p25, p75))) |")
}
// Peak memory, process against process, both from GNU time (which
// forks: a child spawned from this process would start its ru_maxrss at
// this process's size): nft -f loading the 10000-pod text, and this
// benchmark run as a single apply (`--apply-only 1`: it builds the
// 10000-pod state, compiles and applies it once), one more uncounted load
// each.
try programmer.deleteTable()
func peakRSSMiB(_ command: [String]) -> Double {
    let path = "\(work)/rss"
    precondition(spawn(["/usr/bin/time", "-f", "%M", "-o", path] + command) == 0, command.joined(separator: " "))
    return Double((try! String(contentsOfFile: path, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines))! / 1024
}
let nftRSS = peakRSSMiB(["nft", "-f", "\(work)/bench-policy.nft"])
try programmer.deleteTable()
let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
let applyRSS = peakRSSMiB(["/bin/sh", "-c", "exec \"$0\" --netns \"$1\" --apply-only 1 > /dev/null", me, netnsName])
try programmer.deleteTable()
results["apply_process_rss_mib"] = applyRSS
results["bench_process_rss_mib"] = maxRSSMiB()
results["nft_max_rss_mib"] = nftRSS
results["rss_ratio"] = applyRSS / nftRSS
table.append("| peak memory (RSS) of one process applying the 10000-pod state (Caracal: this benchmark as a single apply, which also builds the state; nft: `nft -f` of the text) | \(String(format: "%.1f MiB", applyRSS)) | \(String(format: "%.1f MiB", nftRSS)) | \(String(format: "%.2f", applyRSS / nftRSS)) |")

// MARK: Incremental add-one-pod

for pods in [100, 1000, 10000] {
    let (set, baseInv) = synthetic(pods: pods, policyCount: 1000)
    var inv = baseInv
    var current = PolicyCompiler().compile(set, inv)
    try programmer.replace(current)
    var next = pods
    var incremental = IncrementalPolicyCompiler(policies: set, inventory: inv)
    var fullTimes: [Double] = [], incrementalTimes: [Double] = []
    func addPod(canary: Int?) -> (RulesetDiff, Ruleset) {
        let e = endpoint(next, like: next % pods, canary: canary)
        // The pod's host veth exists before the agent programs it (CNI ADD).
        precondition(sh("ip -n \(netnsName) link add \(e.interface!) type veth peer name p\(e.interface!.dropFirst(3))") == 0)
        inv.endpoints.append(e)
        next += 1
        let t0 = now()
        incremental.upsert(e)
        let t1 = now()
        let full = PolicyCompiler().compile(set, inv)
        fullTimes.append(now() - t1)
        incrementalTimes.append(t1 - t0)
        precondition(incremental.ruleset == full, "incremental compile differs from the full compile")
        return (RulesetDiff(from: current, to: full), full)
    }
    for (label, canaryFor) in [("existing", { (_: Int) -> Int? in nil }), ("new", { (i: Int) -> Int? in i })] {
        var commit: [Double] = [], reference: [Double] = [], compile: [Double] = [], diffTimes: [Double] = [], chainsAdded = 0, verdictElements = 0
        var linkTimes: [Double] = [], recompile: [Double] = []
        for trial in 0..<5 {
            // Caracal: diff against the in-memory state, one libnftnl batch.
            var (diff, desired) = addPod(canary: canaryFor(trial))
            let (report, time) = try timed { try programmer.apply(desired, current: .some(current)) }
            precondition(report.pendingInterfaces.isEmpty && report.linkChanges == 1)
            commit.append(time["commit"]!)
            linkTimes.append(time["link"]!)
            diffTimes.append(time["diff"]!)
            compile.append(incrementalTimes.last!)
            recompile.append(fullTimes.last!)
            chainsAdded = diff.addedChains.count
            verdictElements = diff.addedMapElements.values.map(\.count).reduce(0, +)
            // The synthetic pods have no veths (20k netdevs would not fit
            // the bench), so `enforced` lacks their groups; treat them as
            // programmed, as an agent's state would after their CNI ADDs.
            // The added pod's veth is real and its group really set.
            current = desired
            // Reference: the same kind of change through nft -f, plus
            // `ip link set … group` for the pod's veth.
            (diff, desired) = addPod(canary: canaryFor(trial).map { $0 + 20 })
            let g = diff.groupChanges[0]
            reference.append(nftFile(nftCommands(diff), then: ["ip", "link", "set", "dev", g.interface, "group", "\(g.group)"]))
            current = desired
        }
        let c = median(commit), r = median(reference)
        results["incr_\(pods)_\(label)_commit_ms"] = c * 1000
        results["incr_\(pods)_\(label)_compile_ms"] = median(compile) * 1000
        results["incr_\(pods)_\(label)_full_recompile_ms"] = median(recompile) * 1000
        results["incr_\(pods)_\(label)_diff_ms"] = median(diffTimes) * 1000
        results["incr_\(pods)_\(label)_nft_f_ms"] = r * 1000
        results["incr_\(pods)_\(label)_ratio"] = c / r
        results["incr_\(pods)_\(label)_link_ms"] = median(linkTimes) * 1000
        table.append("| add one pod, \(pods) pods, \(label) profile (+\(chainsAdded) chains, +\(verdictElements) verdict elements) | \(String(format: "%.3f ms", c * 1000)) (of which link group \(String(format: "%.3f", median(linkTimes) * 1000)) ms; + diff \(String(format: "%.2f", median(diffTimes) * 1000)) ms, incremental compile \(String(format: "%.2f", median(compile) * 1000)) ms, full recompile \(String(format: "%.1f", median(recompile) * 1000)) ms) | \(String(format: "%.2f ms", r * 1000)) | \(String(format: "%.3f", c / r)) |")
    }
    // Rules a packet meets, evaluated over the ruleset read back from the kernel.
    let kernel = try programmer.read()!
    let explainer = PolicyExplainer(ruleset: kernel, inventory: inv)
    let a = inv.endpoints[1], b = inv.endpoints[2]
    let e = try explainer.explain(from: .endpoint(a), to: .endpoint(b), proto: .tcp, port: 80)
    results["rules_per_packet_\(pods)"] = e.evaluatedRules
    table.append("| rules evaluated per packet (evaluator), \(pods) pods (\(a.id) → \(b.id), \(e.allowed ? "allowed" : "denied")) | \(e.evaluatedRules) | | |")
    let (traced, events, path) = kernelTrace(from: a, to: b, podNS: probePods[0])
    results["trace_rules_\(pods)"] = traced
    results["trace_events_\(pods)"] = events
    table.append("| rules evaluated per packet (kernel nftrace), \(pods) pods: \(path) | \(traced) (\(events) rules decided) | | |")
    try programmer.deleteTable()
}

for line in table { print(line) }
let json = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
