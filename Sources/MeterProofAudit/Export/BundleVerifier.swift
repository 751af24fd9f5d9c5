#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MeterProof

/// The verdict of ``BundleVerifier/verify()``.
public struct BundleVerification: Sendable {
    /// `true` when every check passed.
    public var sound: Bool { problemCode == nil }
    /// Stable code of the first failed check (see docs/export-bundle.md), `nil` when sound.
    public internal(set) var problemCode: String?
    /// One sentence: what is wrong and where.
    public internal(set) var problem: String?
    /// Entries read from `entries.jsonl` (up to the failure, if any).
    public internal(set) var entries = 0
    /// Of ``entries``, those recorded accepted.
    public internal(set) var accepted = 0
    /// Of ``entries``, those recorded rejected.
    public internal(set) var rejected = 0
    /// Inclusion proofs checked (0 for a full prefix, whose root is recomputed instead).
    public internal(set) var proofsVerified = 0
    /// Accepted tokens whose PS256 signature and claims were re-verified.
    public internal(set) var tokensVerified = 0
    /// Files whose SHA-256 matched `SHA256SUMS`.
    public internal(set) var filesChecked = 0
    /// The size of the bundle's checkpoint, once it verified (0 before).
    public internal(set) var treeSize: UInt64 = 0
    /// The checkpoint's root, once it verified (the empty tree's root before).
    public internal(set) var root: MerkleHash = RFC6962.emptyRoot
    /// The checkpoint's origin (the log's name), once it verified (empty before).
    public internal(set) var origin = ""
    /// Whether the manifest says the bundle holds every entry below the checkpoint's size.
    public internal(set) var fullPrefix = false
    /// The log key the checkpoint was checked under.
    public internal(set) var logKey = ""
    /// Whether that key was the bundle's own `log-key.vkey` (then compare it out of band).
    public internal(set) var usedBundledLogKey = false
    /// Accepted entries whose recorded key is one of MeterProof's published test keys: their
    /// tokens anyone could have signed, so they prove nothing about AWS.
    public internal(set) var testKeyAccepted = 0
}

/// Checks an export bundle written by ``AuditTrail/exportBundle(to:options:)``, stopping at
/// the first failure:
///
/// 1. `SHA256SUMS` lists every other file, no more, no fewer, sorted; every hash matches;
///    no unexpected file, directory or link.
/// 2. The checkpoint is a signed note verifying under the log key (`logKey`, else the
///    bundled `log-key.vkey`); `manifest.json` parses and names its origin, size and root.
/// 3. Every `entries.jsonl` line is an entry's canonical bytes, seqs strictly increase below
///    the tree size, and each entry matches the manifest's selection; a selection without
///    filters must be the full prefix.
/// 4. Full prefix: the RFC 6962 root of the lines equals the checkpoint's. Otherwise each
///    entry has exactly one `proofs/<seq>.tlog-proof`, against the bundle's checkpoint, that
///    verifies for that line; no stray proofs.
/// 5. `entries.csv` is the rendering of the entries, row by row and field by field.
/// 6. Manifest counts and first/last seq equal the recomputed ones.
/// 7. The bundled keyring loads with its pins; every bundled key is used by an entry.
/// 8. Every accepted entry's key (by the version and fingerprint it records) is in the
///    keyring (`keyring`, else the bundled one), its token is a valid PS256 JWS under that
///    key, and its claims (productCode, publicKeyVersion, nonce, iat) equal the recorded ones.
///    `checkTokens: false` skips the signature and claims check (keys are still matched).
public struct BundleVerifier: Sendable {
    /// Counts by reason as `reason 3, other 1` (sorted), for messages.
    static func reasonList(_ counts: [String: Int]) -> String {
        guard !counts.isEmpty else { return "none" }
        // At most 20 reasons, each cut to 100 characters: a message, not a dump.
        let listed = counts.sorted { $0.key < $1.key }.prefix(20).map { "\(String($0.key.unicodeScalars.prefix(100))) \($0.value)" }
        return listed.joined(separator: ", ") + (counts.count > 20 ? ", … (\(counts.count) reasons)" : "")
    }

    /// The bundle directory (a symbolic link to it is followed).
    public var directory: String
    /// The log's published key, which the checkpoint must verify under (a bundle carrying
    /// another `log-key.vkey` fails `log_key_mismatch`). `nil` trusts the bundle's own
    /// `log-key.vkey`, chosen by whoever made the bundle: pass the published key.
    public var logKey: NoteVerifier?
    /// Keys to re-verify tokens with; `nil` uses the bundle's `keys/`.
    public var keyring: Keyring?
    /// Re-verify every accepted token's signature and claims.
    public var checkTokens: Bool
    /// Files hashed per parallel batch (tests make it small to cross batch boundaries).
    var hashBatchSize = 1024
    /// Called between the two reads of `SHA256SUMS` (tests replace the file there).
    var betweenSumsReads: (@Sendable (String) -> Void)? = nil

    /// A verifier for the bundle in `directory`. Pass the log's published key as `logKey`:
    /// with `nil` the bundle's own `log-key.vkey` is trusted, so the bundle vouches for itself.
    public init(directory: String, logKey: NoteVerifier? = nil, keyring: Keyring? = nil, checkTokens: Bool = true) {
        self.directory = directory
        self.logKey = logKey
        self.keyring = keyring
        self.checkTokens = checkTokens
    }

