import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// Creating a trail and its log key: races between processes, leftovers of an earlier trail,
/// and a key that belongs to another trail.
@Suite struct TrailCreationTests {
    static func names(_ s: TrailScratch) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: s.dir).sorted()
    }

    @Test("imports that start at once into a new trail create it once, keep its key, and all succeed")
    func concurrentFirstImports() throws {
        // Each import used to create its own key and trail; the loser of the race removed the
        // key file the winner's trail was made with, so the trail could never sign again.
        for round in 0..<4 {
            let s = try TrailScratch("create-race-\(round)")
            let captures = try ImportCommandTests.smallFile(s)
            let children = try (0..<4).map { _ in
                try TrailRun.start(TrailPaths.cli!, ["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", "--format", "json", captures], cwd: s.dir)
            }
            let results = try children.map { try $0.finish() }
            for r in results { #expect(r.status == 0, "round \(round): \(r.stderr)") }
            // Exactly one says it created the trail.
            #expect(results.filter { $0.stderr.contains("created trail meterproof.sqlite") }.count == 1, "\(results.map(\.stderr))")
            let db = s.path("meterproof.sqlite"), key = s.path("meterproof-log.key")
            let trail = try AuditTrail(path: db, readOnly: true)
            #expect(try LogKeyFile.read(key).verifier == trail.verifier)
            #expect(try trail.size() == 5)
            // Every process signed with the trail's key, and no temporary file is left.
            #expect(results.allSatisfy { $0.stdout.contains("\"checkpoint\":\"meterproof.local/") }, "\(results.map(\.stdout))")
            let left = try Self.names(s)
            #expect(left.filter { $0.contains(".creating-") }.isEmpty, "\(left)")
        }
    }

    @Test("a default log key without its trail is refused: one key must never sign two histories")
    func defaultKeyOfAnotherTrailIsRefused() throws {
        let s = try TrailScratch("create-shared-key")
        let captures = try ImportCommandTests.smallFile(s)
        let a = try TrailRun.cli(["audit", "import", "--db", "a.sqlite", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(a.status == 0, "\(a.stderr)")
        let b = try TrailRun.cli(["audit", "import", "--db", "b.sqlite", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(b.status == 2)
        #expect(b.stderr == "meterproof: already_exists: meterproof-log.key exists but b.sqlite does not: that key signs the checkpoints of a trail that was there (or of another trail in this directory), and one log key must never sign two histories. To start over, move meterproof-log.key and its signer record meterproof-log.key.last-checkpoint away together (keep them with the old trail: they show what it signed)\n")
        #expect(!FileManager.default.fileExists(atPath: s.path("b.sqlite")))
        // Named explicitly, the key is still refused: its signer record holds a.sqlite's
        // checkpoint, which a new trail cannot extend.
        let named = try TrailRun.cli(["audit", "import", "--db", "c.sqlite", "--signing-key", "meterproof-log.key", "--keys", TrailPaths.testKeys,
                                      "--no-progress", captures], cwd: s.dir)
        #expect(named.status == 1)
        let signed = try AuditTrail(path: s.path("a.sqlite"), readOnly: true).size()
        #expect(named.stderr.hasPrefix("meterproof: inconsistent_checkpoint: meterproof-log.key already signed a checkpoint of size \(signed) of another trail (the signer record meterproof-log.key.last-checkpoint)"), "\(named.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("c.sqlite")))
        // Without the record, the key is the user's choice.
        let c = try TrailRun.cli(["audit", "import", "--db", "c.sqlite", "--signing-key", "meterproof-log.key", "--no-signer-record", "--keys", TrailPaths.testKeys,
                                  "--no-progress", captures], cwd: s.dir)
        #expect(c.status == 0, "\(c.stderr)")
        #expect(try AuditTrail(path: s.path("c.sqlite"), readOnly: true).verifier == AuditTrail(path: s.path("a.sqlite"), readOnly: true).verifier)
    }

    @Test("a non-empty leftover -wal or -journal of a deleted trail stops a new one at that path", arguments: ["-wal", "-journal"])
    func leftoverSideFiles(side: String) throws {
        // SQLite replays a -wal into whatever file has the name: the new trail held the old
        // log's entries, under the new log's key, and `audit verify` called it intact.
        let s = try TrailScratch("create-leftover")
        let db = s.path("t.sqlite")
        _ = try s.write("t.sqlite" + side, Array("old frames".utf8))
        let signer = try NoteSigner.generate(name: "example.com/leftover")
        #expect(throws: AuditError(.alreadyExists, "\(db + side) exists and is not empty, left over from a trail that was at \(db): SQLite would replay it into the new trail. Delete it (and \(db)'s other -wal, -shm and -journal files) if that trail is meant to be gone, or put the trail back beside it")) {
            try AuditTrail.create(path: db, signer: signer)
        }
        #expect(try Self.names(s) == ["t.sqlite" + side])
        // `audit init` says the same and leaves no key behind.
        let r = try TrailRun.cli(["audit", "init", "--db", "t.sqlite", "--signing-key", "k"], cwd: s.dir)
        #expect(r.status == 2 && r.stderr.hasPrefix("meterproof: already_exists: t.sqlite\(side) exists and is not empty, left over from a trail"), "\(r.stderr)")
        #expect(try Self.names(s) == ["t.sqlite" + side])
        // openOrCreate says why too, instead of "no audit trail".
        #expect(throws: AuditError(.alreadyExists, "\(db + side) exists and is not empty, left over from a trail that was at \(db): SQLite would replay it into the new trail. Delete it (and \(db)'s other -wal, -shm and -journal files) if that trail is meant to be gone, or put the trail back beside it")) {
            try AuditTrail.openOrCreate(path: db, logKey: signer.verifier)
        }
        // Gone, the trail can be made.
        unlink(db + side)
        #expect(try AuditTrail.create(path: db, signer: signer).size() == 0)
    }

    @Test("an empty -wal and a -shm (what a reader leaves) do not stop a new trail")
    func emptySideFilesAreHarmless() throws {
        let s = try TrailScratch("create-empty-side")
        _ = try s.write("t.sqlite-wal", [UInt8]())
        _ = try s.write("t.sqlite-shm", Array(repeating: 0xAB, count: 32768))
        let signer = try NoteSigner.generate(name: "example.com/empty-side")
        let trail = try AuditTrail.create(path: s.path("t.sqlite"), signer: signer)
        _ = try trail.record(AuditEntry(rejected: .malformedInput, message: "x", source: .live, capture: nil))
        _ = try trail.signCheckpoint(with: signer)
        #expect(try trail.verify().intact && trail.size() == 1)
    }

    @Test("openOrCreate still opens a trail another process made, whose -wal exists by then")
    func openOrCreateAfterAnotherCreated() throws {
        let s = try TrailScratch("create-open")
        let signer = try NoteSigner.generate(name: "example.com/open")
        let first = try AuditTrail.openOrCreate(path: s.path("t.sqlite"), logKey: signer.verifier)
        _ = try first.record(AuditEntry(rejected: .malformedInput, message: "x", source: .live, capture: nil))
        #expect(FileManager.default.fileExists(atPath: s.path("t.sqlite-wal")))
        #expect(try AuditTrail.openOrCreate(path: s.path("t.sqlite"), logKey: signer.verifier).size() == 1)
    }

    @Test("the log key file appears whole or not at all, and audit init leaves no temporary file")
    func keyFileIsStagedThenLinked() throws {
        let s = try TrailScratch("create-key")
        let signer = try NoteSigner.generate(name: "example.com/key")
        let staged = try LogKeyFile.stage(signer, for: s.path("log.key"))
        #expect(!FileManager.default.fileExists(atPath: s.path("log.key")))
        #expect(staged.hasPrefix(s.path("log.key.creating-")))
        try LogKeyFile.publish(staged, to: s.path("log.key"))
        #expect(try Self.names(s) == ["log.key"])
        #expect(try LogKeyFile.read(s.path("log.key")).verifier == signer.verifier)
        #expect(ImportCommandTests.mode(s.path("log.key")) == 0o600)
        // Publishing never replaces, and a failed publish keeps the staged key (it may be the only
        // copy of a key a trail was just made with).
        let other = try LogKeyFile.stage(try NoteSigner.generate(name: "example.com/other"), for: s.path("second.key"))
        #expect(throws: AuditError(.alreadyExists, "\(s.path("log.key")) already exists; refusing to overwrite a key file")) {
            try LogKeyFile.publish(other, to: s.path("log.key"))
        }
        #expect(try Self.names(s) == ["log.key", FileSystem.basename(other)])
        #expect(try LogKeyFile.read(s.path("log.key")).verifier == signer.verifier)
        unlink(other)
        // write() cleans up after itself.
        #expect(throws: AuditError.self) { try LogKeyFile.write(signer, to: s.path("log.key")) }
        #expect(try Self.names(s) == ["log.key"])

        let r = try TrailRun.cli(["audit", "init", "--db", "t.sqlite", "--signing-key", "t.key"], cwd: s.dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.names(s) == ["log.key", "t.key", "t.key.last-checkpoint", "t.sqlite"])
        // The signer record starts with the key's checkpoint of the empty tree.
        let started = try #require(try SignerRecord(path: s.path("t.key.last-checkpoint")).read(verifier: LogKeyFile.read(s.path("t.key")).verifier))
        #expect(started.checkpoint.size == 0 && started.checkpoint.root == RFC6962.emptyRoot)
        #expect(started.checkpoint.origin == (try AuditTrail(path: s.path("t.sqlite"), readOnly: true).origin))
    }

    @Test("Ctrl-C while an import waits to create its trail: it stops at 130 and makes nothing; the next run starts clean")
    func stopDuringCreation() throws {
        let s = try TrailScratch("create-sigint")
        let captures = try ImportCommandTests.smallFile(s)
        let cli = try #require(TrailPaths.cli)
        // Hold the creation lock, so the import is known to be waiting when the signal comes.
        let dir = open(s.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #expect(dir >= 0 && flock(dir, LOCK_EX) == 0)
        let child = try TrailRun.start(cli, ["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        defer { if child.process.isRunning { kill(child.pid, SIGKILL) } }
        usleep(1_500_000)
        #expect(child.process.isRunning)
        kill(child.pid, SIGINT)
        usleep(200_000)
        #expect(try Self.names(s) == ["captures.jsonl"])
        // It stops while waiting: the lock is still held, and nothing was made.
        let r = try child.finish()
        flock(dir, LOCK_UN)
        close(dir)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr == "meterproof: interrupted: stopped while waiting to create meterproof.sqlite; nothing was created\n")
        #expect(try Self.names(s) == ["captures.jsonl"])
        // The next run creates the trail and key and imports everything.
        let again = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", "--format", "json", captures], cwd: s.dir)
        #expect(again.status == 0 && again.stdout.contains("\"recorded\":5"), "\(again.stdout) \(again.stderr)")
    }

    /// Whether strace is installed and may trace here with delay injection (a container may
    /// forbid ptrace).
    static let straceUsable: Bool = {
        guard let strace = TrailRun.which("strace"), FileManager.default.isExecutableFile(atPath: "/bin/true") else { return false }
        return (try? TrailRun.program(strace, ["-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:delay_exit=1", "/bin/true"]))?.status == 0
    }()

    /// Runs `meterproof <arguments>` in `dir` under strace with every fsync delayed 0.7 s, sends
    /// `signal` once the staged key file shows the creation under way, and returns the result.
    static func signalMidCreation(_ s: TrailScratch, _ arguments: [String], signal: Int32) throws -> TrailProcessResult {
        let cli = try #require(TrailPaths.cli)
        let strace = try #require(TrailRun.which("strace"))
        let child = try TrailRun.start(strace, ["-f", "-o", "/dev/null", "-e", "trace=fsync,fdatasync", "-e", "inject=fsync,fdatasync:delay_exit=700000", cli] + arguments, cwd: s.dir)
        defer { if child.process.isRunning { kill(child.pid, SIGKILL) } }
        // The staged key is named <key>.creating-<pid>-<random>: the pid of the traced process.
        var pid: Int32? = nil
        for _ in 0..<300 where pid == nil {
            usleep(20_000)
            pid = try Self.names(s).lazy.compactMap { name -> Int32? in
                guard let r = name.range(of: ".key.creating-") else { return nil }
                return Int32(name[r.upperBound...].prefix { $0 != "-" })
            }.first
        }
        let seen = try Self.names(s)
        let target = try #require(pid, "the creation never started: \(seen)")
        kill(target, signal)
        return try child.finish()
    }

    @Test("a stop signal in the middle of creating a trail takes effect once the trail and its key are whole",
          .enabled(if: straceUsable, "strace is not installed or may not trace here (it delays fsync to stop the creation half-way)"))
    func signalDuringCreationIsDeferred() throws {
        // audit init: SIGTERM keeps its default action, after the creation.
        let s = try TrailScratch("create-deferred-init")
        let r = try Self.signalMidCreation(s, ["audit", "init", "--db", "t.sqlite", "--signing-key", "log.key"], signal: SIGTERM)
        #expect(r.status == SIGTERM, "\(r.status) \(r.stderr)")
        #expect(try Self.names(s).filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") } == ["log.key", "log.key.last-checkpoint", "t.sqlite"])
        #expect(try TrailRun.cli(["audit", "checkpoint", "--db", "t.sqlite", "--signing-key", "log.key"], cwd: s.dir).status == 0)
        // audit import: SIGINT stops it at 130 before its first batch, with the trail and key whole.
        let t = try TrailScratch("create-deferred-import")
        let captures = try ImportCommandTests.smallFile(t)
        let i = try Self.signalMidCreation(t, ["audit", "import", "--keys", TrailPaths.testKeys, "--signing-key", "log.key", "--no-progress", captures], signal: SIGINT)
        #expect(i.status == 130, "\(i.status) \(i.stderr)")
        #expect(try Self.names(t).filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") } == ["captures.jsonl", "log.key", "log.key.last-checkpoint", "meterproof.sqlite"])
        let v = try TrailRun.cli(["audit", "verify"], cwd: t.dir)
        #expect(v.status == 0 && v.stdout.contains("0 entries"), "\(v.stdout)")
    }

    @Test("past a file-size limit, report fails with storage_error and leaves nothing (SIGXFSZ is ignored)")
    func fileSizeLimit() throws {
        let s = try TrailScratch("create-xfsz")
        let captures = try ImportCommandTests.smallFile(s)
        let cli = try #require(TrailPaths.cli)
        let imp = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(imp.status == 0, "\(imp.stderr)")
        let before = try Self.names(s)
        // 1 block of 512 bytes: the report is larger. The kernel used to kill the process.
        let r = try TrailRun.program("/bin/sh", ["-c", "ulimit -f 1; exec \"$0\" report --out report.html", cli], cwd: s.dir)
        #expect(r.status == 5, "\(r.status) \(r.stderr)")
        #expect(r.stderr == "meterproof: storage_error: writing report.html: File too large\n")
        // Nothing but the trail's own side files, which a reader leaves (see docs/cli.md).
        let after = try Self.names(s).filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(after == before, "\(after)")
    }
}

/// What the library refuses to record or export because a vendor's call was a mistake.
@Suite struct RecordingMisuseTests {
    @Test("record(_:keyring:) refuses an unbound result: it answers no request")
    func unboundResultIsNotALiveVerification() throws {
        let s = try TrailScratch("misuse-unbound")
        let trail = try AuditTrail.create(path: s.path("t.sqlite"), signer: NoteSigner.generate(name: "misuse.test/log"))
        let r = try TrailFixture.response(nonce: "u-1")
        let unbound = Verifier(keyring: TrailFixture.keyring).verifyUnbound(Array(r.utf8))
        #expect(unbound.isAccepted && !unbound.bound)
        #expect(throws: AuditError(.invalidEntry, "an unbound verification result is not a live verification: verify against the request that was sent (Verifier.verify(_:expecting:)) before recording it")) {
            try trail.record(unbound, keyring: TrailFixture.keyring)
        }
        #expect(try trail.size() == 0)
        // Nor through the lower-level calls.
        #expect(throws: AuditError.self) { try trail.append([AuditTrail.Pending(result: unbound, keyring: TrailFixture.keyring, source: .live)]) }
        #expect(throws: AuditError.self) { try trail.record(AuditEntry(result: unbound, source: .live)) }
        #expect(try trail.size() == 0)
        // Bound, it is recorded and consumes the nonce.
        let bound = Verifier(keyring: TrailFixture.keyring).verify(Array(r.utf8), expecting: RegisterUsageRequest(productCode: TrailFixture.productCode, publicKeyVersion: 1, nonce: "u-1"))
        let first = try trail.record(bound, keyring: TrailFixture.keyring)
        #expect(first.isAccepted && first.reasonCode == nil)
        // The recorded verdict's reason as a ReasonCode: the same response again is a replay.
        let again = try trail.record(bound, keyring: TrailFixture.keyring)
        #expect(again.reason == "nonce_replayed" && again.reasonCode == .nonceReplayed)
        var unknown = again
        unknown.reason = "a_code_from_a_later_release"
        #expect(unknown.reasonCode == nil)
        // Another keyring than the verifier's: the key could not be stored, so export would fail.
        let fresh = Verifier(keyring: TrailFixture.keyring).verify(Array(try TrailFixture.response(nonce: "u-2").utf8),
                                                                   expecting: RegisterUsageRequest(productCode: TrailFixture.productCode, publicKeyVersion: 1, nonce: "u-2"))
        let v2Only = try Keyring(entries: [try #require(TrailFixture.keyring[2])])
        let fp = try #require(fresh.keyFingerprint)
        #expect(throws: AuditError(.invalidEntry, "the keyring given does not hold the key that verified this result (version 1, sha256 \(fp)): pass the keyring of the verifier that produced it (verifier.keyring)")) {
            try trail.record(fresh, keyring: v2Only)
        }
        #expect(try trail.size() == 2)
        #expect(try trail.record(fresh, keyring: TrailFixture.keyring).isAccepted)
    }

    @Test("a key that is not the one the entry names is refused before it reaches the append-only keys table")
    func wrongKeyIsRefused() throws {
        let s = try TrailScratch("misuse-key")
        let trail = try AuditTrail.create(path: s.path("t.sqlite"), signer: NoteSigner.generate(name: "misuse.test/key"))
        let entry = try TrailFixture.verifiedEntry(nonce: "k-1")
        let v2 = try #require(TrailFixture.keyring[2])
        for key in [(version: 1, spkiDER: v2.key.spkiDER), (version: 2, spkiDER: TrailFixture.keyring[1]!.key.spkiDER)] {
            let e = #expect(throws: AuditError.self) { try trail.append([AuditTrail.Pending(entry: entry, key: key)]) }
            #expect(e?.code == .invalidEntry && e?.reason.hasPrefix("entry 0: the key given with it (version \(key.version), SHA-256 ") == true, "\(String(describing: e))")
        }
        #expect(try trail.size() == 0 && trail.recordedKeys().isEmpty)
        _ = try trail.append([AuditTrail.Pending(entry: entry, key: (1, TrailFixture.keyring[1]!.key.spkiDER))])
        #expect(try trail.recordedKeys().map(\.version) == [1])
    }

    @Test("a rejection under a valid signature records its key under the version it answered for (key_version_mismatch)")
    func keyVersionMismatchIsRecorded() throws {
        // One key serving two versions: a token claiming version 2, verified as version 1,
        // has a valid signature and a mismatched claim. Its key (version 1) must be stored
        // although the entry records version 2.
        let s = try TrailScratch("misuse-kvm")
        let trail = try AuditTrail.create(path: s.path("t.sqlite"), signer: NoteSigner.generate(name: "misuse.test/kvm"))
        let key = try #require(TrailFixture.keyring[1]).key
        let keyring = try Keyring(entries: [KeyringEntry(version: 1, key: key, source: "v1"), KeyringEntry(version: 2, key: key, source: "v2")])
        let r = try ResponseSimulator(signingKey: TrailFixture.v1).response(productCode: TrailFixture.productCode, keyVersion: 2, nonce: "kvm-1",
                                                                             issuedAt: WallClock.nowSeconds())
        let result = Verifier(keyring: keyring).verify(Array(r.utf8), expecting: RegisterUsageRequest(productCode: TrailFixture.productCode, publicKeyVersion: 1, nonce: "kvm-1"))
        #expect(result.error?.code == .keyVersionMismatch && result.keyFingerprint == key.fingerprint)
        let entry = try trail.record(result, keyring: keyring)
        #expect(entry.reason == "key_version_mismatch" && entry.publicKeyVersion == 2)
        #expect(try trail.recordedKeys().map(\.version) == [1])
    }

    @Test("an accepted entry without a key fingerprint or token is refused by export, which would otherwise write an unsound bundle")
    func acceptedEntryWithoutKeyFailsTheExport() throws {
        let s = try TrailScratch("misuse-forged")
        let signer = try NoteSigner.generate(name: "misuse.test/forged")
        let trail = try AuditTrail.create(path: s.path("t.sqlite"), signer: signer)
        var forged = AuditEntry(rejected: .badSignature, message: "x", source: .live, capture: nil)
        forged.outcome = "accepted"
        forged.binding = "bound"
        forged.reason = nil
        forged.message = nil
        forged.productCode = "p"
        forged.publicKeyVersion = 1
        forged.nonce = "f-1"
        try trail.record(forged)
        _ = try trail.signCheckpoint(with: signer)
        let e = #expect(throws: ExportError.self) { try trail.exportBundle(to: s.path("b")) }
        #expect(e == ExportError(.missingKey, "entry 0 is accepted but records no key fingerprint, token: its signature cannot be re-verified, so no bundle holding it can be sound"))
        #expect(!FileManager.default.fileExists(atPath: s.path("b")))
    }
}

/// `audit verify` on an intact trail says what no signed checkpoint covers.
@Suite struct VerifyCoverageNoteTests {
    @Test("intact, but entries beyond the latest checkpoint (or without one) get a note on stderr")
    func uncoveredEntriesAreNamed() throws {
        let s = try TrailScratch("verify-cover")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 3)
        let none = try TrailRun.cli(["audit", "verify", "--db", trail.path])
        #expect(none.status == 0 && none.stdout.hasPrefix("intact: 3 entries, 0 checkpoint(s) verified"), "\(none.stdout)")
        #expect(none.stderr == "meterproof: note: no checkpoint is stored, so nothing signed commits to this trail's 3 entries; sign a checkpoint (meterproof audit checkpoint) and keep a copy elsewhere\n")
        let cp = try trail.signCheckpoint(with: signer)
        #expect(try trail.verify().signedSize == 3)
        #expect(try TrailRun.cli(["audit", "verify", "--db", trail.path]).stderr == "")
        // A checkpoint given with --against counts too (an auditor's copy may store none).
        let copy = s.path("copy.sqlite")
        try TrailRaw.open(trail.path).execute("VACUUM INTO '\(copy)'")
        try TrailRaw.tamper(copy) { db in try db.execute("DELETE FROM checkpoints") }
        let cpFile = try s.write("cp.txt", cp.serialized)
        let against = try TrailRun.cli(["audit", "verify", "--db", copy, "--against", cpFile])
        #expect(against.status == 0 && against.stderr == "", "\(against.status) \(against.stdout) \(against.stderr)")
        try TrailFixture.fill(trail, count: 1, tag: "more")
        let after = try TrailRun.cli(["audit", "verify", "--db", trail.path])
        #expect(after.status == 0 && after.stderr == "meterproof: note: 1 entry after the latest checkpoint (seq 3 to 3) is committed to by nothing signed yet; sign a checkpoint (meterproof audit checkpoint) and keep a copy elsewhere\n", "\(after.stderr)")
    }
}

/// Creators of trails in different directories that share one key path take turns too.
@Suite struct SharedKeyPathTests {
    @Test("two audit init runs with trails in different directories and one key path: one wins, the other keeps nothing")
    func sharedKeyPath() throws {
        for round in 0..<3 {
            let s = try TrailScratch("create-keypath-\(round)")
            for d in ["a", "b"] { try FileManager.default.createDirectory(atPath: s.path(d), withIntermediateDirectories: false) }
            let children = try ["a", "b"].map { d in
                try TrailRun.start(TrailPaths.cli!, ["audit", "init", "--db", "\(d)/t.sqlite", "--signing-key", "log.key"], cwd: s.dir)
            }
            let results = try children.map { try $0.finish() }
            #expect(results.map(\.status).sorted() == [0, 2], "\(results.map(\.stderr))")
            let loser = try #require(results.first { $0.status == 2 })
            #expect(loser.stderr == "meterproof: already_exists: log.key already exists; refusing to overwrite a key file\n", "\(loser.stderr)")
            // The key belongs to the one trail that exists; nothing else is left.
            let trails = ["a", "b"].filter { FileManager.default.fileExists(atPath: s.path("\($0)/t.sqlite")) }
            #expect(trails.count == 1)
            #expect(try LogKeyFile.read(s.path("log.key")).verifier == AuditTrail(path: s.path("\(trails[0])/t.sqlite"), readOnly: true).verifier)
            #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir).sorted() == ["a", "b", "log.key", "log.key.last-checkpoint"])
        }
    }
}

/// Where a trail may live: SQLite's WAL locking holds only between processes on one host.
@Suite struct TrailFileSystemTests {
    static let mounts = """
    /dev/vda / ext4 rw,relatime 0 0
    proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
    fs-1234.efs.us-east-1.amazonaws.com:/ /mnt/efs nfs4 rw,relatime,vers=4.1 0 0
    //server/share /mnt/smb cifs rw 0 0
    /dev/vdb /mnt/efs/local ext4 rw 0 0
    host0 /mnt/with\\040space 9p rw 0 0
    tmpfs /mnt/smb tmpfs rw 0 0
    """

    @Test("the mount holding a directory decides, by the longest mount point, the last one on top", arguments: [
        ("/mnt/efs/trails", "nfs4" as String?), ("/mnt/efs", "nfs4"), ("/mnt/efsx", nil), ("/mnt/efs/local/t", nil),
        ("/mnt/with space/t", "9p"), ("/mnt/smb", nil), ("/var/lib/meterproof", nil), ("/", nil),
    ])
    func networkMounts(directory: String, type: String?) {
        #expect(AuditTrail.networkFileSystem(directory: directory, mounts: Self.mounts) == type)
    }

    @Test("a trail in the temporary directory is on a local file system; the CLI says nothing")
    func localTrailHasNoWarning() throws {
        let s = try TrailScratch("fs-local")
        #expect(AuditTrail.networkFileSystem(holding: s.path("t.sqlite")) == nil)
        let r = try TrailRun.cli(["audit", "init", "--db", s.path("t.sqlite"), "--signing-key", s.path("k.key")])
        #expect(r.status == 0 && r.stderr == "", "\(r.stderr)")
    }
}
