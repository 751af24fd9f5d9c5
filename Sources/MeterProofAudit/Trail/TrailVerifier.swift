#if canImport(Glibc)
import Glibc
#endif
import MeterProof
import CMeterProofSQLite

/// The verdict of ``AuditTrail/verify(against:logKey:batchSize:)``.
public struct TrailVerification: Sendable {
    /// `true` when every check passed.
    public var intact: Bool { problem == nil }
    /// Entries read.
    public internal(set) var entries: UInt64
    /// Checkpoints whose signature and root were checked.
    public internal(set) var checkpointsVerified: Int
    /// The first entry found bad, when the problem can be pinned to one.
    public internal(set) var firstBadSeq: UInt64?
    /// Stable code of the problem (see docs/audit-trail.md), `nil` when intact.
    public internal(set) var problemCode: String?
    /// One sentence: what is wrong.
    public internal(set) var problem: String?
    /// The recomputed root of the whole trail.
    public internal(set) var root: MerkleHash
    /// How many entries a signed checkpoint commits to: the size of the largest stored
    /// checkpoint or of the one given with `against`, whichever is larger. On an intact trail,
    /// the entries from this seq on are committed to by nothing signed yet.
    public internal(set) var signedSize: UInt64 = 0
    /// The size of the signer record's checkpoint when ``AuditTrail/verify(against:logKey:record:)``
    /// found the trail extends it; `nil` otherwise (no record checked, or the trail does not
    /// extend it: see ``problemCode``).
    public internal(set) var recordSize: UInt64? = nil

    /// The verdict on a trail file too damaged to open (`corrupt_trail`, with SQLite's
    /// complaint as the problem): not intact, nothing checked.
    package init(damaged error: AuditError) {
        self.init(entries: 0, checkpointsVerified: 0, firstBadSeq: nil, problemCode: error.code.rawValue, problem: error.reason, root: RFC6962.emptyRoot)
    }

    /// This verdict, failed with problem `code` and `message` at `seq` (counts kept).
    func failed(_ code: String, _ message: String, seq: UInt64?) -> TrailVerification {
        var r = self
        r.problemCode = code
        r.problem = message
        r.firstBadSeq = seq
        return r
    }

    init(entries: UInt64, checkpointsVerified: Int, firstBadSeq: UInt64?, problemCode: String?, problem: String?, root: MerkleHash) {
        self.entries = entries
        self.checkpointsVerified = checkpointsVerified
        self.firstBadSeq = firstBadSeq
        self.problemCode = problemCode
        self.problem = problem
        self.root = root
    }
}

extension AuditTrail {
    /// Recomputes and checks everything: `PRAGMA integrity_check`; every checkpoint's
    /// signature (with `logKey`, or the trail's own key) and root; every entry's canonical
    /// form, seq and leaf hash; every stored subtree hash; the nonce table; and, with
    /// `against` (a checkpoint kept elsewhere), that the trail extends it. Stops at the first
    /// problem. Memory stays bounded (batches plus the O(log n) frontier).
    ///
    /// - Parameter batchSize: entries the sequential pass (which names the first problem) reads
    ///   at a time; values below 1 are raised to 1. It changes memory use, never the verdict.
    public func verify(against: SignedNote? = nil, logKey: NoteVerifier? = nil, batchSize: Int = 4096) throws(AuditError) -> TrailVerification {
        try verify(against: against, logKey: logKey, batchSize: batchSize, sequentialOnly: false)
    }

