import ClusterModel

/// What must change so the kernel's routes of one protocol equal the desired
/// routes. Pure: computed from two maps, applied elsewhere.
public struct RouteDiff: Equatable, Sendable {
    /// Desired routes whose key holds none of our routes: created with
    /// `NLM_F_EXCL`, so a foreign route at that key is never overwritten.
    public var additions: [Route] = []
    /// Desired routes whose key holds one of our routes with other content.
    public var replacements: [Route] = []
    /// Our routes that are no longer desired.
    public var deletions: [Route] = []

    public init(additions: [Route] = [], replacements: [Route] = [], deletions: [Route] = []) {
        self.additions = additions
        self.replacements = replacements
        self.deletions = deletions
    }

    public var isEmpty: Bool { additions.isEmpty && replacements.isEmpty && deletions.isEmpty }
    public var count: Int { additions.count + replacements.count + deletions.count }

    /// Diffs `desired` against `actual` (both keyed by `Route.key`, both
    /// normalized). With `deleteUndesired` false (graceful restart hold),
    /// routes that are only in `actual` stay.
    public static func between(
        desired: [RouteKey: Route], actual: [RouteKey: Route], deleteUndesired: Bool = true
    ) -> RouteDiff {
        var diff = RouteDiff()
        diff.additions.reserveCapacity(max(0, desired.count - actual.count))
        for (key, route) in desired {
            if let present = actual[key] {
                if present != route { diff.replacements.append(route) }
            } else {
                diff.additions.append(route)
            }
        }
        if deleteUndesired {
            for (key, route) in actual where desired[key] == nil { diff.deletions.append(route) }
        }
        return diff
    }

    /// The diff restricted to `keys` (for repairing what the monitor reported).
    public static func between(
        desired: [RouteKey: Route], actual: [RouteKey: Route], keys: some Sequence<RouteKey>, deleteUndesired: Bool = true
    ) -> RouteDiff {
        var diff = RouteDiff()
        for key in Set(keys) {
            switch (desired[key], actual[key]) {
            case let (want?, have?) where want != have: diff.replacements.append(want)
            case let (want?, nil): diff.additions.append(want)
            case let (nil, have?) where deleteUndesired: diff.deletions.append(have)
            default: break
            }
        }
        return diff
    }

    /// Stable order for logs and tests.
    public var sorted: RouteDiff {
        RouteDiff(additions: additions.sorted { $0.key < $1.key },
                  replacements: replacements.sorted { $0.key < $1.key },
                  deletions: deletions.sorted { $0.key < $1.key })
    }
}

/// A set of desired routes, validated and normalized for one protocol.
public struct DesiredRoutes: Equatable, Sendable {
    public private(set) var routes: [RouteKey: Route]

    public init() { routes = [:] }

    /// Builds the set; every route gets `protocol`. Two routes with the same
    /// key are rejected, naming both, because the kernel can hold only one.
    public init(_ list: some Sequence<Route>, protocol: RouteProtocol) throws(RouteSetError) {
        var routes: [RouteKey: Route] = [:]
        routes.reserveCapacity(list.underestimatedCount)
        for route in list {
            let normalized = try Self.prepare(route, protocol: `protocol`)
            if let previous = routes.updateValue(normalized, forKey: normalized.key), previous != normalized {
                throw .duplicateKey(previous, normalized)
            }
        }
        self.routes = routes
    }

    static func prepare(_ route: Route, protocol: RouteProtocol) throws(RouteSetError) -> Route {
        var route = route
        route.protocol = `protocol`
        switch route.type {
        case .unicast:
            if route.nextHops.isEmpty { throw .noNextHop(route) }
            for hop in route.nextHops where hop.gateway == nil && hop.interfaceIndex == 0 { throw .noNextHop(route) }
        case .blackhole, .unreachable, .prohibit:
            if !route.nextHops.isEmpty { throw .unexpectedNextHop(route) }
        default:
            throw .unsupportedType(route)
        }
        return route.normalized
    }

    public var count: Int { routes.count }
    public subscript(key: RouteKey) -> Route? { routes[key] }

    public mutating func upsert(_ route: Route, protocol: RouteProtocol) throws(RouteSetError) {
        let normalized = try Self.prepare(route, protocol: `protocol`)
        routes[normalized.key] = normalized
    }

    @discardableResult
    public mutating func remove(_ key: RouteKey) -> Route? { routes.removeValue(forKey: key) }
}

/// A desired route set that cannot be programmed.
public enum RouteSetError: Error, Equatable, Sendable, CustomStringConvertible {
    case duplicateKey(Route, Route)
    case noNextHop(Route)
    case unexpectedNextHop(Route)
    case unsupportedType(Route)
    case tableNotManaged(Route)

    public var description: String {
        switch self {
        case let .duplicateKey(a, b): "two desired routes share destination, table and metric: \(a) and \(b)"
        case let .noNextHop(r): "unicast route needs a gateway or a device for every next hop: \(r)"
        case let .unexpectedNextHop(r): "\(r.type) route cannot have next hops: \(r)"
        case let .unsupportedType(r): "route type \(r.type) is not programmed by Caracal: \(r)"
        case let .tableNotManaged(r): "route is in table \(r.table), which this programmer does not manage: \(r)"
        }
    }
}
