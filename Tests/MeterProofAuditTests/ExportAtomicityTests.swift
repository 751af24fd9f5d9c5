import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// An export either publishes a whole bundle or leaves the target as it was, with no
/// temporary directory behind.
@Suite struct ExportAtomicityTests {
    /// Names in `parent` that are leftovers of an export to `name`.
    func leftovers(_ parent: String, _ name: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(".\(name).partial-") }
    }

    func code(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as ExportError { return e.code.rawValue } catch { return "unexpected: \(error)" }
    }

    @Test func nonEmptyTargetIsRefusedAndLeftUntouched() throws {
        let f = try ExportFixture.get()
        let parent = try makeTempDir()
        let out = parent + "/bundle"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: out + "/keep.txt"))
        let t = try f.trail()
        #expect(code { _ = try t.exportBundle(to: out) } == "bundle_exists")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["keep.txt"])
        #expect(try String(contentsOfFile: out + "/keep.txt", encoding: .utf8) == "keep me\n")
        #expect(try leftovers(parent, "bundle").isEmpty)
        // A file in the way, a missing parent.
        try Data().write(to: URL(fileURLWithPath: parent + "/file"))
        #expect(code { _ = try t.exportBundle(to: parent + "/file") } == "bundle_exists")
        #expect(code { _ = try t.exportBundle(to: parent + "/no/such/dir") } == "bad_output")
        // `.`, `..` and `/` cannot be renamed onto: refused before any work (an empty `.` used
        // to fail with EBUSY only after the whole bundle was written).
        let emptyDot = parent + "/dot"
        try FileManager.default.createDirectory(atPath: emptyDot, withIntermediateDirectories: false)
        for target in [emptyDot + "/.", emptyDot + "/./", emptyDot + "/..", "/"] {
            #expect(code { _ = try t.exportBundle(to: target) } == "bad_output", "\(target)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: emptyDot).isEmpty)
        try FileManager.default.removeItem(atPath: emptyDot)
        // Counts by reason in a manifest_mismatch message read as a list, not Swift debug output.
        #expect(BundleVerifier.reasonList(["nonce_replayed": 2, "bad_signature": 8]) == "bad_signature 8, nonce_replayed 2")
        #expect(BundleVerifier.reasonList([:]) == "none")
        // A message, not a dump: at most 20 reasons, each cut to 100 characters.
        let many = Dictionary(uniqueKeysWithValues: (0..<25).map { (String(format: "r%02d", $0) + String(repeating: "x", count: 500), 1) })
        let listed = BundleVerifier.reasonList(many)
        #expect(listed.hasSuffix(", … (25 reasons)") && listed.utf8.count < 20 * 110 + 40, "\(listed.utf8.count)")
        #expect(!FileManager.default.fileExists(atPath: parent + "/no"))
        // An empty directory is replaced by the bundle.
        try FileManager.default.createDirectory(atPath: parent + "/empty", withIntermediateDirectories: false)
        let s = try t.exportBundle(to: parent + "/empty/")
        #expect(s.directory == parent + "/empty")
        #expect(try bundleProblem(parent + "/empty") == nil)
        #expect(try leftovers(parent, "empty").isEmpty)
        // Exporting again onto the finished bundle is refused.
        #expect(code { _ = try t.exportBundle(to: parent + "/empty") } == "bundle_exists")
    }

    /// Stopped at each point it asks (between batches of entries, of proof files, and before
    /// the final sync), an export throws `interrupted`, publishes nothing and removes its
    /// temporary directory.
    @Test func anInterruptedExportLeavesNothingAtEveryStopPoint() throws {
        let f = try ExportFixture.get()
        let t = try f.trail()
        let parent = try makeTempDir()
        final class Counter: @unchecked Sendable {
            let lock = NSLock()
            var calls = 0
            var stopAt = Int.max
            func ask() -> Bool { lock.lock(); defer { lock.unlock() }; calls += 1; return calls >= stopAt }
        }
        for selection in [EntryFilter(), EntryFilter(outcome: "accepted")] {
            let probe = Counter()
            let made = try t.exportBundle(to: parent + "/probe", options: ExportOptions(filter: selection, shouldStop: probe.ask))
            try FileManager.default.removeItem(atPath: parent + "/probe")
            #expect(probe.calls >= 2)
            // A selection is also asked from inside the parallel run of proof files, every 64.
            if made.proofFiles > 0 { #expect(made.proofFiles >= 64) }
            for stop in 1...probe.calls {
                let c = Counter()
                c.stopAt = stop
                #expect(code { _ = try t.exportBundle(to: parent + "/bundle", options: ExportOptions(filter: selection, shouldStop: c.ask)) } == "interrupted", "stop at \(stop)")
                #expect(!FileManager.default.fileExists(atPath: parent + "/bundle"))
                #expect(try leftovers(parent, "bundle").isEmpty, "stop at \(stop)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty)
    }

    /// The big files are written and hashed on a background queue: a write that fails there
    /// (here, a small tmpfs filling up) must still fail the export with `write_failed` and leave
    /// nothing behind, at every size the disk can fill at.
    @Test(.enabled(if: TrailDiskFullTests.canMount, "needs root to mount a small tmpfs"), arguments: [48, 96, 160])
    func aDiskFillingUpFailsTheExportAndLeavesNothing(kib: Int) throws {
        let f = try ExportFixture.get()
        let t = try f.trail()
        guard let dir = try mountSmallTmpfs("size=\(kib)k") else { return }
        defer { _ = try? TrailRun.program("/bin/umount", [dir]) }
        #expect(code { _ = try t.exportBundle(to: dir + "/bundle") } == "write_failed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

        // The background writer on its own: the failure happens on its queue, and close() (or a
        // later write) reports it instead of returning a hash of bytes that never reached the file.
        let w = try BundleFileWriter(root: dir, relativePath: "big", syncEach: false, background: true)
        let chunk = [UInt8](repeating: 0x61, count: 70 << 10)
        var failedAt: String? = nil
        do {
            for _ in 0..<(kib / 70 + 3) { try w.write(chunk) }
            _ = try w.close()
        } catch {
            failedAt = error.code.rawValue
        }
        #expect(failedAt == "write_failed")
    }

    /// Proof files are written on several threads: when creating one fails midway (here the
    /// small tmpfs runs out of inodes), the export still fails with `write_failed` naming a
    /// proof file, stops starting new ones, and leaves nothing behind.
    @Test(.enabled(if: TrailDiskFullTests.canMount, "needs root to mount a small tmpfs"))
    func runningOutOfInodesAmongProofFilesFailsTheExport() throws {
        let f = try ExportFixture.get()
        let t = try f.trail()
        let selection = EntryFilter(outcome: "accepted")
        let probeDir = try makeTempDir()
        let probe = try t.exportBundle(to: probeDir + "/probe", options: ExportOptions(filter: selection))
        #expect(probe.proofFiles > 40)
        guard let dir = try mountSmallTmpfs("size=64m,nr_inodes=40") else { return }
        defer { _ = try? TrailRun.program("/bin/umount", [dir]) }
        var failure: ExportError? = nil
        do { _ = try t.exportBundle(to: dir + "/bundle", options: ExportOptions(filter: selection)) } catch { failure = error }
        #expect(failure?.code.rawValue == "write_failed")
        #expect(failure?.reason.contains("/proofs/") == true, "\(String(describing: failure?.reason))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// A fresh directory with a tmpfs of `options` mounted on it, or nil (printing why) where
    /// it cannot be mounted; the caller unmounts it.
    func mountSmallTmpfs(_ options: String) throws -> String? {
        let dir = try makeTempDir() + "/small"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        let mount = try TrailRun.program("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir])
        guard mount.status == 0 else {
            print("ExportAtomicityTests: skipping, tmpfs could not be mounted here: \(mount.stderr)")
            return nil
        }
        return dir
    }

    @Test func trailWithoutCheckpointWritesNothing() throws {
        let dir = try makeTempDir()
        let signer = try NoteSigner.generate(name: "export.test/empty")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        #expect(code { _ = try trail.exportBundle(to: dir + "/b") } == "no_checkpoint")
        #expect(!FileManager.default.fileExists(atPath: dir + "/b"))
        #expect(try leftovers(dir, "b").isEmpty)
        // With the signing key, an empty trail exports an empty full prefix that verifies.
        let s = try trail.exportBundle(to: dir + "/b", options: ExportOptions(signer: signer))
        #expect(s.manifest.treeSize == 0 && s.manifest.selection.fullPrefix && s.manifest.counts.entries == 0)
        #expect(try bundleProblem(dir + "/b") == nil)
    }

    @Test func failureMidwayLeavesNoBundle() throws {
        // Accepted entries recorded without their key (as `record(_:)` does): the export fails
        // after writing the entries, when it gathers the keys.
        let dir = try makeTempDir()
        let signer = try NoteSigner.generate(name: "export.test/nokey")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
        let v = Verifier(keyring: keyring, policy: .offline)
        for i in 0..<30 {
            let r = try sim.response(productCode: "p", keyVersion: 1, nonce: "k\(i)", issuedAt: 1)
            let result = v.verify(Array(r.utf8), expecting: RegisterUsageRequest(productCode: "p", publicKeyVersion: 1, nonce: "k\(i)"))
            try trail.record(AuditEntry(result: result, source: .live))   // no key remembered
        }
        _ = try trail.signCheckpoint(with: signer)
        #expect(code { _ = try trail.exportBundle(to: dir + "/b") } == "missing_key")
        #expect(!FileManager.default.fileExists(atPath: dir + "/b"))
        #expect(try leftovers(dir, "b").isEmpty)
        // A selection without that entry exports fine.
        #expect(code { _ = try trail.exportBundle(to: dir + "/b", options: ExportOptions(filter: EntryFilter(productCode: "none"))) } == nil)
    }

    /// Proofs are built from the stored leaf hashes only after they were checked against the
    /// tree the scan computed from the entries' bytes: a stored leaf hash changed behind the
    /// trail's back (bodies intact, so the root still matches) fails a filtered export.
    @Test func alteredStoredLeafHashFailsAFilteredExport() throws {
        let f = try ExportFixture.get()
        let path = try f.copyTrail()
        let raw = try SQLiteDatabase(path: path, mode: .readWrite)
        try raw.execute("DROP TRIGGER entries_no_update")
        try raw.execute("UPDATE entries SET leaf_hash = zeroblob(32) WHERE seq = 3")
        let t = try AuditTrail(path: path)
        let parent = try makeTempDir()
        var failure: ExportError? = nil
        do { _ = try t.exportBundle(to: parent + "/b", options: ExportOptions(filter: EntryFilter(outcome: "accepted"))) } catch { failure = error }
        #expect(failure?.code.rawValue == "inconsistent_checkpoint")
        #expect(failure?.reason.contains("entries 0..<") == true, "\(String(describing: failure?.reason))")
        #expect(!FileManager.default.fileExists(atPath: parent + "/b"))
        #expect(try leftovers(parent, "b").isEmpty)
        // The whole prefix needs no proofs: it is recomputed from the bytes and exports fine.
        #expect(code { _ = try t.exportBundle(to: parent + "/full") } == nil)
    }

    @Test func trailThatNoLongerMatchesItsCheckpointIsRefused() throws {
        let f = try ExportFixture.get()
        let path = try f.copyTrail()
        // Edit one entry's message behind the trail's back (the append-only triggers dropped).
        let raw = try SQLiteDatabase(path: path, mode: .readWrite)
        try raw.execute("DROP TRIGGER entries_no_update")
        let t = try AuditTrail(path: path)
        var e = try t.entry(5)
        e.message = "edited"
        let st = try raw.prepare("UPDATE entries SET body = ? WHERE seq = 5")
        try st.bind(try e.canonicalBytes(), at: 1)
        try st.run()
        let parent = try makeTempDir()
        #expect(code { _ = try t.exportBundle(to: parent + "/b") } == "inconsistent_checkpoint")
        #expect(!FileManager.default.fileExists(atPath: parent + "/b"))
        #expect(try leftovers(parent, "b").isEmpty)
    }
}
