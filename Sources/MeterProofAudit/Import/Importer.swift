import Dispatch
import MeterProof
import Synchronization

/// Progress of a running import, reported after each committed batch.
public struct ImportProgress: Sendable {
    /// Lines read so far, blank lines included, when the batch was handed to the writer.
    public var linesRead: Int
    /// Lines accounted for so far: entries recorded, duplicates and blank lines.
    public var committed: Int
    /// Input bytes read so far, across all sources.
    public var bytesRead: Int
    /// Total input bytes when every source is a regular file, else `nil`.
    public var totalBytes: Int?
    /// Seconds since the import started (monotonic clock), as a `Double`.
    public var elapsed: Double
}

/// The end result of an import.
public struct ImportSummary: Sendable {
    /// Lines read, blank lines included.
    public var lines = 0
    /// Lines of only spaces, tabs and CRs: counted, not recorded.
    public var blankLines = 0
    /// Entries written to the trail.
    public var recorded = 0
    /// Capture lines already in the trail (nothing written for them).
    public var duplicates = 0
    /// Of those, the lines recognised before verification (the rest the writer found).
    public var duplicatesSkippedVerification = 0
    /// Entries recorded as accepted.
    public var accepted = 0
    /// Entries recorded as rejected (`nonce_replayed` and unreadable lines included).
    public var rejected = 0
    /// Rejections by reason code.
    public var reasons: [String: Int] = [:]
    /// Accepted entries carrying warnings, by warning code.
    public var warnings: [String: Int] = [:]
    /// Recorded entries whose capture carried its request (`binding` `bound`).
    public var boundCaptures = 0
    /// Recorded entries without one (`unbound`: bare tokens or responses, and lines that did not
    /// parse).
    public var unboundCaptures = 0
    /// How long the import took, in seconds (a `Double`, monotonic clock).
    public var seconds: Double = 0
    /// Stopped early by a stop request; everything counted here is committed.
    public var interrupted = false
    /// Trail size after the import.
    public var treeSize: UInt64 = 0
    /// The entries this import appended, when they were the newest of the trail at its end: a
    /// checkpoint signed right after (``AuditTrail/signCheckpoint(with:after:)``) need
    /// not read them again.
    package var appendedTail: AuditTrail.AppendedTail? = nil
    /// Seq of the first entry this import wrote; `nil` when it wrote none.
    public var firstSeq: UInt64?
    /// Seq of the last entry this import wrote; `nil` when it wrote none.
    public var lastSeq: UInt64?
    /// Inputs whose last line had no line feed after it, with that line's number: if the file
    /// was still being written, the line may have been cut short (it is recorded as read).
    public var unterminated: [(file: String, line: Int)] = []
    /// Accepted entries this import recorded under one of MeterProof's published test keys:
    /// anyone can sign tokens those keys accept, so they prove nothing about AWS.
    public var testKeyAccepted = 0
}

/// Offline audit: reads capture files, verifies on all cores, and appends to the trail in
/// input order with group commits (one durable transaction per batch).
///
/// Idempotent: each capture line is recorded with the SHA-256 of its bytes, and a line the trail
/// already holds is counted as a duplicate and not written again, so re-running an interrupted
/// import completes it without doubles.
public struct CaptureImporter: Sendable {
    /// The trail file to append to; it must exist (``run(files:progress:shouldStop:)`` throws
    /// `not_a_trail` otherwise).
    public let trailPath: String
    /// The keys captures are verified against; each accepted entry's key is recorded in the trail.
    public let keyring: Keyring
    /// Policy for captures with `capturedAt` (freshness judged against it); captures without
    /// one are checked under the same policy with `maxAge` and `maxFutureSkew` off.
    public let policy: VerificationPolicy
    /// Verification threads (at least 1).
    public let jobs: Int
    /// Lines per transaction (at least 1).
    public let batchSize: Int
    /// How the writer's background checkpoints behave (internal: tests change it).
    var checkpoints = BatchWriter.CheckpointSettings()

