import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Runs a program; returns its exit status and combined output.
func runProcess(_ executable: String, _ args: [String], cwd: String? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

enum Tools {
    /// `python3` with the `cryptography` package, or nil (with the reason printed once).
    static let python: String? = {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3", "/root/.pyenv/shims/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            if let r = try? runProcess(candidate, ["-c", "import cryptography"]), r.status == 0 { return candidate }
        }
        if let r = try? runProcess("/usr/bin/env", ["python3", "-c", "import sys, cryptography; print(sys.executable)"]), r.status == 0 {
            return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        print("skipping the Python interop checks: python3 with the 'cryptography' package was not found")
        return nil
    }()

    static let openssl: String? = {
        for c in ["/usr/bin/openssl", "/usr/local/bin/openssl"] where FileManager.default.isExecutableFile(atPath: c) { return c }
        print("skipping the OpenSSL walk-through: openssl was not found")
        return nil
    }()

    /// `go` and a GOPATH holding golang.org/x/mod (Debian's golang-golang-x-mod-dev, or the
    /// user's own GOPATH) for `check_bundle.go` without a network, or nil (reason printed once).
    static let go: (go: String, gopath: String)? = {
        let candidates = ["/usr/bin/go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]
        guard let go = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("skipping the Go checker: go was not found")
            return nil
        }
        var paths = ["/usr/share/gocode"]
        if let r = try? runProcess(go, ["env", "GOPATH"]), r.status == 0 {
            paths += r.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").map(String.init)
        }
        guard let gopath = paths.first(where: { FileManager.default.fileExists(atPath: $0 + "/src/golang.org/x/mod/sumdb/tlog") }) else {
            print("skipping the Go checker: golang.org/x/mod is not in \(paths.joined(separator: " or ")) (apt install golang-golang-x-mod-dev)")
            return nil
        }
        return (go, gopath)
    }()
}

@Suite struct ExportInteropTests {
    static var script: String { RepoFiles.root + "/Tests/interop/check_bundle.py" }
    static var goScript: String { RepoFiles.root + "/Tests/interop/check_bundle.go" }

    @Test func verifyMDShipsExactlyTheInteropScript() throws {
        let file = try String(contentsOfFile: Self.script, encoding: .utf8)
        #expect(BundleInstructions.pythonScript == file, "regenerate BundleCheckScript.swift from Tests/interop/check_bundle.py")
        let goFile = try String(contentsOfFile: Self.goScript, encoding: .utf8)
        #expect(BundleInstructions.goProgram == goFile, "regenerate BundleGoProgram.swift from Tests/interop/check_bundle.go")
        let f = try ExportFixture.get()
        let (dir, _) = try f.export(EntryFilter(outcome: "accepted"))
        let md = try String(contentsOfFile: dir + "/VERIFY.md", encoding: .utf8)
        #expect(md.hasSuffix("```python\n" + file + "```\n"))
        #expect(md.contains("\n```go\n" + goFile + "```\n"))
    }

    /// The SHA-256 of `check_bundle.py` that docs/export-bundle.md publishes for this version:
    /// what an auditor sets `PUBLISHED` to in VERIFY.md step 3 (DocsTests checks it is current).
    static func publishedCheckerHash() throws -> String {
        let doc = try String(contentsOfFile: RepoFiles.root + "/docs/export-bundle.md", encoding: .utf8)
        let prefix = "`check_bundle.py` of MeterProof \(MeterProofVersion.string): sha256 `"
        let r = try #require(doc.range(of: prefix), "docs/export-bundle.md publishes no check_bundle.py hash")
        return String(doc[r.upperBound...].prefix { $0 != "`" })
    }

    /// The ```sh blocks of a VERIFY.md, in order.
    static func shellBlocks(_ md: String) -> [String] {
        var blocks: [String] = []
        var current: [String]? = nil
        for line in md.components(separatedBy: "\n") {
            if line == "```sh" { current = [] } else if line == "```", let c = current { blocks.append(c.joined(separator: "\n")); current = nil } else if current != nil { current!.append(line) }
        }
        return blocks
    }

    /// A manifest for `BundleInstructions.text`, with `entries` rejected entries (reason `reason`).
    static func manifest(entries: Int, reason: String = "bad_signature", productCode: String? = nil, newer: UInt64 = 0,
                         origin: String = "export.test/log") -> BundleManifest {
        var counts = BundleManifest.Counts()
        for _ in 0..<entries { counts.add(accepted: false, reason: reason) }
        return BundleManifest(tool: "meterproof test", createdAt: "2026-01-01T00:00:00.000Z", origin: origin, treeSize: 10, root: RFC6962.emptyRoot,
                              selection: .init(filter: EntryFilter(productCode: productCode), fullPrefix: false), counts: counts,
                              firstSeq: entries > 0 ? 3 : nil, lastSeq: entries > 0 ? UInt64(2 + entries) : nil, newerEntriesOmitted: newer)
    }

    static func verifyMD(_ m: BundleManifest) -> String {
        BundleInstructions.text(manifest: m, vkey: "export.test/log+00000000+AQ==", keyVersions: [], example: nil)
    }

    @Test func verifyMDCountsOneEntryInTheSingular() {
        let one = Self.verifyMD(Self.manifest(entries: 1, newer: 1))
        #expect(one.contains("This directory holds 1 audit-trail entry (0 accepted, 1 rejected: `bad_signature` 1; seq 3)\n"))
        #expect(one.contains("\n1 entry recorded after the checkpoint is not part of this bundle.\n"))
        let two = Self.verifyMD(Self.manifest(entries: 2, newer: 2))
        #expect(two.contains("This directory holds 2 audit-trail entries (0 accepted, 2 rejected: `bad_signature` 2; seq 3…4)\n"))
        #expect(two.contains("\n2 entries recorded after the checkpoint are not part of this bundle.\n"))
        #expect(Self.verifyMD(Self.manifest(entries: 0)).contains("This directory holds 0 audit-trail entries (0 accepted, 0 rejected; no entries)\n"))
    }

    @Test func verifyMDCannotBeBrokenByAProductCodeOrReason() {
        /// The ```sh blocks of a VERIFY.md, and every line that starts a fence or a heading.
        func structure(_ md: String) -> [String] {
            md.components(separatedBy: "\n").filter { $0.hasPrefix("```") || $0.hasPrefix("#") }
        }
        let reference = structure(Self.verifyMD(Self.manifest(entries: 2, productCode: "prod-a")))
        #expect(Self.verifyMD(Self.manifest(entries: 2, productCode: "prod-a")).contains("entries for product `prod-a` below its signed checkpoint"))

        let hostile = "x`\n```sh\nrm -rf ~\n```\n# Step 0\r\u{1B}[2J\u{7F}\u{85}\u{202E}\u{2028}\u{E0001}\"\\ "
        let md = Self.verifyMD(Self.manifest(entries: 2, reason: "bad\nreason", productCode: hostile))
        #expect(structure(md) == reference)
        #expect(md.contains(#"entries for product ````"x`\n```sh\nrm -rf ~\n```\n# Step 0\r\u001b[2J\u007f\u0085\u202e\u2028\udb40\udc01\"\\ "```` below"#))
        #expect(md.contains(#"(0 accepted, 2 rejected: `"bad\nreason"` 2; seq 3…4)"#))
        // (The Go program indents with tabs, as gofmt does; nothing from the trail is in it.)
        #expect(!md.replacingOccurrences(of: BundleInstructions.goProgram, with: "").unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || (0x7F...0x9F).contains($0.value) || $0 == "\u{202E}" || $0 == "\u{2028}" })

        // Plain text shows as it is; text that could be mistaken for a JSON literal, or that
        // a code span would trim or break, is shown as one.
        #expect(BundleInstructions.codeSpan("prod-a") == "`prod-a`")
        #expect(BundleInstructions.codeSpan("ünï code ✓") == "`ünï code ✓`")
        #expect(BundleInstructions.codeSpan("") == "`\"\"`")
        #expect(BundleInstructions.codeSpan(" x") == "`\" x\"`")
        #expect(BundleInstructions.codeSpan("\"x\"") == #"`"\"x\""`"#)
        #expect(BundleInstructions.codeSpan("a`b") == "``\"a`b\"``")
        #expect(BundleInstructions.codeSpan("a\u{A0}b") == #"`"a\u00a0b"`"#)
        #expect(BundleInstructions.codeSpan("export.test/<log>&") == "`export.test/<log>&`")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func independentPythonCheckAgrees() throws {
        let python = try #require(Tools.python)
        let f = try ExportFixture.get()
        for filter in [EntryFilter(), EntryFilter(since: f.t1, until: f.t2), EntryFilter(outcome: "rejected")] {
            let (dir, _) = try f.export(filter)
            let good = try runProcess(python, [Self.script, dir])
            #expect(good.status == 0, "\(good.output)")
            #expect(good.output.hasPrefix("OK: "))
            let vkey = try f.trail().verifier.vkey
            #expect(try runProcess(python, [Self.script, dir, "--log-key", vkey]).status == 0)
            let otherKey = try NoteSigner.generate(name: "export.test/log").verifier.vkey
            #expect(try runProcess(python, [Self.script, dir, "--log-key", otherKey]).status == 1)

            // Tampered and resealed: an entry edited (message), a CSV field, a proof hash.
            let copy = try BundleEdit.copy(dir)
            var lines = try BundleEdit.lines(copy, "entries.jsonl")
            var e = try AuditEntry(canonicalBytes: lines[1].dropLast())
            e.message = "forged"
            lines[1] = try e.canonicalBytes() + [0x0A]
            try BundleEdit.write(copy, "entries.jsonl", lines.flatMap { $0 })
            var rows = try BundleEdit.csvRecords(copy)
            rows[2] = EntryCSV.row(e)
            try BundleEdit.write(copy, "entries.csv", rows.flatMap { $0 })
            try BundleEdit.reseal(copy)
            let bad = try runProcess(python, [Self.script, copy])
            #expect(bad.status == 1, "\(bad.output)")
            #expect(bad.output.hasPrefix("FAILED: "))
            #expect(try bundleProblem(copy) != nil)

            let unsealed = try BundleEdit.copy(dir)
            var csv = try BundleEdit.read(unsealed, "entries.csv")
            csv[csv.count - 3] ^= 0x01
            try BundleEdit.write(unsealed, "entries.csv", csv)
            #expect(try runProcess(python, [Self.script, unsealed]).status == 1)
        }
    }

    @Test(.enabled(if: Tools.python != nil && Tools.openssl != nil && FileManager.default.isExecutableFile(atPath: "/bin/sh"), "python3+cryptography, openssl or /bin/sh missing"))
    func verifyMDCommandsWorkAndCatchForgery() throws {
        let f = try ExportFixture.get()
        let (dir, s) = try f.export(EntryFilter(productCode: "prod-b"))
        #expect(s.manifest.counts.accepted > 0)
        let md = try String(contentsOfFile: dir + "/VERIFY.md", encoding: .utf8)
        let blocks = Self.shellBlocks(md)
        #expect(blocks.count == 6)
        let files = try #require(blocks.firstIndex { $0.contains("find . ") })
        let note = try #require(blocks.firstIndex { $0.contains("openssl pkeyutl") })
        let checker = try #require(blocks.firstIndex { $0.contains("check_bundle.py") })
        let token = try #require(blocks.firstIndex { $0.contains("openssl dgst") })
        // Every step's scratch directory is made under $TMPDIR; none may be left behind.
        let tmp = try makeTempDir("verifymd-tmp")
        let published = try Self.publishedCheckerHash()
        let env = "PATH=\(URL(fileURLWithPath: Tools.python!).deletingLastPathComponent().path):$PATH\nTMPDIR='\(tmp)'\nexport TMPDIR\nPUBLISHED=\(published)\n"
        func run(_ script: String, in dir: String) throws -> (status: Int32, output: String) {
            try runProcess("/usr/bin/env", ["-u", "T", "-u", "PUBLISHED", "/bin/sh", "-c", "set -eu\n" + env + script], cwd: dir)
        }
        let ok = try run(blocks.joined(separator: "\n"), in: dir)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("SHA256SUMS lists exactly the files present"))
        #expect(ok.output.contains("Signature Verified Successfully"))
        #expect(ok.output.contains("Verified OK"))
        #expect(ok.output.contains("/check_bundle.py: OK\nOK: "))
        #expect(!ok.output.contains("FAILED"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "a step left its scratch directory")
        // Each step on its own, in a fresh shell where nothing is defined (`set -u`: a variable
        // from an earlier step, such as $T, is an error instead of an empty string that sent
        // the checker to /check_bundle.py).
        for (i, block) in blocks.enumerated() {
            let alone = try run(block, in: dir)
            #expect(alone.status == 0, "step block \(i) alone: \(alone.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "a step left its scratch directory")

        // A file SHA256SUMS does not list is named.
        let extra = try BundleEdit.copy(dir)
        try BundleEdit.write(extra, "notes.txt", Array("x".utf8))
        let r0 = try run(blocks[files], in: extra)
        #expect(r0.status != 0)
        #expect(r0.output.contains("> notes.txt") && r0.output.contains("MISMATCH"), "\(r0.output)")

        // The embedded checker runs only under the hash the auditor brings: not without one,
        // and not once the bundle's author replaced it (even with SHA256SUMS resealed).
        let noHash = try runProcess("/usr/bin/env", ["-u", "T", "-u", "PUBLISHED", "/bin/sh", "-c", "set -eu\n" + blocks[checker]], cwd: dir)
        #expect(noHash.status != 0)
        #expect(noHash.output.contains("set PUBLISHED to the SHA-256 of check_bundle.py"), "\(noHash.output)")
        #expect(!noHash.output.contains("OK: "))
        let replaced = try BundleEdit.copy(dir)
        var text = String(decoding: try BundleEdit.read(replaced, "VERIFY.md"), as: UTF8.self)
        let py = try #require(text.range(of: "```python\n"))
        text = String(text[..<py.upperBound]) + "print(\"OK: forged\")\n```\n"
        try BundleEdit.write(replaced, "VERIFY.md", Array(text.utf8))
        try BundleEdit.reseal(replaced)
        let r2 = try run(blocks[checker], in: replaced)
        #expect(r2.status != 0)
        #expect(!r2.output.contains("OK: forged"), "\(r2.output)")

        // Step 2 picks the signature line by the vkey's name and key ID: another key of the same
        // name signing first (a rotated key; a witness) or extension lines do not break it; a
        // note only another key signed, or a bad signature, fails.
        let cpText = try SignedNote(parsing: String(decoding: try BundleEdit.read(dir, "checkpoint"), as: UTF8.self)).text
        let other = try NoteSigner.generate(name: f.signer.name)
        let witness = try NoteSigner.generate(name: "witness.example/w")
        for (label, checkpoint, good) in [
            ("rotated key first", try SignedNote.sign(text: cpText, with: [other, f.signer, witness]).serialized, true),
            ("extension lines", try SignedNote.sign(text: cpText + "ext one\next two\n", with: [f.signer]).serialized, true),
            ("only another key", try SignedNote.sign(text: cpText, with: [other]).serialized, false),
            ("extension line added after signing", cpText + "ext one\n\n" + (try SignedNote.sign(text: cpText, with: [f.signer]).signatures.map(\.line).joined()), false),
        ] {
            let copy = try BundleEdit.copy(dir)
            try BundleEdit.write(copy, "checkpoint", Array(checkpoint.utf8))
            let r = try run(blocks[note], in: copy)
            #expect((r.status == 0) == good, "\(label): \(r.output)")
            #expect(r.output.contains("Signature Verified Successfully") == good, "\(label): \(r.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "a step left its scratch directory")

        // A forged checkpoint signature and a forged token signature each stop the script.
        let forgedNote = try BundleEdit.copy(dir)
        var cp = String(decoding: try BundleEdit.read(forgedNote, "checkpoint"), as: UTF8.self)
        cp = cp.replacingOccurrences(of: "\n\(s.manifest.treeSize)\n", with: "\n\(s.manifest.treeSize + 1)\n")
        try BundleEdit.write(forgedNote, "checkpoint", Array(cp.utf8))
        try BundleEdit.reseal(forgedNote)
        let r1 = try run(blocks.joined(separator: "\n"), in: forgedNote)
        #expect(r1.status != 0)
        #expect(!r1.output.contains("Signature Verified Successfully"))

        let forgedToken = try BundleEdit.copy(dir)
        var lines = try BundleEdit.lines(forgedToken, "entries.jsonl")
        let k = try lines.firstIndex { try AuditEntry(canonicalBytes: $0.dropLast()).isAccepted }!
        var e = try AuditEntry(canonicalBytes: lines[k].dropLast())
        var parts = e.token!.split(separator: ".").map(String.init)
        let sig = parts[2]
        parts[2] = String(sig.dropLast(2)) + (sig.hasSuffix("AA") ? "QQ" : "AA")
        e.token = parts.joined(separator: ".")
        lines[k] = try e.canonicalBytes() + [0x0A]
        try BundleEdit.write(forgedToken, "entries.jsonl", lines.flatMap { $0 })
        // Point the OpenSSL walk-through at the forged line.
        let single = blocks[token].components(separatedBy: "\n").map { line -> String in
            line.hasPrefix("sed -n '") ? "sed -n '\(k + 1)p' entries.jsonl | grep -o '\"token\":\"[^\"]*\"' | cut -d'\"' -f4 > \"$T/token.txt\"" : line
        }.joined(separator: "\n")
        let r3 = try run(single, in: forgedToken)
        #expect(r3.status != 0)
        #expect(r3.output.contains("Verification failure"), "\(r3.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "a failed step left its scratch directory")
    }

    /// `check_bundle.go`, as VERIFY.md ships it, on a full prefix, a selection, an empty trail's
    /// bundle and forged ones. Needs `go` and golang.org/x/mod on a GOPATH (no network).
    @Test(.enabled(if: Tools.go != nil, "go or golang.org/x/mod is not installed"))
    func goCheckerAgrees() throws {
        let (go, gopath) = try #require(Tools.go)
        let f = try ExportFixture.get()
        let work = try makeTempDir("gocheck")
        let md = try String(contentsOfFile: try f.export().dir + "/VERIFY.md", encoding: .utf8)
        let start = try #require(md.range(of: "\n```go\n"))
        let end = try #require(md.range(of: "\n```\n", range: start.upperBound..<md.endIndex))
        try String(md[start.upperBound...end.lowerBound]).write(toFile: work + "/check_bundle.go", atomically: true, encoding: .utf8)
        // Build once (GOPATH mode: Debian's x/mod, no module download).
        let build = try runProcess("/usr/bin/env", ["GO111MODULE=off", "GOPATH=\(gopath)", "GOCACHE=\(work)/cache", "HOME=\(work)",
                                                    go, "build", "-o", work + "/check_bundle", work + "/check_bundle.go"], cwd: work)
        try #require(build.status == 0, "\(build.output)")
        func check(_ dir: String, _ args: [String] = []) throws -> (status: Int32, output: String) {
            try runProcess(work + "/check_bundle", [dir] + args)
        }
        let vkey = try f.trail().verifier.vkey
        for filter in [EntryFilter(), EntryFilter(productCode: "prod-b"), EntryFilter(outcome: "rejected")] {
            let (dir, s) = try f.export(filter)
            let ok = try check(dir, [vkey])
            #expect(ok.status == 0 && ok.output.hasPrefix("OK: \(s.manifest.counts.entries) entries"), "\(ok.output)")
            #expect(try check(dir, [try NoteSigner.generate(name: f.signer.name).verifier.vkey]).status == 1)
            // An entry edited: the recomputed root or its proof no longer matches.
            let copy = try BundleEdit.copy(dir)
            var lines = try BundleEdit.lines(copy, "entries.jsonl")
            var e = try AuditEntry(canonicalBytes: lines[lines.count - 1].dropLast())
            e.message = "forged"
            lines[lines.count - 1] = try e.canonicalBytes() + [0x0A]
            try BundleEdit.write(copy, "entries.jsonl", lines.flatMap { $0 })
            let bad = try check(copy)
            #expect(bad.status == 1 && bad.output.hasPrefix("FAILED: "), "\(bad.output)")
        }
        // entries.jsonl is read line by line: a last line without its line feed, and a line over
        // the 1 MiB entry limit (longer than the reader's buffer), are refused by name.
        let (full, _) = try f.export()
        let noFeed = try BundleEdit.copy(full)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: noFeed + "/entries.jsonl")))
        try BundleEdit.write(noFeed, "entries.jsonl", Array(bytes.dropLast()))
        let r1 = try check(noFeed, [vkey])
        #expect(r1.status == 1 && r1.output == "FAILED: entries.jsonl does not end in a line feed\n", "\(r1.output)")
        let long = try BundleEdit.copy(full)
        try BundleEdit.write(long, "entries.jsonl", bytes + [UInt8](repeating: 0x20, count: (1 << 20) + 1) + [0x0A])
        let r2 = try check(long, [vkey])
        let lineNumber = bytes.filter { $0 == 0x0A }.count + 1
        #expect(r2.status == 1 && r2.output == "FAILED: entries.jsonl: line \(lineNumber) is longer than 1048576 bytes\n", "\(r2.output)")
        // A trail with no entries: RFC 6962's empty root, which tlog.TreeHash(0, …) is not.
        let emptyDir = try makeTempDir("goempty")
        let signer = try NoteSigner.generate(name: "export.test/empty")
        let empty = try AuditTrail.create(path: emptyDir + "/trail.sqlite", signer: signer)
        _ = try empty.signCheckpoint(with: signer)
        _ = try empty.exportBundle(to: emptyDir + "/bundle", options: ExportOptions())
        let r = try check(emptyDir + "/bundle", [signer.verifier.vkey])
        #expect(r.status == 0 && r.output.hasPrefix("OK: 0 entries"), "\(r.output)")
    }
}

