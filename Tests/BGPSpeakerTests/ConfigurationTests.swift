import ClusterModel
import Foundation
import BGP
import BGPRIB
import IPAddressing
import Testing
@testable import BGPSpeaker

@Suite("Agent configuration: YAML with field-named errors")
struct ConfigurationTests {
    let header = """
        apiVersion: caracal.io/v1alpha1
        kind: AgentConfiguration
        metadata:
          name: node-1
        spec:
          bgp:
            asNumber: 64512
            routerID: 10.0.0.1

        """

    func parse(_ body: String, env: [String: String] = [:], files: [String: String] = [:]) throws(ConfigurationError) -> AgentConfiguration {
        try AgentConfiguration.parse(header + body, environment: env, readFile: { files[$0] })
    }

    func error(_ body: String, env: [String: String] = [:], files: [String: String] = [:]) -> ConfigurationError? {
        do {
            _ = try parse(body, env: env, files: files)
            return nil
        } catch {
            return error
        }
    }

    @Test func aCompleteConfigurationReadsIntoTypedValues() throws {
        let c = try parse("""
                listen: {addresses: ["10.0.0.1", "fd00::1"], port: 1179}
                routeReflector: {clusterID: 10.0.0.100, clientToClient: false}
                maximumPaths: 4
                gracefulRestart: {restartTime: 90, notification: false}
                originate: [10.244.1.0/24, "fd00:244::/64"]
                policies:
                  - name: tor-in
                    terms:
                      - name: blocks
                        match: {prefixes: [{prefix: 10.244.0.0/16, ge: 24, le: 26}], community: "65000:1"}
                        actions: {setLocalPref: 200, addCommunities: [no-export], prependAS: {asNumber: 64512, times: 2}}
                        then: accept
                    default: reject
                peers:
                  - name: tor
                    address: 10.0.0.254
                    remoteAS: 65000
                    localAddress: 10.0.0.1
                    holdTime: 30
                    ebgpMultihop: 2
                    families: [ipv4-unicast]
                    addPaths: {receive: true, send: 2}
                    maxPrefixes: {limit: 1000, action: restart, restartAfter: 30}
                    password: {file: /etc/caracal/tor.key}
                    importPolicy: tor-in
                  - address: 10.0.0.2
                    remoteAS: internal
                    routeReflectorClient: true
              kernel: {programRoutes: false}
              control: {socket: /run/caracal/a.sock}
            """, files: ["/etc/caracal/tor.key": "s3cret\n"])
        #expect(c.name == "node-1" && !c.programRoutes && c.controlSocket == "/run/caracal/a.sock")
        let bgp = c.bgp
        #expect(bgp.listenAddresses == [IPAddress("10.0.0.1")!, IPAddress("fd00::1")!] && bgp.port == 1179)
        #expect(bgp.clusterID == IPv4Address("10.0.0.100")! && !bgp.clientToClientReflection && bgp.maximumPaths == 4)
        #expect(bgp.gracefulRestart.restartTime == 90 && !bgp.gracefulRestart.notification)
        #expect(bgp.originate.map(\.description) == ["10.244.1.0/24", "fd00:244::/64"])
        let tor = bgp.peers[0]
        #expect(tor.remoteAS == .number(65000) && tor.ttl == 2 && tor.holdTime == 30 && tor.families == [.ipv4Unicast])
        #expect(tor.addPathReceive && tor.addPathSend == .best(2) && tor.maxPrefixes?.action == .restart && tor.password == "s3cret")
        #expect(bgp.peers[1].name == "10.0.0.2" && bgp.peers[1].remoteAS == .internal && bgp.peers[1].routeReflectorClient)
        let policy = try #require(bgp.policies["tor-in"])
        #expect(policy.otherwise == .reject && policy.terms[0].disposition == .accept)
        #expect(policy.terms[0].actions.contains(.setLocalPref(200)) && policy.terms[0].actions.contains(.prependAS(64512, times: 2)))
        // The policy does what it says.
        let a = PathAttributes([.origin(.igp), .asPath(ASPath()), .communities([Community(asn: 65000, value: 1)])])
        let out = policy.evaluate(prefix: IPPrefix("10.244.3.0/26")!, attributes: a, nextHop: IPAddress("10.0.0.254")!, neighbour: IPAddress("10.0.0.254")!)
        #expect(out.accepted && out.attributes.localPref == 200 && out.attributes.communities.contains(.noExport))
    }

