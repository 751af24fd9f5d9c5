import Dispatch
import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

/// `audit verify` first runs a parallel pass over chunks (perfect subtrees of 4096 entries) and
/// falls back to the sequential pass only when something does not hold. These trails span many
/// chunks, so every check of the parallel pass is exercised: each tamper must be caught, and
/// both passes must agree on the verdict. Small chunks (16 entries) put many chunk boundaries
/// and stored levels folded across chunks (8, 12) on a small trail; one trail uses the real size.
@Suite struct TrailParallelScanTests {
    struct Shape: Sendable, CustomStringConvertible {
        let chunkLevel: Int
        let size: Int
        /// Checkpoints: a chunk boundary, inside a chunk, a larger power of two, and one before
        /// the end (so later entries are protected by the stored subtree hashes alone).
        let checkpoints: [Int]
        var chunk: Int { 1 << chunkLevel }
        var description: String { "chunks of \(chunk), \(size) entries" }
    }

    static let shapes = [
        Shape(chunkLevel: 4, size: 700, checkpoints: [16, 100, 256, 600]),
        Shape(chunkLevel: 12, size: 9000, checkpoints: [4096, 5000, 8192, 8500]),
    ]

    /// A trail built once per shape (every third entry accepted with a nonce, every fifth with
    /// a capture hash), copied for each case.
    final class Template {
        let shape: Shape
        let dir: TrailScratch
        let notes: [Int: SignedNote]

        init(_ shape: Shape) throws {
            self.shape = shape
            let s = try TrailScratch("parallel-template")
            let (trail, signer) = try TrailFixture.makeTrail(s)
            var notes: [Int: SignedNote] = [:]
            var done = 0
            for stop in shape.checkpoints + [shape.size] {
                while done < stop {
                    let n = min(1000, stop - done)
                    _ = try trail.append((done..<(done + n)).map { i in
                        AuditTrail.Pending(entry: TrailFixture.entry(i, nonce: i % 3 == 0 ? "p-\(i)" : nil),
                                           captureHash: i % 5 == 0 ? SHA256.hash("capture line \(i)") : nil)
                    })
                    done += n
                }
                if stop < shape.size { notes[stop] = try trail.signCheckpoint(with: signer) }
            }
            dir = s
            self.notes = notes
        }

        /// A fresh copy of the trail; `tamper` runs on it with the triggers dropped.
        func copy(_ tamper: ((SQLiteDatabase) throws -> Void)? = nil) throws -> (TrailScratch, String) {
            let s = try TrailScratch("parallel")
            try FileManager.default.copyItem(atPath: dir.path("trail.sqlite"), toPath: s.path("trail.sqlite"))
            if let tamper { try TrailRaw.tamper(s.path("trail.sqlite"), tamper) }
            return (s, s.path("trail.sqlite"))
        }

        /// The parallel and the sequential verdicts.
        func verdicts(_ path: String, against: SignedNote? = nil) throws -> (fast: TrailVerification, sequential: TrailVerification) {
            let trail = try AuditTrail(path: path, readOnly: true)
            return (try trail.verify(against: against, logKey: nil, batchSize: 4096, sequentialOnly: false, chunkLevel: shape.chunkLevel),
                    try trail.verify(against: against, logKey: nil, batchSize: 4096, sequentialOnly: true))
        }

