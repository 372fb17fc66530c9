import CMnl
import IPAddressing
import NetNS
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's connection tracking table of one namespace, over ctnetlink
/// (NETLINK_NETFILTER, subsystem CTNETLINK).
///
/// A released pod address must not inherit its old flows: conntrack entries
/// keep steering (and NATing) packets of the old 5-tuples, so a new pod
/// that gets the address sees the previous pod's traffic, or its own
/// dropped (calico#4152). The CNI plugin deletes every entry that names a
/// released address, as `conntrack -D -s IP` and `-D -d IP` would.
public struct ConntrackTable: Sendable {
    public let socket: NetlinkSocket

    public init(namespace: NetworkNamespace? = nil) throws {
        socket = try NetlinkSocket(.netfilter, namespace: namespace)
    }

    /// Deletes every entry whose original or reply tuple has one of
    /// `addresses` as source or destination; returns how many went. A
    /// namespace without connection tracking has nothing to delete.
    @discardableResult
    public func deleteEntries(involving addresses: Set<IPAddress>) throws -> Int {
        guard !addresses.isEmpty else { return 0 }
        let batch = NetlinkBatch()
        do {
            try socket.dump(type: Self.messageType(IPCTNL_MSG_CT_GET), request: { message in
                message.put(header: nfgenmsg(nfgen_family: UInt8(AF_UNSPEC), version: UInt8(NFNETLINK_V0), res_id: 0))
            }) { message in
                let entry = try ConntrackEntry.decode(message)
                guard !entry.addresses.isDisjoint(with: addresses), let original = entry.originalTuple else { return }
                // The entry is named by its original tuple (and zone), sent
                // back as the kernel gave it.
                batch.append(type: Self.messageType(IPCTNL_MSG_CT_DELETE)) { request in
                    request.put(header: nfgenmsg(nfgen_family: entry.family, version: UInt8(NFNETLINK_V0), res_id: 0))
                    original.withUnsafeBytes { request.put(UInt16(CTA_TUPLE_ORIG.rawValue) | UInt16(NLA_F_NESTED), bytes: $0) }
                    if let zone = entry.zone { request.put(UInt16(CTA_ZONE.rawValue), zone.bigEndian) }
                }
            }
        } catch let error as NetlinkError where error.kind == .refused && [ENOENT, EOPNOTSUPP, EPROTONOSUPPORT].contains(error.errno) {
            return 0  // no conntrack in this namespace (or no ctnetlink)
        }
        guard batch.count > 0 else { return 0 }
        let result = try socket.execute(batch)
        // An entry that expired meanwhile is gone already.
        if let failure = result.failures.first(where: { $0.errno != ENOENT }) { throw failure }
        return batch.count - result.failures.count
    }

    static func messageType(_ message: cntl_msg_types) -> UInt16 {
        UInt16(NFNL_SUBSYS_CTNETLINK) << 8 | UInt16(message.rawValue)
    }

}

/// One connection tracking entry as a ctnetlink dump reports it: what the
/// plugin needs to find and delete it.
public struct ConntrackEntry: Hashable, Sendable {
    /// `AF_INET` or `AF_INET6`.
    public var family: UInt8
    /// The original tuple's attributes, as the kernel sent them (a delete
    /// names the entry by them).
    public var originalTuple: [UInt8]?
    /// `CTA_ZONE`, when the entry is in a zone other than the default.
    public var zone: UInt16?
    /// Sources and destinations of both tuples.
    public var addresses: Set<IPAddress>

    public static func decode(_ message: NetlinkMessage) throws -> ConntrackEntry {
        let header = try message.header(as: nfgenmsg.self)
        var entry = ConntrackEntry(family: header.nfgen_family, originalTuple: nil, zone: nil, addresses: [])
        try message.attributes(after: MemoryLayout<nfgenmsg>.size).forEach { attribute in
            switch Int(attribute.type) {
            case Int(CTA_TUPLE_ORIG.rawValue):
                entry.originalTuple = attribute.bytes
                try entry.addAddresses(of: attribute.nested)
            case Int(CTA_TUPLE_REPLY.rawValue):
                try entry.addAddresses(of: attribute.nested)
            case Int(CTA_ZONE.rawValue):
                entry.zone = attribute.u16.map { UInt16(bigEndian: $0) }
            default: break
            }
        }
        return entry
    }

    private mutating func addAddresses(of tuple: NetlinkAttributes) throws {
        try tuple.forEach { attribute in
            guard attribute.type == UInt16(CTA_TUPLE_IP.rawValue) else { return }
            try attribute.nested.forEach { ip in
                switch Int(ip.type) {
                case Int(CTA_IP_V4_SRC.rawValue), Int(CTA_IP_V4_DST.rawValue):
                    guard let a = decodeAddress(ip.value, family: UInt8(AF_INET)) else { throw NetlinkError.malformed("CTA_IP_V4 of \(ip.value.count) bytes") }
                    addresses.insert(a)
                case Int(CTA_IP_V6_SRC.rawValue), Int(CTA_IP_V6_DST.rawValue):
                    guard let a = decodeAddress(ip.value, family: UInt8(AF_INET6)) else { throw NetlinkError.malformed("CTA_IP_V6 of \(ip.value.count) bytes") }
                    addresses.insert(a)
                default: break
                }
            }
        }
    }
}
