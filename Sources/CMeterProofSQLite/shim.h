#ifndef CMETERPROOF_SQLITE_SHIM_H
#define CMETERPROOF_SQLITE_SHIM_H

#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro ((sqlite3_destructor_type)-1) that Swift cannot import. */
static inline sqlite3_destructor_type cmp_sqlite3_transient(void) {
    return SQLITE_TRANSIENT;
}

/* sqlite3_db_config is variadic; Swift cannot call variadic C functions. */
static inline int cmp_sqlite3_db_config_int(sqlite3 *db, int op, int value, int *out) {
    return sqlite3_db_config(db, op, value, out);
}

#endif