    /// An importer; `jobs` and `batchSize` below 1 are raised to 1 (neither has an upper bound).
    /// Nothing is opened until ``run(files:progress:shouldStop:)``.
    public init(trailPath: String, keyring: Keyring, policy: VerificationPolicy, jobs: Int, batchSize: Int = 2000) {
        self.trailPath = trailPath
        self.keyring = keyring
        self.policy = policy
        self.jobs = max(1, jobs)
        self.batchSize = max(1, batchSize)
    }

    /// One input line awaiting verification.
    struct RawLine: Sendable {
        var file: String
        var number: Int
        var bytes: ArraySlice<UInt8>
        var tooLong: Bool
        /// SHA-256 of the line's bytes (for an overlong line, computed while it streamed past).
        var hash: [UInt8] = []
        /// The trail already holds this line: skip verification (the writer records it as a duplicate).
        var known = false
        /// For a known line that was accepted: the nonce it consumed, which leads the writer to
        /// its entry (schema 2 keeps no captures row for it).
        var knownNonce: (productCode: String, nonce: String)? = nil
    }

    /// Runs the import over `files` (`-` is standard input), calling `progress` after each commit
    /// and checking `shouldStop` between batches.
    public func run(files: [String], progress: @escaping @Sendable (ImportProgress) -> Void = { _ in },
                    shouldStop: @escaping @Sendable () -> Bool = { false }) throws(AuditError) -> ImportSummary {
        // Every input is opened once here, so a missing or unreadable one stops the import before
        // anything is recorded. A regular file is closed again and reopened when its turn comes:
        // an import of thousands of files then holds one descriptor and one read buffer at a
        // time. Standard input, a FIFO or a device stays open (a FIFO's writer would see its
        // reader go away).
        func open(_ f: String) throws(AuditError) -> LineReader {
            try LineReader(path: f, maxLineBytes: Capture.maxLineBytes, shouldStop: shouldStop)
        }
        var inputs: [(name: String, reader: LineReader?, identity: [UInt64]?)] = []
        for f in files {
            let reader = try open(f)
            inputs.append((f, reader.isRegularFile ? nil : reader, reader.identity))
        }
        var totalBytes: Int? = 0
        for f in files {
            if f == "-" { totalBytes = nil; break }
            let size = FileSystem.size(f)
            if let size, totalBytes != nil { totalBytes! += size } else { totalBytes = nil }
        }
        let total = totalBytes
        let start = WallClock.monotonicSeconds()
        let writer = try BatchWriter(path: trailPath, checkpoints: checkpoints, shouldStop: shouldStop)
        let summary = Mutex(ImportSummary())
        let verifierWithFreshness = Verifier(keyring: keyring, policy: policy)
        var offline = policy
        offline.maxAge = nil
        offline.maxFutureSkew = nil
        let verifierNoFreshness = Verifier(keyring: keyring, policy: offline)
        let testKeyFingerprints = keyring.testKeyFingerprints

        var linesRead = 0
        var bytesBefore = 0
        /// Bytes of the files read to their end (``bytesBefore`` adds the current file's).
        var bytesOfFinishedFiles = 0
        /// The line bytes held in `batch`: a batch also ends at ``maxBatchBytes``, so lines near
        /// the 1 MiB line limit cannot make a batch of 2000 hold 2 GB.
        var batchBytes = 0
        var interrupted = false
        var failure: AuditError? = nil
        var batch: [RawLine] = []
        batch.reserveCapacity(batchSize)

        // Lines imported before are recognised up front so a re-run does not verify them again;
        // the writer's own check inside its transaction stays the authority.
        let seenDB = try? SQLiteDatabase(path: trailPath, mode: .readOnly)
        let seenQuery = try? seenDB?.prepare("SELECT 1 FROM captures WHERE hash = ?")
        let acceptedQuery = try? seenDB?.prepare("SELECT e.body FROM nonces n JOIN entries e ON e.seq = n.seq WHERE n.product_code = ? AND n.nonce = ?")

        // Whether the previous batch held lines the trail already had (a re-run): then every line
        // is looked up; otherwise only a batch's first and last line are, and the line hashes are
        // computed with the verification, on all cores. The first batch starts with its ends too:
        // if either is known, the whole batch is looked up before it is verified.
        var lookUpEveryLine = false
        /// Whether the trail holds line `i`; `claimed` is its token's nonce when already read.
        func isKnown(_ i: Int, claimed: (productCode: String, nonce: String)?? = nil) -> Bool {
            guard let q = seenQuery else { return false }
            if batch[i].hash.isEmpty { batch[i].hash = SHA256.hash(batch[i].bytes) }
            do {
                defer { q.reset() }
                try q.bind(batch[i].hash, at: 1)
                if try q.step() { return true }
            } catch {
                return false
            }
            // An accepted line has no captures row: its token's nonce leads to its entry.
            guard let aq = acceptedQuery, !batch[i].tooLong, let key = claimed ?? Self.claimedNonce(batch[i].bytes) else { return false }
            defer { aq.reset() }
            do {
                try aq.bind(key.productCode, at: 1)
                try aq.bind(key.nonce, at: 2)
                guard try aq.step() else { return false }
                guard aq.withBlob(at: 0, { AuditEntry.recordedCaptureHash($0) }) == batch[i].hash else { return false }
                batch[i].knownNonce = key
                return true
            } catch {
                return false
            }
        }
        func flush() {
            guard !batch.isEmpty, failure == nil else { batch.removeAll(keepingCapacity: true); return }
            if let seenDB, seenQuery != nil {
                // Hashing and reading each token's nonce run on all cores, before the lookups.
                func parseAll() -> [(hash: [UInt8], nonce: (productCode: String, nonce: String)?)] {
                    let lines = batch
                    return Parallel.map(lines.count, grain: 64, maxWorkers: jobs) { i in
                        (hash: lines[i].hash.isEmpty ? SHA256.hash(lines[i].bytes) : lines[i].hash,
                         nonce: lines[i].tooLong ? nil : Self.claimedNonce(lines[i].bytes))
                    }
                }
                var parsed = lookUpEveryLine ? parseAll() : nil
                // One read transaction for the batch's lookups, not a lock and unlock per query.
                _ = try? seenDB.transaction(.deferred) {
                    if !lookUpEveryLine {
                        batch[0].known = isKnown(0)
                        batch[batch.count - 1].known = isKnown(batch.count - 1)
                        lookUpEveryLine = batch[0].known || batch[batch.count - 1].known
                    }
                    if lookUpEveryLine {
                        if parsed == nil { parsed = parseAll() }
                        var any = false
                        for i in batch.indices {
                            batch[i].hash = parsed![i].hash
                            batch[i].known = isKnown(i, claimed: .some(parsed![i].nonce))
                            any = any || batch[i].known
                        }
                        lookUpEveryLine = any
                    }
                }
            }
            let skipped = batch.reduce(0) { $0 + ($1.known ? 1 : 0) }
            let items = Self.verify(batch, withFreshness: verifierWithFreshness, without: verifierNoFreshness, keyring: keyring, jobs: jobs)
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
            let read = linesRead, bytes = bytesBefore
            writer.submit(items) { result in
                switch result {
                case .failure: break
                case .success(let outcomes):
                    let committed = summary.withLock { s -> Int in
                        Self.count(outcomes, into: &s, testKeys: testKeyFingerprints)
                        s.duplicatesSkippedVerification += skipped
                        return s.recorded + s.duplicates + s.blankLines
                    }
                    progress(ImportProgress(linesRead: read, committed: committed, bytesRead: bytes, totalBytes: total,
                                            elapsed: WallClock.monotonicSeconds() - start))
                }
            }
        }

        outer: for i in inputs.indices {
            let name = inputs[i].name
            let reader: LineReader
            if let r = inputs[i].reader { reader = r } else {
                do { reader = try open(name) } catch { failure = error; break outer }
                // Rotated or replaced since the import began: reading the new file under the
                // old name would leave the lines it was started for out, without a word.
                guard reader.identity == inputs[i].identity else {
                    failure = AuditError(.badInput, "\(name) was replaced after the import started (another file is at that path now, as after a log rotation); import the file you meant by its current name")
                    break outer
                }
            }
            inputs[i].reader = nil
            defer { bytesOfFinishedFiles += reader.bytesRead }
            var lastWasBlank = false
            while true {
                if shouldStop() { interrupted = true; break outer }
                if let e = writer.error { failure = e; break outer }
                let line: LineReader.Line?
                do { line = try reader.next() } catch { failure = AuditError(.badInput, "\(name): \(error.reason)"); break outer }
                guard let line else {
                    if reader.stopped { interrupted = true; break outer }
                    // A blank tail records nothing, so nothing can have been cut short.
                    if let n = reader.unterminatedLine, !lastWasBlank { summary.withLock { $0.unterminated.append((name, n)) } }
                    break
                }
                linesRead += 1
                bytesBefore = bytesOfFinishedFiles + reader.bytesRead
                lastWasBlank = !line.tooLong && line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
                if lastWasBlank {
                    summary.withLock { $0.blankLines += 1; $0.lines += 1 }
                    continue
                }
                batch.append(RawLine(file: name, number: line.number, bytes: line.bytes, tooLong: line.tooLong, hash: line.overlongHash ?? []))
                batchBytes += line.bytes.count
                if batch.count >= batchSize || batchBytes >= Self.maxBatchBytes { flush() }
            }
        }
        if !interrupted && failure == nil { flush() }
        let writeError = writer.finish()
        var s = summary.withLock { $0 }
        // A stop that came after the last line was read can still drop the batches queued then.
        s.interrupted = interrupted || writer.droppedBatches
        s.seconds = WallClock.monotonicSeconds() - start
        s.treeSize = writer.treeSize
        s.appendedTail = writer.appendedTail
        if var e = failure ?? writeError {
            // Say what the failed import leaves behind: the batches before the failure are
            // committed, and a re-run skips them as duplicates.
            if let first = s.firstSeq, let last = s.lastSeq {
                e.reason += "; the import stopped there: the \(s.recorded) entries recorded before it are committed (seq \(first) to \(last)), and running the same command again once this is fixed imports the rest"
            } else {
                e.reason += "; the import stopped there, before recording any entry"
            }
            throw e
        }
        return s
    }

