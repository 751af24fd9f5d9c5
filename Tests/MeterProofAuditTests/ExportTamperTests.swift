import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Every change to a bundle must make `export verify` fail. "Resealed" changes also rewrite
/// SHA256SUMS, as a forger would, so a deeper check (signature, root, proof, CSV, keys,
/// manifest) must catch them.
@Suite struct ExportTamperTests {
    /// A small selection (about 20 entries, both keys) and the full prefix.
    static func bundles() throws -> [(name: String, dir: String)] {
        let f = try ExportFixture.get()
        return [
            ("selection", try f.export(EntryFilter(since: f.t1, productCode: "prod-a")).dir),
            ("full", try f.export().dir),
        ]
    }

    /// Byte offsets of checked manifest values (flipping `createdAt`, `tool` or
    /// `newerEntriesOmitted` is undetectable once resealed: they are informational).
    static func checkedManifestOffsets(_ bytes: [UInt8]) -> [Int] {
        let text = String(decoding: bytes, as: UTF8.self)
        var out: [Int] = []
        for key in ["\"origin\": \"", "\"treeSize\": ", "\"root\": \"", "\"entries\": ", "\"accepted\": ", "\"firstSeq\": ", "\"lastSeq\": ", "\"fullPrefix\": ", "\"productCode\": "] {
            if let r = text.range(of: key) { out.append(text.utf8.distance(from: text.startIndex, to: r.upperBound)) }
        }
        return out
    }