    /// `sequentialOnly` skips the parallel pass; `chunkLevel` sets its chunk size (tests use
    /// small chunks to cross many chunk boundaries on a small trail).
    func verify(against: SignedNote?, logKey: NoteVerifier?, batchSize requestedBatchSize: Int, sequentialOnly: Bool, chunkLevel: Int = 12) throws(AuditError) -> TrailVerification {
        // A batch of 0 read nothing, and the sequential pass then called a tampered trail intact.
        let batchSize = max(1, requestedBatchSize)
        var result = TrailVerification(entries: 0, checkpointsVerified: 0, firstBadSeq: nil, problemCode: nil, problem: nil, root: RFC6962.emptyRoot)
        func fail(_ code: String, _ message: String, seq: UInt64? = nil) -> TrailVerification { result.failed(code, message, seq: seq) }
        let key = logKey ?? verifier
        if let logKey, !utf8Equal(logKey.vkey, verifier.vkey) {
            return fail("wrong_log_key", "the trail's log key \(verifier.vkey) is not the expected \(logKey.vkey): the file was replaced or belongs to another log")
        }
        do {
            // One read snapshot for everything below (a writer may append meanwhile): the caller's
            // if it holds a read transaction (the report does), else one of our own.
            return try inReadTransaction { () throws -> TrailVerification in
            // The scan streams the whole file: map it rather than a pread per page (mapped pages
            // are the kernel's page cache of the file, not heap; other readers stay unmapped).
            try db.execute("PRAGMA mmap_size=1073741824")
            defer { try? db.execute("PRAGMA mmap_size=0") }

            // 1. SQLite's own structural check, on its own connection and core while the scan runs.
            let integrity = integrityCheck(path: path, mode: openMode == .immutable ? .immutable : .readOnly)
            defer { integrity.wait() }
            func integrityProblem() -> TrailVerification? {
                let lines = integrity.wait()
                return lines == ["ok"] ? nil : fail("integrity_check", "PRAGMA integrity_check: " + lines.prefix(3).joined(separator: "; "))
            }

            // 2. Checkpoints: signature, origin, size.
            var checkpoints: [(size: UInt64, root: MerkleHash)] = []
            let cst = try db.prepare("SELECT size, note FROM checkpoints ORDER BY size")
            while try cst.step() {
                let rawSize = cst.int64(at: 0)
                guard rawSize >= 0 else { return fail("checkpoint_mismatch", "a stored checkpoint has the negative size \(rawSize)") }
                let size = UInt64(rawSize)
                let cp: Checkpoint
                do { cp = try Checkpoint(verifying: SignedNote(parsing: cst.string(at: 1) ?? ""), verifiers: [key]) } catch {
                    return fail("checkpoint_signature", "the stored checkpoint of size \(size) does not verify under \(key.name): \(error)")
                }
                guard utf8Equal(cp.origin, origin), cp.size == size else {
                    return fail("checkpoint_mismatch", "the stored checkpoint of size \(size) names origin \(cp.origin) and size \(cp.size)")
                }
                checkpoints.append((size, cp.root))
            }
            var externalCheckpoint: Checkpoint? = nil
            if let against {
                do { externalCheckpoint = try Checkpoint(verifying: against, verifiers: [key]) } catch {
                    return fail("against_signature", "the checkpoint given with --against does not verify under \(key.name): \(error)")
                }
                guard utf8Equal(externalCheckpoint!.origin, origin) else {
                    return fail("against_origin", "the checkpoint given with --against is for log \(externalCheckpoint!.origin), not \(origin)")
                }
            }
            result.signedSize = max(checkpoints.last?.size ?? 0, externalCheckpoint?.size ?? 0)

            // 3. Entries, leaf hashes, subtree hashes, checkpoint roots.
            var frontier = MerkleFrontier()
            var nodeCursors: [Int: SQLiteStatement] = [:]
            var nextCheckpoint = 0
            var acceptedNonces: Int64 = 0
            var problem: TrailVerification? = nil
            var capturedEntries: Int64 = 0
            let legacyCaptures = try capturesIncludeNonceEntries()
            var tables = try EntryTableCheck(db: db, legacyCaptures: legacyCaptures)
            // A checkpoint of the empty tree (signed before the first entry) is never reached by the
            // loop below, which checks sizes 1, 2, …: check it here.
            if let first = checkpoints.first, first.size == 0 {
                guard first.root == RFC6962.emptyRoot else {
                    return fail("checkpoint_root_mismatch", "the signed checkpoint of size 0 does not carry the empty tree's root", seq: 0)
                }
                result.checkpointsVerified += 1
                nextCheckpoint = 1
            }

            // The parallel pass decides quickly whether everything holds; only when it does not
            // does the sequential pass below run, to name the first bad entry and why.
            var fastIntact = false
            if !sequentialOnly, let fast = try fastPass(checkpoints: checkpoints.dropFirst(nextCheckpoint).map(\.size), external: externalCheckpoint?.size, chunkLevel: chunkLevel, legacyCaptures: legacyCaptures) {
                var cpOK = true
                var k = nextCheckpoint
                while k < checkpoints.count, checkpoints[k].size <= fast.frontier.size {
                    if fast.roots[checkpoints[k].size] != checkpoints[k].root { cpOK = false }
                    k += 1
                }
                if let ext = externalCheckpoint, ext.size > 0, ext.size <= fast.frontier.size, fast.roots[ext.size] != ext.root { cpOK = false }
                if cpOK {
                    fastIntact = true
                    frontier = fast.frontier
                    result.checkpointsVerified += k - nextCheckpoint
                    nextCheckpoint = k
                    acceptedNonces = fast.acceptedNonces
                    capturedEntries = fast.capturedEntries
                    result.entries = frontier.size
                }
            }

            let st = try db.prepare("SELECT seq, body, leaf_hash FROM entries ORDER BY seq")
            var batch: [(seq: UInt64, body: [UInt8], stored: MerkleHash?)] = []
            batch.reserveCapacity(batchSize)
            var done = fastIntact
            while !done && problem == nil {
                batch.removeAll(keepingCapacity: true)
                while batch.count < batchSize {
                    guard try st.step() else { done = true; break }
                    // A negative seq (only possible by editing the file) sorts first and is reported as out of order.
                    batch.append((UInt64(bitPattern: st.int64(at: 0)), st.blob(at: 1) ?? [], st.withBlob(at: 2) { MerkleHash(bytes: $0) }))
                }
                if batch.isEmpty { break }
                // Parse and hash in parallel; the tree is then folded in order.
                let checked = Self.checkBatch(batch)
                for (i, item) in batch.enumerated() {
                    let expected = frontier.size
                    if item.seq != expected {
                        let negative = Int64(bitPattern: item.seq) < 0
                        if negative || item.seq < expected {
                            problem = fail("seq_order", "a stored row has seq \(Int64(bitPattern: item.seq)) where entry \(expected) belongs: entries were renumbered", seq: expected)
                            break
                        }
                        problem = fail("missing_entry",
                                       "entry \(expected) is missing (next stored seq is \(item.seq)): entries were deleted or renumbered", seq: expected)
                        break
                    }
                    let c = checked[i]
                    if let err = c.error {
                        problem = fail("invalid_entry", "entry \(item.seq): \(err)", seq: item.seq)
                        break
                    }
                    if c.bodySeq != item.seq {
                        problem = fail("seq_mismatch", "entry stored at seq \(item.seq) says seq \(c.bodySeq): entries were moved or reordered", seq: item.seq)
                        break
                    }
                    guard item.stored == c.leaf else {
                        problem = fail("leaf_hash_mismatch", "entry \(item.seq): its bytes do not hash to the stored leaf hash (edited)", seq: item.seq)
                        break
                    }
                    var nodeProblem: TrailVerification? = nil
                    try frontier.append(c.leaf) { level, index, hash in
                        guard AuditTrail.isStoredLevel(level), nodeProblem == nil else { return }
                        let cursor: SQLiteStatement
                        if let existing = nodeCursors[level] { cursor = existing } else {
                            cursor = try db.prepare("SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx")
                            try cursor.bind(Int64(level), at: 1)
                            nodeCursors[level] = cursor
                        }
                        let first = index << UInt64(level)
                        let storedIndex = try cursor.step() ? cursor.int64(at: 0) : nil
                        guard storedIndex == Int64(bitPattern: index), cursor.withBlob(at: 1, { MerkleHash(bytes: $0) }) == hash else {
                            // Rows come in index order, and rows outside the tree were refused
                            // before the scan: another index (or none) here means this row is gone.
                            let what = storedIndex == Int64(bitPattern: index) ? "does not match the recomputed one" : "is missing from the file"
                            nodeProblem = fail("node_mismatch", "stored subtree hash (level \(level), index \(index)) covering entries \(first)…\(first + (UInt64(1) << UInt64(level)) - 1) \(what)", seq: first)
                            return
                        }
                    }
                    if let nodeProblem { problem = nodeProblem; break }
                    let size = frontier.size
                    if nextCheckpoint < checkpoints.count && checkpoints[nextCheckpoint].size == size {
                        if frontier.root != checkpoints[nextCheckpoint].root {
                            let lower = nextCheckpoint > 0 ? checkpoints[nextCheckpoint - 1].size : 0
                            problem = fail("checkpoint_root_mismatch", "the recomputed root at size \(size) differs from the signed checkpoint: history was changed within entries \(lower)…\(size - 1)", seq: lower)
                            break
                        }
                        result.checkpointsVerified += 1
                        nextCheckpoint += 1
                    }
                    if let ext = externalCheckpoint, ext.size == size, frontier.root != ext.root {
                        problem = fail("against_root_mismatch", "the trail's history up to size \(size) differs from the checkpoint given with --against", seq: nil)
                        break
                    }
                    if let summary = c.summary, let p = try tables.problem(seq: item.seq, summary: summary) {
                        problem = fail(p.code, p.message, seq: item.seq)
                        break
                    }
                    acceptedNonces = tables.acceptedNonces
                    capturedEntries = tables.capturedEntries
                    result.entries = size
                }
            }
            if let p = integrityProblem() { return p }
            if let problem { return problem }
            result.root = frontier.root
            let n = frontier.size
            if nextCheckpoint < checkpoints.count {
                return fail("truncated", "the trail has \(n) entries but holds a signed checkpoint of size \(checkpoints[nextCheckpoint].size): entries were removed from the end", seq: n)
            }
            if let ext = externalCheckpoint, ext.size > n {
                return fail("truncated", "the checkpoint given with --against covers \(ext.size) entries but the trail has only \(n): truncated or rewritten", seq: n)
            }
            if let ext = externalCheckpoint, ext.size == 0, n > 0, ext.root != RFC6962.emptyRoot {
                return fail("against_root_mismatch", "the checkpoint given with --against has a bad empty root")
            }
            for (level, cursor) in nodeCursors.sorted(by: { $0.key < $1.key }) where try cursor.step() {
                return fail("extra_node", "the nodes table holds a subtree hash at level \(level) beyond the trail's \(n) entries: rows were inserted", seq: n)
            }
            // Every other row must be a subtree inside the tree too. Written without
            // `(idx + 1) << level`, which wraps for large or negative values (a row at level 64
            // or -1, or with a huge idx, passed), and with stored types checked: a text or real
            // level would never match the cursors above. Rows inside the tree at levels this
            // version does not store (builds before subtree hashes were kept every fourth level
            // wrote every level) are never read, and are left alone.
            let extra = try db.prepare("""
                SELECT count(*) FROM nodes WHERE typeof(level) != 'integer' OR typeof(idx) != 'integer'
                OR level < 1 OR level > 62 OR idx < 0 OR idx >= (?1 >> level)
                """)
            try extra.bind(Int64(n), at: 1)
            if try extra.step(), extra.int64(at: 0) > 0 {
                return fail("extra_node", "the nodes table holds subtree hashes that are not part of the trail's \(n) entries (beyond its end, at level 0 or below, or at a negative position)", seq: n)
            }
            let kst = try db.prepare("SELECT fingerprint, spki, first_seq FROM keys")
            let firstUse = try db.prepare("SELECT body FROM entries WHERE seq = ?")
            while try kst.step() {
                let fp = kst.string(at: 0) ?? ""
                if Hex.encode(SHA256.hash(kst.blob(at: 1) ?? [])) != fp {
                    return fail("key_mismatch", "the stored key \(fp) does not hash to its fingerprint")
                }
                // A key is recorded with the entry that first used it: that entry names it.
                let first = kst.int64(at: 2)
                guard first >= 0, UInt64(first) < n else {
                    return fail("key_table_mismatch", "the stored key \(fp) names entry \(first) as its first use, outside the trail's \(n) entries")
                }
                try firstUse.bind(first, at: 1)
                defer { firstUse.reset() }
                let named = try firstUse.step() ? (try? AuditEntry(canonicalBytes: firstUse.blob(at: 0) ?? []))?.keyFingerprint : nil
                guard named == fp else {
                    return fail("key_table_mismatch", "the stored key \(fp) names entry \(first) as its first use, but that entry records key \(named ?? "none")", seq: UInt64(first))
                }
            }
            // (The parallel pass already compared both tables with the entries, counts included.)
            let cc = try db.prepare("SELECT count(*) FROM captures")
            if !fastIntact, try cc.step(), cc.int64(at: 0) != capturedEntries {
                return fail("capture_table_mismatch", "the captures table holds \(cc.int64(at: 0)) line hashes but \(capturedEntries) entries were imported")
            }
            let nc = try db.prepare("SELECT count(*) FROM nonces")
            if !fastIntact, try nc.step(), nc.int64(at: 0) != acceptedNonces {
                return fail("nonce_table_mismatch", "the nonce table holds \(nc.int64(at: 0)) nonces but \(acceptedNonces) accepted entries carry one")
            }
            return result
            }
        } catch let e as AuditError {
            // Pages SQLite finds malformed are damage to the file: a verdict, not a failure to check.
            if e.code == .corrupt { return fail(e.code.rawValue, e.reason) }
            throw e
        } catch let e as SQLiteError {
            let a = AuditError.from(e, doing: "verifying \(path)")
            if a.code == .corrupt { return fail(a.code.rawValue, a.reason) }
            throw a
        } catch {
            throw AuditError(.storage, "verifying \(path): \(error)")
        }
    }