    /// The most line bytes one batch holds before it is verified and committed, whatever
    /// `batchSize` says: 2000 typical captures are about 2 MB; 2000 lines near the 1 MiB line
    /// limit would be 2 GB.
    static let maxBatchBytes = 8 << 20

    static func count(_ outcomes: [AuditTrail.AppendOutcome], into s: inout ImportSummary, testKeys: Set<String>) {
        for o in outcomes {
            s.lines += 1
            switch o {
            case .duplicate: s.duplicates += 1
            case .recorded(let e):
                s.recorded += 1
                if s.firstSeq == nil { s.firstSeq = e.seq }
                s.lastSeq = e.seq
                if e.binding == "bound" { s.boundCaptures += 1 } else { s.unboundCaptures += 1 }
                if e.isAccepted {
                    s.accepted += 1
                    if let fp = e.keyFingerprint, testKeys.contains(fp) { s.testKeyAccepted += 1 }
                    // Entries per code: one entry can carry the same code more than once.
                    for w in Set((e.warnings ?? "").split(separator: ",")) { s.warnings[String(w), default: 0] += 1 }
                } else {
                    s.rejected += 1
                    s.reasons[e.reason ?? "unknown", default: 0] += 1
                }
            }
        }
    }

    /// The `(productCode, nonce)` a capture line's token claims, read without verifying it:
    /// what an accepted line's nonce row is keyed by. `nil` when the line yields none.
    static func claimedNonce(_ line: ArraySlice<UInt8>) -> (productCode: String, nonce: String)? {
        guard let capture = try? Capture(line: line), let jws = try? CompactJWS(capture.response.token),
              let claims = try? RegisterUsageClaims(payload: jws.payload), let nonce = claims.nonce else { return nil }
        return (claims.productCode, nonce)
    }

