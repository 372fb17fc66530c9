import Datastore
@testable import EtcdStore
import Foundation
import KeyValueStore
import Synchronization
import Testing
import TestSupport

private func data(_ s: String) -> Data { Data(s.utf8) }

private func store(_ server: EtcdServer, prefix: String = EtcdConfig.defaultPrefix) throws -> EtcdStore {
    try EtcdStore(EtcdConfig(endpoints: [try EtcdEndpoint(server.endpoint)], prefix: prefix))
}

struct WatchTimedOut: Error {}

/// Collects a watch's change sets until `done` holds for what was seen;
/// fails after `timeout` instead of waiting for ever.
private func collect(
    _ stream: AsyncThrowingStream<ChangeSet, Error>, timeout: Duration = .seconds(20),
    until done: @escaping @Sendable ([WatchEvent]) -> Bool
) async throws -> (events: [WatchEvent], sets: [ChangeSet]) {
    try await withThrowingTaskGroup(of: (events: [WatchEvent], sets: [ChangeSet])?.self) { group in
        group.addTask {
            var events: [WatchEvent] = [], sets: [ChangeSet] = []
            for try await changes in stream {
                sets.append(changes)
                events += changes.events
                if done(events) { return (events, sets) }
            }
            return (events, sets)
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw WatchTimedOut() }
        return result
    }
}

/// What only etcd has, against a real etcd in a namespace of its own
/// (the shared contract is in ContractTests.swift).
@Suite("etcd backend")
struct EtcdStoreTests {
    @Test func keysLiveUnderThePrefixAndStoresWithOtherPrefixesDoNotMeet() throws {
        try withEtcd { server in
            let a = try store(server, prefix: "/caracal/")
            let b = try store(server, prefix: "/other/")
            try a.transaction { try $0.put("k", data("a")) }
            try b.transaction { try $0.put("k", data("b")) }
            #expect(try a.read { try $0.get("k") } == data("a"))
            #expect(try b.read { try $0.get("k") } == data("b"))
            #expect(try a.read { try $0.entries(prefix: "") }.map(\.key) == ["k"], "the revision marker is not a key")
            // Each store's revision is its own last write, not the cluster's.
            #expect(try b.revision() == a.revision() + 1)
            #expect(try a.changes(prefix: "", after: 0).events.map(\.key) == ["k"])
        }
    }

    @Test func aListedPrefixConflictsWithAKeyCreatedInIt() throws {
        try withEtcd { server in
            let s = try store(server)
            let other = try store(server)
            try s.transaction { try $0.put("blocks/a", data("1")) }
            let runs = Mutex(0)
            let count = try s.transaction { tx -> Int in
                let n = runs.withLock { $0 += 1; return $0 }
                let listed = try tx.entries(prefix: "blocks/")
                // Another writer claims a block after the list was read,
                // once: the first attempt must not commit on a stale list.
                if n == 1 { try other.transaction { try $0.put("blocks/b", data("1")) } }
                try tx.put("summary", data("\(listed.count)"))
                return listed.count
            }
            #expect(runs.withLock { $0 } == 2, "the body ran again after the conflict")
            #expect(count == 2)
            #expect(try s.read { try $0.get("summary") } == data("2"))
        }
    }

    @Test func aDeletedKeyReadInATransactionIsAConflict() throws {
        try withEtcd { server in
            let s = try store(server)
            try s.transaction { try $0.put("claim", data("me")) }
            let runs = Mutex(0)
            let sawClaim = try s.transaction { tx -> Bool in
                let n = runs.withLock { $0 += 1; return $0 }
                let claim = try tx.get("claim")
                if n == 1 { try s.transaction { try $0.delete("claim") } }
                try tx.put("derived", claim ?? data("none"))
                return claim != nil
            }
            #expect(runs.withLock { $0 } == 2 && !sawClaim)
            #expect(try s.read { try $0.get("derived") } == data("none"))
        }
    }

