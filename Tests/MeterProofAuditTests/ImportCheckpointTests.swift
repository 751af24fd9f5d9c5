import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

/// An import checkpoints on a connection of its own; the WAL must stay bounded all the same, and
/// the data must reach the database file while the import runs.
@Suite struct ImportCheckpointTests {
    @Test func theWALStaysBoundedAndTheDatabaseFileGrowsDuringTheImport() throws {
        let bed = try ImportBed()
        // 600 distinct lines sharing one token (after the first, nonce_replayed): no signing cost.
        let token = try ImportFixture.token("wal-bound")
        let lines = (0..<600).map { i in
            ImportFixture.bound(token, nonce: "wal-bound", capturedAt: ImportFixture.time(ImportFixture.base + Int64(i)))
        }
        let file = try bed.scratch.write("wal.jsonl", ImportFixture.file(lines))
        let path = bed.trailPath
        @Sendable func size(_ p: String) -> Int64 { FileSystem.size(p).map(Int64.init) ?? 0 }
        let startSize = size(path)
        let seen = Mutex<(maxWAL: Int64, maxDB: Int64, batches: Int)>((0, 0, 0))
        var importer = CaptureImporter(trailPath: path, keyring: TrailFixture.keyring, policy: .offline, jobs: 1, batchSize: 10)
        importer.walLimitFrames = 1
        let waits = Mutex(0)
        importer.onCheckpointWait = { waits.withLock { $0 += 1 } }
        let summary = try importer.run(files: [file], progress: { _ in
            let wal = size(path + "-wal"), db = size(path)
            seen.withLock { s in
                s.maxWAL = max(s.maxWAL, wal)
                s.maxDB = max(s.maxDB, db)
                s.batches += 1
            }
        })
        #expect(summary.recorded == 600)
        #expect(summary.accepted == 1)
        let s = seen.withLock { $0 }
        #expect(s.batches == 60)
        // With a 1-frame limit the writer lets a pass complete before most batches (passes that
        // finish between batches restart the WAL too, so its size alone cannot tell).
        #expect(waits.withLock { $0 } >= 10, "the writer waited for \(waits.withLock { $0 }) checkpoint passes")
        // 60 commits of ~8 frames: about 2 MB of WAL if it never started over.
        #expect(s.maxWAL > 0 && s.maxWAL < 400 << 10, "largest WAL \(s.maxWAL) bytes")
        // Checkpoints ran during the import: the database file grew before the end.
        #expect(s.maxDB > startSize + (200 << 10), "database file \(startSize) -> \(s.maxDB) bytes during the import")
        // The last pass copied everything: the main file alone (read without its WAL) holds it all.
        let mainFileOnly = try SQLiteDatabase(path: path, mode: .immutable)
        #expect(try TrailRaw.int(mainFileOnly, "SELECT count(*) FROM entries") == 600)
        #expect(try bed.trail().verify().intact)
    }
}