    /// Parses and verifies a batch on `jobs` threads, keeping input order.
    static func verify(_ lines: [RawLine], withFreshness: Verifier, without: Verifier, keyring: Keyring, jobs: Int) -> [AuditTrail.Pending] {
        // Runs of 16 lines, fewer when a batch is short (lines near the 1 MiB limit end a batch
        // at 8): one run would otherwise leave every other thread idle.
        Parallel.mapBalanced(lines.count, chunk: max(1, min(16, lines.count / (2 * max(1, jobs)))), maxWorkers: jobs) { i in
            // Serialized here, on all cores, so the single writer only splices in time and seq.
            var item = pending(for: lines[i], withFreshness: withFreshness, without: without, keyring: keyring)
            if let message = item.entry.message, message.utf8.count > maxMessageBytes {
                item.entry.message = cutMessage(message)
            }
            if !lines[i].known { item.prepare() }
            return item
        }
    }

    /// The longest message an imported entry keeps, in UTF-8 bytes. Rejection messages quote
    /// what the line held (a `capturedAt`, a `PublicKeyVersion`): in full, a line near the
    /// 1 MiB line limit made an entry over the 1 MiB entry limit, the append refused the whole
    /// batch, and every re-run stopped at the same line.
    static let maxMessageBytes = 4096

