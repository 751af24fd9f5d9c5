#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MeterProof
import Synchronization

/// What to put in an export bundle.
public struct ExportOptions: Sendable {
    /// Which entries to select (time window on `recordedAt`, outcome, product code).
    public var filter: EntryFilter
    /// Sign a fresh checkpoint of the whole trail with this log key and prove the bundle
    /// against it; `nil` uses the trail's newest stored checkpoint.
    public var signer: NoteSigner?
    /// The signer's record to check and update when `signer` signs a fresh checkpoint (see
    /// ``SignerRecord``); `nil` keeps none.
    public var signerRecord: SignerRecord?
    /// The manifest's `createdAt`, in epoch **milliseconds** (written as RFC 3339 UTC with
    /// milliseconds); `nil` for now.
    public var createdAt: Int64?
    /// Asked between batches of entries and of proof files while the bundle is written; when
    /// it returns `true` the export stops with `interrupted`, removes what it wrote and
    /// publishes nothing (the CLI sets it from SIGINT and SIGTERM).
    public var shouldStop: @Sendable () -> Bool
    /// Leaves per proof chunk, as a power of two (tests use small chunks to cross many
    /// chunk boundaries with few entries).
    var proofChunkBits = 12

    /// Options with `createdAt` in epoch **milliseconds** (`nil` for now) and `signer` `nil` to
    /// prove against the newest stored checkpoint; the defaults export every entry.
    public init(filter: EntryFilter = EntryFilter(), signer: NoteSigner? = nil, signerRecord: SignerRecord? = nil, createdAt: Int64? = nil,
                shouldStop: @escaping @Sendable () -> Bool = { false }) {
        self.filter = filter
        self.signer = signer
        self.signerRecord = signerRecord
        self.createdAt = createdAt
        self.shouldStop = shouldStop
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
    /// Versions of the bundled keys that are MeterProof's published test keys (`keys/test`) and
    /// verified an accepted entry: anyone has their private halves, so those acceptances prove
    /// nothing about AWS.
    public let testKeyVersions: [Int]
    /// Entries recorded after the checkpoint, which no bundle against it can hold.
    public var newerEntriesOmitted: UInt64 { manifest.newerEntriesOmitted }
}

/// The fixed file names of a bundle.
public enum BundleLayout {
    /// `entries.jsonl`: each selected entry's canonical bytes and a newline, in seq order.
    public static let entries = "entries.jsonl"
    /// `entries.csv`: the same entries as RFC 4180 CSV.
    public static let csv = "entries.csv"
    /// `checkpoint`: the signed checkpoint the bundle is proved against.
    public static let checkpoint = "checkpoint"
    /// `log-key.vkey`: the log's signed-note verifier key, as the exporter's trail holds it.
    public static let logKey = "log-key.vkey"
    /// `manifest.json`: see ``BundleManifest``.
    public static let manifest = "manifest.json"
    /// `SHA256SUMS`: the SHA-256 of every other file, `sha256sum -c` compatible.
    public static let sums = "SHA256SUMS"
    /// `VERIFY.md`: step-by-step checks without MeterProof.
    public static let instructions = "VERIFY.md"
    /// `keys`: the `v<N>.pem` key files and `keyring.json`.
    public static let keysDirectory = "keys"
    /// `keys/keyring.json`: the pins of the bundled keys (see ``keyringJSON(_:)``).
    public static let keyring = "keys/keyring.json"
    /// `proofs`: one inclusion proof per entry of a selection (none for a full prefix).
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
    /// `directory` is left as it was. A fresh checkpoint (with `options.signer`) is signed
    /// and stored in the trail first, like any `signCheckpoint(with:)`: it stays there even when
    /// the export then fails or is interrupted (it is a valid checkpoint of the trail).
    ///
    /// - Throws: `bundle_exists` if `directory` exists and is not an empty directory;
    ///   `bad_output` if its parent does not exist; `no_checkpoint`; `missing_key` if an
    ///   accepted entry's key is not in the trail; `key_version_conflict`; `write_failed`;
    ///   `interrupted` when ``ExportOptions/shouldStop`` asked it to stop; the trail's own errors (`inconsistent_checkpoint`, `invalid_entry`, `storage_error`, …).
    public func exportBundle(to directory: String, options: ExportOptions = ExportOptions()) throws(ExportError) -> ExportSummary {
        var target = directory
        while target.count > 1 && target.hasSuffix("/") { target.removeLast() }
        let parent = try BundleDirectory.checkTarget(target)

        let note: SignedNote
        if let signer = options.signer {
            do { note = try signCheckpoint(with: signer, record: options.signerRecord) } catch { throw ExportError(error) }
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
        guard utf8Equal(cp.origin, origin) else {
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
                                    keyFiles: summary.keyFiles, fileCount: summary.fileCount, testKeyVersions: summary.testKeyVersions)
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
            sums.append((path, try BundleFileWriter.writeWhole(root: root, relativePath: path, bytes: Array(text.utf8), syncEach: syncEach)))
        }

        let filter = options.filter
        let jsonl = try BundleFileWriter(root: root, relativePath: BundleLayout.entries, syncEach: syncEach, background: true)
        let csv = try BundleFileWriter(root: root, relativePath: BundleLayout.csv, syncEach: syncEach, background: true)
        // On any failure, no chunk may still be on its way into the directory being removed.
        defer {
            jsonl.discard()
            csv.discard()
        }
        try csv.write(EntryCSV.header)

        var proofs = ChunkedInclusionProofs(chunkBits: options.proofChunkBits)
        var counts = BundleManifest.Counts()
        var firstSeq: UInt64? = nil, lastSeq: UInt64? = nil
        var usedKeys = KeyUsage()
        var example: (seq: UInt64, line: Int, version: Int64)? = nil
        let markLeaves = !filter.selectsAll

        // A pipeline: while another core parses, hashes and renders batch k, this thread reads
        // batch k+1 and writes batch k-1 in order, folding it into the tree. A batch keeps its
        // bodies in one buffer, each followed by a line feed: exactly its `entries.jsonl` lines,
        // so a run of selected entries is written (and hashed) in one call.
        var batch = RowBatch()
        var inFlight: (batch: RowBatch, scan: Background<[ScannedSlice]>)? = nil
        let scanWorkers = max(1, System.activeProcessorCount)
        func stopIfAsked() throws(ExportError) {
            if options.shouldStop() { throw ExportError.interruptedExport }
        }
        func flush() throws {
            try stopIfAsked()
            let next = batch
            let started = Background { Self.scan(next, filter: filter, workers: scanWorkers) }
            batch = RowBatch()
            if let previous = inFlight {
                inFlight = nil
                try consume(previous.batch, previous.scan.wait())
            }
            inFlight = (next, started)
        }
        func drain() throws {
            if !batch.isEmpty { try flush() }
            if let last = inFlight {
                inFlight = nil
                try consume(last.batch, last.scan.wait())
            }
        }
        func consume(_ batch: RowBatch, _ slices: [ScannedSlice]) throws {
            for slice in slices {
                for (k, s) in slice.entries.enumerated() {
                    let i = slice.first + k
                    let seq = batch.seqs[i]
                    guard seq == proofs.size else {
                        throw AuditError(.inconsistent, "entry \(proofs.size) is missing from the trail (next is \(seq)): run `meterproof audit verify`")
                    }
                    guard let e = s.view else { throw s.error ?? AuditError(.invalidEntry, "entry \(seq) cannot be read") }
                    guard e.seq == seq else {
                        throw AuditError(.inconsistent, "the entry stored at seq \(seq) says seq \(e.seq): the trail was altered (run `meterproof audit verify`)")
                    }
                    proofs.append(s.leaf, mark: e.selected && markLeaves)
                    guard e.selected else { continue }
                    if !slice.allSelected {
                        try jsonl.write(batch.lines(i..<(i + 1)))
                        try slice.withCSVRow(k) { try csv.write($0) }
                    }
                    // An accepted entry names the key and carries the token an auditor re-verifies;
                    // one without them (recorded through `record(_ entry:)` by hand) would make a
                    // bundle that fails `export verify`: refuse to write it.
                    if e.accepted && (e.keyFingerprint == nil || !e.hasToken || e.publicKeyVersion == nil) {
                        let missing = [e.keyFingerprint == nil ? "key fingerprint" : nil, e.publicKeyVersion == nil ? "key version" : nil, e.hasToken ? nil : "token"].compactMap { $0 }
                        throw ExportError(.missingKey, "entry \(e.seq) is accepted but records no \(missing.joined(separator: ", ")): its signature cannot be re-verified, so no bundle holding it can be sound")
                    }
                    counts.add(accepted: e.accepted, reason: e.reason)
                    if firstSeq == nil { firstSeq = e.seq }
                    lastSeq = e.seq
                    if let fp = e.keyFingerprint {
                        try batch.withBody(i) { body in
                            try usedKeys.note(UnsafeRawBufferPointer(rebasing: body[fp]), seq: e.seq, accepted: e.accepted, version: e.publicKeyVersion)
                        }
                        if e.accepted, example == nil, e.hasToken, let v = e.publicKeyVersion { example = (e.seq, counts.entries, v) }
                    }
                }
                if slice.allSelected && !slice.entries.isEmpty {
                    try jsonl.write(batch.lines(slice.first..<(slice.first + slice.entries.count)))
                    try csv.write(slice.csv[...])
                }
            }
        }
        do {
            // Whatever happens, no scan is left running past this function.
            defer { _ = inFlight?.scan.wait() }
            try forEachEntry(from: 0, to: cp.size) { seq, bytes in
                batch.append(seq, bytes)
                // Also at a byte budget: 4096 entries near the 1 MiB entry limit would be 4 GiB
                // per batch, and two batches are in flight.
                if batch.count >= Self.exportBatchSize || batch.bytes.count >= Self.exportBatchBytes { try flush() }
            }
            try drain()
        } catch {
            throw Self.exportError(error, doing: "reading entries")
        }
        guard proofs.size == cp.size else {
            throw ExportError(AuditError(.inconsistent, "the trail holds \(proofs.size) entries below the checkpoint's size \(cp.size): entries are missing (run `meterproof audit verify`)"))
        }
        guard proofs.finish() == cp.root else {
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
        var testKeys: [(version: Int, fingerprint: String)] = []
        for use in usedKeys.uses.sorted(by: { $0.fingerprint < $1.fingerprint }) {
            let fp = use.fingerprint
            guard let rk = byFingerprint[fp] else {
                if use.accepted {
                    throw ExportError(.missingKey, "entry \(use.seq) was accepted under key \(fp), which the trail does not hold; the bundle could not be re-verified")
                }
                continue
            }
            guard Hex.encode(SHA256.hash(rk.spkiDER)) == fp, let key = try? RSAPublicKey(spkiDER: rk.spkiDER) else {
                throw ExportError(AuditError(.inconsistent, "the trail's stored key \(fp) does not hash to its fingerprint or does not parse"))
            }
            if let (v, seq) = use.versions.filter({ $0.key != Int64(rk.version) }).min(by: { $0.value < $1.value }) {
                throw ExportError(.keyVersionConflict, "key \(fp) is recorded as version \(rk.version) but accepted entries (e.g. seq \(seq)) claim version \(v)")
            }
            if let other = keys.first(where: { $0.version == rk.version }) {
                throw ExportError(.keyVersionConflict, "the selection holds entries verified by two keys for PublicKeyVersion \(rk.version) (\(other.key.fingerprint) and \(fp)); export the periods before and after the key change separately (--since/--until)")
            }
            keys.append((rk.version, key))
            if use.accepted && key.isMeterProofTestKey { testKeys.append((rk.version, fp)) }
        }
        testKeys.sort { $0.version < $1.version }
        let testKeyVersions = testKeys.map(\.version)
        try BundleDirectory.makeSubdirectory(root + "/" + BundleLayout.keysDirectory)
        keys.sort { $0.version < $1.version }
        for k in keys { try writeFile(BundleLayout.key(version: k.version), BundleLayout.pem(k.key)) }
        try writeFile(BundleLayout.keyring, BundleLayout.keyringJSON(keys.map { ($0.version, $0.key.fingerprint) }))

        // Proofs, unless the bundle is the whole prefix (then the root is recomputed instead).
        var proofCount = 0
        var proofSums: [ProofFileSum] = []
        if !fullPrefix && counts.entries > 0 {
            try BundleDirectory.makeSubdirectory(root + "/" + BundleLayout.proofsDirectory)
            proofSums = try writeProofFiles(proofs, root: root, note: note, syncEach: syncEach, shouldStop: options.shouldStop)
            proofCount = proofSums.count
        }

        let createdAt = RFC3339.format(milliseconds: options.createdAt ?? WallClock.nowMilliseconds())
        let manifest = BundleManifest(
            tool: "meterproof \(MeterProofVersion.string)", createdAt: createdAt, origin: origin, treeSize: cp.size, root: cp.root,
            selection: BundleManifest.Selection(filter: filter, fullPrefix: fullPrefix), counts: counts,
            firstSeq: firstSeq, lastSeq: lastSeq, newerEntriesOmitted: trailSize - cp.size)
        try writeFile(BundleLayout.checkpoint, note.serialized)
        try writeFile(BundleLayout.logKey, verifier.vkey + "\n")
        try writeFile(BundleLayout.manifest, manifest.serialized)
        try writeFile(BundleLayout.instructions, BundleInstructions.text(
            manifest: manifest, vkey: verifier.vkey, keyVersions: keys.map(\.version), testKeys: testKeys,
            example: example.map { (seq: $0.seq, line: $0.line, keyVersion: Int($0.version)) }))

        // SHA256SUMS in path order: the other files merged with the proof files, whose paths
        // sort as their seqs' decimal digits do (`.` sorts before every digit).
        sums.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        proofSums.sort { ProofFileSum.pathOrder($0.seq, $1.seq) }
        let sw = try BundleFileWriter(root: root, relativePath: BundleLayout.sums, syncEach: syncEach)
        func line(_ hex: String, _ path: String) throws(ExportError) { try sw.write(hex + "  " + path + "\n") }
        var p = 0
        for s in sums {
            while p < proofSums.count {
                let path = BundleLayout.proof(proofSums[p].seq)
                guard path.utf8.lexicographicallyPrecedes(s.path.utf8) else { break }
                try line(proofSums[p].hash.hex, path)
                p += 1
            }
            try line(Hex.encode(s.hash), s.path)
        }
        for q in proofSums[p...] { try line(q.hash.hex, BundleLayout.proof(q.seq)) }
        _ = try sw.close()

        try stopIfAsked()
        if BundleDirectory.hasSyncfs { try BundleDirectory.syncFileSystem(of: root) }
        try BundleDirectory.syncDirectory(root + "/" + BundleLayout.keysDirectory)
        if proofCount > 0 { try BundleDirectory.syncDirectory(root + "/" + BundleLayout.proofsDirectory) }
        try BundleDirectory.syncDirectory(root)

        return ExportSummary(directory: root, manifest: manifest, proofFiles: proofCount, keyFiles: keys.count, fileCount: sums.count + proofSums.count + 1, testKeyVersions: testKeyVersions)
    }

    static let exportBatchSize = 4096
    /// The most entry bytes one batch holds (4096 typical entries are about 4.5 MiB; two batches
    /// are in flight, each also rendered as CSV).
    static let exportBatchBytes = 4 << 20

    /// An error met while reading the trail for an export, as the export reports it.
    static func exportError(_ error: any Error, doing what: String) -> ExportError {
        switch error {
        case let e as ExportError: return e
        case let e as AuditError: return ExportError(e)
        case let e as SQLiteError: return ExportError(AuditError.from(e, doing: what))
        default: return ExportError(AuditError(.storage, "\(what): \(error)"))
        }
    }

    /// The stored leaf hashes of entries `range`, in seq order.
    ///
    /// - Throws: `inconsistent` if one is missing or is not 32 bytes.
    private func leafHashes(_ range: Range<UInt64>) throws -> [MerkleHash] {
        let st = try db.cachedStatement("SELECT seq, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq")
        defer { st.reset() }
        try st.bind(Int64(bitPattern: range.lowerBound), at: 1)
        try st.bind(Int64(bitPattern: range.upperBound), at: 2)
        var out: [MerkleHash] = []
        out.reserveCapacity(range.count)
        while try st.step() {
            let seq = range.lowerBound + UInt64(out.count)
            guard UInt64(bitPattern: st.int64(at: 0)) == seq, let h = st.withBlob(at: 1, { MerkleHash(bytes: $0) }) else {
                throw AuditError(.inconsistent, "the stored leaf hash of entry \(seq) is missing or malformed (run `meterproof audit verify`)")
            }
            out.append(h)
        }
        guard out.count == range.count else {
            throw AuditError(.inconsistent, "the stored leaf hash of entry \(range.lowerBound + UInt64(out.count)) is missing (run `meterproof audit verify`)")
        }
        return out
    }

    /// A proof file's seq and SHA-256, for `SHA256SUMS` (40 bytes a file, its path made again
    /// when the line is written).
    struct ProofFileSum: Sendable {
        let seq: UInt64
        let hash: MerkleHash

        /// Whether `proofs/<a>.tlog-proof` sorts bytewise before `proofs/<b>.tlog-proof`: the
        /// decimal digits compare as strings, a prefix first (`.` sorts before every digit).
        /// Compared as the digits padded with zeros to 19 places (a seq is at most
        /// `Int64.max`), then by length.
        static func pathOrder(_ a: UInt64, _ b: UInt64) -> Bool {
            let ka = padded(a), kb = padded(b)
            return ka.value != kb.value ? ka.value < kb.value : ka.digits < kb.digits
        }

        static func padded(_ v: UInt64) -> (value: UInt64, digits: Int) {
            precondition(v <= UInt64(Int64.max), "a seq is at most Int64.max")
            var digits = 1
            while digits < 19 && v >= powersOfTen[digits] { digits += 1 }
            return (v &* powersOfTen[19 - digits], digits)
        }

        /// 10^0 … 10^18.
        private static let powersOfTen: [UInt64] = (0..<19).map { k in (0..<k).reduce(UInt64(1)) { r, _ in r * 10 } }
    }

    /// Writes `proofs/<seq>.tlog-proof` for every marked leaf, one chunk of the tree at a time:
    /// the chunk's stored leaf hashes are read back and checked against the root the scan
    /// computed for it from the entries' bytes, then its proofs are written from every core
    /// (creating a file costs tens of microseconds of system time; threads overlap all but the
    /// directory update). Returns each file's seq and SHA-256 in seq order. Once one file has
    /// failed, no further file is started, and the first failure in seq order among the files
    /// attempted is thrown.
    private func writeProofFiles(_ proofs: ChunkedInclusionProofs, root: String, note: SignedNote, syncEach: Bool,
                                 shouldStop: @escaping @Sendable () -> Bool) throws(ExportError) -> [ProofFileSum] {
        var out: [ProofFileSum] = []
        out.reserveCapacity(proofs.marked.count)
        for chunk in proofs.markedChunks() {
            if shouldStop() {
                throw ExportError.interruptedExport
            }
            let paths: [(index: UInt64, path: [MerkleHash])]
            do {
                let leaves = try leafHashes(chunk.leaves)
                do throws(TransparencyError) { paths = try proofs.proofs(chunk: chunk.chunk, leafHashes: leaves) } catch {
                    throw AuditError(.inconsistent, "building inclusion proofs for entries \(chunk.leaves.lowerBound)..<\(chunk.leaves.upperBound): \(error) (run `meterproof audit verify`)")
                }
            } catch {
                throw Self.exportError(error, doing: "reading leaf hashes")
            }
            let failed = Atomic<Bool>(false)
            let results: [Result<MerkleHash, ExportError>?] = Parallel.mapBalanced(paths.count, chunk: 64) { i in
                if failed.load(ordering: .relaxed) { return nil }
                let r = Result { () throws(ExportError) -> MerkleHash in
                    if i % 64 == 63 && shouldStop() {
                        throw ExportError.interruptedExport
                    }
                    let (seq, hashes) = paths[i]
                    let text = TlogProof(index: seq, hashes: hashes, checkpoint: note).serialized
                    return MerkleHash(bytes: try BundleFileWriter.writeWhole(root: root, relativePath: BundleLayout.proof(seq), bytes: Array(text.utf8), syncEach: syncEach))!
                }
                if case .failure = r { failed.store(true, ordering: .relaxed) }
                return r
            }
            for (i, r) in results.enumerated() {
                switch r {
                case .success(let h)?: out.append(ProofFileSum(seq: paths[i].index, hash: h))
                case .failure(let e)?: throw e
                case nil: continue
                }
            }
            // A file is skipped only after another failed, and that failure was thrown above.
        }
        return out
    }

    /// The keys selected entries name, in order of first use: per fingerprint, whether an
    /// accepted entry used it, the first such entry (else the first entry naming it), and the
    /// versions accepted entries claimed for it, each with the first entry that claimed it.
    ///
    /// Entries are matched by their fingerprint's raw canonical bytes (equal bytes, equal
    /// text), so an export decodes each distinct fingerprint once, not once per entry.
    struct KeyUsage {
        struct Use {
            var fingerprint: String
            var raw: [UInt8]
            var accepted: Bool
            var seq: UInt64
            var versions: [Int64: UInt64]
        }
        private(set) var uses: [Use] = []
        private var last = -1

        mutating func note(_ raw: UnsafeRawBufferPointer, seq: UInt64, accepted: Bool, version: Int64?) throws(AuditError) {
            var k = last
            if k < 0 || !Self.same(uses[k].raw, raw) {
                k = uses.firstIndex { Self.same($0.raw, raw) } ?? -1
                if k < 0 {
                    guard let text = AuditEntry.decodeCanonicalString(raw) else {
                        throw AuditError(.invalidEntry, "entry \(seq): its keyFingerprint cannot be decoded")
                    }
                    uses.append(Use(fingerprint: text, raw: Array(raw), accepted: false, seq: seq, versions: [:]))
                    k = uses.count - 1
                }
                last = k
            }
            guard accepted else { return }
            if !uses[k].accepted {
                uses[k].accepted = true
                uses[k].seq = seq
            }
            if let version, uses[k].versions[version] == nil { uses[k].versions[version] = seq }
        }

        private static func same(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
            guard a.count == b.count else { return false }
            guard let q = b.baseAddress, !a.isEmpty else { return true }
            return a.withUnsafeBytes { memcmp($0.baseAddress!, q, a.count) == 0 }
        }
    }

    /// Rows read from the trail: seqs, and the bodies back to back in one buffer, each followed
    /// by a line feed.
    struct RowBatch: Sendable {
        var seqs: [UInt64] = []
        /// End offset of each line (body + line feed) in `bytes`.
        var ends: [Int] = []
        var bytes: [UInt8] = []

        init() {
            seqs.reserveCapacity(exportBatchSize)
            ends.reserveCapacity(exportBatchSize)
            bytes.reserveCapacity(exportBatchSize * 1024)
        }

        var count: Int { seqs.count }
        var isEmpty: Bool { seqs.isEmpty }

        mutating func append(_ seq: UInt64, _ body: UnsafeRawBufferPointer) {
            seqs.append(seq)
            bytes.append(contentsOf: body)
            bytes.append(0x0A)
            ends.append(bytes.count)
        }

        /// Lines `range` (bodies with their line feeds), contiguous, sharing the batch's storage.
        func lines(_ range: Range<Int>) -> ArraySlice<UInt8> {
            bytes[(range.lowerBound == 0 ? 0 : ends[range.lowerBound - 1])..<ends[range.upperBound - 1]]
        }

        /// Entry `i`'s body (its line without the line feed).
        func withBody<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try lines(i..<(i + 1)).dropLast().withUnsafeBytes(body)
        }
    }

