import CMeterProofOpenSSL
import CMeterProofSQLite
import Dispatch
import Synchronization
import MeterProof

/// The fast, parallel pass of ``AuditTrail/verify(against:logKey:batchSize:)``.
///
/// The trail is cut into chunks of 2^12 entries (perfect subtrees at a stored level). Worker
/// threads, each on its own read-only connection, take chunks in turn and check them fully:
/// contiguous seqs, canonical bodies, leaf hashes, the stored subtree hashes of levels 4, 8 and
/// 12, and the local frontier at every checkpoint size inside the chunk. Meanwhile the calling
/// thread reads the nonce and capture tables on the verifying connection (its read snapshot) a
/// slice at a time and, between slices, folds the finished chunks in order (checking stored
/// levels 16, 20, …), rebuilding every checkpoint root from the chunks before it plus the local
/// frontier. Workers stay at most a few chunks ahead of the fold, so memory is bounded.
///
/// The nonce and capture tables are compared with the entries as multisets: each side sums
/// SHA-256(key || row) lane-wise over its rows, with a key drawn fresh for this run, so a
/// table forged before the run cannot be made to match (the sums of unpredictable values only
/// agree by chance, about 2^-250). This replaces one B-tree lookup per entry.
///
/// The pass only decides *whether* everything holds. When anything does not, the caller runs
/// the sequential pass, which names the first bad seq and why.
struct ParallelTrailScan {
    /// Chunks are perfect subtrees at this level, a stored one (a multiple of 4; tests use 4).
    let chunkLevel: Int
    var chunkSize: UInt64 { 1 << UInt64(chunkLevel) }

    /// What an intact scan learned.
    struct Outcome {
        var frontier: MerkleFrontier
        /// The root at each requested size.
        var roots: [UInt64: MerkleHash]
        /// Accepted nonces and imported capture lines (the sizes of the matching tables).
        var acceptedNonces: Int64
        var capturedEntries: Int64
    }

    let path: String
    let mode: SQLiteDatabase.OpenMode
    /// Sizes whose roots the caller needs (checkpoints, `--against`).
    let rootSizes: [UInt64]
    /// Schema 1: accepted entries with a nonce have a `captures` row too.
    var capturesIncludeNonceEntries = false

