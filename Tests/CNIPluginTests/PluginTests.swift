import CNI
import Datastore
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Every test: a fresh "node" namespace where the plugin runs, pod
/// namespaces, and a datastore file in a temporary directory.
private func withNode<T>(_ body: (TestNetwork, PluginHarness) throws -> T) throws -> T {
    try withTestNetwork { net in
        try TemporaryDirectory.with { dir in
            let host = try net.namespace("node")
            return try body(net, try PluginHarness(host: host, dir: dir))
        }
    }
}

@Suite("caracal-cni driven like a runtime", .serialized)
struct PluginCommandTests {
    @Test func versionCommand() throws {
        try withNode { _, p in
            let r = try p.run("VERSION", ifName: nil, config: nil, rawStdin: #"{"cniVersion":"1.0.0"}"#, path: false)
            #expect(r.status == 0)
            #expect(r.json?["cniVersion"] == "1.1.0")
            #expect(r.json?["supportedVersions"]?.arrayValue?.contains("0.4.0") == true)
            #expect(r.json?["supportedVersions"]?.arrayValue?.contains("1.1.0") == true)
        }
    }

    @Test(arguments: ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    func addCheckDelInEveryVersion(version: String) throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let config = p.config(version: version)
            let add = try p.add("c1", pod: pod, config: config)
            #expect(add.status == 0, "\(add.stdout) \(add.stderr)")
            let j = try #require(add.json)
            #expect(j["cniVersion"] == .string(version))
            let ifaces = try #require(j["interfaces"]?.arrayValue)
            #expect(ifaces.count == 2)
            #expect(ifaces[0]["sandbox"] == nil && ifaces[0]["name"]?.stringValue?.hasPrefix("crc") == true)
            #expect(ifaces[1]["name"] == "eth0" && ifaces[1]["sandbox"] == .string("/run/netns/\(pod.name)"))
            let ip0 = try #require(j["ips"]?.arrayValue?.first)
            #expect(ip0["address"]?.stringValue?.hasSuffix("/32") == true)
            #expect(ip0["interface"] == 1 && ip0["gateway"] == "169.254.1.1")
            #expect((ip0["version"] != nil) == (version < "1.0.0"), "0.x results carry ips[].version")
            #expect(j["routes"]?.arrayValue?.first?["dst"] == "0.0.0.0/0")
            let ip = try #require(j.firstIP)
            let hostVeth = try #require(ifaces[0]["name"]?.stringValue)

            // Wiring as specified.
            let podRoutes = try pod.check(["ip", "route"]).stdout
            #expect(podRoutes.contains("default via 169.254.1.1 dev eth0"))
            #expect(podRoutes.contains("169.254.1.1 dev eth0 scope link"))
            #expect(try pod.check(["ip", "-o", "addr", "show", "dev", "eth0"]).stdout.contains("inet \(ip)/32"))
            #expect(try pod.check(["ip", "-o", "link", "show", "dev", "eth0"]).stdout.contains("mtu 1400"))
            #expect(try p.host.check(["ip", "route"]).stdout.contains("\(ip) dev \(hostVeth)"))
            #expect(try p.host.check(["cat", "/proc/sys/net/ipv4/conf/\(hostVeth)/proxy_arp"]).stdout.hasPrefix("1"))
            #expect(!(try p.host.check(["ip", "-o", "addr", "show", "dev", hostVeth]).stdout.contains("inet ")), "host side has no IPv4")
            #expect(try p.keys("endpoints/").count == 1)

            if version >= "0.4.0" {
                var chk = config
                if case .object(var o) = chk { o["prevResult"] = j; chk = .object(o) }
                let c = try p.run("CHECK", containerID: "c1", netns: "/run/netns/\(pod.name)", args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=c1", config: chk)
                #expect(c.status == 0, "\(c.stdout)")
            }
            let del = try p.del("c1", pod: pod, config: config)
            #expect(del.status == 0 && del.stdout.isEmpty)
            #expect(try p.del("c1", pod: pod, config: config).status == 0, "DEL twice")
            #expect(try p.keys("ipam/handles/").isEmpty && p.keys("endpoints/").isEmpty)
            #expect(!(try p.hostLinks().contains(hostVeth)))
        }
    }

    @Test func twoPodsReachEachOtherAndTheNode() throws {
        try withNode { net, p in
            try p.host.ip("addr", "add", "10.99.0.1/32", "dev", "lo")
            let a = try net.namespace("a"), b = try net.namespace("b")
            let ra = try p.add("pa", pod: a), rb = try p.add("pb", pod: b)
            #expect(ra.status == 0 && rb.status == 0)
            let ipA = try #require(ra.json?.firstIP), ipB = try #require(rb.json?.firstIP)
            #expect(ipA != ipB)
            #expect(try a.canPing(ipB))
            #expect(try b.canPing(ipA))
            #expect(try a.canPing("10.99.0.1"), "pod reaches the node")
            #expect(try p.host.canPing(ipA), "the node reaches the pod")
        }
    }

    @Test func dualStackPod() throws {
        try withNode { net, p in
            let pools: JSONValue = [["name": "v4", "cidr": "10.244.0.0/16"], ["name": "v6", "cidr": "fd00:244::/64"]]
            let config = p.config(pools: pools, ipam: ["assignIPv6": true])
            let a = try net.namespace("a"), b = try net.namespace("b")
            let ra = try p.add("pa", pod: a, config: config), rb = try p.add("pb", pod: b, config: config)
            #expect(ra.status == 0 && rb.status == 0, "\(ra.stdout)")
            let ips = try #require(rb.json?["ips"]?.arrayValue)
            #expect(ips.count == 2 && ips[1]["address"]?.stringValue?.hasSuffix("/128") == true)
            #expect(ips[1]["gateway"] == "fe80::ecee:eeff:feee:eeee")
            #expect(try a.check(["ip", "-6", "route"]).stdout.contains("default via fe80::ecee:eeff:feee:eeee dev eth0"))
            let v6B = try #require(ips[1]["address"]?.stringValue?.split(separator: "/").first.map(String.init))
            #expect(try a.run(["ping", "-6", "-c", "1", "-W", "2", v6B]).succeeded)
        }
    }

    @Test func delIsIdempotentEvenWhenTheNamespaceIsGone() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let add = try p.add("c1", pod: pod)
            let hostVeth = try #require(add.json?["interfaces"]?.arrayValue?[0]["name"]?.stringValue)
            try Command.check(["ip", "netns", "delete", pod.name])
            #expect(try p.del("c1", pod: pod).status == 0, "namespace path no longer exists")
            #expect(try p.keys("ipam/handles/").isEmpty, "the IP was released")
            #expect(!(try p.hostLinks().contains(hostVeth)))
            #expect(try p.del("c1", pod: nil).status == 0, "without CNI_NETNS")
            #expect(try p.del("never-added", pod: nil).status == 0)
            let noStore = try p.run("DEL", containerID: "x", ifName: "eth0", config: p.config())
            #expect(noStore.status == 0 && noStore.stdout.isEmpty)
        }
    }

    @Test func delAfterAFailedAddSucceedsAndAFailedAddLeavesNothing() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            try pod.ip("link", "add", "eth0", "type", "veth", "peer", "name", "other")  // the name is taken
            let add = try p.add("c1", pod: pod)
            #expect(add.status == 1 && add.code == 106)
            #expect(try p.keys("ipam/handles/").isEmpty && p.keys("endpoints/").isEmpty, "the allocation was undone")
            #expect(try p.del("c1", pod: pod).status == 0)
        }
    }

    @Test func checkCatchesDrift() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let add = try p.add("c1", pod: pod)
            let ip = try #require(add.json?.firstIP)
            var config = p.config()
            if case .object(var o) = config { o["prevResult"] = add.json!; config = .object(o) }
            func check() throws -> PluginHarness.Outcome {
                try p.run("CHECK", containerID: "c1", netns: "/run/netns/\(pod.name)", args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=c1", config: config)
            }
            #expect(try check().status == 0)
            try pod.ip("route", "del", "default")
            let r = try check()
            #expect(r.status == 1 && r.code == 107)
            #expect(r.msg.contains("default via 169.254.1.1"))
            try pod.ip("route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
            #expect(try check().status == 0)
            try p.host.ip("route", "del", "\(ip)/32")
            #expect(try check().msg.contains("host route \(ip)/32"))
            // Without prevResult CHECK is a config error.
            let none = try p.run("CHECK", containerID: "c1", netns: "/run/netns/\(pod.name)", config: p.config())
            #expect(none.code == 7 && none.msg.hasPrefix("prevResult"))
        }
    }

    @Test(arguments: ["cni.dev/valid-attachments", "cni.dev/attachments"])
    func gcReclaimsLeakedAllocations(key: String) throws {
        try withNode { net, p in
            let a = try net.namespace("a"), b = try net.namespace("b")
            #expect(try p.add("keep", pod: a).status == 0)
            let leaked = try p.add("leak", pod: b)
            let leakedVeth = try #require(leaked.json?["interfaces"]?.arrayValue?[0]["name"]?.stringValue)
            let gc = try p.run("GC", ifName: nil, config: p.config(top: [key: [["containerID": "keep", "ifname": "eth0"]]]))
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(try p.keys("ipam/handles/") == ["ipam/handles/keep/eth0"])
            #expect(try p.keys("endpoints/") == ["endpoints/keep/eth0"])
            #expect(!(try p.hostLinks().contains(leakedVeth)))
            #expect(try b.run(["ip", "link", "show", "eth0"]).status != 0)
            // GC without the list is refused rather than deleting everything.
            #expect(try p.run("GC", ifName: nil, config: p.config()).code == 7)
        }
    }

    @Test func gcOfManyLeaksStaysWithinTheTransactionBound() throws {
        try withNode { net, p in
            // 40 leaks need ~240 writes: more than one transaction may hold
            // (KVLimits.maxWritesPerTransaction, etcd's --max-txn-ops).
            for i in 0..<40 { #expect(try p.add("leak\(i)", pod: try net.namespace("l\(i)")).status == 0) }
            let gc = try p.run("GC", ifName: nil, config: p.config(top: ["cni.dev/valid-attachments": []]))
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(try p.keys("ipam/handles/").isEmpty && p.keys("endpoints/").isEmpty)
            #expect(try !p.hostLinks().contains { $0.hasPrefix("crc") })
        }
    }

    @Test func malformedInputsGetTheirCodes() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let ns = "/run/netns/\(pod.name)"
            // No environment at all.
            let noEnv = try p.host.run(["env", "-i", p.binary], stdin: p.config().encoded())
            #expect(noEnv.status != 0 && (try? JSONValue.parse(Array(noEnv.stdout.utf8)))?["code"] == 4)
            #expect(try p.run("ADD", containerID: "c", netns: ns, config: nil, rawStdin: "{not json").code == 6)
            #expect(try p.run("ADD", containerID: "c", netns: ns, config: nil, rawStdin: "").code == 6)
            let v999 = try p.run("ADD", containerID: "c", netns: ns, config: p.config(version: "9.9.9"))
            #expect(v999.code == 1 && v999.json?["cniVersion"] == "1.1.0")
            #expect(try p.run("ADD", containerID: "c", netns: nil, config: p.config()).code == 4)
            #expect(try p.run("ADD", containerID: nil, netns: ns, config: p.config()).code == 4)
            #expect(try p.run("ADD", containerID: "c", netns: ns, ifName: nil, config: p.config()).code == 4)
            #expect(try p.run("ADD", containerID: "c", netns: "/run/netns/does-not-exist", config: p.config()).code == 4)
            #expect(try p.run("FROB", containerID: "c", netns: ns, config: p.config()).code == 4)
            // CNI_NETNS that is no network namespace, or the node's own.
            #expect(try p.run("ADD", containerID: "c", netns: "/etc/hostname", config: p.config()).code == 4)
            let linksBefore = try p.hostLinks()
            let own = try p.run("ADD", containerID: "c", netns: "/run/netns/\(p.host.name)", config: p.config())
            #expect(own.code == 4 && own.msg.contains("own network namespace"), "\(own.msg)")
            #expect(try p.hostLinks() == linksBefore)
            // A DEL naming the node's namespace never deletes a node interface.
            _ = try p.host.check(["ip", "link", "add", "keepme", "type", "veth", "peer", "name", "keepme2"])
            #expect(try p.run("DEL", containerID: "c", netns: "/run/netns/\(p.host.name)", ifName: "keepme", config: p.config()).status == 0)
            #expect(try p.hostLinks().contains("keepme"))
            // Commands a config's version cannot carry: CHECK before 0.4.0,
            // STATUS and GC before 1.1.0 (answered in the config's version).
            let check031 = try p.run("CHECK", containerID: "c", netns: ns, config: p.config(version: "0.3.1"))
            #expect(check031.code == 1 && check031.json?["cniVersion"] == "0.3.1", "\(check031.stdout)")
            #expect(try p.run("STATUS", config: p.config(version: "1.0.0")).code == 1)
            var gc100 = p.config(version: "1.0.0")
            if case .object(var o) = gc100 { o["cni.dev/valid-attachments"] = []; gc100 = .object(o) }
            #expect(try p.run("GC", config: gc100).code == 1)
            var noIPAM = p.config()
            if case .object(var o) = noIPAM { o["ipam"] = nil; noIPAM = .object(o) }
            let r = try p.run("ADD", containerID: "c", netns: ns, config: noIPAM)
            #expect(r.code == 7 && r.msg.hasPrefix("ipam"))
            var noType = p.config()
            if case .object(var o) = noType { o["ipam"] = ["pools": ["default"]]; noType = .object(o) }
            #expect(try p.run("ADD", containerID: "c", netns: ns, config: noType).msg.hasPrefix("ipam.type"))
            let badPool = try p.run("ADD", containerID: "c", netns: ns, config: p.config(pools: [["name": "x", "cidr": "10.0.0.0/8", "blockSize": 4]]))
            #expect(badPool.code == 7 && badPool.msg.hasPrefix("ipam.pools[0].blockSize"), "\(badPool.msg)")
            let unknown = try p.run("ADD", containerID: "c", netns: ns, config: p.config(pools: [["name": "default", "cidr": "10.244.0.0/16"], "nope"]))
            #expect(unknown.code == 7 && unknown.msg.hasPrefix("ipam.pools[1]"), "\(unknown.msg)")
            let nonePools = try p.run("ADD", containerID: "c", netns: ns, config: p.config(pools: []))
            #expect(nonePools.code == 7 && nonePools.msg.hasPrefix("ipam.pools"), "\(nonePools.msg)")
            #expect(try p.keys("ipam/handles/").isEmpty, "no error allocated anything")
        }
    }

    @Test func aBusyDatastoreAnswersTryAgainLaterAndLeavesNothing() throws {
        try withNode { net, p in
            let config = p.config(top: ["datastore": ["path": .string(p.db), "busyTimeoutMs": 100]])
            #expect(try p.add("c0", pod: try net.namespace("p0"), config: config).status == 0)
            // Another writer holds the datastore's write lock past the timeout.
            let pod = try net.namespace("pod")
            let busy = try SQLiteStore(path: p.db).transaction { _ in try p.add("c1", pod: pod, config: config) }
            #expect(busy.status != 0 && busy.code == 11, "\(busy.stdout)")
            // Nothing half-done: no allocation, endpoint or veth for c1.
            #expect(try p.keys("ipam/handles/").count == 1 && p.keys("endpoints/").count == 1)
            #expect(try p.hostLinks().filter { $0.hasPrefix("crc") }.count == 1)
            #expect(try !pod.check(["ip", "-o", "link"]).stdout.contains("eth0"))
            // The runtime retries: now it works.
            let retry = try p.add("c1", pod: pod, config: config)
            #expect(retry.status == 0, "\(retry.stdout)")
            var bad = config
            if case .object(var o) = bad { o["datastore"] = ["path": .string(p.db), "busyTimeoutMs": 0]; bad = .object(o) }
            let r = try p.add("c2", pod: try net.namespace("p2"), config: bad)
            #expect(r.code == 7 && r.msg.hasPrefix("datastore.busyTimeoutMs"), "\(r.msg)")
        }
    }

    @Test func ipamErrorsHavePluginCodes() throws {
        try withNode { net, p in
            let pools: JSONValue = [["name": "tiny", "cidr": "10.7.0.0/30", "blockSize": 30, "namespaceQuotas": ["capped": 1], "useNetworkAddresses": true]]
            let config = p.config(pools: pools)
            var pods: [TestNamespace] = []
            for i in 0..<6 { pods.append(try net.namespace("p\(i)")) }
            func add(_ i: Int, ns: String = "default", ips: [String]? = nil) throws -> PluginHarness.Outcome {
                var c = config
                if let ips, case .object(var o) = c { o["runtimeConfig"] = ["ips": .array(ips.map { .string($0) })]; c = .object(o) }
                return try p.add("c\(i)", pod: pods[i], args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=\(ns);K8S_POD_NAME=p\(i)", config: c)
            }
            #expect(try add(0, ips: ["10.9.9.9"]).code == 100, "requested IP not in any pool")
            #expect(try add(0, ips: ["10.7.0.2"]).status == 0)
            #expect(try add(1, ips: ["10.7.0.2"]).code == 101, "IP held by another workload")
            #expect(try add(1, ns: "capped").status == 0)
            #expect(try add(2, ns: "capped").code == 102, "quota exceeded")
            #expect(try add(2).status == 0)
            #expect(try add(3).status == 0)
            #expect(try add(4).code == 104, "exhausted pool")
            let status = try p.run("STATUS", ifName: nil, config: p.config(pools: ["tiny"]))
            #expect(status.code == 50, "\(status.stdout)")
            #expect(try p.run("STATUS", ifName: nil, config: config).code == 50, "with the pool defined inline too")
            #expect(try p.add("c0", pod: pods[0], config: config).code == 106, "second ADD of the same container")
        }
    }

    @Test func statusReportsWhetherAPoolCanServe() throws {
        try withNode { net, p in
            #expect(try p.run("STATUS", ifName: nil, config: p.config(pools: ["nothing-defined"])).code == 50)
            #expect(try p.run("STATUS", ifName: nil, config: p.config()).status == 0, "an inline pool not created yet can serve")
            let pod = try net.namespace("pod")
            #expect(try p.add("c1", pod: pod).status == 0)
            let ok = try p.run("STATUS", ifName: nil, config: p.config(pools: ["default"]))
            #expect(ok.status == 0 && ok.stdout.isEmpty)
        }
    }

    @Test func runtimeConfigMACLabelsAndChaining() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let prev: JSONValue = ["cniVersion": "1.1.0", "interfaces": [["name": "lo0"]], "ips": [["address": "192.0.2.1/32", "interface": 0]]]
            let config = p.config(top: [
                "runtimeConfig": ["mac": "02:aa:bb:cc:dd:ee", "dns": ["nameservers": ["10.96.0.10"]]],
                "args": ["cni": ["labels": [["key": "app", "value": "shop"]]]],
                "prevResult": prev,
            ])
            let r = try p.add("c1", pod: pod, config: config)
            #expect(r.status == 0, "\(r.stdout)")
            let ifaces = try #require(r.json?["interfaces"]?.arrayValue)
            #expect(ifaces.count == 3 && ifaces[0]["name"] == "lo0", "prevResult passed on first")
            #expect(r.json?["ips"]?.arrayValue?[1]["interface"] == 2)
            #expect(ifaces[2]["mac"] == "02:aa:bb:cc:dd:ee")
            #expect(try pod.check(["ip", "link", "show", "eth0"]).stdout.contains("02:aa:bb:cc:dd:ee"))
            #expect(r.json?["dns"]?["nameservers"] == ["10.96.0.10"])
            let row = try Command.check(["sqlite3", p.db, "SELECT value FROM kv WHERE key = 'endpoints/c1/eth0';"]).stdout
            #expect(row.contains("\"app\":\"shop\"") && row.contains("\"state\":\"ready\"") && row.contains("\"node\":\"node1\""))
        }
    }

    @Test func nodeNameDefaultsToTheShortHostName() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            var config = p.config()
            if case .object(var o) = config { o["nodeName"] = nil; config = .object(o) }
            #expect(try p.add("c1", pod: pod, config: config).status == 0)
            let host = try Command.check(["hostname", "-s"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let row = try Command.check(["sqlite3", p.db, "SELECT value FROM kv WHERE key = 'endpoints/c1/eth0';"]).stdout
            #expect(row.contains("\"node\":\"\(host)\""), "\(row)")
        }
    }

    @Test func stickyClaimReturnsItsAddressAfterDeleteAndRecreate() throws {
        try withNode { net, p in
            let claimed = p.config(top: ["args": ["cni": ["claim": "data/db/0"]]])
            let first = try net.namespace("first")
            let r1 = try p.add("db-a", pod: first, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0", config: claimed)
            let ip = try #require(r1.json?.firstIP)
            #expect(try p.del("db-a", pod: first, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0", config: claimed).status == 0)
            // Meanwhile others never get it.
            let other = try net.namespace("other")
            #expect(try p.add("x", pod: other).json?.firstIP != ip)
            // Recreated on another node: same address, recorded as one the
            // node must advertise as a host route.
            let second = try net.namespace("second")
            let onNode2 = p.config(top: ["args": ["cni": ["claim": "data/db/0"]], "nodeName": "node2"])
            let r2 = try p.add("db-b", pod: second, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0", config: onNode2)
            #expect(r2.json?.firstIP == ip)
            let row = try Command.check(["sqlite3", p.db, "SELECT value FROM kv WHERE key = 'endpoints/db-b/eth0';"]).stdout
            #expect(row.contains("\"borrowedIPs\":[\"\(ip)\"]") && row.contains("\"node\":\"node2\""), "\(row)")
            // The same claim via CNI_ARGS.
            #expect(try p.del("db-b", pod: second, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0", config: onNode2).status == 0)
            let third = try net.namespace("third")
            let r3 = try p.add("db-c", pod: third, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0;CARACAL_CLAIM=data/db/0")
            #expect(r3.json?.firstIP == ip)
        }
    }
}

@Suite("caracal-cni sticky claims derived from StatefulSet members", .serialized)
struct StatefulSetClaimTests {
    @Test func memberKeepsItsAddressAcrossScaleDownAndNodesUntilReleased() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                // Two nodes (namespaces) writing to one datastore.
                let node1 = try PluginHarness(host: try net.namespace("node1"), dir: dir)
                let node2 = try PluginHarness(host: try net.namespace("node2"), dir: dir)
                let sts: [String: JSONValue] = ["statefulSetClaims": ["namespaces": ["data"]]]
                let c1 = node1.config(ipam: sts)
                let member = "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-0"

                let podA = try net.namespace("a")
                let r1 = try node1.add("db-0-a", pod: podA, args: member, config: c1)
                #expect(r1.status == 0, "\(r1.stdout)")
                let ip = try #require(r1.json?.firstIP)
                #expect(try node1.keys("ipam/claims/") == ["ipam/claims/data/db/0"])

                // Scale-down: the pod goes, the claim stays.
                #expect(try node1.del("db-0-a", pod: podA, args: member, config: c1).status == 0)
                #expect(try node1.keys("ipam/claims/") == ["ipam/claims/data/db/0"])

                // Meanwhile nobody else gets the address, and a pod of the same
                // name in a namespace that is not selected derives no claim.
                let other = try net.namespace("o")
                let r = try node1.add("other", pod: other, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=db-0", config: c1)
                #expect(r.status == 0 && r.json?.firstIP != ip)
                let sibling = try net.namespace("s")
                let r1b = try node1.add("db-1", pod: sibling, args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=data;K8S_POD_NAME=db-1", config: c1)
                #expect(r1b.status == 0 && r1b.json?.firstIP != ip)
                #expect(try node1.keys("ipam/claims/") == ["ipam/claims/data/db/0", "ipam/claims/data/db/1"])

                // Scale-up again on the other node, identified by the
                // StatefulSet's labels this time: the same address.
                let labels: JSONValue = [
                    ["key": "statefulset.kubernetes.io/pod-name", "value": "db-0"], ["key": "apps.kubernetes.io/pod-index", "value": "0"],
                ]
                let c2 = node2.config(ipam: sts, top: ["nodeName": "node2", "args": ["cni": ["labels": labels]]])
                let podB = try net.namespace("b")
                let r2 = try node2.add("db-0-b", pod: podB, args: member, config: c2)
                #expect(r2.status == 0, "\(r2.stdout)")
                #expect(r2.json?.firstIP == ip)
                let row = try Command.check(["sqlite3", node2.db, "SELECT value FROM kv WHERE key = 'endpoints/db-0-b/eth0';"]).stdout
                #expect(row.contains("\"claim\":\"data/db/0\"") && row.contains("\"node\":\"node2\""), "\(row)")

                // Only an explicit release ends the claim; the pod keeps the
                // address until its DEL, then it returns to the pool.
                let caracal = (PluginHarness.binaryPath as NSString).deletingLastPathComponent + "/caracal"
                let release = try Command.run([caracal, "ipam", "release", "--claim", "data/db/0", "--datastore", node1.db])
                #expect(release.succeeded, "\(release.stderr)")
                #expect(try node1.keys("ipam/claims/") == ["ipam/claims/data/db/1"])
                #expect(try node2.del("db-0-b", pod: podB, args: member, config: c2).status == 0)
                let podC = try net.namespace("c")
                let r3 = try node1.add("db-0-c", pod: podC, args: member, config: c1)
                #expect(r3.status == 0)
                #expect(try node1.keys("ipam/claims/") == ["ipam/claims/data/db/0", "ipam/claims/data/db/1"])
            }
        }
    }
}

/// Defects found under real runtimes (podman, Multus-style attachments):
/// each test failed before its fix.
@Suite("caracal-cni under real runtimes", .serialized)
struct PluginRuntimeTests {
    func hostVeth(_ r: PluginHarness.Outcome) -> String? { r.json?["interfaces"]?.arrayValue?[0]["name"]?.stringValue }

    @Test func aSecondAttachmentIsWiredOnItsOwnAndKeepsTheFirst() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod"), peer = try net.namespace("peer")
            let second = p.config(pools: [["name": "second", "cidr": "10.245.0.0/16", "cooldownSeconds": 0]], top: ["name": "caracal2"])
            let first = try p.add("c1", pod: pod)
            let other = try p.run("ADD", containerID: "c1", netns: "/run/netns/\(pod.name)", ifName: "eth1",
                                  args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=c1", config: second)
            #expect(first.status == 0 && other.status == 0, "\(other.stdout)")
            let ip0 = try #require(first.json?.firstIP), ip1 = try #require(other.json?.firstIP)
            let veth0 = try #require(hostVeth(first)), veth1 = try #require(hostVeth(other))
            #expect(veth0 != veth1, "each attachment has its own host veth")
            #expect(ip1.hasPrefix("10.245."))
            #expect(try pod.run(["ip", "link", "show", "eth0"]).succeeded, "the first interface survives the second ADD")
            #expect(try pod.check(["ip", "-o", "addr", "show", "dev", "eth1"]).stdout.contains("inet \(ip1)/32"))
            let routes = try p.host.check(["ip", "route"]).stdout
            #expect(routes.contains("\(ip0) dev \(veth0)") && routes.contains("\(ip1) dev \(veth1)"))
            #expect(try p.add("pr", pod: peer).status == 0)
            #expect(try peer.canPing(ip0) && peer.canPing(ip1))
            // Removing the second attachment leaves the first wired.
            let del = try p.run("DEL", containerID: "c1", netns: "/run/netns/\(pod.name)", ifName: "eth1", config: second)
            #expect(del.status == 0)
            #expect(try peer.canPing(ip0))
            #expect(try p.keys("endpoints/") == ["endpoints/c1/eth0", "endpoints/pr/eth0"])
        }
    }

    @Test func addNeverTakesOverTheRouteOfALivePod() throws {
        try withNode { net, p in
            let victim = try net.namespace("victim"), intruder = try net.namespace("intruder"), peer = try net.namespace("peer")
            let v = try p.add("victim", pod: victim)
            let ip = try #require(v.json?.firstIP)
            let veth = try #require(hostVeth(v))
            #expect(try p.add("peer", pod: peer).status == 0)
            // A mistyped datastore path: a second, independent IPAM hands out
            // the same address to a pod on the same node.
            try TemporaryDirectory.with { other in
                let wrong = try PluginHarness(host: p.host, dir: other)
                let add = try wrong.add("intruder", pod: intruder, args: "IgnoreUnknown=1;IP=\(ip)")
                #expect(add.status == 1 && add.code == 101, "\(add.stdout)")
                #expect(add.msg.contains(ip) && add.msg.contains(veth), "names the address and who has it: \(add.msg)")
                #expect(try wrong.keys("ipam/handles/").isEmpty, "the failed ADD was undone")
                #expect(try wrong.del("intruder", pod: intruder).status == 0)
            }
            #expect(try p.host.check(["ip", "route", "show", "\(ip)/32"]).stdout.contains("dev \(veth)"), "the route still leads to the victim")
            #expect(try peer.canPing(ip))
        }
    }

    @Test func aCaracalRouteToAnotherNodeIsTakenOverByAMovedPod() throws {
        try withNode { net, p in
            try p.host.ip("link", "add", "u0", "type", "veth", "peer", "name", "u1")
            try p.host.ip("addr", "add", "10.99.0.1/30", "dev", "u0")
            try p.host.ip("link", "set", "u0", "up")
            // The address was advertised by another node (a sticky IP that moves here).
            try p.host.ip("route", "add", "10.244.7.7/32", "via", "10.99.0.2", "proto", "201")
            let pod = try net.namespace("pod")
            let add = try p.add("moved", pod: pod, args: "IgnoreUnknown=1;IP=10.244.7.7")
            #expect(add.status == 0, "\(add.stdout)")
            let veth = try #require(hostVeth(add))
            #expect(try p.host.check(["ip", "route", "show", "10.244.7.7/32"]).stdout.contains("dev \(veth)"))
            // Another owner's route is not Caracal's to replace.
            try p.host.ip("route", "add", "10.244.8.8/32", "via", "10.99.0.2", "proto", "static")
            let other = try net.namespace("other")
            let refused = try p.add("other", pod: other, args: "IgnoreUnknown=1;IP=10.244.8.8")
            #expect(refused.code == 101 && refused.msg.contains("another owner"), "\(refused.stdout)")
        }
    }

    @Test func thePluginNeverCreatesTheDatastore() throws {
        try withTestNetwork { net in
            try TemporaryDirectory.with { dir in
                let p = try PluginHarness(host: try net.namespace("node"), dir: dir.appendingPathComponent("typo"), createDatastore: false)
                let pod = try net.namespace("pod")
                let add = try p.add("c1", pod: pod)
                #expect(add.status == 1 && add.code == 5, "\(add.stdout)")
                #expect(add.msg.contains(p.db), "names the path: \(add.msg)")
                #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("typo").path), "no directory, no file")
                #expect(try pod.run(["ip", "link", "show", "eth0"]).status != 0, "the veth made meanwhile was removed")
                #expect(try !p.hostLinks().contains { $0.hasPrefix("crc") })
                // DEL has nothing to release there and succeeds.
                #expect(try p.del("c1", pod: pod).status == 0)
                // A named pool the datastore lacks: the error says which file was read.
                let q = try PluginHarness(host: p.host, dir: dir)
                let named = try q.add("c2", pod: pod, config: q.config(pools: ["missing"]))
                #expect(named.code == 7 && named.msg.contains(q.db), "\(named.msg)")
            }
        }
    }

    @Test func theNetworkAndBroadcastAddressesAreNeverHandedOut() throws {
        try withNode { net, p in
            let config = p.config(pools: [["name": "tiny", "cidr": "10.246.0.0/29", "blockSize": 29, "cooldownSeconds": 0]])
            var ips: [String] = []
            for i in 0..<7 {
                let r = try p.add("t\(i)", pod: try net.namespace("t\(i)"), config: config)
                if let ip = r.json?.firstIP { ips.append(ip) } else { #expect(r.code == 104, "exhausted after six: \(r.stdout)") }
            }
            #expect(ips == (1...6).map { "10.246.0.\($0)" }, "not .0, not .7")
            let requested = try p.add("net", pod: try net.namespace("net"), args: "IgnoreUnknown=1;IP=10.246.0.0", config: config)
            #expect(requested.code == 103, "the network address is reserved: \(requested.stdout)")
        }
    }

    @Test func everyHostVethForwardsWhateverTheNodesDefaultSays() throws {
        try withNode { net, p in
            // The state the concurrent sysctl race leaves: `all` reads 1,
            // `default` (what a new veth copies) 0.
            try p.host.check(["sysctl", "-qw", "net.ipv4.conf.all.forwarding=1"])
            try p.host.check(["sysctl", "-qw", "net.ipv4.conf.default.forwarding=0"])
            let a = try net.namespace("a"), b = try net.namespace("b")
            let ra = try p.add("a", pod: a), rb = try p.add("b", pod: b)
            let vethA = try #require(hostVeth(ra)), ipB = try #require(rb.json?.firstIP)
            #expect(try p.host.check(["sysctl", "-n", "net.ipv4.conf.\(vethA).forwarding"]).stdout.hasPrefix("1"))
            #expect(try a.canPing(ipB), "same-node pods reach each other")
            // CHECK notices when the veth stops forwarding.
            try p.host.check(["sysctl", "-qw", "net.ipv4.conf.\(vethA).forwarding=0"])
            var config = p.config()
            if case .object(var o) = config { o["prevResult"] = ra.json!; config = .object(o) }
            let check = try p.run("CHECK", containerID: "a", netns: "/run/netns/\(a.name)", args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=a", config: config)
            #expect(check.code == 107 && check.msg.contains("forwarding is off on \(vethA)"), "\(check.stdout)")
        }
    }

    @Test func delForgetsTheReleasedAddressesConnections() throws {
        try withNode { net, p in
            // Connection tracking runs in the node's namespace once a rule uses it.
            try p.host.check(["nft", "add table inet t; add chain inet t f { type filter hook forward priority 0; }; add rule inet t f ct state established accept"])
            try p.host.ip("addr", "add", "10.99.0.1/32", "dev", "lo")
            let a = try net.namespace("a"), b = try net.namespace("b")
            let ipA = try #require(try p.add("a", pod: a).json?.firstIP), ipB = try #require(try p.add("b", pod: b).json?.firstIP)
            #expect(try a.canPing(ipB) && a.canPing("10.99.0.1"))
            func entries(_ ip: String) throws -> Int {
                try p.host.run(["conntrack", "-L", "-s", ip]).stdout.split(separator: "\n").count
                    + p.host.run(["conntrack", "-L", "-d", ip]).stdout.split(separator: "\n").count
            }
            #expect(try entries(ipB) > 0, "the ping between the pods is tracked")
            let otherBefore = try p.host.run(["conntrack", "-L", "-d", "10.99.0.1"]).stdout
            #expect(otherBefore.contains(ipA), "the flow to the node is tracked too")
            #expect(try p.del("b", pod: b).status == 0)
            #expect(try entries(ipB) == 0, "no flow of the released address is left")
            #expect(try p.host.run(["conntrack", "-L", "-d", "10.99.0.1"]).stdout.contains(ipA), "other flows stay")
        }
    }

    @Test func macFromCNIArgsIsHonoured() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let r = try p.add("m", pod: pod, args: "IgnoreUnknown=1;MAC=c2:aa:bb:cc:dd:ee")
            #expect(r.status == 0, "\(r.stdout)")
            #expect(r.json?["interfaces"]?.arrayValue?[1]["mac"] == "c2:aa:bb:cc:dd:ee")
            #expect(try pod.check(["ip", "-o", "link", "show", "eth0"]).stdout.contains("c2:aa:bb:cc:dd:ee"))
        }
    }

    @Test func aBusyDatastoreMakesDelChangeNothing() throws {
        try withNode { net, p in
            let pod = try net.namespace("pod")
            let add = try p.add("c1", pod: pod)
            let veth = try #require(hostVeth(add))
            // Another writer holds the datastore's write lock past DEL's timeout.
            let config = p.config(top: ["datastore": ["path": .string(p.db), "busyTimeoutMs": 100]])
            let del = try SQLiteStore(path: p.db).transaction { _ in try p.del("c1", pod: pod, config: config) }
            #expect(del.code == 11, "\(del.stdout)")
            #expect(try p.hostLinks().contains(veth), "nothing was done: the veth is still there")
            #expect(try pod.run(["ip", "link", "show", "eth0"]).succeeded)
        }
    }
}

