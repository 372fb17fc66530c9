#if canImport(FoundationEssentials)
import ClusterModel
import FoundationEssentials
#else
import Foundation
#endif
import IPAM
import IPAddressing
import KeyValueStore
import JSON

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