    /// Runs `body` inside a read transaction: the caller's if one is open, else a new one.
    private func inReadTransaction<T>(_ body: () throws -> T) throws -> T {
        db.isInTransaction ? try body() : try db.transaction(.deferred, body)
    }

    /// The parallel pass over the whole trail; `nil` unless everything it checks holds (see
    /// ``ParallelTrailScan``). Runs inside `verify`'s read transaction, so the bounds and both
    /// tables are read from one snapshot.
    private func fastPass(checkpoints: [UInt64], external: UInt64?, chunkLevel: Int, legacyCaptures: Bool) throws -> ParallelTrailScan.Outcome? {
        // Two queries: SQLite answers a lone min() or max() of the rowid with one seek, but
        // both in one SELECT with a full scan.
        let low = try db.prepare("SELECT min(seq) FROM entries"), high = try db.prepare("SELECT max(seq) FROM entries")
        guard try low.step(), try high.step() else { return nil }
        let size: UInt64
        if high.isNull(at: 0) { size = 0 } else {
            // A negative seq can only come from editing the file: the sequential pass names it.
            guard low.int64(at: 0) >= 0, high.int64(at: 0) < Int64.max else { return nil }
            size = UInt64(high.int64(at: 0)) + 1
        }
        low.reset()
        high.reset()
        let sizes = (checkpoints + (external.map { [$0] } ?? [])).filter { $0 > 0 && $0 <= size }
        var scan = ParallelTrailScan(chunkLevel: chunkLevel, path: path, mode: openMode == .immutable ? .immutable : .readOnly, rootSizes: sizes)
        scan.capturesIncludeNonceEntries = legacyCaptures
        return try scan.run(db: db, size: size)
    }

