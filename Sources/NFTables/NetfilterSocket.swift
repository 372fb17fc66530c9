import CNftnl
import NetNS
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// An nf_tables error from the kernel (or the socket), with the message
/// that failed when known.
public struct NFTablesError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32
    public var detail: String?

    public init(operation: String, errno: Int32, detail: String? = nil) {
        self.operation = operation; self.errno = errno; self.detail = detail
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" + (detail.map { ": \($0)" } ?? "")
    }
}

/// nf_tables over `Netlink`'s `NetlinkSocket` (NETLINK_NETFILTER), opened
/// in a chosen namespace: transactions go through
/// `executeTransaction` (batch begin/end framing, all or nothing, every
/// failure attributed to its message), dumps through `dump`. libnftnl only
/// builds and parses the messages.
final class NetfilterSocket: Sendable {
    private let socket: NetlinkSocket

    init(namespace: NetworkNamespace?) throws {
        socket = try NetlinkSocket(.netfilter, namespace: namespace, receiveTimeout: .seconds(10), receiveBufferSize: 64 << 20)
    }

    /// Commits `batch` as one transaction. Throws the first failure, naming
    /// the message that failed; the kernel then aborts the whole batch.
    func sendBatch(_ batch: BatchBuffer) throws {
        try sendBatch([NetlinkBatchSlice(batch.batch)])
    }

    /// Commits `slices` (of `BatchBuffer`s), in order, as one transaction
    /// (sent in place, without copying them into one buffer).
    func sendBatch(_ slices: [NetlinkBatchSlice]) throws {
        let result = try socket.executeTransaction(slices, subsystem: UInt16(NFNL_SUBSYS_NFTABLES), acknowledgement: .errorsAndLast)
        guard let failure = result.failures.first else { return }
        // Named from the messages themselves: nothing is kept per message
        // for the rare failure.
        let messages = slices.flatMap { s in s.messages.map { s.batch.messageBytes(at: $0) } }
        let label = failure.messageIndex.map { KernelObjects.describe(messages, at: $0) } ?? "message ?"
        throw NFTablesError(operation: "nf_tables transaction", errno: failure.errno,
                            detail: label + (failure.kernelMessage.map { " (\($0))" } ?? ""))
    }

    /// Sends one dump request built by libnftnl (`build` writes a whole
    /// message into the buffer) and hands every reply to `body` as a whole
    /// message, header included, as libnftnl parses it.
    func dump(_ build: (UnsafeMutablePointer<CChar>, UInt32) -> Void, _ body: (UnsafePointer<nlmsghdr>) throws -> Void) throws {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 8)
        defer { request.deallocate() }
        request.initializeMemory(as: UInt8.self, repeating: 0)
        build(request.baseAddress!.assumingMemoryBound(to: CChar.self), 0)
        let header = request.baseAddress!.assumingMemoryBound(to: nlmsghdr.self).pointee
        let payload = UnsafeRawBufferPointer(rebasing: request[16..<Int(header.nlmsg_len)])
        let flags = header.nlmsg_flags & ~UInt16(NLM_F_DUMP | NLM_F_REQUEST)
        var message = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { message.deallocate() }
        try socket.dump(type: header.nlmsg_type, flags: flags, request: { $0.put(raw: payload) }) { reply in
            // libnftnl parses a whole message: put the header back in front.
            let length = 16 + reply.payload.count
            if length > message.count {
                message.deallocate()
                message = .allocate(byteCount: length, alignment: 8)
            }
            var h = nlmsghdr(nlmsg_len: UInt32(length), nlmsg_type: reply.type, nlmsg_flags: reply.flags,
                             nlmsg_seq: reply.sequence, nlmsg_pid: reply.portID)
            withUnsafeBytes(of: &h) { message.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 16) }
            if let p = reply.payload.baseAddress { (message.baseAddress! + 16).copyMemory(from: p, byteCount: reply.payload.count) }
            try body(message.baseAddress!.assumingMemoryBound(to: nlmsghdr.self))
        }
    }
}

/// The messages of one nf_tables transaction, built one by one with
/// libnftnl into a `NetlinkBatch` (framing and sequence numbers are added
/// when it is sent).
/// Unchecked Sendable: a buffer is filled by one thread at a time (parts
/// are encoded concurrently, each by its own thread, then sent together).
final class BatchBuffer: @unchecked Sendable {
    let batch = NetlinkBatch(capacity: 1 << 20)
    private var scratch: UnsafeMutableRawBufferPointer
    private var setIDs: UInt32
    var messageCount: Int { batch.count }

    /// Sets are identified within a transaction by an ID (the kernel
    /// requires one); IDs start above `setIDBase`, so that parts encoded
    /// separately never share one.
    init(setIDsAbove setIDBase: UInt32 = 0) {
        setIDs = setIDBase
        scratch = .allocate(byteCount: 4 << 20, alignment: 8)
    }

    deinit { scratch.deallocate() }

    func nextSetID() -> UInt32 {
        setIDs += 1
        return setIDs
    }

    /// Adds one message: `payload` fills the libnftnl object into it.
    func add(_ type: UInt32, flags: Int32, _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        memset(scratch.baseAddress!, 0, 64)
        let nlh = nftnl_nlmsg_build_hdr(scratch.baseAddress!.assumingMemoryBound(to: CChar.self), UInt16(type), UInt16(NFPROTO_INET), UInt16(flags), 0)!
        payload(nlh)
        batch.appendMessage(UnsafeRawBufferPointer(start: scratch.baseAddress!, count: Int(nlh.pointee.nlmsg_len)))
    }
}
