import CMnl
import NetNS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A netlink protocol family (`NETLINK_ROUTE`, `NETLINK_NETFILTER`, ...).
public struct NetlinkProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let route = NetlinkProtocol(rawValue: NETLINK_ROUTE)
    public static let netfilter = NetlinkProtocol(rawValue: NETLINK_NETFILTER)
    public var description: String {
        switch self {
        case .route: "NETLINK_ROUTE"
        case .netfilter: "NETLINK_NETFILTER"
        default: "netlink protocol \(rawValue)"
        }
    }
}

/// How a batch asks the kernel to acknowledge its messages.
public enum NetlinkAcknowledgement: Sendable {
    /// `NLM_F_ACK` on every message: one reply per message, each matched to
    /// its message by sequence number.
    case everyMessage
    /// `NLM_F_ACK` only on the last message of each `sendmsg`. The kernel
    /// still reports every failure (it always answers an error), so each
    /// failure is still attributed to its message; successes are implied by
    /// the final ACK, because the kernel handles a send's messages in order.
    /// About twice as fast for bulk route programming.
    case errorsAndLast
}

/// The outcome of `NetlinkSocket.execute`: which messages failed and why.
public struct NetlinkBatchResult: Sendable {
    public var messageCount: Int
    /// One error per failed message, in message order, each with
    /// `messageIndex` set.
    public var failures: [NetlinkError]
    public var succeeded: Bool { failures.isEmpty }
}

/// An owning handle on one `mnl_socket`, for any netlink protocol.
///
/// Open it in the current namespace or *for* a `NetworkNamespace`: then the
/// socket is created on a short-lived thread inside that namespace and stays
/// bound to it, and may be used from any thread afterwards. Requests are
/// serialised by an internal lock, so one socket may be shared, but replies of
/// concurrent callers never interleave.
///
/// Every socket has `SO_RCVTIMEO` (nothing hangs), `NETLINK_EXT_ACK` (the
/// kernel's error text), `NETLINK_CAP_ACK` (ACKs do not echo the request) and
/// `NETLINK_GET_STRICT_CHK` (dump filters are applied in the kernel).
public final class NetlinkSocket: @unchecked Sendable {
    public let netlinkProtocol: NetlinkProtocol
    /// The namespace the socket is bound to (nil: the opener's).
    public let namespace: NetworkNamespace?
    public let portID: UInt32

    private let handle: OpaquePointer
    /// Serialises requests: one reply stream per socket.
    private let mutex = Mutex(())
    private var nextSequence: UInt32
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Many-datagram receive area for per-message ACKs (`recvmmsg`).
    private lazy var multiReceive = MultiReceive(slots: 64, slotSize: 2048)

    /// Largest chunk of a batch given to one `sendmsg`.
    public var maxBytesPerSend = 64 * 1024
    /// Most messages per `sendmsg` when every message is acknowledged: the
    /// ACKs queue in the receive buffer until the send returns, and one that
    /// does not fit is lost.
    public var maxAcknowledgedMessagesPerSend = 1024

