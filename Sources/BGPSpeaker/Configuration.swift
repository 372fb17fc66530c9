import BGP
import BGPRIB
import Foundation
import IPAddressing
import StrictYAML

/// The speaker's configuration, as `caracal agent --config FILE` reads it
/// (docs/config.md names every field). Values only: reading the file,
/// resolving secrets and checking references happen in `AgentConfiguration.parse`.
public struct SpeakerConfiguration: Hashable, Sendable {
    public var asNumber: UInt32
    public var routerID: IPv4Address
    /// Addresses to accept sessions on; empty: none (every peer active).
    public var listenAddresses: [IPAddress]
    /// The interface of each IPv6 link-local listen address
    /// (`fe80::1%eth0`): its scope.
    public var listenInterfaces: [IPAddress: String] = [:]
    public var port: Int
    /// Route reflector: the CLUSTER_ID (RFC 4456 §7); nil: not a reflector.
    public var clusterID: IPv4Address?
    public var clientToClientReflection: Bool
    public var maximumPaths: Int
    public var gracefulRestart: GracefulRestartSettings
    public var originate: [IPPrefix]
    public var policies: [String: RoutePolicy]
    public var peers: [PeerConfiguration]
    /// Dynamic neighbours: sessions accepted from any address in a prefix
    /// (BIRD's `neighbor range`, FRR's `bgp listen range`), always passive.
    public var peerRanges: [PeerRange] = []

    public init(asNumber: UInt32, routerID: IPv4Address, listenAddresses: [IPAddress] = [], port: Int = 179,
                clusterID: IPv4Address? = nil, clientToClientReflection: Bool = true, maximumPaths: Int = 1,
                gracefulRestart: GracefulRestartSettings = .init(), originate: [IPPrefix] = [],
                policies: [String: RoutePolicy] = [:], peers: [PeerConfiguration] = []) {
        self.asNumber = asNumber
        self.routerID = routerID
        self.listenAddresses = listenAddresses
        self.port = port
        self.clusterID = clusterID
        self.clientToClientReflection = clientToClientReflection
        self.maximumPaths = maximumPaths
        self.gracefulRestart = gracefulRestart
        self.originate = originate
        self.policies = policies
        self.peers = peers
    }

    public var ribSpeaker: RIBSpeaker {
        RIBSpeaker(asn: asNumber, routerID: routerID, clusterID: clusterID, maximumPaths: maximumPaths,
                   clientToClientReflection: clientToClientReflection)
    }
}

/// A dynamic neighbour range: `template` (its address is the prefix's)
/// gives every field of the peers it accepts.
public struct PeerRange: Hashable, Sendable {
    public var prefix: IPPrefix
    public var template: PeerConfiguration
}

public struct GracefulRestartSettings: Hashable, Sendable {
    /// Advertise the capability (RFC 4724) and act as a helper for peers.
    public var enabled: Bool = true
    /// Seconds peers keep our routes while we restart.
    public var restartTime: UInt16 = 120
    /// Seconds we keep a restarting peer's stale routes at most.
    public var staleRoutesTime: Double = 360
    /// RFC 8538 N-bit: keep routes across NOTIFICATIONs other than Hard Reset.
    public var notification: Bool = true
    public init() {}
}

/// What to do when a peer sends more prefixes than `limit`.
public struct MaxPrefixes: Hashable, Sendable {
    public enum Action: String, Hashable, Sendable { case warn, restart }
    public var limit: Int
    public var action: Action
    /// Seconds before the session is started again after a `restart`.
    public var restartAfter: Double
    public init(limit: Int, action: Action, restartAfter: Double) {
        self.limit = limit
        self.action = action
        self.restartAfter = restartAfter
    }
}

public enum RemoteAS: Hashable, Sendable, CustomStringConvertible {
    case number(UInt32)
    /// The speaker's own AS (iBGP).
    case `internal`
    /// Any AS but ours (eBGP to whatever the peer says it is).
    case external

