import CSQLiteTuning
import Foundation
import GRDB
import IPAM

/// The embedded datastore: one SQLite file per node, shared by the plugin
/// and the agent. WAL mode lets readers run beside the one writer; every
/// transaction is `BEGIN IMMEDIATE`, so writers queue on the file lock (with
/// a busy timeout) instead of failing halfway, and a process killed at any
/// point leaves either the whole transaction or none of it.
///
/// Layout: one table of keys, values and revisions. `revision` grows by one
/// per committed write transaction and is stored on every key it wrote, the
/// shape of etcd's mod_revision, so the etcd backend keeps the same model.
public final class SQLiteStore: KVStore, @unchecked Sendable {
    public let path: String
    private let queue: DatabaseQueue

    public static let defaultPath = "/var/lib/caracal/caracal.db"
    static let schemaVersion = 1

    public struct OpenError: Error, CustomStringConvertible {
        public var path: String
        public var underlying: String
        public var description: String { "cannot open datastore \(path): \(underlying)" }
    }

    /// Opens (creating when absent) the datastore at `path`.
    /// - Parameter busyTimeout: how long a writer waits for another process's
    ///   transaction before giving up (the plugin then answers "try again").
    public init(path: String, busyTimeout: TimeInterval = 10) throws {
        self.path = path
        var config = Configuration()
        // SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries,
        // so a plugin that arrives while another holds the write lock for
        // 1 ms waits 3+ ms. Transactions here are short: poll every 200 µs.
        let maxTries = max(1, Int(busyTimeout / 0.0002))
        config.busyMode = .callback { tries in
            guard tries < maxTries else { return false }
            usleep(200)
            return true
        }
        config.label = "caracal"
        config.prepareDatabase { db in
            // WAL + NORMAL: commits are atomic and survive a killed process;
            // only an OS crash can lose the last commits (never corrupt).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if let connection = db.sqliteConnection {
                let rc = caracal_sqlite_keep_wal(UnsafeMutableRawPointer(connection))
                if rc != 0 { throw DatabaseError(resultCode: ResultCode(rawValue: rc)) }
            }
        }
        do {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty, access(dir, F_OK) != 0 {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
            queue = try DatabaseQueue(path: path, configuration: config)
            // The schema exists once user_version is set: skip the write
            // transaction on every later open (each plugin run opens).
            let version = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
            if version >= SQLiteStore.schemaVersion { return }
            // WAL is a property of the file: set once, at creation (it
            // cannot change inside a transaction).
            try queue.writeWithoutTransaction { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                guard mode?.lowercased() == "wal" else {
                    throw OpenError(path: path, underlying: "cannot switch to WAL mode (journal_mode is \(mode ?? "?"))")
                }
            }
            try queue.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try db.execute(sql: """
                        CREATE TABLE IF NOT EXISTS kv (
                            key TEXT PRIMARY KEY NOT NULL,
                            value BLOB NOT NULL,
                            revision INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        CREATE TABLE IF NOT EXISTS meta (
                            name TEXT PRIMARY KEY NOT NULL,
                            value INTEGER NOT NULL
                        ) WITHOUT ROWID;
                        INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);
                        """)
                    try db.execute(sql: "PRAGMA user_version = \(SQLiteStore.schemaVersion)")
                    return .commit
                }
            }
        } catch {
            throw OpenError(path: path, underlying: "\(error)")
        }
    }

    /// Whether an error means "another writer held the lock too long".
    public static func isBusy(_ error: Error) -> Bool {
        guard let e = error as? DatabaseError else { return false }
        return e.resultCode == .SQLITE_BUSY || e.resultCode == .SQLITE_LOCKED
    }

    @discardableResult
    public func transaction<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        try queue.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                let rev = (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'revision'") ?? 0) + 1
                let tx = Tx(db, revision: rev, readOnly: false)
                result = try body(tx)
                if tx.wrote {
                    try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'revision'", arguments: [rev])
                }
                return .commit
            }
            return result!
        }
    }

    public func read<T>(_ body: (KVTransaction) throws -> T) throws -> T {
        try queue.read { db in try body(Tx(db, revision: 0, readOnly: true)) }
    }

    /// The store's current revision (number of committed write transactions).
    public func revision() throws -> Int64 {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'revision'") ?? 0 }
    }

    /// The revision at which `key` was last written, nil when absent.
    public func revision(of key: String) throws -> Int64? {
        try queue.read { db in try Int64.fetchOne(db, sql: "SELECT revision FROM kv WHERE key = ?", arguments: [key]) }
    }

    public struct ReadOnlyViolation: Error {}

    private final class Tx: KVTransaction {
        let db: Database
        let revision: Int64
        let readOnly: Bool
        var wrote = false

        init(_ db: Database, revision: Int64, readOnly: Bool) {
            self.db = db
            self.revision = revision
            self.readOnly = readOnly
        }

        // Cached statements: compiled once per connection.
        func get(_ key: String) throws -> Data? {
            try Data.fetchOne(try db.cachedStatement(sql: "SELECT value FROM kv WHERE key = ?"), arguments: [key])
        }

        func list(prefix: String) throws -> [(key: String, value: Data)] {
            // A range scan on the primary key: [prefix, prefix + U+FFFF).
            let rows = try Row.fetchAll(
                try db.cachedStatement(sql: "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key"),
                arguments: [prefix, prefix + "\u{FFFF}"])
            return rows.map { ($0["key"], $0["value"]) }
        }

        func put(_ key: String, _ value: Data) throws {
            if readOnly { throw ReadOnlyViolation() }
            wrote = true
            try db.cachedStatement(
                sql: "INSERT INTO kv(key, value, revision) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, revision = excluded.revision"
            ).execute(arguments: [key, value, revision])
        }

        func delete(_ key: String) throws {
            if readOnly { throw ReadOnlyViolation() }
            wrote = true
            try db.cachedStatement(sql: "DELETE FROM kv WHERE key = ?").execute(arguments: [key])
        }
    }
}