    struct Failure: Error {
        let code: String
        let message: String
        init(_ code: String, _ message: String) { self.code = code; self.message = message }
    }

    /// Runs every check.
    ///
    /// - Throws: `not_a_bundle` only when `directory` is not a readable directory; every
    ///   other problem is reported in the returned verdict.
    public func verify() throws(ExportError) -> BundleVerification {
        var dir = directory
        while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
        // The bundle directory itself may be reached through a symbolic link (`latest ->
        // bundle-2026-11`); links inside it are refused as unexpected files.
        if BundleFS.kind(dir) == .other, let resolved = realpath(dir, nil) {
            dir = String(cString: resolved)
            free(resolved)
        }
        guard BundleFS.kind(dir) == .directory, BundleFS.list(dir) != nil else {
            throw ExportError(.notABundle, "\(directory) is not a readable directory")
        }
        var result = BundleVerification()
        do {
            try run(dir, &result)
        } catch let f as Failure {
            result.problemCode = f.code
            result.problem = f.message
        } catch {
            result.problemCode = "unreadable"
            result.problem = "\(error)"
        }
        return result
    }

    // MARK: The checks

    private func run(_ dir: String, _ r: inout BundleVerification) throws {
        // 1. Files and SHA256SUMS.
        let files = try listFiles(dir)
        guard files.paths.contains(BundleLayout.sums) else { throw Failure("file_missing", "SHA256SUMS is missing") }
        r.filesChecked = try checkSums(dir, files)
        for required in [BundleLayout.entries, BundleLayout.csv, BundleLayout.checkpoint, BundleLayout.logKey,
                         BundleLayout.manifest, BundleLayout.instructions, BundleLayout.keyring] where !files.paths.contains(required) {
            throw Failure("file_missing", "the bundle lacks \(required)")
        }
        let proofFiles = files.proofs
        var keyFiles: [String] = []
        // In bytewise order, so the file named is the same in every run.
        for f in files.paths.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where f != BundleLayout.sums {
            if f.hasPrefix("keys/"), Self.isKeyFileName(f.dropFirst(5)) {
                keyFiles.append(f)
            } else if ![BundleLayout.entries, BundleLayout.csv, BundleLayout.checkpoint, BundleLayout.logKey,
                        BundleLayout.manifest, BundleLayout.instructions, BundleLayout.keyring].contains(f) {
                throw Failure("unexpected_file", "\(f) is not part of a MeterProof bundle")
            }
        }

        // 2. Log key, checkpoint, manifest.
        let vkeyBytes = BundleFS.read(dir + "/" + BundleLayout.logKey, limit: 4096) ?? []
        let bundledKey: NoteVerifier
        do {
            guard vkeyBytes.last == 0x0A else { throw Failure("log_key_invalid", "log-key.vkey does not end in a newline") }
            bundledKey = try NoteVerifier(vkey: String(decoding: vkeyBytes.dropLast(), as: UTF8.self))
        } catch let f as Failure { throw f } catch {
            throw Failure("log_key_invalid", "log-key.vkey is not a signed-note verifier key: \(error)")
        }
        guard Array((bundledKey.vkey + "\n").utf8) == vkeyBytes else {
            throw Failure("log_key_invalid", "log-key.vkey is not in canonical form")
        }
        let key = logKey ?? bundledKey
        if let logKey, logKey != bundledKey {
            throw Failure("log_key_mismatch", "the bundle's log-key.vkey (\(bundledKey.vkey)) is not the expected log key \(logKey.vkey)")
        }
        r.logKey = key.vkey
        r.usedBundledLogKey = logKey == nil
        guard let noteBytes = BundleFS.read(dir + "/" + BundleLayout.checkpoint, limit: 1 << 20) else {
            throw Failure("checkpoint_malformed", "checkpoint cannot be read: \(BundleFS.whyUnreadable(dir + "/" + BundleLayout.checkpoint, limit: 1 << 20))")
        }
        let note: SignedNote
        do { note = try SignedNote(parsing: String(decoding: noteBytes, as: UTF8.self)) } catch {
            throw Failure("checkpoint_malformed", "checkpoint is not a signed note: \(error)")
        }
        guard Array(note.serialized.utf8) == noteBytes else {
            throw Failure("checkpoint_malformed", "checkpoint is not valid UTF-8 or not in canonical form")
        }
        let cp: Checkpoint
        do { cp = try Checkpoint(verifying: note, verifiers: [key]) } catch {
            if error.code == "malformed_checkpoint" { throw Failure("checkpoint_malformed", "checkpoint: \(error)") }
            throw Failure("checkpoint_signature", "the checkpoint is not signed by the log key \(key.vkey): \(error)")
        }
        r.treeSize = cp.size
        r.root = cp.root
        r.origin = cp.origin
        guard let manifestBytes = BundleFS.read(dir + "/" + BundleLayout.manifest, limit: 1 << 20) else {
            throw Failure("manifest_malformed", "manifest.json cannot be read: \(BundleFS.whyUnreadable(dir + "/" + BundleLayout.manifest, limit: 1 << 20))")
        }
        let manifest: BundleManifest
        do { manifest = try BundleManifest(parsing: manifestBytes) } catch {
            throw Failure("manifest_malformed", error.reason)
        }
        guard NoteSyntax.same(manifest.origin, cp.origin), manifest.treeSize == cp.size, manifest.root == cp.root else {
            throw Failure("manifest_mismatch", "manifest.json names log \(manifest.origin) at size \(manifest.treeSize), root \(manifest.root.base64); the checkpoint says \(cp.origin), \(cp.size), \(cp.root.base64)")
        }
        guard let filter = manifest.selection.filter else { throw Failure("manifest_malformed", "the manifest's selection does not parse") }
        let full = manifest.selection.fullPrefix
        r.fullPrefix = full
        if filter.selectsAll && !full {
            throw Failure("selection_incomplete", "the selection has no filter, so the bundle must hold every entry below the checkpoint (a full prefix), but the manifest says it does not")
        }
        if full && !proofFiles.isEmpty {
            throw Failure("proof_stray", "a full-prefix bundle carries no proofs, but proofs/\(proofFiles.numeric[0]).tlog-proof exists")
        }

        // 3. Keyring.
        let bundledKeyring = try loadBundledKeyring(dir, keyFiles: keyFiles)
        let tokenKeyring = keyring ?? bundledKeyring

        // 4-6. Entries, proofs or root, CSV, counts.
        guard let lines = RecordReader(path: dir + "/" + BundleLayout.entries) else {
            throw Failure("entry_invalid", "entries.jsonl cannot be read")
        }
        guard let csv = RecordReader(path: dir + "/" + BundleLayout.csv) else {
            throw Failure("csv_mismatch", "entries.csv cannot be read")
        }
        guard let header = try csvRecord(csv, row: 0), header == EntryCSV.header else {
            throw Failure("csv_mismatch", "entries.csv does not start with the header row \(AuditEntry.fieldNames.joined(separator: ",")) and CRLF")
        }
        var frontier = MerkleFrontier()
        var counts = BundleManifest.Counts()
        var lastSeq: UInt64? = nil, firstSeq: UInt64? = nil
        var usedFingerprints: Set<String> = []
        let bundledFingerprints = Set(bundledKeyring.versions.map { bundledKeyring[$0]!.key.fingerprint })
        let testKeyFingerprints = bundledKeyring.testKeyFingerprints.union(tokenKeyring.testKeyFingerprints)
        // The trail's central rule, checked on what the bundle holds: no (productCode, nonce)
        // accepted twice. 16 bytes of a SHA-256 per accepted entry (and the seq that took it).
        var acceptedNonces: [NonceKey: UInt64] = [:]
        let tokenVerifier = Verifier(keyring: tokenKeyring, policy: Self.reverificationPolicy)
        var lineNo = 0
        var linesRead = 0
        var csvEnded = false
        var done = false
        // Reads the next batch of lines and their CSV records; a read problem becomes the item's
        // problem so it is reported in line order.
        func readBatch() throws -> [LineItem] {
            var items: [LineItem] = []
            items.reserveCapacity(Self.verifyBatchSize)
            // Also at a byte budget: 2048 lines near the 1 MiB entry limit (and their CSV
            // records) would hold gigabytes, and the next batch is read meanwhile.
            var bytes = 0
            while !done && items.count < Self.verifyBatchSize && bytes < Self.verifyBatchBytes {
                var item = LineItem(number: linesRead + 1)
                do {
                    guard let (line, terminated) = try lines.next(limit: CanonicalJSON.maxEntryBytes + 1) else { done = true; break }
                    item.line = line
                    if !terminated { item.readProblem = Failure("entry_invalid", "entries.jsonl line \(item.number) does not end in a newline") }
                } catch is RecordReader.TooLong {
                    item.readProblem = Failure("entry_invalid", "entries.jsonl line \(item.number) is longer than any entry")
                }
                if !csvEnded {
                    do {
                        item.csv = try csvRecord(csv, row: item.number)
                        if item.csv == nil { csvEnded = true }
                    } catch let f as Failure {
                        item.csvProblem = f
                        csvEnded = true
                    }
                }
                bytes += item.line.count + (item.csv?.count ?? 0)
                items.append(item)
                linesRead += 1
                if item.readProblem != nil { done = true }
            }
            return items
        }
        // A pipeline: while the other cores parse, hash and re-verify batch k, this thread reads
        // batch k+1; then it takes batch k's results in line order, so the first problem named
        // is the first in the file whatever its kind.
        let proofSeqs = proofFiles
        var current = try readBatch()
        while !current.isEmpty {
            let items = current
            let checking = Background { [self] in
                checkLines(dir, items, full: full, note: note, cp: cp, proofFiles: proofSeqs, keyring: tokenKeyring, reverifier: checkTokens ? tokenVerifier : nil)
            }
            var next: [LineItem] = []
            var readError: (any Error)? = nil
            do { next = try readBatch() } catch { readError = error }
            let checked = checking.wait()
            for (i, item) in items.enumerated() {
                lineNo = item.number
                if let f = item.readProblem { throw f }
                let c = checked[i]
                guard let e = c.entry else { throw Failure("entry_invalid", "entries.jsonl line \(lineNo): \(c.parseError ?? "unreadable")") }
                if let lastSeq, e.seq <= lastSeq {
                    throw Failure("entry_order", "entries.jsonl line \(lineNo) has seq \(e.seq) after seq \(lastSeq): entries must strictly increase")
                }
                guard e.seq < cp.size else {
                    throw Failure("entry_beyond_checkpoint", "entries.jsonl line \(lineNo) has seq \(e.seq), not covered by the checkpoint of size \(cp.size)")
                }
                guard filter.matches(e) else {
                    throw Failure("selection_mismatch", "entry \(e.seq) (line \(lineNo)) does not match the manifest's selection")
                }
                if full {
                    guard e.seq == frontier.size else {
                        throw Failure("selection_incomplete", "the manifest says full prefix, but entry \(frontier.size) is missing (line \(lineNo) has seq \(e.seq))")
                    }
                    frontier.append(c.leaf)
                } else {
                    if let f = c.proofProblem { throw f }
                    r.proofsVerified += 1
                }
                if let f = item.csvProblem { throw f }
                guard item.csv != nil else {
                    throw Failure("csv_mismatch", "entries.csv ends before the row of entry \(e.seq) (line \(lineNo + 1))")
                }
                if let problem = c.csvProblem { throw Failure("csv_mismatch", problem) }
                // Kept bounded by what the bundle declares, so entries cannot fill memory with
                // strings of their own: a reason the manifest does not count is a mismatch at
                // once, and only fingerprints of bundled keys are remembered (to find a key no
                // entry used).
                if !e.isAccepted, manifest.counts.exactByReason[ExactString(e.reason ?? "")] == nil {
                    throw Failure("manifest_mismatch", "entry \(e.seq) is rejected with reason \(JSONText.quoted(String((e.reason ?? "").unicodeScalars.prefix(200)))), which manifest.json does not count")
                }
                counts.add(e)
                if firstSeq == nil { firstSeq = e.seq }
                lastSeq = e.seq
                if let fp = e.keyFingerprint, bundledFingerprints.contains(fp) { usedFingerprints.insert(fp) }
                if e.isAccepted {
                    if let pc = e.productCode, let nonce = e.nonce,
                       let first = acceptedNonces.updateValue(e.seq, forKey: NonceKey(productCode: pc, nonce: nonce)) {
                        throw Failure("nonce_accepted_twice", "entry \(e.seq) accepts nonce \(nonce) for product \(pc), which entry \(first) already accepted: the trail accepted a nonce twice or was edited")
                    }
                    if let f = c.tokenProblem { throw f }
                    if checkTokens { r.tokensVerified += 1 }
                    if let fp = e.keyFingerprint, testKeyFingerprints.contains(fp) { r.testKeyAccepted += 1 }
                }
                r.entries = counts.entries
                r.accepted = counts.accepted
                r.rejected = counts.rejected
            }
            if let readError { throw readError }
            current = next
        }
        if !csvEnded, let extra = try csvRecord(csv, row: lineNo + 1) {
            throw Failure("csv_mismatch", "entries.csv has a row (\(extra.count) bytes) beyond the \(lineNo) entries of entries.jsonl")
        }
        if full {
            guard frontier.size == cp.size else {
                throw Failure("selection_incomplete", "the manifest says full prefix, but the bundle holds \(frontier.size) of the checkpoint's \(cp.size) entries")
            }
            guard frontier.root == cp.root else {
                throw Failure("root_mismatch", "the entries do not hash to the checkpoint's root: an entry was changed, added or removed")
            }
        } else {
            if UInt64(counts.entries) == cp.size {
                throw Failure("manifest_mismatch", "the bundle holds every entry below the checkpoint but the manifest does not say full prefix")
            }
            if proofFiles.count != counts.entries {
                throw Failure("proof_stray", "proofs/ holds \(proofFiles.count) proofs for \(counts.entries) entries: a proof has no entry")
            }
        }
        guard counts == manifest.counts else {
            throw Failure("manifest_mismatch", "manifest.json counts (\(manifest.counts.entries) entries, \(manifest.counts.accepted) accepted, \(manifest.counts.rejected) rejected, by reason \(Self.reasonList(manifest.counts.byReason))) differ from the entries (\(counts.entries), \(counts.accepted), \(counts.rejected), by reason \(Self.reasonList(counts.byReason)))")
        }
        guard manifest.firstSeq == firstSeq, manifest.lastSeq == lastSeq else {
            throw Failure("manifest_mismatch", "manifest.json says seq \(manifest.firstSeq.map(String.init) ?? "null")…\(manifest.lastSeq.map(String.init) ?? "null"), the entries span \(firstSeq.map(String.init) ?? "null")…\(lastSeq.map(String.init) ?? "null")")
        }
        for k in bundledKeyring.versions.map({ bundledKeyring[$0]! }) where !usedFingerprints.contains(k.key.fingerprint) {
            throw Failure("unexpected_key", "keys/v\(k.version).pem (\(k.key.fingerprint)) is the key of none of the bundle's entries (no entry records its fingerprint)")
        }
    }

