import Dispatch
import MeterProof

/// What to put in an export bundle.
public struct ExportOptions: Sendable {
    /// Which entries to select (time window on `recordedAt`, outcome, product code).
    public var filter: EntryFilter
    /// Sign a fresh checkpoint of the whole trail with this log key and prove the bundle
    /// against it; `nil` uses the trail's newest stored checkpoint.
    public var signer: NoteSigner?
    /// The `createdAt` time in epoch milliseconds; `nil` for now.
    public var createdAt: Int64?

    public init(filter: EntryFilter = EntryFilter(), signer: NoteSigner? = nil, createdAt: Int64? = nil) {
        self.filter = filter
        self.signer = signer
        self.createdAt = createdAt
    }
}

/// What an export wrote.
public struct ExportSummary: Sendable {
    /// The bundle directory.
    public let directory: String
    /// The bundle's manifest (counts, selection, tree size, root).
    public let manifest: BundleManifest
    /// Number of `proofs/<seq>.tlog-proof` files (0 for a full prefix).
    public let proofFiles: Int
    /// Number of `keys/v<N>.pem` files.
    public let keyFiles: Int
    /// Number of files in the bundle, `SHA256SUMS` included.
    public let fileCount: Int
    /// Entries recorded after the checkpoint, which no bundle against it can hold.
    public var newerEntriesOmitted: UInt64 { manifest.newerEntriesOmitted }
}

/// The fixed file names of a bundle.
public enum BundleLayout {
    public static let entries = "entries.jsonl"
    public static let csv = "entries.csv"
    public static let checkpoint = "checkpoint"
    public static let logKey = "log-key.vkey"
    public static let manifest = "manifest.json"
    public static let sums = "SHA256SUMS"
    public static let instructions = "VERIFY.md"
    public static let keysDirectory = "keys"
    public static let keyring = "keys/keyring.json"
    public static let proofsDirectory = "proofs"

    /// `proofs/<seq>.tlog-proof`.
    public static func proof(_ seq: UInt64) -> String { "proofs/\(seq).tlog-proof" }
    /// `keys/v<N>.pem`.
    public static func key(version: Int) -> String { "keys/v\(version).pem" }

    /// The exact text of a key file: the key's PEM SubjectPublicKeyInfo, ending in a newline.
    public static func pem(_ key: RSAPublicKey) -> String {
        key.pem.hasSuffix("\n") ? key.pem : key.pem + "\n"
    }

    /// The exact text of `keys/keyring.json` pinning `keys` (version, fingerprint), in
    /// version order, without validity windows (the format `Keyring.load` reads).
    public static func keyringJSON(_ keys: [(version: Int, fingerprint: String)]) -> String {
        var pins = "{\n  \"keys\": ["
        pins += keys.map { "\n    {\"version\": \($0.version), \"sha256\": \"\($0.fingerprint)\", \"notBefore\": null, \"notAfter\": null}" }.joined(separator: ",")
        pins += keys.isEmpty ? "]\n}\n" : "\n  ]\n}\n"
        return pins
    }
}

