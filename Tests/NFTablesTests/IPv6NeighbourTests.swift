import Foundation
import NetNS
import NFTables
import Policy
import TestSupport
import Testing

/// IPv6 pods talk to the host through neighbour discovery: the pod's
/// neighbour solicitations for its gateway (the host side's link-local) and
/// its advertisements answering the host go through the input hook, where
/// the pod's egress policy applies, and conntrack leaves them untracked (not
/// "established"). An egress default-deny must still let them through, or
/// the host (kubelet probes) and everything routed cannot reach the pod.
@Suite(.serialized) struct IPv6NeighbourTests {
    @Test func hostReachesAnIPv6PodUnderEgressDefaultDeny() throws {
        try withTestNetwork { net in
            let node = try net.namespace("node")
            let pod = try net.namespace("pod")
            try net.veth(node, "crcv6pod", nil, pod, "eth0", nil)
            try node.ip("addr", "add", "fe80::1/64", "dev", "crcv6pod", "nodad")
            try node.ip("addr", "add", "fd00:1::1/128", "dev", "lo")
            try node.ip("-6", "route", "add", "fd00:99::5/128", "dev", "crcv6pod")
            try pod.ip("addr", "add", "fd00:99::5/128", "dev", "eth0", "nodad")
            try pod.ip("-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")

            let policies = try PolicyParser.parse("""
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: deny-egress, namespace: v6}
            spec: {podSelector: {}, policyTypes: [Egress]}
            """)
            let inventory = EndpointInventory(namespaces: ["v6": [:]], endpoints: [
                Endpoint(namespace: "v6", name: "pod", addresses: [NumericAddress("fd00:99::5")!], interface: "crcv6pod"),
            ])
            let programmer = try NFTablesProgrammer(namespace: node.namespace)
            defer { try? programmer.deleteTable() }
            try programmer.apply(PolicyCompiler().compile(policies, inventory))

            // Host to its own pod is allowed; it needs the pod's neighbour
            // advertisement and the pod's solicitation for fe80::1.
            #expect(try node.run(["ping", "-6", "-c", "1", "-W", "2", "fd00:99::5"]).succeeded)
            #expect(try pod.run(["ip", "-6", "neigh", "show", "fe80::1", "dev", "eth0"]).stdout.contains("lladdr"))
            // The egress deny still holds for anything else from the pod.
            #expect(try !pod.run(["ping", "-6", "-c", "1", "-W", "1", "fd00:1::1"]).succeeded)
        }
    }
}
