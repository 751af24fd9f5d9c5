import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// `meterproof audit import` as a command: trail creation, summaries, errors, the sample file.
@Suite struct ImportCommandTests {
    static let examples = TrailPaths.root.appendingPathComponent("examples/captures.jsonl").path

    /// A small captures file: 2 accepted (one warned), 1 stale, 1 malformed, 1 blank.
    static func smallFile(_ s: TrailScratch) throws -> String {
        let base = ImportFixture.base
        let at = ImportFixture.time(base + 5)
        return try s.write("captures.jsonl", ImportFixture.file([
            ImportFixture.bound(try ImportFixture.token("cli-1"), nonce: "cli-1", capturedAt: at),
            "",
            ImportFixture.bound(try ImportFixture.token("cli-2"), nonce: "cli-2", capturedAt: at, rotation: base + 86400),
            ImportFixture.bound(try ImportFixture.token("cli-3"), nonce: "cli-3", capturedAt: ImportFixture.time(base + 7200)),
            try ImportFixture.token("cli-4"),
            "not a capture",
        ]))
    }

    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    @Test func theFirstImportCreatesTheTrailAndItsKeyAndSignsACheckpoint() throws {
        let s = try TrailScratch("import-cli")
        let captures = try Self.smallFile(s)
        let r = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--no-progress", captures], cwd: s.dir)
        #expect(r.status == 0, "\(r.stderr)")
        let vkey = try AuditTrail(path: s.path("meterproof.sqlite"), readOnly: true).verifier.vkey
        #expect(r.stderr == "meterproof: created trail meterproof.sqlite with log key meterproof-log.key (verifier key \(vkey): keep a copy apart from the trail)\n"
                + "meterproof: warning: test_key: 3 accepted entries were verified under MeterProof's published TEST keys (keys/test): anyone can sign tokens they accept, so they prove nothing about AWS\n")
        let db = s.path("meterproof.sqlite"), key = s.path("meterproof-log.key")
        #expect(FileManager.default.fileExists(atPath: db))
        // The log key is created 0600 whatever the umask. (The trail itself gets SQLite's 0644
        // less the umask: nothing promises more.)
        #expect(Self.mode(key) == 0o600)
        #expect(try LogKeyFile.read(key).verifier == AuditTrail(path: db, readOnly: true).verifier)

