import ClusterModel
import CMnl
import CSystemShim
import NetNS
#if canImport(Glibc)
import Glibc
#endif

/// A change the kernel announced on an rtnetlink multicast group.
public enum NetworkEvent: Sendable, Hashable {
    case routeAdded(Route)
    case routeRemoved(Route)
    case linkChanged(Link)
    case linkRemoved(Link)
    /// Notifications were lost (the socket's queue overflowed with
    /// `ENOBUFS`): the receiver must dump the state again.
    case resyncRequired
}

/// The rtnetlink multicast groups a monitor can join.
public struct RTNetlinkGroup: Hashable, Sendable {
    public var rawValue: UInt32
    public static let link = RTNetlinkGroup(rawValue: UInt32(RTNLGRP_LINK.rawValue))
    public static let ipv4Route = RTNetlinkGroup(rawValue: UInt32(RTNLGRP_IPV4_ROUTE.rawValue))
    public static let ipv6Route = RTNetlinkGroup(rawValue: UInt32(RTNLGRP_IPV6_ROUTE.rawValue))
}

/// Subscribes to route and link changes in one namespace. Lost
/// notifications never fail the monitor: they surface as `.resyncRequired`.
///
/// `next` blocks in poll(2) until the kernel sends something or `stop()`
/// is called: the monitor is woken by its socket, never by a timer.
public final class RTNetlinkMonitor: Sendable {
    public let socket: NetlinkSocket
    /// An eventfd that `stop()` makes readable.
    private let wake: Int32

    /// - Parameter receiveBufferSize: the socket's queue; a burst larger than
    ///   this overflows into `.resyncRequired`.
    public init(
        namespace: NetworkNamespace? = nil,
        groups: [RTNetlinkGroup] = [.link, .ipv4Route, .ipv6Route],
        receiveBufferSize: Int? = 4 << 20
    ) throws {
        socket = try NetlinkSocket(.route, namespace: namespace, receiveBufferSize: receiveBufferSize)
        for group in groups { try socket.joinGroup(group.rawValue) }
        wake = caracal_wake_fd()
        guard wake >= 0 else { throw NetlinkError.system("eventfd") }
    }

    deinit { close(wake) }

    /// Wakes a `next` that is waiting (and every later one) with no events.
    public func stop() {
        var one: UInt64 = 1
        _ = Syscall.retryingInterrupts { write(wake, &one, 8) }
    }

    /// Whether `stop()` was called.
    public var isStopped: Bool {
        var fd = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        return poll(&fd, 1, 0) == 1
    }

    /// Waits for one batch of notifications: returns them, `[]` when the
    /// monitor was stopped or `timeout` passed first, and
    /// `[.resyncRequired]` after an overrun (the queue has then been
    /// drained: dump to catch up).
    public func next(timeout: Duration? = nil) throws -> [NetworkEvent] {
        var fds = [pollfd(fd: socket.fileDescriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        let milliseconds = timeout.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        let ready = Syscall.retryingInterrupts { poll(&fds, 2, milliseconds) }
        guard ready >= 0 else { throw NetlinkError.system("poll") }
        if ready == 0 || fds[1].revents != 0 { return [] }
        var events: [NetworkEvent] = []
        do {
            try socket.receive { message in
                switch Int(message.type) {
                case Int(RTM_NEWROUTE):
                    if let route = try Route.decode(message) { events.append(.routeAdded(route)) }
                case Int(RTM_DELROUTE):
                    if let route = try Route.decode(message) { events.append(.routeRemoved(route)) }
                case Int(RTM_NEWLINK):
                    events.append(.linkChanged(try Link.decode(message)))
                case Int(RTM_DELLINK):
                    events.append(.linkRemoved(try Link.decode(message)))
                default:
                    break
                }
            }
        } catch let error as NetlinkError where error.isOverrun {
            // Until the queue is empty again the kernel drops every
            // notification without a further ENOBUFS, so empty it now; a
            // dump taken after this sees everything that was lost.
            socket.drain()
            return [.resyncRequired]
        }
        return events
    }

    /// The notifications as an async stream for the agent: a dedicated
    /// thread blocks in `next` and yields each batch; the stream ends (and
    /// the thread with it) when the consumer stops iterating or `stop()`
    /// is called, and finishes with the error if the socket fails.
    public func events() -> AsyncThrowingStream<[NetworkEvent], Error> {
        AsyncThrowingStream { continuation in
            continuation.onTermination = { [self] _ in stop() }
            do {
                try BackgroundTask.detached { [self] in
                    do {
                        while !isStopped {
                            let batch = try next()
                            if !batch.isEmpty { continuation.yield(batch) }
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}
