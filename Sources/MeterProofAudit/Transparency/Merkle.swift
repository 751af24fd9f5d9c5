import MeterProof

/// RFC 6962 (section 2.1; unchanged in RFC 9162) Merkle tree hashing and proof verification.
public enum RFC6962 {
    /// The root of the empty tree: `SHA-256("")`.
    public static let emptyRoot: MerkleHash = Digest.sha256(nil, 0)

    /// The hash of a leaf: `SHA-256(0x00 || leaf)`.
    public static func leafHash(_ leaf: UnsafeRawBufferPointer) -> MerkleHash {
        let n = leaf.count
        // Stack buffer for typical entries; the standard library moves large ones to the heap.
        return withUnsafeTemporaryAllocation(byteCount: n + 1, alignment: 8) { buf in
            buf[0] = 0
            if n > 0, let src = leaf.baseAddress {
                (buf.baseAddress! + 1).copyMemory(from: src, byteCount: n)
            }
            return Digest.sha256(buf.baseAddress, n + 1)
        }
    }

    /// The hash of a leaf with a caller's reusable hasher: no copy of the leaf and no digest
    /// context set up per call (for loops over many leaves on one thread).
    static func leafHash(_ leaf: UnsafeRawBufferPointer, using hasher: SHA256Hasher) -> MerkleHash {
        withUnsafeBytes(of: UInt8(0)) { hasher.update($0) }
        hasher.update(leaf)
        var out = MerkleHash.zero
        Swift.withUnsafeMutableBytes(of: &out.storage) { hasher.finalize(into: $0) }
        return out
    }

    /// The hash of a leaf: `SHA-256(0x00 || leaf)`.
    public static func leafHash<C: Collection>(_ leaf: C) -> MerkleHash where C.Element == UInt8 {
        if let h = leaf.withContiguousStorageIfAvailable({ leafHash(UnsafeRawBufferPointer($0)) }) { return h }
        return Array(leaf).withUnsafeBytes { leafHash($0) }
    }

    /// The hash of an interior node: `SHA-256(0x01 || left || right)`.
    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        // 72 bytes on the stack; the first 65 are hashed.
        var buf: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &buf) { b in
            b[0] = 1
            b.storeBytes(of: left.storage, toByteOffset: 1, as: MerkleHash.Storage.self)
            b.storeBytes(of: right.storage, toByteOffset: 33, as: MerkleHash.Storage.self)
            return Digest.sha256(b.baseAddress, 65)
        }
    }

    /// The reference Merkle Tree Hash (MTH) of a list of leaf hashes: for n > 1 the tree is
    /// split at the largest power of two strictly smaller than n. Empty list: `emptyRoot`.
    public static func root(leafHashes: [MerkleHash]) -> MerkleHash {
        if leafHashes.isEmpty { return emptyRoot }
        return leafHashes.withUnsafeBufferPointer { mth($0[...]) }
    }

    private static func mth(_ d: Slice<UnsafeBufferPointer<MerkleHash>>) -> MerkleHash {
        let n = d.count
        if n == 1 { return d[d.startIndex] }
        let k = largestPowerOfTwo(below: UInt64(n))
        let mid = d.startIndex + Int(k)
        return nodeHash(mth(d[d.startIndex..<mid]), mth(d[mid..<d.endIndex]))
    }

    /// The largest power of two strictly smaller than `n` (n >= 2).
    @inline(__always)
    static func largestPowerOfTwo(below n: UInt64) -> UInt64 {
        1 << (63 - (n - 1).leadingZeroBitCount)
    }

    /// Verifies an inclusion proof (audit path) with the algorithm of RFC 9162 section 2.1.3.2.
    ///
    /// - Throws: `bad_inclusion_proof` if `index >= treeSize`, the proof has the wrong length,
    ///   or it does not lead to `root`.
    public static func verifyInclusion(
        leafHash: MerkleHash, index: UInt64, treeSize: UInt64, proof: [MerkleHash], root: MerkleHash
    ) throws(TransparencyError) {
        guard index < treeSize else {
            throw .badInclusionProof("leaf index \(index) is not below tree size \(treeSize)")
        }
        guard proof.count <= 64 else {
            throw .badInclusionProof("proof has \(proof.count) hashes, more than any tree needs")
        }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { throw .badInclusionProof("proof is longer than the path for this index and size") }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .badInclusionProof("proof is shorter than the path for this index and size") }
        guard r == root else { throw .badInclusionProof("proof does not lead to the expected root") }
    }

    /// Verifies a consistency proof with the algorithm of RFC 9162 section 2.1.4.2.
    ///
    /// `size1 == size2` needs an empty proof and equal roots (and for size 0, the empty root).
    /// A proof from size 0 to a non-zero size is refused: it would prove nothing.
    ///
    /// - Throws: `bad_consistency_proof`.
    public static func verifyConsistency(
        size1: UInt64, size2: UInt64, root1: MerkleHash, root2: MerkleHash, proof: [MerkleHash]
    ) throws(TransparencyError) {
        guard size1 <= size2 else {
            throw .badConsistencyProof("size1 \(size1) is greater than size2 \(size2)")
        }
        if size1 == size2 {
            guard proof.isEmpty else { throw .badConsistencyProof("trees of equal size need an empty proof") }
            guard root1 == root2 else { throw .badConsistencyProof("trees of equal size have different roots") }
            if size1 == 0 && root1 != emptyRoot {
                throw .badConsistencyProof("the empty tree's root must be SHA-256(\"\")")
            }
            return
        }
        guard size1 > 0 else {
            throw .badConsistencyProof("a consistency proof from the empty tree proves nothing")
        }
        guard !proof.isEmpty else { throw .badConsistencyProof("proof is empty") }
        guard proof.count <= 128 else {
            throw .badConsistencyProof("proof has \(proof.count) hashes, more than any tree needs")
        }

        var fn = size1 - 1
        var sn = size2 - 1
        var i = 0
        let first: MerkleHash
        if size1 & (size1 - 1) == 0 {
            // size1 is a power of two: the old root is itself a node of the new tree.
            first = root1
        } else {
            first = proof[0]
            i = 1
        }
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = first
        var sr = first
        while i < proof.count {
            let c = proof[i]
            i += 1
            if sn == 0 { throw .badConsistencyProof("proof is longer than needed") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw .badConsistencyProof("proof is shorter than needed") }
        guard fr == root1 else { throw .badConsistencyProof("proof does not lead to the first root") }
        guard sr == root2 else { throw .badConsistencyProof("proof does not lead to the second root") }
    }
}