    /// Runs the pass on `db` (the verifying connection, inside a read transaction) for entries
    /// `[0, size)`. Returns `nil` when something does not hold.
    func run(db: SQLiteDatabase, size: UInt64) throws -> Outcome? {
        let key = MultisetKey()
        let chunkCount = Int((size + chunkSize - 1) / chunkSize)
        let workers = min(System.activeProcessorCount, chunkCount)
        // Workers run at most `window` chunks ahead of the fold, so memory stays bounded
        // whatever the trail's size.
        let state = ScanState(window: 4 * max(1, workers))
        let group = DispatchGroup()
        let sizes = rootSizes
        let path = self.path, mode = self.mode, chunkSize = self.chunkSize, legacyCaptures = capturesIncludeNonceEntries
        for _ in 0..<workers {
            DispatchQueue.global().async(group: group) {
                let worker: ChunkWorker
                do { worker = try ChunkWorker(path: path, mode: mode, key: key, capturesIncludeNonceEntries: legacyCaptures) } catch {
                    state.fail()
                    return
                }
                while true {
                    state.slots.wait()
                    let c = state.next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard !state.stopped.load(ordering: .relaxed), c < chunkCount else {
                        state.slots.signal()  // pass the wake-up on to the next waiting worker
                        break
                    }
                    let start = UInt64(c) * chunkSize
                    guard let r = worker.check(start: start, end: min(size, start + chunkSize), rootSizes: sizes) else {
                        state.fail()
                        break
                    }
                    state.results.withLock { $0[c] = r }
                    state.ready.signal()
                }
            }
        }
        defer {
            // Stop and release any worker waiting for room, then wait for all of them.
            state.stopped.store(true, ordering: .relaxed)
            for _ in 0..<workers { state.slots.signal() }
            group.wait()
        }

        // This thread reads the nonce and capture tables on the verifying connection's snapshot
        // a slice at a time, and between slices folds the chunks finished so far, in order.
        let hasher = SHA256Hasher()
        var nonceTable = MultisetDigest(), captureTable = MultisetDigest()
        let nst = try db.prepare("SELECT product_code, nonce, seq FROM nonces")
        let cst = try db.prepare("SELECT hash, seq FROM captures")
        var noncesDone = false, capturesDone = false
        // A row whose values are not of the types the trail stores (a nonce as a BLOB, a line
        // hash as TEXT) reads back as the same bytes here, but the appender's and the
        // sequential pass's typed lookups do not find it: a "consumed" nonce freed by a type
        // change. Such a row fails this pass, and the sequential pass names its entry.
        var typesHold = true
        func readTables(rows: Int) throws {
            var n = 0
            while !noncesDone && n < rows {
                guard try nst.step() else { noncesDone = true; break }
                if nst.storageClass(at: 0) != SQLITE_TEXT || nst.storageClass(at: 1) != SQLITE_TEXT || nst.storageClass(at: 2) != SQLITE_INTEGER {
                    typesHold = false
                }
                nst.withText(at: 0) { pc in nst.withText(at: 1) { nonce in
                    nonceTable.add(key.nonceElement(productCode: pc, nonce: nonce, seq: nst.int64(at: 2), hasher))
                } }
                n += 1
            }
            while noncesDone && !capturesDone && n < rows {
                guard try cst.step() else { capturesDone = true; break }
                if cst.storageClass(at: 0) != SQLITE_BLOB || cst.storageClass(at: 1) != SQLITE_INTEGER { typesHold = false }
                cst.withBlob(at: 0) { h in captureTable.add(key.captureElement(hash: h, seq: cst.int64(at: 1), hasher)) }
                n += 1
            }
        }

        var top = MerkleFrontier()
        var nonceEntries = MultisetDigest(), captureEntries = MultisetDigest()
        var roots: [UInt64: MerkleHash] = [:]
        var cursors: [Int: SQLiteStatement] = [:]
        var lastChunk: ChunkResult? = nil
        /// Folds chunk `c`; false if a stored subtree hash above the chunk level disagrees.
        func fold(_ c: Int, _ chunk: ChunkResult) throws -> Bool {
            nonceEntries.merge(chunk.nonces)
            captureEntries.merge(chunk.captures)
            for (s, local) in chunk.snapshots {
                // The perfect subtrees covering [0, s), largest first; folding them from the right
                // gives the RFC 6962 root even where two neighbours are the same size (at a chunk's end).
                let parts = top.nodes + local
                var r = parts[parts.count - 1]
                for i in stride(from: parts.count - 2, through: 0, by: -1) { r = hasher.nodeHash(parts[i], r) }
                roots[s] = r
            }
            guard chunk.local.size == chunkSize else {
                // Only the last chunk may be partial; the trail's frontier is the chunks' plus its own.
                guard c == chunkCount - 1 else { return false }
                lastChunk = chunk
                return true
            }
            var nodesMatch = true
            try top.append(chunk.local.nodes[0]) { level, index, hash in
                let actual = level + chunkLevel
                guard level > 0, AuditTrail.isStoredLevel(actual), nodesMatch else { return }
                let cursor: SQLiteStatement
                if let existing = cursors[actual] { cursor = existing } else {
                    cursor = try db.prepare("SELECT idx, hash FROM nodes WHERE level = ? ORDER BY idx")
                    try cursor.bind(Int64(actual), at: 1)
                    cursors[actual] = cursor
                }
                if try !cursor.step() || cursor.int64(at: 0) != Int64(bitPattern: index) || cursor.withBlob(at: 1, { MerkleHash(bytes: $0) }) != hash {
                    nodesMatch = false
                }
            }
            return nodesMatch
        }

        var folded = 0
        while folded < chunkCount || !(noncesDone && capturesDone) {
            if state.failed.load(ordering: .relaxed) { return nil }
            try readTables(rows: 8192)
            var progressed = false
            while folded < chunkCount, let chunk = state.results.withLock({ $0.removeValue(forKey: folded) }) {
                state.slots.signal()
                guard try fold(folded, chunk) else { return nil }
                folded += 1
                progressed = true
            }
            // Tables read: nothing left to do here but wait for the next chunk.
            if noncesDone && capturesDone && !progressed && folded < chunkCount { state.ready.wait() }
        }
        guard typesHold, nonceEntries == nonceTable, captureEntries == captureTable else { return nil }
        let nodes = top.nodes + (lastChunk?.local.nodes ?? [])
        let frontier = size == 0 ? MerkleFrontier() : try MerkleFrontier(size: size, nodes: nodes)
        return Outcome(frontier: frontier, roots: roots, acceptedNonces: nonceEntries.count, capturedEntries: captureEntries.count)
    }
}

