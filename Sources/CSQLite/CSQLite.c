#include "CSQLite.h"

int caracal_sqlite_keep_wal(sqlite3 *db) {
    int on = 1;
    int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
    if (rc != SQLITE_OK) return rc;
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

int caracal_sqlite_bind_text(sqlite3_stmt *stmt, int index, const char *text, int length) {
    return sqlite3_bind_text(stmt, index, text, length, SQLITE_TRANSIENT);
}

int caracal_sqlite_bind_blob(sqlite3_stmt *stmt, int index, const void *bytes, int length) {
    // A zero-length blob needs a non-NULL pointer (NULL binds SQL NULL).
    static const char empty = 0;
    return sqlite3_bind_blob(stmt, index, length > 0 ? bytes : &empty, length, SQLITE_TRANSIENT);
}

static int caracal_wal_hook(void *context, sqlite3 *db, const char *name, int pages) {
    struct caracal_wal_state *state = context;
    state->pages = pages;
    if (state->autocheckpoint > 0 && pages >= state->autocheckpoint) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, 0, 0);
    }
    return SQLITE_OK;
}

void caracal_sqlite_track_wal(sqlite3 *db, struct caracal_wal_state *state) {
    sqlite3_wal_hook(db, caracal_wal_hook, state);
}
