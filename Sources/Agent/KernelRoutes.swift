import BGPRIB
import Cluster
import ClusterModel
import IPAddressing
import Logging
import NetNS
import Netlink
import Routing
import Synchronization

/// Turns Loc-RIB changes into kernel routes through `RouteProgrammer`
/// (protocol `caracal`; several best paths make one multipath route),
/// together with the node's own routes (block blackholes, pod /32s to their
/// veths) from the cluster plan: where both name a prefix, the local route
/// wins. Changes are coalesced per prefix and written by one dedicated
/// thread at a time, never on the event loop (docs/architecture.md,
/// Concurrency).
public final class KernelRoutes: Sendable {
    private let programmer: RouteProgrammer
    /// Link lookups (pod veths by name).
    private let netlink: RTNetlink
    private let logger: Logger
    private struct State {
        /// Prefixes whose route must be worked out and written again.
        var pending: Set<IPPrefix> = []
        /// From BGP.
        var learned: [IPPrefix: Route] = [:]
        /// From the cluster plan.
        var local: [IPPrefix: LocalRoute] = [:]
        /// The full set waits for the first local set (cluster mode): a pod
        /// route the CNI plugin added must not be removed for want of it.
        var awaitingLocal: Bool
        var writing = false
        /// Until the speaker converged after a restart, routes already in
        /// the kernel stay (RFC 4724: forwarding state preserved).
        var holding: Bool
        /// Interface addresses, to find the link of each next hop.
        var addresses: [InterfaceAddress] = []
        /// `converged()` asked for the full set to be programmed.
        var fullSetPending = false
        /// The last write's failure (nil once a write succeeds).
        var lastFailure: String?

        /// True when the caller must start the writer.
        mutating func claimWriter() -> Bool {
            guard !writing else { return false }
            writing = true
            return true
        }
    }
    private let state: Mutex<State>

    /// - Parameter holding: keep the kernel's Caracal routes until
    ///   `converged()` (a restart with forwarding preserved).
    public init(namespace: NetworkNamespace? = nil, holding: Bool, localRoutes: Bool = false, logger: Logger) throws {
        programmer = try RouteProgrammer(configuration: RouteProgrammerConfiguration(
            keepRoutesUntilFirstDesiredSet: holding, namespace: namespace), logger: logger)
        self.logger = logger
        state = Mutex(State(awaitingLocal: localRoutes, holding: holding))
        try programmer.start()
        netlink = try RTNetlink(namespace: namespace)
        let addresses = try netlink.addresses()
        state.withLock { $0.addresses = addresses }
    }

    /// Whether Caracal's routes are in the kernel now (a restart).
    public static func haveRoutes(namespace: NetworkNamespace?) throws -> Bool {
        let netlink = try RTNetlink(namespace: namespace)
        return try !netlink.routes(RouteFilter(family: .ipv4, protocol: .caracal)).isEmpty
            || !netlink.routes(RouteFilter(family: .ipv6, protocol: .caracal)).isEmpty
    }

    public func apply(_ changes: [RIBChange]) {
        let start = state.withLock { s -> Bool in
            for change in changes {
                s.learned[change.prefix] = route(for: change, addresses: s.addresses)
                s.pending.insert(change.prefix)
            }
            return s.claimWriter()
        }
        if start { drain() }
    }

    /// The speaker has its whole table: program it as the full desired set
    /// (removing what a restart left behind that is no longer wanted).
    public func converged() {
        let start = state.withLock { s -> Bool in
            s.holding = false
            s.fullSetPending = true
            return s.claimWriter()
        }
        if start { drain() }
    }

    /// The node's own routes: the whole set each time (the plan's).
    public func setLocal(_ routes: [LocalRoute]) {
        let start = state.withLock { s -> Bool in
            let new = Dictionary(routes.map { ($0.prefix, $0) }, uniquingKeysWith: { a, _ in a })
            for (prefix, route) in new where s.local[prefix] != route { s.pending.insert(prefix) }
            for prefix in s.local.keys where new[prefix] == nil { s.pending.insert(prefix) }
            s.local = new
            if s.awaitingLocal {
                s.awaitingLocal = false
                if !s.holding { s.fullSetPending = true }
            }
            return s.claimWriter()
        }
        if start { drain() }
    }

    /// Why the last write failed (nil: it succeeded).
    public var lastFailure: String? { state.withLock { $0.lastFailure } }

    /// Routes wanted now: learned ones and local ones.
    public var programmed: Int { state.withLock { Set($0.learned.keys).union($0.local.keys).count } }

