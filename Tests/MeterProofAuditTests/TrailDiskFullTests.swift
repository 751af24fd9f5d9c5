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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mp-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mount = try TrailRun.program("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir])
        guard mount.status == 0 else {
            print("TrailDiskFullTests: skipping, tmpfs could not be mounted here: \(mount.stderr)")
            return
        }
        defer { _ = try? TrailRun.program("/bin/umount", [dir]) }
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
}
