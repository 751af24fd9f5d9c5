import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Seqs and sizes an edited file can hold but no trail can (negative, or `Int64.max`): every
/// command that reads them refuses with a clear error and a non-zero exit, never a trap
/// (exit 132), and `audit verify` names the damage. The refusal is `inconsistent_checkpoint`
/// (exit 1), the code for a trail that does not agree with itself.
@Suite struct TrailStoredRangeTests {
    /// A trail of 6 recorded entries (entry 1 accepted, with its key), a checkpoint at 6, and
    /// the signer key written beside it as `log.key`; then `edit` applied through a raw
    /// connection with the triggers dropped.
    func edited(_ edit: (SQLiteDatabase) throws -> Void) throws -> (TrailScratch, String) {
        let s = try TrailScratch("range")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        for i in 0..<6 {
            _ = try trail.record(i == 1 ? try TrailFixture.verifiedEntry(nonce: "range-\(UUID().uuidString)") : TrailFixture.entry(i, nonce: nil))
        }
        _ = try trail.signCheckpoint(with: signer)
        try LogKeyFile.write(signer, to: s.path("log.key"))
        let path = s.path("trail.sqlite")
        try TrailRaw.tamper(path, edit)
        return (s, path)
    }

    /// Runs the CLI and expects a clean refusal: `meterproof:` on stderr, the given exit code.
    func expectRefused(_ args: [String], exit: Int32, mentions: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try TrailRun.cli(args)
        #expect(r.status == exit, "\(args): exit \(r.status), stderr \(r.stderr), stdout \(r.stdout)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains("meterproof:") && r.stderr.contains(mentions), "\(args): \(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test func aNegativeHighestSeqIsRefusedNotTrapped() throws {
        let (s, path) = try edited { db in try db.execute("DELETE FROM entries; INSERT INTO entries VALUES (-1, x'7b7d', zeroblob(32))") }
        let trail = try AuditTrail(path: path)
        do { _ = try trail.size(); Issue.record("a negative seq was accepted") } catch {
            #expect(error.code == .inconsistent)
            #expect(error.reason.contains("-1"), "\(error.reason)")
        }
        try expectRefused(["audit", "checkpoint", "--db", path, "--signing-key", s.path("log.key")], exit: 1, mentions: "the file was altered")
        try expectRefused(["report", "--db", path, "--out", s.path("r.html")], exit: 1, mentions: "the file was altered")
        // A bad --out is refused before the trail is read (it used to come after the whole scan).
        try expectRefused(["report", "--db", path, "--out", s.path("no-such-dir/r.html")], exit: 2, mentions: "does not exist")
        #expect(try TrailRun.cli(["audit", "verify", "--db", path]).status == 1)
    }

    @Test func aNegativeLowestSeqBesideIntactEntriesIsRefusedByEveryCommand() throws {
        // The highest seq is fine; a copy of entry 0 stored at seq -1 sorts first. Only `audit
        // verify` and `report` used to notice: checkpoint signed 7 entries, export and prove ran.
        let (s, path) = try edited { db in try db.execute("INSERT INTO entries SELECT -1, body, leaf_hash FROM entries WHERE seq = 0") }
        do { _ = try AuditTrail(path: path).size(); Issue.record("a negative seq was accepted") } catch {
            #expect(error.code == .inconsistent && error.reason.contains("the lowest entry seq stored in the trail is -1"), "\(error.reason)")
        }
        try expectRefused(["audit", "checkpoint", "--db", path, "--signing-key", s.path("log.key")], exit: 1, mentions: "the lowest entry seq")
        try expectRefused(["export", "--db", path, "--out", s.path("bundle")], exit: 1, mentions: "the lowest entry seq")
        #expect(!FileManager.default.fileExists(atPath: s.path("bundle")))
        try expectRefused(["audit", "prove", "--db", path, "--seq", "0"], exit: 1, mentions: "the lowest entry seq")
        try expectRefused(["report", "--db", path, "--out", s.path("r.html")], exit: 1, mentions: "the file was altered")
        // `audit log` listed the other 6 rows and exited 0, and `audit consistency` proved the
        // checkpoint, as if the row were not there.
        for format in ["table", "json", "jsonl"] {
            try expectRefused(["audit", "log", "--db", path, "--format", format], exit: 1, mentions: "the lowest entry seq")
        }
        let old = s.path("old-checkpoint")
        let note = try AuditTrail(path: path, readOnly: true).latestCheckpoint()
        try #require(note).serialized.write(toFile: old, atomically: true, encoding: .utf8)
        try expectRefused(["audit", "consistency", "--db", path, "--from", old], exit: 1, mentions: "the lowest entry seq")
        let v = try TrailRun.cli(["audit", "verify", "--db", path])
        #expect(v.status == 1 && v.stdout.hasPrefix("TAMPERED: seq_order"), "\(v.stdout)")
        // Nothing was appended or signed.
        let db = try TrailRaw.open(path)
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM entries") == 7)
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM checkpoints") == 1)
    }