    /// The AS the OPEN must carry (for `external`: none; see `isInternal`).
    public func resolve(local: UInt32) -> UInt32 {
        switch self {
        case .number(let n): n
        case .internal, .external: local
        }
    }

    public func isInternal(local: UInt32) -> Bool {
        switch self {
        case .number(let n): n == local
        case .internal: true
        case .external: false
        }
    }

    public var description: String {
        switch self {
        case .number(let n): "\(n)"
        case .internal: "internal"
        case .external: "external"
        }
    }
}

public struct PeerConfiguration: Hashable, Sendable {
    public var name: String
    public var address: IPAddress
    /// The interface an IPv6 link-local peer is on (`fe80::1%eth0`): the
    /// scope of its address, of our connecting and listening sockets, and
    /// the output interface of routes through it. Nil for other peers.
    public var interface: String? = nil
    public var remoteAS: RemoteAS
    public var localAddress: IPAddress?
    public var passive: Bool = false
    public var holdTime: UInt16 = 90
    public var connectRetryTime: Double = 5
    /// eBGP multihop: the TTL of our packets (1 = directly connected).
    public var ttl: Int = 1
    /// GTSM (RFC 5082): send TTL 255 and drop packets below 255 − (hops − 1).
    public var ttlSecurity: Bool = false
    public var nextHopSelf: Bool = false
    public var routeReflectorClient: Bool = false
    public var families: [AddressFamily] = [.ipv4Unicast, .ipv6Unicast]
    public var addPathReceive: Bool = false
    public var addPathSend: AddPathSend? = nil
    public var gracefulRestart: Bool = true
    public var maxPrefixes: MaxPrefixes? = nil
    /// TCP MD5 (RFC 2385), resolved from its file or environment variable.
    public var password: String? = nil
    public var importPolicy: String? = nil
    public var exportPolicy: String? = nil
    public var allowAsIn: Int = 0
    /// The floor of RFC 9687's SendHoldTimer in seconds (the timer is
    /// max(this, 2 × hold time)): how long a peer that reads nothing may
    /// keep the session.
    public var sendHoldTime: Double = 480
    /// BFD (RFC 5881 single hop, RFC 5883 multihop) for this peer; nil: off.
    public var bfd: BFDSettings? = nil

    public init(name: String, address: IPAddress, remoteAS: RemoteAS, interface: String? = nil) {
        self.name = name
        self.address = address
        self.remoteAS = remoteAS
        self.interface = interface
    }

    /// The address as the configuration spells it (`fe80::1%eth0` for a
    /// link-local peer): status and logs.
    public var scopedAddress: String { interface.map { "\(address)%\($0)" } ?? address.description }
}

/// A peer's BFD: intervals in milliseconds, as `bfd:` in the YAML gives
/// them (docs/config.md).
public struct BFDSettings: Hashable, Sendable {
    public var minTx: Int = 100
    public var minRx: Int = 100
    public var multiplier: Int = 3
    /// BIRD's `bfd graceful`: a BFD failure closes the BGP session as a
    /// lost connection, so graceful restart keeps the routes (for peers whose
    /// BFD shares fate with a control plane that restarts).
    public var graceful: Bool = false
    /// Multihop BFD (RFC 5883: port 4784, no TTL check); the default for a
    /// peer with `ebgpMultihop` above 1.
    public var multihop: Bool = false
    /// A BFD failure also ends a graceful restart in progress (its stale
    /// routes go), as for a peer whose packets carry the C bit. For peers
    /// that signal AdminDown whenever they restart on purpose, as Caracal
    /// agents do: a failure without it is a dead node (or a crashed agent),
    /// not a restart. The agent sets it between nodes; not in the YAML.
    public var failureEndsRestart: Bool = false

