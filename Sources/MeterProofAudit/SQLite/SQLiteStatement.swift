import CMeterProofSQLite

/// Owns an open `sqlite3*` and closes it with `sqlite3_close_v2` when the last owner goes away.
///
/// Both ``SQLiteDatabase`` and every ``SQLiteStatement`` hold this object strongly, so a
/// statement that outlives its database object still runs on a live connection (never on a
/// "zombie" one), and the database's statement cache forms no reference cycle.
final class SQLiteConnection {
    let raw: OpaquePointer

    init(_ raw: OpaquePointer) { self.raw = raw }

    deinit { sqlite3_close_v2(raw) }
}

/// One prepared statement (`sqlite3_stmt*`), finalized in `deinit`.
///
/// Parameter and column indices follow SQLite: parameters are 1-based, columns 0-based.
/// Column accessors never fail: an out-of-range column reads as NULL, as in SQLite.
/// Not `Sendable`: use a statement only on the thread or actor that owns its database.
package final class SQLiteStatement {
    let connection: SQLiteConnection
    let handle: OpaquePointer
    /// The SQL text this statement was prepared from.
    package let sql: String

    /// Prepares exactly one statement from `sql`; trailing whitespace and comments are allowed,
    /// a second statement is refused with `SQLITE_MISUSE` (use ``SQLiteDatabase/execute(_:)``).
    init(connection: SQLiteConnection, sql: String, persistent: Bool) throws(SQLiteError) {
        self.connection = connection
        self.sql = sql
        let db = connection.raw
        let flags = UInt32(persistent ? SQLITE_PREPARE_PERSISTENT : 0)
        var s = sql
        let result: Result<OpaquePointer, SQLiteError> = s.withUTF8 { buf in
            guard buf.count < Int(Int32.max) else {
                return .failure(SQLiteError(extendedResultCode: SQLITE_TOOBIG, message: "SQL text too long", sql: sql))
            }
            if buf.contains(0) { return .failure(.misuse("SQL text contains a NUL byte", sql: sql)) }
            guard let base = buf.baseAddress, buf.count > 0 else {
                return .failure(.misuse("no SQL statement to prepare", sql: sql))
            }
            let start = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            let end = start + buf.count
            var stmt: OpaquePointer? = nil
            var tail: UnsafePointer<CChar>? = nil
            let rc = sqlite3_prepare_v3(db, start, Int32(buf.count), flags, &stmt, &tail)
            guard rc == SQLITE_OK else { return .failure(SQLiteError(code: rc, db: db, sql: sql)) }
            guard let stmt else { return .failure(.misuse("no SQL statement to prepare (only whitespace or comments)", sql: sql)) }
            // Anything after the first statement must be whitespace or comments.
            if let tail, tail < end, UnsafeBufferPointer(start: tail, count: end - tail).contains(where: { !isSQLWhitespace($0) }) {
                var extra: OpaquePointer? = nil
                let rc2 = sqlite3_prepare_v3(db, tail, Int32(end - tail), 0, &extra, nil)
                if rc2 != SQLITE_OK || extra != nil {
                    sqlite3_finalize(extra)
                    sqlite3_finalize(stmt)
                    return .failure(.misuse("prepare() accepts a single SQL statement; use execute() for several", sql: sql))
                }
            }
            return .success(stmt)
        }
        self.handle = try result.get()
    }

    deinit { sqlite3_finalize(handle) }

    private func check(_ rc: Int32) throws(SQLiteError) {
        if rc != SQLITE_OK { throw SQLiteError(code: rc, db: connection.raw, sql: sql) }
    }

    // MARK: Binding

    /// Binds an integer to parameter `index` (1-based).
    package func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Binds UTF-8 text to parameter `index` (1-based); `nil` binds NULL.
    /// The bytes are copied by SQLite (`SQLITE_TRANSIENT`); embedded NULs are kept.
    package func bind(_ value: String?, at index: Int32) throws(SQLiteError) {
        guard var text = value else { return try bindNull(at: index) }
        let h = handle
        let rc: Int32 = text.withUTF8 { buf in
            guard let base = buf.baseAddress, buf.count > 0 else {
                // A NULL pointer would bind SQL NULL; bind a real empty string instead.
                return sqlite3_bind_text(h, index, "", 0, cmp_sqlite3_transient())
            }
            return sqlite3_bind_text64(h, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                       UInt64(buf.count), cmp_sqlite3_transient(), UInt8(SQLITE_UTF8))
        }
        try check(rc)
    }

    /// Binds a BLOB to parameter `index` (1-based). The bytes are copied (`SQLITE_TRANSIENT`).
    /// An empty buffer binds an empty BLOB, not NULL.
    package func bind(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws(SQLiteError) {
        let rc: Int32
        if let base = bytes.baseAddress, bytes.count > 0 {
            rc = sqlite3_bind_blob64(handle, index, base, UInt64(bytes.count), cmp_sqlite3_transient())
        } else {
            rc = sqlite3_bind_zeroblob(handle, index, 0)
        }
        try check(rc)
    }

    /// Binds a BLOB to parameter `index` (1-based). The bytes are copied (`SQLITE_TRANSIENT`).
    package func bind(_ bytes: [UInt8], at index: Int32) throws(SQLiteError) {
        let rc: Int32 = bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 {
                return sqlite3_bind_blob64(handle, index, base, UInt64(raw.count), cmp_sqlite3_transient())
            }
            return sqlite3_bind_zeroblob(handle, index, 0)
        }
        try check(rc)
    }

    /// Binds SQL NULL to parameter `index` (1-based).
    package func bindNull(at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(handle, index))
    }

    /// The number of SQL parameters in the statement.
    package var parameterCount: Int32 { sqlite3_bind_parameter_count(handle) }

    // MARK: Stepping

    /// Advances the statement: `true` when a row is available, `false` when it has finished.
    package func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, db: connection.raw, sql: sql)
        }
    }

    /// Resets the statement so it can run again, and clears all bindings to NULL.
    package func reset() {
        // sqlite3_reset repeats the last step's error, which step() already reported.
        _ = sqlite3_reset(handle)
        _ = sqlite3_clear_bindings(handle)
    }

    /// Runs the statement to completion, discarding any rows it produces.
    package func run() throws(SQLiteError) {
        while try step() {}
    }

    // MARK: Columns

    /// The number of columns in a result row.
    package var columnCount: Int32 { sqlite3_column_count(handle) }

    /// The name of result column `column` (0-based), or `nil` if out of range.
    package func columnName(at column: Int32) -> String? {
        sqlite3_column_name(handle, column).map { String(cString: $0) }
    }

    /// The storage class of column `column` of the current row: `SQLITE_INTEGER`, `SQLITE_FLOAT`,
    /// `SQLITE_TEXT`, `SQLITE_BLOB` or `SQLITE_NULL` (before any conversion by a getter).
    package func storageClass(at column: Int32) -> Int32 {
        sqlite3_column_type(handle, column)
    }

    /// Whether column `column` (0-based) of the current row is NULL.
    package func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    /// Column `column` (0-based) of the current row as an integer (NULL reads as 0,
    /// other types use SQLite's conversions).
    package func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    /// Column `column` (0-based) of the current row as text, or `nil` for NULL.
    /// Invalid UTF-8 stored in the database is repaired with U+FFFD rather than trapping.
    package func string(at column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        guard let p = sqlite3_column_text(handle, column) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// Column `column` (0-based) of the current row as bytes, or `nil` for NULL.
    package func blob(at column: Int32) -> [UInt8]? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        return withBlob(at: column) { Array($0) }
    }

    /// Calls `body` with a zero-copy view of column `column` (0-based) as UTF-8 text bytes
    /// (SQLite's text conversion; NULL appears empty). Valid only inside `body`.
    package func withText<R>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let p = sqlite3_column_text(handle, column)
        let n = Int(sqlite3_column_bytes(handle, column))
        guard let p, n > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// Calls `body` with a zero-copy view of column `column` (0-based) as bytes.
    ///
    /// The buffer is valid only inside `body` and only until the statement is stepped, reset
    /// or read with another type. NULL and empty values both appear as an empty buffer;
    /// use ``isNull(at:)`` to tell them apart.
    package func withBlob<R>(at column: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let p = sqlite3_column_blob(handle, column)
        let n = Int(sqlite3_column_bytes(handle, column))
        guard let p, n > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: p, count: n))
    }
}

@available(*, unavailable, message: "an SQLite statement belongs to one thread or actor")
extension SQLiteStatement: Sendable {}

/// ASCII whitespace as SQLite's tokenizer sees it.
@inline(__always)
func isSQLWhitespace(_ c: CChar) -> Bool {
    c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D
}
