import ClusterModel
import Foundation
import Logging
import Metrics
import NetNS
import Synchronization
import Netlink

/// How a `RouteProgrammer` behaves.
public struct RouteProgrammerConfiguration: Sendable {
    /// The protocol number that marks Caracal's routes; only routes carrying
    /// it are ever changed.
    public var `protocol`: RouteProtocol = .caracal
    /// Tables to reconcile; nil means every table.
    public var tables: Set<RouteTable>? = nil
    /// Graceful restart: on start, keep the routes of our protocol that are
    /// already in the kernel until the first full desired set arrives.
    public var keepRoutesUntilFirstDesiredSet = false
    /// Namespace to program (nil: the process's).
    public var namespace: NetworkNamespace? = nil
    /// How batches are acknowledged. `.errorsAndLast` still attributes every
    /// failure to its route, at about twice the throughput.
    public var acknowledgement: NetlinkAcknowledgement = .errorsAndLast

    public init(protocol: RouteProtocol = .caracal, tables: Set<RouteTable>? = nil,
                keepRoutesUntilFirstDesiredSet: Bool = false, namespace: NetworkNamespace? = nil,
                acknowledgement: NetlinkAcknowledgement = .errorsAndLast) {
        self.protocol = `protocol`
        self.tables = tables
        self.keepRoutesUntilFirstDesiredSet = keepRoutesUntilFirstDesiredSet
        self.namespace = namespace
        self.acknowledgement = acknowledgement
    }
}

/// One route the kernel refused.
public struct RouteFailure: Sendable, CustomStringConvertible {
    public var route: Route
    public var operation: RouteOperation
    public var error: NetlinkError
    /// True when a route of another protocol holds the key (`EEXIST` on add):
    /// Caracal leaves it alone and reports the conflict.
    public var isForeignConflict: Bool { operation == .add && error.errno == EEXIST }
    public var description: String { "\(operation) \(route): \(error)" }
}

/// What one apply did.
public struct RouteApplyReport: Sendable {
    public var added = 0
    public var replaced = 0
    public var deleted = 0
    public var failures: [RouteFailure] = []
    /// Messages sent to the kernel.
    public var writes: Int { added + replaced + deleted + failures.count }
    public var succeeded: Bool { failures.isEmpty }
    public init() {}
}

/// A snapshot for `caracal routes` and the agent's status.
public struct RouteProgrammerStatus: Sendable {
    public var desired: [Route]
    public var programmed: [Route]
    /// Desired routes blocked by a foreign route at the same key.
    public var conflicts: [Route]
    public var holdingForGracefulRestart: Bool
    public var resyncs: Int
}

/// Desired routes in, kernel routes out. Owns exactly the routes carrying
/// its protocol number: diffs the desired set against a dump of those routes
/// and applies only the difference, in batches. Watches the kernel and
/// repairs external deletions and changes; never touches a route of another
/// protocol, even at the same destination.
///
/// Thread-safe: calls are serialised. The monitor runs on its own thread.
public final class RouteProgrammer: @unchecked Sendable {
    public let configuration: RouteProgrammerConfiguration
    private let netlink: RTNetlink
    private let logger: Logger
    private let lock = Mutex(())

    private var desired = DesiredRoutes()
    private var haveDesiredSet = false
    /// Our routes as the kernel holds them (from dumps, our writes, and notifications).
    private var kernel: [RouteKey: Route] = [:]
    private var conflicts: [RouteKey: Route] = [:]
    private var resyncCount = 0
    /// Whether each link seen by the monitor was up and running.
    private var linkStates: [UInt32: Bool] = [:]

    private let programmedGauge: Gauge
    private let conflictGauge: Gauge
    private let applyTimer: Metrics.Timer
    private let writeCounter: Counter
    private let failureCounter: Counter
    private let resyncCounter: Counter

    /// The monitor and its dedicated thread, while monitoring.
    private var monitoring: (monitor: RTNetlinkMonitor, thread: BackgroundTask<Void>)?

