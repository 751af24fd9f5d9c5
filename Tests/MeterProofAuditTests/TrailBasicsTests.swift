import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// Creating and opening trails, the errors users can act on, and the append-only triggers.
@Suite struct TrailBasicsTests {
    // MARK: create

    @Test func createRefusesToOverwriteATrailOrAnyFile() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 3)
        let before = try s.read("trail.sqlite")

        let other = try TrailFixture.signer("other.test/log")
        #expect(errorCode { try AuditTrail.create(path: s.path("trail.sqlite"), signer: other) } == "already_exists")
        // Any existing file, not only a trail, is left alone.
        try s.write("notes.txt", "keep me\n")
        #expect(errorCode { try AuditTrail.create(path: s.path("notes.txt"), signer: other) } == "already_exists")
        #expect(try s.read("notes.txt") == Array("keep me\n".utf8))
        #expect(try s.read("trail.sqlite") == before)
        #expect(try trail.size() == 3)
        // No temporary file is left behind by the refused attempts.
        let names = try FileManager.default.contentsOfDirectory(atPath: s.dir).sorted()
        #expect(names.allSatisfy { !$0.contains(".creating-") }, "left behind: \(names)")
        #expect(try AuditTrail(path: s.path("trail.sqlite")).verifier.vkey != other.verifier.vkey)
    }

    @Test func createdTrailIsEmptyAndCarriesItsKey() throws {
        let s = try TrailScratch()
        let (trail, signer) = try TrailFixture.makeTrail(s)
        #expect(try trail.size() == 0)
        #expect(trail.origin == TrailFixture.origin)
        #expect(trail.verifier.vkey == signer.verifier.vkey)
        #expect(try trail.checkpoints().isEmpty)
        #expect(try trail.root(size: 0) == RFC6962.emptyRoot)
        let v = try trail.verify()
        #expect(v.intact && v.entries == 0 && v.root == RFC6962.emptyRoot)
        let raw = try TrailRaw.open(s.path("trail.sqlite"))
        #expect(try raw.pragmaInt("application_id") == AuditTrail.applicationID)
        #expect(try raw.pragmaInt("user_version") == AuditTrail.schemaVersion)
    }

    @Test func logKeyFileRefusesAnExistingFile() throws {
        let s = try TrailScratch()
        let a = try TrailFixture.signer(), b = try TrailFixture.signer()
        try LogKeyFile.write(a, to: s.path("log.key"))
        #expect(errorCode { try LogKeyFile.write(b, to: s.path("log.key")) } == "already_exists")
        #expect(try LogKeyFile.read(s.path("log.key")).skey == a.skey)
        var st = stat()
        #expect(stat(s.path("log.key"), &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
    }

    /// A program's first start: open the trail or create it, from the log's public key alone,
    /// with several starting at once; a trail of another log is refused.
    @Test func openOrCreateOnFirstStartFromManyThreads() throws {
        let s = try TrailScratch()
        let signer = try NoteSigner.generate(name: "first-start.test/log")
        let path = s.path("t.sqlite")
        let results = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let r: String
            do { r = try AuditTrail.openOrCreate(path: path, logKey: signer.verifier).verifier.vkey } catch { r = "\(error)" }
            results.withLock { $0.append(r) }
        }
        #expect(results.withLock { $0 } == Array(repeating: signer.verifier.vkey, count: 6))
        let trail = try AuditTrail(path: path)
        #expect(try trail.size() == 0 && trail.verify().intact)
        // No signer key was needed to create it; the signer's own checkpoint is accepted.
        _ = try trail.signCheckpoint(with: signer)
        let other = try NoteSigner.generate(name: "other.test/log")
        do throws(AuditError) {
            _ = try AuditTrail.openOrCreate(path: path, logKey: other.verifier)
            Issue.record("a trail of another log was opened")
        } catch {
            #expect(error.code == .wrongKey, "\(error)")
        }
    }

    @Test func auditInitRefusesExistingTrailOrKeyAndLeavesNothingBehind() throws {
        let s = try TrailScratch()
        let first = try TrailRun.cli(["audit", "init", "--origin", "init.test/log", "--db", s.path("t.sqlite"), "--signing-key", s.path("t.key")])
        #expect(first.status == 0, "\(first.stderr)")
        let vkey = first.stdout.split(separator: "\n").last.map(String.init)
        #expect(vkey == (try AuditTrail(path: s.path("t.sqlite")).verifier.vkey))
        let trailBytes = try s.read("t.sqlite"), keyBytes = try s.read("t.key")

        // Existing trail, new key path: refused, and no key file is created.
        let again = try TrailRun.cli(["audit", "init", "--db", s.path("t.sqlite"), "--signing-key", s.path("new.key")])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already_exists"))
        #expect(!FileManager.default.fileExists(atPath: s.path("new.key")))

        // Existing key file, new trail path: refused, and no trail is created.
        let keyTaken = try TrailRun.cli(["audit", "init", "--db", s.path("new.sqlite"), "--signing-key", s.path("t.key")])
        #expect(keyTaken.status == 2)
        #expect(keyTaken.stderr.contains("already_exists"))
        #expect(!FileManager.default.fileExists(atPath: s.path("new.sqlite")))

        #expect(try s.read("t.sqlite") == trailBytes)
        #expect(try s.read("t.key") == keyBytes)

        // A directory that is not there: bad_input (exit 2) for the trail or the key, and
        // neither file is left behind.
        let noTrailDir = try TrailRun.cli(["audit", "init", "--db", s.path("missing/t.sqlite"), "--signing-key", s.path("k2.key")])
        #expect(noTrailDir.status == 2 && noTrailDir.stderr == "meterproof: bad_input: cannot create \(s.path("missing/t.sqlite")): directory \(s.path("missing")) does not exist\n", "\(noTrailDir.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("k2.key")))
        let noKeyDir = try TrailRun.cli(["audit", "init", "--db", s.path("t2.sqlite"), "--signing-key", s.path("missing/k.key")])
        #expect(noKeyDir.status == 2 && noKeyDir.stderr == "meterproof: bad_input: cannot write \(s.path("missing/k.key")): directory \(s.path("missing")) does not exist\n", "\(noKeyDir.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("t2.sqlite")))
    }

    @Test func auditInitRefusesAnOriginTooLongToReadBack() throws {
        let s = try TrailScratch()
        // 4043 bytes once made a key file and a trail whose own vkey did not parse (exit 3 on
        // every later command). The limit is 1024 bytes, checked before anything is written:
        // by the CLI (a bad invocation) and by the signer itself.
        for n in [1025, 4043] {
            let r = try TrailRun.cli(["audit", "init", "--origin", String(repeating: "a", count: n), "--db", s.path("o.sqlite"), "--signing-key", s.path("o.key")])
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderr.contains("--origin must be at most 1024 bytes long (it is \(n))."), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.path("o.sqlite")) && !FileManager.default.fileExists(atPath: s.path("o.key")))
            do { _ = try NoteSigner.generate(name: String(repeating: "a", count: n)); Issue.record("a \(n)-byte name was taken") } catch {
                #expect("\(error)" == "malformed_key: the key name is \(n) bytes long; at most 1024 are allowed")
            }
        }
        let longest = try TrailRun.cli(["audit", "init", "--origin", String(repeating: "a", count: 1024), "--db", s.path("o.sqlite"), "--signing-key", s.path("o.key")])
        #expect(longest.status == 0, "\(longest.stderr)")
        #expect(try AuditTrail(path: s.path("o.sqlite")).origin.utf8.count == 1024)
        #expect(try LogKeyFile.read(s.path("o.key")).name.utf8.count == 1024)
        // A key made before the limit, with a longer name, still loads (the limit is on new keys).
        let long = try NoteSigner(name: String(repeating: "b", count: 2012), privateKey: Ed25519PrivateKey())
        try LogKeyFile.write(long, to: s.path("long.key"))
        #expect(try LogKeyFile.read(s.path("long.key")).name.utf8.count == 2012)
    }

    // MARK: open

    @Test func openRefusesFilesThatAreNotTrails() throws {
        let s = try TrailScratch()
        #expect(errorCode { _ = try AuditTrail(path: s.path("absent.sqlite")) } == "not_a_trail")

        let text = Array("this is not a database, just some text that is long enough\n".utf8)
        try s.write("text.sqlite", text)
        #expect(errorCode { _ = try AuditTrail(path: s.path("text.sqlite")) } == "not_a_trail")
        #expect(errorCode { _ = try AuditTrail(path: s.path("text.sqlite"), readOnly: true) } == "not_a_trail")
        #expect(try s.read("text.sqlite") == text)

        // An SQLite database of another application (application_id 0, and a foreign one).
        for (name, appID) in [("plain.sqlite", Int64(0)), ("foreign.sqlite", Int64(0x1234_5678))] {
            let db = try SQLiteDatabase(path: s.path(name), mode: .readWriteCreate)
            try db.execute("CREATE TABLE things(x); INSERT INTO things VALUES (1); PRAGMA application_id=\(appID); PRAGMA user_version=1")
            let bytes = try s.read(name)
            #expect(errorCode { _ = try AuditTrail(path: s.path(name)) } == "not_a_trail", "\(name)")
            #expect(try s.read(name) == bytes)
        }

        // A MeterProof trail that lost its schema version is not read as one.
        let (t, _) = try TrailFixture.makeTrail(s, "v0.sqlite")
        _ = t
        try TrailRaw.open(s.path("v0.sqlite")).execute("PRAGMA user_version=0")
        #expect(errorCode { _ = try AuditTrail(path: s.path("v0.sqlite")) } == "not_a_trail")
    }

    @Test func openRefusesANewerSchema() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 2)
        try TrailRaw.open(s.path("trail.sqlite")).execute("PRAGMA user_version=\(AuditTrail.schemaVersion + 1)")
        #expect(errorCode { _ = try AuditTrail(path: s.path("trail.sqlite")) } == "newer_schema")
        #expect(errorCode { _ = try AuditTrail(path: s.path("trail.sqlite"), readOnly: true) } == "newer_schema")
    }

    @Test func cliExitCodesForTrailErrors() throws {
        let s = try TrailScratch()
        try s.write("text.sqlite", "not a database at all, not even close to one\n")
        let other = try SQLiteDatabase(path: s.path("other.sqlite"), mode: .readWriteCreate)
        try other.execute("CREATE TABLE things(x)")
        let (trail, _) = try TrailFixture.makeTrail(s, "newer.sqlite")
        try TrailFixture.fill(trail, count: 1)
        try TrailRaw.open(s.path("newer.sqlite")).execute("PRAGMA user_version=\(AuditTrail.schemaVersion + 1)")

        for name in ["text.sqlite", "other.sqlite", "absent.sqlite"] {
            let v = try TrailRun.cli(["audit", "verify", "--db", s.path(name)])
            #expect(v.status == 3, "\(name): \(v.stderr)")
            #expect(v.stderr.contains("not_a_trail"), "\(name): \(v.stderr)")
            let l = try TrailRun.cli(["audit", "log", "--db", s.path(name)])
            #expect(l.status == 3, "\(name): \(l.stderr)")
        }
        let v = try TrailRun.cli(["audit", "verify", "--db", s.path("newer.sqlite")])
        #expect(v.status == 4)
        #expect(v.stderr.contains("newer_schema"))
        let l = try TrailRun.cli(["audit", "log", "--db", s.path("newer.sqlite"), "--format", "jsonl"])
        #expect(l.status == 4)
        #expect(l.stdout.isEmpty)

        // `verify --db` verifies the token, then fails to record it: the trail error wins.
        let response = try s.write("r.json", TrailFixture.response(nonce: "exit-code-nonce"))
        let r = try TrailRun.cli(TrailFixture.verifyArgs(nonce: "exit-code-nonce", db: s.path("text.sqlite"), input: response))
        #expect(r.status == 3, "\(r.stderr)")
        let n = try TrailRun.cli(TrailFixture.verifyArgs(nonce: "exit-code-nonce", db: s.path("newer.sqlite"), input: response))
        #expect(n.status == 4, "\(n.stderr)")
    }

    // MARK: read-only, locked

    @Test func writesToAReadOnlyTrailFailReadOnly() throws {
        let s = try TrailScratch()
        let (created, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(created, count: 4)
        let path = s.path("trail.sqlite")

        // A connection opened read-only (what `audit verify`/`log`/`prove` use).
        let ro = try AuditTrail(path: path, readOnly: true)
        #expect(errorCode { try ro.record(TrailFixture.entry(9)) } == "read_only")
        #expect(errorCode { _ = try ro.signCheckpoint(with: signer) } == "read_only")
        #expect(try ro.size() == 4)

        if geteuid() != 0 {
            // A read-only file in a read-only directory: writing fails read_only (opening may too).
            #expect(chmod(path, 0o444) == 0 && chmod(s.dir, 0o555) == 0)
            defer { chmod(s.dir, 0o755); chmod(path, 0o644) }
            #expect(errorCode { try AuditTrail(path: path).record(TrailFixture.entry(9)) } == "read_only")
        } else {
            print("TrailBasicsTests: running as root, where file modes do not bite; checked read-only connections only")
        }
        #expect(try AuditTrail(path: path).size() == 4)
        #expect(try AuditTrail(path: path).verify().intact)
    }

    /// As root, file modes do not stop writes; run the CLI as `nobody` to see exit 5 on a
    /// read-only trail.
    @Test(.enabled(if: geteuid() == 0 && TrailRun.which("setpriv") != nil, "needs root and setpriv to drop to an unprivileged user"))
    func cliExitsStorageOnAReadOnlyTrail() throws {
        let s = try TrailScratch()
        #expect(chmod(s.dir, 0o755) == 0)
        let (trail, _) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 2)
        let path = s.path("trail.sqlite")
        let response = try s.write("r.json", TrailFixture.response(nonce: "ro-nonce"))
        #expect(chmod(path, 0o444) == 0 && chmod(response, 0o444) == 0 && chmod(s.dir, 0o555) == 0)
        defer { chmod(s.dir, 0o755) }
        guard let r = try TrailRun.cliAsNobody(TrailFixture.verifyArgs(nonce: "ro-nonce", db: path, input: response), suite: "TrailBasicsTests") else { return }
        #expect(r.status == 5, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("read_only"), "\(r.stderr)")
        #expect(try AuditTrail(path: path, readOnly: true).size() == 2)

        // Reading a copy it cannot lock works: audit verify falls back to an immutable open.
        let v = try #require(try TrailRun.cliAsNobody(["audit", "verify", "--db", path], suite: "TrailBasicsTests"))
        #expect(v.status == 0, "\(v.stdout) \(v.stderr)")
        #expect(v.stdout.hasPrefix("intact: 2 entries"), "\(v.stdout)")
        let log = try #require(try TrailRun.cliAsNobody(["audit", "log", "--db", path, "--format", "jsonl"], suite: "TrailBasicsTests"))
        #expect(log.status == 0 && log.stdout.split(separator: "\n").count == 2, "\(log.stdout) \(log.stderr)")
    }

    /// A writable file in an immutable directory (root is not stopped by modes, `chattr +i`
    /// stops it): the writer cannot create the -wal and -shm files. SQLite only says "unable to
    /// open database file"; it used to be storage_error and is read_only, naming the directory.
    @Test(.enabled(if: geteuid() == 0 && TrailRun.which("chattr") != nil, "needs root and chattr"))
    func aTrailInAnImmutableDirectoryIsReadOnly() throws {
        let s = try TrailScratch()
        let keyFile = try makeTempDir("immutable-key") + "/log.key"
        do {  // closed again before the directory turns immutable (the last close removes -wal and -shm)
            let (trail, signer) = try TrailFixture.makeTrail(s)
            try TrailFixture.fill(trail, count: 2)
            try LogKeyFile.write(signer, to: keyFile)
        }
        let path = s.path("trail.sqlite")
        guard try TrailRun.program("/usr/bin/env", ["chattr", "+i", s.dir]).status == 0 else {
            print("TrailBasicsTests: skipping, this file system does not take chattr +i")
            return
        }
        defer { _ = try? TrailRun.program("/usr/bin/env", ["chattr", "-i", s.dir]) }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let r = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", keyFile])
        #expect(r.status == 5, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.hasPrefix("meterproof: read_only: opening \(path): its directory \(s.dir) is read-only"), "\(r.stderr)")
        #expect(errorCode { _ = try AuditTrail(path: path) } == "read_only")
        // Readers still work (an immutable open needs no side files).
        let v = try TrailRun.cli(["audit", "verify", "--db", path])
        #expect(v.status == 0 && v.stdout.hasPrefix("intact: 2 entries"), "\(v.stdout) \(v.stderr)")
    }

    @Test func anotherWriterHoldingTheLockGivesLockedAndWritesNothing() throws {
        let s = try TrailScratch()
        let (created, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(created, count: 5)
        let path = s.path("trail.sqlite")
        let trail = try AuditTrail(path: path, busyTimeoutMilliseconds: 50)

        let holder = try TrailRaw.open(path)
        try holder.execute("BEGIN IMMEDIATE")
        let start = Date()
        #expect(errorCode { try trail.record(TrailFixture.entry(5, nonce: "locked-nonce")) } == "locked")
        #expect(errorCode { _ = try trail.append([.init(entry: TrailFixture.entry(6)), .init(entry: TrailFixture.entry(7))]) } == "locked")
        #expect(errorCode { _ = try trail.signCheckpoint(with: signer) } == "locked")
        #expect(Date().timeIntervalSince(start) < 5)
        // Readers are not blocked by a writer (WAL).
        #expect(try trail.size() == 5)
        try holder.execute("ROLLBACK")

        #expect(try trail.size() == 5)
        #expect(try trail.checkpoints().isEmpty)
        #expect(try TrailRaw.int(holder, "SELECT count(*) FROM nonces WHERE nonce = 'locked-nonce'") == 0)
        // The refused attempts consumed neither a seq nor the nonce.
        let e = try trail.record(TrailFixture.entry(5, nonce: "locked-nonce"))
        #expect(e.seq == 5 && e.isAccepted)
        #expect(try trail.verify().intact)
    }

    // MARK: triggers

    /// A trail with a row in every table (20 entries: the nodes table stores every 4th level, from 16 leaves up).
    private func populated(_ s: TrailScratch) throws -> String {
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 19)
        _ = try trail.append([.init(entry: TrailFixture.entry(19), captureHash: Array(repeating: 7, count: 32))])
        _ = try trail.signCheckpoint(with: signer)
        return s.path("trail.sqlite")
    }

    @Test func triggersRefuseUpdateAndDeleteFromAnyConnection() throws {
        let s = try TrailScratch()
        let path = try populated(s)
        let db = try TrailRaw.open(path)
        for t in TrailRaw.tables {
            #expect(try TrailRaw.int(db, "SELECT count(*) FROM \(t)") > 0, "\(t) is empty")
        }
        let statements = [
            "UPDATE meta SET value = 'evil' WHERE name = 'origin'",
            "UPDATE entries SET body = x'00' WHERE seq = 1",
            "UPDATE entries SET seq = seq + 100",
            "UPDATE nodes SET hash = zeroblob(32)",
            "UPDATE nonces SET seq = 3",
            "UPDATE checkpoints SET note = ''",
            "UPDATE captures SET seq = 0",
            "INSERT INTO entries(seq, body, leaf_hash) SELECT seq, body, leaf_hash FROM entries WHERE true ON CONFLICT DO UPDATE SET body = x'00'",
        ] + TrailRaw.tables.map { "DELETE FROM \($0)" }
        for sql in statements {
            do {
                try db.execute(sql)
                Issue.record("not refused: \(sql)")
            } catch {
                #expect(error.isConstraint && error.message.contains("append-only"), "\(sql): \(error)")
            }
        }
        // An upsert on the nonce table changes nothing either.
        try? db.execute("INSERT INTO nonces SELECT product_code, nonce, 99 FROM nonces WHERE true ON CONFLICT DO UPDATE SET seq = excluded.seq")
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM nonces WHERE seq = 99") == 0)
        let v = try AuditTrail(path: path).verify()
        #expect(v.intact && v.entries == 20 && v.checkpointsVerified == 1)
    }

    /// The trail's own writing connection prepares its fixed INSERTs without triggers (they cost
    /// a program run and a key lookup per row); uniqueness comes from the primary keys, and
    /// every other connection still meets the guards.
    @Test func writerRunsWithoutTriggersWhileOtherConnectionsKeepThem() throws {
        let s = try TrailScratch()
        let path = try populated(s)
        let trail = try AuditTrail(path: path)
        #expect(try trail.db.triggersEnabled == false)
        #expect(try AuditTrail(path: path, readOnly: true).db.triggersEnabled == true)
        // Without the guards, the keys alone still give a duplicate and a replay.
        let out = try trail.append([
            .init(entry: TrailFixture.entry(20), captureHash: Array(repeating: 7, count: 32)),
            .init(entry: TrailFixture.entry(21, nonce: "n-3")),
        ])
        guard case .duplicate(let dupSeq) = out[0], case .recorded(let replayed) = out[1] else {
            Issue.record("unexpected outcomes \(out)")
            return
        }
        #expect(dupSeq == 19)
        #expect(replayed.seq == 20 && replayed.reason == "nonce_replayed")
        // A second connection, opened while the trail's is open and has written, is refused.
        let db = try TrailRaw.open(path)
        #expect(try db.triggersEnabled == true)
        for sql in ["DELETE FROM entries WHERE seq = 20", "INSERT OR REPLACE INTO entries(seq, body, leaf_hash) VALUES (0, x'00', zeroblob(32))",
                    "UPDATE nonces SET seq = 0"] {
            do {
                try db.execute(sql)
                Issue.record("not refused: \(sql)")
            } catch {
                #expect(error.isConstraint && error.message.contains("append-only"), "\(sql): \(error)")
            }
        }
        #expect(try trail.verify().intact)
    }

    @Test func triggersRefuseReplaceFromAnyConnection() throws {
        let s = try TrailScratch()
        let path = try populated(s)
        let trail = try AuditTrail(path: path)
        let origin = trail.origin
        let body1 = try trail.entryBytes(1)
        let db = try TrailRaw.open(path)
        // REPLACE deletes the conflicting row without firing DELETE triggers (recursive_triggers
        // is off by default), so it needs its own guard.
        let statements = [
            "REPLACE INTO meta(name, value) VALUES ('origin', 'evil.test/log')",
            "INSERT OR REPLACE INTO entries(seq, body, leaf_hash) VALUES (1, x'00', zeroblob(32))",
            "INSERT OR REPLACE INTO nodes(level, idx, hash) VALUES (4, 0, zeroblob(32))",
            "INSERT OR REPLACE INTO checkpoints(size, note, signed_at) SELECT size, 'x', 'y' FROM checkpoints",
            "INSERT OR REPLACE INTO captures(hash, seq) SELECT hash, 3 FROM captures",
        ]
        for sql in statements {
            do {
                try db.execute(sql)
                Issue.record("not refused: \(sql)")
            } catch {
                #expect(error.isConstraint && error.message.contains("append-only"), "\(sql): \(error)")
            }
        }
        // A replaced nonce row would move the record of which entry consumed it.
        try? db.execute("INSERT OR REPLACE INTO nonces(product_code, nonce, seq) SELECT product_code, nonce, 99 FROM nonces")
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM nonces WHERE seq = 99") == 0)

        let reopened = try AuditTrail(path: path)
        #expect(reopened.origin == origin)
        #expect(try reopened.entryBytes(1) == body1)
        let v = try reopened.verify()
        #expect(v.intact, "\(v.problemCode ?? ""): \(v.problem ?? "")")
        // The guards do not get in the way of appending, or of the nonce rule.
        #expect(try reopened.record(TrailFixture.entry(5, nonce: "n-0")).reason == "nonce_replayed")
        #expect(try reopened.record(TrailFixture.entry(6, nonce: "fresh")).isAccepted)
        #expect(try reopened.verify().intact)
    }
}
