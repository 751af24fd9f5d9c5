import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

/// The signer's record (`<key>.last-checkpoint`): someone who can write the trail file but does
/// not hold the log key deletes the stored checkpoints, then edits or cuts back the history they
/// covered with every hash recomputed. The trail alone shows no contradiction; signing with the
/// record must refuse instead of signing a fork of what the key vouched for.
@Suite struct SignerRecordTests {
    /// A trail of `count` synthetic entries signed with a record in the scratch directory.
    static func recorded(count: Int) throws -> (scratch: TrailScratch, signer: NoteSigner, path: String, record: SignerRecord, note: SignedNote) {
        let s = try TrailScratch("signer-record")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: count, tag: "t")
        let record = SignerRecord(path: s.path("log.key.last-checkpoint"))
        let note = try trail.signCheckpoint(with: signer, record: record)
        return (s, signer, s.path("trail.sqlite"), record, note)
    }

    static func recordText(_ r: SignerRecord) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: r.path)), as: UTF8.self)
    }

    static func signing(_ path: String, _ signer: NoteSigner, _ record: SignerRecord?) -> Result<SignedNote, AuditError> {
        do throws(AuditError) { return .success(try AuditTrail(path: path).signCheckpoint(with: signer, record: record)) } catch { return .failure(error) }
    }

    static func checkpointSizes(_ path: String, _ signer: NoteSigner) throws -> [UInt64] {
        try AuditTrail(path: path).checkpoints().map { try Checkpoint(verifying: $0, verifiers: [signer.verifier]).size }
    }

    /// Deletes every stored checkpoint and edits entry 4's message, recomputing its leaf hash and
    /// every subtree hash: a self-consistent trail with another history.
    static func forkHistory(_ path: String) throws {
        try TrailRaw.tamper(path) { db in
            try db.execute("DELETE FROM checkpoints")
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(db, 4))
            e.message = "rewritten"
            try TrailRaw.setBody(db, 4, try e.canonicalBytes(), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
    }

    @Test func signingKeepsTheNewestCheckpointInTheRecord() throws {
        let (s, signer, path, record, note) = try Self.recorded(count: 10)
        defer { withExtendedLifetime(s) {} }
        #expect(try Self.recordText(record) == note.serialized)
        let trail = try AuditTrail(path: path)
        try TrailFixture.fill(trail, count: 7, tag: "u")
        let second = try trail.signCheckpoint(with: signer, record: record)
        #expect(try Self.recordText(record) == second.serialized)
        let kept = try #require(try record.read(verifier: signer.verifier))
        #expect(kept.checkpoint.size == 17)
        // Signing again at the same size returns the stored checkpoint and leaves the record.
        #expect(try trail.signCheckpoint(with: signer, record: record).serialized == second.serialized)
        #expect(try Self.recordText(record) == second.serialized)
        #expect(try Self.checkpointSizes(path, signer) == [10, 17])
    }

    @Test func aForkAfterDeletedCheckpointsIsNotSigned() throws {
        let (s, signer, path, record, note) = try Self.recorded(count: 20)
        defer { withExtendedLifetime(s) {} }
        try Self.forkHistory(path)
        // The trail alone cannot tell: it verifies, and has no checkpoint left to compare with.
        #expect(try AuditTrail(path: path).verify().intact)
        guard case .failure(let error) = Self.signing(path, signer, record) else {
            Issue.record("a fork of the recorded checkpoint was signed")
            return
        }
        #expect(error.code == .inconsistent)
        #expect(error.reason.hasPrefix("the trail does not extend the checkpoint of size 20 this log key signed before (the signer record \(record.path)): its history up to there was changed"), "\(error.reason)")
        #expect(try Self.checkpointSizes(path, signer) == [])
        #expect(try Self.recordText(record) == note.serialized)

        // More entries appended on top of the fork do not help.
        try TrailFixture.fill(try AuditTrail(path: path), count: 5, tag: "v")
        guard case .failure(let again) = Self.signing(path, signer, record) else {
            Issue.record("a fork grown past the recorded checkpoint was signed")
            return
        }
        #expect(again.code == .inconsistent)
        #expect(try Self.recordText(record) == note.serialized)

        // Without a record the key signs the fork: the limit the record closes.
        guard case .success = Self.signing(path, signer, nil) else {
            Issue.record("signing without a record was refused")
            return
        }
    }

    @Test func aTrailCutBackBelowTheRecordIsNotSigned() throws {
        let (s, signer, path, record, _) = try Self.recorded(count: 20)
        defer { withExtendedLifetime(s) {} }
        try TrailRaw.tamper(path) { db in
            try db.execute("DELETE FROM checkpoints")
            try db.execute("DELETE FROM entries WHERE seq >= 12")
            try db.execute("DELETE FROM nonces WHERE seq >= 12")
            try db.execute("DELETE FROM captures WHERE seq >= 12")
            try TrailRaw.rebuildTree(db)
        }
        #expect(try AuditTrail(path: path).verify().intact)
        guard case .failure(let error) = Self.signing(path, signer, record) else {
            Issue.record("a truncated trail was signed")
            return
        }
        #expect(error.code == .inconsistent)
        #expect(error.reason.hasPrefix("this log key signed a checkpoint of size 20 (the signer record \(record.path)), but the trail holds 12 entries: it was cut back, or replaced by an older copy; refusing to sign. Restore a copy of the trail that holds those 20 entries unchanged;"), "\(error.reason)")
        #expect(try Self.checkpointSizes(path, signer) == [])
    }

    @Test func anUnreadableOrForeignRecordIsRefused() throws {
        let (s, signer, path, record, note) = try Self.recorded(count: 8)
        defer { withExtendedLifetime(s) {} }
        try TrailFixture.fill(try AuditTrail(path: path), count: 2, tag: "w")

        // Not a signed note at all.
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: record.path))
        guard case .failure(let garbage) = Self.signing(path, signer, record) else { Issue.record("signed over a garbage record"); return }
        #expect(garbage.code == .badInput)
        #expect(garbage.reason.hasPrefix("the signer record \(record.path) is not a signed note (malformed_note: "), "\(garbage.reason)")

        // A checkpoint signed by another key of the same name.
        let other = try TrailFixture.signer()
        let foreign = try Checkpoint(origin: TrailFixture.origin, size: 8, root: Checkpoint(parsing: note.text).root).signed(with: [other])
        try Data(foreign.serialized.utf8).write(to: URL(fileURLWithPath: record.path))
        guard case .failure(let wrongKey) = Self.signing(path, signer, record) else { Issue.record("signed over another key's record"); return }
        #expect(wrongKey.code == .badInput)
        #expect(wrongKey.reason.contains("is not a checkpoint signed by the log key"), "\(wrongKey.reason)")

        // A checkpoint this key signed for another log (origin).
        let elsewhere = try Checkpoint(origin: "other.test/log", size: 3, root: RFC6962.emptyRoot).signed(with: [signer])
        try Data(elsewhere.serialized.utf8).write(to: URL(fileURLWithPath: record.path))
        guard case .failure(let otherLog) = Self.signing(path, signer, record) else { Issue.record("signed over another log's record"); return }
        #expect(otherLog.code == .inconsistent)
        #expect(otherLog.reason.hasPrefix("the signer record \(record.path) holds a checkpoint of the log other.test/log, not of this trail's log trail.test/log"), "\(otherLog.reason)")

        // A directory where the record should be.
        try FileManager.default.removeItem(atPath: record.path)
        try FileManager.default.createDirectory(atPath: record.path, withIntermediateDirectories: false)
        guard case .failure(let dir) = Self.signing(path, signer, record) else { Issue.record("signed over a directory record"); return }
        #expect(dir.code == .badInput)
        #expect(dir.reason == "the signer record \(record.path) is not a regular file")
        #expect(try Self.checkpointSizes(path, signer) == [8])
    }

    @Test func aRecordThatCannotBeWrittenLeavesNothingSigned() throws {
        let (s, signer, path, _, _) = try Self.recorded(count: 6)
        defer { withExtendedLifetime(s) {} }
        try TrailFixture.fill(try AuditTrail(path: path), count: 3, tag: "x")
        let nowhere = SignerRecord(path: s.path("missing-dir/log.key.last-checkpoint"))
        guard case .failure(let error) = Self.signing(path, signer, nowhere) else { Issue.record("signed without keeping the record"); return }
        #expect(error.code == .badInput)
        #expect(error.reason.hasPrefix("cannot keep the signer record \(nowhere.path):"), "\(error.reason)")
        // The checkpoint's row was rolled back with the failed record.
        #expect(try Self.checkpointSizes(path, signer) == [6])
    }

    @Test func aMissingRecordStartsFromTheTrailsNewestCheckpoint() throws {
        let (s, signer, path, record, _) = try Self.recorded(count: 5)
        defer { withExtendedLifetime(s) {} }
        // Signed elsewhere without the record (another host, an older MeterProof)...
        let trail = try AuditTrail(path: path)
        try TrailFixture.fill(trail, count: 4, tag: "y")
        let newer = try trail.signCheckpoint(with: signer)
        // ...the record catches up to it, having checked it extends what it held.
        #expect(try trail.signCheckpoint(with: signer, record: record).serialized == newer.serialized)
        #expect(try Self.recordText(record) == newer.serialized)
        // A record that is removed starts again at the next signing.
        try FileManager.default.removeItem(atPath: record.path)
        try TrailFixture.fill(trail, count: 1, tag: "z")
        let third = try trail.signCheckpoint(with: signer, record: record)
        #expect(try Self.recordText(record) == third.serialized)
    }

    // MARK: The CLI

    @Test func theCommandsKeepTheRecordBesideTheKeyAndRefuseAFork() throws {
        let (s, signer, path, _, _) = try Self.recorded(count: 20)
        defer { withExtendedLifetime(s) {} }
        let key = try s.write("log.key", signer.skey + "\n")
        let beside = key + ".last-checkpoint"
        try TrailFixture.fill(try AuditTrail(path: path), count: 3, tag: "c")

        // Option errors: both, or a record option on an export that signs nothing.
        let both = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key, "--signer-record", s.path("r"), "--no-signer-record"])
        #expect(both.status == 64)
        #expect(both.stderr.contains("--signer-record and --no-signer-record exclude each other"), "\(both.stderr)")
        let unsigned = try TrailRun.cli(["export", "--db", path, "--out", s.path("b0"), "--signer-record", s.path("r")])
        #expect(unsigned.status == 64)
        #expect(unsigned.stderr.contains("apply only with --signing-key"), "\(unsigned.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("b0")))

        let signed = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(try String(contentsOfFile: beside, encoding: .utf8) == signed.stdout)
        // The record is a checkpoint like any other: `audit verify --against` takes it.
        #expect(try TrailRun.cli(["audit", "verify", "--db", path, "--against", beside]).status == 0)

        try Self.forkHistory(path)
        let verify = try TrailRun.cli(["audit", "verify", "--db", path, "--against", beside])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("against_root_mismatch"), "\(verify.stdout)")

        let refused = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("meterproof: inconsistent_checkpoint: the trail does not extend the checkpoint of size 23 this log key signed before (the signer record \(beside))"), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        let export = try TrailRun.cli(["export", "--db", path, "--out", s.path("bundle"), "--signing-key", key])
        #expect(export.status == 1)
        #expect(export.stderr.contains("inconsistent_checkpoint: the trail does not extend the checkpoint of size 23"), "\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("bundle")))
        #expect(try Self.checkpointSizes(path, signer) == [])

        // An explicit record elsewhere starts afresh; --no-signer-record keeps none. (The
        // synthetic accepted entries carry no token, so the export selects the rejected ones.)
        let elsewhere = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key, "--signer-record", s.path("other-record")])
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect(try String(contentsOfFile: s.path("other-record"), encoding: .utf8) == elsewhere.stdout)
        try TrailFixture.fill(try AuditTrail(path: path), count: 1, tag: "n1")
        let exported = try TrailRun.cli(["export", "--db", path, "--out", s.path("bundle2"), "--outcome", "rejected", "--signing-key", key, "--no-signer-record"])
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stderr.contains("meterproof: warning: signed without the signer record (--no-signer-record): whether this checkpoint extends what the key signed before was not checked, and no record was kept\n"), "\(exported.stderr)")
        try TrailFixture.fill(try AuditTrail(path: path), count: 1, tag: "n2")
        let unrecorded = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key, "--no-signer-record"])
        #expect(unrecorded.status == 0 && unrecorded.stderr == "meterproof: warning: signed without the signer record (--no-signer-record): whether this checkpoint extends what the key signed before was not checked, and no record was kept\n", "\(unrecorded.stderr)")
        // Nothing new to sign: the stored checkpoint is printed, and there is nothing to warn of.
        let again = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key, "--no-signer-record"])
        #expect(again.status == 0 && again.stderr.isEmpty && again.stdout == unrecorded.stdout, "\(again.stderr)")
    }

    @Test func aKeyWithARecordDoesNotStartASecondTrail() throws {
        let s = try TrailScratch("signer-record-new")
        defer { withExtendedLifetime(s) {} }
        let captures = try s.write("captures.jsonl", "\"not a token\"\n")
        let first = try TrailRun.cli(["audit", "import", "--db", s.path("a.sqlite"), "--keys", TrailPaths.testKeys, "--no-progress", captures])
        #expect(first.status == 0, "\(first.stderr)")
        let key = s.path(Defaults.logKey)
        #expect(FileManager.default.fileExists(atPath: key + ".last-checkpoint"))

        // The same key named for a new trail: refused before the trail is created.
        let second = try TrailRun.cli(["audit", "import", "--db", s.path("b.sqlite"), "--signing-key", key, "--keys", TrailPaths.testKeys, "--no-progress", captures])
        #expect(second.status == 1)
        #expect(second.stderr.contains("inconsistent_checkpoint: \(key) already signed a checkpoint of size 1 of another trail (the signer record \(key).last-checkpoint)"), "\(second.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("b.sqlite")))

        // A new key where an old one's record was left behind: refused, so the record of what
        // the old key signed is not lost.
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.removeItem(atPath: s.path("a.sqlite"))
        let again = try TrailRun.cli(["audit", "init", "--db", s.path("a.sqlite")])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already_exists: \(key).last-checkpoint already exists: it is the signer record of a log key that signed before"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("a.sqlite")))
        #expect(!FileManager.default.fileExists(atPath: key))

        // Nor a new key with an old record named by --signer-record: refused before anything
        // is created (it used to be found only when the finished import signed).
        try FileManager.default.moveItem(atPath: key + ".last-checkpoint", toPath: s.path("old-record"))
        let named = try TrailRun.cli(["audit", "import", "--db", s.path("n.sqlite"), "--signer-record", s.path("old-record"), "--keys", TrailPaths.testKeys, "--no-progress", captures])
        #expect(named.status == 2)
        #expect(named.stderr.contains("already_exists: \(s.path("old-record")) already exists: it is the signer record of a log key that signed before"), "\(named.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("n.sqlite")))
        #expect(!FileManager.default.fileExists(atPath: key))
    }

    /// An import that will sign finds a record it cannot use before importing anything.
    @Test func anImportChecksTheRecordBeforeItStarts() throws {
        let s = try TrailScratch("signer-record-preflight")
        defer { withExtendedLifetime(s) {} }
        let captures = try s.write("captures.jsonl", "\"not a token\"\n")
        let more = try s.write("more.jsonl", "\"another line\"\n")
        let db = s.path("t.sqlite")
        let key = s.path("meterproof-log.key")
        let record = key + ".last-checkpoint"
        func run(_ extra: [String] = []) throws -> TrailProcessResult {
            try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--no-progress"] + extra + [more])
        }
        #expect(try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--no-progress", captures]).status == 0)
        let good = try s.read("meterproof-log.key.last-checkpoint")

        // Another key's checkpoint in the record.
        let other = try TrailFixture.signer("x.test/log")
        try Data(try Checkpoint(origin: "x.test/log", size: 1, root: RFC6962.emptyRoot).signed(with: [other]).serialized.utf8).write(to: URL(fileURLWithPath: record))
        let foreign = try run()
        #expect(foreign.status == 2)
        #expect(foreign.stderr.hasPrefix("meterproof: bad_input: the signer record \(record) is not a checkpoint signed by the log key"), "\(foreign.stderr)")
        #expect(try AuditTrail(path: db, readOnly: true).size() == 1)

        // A record ahead of the trail (a trail restored from an older backup).
        let trail = try AuditTrail(path: db, readOnly: true)
        let signer = try LogKeyFile.read(key)
        try Data(try Checkpoint(origin: trail.origin, size: 5, root: RFC6962.emptyRoot).signed(with: [signer]).serialized.utf8).write(to: URL(fileURLWithPath: record))
        let ahead = try run()
        #expect(ahead.status == 1)
        #expect(ahead.stderr.hasPrefix("meterproof: inconsistent_checkpoint: this log key signed a checkpoint of size 5 (the signer record \(record)), but the trail holds 1 entries"), "\(ahead.stderr)")
        #expect(try AuditTrail(path: db, readOnly: true).size() == 1)

        // A record that is a symbolic link: it would be replaced, not written through.
        try FileManager.default.removeItem(atPath: record)
        try Data(good).write(to: URL(fileURLWithPath: s.path("real-record")))
        try FileManager.default.createSymbolicLink(atPath: record, withDestinationPath: s.path("real-record"))
        let linked = try run()
        #expect(linked.status == 2)
        #expect(linked.stderr.hasPrefix("meterproof: bad_input: cannot keep the signer record \(record): "), "\(linked.stderr)")
        #expect(linked.stderr.contains("name a writable place for it with --signer-record FILE"), "\(linked.stderr)")
        #expect(try AuditTrail(path: db, readOnly: true).size() == 1)

        // Named elsewhere, the same record works.
        let elsewhere = try run(["--signer-record", s.path("real-record")])
        #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
        #expect(try AuditTrail(path: db, readOnly: true).size() == 2)
        #expect(!elsewhere.stderr.contains("note: no signer record"), "\(elsewhere.stderr)")
    }

    @Test func aKeyThatIsNoRegularFileNeedsANamedRecordAndALinkedKeyKeepsItsRecordBesideItsTarget() throws {
        let (s, signer, path, _, _) = try Self.recorded(count: 4)
        defer { withExtendedLifetime(s) {} }
        let key = try s.write("secrets-log.key", signer.skey + "\n")
        let sh = try #require(TrailRun.which("bash"))
        let bin = try #require(TrailPaths.cli)
        let fifo = try TrailRun.program(sh, ["-c", "\"$1\" audit checkpoint --db \"$2\" --signing-key <(cat \"$3\")", "sh", bin, path, key])
        #expect(fifo.status == 2)
        #expect(fifo.stderr.hasPrefix("meterproof: bad_input: the signing key /dev/fd/"), "\(fifo.stderr)")
        #expect(fifo.stderr.contains("so there is no place beside it for the signer record: name one with --signer-record FILE"), "\(fifo.stderr)")
        let named = try TrailRun.program(sh, ["-c", "\"$1\" audit checkpoint --db \"$2\" --signing-key <(cat \"$3\") --signer-record \"$4\"", "sh", bin, path, key, s.path("fifo-record")])
        #expect(named.status == 0, "\(named.stderr)")
        #expect(try String(contentsOfFile: s.path("fifo-record"), encoding: .utf8) == named.stdout)

        // A key linked into another directory (a secrets mount): the record is beside the key
        // file itself, whichever name is used.
        try FileManager.default.createDirectory(atPath: s.path("data"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: s.path("data/meterproof-log.key"), withDestinationPath: key)
        try TrailFixture.fill(try AuditTrail(path: path), count: 2, tag: "l")
        let viaLink = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", s.path("data/meterproof-log.key")])
        #expect(viaLink.status == 0, "\(viaLink.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("data/meterproof-log.key.last-checkpoint")))
        let realKey = try #require(URL(fileURLWithPath: key).resolvingSymlinksInPath().path as String?)
        #expect(try String(contentsOfFile: realKey + ".last-checkpoint", encoding: .utf8) == viaLink.stdout)
        // The record was new for a trail with entries: said on standard error.
        #expect(viaLink.stderr.hasPrefix("meterproof: note: no signer record was at \(realKey).last-checkpoint: started it with this checkpoint (size 6)"), "\(viaLink.stderr)")
        let direct = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key])
        #expect(direct.status == 0 && direct.stderr.isEmpty, "\(direct.stderr)")
    }

    /// `audit verify` checks the record beside the trail's default key: the fork that signing
    /// refuses is reported by the auditor's everyday command too.
    @Test func auditVerifyChecksTheRecordBesideTheDefaultKey() throws {
        let s = try TrailScratch("signer-record-verify")
        defer { withExtendedLifetime(s) {} }
        let captures = try s.write("captures.jsonl", (0..<20).map { "\"line \($0)\"" }.joined(separator: "\n") + "\n")
        #expect(try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir).status == 0)
        func verify(_ extra: [String] = []) throws -> TrailProcessResult { try TrailRun.cli(["audit", "verify"] + extra, cwd: s.dir) }
        let good = try verify()
        #expect(good.status == 0)
        #expect(good.stdout.hasSuffix(" s)\nextends the signer record meterproof-log.key.last-checkpoint (size 20)\n"), "\(good.stdout)")
        let json = try verify(["--format", "json"])
        #expect(json.stdout.hasSuffix(#","signerRecord":{"path":"meterproof-log.key.last-checkpoint","size":20}}"# + "\n"), "\(json.stdout)")
        let report = try TrailRun.cli(["report", "--out", "good.html"], cwd: s.dir)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(String(decoding: try s.read("good.html"), as: UTF8.self).contains(#"<tr><th scope="row">Signer record</th><td>the trail extends it (size 20)</td></tr>"#))

        // Checkpoints deleted and entry 4 rewritten, every hash recomputed: the trail agrees
        // with itself, not with the record.
        let saved = try s.read("meterproof.sqlite")
        try Self.forkHistory(s.path("meterproof.sqlite"))
        let forked = try verify()
        #expect(forked.status == 1)
        #expect(forked.stdout == "TAMPERED: record_root_mismatch: the trail's history up to size 20 differs from the checkpoint in the signer record meterproof-log.key.last-checkpoint: the log key signed another history (this one rewritten since, or another trail signed with the same key)\n", "\(forked.stdout)")
        let badReport = try TrailRun.cli(["report", "--out", "bad.html"], cwd: s.dir)
        #expect(badReport.status == 1)
        #expect(badReport.stderr.hasPrefix("meterproof: record_root_mismatch: the trail is not intact: "), "\(badReport.stderr)")
        #expect(String(decoding: try s.read("bad.html"), as: UTF8.self).contains(#"<tr><th scope="row">Signer record</th><td><strong>the trail does not extend it</strong> (see the problem above)</td></tr>"#))
        let skipped = try verify(["--no-signer-record"])
        #expect(skipped.status == 0 && skipped.stdout.hasPrefix("intact: 20 entries, 0 checkpoint(s) verified"), "\(skipped.stdout)")
        #expect(skipped.stderr.contains("note: no checkpoint is stored"), "\(skipped.stderr)")

        // Cut back below the record.
        try Data(saved).write(to: URL(fileURLWithPath: s.path("meterproof.sqlite")))
        try TrailRaw.tamper(s.path("meterproof.sqlite")) { db in
            try db.execute("DELETE FROM checkpoints")
            for table in ["entries", "nonces", "captures"] { try db.execute("DELETE FROM \(table) WHERE seq >= 15") }
            try TrailRaw.rebuildTree(db)
        }
        let cut = try verify(["--format", "json"])
        #expect(cut.status == 1)
        #expect(cut.stdout.contains(#""firstBadSeq":15,"problem":"record_truncated","message":"the signer record meterproof-log.key.last-checkpoint holds a checkpoint of 20 entries but the trail has only 15: if this is the live trail, it was cut back or replaced by an older copy (Restore a copy"#), "\(cut.stdout)")

        // A record another key signed (the trail replaced under a new key, say).
        try Data(saved).write(to: URL(fileURLWithPath: s.path("meterproof.sqlite")))
        let other = try TrailFixture.signer(try AuditTrail(path: s.path("meterproof.sqlite"), readOnly: true).origin)
        try Data(try Checkpoint(origin: other.name, size: 1, root: RFC6962.emptyRoot).signed(with: [other]).serialized.utf8).write(to: URL(fileURLWithPath: s.path("foreign")))
        let foreign = try verify(["--signer-record", "foreign"])
        #expect(foreign.status == 1)
        #expect(foreign.stdout.hasPrefix("TAMPERED: record_signature: the signer record foreign is not a checkpoint signed by "), "\(foreign.stdout)")

        // A record named that is not there, or not a signed note: unreadable input, exit 2.
        let missing = try verify(["--signer-record", "nothing"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "meterproof: bad_input: no signer record at nothing\n")
        _ = try s.write("garbage", "not a note\n")
        let garbage = try verify(["--signer-record", "garbage"])
        #expect(garbage.status == 2)
        #expect(garbage.stderr.hasPrefix("meterproof: bad_input: the signer record garbage is not a signed note"), "\(garbage.stderr)")
        #expect(try verify(["--signer-record", "x", "--no-signer-record"]).status == 64)
    }

    /// A second trail in a directory whose default key signs the first: the record beside the
    /// default key is the first trail's, and must not make the second look tampered.
    @Test func anotherTrailsRecordBesideTheDefaultKeyIsLeftOutWithANote() throws {
        let s = try TrailScratch("signer-record-two-trails")
        defer { withExtendedLifetime(s) {} }
        let captures = try s.write("captures.jsonl", "\"one\"\n\"two\"\n")
        #expect(try TrailRun.cli(["audit", "import", "--db", "a.sqlite", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir).status == 0)
        #expect(try TrailRun.cli(["audit", "init", "--db", "b.sqlite", "--signing-key", "b.key"], cwd: s.dir).status == 0)
        #expect(try TrailRun.cli(["audit", "import", "--db", "b.sqlite", "--signing-key", "b.key", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir).status == 0)
        let b = try TrailRun.cli(["audit", "verify", "--db", "b.sqlite"], cwd: s.dir)
        #expect(b.status == 0, "\(b.stdout)")
        #expect(b.stdout.hasPrefix("intact: 2 entries, 1 checkpoint(s) verified") && !b.stdout.contains("signer record"), "\(b.stdout)")
        #expect(b.stderr.hasPrefix("meterproof: note: the signer record meterproof-log.key.last-checkpoint beside the default log key is not a checkpoint signed by this trail's log key ("), "\(b.stderr)")
        let report = try TrailRun.cli(["report", "--db", "b.sqlite", "--out", "b.html"], cwd: s.dir)
        #expect(report.status == 0, "\(report.stderr)")
        // Its own record, named.
        let named = try TrailRun.cli(["audit", "verify", "--db", "b.sqlite", "--signer-record", "b.key.last-checkpoint"], cwd: s.dir)
        #expect(named.status == 0 && named.stdout.hasSuffix("extends the signer record b.key.last-checkpoint (size 2)\n") && named.stderr.isEmpty, "\(named.stdout)\(named.stderr)")
        // The first trail still checks its own.
        let a = try TrailRun.cli(["audit", "verify", "--db", "a.sqlite"], cwd: s.dir)
        #expect(a.status == 0 && a.stdout.hasSuffix("extends the signer record meterproof-log.key.last-checkpoint (size 2)\n"), "\(a.stdout)")
    }

    /// A signing that ends while `audit verify` runs replaces the record with a checkpoint of
    /// entries the verification's snapshot does not hold: the record is read before the
    /// snapshot, so the trail is still intact (it was reported `record_truncated`).
    @Test func aSigningDuringVerificationIsNoTruncation() throws {
        let (s, signer, path, record, _) = try Self.recorded(count: 3)
        defer { withExtendedLifetime(s) {} }
        let writer = try AuditTrail(path: path)
        for b in 0..<40 {
            _ = try writer.append((0..<1000).map { AuditTrail.Pending(entry: TrailFixture.entry(b * 1000 + $0)) })
        }
        // Many stored checkpoints: a report reads them all in its snapshot before it verifies,
        // which widens the window a signing can fall into.
        for i in 0..<300 {
            _ = try writer.record(TrailFixture.entry(40_000 + i))
            _ = try writer.signCheckpoint(with: signer)
        }
        _ = try writer.signCheckpoint(with: signer, record: record)
        // Even rounds run `audit verify`'s check, odd ones a report's (which reads the trail in
        // one snapshot of its own).
        for round in 0..<10 {
            let started = DispatchSemaphore(value: 0)
            let verdict = Mutex<Result<TrailVerification, AuditError>?>(nil)
            let thread = Thread {
                started.signal()
                let r: Result<TrailVerification, AuditError>
                do throws(AuditError) {
                    let reader = try AuditTrail(path: path, readOnly: true)
                    if round % 2 == 0 {
                        r = .success(try reader.verify(record: record))
                    } else {
                        var options = ComplianceReport.Options()
                        options.signerRecord = record
                        r = .success(try ComplianceReport.build(trail: reader, options: options).integrity)
                    }
                } catch { r = .failure(error) }
                verdict.withLock { $0 = r }
            }
            thread.start()
            started.wait()
            usleep(UInt32(5_000 + 5_000 * (round / 2 % 4)))
            _ = try writer.record(TrailFixture.entry(60_000 + round))
            _ = try writer.signCheckpoint(with: signer, record: record)
            while verdict.withLock({ $0 == nil }) { usleep(2_000) }
            let r = try verdict.withLock { try #require($0) }.get()
            #expect(r.intact, "round \(round): \(r.problemCode ?? "") \(r.problem ?? "")")
        }
    }

    /// Regressions found by a review: a dangling link as the default key, a key read from a
    /// pipe, and a record that cannot be written for a trail about to be created.
    @Test func keysThatAreLinksOrPipesAndUnwritableRecordsAtCreation() throws {
        let s = try TrailScratch("signer-record-odd-keys")
        defer { withExtendedLifetime(s) {} }
        let captures = try s.write("c.jsonl", "\"a\"\n")
        // A default key that is a link to nothing: refused, nothing made (it was an import with
        // exit 0, no checkpoint and a staged key left behind).
        try FileManager.default.createSymbolicLink(atPath: s.path("meterproof-log.key"), withDestinationPath: s.path("secret/log.key"))
        let dangling = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(dangling.status == 2)
        #expect(dangling.stderr == "meterproof: bad_input: the signing key meterproof-log.key is a symbolic link to nothing (or a loop of links): point it at the key file, or name the key file itself\n", "\(dangling.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir).sorted() == ["c.jsonl", "meterproof-log.key"])
        try FileManager.default.removeItem(atPath: s.path("meterproof-log.key"))

        // A record that cannot be written, for a trail about to be created: refused before the
        // trail or its key is made.
        let nowhere = try TrailRun.cli(["audit", "import", "--signer-record", s.path("missing/rec"), "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(nowhere.status == 2)
        #expect(nowhere.stderr.hasPrefix("meterproof: bad_input: cannot keep the signer record \(s.path("missing/rec")): "), "\(nowhere.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir).sorted() == ["c.jsonl"])

        // A key read from a pipe (read once, for the checks and the signing).
        #expect(try TrailRun.cli(["audit", "init"], cwd: s.dir).status == 0)
        let sh = try #require(TrailRun.which("bash"))
        let bin = try #require(TrailPaths.cli)
        let piped = try TrailRun.program(sh, ["-c", "cd \"$2\" && \"$1\" audit import --keys \"$3\" --no-progress --signing-key <(cat meterproof-log.key) --no-signer-record c.jsonl", "sh", bin, s.dir, TrailPaths.testKeys])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.contains("checkpoint:\n"), "\(piped.stdout)")
        #expect(try AuditTrail(path: s.path("meterproof.sqlite"), readOnly: true).checkpoints().count == 1)
    }

    /// A key written to a read-only directory (a secret mount) fails with a message that says
    /// how such a key is made. As root file modes stop nothing, so this runs as `nobody`.
    @Test(.enabled(if: geteuid() == 0 && TrailRun.which("setpriv") != nil, "needs root and setpriv to drop to an unprivileged user"))
    func aKeyOnReadOnlyStorageIsMadeElsewhere() throws {
        let s = try TrailScratch("signer-record-ro")
        defer { withExtendedLifetime(s) {} }
        try FileManager.default.createDirectory(atPath: s.path("vol"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: s.path("secret"), withIntermediateDirectories: false)
        #expect(chmod(s.dir, 0o755) == 0 && chmod(s.path("vol"), 0o777) == 0 && chmod(s.path("secret"), 0o555) == 0)
        guard let r = try TrailRun.cliAsNobody(["audit", "init", "--db", s.path("vol/t.sqlite"), "--signing-key", s.path("secret/log.key")], suite: "SignerRecordTests") else { return }
        #expect(r.status == 5)
        #expect(r.stderr.hasPrefix("meterproof: read_only: cannot write \(s.path("secret/log.key")): Permission denied. To keep the key on read-only storage (a secret mount), create the trail and key where both can be written, then move the key there and name it with --signing-key"), "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("vol")).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.path("secret")).isEmpty)
    }

    /// The catch-up path (the newest stored checkpoint already covers the trail) checks the
    /// record as well: a fork the key was made to sign without the record is not adopted.
    @Test func aForkSignedWithoutTheRecordIsNotAdopted() throws {
        let (s, signer, path, record, note) = try Self.recorded(count: 10)
        defer { withExtendedLifetime(s) {} }
        try Self.forkHistory(path)
        try TrailFixture.fill(try AuditTrail(path: path), count: 5, tag: "f")
        guard case .success = Self.signing(path, signer, nil) else { Issue.record("signing without a record was refused"); return }
        guard case .failure(let error) = Self.signing(path, signer, record) else { Issue.record("the record adopted a fork"); return }
        #expect(error.code == .inconsistent)
        #expect(error.reason.hasPrefix("the trail does not extend the checkpoint of size 10 this log key signed before"), "\(error.reason)")
        #expect(try Self.recordText(record) == note.serialized)
    }

    /// `audit init` starts the record, so the first signing after init (an import, or
    /// `audit checkpoint` after live `verify --db`) does not say a record was missing.
    @Test func initStartsTheRecordSoTheFirstSigningSaysNothing() throws {
        let s = try TrailScratch("signer-record-init")
        defer { withExtendedLifetime(s) {} }
        #expect(try TrailRun.cli(["audit", "init"], cwd: s.dir).status == 0)
        let captures = try s.write("captures.jsonl", "\"one\"\n\"two\"\n")
        let imported = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(imported.status == 0)
        #expect(!imported.stderr.contains("signer record"), "\(imported.stderr)")
        let kept = try #require(try SignerRecord(path: s.path("meterproof-log.key.last-checkpoint")).read(verifier: LogKeyFile.read(s.path("meterproof-log.key")).verifier))
        #expect(kept.checkpoint.size == 2)

        // --no-signer-record: a leftover record does not stop a new trail and key, and the new
        // key gets no record.
        let t = try TrailScratch("signer-record-none")
        defer { withExtendedLifetime(t) {} }
        _ = try t.write("meterproof-log.key.last-checkpoint", try String(contentsOfFile: s.path("meterproof-log.key.last-checkpoint"), encoding: .utf8))
        let leftover = try t.read("meterproof-log.key.last-checkpoint")
        let none = try TrailRun.cli(["audit", "import", "--no-signer-record", "--keys", TrailPaths.testKeys, "--no-progress", try t.write("c.jsonl", "\"x\"\n")], cwd: t.dir)
        #expect(none.status == 0, "\(none.stderr)")
        #expect(try t.read("meterproof-log.key.last-checkpoint") == leftover)
    }

    @Test func exportRecordOptionsWithoutASigningKeyPrintExportsUsage() throws {
        let (s, _, path, _, _) = try Self.recorded(count: 2)
        defer { withExtendedLifetime(s) {} }
        let r = try TrailRun.cli(["export", "--db", path, "--out", s.path("b"), "--no-signer-record"])
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("Error: --signer-record and --no-signer-record apply only with --signing-key (an export without it signs nothing).\nUsage: meterproof export [--db <db>] --out <out>"), "\(r.stderr)")
    }
}

private enum Defaults { static let logKey = "meterproof-log.key" }
