import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// A new checkpoint vouches for the entries appended since the newest one. Someone who can
/// write the trail file but does not hold the log key edits those entries (triggers dropped,
/// leaf and subtree hashes recomputed, as in an auditor's review); signing must refuse with
/// `trail_tampered` instead of certifying the edit, so no export built on it calls it sound.
@Suite struct TrailSigningCheckTests {
    /// A trail of 20 synthetic entries (every third accepted with nonce `t-<i>`) with a
    /// checkpoint at 20, then `tail` more entries recorded by another trail object (a live
    /// writer in another process), so the signer's own object has appended none of them.
    /// Entry 20 replays nonce `t-0`, so it is recorded rejected `nonce_replayed`.
    static func trail(tail: Int) throws -> (path: String, signer: NoteSigner, scratch: TrailScratch) {
        let s = try TrailScratch("signcheck")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 20, tag: "t")
        _ = try trail.signCheckpoint(with: signer)
        let writer = try AuditTrail(path: s.path("trail.sqlite"))
        let replay = try writer.record(TrailFixture.entry(20, nonce: "t-0"))
        #expect(replay.reason == "nonce_replayed")
        for i in 21..<(20 + tail) { _ = try writer.record(TrailFixture.entry(i, nonce: i % 3 == 0 ? "u-\(i)" : nil)) }
        return (s.path("trail.sqlite"), signer, s)
    }

    /// A new trail of `count` synthetic entries (every third accepted with nonce `t-<i>`) and a
    /// checkpoint of them, kept open by the returned object.
    static func signedTrail(count: Int) throws -> (scratch: TrailScratch, trail: AuditTrail, signer: NoteSigner, path: String) {
        let s = try TrailScratch("signcheck")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: count, tag: "t")
        _ = try trail.signCheckpoint(with: signer)
        return (s, trail, signer, s.path("trail.sqlite"))
    }

    /// The code and reason of signing a checkpoint of the trail at `path`, through a new object.
    static func signing(_ path: String, _ signer: NoteSigner) throws -> AuditError? {
        do {
            _ = try AuditTrail(path: path).signCheckpoint(with: signer)
            return nil
        } catch {
            return error
        }
    }

    @Test func anUntouchedTailIsSigned() throws {
        let (path, signer, scratch) = try Self.trail(tail: 40)
        defer { withExtendedLifetime(scratch) {} }
        #expect(try Self.signing(path, signer) == nil)
        #expect(try AuditTrail(path: path).verify().intact)
    }

    @Test func aReplayEditedIntoAnAcceptanceIsNotSigned() throws {
        let (path, signer, scratch) = try Self.trail(tail: 40)
        // The review's attack: the recorded replay becomes a second acceptance of nonce t-0,
        // with every hash recomputed so that only the nonce table disagrees.
        try TrailRaw.tamper(path) { db in
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(db, 20))
            e.outcome = "accepted"
            e.reason = nil
            e.message = nil
            try TrailRaw.setBody(db, 20, try e.canonicalBytes(), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
        let error = try #require(try Self.signing(path, signer))
        #expect(error.code == .tampered)
        #expect(error.reason.hasPrefix("nonce_table_mismatch: entry 20 accepted nonce t-0 for product prod-trail, but the nonce table records it as consumed by entry 0;"), "\(error.reason)")
        #expect(try AuditTrail(path: path).checkpoints().map { try Checkpoint(verifying: $0, verifiers: [signer.verifier]).size } == [20])

        // The CLI: exit 1 with the code, and nothing signed; an export with the key refuses too.
        let key = try scratch.write("log.key", signer.skey + "\n")
        let cp = try TrailRun.cli(["audit", "checkpoint", "--db", path, "--signing-key", key])
        #expect(cp.status == 1)
        #expect(cp.stderr.contains("trail_tampered: nonce_table_mismatch: entry 20"), "\(cp.stderr)")
        #expect(cp.stdout.isEmpty)
        let export = try TrailRun.cli(["export", "--db", path, "--out", scratch.path("bundle"), "--signing-key", key])
        #expect(export.status == 1)
        #expect(export.stderr.contains("trail_tampered"), "\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("bundle")))
    }

    @Test func anAcceptanceEditedIntoARejectionLeavesAnOrphanNonceRow() throws {
        let (path, signer, scratch) = try Self.trail(tail: 40)
        defer { withExtendedLifetime(scratch) {} }
        // Entry 21 accepted u-21; hiding that acceptance leaves its nonce row pointing at a rejection.
        try TrailRaw.tamper(path) { db in
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(db, 21))
            #expect(e.isAccepted)
            e.outcome = "rejected"
            e.reason = "bad_signature"
            e.message = "edited"
            try TrailRaw.setBody(db, 21, try e.canonicalBytes(), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
        let error = try #require(try Self.signing(path, signer))
        #expect(error.code == .tampered)
        #expect(error.reason.hasPrefix("nonce_table_mismatch: the nonces table names 13 of entries 20…59 (or seqs past the trail's end), but 12 of them carry one"), "\(error.reason)")
    }

    @Test func editedBytesAndStaleSubtreeHashesAreNotSigned() throws {
        let (path, signer, scratch) = try Self.trail(tail: 40)
        defer { withExtendedLifetime(scratch) {} }
        try TrailRaw.tamper(path) { db in
            try TrailRaw.setBody(db, 31, try TrailTamperTests().edited(TrailRaw.body(db, 31), "synthetic entry 31", "synthetic entry 99"), rehash: false)
        }
        #expect(try Self.signing(path, signer)?.reason.hasPrefix("leaf_hash_mismatch: entry 31:") == true)
        // With the leaf hash recomputed but the stored subtree hash over 16…31 left as it was.
        let db = try TrailRaw.open(path)   // triggers already dropped
        try TrailRaw.setBody(db, 31, TrailRaw.body(db, 31), rehash: true)
        #expect(try Self.signing(path, signer)?.reason.hasPrefix("node_mismatch: the stored subtree hashes over entries 20…59 do not match the entries") == true)
    }

    @Test func entriesTheSignerAppendedItselfAreSignedAndOthersAreChecked() throws {
        let (path, signer, scratch) = try Self.trail(tail: 2)
        defer { withExtendedLifetime(scratch) {} }
        let trail = try AuditTrail(path: path)
        try TrailFixture.fill(trail, count: 30, tag: "own")
        #expect(try trail.signCheckpoint(with: signer).text.contains("\n52\n"))
        // Another writer's entry after the signer's own: the whole unsigned range is checked.
        _ = try AuditTrail(path: path).record(TrailFixture.entry(99))
        try TrailRaw.tamper(path) { db in
            try db.execute("UPDATE entries SET leaf_hash = zeroblob(32) WHERE seq = 52")
        }
        #expect(throws: AuditError.self) { try trail.signCheckpoint(with: signer) }
    }

    @Test func aBundleThatAcceptsANonceTwiceIsNotSound() throws {
        // Who holds the log key can sign anyway (the threat model's limit); the bundle's own
        // check still finds the trail's rule broken in what the bundle holds.
        // Real tokens this time (an export refuses an accepted entry it cannot re-verify):
        // entry 0 accepts nonce t-0, entry 2 replays the same response.
        let scratch = try TrailScratch("signcheck")
        let (trail0, signer) = try TrailFixture.makeTrail(scratch)
        let path = scratch.path("trail.sqlite")
        let response = try TrailFixture.response(nonce: "t-0")
        let result = Verifier(keyring: TrailFixture.keyring).verify(Array(response.utf8), expecting:
            RegisterUsageRequest(productCode: TrailFixture.productCode, publicKeyVersion: 1, nonce: "t-0"))
        let first = try trail0.record(result, keyring: TrailFixture.keyring)
        #expect(first.isAccepted)
        _ = try trail0.record(TrailFixture.entry(1))
        let replay = try trail0.record(result, keyring: TrailFixture.keyring)
        #expect(replay.seq == 2 && replay.reason == "nonce_replayed")
        try TrailRaw.tamper(path) { db in
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(db, 2))
            e.outcome = "accepted"
            e.reason = nil
            e.message = nil
            e.warnings = first.warnings
            try TrailRaw.setBody(db, 2, try e.canonicalBytes(), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
        // Signed directly with the log key, past signCheckpoint's own check.
        let root = try AuditTrail(path: path, readOnly: true).root(size: 3)
        let note = try Checkpoint(origin: TrailFixture.origin, size: 3, root: root).signed(with: [signer])
        let ins = try TrailRaw.open(path).prepare("INSERT INTO checkpoints(size, note, signed_at) VALUES (3, ?, '2026-11-28T00:00:00.000Z')")
        try ins.bind(note.serialized, at: 1)
        try ins.run()
        let trail = try AuditTrail(path: path, readOnly: true)
        let full = try trail.exportBundle(to: scratch.path("full"), options: ExportOptions())
        #expect(full.manifest.selection.fullPrefix)
        let v = try BundleVerifier(directory: full.directory, logKey: signer.verifier).verify()
        #expect(v.problemCode == "nonce_accepted_twice")
        #expect(v.problem == "entry 2 accepts nonce t-0 for product prod-trail, which entry 0 already accepted: the trail accepted a nonce twice or was edited")
        // A selection holding both acceptances too.
        let sel = try trail.exportBundle(to: scratch.path("sel"), options: ExportOptions(filter: EntryFilter(outcome: "accepted")))
        #expect(try bundleProblem(sel.directory) == "nonce_accepted_twice")
        // The independent checker agrees.
        if Tools.python != nil {
            let r = try ExportInteropTests.pythonCheck(full.directory, ["--log-key", signer.verifier.vkey])
            #expect(r.status == 1)
            #expect(r.output.contains("FAILED: entry 2 accepts nonce t-0 for product prod-trail, which entry 0 already accepted"), "\(r.output)")
        } else {
            print("skipped the check_bundle.py part: python3 with the cryptography package is not installed")
        }
    }

    @Test func entriesCutOffAndReplacedAreNotTrustedAsTheSignersOwn() throws {
        // A review's bypass: the signer's own entries are cut off, the signer signs the shorter
        // trail, then forged entries (a second acceptance of t-0) take the old size again.
        let (s, trail, signer, path) = try Self.signedTrail(count: 20)
        defer { withExtendedLifetime(s) {} }
        for i in 20..<30 { _ = try trail.record(TrailFixture.entry(i, nonce: "v-\(i)")) }
        let forged = try (25..<30).map { i -> [UInt8] in
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(TrailRaw.open(path), Int64(i)))
            e.nonce = "t-0"
            return try e.canonicalBytes()
        }
        try TrailRaw.tamper(path) { db in
            try db.execute("DELETE FROM entries WHERE seq >= 25")
            try db.execute("DELETE FROM nonces WHERE seq >= 25")
            try TrailRaw.rebuildTree(db)
        }
        _ = try trail.signCheckpoint(with: signer)
        let db = try TrailRaw.open(path)
        let ins = try db.prepare("INSERT INTO entries(seq, body, leaf_hash) VALUES (?, ?, ?)")
        for (k, body) in forged.enumerated() {
            try ins.bind(Int64(25 + k), at: 1)
            try ins.bind(body, at: 2)
            try ins.bind(RFC6962.leafHash(body).bytes, at: 3)
            try ins.run()
            ins.reset()
        }
        try TrailRaw.rebuildTree(db)
        #expect(throws: AuditError(.tampered, "nonce_table_mismatch: entry 25 accepted nonce t-0 for product prod-trail, but the nonce table records it as consumed by entry 0; refusing to sign a checkpoint over entries 25…29, which no checkpoint covers yet (run `meterproof audit verify`)")) {
            try trail.signCheckpoint(with: signer)
        }
    }

    @Test func anotherObjectsAppendedEntriesAreTrustedOnlyWithTheirRoot() throws {
        let (path, signer, scratch) = try Self.trail(tail: 1)
        defer { withExtendedLifetime(scratch) {} }
        let writer = try AuditTrail(path: path)
        try TrailFixture.fill(writer, count: 10, tag: "w")
        let appended = try #require(writer.appendedTail)
        #expect(appended.range == 21..<31)
        // Edited behind the writer's back (hashes and subtree hashes recomputed): the root the
        // writer computed no longer matches, so the entries are read and the edit is found.
        try TrailRaw.tamper(path) { db in
            var e = try AuditEntry(canonicalBytes: TrailRaw.body(db, 24))
            e.nonce = "t-3"
            try TrailRaw.setBody(db, 24, try e.canonicalBytes(), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
        let error = try #require(throws: AuditError.self) { try AuditTrail(path: path).signCheckpoint(with: signer, trustingAppended: appended) }
        #expect(error.code == .tampered && error.reason.hasPrefix("nonce_table_mismatch: entry 24 accepted nonce t-3"), "\(error)")
    }

    @Test func theStagedNameOfACreationIsNoSecondLink() throws {
        let s = try TrailScratch("signcheck")
        do { _ = try TrailFixture.makeTrail(s) }
        let path = s.path("trail.sqlite")
        // What create() leaves for a moment (and a crash for good): a hard link under the staged name.
        #expect(link(path, path + ".creating-42-abc") == 0)
        _ = try AuditTrail(path: path)
        // Also when the trail is opened through a symbolic link from elsewhere.
        #expect(mkdir(s.path("links"), 0o755) == 0)
        #expect(symlink(path, s.path("links/trail.sqlite")) == 0)
        _ = try AuditTrail(path: s.path("links/trail.sqlite"))
        #expect(link(path, s.path("elsewhere.sqlite")) == 0)
        let error = try #require(throws: AuditError.self) { try AuditTrail(path: path) }
        #expect(error.code == .unsafeLocation && error.reason.hasPrefix("\(path) has 3 hard links"), "\(error)")
    }

    @Test func entriesAppendedOnATamperedTreeAreNotTrusted() throws {
        // A second review: corrupt a stored subtree hash below the checkpoint, let a writer
        // (an import) append on top of it, then restore the hash. The writer's own root then
        // agrees with the stored hashes it wrote, but not with the signed checkpoint's tree.
        let (s, trail, signer, path) = try Self.signedTrail(count: 16)
        defer { withExtendedLifetime((s, trail)) {} }
        let raw = try TrailRaw.open(path)
        try TrailRaw.dropTriggers(raw)
        let genuine = try #require(try { () throws -> [UInt8]? in
            let st = try raw.prepare("SELECT hash FROM nodes WHERE level = 4 AND idx = 0")
            return try st.step() ? st.blob(at: 0) : nil
        }())
        try raw.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0")
        let writer = try AuditTrail(path: path)
        try writer.append((16..<256).map { .init(entry: TrailFixture.entry($0, nonce: "w-\($0)")) }).forEach { _ in }
        let appended = try #require(writer.appendedTail)
        #expect(appended.range == 16..<256)
        let restore = try raw.prepare("UPDATE nodes SET hash = ? WHERE level = 4 AND idx = 0")
        try restore.bind(genuine, at: 1)
        try restore.run()
        let error = try #require(throws: AuditError.self) { try AuditTrail(path: path).signCheckpoint(with: signer, trustingAppended: appended) }
        #expect(error.code == .tampered && error.reason.hasPrefix("node_mismatch: the stored subtree hashes over entries 16…255 do not match the entries"), "\(error)")
        // The writer's own object refuses too: its entries start from a tree that is not the signed one.
        #expect(throws: AuditError.self) { try writer.signCheckpoint(with: signer) }
        #expect(try AuditTrail(path: path).checkpoints().count == 1)
    }

    @Test func aPrecheckedPrefixIsUsedOnlyWhileTheStoredHashesStillGiveItsRoot() throws {
        let (path, _, scratch) = try Self.trail(tail: 40)
        defer { withExtendedLifetime(scratch) {} }
        let trail = try AuditTrail(path: path)
        let newest = try trail.newestCheckpoint()
        var checked: (end: UInt64, root: MerkleHash)? = nil
        let first = try trail.unsignedProblem(from: newest.size, signedRoot: newest.root, to: 60, appended: nil, prechecked: nil, checked: &checked)
        #expect(first == nil)
        let good = try #require(checked)
        let root60 = try trail.root(size: 60)
        #expect(good.end == 60 && good.root == root60)
        let again = try trail.unsignedProblem(from: newest.size, signedRoot: newest.root, to: 60, appended: nil, prechecked: good, checked: &checked)
        #expect(again == nil)
        let stale = (end: UInt64(50), root: MerkleHash.zero)
        let p = try #require(try trail.unsignedProblem(from: newest.size, signedRoot: newest.root, to: 60, appended: nil, prechecked: stale, checked: &checked))
        #expect(p.code == "node_mismatch" && p.message == "entries 20…49 changed while they were being checked")
        // A start that is not the signed root is refused before anything is read.
        let q = try #require(try trail.unsignedProblem(from: newest.size, signedRoot: .zero, to: 60, appended: nil, prechecked: nil, checked: &checked))
        #expect(q.message == "the stored subtree hashes at size 20 do not give the newest checkpoint's root")
    }

    @Test func tableRowsPastTheTrailsEndAreCounted() throws {
        // A third review: a nonce row planted for a seq beyond the end makes the trail refuse a
        // genuine first acceptance as a replay; signing used to count rows inside the range only.
        let (path, signer, scratch) = try Self.trail(tail: 5)
        defer { withExtendedLifetime(scratch) {} }
        try TrailRaw.tamper(path) { db in
            try db.execute("INSERT INTO nonces(product_code, nonce, seq) VALUES ('prod-trail', 'planted', 1000000000)")
        }
        let error = try #require(try Self.signing(path, signer))
        #expect(error.code == .tampered)
        #expect(error.reason.hasPrefix("nonce_table_mismatch: the nonces table names 3 of entries 20…24 (or seqs past the trail's end), but 2 of them carry one"), "\(error.reason)")
    }

    @Test func aTrustedRangeMustHoldExactlyTheRowsItsAppenderInserted() throws {
        // The import's own entries are not read again, but the tables are counted over them: a
        // captures row planted for one of its seqs (which makes an import skip a genuine line
        // as a duplicate) is found.
        let (s, _, signer, path) = try Self.signedTrail(count: 20)
        defer { withExtendedLifetime(s) {} }
        let writer = try AuditTrail(path: path)
        try TrailFixture.fill(writer, count: 10, tag: "own")
        let clean = try #require(writer.appendedTail)
        #expect(clean.range == 20..<30 && clean.nonceRows == 4 && clean.captureRows == 0)
        try TrailRaw.tamper(path) { db in
            try db.execute("INSERT INTO captures(hash, seq) VALUES (zeroblob(32), 25)")
        }
        let error = try #require(throws: AuditError.self) { try writer.signCheckpoint(with: signer) }
        #expect(error.code == .tampered && error.reason.hasPrefix("capture_table_mismatch: the nonces and captures tables name entries 20…29 (or seqs past the trail's end) in 4 and 1 rows, but the process that appended them inserted 4 and 0"), "\(error)")
    }

    @Test func aLibraryImportIsSignedAfterItWithoutReadingItsEntriesAgain() throws {
        // What the CLI does at the end of an import, through the public API: the import's own
        // entries are trusted by `signCheckpoint(with:after:)`, as the writer's trail object
        // trusts its own; a body edited behind the import's back (leaf hash kept) is therefore
        // not read by it, but is read, and refused, by a plain `signCheckpoint(with:)`.
        let bed = try ImportBed("sign-after-import")
        let lines = try (0..<12).map { i in
            ImportFixture.bound(try ImportFixture.token("after-\(i)"), nonce: "after-\(i)", capturedAt: ImportFixture.time(ImportFixture.base))
        }
        let summary = try bed.run("c.jsonl", lines: lines)
        #expect(summary.recorded == 12 && summary.accepted == 12)
        try TrailRaw.tamper(bed.trailPath) { db in
            try TrailRaw.setBody(db, 5, try TrailTamperTests().edited(TrailRaw.body(db, 5), "after-5", "after-X"), rehash: false)
        }
        let plain = try #require(throws: AuditError.self) { try bed.trail().signCheckpoint(with: bed.signer) }
        #expect(plain.code == .tampered && plain.reason.hasPrefix("leaf_hash_mismatch: entry 5:"), "\(plain)")
        let note = try bed.trail().signCheckpoint(with: bed.signer, after: summary)
        #expect(note.text.contains("\n12\n"))
        // audit verify still names the edit: trust skips a re-read, not the hashes.
        let v = try AuditTrail(path: bed.trailPath, readOnly: true).verify()
        #expect(v.problemCode == "leaf_hash_mismatch" && v.firstBadSeq == 5)
        // A summary whose entries are no longer the newest is not trusted: everything is read.
        let bed2 = try ImportBed("sign-after-import-2")
        let s2 = try bed2.run("c.jsonl", lines: Array(lines.prefix(3)))
        _ = try bed2.trail().record(TrailFixture.entry(99))
        #expect(try bed2.trail().signCheckpoint(with: bed2.signer, after: s2).text.contains("\n4\n"))
    }

    @Test func aTrustedRangeIsNotReadAgainButAnythingElseIs() throws {
        // How trust shows: a body edited behind the writer's back, its leaf hash left alone, is
        // not read when the writer signs (the signed root commits to the writer's own leaf
        // hashes, so the edit is not vouched for: audit verify names it), but is read, and
        // refused, when any other object signs.
        let (s, _, signer, path) = try Self.signedTrail(count: 20)
        defer { withExtendedLifetime(s) {} }
        let writer = try AuditTrail(path: path)
        try TrailFixture.fill(writer, count: 10, tag: "own")
        try TrailRaw.tamper(path) { db in
            try TrailRaw.setBody(db, 22, try TrailTamperTests().edited(TrailRaw.body(db, 22), "synthetic entry 2", "synthetic entry 9"), rehash: false)
        }
        let other = try #require(throws: AuditError.self) { try AuditTrail(path: path).signCheckpoint(with: signer) }
        #expect(other.reason.hasPrefix("leaf_hash_mismatch: entry 22:"), "\(other)")
        let note = try writer.signCheckpoint(with: signer)
        #expect(note.text.contains("\n30\n"))
        let v = try AuditTrail(path: path, readOnly: true).verify()
        #expect(v.problemCode == "leaf_hash_mismatch" && v.firstBadSeq == 22)
    }
}
