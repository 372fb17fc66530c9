import CNftnl
import NetNS
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

/// A NETLINK_NETFILTER socket (libmnl), opened in a chosen network
/// namespace. Sockets stay bound to the namespace they were opened in, so
/// the socket is opened on a short-lived thread inside it (see NetNS) and
/// used from anywhere afterwards.
final class NetfilterSocket {
    private let nl: OpaquePointer
    private let portID: UInt32
    private var nextSeq: UInt32
    private var receiveBuffer: UnsafeMutableRawBufferPointer

    init(namespace: NetworkNamespace?) throws {
        func open() throws -> OpaquePointer {
            guard let nl = mnl_socket_open(NETLINK_NETFILTER) else {
                throw NFTablesError(operation: "mnl_socket_open", errno: errno)
            }
            return nl
        }
        nl = try namespace.map { ns in try ns.perform { try open() } } ?? open()
        guard mnl_socket_bind(nl, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let e = errno
            mnl_socket_close(nl)
            throw NFTablesError(operation: "mnl_socket_bind", errno: e)
        }
        portID = mnl_socket_get_portid(nl)
        nextSeq = UInt32(truncatingIfNeeded: time(nil))
        receiveBuffer = .allocate(byteCount: 1 << 20, alignment: 8)
        let fd = mnl_socket_get_fd(nl)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, 4)
        // Errors then carry only the failing header, not the whole request.
        setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, 4)
        // Large batches produce one ACK per message.
        var rcv: Int32 = 64 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, 4)
    }

    deinit {
        mnl_socket_close(nl)
        receiveBuffer.deallocate()
    }

    func allocateSeq(_ count: Int = 1) -> UInt32 {
        let s = nextSeq
        nextSeq &+= UInt32(count)
        return s
    }

    private func send(_ bytes: UnsafeRawBufferPointer) throws {
        let fd = mnl_socket_get_fd(nl)
        var snd = Int32(min(Int(Int32.max), bytes.count + 65536))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, 4)
        let n = mnl_socket_sendto(nl, bytes.baseAddress, bytes.count)
        guard n == bytes.count else { throw NFTablesError(operation: "sendto", errno: errno) }
    }

    /// Sends a batch (begin, messages, end) and waits for one ACK per
    /// message (each carries NLM_F_ACK). Throws the first error, naming
    /// the message that failed; the kernel then aborts the whole batch.
    func sendBatch(_ batch: BatchBuffer) throws {
        try batch.bytes.withUnsafeBytes { try send($0) }
        // Only the last message asks for an ACK; the kernel reports every
        // failing message regardless, before that ACK.
        var pending = Set(batch.ackedSeqs.suffix(1))
        var firstError: NFTablesError?
        while !pending.isEmpty {
            let n = mnl_socket_recvfrom(nl, receiveBuffer.baseAddress, receiveBuffer.count)
            guard n > 0 else { throw firstError ?? NFTablesError(operation: "recvfrom (batch ack)", errno: errno) }
            try walk(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n])) { type, seq, payload in
                guard type == UInt16(NLMSG_ERROR) else { return }
                pending.remove(seq)
                let code = payload.load(as: Int32.self)
                if code != 0, firstError == nil {
                    firstError = NFTablesError(operation: "nf_tables transaction", errno: -code,
                                               detail: (batch.label(ofSeq: seq) ?? "message \(seq)") + (extAckMessage(payload).map { " (\($0))" } ?? ""))
                }
            }
        }
        if let firstError { throw firstError }
    }

    /// Sends one dump request and hands every reply message to `body`.
    func dump(_ build: (UnsafeMutablePointer<CChar>, UInt32) -> Void, _ body: (UnsafePointer<nlmsghdr>) throws -> Void) throws {
        let seq = allocateSeq()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 8)
        defer { buf.deallocate() }
        buf.initializeMemory(as: UInt8.self, repeating: 0)
        build(buf.baseAddress!.assumingMemoryBound(to: CChar.self), seq)
        let len = Int(buf.baseAddress!.assumingMemoryBound(to: nlmsghdr.self).pointee.nlmsg_len)
        try send(UnsafeRawBufferPointer(rebasing: buf[0..<len]))
        var done = false
        while !done {
            let n = mnl_socket_recvfrom(nl, receiveBuffer.baseAddress, receiveBuffer.count)
            guard n > 0 else { throw NFTablesError(operation: "recvfrom (dump)", errno: errno) }
            var failure: Int32 = 0
            try walkHeaders(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n])) { hdr in
                if hdr.pointee.nlmsg_seq != seq { return }
                switch Int32(hdr.pointee.nlmsg_type) {
                case NLMSG_DONE: done = true
                case NLMSG_ERROR:
                    let code = UnsafeRawPointer(hdr).advanced(by: 16).load(as: Int32.self)
                    if code != 0 { failure = -code }
                    done = true
                default: try body(hdr)
                }
            }
            if failure != 0 { throw NFTablesError(operation: "nf_tables dump", errno: failure) }
        }
    }

    private func walkHeaders(_ buf: UnsafeRawBufferPointer, _ body: (UnsafePointer<nlmsghdr>) throws -> Void) throws {
        var off = 0
        while off + 16 <= buf.count {
            let hdr = buf.baseAddress!.advanced(by: off).assumingMemoryBound(to: nlmsghdr.self)
            let len = Int(hdr.pointee.nlmsg_len)
            guard len >= 16, off + len <= buf.count else { break }
            try body(UnsafePointer(hdr))
            off += Int(caracal_nlmsg_align(UInt32(len)))
        }
    }

    private func walk(_ buf: UnsafeRawBufferPointer, _ body: (UInt16, UInt32, UnsafeRawBufferPointer) throws -> Void) throws {
        try walkHeaders(buf) { hdr in
            let len = Int(hdr.pointee.nlmsg_len)
            try body(hdr.pointee.nlmsg_type, hdr.pointee.nlmsg_seq,
                     UnsafeRawBufferPointer(start: UnsafeRawPointer(hdr).advanced(by: 16), count: len - 16))
        }
    }

    /// NLMSGERR_ATTR_MSG from an extended ACK, when the kernel gave one.
    private func extAckMessage(_ payload: UnsafeRawBufferPointer) -> String? {
        guard payload.count >= 20 else { return nil }
        // struct nlmsgerr: error (4) + the original header (16); the
        // request payload is omitted when NLM_F_CAPPED is set (it is, with
        // NETLINK_EXT_ACK); attributes follow.
        var off = 20
        while off + 4 <= payload.count {
            let alen = Int(payload.load(fromByteOffset: off, as: UInt16.self))
            let atype = payload.load(fromByteOffset: off + 2, as: UInt16.self) & 0x3FFF
            guard alen >= 4, off + alen <= payload.count else { return nil }
            if atype == 1 { // NLMSGERR_ATTR_MSG
                return String(decoding: payload[(off + 4)..<(off + alen)].prefix { $0 != 0 }, as: UTF8.self)
            }
            off += (alen + 3) & ~3
        }
        return nil
    }
}

