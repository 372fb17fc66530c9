@testable import Policy

/// The upstream e2e topology: namespaces x, y, z with pods a, b, c each.
/// Pod `<ns><pod>` has 10.99.<n>.<m>, host veth `crc<ns><pod>` and named
/// ports serve-80-tcp, serve-81-tcp, serve-80-udp, serve-81-udp.
enum Fixtures {
    static let namespaces = ["x", "y", "z"]
    static let pods = ["a", "b", "c"]

    static func address(_ ns: String, _ pod: String) -> NumericAddress {
        let n = UInt128(namespaces.firstIndex(of: ns)! + 1), m = UInt128(pods.firstIndex(of: pod)! + 1)
        return NumericAddress(family: .ipv4, value: 0x0A63_0000 | n << 8 | m)
    }

    static var inventoryYAML: String {
        var s = "namespaces:\n"
        for ns in namespaces { s += "  - name: \(ns)\n    labels: {ns: \(ns)}\n" }
        s += "endpoints:\n"
        for ns in namespaces {
            for pod in pods {
                s += """
                  - namespace: \(ns)
                    name: \(pod)
                    labels: {pod: \(pod)}
                    ips: [\(address(ns, pod))]
                    interface: crc\(ns)\(pod)
                    ports:
                      - {name: serve-80-tcp, port: 80, protocol: TCP}
                      - {name: serve-81-tcp, port: 81, protocol: TCP}
                      - {name: serve-80-udp, port: 80, protocol: UDP}
                      - {name: serve-81-udp, port: 81, protocol: UDP}

                """
            }
        }
        return s
    }

    static var inventory: EndpointInventory { try! EndpointParser.parse(inventoryYAML) }
}
