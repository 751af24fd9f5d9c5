import Dispatch
import MeterProof

/// A compliance report of an audit trail: what was recorded, whether the trail is intact,
/// and the statistics of a selection of its entries, rendered as one self-contained HTML file.
///
/// The report is a *view* of the trail for people, not evidence: the export bundle (entries,
/// checkpoints, proofs and keys) is what an auditor re-verifies. Build one with
/// ``build(trail:options:)``, then ``renderHTML()`` or ``writeHTML(to:)``.
///
///     let trail = try AuditTrail(path: "meterproof.sqlite", readOnly: true)
///     let report = try ComplianceReport.build(trail: trail, options: .init(filter: EntryFilter(productCode: "abc")))
///     try report.writeHTML(to: "report.html")
public struct ComplianceReport: Sendable {
    /// What to put in the report.
    public struct Options: Sendable {
        /// The entries the statistics cover (integrity and identity always cover the whole trail).
        public var filter: EntryFilter
        /// Caps that keep memory bounded.
        public var limits: ReportStatistics.Limits
        /// The generation time shown in the report, epoch milliseconds (default: now).
        public var generatedAt: Int64?
        /// A signer record the integrity check also requires the trail to extend (see
        /// ``AuditTrail/verify(against:logKey:record:)``); `nil` checks none.
        public var signerRecord: SignerRecord?

        /// Options for the report of `filter`'s entries (default: every entry).
        public init(filter: EntryFilter = EntryFilter(), limits: ReportStatistics.Limits = .init(), generatedAt: Int64? = nil) {
            self.filter = filter
            self.limits = limits
            self.generatedAt = generatedAt
        }
    }

    /// The newest signed checkpoint.
    public struct CheckpointSummary: Sendable, Hashable {
        /// Entries it covers.
        public var size: UInt64
        /// Its root hash, standard base64.
        public var root: String
        /// The whole signed note (body, blank line, signature lines).
        public var signedText: String
    }

    /// The trail file as named by the caller.
    public var trailPath: String
    /// The log's origin (checkpoint first line).
    public var origin: String
    /// The log's verifier key (C2SP vkey).
    public var logKey: String
    /// Entries in the trail when the report was built.
    public var trailSize: UInt64
    /// Signed checkpoints stored in the trail.
    public var checkpointCount: Int
    /// The newest checkpoint, if any could be read.
    public var latestCheckpoint: CheckpointSummary?
    /// Why the stored checkpoints could not be read, if so.
    public var checkpointProblem: String?
    /// The result of ``AuditTrail/verify(against:logKey:record:)`` on the whole trail (with
    /// ``Options/signerRecord``).
    public var integrity: TrailVerification
    /// Fingerprints of the public keys whose SPKI the trail stores.
    public var storedKeyFingerprints: Set<String>
    /// The statistics of the selected entries.
    public var statistics: ReportStatistics
    /// When the report was generated (RFC 3339 UTC).
    public var generatedAt: String
    /// The software that generated it.
    public var generator: String

    /// The selection the statistics cover.
    public var filter: EntryFilter { statistics.filter }

