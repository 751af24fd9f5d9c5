import MeterProof
import Testing
@testable import MeterProofAudit

@Suite struct CheckpointTests {
    static let root = RFC6962.leafHash([UInt8]("root".utf8))

    @Test func formatAndParseRoundTrip() throws {
        let cp = Checkpoint(origin: "meterproof.example/log", size: 1234, root: Self.root)
        #expect(cp.text == "meterproof.example/log\n1234\n\(Self.root.base64)\n")
        #expect(try Checkpoint(parsing: cp.text) == cp)
        let withExt = Checkpoint(origin: "o", size: 0, root: RFC6962.emptyRoot, extensions: ["ext one", "— two"])
        #expect(withExt.text == "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\n— two\n")
        let back = try Checkpoint(parsing: withExt.text)
        #expect(back == withExt)
        #expect(back.extensions == ["ext one", "— two"])
        let max = Checkpoint(origin: "o", size: UInt64.max, root: Self.root)
        #expect(try Checkpoint(parsing: max.text).size == UInt64.max)
    }

    static let malformed: [(String, String)] = {
        let r = CheckpointTests.root.base64
        var c: [(String, String)] = []
        c.append(("leading zero size", "o\n0123\n\(r)\n"))
        c.append(("double zero size", "o\n00\n\(r)\n"))
        c.append(("signed size", "o\n+5\n\(r)\n"))
        c.append(("negative size", "o\n-5\n\(r)\n"))
        c.append(("empty size", "o\n\n\(r)\n"))
        c.append(("size overflows UInt64", "o\n18446744073709551616\n\(r)\n"))
        c.append(("size with space", "o\n5 \n\(r)\n"))
        c.append(("missing root", "o\n5\n"))
        c.append(("empty root", "o\n5\n\n"))
        c.append(("bad base64 root", "o\n5\n\(r.dropLast())*\n"))
        c.append(("unpadded root", "o\n5\n\(r.dropLast())\n"))
        c.append(("short root", "o\n5\nZG9uJ3QgY2FyZSAx\n"))
        c.append(("long root", "o\n5\n\(Base64.encode([UInt8](repeating: 1, count: 33)))\n"))
        c.append(("hex root", "o\n5\n\(CheckpointTests.root.hex)\n"))
        c.append(("origin with a space", "my log\n5\n\(r)\n"))
        c.append(("origin with a plus", "my+log\n5\n\(r)\n"))
        c.append(("empty origin", "\n5\n\(r)\n"))
        c.append(("no final newline", "o\n5\n\(r)"))
        c.append(("empty extension line", "o\n5\n\(r)\n\nx\n"))
        c.append(("trailing blank line", "o\n5\n\(r)\n\n"))
        c.append(("carriage return", "o\r\n5\n\(r)\n"))
        c.append(("empty", ""))
        return c
    }()

    @Test(arguments: CheckpointTests.malformed)
    func malformedCheckpointsAreRefused(_ c: (String, String)) {
        #expect(errorCode { _ = try Checkpoint(parsing: c.1) } == "malformed_checkpoint", "\(c.0)")
    }

    @Test func signedCheckpointVerifies() throws {
        let log = try NoteSigner.generate(name: "meterproof.example/log")
        let cp = Checkpoint(origin: log.name, size: 7, root: Self.root)
        let note = try cp.signed(with: [log])
        #expect(note.text == cp.text)
        let parsed = try SignedNote(parsing: note.serialized)
        #expect(try Checkpoint(verifying: parsed, verifiers: [log.verifier]) == cp)
        let other = try NoteSigner.generate(name: "meterproof.example/log")
        #expect(errorCode { _ = try Checkpoint(verifying: parsed, verifiers: [other.verifier]) } == "no_known_signature")
        #expect(errorCode { _ = try Checkpoint(origin: "bad origin", size: 1, root: Self.root).signed(with: [log]) } == "malformed_checkpoint")
    }
}

