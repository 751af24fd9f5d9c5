import Foundation
import Testing
import MeterProof

/// A small trail made through the CLI only: `audit init`, then one `verify --db` per entry
/// (each records its attempt with `recordedAt` = the wall clock, in milliseconds).
struct CLITrail {
    let scratch: Scratch
    /// The log's verifier key, the last line `audit init` printed.
    let vkey: String
    var db: String { scratch.path("trail.sqlite") }
    var key: String { scratch.path("log.key") }

    init(entries: Int) throws {
        let scratch = try Scratch()
        self.scratch = scratch
        let db = scratch.path("trail.sqlite")
        let initRun = try Run.cli(["audit", "init", "--db", db, "--signing-key", scratch.path("log.key"), "--origin", "example.com/cli-test"])
        try #require(initRun.status == 0, "audit init: \(initRun.stderr)")
        vkey = String(initRun.stdout.split(separator: "\n").last ?? "")
        let input = try scratch.file("r.json", try CLIFixture.response(nonce: nil))
        for _ in 0..<entries {
            let r = try Run.cli(CLIFixture.verifyArgs(input, nonce: nil) + ["--db", db])
            try #require(r.status == 0, "verify --db: \(r.stderr)")
        }
    }

    /// Signs a checkpoint and writes a full bundle; returns its directory.
    func bundle() throws -> String {
        let cp = try Run.cli(["audit", "checkpoint", "--db", db, "--signing-key", key])
        try #require(cp.status == 0, "audit checkpoint: \(cp.stderr)")
        let out = scratch.path("bundle")
        let e = try Run.cli(["export", "--db", db, "--out", out])
        try #require(e.status == 0, "export: \(e.stderr)")
        return out
    }

    /// `(seq, recordedAt)` of every entry, from `audit log --format jsonl`.
    func entries() throws -> [(seq: Int64, recordedAt: String)] {
        let r = try Run.cli(["audit", "log", "--db", db, "--format", "jsonl"])
        try #require(r.status == 0, "audit log: \(r.stderr)")
        return try r.stdout.split(separator: "\n").map { line in
            let o = try #require(try StrictJSON.parse(Array(line.utf8)).objectValue)
            return (try #require(o["seq"]?.intValue), try #require(o["recordedAt"]?.stringValue))
        }
    }
}

@Suite("meterproof export verify: the options of export")
struct ExportVerifyParentOptionTests {
    static let usage = "Usage: meterproof export verify <directory> [--keys <keys>] [--log-key <log-key>] [--no-token-check] [--format <format>]"

    @Test("options of export given with export verify are refused (exit 64), each named, before or after verify")
    func refused() throws {
        let trail = try CLITrail(entries: 1)
        let bundle = try trail.bundle()
        // The bundle is sound: what is refused is the invocation, not the bundle.
        let plain = try Run.cli(["export", "verify", bundle])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stdout.hasPrefix("sound: 1 entry ("), "\(plain.stdout)")

        let mixed = try Run.cli(["export", "--out", "zz", "--product-code", "x", "--db", "/nonexist", "--since", "2026-01-01T00:00:00Z", "verify", bundle])
        #expect(mixed.status == 64)
        #expect(mixed.stdout == "")
        #expect(mixed.stderrLines.first == "Error: --db, --out, --since and --product-code are options of `meterproof export`, not of `export verify`, which checks the bundle as it was written; remove them.")
        #expect(mixed.stderr.contains(Self.usage))

