import Cluster
import ClusterModel
import Datastore
import Foundation
import IPAM
import IPAddressing
import JSON
import KeyValueStore
import Testing

/// The node plan and the cluster state, without sockets or root.
@Suite struct NodePlanTests {
    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }
    static func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }

    static func put<T: Encodable>(_ state: inout ClusterState, _ key: String, _ value: T, revision: Revision = 1) {
        let data = Data(try! JSONValueEncoder().encodedBytes(value))
        _ = state.apply(.put(KeyValue(key: key, value: data, modRevision: revision)))
    }

    static func cluster(mesh: Bool = true) -> ClusterState {
        var s = ClusterState()
        put(&s, ClusterKeys.bgpConfiguration, BGPClusterSettings(nodeToNodeMesh: mesh, serviceClusterIPs: [prefix("10.96.0.0/12")]))
        put(&s, ClusterKeys.node("a"), NodeSpec(name: "a", addresses: [ip("10.0.0.1"), ip("fd00::1")], routeReflectorClusterID: IPv4Address("10.0.0.1")))
        put(&s, ClusterKeys.node("b"), NodeSpec(name: "b", addresses: [ip("10.0.0.2"), ip("fd00::2")], labels: ["rack": "r1"]))
        put(&s, ClusterKeys.node("c"), NodeSpec(name: "c", addresses: [ip("10.0.0.3")]))
        return s
    }

    @Test func meshPeersWithEveryOtherNodePerFamily() {
        let plan = NodePlan(Self.cluster(), node: "b", isLive: { _ in true })
        #expect(plan.peers.map(\.name) == ["a", "c", "a-v6"])
        #expect(plan.peers.allSatisfy { $0.kind == .mesh && $0.holdTime == 9 })
        // c has no IPv6 address: no v6 session with it.
        #expect(!plan.peers.contains { $0.owner == "c" && !$0.address.isIPv4 })
    }

    @Test func reflectorsServeClientsAndClientsPeerOnlyWithReflectors() {
        let s = Self.cluster(mesh: false)
        let reflector = NodePlan(s, node: "a", isLive: { _ in true })
        #expect(reflector.peers.filter { $0.address.isIPv4 }.map(\.kind) == [.reflectorClient, .reflectorClient])
        let client = NodePlan(s, node: "c", isLive: { _ in true })
        #expect(client.peers.map(\.owner) == ["a"])
        #expect(client.peers.first?.kind == .reflector)
    }

    @Test func deadNodesGetNoSession() {
        let plan = NodePlan(Self.cluster(), node: "a", isLive: { $0 != "c" })
        #expect(!plan.peers.contains { $0.owner == "c" })
        #expect(plan.peers.contains { $0.owner == "b" })
    }

    @Test func blocksAreOriginatedWithBlackholesAndBorrowedAddressesAsHostRoutes() throws {
        var s = Self.cluster()
        let block = Block(cidr: Self.prefix("10.244.0.0/26"), pool: "p", node: "b", claimedAt: Date())
        Self.put(&s, "ipam/blocks/p/10.244.0.0/26", block)
        let inBlock = EndpointRecord(containerID: "c1", ifName: "eth0", namespace: "ns", pod: "web", network: "n", netns: nil,
                                     ips: [Self.ip("10.244.0.5")], hostVeth: "crc1", node: "b", state: .ready, created: Date())
        var borrowed = inBlock
        borrowed.containerID = "c2"; borrowed.pod = "db"; borrowed.ips = [Self.ip("10.244.1.9")]; borrowed.hostVeth = "crc2"
        Self.put(&s, "endpoints/c1/eth0", inBlock)
        Self.put(&s, "endpoints/c2/eth0", borrowed)
        let plan = NodePlan(s, node: "b", isLive: { _ in true })
        #expect(plan.originate == [Self.prefix("10.96.0.0/12"), Self.prefix("10.244.0.0/26"), Self.prefix("10.244.1.9/32")])
        #expect(plan.localRoutes == [.blackhole(Self.prefix("10.244.0.0/26")), .pod(Self.prefix("10.244.0.5/32"), interface: "crc1"),
                                     .pod(Self.prefix("10.244.1.9/32"), interface: "crc2")])
        // Node a holds none of it.
        let other = NodePlan(s, node: "a", isLive: { _ in true })
        #expect(other.localRoutes.isEmpty)
        #expect(other.originate == [Self.prefix("10.96.0.0/12")])
        // The policy view: local endpoints carry their interface, others not.
        let a = PolicyInput(s, node: "a")
        #expect(a.inventory.endpoints.allSatisfy { $0.interface == nil })
        #expect(PolicyInput(s, node: "b").inventory.endpoints.compactMap(\.interface).sorted() == ["crc1", "crc2"])
    }

    @Test func allocationsInABlockAreNotAChangeButAnOwnerIs() {
        var s = Self.cluster()
        var block = Block(cidr: Self.prefix("10.244.0.0/26"), pool: "p", node: "b", claimedAt: Date())
        let key = "ipam/blocks/p/10.244.0.0/26"
        func apply(_ b: Block) -> ClusterState.Aspects {
            s.apply(.put(KeyValue(key: key, value: Data(try! JSONValueEncoder().encodedBytes(b)), modRevision: 2))).0
        }
        #expect(apply(block) == .routes)
        block.emptySince = Date()
        #expect(apply(block) == [])
        block.node = "c"
        #expect(apply(block) == .routes)
        #expect(s.apply(.delete(key: key, modRevision: 3)).0 == .routes)
        #expect(s.blocks.isEmpty)
    }

    @Test func aRecordThatDoesNotDecodeIsSkippedAndNamed() {
        var s = Self.cluster()
        let (_, error) = s.apply(.put(KeyValue(key: ClusterKeys.node("b"), value: Data("{".utf8), modRevision: 5)))
        #expect(error != nil)
        #expect("\(error!)".contains("cluster/nodes/b"))
        #expect(s.nodes["b"] == nil)
        #expect(s.nodes["a"] != nil)
    }

    @Test func endpointPrefixMatchesTheCNIPlugins() {
        #expect(ClusterState.endpointsPrefix == Endpoints.prefix)
        #expect(Keys.blocks(pool: "p").hasPrefix(ClusterState.blocksPrefix))
    }

    @Test func externalPeersFollowTheirNodeSelector() {
        var s = Self.cluster()
        var tor = BGPPeerSpec(name: "tor", peerIP: Self.ip("10.0.0.254"), asNumber: 65001, nodeSelector: ["rack": "r1"])
        tor.passwordFile = "/etc/caracal/tor.md5"
        Self.put(&s, ClusterKeys.bgpPeer("tor"), tor)
        #expect(NodePlan(s, node: "b", isLive: { _ in true }).peers.contains { $0.kind == .external && $0.passwordFile == "/etc/caracal/tor.md5" })
        #expect(!NodePlan(s, node: "c", isLive: { _ in true }).peers.contains { $0.kind == .external })
    }
}