    public init(minTx: Int = 100, minRx: Int = 100, multiplier: Int = 3, graceful: Bool = false, multihop: Bool = false) {
        self.minTx = minTx
        self.minRx = minRx
        self.multiplier = multiplier
        self.graceful = graceful
        self.multihop = multihop
    }

    public static let intervalRange = 10...60_000
}

/// A bad agent configuration: the field path, where it is, and why. The
/// running configuration stays when a reload brings one.
public typealias ConfigurationError = YAMLInputError

/// Reading the agent's YAML (Kubernetes style: apiVersion, kind, metadata,
/// spec) into typed values, with every error naming its field.
public struct AgentConfiguration: Hashable, Sendable {
    public var name: String
    public var bgp: SpeakerConfiguration
    /// Membership of a Caracal cluster through its datastore (nil: a
    /// stand-alone BGP router).
    public var cluster: ClusterMembership?
    /// `spec.bgp` fields left for the cluster to fill (asNumber from the
    /// cluster's BGPConfiguration, routerID and listen from the node's
    /// addresses).
    public var bgpDefaults: Set<String> = []
    /// Program learned routes into the kernel (off for a pure reflector).
    public var programRoutes: Bool
    public var controlSocket: String
    /// host:port for Prometheus metrics; nil: none.
    public var metricsAddress: String?

    public static let apiVersion = "caracal.io/v1alpha1"
    public static let kind = "AgentConfiguration"
    public static let defaultControlSocket = "/run/caracal/agent.sock"