    /// `v<N>.pem`, N a key version in canonical decimal (what `Keyring.load` reads).
    static func isKeyFileName(_ name: Substring) -> Bool { Keyring.pemVersion(name) != nil }

    /// The proof files of a bundle by seq, sorted as their paths sort (`proofs/10.tlog-proof`
    /// before `proofs/2.tlog-proof`): 8 bytes a file, not a path string.
    struct ProofFiles: Sendable {
        /// In path order (for the walk along `SHA256SUMS`).
        var seqs: [UInt64] = []
        /// The same, in numeric order (for lookups by seq).
        private(set) var numeric: [UInt64] = []
        var count: Int { seqs.count }
        var isEmpty: Bool { seqs.isEmpty }

        /// Sorts what was appended to ``seqs``.
        mutating func sort() {
            numeric = seqs.sorted()
            seqs.sort(by: AuditTrail.ProofFileSum.pathOrder)
        }

        func contains(_ seq: UInt64) -> Bool {
            let a = numeric.lowerBound(of: seq)
            return a < numeric.count && numeric[a] == seq
        }

        /// The seq a proof file name stands for, if it is exactly `proofs/<seq>.tlog-proof`
        /// with a canonical decimal at most `Int64.max` (what an export writes).
        static func seq(ofPath path: Substring) -> UInt64? {
            guard path.hasPrefix("proofs/") else { return nil }
            return seq(ofName: path.dropFirst(7))
        }