/// Shared between the workers of one pass and the folding thread.
final class ScanState: Sendable {
    /// Finished chunks not yet folded, by index.
    let results = Mutex<[Int: ChunkResult]>([:])
    let next = Atomic<Int>(0)
    /// A chunk (or a worker's connection) failed: the pass is over.
    let failed = Atomic<Bool>(false)
    /// The folding thread is done: workers stop taking chunks.
    let stopped = Atomic<Bool>(false)
    /// Room for chunks taken but not yet folded.
    let slots: DispatchSemaphore
    /// Signalled for each stored result and on failure.
    let ready = DispatchSemaphore(value: 0)

    init(window: Int) {
        // Created empty and filled: libdispatch traps when a semaphore is freed holding less
        // than its initial value, which a pass that stops early leaves behind.
        slots = DispatchSemaphore(value: 0)
        for _ in 0..<window { slots.signal() }
    }

    func fail() {
        failed.store(true, ordering: .relaxed)
        stopped.store(true, ordering: .relaxed)
        ready.signal()
    }
}

/// One chunk's findings.
struct ChunkResult: Sendable {
    /// The chunk's own frontier (one node, its root, when the chunk is whole).
    var local: MerkleFrontier
    /// For each requested size inside the chunk: the chunk-local frontier nodes at that size.
    var snapshots: [(UInt64, [MerkleHash])]
    var nonces: MultisetDigest
    var captures: MultisetDigest
}

/// A worker's connection, statements and hash context.
final class ChunkWorker {
    let db: SQLiteDatabase
    let rows: SQLiteStatement
    let nodes: SQLiteStatement
    let hasher = SHA256Hasher()
    let key: MultisetKey
    let capturesIncludeNonceEntries: Bool

    init(path: String, mode: SQLiteDatabase.OpenMode, key: MultisetKey, capturesIncludeNonceEntries: Bool) throws {
        self.capturesIncludeNonceEntries = capturesIncludeNonceEntries
        db = try SQLiteDatabase(path: path, mode: mode)
        try db.execute("PRAGMA mmap_size=1073741824")
        rows = try db.prepare("SELECT seq, body, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq")
        nodes = try db.prepare("SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx")
        self.key = key
    }

    /// Checks entries `[start, end)` (`start` a multiple of the chunk size); `nil` if anything is off.
    func check(start: UInt64, end: UInt64, rootSizes: [UInt64]) -> ChunkResult? {
        do {
            var out = ChunkResult(local: MerkleFrontier(), snapshots: [], nonces: MultisetDigest(), captures: MultisetDigest())
            let wanted = rootSizes.filter { $0 > start && $0 <= end }
            defer { rows.reset(); nodes.reset() }
            try rows.bind(Int64(start), at: 1)
            try rows.bind(Int64(end), at: 2)
            var expected = start
            var ok = true
            while ok, try rows.step() {
                guard UInt64(bitPattern: rows.int64(at: 0)) == expected else { return nil }
                let leaf: MerkleHash? = rows.withBlob(at: 1) { body in
                    guard case .success(let s) = AuditEntry.checkCanonical(body), s.seq == expected else { return nil }
                    if let nk = s.acceptedNonce {
                        out.nonces.add(key.nonceElement(productCode: nk.productCode, nonce: nk.nonce, seq: Int64(expected), hasher))
                    }
                    if let h = s.captureRowHash(schema1: self.capturesIncludeNonceEntries) {
                        h.withUnsafeBytes { out.captures.add(key.captureElement(hash: $0, seq: Int64(expected), hasher)) }
                    }
                    return hasher.leafHash(body)
                }
                guard let leaf, rows.withBlob(at: 2, { MerkleHash(bytes: $0) }) == leaf else { return nil }
                out.local.append(leaf, nodeHash: hasher.nodeHash) { level, index, hash in
                    guard ok, AuditTrail.isStoredLevel(level) else { return }
                    ok = (try? self.storedNodeMatches(level: level, index: (start >> UInt64(level)) + index, hash: hash)) ?? false
                }
                expected += 1
                if wanted.contains(expected) { out.snapshots.append((expected, out.local.nodes)) }
            }
            return ok && expected == end ? out : nil
        } catch {
            return nil
        }
    }

    private func storedNodeMatches(level: Int, index: UInt64, hash: MerkleHash) throws -> Bool {
        defer { nodes.reset() }
        try nodes.bind(Int64(level), at: 1)
        try nodes.bind(Int64(bitPattern: index), at: 2)
        try nodes.bind(Int64(bitPattern: index + 1), at: 3)
        return try nodes.step() && nodes.withBlob(at: 1, { MerkleHash(bytes: $0) }) == hash
    }
}

