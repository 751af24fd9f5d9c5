import CMeterProofSQLite
import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// A trail in `dir` (file name with characters HTML must escape), its signer, and a mix of entries:
/// 4 accepted (one with a rotation warning), 3 rejected over three reasons, two products plus one
/// reportHostile product code, and one key the trail stores.
func makeReportTrail(in dir: String, checkpoint: Bool = true) throws -> (path: String, signer: NoteSigner, spki: [UInt8]) {
    let path = dir + "/trail<&>.sqlite"
    let signer = try NoteSigner.generate(name: "example.com/<log>&\"q\"")
    let trail = try AuditTrail.create(path: path, signer: signer)
    let spki = Array("not really an SPKI, but hashed like one".utf8)
    let fp = Hex.encode(SHA256.hash(spki))
    var items: [AuditTrail.Pending] = [
        .init(entry: reportEntry(accepted: true, product: "prod-a", fingerprint: fp, nonce: "n1"), key: (1, spki)),
        .init(entry: reportEntry(accepted: true, product: "prod-a", fingerprint: fp, nonce: "n2"), key: (1, spki)),
        .init(entry: reportEntry(accepted: true, product: "prod-b", version: 2, fingerprint: "fp-two", warnings: "key_rotation_due", nonce: "n1")),
        .init(entry: reportEntry(accepted: false, reason: "bad_signature", message: reportHostile, product: reportHostile, fingerprint: fp)),
        .init(entry: reportEntry(accepted: false, reason: "malformed_token", message: "token has 1 segment", product: nil, version: nil, fingerprint: nil)),
    ]
    // A replay: recorded as rejected nonce_replayed by the trail's nonce rule.
    items.append(.init(entry: reportEntry(accepted: true, product: "prod-a", fingerprint: fp, nonce: "n1"), key: (1, spki)))
    _ = try trail.append(items)
    try trail.record(reportEntry(accepted: true, product: reportHostile, version: 1, fingerprint: fp))
    if checkpoint { _ = try trail.signCheckpoint(with: signer) }
    return (path, signer, spki)
}

/// Opens the trail file with a plain SQLite connection, drops the append-only triggers and runs `sql` on entry `seq`.
func reportTamper(_ path: String, seq: UInt64, body: [UInt8]) throws {
    let db = try SQLiteDatabase(path: path, mode: .readWrite)
    try db.execute("DROP TRIGGER entries_no_update")
    let st = try db.prepare("UPDATE entries SET body = ? WHERE seq = ?")
    try st.bind(body, at: 1)
    try st.bind(Int64(seq), at: 2)
    try st.run()
}