    @Test func aBatchSizeBelowOneStillChecksEveryEntry() throws {
        // One entry edited and its leaf hash left as it was: every batch size finds it (0 and
        // -1 used to read nothing in the sequential pass and call the trail intact).
        let (s, path) = try edited { db in try db.execute("UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), 'synthetic', 'Synthetic') AS BLOB) WHERE seq = 2") }
        try withExtendedLifetime(s) {
            let trail = try AuditTrail(path: path, readOnly: true)
            for size in [-1, 0, 1, 4096] {
                let v = try trail.verify(batchSize: size)
                #expect(v.problemCode == "leaf_hash_mismatch" && v.firstBadSeq == 2, "batchSize \(size): \(v.problem ?? "intact")")
            }
        }
    }

    @Test func forEachEntryFromPastTheLargestSeqListsNothing() throws {
        let (s, path) = try edited { _ in }
        try withExtendedLifetime(s) {
            let trail = try AuditTrail(path: path, readOnly: true)
            var seen: [UInt64] = []
            try trail.forEachEntry(from: UInt64.max) { seq, _ in seen.append(seq) }
            #expect(seen.isEmpty)
            try trail.forEachEntry(from: 4) { seq, _ in seen.append(seq) }
            #expect(seen == [4, 5])
        }
    }

