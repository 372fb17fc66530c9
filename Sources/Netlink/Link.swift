import ClusterModel
import CMnl
import NetNS
#if canImport(Glibc)
import Glibc
#endif

/// A network interface as `RTM_GETLINK` reports it.
public struct Link: Hashable, Sendable, CustomStringConvertible {
    public var index: UInt32
    public var name: String
    public var flags: UInt32
    public var mtu: UInt32
    public var macAddress: MACAddress?
    /// `IFLA_INFO_KIND` ("veth", "bridge", ...), nil for physical or `lo`.
    public var kind: String?
    /// `IFLA_LINK`: the peer's index for a veth (in the peer's namespace).
    public var peerIndex: UInt32?
    /// `IFLA_OPERSTATE` (RFC 2863: 6 is up, 2 is down, 7 is lower-layer-down).
    public var operationalState: UInt8
    /// `IFLA_GROUP`: the interface group (0, "default", unless set).
    public var group: UInt32 = 0

    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    public var isRunning: Bool { flags & UInt32(IFF_RUNNING) != 0 }

    public var description: String {
        "\(index): \(name) mtu \(mtu)\(isUp ? " up" : " down")" + (macAddress.map { " \($0)" } ?? "") + (kind.map { " \($0)" } ?? "")
    }

    static func decode(_ message: NetlinkMessage) throws -> Link {
        let header = try message.header(as: ifinfomsg.self)
        var link = Link(index: UInt32(bitPattern: header.ifi_index), name: "", flags: header.ifi_flags, mtu: 0,
                        macAddress: nil, kind: nil, peerIndex: nil, operationalState: 0)
        try message.attributes(after: MemoryLayout<ifinfomsg>.size).forEach { attribute in
            switch Int(attribute.type) {
            case Int(IFLA_IFNAME): link.name = attribute.string
            case Int(IFLA_MTU): link.mtu = attribute.u32 ?? 0
            case Int(IFLA_ADDRESS): link.macAddress = MACAddress(bytes: attribute.value)
            case Int(IFLA_LINK): link.peerIndex = attribute.u32
            case Int(IFLA_OPERSTATE): link.operationalState = attribute.u8 ?? 0
            case Int(IFLA_GROUP): link.group = attribute.u32 ?? 0
            case Int(IFLA_LINKINFO):
                try attribute.nested.forEach { info in
                    if Int(info.type) == Int(IFLA_INFO_KIND) { link.kind = info.string }
                }
            default: break
            }
        }
        return link
    }
}

/// A change to an existing link, applied in one `RTM_NEWLINK`.
public struct LinkChange: Sendable {
    public var up: Bool?
    public var mtu: UInt32?
    public var macAddress: MACAddress?
    public var name: String?
    /// Move the link into another namespace.
    public var namespace: NetworkNamespace?
    /// The interface group (`IFLA_GROUP`).
    public var group: UInt32?
    /// The interface's IPv4 `proxy_arp` setting (the sysctl
    /// net.ipv4.conf.<name>.proxy_arp), set through IFLA_AF_SPEC.
    public var ipv4ProxyARP: Bool?
    /// The interface's IPv4 `forwarding` setting (net.ipv4.conf.<name>.forwarding),
    /// set in the same IFLA_AF_SPEC: the kernel decides whether to forward
    /// by the input device's own value, and a new device copies `default`,
    /// which concurrent writers of `all` can leave at 0 (docs/cni.md).
    public var ipv4Forwarding: Bool?
    public init(up: Bool? = nil, mtu: UInt32? = nil, macAddress: MACAddress? = nil, name: String? = nil,
                namespace: NetworkNamespace? = nil, group: UInt32? = nil, ipv4ProxyARP: Bool? = nil,
                ipv4Forwarding: Bool? = nil) {
        self.up = up
        self.mtu = mtu
        self.macAddress = macAddress
        self.name = name
        self.namespace = namespace
        self.group = group
        self.ipv4ProxyARP = ipv4ProxyARP
        self.ipv4Forwarding = ipv4Forwarding
    }
}

/// The far end of a new veth pair.
public struct VethPeer: Sendable {
    public var name: String
    /// Where the peer is created (`IFLA_NET_NS_FD`); nil: beside the first end.
    public var namespace: NetworkNamespace?
    public var macAddress: MACAddress?
    public init(name: String, namespace: NetworkNamespace? = nil, macAddress: MACAddress? = nil) {
        self.name = name
        self.namespace = namespace
        self.macAddress = macAddress
    }
}

/// Opens a namespace's nsfs file for `IFLA_NET_NS_FD` and closes it after use.
func withNamespaceDescriptor<T>(_ namespace: NetworkNamespace?, _ body: (Int32?) throws -> T) throws -> T {
    guard let namespace else { return try body(nil) }
    let fd = open(namespace.path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw NetlinkError.system("open \(namespace.path)") }
    defer { close(fd) }
    return try body(fd)
}