    /// One entry as prepared by ``scan(_:filter:workers:)``.
    struct ScannedEntry: Sendable {
        var leaf: MerkleHash = .zero
        var view: AuditEntry.ExportView? = nil
        var error: AuditError? = nil
    }

    /// A contiguous run of a batch as one worker prepared it, with the CSV rows of its selected
    /// entries back to back.
    struct ScannedSlice: Sendable {
        var first: Int
        var entries: [ScannedEntry] = []
        var csv: [UInt8] = []
        var csvEnds: [Int] = []
        /// Every entry of the slice is selected (then its lines and rows are written at once).
        var allSelected = true

        /// The CSV row of entry `k` of the slice (selected entries only).
        func withCSVRow<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            let start = k == 0 ? 0 : csvEnds[k - 1]
            return try csv.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<csvEnds[k]])) }
        }
    }

    /// Leaf hash, strict decoding, selection and CSV row of each body, one slice per worker.
    static func scan(_ batch: RowBatch, filter: EntryFilter, workers: Int) -> [ScannedSlice] {
        let n = batch.count
        let parts = max(1, min(workers, n / 64))
        return Parallel.map(parts, grain: 1, maxWorkers: parts) { p in
            let lo = n * p / parts, hi = n * (p + 1) / parts
            var slice = ScannedSlice(first: lo)
            let hasher = SHA256Hasher()
            slice.entries.reserveCapacity(hi - lo)
            slice.csvEnds.reserveCapacity(hi - lo)
            slice.csv.reserveCapacity(batch.bytes.count / parts + 64 * (hi - lo))
            for i in lo..<hi {
                var s = ScannedEntry()
                batch.withBody(i) { body in
                    s.leaf = RFC6962.leafHash(body, using: hasher)
                    switch AuditEntry.exportView(body, filter: filter, csvInto: &slice.csv) {
                    case .success(let v): s.view = v
                    case .failure(let f): s.error = AuditError(.invalidEntry, "entry \(batch.seqs[i]) is not canonical: \(f.message) (run `meterproof audit verify`)")
                    }
                }
                if s.view?.selected != true { slice.allSelected = false }
                slice.csvEnds.append(slice.csv.count)
                slice.entries.append(s)
            }
            return slice
        }
    }
}