    /// Parses and checks a configuration. `environment` and `readFile`
    /// resolve peer passwords (injected for tests).
    public static func parse(
        _ text: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) }
    ) throws(ConfigurationError) -> AgentConfiguration {
        let documents = try yamlDocuments(text)
        guard documents.count == 1 else {
            throw ConfigurationError(document: max(1, documents.count), path: "", message: "expected exactly one YAML document, found \(documents.count)")
        }
        let root = try documents[0].mapping(allowed: ["apiVersion", "kind", "metadata", "spec"])
        guard let version = root["apiVersion"], try version.string() == apiVersion else {
            throw (root["apiVersion"] ?? documents[0]).error("apiVersion must be \(apiVersion)")
        }
        guard let kind = root["kind"], try kind.string() == Self.kind else {
            throw (root["kind"] ?? documents[0]).error("kind must be \(Self.kind)")
        }
        var name = ""
        if let metadata = root["metadata"] {
            let m = try metadata.mapping(allowed: ["name", "labels"])
            name = try m["name"]?.string() ?? ""
        }
        guard let specField = root["spec"] else { throw documents[0].error("spec is required") }
        let spec = try specField.mapping(allowed: ["bgp", "cluster", "kernel", "control", "metrics"])
        let cluster = try spec["cluster"].map { f throws(ConfigurationError) in try ClusterMembership.parse(f) }
        var bgpDefaults: Set<String> = []
        let bgp: SpeakerConfiguration
        if let bgpField = spec["bgp"] {
            (bgp, bgpDefaults) = try parseBGP(bgpField, environment: environment, readFile: readFile, inCluster: cluster != nil)
        } else if cluster != nil {
            // The cluster decides: ECMP over equal paths (services are
            // advertised by every node), identity from the node.
            var b = SpeakerConfiguration(asNumber: 0, routerID: IPv4Address(0), maximumPaths: 16)
            b.listenAddresses = []
            bgp = b
            bgpDefaults = ["asNumber", "routerID", "listen"]
        } else {
            throw specField.error("bgp is required (or cluster)")
        }
        var programRoutes = true
        if let kernel = spec["kernel"] {
            let k = try kernel.mapping(allowed: ["programRoutes"])
            if let p = k["programRoutes"] { programRoutes = try p.bool() }
        }
        var socket = defaultControlSocket
        if let control = spec["control"] {
            let c = try control.mapping(allowed: ["socket"])
            if let s = c["socket"] { socket = try s.string() }
        }
        var metrics: String?
        if let m = spec["metrics"] {
            let f = try m.mapping(allowed: ["address"])
            metrics = try f["address"]?.string()
        }
        var config = AgentConfiguration(name: name, bgp: bgp, programRoutes: programRoutes, controlSocket: socket, metricsAddress: metrics)
        config.cluster = cluster
        config.bgpDefaults = bgpDefaults
        return config
    }

    /// In a cluster, asNumber, routerID and listen may be left out (they are
    /// returned as defaults to fill).
    static func parseBGP(_ field: YField, environment: [String: String], readFile: (String) -> String?,
                         inCluster: Bool = false) throws(ConfigurationError) -> (SpeakerConfiguration, Set<String>) {
        let m = try field.mapping(allowed: ["asNumber", "routerID", "listen", "routeReflector", "maximumPaths", "gracefulRestart",
                                            "originate", "policies", "peers", "peerRanges"])
        var defaults: Set<String> = []
        var asn: UInt32 = 0
        if let asField = m["asNumber"] { asn = try asField.asNumber() } else if inCluster { defaults.insert("asNumber") } else {
            throw field.error("asNumber is required")
        }
        var routerID = IPv4Address(0)
        if let idField = m["routerID"] {
            guard let id = IPv4Address(try idField.string()), id.value != 0 else { throw idField.error("expected a non-zero IPv4 address") }
            routerID = id
        } else if inCluster { defaults.insert("routerID") } else {
            throw field.error("routerID is required")
        }
        var config = SpeakerConfiguration(asNumber: asn, routerID: routerID, maximumPaths: inCluster ? 16 : 1)
        if let listen = m["listen"] {
            let l = try listen.mapping(allowed: ["addresses", "port"])
            if let a = l["addresses"] {
                for f in try a.sequence() {
                    let (address, interface) = try f.scopedAddress()
                    guard !config.listenAddresses.contains(address) else { throw f.error("\(address) is listed twice") }
                    config.listenAddresses.append(address)
                    if let interface { config.listenInterfaces[address] = interface }
                }
            }
            if let p = l["port"] {
                config.port = try p.int()
                guard (1...65535).contains(config.port) else { throw p.error("must be 1-65535") }
            }
        } else if inCluster {
            defaults.insert("listen")
        } else {
            config.listenAddresses = [.v4(IPv4Address(0))]
        }
        if let rr = m["routeReflector"] {
            let r = try rr.mapping(allowed: ["clusterID", "clientToClient"])
            if let c = r["clusterID"] {
                guard let id = IPv4Address(try c.string()) else { throw c.error("expected an IPv4 address") }
                config.clusterID = id
            } else if routerID.value != 0 {
                config.clusterID = routerID
            } else {
                throw rr.error("clusterID is required when routerID comes from the node")
            }
            if let c = r["clientToClient"] { config.clientToClientReflection = try c.bool() }
        }
        if let mp = m["maximumPaths"] {
            config.maximumPaths = try mp.int()
            guard (1...RIBSpeaker.maximumPathsLimit).contains(config.maximumPaths) else { throw mp.error("must be 1-\(RIBSpeaker.maximumPathsLimit)") }
        }
        if let gr = m["gracefulRestart"] {
            let g = try gr.mapping(allowed: ["enabled", "restartTime", "staleRoutesTime", "notification"])
            if let e = g["enabled"] { config.gracefulRestart.enabled = try e.bool() }
            if let t = g["restartTime"] {
                let v = try t.int()
                guard (1...4095).contains(v) else { throw t.error("must be 1-4095 seconds (12 bits, RFC 4724 §3)") }
                config.gracefulRestart.restartTime = UInt16(v)
            }
            if let t = g["staleRoutesTime"] {
                config.gracefulRestart.staleRoutesTime = try t.double()
                guard config.gracefulRestart.staleRoutesTime > 0 else { throw t.error("must be positive") }
            }
            if let n = g["notification"] { config.gracefulRestart.notification = try n.bool() }
        }
        if let o = m["originate"] {
            for f in try o.sequence() {
                guard let p = IPPrefix(try f.string()) else { throw f.error("expected a prefix such as 10.244.0.0/24") }
                config.originate.append(p)
            }
        }
        if let ps = m["policies"] {
            for f in try ps.sequence() {
                let (name, policy) = try parsePolicy(f)
                guard config.policies[name] == nil else { throw f.error("policy '\(name)' is defined twice") }
                config.policies[name] = policy
            }
        }
        var names = Set<String>(), addresses = Set<IPAddress>()
        for f in try m["peers"]?.sequence() ?? [] {
            let peer = try parsePeer(f, policies: config.policies, environment: environment, readFile: readFile)
            guard addresses.insert(peer.address).inserted else { throw f.error("peer address \(peer.address) is used twice") }
            guard names.insert(peer.name).inserted else { throw f.child("name", f.node).error("peer name '\(peer.name)' is used twice") }
            config.peers.append(peer)
        }
        for f in try m["peerRanges"]?.sequence() ?? [] {
            var peer = try parsePeer(f, policies: config.policies, environment: environment, readFile: readFile, range: true)
            // parsePeer checked the mapping and its prefix.
            guard let prefix = f.value("prefix").flatMap({ try? $0.prefix() }) else { throw f.error("prefix is required") }
            peer.passive = true
            config.peerRanges.append(PeerRange(prefix: prefix, template: peer))
        }
        return (config, defaults)
    }

    static func parsePeer(_ field: YField, policies: [String: RoutePolicy], environment: [String: String],
                          readFile: (String) -> String?, range: Bool = false) throws(ConfigurationError) -> PeerConfiguration {
        let m = try field.mapping(allowed: [range ? "prefix" : "address", "name", "remoteAS", "localAddress", "passive", "holdTime", "connectRetryTime",
                                            "ebgpMultihop", "ttlSecurity", "nextHopSelf", "routeReflectorClient", "families", "addPaths",
                                            "gracefulRestart", "maxPrefixes", "password", "importPolicy", "exportPolicy", "allowAsIn", "bfd",
                                            "sendHoldTime"])
        let address: IPAddress
        var interface: String?
        if range {
            guard let prefixField = m["prefix"] else { throw field.error("prefix is required") }
            address = try prefixField.prefix().address
        } else {
            guard let addressField = m["address"] else { throw field.error("address is required") }
            (address, interface) = try addressField.scopedAddress()
        }
        guard let remote = m["remoteAS"] else { throw field.error("remoteAS is required (a number, internal or external)") }
        let remoteAS: RemoteAS
        if case .scalar(let s) = remote.node, s.string == "internal" {
            remoteAS = .internal
        } else if case .scalar(let s) = remote.node, s.string == "external" {
            remoteAS = .external
        } else {
            remoteAS = .number(try remote.asNumber())
        }
        var peer = PeerConfiguration(name: try m["name"]?.string() ?? address.description, address: address, remoteAS: remoteAS,
                                     interface: interface)
        if interface != nil, m["name"] == nil { peer.name = peer.scopedAddress }
        if let l = m["localAddress"] {
            peer.localAddress = try l.address()
            if peer.localAddress?.isIPv6LinkLocal == true, interface == nil {
                throw l.error("a link-local localAddress needs a link-local peer address with its interface (fe80::1%eth0)")
            }
        }
        if let p = m["passive"] { peer.passive = try p.bool() }
        if let h = m["holdTime"] { peer.holdTime = try h.holdTime() }
        if let c = m["connectRetryTime"] {
            peer.connectRetryTime = try c.double()
            guard peer.connectRetryTime > 0 else { throw c.error("must be positive") }
        }
        if let t = m["ebgpMultihop"] {
            peer.ttl = try t.int()
            guard (1...255).contains(peer.ttl) else { throw t.error("must be 1-255") }
        }
        if let t = m["ttlSecurity"] { peer.ttlSecurity = try t.bool() }
        if let n = m["nextHopSelf"] { peer.nextHopSelf = try n.bool() }
        if let r = m["routeReflectorClient"] { peer.routeReflectorClient = try r.bool() }
        if let fs = m["families"] {
            peer.families = []
            for f in try fs.sequence() {
                guard let family = AddressFamily(name: try f.string()), family == .ipv4Unicast || family == .ipv6Unicast else {
                    throw f.error("expected ipv4-unicast or ipv6-unicast")
                }
                peer.families.append(family)
            }
            guard !peer.families.isEmpty else { throw fs.error("at least one family is needed") }
        }
        if let ap = m["addPaths"] {
            let a = try ap.mapping(allowed: ["receive", "send"])
            if let r = a["receive"] { peer.addPathReceive = try r.bool() }
            if let s = a["send"] {
                switch try s.intOrString() {
                case .string("all"): peer.addPathSend = .all
                case .int(let n) where n >= 1: peer.addPathSend = .best(n)
                default: throw s.error("expected all or a number of paths ≥ 1")
                }
            }
        }
        if let g = m["gracefulRestart"] { peer.gracefulRestart = try g.bool() }
        if let mp = m["maxPrefixes"] {
            let f = try mp.mapping(allowed: ["limit", "action", "restartAfter"])
            guard let l = f["limit"] else { throw mp.error("limit is required") }
            let limit = try l.int()
            guard limit >= 1 else { throw l.error("must be at least 1") }
            var action = MaxPrefixes.Action.warn
            if let a = f["action"] {
                guard let v = MaxPrefixes.Action(rawValue: try a.string()) else { throw a.error("expected warn or restart") }
                action = v
            }
            var after = 60.0
            if let r = f["restartAfter"] { after = try r.double() }
            peer.maxPrefixes = MaxPrefixes(limit: limit, action: action, restartAfter: after)
        }
        if let pw = m["password"] {
            // For a range: one key for the prefix on the listener
            // (TCP_MD5SIG_EXT, TCP_MD5SIG_FLAG_PREFIX).
            let p = try pw.mapping(allowed: ["file", "env"])
            var secret: String?
            if let file = p["file"] {
                let path = try file.string()
                guard let text = readFile(path) else { throw file.error("peer \(peer.name): password file \(path) cannot be read") }
                secret = text.trimmingCharacters(in: .newlines)
            } else if let env = p["env"] {
                let name = try env.string()
                guard let value = environment[name] else { throw env.error("peer \(peer.name): environment variable \(name) is not set") }
                secret = value
            } else {
                throw pw.error("peer \(peer.name): give file or env")
            }
            // Never an empty password: that would silently turn MD5 off.
            guard let secret, !secret.isEmpty else { throw pw.error("peer \(peer.name): the password is empty") }
            guard secret.utf8.count <= 80 else { throw pw.error("peer \(peer.name): longer than 80 octets (TCP_MD5SIG_MAXKEYLEN)") }
            peer.password = secret
        }
        for key in ["importPolicy", "exportPolicy"] {
            guard let f = m[key] else { continue }
            let name = try f.string()
            guard policies[name] != nil else { throw f.error("no policy named '\(name)'") }
            if key == "importPolicy" { peer.importPolicy = name } else { peer.exportPolicy = name }
        }
        if let a = m["allowAsIn"] {
            peer.allowAsIn = try a.int()
            guard (0...10).contains(peer.allowAsIn) else { throw a.error("must be 0-10") }
        }
        if let b = m["bfd"] {
            let f = try b.mapping(allowed: ["enabled", "minTx", "minRx", "multiplier", "graceful", "multihop"])
            var settings = BFDSettings()
            for (key, path) in [("minTx", \BFDSettings.minTx), ("minRx", \BFDSettings.minRx)] {
                guard let v = f[key] else { continue }
                settings[keyPath: path] = try v.int()
                guard BFDSettings.intervalRange.contains(settings[keyPath: path]) else { throw v.error("must be 10-60000 milliseconds") }
            }
            if let v = f["multiplier"] {
                settings.multiplier = try v.int()
                guard (1...255).contains(settings.multiplier) else { throw v.error("must be 1-255") }
            }
            if let g = f["graceful"] { settings.graceful = try g.bool() }
            settings.multihop = try f["multihop"]?.bool() ?? (peer.ttl > 1)
            if try f["enabled"]?.bool() ?? true { peer.bfd = settings }
            if peer.bfd != nil, interface != nil { throw b.error("BFD is not supported for link-local peers yet") }
        }
        if let t = m["sendHoldTime"] {
            peer.sendHoldTime = try t.double()
            guard peer.sendHoldTime >= 1, peer.sendHoldTime.isFinite else { throw t.error("must be at least 1 second") }
        }
        return peer
    }

    /// A policy: `name`, ordered `terms` (`name`, `match`, `actions`, `then`)
    /// and a `default` disposition.
    static func parsePolicy(_ field: YField) throws(ConfigurationError) -> (String, RoutePolicy) {
        let m = try field.mapping(allowed: ["name", "terms", "default"])
        guard let nameField = m["name"] else { throw field.error("name is required") }
        let name = try nameField.string()
        var terms: [RoutePolicy.Term] = []
        for t in try m["terms"]?.sequence() ?? [] {
            let tm = try t.mapping(allowed: ["name", "match", "actions", "then"])
            var term = RoutePolicy.Term(name: try tm["name"]?.string() ?? "term\(terms.count + 1)")
            if let match = tm["match"] {
                let mm = try match.mapping(allowed: ["prefixes", "family", "community", "largeCommunity", "asPathContains", "originAS",
                                                      "nextHop", "neighbour"])
                if let ps = mm["prefixes"] {
                    var ranges: [RoutePolicy.PrefixRange] = []
                    for p in try ps.sequence() {
                        let pm = try p.mapping(allowed: ["prefix", "ge", "le"])
                        guard let pf = pm["prefix"], let prefix = IPPrefix(try pf.string()) else { throw p.error("prefix is required (such as 10.0.0.0/8)") }
                        ranges.append(RoutePolicy.PrefixRange(prefix, ge: try pm["ge"]?.int(), le: try pm["le"]?.int()))
                    }
                    term.matches.append(.prefixList(ranges))
                }
                if let f = mm["family"] {
                    guard let family = AddressFamily(name: try f.string()) else { throw f.error("expected ipv4-unicast or ipv6-unicast") }
                    term.matches.append(.family(family))
                }
                if let c = mm["community"] { term.matches.append(.community(try c.community())) }
                if let c = mm["largeCommunity"] { term.matches.append(.largeCommunity(try c.largeCommunity())) }
                if let a = mm["asPathContains"] { term.matches.append(.asPathContains(try a.asNumber())) }
                if let a = mm["originAS"] { term.matches.append(.originatesIn(try a.asNumber())) }
                if let n = mm["nextHop"] { term.matches.append(.nextHopIn(try n.prefix())) }
                if let n = mm["neighbour"] { term.matches.append(.neighbourIn(try n.prefix())) }
            }
            if let actions = tm["actions"] {
                let am = try actions.mapping(allowed: ["setLocalPref", "setMED", "addCommunities", "removeCommunities", "replaceCommunities",
                                                        "addLargeCommunities", "removeLargeCommunities", "replaceLargeCommunities",
                                                        "prependAS", "nextHopSelf"])
                // In a fixed order, whatever the file's.
                if let v = am["setLocalPref"] { term.actions.append(.setLocalPref(try v.uint32())) }
                if let v = am["setMED"] { term.actions.append(.setMED(try v.uint32())) }
                if let v = am["removeCommunities"] { term.actions.append(.removeCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.community() })) }
                if let v = am["replaceCommunities"] { term.actions.append(.replaceCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.community() })) }
                if let v = am["addCommunities"] { term.actions.append(.addCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.community() })) }
                if let v = am["removeLargeCommunities"] {
                    term.actions.append(.removeLargeCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.largeCommunity() }))
                }
                if let v = am["replaceLargeCommunities"] {
                    term.actions.append(.replaceLargeCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.largeCommunity() }))
                }
                if let v = am["addLargeCommunities"] {
                    term.actions.append(.addLargeCommunities(try v.sequence().map { f throws(ConfigurationError) in try f.largeCommunity() }))
                }
                if let v = am["prependAS"] {
                    let pm = try v.mapping(allowed: ["asNumber", "times"])
                    guard let a = pm["asNumber"] else { throw v.error("asNumber is required") }
                    term.actions.append(.prependAS(try a.asNumber(), times: try pm["times"]?.int() ?? 1))
                }
                if let v = am["nextHopSelf"], try v.bool() { term.actions.append(.setNextHopSelf) }
            }
            if let then = tm["then"] {
                guard let d = RoutePolicy.Disposition(rawValue: try then.string()) else { throw then.error("expected accept or reject") }
                term.disposition = d
            }
            terms.append(term)
        }
        var otherwise = RoutePolicy.Disposition.reject
        if let d = m["default"] {
            guard let v = RoutePolicy.Disposition(rawValue: try d.string()) else { throw d.error("expected accept or reject") }
            otherwise = v
        }
        let policy = RoutePolicy(terms: terms, otherwise: otherwise)
        do throws(RoutePolicy.InvalidPolicy) {
            try policy.validate()
        } catch {
            throw field.error("\(error.field): \(error.problem)")
        }
        return (name, policy)
    }
}