/// A key for ``MultisetDigest`` elements, drawn fresh from OpenSSL's CSPRNG for each run.
struct MultisetKey: Sendable {
    let bytes: MerkleHash

    init() {
        var k = MerkleHash.zero
        let ok = Swift.withUnsafeMutableBytes(of: &k.storage) { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 32) }
        precondition(ok == 1, "OpenSSL's random generator failed")
        bytes = k
    }

    /// SHA-256(key || "n" || len || productCode || len || nonce || seq), lengths and seq as 8 bytes.
    func nonceElement(productCode: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, seq: Int64, _ h: SHA256Hasher) -> MerkleHash {
        bytes.withUnsafeBytes { h.update($0) }
        h.update(tag: 0x6E, count: productCode.count)
        h.update(productCode)
        h.update(tag: 0x2E, count: nonce.count)
        h.update(nonce)
        h.update(tag: 0x23, count: Int(seq))
        return h.finishHash()
    }

    func nonceElement(productCode: String, nonce: String, seq: Int64, _ h: SHA256Hasher) -> MerkleHash {
        var pc = productCode, n = nonce
        return pc.withUTF8 { p in n.withUTF8 { q in nonceElement(productCode: UnsafeRawBufferPointer(p), nonce: UnsafeRawBufferPointer(q), seq: seq, h) } }
    }

    /// SHA-256(key || "c" || len || hash || seq).
    func captureElement(hash: UnsafeRawBufferPointer, seq: Int64, _ h: SHA256Hasher) -> MerkleHash {
        bytes.withUnsafeBytes { h.update($0) }
        h.update(tag: 0x63, count: hash.count)
        h.update(hash)
        h.update(tag: 0x23, count: Int(seq))
        return h.finishHash()
    }
}

/// A multiset's size and the lane-wise sum (mod 2^64 per lane) of its elements' keyed hashes:
/// order-independent, and two different multisets agree only by chance.
struct MultisetDigest: Sendable, Equatable {
    var lanes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var count: Int64 = 0

    mutating func add(_ h: MerkleHash) {
        lanes.0 &+= h.storage.0
        lanes.1 &+= h.storage.1
        lanes.2 &+= h.storage.2
        lanes.3 &+= h.storage.3
        count += 1
    }

    mutating func merge(_ o: MultisetDigest) {
        lanes.0 &+= o.lanes.0
        lanes.1 &+= o.lanes.1
        lanes.2 &+= o.lanes.2
        lanes.3 &+= o.lanes.3
        count += o.count
    }

    static func == (a: MultisetDigest, b: MultisetDigest) -> Bool {
        a.count == b.count && a.lanes.0 == b.lanes.0 && a.lanes.1 == b.lanes.1 && a.lanes.2 == b.lanes.2 && a.lanes.3 == b.lanes.3
    }
}

/// Hashes for the trail scan on a reusable SHA-256 context (one per thread): cheaper than a
/// one-shot digest, which builds and frees a context each call, for the many short inputs.
extension SHA256Hasher {
    /// One tag byte then `count` as 8 little-endian bytes.
    func update(tag: UInt8, count: Int) {
        var buf: (UInt8, UInt64) = (tag, UInt64(littleEndian: UInt64(bitPattern: Int64(count))))
        Swift.withUnsafeBytes(of: &buf.0) { update($0) }
        Swift.withUnsafeBytes(of: &buf.1) { update($0) }
    }

    /// The digest of everything updated since the last one, as a ``MerkleHash``.
    func finishHash() -> MerkleHash {
        var out = MerkleHash.zero
        Swift.withUnsafeMutableBytes(of: &out.storage) { finalize(into: $0) }
        return out
    }

    /// RFC 6962 interior hash: SHA-256(0x01 || left || right).
    func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        var buf: (UInt8, MerkleHash.Storage, MerkleHash.Storage) = (1, left.storage, right.storage)
        Swift.withUnsafeBytes(of: &buf.0) { update($0) }
        Swift.withUnsafeBytes(of: &buf.1) { update($0) }
        Swift.withUnsafeBytes(of: &buf.2) { update($0) }
        return finishHash()
    }

    /// RFC 6962 leaf hash: SHA-256(0x00 || body).
    func leafHash(_ body: UnsafeRawBufferPointer) -> MerkleHash {
        var zero: UInt8 = 0
        Swift.withUnsafeBytes(of: &zero) { update($0) }
        update(body)
        return finishHash()
    }
}
