import CMnl
import NetNS
import Testing
import TestSupport
@testable import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// A raw IPv4 route message through the generic socket API, so these tests
/// exercise the socket alone and not the typed route layer.
private func appendRawRoute(_ batch: NetlinkBatch, type: Int32, destination: UInt32, oif: UInt32) {
    batch.append(type: UInt16(type), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL)) { message in
        var header = rtmsg()
        header.rtm_family = UInt8(AF_INET)
        header.rtm_dst_len = 32
        header.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        header.rtm_protocol = 201
        header.rtm_scope = UInt8(RT_SCOPE_LINK.rawValue)
        header.rtm_type = UInt8(RTN_UNICAST)
        message.put(header: header)
        message.put(UInt16(RTA_DST.rawValue), destination.bigEndian)
        message.put(UInt16(RTA_OIF.rawValue), oif)
    }
}

@Suite("NetlinkSocket against the kernel")
struct NetlinkSocketTests {
    @Test func socketOpenedForNamespaceSeesOnlyThatNamespace() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let b = try net.namespace("b")
            try net.veth(a, "va", nil, b, "vb", nil)
            let socket = try NetlinkSocket(.route, namespace: a.namespace)
            var names: [String] = []
            try socket.dump(type: UInt16(RTM_GETLINK), request: { message in
                message.put(header: ifinfomsg())
            }) { message in
                try message.attributes(after: MemoryLayout<ifinfomsg>.size).forEach { attribute in
                    if attribute.type == UInt16(IFLA_IFNAME) { names.append(attribute.string) }
                }
            }
            #expect(names.sorted() == ["lo", "va"])
        }
    }

    @Test func batchAttributesEveryFailureToItsMessage() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let b = try net.namespace("b")
            try net.veth(a, "va", nil, b, "vb", nil)
            let index = try a.perform { if_nametoindex("va") }
            let socket = try NetlinkSocket(.route, namespace: a.namespace)
            for acknowledgement in [NetlinkAcknowledgement.everyMessage, .errorsAndLast] {
                let batch = NetlinkBatch()
                let base: UInt32 = acknowledgement == .everyMessage ? 0x0a00_0000 : 0x0a01_0000
                for i in 0..<10 { appendRawRoute(batch, type: Int32(RTM_NEWROUTE), destination: base + UInt32(i), oif: index) }
                appendRawRoute(batch, type: Int32(RTM_NEWROUTE), destination: base + 3, oif: index)   // duplicate: EEXIST
                appendRawRoute(batch, type: Int32(RTM_NEWROUTE), destination: base + 100, oif: 9999)  // no such device
                appendRawRoute(batch, type: Int32(RTM_NEWROUTE), destination: base + 11, oif: index)
                let result = try socket.execute(batch, acknowledgement: acknowledgement)
                #expect(result.messageCount == 13)
                #expect(result.failures.map(\.messageIndex) == [10, 11])
                #expect(result.failures.map(\.errno) == [EEXIST, ENODEV])
                #expect(result.failures[0].operation == "RTM_NEWROUTE")
            }
            let routes = try a.check(["ip", "-4", "route", "show", "proto", "201"]).stdout
            #expect(routes.split(separator: "\n").count == 22)
        }
    }

    @Test func extendedAckMessageIsReported() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let b = try net.namespace("b")
            try net.veth(a, "va", nil, b, "vb", nil)
            try a.ip("link", "set", "va", "down")
            let index = try a.perform { if_nametoindex("va") }
            let socket = try NetlinkSocket(.route, namespace: a.namespace)
            // An on-link gateway route through a device that is down.
            let batch = NetlinkBatch()
            batch.append(type: UInt16(RTM_NEWROUTE), flags: UInt16(NLM_F_CREATE | NLM_F_EXCL)) { message in
                var header = rtmsg()
                header.rtm_family = UInt8(AF_INET)
                header.rtm_dst_len = 24
                header.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
                header.rtm_protocol = 201
                header.rtm_type = UInt8(RTN_UNICAST)
                header.rtm_flags = UInt32(RTNH_F_ONLINK)
                message.put(header: header)
                message.put(UInt16(RTA_DST.rawValue), UInt32(0x0a0b_0c00).bigEndian)
                message.put(UInt16(RTA_GATEWAY.rawValue), UInt32(0x0a00_0001).bigEndian)
                message.put(UInt16(RTA_OIF.rawValue), index)
            }
            #expect {
                try socket.perform(batch)
            } throws: { error in
                guard let error = error as? NetlinkError else { return false }
                return error.errno == ENETDOWN && error.kernelMessage == "Nexthop device is not up" && error.messageIndex == 0
            }
        }
    }

    @Test func dumpErrorCarriesKernelMessage() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let socket = try NetlinkSocket(.route, namespace: a.namespace)
            // Strict checking rejects a dump request with a non-zero header field it does not filter on.
            #expect {
                try socket.dump(type: UInt16(RTM_GETROUTE), request: { message in
                    var header = rtmsg()
                    header.rtm_family = UInt8(AF_INET)
                    header.rtm_dst_len = 7
                    message.put(header: header)
                }) { _ in }
            } throws: { error in
                guard let error = error as? NetlinkError else { return false }
                return error.errno == EINVAL && (error.kernelMessage ?? "").contains("dump request")
            }
        }
    }

    @Test func receiveTimesOutInsteadOfHanging() throws {
        try withTestNetwork { net in
            let a = try net.namespace("a")
            let socket = try NetlinkSocket(.route, namespace: a.namespace, receiveTimeout: .milliseconds(50))
            #expect { try socket.receive { _ in } } throws: { ($0 as? NetlinkError)?.kind == .timeout }
        }
    }
}

