import CSQLite
import KeyValueStore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The embedded datastore: one SQLite file per node, shared by the plugin
/// and the agent. WAL mode lets readers run beside the one writer; every
/// transaction is `BEGIN IMMEDIATE`, so writers queue on the file lock (with
/// a busy timeout) instead of failing halfway, and a process killed at any
/// point leaves either the whole transaction or none of it.
///
/// Layout: one table of keys, values and revisions. `revision` grows by one
/// per committed write transaction and is stored on every key it wrote, the
/// shape of etcd's mod_revision, so the etcd backend keeps the same model.
/// A deleted key stays as a tombstone (value NULL, the deleting revision)
/// so that `changes` can report it; tombstones older than
/// `retainedRevisions` are compacted away every 1024 revisions.
///
/// It talks to SQLite's C API directly (one connection, cached prepared
/// statements, a mutex): the CNI plugin opens the store once per
/// invocation, and a wrapper library's connection set-up and generic
/// machinery cost more than the transaction itself (docs/cni.md,
/// "Latency").
public final class SQLiteStore: KVStore, @unchecked Sendable {
    public let path: String
    private let db: OpaquePointer
    /// Serializes the one connection.
    private let lock = Mutex(())
    private var statements: [String: OpaquePointer] = [:]
    /// Filled by the connection's wal hook (CSQLite).
    private let walState = UnsafeMutablePointer<caracal_wal_state>.allocate(capacity: 1)

    public static let defaultPath = "/var/lib/caracal/caracal.db"
    static let schemaVersion = 2
    /// Revisions of deletions kept for watchers (`changes`); a watcher
    /// further behind re-lists. At a few revisions per pod start, about a
    /// day of a busy node's churn.
    public static let retainedRevisions: Revision = 10_000
    /// WAL frames (pages) after which a commit checkpoints. SQLite's default
    /// is 1000; every first connection of a process re-reads the whole WAL
    /// to rebuild its index (~2.5 µs a page here), so a plugin run would
    /// read up to 4 MB. 128 pages keep that read under 0.5 MB; the
    /// checkpoint (two fdatasyncs) falls on about one ADD in 8 when nothing
    /// else checkpoints (DEL does, see `checkpoint()`).
    public static let walAutocheckpointPages = 128

    public struct OpenError: Error, CustomStringConvertible {
        public var path: String
        public var underlying: String
        public var description: String { "cannot open datastore \(path): \(underlying)" }
    }

    /// Opening without `create` found no datastore at `path`.
    public struct NotFound: Error, CustomStringConvertible {
        public var path: String
        public var description: String {
            "no datastore at \(path) (the agent or `caracal ipam pool create --datastore \(path)` creates it)"
        }
    }

    /// An SQLite result code with its message (`sqlite3_errmsg`).
    public struct SQLiteError: Error, CustomStringConvertible {
        /// The extended result code.
        public var code: Int32
        public var message: String
        public var description: String { "SQLite error \(code): \(message)" }
        /// The primary result code (SQLITE_BUSY for SQLITE_BUSY_SNAPSHOT...).
        public var primaryCode: Int32 { code & 0xff }
    }