/// `check_bundle.py` must refuse what `export verify` refuses: each forgery below is checked
/// with both, the script's message and exit status, and `export verify`'s problem code.
extension ExportInteropTests {
    /// Runs the script on `dir` (without writing `__pycache__` next to it).
    static func pythonCheck(_ dir: String, _ args: [String] = []) throws -> (status: Int32, output: String) {
        try runProcess(try #require(Tools.python), ["-B", script, dir] + args)
    }

    /// A resealed copy of `dir` after `edit`, as a forger would leave it.
    static func forged(_ dir: String, _ edit: (String) throws -> Void) throws -> String {
        let copy = try BundleEdit.copy(dir)
        try edit(copy)
        try BundleEdit.reseal(copy)
        return copy
    }

    /// The script passes `dir`, and so does `export verify`.
    static func expectSound(_ dir: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try pythonCheck(dir)
        #expect(r.status == 0 && r.output.hasPrefix("OK: "), "\(r.output)", sourceLocation: sourceLocation)
        #expect(try bundleProblem(dir) == nil, sourceLocation: sourceLocation)
    }

    /// The script fails `dir` (exit 1) with a message containing `message`, and `export verify`
    /// names `code`.
    static func expectRefused(_ dir: String, _ message: String, code: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try pythonCheck(dir)
        #expect(r.status == 1, "\(r.output)", sourceLocation: sourceLocation)
        #expect(r.output.hasPrefix("FAILED: ") && r.output.contains(message), "expected \(message), got \(r.output)", sourceLocation: sourceLocation)
        #expect(try bundleProblem(dir) == code, sourceLocation: sourceLocation)
    }

    static func editManifest(_ d: String, _ from: String, _ to: String) throws {
        let text = String(decoding: try BundleEdit.read(d, "manifest.json"), as: UTF8.self)
        #expect(text.contains(from), "manifest.json lacks \(from)")
        try BundleEdit.write(d, "manifest.json", Array(text.replacingOccurrences(of: from, with: to).utf8))
    }

    static func removeEntry(_ d: String, at k: Int) throws {
        var lines = try BundleEdit.lines(d, "entries.jsonl")
        var rows = try BundleEdit.csvRecords(d)
        lines.remove(at: k)
        rows.remove(at: k + 1)
        try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
        try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
    }

    static func entries(_ d: String) throws -> [AuditEntry] {
        try BundleEdit.lines(d, "entries.jsonl").map { try AuditEntry(canonicalBytes: $0.dropLast()) }
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRequiresAnUnfilteredSelectionToBeTheFullPrefix() throws {
        let f = try ExportFixture.get()
        let full = try f.export().dir
        let product = try f.export(EntryFilter(productCode: "prod-a")).dir
        try Self.expectSound(full)
        try Self.expectSound(product)
        #expect(try Self.entries(product)[0].seq > 0)
        let noFilter = "the selection has no filter, so the bundle must hold every entry below the checkpoint (a full prefix)"

        // A selection relabelled as unfiltered, its proofs kept: it would pass as the whole log.
        try Self.expectRefused(try Self.forged(product) { try Self.editManifest($0, "\"productCode\": \"prod-a\"", "\"productCode\": null") },
                               noFilter, code: "selection_incomplete")
        // ... and also claiming to be the full prefix, proofs dropped: entry 0 is missing.
        try Self.expectRefused(try Self.forged(product) { d in
            try Self.editManifest(d, "\"productCode\": \"prod-a\"", "\"productCode\": null")
            try Self.editManifest(d, "\"fullPrefix\": false", "\"fullPrefix\": true")
            try FileManager.default.removeItem(atPath: d + "/proofs")
        }, "a full-prefix bundle misses entry 0", code: "selection_incomplete")
        // ... or with its proofs kept.
        try Self.expectRefused(try Self.forged(product) { try Self.editManifest($0, "\"fullPrefix\": false", "\"fullPrefix\": true") },
                               "a full-prefix bundle carries no proofs", code: "proof_stray")
        // The full prefix saying it is not one (then it would need proofs).
        try Self.expectRefused(try Self.forged(full) { try Self.editManifest($0, "\"fullPrefix\": true", "\"fullPrefix\": false") },
                               noFilter, code: "selection_incomplete")
        // Entries dropped from the full prefix, in the middle and at the end.
        try Self.expectRefused(try Self.forged(full) { try Self.removeEntry($0, at: 10) },
                               "a full-prefix bundle misses entry 10", code: "selection_incomplete")
        try Self.expectRefused(try Self.forged(full) { d in try Self.removeEntry(d, at: try BundleEdit.lines(d, "entries.jsonl").count - 1) },
                               "a full-prefix bundle must hold all \(f.checkpointSize) entries", code: "selection_incomplete")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRequiresEveryEntryToMatchTheSelection() throws {
        let f = try ExportFixture.get()
        let window = try f.export(EntryFilter(since: f.t1, until: f.t2)).dir
        try Self.expectSound(window)
        let entries = try Self.entries(window)
        let first = try #require(RFC3339.parseMilliseconds(entries.first!.recordedAt))
        let last = try #require(RFC3339.parseMilliseconds(entries.last!.recordedAt))
        let since = "\"since\": \(JSONText.quoted(RFC3339.format(milliseconds: f.t1)))"
        let until = "\"until\": \(JSONText.quoted(RFC3339.format(milliseconds: f.t2)))"
        func with(since s: String? = nil, until u: String? = nil) throws -> String {
            try Self.forged(window) { d in
                if let s { try Self.editManifest(d, since, "\"since\": \(JSONText.quoted(s))") }
                if let u { try Self.editManifest(d, until, "\"until\": \(JSONText.quoted(u))") }
            }
        }
        let outside = "does not match the manifest's selection (since, until)"
        // since is inclusive, until exclusive, both to the millisecond.
        try Self.expectSound(try with(since: RFC3339.format(milliseconds: first), until: RFC3339.format(milliseconds: last + 1)))
        try Self.expectRefused(try with(since: RFC3339.format(milliseconds: first + 1)),
                               "entry \(entries[0].seq) (recordedAt \(entries[0].recordedAt)) \(outside)", code: "selection_mismatch")
        try Self.expectRefused(try with(until: RFC3339.format(milliseconds: last)), outside, code: "selection_mismatch")
        // One spelling per bound, the one an export writes: a finer fraction (which would be
        // truncated, admitting entries before the bound it declares), an offset, lowercase
        // letters or a space, even for the same instant, are refused by both checkers (an
        // auditor's review found them accepted).
        let firstText = RFC3339.format(milliseconds: first)
        let stem = String(firstText.dropLast())
        let hourLater = String(RFC3339.format(milliseconds: first + 3_600_000).dropLast())
        var spellings: [String] = [stem + "999999Z", stem + "1Z", hourLater + "+01:00", stem + "-00:00"]
        spellings.append(firstText.replacingOccurrences(of: "T", with: " ").lowercased())
        spellings.append(firstText.lowercased())
        spellings.append(String(firstText.dropLast(5)) + "Z")
        for spelling in spellings {
            try Self.expectRefused(try with(since: spelling), "selection.since is not written as an export writes it", code: "manifest_malformed")
        }
        try Self.expectRefused(try with(until: String(RFC3339.format(milliseconds: last + 1).dropLast()) + "+00:00"),
                               "selection.until is not written as an export writes it", code: "manifest_malformed")

        // Product code and outcome.
        let product = try f.export(EntryFilter(productCode: "prod-a")).dir
        try Self.expectRefused(try Self.forged(product) { try Self.editManifest($0, "\"productCode\": \"prod-a\"", "\"productCode\": \"prod-b\"") },
                               "does not match the manifest's selection (outcome, productCode)", code: "selection_mismatch")
        #expect(entries.contains { !$0.isAccepted } && entries.contains { $0.isAccepted })
        try Self.expectRefused(try Self.forged(window) { try Self.editManifest($0, "\"outcome\": \"all\"", "\"outcome\": \"accepted\"") },
                               "entry \(entries.first { !$0.isAccepted }!.seq) does not match the manifest's selection (outcome, productCode)",
                               code: "selection_mismatch")
        // A bound that is no RFC 3339 time.
        try Self.expectRefused(try with(since: "2026-02-30T00:00:00Z"), "selection.since is not an RFC 3339 time", code: "manifest_malformed")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRequiresAnEmptySelectionToHoldOnlyTheCSVHeader() throws {
        let f = try ExportFixture.get()
        let (empty, s) = try f.export(EntryFilter(productCode: "no-such-product"))
        #expect(s.manifest.counts.entries == 0)
        try Self.expectSound(empty)
        #expect(try Self.pythonCheck(empty).output.hasPrefix("OK: 0 entries"))
        #expect(try BundleEdit.read(empty, "entries.csv") == EntryCSV.header)

        // Any other single line, or the header and a row, is not the rendering of no entries.
        try Self.expectRefused(try Self.forged(empty) { try BundleEdit.write($0, "entries.csv", Array("seq,nonce\r\n".utf8)) },
                               "entries.csv does not start with the header row", code: "csv_mismatch")
        let row = try BundleEdit.csvRecords(try f.export(EntryFilter(productCode: "prod-a")).dir)[1]
        try Self.expectRefused(try Self.forged(empty) { try BundleEdit.write($0, "entries.csv", EntryCSV.header + row) },
                               "entries.csv has rows beyond the entries", code: "csv_mismatch")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func aTenDigitKeyVersionExportsAndVerifiesEverywhere() throws {
        // 2147483647 is a key version (RegisterUsage's is 32-bit): the trail records it, the
        // export names its key file keys/v2147483647.pem, and both checkers accept that file.
        // Both had stopped at nine digits, so such a bundle could not be checked at all.
        let top = KeyVersion.range.upperBound
        let v1 = try #require(try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)[1]).key
        let keyring = try Keyring(entries: [KeyringEntry(version: top, key: v1, source: "v\(top).pem")])
        let dir = try makeTempDir("kv")
        let signer = try NoteSigner.generate(name: "export.test/kv")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
        let r = try sim.response(productCode: "prod-a", keyVersion: top, nonce: "n1", issuedAt: 1)
        let result = Verifier(keyring: keyring, policy: .offline).verify(Array(r.utf8), expecting: RegisterUsageRequest(productCode: "prod-a", publicKeyVersion: top, nonce: "n1"))
        #expect(result.isAccepted)
        _ = try trail.append([AuditTrail.Pending(result: result, keyring: keyring, source: .live)])
        let bundle = try trail.exportBundle(to: dir + "/bundle", options: ExportOptions(signer: signer)).directory
        #expect(try BundleEdit.files(bundle).filter { $0.hasPrefix("keys/") } == ["keys/keyring.json", "keys/v2147483647.pem"])
        try Self.expectSound(bundle)
        #expect(try Keyring.load(from: bundle + "/keys", allowingTestKeys: true).versions == [top])
        // One more is no key version, for either checker.
        try Self.expectRefused(try Self.forged(bundle) { d in
            try FileManager.default.moveItem(atPath: d + "/keys/v2147483647.pem", toPath: d + "/keys/v2147483648.pem")
        }, "keys/v2147483648.pem is not part of a MeterProof bundle", code: "unexpected_file")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRechecksTokensUnderAKeyringGivenOutOfBand() throws {
        // As `export verify --keys`: the tokens against keys the auditor obtained elsewhere.
        let f = try ExportFixture.get()
        let full = try f.export().dir
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        func keysDir(_ files: [(String, Int)]) throws -> String {
            let d = try makeTempDir("givenkeys")
            for (name, v) in files { try BundleLayout.pem(keyring[v]!.key).write(toFile: d + "/" + name, atomically: true, encoding: .utf8) }
            return d
        }
        let same = try Self.pythonCheck(full, ["--keys", RepoFiles.testKeys])
        #expect(same.status == 0 && same.output.hasPrefix("OK: "), "\(same.output)")
        #expect(try bundleProblem(full, keyring: keyring) == nil)
        let onlyV1 = try keysDir([("v1.pem", 1)])
        let missing = try Self.pythonCheck(full, ["--keys", onlyV1])
        #expect(missing.status == 1 && missing.output.contains("which is not in the --keys directory"), "\(missing.output)")
        #expect(try bundleProblem(full, keyring: try Keyring.load(from: onlyV1, allowingTestKeys: true)) == "key_missing")
        let swapped = try keysDir([("v1.pem", 2), ("v2.pem", 1)])
        let mismatch = try Self.pythonCheck(full, ["--keys", swapped])
        #expect(mismatch.status == 1 && mismatch.output.contains(", but the --keys directory v"), "\(mismatch.output)")
        #expect(try bundleProblem(full, keyring: try Keyring.load(from: swapped, allowingTestKeys: true)) == "key_mismatch")
        // Options in either order, each once; anything else is a usage error (exit 2).
        let both = try Self.pythonCheck(full, ["--keys", RepoFiles.testKeys, "--log-key", f.signer.verifier.vkey])
        #expect(both.status == 0, "\(both.output)")
        #expect(try Self.pythonCheck(full, ["--keys"]).status == 2)
        #expect(try Self.pythonCheck(full, ["--keys", onlyV1, "--keys", onlyV1]).status == 2)
        #expect(try Self.pythonCheck(full, ["--bogus", "x"]).status == 2)
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRefusesKeysNoEntryRecords() throws {
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let fp1 = keyring[1]!.key.fingerprint, fp2 = keyring[2]!.key.fingerprint
        func pins(_ list: [(Int, String)]) -> [UInt8] { Array(BundleLayout.keyringJSON(list.map { (version: $0.0, fingerprint: $0.1) }).utf8) }
        // The other log's bundle: every entry verified by v1.
        let other = try OtherLog.bundle()
        try Self.expectSound(other)
        #expect(try BundleEdit.files(other).filter { $0.hasPrefix("keys/") } == ["keys/keyring.json", "keys/v1.pem"])

        // A second key, pinned, that no entry records.
        try Self.expectRefused(try Self.forged(other) { d in
            try BundleEdit.write(d, "keys/v2.pem", Array(BundleLayout.pem(keyring[2]!.key).utf8))
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp1), (2, fp2)]))
        }, "keys/v2.pem (\(fp2)) is the key of none of the bundle's entries (no entry records its fingerprint)", code: "unexpected_key")
        // The entries' own key again under a version no entry records, pinned: it would tell the
        // auditor of a key version that does not exist.
        try Self.expectRefused(try Self.forged(other) { d in
            try BundleEdit.write(d, "keys/v3.pem", Array(BundleLayout.pem(keyring[1]!.key).utf8))
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp1), (3, fp1)]))
        }, "keys/v3.pem is the same key as keys/v1.pem (\(fp1)): an export bundles each recorded key once", code: "unexpected_key")
        // The same key file without a pin.
        try Self.expectRefused(try Self.forged(other) { try BundleEdit.write($0, "keys/v2.pem", Array(BundleLayout.pem(keyring[2]!.key).utf8)) },
                               "keys/keyring.json does not pin exactly the bundled keys", code: "keyring_invalid")
        // The right pins, not as an export writes them.
        try Self.expectRefused(try Self.forged(other) { try BundleEdit.write($0, "keys/keyring.json", Array("{\"keys\": [{\"version\": 1, \"sha256\": \"\(fp1)\"}]}\n".utf8)) },
                               "keys/keyring.json does not pin exactly the bundled keys", code: "keyring_invalid")
        // A key file named as no export names one, and a stray file.
        try Self.expectRefused(try Self.forged(other) { d in
            try FileManager.default.moveItem(atPath: d + "/keys/v1.pem", toPath: d + "/keys/v01.pem")
        }, "keys/v01.pem is not part of a MeterProof bundle", code: "unexpected_file")
        try Self.expectRefused(try Self.forged(other) { try BundleEdit.write($0, "keys/README.md", Array("keys\n".utf8)) },
                               "keys/README.md is not part of a MeterProof bundle", code: "unexpected_file")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRefusesLooseIntegersAndAmbiguousClaims() throws {
        let f = try ExportFixture.get()
        let full = try f.export().dir
        // Manifest integers and booleans: Python's 0 == False and 12 == 12.0 must not let them by.
        try Self.expectRefused(try Self.forged(full) { try Self.editManifest($0, "\"treeSize\": \(f.checkpointSize),", "\"treeSize\": \(f.checkpointSize).0,") },
                               "manifest.json treeSize is not a non-negative integer", code: "manifest_malformed")
        try Self.expectRefused(try Self.forged(full) { try Self.editManifest($0, "\"firstSeq\": 0,", "\"firstSeq\": false,") },
                               "manifest.json firstSeq is not a non-negative integer", code: "manifest_malformed")
        try Self.expectRefused(try Self.forged(full) { try Self.editManifest($0, "\"fullPrefix\": true", "\"fullPrefix\": 1") },
                               "selection.fullPrefix is not a boolean", code: "manifest_malformed")

        // Entry integers: a boolean seq, a fractional key version (still canonical JSON for Python).
        let lines = try BundleEdit.lines(full, "entries.jsonl")
        let k = try #require(try Self.entries(full).firstIndex { $0.isAccepted && $0.seq > 0 })
        func editLine(_ from: String, _ to: String) throws -> String {
            try Self.forged(full) { d in
                var l = lines
                let text = String(decoding: l[k], as: UTF8.self)
                #expect(text.contains(from))
                l[k] = Array(text.replacingOccurrences(of: from, with: to).utf8)
                try BundleEdit.write(d, "entries.jsonl", l.flatMap { $0 })
            }
        }
        let e = try AuditEntry(canonicalBytes: lines[k].dropLast())
        try Self.expectRefused(try editLine("\"seq\":\(e.seq),", "\"seq\":true,"),
                               "entries.jsonl line \(k + 1): a member has the wrong type", code: "entry_invalid")
        try Self.expectRefused(try editLine("\"publicKeyVersion\":\(e.publicKeyVersion!),", "\"publicKeyVersion\":\(e.publicKeyVersion!).0,"),
                               "entries.jsonl line \(k + 1): a member has the wrong type", code: "entry_invalid")

        // Tokens signed by the entry's own key whose claims are loose or ambiguous, with the
        // entry's CSV row to match: the claims must fail before the root does.
        let v = Int(e.publicKeyVersion!)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(v))
        func withPayload(_ members: String, header: String = ResponseSimulator.header) throws -> String {
            try Self.forged(full) { d in
                var forgedEntry = e
                forgedEntry.token = try sim.token(header: Array(header.utf8), payload: Array("{\(members)}".utf8))
                var l = lines, rows = try BundleEdit.csvRecords(d)
                l[k] = try forgedEntry.canonicalBytes() + [0x0A]
                rows[k + 1] = EntryCSV.row(forgedEntry)
                try BundleEdit.write(d, "entries.jsonl", l.flatMap { $0 })
                try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
            }
        }
        let pc = "\"productCode\":\(JSONText.quoted(e.productCode!))"
        let rest = "\"nonce\":\(JSONText.quoted(e.nonce!)),\"iat\":\(e.issuedAt!)"
        // The harness itself: well-formed claims pass the token check and only the root breaks.
        try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\(rest)"), "the entries do not hash to the checkpoint root", code: "root_mismatch")
        try Self.expectRefused(try withPayload("\(pc),\"ProductCode\":\(JSONText.quoted(e.productCode!)),\"publicKeyVersion\":\(v),\(rest)"),
                               "entry \(e.seq): the token payload carries both productCode and ProductCode", code: "token_invalid")
        try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\"PublicKeyVersion\":\(v),\(rest)"),
                               "entry \(e.seq): the token payload carries both publicKeyVersion and PublicKeyVersion", code: "token_invalid")
        for loose in ["true", "\(v).9", "\(v).0", "\"0\(v)\""] {
            try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(loose),\(rest)"),
                                   "entry \(e.seq): the token's publicKeyVersion is not", code: "token_invalid")
        }
        try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\"nonce\":\(JSONText.quoted(e.nonce!)),\"iat\":null"),
                               "entry \(e.seq): the token's iat is not a NumericDate", code: "token_invalid")
        // PublicKeyRotationTimestamp in the payload only ever warns, in both checkers, whatever
        // its value (a value MeterProof cannot read used to refuse a correctly signed token; the
        // two checkers must still agree), and members neither checker reads may be nested (an
        // array aud): only the root breaks here. The claims they read may not be nested.
        let rotations = ["\"2027-01-01T00:00:00Z\"", "1798761600000", "\"next tuesday\"", "true", "-1", "1e300", "{}"]
        for extra in rotations.map({ "\"PublicKeyRotationTimestamp\":\($0)" }) + ["\"aud\":[\"a\",{\"b\":1}]"] {
            try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\(extra),\(rest)"),
                                   "the entries do not hash to the checkpoint root", code: "root_mismatch")
        }
        try Self.expectRefused(try withPayload("\"productCode\":[\(JSONText.quoted(e.productCode!))],\"publicKeyVersion\":\(v),\(rest)"),
                               "entry \(e.seq): the token's productCode is not a string", code: "token_invalid")
        // typ is a media type to both checkers: any case, "application/" optional; JOSE is not JWT.
        for typ in ["jwt", "application/JWT"] {
            try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\(rest)", header: #"{"alg":"PS256","typ":"\#(typ)"}"#),
                                   "the entries do not hash to the checkpoint root", code: "root_mismatch")
        }
        try Self.expectRefused(try withPayload("\(pc),\"publicKeyVersion\":\(v),\(rest)", header: #"{"alg":"PS256","typ":"JOSE"}"#),
                               "a typ other than JWT", code: "token_invalid")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func aReasonTheManifestDoesNotCountFailsAtItsEntry() throws {
        // Both checkers used to collect every distinct reason to the end (an attacker's bundle
        // of distinct 100 KB reasons filled memory); now the first reason the manifest does not
        // count fails at its entry.
        let f = try ExportFixture.get()
        let sel = try f.export(EntryFilter(outcome: "rejected")).dir
        let first = try AuditEntry(canonicalBytes: Array(try BundleEdit.lines(sel, "entries.jsonl")[0].dropLast()))
        let reason = try #require(first.reason)
        let forged = try Self.forged(sel) { d in
            try Self.editManifest(d, "\"\(reason)\": ", "\"renamed_\(reason)\": ")
        }
        try Self.expectRefused(forged, "entry \(first.seq) is rejected with reason \"\(reason)\", which manifest.json does not count", code: "manifest_mismatch")
        // A line longer than any entry is refused as it is read, by both (the script used to
        // hold any line whole, and call a bundle with a 100 MB entry OK).
        let long = try Self.forged(sel) { d in
            var l = try BundleEdit.lines(d, "entries.jsonl")
            l[0] = Array(#"{"x":""#.utf8) + [UInt8](repeating: 0x61, count: (1 << 20) + 10) + Array(#""}"#.utf8) + [0x0A]
            try BundleEdit.write(d, "entries.jsonl", l.flatMap { $0 })
        }
        try Self.expectRefused(long, "entries.jsonl line 1 is longer than any entry", code: "entry_invalid")
        // Files read whole are read with export verify's limits (a manifest of at most 1 MiB).
        let bigManifest = try Self.forged(sel) { d in
            try BundleEdit.write(d, "manifest.json", try BundleEdit.read(d, "manifest.json") + [UInt8](repeating: 0x20, count: 1 << 20))
        }
        try Self.expectRefused(bigManifest, "manifest.json is larger than any bundle's (1048576 bytes at most)", code: "manifest_malformed")
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonRefusesRepeatedOrUnsortedSHA256SUMSLines() throws {
        let f = try ExportFixture.get()
        let sel = try f.export(EntryFilter(outcome: "rejected")).dir
        let sums = try BundleEdit.lines(sel, "SHA256SUMS")
        let csvLine = try #require(sums.firstIndex { String(decoding: $0, as: UTF8.self).hasSuffix("  entries.csv\n") })
        func withSums(_ lines: [[UInt8]]) throws -> String {
            let copy = try BundleEdit.copy(sel)
            try BundleEdit.write(copy, "SHA256SUMS", lines.flatMap { $0 })
            return copy
        }
        let repeats = "is not in sorted order or repeats a path"
        var twice = sums
        twice.insert(sums[csvLine], at: csvLine)
        try Self.expectRefused(try withSums(twice), repeats, code: "sums_malformed")
        // A wrong hash for a file, followed by the right one: the last line used to win.
        var wrongFirst = sums
        wrongFirst.insert(Array((String(repeating: "0", count: 64) + "  entries.csv\n").utf8), at: csvLine)
        try Self.expectRefused(try withSums(wrongFirst), repeats, code: "sums_malformed")
        var swapped = sums
        swapped.swapAt(csvLine, csvLine + 1)
        try Self.expectRefused(try withSums(swapped), repeats, code: "sums_malformed")
        // Lines for files the bundle does not hold: the script stops once the lines outnumber
        // the files (it read the whole file first; 2M lines took about 1 GB).
        let extra = (0..<3).map { Array((String(repeating: "0", count: 64) + "  zz-\($0)\n").utf8) }
        let more = try withSums(sums + extra)
        let r = try Self.pythonCheck(more)
        #expect(r.status == 1 && r.output.hasPrefix("FAILED: SHA256SUMS lists more files than the bundle holds (\(sums.count))"), "\(r.output)")
        #expect(try bundleProblem(more) != nil)
    }

    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonReadsTheWholeCheckpoint() throws {
        let f = try ExportFixture.get()
        let (full, s) = try f.export()
        let m = s.manifest
        let body = "\(m.origin)\n\(m.treeSize)\n\(m.root.base64)\n"
        /// The full prefix with its checkpoint text replaced and signed by the log key
        /// (by hand: SignedNote.sign refuses control characters).
        func withCheckpoint(_ text: String) throws -> String {
            try Self.forged(full) { d in
                let sig = try f.signer.privateKey.signature(for: text)
                let note = text + "\n" + NoteSignature(name: f.signer.name, keyID: f.signer.keyID, signature: sig).line
                try BundleEdit.write(d, "checkpoint", Array(note.utf8))
            }
        }
        // Extension lines after the root are part of the checkpoint format.
        try Self.expectSound(try withCheckpoint(body + "example.com/witness 1 extension\nanother\n"))
        try Self.expectRefused(try withCheckpoint(body + "\nafter an empty line\n"), "the checkpoint has an empty extension line", code: "checkpoint_malformed")
        try Self.expectRefused(try withCheckpoint(body + "bell \u{7}\n"), "the checkpoint contains a control character other than newline", code: "checkpoint_malformed")
        // int("0…") took a size with a leading zero, and int(" 12") one with a space.
        try Self.expectRefused(try withCheckpoint("\(m.origin)\n0\(m.treeSize)\n\(m.root.base64)\n"),
                               "the checkpoint's tree size is not a decimal without leading zeros", code: "checkpoint_malformed")
        try Self.expectRefused(try withCheckpoint("\(m.origin)\n \(m.treeSize)\n\(m.root.base64)\n"),
                               "the checkpoint's tree size is not a decimal without leading zeros", code: "checkpoint_malformed")
        try Self.expectRefused(try withCheckpoint("\(m.origin)\n\(m.treeSize)\n"), "the checkpoint needs origin, size and root lines", code: "checkpoint_malformed")
    }

    /// The formula guard of entries.csv (see EntryCSV): a string starting with = + - @ TAB or
    /// CR gets a leading apostrophe, then the usual quoting; other values are never prefixed.
    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func pythonCSVFieldGuardsAgainstSpreadsheetFormulas() throws {
        let python = try #require(Tools.python)
        let cases: [(input: String, want: String)] = [
            (#""=1+2""#, "'=1+2"), (#""+1""#, "'+1"), (#""-5""#, "'-5"), (#""@SUM(A1)""#, "'@SUM(A1)"),
            (#""\tx""#, "'\tx"), (#""\rx""#, "\"'\rx\""), (#""=a,b""#, "\"'=a,b\""), (#""=\"q\"""#, "\"'=\"\"q\"\"\""),
            (#""-""#, "'-"), (#""a=b""#, "a=b"), (#"" =x""#, " =x"), (#""'x""#, "'x"), (#""\nx""#, "\"\nx\""),
            (#""""#, "\"\""), ("-5", "-5"), ("null", ""), ("true", "true"), ("false", "false"), ("0", "0"),
        ]
        let input = "[" + cases.map(\.input).joined(separator: ",") + "]"
        let program = "import json, sys; sys.path.insert(0, sys.argv[1]); from check_bundle import csv_field; "
            + "print(json.dumps([csv_field(v) for v in json.loads(sys.argv[2])]))"
        let r = try runProcess(python, ["-B", "-c", program, URL(fileURLWithPath: Self.script).deletingLastPathComponent().path, input])
        #expect(r.status == 0, "\(r.output)")
        let got = try JSONDecoder().decode([String].self, from: Data(r.output.utf8))
        #expect(got.count == cases.count)
        for (c, g) in zip(cases, got) { #expect(g == c.want, "csv_field(\(c.input))") }
    }

    /// Entries whose product code, nonce or message start with a formula character, in a bundle
    /// both checkers must pass: the Swift and the Python renderings of the guard agree.
    @Test(.enabled(if: Tools.python != nil, "python3 with the cryptography package is not installed"))
    func formulaLeadingFieldsPassBothCheckers() throws {
        let dir = try makeTempDir("formula")
        let (trail, signer) = try makeTrailOfVerifications(in: dir, log: "export.test/formula", [
            ("=cmd", "=1+1"), ("-x", "-5"), ("@x", "@SUM(A1)"), ("prod-a", "+1"), ("prod-a", "\tx"), ("prod-a", "\rx"), ("prod-a", "=a,\"b\""),
        ])
        let full = try trail.exportBundle(to: dir + "/full", options: ExportOptions(signer: signer)).directory
        let csv = String(decoding: try BundleEdit.read(full, "entries.csv"), as: UTF8.self)
        #expect(csv.contains(",'=cmd,") && csv.contains(",'-x,") && csv.contains(",'@SUM(A1),") && csv.contains("\"'=a,\"\"b\"\"\""))
        try Self.expectSound(full)
        try Self.expectSound(try trail.exportBundle(to: dir + "/selection", options: ExportOptions(filter: EntryFilter(productCode: "=cmd"))).directory)
    }
}
