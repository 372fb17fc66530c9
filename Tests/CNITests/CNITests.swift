import ClusterModel
import Foundation
import IPAddressing
import Testing
@testable import CNI
import JSON

private func config(_ s: String) throws(CNIError) -> NetworkConfig { try NetworkConfig(parsing: Array(s.utf8)) }

private func errorCode(_ body: () throws -> Void) -> (Int, String)? {
    do { try body() } catch let e as CNIError { return (e.code.rawValue, e.msg) } catch { return (-1, "\(error)") }
    return nil
}

@Suite("CNI environment")
struct CNIEnvironmentTests {
    let full = ["CNI_COMMAND": "ADD", "CNI_CONTAINERID": "abc", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin:/usr/lib/cni"]

    @Test func parsesAllVariables() throws {
        var env = full
        env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front-0;K8S_POD_UID=u1;FOO=bar"
        let e = try CNIEnvironment(env)
        #expect(e.command == .add)
        #expect(e.containerID == "abc" && e.netns == "/run/netns/x" && e.ifName == "eth0")
        #expect(e.path == ["/opt/cni/bin", "/usr/lib/cni"])
        #expect(e.args.podNamespace == "web" && e.args.podName == "front-0" && e.args.podUID == "u1")
        #expect(e.args["FOO"] == "bar")
    }

    @Test func missingVariablesAreCode4NamingThem() {
        #expect(errorCode { _ = try CNIEnvironment([:]) }?.0 == 4)
        for key in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
            var env = full
            env[key] = nil
            let e = errorCode { _ = try CNIEnvironment(env) }
            #expect(e?.0 == 4)
            #expect(e?.1.contains(key) == true)
        }
        var del = full
        del["CNI_COMMAND"] = "DEL"
        del["CNI_NETNS"] = nil
        #expect(errorCode { _ = try CNIEnvironment(del) } == nil, "DEL without CNI_NETNS is allowed")
        #expect(errorCode { _ = try CNIEnvironment(["CNI_COMMAND": "GC"]) } == nil)
        #expect(errorCode { _ = try CNIEnvironment(["CNI_COMMAND": "STATUS"]) } == nil)
        #expect(errorCode { _ = try CNIEnvironment(["CNI_COMMAND": "VERSION"]) } == nil)
    }

    @Test func unknownCommandAndBadValuesAreCode4() {
        #expect(errorCode { _ = try CNIEnvironment(["CNI_COMMAND": "FROB"]) }?.0 == 4)
        var env = full
        env["CNI_IFNAME"] = "this-name-is-too-long"
        #expect(errorCode { _ = try CNIEnvironment(env) }?.1.contains("CNI_IFNAME") == true)
        env = full
        env["CNI_CONTAINERID"] = "-bad/id"
        #expect(errorCode { _ = try CNIEnvironment(env) }?.1.contains("CNI_CONTAINERID") == true)
    }

    @Test func cniArgsRules() throws {
        #expect(errorCode { _ = try CNIArgs(parsing: "FOO=1") }?.0 == 4, "unknown key without IgnoreUnknown")
        #expect(errorCode { _ = try CNIArgs(parsing: "IgnoreUnknown=true;FOO=1") } == nil)
        #expect(errorCode { _ = try CNIArgs(parsing: "novalue") }?.0 == 4)
        let a = try CNIArgs(parsing: "IP=10.0.0.5,fd00::5;CARACAL_CLAIM=db-0;;")
        #expect(a.requestedIPs == [IPAddress("10.0.0.5")!, IPAddress("fd00::5")!])
        #expect(errorCode { _ = try CNIArgs(parsing: "IP=10.0.0.300") }?.1.contains("IP") == true)
        #expect(a.claim == "db-0")
        #expect(try CNIArgs(parsing: "K8S_POD_NAME=a=b").podName == "a=b")
        // podman's --mac-address arrives as MAC= (with IgnoreUnknown=1): honoured, and checked.
        #expect(try CNIArgs(parsing: "IgnoreUnknown=1;MAC=c2:00:00:00:00:07").mac == "c2:00:00:00:00:07")
        #expect(try CNIArgs(parsing: "MAC=c2:00:00:00:00:07").mac == "c2:00:00:00:00:07", "a known key")
        #expect(errorCode { _ = try CNIArgs(parsing: "IgnoreUnknown=1;MAC=c2:00:00") }?.1.contains("MAC") == true)
    }
}

