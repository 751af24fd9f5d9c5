import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// A writer killed with SIGKILL at a random moment leaves a trail that verifies and holds every
/// entry the writer saw committed. The writer is `meterproof-bench trail-writer`, which prints
/// `committed <seq>` after each `AuditTrail.record` returns.
@Suite struct TrailCrashTests {
    static let rounds = 25

    /// The seqs of the complete `committed <seq>` lines in `output`.
    static func committed(_ output: String) -> [UInt64] {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()  // empty after a final newline, or a partial line
        return lines.compactMap { line in
            guard line.hasPrefix("committed ") else {
                Issue.record("unexpected writer output: \(line)")
                return nil
            }
            return UInt64(line.dropFirst("committed ".count))
        }
    }

    @Test func theWriterRecordsWhatItPrints() throws {
        let bench = try #require(TrailPaths.bench, "the meterproof-bench executable was not found next to the tests")
        let s = try TrailScratch("writer")
        _ = try TrailFixture.makeTrail(s)
        let r = try TrailRun.program(bench, ["trail-writer", "--db", s.path("trail.sqlite"), "--count", "6"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.committed(r.stdout) == [0, 1, 2, 3, 4, 5])
        let trail = try AuditTrail(path: s.path("trail.sqlite"))
        #expect(try (0..<6).map { try trail.entry($0).isAccepted } == [true, false, true, false, true, false])
        #expect(try trail.verify().intact)
        // A missing --db is a usage error, and a non-trail is refused.
        #expect(try TrailRun.program(bench, ["trail-writer"]).status == 64)
        #expect(try TrailRun.program(bench, ["trail-writer", "--db", s.path("absent.sqlite")]).status == 5)
    }

    @Test func killedWritersLeaveAVerifiableTrailWithEveryCommittedEntry() throws {
        let bench = try #require(TrailPaths.bench, "the meterproof-bench executable was not found next to the tests")
        let s = try TrailScratch("crash")
        let (_, signer) = try TrailFixture.makeTrail(s)
        let path = s.path("trail.sqlite")
        var size: UInt64 = 0
        var total = 0
        var killedWhileWriting = 0
        for round in 0..<Self.rounds {
            let child = try TrailRun.start(bench, ["trail-writer", "--db", path])
            usleep(UInt32.random(in: 5_000...150_000))
            #expect(kill(child.pid, SIGKILL) == 0)
            let r = try child.finish()
            #expect(child.process.terminationReason == .uncaughtSignal && r.status == SIGKILL,
                    "round \(round): the writer ended on its own: \(r.status) \(r.stderr)")
            let seqs = Self.committed(r.stdout)

            // Reopen the same trail, as the next process would.
            let trail = try AuditTrail(path: path)
            let v = try trail.verify()
            #expect(v.intact, "round \(round): \(v.problemCode ?? "") at \(v.firstBadSeq.map(String.init) ?? "-"): \(v.problem ?? "")")
            let now = try trail.size()
            #expect(now >= size, "round \(round): the trail shrank from \(size) to \(now)")
            // Every printed seq is there, in order from where the trail stood, and is this writer's.
            #expect(seqs == Array(size..<(size + UInt64(seqs.count))), "round \(round): \(seqs)")
            #expect(size + UInt64(seqs.count) <= now, "round \(round): printed up to \(seqs.last ?? 0), trail has \(now)")
            for seq in seqs {
                let e = try trail.entry(seq)
                let mark = e.nonce ?? e.message ?? ""
                #expect(mark.hasPrefix("writer-\(child.pid)-"), "round \(round): entry \(seq) is \(mark)")
            }
            // At most the one entry in flight at the kill is recorded without having been printed.
            #expect(now - size - UInt64(seqs.count) <= 1, "round \(round)")
            if !seqs.isEmpty { killedWhileWriting += 1 }
            total += seqs.count
            size = now
        }
        print("TrailCrashTests: \(Self.rounds) kills, \(killedWhileWriting) while appending, \(total) entries printed as committed, trail size \(size)")
        #expect(total > 0, "no writer committed anything before being killed")

        // The trail stays usable: sign, prove, verify.
        let trail = try AuditTrail(path: path)
        let note = try trail.signCheckpoint(with: signer)
        if size > 0 {
            let proof = try trail.inclusionProof(seq: size - 1, checkpoint: note)
            #expect(try proof.verify(leafHash: RFC6962.leafHash(trail.entryBytes(size - 1)), verifiers: [trail.verifier]).size == size)
        }
        let v = try trail.verify()
        #expect(v.intact && v.entries == size && v.checkpointsVerified == 1)
    }
}
