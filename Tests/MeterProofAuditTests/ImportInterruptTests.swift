import Foundation
import Synchronization
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// `meterproof audit import -` stopped by SIGINT keeps a committed prefix of its input, and
/// running the import again completes it: every line exactly once, in input order.
@Suite struct ImportInterruptTests {
    /// 300 distinct lines from 30 signed tokens: each token is captured ten times at different
    /// times (the first accepted, the rest replays), with malformed lines and blanks between.
    static func lines() throws -> [String] {
        let base = ImportFixture.base
        let tokens = try (0..<30).map { try ImportFixture.token("int-\($0)") }
        var out: [String] = []
        for i in 0..<300 {
            if i % 23 == 22 { out.append(i % 2 == 0 ? "" : " ") }
            if i % 11 == 10 {
                out.append(#"{"request": {"productCode": "p", "publicKeyVersion": 1}, "line": \#(i)}"#)
            } else {
                out.append(ImportFixture.bound(tokens[i % 30], nonce: "int-\(i % 30)", capturedAt: ImportFixture.time(base + Int64(i))))
            }
        }
        return out
    }

    @Test(.timeLimit(.minutes(2)))
    func anInterruptedImportKeepsAPrefixAndTheRerunCompletesIt() throws {
        let bin = try #require(TrailPaths.cli, "the meterproof executable was not found next to the tests; run `swift build` first")
        // The child may exit while we still write to it: get EPIPE, not SIGPIPE. (Process-wide,
        // and inherited by children started later; harmless for these tests.)
        signal(SIGPIPE, SIG_IGN)
        let lines = try Self.lines()
        let nonBlank = lines.indices.filter { !ImportFixture.isBlank(lines[$0]) }
        let s = try TrailScratch("interrupt")
        let db = s.path("t.sqlite"), key = s.path("log.key")
        let common = ["--db", db, "--signing-key", key, "--keys", TrailPaths.testKeys, "--batch-size", "10", "--no-progress"]

        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["audit", "import"] + common + ["-"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        let w = input.fileHandleForWriting
        // Should an expectation below stop the test early, do not leave the child waiting for input.
        defer {
            try? w.close()
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        let cut = 100
        try w.write(contentsOf: Data(ImportFixture.file(Array(lines[..<cut]))))

        // Wait until at least one batch is committed (the trail is created by the child first).
        let deadline = Date().addingTimeInterval(60)
        var committed: UInt64 = 0
        while committed < 10 {
            if let t = try? AuditTrail(path: db, readOnly: true), let n = try? t.size() { committed = n }
            if committed >= 10 { break }
            try #require(Date() < deadline, "the import committed nothing within 60 s")
            try #require(p.isRunning, "the import exited early")
            usleep(10_000)
        }
        kill(p.processIdentifier, SIGINT)
        // The child is blocked reading standard input; more input lets it see the request. Once it
        // stops reading, it exits, and the rest of this write may fail with EPIPE: that is fine.
        try? w.write(contentsOf: Data(ImportFixture.file(Array(lines[cut...]))))
        try? w.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationReason == .exit)
        #expect(p.terminationStatus == 130, "stdout: \(out)\nstderr: \(err)")
        #expect(out.hasPrefix("import INTERRUPTED (everything below is committed; run the same command again to finish)\n"), "\(out)")
        // The trail's creation, then (when the committed prefix holds acceptances) the test-key warning.
        let errLines = err.split(separator: "\n")
        #expect(errLines.first?.hasPrefix("meterproof: created trail \(db) with log key \(key) (verifier key ") == true, "\(err)")
        #expect(errLines.dropFirst().allSatisfy { $0.hasPrefix("meterproof: warning: test_key: ") } && errLines.count <= 2, "\(err)")

        // What was committed is a prefix of the input, whole batches of 10, and the summary says so.
        let trail = try AuditTrail(path: db, readOnly: true)
        let recorded = Int(try trail.size())
        #expect(recorded >= 10 && recorded <= nonBlank.count && recorded % 10 == 0, "recorded \(recorded)")
        for seq in 0..<recorded {
            let e = try trail.entry(UInt64(seq))
            let line = nonBlank[seq]
            #expect(e.captureFile == "-" && e.captureLine == Int64(line + 1) && e.captureHash == ImportFixture.hex(lines[line]), "seq \(seq)")
        }
        #expect(out.contains("  recorded:    \(recorded) ("), "\(out)")
        #expect(out.contains("  trail:       \(db) (\(recorded) entries)\n"), "\(out)")
        // A checkpoint of exactly the committed entries was signed.
        let note = try SignedNote(parsing: String(try #require(out.components(separatedBy: "checkpoint:\n").last)))
        let cp = try Checkpoint(verifying: note, verifiers: [trail.verifier])
        #expect(try cp.size == UInt64(recorded) && cp.root == trail.root(size: UInt64(recorded)))

        // The same import again, from the file: completes it, exit 0, every line exactly once.
        let file = try s.write("captures.jsonl", ImportFixture.file(lines))
        let rerun = try TrailRun.cli(["audit", "import"] + common + ["--format", "json", file])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any])
        #expect(summary["duplicates"] as? Int == recorded)
        #expect(summary["recorded"] as? Int == nonBlank.count - recorded)
        #expect(summary["firstSeq"] as? Int == recorded && summary["lastSeq"] as? Int == nonBlank.count - 1)
        #expect(summary["interrupted"] as? Bool == false)

        let done = try AuditTrail(path: db, readOnly: true)
        #expect(try done.size() == UInt64(nonBlank.count))
        var hashes = Set<String>()
        for seq in 0..<nonBlank.count {
            let e = try done.entry(UInt64(seq))
            let line = nonBlank[seq]
            #expect(e.captureLine == Int64(line + 1) && e.captureHash == ImportFixture.hex(lines[line]), "seq \(seq)")
            #expect(e.captureFile == (seq < recorded ? "-" : file))
            hashes.insert(try #require(e.captureHash))
        }
        #expect(hashes.count == nonBlank.count)
        // The verdicts are those of one uninterrupted import: 30 accepted, the rest replays or malformed.
        let reasons = try (0..<UInt64(nonBlank.count)).map { try done.entry($0).reason ?? "accepted" }
        #expect(reasons.filter { $0 == "accepted" }.count == 30)
        #expect(reasons.filter { $0 == "malformed_input" }.count == 27)
        #expect(reasons.filter { $0 == "nonce_replayed" }.count == 300 - 27 - 30)

        let verify = try TrailRun.cli(["audit", "verify", "--db", db, "--format", "json"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(verify.stdout.contains(#""intact":true,"entries":\#(nonBlank.count),"checkpointsVerified":2"#), "\(verify.stdout)")
    }
}

/// A stop while another process holds the trail's write lock (found by a concurrency review:
/// the import then waited out each queued batch's busy timeout before exiting).
@Suite struct ImportStopUnderLockTests {
    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// The batch the writer has begun commits once the lock is free; the verified batches
    /// queued behind it are dropped, the summary says interrupted, and a re-run completes the job.
    @Test(.timeLimit(.minutes(1)))
    func aStopDropsTheBatchesQueuedBehindTheOneBeingWritten() throws {
        let bed = try ImportBed("stopqueue")
        let lines = try ImportInterruptTests.lines()
        let nonBlank = lines.filter { !ImportFixture.isBlank($0) }.count
        let file = try bed.scratch.write("q.jsonl", ImportFixture.file(lines))
        let blocker = try SQLiteDatabase(path: bed.trailPath, mode: .readWrite)
        try blocker.execute("BEGIN IMMEDIATE")
        let stop = Flag()
        let outcome = Mutex<Result<ImportSummary, AuditError>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        var importer = CaptureImporter(trailPath: bed.trailPath, keyring: TrailFixture.keyring, policy: .strict, jobs: 2, batchSize: 10)
        let begun = DispatchSemaphore(value: 0)
        importer.checkpoints.onBatch = { begun.signal() }
        DispatchQueue.global().async { [importer] in
            let r = Result { () throws(AuditError) -> ImportSummary in
                try importer.run(files: [file], shouldStop: { stop.value.load(ordering: .relaxed) })
            }
            outcome.withLock { $0 = r }
            finished.signal()
        }
        // The first batch now waits for the lock; give the next ones time to be verified and queued.
        #expect(begun.wait(timeout: .now() + 30) == .success)
        usleep(300_000)
        stop.value.store(true, ordering: .relaxed)
        try blocker.execute("COMMIT")
        #expect(finished.wait(timeout: .now() + 30) == .success)
        let summary = try #require(outcome.withLock { $0 }).get()
        #expect(summary.interrupted)
        #expect(summary.recorded == 10, "recorded \(summary.recorded)")
        #expect(try bed.trail().size() == 10)
        // The dropped lines were not recorded: a re-run imports them, each once.
        let rerun = try bed.run(files: [file], batchSize: 10)
        #expect(!rerun.interrupted && rerun.recorded == nonBlank - 10 && rerun.duplicates == 10)
        #expect(try bed.trail().size() == UInt64(nonBlank))
    }

    /// A second SIGINT ends the import at once, even while its batch waits for the lock; what
    /// was committed stays whole and a re-run finishes the job.
    @Test(.timeLimit(.minutes(1)))
    func aSecondSignalEndsTheImportAtOnce() throws {
        let bin = try #require(TrailPaths.cli, "the meterproof executable was not found next to the tests; run `swift build` first")
        let bed = try ImportBed("secondsignal")
        let lines = try ImportInterruptTests.lines()
        let file = try bed.scratch.write("q.jsonl", ImportFixture.file(lines))
        let blocker = try SQLiteDatabase(path: bed.trailPath, mode: .readWrite)
        try blocker.execute("BEGIN IMMEDIATE")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["audit", "import", "--db", bed.trailPath, "--keys", TrailPaths.testKeys, "--batch-size", "10", "--no-progress", file]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        usleep(1_000_000)  // the first batch now waits for the lock (for up to 10 s)
        let start = Date()
        kill(p.processIdentifier, SIGINT)
        usleep(100_000)
        #expect(p.isRunning, "the first SIGINT waits for the batch being written")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGINT)
        #expect(Date().timeIntervalSince(start) < 5, "the second SIGINT did not end the import at once")
        try blocker.execute("COMMIT")
        #expect(try bed.trail().size() == 0)
        let rerun = try bed.run(files: [file], batchSize: 10)
        #expect(!rerun.interrupted && rerun.recorded == lines.filter { !ImportFixture.isBlank($0) }.count)
    }
}

/// Inputs that are not regular files: a line that never ends must not make an import deaf to
/// SIGTERM, and a FIFO (what `<(zcat captures.jsonl.gz)` gives) is read like standard input.
@Suite struct ImportStreamInputTests {
    @Test(.timeLimit(.minutes(1)))
    func aLineThatNeverEndsStopsOnSIGTERM() throws {
        // /dev/zero: one line, never ending. It used to be read (and hashed) until SIGKILL.
        try expectStopsOnSIGTERM(try TrailScratch("endless"), input: "/dev/zero")
    }

    /// Starts `audit import` on `input`, sends SIGTERM 300 ms after the trail exists (well into
    /// the endless line, or the wait for input that never comes), and expects a prompt exit
    /// 130 with nothing recorded.
    func expectStopsOnSIGTERM(_ s: TrailScratch, input: String, stdin: Pipe? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bin = try #require(TrailPaths.cli, "the meterproof executable was not found next to the tests; run `swift build` first")
        let db = s.path("t-\(UUID().uuidString).sqlite")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["audit", "import", "--db", db, "--signing-key", s.path("log.key"), "--keys", TrailPaths.testKeys, "--no-progress", input]
        let output = Pipe(), errors = Pipe()
        p.standardOutput = output
        p.standardError = errors
        if let stdin { p.standardInput = stdin }
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: db) {
            try #require(Date() < deadline && p.isRunning, "the import did not start", sourceLocation: sourceLocation)
            usleep(10_000)
        }
        usleep(300_000)
        let sent = Date()
        kill(p.processIdentifier, SIGTERM)
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = errors.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(Date().timeIntervalSince(sent) < 10, "the import took \(Date().timeIntervalSince(sent)) s to stop", sourceLocation: sourceLocation)
        #expect(p.terminationReason == .exit && p.terminationStatus == 130, "\(out)", sourceLocation: sourceLocation)
        #expect(out.hasPrefix("import INTERRUPTED"), "\(out)", sourceLocation: sourceLocation)
        #expect(try AuditTrail(path: db, readOnly: true).size() == 0, sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(1)))
    func waitingForAFIFOOrAnIdlePipeStopsOnSIGTERM() throws {
        let s = try TrailScratch("waiting")
        // A FIFO no writer has opened: the open itself waits (it used to restart after the signal).
        let lonely = s.path("lonely.fifo")
        #expect(mkfifo(lonely, 0o600) == 0)
        try expectStopsOnSIGTERM(s, input: lonely)
        // A FIFO whose writer sends nothing: the read waits.
        let idle = s.path("idle.fifo")
        #expect(mkfifo(idle, 0o600) == 0)
        let writer = open(idle, O_RDWR | O_CLOEXEC)  // a writer that never writes (O_RDWR does not wait)
        #expect(writer >= 0)
        defer { close(writer) }
        try expectStopsOnSIGTERM(s, input: idle)
        // Standard input from a pipe nobody writes to.
        let pipe = Pipe()
        defer { try? pipe.fileHandleForWriting.close() }
        try expectStopsOnSIGTERM(s, input: "-", stdin: pipe)
    }

    @Test(.timeLimit(.minutes(1)))
    func aFIFOIsImportedLikeAFile() throws {
        let s = try TrailScratch("fifo")
        let lines = try ImportInterruptTests.lines()
        let fifo = s.path("captures.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let bytes = ImportFixture.file(lines)
        let writer = Thread {
            // Blocks until the import opens the FIFO for reading.
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            _ = bytes.withUnsafeBytes { FileSystem.writeAll(fd, $0) }
            close(fd)
        }
        writer.start()
        let r = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--signing-key", s.path("log.key"),
                                  "--keys", TrailPaths.testKeys, "--no-progress", "--format", "json", fifo])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let nonBlank = lines.filter { !ImportFixture.isBlank($0) }.count
        #expect(summary["recorded"] as? Int == nonBlank)
        #expect(summary["accepted"] as? Int == 30)
        // A directory or a missing file is refused with its reason.
        let dir = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--keys", TrailPaths.testKeys, s.dir])
        #expect(dir.status == 2 && dir.stderr == "meterproof: bad_input: cannot read captures file \(s.dir): it is a directory\n", "\(dir.stderr)")
        let missing = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--keys", TrailPaths.testKeys, s.path("absent.jsonl")])
        #expect(missing.status == 2 && missing.stderr == "meterproof: bad_input: cannot read captures file \(s.path("absent.jsonl")): no such file\n", "\(missing.stderr)")
    }
}
