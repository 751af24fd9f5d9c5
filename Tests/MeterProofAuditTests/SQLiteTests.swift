import CMeterProofSQLite
import Foundation
import Testing
@testable import MeterProofAudit

/// A fresh directory for one test, removed afterwards.
private func withTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("meterproof-sqlite-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir.path)
}

/// The `SQLiteError` thrown by `body`, or `nil` if it succeeded or threw something else.
private func sqliteError(_ body: () throws -> Void) -> SQLiteError? {
    do { try body(); return nil } catch let e as SQLiteError { return e } catch { return nil }
}

private func count(_ db: SQLiteDatabase, _ table: String = "t") throws -> Int64 {
    let s = try db.prepare("SELECT count(*) FROM \(table)")
    #expect(try s.step())
    return s.int64(at: 0)
}

private struct BodyError: Error, Equatable { let tag: Int }

@Suite struct SQLiteTests {
    @Test func roundTripsEveryType() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/rt.sqlite", mode: .readWriteCreate)
            #expect(db.path == dir + "/rt.sqlite")
            try db.execute("""
                -- several statements, comments and trailing whitespace
                CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, s TEXT, b BLOB, n);
                CREATE INDEX t_i ON t(i); /* trailing comment */
                """)
            let text = "h\u{E9}llo \u{1F600} \u{FB33} nul:\u{0}:end"
            let blob: [UInt8] = [0, 1, 0, 0xFF, 0x00, 0x80, 0]
            let insert = try db.prepare("INSERT INTO t(i, s, b, n) VALUES (?1, ?2, ?3, ?4)")
            #expect(insert.parameterCount == 4)

            try insert.bind(Int64.min, at: 1)
            try insert.bind(text, at: 2)
            try insert.bind(blob, at: 3)
            try insert.bindNull(at: 4)
            #expect(try insert.step() == false)
            #expect(db.lastInsertRowID == 1)
            #expect(db.changes == 1)

            insert.reset()
            try insert.bind(Int64.max, at: 1)
            try insert.bind("", at: 2)
            try insert.bind([UInt8](), at: 3)
            try insert.bind(nil as String?, at: 4)
            try insert.run()
            #expect(db.lastInsertRowID == 2)

            insert.reset()
            try insert.bind(-1, at: 1)
            try blob.withUnsafeBytes { raw in try insert.bind(raw, at: 3) }
            try insert.run()  // ?2 and ?4 were cleared by reset(): NULL

            let q = try db.prepare("SELECT i, s, b, n, typeof(s), typeof(b) FROM t ORDER BY id")
            #expect(q.columnCount == 6)
            #expect(q.columnName(at: 1) == "s")
            #expect(try q.step())
            #expect(q.int64(at: 0) == Int64.min)
            #expect(q.string(at: 1) == text)
            #expect(q.string(at: 1)?.utf8.count == text.utf8.count)
            #expect(q.blob(at: 2) == blob)
            #expect(q.withBlob(at: 2) { Array($0) } == blob)
            #expect(q.isNull(at: 3))
            #expect(q.string(at: 3) == nil)
            #expect(q.blob(at: 3) == nil)

            #expect(try q.step())
            #expect(q.int64(at: 0) == Int64.max)
            #expect(q.string(at: 1) == "")
            #expect(q.blob(at: 2) == [])
            #expect(q.withBlob(at: 2) { $0.count } == 0)
            #expect(q.string(at: 4) == "text")   // empty string stays text, not NULL
            #expect(q.string(at: 5) == "blob")   // empty blob stays a blob, not NULL
            #expect(!q.isNull(at: 1) && !q.isNull(at: 2))

            #expect(try q.step())
            #expect(q.int64(at: 0) == -1)
            #expect(q.string(at: 1) == nil)
            #expect(q.blob(at: 2) == blob)
            #expect(q.isNull(at: 3))

            #expect(try q.step() == false)
            // Out-of-range columns read as NULL instead of crashing.
            #expect(q.string(at: 99) == nil && q.blob(at: -1) == nil && q.isNull(at: 42))