extension AuditTrail {
    /// Writes a self-contained, offline-verifiable compliance bundle of the selected entries
    /// to `directory` (see docs/export-bundle.md for the layout).
    ///
    /// The bundle is proved against one signed checkpoint: a fresh one when `options.signer`
    /// is given, else the newest stored one. Only entries below its size are selectable.
    /// Before anything is published, the entries are re-hashed and must reproduce the
    /// checkpoint's root, so a bundle is never written from a trail that does not match its
    /// own checkpoint.
    ///
    /// Everything is written into a temporary sibling directory, synced, and renamed onto
    /// `directory` in one step; on any failure the temporary directory is removed and
    /// `directory` is left as it was.
    ///
    /// - Throws: `bundle_exists` if `directory` exists and is not an empty directory;
    ///   `bad_output` if its parent does not exist; `no_checkpoint`; `missing_key` if an
    ///   accepted entry's key is not in the trail; `key_version_conflict`; `write_failed`;
    ///   the trail's own errors (`inconsistent_checkpoint`, `invalid_entry`, `storage_error`, …).
    public func exportBundle(to directory: String, options: ExportOptions = ExportOptions()) throws(ExportError) -> ExportSummary {
        var target = directory
        while target.count > 1 && target.hasSuffix("/") { target.removeLast() }
        let parent = try BundleDirectory.checkTarget(target)

        let note: SignedNote
        if let signer = options.signer {
            do { note = try signCheckpoint(with: signer) } catch { throw ExportError(error) }
        } else {
            let latest: SignedNote?
            do { latest = try latestCheckpoint() } catch { throw ExportError(error) }
            guard let latest else {
                throw ExportError(.noCheckpoint, "the trail has no signed checkpoint; sign one with `meterproof audit checkpoint` or pass --signing-key")
            }
            note = latest
        }
        let cp: Checkpoint
        do { cp = try Checkpoint(verifying: note, verifiers: [verifier]) } catch {
            throw ExportError(AuditError(.inconsistent, "the checkpoint does not verify under the trail's log key: \(error)"))
        }
        guard cp.origin == origin else {
            throw ExportError(AuditError(.inconsistent, "the checkpoint names log \(cp.origin), not \(origin)"))
        }
        let total: UInt64
        do { total = try size() } catch { throw ExportError(error) }
        guard total >= cp.size else {
            throw ExportError(AuditError(.inconsistent, "the checkpoint covers \(cp.size) entries but the trail holds \(total): it was truncated"))
        }

        let tmp = try BundleDirectory.makeTemporary(beside: target, parent: parent)
        do {
            var summary = try writeBundle(into: tmp, note: note, checkpoint: cp, trailSize: total, options: options)
            try BundleDirectory.publish(tmp, to: target, parent: parent)
            summary = ExportSummary(directory: target, manifest: summary.manifest, proofFiles: summary.proofFiles,
                                    keyFiles: summary.keyFiles, fileCount: summary.fileCount)
            return summary
        } catch {
            BundleDirectory.remove(tmp)
            throw error
        }
    }