        static func seq(ofName name: Substring) -> UInt64? {
            guard name.hasSuffix(".tlog-proof"), let seq = NoteSyntax.parseDecimal(name.dropLast(11)), seq <= UInt64(Int64.max) else { return nil }
            return seq
        }
    }

    /// A bundle's files: proof files by seq, every other path as a string.
    struct Listing {
        var paths: Set<String> = []
        var proofs = ProofFiles()
    }

    /// Every path in the bundle, relative, `/`-separated. Only regular files in the top
    /// directory, `keys/` and `proofs/` are allowed.
    private func listFiles(_ dir: String) throws -> Listing {
        var out = Listing()
        guard let top = BundleFS.list(dir) else { throw Failure("unreadable", "cannot list \(dir)") }
        for name in top {
            switch BundleFS.kind(dir + "/" + name) {
            case .file?: out.paths.insert(name)
            case .directory?:
                guard name == BundleLayout.keysDirectory || name == BundleLayout.proofsDirectory else {
                    throw Failure("unexpected_file", "\(name)/ is not part of a MeterProof bundle")
                }
                let ok = try BundleFS.forEachName(dir + "/" + name) { sub in
                    guard BundleFS.kind(dir + "/" + name + "/" + sub) == .file else {
                        throw Failure("unexpected_file", "\(name)/\(sub) is not a regular file")
                    }
                    if name == BundleLayout.proofsDirectory, let seq = ProofFiles.seq(ofName: sub[...]) {
                        out.proofs.seqs.append(seq)
                    } else {
                        out.paths.insert(name + "/" + sub)
                    }
                }
                guard ok else { throw Failure("unreadable", "cannot list \(dir)/\(name)") }
            default:
                throw Failure("unexpected_file", "\(name) is not a regular file or directory (links are not allowed)")
            }
        }
        out.proofs.sort()
        return out
    }