@Suite struct TlogProofTests {
    struct Fixture {
        let log: NoteSigner
        let leaves: [MerkleHash]
        let source: DictionaryNodeSource
        let checkpoint: Checkpoint
        let note: SignedNote

        init(size: Int) throws {
            log = try NoteSigner.generate(name: "meterproof.example/log")
            var f = MerkleFrontier()
            var src = DictionaryNodeSource()
            var leaves: [MerkleHash] = []
            for i in 0..<size {
                leaves.append(testLeaf(i))
                f.append(leaves[i]) { l, i, h in src.nodes[.init(level: l, index: i)] = h }
            }
            self.leaves = leaves
            source = src
            checkpoint = Checkpoint(origin: log.name, size: f.size, root: f.root)
            note = try checkpoint.signed(with: [log])
        }

        func proof(_ index: Int, extra: [UInt8]? = nil) throws -> TlogProof {
            TlogProof(index: UInt64(index),
                      hashes: try MerkleProofs.inclusionProof(index: UInt64(index), treeSize: checkpoint.size, source: source),
                      checkpoint: note, extra: extra)
        }
    }

    @Test func serializeParseRoundTripAndVerify() throws {
        let fx = try Fixture(size: 21)
        for index in 0..<21 {
            let p = try fx.proof(index, extra: index % 3 == 0 ? Array("extra \(index)".utf8) : nil)
            let text = p.serialized
            let back = try TlogProof(parsing: text)
            #expect(back == p)
            #expect(back.serialized == text)
            #expect(try back.verify(leafHash: fx.leaves[index], verifiers: [fx.log.verifier]) == fx.checkpoint)
            #expect(try back.verify(leafHash: fx.leaves[index], verifiers: [fx.log.verifier], origin: fx.log.name) == fx.checkpoint)
        }
    }

    @Test func exactLayout() throws {
        let fx = try Fixture(size: 3)
        let p = try fx.proof(2, extra: [1, 2, 3])
        let want = "c2sp.org/tlog-proof@v1\nextra AQID\nindex 2\n\(p.hashes[0].base64)\n\n" + fx.note.serialized
        #expect(p.hashes.count == 1)
        #expect(p.serialized == want)
        // A one-leaf tree has an empty proof: the index line is followed by the blank line.
        let one = try Fixture(size: 1)
        let p1 = try one.proof(0)
        #expect(p1.serialized == "c2sp.org/tlog-proof@v1\nindex 0\n\n" + one.note.serialized)
        #expect(try TlogProof(parsing: p1.serialized).verify(leafHash: one.leaves[0], verifiers: [one.log.verifier]).size == 1)
        // Empty extra data round-trips as an empty extra line.
        let e = try fx.proof(0, extra: [])
        #expect(e.serialized.contains("\nextra \nindex 0\n"))
        #expect(try TlogProof(parsing: e.serialized).extra == [])
    }