    @Test func theNativeWatchStreamsInOrderResumesAndSeesDeletions() async throws {
        try await withEtcd { server in
            let s = try store(server)
            try s.transaction { try $0.put("w/0", data("0")) }
            let start = try s.revision()
            for i in 1...3 { try s.transaction { try $0.put("w/\(i)", data("\(i)")) } }
            try s.transaction { tx in
                try tx.delete("w/0")
                try tx.put("elsewhere", data("x"))
            }
            // History first (written before the watch began), then live writes.
            let stream = s.nativeWatch(prefix: "w/", after: start)
            let writer = Task {
                try await Task.sleep(for: .milliseconds(50))
                try s.transaction { try $0.put("w/4", data("4")) }
            }
            let (events, sets) = try await collect(stream) { $0.contains { $0.key == "w/4" } }
            try await writer.value
            #expect(events.map(\.key) == ["w/1", "w/2", "w/3", "w/0", "w/4"])
            #expect(events.first { $0.key == "w/0" } == .delete(key: "w/0", modRevision: start + 4))
            #expect(zip(sets, sets.dropFirst()).allSatisfy { $0.revision < $1.revision }, "change sets in revision order")
            // Resuming from a revision in the middle delivers only what came after it.
            let resumed = try await collect(s.nativeWatch(prefix: "w/", after: start + 2)) { $0.contains { $0.key == "w/4" } }
            #expect(resumed.events.map(\.key) == ["w/3", "w/0", "w/4"])
        }
    }

    @Test func theNativeWatchSaysCompactedWhenItsHistoryIsGone() async throws {
        try await withEtcd { server in
            let s = try store(server)
            let start = try s.revision()
            for i in 1...3 { try s.transaction { try $0.put("c/\(i)", data("\(i)")) } }
            try s.compact(through: start + 2)
            var ended: Error?
            do { for try await _ in s.nativeWatch(prefix: "c/", after: start) {} } catch { ended = error }
            #expect((ended as? KVStoreError) == .compacted(requested: start, compactedThrough: start + 2))
        }
    }

    @Test func theNativeWatchReconnectsAfterEtcdRestartsAndLosesNothing() async throws {
        try await withEtcd { server in
            let s = try store(server)
            let start = try s.revision()
            let stream = s.nativeWatch(prefix: "r/", after: start, reconnectDelay: .milliseconds(100))
            let writer = Task {
                try s.transaction { try $0.put("r/before", data("1")) }
                try await Task.sleep(for: .milliseconds(200))
                server.kill()
                try server.start()
                // Written while the watch was down or reconnecting.
                try s.transaction { try $0.put("r/after", data("1")) }
                try s.transaction { try $0.delete("r/before") }
            }
            let (events, _) = try await collect(stream) { $0.contains { $0.key == "r/before" && $0.isDelete } }
            try await writer.value
            #expect(events.map(\.key) == ["r/before", "r/after", "r/before"], "each change exactly once, in order")
        }
    }

    @Test func aLeaseKeepsItsKeyWhileRenewedAndTheKeyGoesWhenItExpires() async throws {
        try await withEtcd { server in
            let s = try store(server)
            // A TTL well above a keep-alive's worst delay on a 2-core
            // machine running a dozen etcds and 30 plugin processes at once
            // (the other suites run meanwhile).
            let lease = try s.grantLease(ttlSeconds: 10)
            #expect(lease.ttlSeconds >= 10)
            try s.put("nodes/n1", data("alive"), lease: lease)
            let put = try s.revision()
            let keeper = LeaseKeeper(store: s, lease: lease)
            try keeper.start()
            try await Task.sleep(for: .seconds(13))
            #expect(try s.read { try $0.get("nodes/n1") } == data("alive"), "renewed past its TTL")
            #expect(keeper.expired == nil)
            keeper.stop()
            // Expiry is a deletion, seen by watchers like any other.
            let (events, _) = try await collect(s.nativeWatch(prefix: "nodes/", after: put)) {
                $0.contains { $0.key == "nodes/n1" && $0.isDelete }
            }
            #expect(events.count == 1 && events[0].key == "nodes/n1" && events[0].isDelete)
            #expect(try s.read { try $0.get("nodes/n1") } == nil)
            #expect(throws: LeaseError.expired(id: lease.id)) { try s.keepAlive(lease) }
        }
    }

    @Test func etcdErrorsAreTypedByTheirGRPCCode() throws {
        try withEtcd { server in
            let s = try store(server)
            let unknown = EtcdLease(id: 0x7777, ttlSeconds: 5)
            #expect { try s.put("k", data("v"), lease: unknown) } throws: { ($0 as? EtcdError)?.kind == .notFound }
        }
    }

    @Test func aDeadEndpointFailsOverToTheNextAndNoneReachableIsUnreachable() throws {
        try withEtcd { server in
            let dead = try EtcdEndpoint("unix://\(server.directory.path)/nobody.sock")
            let s = try EtcdStore(EtcdConfig(endpoints: [dead, try EtcdEndpoint(server.endpoint)]))
            try s.transaction { try $0.put("k", data("v")) }
            #expect(try s.read { try $0.get("k") } == data("v"))
            let none = try EtcdStore(EtcdConfig(endpoints: [dead]))
            #expect { try none.revision() } throws: { ($0 as? EtcdError)?.kind == .unreachable }
        }
    }