    /// Opens a socket. `receiveTimeout` bounds every wait for a reply.
    /// `receiveBufferSize` is forced with `SO_RCVBUFFORCE` when permitted.
    public init(
        _ netlinkProtocol: NetlinkProtocol,
        namespace: NetworkNamespace? = nil,
        receiveTimeout: Duration = .seconds(5),
        receiveBufferSize: Int? = 4 << 20,
        strictCheck: Bool = true
    ) throws {
        self.netlinkProtocol = netlinkProtocol
        self.namespace = namespace
        let open: () throws -> OpaquePointer = {
            guard let handle = mnl_socket_open2(netlinkProtocol.rawValue, Int32(SOCK_CLOEXEC.rawValue)) else {
                throw NetlinkError.system("socket(\(netlinkProtocol))")
            }
            guard mnl_socket_bind(handle, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
                let error = NetlinkError.system("bind")
                mnl_socket_close(handle)
                throw error
            }
            return handle
        }
        let handle: OpaquePointer
        if let namespace {
            do {
                handle = try namespace.perform(open)
            } catch let error as NetNSError {
                throw NetlinkError(.system, errno: error.errno, operation: "\(error.operation) \(namespace.path)")
            }
        } else {
            handle = try open()
        }
        self.handle = handle
        portID = mnl_socket_get_portid(handle)
        nextSequence = UInt32(truncatingIfNeeded: UInt64(MonotonicClock.nanoseconds) & 0x7fff_ffff) | 1
        receiveBuffer = .allocate(byteCount: 256 * 1024, alignment: 8)
        do {
            try setReceiveTimeout(receiveTimeout)
            try setOption(SOL_NETLINK, NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK")
            try setOption(SOL_NETLINK, NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK")
            if strictCheck && netlinkProtocol == .route {
                try setOption(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, "NETLINK_GET_STRICT_CHK")
            }
            if let receiveBufferSize { try setReceiveBufferSize(receiveBufferSize) }
        } catch {
            mnl_socket_close(handle)
            receiveBuffer.deallocate()
            throw error
        }
    }

    deinit {
        mnl_socket_close(handle)
        receiveBuffer.deallocate()
    }

    /// The file descriptor, for polling. Do not close it.
    public var fileDescriptor: Int32 { mnl_socket_get_fd(handle) }

    // MARK: Options

    public func setReceiveTimeout(_ timeout: Duration) throws {
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if seconds == 0 && tv.tv_usec == 0 { tv.tv_usec = 1 }  // 0 would mean "block forever"
        guard setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw NetlinkError.system("setsockopt SO_RCVTIMEO")
        }
    }

    /// Sets the receive buffer, with `SO_RCVBUFFORCE` (root) or else `SO_RCVBUF`.
    public func setReceiveBufferSize(_ bytes: Int) throws {
        var value = Int32(clamping: bytes)
        if setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUFFORCE, &value, 4) == 0 { return }
        guard setsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &value, 4) == 0 else {
            throw NetlinkError.system("setsockopt SO_RCVBUF")
        }
    }

    /// The receive buffer size the kernel reports (twice what was asked).
    public var receiveBufferSize: Int {
        var value: Int32 = 0
        var length = socklen_t(4)
        getsockopt(fileDescriptor, SOL_SOCKET, SO_RCVBUF, &value, &length)
        return Int(value)
    }

    /// Joins multicast group `group` (e.g. `RTNLGRP_IPV4_ROUTE`).
    public func joinGroup(_ group: UInt32) throws {
        try setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, Int32(bitPattern: group), "NETLINK_ADD_MEMBERSHIP \(group)")
    }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32, _ label: String) throws {
        var value = value
        guard setsockopt(fileDescriptor, level, name, &value, 4) == 0 else {
            throw NetlinkError.system("setsockopt \(label)")
        }
    }

    // MARK: Requests

    /// Sends every message of `batch` (many per `sendmsg`) and collects the
    /// kernel's verdict on each one. Failures of individual messages are
    /// returned, not thrown; transport problems (timeout, lost ACKs) throw.
    @discardableResult
    public func execute(
        _ batch: NetlinkBatch, acknowledgement: NetlinkAcknowledgement = .everyMessage
    ) throws -> NetlinkBatchResult {
        return try mutex.withLock { _ in
            var failures: [NetlinkError] = []
            let count = batch.count
            let base = nextSequence
            nextSequence &+= UInt32(truncatingIfNeeded: count) &+ 1
            var first = 0
            while first < count {
                // Choose the chunk [first, end) for one sendmsg.
                var end = first
                let chunkStart = batch.offsets[first]
                let messageLimit = acknowledgement == .everyMessage ? maxAcknowledgedMessagesPerSend : Int.max
                while end < count {
                    let messageEnd = end + 1 < count ? batch.offsets[end + 1] : batch.byteCount
                    if end > first && (messageEnd - chunkStart > maxBytesPerSend || end - first >= messageLimit) { break }
                    end += 1
                }
                for index in first..<end {
                    batch.stamp(index: index, sequence: base &+ UInt32(truncatingIfNeeded: index),
                                acknowledge: acknowledgement == .everyMessage || index == end - 1)
                }
                let chunkEnd = end < count ? batch.offsets[end] : batch.byteCount
                try sendLocked(batch.storage + chunkStart, count: chunkEnd - chunkStart)
                try collectReplies(base: base, range: first..<end, acknowledgement: acknowledgement, failures: &failures,
                                   messageType: batch.messageType(at:))
                first = end
            }
            return NetlinkBatchResult(messageCount: count, failures: failures)
        }
    }

    /// Sends `batch` as one nfnetlink transaction for `subsystem` (e.g.
    /// `NFNL_SUBSYS_NFTABLES`): `NFNL_MSG_BATCH_BEGIN`, the messages and
    /// `NFNL_MSG_BATCH_END` in a single `sendmsg`. The kernel commits all or
    /// nothing, and it processes every message even after one fails, so each
    /// failure comes back with `messageIndex` counting within `batch`.
    @discardableResult
    public func executeTransaction(
        _ batch: NetlinkBatch, subsystem: UInt16, acknowledgement: NetlinkAcknowledgement = .everyMessage
    ) throws -> NetlinkBatchResult {
        try executeTransaction([NetlinkBatchSlice(batch)], subsystem: subsystem, acknowledgement: acknowledgement)
    }

    /// One transaction made of `parts`, in order, as if they were one batch
    /// (`messageIndex` of a failure counts across them). The parts go out
    /// in place, gathered by one `sendmsg`: a full nftables replace is
    /// megabytes, encoded in pieces on several threads, and not worth
    /// copying into one buffer first. Each message is stamped (sequence
    /// number, ACK flag) where it lies, so no message may appear in two
    /// parts.
    @discardableResult
    public func executeTransaction(
        _ parts: [NetlinkBatchSlice], subsystem: UInt16, acknowledgement: NetlinkAcknowledgement = .everyMessage
    ) throws -> NetlinkBatchResult {
        let parts = parts.filter { !$0.messages.isEmpty }
        // sendmsg takes at most IOV_MAX (1024) vectors, two of them the frame.
        if parts.count > 1000 {
            let joined = NetlinkBatch(capacity: parts.reduce(0) { $0 + $1.bytes.count })
            for part in parts { joined.appendMessages(of: part.batch, part.messages) }
            return try executeTransaction([NetlinkBatchSlice(joined)], subsystem: subsystem, acknowledgement: acknowledgement)
        }
        let count = parts.reduce(0) { $0 + $1.messages.count }
        guard count > 0 else { return NetlinkBatchResult(messageCount: 0, failures: []) }
        let frames = NetlinkBatch(capacity: 64)
        for type in [NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END] {
            frames.append(type: UInt16(type)) { message in
                var header = nfgenmsg()
                header.nfgen_family = UInt8(AF_UNSPEC)
                header.version = UInt8(NFNETLINK_V0)
                header.res_id = subsystem.bigEndian
                message.put(header: header)
            }
        }
        let bytes = [frames.messageBytes(at: 0)] + parts.map(\.bytes) + [frames.messageBytes(at: 1)]
        let total = bytes.reduce(0) { $0 + $1.count }
        try ensureSendBuffer(total)

        return try mutex.withLock { _ in
            // Sequence numbers: begin, the messages, end.
            let base = nextSequence
            nextSequence &+= UInt32(truncatingIfNeeded: count) &+ 3
            frames.stamp(index: 0, sequence: base, acknowledge: false)
            var sequence = base
            for part in parts {
                for index in part.messages {
                    sequence &+= 1
                    part.batch.stamp(index: index, sequence: sequence,
                                     acknowledge: acknowledgement == .everyMessage || sequence == base &+ UInt32(count))
                }
            }
            frames.stamp(index: 1, sequence: base &+ UInt32(count + 1), acknowledge: false)
            try sendLocked(bytes, count: total)
            var failures: [NetlinkError] = []
            try collectReplies(base: base &+ 1, range: 0..<count, acknowledgement: acknowledgement, failures: &failures,
                               framing: [-1, count]) { index in
                var index = index
                for part in parts {
                    if index < part.messages.count { return part.batch.messageType(at: part.messages.lowerBound + index) }
                    index -= part.messages.count
                }
                return 0
            }
            return NetlinkBatchResult(messageCount: count, failures: failures)
        }
    }

    private func ensureSendBuffer(_ bytes: Int) throws {
        var current: Int32 = 0
        var length = socklen_t(4)
        getsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUF, &current, &length)
        guard bytes + 64 > Int(current) else { return }
        var wanted = Int32(clamping: bytes * 2 + 4096)
        if setsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUFFORCE, &wanted, 4) != 0 {
            guard setsockopt(fileDescriptor, SOL_SOCKET, SO_SNDBUF, &wanted, 4) == 0 else {
                throw NetlinkError.system("setsockopt SO_SNDBUF")
            }
        }
    }

    /// Executes `batch` and throws the first failure, if any.
    public func perform(_ batch: NetlinkBatch, acknowledgement: NetlinkAcknowledgement = .everyMessage) throws {
        let result = try execute(batch, acknowledgement: acknowledgement)
        if let failure = result.failures.first { throw failure }
    }

    /// Sends one request message and waits for its ACK; throws its error.
    public func request(
        type: UInt16, flags: UInt16 = 0, _ body: (NetlinkMessageWriter) throws -> Void
    ) throws {
        let batch = NetlinkBatch(capacity: 512)
        try batch.append(type: type, flags: flags, body)
        try perform(batch)
    }

    /// Sends a dump request (`NLM_F_DUMP` is added) and calls `handle` for
    /// every reply message until `NLMSG_DONE`. An error reply throws with the
    /// kernel's message; an inconsistent dump (`NLM_F_DUMP_INTR`) is read to
    /// its end and then throws an error whose `isDumpInterrupted` is true.
    public func dump(
        type: UInt16, flags: UInt16 = 0,
        request body: (NetlinkMessageWriter) throws -> Void,
        _ handle: (NetlinkMessage) throws -> Void
    ) throws {
        try transact(type: type, flags: flags | UInt16(NLM_F_DUMP), isDump: true, request: body, handle)
    }

    /// Sends one request that the kernel answers with messages (a `GET` of a
    /// single object, or a request with `NLM_F_ECHO`), calls `handle` for
    /// each, and returns at the request's ACK. An error reply throws.
    public func query(
        type: UInt16, flags: UInt16 = 0,
        request body: (NetlinkMessageWriter) throws -> Void,
        _ handle: (NetlinkMessage) throws -> Void
    ) throws {
        try transact(type: type, flags: flags, isDump: false, request: body, handle)
    }

    private func transact(
        type: UInt16, flags: UInt16, isDump: Bool,
        request body: (NetlinkMessageWriter) throws -> Void,
        _ handle: (NetlinkMessage) throws -> Void
    ) throws {
        let batch = NetlinkBatch(capacity: 512)
        try batch.append(type: type, flags: flags, body)
        return try mutex.withLock { _ in
            let sequence = nextSequence
            nextSequence &+= 1
            batch.stamp(index: 0, sequence: sequence, acknowledge: !isDump)
            try sendLocked(batch.storage, count: batch.byteCount)
            var interrupted = false
            var done = false
            let name = NetlinkMessageNames.name(type, protocol: netlinkProtocol)
            while !done {
                let received = try receiveLocked(operation: "recv \(name)\(isDump ? " dump" : "")")
                try NetlinkMessage.forEach(in: received) { message in
                    guard message.sequence == sequence, !done else { return }
                    if message.flags & UInt16(NLM_F_DUMP_INTR) != 0 { interrupted = true }
                    switch Int32(message.type) {
                    case NLMSG_DONE:
                        done = true
                        if message.payload.count >= 4 {
                            let code = message.payload.loadUnaligned(as: Int32.self)
                            if code < 0 {
                                var error = NetlinkError(.refused, errno: -code, operation: name, messageIndex: 0, sequence: sequence)
                                if message.flags & UInt16(NLM_F_ACK_TLVS) != 0 {
                                    try Self.readExtendedAck(NetlinkAttributes(UnsafeRawBufferPointer(rebasing: message.payload[4...])), into: &error)
                                }
                                throw error
                            }
                        }
                    case NLMSG_ERROR:
                        var error = try Self.parseError(message, operation: name)
                        if error.errno == 0 { done = true; return }
                        error.messageIndex = 0
                        error.sequence = sequence
                        throw error
                    case NLMSG_NOOP, NLMSG_OVERRUN:
                        return
                    default:
                        try handle(message)
                    }
                }
            }
            if interrupted {
                throw NetlinkError(.dumpInterrupted, errno: EINTR, operation: "\(name) dump interrupted", sequence: sequence)
            }
        }
    }

    /// Receives one datagram (waiting at most the receive timeout) and calls
    /// `handle` for each message in it. For monitors: `ENOBUFS` throws an
    /// error whose `isOverrun` is true, meaning notifications were lost.
    public func receive(_ handle: (NetlinkMessage) throws -> Void) throws {
        return try mutex.withLock { _ in
            let received = try receiveLocked(operation: "recv")
            try NetlinkMessage.forEach(in: received, handle)
        }
    }

    /// Reads and discards everything queued, without waiting, and returns
    /// how many datagrams were dropped. After an overrun the kernel drops
    /// *all* multicast traffic silently until the queue has been emptied
    /// once, so a monitor drains first and dumps afterwards: the dump then
    /// covers everything that was lost.
    @discardableResult
    public func drain() -> Int {
        return mutex.withLock { _ in
            var dropped = 0
            while true {
                let received = Syscall.retryingInterrupts { recv(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count, Int32(MSG_DONTWAIT)) }
                if received >= 0 { dropped += 1; continue }
                if errno == ENOBUFS { continue }
                return dropped
            }
        }
    }

    // MARK: Internals

    /// Sends `parts` as one datagram (one `sendmsg`, gathered by the kernel).
    private func sendLocked(_ parts: [UnsafeRawBufferPointer], count: Int) throws {
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        var vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        let sent = withUnsafeMutablePointer(to: &kernel) { address in
            vectors.withUnsafeMutableBufferPointer { iov in
                var message = msghdr()
                message.msg_name = UnsafeMutableRawPointer(address)
                message.msg_namelen = socklen_t(MemoryLayout<sockaddr_nl>.size)
                message.msg_iov = iov.baseAddress
                message.msg_iovlen = iov.count
                return Syscall.retryingInterrupts { sendmsg(fileDescriptor, &message, 0) }
            }
        }
        guard sent == count else {
            throw NetlinkError.system(sent < 0 ? "sendmsg" : "sendmsg (short: \(sent) of \(count))", sent < 0 ? errno : EMSGSIZE)
        }
    }

    private func sendLocked(_ bytes: UnsafeRawPointer, count: Int) throws {
        try sendLocked([UnsafeRawBufferPointer(start: bytes, count: count)], count: count)
    }

    private func receiveLocked(operation: String) throws -> UnsafeRawBufferPointer {
        let received = Syscall.retryingInterrupts { recv(fileDescriptor, receiveBuffer.baseAddress, receiveBuffer.count, 0) }
        guard received >= 0 else { throw NetlinkError.system(operation) }
        return UnsafeRawBufferPointer(rebasing: receiveBuffer[..<received])
    }

    /// Receives every queued datagram (at least one, waiting up to the
    /// receive timeout) with one `recvmmsg`.
    private func receiveManyLocked(operation: String) throws -> [UnsafeRawBufferPointer] {
        let area = multiReceive
        do {
            let count = Syscall.retryingInterrupts { caracal_recvmmsg(fileDescriptor, area.headers, UInt32(area.slots), 1) }
            if count > 0 {
                var result: [UnsafeRawBufferPointer] = []
                result.reserveCapacity(Int(count))
                for index in 0..<Int(count) {
                    let header = area.headers + index
                    if header.pointee.msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 {
                        throw NetlinkError.malformed("reply larger than \(area.slotSize) bytes")
                    }
                    result.append(UnsafeRawBufferPointer(start: area.buffer + index * area.slotSize, count: Int(header.pointee.msg_len)))
                }
                area.reset()
                return result
            }
            throw NetlinkError.system(operation, count < 0 ? errno : EAGAIN)
        }
    }

    /// `messageType` gives the type of the message at an index of `range`
    /// (to name a failure).
    private func collectReplies(
        base: UInt32, range: Range<Int>, acknowledgement: NetlinkAcknowledgement,
        failures: inout [NetlinkError], framing: [Int] = [], messageType: (Int) -> UInt16
    ) throws {
        // With per-message ACKs every index in `range` answers once; otherwise
        // the last one's answer ends the chunk (earlier ones answer only on error).
        var outstanding = acknowledgement == .everyMessage ? range.count : 1
        let last = range.upperBound - 1
        var chunkFailures: [NetlinkError] = []
        while outstanding > 0 {
            let datagrams: [UnsafeRawBufferPointer]
            do {
                if acknowledgement == .everyMessage && outstanding > 1 {
                    datagrams = try receiveManyLocked(operation: "recv acknowledgements")
                } else {
                    datagrams = [try receiveLocked(operation: "recv acknowledgements")]
                }
            } catch let error as NetlinkError where error.isOverrun {
                throw NetlinkError(.overrun, errno: ENOBUFS, operation: "acknowledgements lost: receive buffer overrun",
                                   kernelMessage: "messages \(range.lowerBound)..<\(range.upperBound) have unknown outcome")
            }
            for received in datagrams {
                try NetlinkMessage.forEach(in: received) { message in
                    guard Int32(message.type) == NLMSG_ERROR else { return }
                    let offset = Int(Int32(bitPattern: message.sequence &- base))
                    if framing.contains(offset) {
                        // The transaction frame itself was refused: nothing was applied.
                        var error = try Self.parseError(message, operation: "nfnetlink batch")
                        if error.errno != 0 {
                            error.sequence = message.sequence
                            throw error
                        }
                        return
                    }
                    guard range.contains(offset) else { return }  // stale reply of an abandoned request
                    let name = NetlinkMessageNames.name(messageType(offset), protocol: netlinkProtocol)
                    var error = try Self.parseError(message, operation: name)
                    if acknowledgement == .everyMessage || offset == last { outstanding -= 1 }
                    if error.errno != 0 {
                        error.messageIndex = offset
                        error.sequence = message.sequence
                        chunkFailures.append(error)
                    }
                }
            }
        }
        chunkFailures.sort { ($0.messageIndex ?? 0) < ($1.messageIndex ?? 0) }
        failures += chunkFailures
    }

    /// Decodes an `NLMSG_ERROR` payload: `struct nlmsgerr` (error code and
    /// the request's header), the request's payload unless capped, then the
    /// extended-ack TLVs when `NLM_F_ACK_TLVS` is set.
    static func parseError(_ message: NetlinkMessage, operation: String) throws -> NetlinkError {
        let payload = message.payload
        guard payload.count >= 4 + netlinkHeaderSize else {
            throw NetlinkError.malformed("NLMSG_ERROR payload of \(payload.count) bytes")
        }
        let code = payload.loadUnaligned(as: Int32.self)
        var error = NetlinkError(.refused, errno: code == Int32.min ? EINVAL : -code, operation: operation)
        if code == 0 { return error }
        if message.flags & UInt16(NLM_F_ACK_TLVS) != 0 {
            var offset = 4 + netlinkHeaderSize
            if message.flags & UInt16(NLM_F_CAPPED) == 0 {
                let echoed = Int(payload.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                offset = 4 + netlinkAlign(max(echoed, netlinkHeaderSize))
            }
            if offset < payload.count {
                try readExtendedAck(NetlinkAttributes(UnsafeRawBufferPointer(rebasing: payload[offset...])), into: &error)
            }
        }
        return error
    }

    static func readExtendedAck(_ attributes: NetlinkAttributes, into error: inout NetlinkError) throws {
        try attributes.forEach { attribute in
            switch Int32(attribute.type) {
            case Int32(NLMSGERR_ATTR_MSG.rawValue): error.kernelMessage = attribute.string
            case Int32(NLMSGERR_ATTR_OFFS.rawValue): error.attributeOffset = attribute.u32
            default: break
            }
        }
    }
}

