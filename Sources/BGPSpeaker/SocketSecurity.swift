import Glibc
import IPAddressing
import NIOCore

/// Per-session socket options: TCP MD5 signatures (RFC 2385) and the TTL
/// rules (eBGP multihop; GTSM, RFC 5082). Set through NIO's
/// `SocketOptionProvider` before the connection is made, so the SYN is
/// already signed.
enum SocketSecurity {
    /// `struct tcp_md5sig` of linux/tcp.h: the peer's address, flags,
    /// prefix length, key length, interface index and an 80-octet key.
    struct TCPMD5Signature: @unchecked Sendable {
        var address = sockaddr_storage()
        var flags: UInt8 = 0
        var prefixLength: UInt8 = 0
        var keyLength: UInt16 = 0
        var interfaceIndex: Int32 = 0
        var key: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }

    static let tcpMD5Sig: Int32 = 14  // TCP_MD5SIG
    static let ipMinTTL: Int32 = 21  // IP_MINTTL
    static let ipv6MinHopCount: Int32 = 73  // IPV6_MINHOPCOUNT

    static func provider(_ channel: Channel) throws -> SocketOptionProvider {
        guard let p = channel as? SocketOptionProvider else { throw SocketSecurityError.noSocket }
        return p
    }

    static let tcpMD5SigExt: Int32 = 32  // TCP_MD5SIG_EXT
    static let tcpMD5SigFlagPrefix: UInt8 = 1  // TCP_MD5SIG_FLAG_PREFIX

    /// Installs `key` for `peer` on a listening or connecting socket; with
    /// `prefixLength`, for every address of that prefix (TCP_MD5SIG_EXT with
    /// TCP_MD5SIG_FLAG_PREFIX: a listener's key for a dynamic neighbour
    /// range). An IPv4 peer on an IPv6 (dual-stack) socket is given as
    /// v4-mapped, as the kernel wants it there.
    static func setMD5(on channel: Channel, peer: IPAddress, prefixLength: Int? = nil, key: String, ipv6Socket: Bool? = nil) throws {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= 80 else { throw SocketSecurityError.badKey }
        try setMD5(on: channel, peer: peer, prefixLength: prefixLength, keyBytes: bytes, ipv6Socket: ipv6Socket)
    }

    /// Removes the key for `peer` (or the prefix) from a listening socket
    /// (a key length of 0 deletes it).
    static func removeMD5(on channel: Channel, peer: IPAddress, prefixLength: Int? = nil, ipv6Socket: Bool? = nil) throws {
        try setMD5(on: channel, peer: peer, prefixLength: prefixLength, keyBytes: [], ipv6Socket: ipv6Socket)
    }

    private static func setMD5(on channel: Channel, peer: IPAddress, prefixLength: Int?, keyBytes bytes: [UInt8], ipv6Socket: Bool?) throws {
        var sig = TCPMD5Signature()
        sig.keyLength = UInt16(bytes.count)
        withUnsafeMutableBytes(of: &sig.key) { raw in raw.copyBytes(from: bytes) }
        let mapped = (ipv6Socket ?? !peer.isIPv4) && peer.isIPv4
        withUnsafeMutableBytes(of: &sig.address) { raw in
            switch peer {
            case .v4(let a) where !mapped:
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_addr.s_addr = a.value.bigEndian
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
            case .v4(let a):
                // ::ffff:a.b.c.d
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { addr in
                    addr[10] = 0xFF
                    addr[11] = 0xFF
                    withUnsafeBytes(of: a.value.bigEndian) { (addr.baseAddress! + 12).copyMemory(from: $0.baseAddress!, byteCount: 4) }
                }
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            case .v6(let a):
                var sin6 = sockaddr_in6()
                sin6.sin6_family = sa_family_t(AF_INET6)
                withUnsafeMutableBytes(of: &sin6.sin6_addr) { addr in
                    withUnsafeBytes(of: a.high.bigEndian) { addr.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
                    withUnsafeBytes(of: a.low.bigEndian) { (addr.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
                }
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            }
        }
        var option = tcpMD5Sig
        if let prefixLength {
            option = tcpMD5SigExt
            sig.flags = tcpMD5SigFlagPrefix
            sig.prefixLength = UInt8(prefixLength)
        }
        _ = try provider(channel).unsafeSetSocketOption(level: SocketOptionLevel(IPPROTO_TCP), name: option, value: sig)
    }

    /// What a peer's configuration asks of its socket.
    static func apply(to channel: Channel, peer: PeerConfiguration) throws {
        if let key = peer.password { try setMD5(on: channel, peer: peer.address, key: key) }
        let p = try provider(channel)
        let v4 = peer.address.isIPv4
        let level = SocketOptionLevel(v4 ? IPPROTO_IP : IPPROTO_IPV6)
        if peer.ttlSecurity {
            // RFC 5082: send with TTL 255, accept only 255 − (hops − 1).
            _ = p.unsafeSetSocketOption(level: level, name: v4 ? IP_TTL : IPV6_UNICAST_HOPS, value: Int32(255))
            _ = p.unsafeSetSocketOption(level: level, name: v4 ? ipMinTTL : ipv6MinHopCount, value: Int32(255 - (peer.ttl - 1)))
        } else if peer.ttl > 1 {
            _ = p.unsafeSetSocketOption(level: level, name: v4 ? IP_TTL : IPV6_UNICAST_HOPS, value: Int32(peer.ttl))
        }
    }
}

enum SocketSecurityError: Error { case noSocket, badKey }
