import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// A full disk fails the append with `disk_full` and leaves every committed entry intact.
@Suite("Trail on a full disk")
struct TrailDiskFullTests {
    static let canMount: Bool = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount")

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func aFullDiskFailsCleanly() throws {
        try Self.withSmallDisk("256k") { dir in try Self.appendUntilTheDiskIsFull(in: dir) }
    }

    /// Appends one entry per transaction until the disk is full; every committed entry must remain.
    static func appendUntilTheDiskIsFull(in dir: String) throws {
        let signer = try NoteSigner.generate(name: "full.test/log")
        let path = dir + "/t.sqlite"
        let trail = try AuditTrail.create(path: path, signer: signer)
        var committed: UInt64 = 0
        var failure: AuditError? = nil
        for i in 0..<5000 {
            do {
                var e = AuditEntry(rejected: .badSignature, message: String(repeating: "x", count: 400) + " \(i)", source: .live, capture: nil)
                e.productCode = "prod-full"
                _ = try trail.append([AuditTrail.Pending(entry: e)])
                committed += 1
            } catch {
                failure = error
                break
            }
        }
        let f = try #require(failure, "the 256 KiB disk never filled")
        #expect(f.code == .diskFull, "\(f)")
        #expect(committed > 10)
        // Nothing half-written: every committed entry is there and the trail verifies.
        let reader = try AuditTrail(path: path, readOnly: true)
        #expect(try reader.size() == committed)
        #expect(try reader.verify().intact)
    }

    /// Mounts a tmpfs of `size` at a fresh directory for `body`; returns without calling it
    /// (the reason printed) when mounting is not possible here.
    static func withSmallDisk(_ size: String, _ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mp-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mount = try TrailRun.program("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir])
        guard mount.status == 0 else {
            print("TrailDiskFullTests: skipping, tmpfs could not be mounted here: \(mount.stderr)")
            return
        }
        defer { _ = try? TrailRun.program("/bin/umount", [dir]) }
        try body(dir)
    }

    /// An import that runs out of space says what it committed before the failing batch, and
    /// a re-run after space is freed completes it without doubles.
    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func anImportOnAFullDiskSaysWhatItCommitted() throws {
        try Self.withSmallDisk("320k") { dir in
            let path = dir + "/t.sqlite"
            try AuditTrail.create(path: path, signer: NoteSigner.generate(name: "full.test/log"))
            let lines = try (0..<400).map { i in
                ImportFixture.bound(try ImportFixture.token("full-\(i)"), nonce: "full-\(i)", capturedAt: ImportFixture.time(ImportFixture.base + 60))
            }
            // The captures file lives off the small disk.
            let scratch = try TrailScratch("full-import")
            let captures = try scratch.write("c.jsonl", ImportFixture.file(lines))
            let importer = CaptureImporter(trailPath: path, keyring: TrailFixture.keyring, policy: .strict, jobs: 2, batchSize: 50)
            do throws(AuditError) {
                _ = try importer.run(files: [captures])
                Issue.record("400 captures fitted on a 320 KiB disk")
            } catch {
                #expect(error.code == .diskFull, "\(error)")
                let size = (try? AuditTrail(path: path, readOnly: true).size()) ?? 0
                #expect(size > 0 && size < 400 && size % 50 == 0, "\(size)")
                #expect(error.reason.contains("the import stopped there: the \(size) entries recorded before it are committed (seq 0 to \(size - 1))"), "\(error.reason)")
                #expect(!error.reason.contains("nothing was written"))
                #expect((try? AuditTrail(path: path, readOnly: true).verify().intact) == true)
            }
        }
    }

    /// Creating a trail where SQLite cannot extend its shared-memory file (ENOSPC behind an
    /// I/O error) is `disk_full`, and leaves nothing behind.
    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func creatingATrailOnAFullDiskIsDiskFull() throws {
        try Self.withSmallDisk("64k") { dir in
            // 40 KiB of 64 used: the database file fits, its 32 KiB -shm does not, and SQLite
            // reports that as an I/O error (SQLITE_IOERR_SHMSIZE) with errno ENOSPC.
            #expect(FileManager.default.createFile(atPath: dir + "/fill", contents: Data(count: 40 << 10)))
            let signer = try NoteSigner.generate(name: "full.test/log")
            do throws(AuditError) {
                _ = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
                Issue.record("a trail was created on a full disk")
            } catch {
                #expect(error.code == .diskFull, "\(error)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["fill"])
        }
    }
}