    /// Metrics: `caracal_routes_programmed` (gauge), `caracal_routes_conflicting`
    /// (gauge), `caracal_route_apply_duration` (timer, one sample per apply),
    /// `caracal_route_writes_total`, `caracal_route_write_failures_total`,
    /// `caracal_route_resyncs_total` (counters).
    public init(configuration: RouteProgrammerConfiguration = .init(),
                logger: Logger = Logger(label: "caracal.routing"),
                metricsFactory: MetricsFactory = MetricsSystem.factory) throws {
        self.configuration = configuration
        self.logger = logger
        netlink = try RTNetlink(namespace: configuration.namespace)
        programmedGauge = Gauge(label: "caracal_routes_programmed", factory: metricsFactory)
        conflictGauge = Gauge(label: "caracal_routes_conflicting", factory: metricsFactory)
        applyTimer = Metrics.Timer(label: "caracal_route_apply_duration", factory: metricsFactory)
        writeCounter = Counter(label: "caracal_route_writes_total", factory: metricsFactory)
        failureCounter = Counter(label: "caracal_route_write_failures_total", factory: metricsFactory)
        resyncCounter = Counter(label: "caracal_route_resyncs_total", factory: metricsFactory)
    }

    deinit { stopMonitoring() }

    // MARK: Public API

    /// The first full resync: dumps our protocol's routes and, unless holding
    /// for graceful restart, removes those that are not desired.
    @discardableResult
    public func start() throws -> RouteApplyReport { try resync() }

    /// Replaces the whole desired set and applies the difference. The first
    /// call ends a graceful-restart hold.
    @discardableResult
    public func setDesired(_ routes: some Sequence<Route>) throws -> RouteApplyReport {
        let set = try DesiredRoutes(routes, protocol: configuration.protocol)
        try checkTables(set.routes.values)
        return try locked {
            desired = set
            haveDesiredSet = true
            return try applyLocked(RouteDiff.between(desired: desired.routes, actual: kernel, deleteUndesired: true))
        }
    }

    /// Incremental update: adds or changes `upserts`, removes `removals`.
    @discardableResult
    public func update(upserting upserts: [Route] = [], removing removals: [RouteKey] = []) throws -> RouteApplyReport {
        try locked {
            try checkTables(upserts)
            var touched: [RouteKey] = []
            var staged = desired
            for route in upserts {
                try staged.upsert(route, protocol: configuration.protocol)
                touched.append(route.normalizedKey)
            }
            for key in removals {
                staged.remove(key)
                touched.append(key)
            }
            desired = staged
            let diff = RouteDiff.between(desired: desired.routes, actual: kernel, keys: touched, deleteUndesired: true)
            return try applyLocked(diff)
        }
    }

    /// Dumps our routes from the kernel and reconciles everything.
    @discardableResult
    public func resync() throws -> RouteApplyReport {
        try locked {
            kernel = try dumpOwnRoutes()
            linkStates = Dictionary(try netlink.links().map { ($0.index, $0.isUp && $0.isRunning) }, uniquingKeysWith: { _, b in b })
            resyncCount += 1
            resyncCounter.increment()
            conflicts.removeAll()
            let hold = configuration.keepRoutesUntilFirstDesiredSet && !haveDesiredSet
            return try applyLocked(RouteDiff.between(desired: desired.routes, actual: kernel, deleteUndesired: !hold))
        }
    }

    /// Reacts to kernel notifications: records our routes' changes and
    /// repairs any that differ from the desired state.
    ///
    /// Links: the kernel drops IPv4 routes of a device that goes down or
    /// away without announcing each route, so when a device that our routes
    /// use changes state, its routes are dumped again (filtered on that
    /// device in the kernel) and repaired; other links' events cost nothing.
    /// Lost notifications trigger a full resync.
    @discardableResult
    public func handle(_ events: [NetworkEvent]) throws -> RouteApplyReport {
        var needResync = false
        let report: RouteApplyReport = try locked {
            var touched: [RouteKey] = []
            var changedLinks: [UInt32: Bool] = [:]  // index -> still exists
            for event in events {
                switch event {
                case .routeAdded(let route) where owns(route):
                    kernel[route.key] = route
                    touched.append(route.key)
                case .routeRemoved(let route) where owns(route):
                    if kernel[route.key] == route {
                        kernel.removeValue(forKey: route.key)
                    } else if kernel[route.key] != nil {
                        // Not the route we believe is there: learn the truth.
                        needResync = true
                    }
                    touched.append(route.key)
                case .routeRemoved(let route) where conflicts[route.key] != nil && inScope(route):
                    // The foreign route that blocked ours is gone: try again.
                    touched.append(route.key)
                case .linkRemoved(let link):
                    linkStates.removeValue(forKey: link.index)
                    changedLinks[link.index] = false
                case .linkChanged(let link):
                    let usable = link.isUp && link.isRunning
                    if let previous = linkStates[link.index], previous == usable { continue }
                    let known = linkStates[link.index] != nil
                    linkStates[link.index] = usable
                    // A link seen for the first time (a new veth) carries none of our routes yet.
                    if known { changedLinks[link.index] = true }
                case .resyncRequired:
                    needResync = true
                default:
                    break
                }
            }
            if needResync { return RouteApplyReport() }
            for (index, exists) in changedLinks where usesLink(index) {
                touched += try refreshRoutes(throughLink: index, linkExists: exists)
            }
            guard !touched.isEmpty else { return RouteApplyReport() }
            let hold = configuration.keepRoutesUntilFirstDesiredSet && !haveDesiredSet
            for key in touched where conflicts[key] != nil && kernel[key] == nil { conflicts.removeValue(forKey: key) }
            return try applyLocked(RouteDiff.between(desired: desired.routes, actual: kernel, keys: touched, deleteUndesired: !hold))
        }
        if needResync { return try resync() }
        return report
    }

