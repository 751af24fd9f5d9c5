import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

/// An attacker holding the trail file drops the triggers through a plain SQLite connection and
/// edits, deletes, inserts, reorders, truncates or rewrites history. `verify` (and `audit
/// verify`, exit 1) must name the problem and, where it can be pinned, the first bad seq.
@Suite struct TrailTamperTests {
    static let size = 24
    static let checkpointSizes: [UInt64] = [8, 16, 20]

    /// A 24-entry trail: synthetic entries (every third accepted with a nonce) and two real
    /// verified tokens (seq 2 and 7), checkpoints signed at 8, 16 and 20 and saved as files
    /// `cp8`, `cp16`, `cp20` beside it (an auditor's copies). Entries 20…23 are after the
    /// newest checkpoint. The trail is closed on return.
    struct Base {
        let scratch: TrailScratch
        let path: String
        let signer: NoteSigner
        let notes: [UInt64: SignedNote]
        var vkey: String { signer.verifier.vkey }
    }

    static func base() throws -> Base {
        let s = try TrailScratch("tamper")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        var notes: [UInt64: SignedNote] = [:]
        for i in 0..<size {
            let e = i == 2 || i == 7
                ? try TrailFixture.verifiedEntry(nonce: "token-\(i)-\(UUID().uuidString)")
                : TrailFixture.entry(i, nonce: i % 3 == 0 ? "t-\(i)" : nil)
            let r = try trail.record(e)
            #expect(r.seq == UInt64(i) && r.outcome == e.outcome)
            if checkpointSizes.contains(UInt64(i + 1)) {
                let note = try trail.signCheckpoint(with: signer)
                notes[UInt64(i + 1)] = note
                try s.write("cp\(i + 1)", note.serialized)
            }
        }
        #expect(try trail.verify().intact)
        return Base(scratch: s, path: s.path("trail.sqlite"), signer: signer, notes: notes)
    }