    /// Opens the datastore at `path`.
    /// - Parameter create: whether to create it (and its directories) when
    ///   absent. Only an admin's command or the agent creates a datastore:
    ///   a plugin that created one at a mistyped path would run a second,
    ///   independent IPAM (duplicate addresses); it fails instead.
    /// - Parameter busyTimeout: how long a writer waits for another process's
    ///   transaction before giving up (the plugin then answers "try again").
    /// - Parameter autocheckpointPages: WAL size at which a commit
    ///   checkpoints (0: never; the caller runs `checkpoint()`).
    public init(
        path: String, create: Bool = true, busyTimeout: Double = 10,
        autocheckpointPages: Int = SQLiteStore.walAutocheckpointPages
    ) throws {
        self.path = path
        walState.initialize(to: caracal_wal_state(pages: 0, autocheckpoint: Int32(clamping: max(0, autocheckpointPages))))
        var handle: OpaquePointer?
        do {
            if create {
                try SQLiteStore.makeParentDirectories(of: path)
            } else if access(path, F_OK) != 0 {
                throw NotFound(path: path)
            }
            let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0)
            let rc = sqlite3_open_v2(path, &handle, flags, nil)
            guard rc == SQLITE_OK, let handle else {
                let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
                sqlite3_close_v2(handle)
                throw SQLiteError(code: rc, message: message)
            }
            db = handle
        } catch let error as NotFound {
            walState.deallocate()
            throw error
        } catch {
            walState.deallocate()
            throw OpenError(path: path, underlying: "\(error)")
        }
        do {
            try configure(busyTimeout: busyTimeout)
            try createSchemaIfNeeded()
        } catch {
            finalizeAll()
            sqlite3_close_v2(db)
            walState.deallocate()
            throw OpenError(path: path, underlying: "\(error)")
        }
    }

    deinit {
        finalizeAll()
        sqlite3_close_v2(db)
        walState.deallocate()
    }

    private func configure(busyTimeout: Double) throws {
        sqlite3_extended_result_codes(db, 1)
        // SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries,
        // so a plugin that arrives while another holds the write lock for
        // 1 ms waits 3+ ms. Transactions here are short: poll every 200 µs.
        let maxTries = max(1, Int(busyTimeout / 0.0002))
        sqlite3_busy_handler(
            db,
            { context, tries in
                guard Int(tries) < Int(bitPattern: context) else { return 0 }
                usleep(200)
                return 1
            }, UnsafeMutableRawPointer(bitPattern: maxTries))
        // WAL + NORMAL: a commit is atomic and survives a killed process (the
        // WAL append is in the page cache before COMMIT returns); only an OS
        // crash or power loss can lose the last commits, never corrupt the
        // file. The plugin's no-leak guarantee is about processes killed
        // mid-ADD, which FULL would not change.
        try execute("PRAGMA synchronous = NORMAL")
        caracal_sqlite_track_wal(db, walState)
        let rc = caracal_sqlite_keep_wal(db)
        if rc != SQLITE_OK { throw error(rc) }
    }

    /// The schema exists once user_version is set: every later open (each
    /// plugin run opens) skips the write transaction.
    private func createSchemaIfNeeded() throws {
        let version = try queryInt64("PRAGMA user_version") ?? 0
        if version >= Int64(SQLiteStore.schemaVersion) { return }
        // WAL is a property of the file: set once, at creation (it cannot
        // change inside a transaction).
        let mode = try queryText("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot switch to WAL mode (journal_mode is \(mode ?? "?"))")
        }
        try execute("BEGIN IMMEDIATE")
        do {
            // Another process may have created or migrated it meanwhile.
            let current = try queryInt64("PRAGMA user_version") ?? 0
            if current < Int64(SQLiteStore.schemaVersion) {
                // Version 1 had no tombstones (value NOT NULL): its rows
                // move into the version 2 table unchanged.
                if current == 1 { try execute("ALTER TABLE kv RENAME TO kv_v1") }
                try execute("""
                    CREATE TABLE kv (
                        key TEXT PRIMARY KEY NOT NULL,
                        value BLOB,
                        revision INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS meta (
                        name TEXT PRIMARY KEY NOT NULL,
                        value INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);
                    INSERT OR IGNORE INTO meta(name, value) VALUES ('compacted', 0);
                    """)
                if current == 1 { try execute("INSERT INTO kv SELECT key, value, revision FROM kv_v1; DROP TABLE kv_v1;") }
                try execute("PRAGMA user_version = \(SQLiteStore.schemaVersion)")
            }
            try execute("COMMIT")
        } catch {
            rollback()
            throw error
        }
    }

    /// Whether an error means "another writer held the lock too long".
    public static func isBusy(_ error: Error) -> Bool {
        guard let e = error as? SQLiteError else { return false }
        return e.primaryCode == SQLITE_BUSY || e.primaryCode == SQLITE_LOCKED
    }

    @discardableResult
    public func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        try lock.withLock { _ in
            try run("BEGIN IMMEDIATE")
            do {
                let rev = (try queryInt64("SELECT value FROM meta WHERE name = 'revision'") ?? 0) + 1
                let tx = Tx(self, revision: rev, readOnly: false)
                let result = try body(tx)
                if tx.wrote {
                    try run("UPDATE meta SET value = ? WHERE name = 'revision'", .int(rev))
                    // Bounded tombstones: now and then, in the same commit.
                    if rev % 1024 == 0, rev > SQLiteStore.retainedRevisions { try compactLocked(through: rev - SQLiteStore.retainedRevisions) }
                }
                try run("COMMIT")
                return result
            } catch {
                rollback()
                throw error
            }
        }
    }

    public func read<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        try lock.withLock { _ in
            // A deferred transaction: one snapshot for every read in `body`.
            try run("BEGIN")
            defer { rollback() }
            return try body(Tx(self, revision: 0, readOnly: true))
        }
    }

    /// The WAL's size in pages after this connection's last commit (0
    /// before it commits).
    public var walPages: Int { lock.withLock { _ in Int(walState.pointee.pages) } }

    /// Copies the WAL's committed pages into the database file (a PASSIVE
    /// checkpoint: it neither waits for nor blocks other readers and
    /// writers, and does what it can). Returns the WAL's size in pages and
    /// how many of them are now in the database file.
    @discardableResult
    public func checkpoint() throws -> (walPages: Int, checkpointed: Int) {
        try lock.withLock { _ in
            var log: Int32 = 0
            var done: Int32 = 0
            let rc = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
            if rc != SQLITE_OK && rc & 0xff != SQLITE_BUSY { throw error(rc) }
            return (Int(log), Int(done))
        }
    }

    /// The store's current revision (number of committed write transactions).
    public func revision() throws -> Revision {
        try lock.withLock { _ in try queryInt64("SELECT value FROM meta WHERE name = 'revision'") ?? 0 }
    }

    /// The revision at which `key` was last written, nil when absent.
    public func revision(of key: String) throws -> Revision? {
        try lock.withLock { _ in try queryInt64("SELECT revision FROM kv WHERE key = ? AND value IS NOT NULL", .text(key)) }
    }

    public func changes(prefix: String, after revision: Revision) throws -> ChangeSet {
        try lock.withLock { _ in
            // One snapshot for the compaction point, the rows and the revision.
            try run("BEGIN")
            defer { rollback() }
            let compacted = try queryInt64("SELECT value FROM meta WHERE name = 'compacted'") ?? 0
            guard revision >= compacted else { throw KVStoreError.compacted(requested: revision, compactedThrough: compacted) }
            // No index on revision: it would cost every commit an index
            // write (~20% of an allocation); this scans the prefix's keys
            // instead, which a watcher does only when the revision moved.
            var events: [WatchEvent] = []
            try query(
                "SELECT key, value, revision FROM kv WHERE revision > ? AND key >= ? AND key < ? ORDER BY revision, key",
                .int(revision), .text(prefix), .text(prefix + "\u{FFFF}")
            ) { stmt in
                let key = String(cString: sqlite3_column_text(stmt, 0))
                let rev = sqlite3_column_int64(stmt, 2)
                if sqlite3_column_type(stmt, 1) == SQLITE_NULL {
                    events.append(.delete(key: key, modRevision: rev))
                } else {
                    events.append(.put(KeyValue(key: key, value: SQLiteStore.blob(stmt, 1), modRevision: rev)))
                }
                return true
            }
            let current = try queryInt64("SELECT value FROM meta WHERE name = 'revision'") ?? 0
            return ChangeSet(events: events, revision: current)
        }
    }

    public func compact(through revision: Revision) throws {
        try lock.withLock { _ in
            try run("BEGIN IMMEDIATE")
            do {
                try compactLocked(through: revision)
                try run("COMMIT")
            } catch {
                rollback()
                throw error
            }
        }
    }

    public func compactedRevision() throws -> Revision {
        try lock.withLock { _ in try queryInt64("SELECT value FROM meta WHERE name = 'compacted'") ?? 0 }
    }

    /// Drops tombstones at or before `revision` (never past the current
    /// revision) and moves the compaction point; inside a write transaction.
    private func compactLocked(through revision: Revision) throws {
        let current = try queryInt64("SELECT value FROM meta WHERE name = 'revision'") ?? 0
        let through = min(revision, current)
        let compacted = try queryInt64("SELECT value FROM meta WHERE name = 'compacted'") ?? 0
        guard through > compacted else { return }
        try run("DELETE FROM kv WHERE revision <= ? AND value IS NULL", .int(through))
        try run("UPDATE meta SET value = ? WHERE name = 'compacted'", .int(through))
    }

    private final class Tx: KVTransaction {
        unowned let store: SQLiteStore
        let revision: Revision
        let readOnly: Bool
        var wrote = false
        var budget = WriteBudget()

        init(_ store: SQLiteStore, revision: Revision, readOnly: Bool) {
            self.store = store
            self.revision = revision
            self.readOnly = readOnly
        }

        func entry(_ key: String) throws -> KeyValue? {
            var entry: KeyValue?
            try store.query("SELECT value, revision FROM kv WHERE key = ? AND value IS NOT NULL", .text(key)) { stmt in
                entry = KeyValue(key: key, value: SQLiteStore.blob(stmt, 0), modRevision: sqlite3_column_int64(stmt, 1))
                return false
            }
            return entry
        }

        func entries(prefix: String) throws -> [KeyValue] {
            // A range scan on the primary key: [prefix, prefix + U+FFFF).
            var rows: [KeyValue] = []
            try store.query(
                "SELECT key, value, revision FROM kv WHERE key >= ? AND key < ? AND value IS NOT NULL ORDER BY key",
                .text(prefix), .text(prefix + "\u{FFFF}")
            ) { stmt in
                rows.append(KeyValue(
                    key: String(cString: sqlite3_column_text(stmt, 0)), value: SQLiteStore.blob(stmt, 1),
                    modRevision: sqlite3_column_int64(stmt, 2)))
                return true
            }
            return rows
        }

        func put(_ key: String, _ value: Data) throws {
            if readOnly { throw KVStoreError.readOnly(key: key) }
            try budget.write(key)
            wrote = true
            try store.run(
                "INSERT INTO kv(key, value, revision) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, revision = excluded.revision",
                .text(key), .blob(value), .int(revision))
        }

        /// A tombstone, so that watchers see the deletion.
        func delete(_ key: String) throws {
            if readOnly { throw KVStoreError.readOnly(key: key) }
            try budget.write(key)
            try store.run("UPDATE kv SET value = NULL, revision = ? WHERE key = ? AND value IS NOT NULL", .int(revision), .text(key))
            if sqlite3_changes(store.db) > 0 { wrote = true }
        }
    }

    // MARK: SQLite calls (the caller holds the lock, or is the initializer)

    private enum Value {
        case text(String)
        case blob(Data)
        case int(Int64)
    }

    private func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)))
    }

    /// Runs one or more statements without parameters.
    private func execute(_ sql: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw error(rc) }
    }

    /// Ends the open transaction, if any, without its writes.
    private func rollback() {
        if sqlite3_get_autocommit(db) == 0 { _ = try? run("ROLLBACK") }
    }

    /// A prepared statement for `sql`, compiled once per connection.
    private func statement(_ sql: String) throws -> OpaquePointer {
        if let s = statements[sql] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        statements[sql] = stmt
        return stmt
    }

    /// The cached statement for `sql` with `values` bound, reset after `body`.
    private func withStatement<T>(_ sql: String, _ values: [Value], _ body: (OpaquePointer) throws -> T) throws -> T {
        let stmt = try statement(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        for (i, v) in values.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch v {
            case .int(let n): rc = sqlite3_bind_int64(stmt, index, n)
            case .text(let s): rc = s.utf8CString.withUnsafeBufferPointer { caracal_sqlite_bind_text(stmt, index, $0.baseAddress, Int32($0.count - 1)) }
            case .blob(let d): rc = d.withUnsafeBytes { caracal_sqlite_bind_blob(stmt, index, $0.baseAddress, Int32($0.count)) }
            }
            if rc != SQLITE_OK { throw error(rc) }
        }
        return try body(stmt)
    }

    /// Steps `sql` with `values` bound; `row` sees each result row and
    /// returns whether to go on.
    private func query(_ sql: String, _ values: Value..., row: (OpaquePointer) throws -> Bool) throws {
        try withStatement(sql, values) { stmt in
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { return }
                guard rc == SQLITE_ROW else { throw error(rc) }
                if try !row(stmt) { return }
            }
        }
    }

    private func run(_ sql: String, _ values: Value...) throws {
        try withStatement(sql, values) { stmt in
            let rc = sqlite3_step(stmt)
            if rc != SQLITE_DONE && rc != SQLITE_ROW { throw error(rc) }
        }
    }

    /// The first column of the first row, nil when there is none (or NULL).
    private func queryInt64(_ sql: String, _ values: Value...) throws -> Int64? {
        try withStatement(sql, values) { stmt in
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW { return sqlite3_column_type(stmt, 0) == SQLITE_NULL ? nil : sqlite3_column_int64(stmt, 0) }
            if rc != SQLITE_DONE { throw error(rc) }
            return nil
        }
    }

    private func queryText(_ sql: String) throws -> String? {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        defer { sqlite3_finalize(stmt) }
        let step = sqlite3_step(stmt)
        guard step == SQLITE_ROW else {
            if step == SQLITE_DONE { return nil }
            throw error(step)
        }
        return sqlite3_column_text(stmt, 0).map { String(cString: $0) }
    }

    private static func blob(_ stmt: OpaquePointer, _ column: Int32) -> Data {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let bytes = sqlite3_column_blob(stmt, column) else { return Data() }
        return Data(bytes: bytes, count: count)
    }

    private func finalizeAll() {
        for stmt in statements.values { sqlite3_finalize(stmt) }
        statements = [:]
    }

    /// `mkdir -p` of the directory holding `path`.
    private static func makeParentDirectories(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let dir = String(path[..<slash])
        if access(dir, F_OK) == 0 { return }
        try makeParentDirectories(of: dir)
        if mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "cannot create directory \(dir): \(String(cString: strerror(errno)))")
        }
    }
}