    /// Whether any desired or programmed route goes out through `index`.
    private func usesLink(_ index: UInt32) -> Bool {
        func uses(_ route: Route) -> Bool { route.nextHops.contains { $0.interfaceIndex == index } }
        return kernel.values.contains(where: uses) || desired.routes.values.contains(where: uses)
    }

    /// Re-reads our routes through link `index` and returns the keys to repair.
    private func refreshRoutes(throughLink index: UInt32, linkExists: Bool) throws -> [RouteKey] {
        func uses(_ route: Route) -> Bool { route.nextHops.contains { $0.interfaceIndex == index } }
        var keys = kernel.values.filter(uses).map(\.key) + desired.routes.values.filter(uses).map(\.key)
        for key in keys where kernel[key].map(uses) == true { kernel.removeValue(forKey: key) }
        if linkExists {
            for family in [RouteFilter.Family.ipv4, .ipv6] {
                do {
                    try netlink.forEachRoute(RouteFilter(family: family, protocol: configuration.protocol, outputInterface: index)) { route in
                        guard inScope(route) else { return }
                        kernel[route.key] = route
                        keys.append(route.key)
                    }
                } catch let error as NetlinkError where error.errno == ENODEV {
                    break  // gone meanwhile: its routes went with it
                }
            }
        }
        return keys
    }

    /// Watches route and link changes on a dedicated thread and repairs.
    /// The thread sleeps in the kernel until notifications arrive (no
    /// polling). Best called before `start()`; called after it, it resyncs
    /// once to cover changes made before the subscription.
    public func startMonitoring(receiveBufferSize: Int = 4 << 20) throws {
        let monitor = try RTNetlinkMonitor(namespace: configuration.namespace, receiveBufferSize: receiveBufferSize)
        let started: Bool? = locked {
            guard monitoring == nil else { return nil }
            let thread = BackgroundTask { [weak self] in
                while !monitor.isStopped {
                    do {
                        var events = try monitor.next()
                        if events.isEmpty { continue }
                        // Coalesce a burst into one repair: take what is
                        // already queued without waiting.
                        var overrun = events.contains(.resyncRequired)
                        while events.count < 50_000, !overrun {
                            let more = try monitor.next(timeout: .zero)
                            if more.isEmpty { break }
                            overrun = more.contains(.resyncRequired)
                            events += more
                        }
                        guard let self else { return }
                        self.logger.debug("route monitor events", metadata: ["count": "\(events.count)", "resync": "\(overrun)"])
                        try self.handle(events)
                    } catch {
                        self?.logger.error("route monitor", metadata: ["error": "\(error)"])
                        // A failing repair (the kernel refusing, say) is retried on the next event.
                        _ = try? monitor.next(timeout: .milliseconds(100))
                    }
                }
            }
            monitoring = (monitor, thread)
            return resyncCount > 0
        }
        // Changes between the last dump and the subscription were not seen:
        // read the kernel once more now that nothing can be missed.
        if started == true { try resync() }
    }

    /// Stops the monitor and waits for its thread to end.
    public func stopMonitoring() {
        guard let (monitor, thread) = locked({ () -> (RTNetlinkMonitor, BackgroundTask<Void>)? in
            defer { monitoring = nil }
            return monitoring
        }) else { return }
        monitor.stop()
        _ = thread.wait()
    }

    public var status: RouteProgrammerStatus {
        locked {
            RouteProgrammerStatus(
                desired: desired.routes.values.sorted { $0.key < $1.key },
                programmed: kernel.values.sorted { $0.key < $1.key },
                conflicts: conflicts.values.sorted { $0.key < $1.key },
                holdingForGracefulRestart: configuration.keepRoutesUntilFirstDesiredSet && !haveDesiredSet,
                resyncs: resyncCount)
        }
    }