    /// Verifies through the library and the CLI and checks both report `code` at `seq`.
    /// `against` names a saved checkpoint file; `logKey` is vkey text.
    func expectTampered(_ b: Base, _ code: String, seq: UInt64?, against: String? = nil, logKey: String? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let trail = try AuditTrail(path: b.path, readOnly: true)
        let note = try against.map { try SignedNote(parsing: String(decoding: b.scratch.read($0), as: UTF8.self)) }
        let key = try logKey.map { try NoteVerifier(vkey: $0) }
        let v = try trail.verify(against: note, logKey: key)
        #expect(!v.intact, "verify passed", sourceLocation: sourceLocation)
        #expect(v.problemCode == code, "\(v.problem ?? "")", sourceLocation: sourceLocation)
        #expect(v.firstBadSeq == seq, "\(v.problem ?? "")", sourceLocation: sourceLocation)

        var args = ["audit", "verify", "--db", b.path]
        if let against { args += ["--against", b.scratch.path(against)] }
        if let logKey { args += ["--log-key", logKey] }
        let r = try TrailRun.cli(args)
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)", sourceLocation: sourceLocation)
        let prefix = "TAMPERED: \(code)" + (seq.map { " at seq \($0)" } ?? "") + ": "
        #expect(r.stdout.hasPrefix(prefix), "\(r.stdout)", sourceLocation: sourceLocation)
    }

    func expectIntact(_ b: Base, entries: UInt64, against: String? = nil, logKey: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let note = try against.map { try SignedNote(parsing: String(decoding: b.scratch.read($0), as: UTF8.self)) }
        let v = try AuditTrail(path: b.path, readOnly: true).verify(against: note, logKey: logKey.map { try NoteVerifier(vkey: $0) })
        #expect(v.intact && v.entries == entries, "\(v.problemCode ?? ""): \(v.problem ?? "")", sourceLocation: sourceLocation)
        var args = ["audit", "verify", "--db", b.path]
        if let against { args += ["--against", b.scratch.path(against)] }
        if let logKey { args += ["--log-key", logKey] }
        let r = try TrailRun.cli(args)
        #expect(r.status == 0 && r.stdout.hasPrefix("intact: \(entries) entries"), "\(r.stdout) \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// `body` with the first occurrence of `old` replaced by `new`.
    func edited(_ body: [UInt8], _ old: String, _ new: String) throws -> [UInt8] {
        let text = String(decoding: body, as: UTF8.self)
        let changed = text.replacingFirst(old, with: new)
        try #require(changed != text, "\(old) not in \(text)")
        return Array(changed.utf8)
    }

    // MARK: Untampered

    @Test func untamperedTrailVerifiesWithAndWithoutExternalCheckpoints() throws {
        let b = try Self.base()
        try expectIntact(b, entries: 24)
        for cp in ["cp8", "cp16", "cp20"] { try expectIntact(b, entries: 24, against: cp) }
        try expectIntact(b, entries: 24, against: "cp20", logKey: b.vkey)
        let json = try TrailRun.cli(["audit", "verify", "--db", b.path, "--format", "json"])
        #expect(json.status == 0)
        let root = try AuditTrail(path: b.path).root(size: 24).base64
        #expect(json.stdout == #"{"intact":true,"entries":24,"checkpointsVerified":3,"root":"\#(root)","firstBadSeq":null,"problem":null,"message":null,"signerRecord":null}"# + "\n")
    }

    // MARK: Edit

    @Test func editingOneByteOfABodyIsALeafHashMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            try TrailRaw.setBody(db, 11, edited(TrailRaw.body(db, 11), "synthetic entry 11", "synthetic entry 12"), rehash: false)
        }
        try expectTampered(b, "leaf_hash_mismatch", seq: 11)
    }

    @Test func editingABodyIntoNonCanonicalJSONIsAnInvalidEntry() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            // One space: still JSON, no longer RFC 8785 (its leaf hash recomputed, so only the form check can tell).
            try TrailRaw.setBody(db, 4, edited(TrailRaw.body(db, 4), #""seq":4,"#, #""seq": 4,"#), rehash: true)
        }
        try expectTampered(b, "invalid_entry", seq: 4)
        // Commands that read entries name the one they could not read.
        let log = try TrailRun.cli(["audit", "log", "--db", b.path])
        #expect(log.status == 1 && log.stderr.hasPrefix("meterproof: invalid_entry: entry 4: entry is not canonical: "), "\(log.stderr)")
        // (Rejected ones only: the synthetic accepted entries carry no key, which export refuses first.)
        let export = try TrailRun.cli(["export", "--db", b.path, "--out", b.scratch.path("bundle"), "--outcome", "rejected"])
        #expect(export.status == 1 && export.stderr.hasPrefix("meterproof: invalid_entry: entry 4 is not canonical: "), "\(export.stderr)")
        do { _ = try AuditTrail(path: b.path, readOnly: true).entry(4); Issue.record("entry 4 decoded") } catch {
            #expect(error.code == .invalidEntry && error.reason.hasPrefix("entry 4: "))
        }
    }

    @Test func editingARealTokenIsALeafHashMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            let body = try TrailRaw.body(db, 7)
            let e = try AuditEntry(canonicalBytes: body)
            let token = try #require(e.token)
            // One character of the signature part.
            let last = token.last == "A" ? "B" : "A"
            try TrailRaw.setBody(db, 7, edited(body, token, String(token.dropLast()) + last), rehash: false)
        }
        try expectTampered(b, "leaf_hash_mismatch", seq: 7)
    }

    @Test func editWithRecomputedLeafHashIsCaughtByTheStoredTree() throws {
        // With the leaf hash recomputed, the change is narrowed to the smallest stored subtree
        // holding it: levels 4, 8, … are stored, so entries 0…15; the report names its first seq.
        let even = try Self.base()
        try TrailRaw.tamper(even.path) { db in
            try TrailRaw.setBody(db, 10, edited(TrailRaw.body(db, 10), "synthetic entry 10", "synthetic entry 99"), rehash: true)
        }
        try expectTampered(even, "node_mismatch", seq: 0)

        let odd = try Self.base()
        try TrailRaw.tamper(odd.path) { db in
            try TrailRaw.setBody(db, 11, edited(TrailRaw.body(db, 11), "synthetic entry 11", "synthetic entry 99"), rehash: true)
        }
        try expectTampered(odd, "node_mismatch", seq: 0)
    }

    @Test func aDeletedSubtreeRowIsNamedMissingNotMismatched() throws {
        // The base trail's 24 entries have one stored level-4 node, covering entries 0…15.
        let gone = try Self.base()
        try TrailRaw.tamper(gone.path) { db in try db.execute("DELETE FROM nodes WHERE level = 4 AND idx = 0") }
        try expectTampered(gone, "node_mismatch", seq: 0)
        var v = try AuditTrail(path: gone.path, readOnly: true).verify()
        #expect(v.problem == "stored subtree hash (level 4, index 0) covering entries 0…15 is missing from the file", "\(v.problem ?? "")")

        let changed = try Self.base()
        try TrailRaw.tamper(changed.path) { db in try db.execute("UPDATE nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0") }
        v = try AuditTrail(path: changed.path, readOnly: true).verify()
        #expect(v.problemCode == "node_mismatch" && v.problem == "stored subtree hash (level 4, index 0) covering entries 0…15 does not match the recomputed one", "\(v.problem ?? "")")
    }

    /// A checkpoint file is read whole before any key is asked about: a note the trail's own
    /// key signed whose text is no checkpoint, or a sound note saved with CRLF line endings,
    /// is bad_input (exit 2) for every command that takes one, not a wrong key or tampering.
    @Test func aCheckpointFileThatHoldsNoCheckpointIsBadInput() throws {
        let b = try Self.base()
        let origin = try AuditTrail(path: b.path, readOnly: true).origin
        let root = b.notes[20]!.text.split(separator: "\n")[2]
        let leadingZero = try SignedNote.sign(text: "\(origin)\n024\n\(root)\n", with: [b.signer])
        try b.scratch.write("lead", leadingZero.serialized)
        try b.scratch.write("crlf", b.notes[20]!.serialized.replacingOccurrences(of: "\n", with: "\r\n"))
        for (file, message) in [("lead", "is a signed note, but its text is not a checkpoint: malformed_checkpoint: tree size is not a decimal without leading zeros"),
                                ("crlf", "is not a signed checkpoint: ")] {
            let path = b.scratch.path(file)
            for args in [["audit", "prove", "--db", b.path, "--seq", "0", "--checkpoint", path],
                         ["audit", "consistency", "--db", b.path, "--from", path],
                         ["audit", "verify", "--db", b.path, "--against", path]] {
                let r = try TrailRun.cli(args)
                #expect(r.status == 2 && r.stderr.hasPrefix("meterproof: bad_input: \(path) \(message)"), "\(args): \(r.status) \(r.stderr)")
                if file == "crlf" { #expect(r.stderr.contains("converting it back to LF endings"), "\(r.stderr)") }
            }
        }
        // A binary file is no note either, and gets no advice about line endings.
        let binary = try TrailRun.cli(["audit", "consistency", "--db", b.path, "--from", b.path])
        #expect(binary.status == 2 && binary.stderr.hasPrefix("meterproof: bad_input: \(b.path) is not a signed checkpoint: ") && !binary.stderr.contains("CRLF"), "\(binary.stderr)")
        // A vkey file saved with CRLF is read as the key it holds.
        try b.scratch.write("vkey-crlf", b.vkey + "\r\n")
        let v = try TrailRun.cli(["audit", "verify", "--db", b.path, "--log-key", b.scratch.path("vkey-crlf")])
        #expect(v.status == 0 && v.stdout.hasPrefix("intact: 24 entries"), "\(v.status) \(v.stdout) \(v.stderr)")
    }

    @Test func editWithTheWholeTreeRebuiltIsCaughtBySignedCheckpoints() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            try TrailRaw.setBody(db, 11, edited(TrailRaw.body(db, 11), "synthetic entry 11", "synthetic entry 99"), rehash: true)
            try TrailRaw.rebuildTree(db)
        }
        // The checkpoint of size 16 no longer matches; 8 still did, so the change is in 8…15.
        try expectTampered(b, "checkpoint_root_mismatch", seq: 8)
    }

    @Test func rebuiltTreeWithCheckpointsRemovedIsCaughtOnlyByAnExternalCheckpoint() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            try TrailRaw.setBody(db, 3, edited(TrailRaw.body(db, 3), #""nonce":"t-3""#, #""nonce":"t-X""#), rehash: true)
            try db.execute("UPDATE nonces SET nonce = 't-X' WHERE nonce = 't-3'")
            try TrailRaw.rebuildTree(db)
            try db.execute("DELETE FROM checkpoints")
        }
        // Self-consistent: the file alone cannot tell.
        let alone = try AuditTrail(path: b.path, readOnly: true).verify()
        #expect(alone.intact && alone.checkpointsVerified == 0)
        try expectTampered(b, "against_root_mismatch", seq: nil, against: "cp8")
        try expectTampered(b, "against_root_mismatch", seq: nil, against: "cp20")
    }

    @Test func editAfterTheNewestCheckpointNeedsALaterCheckpoint() throws {
        let b = try Self.base()
        // Keep a checkpoint of the whole trail elsewhere before the edit.
        let signer = b.signer
        try b.scratch.write("cp24", AuditTrail(path: b.path).signCheckpoint(with: signer).serialized)
        try TrailRaw.tamper(b.path) { db in
            try TrailRaw.setBody(db, 22, edited(TrailRaw.body(db, 22), "synthetic entry 22", "synthetic entry 99"), rehash: true)
            try TrailRaw.rebuildTree(db)
            try db.execute("DELETE FROM checkpoints WHERE size = 24")
        }
        // Entries after the newest stored checkpoint are protected only by checkpoints kept elsewhere.
        try expectIntact(b, entries: 24)
        try expectTampered(b, "against_root_mismatch", seq: nil, against: "cp24")
    }

    // MARK: Delete, insert, reorder

    @Test func deletingAMiddleRowIsAMissingEntry() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try db.execute("DELETE FROM entries WHERE seq = 13") }
        try expectTampered(b, "missing_entry", seq: 13)
        let json = try TrailRun.cli(["audit", "verify", "--db", b.path, "--format", "json"])
        #expect(json.status == 1)
        #expect(json.stdout.hasPrefix(#"{"intact":false,"entries":13,"checkpointsVerified":1,"#), "\(json.stdout)")
        #expect(json.stdout.contains(#","firstBadSeq":13,"problem":"missing_entry","message":"entry 13 is missing"#), "\(json.stdout)")
    }

    @Test func deletingTheFirstRowIsAMissingEntry() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try db.execute("DELETE FROM entries WHERE seq = 0") }
        try expectTampered(b, "missing_entry", seq: 0)
    }

    /// Moves entries `from…` up by one seq (and their nonce records), optionally re-serializing
    /// their bodies with the new seqs, and inserts a forged, well-formed accepted entry (with its
    /// nonce record) at `from`.
    func insertForged(_ db: SQLiteDatabase, at from: Int64, reserialize: Bool) throws {
        try db.execute("UPDATE entries SET seq = -seq - 1 WHERE seq >= \(from); UPDATE entries SET seq = -seq WHERE seq < 0")
        try db.execute("UPDATE nonces SET seq = seq + 1 WHERE seq >= \(from)")
        try db.execute("INSERT INTO nonces(product_code, nonce, seq) VALUES ('\(TrailFixture.productCode)', 'forged', \(from))")
        if reserialize {
            let st = try db.prepare("SELECT seq, body FROM entries WHERE seq > \(from)")
            var rows: [(Int64, [UInt8])] = []
            while try st.step() { rows.append((st.int64(at: 0), st.blob(at: 1) ?? [])) }
            for (seq, body) in rows { try TrailRaw.setBody(db, seq, TrailRaw.withSeq(body, UInt64(seq)), rehash: true) }
        }
        var forged = TrailFixture.entry(Int(from), nonce: "forged")
        forged.seq = UInt64(from)
        forged.recordedAt = try AuditEntry(canonicalBytes: TrailRaw.body(db, from - 1)).recordedAt
        let body = try forged.canonicalBytes()
        let ins = try db.prepare("INSERT INTO entries(seq, body, leaf_hash) VALUES (?, ?, ?)")
        try ins.bind(from, at: 1)
        try ins.bind(body, at: 2)
        try ins.bind(RFC6962.leafHash(body).bytes, at: 3)
        try ins.run()
    }

    @Test func insertingARowAndRenumberingIsASeqMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try insertForged(db, at: 12, reserialize: false) }
        // The forged row is well formed; the first moved one (now at 13) still says seq 12.
        try expectTampered(b, "seq_mismatch", seq: 13)
    }

    @Test func insertingARowAndRewritingTheLaterOnesIsANodeMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try insertForged(db, at: 12, reserialize: true) }
        // Narrowed to the stored subtree of entries 0…15.
        try expectTampered(b, "node_mismatch", seq: 0)
    }

    @Test func swappingTwoEntriesIsASeqMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            try db.execute("""
                UPDATE entries SET seq = -1 WHERE seq = 5;
                UPDATE entries SET seq = 5 WHERE seq = 9;
                UPDATE entries SET seq = 9 WHERE seq = -1;
                """)
        }
        try expectTampered(b, "seq_mismatch", seq: 5)
    }

    @Test func swappingTwoBodiesRewrittenWithTheirNewSeqsIsANonceTableMismatch() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            let b5 = try TrailRaw.body(db, 5), b9 = try TrailRaw.body(db, 9)
            try TrailRaw.setBody(db, 5, TrailRaw.withSeq(b9, 5), rehash: true)
            try TrailRaw.setBody(db, 9, TrailRaw.withSeq(b5, 9), rehash: true)
        }
        // Entry 5 now carries entry 9's nonce, which the nonce table records as consumed by 9.
        try expectTampered(b, "nonce_table_mismatch", seq: 5)
    }

    // MARK: Truncate

    @Test func truncatingBelowASignedCheckpointIsTruncated() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try db.execute("DELETE FROM entries WHERE seq >= 18") }
        try expectTampered(b, "truncated", seq: 18)
    }

    @Test func truncatingTheTailAfterTheNewestCheckpoint() throws {
        // Entry 21 consumed a nonce: its row outlives the deleted entry.
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try db.execute("DELETE FROM entries WHERE seq >= 21") }
        try expectTampered(b, "nonce_table_mismatch", seq: nil)

        // Entries 22 and 23 left nothing else behind (no stored subtree reaches them, no nonce):
        // after the newest signed checkpoint only a checkpoint kept elsewhere can tell (documented).
        let c = try Self.base()
        try TrailRaw.tamper(c.path) { db in try db.execute("DELETE FROM entries WHERE seq >= 22") }
        try expectIntact(c, entries: 22)
    }

    @Test func cleanTruncationIsCaughtByAnExternalCheckpoint() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            try db.execute("""
                DELETE FROM entries WHERE seq >= 18;
                DELETE FROM nodes WHERE (idx + 1) << level > 18;
                DELETE FROM nonces WHERE seq >= 18;
                DELETE FROM checkpoints WHERE size > 18;
                """)
        }
        try expectIntact(b, entries: 18)
        try expectIntact(b, entries: 18, against: "cp16")
        try expectTampered(b, "truncated", seq: 18, against: "cp20")
    }

    @Test func aNodeRowOutsideTheTreeIsAnExtraNode() throws {
        let b = try Self.base()
        // The 24-entry tree stores one node, (level 4, idx 0). Every position outside the tree,
        // including ones where `(idx + 1) << level` wraps (level 64, -1, a huge idx), and rows
        // whose level or idx is not an integer, must be reported; removing the row makes the
        // trail intact.
        let rows = ["4, 1", "0, 0", "2, 6", "3, 3", "-1, 0", "-4, 0", "4, -3", "63, 0", "62, 1", "64, 0", "100, 0",
                    "4, 9223372036854775807", "9223372036854775807, 0", "'x', 0", "4.5, 0", "4, 'y'", "x'04', 0"]
        try TrailRaw.tamper(b.path) { _ in }  // drops the guard triggers
        for values in rows {
            try TrailRaw.open(b.path).execute("INSERT INTO nodes(level, idx, hash) VALUES (\(values), zeroblob(32))")
            try expectTampered(b, "extra_node", seq: 24)
            try TrailRaw.open(b.path).execute("DELETE FROM nodes WHERE NOT (level = 4 AND idx = 0 AND typeof(level) = 'integer' AND typeof(idx) = 'integer')")
            try expectIntact(b, entries: 24)
        }
        // Inside the tree at a level this version does not store (earlier builds wrote every
        // level): never read, tolerated.
        try TrailRaw.open(b.path).execute("INSERT INTO nodes(level, idx, hash) VALUES (2, 5, zeroblob(32)), (1, 11, zeroblob(32)), (3, 2, zeroblob(32))")
        try expectIntact(b, entries: 24)
    }

    // MARK: Wholesale rewrite

    @Test func aRewrittenTrailUnderAnotherKeyIsCaughtByTheLogKeyAndOldCheckpoints() throws {
        let b = try Self.base()
        // A fresh trail with the same origin but the attacker's key, the history copied over.
        let evil = try TrailFixture.signer()
        let fakePath = b.scratch.path("fake.sqlite")
        _ = try AuditTrail.create(path: fakePath, signer: evil)
        do {
            let src = try TrailRaw.open(b.path), dst = try TrailRaw.open(fakePath)
            try TrailRaw.dropTriggers(dst)
            try dst.transaction(.immediate) {
                let rows = try src.prepare("SELECT seq, body FROM entries ORDER BY seq")
                let ins = try dst.prepare("INSERT INTO entries(seq, body, leaf_hash) VALUES (?, ?, zeroblob(32))")
                while try rows.step() {
                    try ins.bind(rows.int64(at: 0), at: 1)
                    try ins.bind(rows.blob(at: 1) ?? [], at: 2)
                    try ins.run()
                    ins.reset()
                }
                let nonces = try src.prepare("SELECT product_code, nonce, seq FROM nonces")
                let addNonce = try dst.prepare("INSERT INTO nonces(product_code, nonce, seq) VALUES (?, ?, ?)")
                while try nonces.step() {
                    try addNonce.bind(nonces.string(at: 0), at: 1)
                    try addNonce.bind(nonces.string(at: 1), at: 2)
                    try addNonce.bind(nonces.int64(at: 2), at: 3)
                    try addNonce.run()
                    addNonce.reset()
                }
                try TrailRaw.rebuildTree(dst)
            }
        }
        _ = try AuditTrail(path: fakePath).signCheckpoint(with: evil)
        AuditTrail.removeDatabaseFiles(b.path)
        #expect(rename(fakePath, b.path) == 0)

        // Self-consistent, with a valid checkpoint under its own (wrong) key.
        let alone = try AuditTrail(path: b.path, readOnly: true).verify()
        #expect(alone.intact && alone.entries == 24 && alone.checkpointsVerified == 1)
        try expectTampered(b, "wrong_log_key", seq: nil, logKey: b.vkey)
        try expectTampered(b, "against_signature", seq: nil, against: "cp16")
        try b.scratch.write("log.vkey", b.vkey + "\n")
        let r = try TrailRun.cli(["audit", "verify", "--db", b.path, "--log-key", b.scratch.path("log.vkey")])
        #expect(r.status == 1 && r.stdout.hasPrefix("TAMPERED: wrong_log_key: "), "\(r.stdout)")
    }

    // MARK: Side tables

    @Test func editedStoredCheckpointIsABadSignature() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in
            let note = try #require(b.notes[16]).serialized
            let forged = note.replacingFirst("\n16\n", with: "\n15\n")
            #expect(forged != note)
            try db.execute("UPDATE checkpoints SET note = '\(forged)' WHERE size = 16")
        }
        try expectTampered(b, "checkpoint_signature", seq: nil)
    }

    @Test func deletingAConsumedNonceIsCaught() throws {
        let b = try Self.base()
        try TrailRaw.tamper(b.path) { db in try db.execute("DELETE FROM nonces WHERE nonce = 't-9'") }
        try expectTampered(b, "nonce_table_mismatch", seq: 9)
    }

    @Test func replacingAConsumedNonceWithAnotherIsCaught() throws {
        let b = try Self.base()
        // Freeing 't-9' for a replay while keeping the row count.
        try TrailRaw.tamper(b.path) { db in
            try db.execute("UPDATE nonces SET nonce = 'never-seen' WHERE nonce = 't-9'")
        }
        try expectTampered(b, "nonce_table_mismatch", seq: 9)
        // And the freed nonce would indeed be accepted again.
        let trail = try AuditTrail(path: b.path)
        #expect(try trail.record(TrailFixture.entry(0, nonce: "t-9")).isAccepted)
    }
}
