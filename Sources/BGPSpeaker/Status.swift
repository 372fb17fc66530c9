import BFDService
import BGP
import Foundation
import Metrics

/// What `caracal status --json` prints (and the table is made from).
public struct SpeakerStatus: Codable, Hashable, Sendable {
    public var asNumber: UInt32
    public var routerID: String
    public var clusterID: String?
    public var prefixes: Int
    /// Holding output until the GR peers' End-of-RIB (RFC 4724 §4.1).
    public var restarting: Bool
    public var peers: [PeerStatus]
}

public struct PeerStatus: Codable, Hashable, Sendable {
    public var name: String
    public var address: String
    public var asNumber: UInt32
    public var type: String
    public var state: String
    public var since: Date
    /// The last error (a NOTIFICATION decoded, a connect failure) or a
    /// configuration note (RFC 8212).
    public var info: String
    public var received: Int
    public var accepted: Int
    public var advertised: Int
    public var flaps: Int
    public var holdTime: Int?
    public var peerRouterID: String?
    public var families: [String]
    public var capabilities: [String]
    public var stale: Int
    /// The peer's BFD session (nil: BFD off, or not created yet).
    public var bfd: BFDSessionStatus? = nil
    /// Back-pressure: the channel is over its high watermark, so changes
    /// wait as state in the Adj-RIB-Out (`outputHeld` routes, one per
    /// prefix and path ID) instead of UPDATEs.
    public var outputPaused = false
    public var outputHeld = 0
    /// Bytes written to the connection and not yet taken by the kernel.
    public var sendQueueBytes = 0
}

public struct RouteRow: Codable, Hashable, Sendable {
    public var prefix: String
    public var nextHop: String
    public var peer: String
    public var pathID: UInt32
    public var best: Bool
    public var asPath: String
    public var localPref: UInt32?
    public var med: UInt32?
    public var origin: String
    public var communities: [String]
    public var stale: Bool
    /// For `--detail`: why this path lost.
    public var reason: String?
}

/// Prometheus-facing metrics (swift-metrics; the agent bootstraps the
/// backend): `caracal_bgp_sessions{state}`, `caracal_bgp_updates_in_total`,
/// `caracal_bgp_updates_out_total`, `caracal_bgp_malformed_total`,
/// `caracal_bgp_decisions_total`.
final class SpeakerMetrics {
    let updatesIn = Counter(label: "caracal_bgp_updates_in_total")
    let updatesOut = Counter(label: "caracal_bgp_updates_out_total")
    let malformed = Counter(label: "caracal_bgp_malformed_total")
    let decisions = Counter(label: "caracal_bgp_decisions_total")
    private var gauges: [SessionState: Gauge] = [:]

    func sessions(_ states: [SessionState]) {
        for s in SessionState.allCases {
            let g = gauges[s] ?? Gauge(label: "caracal_bgp_sessions", dimensions: [("state", s.rawValue)])
            gauges[s] = g
            g.record(states.filter { $0 == s }.count)
        }
    }
}
