import CMeterProofSQLite

/// One SQLite connection (`sqlite3*`), closed with `sqlite3_close_v2` when the database object
/// and every statement prepared from it are gone.
///
/// The connection is opened with `SQLITE_OPEN_NOMUTEX` (SQLite does no locking of its own for
/// it) and `SQLITE_OPEN_EXRESCODE` (calls return extended result codes). Double-quoted string
/// literals are disabled, so a misspelled `"column"` is an error instead of a string.
///
/// Not `Sendable`: use one connection per thread or actor.
package final class SQLiteDatabase {
    /// How to open the database file.
    package enum OpenMode: Sendable {
        /// `SQLITE_OPEN_READONLY`: writes fail with `SQLITE_READONLY`.
        case readOnly
        /// `SQLITE_OPEN_READWRITE`: the file must exist.
        case readWrite
        /// `SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE`.
        case readWriteCreate
        /// Read-only without locking or side files (`immutable=1`): for a trail copied to a
        /// place the reader cannot write. Only safe when nothing else writes the file.
        case immutable
    }

    /// The locking behaviour of `BEGIN`.
    package enum TransactionKind: Sendable {
        case deferred, immediate, exclusive
    }

    /// The path the database was opened with.
    package let path: String

    let connection: SQLiteConnection
    private var statementCache: [SQLKey: SQLiteStatement] = [:]

    /// Opens (or creates, for `.readWriteCreate`) the database at `path`.
    ///
    /// - Parameter busyTimeoutMilliseconds: how long to retry when another connection holds a
    ///   lock before failing with `SQLITE_BUSY`; zero or negative fails at once.
    /// - Throws: ``SQLiteError`` if the file cannot be opened; the handle is closed first.
    ///   A file that exists but is not a database opens fine and fails on the first query
    ///   with `SQLITE_NOTADB`.
    package init(path: String, mode: OpenMode, busyTimeoutMilliseconds: Int32 = 5000) throws(SQLiteError) {
        guard !path.utf8.contains(0) else {
            // sqlite3_open_v2 would silently open the path cut at the NUL.
            throw SQLiteError(extendedResultCode: SQLITE_CANTOPEN, message: "database path contains a NUL byte")
        }
        // NOMUTEX leaves each connection to one thread at a time, which this type's users keep to;
        // a library built with SQLITE_THREADSAFE=0 is unsafe even with a connection per thread.
        guard sqlite3_threadsafe() != 0 else {
            throw SQLiteError(extendedResultCode: SQLITE_MISUSE, message: "the SQLite library in use was built without thread support (SQLITE_THREADSAFE=0); MeterProof opens a connection per thread and needs a library built with 1 or 2")
        }
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .immutable: flags |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
        }
        var openPath = path
        if mode == .immutable {
            // A URI with immutable=1: no locks, no -shm/-wal side files (a copy on read-only media).
            var escaped = ""
            for ch in path.unicodeScalars {
                switch ch {
                case "%": escaped += "%25"
                case "?": escaped += "%3F"
                case "#": escaped += "%23"
                default: escaped.unicodeScalars.append(ch)
                }
            }
            openPath = "file:" + escaped + "?immutable=1"
        }
        var raw: OpaquePointer? = nil
        let rc = sqlite3_open_v2(openPath, &raw, flags, nil)
        guard rc == SQLITE_OK, let raw else {
            // SQLite may hand back a handle even on failure; it carries the message and must be closed.
            let error = SQLiteError(code: rc == SQLITE_OK ? SQLITE_NOMEM : rc, db: raw)
            sqlite3_close_v2(raw)
            throw error
        }
        // From here on, releasing `connection` (e.g. by throwing) closes the handle.
        let connection = SQLiteConnection(raw)
        let timeoutRC = sqlite3_busy_timeout(raw, busyTimeoutMilliseconds)
        guard timeoutRC == SQLITE_OK else { throw SQLiteError(code: timeoutRC, db: raw) }
        for op in [SQLITE_DBCONFIG_DQS_DML, SQLITE_DBCONFIG_DQS_DDL] {
            let dqsRC = cmp_sqlite3_db_config_int(raw, op, 0, nil)
            guard dqsRC == SQLITE_OK else { throw SQLiteError(code: dqsRC, db: raw) }
        }
        self.connection = connection
        self.path = path
    }

    deinit {
        // Finalize cached statements now; the connection itself closes when its last owner
        // (this object or a statement a caller still holds) is released.
        statementCache.removeAll()
    }

    var handle: OpaquePointer { connection.raw }

    // MARK: Running SQL

    /// Runs `sql`, which may contain several statements separated by semicolons, discarding
    /// any rows. Stops at the first failing statement (earlier ones stay applied).
    package func execute(_ sql: String) throws(SQLiteError) {
        let db = handle
        var s = sql
        let failure: SQLiteError? = s.withUTF8 { buf in
            guard buf.count < Int(Int32.max) else {
                return SQLiteError(extendedResultCode: SQLITE_TOOBIG, message: "SQL text too long", sql: sql)
            }
            if buf.contains(0) { return .misuse("SQL text contains a NUL byte", sql: sql) }
            guard let base = buf.baseAddress, buf.count > 0 else { return nil }
            var cursor = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            let end = cursor + buf.count
            while cursor < end {
                var stmt: OpaquePointer? = nil
                var tail: UnsafePointer<CChar>? = nil
                let rc = sqlite3_prepare_v3(db, cursor, Int32(end - cursor), 0, &stmt, &tail)
                guard rc == SQLITE_OK else { return SQLiteError(code: rc, db: db, sql: sql) }
                guard let stmt else { return nil }  // only whitespace or comments remain
                defer { sqlite3_finalize(stmt) }
                while true {
                    let stepRC = sqlite3_step(stmt)
                    if stepRC == SQLITE_ROW { continue }
                    if stepRC == SQLITE_DONE { break }
                    return SQLiteError(code: stepRC, db: db, sql: sql)
                }
                guard let tail, tail > cursor else { return nil }
                cursor = tail
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// Prepares a single statement. The caller owns it; it is finalized when released.
    package func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        try SQLiteStatement(connection: connection, sql: sql, persistent: false)
    }

    /// Returns this connection's prepared statement for `sql`, preparing it (with
    /// `SQLITE_PREPARE_PERSISTENT`) on first use. Before it is handed out again it is reset and
    /// its bindings cleared, so do not fetch the same SQL again while still iterating its rows.
    ///
    /// The cache is keyed by the exact UTF-8 bytes of `sql` (not by Swift string equality,
    /// which would merge canonically equivalent but different literals).
    package func cachedStatement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        let key = SQLKey(sql)
        if let cached = statementCache[key] {
            cached.reset()
            return cached
        }
        let statement = try SQLiteStatement(connection: connection, sql: sql, persistent: true)
        statementCache[key] = statement
        return statement
    }

    // MARK: Transactions

    /// Runs `body` inside `BEGIN <kind>` … `COMMIT` and returns its result.
    ///
    /// If `body` throws, or `COMMIT` fails, the transaction is rolled back and the original error
    /// is rethrown (a failing `ROLLBACK` never hides it). If SQLite already rolled the
    /// transaction back inside `body` (e.g. after `SQLITE_FULL`) and `body` returned normally,
    /// this throws `SQLITE_ABORT` rather than committing nothing. Calling this while a
    /// transaction is open fails at `BEGIN` (SQLite does not nest transactions) and leaves the
    /// outer transaction untouched.
    package func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        let begin: String
        switch kind {
        case .deferred: begin = "BEGIN DEFERRED TRANSACTION"
        case .immediate: begin = "BEGIN IMMEDIATE TRANSACTION"
        case .exclusive: begin = "BEGIN EXCLUSIVE TRANSACTION"
        }
        try cachedStatement(begin).run()
        let result: T
        do {
            result = try body()
            guard isInTransaction else {
                throw SQLiteError(extendedResultCode: SQLITE_ABORT,
                                  message: "transaction was already rolled back or committed before the end of its body",
                                  sql: "COMMIT")
            }
            try cachedStatement("COMMIT").run()
        } catch {
            rollbackIfActive()
            throw error
        }
        return result
    }

    private func rollbackIfActive() {
        guard isInTransaction else { return }
        // Best effort: the caller gets the original error, not a rollback failure.
        do { try cachedStatement("ROLLBACK").run() } catch {}
    }

    /// Whether a transaction is open (`sqlite3_get_autocommit` is off).
    package var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    // MARK: Configuration and state

    /// Turns `SQLITE_DBCONFIG_DEFENSIVE` on or off and checks SQLite reports the new value.
    /// When on, `PRAGMA writable_schema` and other ways to corrupt the file from SQL are disabled.
    package func setDefensive(_ on: Bool) throws(SQLiteError) {
        try setConfigFlag(SQLITE_DBCONFIG_DEFENSIVE, "SQLITE_DBCONFIG_DEFENSIVE", on)
    }

    /// Turns `SQLITE_DBCONFIG_ENABLE_TRIGGER` on or off for this connection only, and checks
    /// SQLite reports the new value. Statements prepared while it is off run no triggers; the
    /// triggers stay in the schema and fire for every other connection.
    package func setTriggersEnabled(_ on: Bool) throws(SQLiteError) {
        try setConfigFlag(SQLITE_DBCONFIG_ENABLE_TRIGGER, "SQLITE_DBCONFIG_ENABLE_TRIGGER", on)
        // Cached statements were compiled under the old setting.
        statementCache.removeAll()
    }

    /// Whether triggers fire for statements this connection prepares.
    package var triggersEnabled: Bool {
        get throws(SQLiteError) { try configFlag(SQLITE_DBCONFIG_ENABLE_TRIGGER) }
    }

    private func configFlag(_ op: Int32) throws(SQLiteError) -> Bool {
        var value: Int32 = -1
        let rc = cmp_sqlite3_db_config_int(handle, op, -1, &value)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: handle) }
        return value != 0
    }

    private func setConfigFlag(_ op: Int32, _ name: String, _ on: Bool) throws(SQLiteError) {
        var readBack: Int32 = -1
        let wanted: Int32 = on ? 1 : 0
        let rc = cmp_sqlite3_db_config_int(handle, op, wanted, &readBack)
        guard rc == SQLITE_OK else { throw SQLiteError(code: rc, db: handle) }
        guard readBack == wanted else {
            throw SQLiteError(extendedResultCode: SQLITE_ERROR, message: "\(name) reads back \(readBack) after setting \(wanted)")
        }
    }

    /// Reads an integer pragma such as `application_id`, `user_version` or `main.page_count`.
    ///
    /// `name` must be an identifier, optionally schema-qualified (`schema.name`); anything else
    /// is refused with `SQLITE_MISUSE` so it cannot smuggle SQL. A pragma that returns no row
    /// (e.g. an unknown one) fails with `SQLITE_ERROR`; a non-integer value with `SQLITE_MISMATCH`.
    package func pragmaInt(_ name: String) throws(SQLiteError) -> Int64 {
        guard isPragmaName(name) else { throw .misuse("invalid pragma name \"\(name)\"") }
        let statement = try prepare("PRAGMA \(name)")
        guard try statement.step() else {
            throw SQLiteError(extendedResultCode: SQLITE_ERROR, message: "PRAGMA \(name) returned no value", sql: statement.sql)
        }
        guard sqlite3_column_type(statement.handle, 0) == SQLITE_INTEGER else {
            throw SQLiteError(extendedResultCode: SQLITE_MISMATCH, message: "PRAGMA \(name) did not return an integer", sql: statement.sql)
        }
        return statement.int64(at: 0)
    }

    /// The rowid of the most recent successful `INSERT` on this connection.
    package var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the most recent `INSERT`, `UPDATE` or `DELETE` on this connection.
    package var changes: Int { Int(sqlite3_changes64(handle)) }
}

@available(*, unavailable, message: "an SQLite connection belongs to one thread or actor")
extension SQLiteDatabase: Sendable {}

/// A statement-cache key comparing SQL by its exact UTF-8 bytes.
struct SQLKey: Hashable {
    let sql: String
    init(_ sql: String) { self.sql = sql }

    static func == (a: SQLKey, b: SQLKey) -> Bool { a.sql.utf8.elementsEqual(b.sql.utf8) }

    func hash(into hasher: inout Hasher) {
        let done: Void? = sql.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for b in sql.utf8 { hasher.combine(b) } }
        hasher.combine(sql.utf8.count)
    }
}

/// `name` or `schema.name`, each an ASCII identifier.
private func isPragmaName(_ name: String) -> Bool {
    var parts = 0
    var atStart = true
    for b in name.utf8 {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
            atStart = false
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            if atStart { return false }
        case UInt8(ascii: "."):
            if atStart || parts == 1 { return false }
            parts = 1
            atStart = true
        default:
            return false
        }
    }
    return !atStart
}