@Suite struct ClusterResourceTests {
    @Test func parsesEveryKindAndKeepsPolicySource() throws {
        let text = """
        apiVersion: caracal.io/v1alpha1
        kind: BGPConfiguration
        metadata: {name: default}
        spec: {asNumber: 65010, nodeToNodeMesh: false, serviceLoadBalancerIPs: [192.0.2.0/24], bfd: {minTx: 50, multiplier: 5}}
        ---
        apiVersion: caracal.io/v1alpha1
        kind: BGPPeer
        metadata: {name: tor1}
        spec: {peerIP: 10.0.0.254, asNumber: 65001, nodeSelector: {rack: r1}, passwordFile: /etc/caracal/tor.md5}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: demo, labels: {team: a}}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny, namespace: demo}
        spec: {podSelector: {}, policyTypes: [Ingress]}
        """
        let r = try ClusterResource.parse(text)
        #expect(r.map(\.reference) == ["BGPConfiguration/default", "BGPPeer/tor1", "Namespace/demo", "NetworkPolicy/demo/deny"])
        guard case .bgpConfiguration(let c) = r[0], case .policy(let p) = r[3] else { Issue.record("kinds"); return }
        #expect(c.asNumber == 65010 && !c.nodeToNodeMesh && c.serviceLoadBalancerIPs == [IPPrefix("192.0.2.0/24")!])
        #expect(c.nodeBFD == ClusterBFD(enabled: true, minTx: 50, minRx: 100, multiplier: 5))
        #expect(BGPClusterSettings().nodeBFD.enabled, "BFD between nodes is on by default")
        #expect(p.source.contains("podSelector"))
        #expect(r[3].key == "cluster/policies/demo/deny")
    }