    @Test func tamperedProofsAreRefused() throws {
        let fx = try Fixture(size: 13)
        let p = try fx.proof(5)
        let v = [fx.log.verifier]
        func code(_ proof: TlogProof, _ leaf: MerkleHash) -> String? {
            errorCode { _ = try proof.verify(leafHash: leaf, verifiers: v) }
        }
        #expect(code(p, fx.leaves[5]) == nil)
        #expect(code(p, fx.leaves[6]) == "bad_inclusion_proof")
        var flipped = p.hashes
        flipped[1] = flipped[1].flipping(bit: 17)
        #expect(code(TlogProof(index: 5, hashes: flipped, checkpoint: fx.note), fx.leaves[5]) == "bad_inclusion_proof")
        #expect(code(TlogProof(index: 5, hashes: Array(p.hashes.dropLast()), checkpoint: fx.note), fx.leaves[5]) == "bad_inclusion_proof")
        #expect(code(TlogProof(index: 5, hashes: p.hashes + [p.hashes[0]], checkpoint: fx.note), fx.leaves[5]) == "bad_inclusion_proof")
        #expect(code(TlogProof(index: 4, hashes: p.hashes, checkpoint: fx.note), fx.leaves[5]) == "bad_inclusion_proof")
        #expect(code(TlogProof(index: 13, hashes: p.hashes, checkpoint: fx.note), fx.leaves[5]) == "bad_inclusion_proof")

        // Text-level tampering: change the tree size in the checkpoint -> signature fails.
        let text = p.serialized
        let biggerSize = text.replacingFirst("\n13\n", with: "\n14\n")
        #expect(biggerSize != text)
        #expect(code(try TlogProof(parsing: biggerSize), fx.leaves[5]) == "bad_signature")
        // Unknown key.
        let stranger = try NoteSigner.generate(name: "meterproof.example/log")
        #expect(errorCode { _ = try p.verify(leafHash: fx.leaves[5], verifiers: [stranger.verifier]) } == "no_known_signature")
        // Wrong expected origin.
        #expect(errorCode { _ = try p.verify(leafHash: fx.leaves[5], verifiers: v, origin: "other.example/log") } == "origin_mismatch")
        // A validly signed note that is not a checkpoint.
        let notACheckpoint = try SignedNote.sign(text: "hello\n", with: [fx.log])
        #expect(errorCode { _ = try TlogProof(index: 5, hashes: p.hashes, checkpoint: notACheckpoint).verify(leafHash: fx.leaves[5], verifiers: v) } == "malformed_checkpoint")
    }

    static let malformed: [(String, String)] = {
        let h = RFC6962.emptyRoot.base64
        let cp = "o\n1\n\(h)\n\n\u{2014} o AAAAAAAA\n"
        var c: [(String, String)] = []
        c.append(("wrong header", "c2sp.org/tlog-proof@v2\nindex 0\n\n" + cp))
        c.append(("no header", "index 0\n\n" + cp))
        c.append(("missing index", "c2sp.org/tlog-proof@v1\n\(h)\n\n" + cp))
        c.append(("leading zero index", "c2sp.org/tlog-proof@v1\nindex 01\n\n" + cp))
        c.append(("empty index", "c2sp.org/tlog-proof@v1\nindex \n\n" + cp))
        c.append(("index without space", "c2sp.org/tlog-proof@v1\nindex0\n\n" + cp))
        c.append(("extra after index", "c2sp.org/tlog-proof@v1\nindex 0\nextra AQID\n\n" + cp))
        c.append(("bad extra", "c2sp.org/tlog-proof@v1\nextra AQI\nindex 0\n\n" + cp))
        c.append(("bad hash", "c2sp.org/tlog-proof@v1\nindex 0\n\(h.dropLast())\n\n" + cp))
        c.append(("short hash", "c2sp.org/tlog-proof@v1\nindex 0\nAQID\n\n" + cp))
        c.append(("65 hashes", "c2sp.org/tlog-proof@v1\nindex 0\n" + String(repeating: h + "\n", count: 65) + "\n" + cp))
        c.append(("no blank line", "c2sp.org/tlog-proof@v1\nindex 0\n"))
        c.append(("control character", "c2sp.org/tlog-proof@v1\nindex 0\t\n\n" + cp))
        c.append(("empty", ""))
        return c
    }()

    @Test(arguments: TlogProofTests.malformed)
    func malformedProofsAreRefused(_ c: (String, String)) {
        #expect(errorCode { _ = try TlogProof(parsing: c.1) } == "malformed_proof", "\(c.0)")
    }

    @Test func malformedCheckpointNoteIsMalformedNote() {
        let text = "c2sp.org/tlog-proof@v1\nindex 0\n\no\n1\n\(RFC6962.emptyRoot.base64)\n"
        #expect(errorCode { _ = try TlogProof(parsing: text) } == "malformed_note")
    }
}
