import Foundation
import MeterProof
import Synchronization
import Testing
@testable import MeterProofAudit

/// An import checkpoints on a connection of its own; the WAL must stay bounded all the same, and
/// the data must reach the database file while the import runs.
/// A count shared with a callback.
final class Counter: Sendable {
    let value = Mutex(0)
}

@Suite struct ImportCheckpointTests {
    /// A trail, a file of `count` distinct lines sharing one token (after the first,
    /// nonce_replayed: no signing cost), and an importer with a 1-byte WAL limit whose waits
    /// for a complete checkpoint pass are counted.
    static func setUp(_ tag: String, count: Int, jobs: Int, batchSize: Int) throws -> (ImportBed, String, CaptureImporter, Counter) {
        let bed = try ImportBed()
        let token = try ImportFixture.token(tag)
        let lines = (0..<count).map { i in
            ImportFixture.bound(token, nonce: tag, capturedAt: ImportFixture.time(ImportFixture.base + Int64(i)))
        }
        let file = try bed.scratch.write(tag + ".jsonl", ImportFixture.file(lines))
        var importer = CaptureImporter(trailPath: bed.trailPath, keyring: TrailFixture.keyring, policy: .offline, jobs: jobs, batchSize: batchSize)
        importer.checkpoints.walLimitBytes = 1
        // A background pass after every batch, so the WAL size they report is current.
        importer.checkpoints.linesPerPass = batchSize
        let waits = Counter()
        importer.checkpoints.onWait = { waits.value.withLock { $0 += 1 } }
        return (bed, file, importer, waits)
    }

    @Test func theWALStaysBoundedAndTheDatabaseFileGrowsDuringTheImport() throws {
        let (bed, file, importer, waits) = try Self.setUp("wal-bound", count: 600, jobs: 1, batchSize: 10)
        let path = bed.trailPath
        @Sendable func size(_ p: String) -> Int64 { FileSystem.size(p).map(Int64.init) ?? 0 }
        let startSize = size(path)
        let seen = Mutex<(maxWAL: Int64, maxDB: Int64, batches: Int)>((0, 0, 0))
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
        // With a 1-byte limit the writer lets a pass complete before most batches (passes that
        // finish between batches restart the WAL too, so its size alone cannot tell).
        #expect(waits.value.withLock { $0 } >= 10, "the writer waited for \(waits.value.withLock { $0 }) checkpoint passes")
        // 60 commits of ~8 frames: about 480 frames of WAL if it never started over. The file
        // keeps its high-water mark, and on a loaded machine passes can fall a dozen batches
        // behind (101 frames once, in a full parallel test run), so the bound is half of that.
        let pageSize = try TrailRaw.open(path).pragmaInt("page_size")
        #expect(s.maxWAL > 0 && s.maxWAL < 240 * pageSize, "largest WAL \(s.maxWAL) bytes (\(s.maxWAL / pageSize) pages)")
        // Checkpoints ran during the import: the database file grew before the end.
        #expect(s.maxDB > startSize + (200 << 10), "database file \(startSize) -> \(s.maxDB) bytes during the import")
        // The last pass copied everything: the main file alone (read without its WAL) holds it all.
        let mainFileOnly = try SQLiteDatabase(path: path, mode: .immutable)
        #expect(try TrailRaw.int(mainFileOnly, "SELECT count(*) FROM entries") == 600)
        #expect(try bed.trail().verify().intact)
    }

    /// Background passes start once `linesPerPass` lines were committed since the last one, not
    /// after each batch (with a WAL limit the test never reaches, so no pass is forced).
    @Test(arguments: [1, 3, 5])
    func backgroundPassesStartEveryFewBatches(batchesPerPass: Int) throws {
        let (bed, file, configured, waits) = try Self.setUp("wal-every-\(batchesPerPass)", count: 300, jobs: 1, batchSize: 10)
        var importer = configured
        importer.checkpoints.walLimitBytes = 1 << 50
        importer.checkpoints.linesPerPass = 10 * batchesPerPass
        let passes = Counter()
        importer.checkpoints.onPass = { passes.value.withLock { $0 += 1 } }
        let summary = try importer.run(files: [file])
        #expect(summary.recorded == 300)
        #expect(waits.value.withLock { $0 } == 0)
        // 30 batches: one request per `batchesPerPass` of them; a request made while a pass
        // runs is folded into one more pass after it, so never more passes than requests.
        let requests = 30 / batchesPerPass
        let n = passes.value.withLock { $0 }
        #expect(n >= 1 && n <= requests, "\(n) passes for \(requests) requests")
        // The final pass in finish() copied everything all the same.
        let mainFileOnly = try SQLiteDatabase(path: bed.trailPath, mode: .immutable)
        #expect(try TrailRaw.int(mainFileOnly, "SELECT count(*) FROM entries") == 300)
        #expect(try bed.trail().verify().intact)
    }

    /// Batches larger than `linesPerPass` get a pass after each one, as before.
    @Test func largeBatchesGetAPassEach() throws {
        let (bed, file, configured, _) = try Self.setUp("wal-large", count: 300, jobs: 1, batchSize: 50)
        var importer = configured
        importer.checkpoints.walLimitBytes = 1 << 50
        importer.checkpoints.linesPerPass = 20
        let passes = Counter()
        importer.checkpoints.onPass = { passes.value.withLock { $0 += 1 } }
        #expect(try importer.run(files: [file]).recorded == 300)
        // 6 batches, each a request; requests made while a pass runs fold into one more pass
        // after it, so at least 2 whatever the timing.
        let n = passes.value.withLock { $0 }
        #expect(n >= 2 && n <= 6, "\(n) passes for 6 batches")
        #expect(try bed.trail().verify().intact)
    }

    /// When the background passes fail, the writer's own connection checkpoints again (SQLite's
    /// default of 1000 frames) and the import completes as if nothing happened.
    @Test func failingBackgroundPassesHandCheckpointsBackToTheWriter() throws {
        let (bed, file, configured, waits) = try Self.setUp("wal-fail", count: 6000, jobs: 2, batchSize: 50)
        var importer = configured
        importer.checkpoints.failPasses = true
        let path = bed.trailPath
        let maxWAL = Mutex<Int>(0)
        let summary = try importer.run(files: [file], progress: { _ in
            let wal = FileSystem.size(path + "-wal") ?? 0
            maxWAL.withLock { $0 = max($0, wal) }
        })
        #expect(summary.recorded == 6000 && summary.accepted == 1 && summary.treeSize == 6000)
        #expect(waits.value.withLock { $0 } == 0) // the failed pass switched the background ones off
        // Over 25 MB of WAL if nothing checkpointed (120 commits, each rewriting the scattered
        // pages of the replays' capture hashes); the writer's own checkpoints (SQLite's default,
        // every 1000 frames) keep it near 1000 pages.
        let pageSize = Int(try TrailRaw.open(path).pragmaInt("page_size"))
        #expect(maxWAL.withLock { $0 } < (1000 + 100) * pageSize, "largest WAL \(maxWAL.withLock { $0 }) bytes")
        #expect(try bed.trail().verify().intact)
    }
}
