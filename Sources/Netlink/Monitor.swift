import CMnl
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
public final class RTNetlinkMonitor: Sendable {
    public let socket: NetlinkSocket

    /// - Parameter receiveBufferSize: the socket's queue; a burst larger than
    ///   this overflows into `.resyncRequired`.
    public init(
        namespace: NetworkNamespace? = nil,
        groups: [RTNetlinkGroup] = [.link, .ipv4Route, .ipv6Route],
        receiveBufferSize: Int? = 4 << 20,
        pollInterval: Duration = .milliseconds(200)
    ) throws {
        socket = try NetlinkSocket(.route, namespace: namespace, receiveTimeout: pollInterval,
                                   receiveBufferSize: receiveBufferSize)
        for group in groups { try socket.joinGroup(group.rawValue) }
    }

    /// Waits up to the poll interval for one batch of notifications. Returns
    /// an empty array when nothing arrived.
    public func next() throws -> [NetworkEvent] {
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
        } catch let error as NetlinkError where error.isTimeout {
            return []
        } catch let error as NetlinkError where error.isOverrun {
            return [.resyncRequired]
        }
        return events
    }
}