    private func writeBundle(into root: String, note: SignedNote, checkpoint cp: Checkpoint, trailSize: UInt64,
                             options: ExportOptions) throws(ExportError) -> ExportSummary {
        let syncEach = !BundleDirectory.hasSyncfs
        var sums: [(path: String, hash: [UInt8])] = []
        func finish(_ w: BundleFileWriter) throws(ExportError) { sums.append((w.relativePath, try w.close())) }
        func writeFile(_ path: String, _ text: String) throws(ExportError) {
            let w = try BundleFileWriter(root: root, relativePath: path, syncEach: syncEach)
            try w.write(text)
            try finish(w)
        }

        let filter = options.filter
        let jsonl = try BundleFileWriter(root: root, relativePath: BundleLayout.entries, syncEach: syncEach)
        let csv = try BundleFileWriter(root: root, relativePath: BundleLayout.csv, syncEach: syncEach)
        try csv.write(EntryCSV.header)

        var proofs = BatchInclusionProofs()
        var counts = BundleManifest.Counts()
        var firstSeq: UInt64? = nil, lastSeq: UInt64? = nil
        // Fingerprint -> (referenced by an accepted entry, first seq, versions accepted entries claimed).
        var usedKeys: [String: (accepted: Bool, seq: UInt64, versions: Set<Int64>)] = [:]
        var example: (seq: UInt64, line: Int, version: Int64)? = nil
        let markLeaves = !filter.selectsAll

        // Entries are read in batches; parsing, hashing and CSV rendering run on all cores,
        // then the batch is folded into the tree and written in order.
        var batch: [(seq: UInt64, body: [UInt8])] = []
        batch.reserveCapacity(Self.exportBatchSize)
        func flush() throws {
            let scanned = Self.scan(batch, filter: filter)
            for (i, item) in batch.enumerated() {
                let s = scanned[i]
                guard item.seq == proofs.size else {
                    throw AuditError(.inconsistent, "entry \(proofs.size) is missing from the trail (next is \(item.seq)): run `meterproof audit verify`")
                }
                guard let e = s.entry else { throw s.error ?? AuditError(.invalidEntry, "entry \(item.seq) cannot be read") }
                guard e.seq == item.seq else {
                    throw AuditError(.inconsistent, "the entry stored at seq \(item.seq) says seq \(e.seq): the trail was altered (run `meterproof audit verify`)")
                }
                proofs.append(s.leaf, mark: s.selected && markLeaves)
                guard s.selected else { continue }
                try jsonl.write(item.body)
                try jsonl.write([0x0A])
                try csv.write(s.row)
                counts.add(e)
                if firstSeq == nil { firstSeq = e.seq }
                lastSeq = e.seq
                if let fp = e.keyFingerprint {
                    var u = usedKeys[fp] ?? (false, e.seq, [])
                    if e.isAccepted {
                        u.accepted = true
                        if let v = e.publicKeyVersion { u.versions.insert(v) }
                        if example == nil, e.token != nil, let v = e.publicKeyVersion { example = (e.seq, counts.entries, v) }
                    }
                    usedKeys[fp] = u
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
        do {
            try forEachEntry(from: 0, to: cp.size) { seq, bytes in
                batch.append((seq, Array(bytes)))
                if batch.count >= Self.exportBatchSize { try flush() }
            }
            try flush()
        } catch let e as ExportError {
            throw e
        } catch let e as AuditError {
            throw ExportError(e)
        } catch let e as SQLiteError {
            throw ExportError(AuditError.from(e, doing: "reading entries"))
        } catch {
            throw ExportError(AuditError(.storage, "reading entries: \(error)"))
        }
        guard proofs.size == cp.size else {
            throw ExportError(AuditError(.inconsistent, "the trail holds \(proofs.size) entries below the checkpoint's size \(cp.size): entries are missing (run `meterproof audit verify`)"))
        }
        guard proofs.root == cp.root else {
            throw ExportError(AuditError(.inconsistent, "the first \(cp.size) entries do not hash to the checkpoint's root: the trail was altered (run `meterproof audit verify`)"))
        }
        try finish(jsonl)
        try finish(csv)
        let fullPrefix = UInt64(counts.entries) == cp.size

        // Keys: every key that verified a selected entry, pinned by fingerprint.
        let recorded: [AuditTrail.RecordedKey]
        do { recorded = try recordedKeys() } catch { throw ExportError(error) }
        var byFingerprint: [String: AuditTrail.RecordedKey] = [:]
        for k in recorded { byFingerprint[k.fingerprint] = k }
        var keys: [(version: Int, key: RSAPublicKey)] = []
        for fp in usedKeys.keys.sorted() {
            let use = usedKeys[fp]!
            guard let rk = byFingerprint[fp] else {
                if use.accepted {
                    throw ExportError(.missingKey, "entry \(use.seq) was accepted under key \(fp), which the trail does not hold; the bundle could not be re-verified")
                }
                continue
            }
            guard Hex.encode(SHA256.hash(rk.spkiDER)) == fp, let key = try? RSAPublicKey(spkiDER: rk.spkiDER) else {
                throw ExportError(AuditError(.inconsistent, "the trail's stored key \(fp) does not hash to its fingerprint or does not parse"))
            }
            if let v = use.versions.first(where: { $0 != Int64(rk.version) }) {
                throw ExportError(.keyVersionConflict, "key \(fp) is recorded as version \(rk.version) but accepted entries (e.g. seq \(use.seq)) claim version \(v)")
            }
            if let other = keys.first(where: { $0.version == rk.version }) {
                throw ExportError(.keyVersionConflict, "the selection holds entries verified by two keys for PublicKeyVersion \(rk.version) (\(other.key.fingerprint) and \(fp)); export the periods before and after the key change separately (--since/--until)")
            }
            keys.append((rk.version, key))
        }
        try BundleDirectory.makeSubdirectory(root + "/" + BundleLayout.keysDirectory)
        keys.sort { $0.version < $1.version }
        for k in keys { try writeFile(BundleLayout.key(version: k.version), BundleLayout.pem(k.key)) }
        try writeFile(BundleLayout.keyring, BundleLayout.keyringJSON(keys.map { ($0.version, $0.key.fingerprint) }))

        // Proofs, unless the bundle is the whole prefix (then the root is recomputed instead).
        var proofCount = 0
        if !fullPrefix && counts.entries > 0 {
            try BundleDirectory.makeSubdirectory(root + "/" + BundleLayout.proofsDirectory)
            do {
                try proofs.forEachProof { seq, hashes in
                    try writeFile(BundleLayout.proof(seq), TlogProof(index: seq, hashes: hashes, checkpoint: note).serialized)
                    proofCount += 1
                }
            } catch let e as ExportError {
                throw e
            } catch {
                throw ExportError(AuditError(.inconsistent, "building inclusion proofs: \(error)"))
            }
        }

        let createdAt = RFC3339.format(milliseconds: options.createdAt ?? Clock.nowMilliseconds())
        let manifest = BundleManifest(
            tool: "meterproof \(MeterProofVersion.string)", createdAt: createdAt, origin: origin, treeSize: cp.size, root: cp.root,
            selection: BundleManifest.Selection(filter: filter, fullPrefix: fullPrefix), counts: counts,
            firstSeq: firstSeq, lastSeq: lastSeq, newerEntriesOmitted: trailSize - cp.size)
        try writeFile(BundleLayout.checkpoint, note.serialized)
        try writeFile(BundleLayout.logKey, verifier.vkey + "\n")
        try writeFile(BundleLayout.manifest, manifest.serialized)
        try writeFile(BundleLayout.instructions, BundleInstructions.text(
            manifest: manifest, vkey: verifier.vkey, keyVersions: keys.map(\.version),
            example: example.map { (seq: $0.seq, line: $0.line, keyVersion: Int($0.version)) }))

        sums.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        let sumsText = sums.map { Hex.encode($0.hash) + "  " + $0.path + "\n" }.joined()
        let sw = try BundleFileWriter(root: root, relativePath: BundleLayout.sums, syncEach: syncEach)
        try sw.write(sumsText)
        _ = try sw.close()

        if BundleDirectory.hasSyncfs { try BundleDirectory.syncFileSystem(of: root) }
        try BundleDirectory.syncDirectory(root + "/" + BundleLayout.keysDirectory)
        if proofCount > 0 { try BundleDirectory.syncDirectory(root + "/" + BundleLayout.proofsDirectory) }
        try BundleDirectory.syncDirectory(root)

        return ExportSummary(directory: root, manifest: manifest, proofFiles: proofCount, keyFiles: keys.count, fileCount: sums.count + 1)
    }

    static let exportBatchSize = 4096

    /// One entry as prepared by ``scan(_:filter:)``.
    struct ScannedEntry: Sendable {
        var leaf: MerkleHash = .zero
        var entry: AuditEntry? = nil
        var error: AuditError? = nil
        var selected = false
        /// The CSV row, for a selected entry.
        var row: [UInt8] = []
    }

    /// Leaf hash, strict decoding, selection and CSV row of each body, spread over all cores.
    static func scan(_ batch: [(seq: UInt64, body: [UInt8])], filter: EntryFilter) -> [ScannedEntry] {
        Parallel.map(batch.count, grain: 64) { i in
            var s = ScannedEntry()
            s.leaf = RFC6962.leafHash(batch[i].body)
            do throws(AuditError) {
                let e = try AuditEntry(canonicalBytes: batch[i].body)
                s.entry = e
                s.selected = filter.matches(e)
                if s.selected { s.row = EntryCSV.row(e) }
            } catch {
                s.error = error
            }
            return s
        }
    }
}