@Suite("CNI network config")
struct NetworkConfigTests {
    @Test func decodesEverything() throws {
        let c = try config("""
        {"cniVersion":"1.1.0","name":"caracal","type":"caracal-cni","mtu":1400,
         "ipam":{"type":"caracal","pools":["default",{"name":"p2","cidr":"10.9.0.0/16"}],"assignIPv6":true},
         "dns":{"nameservers":["10.96.0.10"],"search":["svc.cluster.local"]},
         "runtimeConfig":{"ips":["10.244.0.9/24"],"mac":"c2:11:22:33:44:55","dns":{"nameservers":["1.1.1.1"]}},
         "args":{"cni":{"labels":[{"key":"app","value":"web"}],"ips":["10.244.0.9","fd00::9"],"claim":"web/db/0"}},
         "datastore":{"path":"/tmp/x.db"},"nodeName":"n1",
         "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],
         "prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.1.1/32","interface":0}]}}
        """)
        #expect(c.cniVersion == .v1_1_0 && c.name == "caracal" && c.type == "caracal-cni" && c.mtu == 1400)
        #expect(c.ipam?.poolNames == ["default", "p2"] && c.ipam?.poolDefinitions.count == 1)
        #expect(c.ipam?.assignIPv4 == true && c.ipam?.assignIPv6 == true)
        #expect(c.dns?.nameservers == ["10.96.0.10"])
        #expect(c.runtimeMAC == "c2:11:22:33:44:55" && c.runtimeDNS?.nameservers == ["1.1.1.1"])
        #expect(c.requestedIPs == [IPAddress("10.244.0.9")!, IPAddress("fd00::9")!])
        #expect(c.labels == [Label(key: "app", value: "web")] && c.argsClaim == "web/db/0")
        #expect(c.datastorePath == "/tmp/x.db" && c.nodeName == "n1")
        #expect(c.validAttachments == [Attachment(containerID: "c1", ifName: "eth0")])
        #expect(c.prevResult?.ips.first?.address == "10.1.1.1/32")
    }