        let lines = r.stdout.components(separatedBy: "\n")
        #expect(Array(lines.prefix(11)) == [
            "import complete",
            "  trail:       meterproof.sqlite (5 entries)",
            "  lines:       6 (1 blank)",
            "  recorded:    5 (3 bound, 2 unbound)",
            "  duplicates:  0 (already in the trail, not recorded again)",
            "  accepted:    3",
            "    with warning key_rotation_due: 1",
            "  rejected:    2",
            "    malformed_token          1",
            "    token_stale              1",
            lines.count > 10 ? lines[10] : "",
        ])
        #expect(lines.count > 10 && lines[10].hasPrefix("  time:        ") && lines[10].hasSuffix(" captures/s)"))
        let note = try SignedNote(parsing: String(try #require(r.stdout.components(separatedBy: "checkpoint:\n").last)))
        let trail = try AuditTrail(path: db, readOnly: true)
        let cp = try Checkpoint(verifying: note, verifiers: [trail.verifier])
        #expect(try cp.size == 5 && cp.root == trail.root(size: 5))
        #expect(try trail.latestCheckpoint() == note)

        // Again: nothing new, and the same checkpoint (none signed twice for one size).
        let again = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, captures], cwd: s.dir)
        #expect(again.status == 0 && again.stderr.isEmpty, "\(again.stderr)")
        #expect(again.stdout.contains("  duplicates:  5 (already in the trail, not recorded again)\n"))
        #expect(again.stdout.hasSuffix("checkpoint:\n" + note.serialized))
        #expect(try trail.checkpoints().count == 1)
    }

    @Test func jsonSummaryHasTheDocumentedFields() throws {
        let s = try TrailScratch("import-json")
        let captures = try Self.smallFile(s)
        let db = s.path("t.sqlite")
        let r = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--format", "json", "--jobs", "1",
                                  "--batch-size", "2", captures])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("}\n") && r.stdout.filter { $0 == "\n" }.count == 1, "\(r.stdout)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(Set(j.keys) == ["trail", "lines", "blankLines", "recorded", "duplicates", "accepted", "rejected", "reasons", "warnings",
                                "bound", "unbound", "firstSeq", "lastSeq", "treeSize", "milliseconds", "rate", "interrupted", "checkpoint", "unterminated", "testKeyAccepted"])
        #expect(j["testKeyAccepted"] as? Int == 3)
        #expect((j["unterminated"] as? [Any])?.isEmpty == true)
        #expect(j["trail"] as? String == db)
        #expect(j["lines"] as? Int == 6 && j["blankLines"] as? Int == 1)
        #expect(j["recorded"] as? Int == 5 && j["duplicates"] as? Int == 0)
        #expect(j["accepted"] as? Int == 3 && j["rejected"] as? Int == 2)
        #expect(j["reasons"] as? [String: Int] == ["malformed_token": 1, "token_stale": 1])
        #expect(j["warnings"] as? [String: Int] == ["key_rotation_due": 1])
        #expect(j["bound"] as? Int == 3 && j["unbound"] as? Int == 2)
        #expect(j["firstSeq"] as? Int == 0 && j["lastSeq"] as? Int == 4 && j["treeSize"] as? Int == 5)
        // rate is (recorded + duplicates) per second of the same wall time.
        let ms = try #require(j["milliseconds"] as? Int)
        let rate = try #require(j["rate"] as? Int)
        #expect(ms > 0 && ms < 60_000)
        // `milliseconds` is rounded: the rate comes from a time within half a millisecond of it.
        #expect(Double(rate) >= 5000 / (Double(ms) + 0.5) - 1 && Double(rate) <= 5000 / max(Double(ms) - 0.5, 0.5) + 1, "rate \(rate), \(ms) ms")
        #expect(j["interrupted"] as? Bool == false)
        let text = try #require(j["checkpoint"] as? String)
        let trail = try AuditTrail(path: db, readOnly: true)
        #expect(try Checkpoint(verifying: SignedNote(parsing: text), verifiers: [trail.verifier]).size == 5)

        // Re-run: nothing recorded, null seqs, the same checkpoint.
        let again = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--format", "json", captures])
        let k = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(k["recorded"] as? Int == 0 && k["duplicates"] as? Int == 5 && k["lines"] as? Int == 6)
        #expect(k["firstSeq"] is NSNull && k["lastSeq"] is NSNull && k["treeSize"] as? Int == 5)
        #expect(k["reasons"] as? [String: Int] == [:] && k["checkpoint"] as? String == text)

        // Another trail in the same directory finds that trail's key beside it: the import is
        // committed, but the checkpoint cannot be signed with another log's key (exit 2).
        let other = s.path("other.sqlite")
        try AuditTrail.create(path: other, signer: NoteSigner.generate(name: "other.test/log"))
        let wrong = try TrailRun.cli(["audit", "import", "--db", other, "--keys", TrailPaths.testKeys, "--format", "json", captures])
        #expect(wrong.status == 2)
        // The test-key warning first, then the error.
        let wrongLines = wrong.stderr.split(separator: "\n")
        #expect(wrongLines.count == 2 && wrongLines[0].hasPrefix("meterproof: warning: test_key: 3 accepted entries"), "\(wrong.stderr)")
        #expect(wrongLines.last?.hasPrefix("meterproof: wrong_log_key: the import is committed, but no checkpoint was signed: ") == true, "\(wrong.stderr)")
        let ow = try #require(try JSONSerialization.jsonObject(with: Data(wrong.stdout.utf8)) as? [String: Any])
        #expect(ow["checkpoint"] is NSNull && ow["recorded"] as? Int == 5 && ow["treeSize"] as? Int == 5)
        // The same key named with --signing-key for a trail it does not sign: refused before
        // anything is imported.
        let third = s.path("third.sqlite")
        try AuditTrail.create(path: third, signer: NoteSigner.generate(name: "third.test/log"))
        let named = try TrailRun.cli(["audit", "import", "--db", third, "--signing-key", s.path("meterproof-log.key"), "--keys", TrailPaths.testKeys, "--format", "json", captures])
        #expect(named.status == 2)
        #expect(named.stdout.isEmpty)
        #expect(named.stderr.hasPrefix("meterproof: wrong_log_key: the signing key \(s.path("meterproof-log.key")) ("), "\(named.stderr)")
        #expect(named.stderr.contains(") is not the log key of \(third) (") && named.stderr.contains("; nothing was imported. A trail's log key cannot be changed"), "\(named.stderr)")
        #expect(try AuditTrail(path: third, readOnly: true).size() == 0)

        // A trail whose checkpoints were deleted and whose history was rewritten: the import is
        // committed (only the consistency proof at signing can tell), but no checkpoint is signed
        // over the fork (exit 1), and the summary names the key that failed.
        try SignerRecordTests.forkHistory(db)
        let more = try s.write("more.jsonl", "\"another line\"\n")
        let forked = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--format", "json", more])
        #expect(forked.status == 1)
        let lines = forked.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("meterproof: inconsistent_checkpoint: the import is committed, but no checkpoint was signed: the trail does not extend the checkpoint of size 5 this log key signed before"), "\(forked.stderr)")
        let w = try #require(try JSONSerialization.jsonObject(with: Data(forked.stdout.utf8)) as? [String: Any])
        #expect(w["checkpoint"] is NSNull && w["recorded"] as? Int == 1 && w["treeSize"] as? Int == 6)
        #expect(try AuditTrail(path: db, readOnly: true).size() == 6)
        let forkedText = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, try s.write("more2.jsonl", "\"x\"\n")])
        #expect(forkedText.status == 1 && forkedText.stdout.hasSuffix("no checkpoint signed with \(s.path("meterproof-log.key")) (the error follows)\n"),
                "\(forkedText.stdout)")

        // Without a log key: committed, no checkpoint, exit 0.
        let sub = s.path("nokey")
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        let lone = sub + "/t.sqlite"
        try AuditTrail.create(path: lone, signer: NoteSigner.generate(name: "no.key/log"))
        let nokey = try TrailRun.cli(["audit", "import", "--db", lone, "--keys", TrailPaths.testKeys, "--format", "json", captures])
        #expect(nokey.status == 0, "\(nokey.stderr)")
        let n = try #require(try JSONSerialization.jsonObject(with: Data(nokey.stdout.utf8)) as? [String: Any])
        #expect(n["checkpoint"] is NSNull && n["recorded"] as? Int == 5 && n["treeSize"] as? Int == 5)
        let nokeyText = try TrailRun.cli(["audit", "import", "--db", lone, "--keys", TrailPaths.testKeys, captures])
        #expect(nokeyText.status == 0 && nokeyText.stdout.hasSuffix("no log key available: no checkpoint signed\n"))
    }

    @Test("--allow-missing-nonce accepts bound captures whose request and token carry no nonce")
    func allowMissingNonce() throws {
        // The reference makes Nonce optional; the import had no way to accept such captures,
        // and its message pointed at a flag only `verify` has.
        let s = try TrailScratch("import-no-nonce")
        let base = ImportFixture.base
        let line = ImportFixture.bound(try ImportFixture.token(nil), nonce: nil, capturedAt: ImportFixture.time(base + 5))
        let file = try s.write("c.jsonl", ImportFixture.file([line]))
        let strict = try TrailRun.cli(["audit", "import", "--db", s.path("a.sqlite"), "--signing-key", s.path("a.key"), "--keys", TrailPaths.testKeys, "--format", "json", file])
        #expect(strict.status == 0, "\(strict.stderr)")
        let e = try AuditTrail(path: s.path("a.sqlite"), readOnly: true).entry(0)
        #expect(e.reason == "nonce_missing" && e.message?.contains("pass --allow-missing-nonce") == true, "\(e.message ?? "")")
        let lenient = try TrailRun.cli(["audit", "import", "--db", s.path("b.sqlite"), "--signing-key", s.path("b.key"), "--keys", TrailPaths.testKeys, "--format", "json", "--allow-missing-nonce", file])
        #expect(lenient.status == 0, "\(lenient.stderr)")
        let a = try AuditTrail(path: s.path("b.sqlite"), readOnly: true).entry(0)
        #expect(a.isAccepted && a.nonce == nil && a.binding == "bound")
    }

    @Test("--files-from imports the files a list names, after those given as arguments")
    func filesFromAList() throws {
        // Thousands of file arguments took the argument parser quadratic time (20,000: 15 s).
        let s = try TrailScratch("import-files-from")
        var names: [String] = []
        for i in 0..<4 {
            names.append(try s.write("c\(i).jsonl", ImportFixture.file(["not a capture \(i)"])))
        }
        let list = try s.write("list.txt", Array((names[1...].joined(separator: "\r\n") + "\n\n").utf8))
        let r = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--signing-key", s.path("t.key"), "--keys", TrailPaths.testKeys,
                                  "--format", "json", "--files-from", list, names[0]])
        #expect(r.status == 0, "\(r.stderr)")
        let t = try AuditTrail(path: s.path("t.sqlite"), readOnly: true)
        #expect(try (0..<t.size()).map { try t.entry($0).captureFile } == names)
        // The list from standard input; '-' inside a list; a list naming nothing; a missing list.
        let fed = try s.write("fed.txt", Array((names[0] + "\n").utf8))
        let stdin = try TrailRun.program("/bin/sh", ["-c", "exec \"$0\" audit import --db \"$1\" --keys \"$2\" --signing-key \"$3\" --format json --files-from - < \"$4\"",
                                                     try #require(TrailPaths.cli), s.path("t.sqlite"), TrailPaths.testKeys, s.path("t.key"), fed])
        #expect(stdin.status == 0 && stdin.stdout.contains("\"duplicates\":1"), "\(stdin.stderr) \(stdin.stdout)")
        for (content, message) in [("-\n", "list.txt line 1 is '-': standard input is given as an argument, not in a list"),
                                   ("\n\n", "list.txt names no capture file")] {
            let bad = try s.write("list.txt", Array(content.utf8))
            let b = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--keys", TrailPaths.testKeys, "--signing-key", s.path("t.key"), "--files-from", bad])
            #expect(b.status == 2 && b.stderr.hasSuffix(message + "\n"), "\(b.stderr)")
        }
        let none = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--keys", TrailPaths.testKeys, "--files-from", s.path("nothing.txt")])
        #expect(none.status == 2 && none.stderr.contains("no such file"), "\(none.stderr)")
        let both = try TrailRun.cli(["audit", "import", "--keys", TrailPaths.testKeys, "--files-from", "-", "-"])
        #expect(both.status == 64, "\(both.stderr)")
    }

    @Test("an input without a final line feed is imported, with a warning naming its last line")
    func unterminatedLastLine() throws {
        let s = try TrailScratch("import-unterminated")
        var bytes = try s.read(FileSystem.basename(try Self.smallFile(s)))
        bytes.removeLast()  // the final LF after "not a capture"
        let cut = try s.write("cut.jsonl", bytes)
        let r = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--signing-key", s.path("t.key"), "--keys", TrailPaths.testKeys,
                                  "--format", "json", cut])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("meterproof: warning: \(cut) ends without a line feed: its last line (line 6) was read up to the end of the input and recorded as read."), "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let u = try #require(j["unterminated"] as? [[String: Any]])
        #expect(u.count == 1 && u[0]["file"] as? String == cut && u[0]["line"] as? Int == 6)
        #expect(j["recorded"] as? Int == 5)
        // A blank tail without a line feed records nothing, so there is nothing to warn about.
        let blankTail = try s.write("blank-tail.jsonl", try s.read("captures.jsonl") + Array("   ".utf8))
        let b = try TrailRun.cli(["audit", "import", "--db", s.path("t.sqlite"), "--signing-key", s.path("t.key"), "--keys", TrailPaths.testKeys,
                                  "--format", "json", blankTail])
        #expect(b.status == 0 && !b.stderr.contains("line feed"), "\(b.stderr)")
    }

    @Test func freshnessOptionsReachTheImport() throws {
        let s = try TrailScratch("import-fresh")
        let captures = try Self.smallFile(s)
        for (args, stale) in [(["--no-freshness"], 0), (["--max-age", "7200"], 0), (["--max-age", "600"], 1)] {
            // A trail each, each with its own log key.
            let db = s.path("t-\(args.joined()).sqlite"), key = s.path("t-\(args.joined()).key")
            let r = try TrailRun.cli(["audit", "import", "--db", db, "--signing-key", key, "--keys", TrailPaths.testKeys, "--format", "json"] + args + [captures])
            #expect(r.status == 0, "\(args): \(r.stderr)")
            let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect((j["reasons"] as? [String: Int])?["token_stale"] ?? 0 == stale, "\(args)")
        }
    }

    /// Claims read from an unverified token are recorded as they are, and printed escaped:
    /// one table row per entry, no escape sequence reaching the terminal.
    @Test func auditLogPrintsUntrustedTextOnOneLine() throws {
        let s = try TrailScratch("import-escapes")
        let header = Base64.urlEncode(Array(#"{"alg":"PS256"}"#.utf8))
        let payload = Base64.urlEncode(Array(#"{"productCode":"x\u001b[31m\nFAKE ROW","publicKeyVersion":1,"nonce":"n"}"#.utf8))
        let captures = try s.write("caps.jsonl", header + "." + payload + ".AAAA\n")
        let db = s.path("t.sqlite")
        let r = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--no-progress", captures])
        #expect(r.status == 0, "\(r.stderr)")
        let log = try TrailRun.cli(["audit", "log", "--db", db])
        let lines = log.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(log.status == 0 && lines.count == 3 && lines[2].isEmpty, "\(log.stdout)")
        #expect(lines[1].contains(#"x\u001b[31m\nFAKE ROW"#) && !log.stdout.unicodeScalars.contains { $0.value == 0x1B }, "\(log.stdout)")
        // The entry itself keeps the claim as the token carried it.
        #expect(try AuditTrail(path: db, readOnly: true).entry(0).productCode == "x\u{1B}[31m\nFAKE ROW")
    }

    @Test func badInvocationsAndUnreadableInputCreateNothing() throws {
        let s = try TrailScratch("import-errors")
        let captures = try Self.smallFile(s)
        let keys = TrailPaths.testKeys
        // A missing captures file: exit 2, one line, no trail, no key.
        let missing = try TrailRun.cli(["audit", "import", "--keys", keys, captures, "nope.jsonl"], cwd: s.dir)
        #expect(missing.status == 2)
        #expect(missing.stderr == "meterproof: bad_input: cannot read captures file nope.jsonl: no such file\n")
        #expect(missing.stdout.isEmpty)
        // A dangling link and a loop of links say what they are.
        #expect(symlink("/nonexistent/captures.jsonl", s.path("dangling.jsonl")) == 0 && symlink("loop.jsonl", s.path("loop.jsonl")) == 0)
        for name in ["dangling.jsonl", "loop.jsonl"] {
            let r = try TrailRun.cli(["audit", "import", "--keys", keys, name], cwd: s.dir)
            #expect(r.status == 2 && r.stderr == "meterproof: bad_input: cannot read captures file \(name): it is a symbolic link to nothing (or a loop of links)\n", "\(r.stderr)")
        }
        try FileManager.default.removeItem(atPath: s.path("dangling.jsonl"))
        try FileManager.default.removeItem(atPath: s.path("loop.jsonl"))
        // A directory is not a captures file either.
        let dir = try TrailRun.cli(["audit", "import", "--keys", keys, s.dir], cwd: s.dir)
        #expect(dir.status == 2 && dir.stderr == "meterproof: bad_input: cannot read captures file \(s.dir): it is a directory\n")
        // A file that opens but refuses every read is found before a trail is created for it.
        if FileManager.default.fileExists(atPath: "/proc/self/mem") {
            let mem = try TrailRun.cli(["audit", "import", "--keys", keys, captures, "/proc/self/mem"], cwd: s.dir)
            #expect(mem.status == 2 && mem.stderr == "meterproof: bad_input: cannot read captures file /proc/self/mem: Input/output error\n", "\(mem.stderr)")
        }
        for (args, why) in [(["--jobs", "0", captures], "--jobs 0"), (["--jobs", "257", captures], "--jobs 257"),
                            (["--batch-size", "0", captures], "--batch-size 0"), ([], "no captures"), (["-", "-"], "stdin twice"),
                            (["--no-freshness", "--max-age", "60", captures], "--no-freshness with --max-age"),
                            (["--format", "xml", captures], "--format xml")] {
            let r = try TrailRun.cli(["audit", "import", "--keys", keys] + args, cwd: s.dir)
            #expect(r.status == 64, "\(why): \(r.status) \(r.stderr)")
        }
        // An unreadable keyring: exit 2.
        let nokeys = try TrailRun.cli(["audit", "import", "--keys", s.path("no-keys"), captures], cwd: s.dir)
        #expect(nokeys.status == 2, "\(nokeys.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir) == ["captures.jsonl"])

        // A file that is not a trail: exit 3, left alone.
        let notTrail = try s.write("not-a-trail.sqlite", "hello")
        let r3 = try TrailRun.cli(["audit", "import", "--db", notTrail, "--keys", keys, captures], cwd: s.dir)
        #expect(r3.status == 3, "\(r3.stderr)")
        #expect(try s.read("not-a-trail.sqlite") == Array("hello".utf8))
    }

    /// The sample file gives the counts `examples/make_captures.py` built it for: 240 good
    /// captures, 6 replays of them (5 minutes later), 8 forgeries, 6 foreign-product, 6 stale, 2
    /// future, 2 wrong-nonce, 2 `alg: none`, 3 with a rotation notice, 12 unbound (4 objects, 4 JSON
    /// strings, 4 plain tokens) and 8 malformed lines (2 of them broken tokens, one duplicate
    /// member), and 2 blank lines.
    @Test func theSampleFileGivesTheCountsItWasBuiltFor() throws {
        let s = try TrailScratch("import-example")
        let db = s.path("t.sqlite")
        let r = try TrailRun.cli(["audit", "import", "--db", db, "--keys", TrailPaths.testKeys, "--format", "json", Self.examples])
        #expect(r.status == 0, "\(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["lines"] as? Int == 297 && j["blankLines"] as? Int == 2)
        #expect(j["recorded"] as? Int == 295 && j["duplicates"] as? Int == 0)
        #expect(j["accepted"] as? Int == 255 && j["rejected"] as? Int == 40)
        #expect(j["bound"] as? Int == 276 && j["unbound"] as? Int == 19)
        #expect(j["warnings"] as? [String: Int] == ["key_rotation_due": 3])
        #expect(j["reasons"] as? [String: Int] == [
            "bad_signature": 8,          // 4 signed by a rogue key, 4 altered after signing
            "nonce_replayed": 6,
            "product_code_mismatch": 6,
            "token_stale": 6,
            "token_from_future": 2,
            "nonce_mismatch": 2,
            "malformed_token": 4,        // 2 alg none (empty signature), "this is not json", a 2-segment token
            "malformed_input": 5,        // no response, a JSON array, bad capturedAt, non-string Signature, truncated
            "duplicate_member": 1,
        ])
        #expect(j["firstSeq"] as? Int == 0 && j["lastSeq"] as? Int == 294 && j["treeSize"] as? Int == 295)

        // Every malformed line names its file and line, and the trail verifies.
        let trail = try AuditTrail(path: db, readOnly: true)
        var malformed: [Int64] = []
        for seq in 0..<UInt64(295) {
            let e = try trail.entry(seq)
            #expect(e.captureFile == Self.examples)
            if e.reason == "malformed_input" || e.reason == "duplicate_member" {
                malformed.append(e.captureLine ?? -1)
                #expect(e.message?.hasPrefix("\(Self.examples):\(e.captureLine ?? -1): ") == true, "\(e.message ?? "")")
            }
        }
        #expect(malformed.count == 6)
        #expect(try trail.verify().intact)
    }
}