/// Bytes of one nf_tables batch, built message by message with libnftnl.
/// Unchecked Sendable: a buffer is filled by one thread at a time (parts
/// are encoded concurrently, each by its own thread, then appended).
final class BatchBuffer: @unchecked Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var ackedSeqs: [UInt32] = []
    /// What each message does, to name the failing one in errors: built
    /// only when a message fails (a batch holds thousands).
    private var labels: [() -> String] = []
    private var firstSeq: UInt32 = 0

    func label(ofSeq seq: UInt32) -> String? {
        let i = Int(seq &- firstSeq)
        return labels.indices.contains(i) ? labels[i]() : nil
    }
    private var scratch: UnsafeMutableRawBufferPointer
    /// nil for a part: messages get sequence numbers when appended to a batch.
    private let socket: NetfilterSocket?
    private(set) var messageCount = 0
    private var setIDs: UInt32 = 0

    /// Sets are identified within a transaction by an ID (the kernel requires one).
    func nextSetID() -> UInt32 {
        setIDs += 1
        return setIDs
    }

    /// A batch: begin message now, `finish()` adds the end.
    init(socket: NetfilterSocket) {
        self.socket = socket
        scratch = .allocate(byteCount: 4 << 20, alignment: 8)
        bytes.reserveCapacity(1 << 20)
        let seq = socket.allocateSeq()
        appendRaw { buf in _ = nftnl_batch_begin(buf, seq) }
    }

    /// A part of a batch, encoded on its own (on another thread), then
    /// appended with `append(_:)`. Set IDs start above `setIDBase` so that
    /// parts never share one.
    init(partWithSetIDsAbove setIDBase: UInt32) {
        socket = nil
        setIDs = setIDBase
        scratch = .allocate(byteCount: 4 << 20, alignment: 8)
        bytes.reserveCapacity(1 << 20)
    }

    /// Appends every message of `part`, numbering them in this batch.
    func append(_ part: BatchBuffer) {
        guard let socket, part.messageCount > 0 else { return }
        let start = bytes.count
        bytes.append(contentsOf: part.bytes)
        var offset = start
        var seq = socket.allocateSeq(part.messageCount)
        if labels.isEmpty { firstSeq = seq }
        bytes.withUnsafeMutableBytes { raw in
            while offset < raw.count {
                let len = Int(caracal_nlmsg_align(raw.load(fromByteOffset: offset, as: UInt32.self)))
                raw.storeBytes(of: seq, toByteOffset: offset + 8, as: UInt32.self)
                lastMessageOffset = offset
                ackedSeqs.append(seq)
                seq &+= 1
                offset += len
            }
        }
        labels += part.labels
        messageCount += part.messageCount
    }
    deinit { scratch.deallocate() }

    private func appendRaw(_ build: (UnsafeMutablePointer<CChar>) -> Void) {
        memset(scratch.baseAddress!, 0, 64)
        build(scratch.baseAddress!.assumingMemoryBound(to: CChar.self))
        let len = Int(caracal_nlmsg_align(scratch.baseAddress!.assumingMemoryBound(to: nlmsghdr.self).pointee.nlmsg_len))
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<len]))
    }

    /// Adds one message: `payload` fills the libnftnl object into it.
    func add(_ type: UInt32, flags: Int32, label: @escaping @autoclosure () -> String, _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Void) {
        let seq = socket?.allocateSeq() ?? 0
        if labels.isEmpty { firstSeq = seq }
        appendRaw { buf in
            let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(type), UInt16(NFPROTO_INET), UInt16(flags), seq)!
            payload(nlh)
        }
        lastMessageOffset = bytes.count - Int(caracal_nlmsg_align(UInt32(lastLength)))
        ackedSeqs.append(seq)
        labels.append(label)
        messageCount += 1
    }

    private var lastMessageOffset = -1
    private var lastLength: UInt32 { scratch.baseAddress!.assumingMemoryBound(to: nlmsghdr.self).pointee.nlmsg_len }

    /// Sets NLM_F_ACK on the last message and appends the batch end.
    func finish() {
        if lastMessageOffset >= 0 {
            // nlmsg_flags is at offset 6 of the header (host order).
            let flagsOffset = lastMessageOffset + 6
            let flags = UInt16(bytes[flagsOffset]) | UInt16(bytes[flagsOffset + 1]) << 8 | UInt16(NLM_F_ACK)
            bytes[flagsOffset] = UInt8(flags & 0xFF)
            bytes[flagsOffset + 1] = UInt8(flags >> 8)
        }
        let seq = socket?.allocateSeq() ?? 0
        appendRaw { buf in _ = nftnl_batch_end(buf, seq) }
    }
}