    @Test func olderAttachmentsKeyIsAccepted() throws {
        let c = try config(#"{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/attachments":[{"containerID":"c","ifname":"e"}]}"#)
        #expect(c.validAttachments == [Attachment(containerID: "c", ifName: "e")])
    }

    @Test(arguments: [
        ("", 6, ""), ("{", 6, ""), ("[1,2]", 7, ""), ("null", 7, ""),
        (#"{"name":"n","type":"t"}"#, 7, "cniVersion"),
        (#"{"cniVersion":"9.9.9","name":"n","type":"t"}"#, 1, ""),
        (#"{"cniVersion":"0.2.0","name":"n","type":"t"}"#, 1, ""),
        (#"{"cniVersion":"1.0","name":"n","type":"t"}"#, 1, ""),
        (#"{"cniVersion":1,"name":"n","type":"t"}"#, 7, "cniVersion"),
        (#"{"cniVersion":"1.0.0","type":"t"}"#, 7, "name"),
        (#"{"cniVersion":"1.0.0","name":"-x","type":"t"}"#, 7, "name"),
        (#"{"cniVersion":"1.0.0","name":"n"}"#, 7, "type"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","mtu":"1500"}"#, 7, "mtu"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","mtu":20}"#, 7, "mtu"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","ipam":{}}"#, 7, "ipam.type"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","ipam":{"type":"host-local"}}"#, 7, "ipam.type"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","ipam":{"type":"caracal","pools":[3]}}"#, 7, "ipam.pools[0]"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","ipam":{"type":"caracal","pools":[{"cidr":"x"}]}}"#, 7, "ipam.pools[0].name"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","ipam":{"type":"caracal","assignIPv4":false}}"#, 7, "ipam.assignIPv4"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"mac":"zz"}}"#, 7, "runtimeConfig.mac"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"ips":[1]}}"#, 7, "runtimeConfig.ips[0]"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","runtimeConfig":{"ips":["10.0.0.1","nope"]}}"#, 7, "runtimeConfig.ips[1]"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","args":{"cni":{"ips":["10.0.0.256"]}}}"#, 7, "args.cni.ips[0]"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","args":{"cni":{"labels":[{"value":"v"}]}}}"#, 7, "args.cni.labels[0].key"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","datastore":{"path":"rel.db"}}"#, 7, "datastore.path"),
        (#"{"cniVersion":"1.0.0","name":"n","type":"t","prevResult":{"ips":[{"address":"1.1.1.1/32","interface":2}]}}"#, 7, "prevResult.ips[0].interface"),
        (#"{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/valid-attachments":[{"ifname":"e"}]}"#, 7, "cni.dev/valid-attachments[0].containerID"),
    ])
    func malformedConfigsGetTheirCodeAndNameTheField(input: String, code: Int, field: String) {
        let e = errorCode { _ = try config(input) }
        #expect(e?.0 == code, "\(input)")
        if !field.isEmpty { #expect(e?.1.hasPrefix(field + ":") == true, "\(e?.1 ?? "no error") should name \(field)") }
    }

    @Test func versionNegotiation() throws {
        for v in ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
            #expect(try CNIVersion.negotiate(v).description == v)
        }
        #expect(CNIVersion("01.0.0") == CNIVersion(1, 0, 0))
        #expect(CNIVersion("1.0.0.0") == nil && CNIVersion("a.b.c") == nil && CNIVersion("") == nil)
        let info = CNIVersion.versionInfo()
        #expect(info["cniVersion"] == "1.1.0")
        #expect(info["supportedVersions"]?.arrayValue?.count == 5)
    }
}

@Suite("CNI results and errors")
struct CNIResultTests {
    let result = CNIResult(
        interfaces: [
            .init(name: "crc0123456789a", mac: "aa:bb:cc:00:00:01", mtu: 1500),
            .init(name: "eth0", mac: "aa:bb:cc:00:00:02", mtu: 1500, sandbox: "/run/netns/p"),
        ],
        ips: [.init(address: "10.244.0.5/32", gateway: "169.254.1.1", interface: 1), .init(address: "fd00::5/128", gateway: "fe80::1", interface: 1)],
        routes: [.init(dst: "0.0.0.0/0", gw: "169.254.1.1", mtu: 1500), .init(dst: "::/0", gw: "fe80::1")],
        dns: DNSConfig(nameservers: ["10.96.0.10"]))

    @Test func shapesPerVersion() throws {
        let v04 = result.json(version: .v0_4_0)
        #expect(v04["cniVersion"] == "0.4.0")
        #expect(v04["ips"]?.arrayValue?[0]["version"] == "4")
        #expect(v04["ips"]?.arrayValue?[1]["version"] == "6")
        #expect(v04["interfaces"]?.arrayValue?[0]["mtu"] == nil)
        #expect(v04["routes"]?.arrayValue?[0]["mtu"] == nil)
        let v10 = result.json(version: .v1_0_0)
        #expect(v10["ips"]?.arrayValue?[0]["version"] == nil)
        #expect(v10["interfaces"]?.arrayValue?[0]["sandbox"] == nil, "host side has no sandbox")
        #expect(v10["interfaces"]?.arrayValue?[1]["sandbox"] == "/run/netns/p")
        let v11 = result.json(version: .v1_1_0)
        #expect(v11["interfaces"]?.arrayValue?[0]["mtu"] == 1500)
        #expect(v11["routes"]?.arrayValue?[0]["mtu"] == 1500)
        #expect(v11["dns"]?["nameservers"] == ["10.96.0.10"])
    }

    @Test func roundTripsInEveryVersion() throws {
        for v in CNIVersion.supported {
            let text = result.json(version: v).encoded()
            var back = try CNIResult(json: try JSONValue.parse(Array(text)))
            if !v.hasExtendedRouteFields {
                var expected = result
                expected.interfaces = expected.interfaces.map { var i = $0; i.mtu = nil; return i }
                expected.routes = expected.routes.map { var r = $0; r.mtu = nil; return r }
                #expect(back == expected)
            } else {
                #expect(back == result)
            }
            back = try CNIResult(json: back.json(version: v))
        }
    }

    @Test func chainingRebasesInterfaceIndexes() {
        let prev = CNIResult(interfaces: [.init(name: "x")], ips: [.init(address: "1.1.1.1/32", interface: 0)])
        let merged = prev.appending(result)
        #expect(merged.interfaces.count == 3)
        #expect(merged.ips.map(\.interface) == [0, 2, 2])
    }

    @Test func errorJSON() throws {
        let e = CNIError(.quotaExceeded, "quota exceeded", details: "ns web: 10 of 10")
        let j = e.json(cniVersion: .v1_0_0)
        #expect(j["code"] == 102 && j["msg"] == "quota exceeded" && j["cniVersion"] == "1.0.0")
        #expect(try CNIError(json: j) == e)
        #expect(CNIError(.tryAgainLater, "busy").json(cniVersion: .v1_1_0)["details"] == nil)
    }

    @Test func jsonValueRoundTrip() throws {
        let v: JSONValue = ["a": [1, .double(2.5), "x", true, nil], "b": ["c": "d/e"]]
        #expect(try JSONValue.parse(Array(v.encoded())) == v)
        #expect(v.encodedString == #"{"a":[1,2.5,"x",true,null],"b":{"c":"d/e"}}"#)
    }
}

@Suite("JSON text (RFC 8259)")
struct JSONTextTests {
    @Test func parsesEveryKindOfValue() throws {
        let text = #" { "s": "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00", "n": [0, -7, 9223372036854775807, 1.5, -2e3, 1E-2, 18446744073709551616],"# +
            #" "t": true, "f": false, "z": null, "o": {}, "e": [], "u": "é😀" } "#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v["s"] == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té😀"))
        #expect(v["n"] == [0, -7, .int(Int64.max), .double(1.5), .double(-2000), .double(0.01), .double(18446744073709551616)])
        #expect(v["t"] == true && v["f"] == false && v["z"] == .null)
        #expect(v["o"] == .object([:]) && v["e"] == .array([]) && v["u"] == "é😀")
        #expect(try JSONValue.parse(Array(v.encodedBytes)) == v)
    }

    @Test func writesCompactSortedEscapedJSON() {
        let v: JSONValue = ["b": "x/y\n\"q\"\u{01}", "a": [.double(0.25), -3, nil]]
        #expect(v.encodedString == #"{"a":[0.25,-3,null],"b":"x/y\n\"q\"\u0001"}"#)
    }

    @Test(arguments: [
        "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "01", "-", "1.", "1e", ".5", "+1", "tru", "nul", "\"abc",
        "\"a\u{01}b\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\ud800\\u0041\"", "\"\\udc00\"", "{} x", "[1]]", "1e999",
        "{'a':1}", "NaN", "[" + String(repeating: "[", count: 600) + String(repeating: "]", count: 601),
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: CNIError.self) { try JSONValue.parse(Array(text.utf8)) }
        do { _ = try JSONValue.parse(Array(text.utf8)) } catch { #expect(error.code == .decodingFailure) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: CNIError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }
}

@Suite("StatefulSet claims")
struct StatefulSetClaimsTests {
    let rule = StatefulSetClaims(namespaces: ["data", "kafka"])

    @Test func podNameOfAMemberGivesItsClaim() {
        #expect(rule.claim(namespace: "data", pod: "db-0", labels: []) == "data/db/0")
        #expect(rule.claim(namespace: "kafka", pod: "kafka-broker-12", labels: []) == "kafka/kafka-broker/12")
        // Not members: no ordinal, a leading zero, nothing before the dash.
        for pod in ["db", "db-", "db-01", "-3", "db-x1", "web-5d8f7c9b6-x2x7k"] {
            #expect(rule.claim(namespace: "data", pod: pod, labels: []) == nil, "\(pod)")
        }
        // Namespaces not selected; "*" selects all.
        #expect(rule.claim(namespace: "default", pod: "db-0", labels: []) == nil)
        #expect(rule.claim(namespace: nil, pod: "db-0", labels: []) == nil)
        #expect(StatefulSetClaims(namespaces: ["*"]).claim(namespace: "any", pod: "db-3", labels: []) == "any/db/3")
    }

    @Test func statefulSetLabelsWinOverThePodName() {
        let labels = [Label(key: StatefulSetClaims.podNameLabel, value: "pg-2"), Label(key: StatefulSetClaims.podIndexLabel, value: "2")]
        #expect(rule.claim(namespace: "data", pod: "renamed", labels: labels) == "data/pg/2")
        // Labels only: the pod name alone no longer counts.
        let labelsOnly = StatefulSetClaims(namespaces: ["data"], matchPodName: false)
        #expect(labelsOnly.claim(namespace: "data", pod: "db-0", labels: []) == nil)
        #expect(labelsOnly.claim(namespace: "data", pod: "x", labels: labels) == "data/pg/2")
        // A pod-index that disagrees with the pod-name label identifies nothing.
        let wrong = [Label(key: StatefulSetClaims.podNameLabel, value: "pg-2"), Label(key: StatefulSetClaims.podIndexLabel, value: "3")]
        #expect(rule.claim(namespace: "data", pod: "pg-2", labels: wrong) == nil)
    }

    @Test func configOptionIsParsedAndChecked() throws {
        let base = #"{"cniVersion":"1.1.0","name":"n","type":"caracal-cni","ipam":{"type":"caracal","statefulSetClaims":"#
        let ok = try NetworkConfig(parsing: Array((base + #"{"namespaces":["data"],"matchPodName":false}}}"#).utf8))
        #expect(ok.ipam?.statefulSetClaims == StatefulSetClaims(namespaces: ["data"], matchPodName: false))
        #expect(try NetworkConfig(parsing: Array((base + #"{"namespaces":["*"]}}}"#).utf8)).ipam?.statefulSetClaims?.matchPodName == true)
        for (bad, field) in [
            (#"{}}}"#, "ipam.statefulSetClaims.namespaces"), (#"{"namespaces":[]}}}"#, "ipam.statefulSetClaims.namespaces"),
            (#"{"namespaces":"data"}}}"#, "ipam.statefulSetClaims.namespaces"), (#"{"namespaces":[""]}}}"#, "ipam.statefulSetClaims.namespaces[0]"),
            (#"{"namespaces":["a"],"matchPodName":1}}}"#, "ipam.statefulSetClaims.matchPodName"), (#"true}}"#, "ipam.statefulSetClaims"),
        ] {
            do {
                _ = try NetworkConfig(parsing: Array((base + bad).utf8))
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.code == .invalidNetworkConfig && error.msg.contains(field), "\(bad): \(error.msg)")
            }
        }
    }
}

@Suite("CNI commands by spec version")
struct CNICommandVersionTests {
    @Test func commandsKnowTheVersionThatIntroducedThem() {
        #expect(CNICommand.add.introducedIn == .v0_3_0 && CNICommand.del.introducedIn == .v0_3_0)
        #expect(CNICommand.check.introducedIn == .v0_4_0)
        #expect(CNICommand.status.introducedIn == .v1_1_0 && CNICommand.gc.introducedIn == .v1_1_0)
    }
}