        func expectTampered(_ code: String, seq: Int?, sourceLocation: SourceLocation = #_sourceLocation,
                            _ tamper: @escaping (SQLiteDatabase) throws -> Void) throws {
            let (scratch, path) = try copy(tamper)
            defer { withExtendedLifetime(scratch) {} }
            let (fast, sequential) = try verdicts(path)
            #expect(!fast.intact, "\(shape): the parallel pass missed \(code)", sourceLocation: sourceLocation)
            #expect(fast.problemCode == code && fast.firstBadSeq == seq.map(UInt64.init),
                    "\(shape): \(fast.problemCode ?? "") \(fast.problem ?? "")", sourceLocation: sourceLocation)
            #expect(sequential.problemCode == fast.problemCode && sequential.firstBadSeq == fast.firstBadSeq
                    && sequential.problem == fast.problem, "\(shape)", sourceLocation: sourceLocation)
        }
    }

    static func edit(_ db: SQLiteDatabase, _ seq: Int, rebuild: Bool = false) throws {
        let body = String(decoding: try TrailRaw.body(db, Int64(seq)), as: UTF8.self)
        #expect(body.contains("\"synthetic entry \(seq)\""), "pick a rejected entry: \(seq)")
        let edited = body.replacingOccurrences(of: "\"synthetic entry \(seq)\"", with: "\"synthetic entry \(seq)!\"")
        try TrailRaw.setBody(db, Int64(seq), Array(edited.utf8), rehash: true)
        if rebuild { try TrailRaw.rebuildTree(db) }
    }

    @Test(arguments: shapes)
    func anIntactTrailVerifiesAlikeInBothPasses(_ shape: Shape) throws {
        let t = try Template(shape)
        let (scratch, path) = try t.copy()
        defer { withExtendedLifetime(scratch) {} }
        for against in [nil, t.notes[shape.checkpoints[0]], t.notes[shape.checkpoints[1]]] {
            let (fast, sequential) = try t.verdicts(path, against: against)
            #expect(fast.intact, "\(fast.problemCode ?? ""): \(fast.problem ?? "")")
            #expect(fast.entries == UInt64(shape.size) && fast.checkpointsVerified == shape.checkpoints.count)
            #expect(sequential.intact && fast.root == sequential.root && fast.entries == sequential.entries
                    && fast.checkpointsVerified == sequential.checkpointsVerified)
        }
    }

    @Test func aTrailBeingAppendedToMeanwhileStillVerifies() throws {
        // `audit verify` reads one snapshot throughout (its final count checks included), and the
        // parallel workers' connections may see a later one than the verifying connection; the entries
        // below the verified size never change, and the tables are read on the verifying
        // connection's snapshot, so appends racing with a verification never fail it.
        let s = try TrailScratch("parallel-live")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        _ = try trail.append((0..<600).map { i in
            AuditTrail.Pending(entry: TrailFixture.entry(i, nonce: i % 3 == 0 ? "live-\(i)" : nil),
                               captureHash: i % 5 == 0 ? SHA256.hash("live line \(i)") : nil)
        })
        _ = try trail.signCheckpoint(with: signer)
        let path = s.path("trail.sqlite")
        let done = DispatchSemaphore(value: 0)
        let appended = Mutex(0)
        DispatchQueue.global().async {
            defer { done.signal() }
            guard let writer = try? AuditTrail(path: path) else { return }
            for b in 0..<40 {
                let items = (0..<25).map { k -> AuditTrail.Pending in
                    let i = 1000 + b * 25 + k
                    return AuditTrail.Pending(entry: TrailFixture.entry(i, nonce: i % 2 == 0 ? "live-\(i)" : nil),
                                              captureHash: i % 7 == 0 ? SHA256.hash("live line \(i)") : nil)
                }
                if (try? writer.append(items)) != nil { appended.withLock { $0 += items.count } }
            }
        }
        let reader = try AuditTrail(path: path, readOnly: true)
        var verified = 0
        repeat {
            // Both passes, in turn: each reads one snapshot throughout.
            let v = try reader.verify(against: nil, logKey: nil, batchSize: 64, sequentialOnly: verified % 2 == 1, chunkLevel: 4)
            #expect(v.intact, "\(v.problemCode ?? ""): \(v.problem ?? "")")
            #expect(v.entries >= 600)
            verified += 1
        } while appended.withLock({ $0 }) < 1000 && verified < 200
        done.wait()
        #expect(appended.withLock { $0 } == 1000)
        let final = try reader.verify(against: nil, logKey: nil, batchSize: 4096, sequentialOnly: false, chunkLevel: 4)
        #expect(final.intact && final.entries == 1600)
    }

    @Test(arguments: shapes)
    func everyTamperIsCaughtByTheParallelPassAndNamedAlike(_ shape: Shape) throws {
        let t = try Template(shape)
        let c = shape.chunk
        // An edit with its leaf hash recomputed after the newest checkpoint: only the stored
        // subtree hashes tell, the smallest one holding it (16 entries) is named.
        let after = shape.checkpoints.last! + 53
        let e = after % 3 == 0 ? after + 2 : after
        try t.expectTampered("node_mismatch", seq: e / 16 * 16) { db in try Self.edit(db, e) }
        // Before it, the checkpoints tell as well; the stored tree names the place first.
        let before = (2 * c + 5) % 3 == 0 ? 2 * c + 7 : 2 * c + 5
        try t.expectTampered("node_mismatch", seq: before / 16 * 16) { db in try Self.edit(db, before) }
        // A stored subtree above the chunk level, checked where the chunks are folded.
        let foldLevel = shape.chunkLevel + 4
        if shape.size >= 1 << foldLevel {
            try t.expectTampered("node_mismatch", seq: 0) { db in
                try db.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = \(foldLevel) AND idx = 0")
                #expect(db.changes == 1)
            }
        }
        // The tree rebuilt after an edit between the first two checkpoints (inside a chunk).
        let inside = shape.checkpoints[0] + 4
        try t.expectTampered("checkpoint_root_mismatch", seq: shape.checkpoints[0]) { db in try Self.edit(db, inside, rebuild: true) }
        // A row deleted at a chunk boundary.
        try t.expectTampered("missing_entry", seq: 2 * c) { db in try db.execute("DELETE FROM entries WHERE seq = \(2 * c)") }
        // Nonces: deleted (frees it for a replay), pointed elsewhere, renamed, and an extra row.
        let n = (shape.size / 2) / 3 * 3
        try t.expectTampered("nonce_table_mismatch", seq: n) { db in try db.execute("DELETE FROM nonces WHERE nonce = 'p-\(n)'") }
        try t.expectTampered("nonce_table_mismatch", seq: n) { db in try db.execute("UPDATE nonces SET seq = \(n + 3) WHERE nonce = 'p-\(n)'") }
        let last = (shape.size - 1) / 3 * 3
        try t.expectTampered("nonce_table_mismatch", seq: last) { db in try db.execute("UPDATE nonces SET nonce = 'p-x' WHERE nonce = 'p-\(last)'") }
        try t.expectTampered("nonce_table_mismatch", seq: nil) { db in
            try db.execute("INSERT INTO nonces(product_code, nonce, seq) VALUES ('prod-trail', 'never-used', 3)")
        }
        // The same bytes as another storage class (found by a review): the appender's text lookup
        // no longer finds the row, so the nonce is free for a replay, but the bytes read alike.
        try t.expectTampered("nonce_table_mismatch", seq: n) { db in
            try db.execute("UPDATE nonces SET product_code = CAST(product_code AS BLOB) WHERE nonce = 'p-\(n)'")
            #expect(db.changes == 1)
        }
        try t.expectTampered("nonce_table_mismatch", seq: n) { db in try db.execute("UPDATE nonces SET nonce = CAST(nonce AS BLOB) WHERE nonce = 'p-\(n)'") }
        try t.expectTampered("nonce_table_mismatch", seq: n) { db in try db.execute("UPDATE nonces SET seq = \(n) + 0.5 WHERE nonce = 'p-\(n)'") }
        // Capture hashes: moved to the next entry, and deleted (an entry without a nonce: one
        // with a nonce has no captures row).
        var k = (shape.size / 3) / 5 * 5
        if k % 3 == 0 { k += 5 }
        try t.expectTampered("capture_table_mismatch", seq: k) { db in try db.execute("UPDATE captures SET seq = seq + 1 WHERE seq = \(k)") }
        try t.expectTampered("capture_table_mismatch", seq: k) { db in try db.execute("DELETE FROM captures WHERE seq = \(k)") }
        try t.expectTampered("capture_table_mismatch", seq: k) { db in
            try db.execute("UPDATE captures SET hash = CAST(hash AS TEXT) WHERE seq = \(k)")
            #expect(db.changes == 1)
        }
        try t.expectTampered("capture_table_mismatch", seq: k) { db in try db.execute("UPDATE captures SET seq = \(k) + 0.5 WHERE seq = \(k)") }
        // A row for an entry that consumed a nonce, even with its true hash, is one the trail never writes.
        let j = (shape.size / 2) / 15 * 15
        try t.expectTampered("capture_table_mismatch", seq: nil) { db in
            let st = try db.prepare("INSERT INTO captures(hash, seq) VALUES (?, \(j))")
            try st.bind(SHA256.hash("capture line \(j)"), at: 1)
            try st.run()
        }
    }
}
