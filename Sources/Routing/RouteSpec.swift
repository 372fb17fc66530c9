import ClusterModel
import Foundation
import IPAddressing
import JSON
import NetNS
import Netlink

/// A route as operators write it in a desired-state file (JSON), with
/// devices by name. `resolve` turns it into a `Route` for one namespace.
///
///     {"destination": "10.0.0.0/24", "via": "10.1.0.2", "dev": "eth0", "metric": 20}
///     {"destination": "10.9.0.0/16", "type": "blackhole"}
///     {"destination": "fd00::/64", "nexthops": [{"via": "fd00:1::2", "dev": "eth0", "weight": 2}, ...]}
public struct RouteSpec: Codable, Hashable, Sendable {
    public struct Hop: Codable, Hashable, Sendable {
        public var via: IPAddress?
        public var dev: String?
        public var weight: UInt16?
        public var onlink: Bool?
        public init(via: IPAddress? = nil, dev: String? = nil, weight: UInt16? = nil, onlink: Bool? = nil) {
            self.via = via
            self.dev = dev
            self.weight = weight
            self.onlink = onlink
        }
    }

    public var destination: IPPrefix
    /// "unicast" (default) or "blackhole".
    public var type: String?
    public var via: IPAddress?
    public var dev: String?
    public var onlink: Bool?
    public var nexthops: [Hop]?
    public var table: UInt32?
    public var metric: UInt32?
    /// "global", "link" or "host"; default as `ip route` chooses.
    public var scope: String?

    public init(destination: IPPrefix, type: String? = nil, via: IPAddress? = nil, dev: String? = nil,
                nexthops: [Hop]? = nil, table: UInt32? = nil, metric: UInt32? = nil, scope: String? = nil) {
        self.destination = destination
        self.type = type
        self.via = via
        self.dev = dev
        self.nexthops = nexthops
        self.table = table
        self.metric = metric
        self.scope = scope
    }

    /// The spec of an existing route, with device names from `deviceName`.
    public init(_ route: Route, deviceName: (UInt32) -> String?) {
        destination = route.destination
        type = route.type == .unicast ? nil : route.type.description
        table = route.table == .main ? nil : route.table.rawValue
        metric = route.metric == 0 ? nil : route.metric
        scope = route.scope == .universe ? nil : route.scope.description
        let hops = route.nextHops.map { hop in
            Hop(via: hop.gateway, dev: hop.interfaceIndex == 0 ? nil : deviceName(hop.interfaceIndex) ?? "#\(hop.interfaceIndex)",
                weight: hop.weight == 1 ? nil : hop.weight, onlink: hop.onLink ? true : nil)
        }
        if hops.count == 1 {
            via = hops[0].via
            dev = hops[0].dev
            onlink = hops[0].onlink
        } else if hops.count > 1 {
            nexthops = hops
        }
    }

    /// Builds the route; `interfaceIndex` maps device names (throwing for unknown ones).
    public func resolve(protocol: RouteProtocol, interfaceIndex: (String) throws -> UInt32) throws -> Route {
        let routeType: RouteType
        switch type ?? "unicast" {
        case "unicast": routeType = .unicast
        case "blackhole": routeType = .blackhole
        case "unreachable": routeType = .unreachable
        case "prohibit": routeType = .prohibit
        case let other: throw RouteSpecError.invalidField("type", other, destination)
        }
        var routeScope: RouteScope? = nil
        if let scope {
            switch scope {
            case "global", "universe": routeScope = .universe
            case "link": routeScope = .link
            case "host": routeScope = .host
            default: throw RouteSpecError.invalidField("scope", scope, destination)
            }
        }
        var hops: [NextHop] = []
        if let nexthops {
            if via != nil || dev != nil { throw RouteSpecError.invalidField("nexthops", "given together with via/dev", destination) }
            for hop in nexthops {
                hops.append(NextHop(gateway: hop.via, interfaceIndex: try hop.dev.map(interfaceIndex) ?? 0,
                                    weight: hop.weight ?? 1, onLink: hop.onlink ?? false))
            }
        } else if via != nil || dev != nil {
            hops.append(NextHop(gateway: via, interfaceIndex: try dev.map(interfaceIndex) ?? 0, onLink: onlink ?? false))
        }
        for hop in hops where !(1...256).contains(hop.weight) {
            throw RouteSpecError.invalidField("weight", "\(hop.weight)", destination)
        }
        return Route(destination: destination, type: routeType, table: RouteTable(table ?? RouteTable.main.rawValue),
                     protocol: `protocol`, scope: routeScope, metric: metric ?? 0, nextHops: NextHops(hops))
    }
}