        // Every option of export, also with its default value, and also after `verify`.
        for (args, name) in [(["--db", "meterproof.sqlite"], "--db"), (["--until", "2026-01-01T00:00:00Z"], "--until"),
                             (["--outcome", "all"], "--outcome"), (["--signing-key", trail.key], "--signing-key")] {
            for argv in [["export"] + args + ["verify", bundle], ["export", "verify", bundle] + args] {
                let r = try Run.cli(argv)
                #expect(r.status == 64, "\(argv): \(r.stdout)")
                #expect(r.stderrLines.first == "Error: \(name) is an option of `meterproof export`, not of `export verify`, which checks the bundle as it was written; remove it.", "\(argv)")
                #expect(r.stdout == "")
            }
        }
        // export verify's own options still work, and export's help still lists its options.
        let own = try Run.cli(["export", "verify", bundle, "--no-token-check", "--format", "json", "--log-key", trail.vkey])
        #expect(own.status == 0, "\(own.stderr)")
        #expect(own.stdout.contains("\"sound\":true"))
        let help = try Run.cli(["help", "export"])
        #expect(help.status == 0 && help.stdout.contains("--db <db>               Trail file. (default: meterproof.sqlite)"))
    }
}

@Suite("counts of one are singular")
struct SingularCountTests {
    /// Each count the export and export verify summaries print, at exactly one.
    @Test("export and export verify say 1 entry, 1 inclusion proof, 1 accepted token")
    func singular() throws {
        let trail = try CLITrail(entries: 2)
        let entries = try trail.entries()
        try #require(entries.count == 2 && entries[0].recordedAt < entries[1].recordedAt, "\(entries)")
        let cp = try Run.cli(["audit", "checkpoint", "--db", trail.db, "--signing-key", trail.key])
        try #require(cp.status == 0, "\(cp.stderr)")
        // A third entry after the checkpoint is left out; a selection of the first entry gets one proof.
        let input = try trail.scratch.file("r3.json", try CLIFixture.response(nonce: nil))
        let r = try Run.cli(CLIFixture.verifyArgs(input, nonce: nil) + ["--db", trail.db])
        try #require(r.status == 0, "\(r.stderr)")
        let out = trail.scratch.path("selection")
        let e = try Run.cli(["export", "--db", trail.db, "--out", out, "--until", entries[1].recordedAt])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.hasPrefix("exported 1 entry (1 accepted, 0 rejected) to "), "\(e.stdout)")
        #expect(e.stdout.contains("\n  selection: 1 inclusion proof in proofs/\n"), "\(e.stdout)")
        #expect(e.stdout.contains("\n  left out: 1 entry recorded after the checkpoint "), "\(e.stdout)")
        let ev = try Run.cli(["export", "verify", out])
        #expect(ev.status == 0, "\(ev.stderr)")
        #expect(ev.stdout.hasPrefix("sound: 1 entry (1 accepted, 0 rejected) "), "\(ev.stdout)")
        #expect(ev.stdout.contains("; a selection, 1 inclusion proof verified ("), "\(ev.stdout)")
        #expect(ev.stdout.contains("; 1 accepted token re-verified; "), "\(ev.stdout)")
    }

    @Test("audit verify of a one-entry trail says 1 entry")
    func oneEntryTrail() throws {
        let trail = try CLITrail(entries: 1)
        let v = try Run.cli(["audit", "verify", "--db", trail.db])
        #expect(v.status == 0 && v.stdout.hasPrefix("intact: 1 entry, "), "\(v.stdout)")
    }
}

