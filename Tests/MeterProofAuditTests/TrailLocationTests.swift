import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// A trail reached through two directories (a hard link, a single-file bind mount as in
/// `docker run -v /srv/t.sqlite:/data/t.sqlite` or a Kubernetes `subPath`) gets a write-ahead log
/// and lock file per directory: an operations review saw one nonce accepted by two replicas and
/// the file corrupted. Writers refuse such a trail (`unsafe_location`, exit 2); readers may read it.
@Suite struct TrailLocationTests {
    @Test func aHardLinkedTrailIsRefusedForWriting() throws {
        let s = try TrailScratch("location")
        do {
            let (trail, _) = try TrailFixture.makeTrail(s)
            try TrailFixture.fill(trail, count: 3)
        }   // closed: reading through the other name sees everything once no writer holds a -wal
        let path = s.path("trail.sqlite")
        #expect(mkdir(s.path("other"), 0o755) == 0)
        let other = s.path("other/trail.sqlite")
        #expect(link(path, other) == 0)
        for p in [path, other] {
            #expect(throws: AuditError(.unsafeLocation, "\(p) has 2 hard links: SQLite keeps the trail's write-ahead log and locks beside that name (-wal, -shm), so processes reaching the file through different directories would not exclude each other: one nonce could be accepted twice and the file corrupted. Keep one name for the trail (copy it to break the links)")) {
                _ = try AuditTrail(path: p)
            }
            #expect(try AuditTrail(path: p, readOnly: true).size() == 3)
        }
        let response = try s.write("r.json", TrailFixture.response(nonce: "link-nonce"))
        let r = try TrailRun.cli(TrailFixture.verifyArgs(nonce: "link-nonce", db: other, input: response))
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("meterproof: unsafe_location: \(other) has 2 hard links"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        // Nothing was recorded, and with the link gone the trail takes the attempt.
        #expect(unlink(other) == 0)
        #expect(try AuditTrail(path: path, readOnly: true).size() == 3)
        #expect(try TrailRun.cli(TrailFixture.verifyArgs(nonce: "link-nonce", db: path, input: response)).status == 0)
    }

    @Test func mountPointsAreReadFromTheMountTable() {
        let mounts = """
        overlay / overlay rw,relatime 0 0
        /dev/sda1 /data/meterproof.sqlite ext4 rw,relatime 0 0
        /dev/sda1 /srv/my\\040trail.sqlite ext4 rw 0 0
        """
        #expect(AuditTrail.isMountPoint("/data/meterproof.sqlite", mounts: mounts))
        #expect(AuditTrail.isMountPoint("/srv/my trail.sqlite", mounts: mounts))
        #expect(!AuditTrail.isMountPoint("/data", mounts: mounts))
        #expect(!AuditTrail.isMountPoint("/data/meterproof.sqlite-wal", mounts: mounts))
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount"), "needs root to bind-mount a file"))
    func aTrailMountedOnItsOwnIsRefusedForWriting() throws {
        let s = try TrailScratch("location")
        do {
            let (trail, _) = try TrailFixture.makeTrail(s)
            try TrailFixture.fill(trail, count: 2)
        }
        #expect(mkdir(s.path("replica"), 0o755) == 0)
        let target = try s.write("replica/trail.sqlite", [])
        let mount = try TrailRun.program("/bin/mount", ["--bind", s.path("trail.sqlite"), target])
        guard mount.status == 0 else {
            print("TrailLocationTests: skipping the bind mount, not possible here: \(mount.stderr)")
            return
        }
        defer { _ = try? TrailRun.program("/bin/umount", [target]) }
        #expect(throws: AuditError.self) { _ = try AuditTrail(path: target) }
        do {
            _ = try AuditTrail(path: target)
        } catch {
            #expect(error.code == .unsafeLocation)
            #expect(error.reason.hasPrefix("\(target) is mounted on its own (a single-file bind mount or Kubernetes subPath): "), "\(error.reason)")
            #expect(error.reason.hasSuffix("Mount the directory that holds the trail instead"))
        }
        #expect(try AuditTrail(path: target, readOnly: true).size() == 2)
        // The original name is no mount point: it stays writable.
        _ = try AuditTrail(path: s.path("trail.sqlite"))
    }

    /// A reader on a read-only trail leaves `-wal` and `-shm` with the trail's mode 0444; once
    /// the trail is writable again, SQLite would say only "readonly database".
    @Test(.enabled(if: geteuid() == 0 && TrailRun.which("setpriv") != nil, "needs root and setpriv to drop to an unprivileged user"))
    func aSideFileLeftReadOnlyIsNamed() throws {
        let s = try TrailScratch("location")
        #expect(chmod(s.dir, 0o777) == 0)
        do {
            let (trail, _) = try TrailFixture.makeTrail(s)
            try TrailFixture.fill(trail, count: 2)
        }   // closed: its -wal and -shm are gone
        let path = s.path("trail.sqlite")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(chown(path, 65534, 65534) == 0)
        let shm = try s.write("trail.sqlite-shm", [UInt8](repeating: 0, count: 32768))
        #expect(chown(shm, 65534, 65534) == 0 && chmod(shm, 0o444) == 0)
        let response = try s.write("r.json", TrailFixture.response(nonce: "side-nonce"))
        #expect(chmod(response, 0o444) == 0)
        guard let r = try TrailRun.cliAsNobody(TrailFixture.verifyArgs(nonce: "side-nonce", db: path, input: response), suite: "TrailLocationTests") else { return }
        #expect(r.status == 5, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("meterproof: read_only: \(shm) is not writable (mode 444, owner uid 65534), though \(path) is: a reader left it while the trail was read-only."), "\(r.stderr)")
        #expect(chmod(shm, 0o644) == 0)
        let again = try #require(try TrailRun.cliAsNobody(TrailFixture.verifyArgs(nonce: "side-nonce", db: path, input: response), suite: "TrailLocationTests"))
        #expect(again.status == 0, "\(again.stderr)")
    }
}
