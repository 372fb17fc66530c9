#ifndef CSQLITE_H
#define CSQLITE_H
// SQLite for Swift: the library's API (sqlite3.h), plus what Swift cannot
// reach itself: variadic calls (sqlite3_db_config) and the
// SQLITE_TRANSIENT destructor macro.
#include <sqlite3.h>

/// Keeps the WAL file when the last connection closes and skips the
/// checkpoint on close, so a short-lived process (the CNI plugin) does not
/// pay a checkpoint, two fsyncs and a WAL re-creation on every run. WAL
/// contents are checkpointed by the automatic checkpoint of later commits.
/// Returns 0 on success, else an SQLite error code.
int caracal_sqlite_keep_wal(sqlite3 *db);

/// What a connection's wal hook keeps: the WAL's size in pages after the
/// last commit, and the size at which a commit checkpoints (0: never).
struct caracal_wal_state { int pages; int autocheckpoint; };

/// Installs the wal hook for `state` (owned by the caller, alive until the
/// connection is closed). It checkpoints (PASSIVE) when the WAL reaches
/// `state->autocheckpoint`, which is what sqlite3_wal_autocheckpoint does,
/// since a wal hook replaces it.
void caracal_sqlite_track_wal(sqlite3 *db, struct caracal_wal_state *state);

/// sqlite3_bind_text / sqlite3_bind_blob with SQLITE_TRANSIENT (SQLite
/// copies the bytes before returning).
int caracal_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length);
int caracal_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, int length);

#endif
