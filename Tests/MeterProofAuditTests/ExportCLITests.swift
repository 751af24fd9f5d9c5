import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// The `meterproof` binary built beside the tests, if any.
enum CLIBinary {
    static let path: String? = {
        var candidates: [String] = []
        if let arg0 = CommandLine.arguments.first {
            var url = URL(fileURLWithPath: arg0).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(url.appendingPathComponent("meterproof").path)
                url.deleteLastPathComponent()
            }
        }
        candidates.append(RepoFiles.root + "/.build/debug/meterproof")
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()
}

/// Exit codes and messages of `meterproof export` and `meterproof export verify`.
@Suite(.enabled(if: CLIBinary.path != nil, "the meterproof binary is not built"))
struct ExportCLITests {
    func run(_ args: [String], cwd: String? = nil) throws -> (status: Int32, output: String) {
        try runProcess(CLIBinary.path!, args, cwd: cwd)
    }

    @Test func exportAndVerifyThroughTheCLI() throws {
        let f = try ExportFixture.get()
        let parent = try makeTempDir()
        let out = parent + "/bundle"
        let e = try run(["export", "--db", f.db, "--out", out, "--outcome", "rejected"])
        #expect(e.status == 0, "\(e.output)")
        #expect(e.output.hasPrefix("exported "))
        #expect(e.output.contains("left out: \(f.newer) \(f.newer == 1 ? "entry" : "entries") recorded after the checkpoint"), "\(e.output)")
        let v = try run(["export", "verify", out])
        #expect(v.status == 0, "\(v.output)")
        #expect(v.output.contains("sound: "))
        // A selection says that it proves membership, not completeness.
        #expect(v.output.contains("; a selection, ") && v.output.contains(" inclusion proofs verified (membership only: that no other matching entry exists is not proven); "), "\(v.output)")
        #expect(v.output.contains("meterproof: note: the checkpoint was checked under the bundle's own log-key.vkey"))
        // This bundle holds only rejected entries: no token was checked, so no note on keys/.
        #expect(!v.output.contains("note: the tokens were checked"))
        #expect(!e.output.contains("test_key"))
        let full = parent + "/full"
        let fe = try run(["export", "--db", f.db, "--out", full])
        #expect(fe.status == 0)
        // The export says so too, and so do VERIFY.md and the independent checker.
        #expect(fe.output.hasSuffix("meterproof: warning: test_key: the bundle's keys/v1.pem, keys/v2.pem are MeterProof's published TEST keys (keys/test): tokens accepted under them prove nothing about AWS\n"), "\(fe.output)")
        let md = try String(contentsOfFile: full + "/VERIFY.md", encoding: .utf8)
        // It opens the file, right under the title, each file named with its own key's SHA-256
        // (the two used to be listed sorted, v1 beside v2's fingerprint).
        #expect(md.hasPrefix("# Verifying this MeterProof export bundle\n\n**Warning: test keys.** `keys/v1.pem` (SHA-256 `a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d`), `keys/v2.pem` (SHA-256 `0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85`) are MeterProof's published TEST keys (`keys/test` in its source). Their private halves are public"), "\(md.prefix(1500))")
        let rejectedMD = try String(contentsOfFile: out + "/VERIFY.md", encoding: .utf8)
        #expect(!rejectedMD.contains("**Warning: test keys.**"))
        if Tools.python != nil {
            let py = try ExportInteropTests.pythonCheck(full)
            let acceptedCount = try f.matching(EntryFilter(outcome: "accepted")).count
            #expect(py.status == 0 && py.output.hasSuffix("\nWARNING: \(acceptedCount) accepted entries were verified under MeterProof's published TEST keys (keys/test): anyone can sign tokens they accept, so they prove nothing about AWS\n"), "\(py.output)")
        }
        let fv = try run(["export", "verify", full])
        #expect(fv.status == 0 && fv.output.contains("meterproof: note: the tokens were checked under the bundle's own keys/ (the keys the operator's trail recorded); compare their fingerprints with AWS's keys out of band, or pass --keys\n"), "\(fv.output)")
        // Every accepted entry of the fixture was verified under a test key, and is said to prove nothing.
        let accepted = try #require(try f.matching(EntryFilter(outcome: "accepted")).count as Int?)
        #expect(accepted > 0 && fv.output.contains("meterproof: warning: test_key: \(accepted) accepted entries were verified under MeterProof's published TEST keys (keys/test): anyone can sign tokens they accept, so they prove nothing about AWS\n"), "\(fv.output)")
        // The selection of rejected entries only has none to warn about.
        #expect(!v.output.contains("test_key"))
        #expect(!(try run(["export", "verify", full, "--keys", RepoFiles.testKeys])).output.contains("note: the tokens"))
        let vkeyFile = parent + "/log.vkey"
        try (f.signer.verifier.vkey + "\n").write(toFile: vkeyFile, atomically: true, encoding: .utf8)
        let withKey = try run(["export", "verify", out, "--log-key", vkeyFile, "--keys", RepoFiles.testKeys, "--format", "json"])
        #expect(withKey.status == 0, "\(withKey.output)")
        let rejectedCount = try f.matching(EntryFilter(outcome: "rejected")).count
        #expect(withKey.output.hasPrefix(#"{"sound":true,"problem":null,"message":null,"entries":\#(rejectedCount),"accepted":0,"rejected":\#(rejectedCount),"proofsVerified":\#(rejectedCount),"tokensVerified":0,"#), "\(withKey.output)")
        #expect(withKey.output.hasSuffix(#","origin":"\#(f.signer.verifier.name)","logKey":"\#(f.signer.verifier.vkey)","bundledLogKey":false,"testKeyAccepted":0}"# + "\n"), "\(withKey.output)")
        #expect(!withKey.output.contains("note:"))
        // A failed check is an object too, with the problem's code and the same exit code as text.
        let changed = parent + "/changed"
        #expect(try runProcess("/bin/cp", ["-R", out, changed]).status == 0)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: changed + "/entries.csv")
        let h = try #require(FileHandle(forWritingAtPath: changed + "/entries.csv"))
        h.seekToEndOfFile(); h.write(Data("x".utf8)); try h.close()
        let failed = try run(["export", "verify", changed, "--log-key", vkeyFile, "--format", "json"])
        #expect(failed.status == 1 && failed.output.hasPrefix(#"{"sound":false,"problem":"hash_mismatch","message":"entries.csv does not match its SHA-256 in SHA256SUMS"#), "\(failed.output)")
        let fast = try run(["export", "verify", out, "--no-token-check"])
        #expect(fast.status == 0 && fast.output.contains("token re-verification skipped"))
        // The bundle directory may be reached through a symbolic link; a link as --out is
        // refused (the rename into place would replace the link), as is a dangling one.
        #expect(symlink("bundle", parent + "/latest") == 0 && symlink("empty", parent + "/to-empty") == 0 && symlink("nowhere", parent + "/dangling") == 0)
        try FileManager.default.createDirectory(atPath: parent + "/empty", withIntermediateDirectories: false)
        let viaLink = try run(["export", "verify", parent + "/latest"])
        #expect(viaLink.status == 0 && viaLink.output.contains("sound: "), "\(viaLink.output)")
        let toLink = try run(["export", "--db", f.db, "--out", parent + "/to-empty"])
        #expect(toLink.status == 2 && toLink.output == "meterproof: bundle_exists: \(parent)/to-empty is a symbolic link; give the directory it points to, or a new name\n", "\(toLink.output)")
        let dangling = try run(["export", "verify", parent + "/dangling"])
        #expect(dangling.status == 2 && dangling.output.contains("not_a_bundle"), "\(dangling.output)")

        // Refusals: non-empty target (2), tampered bundle (1), missing bundle (2), bad key (2).
        let again = try run(["export", "--db", f.db, "--out", out])
        #expect(again.status == 2)
        #expect(again.output.hasPrefix("meterproof: bundle_exists: "))
        var csv = try BundleEdit.read(out, "entries.csv")
        csv[10] ^= 0x01
        try BundleEdit.write(out, "entries.csv", csv)
        let bad = try run(["export", "verify", out])
        #expect(bad.status == 1)
        #expect(bad.output.contains("FAILED: hash_mismatch: entries.csv"))
        let missing = try run(["export", "verify", parent + "/nope"])
        #expect(missing.status == 2 && missing.output.contains("not_a_bundle"))
        #expect(try run(["export", "verify", out, "--log-key", "not a key"]).status == 2)
        #expect(try run(["export", "verify", out, "--keys", parent + "/nope"]).status == 2)
    }