    /// Reads the trail once for the statistics and once to verify it, inside one read
    /// transaction so both see the same snapshot even while other processes append.
    ///
    /// Entries whose bytes cannot be decoded do not stop the report: they are counted as
    /// undecodable (and `verify` reports the damage).
    ///
    /// - Throws: `storage_error`, `locked` and the other errors of reading the trail.
    public static func build(trail: AuditTrail, options: Options = Options()) throws(AuditError) -> ComplianceReport {
        // Read before the snapshot begins: a signing that ends meanwhile replaces the record
        // with a checkpoint of entries the snapshot does not hold.
        let recordNote = try options.signerRecord?.readNote()
        do {
            return try trail.db.transaction(.deferred) { () throws -> ComplianceReport in
                let size = try trail.currentSize()
                var checkpoints: [SignedNote] = []
                var checkpointProblem: String? = nil
                do throws(AuditError) { checkpoints = try trail.checkpoints() } catch { checkpointProblem = error.reason }
                var latest: CheckpointSummary? = nil
                if let note = checkpoints.last {
                    do {
                        let cp = try Checkpoint(parsing: note.text)
                        latest = CheckpointSummary(size: cp.size, root: cp.root.base64, signedText: note.serialized)
                    } catch {
                        checkpointProblem = "the newest checkpoint does not parse: \(error)"
                    }
                }
                let integrity = try trail.verify(against: nil, logKey: nil, record: options.signerRecord, note: recordNote)
                let stored = Set(try trail.recordedKeys().map(\.fingerprint))

                var stats = ReportStatistics(filter: options.filter, limits: options.limits)
                // Decoding dominates; it runs in parallel per batch, counting stays in seq order.
                var batch: [(seq: UInt64, body: [UInt8])] = []
                batch.reserveCapacity(Self.batchSize)
                // A batch also ends at `maxBatchBytes`: entries near the size limit (captured
                // lines of a megabyte) would otherwise hold gigabytes per batch.
                var batchBytes = 0
                func flush() {
                    for (i, decoded) in Self.decode(batch).enumerated() {
                        switch decoded {
                        case .success(let e): stats.add(e)
                        case .failure(let error): stats.addUndecodable(seq: batch[i].seq, message: error.reason)
                        }
                    }
                    batch.removeAll(keepingCapacity: true)
                    batchBytes = 0
                }
                try trail.forEachEntry(to: size) { seq, bytes in
                    batch.append((seq, Array(bytes)))
                    batchBytes += bytes.count
                    if batch.count == Self.batchSize || batchBytes >= Self.maxBatchBytes { flush() }
                }
                flush()
                return ComplianceReport(
                    trailPath: trail.path, origin: trail.origin, logKey: trail.verifier.vkey, trailSize: size,
                    checkpointCount: checkpoints.count, latestCheckpoint: latest, checkpointProblem: checkpointProblem,
                    integrity: integrity, storedKeyFingerprints: stored, statistics: stats,
                    generatedAt: RFC3339.format(milliseconds: options.generatedAt ?? WallClock.nowMilliseconds()),
                    generator: "meterproof \(MeterProofVersion.string)")
            }
        } catch let e as AuditError {
            throw e
        } catch let e as SQLiteError {
            throw AuditError.from(e, doing: "reading \(trail.path) for the report")
        } catch {
            throw AuditError(.storage, "reading \(trail.path) for the report: \(error)")
        }
    }

    static let batchSize = 4096
    /// The most entry bytes one decoding batch holds (typical entries: about 4 MiB per batch).
    static let maxBatchBytes = 16 << 20

    /// Each body decoded strictly, spread over all cores.
    static func decode(_ batch: [(seq: UInt64, body: [UInt8])]) -> [Result<AuditEntry, AuditError>] {
        Parallel.map(batch.count, grain: 64) { i in
            Result { () throws(AuditError) -> AuditEntry in try AuditEntry(canonicalBytes: batch[i].body) }
        }
    }

    /// Builds a report from parts (for callers that gather statistics themselves, and tests).
    public init(trailPath: String, origin: String, logKey: String, trailSize: UInt64, checkpointCount: Int,
                latestCheckpoint: CheckpointSummary?, checkpointProblem: String? = nil, integrity: TrailVerification,
                storedKeyFingerprints: Set<String> = [], statistics: ReportStatistics, generatedAt: String, generator: String) {
        self.trailPath = trailPath
        self.origin = origin
        self.logKey = logKey
        self.trailSize = trailSize
        self.checkpointCount = checkpointCount
        self.latestCheckpoint = latestCheckpoint
        self.checkpointProblem = checkpointProblem
        self.integrity = integrity
        self.storedKeyFingerprints = storedKeyFingerprints
        self.statistics = statistics
        self.generatedAt = generatedAt
        self.generator = generator
    }

    /// Renders and writes the report atomically: a temporary file in the same directory,
    /// `fsync`, then `rename` over `path` (and `fsync` of the directory). A reader sees the
    /// old file or the whole new one, never a part.
    ///
    /// A file that is replaced keeps its permission bits.
    ///
    /// - Throws: `bad_input` if `path` is a directory, a symbolic link, a device, FIFO or
    ///   socket, its directory does not exist, it holds an SQLite database or one's side file
    ///   (never overwrites a trail), or it is a non-empty file that is not an earlier
    ///   MeterProof report (a report replaces only a report); `read_only`, `disk_full`,
    ///   `storage_error` when writing fails (nothing is left behind).
    public func writeHTML(to path: String) throws(AuditError) {
        try AtomicFile.write(Array(renderHTML().utf8), to: path, refuseSQLite: true, onlyReplacingHTML: true)
    }

    /// Checks, without writing, that ``writeHTML(to:)`` would accept `path` as it is now (the
    /// same refusals, `bad_input`), so a caller can refuse a bad `--out` before reading a large
    /// trail. ``writeHTML(to:)`` checks again when it writes.
    public static func checkDestination(_ path: String) throws(AuditError) {
        try AtomicFile.checkDestination(path, refuseSQLite: true, onlyReplacingHTML: true)
    }
}
