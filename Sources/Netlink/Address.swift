import ClusterModel
import CMnl
import IPAddressing
#if canImport(Glibc)
import Glibc
#endif

/// An address assigned to an interface (`RTM_NEWADDR`).
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    public var interfaceIndex: UInt32
    public var address: IPAddress
    public var prefixLength: UInt8
    public var scope: RouteScope
    /// `IFA_F_*` flags (`IFA_F_NODAD`, `IFA_F_NOPREFIXROUTE`, `IFA_F_PERMANENT`, ...).
    public var flags: UInt32

    public init(interfaceIndex: UInt32, address: IPAddress, prefixLength: UInt8,
                scope: RouteScope = .universe, flags: UInt32 = 0) {
        self.interfaceIndex = interfaceIndex
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
        self.flags = flags
    }

    /// `IFA_F_NODAD`: skip IPv6 duplicate address detection (the address is
    /// usable at once instead of "tentative" for a second or more).
    public static let noDAD = UInt32(IFA_F_NODAD)
    /// `IFA_F_NOPREFIXROUTE`: do not add the connected prefix route.
    public static let noPrefixRoute = UInt32(IFA_F_NOPREFIXROUTE)

    public var description: String { "\(address)/\(prefixLength) dev #\(interfaceIndex)" }

    static func decode(_ message: NetlinkMessage) throws -> InterfaceAddress? {
        let header = try message.header(as: ifaddrmsg.self)
        var local: IPAddress? = nil
        var address: IPAddress? = nil
        var flags = UInt32(header.ifa_flags)
        try message.attributes(after: MemoryLayout<ifaddrmsg>.size).forEach { attribute in
            switch Int(attribute.type) {
            case Int(IFA_LOCAL): local = decodeAddress(attribute.value, family: header.ifa_family)
            case Int(IFA_ADDRESS): address = decodeAddress(attribute.value, family: header.ifa_family)
            case Int(IFA_FLAGS): flags = attribute.u32 ?? flags
            default: break
            }
        }
        guard let chosen = local ?? address else { return nil }
        return InterfaceAddress(interfaceIndex: header.ifa_index, address: chosen, prefixLength: header.ifa_prefixlen,
                                scope: RouteScope(rawValue: header.ifa_scope), flags: flags)
    }
}

/// A neighbour (ARP / NDP) entry.
public struct Neighbor: Hashable, Sendable, CustomStringConvertible {
    public var interfaceIndex: UInt32
    public var address: IPAddress
    public var linkAddress: MACAddress?
    /// `NUD_*` state; `NUD_PERMANENT` for static entries.
    public var state: UInt16
    /// `NTF_*` flags (`NTF_PROXY` for proxy entries).
    public var flags: UInt8

    public init(interfaceIndex: UInt32, address: IPAddress, linkAddress: MACAddress?,
                state: UInt16 = Neighbor.permanent, flags: UInt8 = 0) {
        self.interfaceIndex = interfaceIndex
        self.address = address
        self.linkAddress = linkAddress
        self.state = state
        self.flags = flags
    }

    public static let permanent = UInt16(NUD_PERMANENT)
    public static let proxy = UInt8(NTF_PROXY)

    public var description: String {
        "\(address) dev #\(interfaceIndex)" + (linkAddress.map { " lladdr \($0)" } ?? "") + " state 0x\(String(state, radix: 16))"
    }

    static func decode(_ message: NetlinkMessage) throws -> Neighbor? {
        let header = try message.header(as: ndmsg.self)
        var address: IPAddress? = nil
        var link: MACAddress? = nil
        try message.attributes(after: MemoryLayout<ndmsg>.size).forEach { attribute in
            switch Int(attribute.type) {
            case Int(NDA_DST): address = decodeAddress(attribute.value, family: header.ndm_family)
            case Int(NDA_LLADDR): link = MACAddress(bytes: attribute.value)
            default: break
            }
        }
        guard let address else { return nil }
        return Neighbor(interfaceIndex: UInt32(bitPattern: header.ndm_ifindex), address: address, linkAddress: link,
                        state: header.ndm_state, flags: header.ndm_flags)
    }
}
