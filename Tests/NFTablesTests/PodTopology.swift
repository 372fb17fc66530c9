import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One "node" namespace routing for pods x/a … z/c, each a real network
/// namespace behind a veth (`crc<ns><pod>` on the node, `eth0` in the pod),
/// wired like Calico/ptp: pod /32, default route to 169.254.1.1 on-link,
/// a /32 route per pod on the node. Servers listen on TCP and UDP 80 and 81
/// in every pod (in-process sockets opened inside the pod namespaces);
/// probes are real connects and datagrams between the pod namespaces.
final class PodTopology {
    let net: TestNetwork
    let node: TestNamespace
    private(set) var pods: [String: TestNamespace] = [:]
    private(set) var addresses: [String: String] = [:]
    private var tcpListeners: [Int32] = []
    private var udpServers: [Int32] = []
    static let ports: [UInt16] = [80, 81]

    init(_ net: TestNetwork) throws {
        self.net = net
        node = try net.namespace("node")
        try node.check(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        for ns in ["x", "y", "z"] {
            for pod in ["a", "b", "c"] {
                try addPod(ns, pod, address: Self.address(ns, pod))
            }
        }
    }

    deinit {
        for fd in tcpListeners + udpServers { close(fd) }
    }

    static func address(_ ns: String, _ pod: String) -> String {
        let n = ["x", "y", "z"].firstIndex(of: ns).map { $0 + 1 } ?? 9
        let m = ["a", "b", "c", "d", "e"].firstIndex(of: pod)! + 1
        return "10.99.\(n).\(m)"
    }

    /// Wires one more pod and starts its servers (no policy state changes).
    func addPod(_ ns: String, _ pod: String, address: String) throws {
        let p = try net.namespace("\(ns)\(pod)")
        try net.veth(node, "crc\(ns)\(pod)", "169.254.1.1/32", p, "eth0", "\(address)/32")
        try p.ip("route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        try p.ip("route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        try node.ip("route", "add", "\(address)/32", "dev", "crc\(ns)\(pod)")
        pods["\(ns)/\(pod)"] = p
        addresses["\(ns)/\(pod)"] = address
        try p.perform {
            for port in Self.ports {
                tcpListeners.append(try Self.listener(SOCK_STREAM, port))
                udpServers.append(try Self.listener(SOCK_DGRAM, port))
            }
            udpServers.append(try Self.listener(SOCK_DGRAM, 53))
        }
    }

    static func sockaddr(_ ip: String, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, ip, &sa.sin_addr)
        return sa
    }

    static func listener(_ type: __socket_type, _ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetNSError(operation: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var sa = sockaddr("0.0.0.0", port)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw NetNSError(operation: "bind", errno: errno) }
        if type == SOCK_STREAM { guard listen(fd, 4096) == 0 else { throw NetNSError(operation: "listen", errno: errno) } }
        return fd
    }

    struct Probe: Hashable, CustomStringConvertible {
        var from: String, to: String, port: UInt16, proto: L4Protocol
        var description: String { "\(from)->\(to):\(port)/\(proto.rawValue)" }
    }

    /// Runs all probes at once and returns the ones that got through
    /// (TCP: the handshake completed; UDP: the server's reply arrived).
    func run(_ probes: [Probe], timeout: Double = 0.5) throws -> Set<Probe> {
        drainAccepts()
        var clients: [(Int32, Probe)] = []
        defer { for (fd, _) in clients { close(fd) } }
        for (source, group) in Dictionary(grouping: probes, by: \.from).sorted(by: { $0.key < $1.key }) {
            let ns = source == "node" ? node : pods[source]!
            // One thread inside the namespace opens all of this source's sockets.
            let fds: [Int32] = try ns.perform {
                try group.map { probe in
                    let type = probe.proto == .tcp ? SOCK_STREAM : SOCK_DGRAM
                    let fd = socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                    guard fd >= 0 else { throw NetNSError(operation: "socket", errno: errno) }
                    return fd
                }
            }
            for (fd, probe) in zip(fds, group) {
                var sa = Self.sockaddr(addresses[probe.to]!, probe.port)
                _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                if probe.proto == .udp { _ = send(fd, "probe", 5, 0) }
                clients.append((fd, probe))
            }
        }
        var passed = Set<Probe>()
        var waiting = Dictionary(uniqueKeysWithValues: clients.map { ($0.0, $0.1) })
        let deadline = Date().addingTimeInterval(timeout)
        while !waiting.isEmpty, Date() < deadline {
            var fds = waiting.keys.map { pollfd(fd: $0, events: Int16(POLLOUT | POLLIN), revents: 0) }
            fds += udpServers.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 50)
            for p in fds where p.revents != 0 {
                if udpServers.contains(p.fd) {
                    echoDatagrams(p.fd)
                    continue
                }
                guard let probe = waiting[p.fd] else { continue }
                if probe.proto == .tcp {
                    guard p.revents & Int16(POLLOUT) != 0 else { continue }
                    var err: Int32 = 0
                    var len = socklen_t(4)
                    getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &err, &len)
                    if err == 0 { passed.insert(probe) }
                    waiting[p.fd] = nil
                } else if p.revents & Int16(POLLIN) != 0 {
                    var buf = [UInt8](repeating: 0, count: 64)
                    if recv(p.fd, &buf, 64, 0) > 0 { passed.insert(probe) }
                    waiting[p.fd] = nil
                }
            }
        }
        return passed
    }

    private func echoDatagrams(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 64)
        var from = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let n = withUnsafeMutablePointer(to: &from) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { recvfrom(fd, &buf, 64, 0, $0, &len) } }
            if n <= 0 { return }
            _ = withUnsafePointer(to: &from) { $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { sendto(fd, "ok", 2, 0, $0, len) } }
        }
    }

    private func drainAccepts() {
        for fd in tcpListeners {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { break }
                close(c)
            }
        }
    }

    /// The endpoint inventory describing the wired pods.
    func inventory() -> EndpointInventory {
        var inv = EndpointInventory(namespaces: ["x": ["ns": "x"], "y": ["ns": "y"], "z": ["ns": "z"]])
        for (id, addr) in addresses.sorted(by: { $0.key < $1.key }) {
            let parts = id.split(separator: "/").map(String.init)
            inv.endpoints.append(Endpoint(namespace: parts[0], name: parts[1], labels: ["pod": parts[1]],
                                          addresses: [NumericAddress(addr)!], interface: "crc\(parts[0])\(parts[1])",
                                          ports: [NamedPort(name: "serve-80-tcp", port: 80, proto: .tcp), NamedPort(name: "serve-81-tcp", port: 81, proto: .tcp),
                                                  NamedPort(name: "serve-80-udp", port: 80, proto: .udp), NamedPort(name: "serve-81-udp", port: 81, proto: .udp)]))
        }
        return inv
    }
}