    /// Checks `SHA256SUMS` against the listing, reading it twice as a stream (memory does not
    /// grow with the number of files): first its form, order and coverage, every line
    /// `<64 lowercase hex>  <path>`, sorted by path (bytewise), no duplicates, none for itself;
    /// every listed file present and every file listed; then every file's hash, in batches
    /// spread over the cores. Returns the number of files listed.
    private func checkSums(_ dir: String, _ files: Listing) throws -> Int {
        let path = dir + "/" + BundleLayout.sums
        guard let last = BundleFS.lastByte(path) else { throw Failure("sums_malformed", "SHA256SUMS cannot be read") }
        guard last == nil || last == 0x0A else { throw Failure("sums_malformed", "SHA256SUMS does not end in a newline") }
        var missing: String? = nil
        var listedOthers: Set<String> = []
        var proofCursor = 0
        var unlistedProof: UInt64? = nil
        let firstRead = SHA256Hasher()
        let count = try forEachSumsLine(path, hashingInto: firstRead) { _, entryPath, proofSeq in
            if let seq = proofSeq {
                // Listed proofs come in path order, as the listing's are sorted: a merge. What the
                // cursor passes without a match is a proof file SHA256SUMS does not list.
                let proofs = files.proofs.seqs
                while proofCursor < proofs.count && AuditTrail.ProofFileSum.pathOrder(proofs[proofCursor], seq) {
                    if unlistedProof == nil { unlistedProof = proofs[proofCursor] }
                    proofCursor += 1
                }
                if proofCursor < proofs.count && proofs[proofCursor] == seq {
                    proofCursor += 1
                } else if missing == nil {
                    missing = entryPath
                }
            } else if files.paths.contains(entryPath) {
                listedOthers.insert(entryPath)
            } else if missing == nil {
                missing = entryPath
            }
        }
        if let missing { throw Failure("file_missing", "\(missing) is listed in SHA256SUMS but absent from the bundle") }
        if unlistedProof == nil && proofCursor < files.proofs.count { unlistedProof = files.proofs.seqs[proofCursor] }
        let unlistedOther = files.paths.filter { $0 != BundleLayout.sums && !listedOthers.contains($0) }
            .min { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let unlisted = [unlistedOther, unlistedProof.map(BundleLayout.proof)].compactMap { $0 }.min { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if let unlisted { throw Failure("file_unlisted", "\(unlisted) is in the bundle but not listed in SHA256SUMS") }

        var batch: [(path: String, hash: [UInt8])] = []
        func checkBatch() throws {
            let ok = Parallel.map(batch.count, grain: 16) { [batch] i in BundleFS.sha256(dir + "/" + batch[i].path) == batch[i].hash }
            if let bad = ok.firstIndex(of: false) {
                throw Failure("hash_mismatch", "\(batch[bad].path) does not match its SHA-256 in SHA256SUMS: it was changed after export")
            }
            batch.removeAll(keepingCapacity: true)
        }
        betweenSumsReads?(dir)
        let secondRead = SHA256Hasher()
        _ = try forEachSumsLine(path, hashingInto: secondRead, validate: false) { hash, entryPath, _ in
            batch.append((entryPath, hash))
            if batch.count == hashBatchSize { try checkBatch() }
        }
        try checkBatch()
        // The hashes checked must be those of the list whose coverage was checked.
        guard secondRead.finalize() == firstRead.finalize() else {
            throw Failure("sums_malformed", "SHA256SUMS changed while it was being verified")
        }
        return count
    }

    /// Calls `body` with each `SHA256SUMS` line's hash, path, and seq when the path is a proof
    /// file's, after checking the line's form and that it sorts after the previous one.
    /// Returns the number of lines.
    private func forEachSumsLine(_ path: String, hashingInto hasher: SHA256Hasher, validate: Bool = true,
                                 _ body: ([UInt8], String, UInt64?) throws -> Void) throws -> Int {
        guard let reader = RecordReader(path: path) else { throw Failure("sums_malformed", "SHA256SUMS cannot be read") }
        var previous: [UInt8] = []
        var lineNo = 0
        while true {
            let record: (bytes: [UInt8], terminated: Bool)?
            do { record = try reader.next(limit: Self.maxSumsLineBytes) } catch is RecordReader.TooLong {
                throw Failure("sums_malformed", "SHA256SUMS line \(lineNo + 1) is longer than any bundle path")
            } catch {
                throw Failure("sums_malformed", "SHA256SUMS cannot be read: \(error)")
            }
            guard let (l, terminated) = record else { break }
            lineNo += 1
            hasher.update(l)
            guard terminated else { throw Failure("sums_malformed", "SHA256SUMS does not end in a newline") }
            guard l.count > 66, l[64] == 0x20, l[65] == 0x20, let hash = Self.decodeLowerHex(l[0..<64]) else {
                throw Failure("sums_malformed", "SHA256SUMS line \(lineNo) is not `<64 lowercase hex>  <path>`")
            }
            let pathBytes = l[66...]
            let entryPath: String
            if validate {
                // The second read skips what the first checked: both must hash alike.
                guard let p = String(validating: pathBytes, as: UTF8.self), Self.isBundlePath(pathBytes) else {
                    throw Failure("sums_malformed", "SHA256SUMS line \(lineNo) names an invalid path")
                }
                entryPath = p
                if lineNo > 1, !previous.lexicographicallyPrecedes(pathBytes) {
                    throw Failure("sums_malformed", "SHA256SUMS line \(lineNo) (\(entryPath)) is not in sorted order or repeats a path")
                }
                guard !pathBytes.elementsEqual(BundleLayout.sums.utf8) else { throw Failure("sums_malformed", "SHA256SUMS lists itself") }
                previous.removeAll(keepingCapacity: true)
                previous.append(contentsOf: pathBytes)
            } else {
                entryPath = String(decoding: pathBytes, as: UTF8.self)
            }
            try body(hash, entryPath, ProofFiles.seq(ofPath: entryPath[...]))
        }
        return lineNo
    }

    /// 64 lowercase hex digits as 32 bytes; `nil` for anything else.
    static func decodeLowerHex(_ hex: ArraySlice<UInt8>) -> [UInt8]? {
        guard hex.count == 64 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out = [UInt8](repeating: 0, count: 32)
        var i = hex.startIndex
        for k in 0..<32 {
            guard let hi = nibble(hex[i]), let lo = nibble(hex[i + 1]) else { return nil }
            out[k] = hi << 4 | lo
            i += 2
        }
        return out
    }

    /// A relative `/`-separated path: no control byte or backslash, no leading `/`, and no
    /// empty, `.` or `..` component.
    static func isBundlePath(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, first != 0x2F else { return false }
        var componentStart = bytes.startIndex
        var i = bytes.startIndex
        while true {
            let atEnd = i == bytes.endIndex
            if atEnd || bytes[i] == 0x2F {
                let n = i - componentStart
                if n == 0 { return false }
                if bytes[componentStart] == 0x2E && (n == 1 || (n == 2 && bytes[componentStart + 1] == 0x2E)) { return false }
                if atEnd { return true }
                componentStart = i + 1
            } else if bytes[i] < 0x20 || bytes[i] == 0x5C {
                return false
            }
            i += 1
        }
    }

    /// The longest `SHA256SUMS` line read: a hash, two spaces and a path.
    static let maxSumsLineBytes = 66 + 4096

    /// Loads `keys/` with `Keyring.load` (pins checked) and requires every key file and
    /// `keyring.json` to be exactly as an export writes them.
    private func loadBundledKeyring(_ dir: String, keyFiles: [String]) throws -> Keyring {
        let pinsBytes = BundleFS.read(dir + "/" + BundleLayout.keyring, limit: 1 << 20) ?? []
        let keyring: Keyring
        if keyFiles.isEmpty {
            do { keyring = try Keyring(entries: [], location: dir + "/keys") } catch {
                throw Failure("keyring_invalid", "\(error)")
            }
        } else {
            do { keyring = try Keyring.load(from: dir + "/" + BundleLayout.keysDirectory, allowingTestKeys: true) } catch {
                throw Failure("keyring_invalid", "the bundled keyring does not load: \(error)")
            }
        }
        let entries = keyring.versions.map { keyring[$0]! }
        // A trail records each key once, under the version it answered for: one key under two
        // versions would tell the auditor of a key version that does not exist.
        var versionOf: [String: Int] = [:]
        for e in entries {
            if let other = versionOf.updateValue(e.version, forKey: e.key.fingerprint) {
                throw Failure("unexpected_key", "keys/v\(e.version).pem is the same key as keys/v\(other).pem (\(e.key.fingerprint)): an export bundles each recorded key once")
            }
        }
        guard entries.count == keyFiles.count else {
            throw Failure("keyring_invalid", "keys/ holds \(keyFiles.count) key files but \(entries.count) keys load")
        }
        for e in entries {
            let path = BundleLayout.key(version: e.version)
            guard BundleFS.read(dir + "/" + path, limit: 1 << 20) == Array(BundleLayout.pem(e.key).utf8) else {
                throw Failure("keyring_invalid", "\(path) is not exactly the key's PEM SubjectPublicKeyInfo")
            }
        }
        guard pinsBytes == Array(BundleLayout.keyringJSON(entries.map { ($0.version, $0.key.fingerprint) }).utf8) else {
            throw Failure("keyring_invalid", "keys/keyring.json is not exactly the pins of the bundled keys")
        }
        return keyring
    }

    static let verifyBatchSize = 2048
    /// The most line bytes (entries and CSV records) one batch holds.
    static let verifyBatchBytes = 16 << 20

    /// One line of `entries.jsonl` with its CSV record, as read.
    struct LineItem: Sendable {
        var number: Int
        var line: [UInt8] = []
        var readProblem: Failure? = nil
        var csv: [UInt8]? = nil
        var csvProblem: Failure? = nil
    }

    /// What the parallel pass found for one line.
    struct CheckedLine: Sendable {
        var entry: AuditEntry? = nil
        var parseError: String? = nil
        var leaf: MerkleHash = .zero
        var proofProblem: Failure? = nil
        var csvProblem: String? = nil
        /// Why an accepted entry's key does not match the keyring, or (when re-verified) its
        /// token does not verify; nil otherwise.
        var tokenProblem: Failure? = nil
    }

    /// Parses, hashes, checks the CSV row, (for a selection) the proof, an accepted entry's
    /// key in `keyring` and (with `reverifier`) its token, for each line on all cores. Problems
    /// are recorded, not thrown, so the caller reports them in line order.
    private func checkLines(_ dir: String, _ items: [LineItem], full: Bool, note: SignedNote, cp: Checkpoint, proofFiles: ProofFiles,
                            keyring: Keyring, reverifier: Verifier?) -> [CheckedLine] {
        Parallel.map(items.count, grain: 32) { i in
            let item = items[i]
            var c = CheckedLine()
            if item.readProblem == nil {
                c.leaf = RFC6962.leafHash(item.line)
                do throws(AuditError) {
                    let e = try AuditEntry(canonicalBytes: item.line)
                    c.entry = e
                    if !full {
                        do { try checkProof(dir, seq: e.seq, leaf: c.leaf, note: note, cp: cp, present: proofFiles.contains(e.seq)) } catch {
                            c.proofProblem = error as? Failure ?? Failure("proof_invalid", "\(error)")
                        }
                    }
                    if let row = item.csv, row != EntryCSV.row(e) {
                        c.csvProblem = Self.describeCSVDifference(row, e, item.number + 1)
                    }
                    // The key is matched even without token re-verification.
                    if e.isAccepted {
                        do throws(Failure) {
                            let check = try Self.tokenCheck(e, keyring: keyring)
                            if let reverifier { c.tokenProblem = Self.reverify(check, reverifier) }
                        } catch {
                            c.tokenProblem = error
                        }
                    }
                } catch {
                    c.parseError = error.reason
                }
            }
            return c
        }
    }

    /// Reads one CSV record (CRLF included); `nil` at the end of the file.
    private func csvRecord(_ reader: RecordReader, row: Int) throws -> [UInt8]? {
        let rec: (bytes: [UInt8], terminated: Bool)?
        do { rec = try reader.next(limit: 4 * CanonicalJSON.maxEntryBytes, csv: true) } catch is RecordReader.TooLong {
            throw Failure("csv_mismatch", "entries.csv record \(row + 1) is longer than any entry")
        }
        guard let rec else { return nil }
        guard rec.terminated else { throw Failure("csv_mismatch", "entries.csv record \(row + 1) does not end in CRLF") }
        return rec.bytes + [0x0A]
    }

    static func describeCSVDifference(_ row: [UInt8], _ e: AuditEntry, _ record: Int) -> String {
        guard let fields = EntryCSV.parseRecord(row), row.count >= 2, row[row.count - 2] == 0x0D else {
            return "entries.csv record \(record) (entry \(e.seq)) is not a valid RFC 4180 record ending in CRLF"
        }
        guard fields.count == AuditEntry.fieldNames.count else {
            return "entries.csv record \(record) (entry \(e.seq)) has \(fields.count) fields, not \(AuditEntry.fieldNames.count)"
        }
        for (i, (name, value)) in e.members.enumerated() where fields[i] != EntryCSV.fieldText(value) {
            return "entries.csv record \(record): field \(name) of entry \(e.seq) differs from entries.jsonl"
        }
        return "entries.csv record \(record) (entry \(e.seq)) is not in canonical form (quoting or null/empty-string spelling)"
    }

    private func checkProof(_ dir: String, seq: UInt64, leaf: MerkleHash, note: SignedNote, cp: Checkpoint, present: Bool) throws {
        let path = BundleLayout.proof(seq)
        guard present else { throw Failure("proof_missing", "entry \(seq) has no \(path)") }
        guard let bytes = BundleFS.read(dir + "/" + path, limit: NoteSyntax.maxSize + 8192) else {
            throw Failure("proof_invalid", "\(path) cannot be read or is larger than any proof")
        }
        let proof: TlogProof
        do { proof = try TlogProof(parsing: String(decoding: bytes, as: UTF8.self)) } catch {
            throw Failure("proof_invalid", "\(path) is not a tlog-proof: \(error)")
        }
        guard Array(proof.serialized.utf8) == bytes else {
            throw Failure("proof_invalid", "\(path) is not in canonical form")
        }
        guard proof.checkpoint == note else {
            throw Failure("proof_checkpoint_mismatch", "\(path) is against another checkpoint than the bundle's")
        }
        guard proof.index == seq else {
            throw Failure("proof_invalid", "\(path) proves index \(proof.index), not \(seq)")
        }
        do { try RFC6962.verifyInclusion(leafHash: leaf, index: seq, treeSize: cp.size, proof: proof.hashes, root: cp.root) } catch {
            throw Failure("proof_invalid", "\(path) does not prove entry \(seq) (line of entries.jsonl) in the checkpoint's tree: \(error)")
        }
    }

    // MARK: Tokens

    /// Re-verification ignores freshness (tokens are old by now) and accepts any key size the
    /// CLI could have been told to accept: it checks what happened, not today's policy.
    static var reverificationPolicy: VerificationPolicy {
        var p = VerificationPolicy.offline
        p.minimumKeyBits = 512
        p.allowMissingNonce = true
        return p
    }

    struct TokenCheck: Sendable {
        let entry: AuditEntry
        let token: String
    }

    private static func tokenCheck(_ e: AuditEntry, keyring: Keyring) throws(Failure) -> TokenCheck {
        guard let token = e.token else { throw Failure("token_invalid", "accepted entry \(e.seq) records no token") }
        guard let fp = e.keyFingerprint, let v = e.publicKeyVersion else {
            throw Failure("token_invalid", "accepted entry \(e.seq) records no key fingerprint or key version")
        }
        guard KeyVersion.range.contains(Int(v)), let k = keyring[Int(v)] else {
            throw Failure("key_missing", "accepted entry \(e.seq) was verified by key version \(v) (\(fp)), which is not in the keyring")
        }
        guard utf8Equal(k.key.fingerprint, fp) else {
            throw Failure("key_mismatch", "accepted entry \(e.seq) was verified by key \(fp), but the keyring's version \(v) is \(k.key.fingerprint)")
        }
        return TokenCheck(entry: e, token: token)
    }

    static func reverify(_ c: TokenCheck, _ verifier: Verifier) -> Failure? {
        let e = c.entry
        let r = verifier.verifyUnbound(Array(c.token.utf8))
        if let err = r.error {
            return Failure("token_invalid", "accepted entry \(e.seq): the token does not verify: \(err.code.rawValue): \(err.reason)")
        }
        guard let claims = r.claims else { return Failure("token_invalid", "accepted entry \(e.seq): the token has no claims") }
        guard utf8Equal(r.keyFingerprint, e.keyFingerprint) else {
            return Failure("key_mismatch", "accepted entry \(e.seq): the token verifies under \(r.keyFingerprint ?? "-"), not the recorded \(e.keyFingerprint ?? "-")")
        }
        var diffs: [String] = []
        if !utf8Equal(claims.productCode, e.productCode) { diffs.append("productCode") }
        if Int64(claims.publicKeyVersion) != e.publicKeyVersion { diffs.append("publicKeyVersion") }
        if !utf8Equal(claims.nonce, e.nonce) { diffs.append("nonce") }
        if claims.issuedAt != e.issuedAt { diffs.append("issuedAt") }
        if !diffs.isEmpty {
            return Failure("claims_mismatch", "accepted entry \(e.seq): the token's \(diffs.joined(separator: ", ")) differ from the recorded values")
        }
        return nil
    }
}

/// A (productCode, nonce) pair by 16 bytes of the SHA-256 of its length-prefixed bytes: two
/// different pairs collide with probability about n²/2¹²⁹.
struct NonceKey: Hashable {
    let high: UInt64
    let low: UInt64

    init(productCode: String, nonce: String) {
        var bytes = Array(String(productCode.utf8.count).utf8)
        bytes.append(0x3A)
        bytes.append(contentsOf: productCode.utf8)
        bytes.append(contentsOf: nonce.utf8)
        let d = SHA256.hash(bytes)
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(d[i]); l = l << 8 | UInt64(d[8 + i]) }
        high = h
        low = l
    }
}