    @Test func aMissingSubtreeHashIsInconsistentForProveAsForExport() throws {
        // The leaf hash of entry 3, which the proof of entry 2 needs, cut to one byte in the
        // file: damage, exit 1 `inconsistent_checkpoint`, for prove as for export.
        let (s, path) = try edited { db in try db.execute("UPDATE entries SET leaf_hash = x'00' WHERE seq = 3") }
        let prove = try TrailRun.cli(["audit", "prove", "--db", path, "--seq", "2"])
        #expect(prove.status == 1 && prove.stderr.hasPrefix("meterproof: inconsistent_checkpoint: building the inclusion proof: missing subtree hash at level 0, index 3"),
                "\(prove.status) \(prove.stderr)")
        // (A full-prefix export recomputes every leaf from the entries and needs no stored hash.)
        let export = try TrailRun.cli(["export", "--db", path, "--out", s.path("bundle"), "--outcome", "rejected"])
        #expect(export.status == 1 && export.stderr.hasPrefix("meterproof: inconsistent_checkpoint: "), "\(export.status) \(export.stderr)")
    }

    @Test func aNegativeOlderCheckpointSizeIsRefused() throws {
        // The newest checkpoint (size 6) is intact; a copy of it is stored under size -5.
        let (s, path) = try edited { db in try db.execute("INSERT INTO checkpoints SELECT -5, note, signed_at FROM checkpoints WHERE size = 6") }
        try expectRefused(["audit", "checkpoint", "--db", path, "--signing-key", s.path("log.key")], exit: 1, mentions: "the size of the oldest checkpoint")
        try expectRefused(["audit", "prove", "--db", path, "--seq", "0"], exit: 1, mentions: "the size of a checkpoint")
        try expectRefused(["export", "--db", path, "--out", s.path("bundle")], exit: 1, mentions: "the size of a checkpoint")
        #expect(!FileManager.default.fileExists(atPath: s.path("bundle")))
        #expect(try TrailRun.cli(["audit", "verify", "--db", path]).status == 1)
    }

    @Test func theLargestSeqIsRefusedForAppendsCheckpointsAndVerify() throws {
        let (s, path) = try edited { db in
            try db.execute("INSERT INTO entries VALUES (9223372036854775807, x'7b7d', zeroblob(32))")
        }
        let trail = try AuditTrail(path: path)
        do { _ = try trail.append([AuditTrail.Pending(entry: TrailFixture.entry(9, nonce: nil))]); Issue.record("appended past Int64.max") } catch {
            #expect(error.code == .inconsistent)
        }
        try expectRefused(["audit", "checkpoint", "--db", path, "--signing-key", s.path("log.key")], exit: 1, mentions: "9223372036854775807")
        let v = try TrailRun.cli(["audit", "verify", "--db", path, "--format", "json"])
        #expect(v.status == 1, "\(v.stderr)")
        #expect(v.stdout.hasPrefix(#"{"intact":false"#), "\(v.stdout)")
    }

    @Test func aNegativeKeyFirstSeqFailsExportCleanly() throws {
        // The accepted entry's key, recorded with a first seq no trail can hold.
        let key = try #require(TrailFixture.keyring[1]).key
        let (s, path) = try edited { db in
            try db.execute("INSERT INTO keys VALUES ('\(key.fingerprint)', 1, x'\(Hex.encode(key.spkiDER))', -1)")
        }
        try expectRefused(["export", "--db", path, "--out", s.path("bundle")], exit: 1, mentions: "first seq of key")
        #expect(!FileManager.default.fileExists(atPath: s.path("bundle")))
        // No hidden half-written directory is left beside it either.
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir).filter { $0.hasPrefix(".bundle.partial") }.isEmpty)
        try expectRefused(["report", "--db", path, "--out", s.path("r.html")], exit: 1, mentions: "first seq of key")
        // audit verify names it too (it used to call this trail intact).
        let v = try AuditTrail(path: path, readOnly: true).verify()
        #expect(v.problemCode == "key_table_mismatch" && v.firstBadSeq == nil, "\(v.problem ?? "")")
    }

    @Test func aKeyRowMustNameAnEntryThatUsedIt() throws {
        let key = try #require(TrailFixture.keyring[1]).key
        // Entry 1 used the key (recorded with it); entry 0 records no key.
        for (first, bad) in [(1, false), (0, true), (6, true)] {
            let (scratch, path) = try edited { db in
                try db.execute("INSERT INTO keys VALUES ('\(key.fingerprint)', 1, x'\(Hex.encode(key.spkiDER))', \(first))")
            }
            let v = try withExtendedLifetime(scratch) { try AuditTrail(path: path, readOnly: true).verify() }
            if bad {
                #expect(v.problemCode == "key_table_mismatch", "first_seq \(first): \(v.problem ?? "")")
                #expect(v.firstBadSeq == (first < 6 ? UInt64(first) : nil), "first_seq \(first)")
            } else {
                #expect(v.intact, "first_seq \(first): \(v.problem ?? "")")
            }
        }
    }

    @Test func aNegativeCaptureSeqOrCheckpointSizeIsRefused() throws {
        let line = "not a capture"
        let hash = Hex.encode(SHA256.hash(Array(line.utf8)))
        let (s, path) = try edited { db in
            try db.execute("INSERT INTO captures VALUES (x'\(hash)', -5)")
            try db.execute("DELETE FROM checkpoints; INSERT INTO checkpoints VALUES (-1, 'x', 'y')")
        }
        let file = try s.write("c.jsonl", line + "\n")
        try expectRefused(["audit", "import", "--db", path, "--keys", RepoFiles.testKeys, "--no-progress", file], exit: 1, mentions: "the seq of a recorded capture")
        try expectRefused(["audit", "checkpoint", "--db", path, "--signing-key", s.path("log.key")], exit: 1, mentions: "checkpoint stored in the trail is -1")
    }

    /// A trail of 300 recorded entries, checkpointed so all of them are in the main file
    /// (damage to it is then damage to the trail); the scratch directory and the file's path.
    static func entriesInTheMainFile(_ tag: String) throws -> (TrailScratch, String) {
        let s = try TrailScratch(tag)
        let (trail, _) = try TrailFixture.makeTrail(s)
        for k in 0..<3 { _ = try trail.append((0..<100).map { AuditTrail.Pending(entry: TrailFixture.entry(k * 100 + $0, nonce: nil)) }) }
        let path = s.path("trail.sqlite")
        try SQLiteDatabase(path: path, mode: .readWrite).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return (s, path)
    }

    @Test func aCorruptPageWhileListingIsCorruptTrail() throws {
        // The pages of the last third overwritten.
        let (scratch, path) = try Self.entriesInTheMainFile("corrupt")
        defer { withExtendedLifetime(scratch) {} }
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let h = try #require(FileHandle(forUpdatingAtPath: path))
        try h.seek(toOffset: UInt64(size / 3 * 2 / 4096 * 4096))
        try h.write(contentsOf: Data(repeating: 0xFF, count: size / 3 / 4096 * 4096))
        try h.close()
        // A storage failure (exit 5) with its own code, told apart from read-only or disk full;
        // for audit verify, a verdict.
        let r = try TrailRun.cli(["audit", "log", "--db", path, "--format", "jsonl"])
        #expect(r.status == 5, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("meterproof: corrupt_trail: "), "\(r.stderr)")
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
        let v = try TrailRun.cli(["audit", "verify", "--db", path])
        #expect(v.status == 1 && (v.stdout.hasPrefix("TAMPERED: corrupt_trail: ") || v.stdout.hasPrefix("TAMPERED: integrity_check: ")), "\(v.stdout) \(v.stderr)")
    }

    @Test func aTruncatedFileIsCorruptTrailAndADirectoryIsBadInput() throws {
        let (s, path) = try Self.entriesInTheMainFile("truncated")
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        // Wherever the cut is, opening the file or the scan finds the damage.
        var openFailures = 0
        for cut in [8192 * 2, size / 3, size / 2, size * 2 / 3] {
            try original.prefix(cut).write(to: URL(fileURLWithPath: path))
            do { _ = try AuditTrail(path: path, readOnly: true) } catch {
                #expect(error.code == .corrupt, "cut at \(cut): \(error)")
                openFailures += 1
            }
            let v = try TrailRun.cli(["audit", "verify", "--db", path])
            #expect(v.status == 1, "cut at \(cut): \(v.stderr)")
            #expect(v.stdout.hasPrefix("TAMPERED: corrupt_trail: ") && v.stdout.contains("\(path): the trail file is damaged"), "cut at \(cut): \(v.stdout)")
            let json = try TrailRun.cli(["audit", "verify", "--db", path, "--format", "json"])
            #expect(json.status == 1)
            #expect(json.stdout.contains(#""root":null,"firstBadSeq":null,"problem":"corrupt_trail","message":"#), "cut at \(cut): \(json.stdout)")
        }
        print("truncated trail: \(openFailures) of 4 cuts failed to open, the rest failed the scan")
        // Page 1 past the file header overwritten (the schema's page): the file cannot be opened.
        var damaged = original
        damaged.replaceSubrange(100..<4096, with: Data(repeating: 0xFF, count: 3996))
        try damaged.write(to: URL(fileURLWithPath: path))
        do { _ = try AuditTrail(path: path, readOnly: true); Issue.record("a trail with a destroyed schema page opened") } catch {
            #expect(error.code == .corrupt, "\(error)")
        }
        let v = try TrailRun.cli(["audit", "verify", "--db", path])
        #expect(v.status == 1 && v.stdout.hasPrefix("TAMPERED: corrupt_trail: opening \(path): the trail file is damaged"), "\(v.stdout) \(v.stderr)")
        let log = try TrailRun.cli(["audit", "log", "--db", path])
        #expect(log.status == 5 && log.stderr.hasPrefix("meterproof: corrupt_trail: opening \(path): "), "\(log.stderr)")
        // To verify, exit 1 means rejected: a damaged trail is a storage failure there.
        let response = try s.write("r.json", TrailFixture.response(nonce: "damaged-trail"))
        let live = try TrailRun.cli(TrailFixture.verifyArgs(nonce: "damaged-trail", db: path, input: response))
        #expect(live.status == 5 && live.stderr.contains("corrupt_trail"), "\(live.stdout) \(live.stderr)")
        for args in [["audit", "verify", "--db", s.dir], ["audit", "log", "--db", s.dir], ["export", "--db", s.dir, "--out", s.path("b")]] {
            let r = try TrailRun.cli(args)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr == "meterproof: bad_input: \(s.dir) is a directory, not a trail file\n", "\(args)")
        }
        // A FIFO named as the trail: refused at once, where opening it would wait for a writer
        // for ever (a watchdog kills a command that hangs, failing the status check).
        let fifo = s.path("trail.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        for args in [["audit", "verify", "--db", fifo], ["audit", "log", "--db", fifo], ["audit", "prove", "--db", fifo, "--seq", "0"],
                     ["export", "--db", fifo, "--out", s.path("fifo-bundle")], ["report", "--db", fifo, "--out", s.path("fifo.html")],
                     ["audit", "import", "--db", fifo, "--keys", TrailPaths.testKeys, response],
                     TrailFixture.verifyArgs(nonce: "fifo-trail", db: fifo, input: response)] {
            let child = try TrailRun.start(TrailPaths.cli!, args)
            let pid = child.pid
            let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
            let r = try child.finish()
            watchdog.cancel()
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr == "meterproof: bad_input: \(fifo) is not a regular file (a FIFO, device or socket), not a trail file\n", "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: s.path("fifo-bundle")) && !FileManager.default.fileExists(atPath: s.path("fifo.html")))
    }
}
