import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

@Suite struct ExportTests {
    @Test func fullExportHoldsTheWholePrefixAndVerifies() throws {
        let f = try ExportFixture.get()
        let (dir, s) = try f.export()
        let m = s.manifest
        #expect(m.selection.fullPrefix)
        #expect(m.treeSize == f.checkpointSize)
        #expect(UInt64(m.counts.entries) == f.checkpointSize)
        #expect(m.newerEntriesOmitted == f.newer)
        #expect(m.firstSeq == 0 && m.lastSeq == f.checkpointSize - 1)
        #expect(s.proofFiles == 0)
        #expect(s.keyFiles == 2)
        #expect(m.counts.accepted + m.counts.rejected == m.counts.entries)
        #expect(m.counts.byReason.keys.sorted() == ["bad_signature", "invalid_request", "malformed_token", "nonce_replayed", "product_code_mismatch", "unknown_key_version"])
        #expect(m.counts.byReason.values.reduce(0, +) == m.counts.rejected)

        // entries.jsonl is exactly the stored canonical bytes, one per line.
        let t = try f.trail()
        var expected: [UInt8] = []
        for seq in 0..<f.checkpointSize { expected += try t.entryBytes(seq) + [0x0A] }
        #expect(try BundleEdit.read(dir, "entries.jsonl") == expected)
        #expect(!FileManager.default.fileExists(atPath: dir + "/proofs"))
        #expect(try BundleEdit.read(dir, "log-key.vkey") == Array((t.verifier.vkey + "\n").utf8))
        #expect(try BundleEdit.read(dir, "checkpoint") == Array(try t.latestCheckpoint()!.serialized.utf8))
        #expect(try BundleEdit.files(dir) == ["SHA256SUMS", "VERIFY.md", "checkpoint", "entries.csv", "entries.jsonl",
                                              "keys/keyring.json", "keys/v1.pem", "keys/v2.pem", "log-key.vkey", "manifest.json"])
        #expect(s.fileCount == 10)

        let v = try BundleVerifier(directory: dir, logKey: t.verifier).verify()
        #expect(v.problemCode == nil, "\(v.problem ?? "")")
        #expect(v.sound && v.fullPrefix && !v.usedBundledLogKey)
        #expect(v.entries == m.counts.entries && v.accepted == m.counts.accepted && v.rejected == m.counts.rejected)
        #expect(v.tokensVerified == m.counts.accepted && v.proofsVerified == 0)
        #expect(v.filesChecked == 9)
        #expect(v.root == m.root)
    }

    @Test(arguments: ["accepted", "rejected", "product", "since", "until", "window", "product+accepted", "nothing"])
    func filteredExportVerifies(_ name: String) throws {
        let f = try ExportFixture.get()
        let filter: EntryFilter
        switch name {
        case "accepted": filter = EntryFilter(outcome: "accepted")
        case "rejected": filter = EntryFilter(outcome: "rejected")
        case "product": filter = EntryFilter(productCode: "prod-b")
        case "since": filter = EntryFilter(since: f.t2)
        case "until": filter = EntryFilter(until: f.t1)
        case "window": filter = EntryFilter(since: f.t1, until: f.t2)
        case "product+accepted": filter = EntryFilter(outcome: "accepted", productCode: "prod-c")
        default: filter = EntryFilter(productCode: "no-such-product")
        }
        let want = try f.matching(filter)
        if name != "nothing" { #expect(want.count > 10 && UInt64(want.count) < f.checkpointSize) }
        let (dir, s) = try f.export(filter)
        #expect(s.manifest.counts.entries == want.count)
        #expect(!s.manifest.selection.fullPrefix)
        #expect(s.proofFiles == want.count)
        #expect(s.manifest.firstSeq == want.first?.seq && s.manifest.lastSeq == want.last?.seq)
        #expect(s.manifest.selection.filter == EntryFilter(since: filter.since, until: filter.until, outcome: filter.outcome, productCode: filter.productCode))
        let lines = try BundleEdit.lines(dir, "entries.jsonl")
        #expect(lines.map { Array($0.dropLast()) } == (try want.map { try $0.canonicalBytes() }))
        let files = try BundleEdit.files(dir)
        #expect(s.fileCount == files.count)
        let proofs = files.filter { $0.hasPrefix("proofs/") }
        #expect(Set(proofs) == Set(want.map { "proofs/\($0.seq).tlog-proof" }))
        // Each proof equals what the trail itself proves against the same checkpoint.
        let t = try f.trail()
        for e in want.prefix(5) {
            let p = try t.inclusionProof(seq: e.seq)
            #expect(try BundleEdit.read(dir, "proofs/\(e.seq).tlog-proof") == Array(p.serialized.utf8))
        }
        let v = try BundleVerifier(directory: dir).verify()
        #expect(v.problemCode == nil, "\(v.problem ?? "")")
        #expect(v.proofsVerified == want.count)
        #expect(v.tokensVerified == want.filter(\.isAccepted).count)
        #expect(v.usedBundledLogKey)
        // Only keys that verified a selected entry are bundled.
        let fps = Set(want.compactMap(\.keyFingerprint))
        #expect(s.keyFiles == fps.count)
    }

    /// With chunks of 4 and 8 leaves the fixture's proofs cross dozens of chunk boundaries:
    /// every proof file equals the trail's own proof, SHA256SUMS merges them in path order,
    /// and the bundle verifies.
    @Test(arguments: [2, 3])
    func proofsAcrossManySmallChunksMatchTheTrails(bits: Int) throws {
        let f = try ExportFixture.get()
        let t = try f.trail()
        for filter in [EntryFilter(outcome: "accepted"), EntryFilter(since: f.t1, until: f.t2), EntryFilter(productCode: "prod-b")] {
            let want = try f.matching(filter)
            #expect(want.count > 20)
            var options = ExportOptions(filter: filter)
            options.proofChunkBits = bits
            let dir = try makeTempDir("bundle") + "/bundle"
            let s = try t.exportBundle(to: dir, options: options)
            #expect(s.proofFiles == want.count)
            #expect(s.fileCount == (try BundleEdit.files(dir).count))
            for e in want {
                let p = try t.inclusionProof(seq: e.seq)
                #expect(try BundleEdit.read(dir, "proofs/\(e.seq).tlog-proof") == Array(p.serialized.utf8), "seq \(e.seq), chunks of \(1 << bits)")
            }
            #expect(try bundleProblem(dir) == nil)
        }
    }

    @Test func freshCheckpointCoversNewerEntries() throws {
        let f = try ExportFixture.get()
        let (dir, s) = try f.export(EntryFilter(outcome: "rejected"), signer: f.signer)
        #expect(s.manifest.treeSize == f.checkpointSize + f.newer)
        #expect(s.manifest.newerEntriesOmitted == 0)
        #expect(try bundleProblem(dir) == nil)
        // The bundle's checkpoint is a fresh one of the whole trail.
        let note = try SignedNote(parsing: String(decoding: try BundleEdit.read(dir, "checkpoint"), as: UTF8.self))
        #expect(try Checkpoint(verifying: note, verifiers: [f.signer.verifier]).size == f.checkpointSize + f.newer)
    }

    @Test func wrongSigningKeyIsRefusedAndNothingIsWritten() throws {
        let f = try ExportFixture.get()
        let out = try makeTempDir() + "/b"
        let other = try NoteSigner.generate(name: "export.test/log")
        #expect(throws: ExportError.self) { try AuditTrail(path: f.db).exportBundle(to: out, options: ExportOptions(signer: other)) }
        do { _ = try AuditTrail(path: f.db).exportBundle(to: out, options: ExportOptions(signer: other)) } catch let error as ExportError {
            #expect(error.code.rawValue == "wrong_log_key")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func filterMatchingEverythingIsAFullPrefix() throws {
        // A selection with a filter that matches every entry is still the full prefix.
        let f = try ExportFixture.get()
        let (dir, s) = try f.export(EntryFilter(since: 0))
        #expect(s.manifest.selection.fullPrefix)
        #expect(s.proofFiles == 0)
        #expect(try bundleProblem(dir) == nil)
    }
}

/// The exporter's record of which keys the selected entries name, kept by raw fingerprint bytes.
@Suite struct ExportKeyUsageTests {
    func note(_ u: inout AuditTrail.KeyUsage, _ raw: String, seq: UInt64, accepted: Bool, version: Int64?) throws {
        let bytes = Array(raw.utf8)
        try bytes.withUnsafeBytes { try u.note($0, seq: seq, accepted: accepted, version: version) }
    }

    @Test func firstAcceptedUseAndClaimedVersionsPerFingerprint() throws {
        var u = AuditTrail.KeyUsage()
        try note(&u, "aa", seq: 0, accepted: false, version: 9)
        try note(&u, "bb", seq: 1, accepted: true, version: 2)
        try note(&u, "aa", seq: 2, accepted: true, version: 1)
        try note(&u, "bb", seq: 3, accepted: true, version: 2)
        try note(&u, "aa", seq: 4, accepted: true, version: 3)
        try note(&u, "cc", seq: 5, accepted: false, version: 1)
        // An escaped fingerprint is decoded once; the same raw bytes find it again.
        try note(&u, #"a\"q"#, seq: 6, accepted: true, version: nil)
        try note(&u, #"a\"q"#, seq: 7, accepted: true, version: 4)
        #expect(u.uses.map(\.fingerprint) == ["aa", "bb", "cc", "a\"q"])
        #expect(u.uses.map(\.accepted) == [true, true, false, true])
        // The first accepted entry names the key (rejected ones only until one is accepted).
        #expect(u.uses.map(\.seq) == [2, 1, 5, 6])
        // Rejected entries' versions are not claims; each claim keeps its first entry.
        #expect(u.uses.map(\.versions) == [[1: 2, 3: 4], [2: 1], [:], [4: 7]])
    }

    @Test func undecodableFingerprintIsAnInvalidEntry() {
        var u = AuditTrail.KeyUsage()
        do {
            try note(&u, #"bad\x"#, seq: 12, accepted: true, version: 1)
            Issue.record("an undecodable fingerprint was accepted")
        } catch {
            let e = error as? AuditError
            #expect(e?.code == .invalidEntry)
            #expect(e?.reason.contains("entry 12") == true)
        }
    }
}

@Suite struct BatchInclusionProofTests {
    @Test func matchesTheReferenceProofsForEveryLeafOfSmallTrees() throws {
        for n in 1...70 {
            var source = DictionaryNodeSource()
            var frontier = MerkleFrontier()
            var batch = BatchInclusionProofs()
            for i in 0..<n {
                frontier.append(testLeaf(i)) { level, index, hash in
                    source.nodes[.init(level: level, index: index)] = hash
                }
                batch.append(testLeaf(i), mark: true)
            }
            #expect(batch.root == frontier.root)
            for m in 0..<UInt64(n) {
                let want = try MerkleProofs.inclusionProof(index: m, treeSize: UInt64(n), source: source)
                #expect(try batch.proof(for: m) == want, "n=\(n) m=\(m)")
            }
        }
    }

    @Test func sparseSelectionsKeepOnlyNeededNodesAndStillMatch() throws {
        let n = 1000
        var source = DictionaryNodeSource()
        var frontier = MerkleFrontier()
        var batch = BatchInclusionProofs()
        let marked: Set<Int> = [0, 1, 2, 511, 512, 513, 777, 998, 999]
        for i in 0..<n {
            frontier.append(testLeaf(i)) { level, index, hash in source.nodes[.init(level: level, index: index)] = hash }
            batch.append(testLeaf(i), mark: marked.contains(i))
        }
        #expect(batch.markedIndices == marked.sorted().map(UInt64.init))
        var seen = 0
        try batch.forEachProof { m, proof in
            #expect(proof == (try MerkleProofs.inclusionProof(index: m, treeSize: UInt64(n), source: source)))
            try RFC6962.verifyInclusion(leafHash: testLeaf(Int(m)), index: m, treeSize: UInt64(n), proof: proof, root: frontier.root)
            seen += 1
        }
        #expect(seen == marked.count)
        #expect(throws: TransparencyError.self) { try batch.proof(for: 5) }
        #expect(throws: TransparencyError.self) { try batch.proof(for: 1000) }
    }
}

@Suite struct ChunkedInclusionProofTests {
    /// Builds the tree of `n` test leaves in chunks of `1 << bits`, marking `marked`, and checks
    /// every marked leaf's path against the reference proof and the root.
    func check(n: Int, bits: Int, marked: Set<Int>) throws {
        var source = DictionaryNodeSource()
        var frontier = MerkleFrontier()
        var chunked = ChunkedInclusionProofs(chunkBits: bits)
        for i in 0..<n {
            frontier.append(testLeaf(i)) { level, index, hash in source.nodes[.init(level: level, index: index)] = hash }
            chunked.append(testLeaf(i), mark: marked.contains(i))
        }
        #expect(chunked.size == UInt64(n))
        #expect(chunked.finish() == frontier.root, "n=\(n) bits=\(bits)")
        #expect(chunked.marked == marked.sorted().map(UInt64.init))
        var seen: [UInt64] = []
        for c in chunked.markedChunks() {
            let leaves = c.leaves.map { testLeaf(Int($0)) }
            for (m, path) in try chunked.proofs(chunk: c.chunk, leafHashes: leaves) {
                #expect(path == (try MerkleProofs.inclusionProof(index: m, treeSize: UInt64(n), source: source)), "n=\(n) bits=\(bits) m=\(m)")
                seen.append(m)
            }
        }
        #expect(seen == marked.sorted().map(UInt64.init))
    }

    @Test func matchesTheReferenceForEveryLeafAcrossChunkBoundaries() throws {
        for bits in 1...3 {
            for n in 1...40 { try check(n: n, bits: bits, marked: Set(0..<n)) }
        }
        // The default chunk size, with trees just below, at and above one and two chunks.
        for n in [4095, 4096, 4097, 8192, 8193, 12_289] {
            try check(n: n, bits: 12, marked: Set([0, 1, 4094, 4095, 4096, 4097, 8191, 8192, n - 2, n - 1].filter { $0 < n }))
        }
    }

    @Test func sparseAndEmptySelections() throws {
        try check(n: 1000, bits: 4, marked: [0, 15, 16, 17, 511, 512, 999])
        try check(n: 1000, bits: 4, marked: [])
        try check(n: 1, bits: 12, marked: [0])
        var empty = ChunkedInclusionProofs()
        #expect(empty.finish() == RFC6962.emptyRoot)
        #expect(throws: TransparencyError.self) { try empty.proofs(chunk: 0, leafHashes: []) }
        #expect(empty.markedChunks().isEmpty)
    }

    @Test func leafHashesThatAreNotTheChunksAreRefused() throws {
        var chunked = ChunkedInclusionProofs(chunkBits: 3)
        for i in 0..<20 { chunked.append(testLeaf(i), mark: i == 9) }
        _ = chunked.finish()
        let leaves = (8..<16).map(testLeaf)
        #expect(try chunked.proofs(chunk: 1, leafHashes: leaves).map(\.index) == [9])
        var swapped = leaves
        swapped.swapAt(2, 3)
        #expect(throws: TransparencyError.self) { try chunked.proofs(chunk: 1, leafHashes: swapped) }
        #expect(throws: TransparencyError.self) { try chunked.proofs(chunk: 1, leafHashes: Array(leaves.dropLast())) }
        #expect(throws: TransparencyError.self) { try chunked.proofs(chunk: 3, leafHashes: leaves) }
        // The partial last chunk has 4 leaves.
        #expect(try chunked.proofs(chunk: 2, leafHashes: (16..<20).map(testLeaf)).isEmpty)
        #expect(throws: TransparencyError.self) { try chunked.proofs(chunk: 2, leafHashes: (16..<24).map(testLeaf)) }
    }

    /// Proof file lines of SHA256SUMS sort as the paths do, bytewise.
    @Test func proofPathOrderIsBytewisePathOrder() {
        let seqs: [UInt64] = [0, 1, 2, 9, 10, 11, 19, 20, 99, 100, 101, 109, 110, 1000, 1_000_000, 999_999, 4096, 40960, 409,
                              UInt64(Int64.max), UInt64(Int64.max) - 1, 1_000_000_000_000_000_000, 999_999_999_999_999_999]
        let byPath = seqs.sorted { BundleLayout.proof($0).utf8.lexicographicallyPrecedes(BundleLayout.proof($1).utf8) }
        #expect(seqs.sorted(by: AuditTrail.ProofFileSum.pathOrder) == byPath)
    }
}

@Suite struct SumsLineTests {
    @Test(arguments: [("a", true), ("a/b", true), ("proofs/12.tlog-proof", true), (".a", true), ("a/..b", true), ("a/b.", true),
                      ("", false), ("/a", false), ("a/", false), ("a//b", false), ("./a", false), ("a/.", false), ("a/../b", false),
                      ("..", false), ("a\\b", false), ("a\u{1}b", false), ("a\tb", false), ("\u{7F}", true), ("é/ü", true)])
    func bundlePaths(path: String, ok: Bool) {
        #expect(BundleVerifier.isBundlePath(Array(path.utf8)[...]) == ok, "\(path)")
    }

    @Test func lowercaseHexOnly() {
        let hex = "00ff10a9" + String(repeating: "0", count: 56)
        #expect(BundleVerifier.decodeLowerHex(Array(hex.utf8)[...]) == [0x00, 0xFF, 0x10, 0xA9] + [UInt8](repeating: 0, count: 28))
        #expect(BundleVerifier.decodeLowerHex(Array(hex.uppercased().utf8)[...]) == nil)
        #expect(BundleVerifier.decodeLowerHex(Array(hex.dropLast().utf8)[...]) == nil)
        #expect(BundleVerifier.decodeLowerHex(Array(("g" + hex.dropFirst()).utf8)[...]) == nil)
        // A slice that does not start at index 0.
        let line = Array(("xx" + hex).utf8)
        #expect(BundleVerifier.decodeLowerHex(line[2...])?.prefix(2) == [0x00, 0xFF])
    }
}

@Suite struct EntryCSVTests {
    @Test func quotesOnlyWhenNeededAndKeepsNullApartFromEmpty() throws {
        var e = AuditEntry(rejected: .malformedInput, message: "bad, \"very\" bad\r\nline", source: .import,
                           capture: CaptureOrigin(file: "", line: 3, hash: "ab", capturedAt: nil))
        e.seq = 42
        e.recordedAt = "2026-01-02T03:04:05.006Z"
        let row = String(decoding: EntryCSV.row(e), as: UTF8.self)
        // binding,captureFile,captureHash,captureLine,capturedAt,issuedAt,keyFingerprint,message,nonce,outcome,productCode,publicKeyVersion,reason,recordedAt,seq,source,token,warnings
        #expect(row == "unbound,\"\",ab,3,,,,\"bad, \"\"very\"\" bad\r\nline\",,rejected,,,malformed_input,2026-01-02T03:04:05.006Z,42,import,,\r\n")
        let fields = try #require(EntryCSV.parseRecord(EntryCSV.row(e)))
        #expect(fields.count == AuditEntry.fieldNames.count)
        #expect(fields == e.members.map { EntryCSV.fieldText($0.1) })
        #expect(fields[1] == "" && fields[4] == nil)
        #expect(String(decoding: EntryCSV.header, as: UTF8.self) == AuditEntry.fieldNames.joined(separator: ",") + "\r\n")
    }

    @Test("a string a spreadsheet would evaluate gets an apostrophe; numbers, booleans and other strings do not")
    func formulaGuard() throws {
        var e = AuditEntry(rejected: .malformedInput, message: "=HYPERLINK(\"http://x\",\"y\")", source: .import,
                           capture: CaptureOrigin(file: "+1.jsonl", line: 3, hash: "@ab", capturedAt: "-1"))
        e.seq = 7
        e.recordedAt = "2026-01-02T03:04:05.006Z"
        e.nonce = "\tx,y"
        e.productCode = "\rp"
        e.token = "a=b"
        e.issuedAt = -5
        let row = String(decoding: EntryCSV.row(e), as: UTF8.self)
        #expect(row == "unbound,'+1.jsonl,'@ab,3,'-1,-5,,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"'\tx,y\",rejected,\"'\rp\",,malformed_input,2026-01-02T03:04:05.006Z,7,import,a=b,\r\n")
        let fields = try #require(EntryCSV.parseRecord(EntryCSV.row(e)))
        #expect(fields == e.members.map { EntryCSV.fieldText($0.1) })
        #expect(fields[0] == "unbound" && fields[1] == "'+1.jsonl" && fields[5] == "-5" && fields[16] == "a=b")
    }

    @Test(arguments: ["\"open", "a\"b", "\"x\"y", "a\rb", "\"a\"\"", "a\nb"])
    func refusesNonRFC4180Records(_ raw: String) {
        #expect(EntryCSV.parseRecord(Array(raw.utf8)) == nil)
    }
}

/// `manifest.json` comes from an untrusted bundle: reading it must stay linear in its size.
@Suite struct ManifestParsingTests {
    /// A manifest whose `counts.byReason` holds `reasons` (name, count) members, as raw JSON.
    static func manifest(reasons: String) -> [UInt8] {
        Array("""
        {"format": "meterproof-export@v1", "tool": "meterproof 1.0", "createdAt": "2026-11-27T12:00:00.000Z",
         "origin": "example.com/log", "treeSize": 12, "root": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
         "selection": {"since": null, "until": null, "productCode": null, "outcome": "all", "fullPrefix": false},
         "counts": {"entries": 3, "accepted": 2, "rejected": 1, "byReason": {\(reasons)}},
         "firstSeq": 0, "lastSeq": 2, "newerEntriesOmitted": 0}
        """.utf8)
    }

    @Test(.timeLimit(.minutes(1)))
    func aMegabyteOfReasonsIsReadInOnePass() throws {
        // About 1 MiB of members: each count used to be looked up again by name (quadratic,
        // minutes for this file, found by fuzzing). The time limit only guards against a hang.
        let n = 96_000
        let bytes = Self.manifest(reasons: (0..<n).map { "\"r\($0)\":\($0 % 7)" }.joined(separator: ","))
        #expect(bytes.count > 1_000_000 && bytes.count < 1 << 20)
        let m = try BundleManifest(parsing: bytes)
        #expect(m.counts.byReason.count == n)
        #expect(m.counts.byReason["r95999"] == 95_999 % 7)
    }

    @Test func reasonNamesAreToldApartByTheirBytes() throws {
        // "é" precomposed and decomposed: distinct bytes (the strict reader and Python's
        // dictionary keep both), one key for a Swift dictionary. They used to be refused; a
        // trail may record both (a library's own reason codes), so an export writes both, and
        // reading them back keeps them apart.
        let bytes = Self.manifest(reasons: "\"caf\u{E9}\":1,\"cafe\u{301}\":2")
        let m = try BundleManifest(parsing: bytes)
        #expect(m.counts.exactByReason == [ExactString("caf\u{E9}"): 1, ExactString("cafe\u{301}"): 2])
        #expect(m.counts.byReason.values.sorted() == [3])   // the merged view
        #expect(try BundleManifest(parsing: Self.manifest(reasons: "\"bad_signature\":1")).counts.byReason == ["bad_signature": 1])
    }
}