    /// `message` cut at a scalar boundary to fit ``maxMessageBytes``, saying how long it was.
    static func cutMessage(_ message: String) -> String {
        let note = "… (message cut: \(message.utf8.count) bytes in all)"
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for u in message.unicodeScalars {
            let n = UTF8.width(u)
            if bytes + n > maxMessageBytes - note.utf8.count { break }
            kept.append(u)
            bytes += n
        }
        return String(kept) + note
    }

    static func pending(for line: RawLine, withFreshness: Verifier, without: Verifier, keyring: Keyring) -> AuditTrail.Pending {
        let hash = line.hash.isEmpty ? SHA256.hash(line.bytes) : line.hash
        var origin = CaptureOrigin(file: line.file, line: line.number, hash: Hex.encode(hash), capturedAt: nil)
        if line.known {
            // Never written: the trail holds this capture, so the writer reports a duplicate.
            var entry = AuditEntry(rejected: .malformedInput, message: "duplicate", source: .import, capture: origin)
            entry.productCode = line.knownNonce?.productCode
            entry.nonce = line.knownNonce?.nonce
            var item = AuditTrail.Pending(entry: entry, captureHash: hash)
            item.knownDuplicate = true
            return item
        }
        if line.tooLong {
            return AuditTrail.Pending(entry: AuditEntry(rejected: .malformedInput, message: "\(line.file):\(line.number): capture line longer than \(Capture.maxLineBytes) bytes",
                                                        source: .import, capture: origin), captureHash: hash)
        }
        let capture: Capture
        do { capture = try Capture(line: line.bytes) } catch {
            return AuditTrail.Pending(entry: AuditEntry(rejected: error.code, message: "\(line.file):\(line.number): \(error.reason)",
                                                        source: .import, capture: origin), captureHash: hash)
        }
        origin.capturedAt = capture.capturedAtText
        let verifier = capture.capturedAtMillis == nil ? without : withFreshness
        let now = capture.capturedAtMillis.map { $0 >= 0 ? $0 / 1000 : ($0 - 999) / 1000 } ?? WallClock.nowSeconds()
        let result = verifier.verify(response: capture.response, expectingIfBound: capture.request, now: now)
        return AuditTrail.Pending(result: result, keyring: keyring, source: .import, capture: origin, captureHash: hash)
    }
}

