/// RFC 6962 inclusion proofs for many leaves of one tree, in memory that does not grow with the
/// number of proofs (beyond one seq per marked leaf).
///
/// The tree is cut into aligned chunks of `2^chunkBits` leaves (the last one may be partial).
/// Every node of the tree at a chunk's level or above is a node of the tree whose leaves are
/// the chunk roots, the last one being the partial chunk's own root: RFC 6962 splits a range at
/// the largest power of two below its size, which is a multiple of the chunk size whenever the
/// range is longer than a chunk. So a leaf's audit path is its path inside its chunk followed
/// by its chunk's path in the tree of chunk roots.
///
/// The first pass (``append(_:mark:)``) keeps one root per chunk and the marked indices. The
/// second (``proofs(chunk:leafHashes:)``) takes one chunk's leaf hashes at a time, checks them
/// against the root the first pass computed for that chunk, and yields its marked leaves'
/// paths. Memory: one hash per chunk, one seq per marked leaf, and one chunk's nodes at a time;
/// the streaming ``BatchInclusionProofs`` instead keeps every sibling any proof needs (about
/// two hashes per marked leaf when most leaves are marked).
package struct ChunkedInclusionProofs: Sendable {
    /// Leaves per chunk: `1 << chunkBits`.
    package let chunkBits: Int
    /// Leaves appended so far.
    package private(set) var size: UInt64 = 0
    private var chunk = MerkleFrontier()
    private var chunkRoots: [MerkleHash] = []
    /// The marked leaf indices, ascending.
    package private(set) var marked: [UInt64] = []
    private var upper: BatchInclusionProofs? = nil

    /// - Parameter chunkBits: leaves per chunk as a power of two, 1...30 (default 4096 leaves).
    package init(chunkBits: Int = 12) {
        precondition(chunkBits >= 1 && chunkBits <= 30)
        self.chunkBits = chunkBits
    }

    /// Appends the next leaf hash; with `mark`, its proof will be produced.
    package mutating func append(_ leafHash: MerkleHash, mark: Bool) {
        precondition(upper == nil, "append after finish()")
        if mark { marked.append(size) }
        size += 1
        chunk.append(leafHash)
        if chunk.size == UInt64(1) << UInt64(chunkBits) {
            chunkRoots.append(chunk.root)
            chunk = MerkleFrontier()
        }
    }

    /// Ends the first pass: closes the partial last chunk and prepares the chunk-level paths.
    /// Returns the root of the whole tree.
    package mutating func finish() -> MerkleHash {
        if upper == nil {
            if chunk.size > 0 {
                chunkRoots.append(chunk.root)
                chunk = MerkleFrontier()
            }
            var u = BatchInclusionProofs()
            var next = 0
            for (c, r) in chunkRoots.enumerated() {
                var hasMarked = false
                while next < marked.count && marked[next] >> UInt64(chunkBits) == UInt64(c) {
                    hasMarked = true
                    next += 1
                }
                u.append(r, mark: hasMarked)
            }
            upper = u
        }
        return upper!.root
    }

    /// The chunks that hold marked leaves, ascending: each chunk's index, its leaf range in
    /// the tree (as appended so far), and the range of its marked leaves in ``marked``.
    package func markedChunks() -> [(chunk: UInt64, leaves: Range<UInt64>, marked: Range<Int>)] {
        var out: [(chunk: UInt64, leaves: Range<UInt64>, marked: Range<Int>)] = []
        var i = 0
        let n = size
        while i < marked.count {
            let c = marked[i] >> UInt64(chunkBits)
            var j = i
            while j < marked.count && marked[j] >> UInt64(chunkBits) == c { j += 1 }
            let lo = c << UInt64(chunkBits)
            out.append((c, lo..<min(lo + (UInt64(1) << UInt64(chunkBits)), n), i..<j))
            i = j
        }
        return out
    }

    /// The audit paths (leaf sibling first) of chunk `c`'s marked leaves, in index order, given
    /// all of that chunk's leaf hashes in order.
    ///
    /// - Throws: `invalid_argument` if the hashes are not that chunk's: wrong count, or not
    ///   hashing to the root the first pass computed for it.
    package func proofs(chunk c: UInt64, leafHashes: [MerkleHash]) throws(TransparencyError) -> [(index: UInt64, path: [MerkleHash])] {
        guard let upper else { throw .invalidArgument("proofs requested before the first pass finished") }
        guard c < UInt64(chunkRoots.count) else { throw .invalidArgument("chunk \(c) is not in a tree of \(chunkRoots.count) chunks") }
        let lo = c << UInt64(chunkBits)
        let expected = min(UInt64(1) << UInt64(chunkBits), size - lo)
        guard UInt64(leafHashes.count) == expected else {
            throw .invalidArgument("chunk \(c) has \(expected) leaves, not \(leafHashes.count)")
        }
        // The chunk's levels, bottom up; a node without a right sibling moves up unchanged,
        // which is RFC 6962's tree for a size that is not a power of two.
        var levels: [[MerkleHash]] = [leafHashes]
        while levels[levels.count - 1].count > 1 {
            let below = levels[levels.count - 1]
            var next: [MerkleHash] = []
            next.reserveCapacity((below.count + 1) / 2)
            var i = 0
            while i + 1 < below.count {
                next.append(RFC6962.nodeHash(below[i], below[i + 1]))
                i += 2
            }
            if i < below.count { next.append(below[i]) }
            levels.append(next)
        }
        guard levels[levels.count - 1][0] == chunkRoots[Int(c)] else {
            throw .invalidArgument("the leaf hashes of chunk \(c) do not hash to the root computed for it")
        }
        var m = marked.lowerBound(of: lo)
        guard m < marked.count && marked[m] < lo + expected else { return [] }
        let top = try upper.proof(for: c)
        var out: [(index: UInt64, path: [MerkleHash])] = []
        while m < marked.count && marked[m] < lo + expected {
            var i = Int(marked[m] - lo)
            var path: [MerkleHash] = []
            path.reserveCapacity(levels.count - 1 + top.count)
            for level in levels.dropLast() {
                let s = i ^ 1
                if s < level.count { path.append(level[s]) }
                i >>= 1
            }
            path.append(contentsOf: top)
            out.append((marked[m], path))
            m += 1
        }
        return out
    }
}
