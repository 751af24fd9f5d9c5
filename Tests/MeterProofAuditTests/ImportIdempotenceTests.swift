import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

/// Re-importing adds nothing; a partly imported file gets only its missing lines, in input order.
@Suite struct ImportIdempotenceTests {
    /// A mixed captures file: accepted bound and unbound captures, replays (lines 24 apart share
    /// a nonce), stale and malformed lines, blanks. 40 lines, 36 of them non-blank.
    static func mixedLines() throws -> [String] {
        let base = ImportFixture.base
        var lines: [String] = []
        for i in 0..<36 {
            let nonce = "idem-\(i % 24)"
            switch i % 6 {
            case 0, 1, 2:
                let t = try ImportFixture.token(nonce)
                lines.append(ImportFixture.bound(t, nonce: nonce, capturedAt: ImportFixture.time(base + Int64(i))))
            case 3: lines.append(try ImportFixture.token(nonce))
            case 4: lines.append(#"{"request": {"productCode": "p"}, "n": \#(i)}"#)
            default:
                let t = try ImportFixture.token(nonce)
                lines.append(ImportFixture.bound(t, nonce: nonce, capturedAt: ImportFixture.time(base + 3600 + Int64(i))))
            }
            if i % 9 == 8 { lines.append(i % 2 == 0 ? "" : "  \t") }
        }
        return lines
    }

    @Test func importingTheSameFileTwiceRecordsNothingTheSecondTime() throws {
        let lines = try Self.mixedLines()
        let nonBlank = lines.filter { !ImportFixture.isBlank($0) }.count
        #expect(lines.count == 40 && nonBlank == 36)
        let bed = try ImportBed()
        // Small batches on several threads: order and counts must not depend on them.
        let first = try bed.run("mixed.jsonl", lines: lines, jobs: 4, batchSize: 7)
        #expect(first.digest == "lines=40 blank=4 recorded=36 dup=0 accepted=16 rejected=20 bound=24 unbound=12 "
                + "reasons[malformed_input=6,nonce_replayed=8,token_stale=6] warnings[] seqs=0..35 size=36 interrupted=false")
        let before = try bed.entries()
        #expect(before.map(\.captureLine) == lines.indices.filter { !ImportFixture.isBlank(lines[$0]) }.map { Int64($0 + 1) })
        let root = try bed.trail().root(size: 36)

        let second = try bed.run(files: [bed.scratch.path("mixed.jsonl")], jobs: 4, batchSize: 7)
        #expect(second.digest == "lines=40 blank=4 recorded=0 dup=36 accepted=0 rejected=0 bound=0 unbound=0 reasons[] warnings[] "
                + "seqs=nil..nil size=36 interrupted=false")
        #expect(second.duplicatesSkippedVerification == 36) // each batch's ends were known: all looked up first
        #expect(try bed.entries() == before)
        #expect(try bed.trail().root(size: 36) == root)
        // The 16 accepted lines are found through their nonces, the 20 rejected ones by their hash.
        #expect(try bed.captureRows() == 20)
        let v = try bed.trail().verify()
        #expect(v.intact && v.entries == 36)
    }

    /// Two imports of one file racing into one trail (as two processes would, each with its own
    /// connections): every line is recorded exactly once, by one of them; the other counts it
    /// as a duplicate (through the writer's lookups inside its transaction: the line's hash, or
    /// the nonce of the accepted entry that records it).
    /// Small batches give the two writers many chances to interleave; SQLite's busy handler
    /// often lets one of them run through, which must not matter.
    @Test func twoImportsOfTheSameFileAtOnceRecordEachLineOnce() throws {
        let base = ImportFixture.base
        let lines = try (0..<120).map { i in
            ImportFixture.bound(try ImportFixture.token("race-\(i)"), nonce: "race-\(i)", capturedAt: ImportFixture.time(base + Int64(i)))
        }
        let bed = try ImportBed()
        let file = try bed.scratch.write("race.jsonl", ImportFixture.file(lines))
        let trailPath = bed.trailPath
        let results = Mutex<[Result<ImportSummary, any Error>]>([])
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<2 {
            // Threads of their own: the test runner's pool may not run two blocking jobs at once.
            Thread {
                let importer = CaptureImporter(trailPath: trailPath, keyring: TrailFixture.keyring, policy: .strict, jobs: 1, batchSize: 3)
                let r = Result { try importer.run(files: [file]) }
                results.withLock { $0.append(r) }
                done.signal()
            }.start()
        }
        done.wait()
        done.wait()
        let summaries = try results.withLock { $0 }.map { try $0.get() }
        #expect(summaries.count == 2)
        #expect(summaries.map(\.recorded).reduce(0, +) == 120)
        #expect(summaries.map(\.duplicates).reduce(0, +) == 120)
        #expect(summaries.map(\.accepted).reduce(0, +) == 120) // no line was verified into a replay
        let entries = try bed.entries()
        #expect(entries.count == 120)
        #expect(Set(entries.compactMap(\.captureHash)).count == 120)
        #expect(try bed.captureRows() == 0) // every line was accepted: its nonce row leads to it
        #expect(try bed.trail().verify().intact)
    }

    @Test func aPartlyImportedFileGetsOnlyItsNewLinesInInputOrder() throws {
        let lines = try Self.mixedLines()
        let half = lines.count / 2
        let bed = try ImportBed()
        // The first half, from a file of another name: lines are known by their bytes, not their file.
        let head = try bed.run("head.jsonl", lines: Array(lines[..<half]), batchSize: 5)
        let headRecorded = lines[..<half].filter { !ImportFixture.isBlank($0) }.count
        #expect(head.recorded == headRecorded && head.lastSeq == UInt64(headRecorded - 1))

        // Something else appends meanwhile (a live verification, say).
        try bed.trail().record(TrailFixture.entry(0, nonce: "live-1"))

        let full = bed.scratch.path("full.jsonl")
        let all = try bed.run("full.jsonl", lines: lines, batchSize: 5)
        let newLines = lines.indices.filter { $0 >= half && !ImportFixture.isBlank(lines[$0]) }
        #expect(all.recorded == newLines.count && all.duplicates == headRecorded && all.lines == lines.count)
        #expect(all.blankLines == lines.filter(ImportFixture.isBlank).count)
        #expect(all.firstSeq == UInt64(headRecorded + 1) && all.lastSeq == UInt64(headRecorded + newLines.count))

        let e = try bed.entries()
        #expect(e.count == headRecorded + 1 + newLines.count)
        #expect(e[headRecorded].source == .live)
        let tail = Array(e[(headRecorded + 1)...])
        #expect(tail.map(\.seq) == (0..<newLines.count).map { UInt64(headRecorded + 1 + $0) })
        #expect(tail.map(\.captureLine) == newLines.map { Int64($0 + 1) })
        #expect(tail.allSatisfy { $0.captureFile == full })
        #expect(tail.map(\.captureHash) == newLines.map { ImportFixture.hex(lines[$0]) })
        // Same verdicts as a single import of the whole file would give.
        let once = try ImportBed()
        try once.run("full.jsonl", lines: lines)
        let reference = try once.entries()
        #expect(e.filter { $0.source == .import }.map { $0.reason ?? "accepted" } == reference.map { $0.reason ?? "accepted" })
        #expect(Set(e.compactMap(\.captureHash)).count == reference.count)
        #expect(try bed.trail().verify().intact)
    }

    @Test func anAcceptedLineRejectedOnReverificationIsStillADuplicate() throws {
        // Imported once without freshness checks (accepted), then again under the strict policy,
        // where their capture times make them stale: the same lines, found through their nonces,
        // not new attempts. In batches of 4 the first is all new, so later batches are looked up
        // only at their ends and the stale lines inside them reach the writer verified as stale.
        let base = ImportFixture.base
        func line(_ n: String, _ at: Int64) throws -> String {
            ImportFixture.bound(try ImportFixture.token(n), nonce: n, capturedAt: ImportFixture.time(at))
        }
        let stale = try (0..<4).map { try line("late-\($0)", base + 3600 + Int64($0)) }
        let fresh = try (0..<12).map { try line("fresh-\($0)", base + Int64($0)) }
        let bed = try ImportBed()
        var lenient = VerificationPolicy.strict
        lenient.maxAge = nil
        lenient.maxFutureSkew = nil
        let first = try bed.run("late.jsonl", lines: stale, policy: lenient)
        #expect(first.accepted == 4 && first.recorded == 4)
        let mixed = Array(fresh[0..<5]) + [stale[0], stale[1]] + Array(fresh[5..<7]) + [stale[2], stale[3]] + Array(fresh[7...])
        let second = try bed.run("mixed.jsonl", lines: mixed, batchSize: 4)
        #expect(second.digest == "lines=16 blank=0 recorded=12 dup=4 accepted=12 rejected=0 bound=12 unbound=0 reasons[] warnings[] "
                + "seqs=4..15 size=16 interrupted=false")
        #expect(second.duplicatesSkippedVerification == 0) // all four found by the writer
        // Once more: now every batch is looked up line by line, the stale ones through their nonces.
        let third = try bed.run(files: [bed.scratch.path("mixed.jsonl")], batchSize: 4)
        #expect(third.recorded == 0 && third.duplicates == 16 && third.duplicatesSkippedVerification == 16)
        #expect(try bed.captureRows() == 0)
        #expect(try bed.trail().verify().intact)
    }

    @Test func knownLinesScatteredThroughALaterFileAreStillDuplicates() throws {
        // The pre-check looks up only a batch's first and last line once a batch held no known
        // line; lines known in the middle of later batches must still be skipped by the writer.
        let lines = try Self.mixedLines().filter { !ImportFixture.isBlank($0) }
        let scattered = lines.indices.filter { $0 % 7 == 2 }  // 16 and 23 fall inside batches whose ends are new
        let bed = try ImportBed()
        let early = try bed.run("early.jsonl", lines: scattered.map { lines[$0] }, batchSize: 4)
        #expect(early.recorded == scattered.count)
        let all = try bed.run("all.jsonl", lines: lines, jobs: 2, batchSize: 5)
        #expect(all.duplicates == scattered.count && all.recorded == lines.count - scattered.count)
        #expect(try bed.captureRows() == Int64(lines.count - early.accepted - all.accepted))
        let hashes = try bed.entries().compactMap(\.captureHash)
        #expect(Set(hashes).count == hashes.count && hashes.count == lines.count)
        #expect(try bed.trail().verify().intact)
    }

    @Test func severalFilesAreImportedInTheOrderGiven() throws {
        let base = ImportFixture.base
        let tokens = try (0..<4).map { try ImportFixture.token("order-\($0)") }
        func line(_ i: Int, _ offset: Int64) -> String {
            ImportFixture.bound(tokens[i], nonce: "order-\(i)", capturedAt: ImportFixture.time(base + offset))
        }
        let bed = try ImportBed()
        let one = try bed.scratch.write("one.jsonl", ImportFixture.file([line(0, 1), line(1, 1), "", line(2, 1)]))
        let two = try bed.scratch.write("two.jsonl", ImportFixture.file([line(0, 2), "{}", line(3, 1), line(1, 1)]))
        let s = try bed.run(files: [two, one], jobs: 3, batchSize: 2)
        // two.jsonl first: its line 4 is the same bytes as one.jsonl's line 2, which is then the duplicate.
        #expect(s.digest == "lines=8 blank=1 recorded=6 dup=1 accepted=4 rejected=2 bound=5 unbound=1 "
                + "reasons[malformed_input=1,nonce_replayed=1] warnings[] seqs=0..5 size=6 interrupted=false")
        let e = try bed.entries()
        #expect(e.map { "\(FileSystem.basename($0.captureFile ?? "")):\($0.captureLine ?? 0)" }
                == ["two.jsonl:1", "two.jsonl:2", "two.jsonl:3", "two.jsonl:4", "one.jsonl:1", "one.jsonl:4"])
        #expect(e.map { $0.reason ?? "accepted" } == ["accepted", "malformed_input", "accepted", "accepted", "nonce_replayed", "accepted"])
    }
}