/// The single writer: owns the trail connection on its own thread and appends batches in
/// submission order, one transaction each. At most two batches wait, bounding memory.
///
/// Checkpoints (copying committed WAL frames into the database file, and syncing it) run on a
/// second connection and thread, so the writer goes on with the next batch meanwhile; its own
/// connection's automatic checkpoint is off. A pass starts once `CheckpointSettings.linesPerPass`
/// lines were committed since the last one (every third batch of the default size; every
/// batch when batches are larger) rather than after each batch: index pages with scattered
/// keys, dirtied again by consecutive batches, are then copied once for those batches instead
/// of once per batch. The WAL stays bounded: once it holds more than
/// `CheckpointSettings.walLimitBytes` of frames, the writer waits for a complete pass before its
/// next batch, which lets SQLite start the WAL over. If the second connection cannot be
/// opened or a checkpoint fails, the writer's automatic checkpoint comes back on.
final class BatchWriter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "meterproof.import.writer")
    private let slots = DispatchSemaphore(value: 2)
    private let state = Mutex<(error: AuditError?, size: UInt64, appended: AuditTrail.AppendedTail?, dropped: Bool)>((nil, 0, nil, false))
    /// Asked before each batch: once it says stop, batches not yet begun are dropped (their lines
    /// are not committed, and a re-run imports them), so a stop waits for one batch at most,
    /// even when another writer holds the lock and each batch would wait its busy timeout.
    private let shouldStop: @Sendable () -> Bool
    // Touched only on `queue`.
    private var trail: AuditTrail?
    /// The trail's page size: a WAL frame holds one page.
    private let pageSize: Int64
    private var linesSincePass = 0

    private let checkpointQueue = DispatchQueue(label: "meterproof.import.checkpoint")
    // Used on `checkpointQueue`; set to nil only there (the writer's queue asks for it with
    // `sync`, and `finish()` once the writer's queue is drained), so the writer's queue may
    // read it.
    private var checkpointer: SQLiteDatabase?
    /// A pass is queued or running; another was asked for meanwhile; WAL frames at the last
    /// pass; a pass failed.
    private let checkpoints = Mutex<(running: Bool, again: Bool, walFrames: Int64, failed: Bool)>((false, false, 0, false))
    struct CheckpointSettings: Sendable {
        /// WAL size (frames times the trail's page size) past which the writer lets a pass
        /// complete before its next batch: room for `linesPerPass` lines of bound captures and more.
        var walLimitBytes: Int64 = 48 << 20
        /// Lines committed between background passes (three default batches).
        var linesPerPass = 6000
        /// Called each time a background pass starts (tests count them).
        var onPass: (@Sendable () -> Void)? = nil
        /// Called each time the writer waits for a complete pass (tests count them).
        var onWait: (@Sendable () -> Void)? = nil
        /// Makes every background pass fail (tests of the fallback).
        var failPasses = false
        /// Called on the writer's queue as each batch begins its transaction (tests wait for it).
        var onBatch: (@Sendable () -> Void)? = nil
    }
    private let settings: CheckpointSettings

    init(path: String, checkpoints settings: CheckpointSettings = CheckpointSettings(),
         shouldStop: @escaping @Sendable () -> Bool = { false }) throws(AuditError) {
        self.settings = settings
        self.shouldStop = shouldStop
        let opened: Result<AuditTrail, AuditError> = queue.sync {
            do throws(AuditError) { return .success(try AuditTrail(path: path)) } catch { return .failure(error) }
        }
        trail = try opened.get()
        // 8192 for trails created now, 4096 for older ones.
        pageSize = max(512, (try? trail!.db.pragmaInt("page_size")) ?? 4096)
        do {
            let c = try SQLiteDatabase(path: path, mode: .readWrite, busyTimeoutMilliseconds: 10_000)
            // Synced before SQLite may start the WAL over, as the writer's own checkpoints are.
            try c.execute("PRAGMA synchronous=FULL")
            try trail!.db.execute("PRAGMA wal_autocheckpoint=0")
            checkpointer = c
        } catch {
            checkpointer = nil
        }
    }

    /// One PASSIVE pass on the checkpoint connection (on `checkpointQueue`): whether it copied
    /// every frame, and the WAL's frame count; nil if it failed.
    private func checkpointPass() -> (complete: Bool, frames: Int64)? {
        guard !settings.failPasses, let db = checkpointer, let st = try? db.prepare("PRAGMA wal_checkpoint(PASSIVE)"), (try? st.step()) == true else { return nil }
        // (busy, frames in the WAL, frames copied); -1s when another connection was checkpointing.
        let busy = st.int64(at: 0), log = st.int64(at: 1), copied = st.int64(at: 2)
        return (busy == 0 && log >= 0 && copied == log, log)
    }

    /// Starts a checkpoint pass; if one is already queued or running, it runs once more after.
    private func checkpointSoon() {
        let start = checkpoints.withLock { c -> Bool in
            if c.failed { return false }
            if c.running { c.again = true; return false }
            c.running = true
            return true
        }
        guard start else { return }
        checkpointQueue.async {
            while true {
                self.settings.onPass?()
                let pass = self.checkpointPass()
                let more = self.checkpoints.withLock { c -> Bool in
                    if let pass { if pass.frames >= 0 { c.walFrames = pass.frames } } else { c.failed = true }
                    if c.again && !c.failed { c.again = false; return true }
                    c.running = false
                    return false
                }
                if !more { break }
            }
        }
    }

    /// On the writer's queue, before a batch: keeps the WAL bounded, or hands checkpoints back
    /// to the writer's connection if the background ones failed.
    private func beforeBatch(_ trail: AuditTrail) {
        guard checkpointer != nil else { return }
        let (frames, failed) = checkpoints.withLock { ($0.walFrames, $0.failed) }
        if failed {
            checkpointQueue.sync { self.checkpointer = nil }
            try? trail.db.execute("PRAGMA wal_autocheckpoint=1000")
            return
        }
        guard frames * pageSize > settings.walLimitBytes else { return }
        // A complete pass with no writer in between: the next transaction restarts the WAL.
        settings.onWait?()
        let pass = checkpointQueue.sync { self.checkpointPass() }
        checkpoints.withLock { c in
            if let pass {
                c.walFrames = pass.complete ? 0 : max(pass.frames, c.walFrames)
            } else {
                c.failed = true
            }
        }
    }

    var error: AuditError? { state.withLock { $0.error } }
    /// Whether a batch was dropped because a stop was asked for.
    var droppedBatches: Bool { state.withLock { $0.dropped } }
    var treeSize: UInt64 { state.withLock { $0.size } }
    /// The entries the writer appended, when they were the newest of the trail (after `finish()`).
    var appendedTail: AuditTrail.AppendedTail? { state.withLock { $0.appended } }

    func submit(_ items: [AuditTrail.Pending], completion: @escaping @Sendable (Result<[AuditTrail.AppendOutcome], AuditError>) -> Void) {
        slots.wait()
        queue.async {
            defer { self.slots.signal() }
            guard self.error == nil, let trail = self.trail else { return }
            if self.shouldStop() {
                self.state.withLock { $0.dropped = true }
                return
            }
            self.settings.onBatch?()
            self.beforeBatch(trail)
            do throws(AuditError) {
                let out = try trail.append(items)
                self.linesSincePass += items.count
                if self.checkpointer != nil && self.linesSincePass >= self.settings.linesPerPass {
                    self.linesSincePass = 0
                    self.checkpointSoon()
                }
                completion(.success(out))
            } catch {
                self.state.withLock { $0.error = error }
                completion(.failure(error))
            }
        }
    }

    /// Waits for every submitted batch; returns the first error.
    func finish() -> AuditError? {
        queue.sync {
            if let trail = self.trail, let n = try? trail.size() {
                self.state.withLock { $0.size = n; $0.appended = trail.appendedTail }
            }
            self.trail = nil
        }
        // A last pass copies what the writer committed since the previous one. (Whichever
        // connection closes last removes the WAL, if it may write.)
        checkpointQueue.sync {
            _ = self.checkpointPass()
            self.checkpointer = nil
        }
        return error
    }
}
