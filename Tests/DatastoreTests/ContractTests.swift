import BGP
import Datastore
import EtcdStore
import Foundation
import KeyValueStore
import Testing
import TestSupport

/// The datastore contract (`KeyValueStore.KVStore`): every backend passes the
/// same suite. etcd runs as a real server, one per test, in a network
/// namespace of its own (`TestSupport.EtcdServer`).
///
/// Revisions are written relative to the store's first one: a fresh etcd
/// is at revision 1, the other backends at 0.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqlite, etcd

    var testDescription: String { rawValue }

    /// A fresh, empty store, and its location (`DatastoreLocation`) for
    /// backends other processes can open.
    func withStore<T>(_ body: (any KVStore, String?) throws -> T) throws -> T {
        switch self {
        case .memory: return try body(InMemoryKVStore(), nil)
        case .sqlite:
            return try TemporaryDirectory.with { dir in
                let path = dir.appendingPathComponent("contract.db").path
                return try body(try SQLiteStore(path: path), path)
            }
        case .etcd:
            return try withEtcd { server in
                let location = "etcd:" + server.endpoint
                return try body(try DatastoreLocation(parsing: location).open(), location)
            }
        }
    }

    func withStore<T>(_ body: (any KVStore, String?) async throws -> T) async throws -> T {
        switch self {
        case .memory: return try await body(InMemoryKVStore(), nil)
        case .sqlite:
            return try await TemporaryDirectory.with { dir in
                let path = dir.appendingPathComponent("contract.db").path
                return try await body(try SQLiteStore(path: path), path)
            }
        case .etcd:
            return try await withEtcd { server in
                let location = "etcd:" + server.endpoint
                return try await body(try DatastoreLocation(parsing: location).open(), location)
            }
        }
    }
}

private func data(_ s: String) -> Data { Data(s.utf8) }
private func text(_ d: Data?) -> String? { d.map { String(decoding: $0, as: UTF8.self) } }

/// The state a watcher holds after applying change sets.
private func apply(_ changes: ChangeSet, to state: inout [String: String]) {
    for event in changes.events {
        switch event {
        case .put(let kv): state[kv.key] = text(kv.value)
        case .delete(let key, _): state[key] = nil
        }
    }
}

private func snapshot(_ store: any KVStore, prefix: String = "") throws -> (state: [String: String], revision: Revision) {
    // The revision first: a write in between shows up again in `changes`,
    // which is harmless for a level-triggered watcher.
    let revision = try store.revision()
    let state = try store.read { tx in
        Dictionary(uniqueKeysWithValues: try tx.entries(prefix: prefix).map { ($0.key, text($0.value)!) })
    }
    return (state, revision)
}

