/// RFC 6962 inclusion proofs for many leaves of one tree, built in a single streaming pass
/// over all its leaf hashes, with no lookups.
///
/// Append every leaf hash of the tree in order, marking the ones to prove; then
/// ``forEachProof(_:)`` yields each marked leaf's audit path for the tree of all appended leaves.
///
/// Only the subtree hashes some proof needs are kept: a left sibling is taken from the
/// frontier when its leaf is marked, a right sibling when the frontier completes it, and a
/// right-edge (non-perfect) sibling is folded from the final frontier. Memory is O(log n)
/// plus one hash per distinct sibling needed (at most `min(2n, k log n)` for k marked leaves);
/// time is one SHA-256 per interior node, as for computing the root.
package struct BatchInclusionProofs: Sendable {
    private struct NodeKey: Hashable, Sendable {
        let level: Int
        let index: UInt64
    }

    private var frontier = MerkleFrontier()
    private var marked: [UInt64] = []
    private var nodes: [NodeKey: MerkleHash] = [:]

    package init() {}

    /// Leaves appended so far.
    package var size: UInt64 { frontier.size }
    /// The root of the leaves appended so far.
    package var root: MerkleHash { frontier.root }
    /// The marked leaf indices, ascending.
    package var markedIndices: [UInt64] { marked }

    /// Appends the next leaf hash; with `mark`, its proof will be produced.
    package mutating func append(_ leafHash: MerkleHash, mark: Bool) {
        let m = frontier.size
        if mark {
            // Left siblings: for each set bit L of m, the perfect subtree of the frontier for that bit.
            var idx = 0
            var level = 63
            while level >= 0 {
                if (m >> UInt64(level)) & 1 == 1 {
                    nodes[NodeKey(level: level, index: (m >> UInt64(level)) - 1)] = frontier.nodes[idx]
                    idx += 1
                }
                level -= 1
            }
            marked.append(m)
        }
        guard !marked.isEmpty else {
            frontier.append(leafHash)
            return
        }
        var f = MerkleFrontier()
        swap(&f, &frontier)
        let marks = marked
        var found: [(NodeKey, MerkleHash)] = []
        f.append(leafHash) { level, index, hash in
            // A completed right child is the right sibling of every leaf in its left neighbour.
            guard index & 1 == 1 else { return }
            let lo = (index - 1) << UInt64(level), hi = index << UInt64(level)
            if Self.anyMarked(marks, in: lo, hi) { found.append((NodeKey(level: level, index: index), hash)) }
        }
        swap(&f, &frontier)
        for (k, h) in found { nodes[k] = h }
    }

    /// Whether a marked index lies in `[lo, hi)` (binary search).
    private static func anyMarked(_ marks: [UInt64], in lo: UInt64, _ hi: UInt64) -> Bool {
        let a = marks.lowerBound(of: lo)
        return a < marks.count && marks[a] < hi
    }

    /// The hash of the right-edge subtree `[n - (n mod 2^level), n)`: the final frontier's
    /// subtrees for the bits of `n` below `level`, folded from the right.
    private func edgeHash(level: Int) -> MerkleHash? {
        let n = frontier.size
        let count = (n & ((UInt64(1) << UInt64(level)) - 1)).nonzeroBitCount
        guard count > 0 else { return nil }
        let ns = frontier.nodes
        var r = ns[ns.count - 1]
        var i = ns.count - 1
        while i > ns.count - count {
            i -= 1
            r = RFC6962.nodeHash(ns[i], r)
        }
        return r
    }

    /// The audit path (leaf sibling first) of marked leaf `m` in the tree of all appended leaves.
    ///
    /// - Throws: `invalid_argument` if `m` was not marked or is not below the size.
    package func proof(for m: UInt64) throws(TransparencyError) -> [MerkleHash] {
        let n = frontier.size
        guard m < n else { throw .invalidArgument("leaf index \(m) is not below tree size \(n)") }
        var proof: [MerkleHash] = []
        proof.reserveCapacity(64 - n.leadingZeroBitCount)
        var level = 0
        while level < 64 {
            let b = m >> UInt64(level)
            if b == 0 && (UInt64(1) << UInt64(level)) >= n { break }
            let s = b ^ 1
            let start = s << UInt64(level)
            if s < b || (start < n && n - start >= UInt64(1) << UInt64(level)) {
                guard let h = nodes[NodeKey(level: level, index: s)] else {
                    throw .invalidArgument("leaf \(m) was not marked for a proof")
                }
                proof.append(h)
            } else if start < n {
                guard let h = edgeHash(level: level) else { throw .invalidArgument("no right-edge subtree at level \(level)") }
                proof.append(h)
            }
            level += 1
        }
        return proof
    }

    /// Calls `body` with each marked leaf's index and audit path, in index order.
    package func forEachProof(_ body: (UInt64, [MerkleHash]) throws -> Void) throws {
        for m in marked { try body(m, try proof(for: m)) }
    }
}
