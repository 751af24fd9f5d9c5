import Foundation
import MeterProof
@testable import MeterProofAudit
import Synchronization
import Testing

/// What an import holds at once, whatever its input: hostile capture files must not turn into
/// gigabytes of memory or thousands of open descriptors.
@Suite struct ImportBoundsTests {
    @Test("a batch also ends at 8 MiB of line bytes, so long lines cannot pile up 2000 to a batch")
    func batchEndsAtItsByteBudget() throws {
        let bed = try ImportBed("import-budget")
        // 40 lines of 700,000 bytes (bare tokens far over the size limit): 12 of them pass
        // 8 MiB, so the default batch of 2000 lines is committed at 12, 24, 36 and at the end.
        let lines = (0..<40).map { i in Array("\(i)-".utf8) + [UInt8](repeating: 0x61, count: 700_000 - "\(i)-".utf8.count) }
        let path = try bed.scratch.write("long.jsonl", ImportFixture.file(lines))
        let commits = Mutex([Int]())
        let importer = CaptureImporter(trailPath: bed.trailPath, keyring: TrailFixture.keyring, policy: .strict, jobs: 2, batchSize: 2000)
        let s = try importer.run(files: [path], progress: { p in commits.withLock { $0.append(p.committed) } })
        #expect(CaptureImporter.maxBatchBytes == 8 << 20)
        #expect(commits.withLock { $0 } == [12, 24, 36, 40])
        #expect(s.recorded == 40 && s.reasons == ["token_too_large": 40])
        // Below the budget the batch size rules, as before.
        let short = try bed.scratch.write("short.jsonl", ImportFixture.file((0..<30).map { "short \($0)" }))
        let shortCommits = Mutex([Int]())
        let small = CaptureImporter(trailPath: bed.trailPath, keyring: TrailFixture.keyring, policy: .strict, jobs: 2, batchSize: 10)
        _ = try small.run(files: [short], progress: { p in shortCommits.withLock { $0.append(p.committed) } })
        #expect(shortCommits.withLock { $0 } == [10, 20, 30])
    }

    @Test("a line near the 1 MiB limit whose value a rejection quotes is recorded with its message cut, not a stop")
    func aLongQuotedValueDoesNotStopTheImport() throws {
        // The message quoted the whole capturedAt: the entry came out over the 1 MiB entry
        // limit, the append refused the batch, and every re-run stopped at the same line.
        let bed = try ImportBed("import-long-message")
        let good = try (0..<3).map { i in
            ImportFixture.bound(try ImportFixture.token("long-\(i)"), nonce: "long-\(i)", capturedAt: ImportFixture.time(ImportFixture.base + 5))
        }
        let long = #"{"Signature":"a.b.c","capturedAt":""# + String(repeating: "9", count: Capture.maxLineBytes - 60) + #""}"#
        #expect(long.utf8.count < Capture.maxLineBytes)
        let s = try bed.run("long.jsonl", lines: [good[0], long, good[1], good[2]])
        #expect(s.recorded == 4 && s.accepted == 3 && s.reasons == ["malformed_input": 1])
        let e = try bed.entries()[1]
        let message = try #require(e.message)
        #expect(message.utf8.count <= CaptureImporter.maxMessageBytes)
        #expect(message.hasPrefix(bed.scratch.path("long.jsonl") + ":2: capturedAt \"9999"), "\(message.prefix(200))")
        #expect(message.hasSuffix(" bytes in all)"))
        #expect(try bed.trail().verify().intact)
    }

    @Test("many capture files are read one at a time: 120 files under a limit of 32 descriptors")
    func manyFilesOneDescriptorAtATime() throws {
        let s = try TrailScratch("import-many-files")
        let cli = try #require(TrailPaths.cli)
        var files: [String] = []
        for i in 0..<120 {
            files.append(try s.write("c\(i).jsonl", ImportFixture.file([try ImportFixture.token("many-\(i)")])))
        }
        // Every file used to be opened (with a 1 MiB buffer each) before the first was read:
        // past the descriptor limit the import failed after creating the trail.
        let r = try TrailRun.program("/bin/sh", ["-c", "ulimit -n 32; exec \"$0\" \"$@\"", cli, "audit", "import", "--keys", TrailPaths.testKeys,
                                                 "--no-progress", "--no-freshness", "--format", "json"] + files, cwd: s.dir)
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["recorded"] as? Int == 120 && summary["accepted"] as? Int == 120, "\(r.stdout)")
        // A file that cannot be read still stops the import before anything is recorded.
        let missing = s.path("gone.jsonl")
        let again = try TrailRun.cli(["audit", "import", "--db", s.path("other.sqlite"), "--keys", TrailPaths.testKeys, "--no-progress", files[0], missing], cwd: s.dir)
        #expect(again.status == 2)
        #expect(again.stderr.hasPrefix("meterproof: bad_input: cannot read captures file \(missing): "), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path("other.sqlite")))
    }
}

extension ImportBoundsTests {
    @Test("a capture file replaced at its path after the import began stops it at that file, naming it")
    func replacedFileIsNotReadInItsPlace() throws {
        let bed = try ImportBed("import-rotated")
        let fifo = bed.scratch.path("first.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let later = try bed.scratch.write("later.jsonl", ImportFixture.file(["old 1", "old 2"]))
        let importer = CaptureImporter(trailPath: bed.trailPath, keyring: TrailFixture.keyring, policy: .strict, jobs: 2, batchSize: 2000)
        let outcome = Mutex<Result<ImportSummary, AuditError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let r = Result { () throws(AuditError) -> ImportSummary in try importer.run(files: [fifo, later]) }
            outcome.withLock { $0 = r }
            done.signal()
        }
        // While the import waits on the FIFO, the later file is rotated away and a new one
        // takes its name; then the FIFO gives one line and ends.
        usleep(300_000)
        #expect(rename(later, later + ".1") == 0)
        _ = try bed.scratch.write("later.jsonl", ImportFixture.file(["new 1", "new 2", "new 3", "new 4"]))
        let w = open(fifo, O_WRONLY)
        #expect(w >= 0)
        _ = "fifo line\n".withCString { write(w, $0, 10) }
        close(w)
        #expect(done.wait(timeout: .now() + 30) == .success)
        let result = try #require(outcome.withLock { $0 })
        guard case .failure(let e) = result else { Issue.record("the import read the replacement: \(result)"); return }
        #expect(e.code == .badInput)
        #expect(e.reason.hasPrefix("\(later) was replaced after the import started (another file is at that path now, as after a log rotation); import the file you meant by its current name; the import stopped there, before recording any entry"), "\(e.reason)")
        // The FIFO's line was in the batch that had not been committed: a re-run imports it.
        #expect(try bed.entries().isEmpty)
    }
}