/// The right edge of an append-only tree: roots of its perfect subtrees, largest (leftmost)
/// first. O(log n) memory.
public struct MerkleFrontier: Sendable, Equatable {
    /// Number of leaves appended so far.
    public private(set) var size: UInt64
    /// Roots of the perfect subtrees covering `[0, size)`, one per set bit of `size`,
    /// largest (leftmost) first.
    public private(set) var nodes: [MerkleHash]

    /// An empty tree.
    public init() {
        size = 0
        nodes = []
        nodes.reserveCapacity(64)
    }

    /// Restores a frontier saved from `size` and `nodes`.
    ///
    /// - Throws: `invalid_argument` unless `nodes.count == popcount(size)`.
    public init(size: UInt64, nodes: [MerkleHash]) throws(TransparencyError) {
        guard nodes.count == size.nonzeroBitCount else {
            throw .invalidArgument("a frontier of size \(size) has \(size.nonzeroBitCount) nodes, not \(nodes.count)")
        }
        self.size = size
        self.nodes = nodes
        self.nodes.reserveCapacity(64)
    }

    /// Appends one leaf hash. `onNewNode` is called for every complete (perfect) subtree this
    /// append completes, the leaf itself first (level 0, index = leaf index), then each parent
    /// (level l covers leaves `[index << l, (index+1) << l)`).
    ///
    /// If `onNewNode` throws, the frontier is left unchanged.
    public mutating func append(
        _ leafHash: MerkleHash,
        onNewNode: (_ level: Int, _ index: UInt64, _ hash: MerkleHash) throws -> Void
    ) rethrows {
        try append(leafHash, nodeHash: RFC6962.nodeHash, onNewNode: onNewNode)
    }

    /// ``append(_:onNewNode:)`` with the interior hash computed by `nodeHash` (which must be
    /// ``RFC6962/nodeHash(_:_:)``; a caller may pass one that reuses a digest context).
    mutating func append(
        _ leafHash: MerkleHash,
        nodeHash: (MerkleHash, MerkleHash) -> MerkleHash,
        onNewNode: (_ level: Int, _ index: UInt64, _ hash: MerkleHash) throws -> Void
    ) rethrows {
        let leafIndex = size
        try onNewNode(0, leafIndex, leafHash)
        var h = leafHash
        var level = 0
        var k = nodes.count
        // Each trailing one bit of the old size is a perfect subtree that merges with the new one.
        while (leafIndex >> UInt64(level)) & 1 == 1 {
            k -= 1
            h = nodeHash(nodes[k], h)
            level += 1
            try onNewNode(level, leafIndex >> UInt64(level), h)
        }
        nodes.removeLast(nodes.count - k)
        nodes.append(h)
        size = leafIndex &+ 1
    }

    /// Appends one leaf hash.
    public mutating func append(_ leafHash: MerkleHash) {
        append(leafHash) { _, _, _ in }
    }

    /// The RFC 6962 root of the tree so far (`emptyRoot` for size 0); O(log n).
    public var root: MerkleHash {
        guard var r = nodes.last else { return RFC6962.emptyRoot }
        var i = nodes.count - 1
        while i > 0 {
            i -= 1
            r = RFC6962.nodeHash(nodes[i], r)
        }
        return r
    }
}

/// Anything that can return stored perfect-subtree hashes: node `(level, index)` is the root of
/// leaves `[index << level, (index + 1) << level)`; level 0 is the leaf hash itself. (The SQLite
/// trail stores the leaves and every fourth level of the nodes `MerkleFrontier.append` reports,
/// and recomputes the levels between from those.)
public protocol MerkleNodeSource {
    /// The stored hash of the perfect subtree at `level`, `index`; throws if it is not stored.
    func node(level: Int, index: UInt64) throws -> MerkleHash
}

