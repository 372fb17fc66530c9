import BGPRIB
import ClusterModel
import IPAddressing
import Logging
import NetNS
import Netlink
import Routing
import Synchronization

/// Turns Loc-RIB changes into kernel routes through `RouteProgrammer`
/// (protocol `caracal`; several best paths make one multipath route).
/// Changes are coalesced per prefix and written by one dedicated thread at
/// a time, never on the event loop (docs/architecture.md, Concurrency).
public final class KernelRoutes: Sendable {
    private let programmer: RouteProgrammer
    private let logger: Logger
    private struct State {
        /// prefix → the route to install, nil to remove.
        var pending: [IPPrefix: Route?] = [:]
        var writing = false
        /// Until the speaker converged after a restart, routes already in
        /// the kernel stay (RFC 4724: forwarding state preserved).
        var holding: Bool
        var desired: [IPPrefix: Route] = [:]
        /// Interface addresses, to find the link of each next hop.
        var addresses: [InterfaceAddress] = []
        /// `converged()` asked for the full set to be programmed.
        var fullSetPending = false

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
    public init(namespace: NetworkNamespace? = nil, holding: Bool, logger: Logger) throws {
        programmer = try RouteProgrammer(configuration: RouteProgrammerConfiguration(
            keepRoutesUntilFirstDesiredSet: holding, namespace: namespace), logger: logger)
        self.logger = logger
        state = Mutex(State(holding: holding))
        try programmer.start()
        let addresses = try RTNetlink(namespace: namespace).addresses()
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
            for change in changes { s.pending[change.prefix] = route(for: change, addresses: s.addresses) }
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

    public var programmed: Int { state.withLock { $0.desired.count } }

    /// Writes until nothing is pending, on a dedicated thread; one writer
    /// at a time (`State.writing`).
    private func drain() {
        do {
            try BackgroundTask<Void>.detached { [self] in
                while true {
                    let work = state.withLock { s -> (batch: [IPPrefix: Route?], full: [Route]?)? in
                        let batch = s.pending
                        s.pending = [:]
                        for (prefix, route) in batch { s.desired[prefix] = route }
                        let full = s.fullSetPending && !s.holding ? Array(s.desired.values) : nil
                        s.fullSetPending = false
                        if batch.isEmpty && full == nil {
                            s.writing = false
                            return nil
                        }
                        return (batch, full)
                    }
                    guard let work else { return }
                    do {
                        let report: RouteApplyReport
                        if let full = work.full {
                            report = try programmer.setDesired(full)
                        } else {
                            let upserts = work.batch.values.compactMap { $0 }
                            let removals = work.batch.filter { $0.value == nil }.map { Route(destination: $0.key).key }  // IPv6: metric 1024
                            report = try programmer.update(upserting: upserts, removing: removals)
                        }
                        if !report.succeeded {
                            logger.warning("some routes were not programmed", metadata: ["failures": "\(report.failures.prefix(5))"])
                        }
                    } catch {
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
            // The link whose subnet holds the next hop (BGP next hops of
            // directly connected peers; others are left to the kernel).
            let link = addresses.first { a in
                a.address.isIPv4 == hop.isIPv4 && IPPrefix(address: a.address, length: Int(a.prefixLength))?.contains(hop) == true
                    && a.address != hop
            }
            if addresses.contains(where: { $0.address == hop }) { continue }  // our own address: not a route
            let next = NextHop(gateway: hop, interfaceIndex: link?.interfaceIndex ?? 0)
            if !hops.contains(next) { hops.append(next) }
        }
        guard !hops.isEmpty else { return nil }
        return Route(destination: change.prefix, protocol: .caracal, nextHops: NextHops(hops.sorted()))
    }
}
