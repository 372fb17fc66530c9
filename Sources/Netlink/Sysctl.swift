import NetNS
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Per-interface sysctls under `/proc/sys/net`, read and written in a
/// namespace. `/proc/sys/net` shows the network namespace of the *thread*
/// that opens the file (the kernel resolves it from `current`), so each
/// access runs on a short-lived thread that entered the namespace
/// (`NetworkNamespace.perform`); the process's own threads never move.
public struct InterfaceSysctl: Hashable, Sendable, CustomStringConvertible {
    /// The path below `/proc/sys/net/`, with `%` standing for the interface.
    public let template: String

    public static let ipv4Forwarding = InterfaceSysctl(template: "ipv4/conf/%/forwarding")
    public static let ipv4ProxyARP = InterfaceSysctl(template: "ipv4/conf/%/proxy_arp")
    public static let ipv4RPFilter = InterfaceSysctl(template: "ipv4/conf/%/rp_filter")
    public static let ipv6Forwarding = InterfaceSysctl(template: "ipv6/conf/%/forwarding")
    public static let ipv6AcceptDAD = InterfaceSysctl(template: "ipv6/conf/%/accept_dad")
    public static let ipv6AcceptRA = InterfaceSysctl(template: "ipv6/conf/%/accept_ra")
    public static let ipv6Disable = InterfaceSysctl(template: "ipv6/conf/%/disable_ipv6")

    public var description: String { "net." + template.replacingOccurrences(of: "/", with: ".") }

    /// The file for `interface` ("all" and "default" are valid too).
    public func path(interface: String) throws -> String {
        guard Self.isValidInterfaceName(interface) else {
            throw NetlinkError(.invalidArgument, errno: EINVAL, operation: "sysctl \(self)", kernelMessage: "invalid interface name \"\(interface)\"")
        }
        return "/proc/sys/net/" + template.replacingOccurrences(of: "%", with: interface)
    }

    /// Linux interface names: 1–15 bytes, no '/', no whitespace, not "." or "..".
    static func isValidInterfaceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != ".." else { return false }
        return !bytes.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 32 || $0 == 127 }
    }

    /// Writes `value` for `interface` inside `namespace` (nil: the caller's).
    public func write(_ value: String, interface: String, namespace: NetworkNamespace?) throws {
        let path = try path(interface: interface)
        try Self.inNamespace(namespace) {
            try Self.withFile(path, .writeOnly) { fd in
                do { _ = try fd.writeAll((value + "\n").utf8) } catch let e as Errno {
                    throw NetlinkError.system("write \(path)", e.rawValue)
                }
            }
        }
    }

    /// Reads the value for `interface` inside `namespace`, without the trailing newline.
    public func read(interface: String, namespace: NetworkNamespace?) throws -> String {
        let path = try path(interface: interface)
        return try Self.inNamespace(namespace) {
            try Self.withFile(path, .readOnly) { fd in
                var buffer = [UInt8](repeating: 0, count: 256)
                let count: Int
                do { count = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) } } catch let e as Errno {
                    throw NetlinkError.system("read \(path)", e.rawValue)
                }
                return String(decoding: buffer[..<count], as: UTF8.self).trimmingSuffix("\n")
            }
        }
    }

    /// Opens `path` with swift-system (which retries EINTR), runs `body`,
    /// closes it; a failed open is a `NetlinkError` naming the path.
    private static func withFile<T>(_ path: String, _ mode: FileDescriptor.AccessMode, _ body: (FileDescriptor) throws -> T) throws -> T {
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(path), mode, options: .closeOnExec) } catch let e as Errno {
            throw NetlinkError.system("open \(path)", e.rawValue)
        }
        return try fd.closeAfter { try body(fd) }
    }

    private static func inNamespace<T>(_ namespace: NetworkNamespace?, _ body: () throws -> T) throws -> T {
        guard let namespace else { return try body() }
        do {
            return try namespace.perform(body)
        } catch let error as NetNSError {
            throw NetlinkError(.system, errno: error.errno, operation: "\(error.operation) \(namespace.path)")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        var copy = self
        while copy.hasSuffix(suffix) { copy.removeLast(suffix.count) }
        return copy
    }

    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