extension RouteSpec {
    /// Builds every route of a desired-state file, with device names looked
    /// up in `interfaces` (name → index). Throws on the first bad spec, so a
    /// bad file changes nothing.
    public static func resolve(_ specs: [RouteSpec], protocol: RouteProtocol,
                               interfaces: [String: UInt32]) throws -> [Route] {
        try specs.map { spec in
            try spec.resolve(protocol: `protocol`) { name in
                guard let index = interfaces[name] else { throw RouteSpecError.unknownDevice(name) }
                return index
            }
        }
    }
}

extension RouteSpec {
    /// Parses a desired-state file: a JSON array of `RouteSpec`. An error
    /// names the element and field (`[3].via`), so a bad file is rejected
    /// before anything is programmed.
    public static func parseList(_ bytes: [UInt8]) throws(RouteSpecError) -> [RouteSpec] {
        do {
            return try JSONDecoder().decode([RouteSpec].self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .undecodable(Self.describe(error))
        } catch {
            throw .undecodable("\(error)")
        }
    }

    /// `[3].via: wrong type: …`: the element and field, then the problem.
    static func describe(_ error: DecodingError) -> String {
        let path = error.fieldPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        let field = path.hasPrefix(".") ? String(path.dropFirst()) : (path.isEmpty ? "top level" : path)
        return "\(field): \(error.problem)"
    }
}

public enum RouteSpecError: Error, Equatable, CustomStringConvertible {
    case invalidField(String, String, IPPrefix)
    case unknownDevice(String)
    case undecodable(String)
    public var description: String {
        switch self {
        case let .invalidField(field, value, destination): "route \(destination): invalid \(field): \(value)"
        case let .unknownDevice(name): "no device named \"\(name)\""
        case let .undecodable(reason): "desired routes: \(reason)"
        }
    }
}

/// How the kernel's routes of one protocol compare with a desired set.
public struct RouteDrift: Sendable {
    public var missing: [Route]
    public var unexpected: [Route]
    public var different: [(desired: Route, kernel: Route)]
    public var inSync: Bool { missing.isEmpty && unexpected.isEmpty && different.isEmpty }

    public init(desired: [Route], kernel: [Route]) {
        let want = Dictionary(desired.map { ($0.normalized.key, $0.normalized) }, uniquingKeysWith: { _, b in b })
        let have = Dictionary(kernel.map { ($0.key, $0) }, uniquingKeysWith: { _, b in b })
        let diff = RouteDiff.between(desired: want, actual: have).sorted
        missing = diff.additions
        unexpected = diff.deletions
        different = diff.replacements.map { ($0, have[$0.key]!) }
    }
}

/// What `caracal routes` shows: the kernel's routes of one protocol in a
/// namespace, device names, and the drift from a desired set if one is given.
public struct KernelRouteReport: Sendable {
    public var `protocol`: RouteProtocol
    public var routes: [Route]
    public var deviceNames: [UInt32: String]
    public var drift: RouteDrift?

    /// Dumps (filtered in the kernel) and compares. Device names in `desired`
    /// are resolved in the same namespace.
    public static func collect(namespace: NetworkNamespace?, protocol: RouteProtocol,
                               desired: [RouteSpec]? = nil) throws -> KernelRouteReport {
        let netlink = try RTNetlink(namespace: namespace)
        let routes = try (netlink.routes(RouteFilter(family: .ipv4, protocol: `protocol`))
            + netlink.routes(RouteFilter(family: .ipv6, protocol: `protocol`))).sorted { $0.key < $1.key }
        let links = try netlink.links()
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        let indexes = Dictionary(links.map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a })
        var drift: RouteDrift? = nil
        if let desired {
            drift = RouteDrift(desired: try RouteSpec.resolve(desired, protocol: `protocol`, interfaces: indexes), kernel: routes)
        }
        return KernelRouteReport(protocol: `protocol`, routes: routes, deviceNames: names, drift: drift)
    }

    /// The spec of `route` with this namespace's device names.
    public func spec(_ route: Route) -> RouteSpec { RouteSpec(route, deviceName: { deviceNames[$0] }) }
}