@Suite("negative numbers as option values")
struct NegativeNumberOptionTests {
    static let keyVersionRule = "a key version is an integer from 1 to 2147483647, written without sign or leading zeros"
    /// `(arguments before the option, option, value, arguments after, the message of the range check)`.
    static let cases: [([String], String, String, [String], String)] = [
        (["verify", "--keys", "K", "--product-code", "p", "--allow-missing-nonce"], "--key-version", "-1", ["INPUT"],
         "Error: The value '-1' is invalid for '--key-version <key-version>': \(keyVersionRule)"),
        (["verify", "--keys", "K", "--product-code", "p", "--key-version", "1", "--allow-missing-nonce"], "--max-age", "-5", ["INPUT"],
         "Error: --max-age must be a positive number of seconds."),
        (["verify", "--keys", "K", "--product-code", "p", "--key-version", "1", "--allow-missing-nonce"], "--min-key-bits", "-2048", ["INPUT"],
         "Error: --min-key-bits must be between 512 and 8192."),
        (["inspect", "--keys", "K"], "--key-version", "-3", ["INPUT"], "Error: The value '-3' is invalid for '--key-version <key-version>': \(keyVersionRule)"),
        (["inspect", "--keys", "K"], "--min-key-bits", "-1", [], "Error: --min-key-bits must be between 512 and 8192."),
        (["simulate", "--signing-key", "K", "--product-code", "p"], "--key-version", "-1", [], "Error: The value '-1' is invalid for '--key-version <key-version>': \(keyVersionRule)"),
        (["simulate", "--signing-key", "K", "--product-code", "p", "--key-version", "1"], "--rotation-timestamp", "-5", [],
         "Error: --rotation-timestamp must be epoch seconds between 0 and 999999999999."),
        (["audit", "prove", "--db", "T"], "--seq", "-1", [], "Error: The value '-1' is invalid for '--seq <seq>'"),
        (["audit", "import", "--keys", "K"], "--max-age", "-5", ["captures.jsonl"], "Error: --max-age must be a positive number of seconds."),
        (["audit", "import", "--keys", "K"], "--jobs", "-1", ["captures.jsonl"], "Error: --jobs must be between 1 and 256."),
        (["audit", "import", "--keys", "K"], "--batch-size", "-1", ["captures.jsonl"], "Error: --batch-size must be between 1 and 100000."),
        (["report", "--out", "r.html"], "--max-rejected", "-1", [], "Error: --max-rejected must not be negative."),
    ]

    @Test("`--option -N` reaches the same range check and message as `--option=-N` (exit 64)", arguments: cases)
    func sameAsEquals(_ c: ([String], String, String, [String], String)) throws {
        let (before, option, value, after, message) = c
        let spaced = try Run.cli(before + [option, value] + after)
        let joined = try Run.cli(before + ["\(option)=\(value)"] + after)
        #expect(spaced.status == 64, "\(spaced.stderr)")
        #expect(spaced.stderrLines.first == message, "\(spaced.stderr)")
        #expect(!spaced.stderr.contains("Missing value"))
        #expect(spaced.stderr == joined.stderr)
        #expect(joined.status == 64)
        #expect(spaced.stdout == "")
    }

    @Test("a negative value that is valid is taken: simulate --issued-at -1 signs iat -1")
    func negativeAccepted() throws {
        let key = Paths.testKeys.appendingPathComponent("private/v1.key.pem").path
        let base = ["simulate", "--signing-key", key, "--product-code", CLIFixture.product, "--key-version", "1"]
        for args in [["--issued-at", "-1"], ["--issued-at=-1"]] {
            let r = try Run.cli(base + args)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            #expect(try SimulateCommandTests.payload(r.stdout)["iat"]?.intValue == -1, "\(args)")
        }
    }