    struct CheckedEntry: Sendable {
        var leaf: MerkleHash = .zero
        var bodySeq: UInt64 = 0
        /// What the strict decoding learned (nil when it failed: see `error`).
        var summary: AuditEntry.Summary? = nil
        var error: String? = nil
    }

    /// Leaf hash and strict decoding of each body, spread over all cores.
    static func checkBatch(_ batch: [(seq: UInt64, body: [UInt8], stored: MerkleHash?)]) -> [CheckedEntry] {
        Parallel.map(batch.count, grain: 64) { i in
            let body = batch[i].body
            var c = CheckedEntry()
            c.leaf = RFC6962.leafHash(body)
            switch body.withUnsafeBytes({ AuditEntry.checkCanonical($0) }) {
            case .success(let s):
                c.bodySeq = s.seq
                c.summary = s
            case .failure(let e):
                c.error = "not a canonical entry: \(e.message)"
            }
            return c
        }
    }
}

/// The checks that tie one entry to the nonce and captures tables: an accepted entry's nonce
/// row must name exactly this entry, and so must an imported line's captures row (schema 2: an
/// entry that consumed a nonce has none; its nonce row leads to it). With the counts compared
/// at the end, the tables hold exactly what the entries say. Used by `audit verify`'s
/// sequential pass and by the check of the unsigned entries before a checkpoint is signed.
struct EntryTableCheck {
    private let nonceRow: SQLiteStatement
    private let captureRow: SQLiteStatement
    private let legacyCaptures: Bool
    /// Entries checked so far that consumed a nonce.
    private(set) var acceptedNonces: Int64 = 0
    /// Entries checked so far that must have a captures row.
    private(set) var capturedEntries: Int64 = 0