extension YField {
    /// An address; an IPv6 link-local one needs its interface as
    /// `fe80::1%eth0` (the scope, RFC 4007 §11), which no other may have.
    func scopedAddress() throws(ConfigurationError) -> (IPAddress, String?) {
        let text = try string()
        let parts = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { throw error("expected an IP address (fe80::1%eth0 for a link-local one)") }
        let linkLocal = address.isIPv6LinkLocal
        guard parts.count == 2 else {
            if linkLocal { throw error("a link-local address needs its interface: \(text)%IFNAME") }
            return (address, nil)
        }
        let name = String(parts[1])
        guard linkLocal else { throw error("only an IPv6 link-local address takes %IFNAME") }
        // IFNAMSIZ is 16 with the terminating zero.
        guard (1...15).contains(name.utf8.count), !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw error("expected an interface name of 1-15 characters after %")
        }
        return (address, name)
    }

    /// `ASN:VALUE` or a well-known name (no-export, no-advertise,
    /// no-export-subconfed, no-peer, graceful-shutdown).
    func community() throws(ConfigurationError) -> Community {
        let text = try string()
        let named: [String: Community] = ["no-export": .noExport, "no-advertise": .noAdvertise, "no-export-subconfed": .noExportSubconfed,
                                          "no-peer": .noPeer, "graceful-shutdown": .gracefulShutdown]
        if let c = named[text] { return c }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let a = UInt16(parts[0]), let v = UInt16(parts[1]) else { throw error("expected ASN:VALUE (16 bits each) or a well-known name") }
        return Community(asn: a, value: v)
    }

    /// `GLOBAL:LOCAL1:LOCAL2` (RFC 8092).
    func largeCommunity() throws(ConfigurationError) -> LargeCommunity {
        let parts = try string().split(separator: ":")
        guard parts.count == 3, let g = UInt32(parts[0]), let a = UInt32(parts[1]), let b = UInt32(parts[2]) else {
            throw error("expected GLOBAL:LOCAL1:LOCAL2 (32 bits each)")
        }
        return LargeCommunity(g, a, b)
    }
}
