import Foundation
import KeyValueStore

/// One attempt of an etcd transaction (software transactional memory over
/// `Txn`): reads come from one snapshot revision (the first read's) and
/// record what they saw; writes are buffered; `commit` sends one `Txn`
/// whose compares hold only if nothing read changed since:
/// - a key read as present: its `mod_revision` is still the one read;
/// - a key read as absent: `create_revision == 0` (still absent), which
///   makes "claim it if nobody has" a compare-and-swap;
/// - a listed prefix: no key in the range has a `mod_revision` above the
///   snapshot (catches keys created or changed there), plus each listed
///   key's own compare (catches deletions), as long as all compares fit
///   etcd's per-Txn limit; past it the per-key compares of keys that were
///   only listed are dropped, so a concurrent deletion of such a key is
///   not a conflict (docs/datastore.md, "Transactions").
final class EtcdTransaction: KVTransaction {
    let store: EtcdStore
    let readOnly: Bool
    /// The revision every read of this attempt is served at.
    private(set) var snapshot: Revision?
    /// Key (store name) → mod revision read, 0 for absent.
    private var readKeys: [String: Revision] = [:]
    /// Keys seen only through a listing.
    private var listedKeys: [String: Revision] = [:]
    private var listedPrefixes: Set<String> = []
    /// Buffered writes: a value, or nil for a delete.
    private var writes: [String: Data?] = [:]
    private var budget = WriteBudget()

    init(store: EtcdStore, readOnly: Bool) {
        self.store = store
        self.readOnly = readOnly
    }

    // MARK: - Reads

    private func range(_ request: RangeRequest) throws -> [MVCCKeyValue] {
        var request = request
        var collected: [MVCCKeyValue] = []
        while true {
            if let snapshot { request.revision = EtcdInt64(snapshot) }
            let answer: RangeResponse
            do {
                answer = try store.client.call("/v3/kv/range", request, idempotent: true)
            } catch let error as EtcdError where error.kind == .outOfRange {
                // The snapshot was compacted away under us: a conflict like any other.
                throw SnapshotLost()
            }
            if snapshot == nil { snapshot = answer.header?.revision?.value }
            let kvs = answer.kvs ?? []
            collected += kvs
            // Paged (etcd's gateway caps a message at 4 MiB by default... and `limit`).
            guard answer.more == true, let last = kvs.last else { return collected }
            request.key = last.key + Data([0])
        }
    }

    /// The key as etcd holds it at the snapshot, recording the compare.
    private func remote(_ key: String) throws -> KeyValue? {
        let kv = try range(RangeRequest(key: store.etcdKey(key))).first
        readKeys[key] = kv?.mod_revision?.value ?? 0
        return kv.map { KeyValue(key: key, value: $0.value ?? Data(), modRevision: $0.mod_revision?.value ?? 0) }
    }

    func entry(_ key: String) throws -> KeyValue? {
        if let written = writes[key] {
            // Not committed yet, so no revision of its own.
            return written.map { KeyValue(key: key, value: $0, modRevision: 0) }
        }
        return try remote(key)
    }

    func entries(prefix: String) throws -> [KeyValue] {
        let start = store.etcdKey(prefix)
        let kvs = try range(RangeRequest(key: start, range_end: rangeEnd(ofPrefix: start), limit: EtcdInt64(1000)))
        listedPrefixes.insert(prefix)
        var result: [String: KeyValue] = [:]
        for kv in kvs {
            guard let key = store.storeKey(kv.key) else { continue }
            let revision = kv.mod_revision?.value ?? 0
            listedKeys[key] = revision
            result[key] = KeyValue(key: key, value: kv.value ?? Data(), modRevision: revision)
        }
        for (key, value) in writes where key.hasPrefix(prefix) {
            result[key] = value.map { KeyValue(key: key, value: $0, modRevision: 0) }
        }
        return result.values.sorted { $0.key < $1.key }
    }

    // MARK: - Writes

    func put(_ key: String, _ value: Data) throws {
        if readOnly { throw KVStoreError.readOnly(key: key) }
        try budget.write(key)
        writes[key] = .some(value)
    }

    /// Deleting an absent key writes nothing (and takes no revision), as in
    /// every backend; whether it is absent is a read, compared at commit.
    func delete(_ key: String) throws {
        if readOnly { throw KVStoreError.readOnly(key: key) }
        try budget.write(key)
        if readKeys[key] == nil, listedKeys[key] == nil { _ = try remote(key) }
        if (readKeys[key] ?? listedKeys[key] ?? 0) != 0 {
            writes[key] = .some(nil)
        } else {
            writes.removeValue(forKey: key)
        }
    }

    // MARK: - Commit

    struct SnapshotLost: Error {}

    /// True when committed (or nothing to commit), false on a conflict.
    func commit() throws -> Bool {
        guard !writes.isEmpty else { return true }
        let limit = KVLimits.maxWritesPerTransaction + 1  // etcd's --max-txn-ops
        var compares = readKeys.map { key, revision in
            revision == 0 ? Compare.absent(store.etcdKey(key)) : Compare.modRevision(store.etcdKey(key), equals: revision)
        }
        if let snapshot {
            for prefix in listedPrefixes {
                let start = store.etcdKey(prefix)
                compares.append(.unchangedSince(start, rangeEnd: rangeEnd(ofPrefix: start), revision: snapshot))
            }
        }
        let onlyListed = listedKeys.filter { readKeys[$0.key] == nil }
        if compares.count + onlyListed.count <= limit {
            compares += onlyListed.map { Compare.modRevision(store.etcdKey($0.key), equals: $0.value) }
        }
        guard compares.count <= limit else {
            throw KVStoreError.transactionTooLarge(operations: compares.count, limit: limit)
        }
        let ops = writes.sorted { $0.key < $1.key }.map { key, value in
            value.map { RequestOp(request_put: PutRequest(key: store.etcdKey(key), value: $0)) }
                ?? RequestOp(request_delete_range: DeleteRangeRequest(key: store.etcdKey(key)))
        }
        // etcd limits each list of a Txn to --max-txn-ops (128, nested Txns
        // included), hence KVLimits' 127 writes plus the marker.
        let success = ops + [RequestOp(request_put: PutRequest(key: store.marker, value: Data()))]
        let answer: TxnResponse = try store.client.call(
            "/v3/kv/txn", TxnRequest(compare: compares, success: success), idempotent: false)
        return answer.succeeded == true
    }
}
