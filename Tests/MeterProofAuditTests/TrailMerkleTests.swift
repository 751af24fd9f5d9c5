import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// The trail's stored tree (leaf hashes plus subtree hashes) against the reference RFC 6962
/// computation over the stored bodies.
@Suite struct TrailMerkleTests {
    static let count = 300
    /// Sizes at which checkpoints are signed while filling: powers of two and their neighbours.
    static let checkpointSizes: [UInt64] = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 100, 127, 128, 129, 255, 256, 257, 300]

    /// A trail of `count` entries, appended one at a time and in batches of 2…7 so both paths
    /// write nodes; checkpoints signed at `checkpointSizes`. Returns the notes by size.
    private func build(_ s: TrailScratch) throws -> (AuditTrail, NoteSigner, [UInt64: SignedNote]) {
        let (trail, signer) = try TrailFixture.makeTrail(s)
        var notes: [UInt64: SignedNote] = [:]
        var i = 0
        var batch = 1
        while i < Self.count {
            // Never step over a checkpoint size.
            let next = Self.checkpointSizes.first { $0 > UInt64(i) }.map { Int($0) } ?? Self.count
            let n = min(batch, next - i)
            if n == 1 {
                let e = try trail.record(TrailFixture.entry(i, nonce: i % 5 == 0 ? "m-\(i)" : nil))
                #expect(e.seq == UInt64(i))
            } else {
                let out = try trail.append((i..<(i + n)).map { .init(entry: TrailFixture.entry($0, nonce: $0 % 5 == 0 ? "m-\($0)" : nil)) })
                for (k, o) in out.enumerated() {
                    guard case .recorded(let e) = o else { Issue.record("batch item \(k) not recorded"); continue }
                    #expect(e.seq == UInt64(i + k))
                }
            }
            i += n
            batch = batch % 7 + 1
            if Self.checkpointSizes.contains(UInt64(i)) {
                let note = try trail.signCheckpoint(with: signer)
                #expect(try Checkpoint(verifying: note, verifiers: [trail.verifier]).size == UInt64(i))
                notes[UInt64(i)] = note
            }
        }
        #expect(try trail.size() == UInt64(Self.count))
        #expect(notes.count == Self.checkpointSizes.count)
        return (trail, signer, notes)
    }

    /// Reference roots of every prefix: roots[s] is the root of the first s leaves.
    private func prefixRoots(_ leaves: [MerkleHash]) -> [MerkleHash] {
        (0...leaves.count).map { RFC6962.root(leafHashes: Array(leaves[0..<$0])) }
    }

    @Test func rootOfEverySizeMatchesTheReference() throws {
        let s = try TrailScratch()
        let (trail, _, notes) = try build(s)
        let leaves = try trailLeafHashes(trail)
        #expect(leaves.count == Self.count)
        // The stored leaf hashes are those of the stored bodies.
        for (i, leaf) in leaves.enumerated() {
            #expect(try trail.node(level: 0, index: UInt64(i)) == leaf)
        }
        let roots = prefixRoots(leaves)
        for size in 0...Self.count {
            #expect(try trail.root(size: UInt64(size)) == roots[size], "size \(size)")
        }
        for (size, note) in notes {
            #expect(try Checkpoint(parsing: note.text).root == roots[Int(size)], "checkpoint \(size)")
        }
        #expect(errorCode { _ = try trail.root(size: UInt64(Self.count + 1)) } == "inconsistent_checkpoint")
        let v = try trail.verify()
        #expect(v.intact && v.entries == UInt64(Self.count) && v.checkpointsVerified == Self.checkpointSizes.count && v.root == roots[Self.count])
    }

    @Test func inclusionProofsVerifyForEveryIndexAtEveryCheckpoint() throws {
        let s = try TrailScratch()
        let (trail, _, notes) = try build(s)
        let leaves = try trailLeafHashes(trail)
        for size in Self.checkpointSizes {
            let note = try #require(notes[size])
            for index in 0..<size {
                let proof = try trail.inclusionProof(seq: index, checkpoint: note)
                #expect(proof.index == index && proof.checkpoint == note)
                let cp = try proof.verify(leafHash: leaves[Int(index)], verifiers: [trail.verifier], origin: TrailFixture.origin)
                #expect(cp.size == size)
                // Through the file format and back.
                let parsed = try TlogProof(parsing: proof.serialized)
                #expect(parsed.hashes == proof.hashes && parsed.index == index)
                // Another leaf does not verify at this index.
                let other = leaves[(Int(index) + 1) % leaves.count]
                #expect(errorCode { try proof.verify(leafHash: other, verifiers: [trail.verifier]) } == "bad_inclusion_proof")
            }
            #expect(errorCode { _ = try trail.inclusionProof(seq: size, checkpoint: note) } == "no_such_entry")
        }
        // Without a checkpoint argument, the newest one is used.
        let latest = try trail.inclusionProof(seq: 299)
        #expect(latest.checkpoint == notes[300])
        #expect(try latest.verify(leafHash: leaves[299], verifiers: [trail.verifier]).size == 300)
        // A checkpoint signed by another key is refused.
        let stranger = try TrailFixture.signer()
        let foreign = try Checkpoint(origin: TrailFixture.origin, size: 3, root: trail.root(size: 3)).signed(with: [stranger])
        #expect(errorCode { _ = try trail.inclusionProof(seq: 0, checkpoint: foreign) } == "wrong_log_key")
    }

    @Test func consistencyProofsVerifyBetweenManySizes() throws {
        let s = try TrailScratch()
        let (trail, _, _) = try build(s)
        let roots = prefixRoots(try trailLeafHashes(trail))
        var pairs: [(UInt64, UInt64)] = []
        for a in 1...40 { for b in a...40 { pairs.append((UInt64(a), UInt64(b))) } }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            let a = UInt64.random(in: 1...300, using: &rng), b = UInt64.random(in: a...300, using: &rng)
            pairs.append((a, b))
        }
        pairs += [(1, 300), (299, 300), (255, 256), (256, 257), (128, 300), (100, 300), (300, 300)]
        for (a, b) in pairs {
            let proof = try trail.consistencyProof(from: a, to: b)
            if a == b { #expect(proof.isEmpty) }
            do {
                try RFC6962.verifyConsistency(size1: a, size2: b, root1: roots[Int(a)], root2: roots[Int(b)], proof: proof)
            } catch {
                Issue.record("consistency \(a) -> \(b): \(error)")
            }
            if a < b {
                // The proof binds both roots.
                #expect(errorCode {
                    try RFC6962.verifyConsistency(size1: a, size2: b, root1: roots[Int(a)].flipping(bit: 3), root2: roots[Int(b)], proof: proof)
                } == "bad_consistency_proof")
                #expect(errorCode {
                    try RFC6962.verifyConsistency(size1: a, size2: b, root1: roots[Int(a)], root2: roots[Int(b)].flipping(bit: 200), proof: proof)
                } == "bad_consistency_proof")
            }
        }
        #expect(errorCode { _ = try trail.consistencyProof(from: 0, to: 5) } == "bad_input")
        #expect(errorCode { _ = try trail.consistencyProof(from: 6, to: 5) } == "bad_input")
        #expect(errorCode { _ = try trail.consistencyProof(from: 5, to: 301) } == "inconsistent_checkpoint")
    }

    @Test func checkpointSigningIsIdempotentAndKeyBound() throws {
        let s = try TrailScratch()
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try TrailFixture.fill(trail, count: 10)
        let a = try trail.signCheckpoint(with: signer)
        let b = try trail.signCheckpoint(with: signer)
        #expect(a == b)
        #expect(try trail.checkpoints().count == 1)
        let stranger = try TrailFixture.signer()
        #expect(errorCode { _ = try trail.signCheckpoint(with: stranger) } == "wrong_log_key")
        try TrailFixture.fill(trail, count: 1)
        let c = try trail.signCheckpoint(with: signer)
        #expect(try Checkpoint(parsing: c.text).size == 11)
        #expect(try trail.checkpoints() == [a, c])
        #expect(try trail.latestCheckpoint() == c)
    }

    /// The wrong_log_key message names the stranger's key as its vkey does, with the key ID as
    /// eight hex digits: a key ID below 0x10000000 keeps its leading zero.
    @Test func wrongSignerMessageWritesTheKeyIDAsAVkeyDoes() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        // One key in 16 has an ID starting with a zero digit; 2000 tries miss one with odds of 1e-56.
        var found: NoteSigner? = nil
        for _ in 0..<2000 {
            let k = try TrailFixture.signer("stranger.test/log")
            if k.keyID < 0x1000_0000 { found = k; break }
        }
        let stranger = try #require(found)
        let vkeyParts = stranger.verifier.vkey.split(separator: "+", maxSplits: 2)  // the base64 key may hold "+"
        #expect(vkeyParts.count == 3 && vkeyParts[1].count == 8 && vkeyParts[1].hasPrefix("0"))
        do throws(AuditError) {
            _ = try trail.signCheckpoint(with: stranger)
            Issue.record("another log's key signed a checkpoint")
        } catch {
            #expect(error.code == .wrongKey)
            #expect(error.reason == "the signing key stranger.test/log+\(vkeyParts[1]) is not this trail's log key (\(trail.verifier.vkey)). \(AuditTrail.logKeyIsFixed)", "\(error)")
        }
    }

    @Test func aCheckpointOfTheEmptyTrailVerifies() throws {
        // Signing right after `audit init` (e.g. from a schedule) is natural; it must not read as truncation.
        let s = try TrailScratch()
        let (trail, signer) = try TrailFixture.makeTrail(s)
        let empty = try trail.signCheckpoint(with: signer)
        #expect(try Checkpoint(parsing: empty.text) == Checkpoint(origin: TrailFixture.origin, size: 0, root: RFC6962.emptyRoot))
        try s.write("cp0", empty.serialized)
        var v = try trail.verify()
        #expect(v.intact && v.entries == 0 && v.checkpointsVerified == 1, "\(v.problemCode ?? ""): \(v.problem ?? "")")
        try TrailFixture.fill(trail, count: 3)
        v = try trail.verify(against: empty)
        #expect(v.intact && v.entries == 3 && v.checkpointsVerified == 1, "\(v.problemCode ?? ""): \(v.problem ?? "")")
        _ = try trail.signCheckpoint(with: signer)
        v = try trail.verify()
        #expect(v.intact && v.checkpointsVerified == 2, "\(v.problemCode ?? ""): \(v.problem ?? "")")
        let r = try TrailRun.cli(["audit", "verify", "--db", s.path("trail.sqlite"), "--against", s.path("cp0")])
        #expect(r.status == 0 && r.stdout.hasPrefix("intact: 3 entries, 2 checkpoint(s) verified"), "\(r.stdout)")
        #expect(errorCode { _ = try trail.inclusionProof(seq: 0, checkpoint: empty) } == "no_such_entry")
    }

    @Test func cliConsistencyProvesTheNewestCheckpointExtendsAnOlderOne() throws {
        let s = try TrailScratch()
        let (trail, signer) = try TrailFixture.makeTrail(s)
        try LogKeyFile.write(signer, to: s.path("log.key"))
        let db = s.path("trail.sqlite")
        func checkpoint(_ name: String) throws -> SignedNote {
            let r = try TrailRun.cli(["audit", "checkpoint", "--db", db, "--signing-key", s.path("log.key")])
            #expect(r.status == 0, "\(r.stderr)")
            try s.write(name, r.stdout)
            return try SignedNote(parsing: r.stdout)
        }
        _ = try checkpoint("cp0")
        try TrailFixture.fill(trail, count: 5)
        _ = try checkpoint("cp5")
        try TrailFixture.fill(trail, count: 8)
        let newest = try checkpoint("cp13")

        let r = try TrailRun.cli(["audit", "consistency", "--db", db, "--from", s.path("cp5")])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(Array(lines.prefix(3)) == ["meterproof-consistency@v1", "old 5", "new 13"])
        let blank = try #require(lines.firstIndex(of: ""))
        let proof = lines[3..<blank].compactMap { MerkleHash(base64: $0) }
        #expect(proof.count == blank - 3 && !proof.isEmpty)
        #expect(lines[(blank + 1)...].joined(separator: "\n") == newest.serialized)
        try RFC6962.verifyConsistency(size1: 5, size2: 13, root1: trail.root(size: 5), root2: trail.root(size: 13), proof: proof)

        // From the empty tree there is nothing to prove: a bad input (exit 2), not a storage error.
        let empty = try TrailRun.cli(["audit", "consistency", "--db", db, "--from", s.path("cp0")])
        #expect(empty.status == 2, "\(empty.stderr)")
        #expect(empty.stderr.contains("bad_input"), "\(empty.stderr)")
        // A checkpoint of another log is refused.
        let stranger = try TrailFixture.signer()
        try s.write("foreign", Checkpoint(origin: TrailFixture.origin, size: 5, root: trail.root(size: 5)).signed(with: [stranger]).serialized)
        let foreign = try TrailRun.cli(["audit", "consistency", "--db", db, "--from", s.path("foreign")])
        #expect(foreign.status == 2 && foreign.stderr.contains("wrong_log_key"), "\(foreign.stderr)")
    }
}