@Suite struct ReportTrailTests {
    @Test func reportOfARealTrail() throws {
        try withReportTempDir { dir in
            let (path, signer, _) = try makeReportTrail(in: dir)
            let trail = try AuditTrail(path: path, readOnly: true)
            let report = try ComplianceReport.build(trail: trail, options: .init(generatedAt: 1_767_225_600_000))
            #expect(report.integrity.intact)
            #expect(report.integrity.entries == 7)
            #expect(report.trailSize == 7)
            #expect(report.checkpointCount == 1)
            #expect(report.latestCheckpoint?.size == 7)
            #expect(report.origin == signer.name)
            #expect(report.generatedAt == "2026-01-01T00:00:00.000Z")

            let s = report.statistics
            #expect(s.scanned == 7)
            #expect(s.totals == OutcomeCounts(accepted: 4, rejected: 3))
            #expect(s.undecodable == 0)
            #expect(s.reasons.map { "\($0.outcome)/\($0.reason ?? "-")=\($0.count)" }
                    == ["accepted/-=4", "rejected/bad_signature=1", "rejected/malformed_token=1", "rejected/nonce_replayed=1"])
            #expect(s.products.map(\.productCode) == ["prod-a", reportHostile, "prod-b", nil])
            #expect(s.products.map(\.counts) == [OutcomeCounts(accepted: 2, rejected: 1), OutcomeCounts(accepted: 1, rejected: 1),
                                                 OutcomeCounts(accepted: 1, rejected: 0), OutcomeCounts(accepted: 0, rejected: 1)])
            #expect(s.rejectedListed.map(\.seq) == [3, 4, 5])
            #expect(s.rejectedListed[2].reason == "nonce_replayed")
            #expect(s.rotationWarnings.map(\.version) == [2])
            // Everything was appended now: one UTC day, today's.
            let today = String(RFC3339.format(milliseconds: WallClock.nowMilliseconds()).prefix(10))
            #expect(s.days.count == 1)
            #expect(s.days.first?.date == today || s.days.first?.dayNumber == WallClock.nowMilliseconds() / 86_400_000 - 1)
            #expect(report.storedKeyFingerprints.count == 1)

            let html = report.renderHTML()
            #expect(html.contains("<strong class=\"verdict\">Trail intact</strong>"))
            #expect(html.contains("<tr><th scope=\"row\">Entries recorded</th><td>7</td></tr>"))
            #expect(html.contains("<pre class=\"signed\">example.com/&lt;log&gt;&amp;&quot;q&quot;\n7\n"))
            #expect(html.contains("<code class=\"wrap\">\(HTMLText.escape(path))</code>"))
            #expect(html.contains(HTMLText.escape(signer.verifier.vkey)))
            #expect(html.contains("<tr><th scope=\"row\"><code class=\"wrap\">prod-a</code></th><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">3</td>"))
            #expect(html.contains(dayRow(s.days[0].date, 4, 3)))
            #expect(!html.contains("<script"))
            #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"))
            #expect(html.contains("<td>yes</td>"))  // the stored key
        }
    }

    @Test("acceptances under the published test keys are called out at the top and marked in the key table")
    func testKeysAreCalledOut() throws {
        try withReportTempDir { dir in
            // Without test keys: no callout, no marker.
            let (path, _, _) = try makeReportTrail(in: dir)
            let plain = try ComplianceReport.build(trail: try AuditTrail(path: path, readOnly: true), options: .init()).renderHTML()
            #expect(!plain.contains("id=\"test-keys\"") && !plain.contains("TEST KEY"))
            // Two verifications under test key v1.
            let (trail, _) = try makeTrailOfVerifications(in: dir, log: "report.test/keys", [("prod-a", "t1"), ("prod-a", "t2")])
            let fp = try #require(try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)[1]).key.fingerprint
            let html = try ComplianceReport.build(trail: trail, options: .init()).renderHTML()
            #expect(html.contains("<p class=\"callout bad\" id=\"test-keys\"><strong>2 accepted entries were verified under MeterProof's published TEST keys</strong>"))
            #expect(html.contains(" <strong class=\"tag-bad\">TEST KEY</strong></td>"))
            #expect(html.contains(String(fp.prefix(32))))
        }
    }

    @Test func selectionByProductOnARealTrail() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            let trail = try AuditTrail(path: path, readOnly: true)
            let report = try ComplianceReport.build(trail: trail, options: .init(filter: EntryFilter(productCode: reportHostile)))
            #expect(report.statistics.totals == OutcomeCounts(accepted: 1, rejected: 1))
            #expect(report.integrity.entries == 7)  // integrity still covers the whole trail
            let future = try ComplianceReport.build(trail: trail, options: .init(filter: EntryFilter(since: WallClock.nowMilliseconds() + 86_400_000)))
            #expect(future.statistics.totals.total == 0)
            #expect(future.statistics.scanned == 7)
        }
    }

    @Test func editedEntryShowsNotIntact() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            // Turn the rejected seq 3 into an accepted attempt, in canonical form so it still decodes.
            var e = try AuditTrail(path: path, readOnly: true).entry(3)
            e.outcome = "accepted"
            e.reason = nil
            e.message = nil
            try reportTamper(path, seq: 3, body: e.canonicalBytes())

            let report = try ComplianceReport.build(trail: AuditTrail(path: path, readOnly: true))
            #expect(!report.integrity.intact)
            #expect(report.integrity.problemCode == "leaf_hash_mismatch")
            #expect(report.integrity.firstBadSeq == 3)
            // The figures are those of the rows as stored now.
            #expect(report.statistics.totals == OutcomeCounts(accepted: 5, rejected: 2))
            let html = report.renderHTML()
            #expect(html.contains("<section class=\"status bad\""))
            #expect(html.contains("Trail NOT intact"))
            #expect(html.contains("<code>leaf_hash_mismatch</code> at seq <strong>3</strong>"))
            #expect(html.contains("<tr><th scope=\"row\">First bad seq</th><td>3</td></tr>"))
        }
    }

    @Test func garbledEntryIsReportedNotFatal() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            try reportTamper(path, seq: 1, body: Array("{\"not\":\"an entry\"}".utf8))
            let report = try ComplianceReport.build(trail: AuditTrail(path: path, readOnly: true))
            #expect(!report.integrity.intact)
            #expect(report.integrity.problemCode == "invalid_entry")
            #expect(report.integrity.firstBadSeq == 1)
            #expect(report.statistics.undecodable == 1)
            #expect(report.statistics.firstUndecodable?.seq == 1)
            #expect(report.statistics.totals.total == 6)
            #expect(report.renderHTML().contains("1 stored entry is not a valid entry"))
        }
    }

    @Test func noCheckpointIsFlagged() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir, checkpoint: false)
            let report = try ComplianceReport.build(trail: AuditTrail(path: path, readOnly: true))
            #expect(report.integrity.intact)
            #expect(report.latestCheckpoint == nil)
            #expect(report.renderHTML().contains("No checkpoint is stored, so nothing signed commits to this trail's history"))
            #expect(report.renderHTML().contains("<section class=\"status warn\""))
        }
    }

    @Test func writeIsAtomicAndNeverReplacesATrail() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            let report = try ComplianceReport.build(trail: AuditTrail(path: path, readOnly: true))
            let out = dir + "/report.html"
            try "<!DOCTYPE html><html><head><meta name=\"generator\" content=\"meterproof 0.1.0\"></head><p>an earlier report</p>".write(toFile: out, atomically: false, encoding: .utf8)
            try report.writeHTML(to: out)
            #expect(try String(contentsOfFile: out, encoding: .utf8) == report.renderHTML())
            // Only the trail, its WAL files and the report: no temporary file is left.
            let names = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(!names.contains { $0.contains(".tmp-") })

            #expect(errorCode { try report.writeHTML(to: path) } == "bad_input")
            #expect(try AuditTrail(path: path, readOnly: true).size() == 7)
            #expect(errorCode { try report.writeHTML(to: dir) } == "bad_input")
            // Nor a trail's side files: replacing its write-ahead log loses committed entries.
            let copy = dir + "/copy.sqlite"
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            for suffix in ["-wal", "-shm", "-journal"] {
                let side = copy + suffix
                try "side file".write(toFile: side, atomically: false, encoding: .utf8)
                #expect(errorCode { try report.writeHTML(to: side) } == "bad_input")
                #expect(try String(contentsOfFile: side, encoding: .utf8) == "side file")
            }
            // A write-ahead log is known by its magic number whatever its name; a name alone
            // ending in -wal, with no database beside it, is just a file.
            let walLike = dir + "/saved-log.bin"
            try Data([0x37, 0x7F, 0x06, 0x82, 0, 0x2D, 0xE2, 0x18]).write(to: URL(fileURLWithPath: walLike))
            do throws(AuditError) {
                try report.writeHTML(to: walLike)
                Issue.record("a file starting like a write-ahead log was replaced")
            } catch {
                #expect(error.code == .badInput && error.reason.contains("write-ahead log"), "\(error)")
            }
            // An earlier report (any case, after a byte-order mark) is replaced, even when its name
            // ends like a side file; another HTML page is not.
            try "\u{FEFF}  <HTML><HEAD><META NAME=\"generator\" CONTENT=\"meterproof 0.0.9\"></HEAD>".write(toFile: dir + "/notes-wal", atomically: false, encoding: .utf8)
            try report.writeHTML(to: dir + "/notes-wal")
            #expect(try String(contentsOfFile: dir + "/notes-wal", encoding: .utf8) == report.renderHTML())
            try "<!DOCTYPE html><html><p>my own notes</p></html>".write(toFile: dir + "/mine.html", atomically: false, encoding: .utf8)
            #expect(throws: AuditError(.badInput, "refusing to overwrite \(dir)/mine.html: it is not a MeterProof report (a report replaces only an earlier report); name a new file or remove this one first")) {
                try report.writeHTML(to: dir + "/mine.html")
            }
            // Any other existing file is kept: a log signer key named by mistake, a captures
            // file. An empty file may be replaced.
            let key = dir + "/meterproof-log.key"
            try "PRIVATE+KEY+example.com/log+01234567+AAAA\n".write(toFile: key, atomically: false, encoding: .utf8)
            do throws(AuditError) {
                try report.writeHTML(to: key)
                Issue.record("a log key was replaced by a report")
            } catch {
                #expect(error.code == .badInput && error.reason == "refusing to overwrite \(key): it is not a MeterProof report (a report replaces only an earlier report); name a new file or remove this one first", "\(error)")
            }
            #expect(try String(contentsOfFile: key, encoding: .utf8) == "PRIVATE+KEY+example.com/log+01234567+AAAA\n")
            #expect(FileManager.default.createFile(atPath: dir + "/empty.html", contents: Data()))
            try report.writeHTML(to: dir + "/empty.html")
            #expect(try String(contentsOfFile: dir + "/empty.html", encoding: .utf8) == report.renderHTML())
            #expect(errorCode { try report.writeHTML(to: dir + "/missing/report.html") } == "bad_input")
            // A bare file name goes to the working directory's parent-less form.
            #expect(AtomicFile.split("r.html") == (".", "r.html"))
            #expect(AtomicFile.split("/r.html") == ("/", "r.html"))
            #expect(AtomicFile.split("a/b/r.html") == ("a/b", "r.html"))
        }
    }
}