    init(db: SQLiteDatabase, legacyCaptures: Bool) throws {
        nonceRow = try db.prepare("SELECT seq FROM nonces WHERE product_code = ? AND nonce = ?")
        captureRow = try db.prepare("SELECT seq FROM captures WHERE hash = ?")
        self.legacyCaptures = legacyCaptures
    }

    /// `nil` when entry `seq` (decoded as `summary`) agrees with both tables.
    mutating func problem(seq: UInt64, summary: AuditEntry.Summary) throws -> (code: String, message: String)? {
        if let (pc, nonce) = summary.acceptedNonce {
            try nonceRow.bind(pc, at: 1)
            try nonceRow.bind(nonce, at: 2)
            // Typed lookups (text, then a blob line hash) and an integer seq: a row changed to
            // another storage class is not the row the appender's nonce rule finds.
            let consumedBy: Int64? = try nonceRow.step() && nonceRow.storageClass(at: 0) == SQLITE_INTEGER ? nonceRow.int64(at: 0) : nil
            nonceRow.reset()
            guard consumedBy == Int64(seq) else {
                return ("nonce_table_mismatch", "entry \(seq) accepted nonce \(nonce) for product \(pc), but the nonce table "
                        + (consumedBy.map { "records it as consumed by entry \($0)" } ?? "does not hold it"))
            }
            acceptedNonces += 1
        }
        if let h = summary.captureRowHash(schema1: legacyCaptures) {
            // A forged captures row would make a later import skip a genuine capture as a "duplicate".
            try captureRow.bind(h, at: 1)
            let recordedAs: Int64? = try captureRow.step() && captureRow.storageClass(at: 0) == SQLITE_INTEGER ? captureRow.int64(at: 0) : nil
            captureRow.reset()
            guard recordedAs == Int64(seq) else {
                return ("capture_table_mismatch", "entry \(seq) was imported from a capture line whose hash the captures table "
                        + (recordedAs.map { "records for entry \($0)" } ?? "does not hold"))
            }
            capturedEntries += 1
        }
        return nil
    }
}

