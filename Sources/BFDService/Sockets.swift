#if canImport(Glibc)
import Glibc
#endif
import IPAddressing
import NetNS

/// Why BFD has its own small socket layer instead of SwiftNIO's
/// `DatagramBootstrap`: RFC 5881 §5 requires dropping single-hop packets
/// whose TTL / hop limit is not 255, and NIO's datagram channel parses only
/// the ECN and packet-info control messages (`AddressedEnvelope.Metadata`
/// has `ecnState` and `packetInfo`, no TTL). `IP_RECVTTL` and
/// `IPV6_RECVHOPLIMIT` deliver the TTL as a control message that only
/// `recvmsg` sees, and a `IP_MINTTL`-style kernel filter would drop the
/// packets without letting us count them. So: plain sockets, `recvmsg` on a
/// dedicated thread, and sends with `MSG_DONTWAIT` from the event loop.
enum LinuxSocket {
    // <linux/in.h>, <linux/in6.h> (some are GNU-only in glibc's headers).
    static let ipTTL: Int32 = 2
    static let ipPktInfo: Int32 = 8
    static let ipRecvTTL: Int32 = 12
    static let ipv6UnicastHops: Int32 = 16
    static let ipv6V6Only: Int32 = 26
    static let ipv6RecvPktInfo: Int32 = 49
    static let ipv6PktInfo: Int32 = 50
    static let ipv6RecvHopLimit: Int32 = 51
    static let ipv6HopLimit: Int32 = 52

    static func setInt(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws(BFDSocketError) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw BFDSocketError(operation: "setsockopt(\(level), \(name))", errno: errno)
        }
    }

    /// A sockaddr for `address`:`port`, handed to `body`.
    static func withSockaddr<T>(_ address: IPAddress, port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        switch address {
        case .v4(let a):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr.s_addr = a.value.bigEndian
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(let a):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in for (i, b) in a.bytes.enumerated() { raw[i] = b } }
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    static func open(v4: Bool) throws(BFDSocketError) -> Int32 {
        let fd = socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BFDSocketError(operation: "socket", errno: errno) }
        return fd
    }
}

public struct BFDSocketError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// One datagram as `recvmsg` gave it.
struct ReceivedDatagram: Sendable {
    var bytes: [UInt8]
    var source: IPAddress
    var sourcePort: UInt16
    /// The packet's destination (IP_PKTINFO / IPV6_PKTINFO).
    var destination: IPAddress?
    /// TTL or hop limit (nil if the kernel gave none).
    var ttl: Int?
    /// Arrived on the multihop port (RFC 5883).
    var multihop = false
}

/// The listening socket of one family on the BFD port, with TTL and
/// destination delivered per packet.
final class BFDReceiveSocket: @unchecked Sendable {
    let fd: Int32
    let v4: Bool
    let multihop: Bool

