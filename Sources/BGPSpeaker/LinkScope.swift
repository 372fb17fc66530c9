import Glibc
import IPAddressing
import NIOCore

/// IPv6 link-local peers (`fe80::1%eth0`, unnumbered fabrics): an address
/// means something only with its interface, its scope (RFC 4007 §11). The
/// interface is looked up by name in the agent's network namespace (the
/// process runs inside it) each time a socket is made, so an interface that
/// appears later, or is re-created with another index, is found.
enum LinkScope {
    /// The interface's index, or nil when there is none by that name.
    static func index(of interface: String) -> UInt32? {
        let i = if_nametoindex(interface)
        return i == 0 ? nil : i
    }

    /// The interface's name for an index (a dynamic neighbour's scope).
    static func name(of index: UInt32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE))
        guard if_indextoname(index, &buffer) != nil else { return nil }
        return String(cString: buffer)
    }

    /// A socket address with its scope: `sin6_scope_id` for a link-local
    /// IPv6 address on `interface`.
    static func socketAddress(_ address: IPAddress, port: Int, interface: String?) throws -> SocketAddress {
        guard let interface, case .v6(let a) = address, a.isLinkLocal else {
            return try SocketAddress(ipAddress: address.description, port: port)
        }
        guard let index = index(of: interface) else { throw LinkScopeError.noInterface(interface) }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = in_port_t(UInt16(port).bigEndian)
        sin6.sin6_scope_id = index
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
            withUnsafeBytes(of: a.high.bigEndian) { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 8) }
            withUnsafeBytes(of: a.low.bigEndian) { (raw.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: 8) }
        }
        return SocketAddress(sin6, host: address.description)
    }

    /// The scope of a connection's address: the interface index of an IPv6
    /// link-local one, nil otherwise.
    static func scope(of address: SocketAddress?) -> UInt32? {
        guard case .v6(let a)? = address, a.address.sin6_scope_id != 0 else { return nil }
        return a.address.sin6_scope_id
    }

    /// The first global IPv6 address on an interface (RFC 2545 §3: the
    /// global next hop sent beside the link-local one), nil when it has none.
    static func globalIPv6(on interface: String) -> IPv6Address? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var found: [IPv6Address] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET6),
                  String(cString: entry.pointee.ifa_name) == interface else { continue }
            let a = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { raw in
                    IPv6Address(high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                                low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
            }
            if !a.isLinkLocal, !a.isLoopback, !a.isMulticast, !a.isUnspecified { found.append(a) }
        }
        return found.min()
    }
}

enum LinkScopeError: Error, CustomStringConvertible {
    case noInterface(String)
    var description: String {
        switch self {
        case .noInterface(let name): "no interface \(name) in this network namespace"
        }
    }
}