            try db.execute("UPDATE t SET n = 1")
            #expect(db.changes == 3)
        }
    }

    @Test func transactionCommitsAndRollsBack() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/tx.sqlite", mode: .readWriteCreate)
            try db.execute("CREATE TABLE t(x INTEGER)")

            let value = try db.transaction {
                #expect(db.isInTransaction)
                try db.execute("INSERT INTO t VALUES (1)")
                return 42
            }
            #expect(value == 42)
            #expect(!db.isInTransaction)
            #expect(try count(db) == 1)

            #expect(throws: BodyError(tag: 7)) {
                try db.transaction(.deferred) {
                    try db.execute("INSERT INTO t VALUES (2)")
                    try db.execute("INSERT INTO t VALUES (3)")
                    throw BodyError(tag: 7)
                }
            }
            #expect(!db.isInTransaction)
            #expect(try count(db) == 1)

            // An SQLite error inside the body is the one rethrown, and the rollback happens.
            try db.execute("CREATE UNIQUE INDEX tx ON t(x)")
            let e = sqliteError {
                try db.transaction(.exclusive) {
                    try db.execute("INSERT INTO t VALUES (5)")
                    try db.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(e?.extendedResultCode == 2067)
            #expect(!db.isInTransaction)
            #expect(try count(db) == 1)
        }
    }

    @Test func misuseThrowsInsteadOfCrashing() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/misuse.sqlite", mode: .readWriteCreate)
            try db.execute("CREATE TABLE t(x INTEGER)")

            // Nested transaction: the inner BEGIN fails, the outer one carries on and commits.
            try db.transaction {
                try db.execute("INSERT INTO t VALUES (1)")
                let inner = sqliteError { try db.transaction { try db.execute("INSERT INTO t VALUES (2)") } }
                #expect(inner?.resultCode == SQLITE_ERROR)
                #expect(inner?.message == "cannot start a transaction within a transaction")
                #expect(db.isInTransaction)
            }
            #expect(try count(db) == 1)

            // Nested misuse left to propagate rolls the outer transaction back.
            let propagated = sqliteError {
                try db.transaction {
                    try db.execute("INSERT INTO t VALUES (3)")
                    try db.transaction { }
                }
            }
            #expect(propagated?.resultCode == SQLITE_ERROR)
            #expect(!db.isInTransaction)
            #expect(try count(db) == 1)

            // The body ending the transaction itself: refused with SQLITE_ABORT, not a silent commit.
            let ended = sqliteError {
                try db.transaction {
                    try db.execute("INSERT INTO t VALUES (4)")
                    try db.execute("ROLLBACK")
                }
            }
            #expect(ended?.resultCode == SQLITE_ABORT)
            #expect(try count(db) == 1)

            let commit = sqliteError { try db.execute("COMMIT") }
            #expect(commit?.resultCode == SQLITE_ERROR)
            #expect(commit?.message == "cannot commit - no transaction is active")

            let s = try db.prepare("SELECT ?")
            #expect(sqliteError { try s.bind(1, at: 0) }?.resultCode == SQLITE_RANGE)
            #expect(sqliteError { try s.bind("x", at: 2) }?.resultCode == SQLITE_RANGE)
            #expect(sqliteError { try s.bind([1, 2], at: 99) }?.resultCode == SQLITE_RANGE)

            #expect(sqliteError { _ = try db.prepare("") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.prepare("  -- nothing\n") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.prepare("SELECT 1; SELECT 2") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.prepare("SELECT 1; -- only a comment") } == nil)
            #expect(sqliteError { _ = try db.prepare("SELECT 1\u{0}; DROP TABLE t") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { try db.execute("SELECT 1;\u{0} DROP TABLE t") }?.resultCode == SQLITE_MISUSE)
            #expect(try count(db) == 1)

            let syntax = sqliteError { _ = try db.prepare("SELEC 1") }
            #expect(syntax?.resultCode == SQLITE_ERROR)
            #expect(syntax?.sql == "SELEC 1")
            #expect(syntax?.message.contains("syntax error") == true)

            // Double-quoted strings are identifiers only.
            let dqs = sqliteError { _ = try db.prepare("SELECT \"no_such_column\" FROM t") }
            #expect(dqs?.message == "no such column: no_such_column")

            // execute stops at the first failing statement; earlier ones are applied.
            let partial = sqliteError { try db.execute("INSERT INTO t VALUES (10); INSERT INTO nope VALUES (1); INSERT INTO t VALUES (11)") }
            #expect(partial?.message == "no such table: nope")
            #expect(try count(db) == 2)
        }
    }

    @Test func uniqueViolationIsConstraint() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/u.sqlite", mode: .readWriteCreate)
            try db.execute("CREATE TABLE t(k TEXT UNIQUE)")
            let ins = try db.prepare("INSERT INTO t VALUES (?)")
            try ins.bind("a", at: 1)
            try ins.run()
            ins.reset()
            try ins.bind("a", at: 1)
            let e = sqliteError { try ins.run() }
            #expect(e?.isConstraint == true)
            #expect(e?.resultCode == 19)
            #expect(e?.extendedResultCode == 2067)
            #expect(e?.message == "UNIQUE constraint failed: t.k")
            #expect(e?.sql == "INSERT INTO t VALUES (?)")
            #expect(e?.isBusy == false && e?.isReadOnly == false && e?.isFull == false && e?.isNotADatabase == false)
            #expect(e?.description.contains("2067") == true)
        }
    }

    @Test func notADatabase() throws {
        try withTempDir { dir in
            let path = dir + "/garbage.sqlite"
            let garbage = [UInt8](repeating: 0x41, count: 4096)
            #expect(FileManager.default.createFile(atPath: path, contents: Data(garbage)))
            let db = try SQLiteDatabase(path: path, mode: .readWrite)
            let e = sqliteError { try db.execute("SELECT count(*) FROM sqlite_schema") }
            #expect(e?.isNotADatabase == true)
            #expect(e?.resultCode == 26)
            #expect(e?.message == "file is not a database")
        }
    }

    @Test func openFailuresAndReadOnly() throws {
        try withTempDir { dir in
            let missing = sqliteError { _ = try SQLiteDatabase(path: dir + "/missing.sqlite", mode: .readWrite) }
            #expect(missing?.resultCode == SQLITE_CANTOPEN)
            #expect(!FileManager.default.fileExists(atPath: dir + "/missing.sqlite"))
            let nul = sqliteError { _ = try SQLiteDatabase(path: dir + "/x\u{0}y", mode: .readWriteCreate) }
            #expect(nul?.resultCode == SQLITE_CANTOPEN)
            #expect(!FileManager.default.fileExists(atPath: dir + "/x"))

            let path = dir + "/ro.sqlite"
            do {
                let rw = try SQLiteDatabase(path: path, mode: .readWriteCreate)
                try rw.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
            }
            let ro = try SQLiteDatabase(path: path, mode: .readOnly)
            #expect(try count(ro) == 1)
            let e = sqliteError { try ro.execute("INSERT INTO t VALUES (2)") }
            #expect(e?.isReadOnly == true)
            #expect(e?.resultCode == 8)
            #expect(e?.message == "attempt to write a readonly database")
            #expect(try count(ro) == 1)
        }
    }

    @Test func busyWhenAnotherConnectionHoldsImmediate() throws {
        try withTempDir { dir in
            let path = dir + "/busy.sqlite"
            let first = try SQLiteDatabase(path: path, mode: .readWriteCreate, busyTimeoutMilliseconds: 50)
            try first.execute("CREATE TABLE t(x)")
            let second = try SQLiteDatabase(path: path, mode: .readWrite)
            try second.execute("BEGIN IMMEDIATE")

            let clock = ContinuousClock()
            let started = clock.now
            let e = sqliteError { try first.transaction(.immediate) { try first.execute("INSERT INTO t VALUES (1)") } }
            let waited = clock.now - started
            #expect(e?.isBusy == true)
            #expect(e?.resultCode == 5)
            #expect(e?.message == "database is locked")
            #expect(waited >= .milliseconds(40))
            #expect(waited < .seconds(3))
            #expect(!first.isInTransaction)
            #expect(sqliteError { try first.execute("BEGIN IMMEDIATE") }?.isBusy == true)

            try second.execute("COMMIT")
            try first.transaction(.immediate) { try first.execute("INSERT INTO t VALUES (1)") }
            #expect(try count(second) == 1)
        }
    }

    @Test func defensiveModeDisablesWritableSchema() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/def.sqlite", mode: .readWriteCreate)
            try db.execute("CREATE TABLE t(x)")
            let touchSchema = "UPDATE sqlite_schema SET sql = sql WHERE name = 't'"
            // Control: without defensive mode, writable_schema lets SQL rewrite the schema table.
            try db.execute("PRAGMA writable_schema = ON")
            #expect(try db.pragmaInt("writable_schema") == 1)
            try db.execute(touchSchema)
            #expect(db.changes == 1)
            try db.execute("PRAGMA writable_schema = OFF")

            try db.setDefensive(true)
            try db.execute("PRAGMA writable_schema = ON")
            // SQLite 3.40 still reports the flag as set, but it no longer has any effect:
            let e = sqliteError { try db.execute(touchSchema) }
            #expect(e?.resultCode == SQLITE_ERROR)
            #expect(e?.message == "table sqlite_master may not be modified")
            let drop = sqliteError { try db.execute("DELETE FROM sqlite_schema") }
            #expect(drop?.message == "table sqlite_master may not be modified")
            #expect(try count(db) == 0)
            try db.execute("PRAGMA writable_schema = OFF")

            try db.setDefensive(false)
            try db.execute("PRAGMA writable_schema = ON")
            try db.execute(touchSchema)
            #expect(db.changes == 1)
            try db.execute("PRAGMA writable_schema = OFF")
        }
    }

    @Test func pragmaInt() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/p.sqlite", mode: .readWriteCreate)
            #expect(try db.pragmaInt("application_id") == 0)
            try db.execute("PRAGMA application_id = 1297108048; PRAGMA user_version = 3")
            #expect(try db.pragmaInt("application_id") == 1297108048)
            #expect(try db.pragmaInt("main.user_version") == 3)
            #expect(sqliteError { _ = try db.pragmaInt("user_version; DROP TABLE t") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.pragmaInt("user_version = 4") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.pragmaInt("") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.pragmaInt("main.") }?.resultCode == SQLITE_MISUSE)
            #expect(sqliteError { _ = try db.pragmaInt("no_such_pragma") }?.resultCode == SQLITE_ERROR)
            #expect(sqliteError { _ = try db.pragmaInt("journal_mode") }?.resultCode == SQLITE_MISMATCH)
            #expect(try db.pragmaInt("user_version") == 3)
            #expect(!db.isInTransaction)
        }
    }

    @Test func cachedStatementsAreReusedAndReset() throws {
        try withTempDir { dir in
            let db = try SQLiteDatabase(path: dir + "/c.sqlite", mode: .readWriteCreate)
            let a = try db.cachedStatement("SELECT ?1 UNION ALL SELECT 2")
            try a.bind(7, at: 1)
            #expect(try a.step())
            #expect(a.int64(at: 0) == 7)
            let b = try db.cachedStatement("SELECT ?1 UNION ALL SELECT 2")
            #expect(a === b)
            // Reset: iteration restarts and the old binding is gone.
            #expect(try b.step())
            #expect(b.isNull(at: 0))
            #expect(try b.step())
            #expect(b.int64(at: 0) == 2)
            #expect(try b.step() == false)

            #expect(try db.cachedStatement("SELECT 1") !== a)
            #expect(try db.prepare("SELECT ?1 UNION ALL SELECT 2") !== a)

            // Keyed by exact bytes: canonically equivalent SQL texts are different statements.
            let composed = try db.cachedStatement("SELECT '\u{E9}'")
            let decomposed = try db.cachedStatement("SELECT 'e\u{301}'")
            #expect(composed !== decomposed)
            #expect(try composed.step() && decomposed.step())
            #expect(composed.string(at: 0)?.utf8.count == 2)
            #expect(decomposed.string(at: 0)?.utf8.count == 3)
        }
    }

    @Test func statementOutlivesDatabaseObject() throws {
        try withTempDir { dir in
            var statement: SQLiteStatement?
            do {
                let db = try SQLiteDatabase(path: dir + "/o.sqlite", mode: .readWriteCreate)
                try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (5)")
                statement = try db.cachedStatement("SELECT x FROM t")
            }
            #expect(try statement?.step() == true)
            #expect(statement?.int64(at: 0) == 5)
            statement = nil
        }
    }
}