    /// etcd with authentication on (as `etcdctl auth enable` does it: a
    /// root role and user, then enable): the token is fetched and sent;
    /// no or wrong credentials are refused.
    @Test func usernameAndPasswordGetATokenAndWrongOnesAreRefused() throws {
        try withEtcd { server in
            let admin = try store(server)
            let _: EmptyResponse = try admin.client.call("/v3/auth/role/add", ["name": "root"], idempotent: false)
            let _: EmptyResponse = try admin.client.call("/v3/auth/user/add", ["name": "root", "password": "s3cret"], idempotent: false)
            let _: EmptyResponse = try admin.client.call("/v3/auth/user/grant", ["user": "root", "role": "root"], idempotent: false)
            let _: EmptyResponse = try admin.client.call("/v3/auth/enable", [String: String](), idempotent: false)
            let endpoint = try EtcdEndpoint(server.endpoint)
            let root = try EtcdStore(EtcdConfig(endpoints: [endpoint], username: "root", password: "s3cret"))
            try root.transaction { try $0.put("k", data("v")) }
            #expect(try root.read { try $0.get("k") } == data("v"))
            let wrong = try EtcdStore(EtcdConfig(endpoints: [endpoint], username: "root", password: "nope"))
            #expect(throws: EtcdError.self) { try wrong.read { try $0.get("k") } }
            let anonymous = try store(server)
            #expect(throws: EtcdError.self) { try anonymous.transaction { try $0.put("k", data("w")) } }
            #expect(try root.read { try $0.get("k") } == data("v"), "the refused write changed nothing")
        }
    }

    /// The issue's fault: a three-member cluster loses a member (the one
    /// the client prefers, possibly the leader). Caracal sees nothing
    /// beyond a retry: the client moves to the next endpoint by itself; a
    /// write that meets the election fails as unavailable and is retried by
    /// its caller, as a runtime retries code 11.
    @Test func aThreeMemberClusterLosingAMemberServesOnAfterARetry() throws {
        let cluster = try EtcdCluster(size: 3)
        defer { cluster.stop() }
        let s = try EtcdStore(EtcdConfig(endpoints: cluster.endpoints.map(EtcdEndpoint.init)))
        for i in 0..<10 { try s.transaction { try $0.put("k/\(i)", data("\(i)")) } }
        cluster.members[0].kill()
        var retries = 0
        for i in 10..<30 {
            while true {
                do {
                    try s.transaction { try $0.put("k/\(i)", data("\(i)")) }
                    break
                } catch let error as EtcdError where [.unavailable, .ambiguous, .deadlineExceeded].contains(error.kind) && retries < 50 {
                    retries += 1
                    usleep(200_000)
                }
            }
        }
        let keys = try s.read { try $0.entries(prefix: "k/") }
        #expect(keys.count == 30 && Set(keys.map(\.value)) == Set((0..<30).map { data("\($0)") }), "nothing lost")
        #expect(retries < 50, "the two members served again after at most an election")
    }

