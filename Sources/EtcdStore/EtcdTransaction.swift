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
    /// What this attempt fetched at its snapshot, which never changes: each
    /// key and listing costs one round trip at most (`prefetch` batches
    /// them). Fetching records no compare; reading does.
    private var fetched: [String: KeyValue?] = [:]
    private var fetchedListings: [String: [KeyValue]] = [:]
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
        let value: KeyValue?
        if let known = fetched[key] {
            value = known
        } else if let listing = fetchedListings.first(where: { key.hasPrefix($0.key) })?.value {
            value = listing.first { $0.key == key }
        } else {
            let kv = try range(RangeRequest(key: store.etcdKey(key))).first
            value = kv.map { KeyValue(key: key, value: $0.value ?? Data(), modRevision: $0.mod_revision?.value ?? 0) }
            fetched[key] = .some(value)
        }
        readKeys[key] = value?.modRevision ?? 0
        return value
    }

    private func keyValues(_ kvs: [MVCCKeyValue]) -> [KeyValue] {
        kvs.compactMap { kv in
            store.storeKey(kv.key).map { KeyValue(key: $0, value: kv.value ?? Data(), modRevision: kv.mod_revision?.value ?? 0) }
        }
    }

    /// Fetches keys and listings in one `Txn` of Ranges (one round trip
    /// instead of one each), at the snapshot. A listing etcd pages is left
    /// for `entries` to read in pages.
    func prefetch(keys: [String], prefixes: [String]) throws {
        let keys = keys.filter { fetched[$0] == nil && !fetchedListings.keys.contains(where: $0.hasPrefix) }
        let prefixes = prefixes.filter { fetchedListings[$0] == nil }
        guard keys.count + prefixes.count > 1 else { return }
        let at = snapshot.map { EtcdInt64($0) }
        var ops = keys.map { RequestOp(request_range: RangeRequest(key: store.etcdKey($0), revision: at)) }
        ops += prefixes.map { prefix in
            let start = store.etcdKey(prefix)
            return RequestOp(request_range: RangeRequest(key: start, range_end: rangeEnd(ofPrefix: start), revision: at, limit: EtcdInt64(1000)))
        }
        let answer: TxnResponse
        do {
            answer = try store.client.call("/v3/kv/txn", TxnRequest(compare: [], success: ops), idempotent: true)
        } catch let error as EtcdError where error.kind == .outOfRange {
            throw SnapshotLost()
        }
        if snapshot == nil { snapshot = answer.header?.revision?.value }
        let ranges = (answer.responses ?? []).map { $0.response_range }
        guard ranges.count == ops.count else { return }  // not what was asked: read one by one
        for (key, r) in zip(keys, ranges.prefix(keys.count)) {
            fetched[key] = .some(keyValues(r?.kvs ?? []).first)
        }
        for (prefix, r) in zip(prefixes, ranges.dropFirst(keys.count)) where r?.more != true {
            fetchedListings[prefix] = keyValues(r?.kvs ?? [])
        }
    }

    func entry(_ key: String) throws -> KeyValue? {
        if let written = writes[key] {
            // Not committed yet, so no revision of its own.
            return written.map { KeyValue(key: key, value: $0, modRevision: 0) }
        }
        return try remote(key)
    }

    func entries(prefix: String) throws -> [KeyValue] {
        let listing: [KeyValue]
        if let known = fetchedListings[prefix] {
            listing = known
        } else {
            let start = store.etcdKey(prefix)
            listing = keyValues(try range(RangeRequest(key: start, range_end: rangeEnd(ofPrefix: start), limit: EtcdInt64(1000))))
            fetchedListings[prefix] = listing
        }
        listedPrefixes.insert(prefix)
        var result: [String: KeyValue] = [:]
        for kv in listing {
            listedKeys[kv.key] = kv.modRevision
            result[kv.key] = kv
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
