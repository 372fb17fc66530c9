import ClusterModel
import CMnl

/// Everything the Netlink module can decode from a received message.
public enum DecodedNetlinkMessage {
    case route(Route?)
    case link(Link)
    case address(InterfaceAddress?)
    case neighbor(Neighbor?)
    case error(NetlinkError)
    case conntrack(ConntrackEntry)
    case other(UInt16)
}

/// Entry points for fuzzing the decoders (Fuzz/FuzzNetlink).
public enum NetlinkFuzzing {
    /// Decodes `message` with the decoder for its type (rtnetlink numbering).
    public static func decodeAny(_ message: NetlinkMessage) throws -> DecodedNetlinkMessage {
        switch Int(message.type) {
        case Int(RTM_NEWROUTE), Int(RTM_DELROUTE): return .route(try Route.decode(message))
        case Int(RTM_NEWLINK), Int(RTM_DELLINK): return .link(try Link.decode(message))
        case Int(RTM_NEWADDR), Int(RTM_DELADDR): return .address(try InterfaceAddress.decode(message))
        case Int(RTM_NEWNEIGH), Int(RTM_DELNEIGH): return .neighbor(try Neighbor.decode(message))
        case Int(NLMSG_ERROR): return .error(try NetlinkSocket.parseError(message, operation: "fuzz"))
        case Int(ConntrackTable.messageType(IPCTNL_MSG_CT_NEW)): return .conntrack(try ConntrackEntry.decode(message))
        default: return .other(message.type)
        }
    }
}