@Suite("caracal-cni under concurrency and crashes", .serialized)
struct PluginConcurrencyTests {
    @Test func fiftyParallelAddsNeverShareAnAddress() async throws {
        try await withTestNetwork { net in
            try await TemporaryDirectory.with { dir in
                let p = try PluginHarness(host: try net.namespace("node"), dir: dir)
                let pods = try (0..<50).map { try net.namespace("p\($0)") }
                // Small blocks so that the pods also race to claim blocks.
                let config = p.config(pools: [["name": "default", "cidr": "10.244.0.0/24", "blockSize": 28]])
                let results = try await withThrowingTaskGroup(of: PluginHarness.Outcome.self) { group in
                    for i in 0..<50 { group.addTask { try p.add("c\(i)", pod: pods[i], config: config) } }
                    var all: [PluginHarness.Outcome] = []
                    for try await r in group { all.append(r) }
                    return all
                }
                let failed = results.filter { $0.status != 0 }
                #expect(failed.isEmpty, "\(failed.first?.stdout ?? "") \(failed.first?.stderr ?? "")")
                let ips = results.compactMap { $0.json?.firstIP }
                #expect(ips.count == 50 && Set(ips).count == 50)
                #expect(try p.keys("ipam/handles/").count == 50)
                // Concurrent first ADDs on a fresh node: every host veth forwards
                // (the namespace-wide switch races under concurrent writers).
                let veths = try p.hostLinks().filter { $0.hasPrefix("crc") }
                #expect(veths.count == 50)
                let notForwarding = try veths.filter { !(try p.host.check(["cat", "/proc/sys/net/ipv4/conf/\($0)/forwarding"]).stdout.hasPrefix("1")) }
                #expect(notForwarding.isEmpty, "\(notForwarding)")
                // The plugin never checkpoints on commit, but ADDs checkpoint
                // a large WAL from a second connection: the pages reached the
                // database file (without that it would stay at its first page).
                let size = (try FileManager.default.attributesOfItem(atPath: p.db)[.size] as? Int) ?? 0
                #expect(size >= 8 * 4096, "database file is \(size) bytes")
            }
        }
    }

