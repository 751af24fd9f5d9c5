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
}

@Suite struct ExportInteropTests {
    static var script: String { RepoFiles.root + "/Tests/interop/check_bundle.py" }

    @Test func verifyMDShipsExactlyTheInteropScript() throws {
        let file = try String(contentsOfFile: Self.script, encoding: .utf8)
        #expect(BundleInstructions.pythonScript == file, "regenerate BundleCheckScript.swift from Tests/interop/check_bundle.py")
        let f = try ExportFixture.get()
        let (dir, _) = try f.export(EntryFilter(outcome: "accepted"))
        let md = try String(contentsOfFile: dir + "/VERIFY.md", encoding: .utf8)
        #expect(md.hasSuffix("```python\n" + file + "```\n"))
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
        #expect(!md.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || (0x7F...0x9F).contains($0.value) || $0 == "\u{202E}" || $0 == "\u{2028}" })

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
        // Every ```sh block, in order, as one script run from the bundle directory.
        var blocks: [String] = []
        var current: [String]? = nil
        for line in md.components(separatedBy: "\n") {
            if line == "```sh" { current = [] } else if line == "```", let c = current { blocks.append(c.joined(separator: "\n")); current = nil } else if current != nil { current!.append(line) }
        }
        #expect(blocks.count == 5)
        let script = "set -e\nPATH=\(URL(fileURLWithPath: Tools.python!).deletingLastPathComponent().path):$PATH\n" + blocks.joined(separator: "\n") + "\n"
        let scriptPath = try makeTempDir() + "/verify.sh"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let ok = try runProcess("/bin/sh", [scriptPath], cwd: dir)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("Signature Verified Successfully"))
        #expect(ok.output.contains("Verified OK"))
        #expect(ok.output.contains("\nOK: "))
        #expect(!ok.output.contains("FAILED"))
        // Each step on its own, in a fresh shell where nothing is defined (`set -u`: a variable
        // from an earlier step, such as $T, is an error instead of an empty string that sent
        // the checker to /check_bundle.py).
        for (i, block) in blocks.enumerated() {
            let alone = try runProcess("/usr/bin/env", ["-u", "T", "/bin/sh", "-c", "set -eu\nPATH=\(URL(fileURLWithPath: Tools.python!).deletingLastPathComponent().path):$PATH\n" + block], cwd: dir)
            #expect(alone.status == 0, "step block \(i) alone: \(alone.output)")
        }

        // A forged checkpoint signature and a forged token signature each stop the script.
        let forgedNote = try BundleEdit.copy(dir)
        var cp = String(decoding: try BundleEdit.read(forgedNote, "checkpoint"), as: UTF8.self)
        cp = cp.replacingOccurrences(of: "\n\(s.manifest.treeSize)\n", with: "\n\(s.manifest.treeSize + 1)\n")
        try BundleEdit.write(forgedNote, "checkpoint", Array(cp.utf8))
        try BundleEdit.reseal(forgedNote)
        let r1 = try runProcess("/bin/sh", [scriptPath], cwd: forgedNote)
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
        let single = blocks[4].components(separatedBy: "\n").map { line -> String in
            line.hasPrefix("sed -n '") ? "sed -n '\(k + 1)p' entries.jsonl | grep -o '\"token\":\"[^\"]*\"' | cut -d'\"' -f4 > \"$T/token.txt\"" : line
        }.joined(separator: "\n")
        let r3 = try runProcess("/bin/sh", ["-c", "set -eu\n" + single], cwd: forgedToken)
        #expect(r3.status != 0)
        #expect(r3.output.contains("Verification failure"), "\(r3.output)")
    }
}