/// The same socket type speaks NETLINK_NETFILTER: nftables transactions.
@Suite("NetlinkSocket with NETLINK_NETFILTER")
struct NetfilterSocketTests {
    static let subsystem = UInt16(NFNL_SUBSYS_NFTABLES)
    static let inet = UInt8(1)  // NFPROTO_INET

    func appendTable(_ batch: NetlinkBatch, _ message: UInt16, _ name: String) {
        batch.append(type: Self.subsystem << 8 | message, flags: UInt16(NLM_F_CREATE)) { writer in
            var header = nfgenmsg()
            header.nfgen_family = Self.inet
            writer.put(header: header)
            writer.put(1, string: name)  // NFTA_TABLE_NAME
        }
    }

    func tables(_ socket: NetlinkSocket) throws -> [String] {
        var names: [String] = []
        try socket.dump(type: Self.subsystem << 8 | 1, request: { writer in  // NFT_MSG_GETTABLE
            var header = nfgenmsg()
            header.nfgen_family = Self.inet
            writer.put(header: header)
        }) { message in
            try message.attributes(after: MemoryLayout<nfgenmsg>.size).forEach { attribute in
                if attribute.type == 1 { names.append(attribute.string) }
            }
        }
        return names.sorted()
    }

    @Test func transactionsAreAllOrNothingWithAttributedFailures() throws {
        try withTestNetwork { net in
            let ns = try net.namespace("nft")
            let socket = try NetlinkSocket(.netfilter, namespace: ns.namespace)
            let good = NetlinkBatch()
            appendTable(good, 0, "caracal_a")  // NFT_MSG_NEWTABLE
            appendTable(good, 0, "caracal_b")
            #expect(try socket.executeTransaction(good, subsystem: Self.subsystem).succeeded)
            #expect(try tables(socket) == ["caracal_a", "caracal_b"])
            #expect(try ns.check(["nft", "list", "tables"]).stdout.contains("table inet caracal_a"))

            for acknowledgement in [NetlinkAcknowledgement.everyMessage, .errorsAndLast] {
                let bad = NetlinkBatch()
                appendTable(bad, 0, "caracal_c")
                appendTable(bad, 2, "caracal_missing")  // NFT_MSG_DELTABLE of a table that does not exist
                appendTable(bad, 0, "caracal_d")
                let result = try socket.executeTransaction(bad, subsystem: Self.subsystem, acknowledgement: acknowledgement)
                #expect(result.failures.map(\.messageIndex) == [1])
                #expect(result.failures.first?.errno == ENOENT)
                #expect(try tables(socket) == ["caracal_a", "caracal_b"])  // nothing of the failed transaction applied
            }
        }
    }

