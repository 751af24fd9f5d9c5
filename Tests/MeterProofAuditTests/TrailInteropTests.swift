import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// The CLI's exports checked by an independent Python implementation of RFC 6962, C2SP signed
/// notes, checkpoints and tlog-proof (Tests/interop/check_trail.py: hashlib, base64 and
/// cryptography's Ed25519 only).
@Suite(.enabled(if: TrailTools.python != nil, "python3 with the cryptography package is not installed"))
struct TrailInteropTests {
    /// A trail made and exported through the CLI: 3 real verifications (one a replay), 18
    /// synthetic entries, a checkpoint at 21, 3 more entries; the JSONL log, the checkpoint and
    /// a proof for entry 5 (and one for entry 0) as files.
    struct Export {
        let scratch: TrailScratch
        let vkey: String
        let trail: AuditTrail
        let size: UInt64
        let checkpointSize: UInt64
    }

    static func export() throws -> Export {
        let s = try TrailScratch("interop")
        let db = s.path("trail.sqlite")
        let initRun = try TrailRun.cli(["audit", "init", "--origin", "interop.test/log", "--db", db, "--signing-key", s.path("log.key")])
        #expect(initRun.status == 0, "\(initRun.stderr)")
        let vkey = try #require(initRun.stdout.split(separator: "\n").last.map(String.init))
        let response = try s.write("r.json", TrailFixture.response(nonce: "interop-1"))
        for expected: Int32 in [0, 1] {
            #expect(try TrailRun.cli(TrailFixture.verifyArgs(nonce: "interop-1", db: db, input: response)).status == expected)
        }
        let other = try s.write("r2.json", TrailFixture.response(nonce: "interop-2"))
        #expect(try TrailRun.cli(TrailFixture.verifyArgs(nonce: "interop-2", db: db, input: other)).status == 0)
        let trail = try AuditTrail(path: db)
        try TrailFixture.fill(trail, count: 18, tag: "interop")
        let cp = try TrailRun.cli(["audit", "checkpoint", "--db", db, "--signing-key", s.path("log.key")])
        #expect(cp.status == 0, "\(cp.stderr)")
        try s.write("checkpoint", cp.stdout)
        try TrailFixture.fill(trail, count: 3, tag: "late")

        let log = try TrailRun.cli(["audit", "log", "--db", db, "--format", "jsonl"])
        #expect(log.status == 0)
        try s.write("log.jsonl", log.stdout)
        for seq in [0, 5] {
            let proof = try TrailRun.cli(["audit", "prove", "--db", db, "--seq", String(seq)])
            #expect(proof.status == 0, "\(proof.stderr)")
            try s.write("p\(seq).tlog-proof", proof.stdout)
        }
        return Export(scratch: s, vkey: vkey, trail: trail, size: 24, checkpointSize: 21)
    }

    func check(_ x: Export, log: String = "log.jsonl", vkey: String? = nil, checkpoint: String? = "checkpoint",
               proof: String? = "p5.tlog-proof") throws -> TrailProcessResult {
        let py = try #require(TrailTools.python)
        var args = [TrailPaths.checkTrailScript, x.scratch.path(log), vkey ?? x.vkey]
        if let checkpoint { args += ["--checkpoint", x.scratch.path(checkpoint)] }
        if let proof { args += ["--proof", x.scratch.path(proof)] }
        return try TrailRun.program(py, args)
    }

    @Test func pythonRecomputesTheRootAndVerifiesTheCheckpointAndProofs() throws {
        let x = try Self.export()
        #expect(try x.trail.size() == x.size)
        let root = try x.trail.root(size: x.size).base64
        let r = try check(x)
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.stdout == "entries 24\nroot \(root)\ncheckpoint OK interop.test/log 21\nproof OK index 5 size 21\n")
        let first = try check(x, checkpoint: nil, proof: "p0.tlog-proof")
        #expect(first.stdout == "entries 24\nroot \(root)\nproof OK index 0 size 21\n", "\(first.stdout) \(first.stderr)")
        // The exported lines are exactly the stored bodies.
        let lines = String(decoding: try x.scratch.read("log.jsonl"), as: UTF8.self).split(separator: "\n").map { Array($0.utf8) }
        #expect(try lines == (0..<x.size).map { try x.trail.entryBytes($0) })
    }

    @Test func pythonFailsOnATamperedLineSignatureOrKey() throws {
        let x = try Self.export()
        let log = String(decoding: try x.scratch.read("log.jsonl"), as: UTF8.self)
        var lines = log.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

        // One byte of the proved entry: the inclusion proof (and the checkpoint root) break.
        let original5 = lines[5]
        lines[5] = original5.replacingFirst(#""seq":5,"#, with: #""seq":6,"#)
        #expect(lines[5] != original5)
        try x.scratch.write("entry5.jsonl", lines.joined(separator: "\n"))
        let proof = try check(x, log: "entry5.jsonl", checkpoint: nil)
        #expect(proof.status == 1)
        #expect(proof.stdout.hasSuffix("FAIL: the inclusion proof does not lead to the checkpoint's root\n"), "\(proof.stdout)")
        let cp = try check(x, log: "entry5.jsonl", proof: nil)
        #expect(cp.status == 1)
        #expect(cp.stdout.hasSuffix("FAIL: the root of the first 21 entries does not match the checkpoint\n"), "\(cp.stdout)")

        // One byte of an entry the checkpoint covers but the proof does not use directly.
        lines[5] = original5
        lines[17] = lines[17].replacingFirst("synthetic entry", with: "synthetic entrY")
        try x.scratch.write("entry17.jsonl", lines.joined(separator: "\n"))
        let other = try check(x, log: "entry17.jsonl")
        #expect(other.status == 1)
        #expect(other.stdout.hasSuffix("FAIL: the root of the first 21 entries does not match the checkpoint\n"), "\(other.stdout)")

        // A dropped line.
        lines = log.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.remove(at: 2)
        try x.scratch.write("dropped.jsonl", lines.joined(separator: "\n"))
        let dropped = try check(x, log: "dropped.jsonl", proof: nil)
        #expect(dropped.status == 1 && dropped.stdout.hasPrefix("entries 23\n") && dropped.stdout.contains("FAIL: "), "\(dropped.stdout)")

        // A checkpoint whose size was edited no longer verifies.
        let note = String(decoding: try x.scratch.read("checkpoint"), as: UTF8.self)
        try x.scratch.write("forged", note.replacingFirst("\n21\n", with: "\n20\n"))
        let forged = try check(x, checkpoint: "forged", proof: nil)
        #expect(forged.status == 1)
        #expect(forged.stdout.hasSuffix("FAIL: the signature by interop.test/log does not verify\n"), "\(forged.stdout)")

        // Another log key: nothing is signed by it.
        let stranger = try TrailFixture.signer("interop.test/log").verifier.vkey
        let wrongKey = try check(x, vkey: stranger, proof: nil)
        #expect(wrongKey.status == 1 && wrongKey.stdout.contains("FAIL: the note is not signed by interop.test/log+"), "\(wrongKey.stdout)")
        // A vkey whose key ID does not match its key.
        let parts = x.vkey.split(separator: "+", maxSplits: 2).map(String.init)
        let badID = parts[0] + "+" + (parts[1] == "00000000" ? "00000001" : "00000000") + "+" + parts[2]
        let id = try check(x, vkey: badID, checkpoint: nil, proof: nil)
        #expect(id.status == 1 && id.stdout.contains("FAIL: the vkey's key ID"), "\(id.stdout)")
    }
}