    /// Dumps the kernel's routes of our protocol (both families, tables in scope).
    public func kernelRoutes() throws -> [Route] { try dumpOwnRoutes().values.sorted { $0.key < $1.key } }

    // MARK: Internals

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock { _ in try body() }
    }

    private func owns(_ route: Route) -> Bool { route.protocol == configuration.protocol && inScope(route) }

    private func inScope(_ route: Route) -> Bool { configuration.tables?.contains(route.table) ?? true }

    /// Desired routes are checked against `tables` when they arrive, so the
    /// desired map never needs filtering.
    private func checkTables(_ routes: some Sequence<Route>) throws(RouteSetError) {
        guard configuration.tables != nil else { return }
        for route in routes where !inScope(route) { throw .tableNotManaged(route) }
    }

    private func dumpOwnRoutes() throws -> [RouteKey: Route] {
        let tables: [RouteTable?] = configuration.tables.map { $0.sorted().map { Optional($0) } } ?? [nil]
        var attempts = 0
        while true {
            var result: [RouteKey: Route] = [:]
            result.reserveCapacity(kernel.count + 16)
            do {
                for family in [RouteFilter.Family.ipv4, .ipv6] {
                    for table in tables {
                        try netlink.forEachRoute(RouteFilter(family: family, table: table, protocol: configuration.protocol)) { route in
                            result[route.key] = route
                        }
                    }
                }
                return result
            } catch let error as NetlinkError where error.isDumpInterrupted && attempts < 5 {
                // The table changed under the dump (NLM_F_DUMP_INTR): take it again.
                attempts += 1
            }
        }
    }

    private func applyLocked(_ diff: RouteDiff) throws -> RouteApplyReport {
        var report = RouteApplyReport()
        guard !diff.isEmpty else {
            programmedGauge.record(kernel.count)
            return report
        }
        let started = MonotonicClock.nanoseconds
        var changes: [(Route, RouteOperation)] = []
        changes.reserveCapacity(diff.count)
        // Deletions first: they may free keys that additions need.
        for route in diff.deletions { changes.append((route, .delete)) }
        for route in diff.replacements { changes.append((route, .replace)) }
        for route in diff.additions { changes.append((route, .add)) }
        let result: NetlinkBatchResult
        do {
            result = try netlink.apply(changes, acknowledgement: configuration.acknowledgement)
        } catch let error as NetlinkError where error.isOverrun || error.isTimeout {
            // Outcome unknown for part of the batch: learn the truth from a dump.
            logger.warning("route batch outcome unknown; dumping again", metadata: ["error": "\(error)"])
            kernel = try dumpOwnRoutes()
            throw error
        }
        kernel.reserveCapacity(kernel.count + diff.additions.count)
        var failed = Set<Int>()
        for failure in result.failures {
            guard let index = failure.messageIndex, index < changes.count else { continue }
            failed.insert(index)
            let (route, operation) = changes[index]
            let entry = RouteFailure(route: route, operation: operation, error: failure)
            if entry.isForeignConflict {
                conflicts[route.key] = route
            } else if operation == .delete && failure.errno == ESRCH {
                // Already gone: that is what we wanted.
                kernel.removeValue(forKey: route.key)
                failed.remove(index)
                report.deleted += 1
                continue
            }
            report.failures.append(entry)
        }
        for (index, (route, operation)) in changes.enumerated() where !failed.contains(index) {
            switch operation {
            case .delete:
                kernel.removeValue(forKey: route.key)
                report.deleted += 1
            case .replace:
                kernel[route.key] = route
                report.replaced += 1
            case .add:
                kernel[route.key] = route
                conflicts.removeValue(forKey: route.key)
                report.added += 1
            }
        }
        let elapsed = MonotonicClock.nanoseconds - started
        applyTimer.recordNanoseconds(elapsed)
        writeCounter.increment(by: changes.count)
        if !report.failures.isEmpty {
            failureCounter.increment(by: report.failures.count)
            logger.warning("routes refused by the kernel", metadata: [
                "count": "\(report.failures.count)", "first": "\(report.failures[0])"])
        }
        programmedGauge.record(kernel.count)
        conflictGauge.record(conflicts.count)
        logger.debug("routes applied", metadata: [
            "added": "\(report.added)", "replaced": "\(report.replaced)", "deleted": "\(report.deleted)",
            "microseconds": "\(elapsed / 1000)"])
        return report
    }
}

extension Route {
    var normalizedKey: RouteKey { normalized.key }
}