    @Test func errorsNameTheDocumentAndField() {
        let cases: [(String, String)] = [
            ("apiVersion: caracal.io/v1alpha1\nkind: BGPPeer\nmetadata: {name: t}\nspec: {peerIP: nope, asNumber: 1}\n", "peerIP"),
            ("apiVersion: caracal.io/v1alpha1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {holdTime: 2}\n", "holdTime"),
            ("apiVersion: caracal.io/v1alpha1\nkind: BGPConfiguration\nmetadata: {name: other}\n", "metadata"),
            ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n", "kind"),
            ("apiVersion: caracal.io/v1alpha1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {bfd: {minRx: 5}}\n", "bfd.minRx"),
            ("apiVersion: caracal.io/v1alpha1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {heartbeatInterval: 2, livenessTimeout: 3}\n", "livenessTimeout"),
        ]
        for (text, field) in cases {
            do {
                _ = try ClusterResource.parse(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".contains(field), "\(error)")
            }
        }
    }
}

@Suite struct DeployedResourceTests {
    /// Every cluster resource shipped in deploy/cluster parses.
    @Test func deployedResourcesParse() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/cluster")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["bgp.yaml", "tor-peer.yaml"])
        for file in files {
            let resources = try ClusterResource.parse(try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8))
            #expect(resources.count == 1, "\(file)")
        }
    }
}

@Suite struct ClusterExplainTests {
    static func endpoint(_ pod: String, _ ip: String, node: String, veth: String) -> EndpointRecord {
        EndpointRecord(containerID: pod, ifName: "eth0", namespace: "demo", pod: pod, network: "n", netns: nil, ips: [IPAddress(ip)!],
                       hostVeth: veth, labels: ["app": pod], node: node, state: .ready, created: Date())
    }

    @Test func eachEndIsJudgedOnItsOwnNode() throws {
        var s = NodePlanTests.cluster()
        for e in [Self.endpoint("web", "10.244.0.10", node: "a", veth: "crcweb"), Self.endpoint("client", "10.244.0.11", node: "a", veth: "crccli"),
                  Self.endpoint("db", "10.244.0.70", node: "b", veth: "crcdb")] {
            NodePlanTests.put(&s, "endpoints/\(e.containerID)/eth0", e)
        }
        let policy = """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: db-from-web, namespace: demo}
        spec:
          podSelector: {matchLabels: {app: db}}
          policyTypes: [Ingress]
          ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 5432, protocol: TCP}]}]
        """
        guard case .policy(let doc) = try ClusterResource.parse(policy)[0] else { Issue.record("kind"); return }
        NodePlanTests.put(&s, ClusterKeys.policy(namespace: "demo", name: "db-from-web"), doc)

        let allowed = try s.explain(from: "demo/web", to: "demo/db", proto: .tcp, port: 5432)
        #expect(allowed.allowed)
        #expect(allowed.legs.map(\.node) == ["a", "b"])
        #expect(allowed.legs.map(\.direction) == ["egress", "ingress"])

        let denied = try s.explain(from: "demo/client", to: "10.244.0.70", proto: .tcp, port: 5432)
        #expect(!denied.allowed)
        #expect(denied.legs[0].explanation?.allowed == true, "client's own node lets it out")
        #expect(denied.legs[1].explanation?.allowed == false, "db's node refuses it")
        #expect("\(denied)".contains("on node b"))

        let local = try s.explain(from: "demo/client", to: "demo/web", proto: .tcp, port: 80)
        #expect(local.allowed && local.legs.count == 1 && local.legs[0].node == "a")
        #expect("\(local)".contains("egress and ingress of demo/client to demo/web on node a"), "\(local)")
        #expect(throws: ClusterState.ExplainError.self) { try s.explain(from: "demo/nobody", to: "demo/web", proto: .tcp, port: 80) }
    }
}