    /// Each body is refused at `path` with a message containing `message`.
    func expectErrors(_ cases: [(body: String, path: String, message: String)], sourceLocation: SourceLocation = #_sourceLocation) {
        for (body, path, message) in cases {
            let e = error(body)
            #expect(e?.path == path && e?.message.contains(message) == true, "\(body): \(e.map { "\($0)" } ?? "accepted")",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func everyErrorNamesItsField() {
        let cases: [(String, String, String)] = [
            ("    peers:\n      - address: 10.0.0.2\n", "spec.bgp.peers[0]", "remoteAS is required"),
            ("    peers:\n      - address: 10.0.0.2\n        remoteAS: 23456\n", "spec.bgp.peers[0].remoteAS", "not 23456"),
            ("    peers:\n      - address: 10.0.0.2\n        remoteAS: 1\n        holdTime: 2\n", "spec.bgp.peers[0].holdTime", "0 or 3-65535"),
            ("    peers:\n      - address: 10.0.0.2\n        remoteAS: 1\n        colour: red\n", "spec.bgp.peers[0].colour", "unknown field"),
            ("    peers:\n      - address: 10.0.0.2\n        remoteAS: 1\n        importPolicy: nope\n", "spec.bgp.peers[0].importPolicy", "no policy named 'nope'"),
            ("    peers:\n      - address: 10.0.0.2\n        remoteAS: 1\n      - address: 10.0.0.2\n        remoteAS: 2\n", "spec.bgp.peers[1]", "used twice"),
            ("    policies:\n      - name: p\n        terms:\n          - match: {prefixes: [{prefix: 10.0.0.0/8, le: 40}]}\n", "spec.bgp.policies[0]", "le"),
            ("    originate: [10.0.0.0/33]\n", "spec.bgp.originate[0]", "expected a prefix"),
            ("    maximumPaths: 0\n", "spec.bgp.maximumPaths", "must be 1-127"),
        ]
        expectErrors(cases)
    }

    @Test func aPasswordThatResolvesToNothingRefusesToStart() {
        let peer = "    peers:\n      - name: tor\n        address: 10.0.0.2\n        remoteAS: 1\n"
        let missingEnv = error(peer + "        password: {env: TOR_KEY}\n")
        #expect(missingEnv?.path == "spec.bgp.peers[0].password.env" && missingEnv?.message.contains("peer tor") == true)
        let missingFile = error(peer + "        password: {file: /nope}\n")
        #expect(missingFile?.message.contains("/nope cannot be read") == true)
        let empty = error(peer + "        password: {env: TOR_KEY}\n", env: ["TOR_KEY": ""])
        #expect(empty?.message.contains("empty") == true, "never an empty password")
    }

    @Test func aLinkLocalPeerCarriesItsInterface() throws {
        let c = try parse("""
                listen: {addresses: ["fe80::1%veth0", "::"]}
                peers:
                  - address: "fe80::2%veth0"
                    remoteAS: 65001
                    localAddress: "fe80::1"
                  - {name: other, address: fd00::2, remoteAS: 65002}
            """)
        let peer = c.bgp.peers[0]
        #expect(peer.address == IPAddress("fe80::2")! && peer.interface == "veth0" && peer.name == "fe80::2%veth0")
        #expect(peer.scopedAddress == "fe80::2%veth0" && c.bgp.peers[1].interface == nil)
        #expect(c.bgp.listenAddresses == [IPAddress("fe80::1")!, IPAddress("::")!] && c.bgp.listenInterfaces == [IPAddress("fe80::1")!: "veth0"])
        let cases: [(String, String, String)] = [
            ("    peers:\n      - address: \"fe80::2\"\n        remoteAS: 1\n", "spec.bgp.peers[0].address", "needs its interface"),
            ("    peers:\n      - address: \"10.0.0.2%eth0\"\n        remoteAS: 1\n", "spec.bgp.peers[0].address", "only an IPv6 link-local"),
            ("    peers:\n      - address: \"fe80::2%\"\n        remoteAS: 1\n", "spec.bgp.peers[0].address", "1-15 characters"),
            ("    peers:\n      - address: \"fe80::2%eth0\"\n        remoteAS: 1\n      - address: \"fe80::2%eth1\"\n        remoteAS: 2\n",
             "spec.bgp.peers[1]", "used twice"),
            ("    peers:\n      - address: fd00::2\n        remoteAS: 1\n        localAddress: \"fe80::1\"\n", "spec.bgp.peers[0].localAddress",
             "link-local"),
            ("    peers:\n      - address: \"fe80::2%eth0\"\n        remoteAS: 1\n        bfd: {}\n", "spec.bgp.peers[0].bfd", "not supported"),
            ("    listen: {addresses: [\"fe80::1\"]}\n", "spec.bgp.listen.addresses[0]", "needs its interface"),
            ("    listen: {addresses: [\"fe80::1%a\", \"fe80::1%b\"]}\n", "spec.bgp.listen.addresses[1]", "listed twice"),
            ("    peers:\n      - address: fd00::2\n        remoteAS: 1\n        sendHoldTime: 0\n", "spec.bgp.peers[0].sendHoldTime", "at least 1"),
        ]
        expectErrors(cases)
    }

    @Test func aPeerRangeTakesAPassword() throws {
        let c = try parse("""
                peerRanges:
                  - {name: rack, prefix: 10.72.0.0/24, remoteAS: 65072, password: {env: RACK_KEY}}
            """, env: ["RACK_KEY": "r4ck"])
        #expect(c.bgp.peerRanges.first?.template.password == "r4ck" && c.bgp.peerRanges.first?.prefix == IPPrefix("10.72.0.0/24")!)
        let missing = error("    peerRanges:\n      - {name: rack, prefix: 10.72.0.0/24, remoteAS: 1, password: {env: RACK_KEY}}\n")
        #expect(missing?.path == "spec.bgp.peerRanges[0].password.env" && missing?.message.contains("peer rack") == true, "\(String(describing: missing))")
    }

    @Test func theHeaderIsChecked() {
        #expect(throws: ConfigurationError.self) { try AgentConfiguration.parse("apiVersion: v1\nkind: AgentConfiguration\nspec: {}\n") }
        #expect(throws: ConfigurationError.self) { try AgentConfiguration.parse(header.replacingOccurrences(of: "routerID: 10.0.0.1", with: "routerID: 0.0.0.0")) }
    }
}

@Suite("docs/config.md examples")
struct ConfigurationDocsTests {
    /// Every complete example in docs/config.md parses (the docs name the
    /// fields exactly as the file spells them; this keeps them honest).
    @Test func everyExampleInTheDocsParses() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/config.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let blocks = text.components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        var parsed = 0
        for block in blocks {
            for document in block.components(separatedBy: "\n---\n") where document.contains("kind: AgentConfiguration") && !document.contains("{...}") {
                do {
                    _ = try AgentConfiguration.parse(document, environment: [:], readFile: { _ in "a-secret" })
                    parsed += 1
                } catch {
                    Issue.record("docs/config.md example does not parse: \(error)\n\(document)")
                }
            }
        }
        #expect(parsed == 6, "the cluster member, the mesh node, the reflector, its client, the ToR and the link-local example")
    }
}

