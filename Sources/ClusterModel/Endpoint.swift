#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAddressing

/// The CNI spec's attachment key: one container's interface
/// (`CNI_CONTAINERID` and `CNI_IFNAME`; GC's `cni.dev/valid-attachments`
/// lists them). Allocations and endpoints are recorded under `id`.
public struct Attachment: Hashable, Sendable {
    public var containerID: String
    public var ifName: String
    public init(containerID: String, ifName: String) { self.containerID = containerID; self.ifName = ifName }

    public var id: String { Attachment.id(containerID: containerID, ifName: ifName) }
    public static func id(containerID: String, ifName: String) -> String { "\(containerID)/\(ifName)" }
}

/// A pod's attachment to the network, written by caracal-cni and read by the
/// agent (routes, policy). ADD writes it with `state = .wiring` in the same
/// transaction as the IP allocation, and sets `.ready` once the veth is up;
/// DEL and GC remove it with the allocation.
public struct EndpointRecord: Codable, Hashable, Sendable {
    public enum State: String, Codable, Sendable {
        /// Allocated, wiring in progress (or the plugin died mid-ADD).
        case wiring
        case ready
    }

    public var containerID: String
    public var ifName: String
    public var namespace: String
    public var pod: String
    public var podUID: String?
    public var network: String
    public var netns: String?
    public var ips: [IPAddress]
    /// Addresses outside this node's own blocks (fixed IPs, sticky claims,
    /// borrowed addresses): the node must advertise each as a host route.
    public var borrowedIPs: [IPAddress]?
    public var mac: String?
    public var hostVeth: String
    public var labels: [String: String]
    public var node: String
    public var claim: String?
    public var state: State
    public var created: Date

    public init(
        containerID: String, ifName: String, namespace: String, pod: String, podUID: String? = nil, network: String,
        netns: String?, ips: [IPAddress], borrowedIPs: [IPAddress]? = nil, mac: String? = nil, hostVeth: String, labels: [String: String] = [:],
        node: String, claim: String? = nil, state: State = .wiring, created: Date
    ) {
        self.containerID = containerID
        self.ifName = ifName
        self.namespace = namespace
        self.pod = pod
        self.podUID = podUID
        self.network = network
        self.netns = netns
        self.ips = ips
        self.borrowedIPs = borrowedIPs
        self.mac = mac
        self.hostVeth = hostVeth
        self.labels = labels
        self.node = node
        self.claim = claim
        self.state = state
        self.created = created
    }

    public var id: String { Attachment.id(containerID: containerID, ifName: ifName) }
}

