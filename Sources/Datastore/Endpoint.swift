#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IPAM
import IPAddressing
import KeyValueStore
import JSON

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

    public var id: String { HandleRecord.id(containerID: containerID, ifName: ifName) }
}

/// Endpoint records in the key space `endpoints/<containerID>/<ifname>`.
public enum Endpoints {
    public static let prefix = "endpoints/"
    public static func key(containerID: String, ifName: String) -> String { prefix + HandleRecord.id(containerID: containerID, ifName: ifName) }

    public static func get(containerID: String, ifName: String, _ tx: KVTransaction) throws -> EndpointRecord? {
        guard let data = try tx.get(key(containerID: containerID, ifName: ifName)) else { return nil }
        return try JSONValueDecoder().decode(EndpointRecord.self, from: data)
    }

    public static func put(_ e: EndpointRecord, _ tx: KVTransaction) throws {
        try tx.put(key(containerID: e.containerID, ifName: e.ifName), Data(try JSONValueEncoder().encodedBytes(e)))
    }

    public static func delete(containerID: String, ifName: String, _ tx: KVTransaction) throws {
        try tx.delete(key(containerID: containerID, ifName: ifName))
    }

    public static func all(_ tx: KVTransaction) throws -> [EndpointRecord] {
        try tx.list(prefix: prefix).map { try JSONValueDecoder().decode(EndpointRecord.self, from: $0.value) }
    }
}