/// Readable names of common message types, for errors and logs.
enum NetlinkMessageNames {
    static func name(_ type: UInt16, protocol: NetlinkProtocol) -> String {
        if `protocol` == .route {
            switch Int32(type) {
            case Int32(RTM_NEWROUTE): return "RTM_NEWROUTE"
            case Int32(RTM_DELROUTE): return "RTM_DELROUTE"
            case Int32(RTM_GETROUTE): return "RTM_GETROUTE"
            case Int32(RTM_NEWLINK): return "RTM_NEWLINK"
            case Int32(RTM_DELLINK): return "RTM_DELLINK"
            case Int32(RTM_GETLINK): return "RTM_GETLINK"
            case Int32(RTM_NEWADDR): return "RTM_NEWADDR"
            case Int32(RTM_DELADDR): return "RTM_DELADDR"
            case Int32(RTM_GETADDR): return "RTM_GETADDR"
            case Int32(RTM_NEWNEIGH): return "RTM_NEWNEIGH"
            case Int32(RTM_DELNEIGH): return "RTM_DELNEIGH"
            case Int32(RTM_GETNEIGH): return "RTM_GETNEIGH"
            default: break
            }
        }
        if `protocol` == .netfilter {
            return "nfnetlink subsystem \(type >> 8) message \(type & 0xff)"
        }
        return "message type \(type)"
    }
}

/// Buffers and headers for `recvmmsg`, allocated once per socket.
final class MultiReceive {
    let slots: Int
    let slotSize: Int
    let buffer: UnsafeMutableRawPointer
    let vectors: UnsafeMutablePointer<iovec>
    let headers: UnsafeMutablePointer<caracal_mmsghdr>

    init(slots: Int, slotSize: Int) {
        self.slots = slots
        self.slotSize = slotSize
        buffer = .allocate(byteCount: slots * slotSize, alignment: 8)
        vectors = .allocate(capacity: slots)
        headers = .allocate(capacity: slots)
        for index in 0..<slots {
            vectors[index] = iovec(iov_base: buffer + index * slotSize, iov_len: slotSize)
        }
        reset()
    }

    /// recvmmsg writes lengths and flags into the headers; restore them.
    func reset() {
        for index in 0..<slots {
            var header = caracal_mmsghdr()
            header.msg_hdr.msg_iov = vectors + index
            header.msg_hdr.msg_iovlen = 1
            headers[index] = header
        }
    }

    deinit {
        buffer.deallocate()
        vectors.deallocate()
        headers.deallocate()
    }
}