    /// Writes until nothing is pending, on a dedicated thread; one writer
    /// at a time (`State.writing`).
    private func drain() {
        do {
            try BackgroundTask<Void>.detached { [self] in
                while true {
                    let work = state.withLock { s -> (batch: [IPPrefix: Route?], local: [IPPrefix: LocalRoute], full: [IPPrefix: Route]?)? in
                        let full = s.fullSetPending && !s.holding && !s.awaitingLocal
                        let prefixes = full ? Set(s.learned.keys).union(s.local.keys) : s.pending
                        s.pending = []
                        if full { s.fullSetPending = false }
                        if prefixes.isEmpty && !full {
                            s.writing = false
                            return nil
                        }
                        var batch: [IPPrefix: Route?] = [:]
                        var local: [IPPrefix: LocalRoute] = [:]
                        for p in prefixes {
                            if let l = s.local[p] { local[p] = l } else { batch[p] = s.learned[p] }
                        }
                        return (batch, local, full ? [:] : nil)
                    }
                    guard let work else { return }
                    do {
                        var batch = work.batch
                        // Pod routes name their veth: looked up here, off the lock.
                        let links = work.local.contains { if case .pod = $0.value { true } else { false } }
                            ? Dictionary(try netlink.links().map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a }) : [:]
                        for (prefix, route) in work.local {
                            switch route {
                            case .blackhole: batch[prefix] = Route.blackhole(prefix)
                            case .pod(_, let name): batch[prefix] = links[name].map { Route.device(prefix, interfaceIndex: $0) }
                            }
                        }
                        var report: RouteApplyReport
                        if work.full != nil {
                            report = try programmer.setDesired(batch.values.compactMap { $0 })
                        } else {
                            let upserts = batch.values.compactMap { $0 }
                            let removals = batch.filter { $0.value == nil }.map { Route(destination: $0.key).key }  // IPv6: metric 1024
                            report = try programmer.update(upserting: upserts, removing: removals)
                        }
                        if report.failures.contains(where: \.isForeignConflict) {
                            // A route we did not know of is in the way: usually
                            // the pod route caracal-cni added itself. Learn the
                            // kernel's routes and reconcile.
                            report = try programmer.resync()
                        }
                        let failure = report.succeeded ? nil : "\(report.failures.count) routes refused, first: \(report.failures[0])"
                        state.withLock { $0.lastFailure = failure }
                        if !report.succeeded {
                            logger.warning("some routes were not programmed", metadata: ["failures": "\(report.failures.prefix(5))"])
                        }
                    } catch {
                        state.withLock { $0.lastFailure = "\(error)" }
                        logger.error("route programming failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        } catch {
            state.withLock { $0.writing = false }
            logger.error("could not start the route writer", metadata: ["error": "\(error)"])
        }
    }

    /// The kernel route for a Loc-RIB change: nil for a withdrawal or a
    /// prefix this node originates itself.
    private func route(for change: RIBChange, addresses: [InterfaceAddress]) -> Route? {
        let learned = change.best.filter { !$0.peer.isLocal }
        guard !learned.isEmpty, learned.count == change.best.count else { return nil }
        var hops: [NextHop] = []
        for path in learned {
            let hop = path.nextHop
            if addresses.contains(where: { $0.address == hop }) { continue }  // our own address: not a route
            let interface: UInt32
            if hop.isIPv6LinkLocal {
                // A link-local next hop (RFC 2545 §3; RFC 8950 for IPv4:
                // `via inet6 fe80::x dev IF`) is on the link of the peer
                // that sent it (every interface has fe80::/64): a link-local
                // peer's own interface, else the link that holds the peer's
                // address.
                let link = path.peer.interfaceIndex != 0 ? path.peer.interfaceIndex
                    : addresses.first { a in
                        !a.address.isIPv6LinkLocal && IPPrefix(address: a.address, length: Int(a.prefixLength))?.contains(path.peer.address) == true
                    }?.interfaceIndex
                guard let link else { continue }
                interface = link
            } else {
                // The link whose subnet holds the next hop (BGP next hops of
                // directly connected peers; others are left to the kernel).
                let link = addresses.first { a in
                    a.address.isIPv4 == hop.isIPv4 && IPPrefix(address: a.address, length: Int(a.prefixLength))?.contains(hop) == true
                        && a.address != hop
                }
                interface = link?.interfaceIndex ?? 0
            }
            let next = NextHop(gateway: hop, interfaceIndex: interface)
            if !hops.contains(next) { hops.append(next) }
        }
        guard !hops.isEmpty else { return nil }
        return Route(destination: change.prefix, protocol: .caracal, nextHops: NextHops(hops.sorted()))
    }
}
