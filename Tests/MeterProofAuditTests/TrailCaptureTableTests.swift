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

    /// An accepted import entry's line, rejected this time (another keyring, a stricter
    /// policy): the same product code and nonce, read untrusted from the same token.
    static func rejectedAgain(_ seq: Int, nonce: String, hash: [UInt8]) -> AuditTrail.Pending {
        var e = TrailFixture.entry(seq)
        e.reason = ReasonCode.unknownKeyVersion.rawValue
        e.nonce = nonce
        return .init(entry: e, captureHash: hash)
    }

    @Test func anAcceptedLineIsFoundThroughItsNonceNotACaptureRow() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let raw = try TrailRaw.open(s.path("trail.sqlite"))
        let line = SHA256.hash("accepted line")
        let accepted = AuditTrail.Pending(entry: TrailFixture.entry(0, nonce: "n-1"), captureHash: line)
        guard case .recorded(let first) = try trail.append([accepted])[0] else { Issue.record("not recorded"); return }
        #expect(first.isAccepted && first.captureHash == Hex.encode(line))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures") == 0)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces") == 1)

        // The same line again, accepted or rejected this time, in a later append: a duplicate of entry 0.
        let again = try trail.append([accepted, Self.rejectedAgain(1, nonce: "n-1", hash: line)])
        guard case .duplicate(let a) = again[0], case .duplicate(let b) = again[1] else { Issue.record("unexpected \(again)"); return }
        #expect(a == 0 && b == 0)

        // Another line with the same nonce is a replay, recorded with its captures row; then a duplicate itself.
        let other = SHA256.hash("another line, same token")
        let replay = AuditTrail.Pending(entry: TrailFixture.entry(1, nonce: "n-1"), captureHash: other)
        guard case .recorded(let r) = try trail.append([replay])[0] else { Issue.record("replay not recorded"); return }
        #expect(r.seq == 1 && r.reason == "nonce_replayed" && r.captureHash == Hex.encode(other))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures WHERE seq = 1") == 1)
        guard case .duplicate(let c) = try trail.append([replay])[0] else { Issue.record("replay recorded twice"); return }
        #expect(c == 1)
        #expect(try trail.size() == 2)
        #expect(try trail.verify().intact)
    }

    @Test func aLineRejectedBeforeStaysADuplicateWhenItWouldNowBeAccepted() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let line = SHA256.hash("line rejected first")
        _ = try trail.append([Self.rejectedAgain(0, nonce: "n-2", hash: line)])
        let out = try trail.append([.init(entry: TrailFixture.entry(1, nonce: "n-2"), captureHash: line)])
        guard case .duplicate(let seq) = out[0] else { Issue.record("unexpected \(out)"); return }
        #expect(seq == 0)
        let raw = try TrailRaw.open(s.path("trail.sqlite"))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces") == 0) // the nonce was not consumed
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures") == 1)
        #expect(try trail.verify().intact)
    }

    @Test func anAcceptedEntryWithoutANonceKeepsItsCaptureRow() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        var e = TrailFixture.entry(0, nonce: "n-4")
        e.nonce = nil  // accepted under --allow-missing-nonce: nothing in the nonce table leads to it
        let line = SHA256.hash("accepted line without a nonce")
        _ = try trail.append([.init(entry: e, captureHash: line)])
        let raw = try TrailRaw.open(s.path("trail.sqlite"))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures WHERE seq = 0") == 1)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces") == 0)
        guard case .duplicate(let seq) = try trail.append([.init(entry: e, captureHash: line)])[0] else { Issue.record("recorded twice"); return }
        #expect(seq == 0)
        #expect(try trail.verify().intact)
        try TrailRaw.tamper(s.path("trail.sqlite")) { db in try db.execute("DELETE FROM captures") }
        let v = try AuditTrail(path: s.path("trail.sqlite"), readOnly: true).verify()
        #expect(v.problemCode == "capture_table_mismatch" && v.firstBadSeq == 0)
    }

    @Test func aPlaceholderTheTrailNoLongerHoldsIsRefusedNotRecorded() throws {
        // An import's pre-check found the line; the append must find it too, or the file changed.
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        _ = try trail.append([.init(entry: TrailFixture.entry(0))])
        var placeholder = AuditTrail.Pending(entry: TrailFixture.entry(1), captureHash: SHA256.hash("gone"))
        placeholder.knownDuplicate = true
        #expect(errorCode { _ = try trail.append([.init(entry: TrailFixture.entry(2)), placeholder]) } == "inconsistent_checkpoint")
        #expect(try trail.size() == 1)
    }
}
