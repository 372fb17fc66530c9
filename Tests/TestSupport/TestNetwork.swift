import Foundation
import NetNS

/// A network namespace created by the current test run. Only `TestNetwork`
/// makes these, so code that takes a `TestNamespace` can only ever act inside
/// a namespace the test owns, never on the host.
public struct TestNamespace: Hashable, Sendable, CustomStringConvertible {
    /// The full name under /run/netns (carries the run's unique prefix).
    public let name: String
    public var namespace: NetworkNamespace { .named(name) }
    public var description: String { name }

    /// Runs a program inside the namespace (`ip netns exec`).
    @discardableResult
    public func run(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) throws -> CommandResult {
        try Command.run(["ip", "netns", "exec", name] + arguments, stdin: stdin, timeout: timeout)
    }

    /// Runs a program inside the namespace and throws unless it exits 0.
    @discardableResult
    public func check(_ arguments: [String], stdin: Data? = nil, timeout: Double = 60) throws -> CommandResult {
        try Command.check(["ip", "netns", "exec", name] + arguments, stdin: stdin, timeout: timeout)
    }

    /// Runs an in-process closure on a thread that has entered the namespace.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        try namespace.perform(body)
    }

    /// `ip` with `-n NAME`, so the command acts inside the namespace.
    @discardableResult
    public func ip(_ arguments: String...) throws -> CommandResult {
        try Command.check(["ip", "-n", name] + arguments)
    }

    /// Whether one ICMP echo from this namespace to `address` is answered.
    public func canPing(_ address: String, timeoutSeconds: Int = 1) throws -> Bool {
        try run(["ping", "-c", "1", "-W", String(timeoutSeconds), address]).succeeded
    }
}

/// The set of namespaces one test uses. Every name carries a prefix unique to
/// the process (`crc-<pid>-<seq>-`), and `withTestNetwork` deletes all of them
/// when the test ends, whether it passes, fails or throws. Namespaces left by
/// an earlier run that was killed are swept on first use (their pid is dead).
///
/// Rules this enforces for kernel tests:
/// - traffic starts inside namespaces created here (`TestNamespace.run`);
/// - the host's links, routes and ruleset are never touched: every `ip`
///   command goes through `ip -n <owned namespace>`;
/// - probes that should fail run from `emptyNamespace()`, which has only `lo`.
public final class TestNetwork: @unchecked Sendable {
    public static let runPrefix = "crc-\(getpid())-"
    nonisolated(unsafe) private static var sequence = 0
    private static let lock = NSLock()

    public let prefix: String
    private var created: [TestNamespace] = []
    private let lock = NSLock()

    public init() {
        TestNetwork.sweepStaleNamespacesOnce()
        TestNetwork.lock.lock()
        TestNetwork.sequence += 1
        prefix = "\(TestNetwork.runPrefix)\(TestNetwork.sequence)-"
        TestNetwork.lock.unlock()
    }

    deinit { cleanup() }

    /// Creates a namespace named `<prefix><name>` with `lo` up and no other
    /// links or routes, so nothing in it can reach outside the test.
    public func namespace(_ name: String) throws -> TestNamespace {
        let ns = TestNamespace(name: prefix + name)
        try Command.check(["ip", "netns", "add", ns.name])
        lock.lock(); created.append(ns); lock.unlock()
        try ns.ip("link", "set", "lo", "up")
        return ns
    }

    /// A fresh namespace with only `lo`: the place to run connects that are
    /// expected to fail.
    public func emptyNamespace() throws -> TestNamespace {
        lock.lock(); let n = created.count; lock.unlock()
        return try namespace("empty\(n)")
    }

    /// Creates a veth pair with one end in each namespace, created directly
    /// inside `a` so it never appears on the host, and brings both ends up.
    /// Addresses are CIDRs such as "10.0.0.1/24".
    public func veth(
        _ a: TestNamespace, _ aName: String, _ aAddress: String? = nil,
        _ b: TestNamespace, _ bName: String, _ bAddress: String? = nil
    ) throws {
        try a.ip("link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name)
        if let aAddress { try a.ip("addr", "add", aAddress, "dev", aName) }
        if let bAddress { try b.ip("addr", "add", bAddress, "dev", bName) }
        try a.ip("link", "set", aName, "up")
        try b.ip("link", "set", bName, "up")
    }

    /// Deletes every namespace this network created. Idempotent.
    public func cleanup() {
        lock.lock(); let all = created; created.removeAll(); lock.unlock()
        for ns in all { _ = try? Command.run(["ip", "netns", "delete", ns.name]) }
    }

    nonisolated(unsafe) private static var swept = false

    /// Deletes `crc-<pid>-*` namespaces whose pid no longer runs: leftovers of
    /// a test process that was killed before it could clean up.
    static func sweepStaleNamespacesOnce() {
        lock.lock(); defer { lock.unlock() }
        if swept { return }
        swept = true
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return }
        for name in names where name.hasPrefix("crc-") {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = Int32(parts[1]) else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                _ = try? Command.run(["ip", "netns", "delete", name])
            }
        }
    }
}

/// Runs `body` with a fresh `TestNetwork` and always deletes its namespaces.
public func withTestNetwork<T>(_ body: (TestNetwork) throws -> T) throws -> T {
    let network = TestNetwork()
    defer { network.cleanup() }
    return try body(network)
}

/// Async variant of `withTestNetwork`.
public func withTestNetwork<T>(_ body: (TestNetwork) async throws -> T) async throws -> T {
    let network = TestNetwork()
    defer { network.cleanup() }
    return try await body(network)
}