@Suite("Datastore contract")
struct DatastoreContractTests {
    @Test(arguments: Backend.allCases)
    func revisionsCountWriteTransactions(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            let r0 = try store.revision()
            #expect(r0 == (backend == .etcd ? 1 : 0))
            try store.transaction { tx in
                try tx.put("a/1", data("x"))
                try tx.put("a/2", data("y"))
            }
            #expect(try store.revision() == r0 + 1)
            try store.transaction { try $0.put("a/2", data("y2")) }
            let (a1, a2) = try store.read { tx in (try tx.entry("a/1"), try tx.entry("a/2")) }
            #expect(a1?.modRevision == r0 + 1 && a2?.modRevision == r0 + 2 && text(a2?.value) == "y2")
            _ = try store.transaction { try $0.get("a/1") }
            try store.transaction { try $0.delete("nope") }
            #expect(try store.revision() == r0 + 2, "no write (a read, a delete of an absent key): no revision")
            try store.transaction { try $0.delete("a/1") }
            #expect(try store.revision() == r0 + 3)
            #expect(try store.read { try $0.entry("a/1") } == nil)
            #expect(try store.read { try $0.entries(prefix: "a/").map(\.key) } == ["a/2"], "a tombstone is not listed")
        }
    }

    @Test(arguments: Backend.allCases)
    func transactionsAreAtomicAndReadsAreReadOnly(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            struct Boom: Error {}
            let r0 = try store.revision()
            try store.transaction { try $0.put("k", data("1")) }
            #expect(throws: Boom.self) {
                try store.transaction { tx in
                    try tx.put("k", data("2"))
                    try tx.put("other", data("x"))
                    #expect(text(try tx.get("k")) == "2", "a transaction reads its own writes")
                    throw Boom()
                }
            }
            #expect(try store.read { text(try $0.get("k")) } == "1")
            #expect(try store.read { try $0.get("other") } == nil)
            #expect(try store.revision() == r0 + 1)
            #expect { try store.read { try $0.put("k", data("3")) } } throws: { ($0 as? KVStoreError) == .readOnly(key: "k") }
        }
    }

    @Test(arguments: Backend.allCases)
    func aTransactionWritesAtMostTheLimit(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            let limit = KVLimits.maxWritesPerTransaction
            let r0 = try store.revision()
            try store.transaction { tx in for i in 0..<limit { try tx.put("k/\(i)", data("v")) } }
            try store.transaction { tx in for _ in 0..<(limit * 2) { try tx.put("same", data("v")) } }
            #expect { try store.transaction { tx in for i in 0...limit { try tx.put("m/\(i)", data("v")) } } } throws: {
                ($0 as? KVStoreError) == .transactionTooLarge(operations: limit + 1, limit: limit)
            }
            #expect(try store.read { try $0.entries(prefix: "m/") }.isEmpty, "nothing of it committed")
            #expect(try store.read { try $0.entries(prefix: "k/") }.count == limit)
            #expect(try store.revision() == r0 + 2)
        }
    }

    @Test(arguments: Backend.allCases)
    func changesReportPutsAndDeletesInRevisionOrder(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            let r0 = try store.revision()
            try store.transaction { tx in
                try tx.put("w/b", data("1"))
                try tx.put("w/a", data("1"))
                try tx.put("other/x", data("1"))
            }
            try store.transaction { try $0.delete("w/b") }
            try store.transaction { try $0.put("w/c", data("1")) }
            let all = try store.changes(prefix: "w/", after: r0)
            #expect(all.revision == r0 + 3)
            #expect(all.events == [
                .put(KeyValue(key: "w/a", value: data("1"), modRevision: r0 + 1)),
                .delete(key: "w/b", modRevision: r0 + 2),
                .put(KeyValue(key: "w/c", value: data("1"), modRevision: r0 + 3)),
            ])
            // Resumption: only what came after.
            try store.transaction { tx in
                try tx.put("w/a", data("2"))
                try tx.put("w/a", data("3"))
            }
            try store.transaction { try $0.put("w/a", data("4")) }
            let next = try store.changes(prefix: "w/", after: all.revision)
            #expect(next.events == [.put(KeyValue(key: "w/a", value: data("4"), modRevision: r0 + 5))], "coalesced to the latest state")
            #expect(try store.changes(prefix: "w/", after: next.revision).events.isEmpty)
        }
    }

    /// Applying the changes after any revision to the state read at that
    /// revision gives the current state, over a random history.
    @Test(arguments: Backend.allCases)
    func changesBringAnyEarlierSnapshotUpToDate(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            var rng = SplitMix64(seed: 7)
            var snapshots: [(state: [String: String], revision: Revision)] = [try snapshot(store, prefix: "p/")]
            for round in 0..<60 {
                try store.transaction { tx in
                    for _ in 0..<Int(rng.next() % 4 + 1) {
                        let key = "\(rng.next() % 3 == 0 ? "q" : "p")/\(rng.next() % 12)"
                        if rng.next() % 3 == 0 { try tx.delete(key) } else { try tx.put(key, data("\(round)")) }
                    }
                }
                if round % 7 == 0 { snapshots.append(try snapshot(store, prefix: "p/")) }
            }
            let now = try snapshot(store, prefix: "p/")
            for var s in snapshots {
                apply(try store.changes(prefix: "p/", after: s.revision), to: &s.state)
                #expect(s.state == now.state, "from revision \(s.revision)")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func compactionForgetsOldDeletionsAndSaysResync(_ backend: Backend) throws {
        try backend.withStore { store, _ in
            let r0 = try store.revision()
            try store.transaction { tx in
                try tx.put("c/live", data("1"))
                try tx.put("c/gone", data("1"))
            }
            try store.transaction { try $0.delete("c/gone") }
            try store.transaction { try $0.put("c/later", data("1")) }
            try store.compact(through: r0 + 2)
            #expect(try store.compactedRevision() == r0 + 2)
            #expect { try store.changes(prefix: "c/", after: r0 + 1) } throws: {
                ($0 as? KVStoreError) == .compacted(requested: r0 + 1, compactedThrough: r0 + 2)
            }
            #expect(try store.changes(prefix: "c/", after: r0 + 2).events.map(\.key) == ["c/later"])
            #expect(try store.read { try $0.entries(prefix: "c/").map(\.key) } == ["c/later", "c/live"], "live keys stay")
            // A watcher that re-lists at the current revision goes on from there.
            let relist = try snapshot(store, prefix: "c/")
            try store.transaction { try $0.delete("c/live") }
            var state = relist.state
            apply(try store.changes(prefix: "c/", after: relist.revision), to: &state)
            #expect(state == ["c/later": "1"])
            try store.compact(through: r0 + 1)
            #expect(try store.compactedRevision() == r0 + 2, "compaction never moves back")
            try store.compact(through: r0 + 1000)
            #expect(try store.compactedRevision() == r0 + 4, "nor past the current revision")
        }
    }

    /// Read-modify-write from many threads, each with its own connection
    /// where the backend has them: no update is lost.
    @Test(arguments: Backend.allCases)
    func concurrentReadModifyWriteLosesNothing(_ backend: Backend) async throws {
        try await backend.withStore { store, location in
            let r0 = try store.revision()
            let workers = 8, rounds = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        let own: any KVStore = try location.map { try DatastoreLocation(parsing: $0).open() } ?? store
                        for _ in 0..<rounds {
                            try own.transaction { tx in
                                let n = Int(text(try tx.get("counter")) ?? "0")!
                                try tx.put("counter", data(String(n + 1)))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try store.read { text(try $0.get("counter")) } == String(workers * rounds))
            #expect(try store.revision() == r0 + Revision(workers * rounds))
        }
    }

    /// The same across processes: what the CNI plugins of one node do.
    @Test(arguments: [Backend.sqlite, .etcd])
    func crossProcessCompareAndSwap(_ backend: Backend) throws {
        try backend.withStore { store, path in
            let path = try #require(path)
            let worker = BuiltProduct.path("kv-contract-worker")
            let increments = (0..<4).map { _ in spawn([worker, "increment", path, "counter", "50"]) }
            let claims = (0..<6).map { i in spawn([worker, "claim", path, "owner", "p\(i)"]) }
            for p in increments { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
            var winners = 0
            for p in claims {
                p.waitUntilExit()
                #expect(p.terminationStatus == 0)
                let out = String(decoding: (p.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                if out.hasPrefix("won") { winners += 1 }
            }
            #expect(try store.read { text(try $0.get("counter")) } == "200", "no increment lost across processes")
            #expect(winners == 1, "exactly one process created the key")
            #expect(try store.read { try $0.get("owner") } != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func theAsyncFormRunsTheSameTransactions(_ backend: Backend) async throws {
        try await backend.withStore { store, _ in
            let r0 = try store.revision()
            let written: Revision = try await store.transaction { tx in
                try tx.put("a/1", Data("x".utf8))
                return 1
            }
            #expect(written == 1)
            #expect(try await store.read { tx in try tx.get("a/1") } == Data("x".utf8))
            await #expect(throws: KVStoreError.readOnly(key: "a/2")) { try await store.read { tx in try tx.put("a/2", Data()) } }
            #expect(try store.revision() == r0 + 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func watchStreamsChangesInOrderAndEndsWhenHistoryIsGone(_ backend: Backend) async throws {
        try await backend.withStore { store, _ in
            try store.transaction { try $0.put("x/0", data("0")) }
            let start = try store.revision()
            var events: [WatchEvent] = []
            var lastRevision = start
            let stream = store.watch(prefix: "x/", after: start, pollInterval: .milliseconds(5))
            let writer = Task {
                for i in 1...5 {
                    try store.transaction { try $0.put("x/\(i)", data("\(i)")) }
                    try await Task.sleep(for: .milliseconds(2))
                }
                try store.transaction { try $0.delete("x/0") }
            }
            for try await changes in stream {
                #expect(changes.events.allSatisfy { $0.modRevision > lastRevision }, "in revision order, never repeated")
                lastRevision = changes.revision
                events += changes.events
                if events.contains(.delete(key: "x/0", modRevision: start + 6)) { break }
            }
            try await writer.value
            #expect(events.map(\.key) == ["x/1", "x/2", "x/3", "x/4", "x/5", "x/0"])
            // A watcher behind the compaction point is told to re-list.
            try store.compact(through: try store.revision())
            var ended: Error?
            do { for try await _ in store.watch(prefix: "x/", after: start, pollInterval: .milliseconds(5)) {} } catch { ended = error }
            #expect((ended as? KVStoreError) == .compacted(requested: start, compactedThrough: start + 6))
        }
    }
}

private func spawn(_ arguments: [String]) -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: arguments[0])
    p.arguments = Array(arguments.dropFirst())
    p.standardOutput = Pipe()
    try! p.run()
    return p
}