/// Generates RFC 6962 proofs from stored perfect-subtree hashes with O(log n) lookups each
/// (never rereading leaves).
public enum MerkleProofs {
    /// The inclusion proof (audit path, leaf sibling first) for leaf `index` in the tree of
    /// `treeSize` leaves (RFC 6962 section 2.1.1 `PATH`).
    ///
    /// - Throws: `invalid_argument` if `index >= treeSize`; whatever `source` throws.
    public static func inclusionProof(index: UInt64, treeSize: UInt64, source: some MerkleNodeSource) throws -> [MerkleHash] {
        guard index < treeSize else {
            throw TransparencyError.invalidArgument("leaf index \(index) is not below tree size \(treeSize)")
        }
        var proof: [MerkleHash] = []
        try path(index, start: 0, count: treeSize, source: source, into: &proof)
        return proof
    }

    private static func path(
        _ m: UInt64, start: UInt64, count n: UInt64, source: some MerkleNodeSource, into proof: inout [MerkleHash]
    ) throws {
        if n == 1 { return }
        let k = RFC6962.largestPowerOfTwo(below: n)
        if m < k {
            try path(m, start: start, count: k, source: source, into: &proof)
            proof.append(try rangeHash(start: start + k, end: start + n, source: source))
        } else {
            try path(m - k, start: start + k, count: n - k, source: source, into: &proof)
            proof.append(try rangeHash(start: start, end: start + k, source: source))
        }
    }

    /// The consistency proof between the trees of `size1` and `size2` leaves (RFC 6962
    /// section 2.1.2 `PROOF`). Empty when the sizes are equal.
    ///
    /// - Throws: `invalid_argument` if `size1 > size2` or `size1 == 0 < size2`; whatever `source` throws.
    public static func consistencyProof(size1: UInt64, size2: UInt64, source: some MerkleNodeSource) throws -> [MerkleHash] {
        guard size1 <= size2 else {
            throw TransparencyError.invalidArgument("size1 \(size1) is greater than size2 \(size2)")
        }
        if size1 == size2 { return [] }
        guard size1 > 0 else {
            throw TransparencyError.invalidArgument("a consistency proof from the empty tree proves nothing")
        }
        var proof: [MerkleHash] = []
        try subproof(size1, start: 0, count: size2, complete: true, source: source, into: &proof)
        return proof
    }

    private static func subproof(
        _ m: UInt64, start: UInt64, count n: UInt64, complete b: Bool,
        source: some MerkleNodeSource, into proof: inout [MerkleHash]
    ) throws {
        if m == n {
            if !b { proof.append(try rangeHash(start: start, end: start + n, source: source)) }
            return
        }
        let k = RFC6962.largestPowerOfTwo(below: n)
        if m <= k {
            try subproof(m, start: start, count: k, complete: b, source: source, into: &proof)
            proof.append(try rangeHash(start: start + k, end: start + n, source: source))
        } else {
            try subproof(m - k, start: start + k, count: n - k, complete: false, source: source, into: &proof)
            proof.append(try rangeHash(start: start, end: start + k, source: source))
        }
    }

    /// The RFC 6962 root of the first `treeSize` leaves (`emptyRoot` for 0).
    public static func root(treeSize: UInt64, source: some MerkleNodeSource) throws -> MerkleHash {
        if treeSize == 0 { return RFC6962.emptyRoot }
        return try rangeHash(start: 0, end: treeSize, source: source)
    }

    /// The Merkle tree hash of leaves `[start, end)`, computed by decomposing the range into
    /// perfect subtrees (left to right, each as large as alignment allows) and folding them from
    /// the right. For the subtrees RFC 6962 recursion produces (`start` a multiple of a power of
    /// two >= `end - start`) this is their MTH. O(log n) lookups.
    ///
    /// - Throws: `invalid_argument` if the range is empty; whatever `source` throws.
    public static func rangeHash(start: UInt64, end: UInt64, source: some MerkleNodeSource) throws -> MerkleHash {
        guard start < end else {
            throw TransparencyError.invalidArgument("empty range [\(start), \(end))")
        }
        // At most 64 perfect subtrees.
        var parts: [(level: Int, index: UInt64)] = []
        parts.reserveCapacity(64)
        var p = start
        while p < end {
            let remaining = end - p
            let maxByLength = 63 - remaining.leadingZeroBitCount
            let maxByAlignment = p == 0 ? 63 : p.trailingZeroBitCount
            let level = min(maxByLength, maxByAlignment)
            parts.append((level, p >> UInt64(level)))
            p += 1 << UInt64(level)
        }
        var r = try source.node(level: parts[parts.count - 1].level, index: parts[parts.count - 1].index)
        var i = parts.count - 1
        while i > 0 {
            i -= 1
            r = RFC6962.nodeHash(try source.node(level: parts[i].level, index: parts[i].index), r)
        }
        return r
    }
}
