import Foundation
import Testing
import Synchronization
@testable import MeterProof
@testable import MeterProofAudit

/// Schema 1 kept a `captures` row for every imported line; schema 2 keeps none for an accepted
/// line that consumed a nonce (its nonce row leads to it). Old trails are read as they are and
/// migrated the first time they are opened for writing.
@Suite("Trail schema 1 to 2")
struct TrailSchemaMigrationTests {
    /// An import of the mixed file, turned into the file schema 1 would have written: a captures
    /// row for each accepted line too, and `user_version` 1. Returns the seqs of those rows.
    /// (`bed.trail()` opens for writing, which would migrate it: tests read it read-only.)
    @discardableResult
    static func version1Trail(_ bed: ImportBed) throws -> [UInt64] {
        try bed.run("mixed.jsonl", lines: ImportIdempotenceTests.mixedLines())
        let accepted = try bed.entries().filter { $0.isAccepted && $0.nonce != nil }
        #expect(accepted.count == 16)
        let db = try TrailRaw.open(bed.trailPath)
        try db.setTriggersEnabled(false)
        try db.transaction(.immediate) {
            let st = try db.prepare("INSERT INTO captures(hash, seq) VALUES (?, ?)")
            for e in accepted {
                try st.bind(Hex.decode(e.captureHash ?? "") ?? [], at: 1)
                try st.bind(Int64(e.seq), at: 2)
                try st.run()
                st.reset()
            }
            try db.execute("PRAGMA user_version=1")
        }
        return accepted.map(\.seq)
    }

    @Test func aVersion1TrailVerifiesUnderItsOwnRuleWithoutBeingChanged() throws {
        let bed = try ImportBed()
        try Self.version1Trail(bed)
        let before = try Data(contentsOf: URL(fileURLWithPath: bed.trailPath))
        let v = try AuditTrail(path: bed.trailPath, readOnly: true).verify()
        #expect(v.intact, "\(v.problemCode ?? "") \(v.problem ?? "")")
        #expect(v.entries == 36)
        let raw = try TrailRaw.open(bed.trailPath)
        #expect(try raw.pragmaInt("user_version") == 1)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures") == 36)
        #expect(try Data(contentsOf: URL(fileURLWithPath: bed.trailPath)) == before)
    }

    @Test func aVersion1TrailMissingAnAcceptedLinesRowIsCaught() throws {
        let bed = try ImportBed()
        let seq = try Self.version1Trail(bed)[3]
        let db = try TrailRaw.open(bed.trailPath)
        try db.setTriggersEnabled(false)
        try db.execute("DELETE FROM captures WHERE seq = \(seq)")
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM captures") == 35)
        #expect(try db.pragmaInt("user_version") == 1)
        let trail = try AuditTrail(path: bed.trailPath, readOnly: true)
        for v in [try trail.verify(), try trail.verify(against: nil, logKey: nil, batchSize: 64, sequentialOnly: true)] {
            #expect(v.problemCode == "capture_table_mismatch" && v.firstBadSeq == seq, "\(v.problemCode ?? "") \(v.problem ?? "")")
        }
    }

    @Test func openingForWritingMigratesAndKeepsEveryLineADuplicate() throws {
        let bed = try ImportBed()
        let redundant = try Self.version1Trail(bed).count
        let root = try AuditTrail(path: bed.trailPath, readOnly: true).root(size: 36)

        // The import's writer opens the trail for writing: the file becomes schema 2 first.
        let again = try bed.run(files: [bed.scratch.path("mixed.jsonl")], batchSize: 7)
        #expect(again.recorded == 0 && again.duplicates == 36)
        let raw = try TrailRaw.open(bed.trailPath)
        #expect(try raw.pragmaInt("user_version") == AuditTrail.schemaVersion)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures") == Int64(36 - redundant))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures WHERE seq IN (SELECT seq FROM nonces)") == 0)
        let trail = try bed.trail()
        #expect(try trail.root(size: 36) == root)
        #expect(try trail.verify().intact)
        // The guard triggers are still in the file and still refuse edits on other connections.
        #expect(throws: SQLiteError.self) { try raw.execute("DELETE FROM captures") }
        let note = try raw.prepare("SELECT value FROM meta WHERE name = 'migrated_to_schema_2'")
        #expect(try note.step() && note.string(at: 0)?.hasSuffix("; 16 captures rows of accepted entries removed") == true)
    }

    @Test func aForgedRowSurvivesTheMigrationAndIsStillReported() throws {
        let bed = try ImportBed()
        let accepted = try Self.version1Trail(bed)
        // A row claiming a line no entry recorded, pointing at an accepted entry (an import would
        // skip that line as a duplicate). The migration must not tidy it away.
        let db = try TrailRaw.open(bed.trailPath)
        try db.setTriggersEnabled(false)
        let st = try db.prepare("INSERT INTO captures(hash, seq) VALUES (?, ?)")
        try st.bind(SHA256.hash("a line never imported"), at: 1)
        try st.bind(Int64(accepted[5]), at: 2)
        try st.run()
        #expect(try AuditTrail(path: bed.trailPath, readOnly: true).verify().problemCode == "capture_table_mismatch")
        let trail = try bed.trail()  // opens for writing: migrates
        #expect(try db.pragmaInt("user_version") == 2)
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM captures WHERE seq IN (SELECT seq FROM nonces)") == 1)
        #expect(try trail.verify().problemCode == "capture_table_mismatch")
    }

    @Test func aFileThatIsNotAWholeTrailIsNotMigrated() throws {
        let bed = try ImportBed()
        try Self.version1Trail(bed)
        let db = try TrailRaw.open(bed.trailPath)
        try db.setTriggersEnabled(false)
        try db.execute("DELETE FROM meta WHERE name = 'vkey'")
        #expect(errorCode { _ = try AuditTrail(path: bed.trailPath) } == "not_a_trail")
        #expect(try db.pragmaInt("user_version") == 1)
        #expect(try TrailRaw.int(db, "SELECT count(*) FROM captures") == 36)
    }

    @Test func twoWritersOpeningAVersion1TrailAtOnceMigrateItOnce() throws {
        let bed = try ImportBed()
        try Self.version1Trail(bed)
        let path = bed.trailPath
        let errors = Mutex<[String]>([])
        let group = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                do { _ = try AuditTrail(path: path) } catch { errors.withLock { $0.append("\(error)") } }
            }
        }
        group.wait()
        #expect(errors.withLock { $0 } == [])
        let raw = try TrailRaw.open(path)
        #expect(try raw.pragmaInt("user_version") == 2)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM meta WHERE name = 'migrated_to_schema_2'") == 1)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM captures") == 20)
        #expect(try AuditTrail(path: path, readOnly: true).verify().intact)
    }
}
