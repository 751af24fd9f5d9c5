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
        #expect(plain.stdout.hasPrefix("sound: 1 entries"))

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