extension AuditTrail {
    /// What is wrong with entries `range` (which no signed checkpoint covers yet), checked as
    /// `audit verify` checks them: each stored at its seq, canonical, hashing to its stored leaf
    /// hash, agreeing with the nonce and captures tables (no table row pointing into the range
    /// without its entry), and the stored subtree hashes at the range's end agreeing with the
    /// leaves. `nil` when all holds, with `root` set to the root at the range's end as computed
    /// from the entries' bytes. Runs inside the caller's transaction; reads the range once.
    func unsignedEntriesProblem(_ range: Range<UInt64>, root: inout MerkleHash, toTheEnd: Bool = false) throws -> (code: String, message: String, seq: UInt64?)? {
        guard !range.isEmpty else { return nil }
        var frontier = try loadFrontier(size: range.lowerBound)
        root = frontier.root
        var tables = try EntryTableCheck(db: db, legacyCaptures: try capturesIncludeNonceEntries())
        let st = try db.prepare("SELECT seq, body, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq")
        try st.bind(Int64(range.lowerBound), at: 1)
        try st.bind(Int64(range.upperBound), at: 2)
        var expected = range.lowerBound
        var batch: [(seq: UInt64, body: [UInt8], stored: MerkleHash?)] = []
        var done = false
        while !done {
            // Bytes hashed and decoded on all cores, a batch at a time (as `audit verify` does).
            batch.removeAll(keepingCapacity: true)
            while batch.count < 4096 {
                guard try st.step() else { done = true; break }
                batch.append((UInt64(bitPattern: st.int64(at: 0)), st.blob(at: 1) ?? [], st.withBlob(at: 2) { MerkleHash(bytes: $0) }))
            }
            let checked = Self.checkBatch(batch)
            for (i, item) in batch.enumerated() {
                let seq = item.seq
                guard seq == expected else { return ("missing_entry", "entry \(expected) is missing (next stored seq is \(seq))", expected) }
                let c = checked[i]
                guard item.stored == c.leaf else {
                    return ("leaf_hash_mismatch", "entry \(seq): its bytes do not hash to the stored leaf hash (edited)", seq)
                }
                guard let summary = c.summary else { return ("invalid_entry", "entry \(seq): \(c.error ?? "not a canonical entry")", seq) }
                guard summary.seq == seq else { return ("seq_mismatch", "entry stored at seq \(seq) says seq \(summary.seq)", seq) }
                if let p = try tables.problem(seq: seq, summary: summary) { return (p.code, p.message, seq) }
                frontier.append(c.leaf) { _, _, _ in }
                expected += 1
            }
        }
        guard expected == range.upperBound else { return ("missing_entry", "entry \(expected) is missing", expected) }
        root = frontier.root
        guard frontier.root == (try loadFrontier(size: range.upperBound)).root else {
            return ("node_mismatch", "the stored subtree hashes over entries \(range.lowerBound)…\(range.upperBound - 1) do not match the entries", range.lowerBound)
        }
        let counted = try tableRows(range, toTheEnd: toTheEnd)
        for (table, rows, count, what) in [("nonces", counted.nonces, tables.acceptedNonces, "nonce_table_mismatch"),
                                           ("captures", counted.captures, tables.capturedEntries, "capture_table_mismatch")] where rows != count {
            return (what, "the \(table) table names \(rows) of entries \(range.lowerBound)…\(range.upperBound - 1)\(toTheEnd ? " (or seqs past the trail's end)" : ""), but \(count) of them carry one", range.lowerBound)
        }
        return nil
    }
}

extension AuditTrail {
    /// How many `nonces` and `captures` rows name an entry of `range`; with `toTheEnd` (the
    /// range ends at the trail's size), also any row naming a seq past it or a negative one,
    /// which no entry can justify. One scan of each table (neither is indexed by seq).
    func tableRows(_ range: Range<UInt64>, toTheEnd: Bool) throws -> (nonces: Int64, captures: Int64) {
        func count(_ table: String) throws -> Int64 {
            let c = try db.prepare(toTheEnd ? "SELECT count(*) FROM \(table) WHERE seq >= ? OR seq < 0"
                                            : "SELECT count(*) FROM \(table) WHERE seq >= ? AND seq < ?")
            try c.bind(Int64(range.lowerBound), at: 1)
            if !toTheEnd { try c.bind(Int64(range.upperBound), at: 2) }
            return try c.step() ? c.int64(at: 0) : 0
        }
        return (try count("nonces"), try count("captures"))
    }
}

/// `PRAGMA integrity_check` on a separate read-only connection and thread: its output lines
/// (`["ok"]` when sound).
func integrityCheck(path: String, mode: SQLiteDatabase.OpenMode) -> Background<[String]> {
    Background {
        var out: [String] = []
        do {
            let db = try SQLiteDatabase(path: path, mode: mode)
            try db.execute("PRAGMA mmap_size=1073741824")
            let st = try db.prepare("PRAGMA integrity_check")
            while try st.step() { out.append(st.string(at: 0) ?? "") }
        } catch {
            out = ["could not run: \(error)"]
        }
        return out
    }
}
