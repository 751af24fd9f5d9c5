import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// The captures table decides what a later import skips as a duplicate; audit verify ties it to
/// the hashed entries.
@Suite("Trail captures table")
struct TrailCaptureTableTests {
    func trailWithImports(_ s: TrailScratch) throws -> String {
        let (trail, _) = try TrailFixture.makeTrail(s)
        for i in 0..<6 {
            let hash = SHA256.hash("capture line \(i)")
            let origin = CaptureOrigin(file: "c.jsonl", line: i + 1, hash: Hex.encode(hash), capturedAt: nil)
            _ = try trail.append([.init(entry: AuditEntry(rejected: .malformedInput, message: "line \(i)", source: .import, capture: origin), captureHash: hash)])
        }
        #expect(try trail.verify().intact)
        return s.path("trail.sqlite")
    }

    @Test func aForgedCaptureRowIsCaught() throws {
        let s = try TrailScratch()
        let path = try trailWithImports(s)
        // Pretend a line that was never imported already was: a later import would skip it.
        try TrailRaw.tamper(path) { db in
            let st = try db.prepare("INSERT INTO captures(hash, seq) VALUES (?, 2)")
            try st.bind(SHA256.hash("a genuine capture not yet imported"), at: 1)
            try st.run()
        }
        let v = try AuditTrail(path: path, readOnly: true).verify()
        #expect(v.problemCode == "capture_table_mismatch")
        #expect(v.firstBadSeq == nil)
    }

    @Test func aMovedCaptureRowIsCaughtAtItsEntry() throws {
        let s = try TrailScratch()
        let path = try trailWithImports(s)
        try TrailRaw.tamper(path) { db in
            let st = try db.prepare("UPDATE captures SET seq = 5 WHERE seq = 3")
            try st.run()
        }
        let v = try AuditTrail(path: path, readOnly: true).verify()
        #expect(v.problemCode == "capture_table_mismatch")
        #expect(v.firstBadSeq == 3)
    }

    @Test func theEntryRecordsTheHashItIsDeduplicatedBy() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let hash = SHA256.hash("line")
        let out = try trail.append([.init(entry: TrailFixture.entry(0), captureHash: hash), .init(entry: TrailFixture.entry(1), captureHash: hash)])
        guard case .recorded(let e) = out[0], case .duplicate(let seq) = out[1] else { Issue.record("unexpected \(out)"); return }
        #expect(e.captureHash == Hex.encode(hash))
        #expect(seq == 0)
        #expect(try trail.verify().intact)
    }
}
