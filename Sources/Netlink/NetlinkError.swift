#if canImport(Glibc)
import Glibc
#endif

/// A failed netlink operation: the errno, the kernel's extended-ack message
/// when it sent one (for example "Nexthop device is not up"), and which
/// message of a request or batch failed.
public struct NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; callers decide by it, never by text.
    public enum Kind: Sendable, Hashable {
        /// The kernel refused a request (an `NLMSG_ERROR` carrying `errno`).
        case refused
        /// A system call failed (socket, sendmsg, recv, a sysctl file).
        case system
        /// No reply arrived within the socket's receive timeout.
        case timeout
        /// The socket's receive queue overflowed (ENOBUFS): messages were
        /// lost and the caller must resynchronise from a dump.
        case overrun
        /// A dump changed while it was being read (`NLM_F_DUMP_INTR`).
        case dumpInterrupted
        /// Bytes that do not decode as the message they claim to be.
        case malformed
        /// An argument the call refused before reaching the kernel.
        case invalidArgument
    }

    public var kind: Kind
    /// The positive errno (`EEXIST`, `ENODEV`, ...).
    public var errno: Int32
    /// What failed: a syscall name ("sendto", "recvfrom", "setsockopt SO_RCVTIMEO")
    /// or the name of the request message ("RTM_NEWROUTE").
    public var operation: String
    /// The kernel's extended-ack text (`NLMSGERR_ATTR_MSG`), if any.
    public var kernelMessage: String?
    /// Offset of the offending attribute inside the failed message
    /// (`NLMSGERR_ATTR_OFFS`), if the kernel named one.
    public var attributeOffset: UInt32?
    /// Index of the failed message within its batch (0 for single requests).
    public var messageIndex: Int?
    /// Sequence number of the failed message.
    public var sequence: UInt32?

    public init(
        _ kind: Kind, errno: Int32, operation: String, kernelMessage: String? = nil,
        attributeOffset: UInt32? = nil, messageIndex: Int? = nil, sequence: UInt32? = nil
    ) {
        self.kind = kind
        self.errno = errno
        self.operation = operation
        self.kernelMessage = kernelMessage
        self.attributeOffset = attributeOffset
        self.messageIndex = messageIndex
        self.sequence = sequence
    }

    /// A reply did not arrive within the socket's receive timeout.
    public var isTimeout: Bool { kind == .timeout }
    /// The socket's receive queue overflowed: notifications or replies were
    /// lost and the caller must resynchronise from a dump.
    public var isOverrun: Bool { kind == .overrun }
    /// A dump changed while it was being read (`NLM_F_DUMP_INTR`); retry it.
    public var isDumpInterrupted: Bool { kind == .dumpInterrupted }

    public var description: String {
        var text = "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
        if let kernelMessage { text += ": \(kernelMessage)" }
        if let messageIndex { text += " [message \(messageIndex)" + (sequence.map { ", seq \($0)" } ?? "") + "]" }
        if let attributeOffset { text += " [attribute at offset \(attributeOffset)]" }
        return text
    }

    /// A failed system call; a receive that timed out or overran gets its
    /// own kind.
    static func system(_ call: String, _ code: Int32 = Glibc.errno) -> NetlinkError {
        let kind: Kind = switch code {
        case EAGAIN, EWOULDBLOCK: .timeout
        case ENOBUFS: .overrun
        default: .system
        }
        return NetlinkError(kind, errno: code, operation: call)
    }

    static func malformed(_ what: String) -> NetlinkError {
        NetlinkError(.malformed, errno: EBADMSG, operation: "parse", kernelMessage: what)
    }
}