    init(v4: Bool, port: UInt16, multihop: Bool = false) throws(BFDSocketError) {
        self.v4 = v4
        self.multihop = multihop
        fd = try LinuxSocket.open(v4: v4)
        do throws(BFDSocketError) {
            try LinuxSocket.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            // Room for bursts (many sessions, a flood of junk): 4 MB, past
            // rmem_max when root may (SO_RCVBUFFORCE), else what it allows.
            if (try? LinuxSocket.setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)) == nil {
                try? LinuxSocket.setInt(fd, SOL_SOCKET, SO_RCVBUF, 4 << 20)
            }
            if v4 {
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IP), LinuxSocket.ipRecvTTL, 1)
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IP), LinuxSocket.ipPktInfo, 1)
            } else {
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IPV6), LinuxSocket.ipv6V6Only, 1)
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IPV6), LinuxSocket.ipv6RecvHopLimit, 1)
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IPV6), LinuxSocket.ipv6RecvPktInfo, 1)
            }
            let any: IPAddress = v4 ? .v4(IPv4Address(0)) : .v6(IPv6Address(high: 0, low: 0))
            let rc = LinuxSocket.withSockaddr(any, port: port) { bind(fd, $0, $1) }
            guard rc == 0 else { throw BFDSocketError(operation: "bind \(any) port \(port)", errno: errno) }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit {
        Glibc.close(fd)
        buffer.deallocate()
        control.deallocate()
    }

    /// Reused by `receive` (one reader thread per socket).
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
    private let control = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)

    /// The next datagram, or nil when none is waiting (EAGAIN).
    func receive() -> ReceivedDatagram? {
        var name = sockaddr_storage()
        var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
        var msg = msghdr()
        let n = withUnsafeMutablePointer(to: &name) { namePtr in
            withUnsafeMutablePointer(to: &iov) { iovPtr in
                msg.msg_name = UnsafeMutableRawPointer(namePtr)
                msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                msg.msg_iov = iovPtr
                msg.msg_iovlen = 1
                msg.msg_control = control.baseAddress
                msg.msg_controllen = control.count
                return Syscall.retryingInterrupts { recvmsg(fd, &msg, 0) }
            }
        }
        guard n >= 0, let (source, port) = Self.address(of: &name) else { return nil }
        var datagram = ReceivedDatagram(bytes: Array(buffer[0..<n]), source: source, sourcePort: port, multihop: multihop)
        Self.parseControl(UnsafeRawBufferPointer(rebasing: control[0..<min(control.count, Int(msg.msg_controllen))]), into: &datagram)
        return datagram
    }

    static func address(of storage: inout sockaddr_storage) -> (IPAddress, UInt16)? {
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: &storage) { raw in
            switch family {
            case AF_INET:
                let sa = raw.load(as: sockaddr_in.self)
                return (.v4(IPv4Address(UInt32(bigEndian: sa.sin_addr.s_addr))), UInt16(bigEndian: sa.sin_port))
            case AF_INET6:
                let sa = raw.load(as: sockaddr_in6.self)
                let bytes = withUnsafeBytes(of: sa.sin6_addr) { Array($0) }
                guard let a = IPAddress(bytes: bytes) else { return nil }
                // A v4-mapped source never reaches a V6ONLY socket.
                return (a, UInt16(bigEndian: sa.sin6_port))
            default:
                return nil
            }
        }
    }

    /// Walks the control messages by hand (CMSG_* are macros Swift cannot
    /// import): cmsghdr is {size_t len; int level; int type}, data aligned
    /// to size_t.
    static func parseControl(_ raw: UnsafeRawBufferPointer, into d: inout ReceivedDatagram) {
        let header = MemoryLayout<Int>.size + 8
        let align = MemoryLayout<Int>.size
        var offset = 0
        do {
            while offset + header <= raw.count {
                let len = raw.loadUnaligned(fromByteOffset: offset, as: Int.self)
                let level = raw.loadUnaligned(fromByteOffset: offset + align, as: Int32.self)
                let type = raw.loadUnaligned(fromByteOffset: offset + align + 4, as: Int32.self)
                guard len >= header, offset + len <= raw.count else { return }
                let data = offset + header
                let dataLength = len - header
                switch (level, type) {
                case (Int32(IPPROTO_IP), LinuxSocket.ipTTL) where dataLength >= 4,
                     (Int32(IPPROTO_IPV6), LinuxSocket.ipv6HopLimit) where dataLength >= 4:
                    d.ttl = Int(raw.loadUnaligned(fromByteOffset: data, as: Int32.self))
                case (Int32(IPPROTO_IP), LinuxSocket.ipPktInfo) where dataLength >= 12:
                    // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
                    d.destination = IPAddress(bytes: raw[(data + 8)..<(data + 12)])
                case (Int32(IPPROTO_IPV6), LinuxSocket.ipv6PktInfo) where dataLength >= 20:
                    // struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
                    d.destination = IPAddress(bytes: raw[data..<(data + 16)])
                default: break
                }
                offset += (len + align - 1) / align * align
            }
        }
    }
}

/// A session's sending socket: bound to the session's local address and a
/// source port of its own from 49152–65535 (RFC 5881 §4), TTL / hop limit
/// 255 (§5).
final class BFDSendSocket: @unchecked Sendable {
    let fd: Int32
    let sourcePort: UInt16

    static let sourcePorts: ClosedRange<UInt16> = 49152...65535

    /// Tries ports from `startingAt` on, wrapping, until one binds.
    init(local: IPAddress, startingAt: UInt16) throws(BFDSocketError) {
        fd = try LinuxSocket.open(v4: local.isIPv4)
        do throws(BFDSocketError) {
            if local.isIPv4 {
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IP), LinuxSocket.ipTTL, 255)
            } else {
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IPV6), LinuxSocket.ipv6V6Only, 1)
                try LinuxSocket.setInt(fd, Int32(IPPROTO_IPV6), LinuxSocket.ipv6UnicastHops, 255)
            }
            // Nothing is read from it: a small receive buffer.
            try LinuxSocket.setInt(fd, SOL_SOCKET, SO_RCVBUF, 256)
            let count = Int(Self.sourcePorts.count)
            var port = startingAt
            let fd = self.fd
            for _ in 0..<count {
                if LinuxSocket.withSockaddr(local, port: port, { bind(fd, $0, $1) }) == 0 {
                    sourcePort = port
                    return
                }
                guard errno == EADDRINUSE else { throw BFDSocketError(operation: "bind \(local) port \(port)", errno: errno) }
                port = port == Self.sourcePorts.upperBound ? Self.sourcePorts.lowerBound : port + 1
            }
            throw BFDSocketError(operation: "bind \(local): every source port 49152-65535 is in use", errno: EADDRINUSE)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }

    /// Never blocks (the event loop calls it); false on any error.
    func send(_ bytes: [UInt8], to peer: IPAddress, port: UInt16) -> Bool {
        let n = bytes.withUnsafeBytes { buf in
            LinuxSocket.withSockaddr(peer, port: port) { sa, len in
                Syscall.retryingInterrupts { sendto(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT), sa, len) }
            }
        }
        return n == bytes.count
    }
}
