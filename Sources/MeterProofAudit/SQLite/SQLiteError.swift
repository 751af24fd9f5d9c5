#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CMeterProofSQLite

/// A failure reported by SQLite (or by this access layer, using SQLite's result codes).
///
/// Every error carries the primary and extended result code and the message SQLite gave
/// (`sqlite3_errmsg`) at the moment of failure, plus the SQL text involved when there was one.
package struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The primary result code (`extendedResultCode & 0xFF`), e.g. `SQLITE_CONSTRAINT` (19).
    package let resultCode: Int32
    /// The extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE` (2067).
    package let extendedResultCode: Int32
    /// The message SQLite reported for this failure.
    package let message: String
    /// The SQL being prepared or run, when known.
    package let sql: String?
    /// For an I/O error, the operating system's `errno` behind it (`sqlite3_system_errno`), else 0.
    package let systemErrno: Int32

    /// Creates an error from an (extended or primary) SQLite result code.
    package init(extendedResultCode: Int32, message: String, sql: String? = nil, systemErrno: Int32 = 0) {
        self.extendedResultCode = extendedResultCode
        self.resultCode = extendedResultCode & 0xFF
        self.message = message
        self.sql = sql
        self.systemErrno = systemErrno
    }

    /// Builds an error for result code `code` just returned by a call on `db`.
    ///
    /// Uses `sqlite3_errmsg(db)` when the connection's last error matches `code` (it always does
    /// for errors SQLite records on the connection); otherwise falls back to `sqlite3_errstr`.
    init(code: Int32, db: OpaquePointer?, sql: String? = nil) {
        var extended = code
        var text: String? = nil
        if let db {
            let last = sqlite3_extended_errcode(db)
            if last & 0xFF == code & 0xFF {
                // With extended codes enabled the call already returned the extended code;
                // prefer the connection's value if the call gave only the primary one.
                if code & ~0xFF == 0 { extended = last }
                if let m = sqlite3_errmsg(db) { text = String(cString: m) }
            }
        }
        if text == nil { text = sqlite3_errstr(code).map { String(cString: $0) } ?? "unknown error" }
        // Which I/O error it was (ENOSPC behind a failed write or a failed -shm extension).
        let primary = extended & 0xFF
        let osError = (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL) ? db.map { sqlite3_system_errno($0) } ?? 0 : 0
        self.init(extendedResultCode: extended, message: text!, sql: sql, systemErrno: osError)
    }

    /// A misuse of this API detected before reaching SQLite (`SQLITE_MISUSE`).
    static func misuse(_ message: String, sql: String? = nil) -> SQLiteError {
        SQLiteError(extendedResultCode: SQLITE_MISUSE, message: message, sql: sql)
    }

    /// `SQLITE_BUSY` family: another connection holds a conflicting lock.
    package var isBusy: Bool { resultCode == SQLITE_BUSY }
    /// `SQLITE_READONLY` family: a write was attempted on a read-only connection or file.
    package var isReadOnly: Bool { resultCode == SQLITE_READONLY }
    /// `SQLITE_FULL`: the disk (or the database's size limit) is full.
    /// Also an I/O error the operating system reported as `ENOSPC` or `EDQUOT` (SQLite reports
    /// a full disk met while extending its `-shm` file or syncing as `SQLITE_IOERR_*`).
    package var isFull: Bool {
        resultCode == SQLITE_FULL || (resultCode == SQLITE_IOERR && (systemErrno == ENOSPC || systemErrno == EDQUOT))
    }
    /// `SQLITE_CORRUPT` family: SQLite found the file's pages malformed (a truncated or
    /// overwritten file).
    package var isCorrupt: Bool { resultCode == SQLITE_CORRUPT }
    /// `SQLITE_CANTOPEN` family: the file (or, for a WAL database, its side files) cannot be opened.
    package var isCantOpen: Bool { resultCode == SQLITE_CANTOPEN }
    /// `SQLITE_NOTADB`: the file is not an SQLite database.
    package var isNotADatabase: Bool { resultCode == SQLITE_NOTADB }
    /// `SQLITE_CONSTRAINT` family, e.g. `SQLITE_CONSTRAINT_UNIQUE`.
    package var isConstraint: Bool { resultCode == SQLITE_CONSTRAINT }

    package var description: String {
        var s = "SQLite error \(resultCode)"
        if extendedResultCode != resultCode { s += " (extended \(extendedResultCode))" }
        s += ": \(message)"
        if systemErrno != 0 { s += " (\(String(cString: strerror(systemErrno))))" }
        if let sql { s += " [SQL: \(sql)]" }
        return s
    }
}