    @Test func aCheckpointOfTheLargestSizeIsReportedNotTrapped() throws {
        // A forger's bundle: a checkpoint of size 2^64 - 1 under their own log key, SHA256SUMS
        // rewritten. The JSON report carries the size as written and names the mismatch.
        let f = try ExportFixture.get()
        let (dir, _) = try f.export()
        let forger = try NoteSigner.generate(name: "export.test/log")
        let note = try Checkpoint(origin: "export.test/log", size: UInt64.max, root: RFC6962.emptyRoot).signed(with: [forger])
        try BundleEdit.write(dir, "checkpoint", Array(note.serialized.utf8))
        try BundleEdit.write(dir, "log-key.vkey", Array((forger.verifier.vkey + "\n").utf8))
        try BundleEdit.reseal(dir)
        let r = try run(["export", "verify", dir, "--format", "json"])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains(#""treeSize":18446744073709551615"#), "\(r.output)")
        #expect(r.output.contains(#""problem":"manifest_mismatch""#), "\(r.output)")
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full"), "no /dev/full here"))
    func outputThatCannotBeWrittenIsAnErrorNotASuccess() throws {
        // Before, a full disk behind a redirect gave exit 0 and an empty checkpoint file.
        let f = try ExportFixture.get()
        let db = try f.copyTrail()
        let key = try makeTempDir("fullkey") + "/log.key"
        try LogKeyFile.write(f.signer, to: key)
        let bin = CLIBinary.path!
        // The signer record is started first, so the signing below adds no note to the output.
        #expect(try runProcess(bin, ["audit", "checkpoint", "--db", db, "--signing-key", key]).status == 0)
        for args in [["audit", "checkpoint", "--db", db, "--signing-key", key], ["audit", "log", "--db", db, "--format", "jsonl"],
                     ["keys", "list", "--keys", RepoFiles.testKeys]] {
            let r = try runProcess("/bin/sh", ["-c", "\"$0\" \"$@\" > /dev/full", bin] + args)
            #expect(r.status == 5, "\(args): \(r.output)")
            #expect(r.output == "meterproof: disk_full: cannot write standard output: No space left on device (whatever the command recorded before this output is kept)\n", "\(args)")
        }
        // Help, usage and version text (written by ArgumentParser through stdio) too.
        for args in [["--help"], ["--version"], ["help", "audit", "import"], ["export", "--help"]] {
            let r = try runProcess("/bin/sh", ["-c", "\"$0\" \"$@\" > /dev/full", bin] + args)
            #expect(r.status == 5, "\(args): \(r.output)")
            #expect(r.output == "meterproof: disk_full: cannot write standard output: No space left on device\n", "\(args)")
        }
        let help = try runProcess(bin, ["--help"])
        #expect(help.status == 0 && help.output.contains("USAGE: meterproof <subcommand>"), "\(help.output)")
    }

    @Test func aNonBlockingStdoutPipeIsWaitedOnNotAnError() throws {
        // Some parents hand over a pipe in non-blocking mode: a full pipe is EAGAIN, not a failure.
        let f = try ExportFixture.get()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIBinary.path!)
        p.arguments = ["audit", "log", "--db", f.db, "--format", "jsonl"]
        let out = Pipe()
        let w = out.fileHandleForWriting.fileDescriptor
        #expect(fcntl(w, F_SETFL, fcntl(w, F_GETFL) | O_NONBLOCK) == 0)
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        try out.fileHandleForWriting.close()
        usleep(300_000)  // let the child fill the pipe and meet EAGAIN
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(data.count > 1 << 16)
        #expect(data.filter { $0 == 0x0A }.count == Int(f.checkpointSize + f.newer))
    }

    @Test func invocationAndTrailErrors() throws {
        let dir = try makeTempDir()
        let noOut = try run(["export", "--db", dir + "/x.sqlite"])                        // no --out
        #expect(noOut.status == 64 && noOut.output.contains("Usage: meterproof export") && noOut.output.contains("Give --out DIR"), "\(noOut.output)")
        #expect(try run(["export", "verify"]).status == 64)                                 // no DIR
        #expect(try run(["export", "--out", dir + "/b", "--since", "yesterday"]).status == 64)
        // A window that selects nothing (swapped or equal bounds) is a bad invocation, for export
        // and audit log as for report.
        for cmd in [["export", "--out", dir + "/b"], ["audit", "log"]] {
            for (since, until) in [("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"), ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")] {
                let r = try run(cmd + ["--since", since, "--until", until])
                #expect(r.status == 64 && r.output.contains("--since must be earlier than --until."), "\(cmd) \(r.output)")
            }
        }
        #expect(try run(["export", "--out", dir + "/b", "--outcome", "maybe"]).status == 64)
        let notTrail = try run(["export", "--db", dir + "/x.sqlite", "--out", dir + "/b"])
        #expect(notTrail.status == 3 && notTrail.output.contains("not_a_trail"))
        let initRun = try run(["audit", "init"], cwd: dir)
        #expect(initRun.status == 0)
        let noCP = try run(["export", "--out", dir + "/b"], cwd: dir)
        #expect(noCP.status == 2 && noCP.output.contains("no_checkpoint"))
        let signed = try run(["export", "--out", dir + "/b", "--signing-key", "meterproof-log.key"], cwd: dir)
        #expect(signed.status == 0, "\(signed.output)")
        #expect(try run(["export", "verify", "b"], cwd: dir).status == 0)
        let parentMissing = try run(["export", "--out", dir + "/no/b"], cwd: dir)
        #expect(parentMissing.status == 2 && parentMissing.output.contains("bad_output"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/no"))
    }
}