@Suite("remoteAS external")
struct ExternalPeerASTests {
    @Test func anyASButOursIsAccepted() throws {
        var local = SessionConfiguration(localAS: 64512, peerAS: 64512, bgpIdentifier: IPv4Address("10.0.0.1")!)
        local.anyExternalPeerAS = true
        #expect(!local.isInternal)
        let from65001 = OpenMessage(asNumber: 65001, holdTime: 90, bgpIdentifier: IPv4Address("10.0.0.2")!, capabilities: [])
        #expect(try NegotiatedSession.negotiate(local: local, peer: from65001).peerAS == 65001)
        let fromUs = OpenMessage(asNumber: 64512, holdTime: 90, bgpIdentifier: IPv4Address("10.0.0.2")!, capabilities: [])
        #expect(throws: BGPError.self) { try NegotiatedSession.negotiate(local: local, peer: fromUs) }
    }
}

@Suite("deploy/ and cluster configurations")
struct DeployConfigurationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every agent configuration shipped in deploy/agent parses.
    @Test func deployedAgentConfigurationsParse() throws {
        let dir = Self.root.appendingPathComponent("deploy/agent")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["mesh.yaml", "reflector.yaml", "tor.yaml"])
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            let c = try AgentConfiguration.parse(text, environment: [:], readFile: { _ in nil })
            #expect(c.cluster != nil, "\(file)")
            #expect(c.bgpDefaults.isSuperset(of: ["asNumber", "routerID", "listen"]), "\(file): identity comes from the cluster")
        }
    }

    @Test func clusterSectionFieldsAndErrors() throws {
        let base = """
        apiVersion: caracal.io/v1alpha1
        kind: AgentConfiguration
        spec:
          cluster:
            nodeName: n1
            datastore: /var/lib/caracal/caracal.db
            nodeAddress: {ipv4: cidr=10.0.0.0/8, ipv6: "fd00::1"}
            routeReflectorClusterID: 10.0.0.250
        """
        let c = try AgentConfiguration.parse(base)
        #expect(c.cluster?.ipv4 == .cidr(IPPrefix("10.0.0.0/8")!))
        #expect(c.cluster?.ipv6 == .address(IPAddress("fd00::1")!))
        #expect(c.cluster?.routeReflectorClusterID == IPv4Address("10.0.0.250"))
        #expect(c.bgp.maximumPaths == 16, "ECMP in a cluster: services come from every node")
        for (bad, field) in [("nodeName: n1", "nodeName: N_1"), ("cidr=10.0.0.0/8", "cidr=fd00::/8"), ("routeReflectorClusterID: 10.0.0.250", "routeReflectorClusterID: x")] {
            do {
                _ = try AgentConfiguration.parse(base.replacingOccurrences(of: bad, with: field))
                Issue.record("accepted \(field)")
            } catch {
                #expect("\(error)".contains("spec.cluster"), "\(error)")
            }
        }
        // Without a cluster, spec.bgp stays required.
        #expect(throws: ConfigurationError.self) { try AgentConfiguration.parse("apiVersion: caracal.io/v1alpha1\nkind: AgentConfiguration\nspec: {}\n") }
    }

    /// `spec.cluster.datastore` also takes the CNI conflist's object form,
    /// so an agent reaches etcd with TLS, credentials and a prefix.
    @Test func clusterDatastoreObjectForm() throws {
        func parse(_ datastore: String) throws -> ClusterMembership? {
            try AgentConfiguration.parse("""
                apiVersion: caracal.io/v1alpha1
                kind: AgentConfiguration
                spec:
                  cluster:
                    nodeName: n1
                    datastore: \(datastore)
                """).cluster
        }
        let etcd = try parse("""
            {type: etcd, endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"], prefix: /prod/, timeoutMs: 2000,
                         tls: {caFile: /etc/caracal/ca.pem, certFile: /etc/caracal/node.pem, keyFile: /etc/caracal/node-key.pem},
                         username: caracal, passwordFile: /etc/caracal/etcd-password}
            """)
        #expect(etcd?.etcd == EtcdSettings(endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"], prefix: "/prod/",
                                            caFile: "/etc/caracal/ca.pem", certFile: "/etc/caracal/node.pem",
                                            keyFile: "/etc/caracal/node-key.pem", username: "caracal",
                                            passwordFile: "/etc/caracal/etcd-password", timeoutMs: 2000))
        #expect(etcd?.datastore == "etcd:https://10.0.0.1:2379,https://10.0.0.2:2379")
        let embedded = try parse("{type: embedded, path: /var/lib/caracal/caracal.db}")
        #expect(embedded?.datastore == "/var/lib/caracal/caracal.db" && embedded?.etcd == nil)
        for (bad, names) in [
            ("{type: etcd}", "endpoints"), ("{type: etcd, endpoints: []}", "endpoints"),
            ("{type: etcd, endpoints: [http://e:2379], tls: {caFile: ca.pem}}", "tls.caFile"),
            ("{type: etcd, endpoints: [http://e:2379], path: /x}", "path"), ("{type: embedded, path: x.db}", "path"),
            ("{type: embedded, path: /x, endpoints: [http://e:2379]}", "endpoints"), ("{type: zookeeper}", "type"),
            ("{type: etcd, endpoints: [http://e:2379], timeoutMs: 0}", "timeoutMs"), ("{type: etcd, endpoints: [http://e:2379], user: x}", "user"),
        ] {
            do {
                _ = try parse(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect("\(error)".contains("spec.cluster.datastore") && "\(error)".contains(names), "\(bad): \(error)")
            }
        }
    }

    @Test func addressDetectionPicksTheRightInterface() {
        let candidates: [(interface: String, address: IPAddress, up: Bool)] = [
            ("lo", IPAddress("127.0.0.1")!, true), ("crc1234", IPAddress("169.254.1.1")!, true),
            ("eth1", IPAddress("192.168.9.4")!, false), ("eth0", IPAddress("10.0.0.11")!, true), ("eth0", IPAddress("fe80::1")!, true),
        ]
        #expect(AddressDetection.firstFound.select(from: candidates, ipv4: true, podInterfacePrefix: "crc") == IPAddress("10.0.0.11"))
        #expect(AddressDetection.interface("eth1").select(from: candidates, ipv4: true, podInterfacePrefix: "crc") == IPAddress("192.168.9.4"))
        #expect(AddressDetection.cidr(IPPrefix("192.168.0.0/16")!).select(from: candidates, ipv4: true, podInterfacePrefix: "crc") == IPAddress("192.168.9.4"))
        #expect(AddressDetection.firstFound.select(from: candidates, ipv4: false, podInterfacePrefix: "crc") == nil, "link-local is never a node address")
        #expect(AddressDetection.address(IPAddress("10.9.9.9")!).select(from: candidates, ipv4: true, podInterfacePrefix: "crc") == nil)
    }
}