    /// Slices of several batches go out as one transaction, in the order
    /// given, without being copied together: a failure's index counts
    /// across the parts, and a failure anywhere applies nothing.
    @Test func transactionFromPartsOfSeveralBatches() throws {
        try withTestNetwork { net in
            let ns = try net.namespace("nft")
            let socket = try NetlinkSocket(.netfilter, namespace: ns.namespace)
            let first = NetlinkBatch(), second = NetlinkBatch()
            for name in ["caracal_a", "caracal_skipped", "caracal_b"] { appendTable(first, 0, name) }
            appendTable(second, 0, "caracal_c")
            appendTable(second, 2, "caracal_b")  // deletes what the first part created: the order is kept
            let parts = [NetlinkBatchSlice(first, 0..<1), NetlinkBatchSlice(second, 0..<1), NetlinkBatchSlice(first, 2..<3),
                         NetlinkBatchSlice(second, 1..<2)]
            for acknowledgement in [NetlinkAcknowledgement.everyMessage, .errorsAndLast] {
                let result = try socket.executeTransaction(parts, subsystem: Self.subsystem, acknowledgement: acknowledgement)
                #expect(result.succeeded)
                #expect(result.messageCount == 4)
                #expect(try tables(socket) == ["caracal_a", "caracal_c"])
                let clean = NetlinkBatch()
                appendTable(clean, 2, "caracal_a")
                appendTable(clean, 2, "caracal_c")
                #expect(try socket.executeTransaction(clean, subsystem: Self.subsystem).succeeded)
            }
            // The third part fails (it deletes a table that does not exist).
            let bad = NetlinkBatch()
            appendTable(bad, 2, "caracal_missing")
            let result = try socket.executeTransaction([NetlinkBatchSlice(first, 0..<1), NetlinkBatchSlice(second, 0..<1),
                                                        NetlinkBatchSlice(bad), NetlinkBatchSlice(first, 2..<3)],
                                                       subsystem: Self.subsystem, acknowledgement: .errorsAndLast)
            #expect(result.failures.map(\.messageIndex) == [2])
            #expect(result.failures.first?.errno == ENOENT)
            #expect(try tables(socket) == [])
        }
    }

    /// More parts than sendmsg takes vectors (IOV_MAX, 1024): they are
    /// joined into one batch first, and still make one transaction.
    @Test func transactionFromMorePartsThanIOVMax() throws {
        try withTestNetwork { net in
            let ns = try net.namespace("nft")
            let socket = try NetlinkSocket(.netfilter, namespace: ns.namespace)
            let batch = NetlinkBatch()
            for i in 0..<1100 { appendTable(batch, 0, "caracal_\(i)") }
            // Every other message, in reverse order: no two parts adjoin.
            let parts = stride(from: 1098, through: 0, by: -2).map { NetlinkBatchSlice(batch, $0..<($0 + 1)) }
            #expect(parts.count == 550)
            let many = parts + parts.map { NetlinkBatchSlice(batch, ($0.messages.lowerBound + 1)..<($0.messages.lowerBound + 2)) }
            #expect(try socket.executeTransaction(many, subsystem: Self.subsystem).succeeded)
            #expect(try tables(socket).count == 1100)
            let bad = NetlinkBatch()
            appendTable(bad, 2, "caracal_missing")
            let result = try socket.executeTransaction(many.map { _ in NetlinkBatchSlice(bad) }.prefix(3) + many,
                                                       subsystem: Self.subsystem, acknowledgement: .errorsAndLast)
            #expect(result.failures.map(\.messageIndex) == [0, 1, 2])
        }
    }
}
