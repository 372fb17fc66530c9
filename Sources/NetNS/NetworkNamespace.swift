import CSystemShim
#if canImport(Glibc)
import Glibc
#endif

/// An error from a namespace operation, carrying the failing call and errno.
public struct NetNSError: Error, CustomStringConvertible, Equatable, Sendable {
    public var operation: String
    public var errno: Int32
    public var path: String?

    public init(operation: String, errno: Int32, path: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.path = path
    }

    public var description: String {
        let target = path.map { " \($0)" } ?? ""
        return "\(operation)\(target): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// A network namespace, named by a path to its nsfs inode: `/run/netns/NAME`
/// for namespaces made by `ip netns add`, or `/proc/PID/ns/net`.
///
/// `setns(2)` switches only the calling thread, and Swift concurrency moves
/// tasks between threads, so work inside a namespace never happens on a
/// shared thread: `perform` starts a short-lived pthread, enters the
/// namespace there, runs the body, and joins. Sockets opened inside the body
/// stay bound to the namespace and may be used from any thread afterwards.
public struct NetworkNamespace: Hashable, Sendable, CustomStringConvertible {
    public let path: String

    public init(path: String) { self.path = path }

    /// The namespace `ip netns add NAME` created.
    public static func named(_ name: String) -> NetworkNamespace {
        NetworkNamespace(path: "/run/netns/\(name)")
    }

    /// The namespace of process `pid`.
    public static func ofProcess(_ pid: Int32) -> NetworkNamespace {
        NetworkNamespace(path: "/proc/\(pid)/ns/net")
    }

    public var description: String { path }

    /// Whether the path exists and can be opened.
    public var exists: Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return false }
        close(fd)
        return true
    }

    /// Whether the path is a network namespace (not just any file, nor a
    /// namespace of another type).
    public var isNetworkNamespace: Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return false }
        defer { close(fd) }
        return caracal_is_netns_fd(fd) == 1
    }

    /// The namespace the calling process runs in.
    public static let current = NetworkNamespace(path: "/proc/self/ns/net")

    /// Whether both paths name one namespace (the same nsfs inode).
    public func isSame(as other: NetworkNamespace) -> Bool {
        var a = stat()
        var b = stat()
        guard stat(path, &a) == 0, stat(other.path, &b) == 0 else { return false }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    /// Runs `body` on a fresh thread that has entered this namespace, and
    /// returns its result. The thread exits afterwards, so no thread is ever
    /// left in a foreign namespace.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetNSError(operation: "open", errno: errno, path: path) }
        defer { close(fd) }
        return try withoutActuallyEscaping(body) { escapable in
            try ThreadRunner.run {
                guard caracal_setns_net(fd) == 0 else {
                    throw NetNSError(operation: "setns", errno: errno, path: path)
                }
                return try escapable()
            }
        }
    }
}
