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

    /// Installs `key` for `peer` on a listening or connecting socket.
    static func setMD5(on channel: Channel, peer: IPAddress, key: String) throws {
        var sig = TCPMD5Signature()
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= 80 else { throw SocketSecurityError.badKey }
        sig.keyLength = UInt16(bytes.count)
        withUnsafeMutableBytes(of: &sig.key) { raw in raw.copyBytes(from: bytes) }
        withUnsafeMutableBytes(of: &sig.address) { raw in
            switch peer {
            case .v4(let a):
                var sin = sockaddr_in()
                sin.sin_family = sa_family_t(AF_INET)
                sin.sin_addr.s_addr = a.value.bigEndian
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
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
        _ = try provider(channel).unsafeSetSocketOption(level: SocketOptionLevel(IPPROTO_TCP), name: tcpMD5Sig, value: sig)
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
