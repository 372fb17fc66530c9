#ifndef CSQLITE_TUNING_H
#define CSQLITE_TUNING_H
// SQLite settings Swift cannot reach: sqlite3_db_config is variadic.
// Takes the connection as an opaque pointer (GRDB's Database.sqliteConnection).

/// Keeps the WAL file when the last connection closes and skips the
/// checkpoint on close, so a short-lived process (the CNI plugin) does not
/// pay a checkpoint, two fsyncs and a WAL re-creation on every run. WAL
/// contents are checkpointed by the automatic checkpoint of later commits.
/// Returns 0 on success, else an SQLite error code.
int caracal_sqlite_keep_wal(void *connection);

#endif