    /// TLS with client certificates, over TCP inside etcd's namespace, through
    /// the CLI (the plugin and the agent share its `EtcdConfig`): the right
    /// CA and client certificate work; no client certificate, one from
    /// another CA, or an unknown server CA are refused with an error.
    @Test func tlsWithClientCertificatesIsRequiredAndEnough() throws {
        try TemporaryDirectory.with { dir in
            func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
            func openssl(_ args: [String]) throws { _ = try Command.check(["openssl"] + args) }
            func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            for ca in ["ca", "rogue-ca"] {
                try openssl(["req", "-x509"] + ec + ["-keyout", path("\(ca).key"), "-out", path("\(ca).pem"), "-days", "2", "-subj", "/CN=\(ca)"])
            }
            // etcd's gateway dials its own gRPC server with the server
            // certificate, so that one serves as a client certificate too.
            try write("server.ext", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
            try write("client.ext", "extendedKeyUsage=clientAuth\n")
            for (name, ca, ext) in [("server", "ca", "server.ext"), ("client", "ca", "client.ext"), ("rogue", "rogue-ca", "client.ext")] {
                try openssl(["req"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"])
                try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                             "-CAcreateserial", "-out", path("\(name).pem"), "-days", "2", "-extfile", path(ext)])
            }
            // The plain unix listener stays for the fixture's readiness check.
            let server = try EtcdServer(extraArguments: [
                "--listen-client-urls", "unix://etcd.sock:0,https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379",
                "--cert-file", path("server.pem"), "--key-file", path("server.key"),
                "--client-cert-auth", "--trusted-ca-file", path("ca.pem")])
            defer { server.stop() }
            func cli(_ args: [String]) throws -> CommandResult {
                try Command.run(["ip", "netns", "exec", server.namespace.name, BuiltProduct.path("caracal")] + args
                                + ["--datastore", "etcd:https://127.0.0.1:2379", "--json"], timeout: 30)
            }
            let good = ["--etcd-ca", path("ca.pem"), "--etcd-cert", path("client.pem"), "--etcd-key", path("client.key")]
            let created = try cli(["ipam", "pool", "create", "tls", "--cidr", "10.9.0.0/16"] + good)
            #expect(created.succeeded, "\(created.stderr)")
            let pools = try cli(["ipam", "pools"] + good)
            #expect(pools.succeeded && pools.stdout.contains("10.9.0.0/16"), "\(pools.stderr)")
            for (why, args) in [
                ("no client certificate", ["--etcd-ca", path("ca.pem")]),
                ("a client certificate from another CA", ["--etcd-ca", path("ca.pem"), "--etcd-cert", path("rogue.pem"), "--etcd-key", path("rogue.key")]),
                ("the server's CA unknown", ["--etcd-ca", path("rogue-ca.pem"), "--etcd-cert", path("client.pem"), "--etcd-key", path("client.key")]),
            ] {
                let refused = try cli(["ipam", "pools"] + args)
                #expect(!refused.succeeded && !refused.stdout.contains("10.9.0.0/16"), "\(why): \(refused.stdout)")
                #expect(!refused.stderr.isEmpty, "\(why): the refusal says why")
            }
        }
    }

    /// `prefetch` fetches in one round trip; what is then read is compared
    /// at commit like any read, and what was only fetched is not.
    @Test func prefetchedReadsConflictAndUnreadOnesDoNot() throws {
        try withEtcd { server in
            let a = try store(server), b = try store(server)
            try a.transaction { tx in
                try tx.put("k", data("0")); try tx.put("p/1", data("1")); try tx.put("other", data("x"))
            }
            var attempts = 0
            try a.transaction { tx in
                attempts += 1
                try tx.prefetch(keys: ["k", "other", "absent"], prefixes: ["p/"])
                #expect(try tx.get("k") != nil && tx.get("absent") == nil)
                #expect(try tx.list(prefix: "p/").map(\.key) == (attempts == 1 ? ["p/1"] : ["p/1", "p/2"]))
                if attempts == 1 {
                    // Another writer changes a key only fetched (no conflict)
                    // and creates one in the listed prefix (a conflict).
                    try b.transaction { try $0.put("other", data("y")); try $0.put("p/2", data("2")) }
                }
                try tx.put("k", data("\(attempts)"))
            }
            #expect(attempts == 2, "the listing's new key was a conflict")
            attempts = 0
            try a.transaction { tx in
                attempts += 1
                try tx.prefetch(keys: ["k", "other"], prefixes: [])
                _ = try tx.get("k")
                if attempts == 1 { try b.transaction { try $0.put("other", data("z")) } }
                try tx.put("k", data("done"))
            }
            #expect(attempts == 1, "a key only fetched, never read, is no conflict")
            #expect(try a.read { try $0.get("k") } == data("done"))
        }
    }

    @Test func locationsParse() throws {
        #expect(try DatastoreLocation(parsing: "embedded:/var/lib/caracal/db") == .embedded(path: "/var/lib/caracal/db"))
        #expect(try DatastoreLocation(parsing: "/x.db") == .embedded(path: "/x.db"))
        let etcd = try DatastoreLocation(parsing: "etcd:http://10.0.0.1:2379,https://10.0.0.2:2379")
        guard case .etcd(let config) = etcd else { Issue.record("not etcd"); return }
        #expect(config.endpoints.map(\.tls) == [false, true] && config.prefix == "/caracal/")
        #expect(throws: EtcdConfigError.self) { try DatastoreLocation(parsing: "etcd:ftp://x") }
        #expect(throws: EtcdConfigError.self) { try DatastoreLocation(parsing: "relative.db") }
    }
}

private extension WatchEvent {
    var isDelete: Bool { if case .delete = self { true } else { false } }
}