// MARK: The CLI

/// The built `meterproof` executable, beside the test bundle or in .build/debug.
private func meterproofBinary() -> String? {
    var candidates: [String] = []
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = exe.deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(dir.appendingPathComponent("meterproof").path)
        dir.deleteLastPathComponent()
    }
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    candidates.append(root.appendingPathComponent(".build/debug/meterproof").path)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

private func run(_ arguments: [String], in dir: String) throws -> (status: Int32, stdout: String, stderr: String) {
    guard let binary = meterproofBinary() else {
        Issue.record("the meterproof executable was not found; run `swift build` first")
        return (-1, "", "")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct ReportCLITests {
    @Test func writesTheReport() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            let r = try run(["report", "--db", path, "--out", "r.html", "--product-code", "prod-a"], in: dir)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "wrote r.html: 3 selected entries (2 accepted, 1 rejected); trail intact\n")
            #expect(r.stderr.isEmpty)
            let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
            #expect(html.contains("Trail intact"))
            #expect(html.contains("entries product code <code class=\"wrap\">prod-a</code>"))
            #expect(html.contains("<div class=\"card accepted\"><div class=\"label\">Accepted</div><div class=\"value\">2</div></div>"))
        }
    }

    @Test func theSummaryLineSaysWhatNoCheckpointCovers() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir, checkpoint: false)
            let r = try run(["report", "--db", path, "--out", "r.html"], in: dir)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == "wrote r.html: 7 selected entries (4 accepted, 3 rejected); trail intact; 7 entries not covered by a signed checkpoint\n", "\(r.stdout)")
        }
    }

    @Test func aReplacedReportKeepsItsPermissions() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            #expect(try run(["report", "--db", path, "--out", "r.html"], in: dir).status == 0)
            #expect(chmod(dir + "/r.html", 0o600) == 0)
            let again = try run(["report", "--db", path, "--out", "r.html"], in: dir)
            #expect(again.status == 0, "\(again.stderr)")
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/r.html")[.posixPermissions] as? Int)
            #expect(mode == 0o600, "mode \(String(mode, radix: 8))")
        }
    }

    @Test func maxRejectedZeroSaysHowManyAreNotListed() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            let r = try run(["report", "--db", path, "--out", "r.html", "--max-rejected", "0"], in: dir)
            #expect(r.status == 0, "\(r.stderr)")
            let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
            #expect(html.contains("<p class=\"callout info\">3 rejected attempts not listed (the report was asked to list none)."))
            #expect(!html.contains("No rejected attempts in the selection."))
            let one = try run(["report", "--db", path, "--out", "r.html", "--max-rejected", "1"], in: dir)
            #expect(one.status == 0, "\(one.stderr)")
            #expect(try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
                    .contains("<p class=\"callout info\">… and 2 more rejected attempts not listed (the first is shown)."))
        }
    }

    @Test func anOutputPathThatIsNotARegularFileIsRefusedAndKept() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            // A FIFO (checking whether it was a trail once waited for a writer), a device node
            // (`report --out /dev/null` as root replaced the device) and a symbolic link (the
            // rename would replace the link, not the file it names): refused, left as they were.
            #expect(mkfifo(dir + "/fifo.html", 0o644) == 0)
            try "target".write(toFile: dir + "/target.html", atomically: false, encoding: .utf8)
            #expect(symlink(dir + "/target.html", dir + "/link.html") == 0)
            for (name, what) in [("fifo.html", "not a regular file"), ("link.html", "symbolic link"), ("/dev/null", "not a regular file")] {
                let r = try run(["report", "--db", path, "--out", name], in: dir)
                #expect(r.status == 2, "\(name): \(r.stderr)")
                #expect(r.stderr.hasPrefix("meterproof: bad_input: refusing to replace \(name): it is "), "\(r.stderr)")
                #expect(r.stderr.contains(what), "\(r.stderr)")
                #expect(r.stdout.isEmpty)
            }
            var st = stat()
            #expect(lstat(dir + "/fifo.html", &st) == 0 && (st.st_mode & S_IFMT) == S_IFIFO)
            #expect(lstat(dir + "/link.html", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK)
            #expect(try String(contentsOfFile: dir + "/target.html", encoding: .utf8) == "target")
            #expect(stat("/dev/null", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR)
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir)).contains { $0.contains(".tmp-") })
        }
    }

    @Test func refusesANonTrail() throws {
        try withReportTempDir { dir in
            try "{\"not\": \"a trail\"}\n".write(toFile: dir + "/x.json", atomically: false, encoding: .utf8)
            let r = try run(["report", "--db", "x.json", "--out", "r.html"], in: dir)
            #expect(r.status == 3)
            #expect(r.stderr.hasPrefix("meterproof: not_a_trail: "))
            #expect(r.stderr.filter { $0 == "\n" }.count == 1)
            #expect(!FileManager.default.fileExists(atPath: dir + "/r.html"))
            let missing = try run(["report", "--db", "absent.sqlite", "--out", "r.html"], in: dir)
            #expect(missing.status == 3)
            let directory = try run(["report", "--db", ".", "--out", "r.html"], in: dir)
            #expect(directory.status == 2)
            #expect(directory.stderr == "meterproof: bad_input: cannot read .: it is a directory, not a trail file\n")
        }
    }

    @Test func badInputsHaveStableExitCodes() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            let noDir = try run(["report", "--db", path, "--out", "missing/r.html"], in: dir)
            #expect(noDir.status == 2)
            #expect(noDir.stderr == "meterproof: bad_input: cannot write missing/r.html: directory missing does not exist\n")
            // A file where the directory should be is named as such.
            try "x\n".write(toFile: dir + "/notes", atomically: true, encoding: .utf8)
            let fileAsDir = try run(["report", "--db", path, "--out", "notes/r.html"], in: dir)
            #expect(fileAsDir.status == 2 && fileAsDir.stderr == "meterproof: bad_input: cannot write notes/r.html: notes is not a directory\n", "\(fileAsDir.stderr)")
            let overTrail = try run(["report", "--db", path, "--out", path], in: dir)
            #expect(overTrail.status == 2)
            #expect(overTrail.stderr.contains("SQLite database"))
            let dbIsDir = try run(["report", "--db", dir, "--out", "r.html"], in: dir)
            #expect(dbIsDir.status == 2)
            let badTime = try run(["report", "--db", path, "--out", "r.html", "--since", "yesterday"], in: dir)
            #expect(badTime.status == 64)
            let inverted = try run(["report", "--db", path, "--out", "r.html", "--since", "2026-02-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z"], in: dir)
            #expect(inverted.status == 64)
            #expect(!FileManager.default.fileExists(atPath: dir + "/r.html"))
        }
    }

    @Test func tamperedTrailExitsOneWithTheReportWritten() throws {
        try withReportTempDir { dir in
            let (path, _, _) = try makeReportTrail(in: dir)
            try reportTamper(path, seq: 2, body: Array("garbage".utf8))
            let r = try run(["report", "--db", path, "--out", "r.html"], in: dir)
            #expect(r.status == 1)
            #expect(r.stdout.contains("trail NOT intact (invalid_entry at seq 2)"))
            #expect(r.stderr.hasPrefix("meterproof: invalid_entry: the trail is not intact"))
            let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
            #expect(html.contains("Trail NOT intact"))
        }
    }
}