    @Test func everySingleByteFlipInEveryFileIsDetected() throws {
        let f = try ExportFixture.get()
        // A narrow selection (about ten entries, so ten proof files) and the full prefix.
        let narrow = try f.export(EntryFilter(since: f.t1, until: f.t2, outcome: "rejected", productCode: "prod-a"))
        #expect(narrow.summary.proofFiles >= 5 && narrow.summary.keyFiles >= 1)
        for (name, dir) in [("selection", narrow.dir), ("full", try f.export().dir)] {
            let originalSums = try BundleEdit.read(dir, "SHA256SUMS")
            let files = try BundleEdit.files(dir)
            #expect(files.count >= 10)
            var resealedCodes: Set<String> = []
            for file in files {
                let original = try BundleEdit.read(dir, file)
                var positions = Set([0, original.count / 2, max(0, original.count - 2), original.count - 1])
                if file == "manifest.json" { positions.formUnion(Self.checkedManifestOffsets(original)) }
                let text = String(decoding: original, as: UTF8.self)
                if file == "entries.jsonl", let r = text.range(of: "\"token\":\"eyJ") {
                    // Inside a token: the line stays canonical JSON, only its leaf hash changes.
                    positions.insert(text.utf8.distance(from: text.startIndex, to: r.upperBound) + 40)
                }
                for pos in positions.sorted() where pos >= 0 && pos < original.count {
                    var bytes = original
                    bytes[pos] ^= 0x01
                    try BundleEdit.write(dir, file, bytes)
                    // Tokens are not re-verified here: every flip must be caught by an earlier check.
                    let raw = try bundleProblem(dir, checkTokens: false)
                    if file == "SHA256SUMS" {
                        #expect(raw != nil, "\(name): flip at \(pos) of SHA256SUMS went unnoticed")
                    } else {
                        #expect(raw == "hash_mismatch", "\(name): flip at \(pos) of \(file) gave \(raw ?? "sound")")
                    }
                    let informational = file == "VERIFY.md" || (file == "manifest.json" && !Self.checkedManifestOffsets(original).contains(pos) && pos != 0)
                    if file != "SHA256SUMS" && !informational {
                        try BundleEdit.reseal(dir)
                        let deep = try bundleProblem(dir, checkTokens: false)
                        #expect(deep != nil && deep != "hash_mismatch", "\(name): resealed flip at \(pos) of \(file) gave \(deep ?? "sound")")
                        if let deep { resealedCodes.insert(deep) }
                        try BundleEdit.write(dir, "SHA256SUMS", originalSums)
                    }
                    try BundleEdit.write(dir, file, original)
                }
            }
            #expect(try bundleProblem(dir) == nil, "\(name): restoring the bundle did not restore soundness")
            // The deep checks that caught the resealed flips.
            #expect(resealedCodes.isSuperset(of: ["checkpoint_signature", "entry_invalid", "csv_mismatch", "keyring_invalid", "log_key_invalid", "manifest_mismatch"]), "\(name): \(resealedCodes.sorted())")
            if name == "selection" { #expect(resealedCodes.contains("proof_invalid")) }
        }
    }

    /// Applies `edit` to a copy of `dir` (then reseals unless told not to) and returns the problem code.
    func tampered(_ dir: String, reseal: Bool = true, logKey: NoteVerifier? = nil, _ edit: (String) throws -> Void) throws -> String? {
        let copy = try BundleEdit.copy(dir)
        try edit(copy)
        if reseal { try BundleEdit.reseal(copy) }
        return try bundleProblem(copy, logKey: logKey)
    }

    func removeLine(_ dir: String, jsonl: Int? = nil, csvRow: Int? = nil) throws {
        if let k = jsonl {
            var lines = try BundleEdit.lines(dir, "entries.jsonl")
            lines.remove(at: k)
            try BundleEdit.write(dir, "entries.jsonl", lines.flatMap { $0 })
        }
        if let k = csvRow {
            var rows = try BundleEdit.csvRecords(dir)
            rows.remove(at: k + 1)
            try BundleEdit.write(dir, "entries.csv", rows.flatMap { $0 })
        }
    }

    func seq(_ line: [UInt8]) throws -> UInt64 { try AuditEntry(canonicalBytes: line.dropLast()).seq }

    @Test func deletedAddedAndSwappedLinesAreDetected() throws {
        let bundles = try Self.bundles()
        let (sel, full) = (bundles[0].dir, bundles[1].dir)

        // Deleted line.
        #expect(try tampered(sel, reseal: false) { try removeLine($0, jsonl: 3) } == "hash_mismatch")
        #expect(try tampered(sel) { try removeLine($0, jsonl: 3) } == "csv_mismatch")
        #expect(try tampered(sel) { try removeLine($0, jsonl: 3, csvRow: 3) } == "proof_stray")
        #expect(try tampered(sel) { d in
            let s = try seq(try BundleEdit.lines(d, "entries.jsonl")[3])
            try removeLine(d, jsonl: 3, csvRow: 3)
            try FileManager.default.removeItem(atPath: d + "/proofs/\(s).tlog-proof")
        } == "manifest_mismatch")
        #expect(try tampered(full) { try removeLine($0, jsonl: 10, csvRow: 10) } == "selection_incomplete")
        #expect(try tampered(full) { d in
            let n = try BundleEdit.lines(d, "entries.jsonl").count
            try removeLine(d, jsonl: n - 1, csvRow: n - 1)
        } == "selection_incomplete")

        // Added line: a duplicate, an entry outside the selection, a forged seq with a borrowed proof.
        #expect(try tampered(sel) { d in
            var lines = try BundleEdit.lines(d, "entries.jsonl")
            lines.insert(lines[2], at: 3)
            try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
        } == "entry_order")
        #expect(try tampered(sel) { d in
            // prod-b entry from the full bundle, inserted in seq order with its CSV row.
            let fullLines = try BundleEdit.lines(full, "entries.jsonl")
            let fullRows = try BundleEdit.csvRecords(full)
            let i = try fullLines.firstIndex { try AuditEntry(canonicalBytes: $0.dropLast()).productCode == "prod-b" && (try seq($0)) > (try seq(try BundleEdit.lines(d, "entries.jsonl")[0])) }!
            var lines = try BundleEdit.lines(d, "entries.jsonl")
            var rows = try BundleEdit.csvRecords(d)
            let at = try lines.firstIndex { try seq($0) > (try seq(fullLines[i])) } ?? lines.count
            lines.insert(fullLines[i], at: at)
            rows.insert(fullRows[i + 1], at: at + 1)
            try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
            try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
        } == "selection_mismatch")
        #expect(try tampered(sel) { d in
            var lines = try BundleEdit.lines(d, "entries.jsonl")
            var rows = try BundleEdit.csvRecords(d)
            let s0 = try seq(lines[0])
            var e = try AuditEntry(canonicalBytes: lines[0].dropLast())
            let existing = Set(try lines.map { try seq($0) })
            e.seq = ((s0 + 1)...).first { !existing.contains($0) }!
            let at = try lines.firstIndex { try seq($0) > e.seq } ?? lines.count
            lines.insert(try e.canonicalBytes() + [0x0A], at: at)
            rows.insert(EntryCSV.row(e), at: at + 1)
            try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
            try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
            try FileManager.default.copyItem(atPath: d + "/proofs/\(s0).tlog-proof", toPath: d + "/proofs/\(e.seq).tlog-proof")
        } == "proof_invalid")

        // An edited entry with its CSV row edited to match: the root or the proof breaks.
        for (dir, want) in [(sel, "proof_invalid"), (full, "root_mismatch")] {
            #expect(try tampered(dir) { d in
                var lines = try BundleEdit.lines(d, "entries.jsonl")
                var rows = try BundleEdit.csvRecords(d)
                var e = try AuditEntry(canonicalBytes: lines[2].dropLast())
                e.message = "nothing to see here"
                lines[2] = try e.canonicalBytes() + [0x0A]
                rows[3] = EntryCSV.row(e)
                try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
                try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
            } == want)
        }

        // Swapped lines (with their CSV rows): out of order, or in a full prefix a gap first.
        for (dir, want) in [(sel, "entry_order"), (full, "selection_incomplete")] {
            #expect(try tampered(dir) { d in
                var lines = try BundleEdit.lines(d, "entries.jsonl")
                var rows = try BundleEdit.csvRecords(d)
                lines.swapAt(4, 5)
                rows.swapAt(5, 6)
                try BundleEdit.write(d, "entries.jsonl", lines.flatMap { $0 })
                try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
            } == want)
        }
        // Swapped CSV rows only.
        #expect(try tampered(sel) { d in
            var rows = try BundleEdit.csvRecords(d)
            rows.swapAt(1, 2)
            try BundleEdit.write(d, "entries.csv", rows.flatMap { $0 })
        } == "csv_mismatch")
    }

    @Test func swappedAndStrayFilesAreDetected() throws {
        let f = try ExportFixture.get()
        let bundles = try Self.bundles()
        let (sel, full) = (bundles[0].dir, bundles[1].dir)
        let seqs = try BundleEdit.lines(sel, "entries.jsonl").map { try seq($0) }

        // A proof file of another seq in place of the right one.
        #expect(try tampered(sel) { d in
            try BundleEdit.write(d, "proofs/\(seqs[1]).tlog-proof", try BundleEdit.read(d, "proofs/\(seqs[2]).tlog-proof"))
        } == "proof_invalid")
        // A proof against another checkpoint of the same log (a fresh, larger one).
        let freshTrail = try f.copyTrail()
        let fresh = try AuditTrail(path: freshTrail).exportBundle(to: try makeTempDir() + "/b", options: ExportOptions(filter: EntryFilter(since: f.t1, productCode: "prod-a"), signer: f.signer))
        #expect(try bundleProblem(fresh.directory) == nil)
        #expect(try tampered(sel) { d in
            try BundleEdit.write(d, "proofs/\(seqs[0]).tlog-proof", try BundleEdit.read(fresh.directory, "proofs/\(seqs[0]).tlog-proof"))
        } == "proof_checkpoint_mismatch")
        // The checkpoint of that other bundle: same log and key, other size.
        #expect(try tampered(sel) { d in
            try BundleEdit.write(d, "checkpoint", try BundleEdit.read(fresh.directory, "checkpoint"))
        } == "manifest_mismatch")
        // A checkpoint of another log.
        let other = try OtherLog.bundle()
        #expect(try tampered(sel) { d in try BundleEdit.write(d, "checkpoint", try BundleEdit.read(other, "checkpoint")) } == "checkpoint_signature")
        // Another log's key and checkpoint together: sound under the bundled key (compare it out
        // of band!), refused under the real one.
        let otherKeyed: (String) throws -> Void = { d in
            try BundleEdit.write(d, "checkpoint", try BundleEdit.read(other, "checkpoint"))
            try BundleEdit.write(d, "log-key.vkey", try BundleEdit.read(other, "log-key.vkey"))
        }
        #expect(try tampered(sel, otherKeyed) == "manifest_mismatch")
        #expect(try tampered(sel, logKey: try f.trail().verifier, otherKeyed) == "log_key_mismatch")
        // A stray proof in a full prefix; a stray proof of an unselected seq in a selection.
        #expect(try tampered(full) { d in
            try FileManager.default.createDirectory(atPath: d + "/proofs", withIntermediateDirectories: false)
            try FileManager.default.copyItem(atPath: sel + "/proofs/\(seqs[0]).tlog-proof", toPath: d + "/proofs/\(seqs[0]).tlog-proof")
        } == "proof_stray")
        #expect(try tampered(sel) { d in
            let unselected = (0...).first { !seqs.contains(UInt64($0)) }!
            try FileManager.default.copyItem(atPath: d + "/proofs/\(seqs[0]).tlog-proof", toPath: d + "/proofs/\(unselected).tlog-proof")
        } == "proof_stray")
        // Unexpected, missing and unlisted files; links.
        #expect(try tampered(sel) { try BundleEdit.write($0, "notes.txt", Array("hello\n".utf8)) } == "unexpected_file")
        #expect(try tampered(sel, reseal: false) { try BundleEdit.write($0, "notes.txt", Array("hello\n".utf8)) } == "file_unlisted")
        #expect(try tampered(sel, reseal: false) { try FileManager.default.removeItem(atPath: $0 + "/entries.csv") } == "file_missing")
        #expect(try tampered(sel) { try FileManager.default.removeItem(atPath: $0 + "/entries.csv") } == "file_missing")
        #expect(try tampered(sel, reseal: false) { try FileManager.default.removeItem(atPath: $0 + "/SHA256SUMS") } == "file_missing")
        #expect(try tampered(sel) { try FileManager.default.createSymbolicLink(atPath: $0 + "/link", withDestinationPath: "entries.csv") } == "unexpected_file")
        #expect(try tampered(sel) { try FileManager.default.createDirectory(atPath: $0 + "/extra", withIntermediateDirectories: false) } == "unexpected_file")
    }

    /// SHA256SUMS is checked as a stream against the listing (proof files kept as seqs): each
    /// problem names the right file, the first in path order.
    @Test func sumsCoverageNamesTheRightFile() throws {
        let sel = try Self.bundles()[0].dir
        let seqs = try BundleEdit.lines(sel, "entries.jsonl").map { try seq($0) }
        #expect(seqs.count > 20)
        func problem(_ edit: (String) throws -> Void) throws -> (code: String?, message: String?) {
            let copy = try BundleEdit.copy(sel)
            try edit(copy)
            let v = try BundleVerifier(directory: copy).verify()
            return (v.problemCode, v.problem)
        }
        func dropSumsLines(_ d: String, _ drop: (String) -> Bool) throws {
            let text = String(decoding: try BundleEdit.read(d, "SHA256SUMS"), as: UTF8.self)
            let kept = text.split(separator: "\n").filter { !drop(String($0.dropFirst(66))) }
            try BundleEdit.write(d, "SHA256SUMS", Array(kept.map { $0 + "\n" }.joined().utf8))
        }
        // Proof paths sort as strings: the middle one in that order, and the last.
        let byPath = seqs.map { BundleLayout.proof($0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let middle = byPath[byPath.count / 2], lastProof = byPath.last!
        var p = try problem { try dropSumsLines($0) { $0 == middle } }
        #expect(p.code == "file_unlisted" && p.message?.hasPrefix(middle + " ") == true, "\(p)")
        p = try problem { try dropSumsLines($0) { $0 == lastProof } }
        #expect(p.code == "file_unlisted" && p.message?.hasPrefix(lastProof + " ") == true, "\(p)")
        // Two unlisted proofs: the first in path order is named.
        p = try problem { try dropSumsLines($0) { $0 == lastProof || $0 == middle } }
        #expect(p.message?.hasPrefix(middle + " ") == true, "\(p)")
        // An unlisted proof and an unlisted manifest.json: "manifest.json" sorts first.
        p = try problem { try dropSumsLines($0) { $0 == middle || $0 == "manifest.json" } }
        #expect(p.code == "file_unlisted" && p.message?.hasPrefix("manifest.json ") == true, "\(p)")
        // A listed proof deleted from the directory is missing; deleting two names the first
        // listed.
        p = try problem { try FileManager.default.removeItem(atPath: $0 + "/" + lastProof) }
        #expect(p.code == "file_missing" && p.message?.hasPrefix(lastProof + " ") == true, "\(p)")
        p = try problem { d in
            try FileManager.default.removeItem(atPath: d + "/" + lastProof)
            try FileManager.default.removeItem(atPath: d + "/" + middle)
        }
        #expect(p.code == "file_missing" && p.message?.hasPrefix(middle + " ") == true, "\(p)")
        // A missing file wins over an unlisted one, as a malformed line wins over both.
        p = try problem { d in
            try FileManager.default.removeItem(atPath: d + "/" + lastProof)
            try dropSumsLines(d) { $0 == middle }
        }
        #expect(p.code == "file_missing", "\(p)")
        p = try problem { d in
            try FileManager.default.removeItem(atPath: d + "/" + lastProof)
            var sums = try BundleEdit.read(d, "SHA256SUMS")
            sums.append(contentsOf: Array("not a line\n".utf8))
            try BundleEdit.write(d, "SHA256SUMS", sums)
        }
        #expect(p.code == "sums_malformed", "\(p)")
        // A proof file under a name an export never writes (leading zero; a seq past Int64.max)
        // is an unexpected file, listed or not.
        #expect(try tampered(sel) { d in
            try FileManager.default.copyItem(atPath: d + "/proofs/\(seqs[0]).tlog-proof", toPath: d + "/proofs/0\(seqs[0]).tlog-proof")
        } == "unexpected_file")
        #expect(try tampered(sel) { d in
            try FileManager.default.copyItem(atPath: d + "/proofs/\(seqs[0]).tlog-proof", toPath: d + "/proofs/18446744073709551615.tlog-proof")
        } == "unexpected_file")
        // A changed proof file is named by its hash.
        p = try problem { d in
            var bytes = try BundleEdit.read(d, middle)
            bytes[bytes.count / 2] ^= 1
            try BundleEdit.write(d, middle, bytes)
        }
        #expect(p.code == "hash_mismatch" && p.message?.hasPrefix(middle + " ") == true, "\(p)")
        // Hashes are checked in batches: the first mismatch in SHA256SUMS order is named,
        // wherever it falls against a batch boundary.
        let listedPaths = String(decoding: try BundleEdit.read(sel, "SHA256SUMS"), as: UTF8.self).split(separator: "\n").map { String($0.dropFirst(66)) }
        for (k, also) in [(6, nil), (7, nil), (8, 3), (13, nil), (14, 20), (listedPaths.count - 1, nil)] as [(Int, Int?)] {
            let copy = try BundleEdit.copy(sel)
            for i in [k] + (also.map { [$0] } ?? []) {
                var bytes = try BundleEdit.read(copy, listedPaths[i])
                bytes[0] ^= 1
                try BundleEdit.write(copy, listedPaths[i], bytes)
            }
            var verifier = BundleVerifier(directory: copy)
            verifier.hashBatchSize = 7
            let v = try verifier.verify()
            let first = listedPaths[min(k, also ?? k)]
            #expect(v.problemCode == "hash_mismatch" && v.problem?.hasPrefix(first + " ") == true, "k=\(k): \(String(describing: v.problem))")
        }
        // An unlisted name under proofs/ that no export writes sorts before the unlisted proof.
        p = try problem { d in
            try FileManager.default.copyItem(atPath: d + "/" + middle, toPath: d + "/proofs/00.tlog-proof")
            try dropSumsLines(d) { $0 == middle }
        }
        #expect(p.code == "file_unlisted" && p.message?.hasPrefix("proofs/00.tlog-proof ") == true, "\(p)")
        // Seqs just past Int64.max are not proof names.
        #expect(try tampered(sel) { d in
            try FileManager.default.copyItem(atPath: d + "/" + middle, toPath: d + "/proofs/9223372036854775808.tlog-proof")
        } == "unexpected_file")
        // Of several unexpected files, the first in path order is named, in every run.
        p = try problem { d in
            for name in ["extra2", "extra1", "extra3"] { try BundleEdit.write(d, name, Array("x\n".utf8)) }
            try BundleEdit.reseal(d)
        }
        #expect(p.code == "unexpected_file" && p.message?.hasPrefix("extra1 ") == true, "\(p)")
        // A line longer than any bundle path.
        p = try problem { d in
            var sums = try BundleEdit.read(d, "SHA256SUMS")
            sums.insert(contentsOf: Array((String(repeating: "0", count: 64) + "  " + String(repeating: "a", count: 5000) + "\n").utf8), at: 0)
            try BundleEdit.write(d, "SHA256SUMS", sums)
        }
        #expect(p.code == "sums_malformed" && p.message?.contains("longer") == true, "\(p)")
        // An empty SHA256SUMS lists nothing; one without its final newline is malformed.
        #expect(try problem { try BundleEdit.write($0, "SHA256SUMS", []) }.code == "file_unlisted")
        p = try problem { d in try BundleEdit.write(d, "SHA256SUMS", (try BundleEdit.read(d, "SHA256SUMS")).dropLast().map { $0 }) }
        #expect(p.code == "sums_malformed" && p.message?.contains("newline") == true, "\(p)")
    }

    /// The hashes checked are those of the list whose form and coverage were checked: a
    /// SHA256SUMS replaced between the two reads fails, even when every line it holds matches.
    @Test func sumsReplacedBetweenReadsIsDetected() throws {
        let copy = try BundleEdit.copy(try Self.bundles()[0].dir)
        // Every line repeated: each hash still matches its file, but the list is no longer the
        // sorted, duplicate-free one the first read checked.
        let sums = try BundleEdit.read(copy, "SHA256SUMS")
        let doubled = String(decoding: sums, as: UTF8.self).split(separator: "\n").map { "\($0)\n\($0)\n" }.joined()
        var verifier = BundleVerifier(directory: copy)
        verifier.betweenSumsReads = { d in try? BundleEdit.write(d, "SHA256SUMS", Array(doubled.utf8)) }
        let v = try verifier.verify()
        #expect(v.problemCode == "sums_malformed" && v.problem == "SHA256SUMS changed while it was being verified", "\(String(describing: v.problem))")
        // The same file, read twice unchanged, passes: the hook alone changes nothing.
        try BundleEdit.write(copy, "SHA256SUMS", sums)
        verifier.betweenSumsReads = { _ in }
        #expect(try verifier.verify().problemCode == nil)
    }

    @Test func keyAndManifestForgeriesAreDetected() throws {
        let f = try ExportFixture.get()
        let bundles = try Self.bundles()
        let (sel, full) = (bundles[0].dir, bundles[1].dir)
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let fp1 = keyring[1]!.key.fingerprint, fp2 = keyring[2]!.key.fingerprint
        func pins(_ list: [(Int, String)]) -> [UInt8] { Array(BundleLayout.keyringJSON(list.map { (version: $0.0, fingerprint: $0.1) }).utf8) }
        // v1 and v2 swapped, pinned consistently.
        #expect(try tampered(full) { d in
            let (k1, k2) = (try BundleEdit.read(d, "keys/v1.pem"), try BundleEdit.read(d, "keys/v2.pem"))
            try BundleEdit.write(d, "keys/v1.pem", k2)
            try BundleEdit.write(d, "keys/v2.pem", k1)
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp2), (2, fp1)]))
        } == "key_mismatch")
        // v1 replaced by v2's key, pinned consistently: one key under two versions.
        #expect(try tampered(full) { d in
            try BundleEdit.write(d, "keys/v1.pem", try BundleEdit.read(d, "keys/v2.pem"))
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp2), (2, fp2)]))
        } == "unexpected_key")
        // A key dropped; a pin that does not match.
        #expect(try tampered(full) { d in
            try FileManager.default.removeItem(atPath: d + "/keys/v2.pem")
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp1)]))
        } == "key_missing")
        #expect(try tampered(full) { d in try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp2), (2, fp2)])) } == "keyring_invalid")
        // An extra key that verified nothing in the bundle (the other log's bundle uses only v1).
        let other = try OtherLog.bundle()
        #expect(try bundleProblem(other) == nil)
        #expect(try tampered(other) { d in
            try BundleEdit.write(d, "keys/v2.pem", Array(keyring[2]!.key.pem.utf8))
            try BundleEdit.write(d, "keys/keyring.json", pins([(1, fp1), (2, fp2)]))
        } == "unexpected_key")
        // A manifest or checkpoint too large to read says so (it used to say only "cannot be read").
        for (file, code) in [("manifest.json", "manifest_malformed"), ("checkpoint", "checkpoint_malformed")] {
            let big = try BundleEdit.copy(other)
            try BundleEdit.write(big, file, try BundleEdit.read(big, file) + [UInt8](repeating: 0x20, count: 2 << 20))
            try BundleEdit.reseal(big)
            let v = try BundleVerifier(directory: big).verify()
            #expect(v.problemCode == code)
            #expect(v.problem?.hasPrefix("\(file) cannot be read: it is ") == true && v.problem?.hasSuffix(" bytes, over the 1 MiB limit") == true, "\(v.problem ?? "")")
        }
        // Manifest: counts, full-prefix flag, selection.
        func editManifest(_ d: String, _ from: String, _ to: String) throws {
            let text = String(decoding: try BundleEdit.read(d, "manifest.json"), as: UTF8.self)
            #expect(text.contains(from))
            try BundleEdit.write(d, "manifest.json", Array(text.replacingOccurrences(of: from, with: to).utf8))
        }
        #expect(try tampered(full) { try editManifest($0, "\"fullPrefix\": true", "\"fullPrefix\": false") } == "selection_incomplete")
        #expect(try tampered(sel) { try editManifest($0, "\"fullPrefix\": false", "\"fullPrefix\": true") } == "proof_stray")
        #expect(try tampered(sel) { try editManifest($0, "\"productCode\": \"prod-a\"", "\"productCode\": \"prod-b\"") } == "selection_mismatch")
        let product = try f.export(EntryFilter(productCode: "prod-a")).dir
        #expect(try tampered(product) { try editManifest($0, "\"productCode\": \"prod-a\"", "\"productCode\": null") } == "selection_incomplete")
        #expect(try tampered(sel) { try editManifest($0, "\"outcome\": \"all\"", "\"outcome\": \"accepted\"") } == "selection_mismatch")
        #expect(try tampered(sel) { try editManifest($0, "\"format\": \"meterproof-export@v1\"", "\"format\": \"meterproof-export@v2\"") } == "manifest_malformed")
        #expect(try tampered(sel) { try editManifest($0, "\"newerEntriesOmitted\"", "\"extra\": 1,\n  \"newerEntriesOmitted\"") } == "manifest_malformed")
        // Informational members are not checked (documented).
        #expect(try tampered(sel) { try editManifest($0, "\"tool\": \"meterproof ", "\"tool\": \"xmeterproof ") } == nil)
    }

    @Test func tokensAreReverifiedUnderTheGivenKeyring() throws {
        let bundles = try Self.bundles()
        let full = bundles[1].dir
        let testKeys = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        #expect(try bundleProblem(full, keyring: testKeys) == nil)
        let onlyV1 = try Keyring(entries: [testKeys[1]!])
        #expect(try bundleProblem(full, keyring: onlyV1) == "key_missing")
        // Keys are matched even without token re-verification.
        #expect(try bundleProblem(full, keyring: onlyV1, checkTokens: false) == "key_missing")
        // v2's key answering for version 1: the fingerprints differ.
        let swappedDir = try makeTempDir("keys")
        try testKeys[2]!.key.pem.write(toFile: swappedDir + "/v1.pem", atomically: true, encoding: .utf8)
        try testKeys[1]!.key.pem.write(toFile: swappedDir + "/v2.pem", atomically: true, encoding: .utf8)
        let swapped = try Keyring.load(from: swappedDir, allowingTestKeys: true)
        #expect(try bundleProblem(full, keyring: swapped) == "key_mismatch")
        // Without token checks, the same bundle passes the remaining checks quickly.
        let v = try BundleVerifier(directory: full, checkTokens: false).verify()
        #expect(v.sound && v.tokensVerified == 0 && v.entries > 0)
    }

    @Test func notABundleIsAnError() throws {
        let dir = try makeTempDir()
        #expect(throws: ExportError.self) { try BundleVerifier(directory: dir + "/absent").verify() }
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/file"))
        #expect(throws: ExportError.self) { try BundleVerifier(directory: dir + "/file").verify() }
        // An empty directory is a bundle missing everything.
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: false)
        #expect(try bundleProblem(dir + "/empty/") == "file_missing")
    }
}

/// A bundle of a different log (own key, same origin name), for swapping files in.
enum OtherLog {
    static let shared: Result<String, any Error> = Result {
        let dir = try makeTempDir("otherlog")
        let (trail, signer) = try makeTrailOfVerifications(in: dir, log: "export.test/log", (0..<40).map { ("prod-a", "o\($0)") })
        return try trail.exportBundle(to: dir + "/bundle", options: ExportOptions(signer: signer)).directory
    }
    static func bundle() throws -> String { try shared.get() }
}