    @Test("help and missing values behave as before")
    func helpAndMissingValue() throws {
        let help = try Run.cli(["audit", "prove", "--seq", "5", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: meterproof audit prove [--db <db>] --seq <seq> [--checkpoint <checkpoint>]"))
        let missing = try Run.cli(["audit", "prove"] + ["--seq"])
        #expect(missing.status == 64 && missing.stderrLines.first == "Error: Missing value for '--seq <seq>'", "\(missing.stderr)")
        // The next option is not swallowed silently: it is not a number.
        let swallowed = try Run.cli(["verify", "--keys", "K", "--product-code", "p", "--key-version", "1", "--allow-missing-nonce", "--max-age", "--no-freshness", "INPUT"])
        #expect(swallowed.status == 64 && swallowed.stderrLines.first == "Error: The value '--no-freshness' is invalid for '--max-age <max-age>'", "\(swallowed.stderr)")
    }
}

@Suite("--since and --until finer than the millisecond")
struct SubMillisecondBoundTests {
    /// `text` (a `recordedAt`, `…SS.mmmZ`) with a fourth fraction digit.
    static func withDigit(_ text: String, _ digit: Character) -> String { String(text.dropLast()) + String(digit) + "Z" }

    /// The seqs `audit log` selects with `args`.
    static func seqs(_ trail: CLITrail, _ args: [String]) throws -> [Int64] {
        let r = try Run.cli(["audit", "log", "--db", trail.db, "--format", "jsonl"] + args)
        try #require(r.status == 0, "\(args): \(r.stderr)")
        return try r.stdout.split(separator: "\n").map { try #require(try StrictJSON.parse(Array($0.utf8)).objectValue?["seq"]?.intValue) }
    }

    @Test("audit log compares a sub-millisecond bound exactly: --since inclusive, --until exclusive")
    func auditLog() throws {
        let trail = try CLITrail(entries: 3)
        let entries = try trail.entries()
        try #require(entries.count == 3)
        let times = try entries.map { (seq: $0.seq, ms: try #require(RFC3339.parseMilliseconds($0.recordedAt))) }
        for e in entries {
            let t = try #require(RFC3339.parseMilliseconds(e.recordedAt))
            let after = Self.withDigit(e.recordedAt, "1")  // 100 µs after the entry
            let equal = Self.withDigit(e.recordedAt, "0")  // the entry's own time, four digits
            #expect(try Self.seqs(trail, ["--since", after]) == times.filter { $0.ms > t }.map(\.seq), "--since \(after)")
            #expect(try Self.seqs(trail, ["--since", equal]) == times.filter { $0.ms >= t }.map(\.seq), "--since \(equal)")
            #expect(try Self.seqs(trail, ["--until", after]) == times.filter { $0.ms <= t }.map(\.seq), "--until \(after)")
            #expect(try Self.seqs(trail, ["--until", equal]) == times.filter { $0.ms < t }.map(\.seq), "--until \(equal)")
            // The entry itself: excluded by --since …1, included by --until …1.
            #expect(!(try Self.seqs(trail, ["--since", after])).contains(e.seq))
            #expect(try Self.seqs(trail, ["--until", after]).contains(e.seq))
        }

        // Windows that select nothing are refused, with the right reason.
        let t = entries[1].recordedAt
        let narrow = try Run.cli(["audit", "log", "--db", trail.db, "--since", Self.withDigit(t, "1"), "--until", Self.withDigit(t, "9")])
        #expect(narrow.status == 64)
        #expect(narrow.stderrLines.first == "Error: --since and --until enclose no whole millisecond, and entries are recorded in milliseconds: the window selects nothing.")
        let swapped = try Run.cli(["audit", "log", "--db", trail.db, "--since", Self.withDigit(t, "9"), "--until", Self.withDigit(t, "1")])
        #expect(swapped.status == 64 && swapped.stderrLines.first == "Error: --since must be earlier than --until.", "\(swapped.stderr)")
        // One whole millisecond apart is a window.
        let oneMs = try Run.cli(["audit", "log", "--db", trail.db, "--since", Self.withDigit(t, "0"), "--until", Self.withDigit(t, "1")])
        #expect(oneMs.status == 0, "\(oneMs.stderr)")
    }

    @Test("export and report parse the bounds the same way; the manifest records the rounded-up bound")
    func exportAndReport() throws {
        let trail = try CLITrail(entries: 3)
        _ = try trail.bundle()
        let entries = try trail.entries()
        let first = entries[0]
        let t = try #require(RFC3339.parseMilliseconds(first.recordedAt))
        let since = Self.withDigit(first.recordedAt, "1")
        let expected = try entries.filter { try #require(RFC3339.parseMilliseconds($0.recordedAt)) > t }.count

        let out = trail.scratch.path("since-bundle")
        let e = try Run.cli(["export", "--db", trail.db, "--out", out, "--since", since])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.hasPrefix("exported \(expected) \(expected == 1 ? "entry" : "entries") ("), "\(e.stdout)")
        let manifest = try #require(try StrictJSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json")))).objectValue)
        #expect(manifest["selection"]?.objectValue?["since"] == .string(RFC3339.format(milliseconds: t + 1)))
        let v = try Run.cli(["export", "verify", out])
        #expect(v.status == 0, "\(v.stdout) \(v.stderr)")

        let html = trail.scratch.path("r.html")
        let r = try Run.cli(["report", "--db", trail.db, "--out", html, "--since", since])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("wrote \(html): \(expected) selected \(expected == 1 ? "entry" : "entries") ("), "\(r.stdout)")
    }
}

@Suite("every error names its code")
struct ErrorCodeTests {
    /// One line, `meterproof: <code>: …`, exit 2.
    static func expectCoded(_ r: CLIRun, _ prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 2, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout == "", sourceLocation: sourceLocation)
        #expect(r.stderrLines.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix(prefix), "\(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test("an unreadable keyring: bad_input")
    func keyring() throws {
        let s = try Scratch()
        let missing = s.path("no-keys")
        let r = try Run.cli(["keys", "list", "--keys", missing])
        #expect(r.stderrLines == ["meterproof: bad_input: keyring \(missing): no such keyring directory or file"])
        Self.expectCoded(r, "meterproof: bad_input: keyring ")
        Self.expectCoded(try Run.cli(["inspect", "--keys", missing, "-"]), "meterproof: bad_input: keyring \(missing): ")
        Self.expectCoded(try Run.cli(["export", "verify", s.path("bundle"), "--keys", missing]), "meterproof: bad_input: keyring \(missing): ")
    }

    @Test("a --log-key that is neither a vkey nor a file holding one: bad_input")
    func logKey() throws {
        let s = try Scratch()
        for args in [["audit", "verify", "--db", s.path("t.sqlite"), "--log-key", "garbage"], ["export", "verify", s.path("bundle"), "--log-key", "garbage"]] {
            Self.expectCoded(try Run.cli(args), "meterproof: bad_input: --log-key is neither a vkey nor a file holding one: malformed_key: ")
        }
    }

    @Test("a checkpoint file that is not a signed note, or missing: bad_input")
    func checkpointFile() throws {
        let trail = try CLITrail(entries: 1)
        _ = try trail.bundle()
        for args in [["audit", "prove", "--db", trail.db, "--seq", "0", "--checkpoint", "/dev/null"],
                     ["audit", "consistency", "--db", trail.db, "--from", "/dev/null"],
                     ["audit", "verify", "--db", trail.db, "--against", "/dev/null"]] {
            Self.expectCoded(try Run.cli(args), "meterproof: bad_input: /dev/null is not a signed checkpoint: malformed_note: ")
        }
        let missing = trail.scratch.path("cp.txt")
        Self.expectCoded(try Run.cli(["audit", "prove", "--db", trail.db, "--seq", "0", "--checkpoint", missing]),
                         "meterproof: bad_input: cannot read \(missing): no such file")
    }

    @Test("an unreadable response or signing key: bad_input")
    func inputs() throws {
        let s = try Scratch()
        Self.expectCoded(try Run.cli(CLIFixture.verifyArgs(s.dir.path)), "meterproof: bad_input: cannot read \(s.dir.path): is a directory")
        Self.expectCoded(try Run.cli(["inspect", "--keys", Paths.testKeys.path, s.path("none.json")]), "meterproof: bad_input: cannot read \(s.path("none.json")): no such file")
        let notKey = Paths.testKeys.appendingPathComponent("v1.pem").path
        Self.expectCoded(try Run.cli(["simulate", "--signing-key", notKey, "--product-code", "p", "--key-version", "1"]), "meterproof: bad_input: \(notKey): ")
    }
}

@Suite("closed standard streams")
struct ClosedStreamTests {
    /// Runs the CLI under `/bin/sh` with `redirect` (e.g. `<&-`) applied.
    static func run(_ redirect: String, _ arguments: [String]) throws -> CLIRun {
        let bin = try #require(Paths.binary)
        return try Run.program("/bin/sh", ["-c", "exec \"$@\" \(redirect)", "sh", bin] + arguments)
    }

    @Test("with standard input closed, reading it is bad_input, not a keyring file read again as the input")
    func closedStdin() throws {
        // The keyring's keyring.json used to take descriptor 0 and stay open: the input was then
        // read from it (at its end) and rejected as empty, exit 1.
        let r = try Self.run("<&-", CLIFixture.verifyArgs(nil))
        #expect(r.status == 2 && r.stdout == "")
        #expect(r.stderr == "meterproof: bad_input: cannot read standard input: it is closed\n")
        let s = try Scratch()
        let imp = try Self.run("<&-", ["audit", "import", "--db", s.path("t.sqlite"), "--keys", Paths.testKeys.path, "-"])
        #expect(imp.status == 2 && imp.stderr == "meterproof: bad_input: cannot read standard input: it is closed\n")
        #expect(!FileManager.default.fileExists(atPath: s.path("t.sqlite")))
    }

    @Test("with standard output closed, no file the command writes takes its place, and the output still fails")
    func closedStdout() throws {
        let s = try Scratch()
        // audit init writes its key file and trail, then prints: the key file used to be able
        // to take descriptor 1 and receive that text.
        let r = try Self.run(">&-", ["audit", "init", "--db", s.path("t.sqlite"), "--signing-key", s.path("t.key")])
        #expect(r.status == 5)
        #expect(r.stderr.hasPrefix("meterproof: storage_error: cannot write standard output: Bad file descriptor"), "\(r.stderr)")
        let key = try String(contentsOfFile: s.path("t.key"), encoding: .utf8)
        #expect(key.hasPrefix("PRIVATE+KEY+meterproof.local/") && key.split(separator: "\n").count == 1, "\(key)")
        // Help and version text goes through stdio's buffer: its flush fails too, exit 5.
        for args in [["--version"], ["--help"], ["audit", "init", "--help"]] {
            let h = try Self.run(">&-", args)
            #expect(h.status == 5 && h.stderr.hasPrefix("meterproof: storage_error: cannot write standard output: Bad file descriptor"), "\(args): \(h.status) \(h.stderr)")
        }
    }
}

@Suite("docs/cli.md synopses")
struct SynopsisTests {
    /// Every synopsis in docs/cli.md: a code block's lines starting with `meterproof `, joined
    /// with their indented continuation lines (`[…`, `--…`, `<…`), whitespace collapsed.
    static func synopses() throws -> [String] {
        let doc = try String(contentsOf: Paths.root.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        var out: [String] = []
        var inBlock = false
        var current: String? = nil
        func finish() { if let c = current { out.append(c.split(separator: " ").joined(separator: " ")) }; current = nil }
        for line in doc.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { finish(); inBlock.toggle(); continue }
            guard inBlock else { continue }
            let trimmed = line.drop { $0 == " " }
            if line.hasPrefix("meterproof ") {
                finish()
                current = String(line)
            } else if current != nil, line.first == " ", let c = trimmed.first, "[-<".contains(c) {
                current! += " " + trimmed
            } else {
                finish()
            }
        }
        finish()
        return out
    }

    /// The USAGE lines of `meterproof help <path>`, and the options its OPTIONS section lists.
    static func help(_ path: [String]) throws -> (usages: [String], options: [String]) {
        let r = try Run.cli(["help"] + path)
        try #require(r.status == 0, "help \(path): \(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("USAGE: ") })
        var usages: [String] = []
        for line in lines[start...] {
            if line.isEmpty { break }
            usages.append(String(line.dropFirst(7)).split(separator: " ").joined(separator: " "))
        }
        var options: [String] = []
        if let o = lines.firstIndex(of: "OPTIONS:") {
            for line in lines[(o + 1)...] {
                if line.isEmpty { break }
                if let m = line.firstMatch(of: /^  (--[a-z-]+)/) { options.append(String(m.1)) }
            }
        }
        return (usages, options.filter { $0 != "--version" && $0 != "--help" })
    }

    @Test("every synopsis is the usage `meterproof help` prints, and every usage names every option")
    func synopsesMatchHelp() throws {
        let synopses = try Self.synopses()
        // Guard against the extractor silently finding nothing.
        #expect(synopses.count >= 16, "\(synopses)")
        #expect(synopses.contains { $0.hasPrefix("meterproof export verify <directory> ") && $0.contains("[--no-token-check] [--format <format>]") })
        for synopsis in synopses {
            let words = synopsis.split(separator: " ").dropFirst()
            let path = words.prefix { !"[-<".contains($0.first!) }.map(String.init)
            let help = try Self.help(path)
            #expect(help.usages.contains(synopsis), "docs/cli.md: \(synopsis)\nhelp \(path.joined(separator: " ")): \(help.usages)")
            for option in help.options {
                #expect(help.usages.contains { $0.contains("\(option) ") || $0.contains("\(option)]") }, "help \(path): \(option) is not in the usage")
            }
        }
    }
}

@Suite("docs/cli.md documents every command and option")
struct CLIReferenceTests {
    /// Every command path, found by walking the SUBCOMMANDS of each `--help`.
    static func commandPaths() throws -> [[String]] {
        var paths: [[String]] = []
        var queue: [[String]] = [[]]
        while let path = queue.first, paths.count < 100 {
            queue.removeFirst()
            let help = try Run.cli(path + ["--help"])
            #expect(help.status == 0, "\(path): \(help.stderr)")
            let subcommands = Self.section("SUBCOMMANDS", of: help.stdout).compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
                return String(name)
            }
            if subcommands.isEmpty { paths.append(path) }
            // A command with subcommands may also run on its own (`export DIR` beside `export verify`).
            else { if !help.stdout.contains("USAGE: meterproof \((path + ["<subcommand>"]).joined(separator: " "))") { paths.append(path) }
                   queue += subcommands.filter { $0 != "help" }.map { path + [$0] } }
        }
        return paths
    }

    /// The lines of a help section (`OPTIONS:`, `SUBCOMMANDS:`) up to its first blank line.
    static func section(_ name: String, of help: String) -> [Substring] {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: Substring(name + ":")) else { return [] }
        return Array(lines[(start + 1)...].prefix { !$0.isEmpty })
    }

    @Test("each command has its section, and each of its options appears there")
    func everyOptionDocumented() throws {
        let doc = try String(contentsOf: Paths.root.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        let paths = try Self.commandPaths()
        #expect(paths.count >= 15, "\(paths)")
        let sections = doc.components(separatedBy: "\n## ")
        for path in paths {
            // Its own section, or its parent's when that shows its usage (`export verify`).
            let command = "meterproof \(path.joined(separator: " "))"
            let title = "## `\(command)`", parentTitle = "## `meterproof \(path.dropLast().joined(separator: " "))`"
            guard let body = sections.first(where: { ("## " + $0).hasPrefix(title) })
                    ?? sections.first(where: { ("## " + $0).hasPrefix(parentTitle) && $0.contains("\n\(command) ") }) else {
                Issue.record("docs/cli.md has no section \(title)")
                continue
            }
            let help = try Run.cli(path + ["--help"]).stdout
            let options = Self.section("OPTIONS", of: help).compactMap { line -> String? in
                let trimmed = line.drop { $0 == " " }
                guard line.hasPrefix("  "), !line.hasPrefix("          ") else { return nil }
                let word = trimmed.hasPrefix("-h, ") ? trimmed.dropFirst(4) : trimmed
                guard word.hasPrefix("--"), let name = word.split(separator: " ").first else { return nil }
                return String(name)
            }
            #expect(!options.isEmpty, "\(path): no options parsed from its help")
            for option in options where option != "--help" && option != "--version" {
                // In its usage line or its table: the name followed by a space, backtick or bracket.
                let mentioned = [" ", "`", "]", "="].contains { body.contains(option + $0) }
                #expect(mentioned, "docs/cli.md \(title) does not mention \(option)")
            }
        }
    }
}

/// What an operations review found in container entrypoints: an unset variable as a file
/// name, a symbolic link or empty file where the trail should be, and the log key written to a
/// working directory that is not the trail's volume.
@Suite("file names in entrypoints")
struct EntrypointPathTests {
    @Test("an empty file name is a bad invocation (exit 64), wherever a file is named")
    func emptyFileNames() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(nonce: nil))
        let cases: [[String]] = [
            CLIFixture.verifyArgs(input, nonce: nil) + ["--db", ""],
            ["verify", "--keys", "", "--product-code", "p", "--key-version", "1", "--allow-missing-nonce", input],
            CLIFixture.verifyArgs("", nonce: nil),
            ["audit", "init", "--db", ""], ["audit", "init", "--db", s.path("t.sqlite"), "--signing-key", ""],
            ["audit", "import", "--keys", "k", ""], ["audit", "log", "--db", ""], ["audit", "verify", "--db", "x", "--against", ""],
            ["export", "--out", ""], ["export", "verify", ""], ["report", "--out", ""], ["inspect", "--keys", "k", ""],
        ]
        for args in cases {
            let r = try Run.cli(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.hasPrefix("Error: The value '' is invalid for '") && r.stderr.contains("': a file or directory name must not be empty (an unset shell variable?)\n"), "\(args): \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir.path) == ["r.json"])
    }

    @Test("a dangling symbolic link or an empty file at the trail path is named as such")
    func whatIsAtTheTrailPath() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(nonce: nil))
        try FileManager.default.createSymbolicLink(atPath: s.path("link.sqlite"), withDestinationPath: "gone.sqlite")
        let dangling = try Run.cli(CLIFixture.verifyArgs(input, nonce: nil) + ["--db", s.path("link.sqlite")])
        #expect(dangling.status == 3)
        #expect(dangling.stderr == "meterproof: not_a_trail: \(s.path("link.sqlite")) is a symbolic link to \"gone.sqlite\", which does not exist: no audit trail there\n")
        let empty = try s.file("empty.sqlite", "")
        let e = try Run.cli(["audit", "log", "--db", empty])
        #expect(e.status == 3)
        #expect(e.stderr == "meterproof: not_a_trail: \(empty) is an empty file, not a MeterProof audit trail (remove it, then create the trail with `meterproof audit init`)\n")
    }

    @Test("audit init puts the log key beside the trail, where import and checkpoint look for it")
    func logKeyBesideTheTrail() throws {
        let s = try Scratch()
        let cwd = try Scratch()
        #expect(mkdir(s.path("data"), 0o755) == 0)
        let db = s.path("data/meterproof.sqlite")
        let initRun = try Run.program(try #require(Paths.binary), ["audit", "init", "--db", db], cwd: cwd.dir.path)
        #expect(initRun.status == 0, "\(initRun.stderr)")
        #expect(initRun.stdout.hasPrefix("created \(db); log signer key written to \(s.path("data/meterproof-log.key")) (keep it secret)\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.dir.path).isEmpty)
        let cp = try Run.program(try #require(Paths.binary), ["audit", "checkpoint", "--db", db], cwd: cwd.dir.path)
        #expect(cp.status == 0 && cp.stdout.contains("\n0\n"), "\(cp.stderr)")
    }
}

@Suite("help for a command that does not exist")
struct HelpUnknownCommandTests {
    @Test("`help <typo>` is a bad invocation, not the top-level help with exit 0")
    func helpForAnUnknownCommand() throws {
        let typo = try Run.cli(["help", "verfy"])
        #expect(typo.status == 64)
        #expect(typo.stdout.isEmpty)
        #expect(typo.stderr == "Error: 'verfy' is not a meterproof command.\n  See 'meterproof --help' for the commands.\n")
        let nested = try Run.cli(["help", "audit", "imprt"])
        #expect(nested.status == 64)
        #expect(nested.stderr.hasPrefix("Error: 'imprt' is not a meterproof command under 'audit'."))
        for known in [["help"], ["help", "verify"], ["help", "audit", "import"], ["help", "export", "verify"]] {
            let r = try Run.cli(known)
            #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW: "), "\(known): \(r.stderr)")
        }
    }
}