    @Test func killDashNineMidAddLeaksNothingAfterGC() throws {
        try withNode { net, p in
            // Deterministic: stopped right after the allocation committed.
            let pod = try net.namespace("pod")
            let env = ["CNI_COMMAND=ADD", "CNI_CONTAINERID=victim", "CNI_NETNS=/run/netns/\(pod.name)", "CNI_IFNAME=eth0",
                       "CNI_PATH=/x", "CARACAL_CNI_FAULT=stop-after-allocation"]
            let child = try p.start(env)
            // Wait until the allocation is visible, then kill -9.
            #expect(waitUntil { (try? p.keys("ipam/handles/victim"))?.isEmpty == false }, "the plugin reached the fault point")
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            // The runtime may retry the ADD: the leftover is cleaned up first.
            let retry = try p.run("ADD", containerID: "victim", netns: "/run/netns/\(pod.name)", config: p.config())
            #expect(retry.status == 0, "\(retry.stdout)")
            #expect(try p.keys("ipam/handles/victim").count == 1)
            // Killed after the veth pair exists: a retried ADD replaces it.
            let pod2 = try net.namespace("pod2")
            let second = try p.start(["CNI_COMMAND=ADD", "CNI_CONTAINERID=victim2", "CNI_NETNS=/run/netns/\(pod2.name)",
                                      "CNI_IFNAME=eth0", "CARACAL_CNI_FAULT=stop-after-veth"])
            #expect(waitUntil { (try? pod2.run(["ip", "link", "show", "eth0"]))?.succeeded == true }, "the plugin reached the fault point")
            kill(second.processIdentifier, SIGKILL)
            second.waitUntilExit()
            let retry2 = try p.run("ADD", containerID: "victim2", netns: "/run/netns/\(pod2.name)", config: p.config())
            #expect(retry2.status == 0, "\(retry2.stdout)")
            #expect(try pod2.check(["ip", "route"]).stdout.contains("default via 169.254.1.1"))
            // Random timing: kill at arbitrary points of further ADDs.
            for i in 0..<6 {
                let podI = try net.namespace("r\(i)")
                let c = try p.start(["CNI_COMMAND=ADD", "CNI_CONTAINERID=r\(i)", "CNI_NETNS=/run/netns/\(podI.name)", "CNI_IFNAME=eth0"])
                usleep(UInt32(2_000 + i * 6_000))
                kill(c.processIdentifier, SIGKILL)
                c.waitUntilExit()
            }
            // The runtime knows no valid attachment: GC reclaims everything.
            let gc = try p.run("GC", ifName: nil, config: p.config(top: ["cni.dev/valid-attachments": []]))
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(try p.keys("ipam/handles/").isEmpty)
            #expect(try p.keys("endpoints/").isEmpty)
            #expect(!(try p.hostLinks().contains { $0.hasPrefix("crc") }))
            // And the datastore is consistent: a new ADD works.
            let fresh = try net.namespace("fresh")
            #expect(try p.add("fresh", pod: fresh).status == 0)
        }
    }
}
