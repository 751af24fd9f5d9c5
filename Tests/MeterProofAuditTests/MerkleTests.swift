import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

@Suite struct MerkleKnownAnswerTests {
    @Test func emptyTreeRoot() {
        #expect(RFC6962.emptyRoot.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(RFC6962.root(leafHashes: []) == RFC6962.emptyRoot)
        #expect(MerkleFrontier().root == RFC6962.emptyRoot)
    }

    @Test func leafHashOfEmptyString() {
        #expect(RFC6962.leafHash([UInt8]()).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }

    @Test func eightLeafRoot() throws {
        let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        let hashes = leaves.map { RFC6962.leafHash(Hex.decode($0)!) }
        let want = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        #expect(RFC6962.root(leafHashes: hashes).hex == want)
        var f = MerkleFrontier()
        for h in hashes { f.append(h) }
        #expect(f.root.hex == want)
    }

    @Test func leafHashOverloadsAgree() {
        let bytes: [UInt8] = Array(0..<200)
        let a = RFC6962.leafHash(bytes)
        let b = bytes.withUnsafeBytes { RFC6962.leafHash($0) }
        let c = RFC6962.leafHash(bytes.lazy.map { $0 })  // non-contiguous collection
        #expect(a == b && b == c)
        // A large leaf (beyond the stack buffer) hashes the same way as SHA-256(0x00 || leaf).
        let big = [UInt8](repeating: 7, count: 100_000)
        #expect(RFC6962.leafHash(big).bytes == SHA256.hash([0] + big))
    }

    @Test func reusedHasherGivesTheSameLeafHashes() {
        // One hasher across many leaves (as the export's scan uses it): each result stands alone.
        let hasher = SHA256Hasher()
        let eight = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        var leaves = eight.map { Hex.decode($0)! }
        leaves += [Array(0..<200), [UInt8](repeating: 7, count: 100_000), []]
        for leaf in leaves {
            let got = leaf.withUnsafeBytes { RFC6962.leafHash($0, using: hasher) }
            #expect(got == RFC6962.leafHash(leaf))
            #expect(got.bytes == SHA256.hash([0] + leaf))
        }
        #expect(RFC6962.leafHash(Hex.decode(eight[1])!).hex == "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
    }

    @Test func nodeHashIsSHA256OfPrefixedPair() {
        let l = testLeaf(1), r = testLeaf(2)
        #expect(RFC6962.nodeHash(l, r).bytes == SHA256.hash([1] + l.bytes + r.bytes))
    }

    @Test func merkleHashCodecs() {
        let h = testLeaf(3)
        #expect(MerkleHash(base64: h.base64) == h)
        #expect(MerkleHash(hex: h.hex) == h)
        #expect(MerkleHash(bytes: h.bytes) == h)
        #expect(h.description == h.hex)
        #expect(MerkleHash(bytes: [UInt8](repeating: 0, count: 31)) == nil)
        #expect(MerkleHash(bytes: [UInt8](repeating: 0, count: 33)) == nil)
        #expect(MerkleHash(base64: "ZG9uJ3QgY2FyZSAx") == nil)
        #expect(MerkleHash(base64: "") == nil)
        #expect(MerkleHash(base64: String(h.base64.dropLast()) + "A") == nil)  // padding bits / no padding
        #expect(MerkleHash(base64: " " + h.base64) == nil)
        #expect(MerkleHash(hex: String(h.hex.dropLast())) == nil)
        #expect(MemoryLayout<MerkleHash>.size == 32)
    }
}

@Suite struct MerkleVectorTests {
    /// Decodes a vector hash; non-32-byte values (present on purpose in negative vectors) are
    /// reported as `malformed` and replaced by SHA-256 of their bytes, which keeps equality
    /// between values while letting the verifier run.
    static func hash(_ any: Any?, malformed: inout Bool) -> MerkleHash {
        let s = any as? String ?? ""
        let raw = Base64.decode(s) ?? Array(s.utf8)
        if let h = MerkleHash(base64: s) { return h }
        malformed = true
        #expect(MerkleHash(bytes: raw) == nil)
        return Digest.sha256(raw)
    }

    static func proof(_ any: Any?, malformed: inout Bool) -> [MerkleHash] {
        (any as? [Any] ?? []).map { hash($0, malformed: &malformed) }
    }

    /// Vectors whose expected outcome is success but which use non-32-byte hashes: our
    /// `MerkleHash` cannot represent them, so a real caller would refuse them at decoding.
    static let unrepresentablePositives = ["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"]

    @Test(.enabled(if: SharedFiles.available, "../shared is absent: the transparency-dev Merkle vectors live in ../shared/vectors/merkle"))
    func inclusionVectors() throws {
        let files = SharedFiles.jsonFiles(under: "vectors/merkle/inclusion")
        var positives = 0, negatives = 0
        for f in files {
            let v = try SharedFiles.readJSON("vectors/merkle/inclusion/" + f)
            var malformed = false
            let leaf = Self.hash(v["leafHash"], malformed: &malformed)
            let root = Self.hash(v["root"], malformed: &malformed)
            let proof = Self.proof(v["proof"], malformed: &malformed)
            let idx = try #require((v["leafIdx"] as? NSNumber)?.uint64Value, "\(f)")
            let size = try #require((v["treeSize"] as? NSNumber)?.uint64Value, "\(f)")
            let wantErr = try #require(v["wantErr"] as? Bool, "\(f)")
            let code = errorCode { try RFC6962.verifyInclusion(leafHash: leaf, index: idx, treeSize: size, proof: proof, root: root) }
            if wantErr {
                negatives += 1
                #expect(malformed || code == "bad_inclusion_proof", "\(f) should be refused")
            } else {
                positives += 1
                #expect(!malformed, "\(f)")
                #expect(code == nil, "\(f) should verify")
            }
        }
        // 98 files at transparency-dev/merkle 417fb0c: 6 positive, 92 negative.
        #expect(files.count > 90)
        #expect(positives >= 5 && negatives >= 80, "positives \(positives), negatives \(negatives)")
    }

    @Test(.enabled(if: SharedFiles.available, "../shared is absent: the transparency-dev Merkle vectors live in ../shared/vectors/merkle"))
    func consistencyVectors() throws {
        let files = SharedFiles.jsonFiles(under: "vectors/merkle/consistency")
        var positives = 0, negatives = 0
        var unrepresentable: [String] = []
        for f in files {
            let v = try SharedFiles.readJSON("vectors/merkle/consistency/" + f)
            var malformed = false
            let root1 = Self.hash(v["root1"], malformed: &malformed)
            let root2 = Self.hash(v["root2"], malformed: &malformed)
            let proof = Self.proof(v["proof"], malformed: &malformed)
            let size1 = try #require((v["size1"] as? NSNumber)?.uint64Value, "\(f)")
            let size2 = try #require((v["size2"] as? NSNumber)?.uint64Value, "\(f)")
            let wantErr = try #require(v["wantErr"] as? Bool, "\(f)")
            let code = errorCode {
                try RFC6962.verifyConsistency(size1: size1, size2: size2, root1: root1, root2: root2, proof: proof)
            }
            if wantErr {
                negatives += 1
                #expect(malformed || code == "bad_consistency_proof", "\(f) should be refused")
            } else {
                positives += 1
                if malformed { unrepresentable.append("consistency/" + f) }
                #expect(code == nil, "\(f) should verify")
            }
        }
        // 98 files at transparency-dev/merkle 417fb0c: 6 positive, 92 negative.
        #expect(files.count > 90)
        #expect(positives >= 5 && negatives >= 80, "positives \(positives), negatives \(negatives)")
        #expect(unrepresentable == Self.unrepresentablePositives)
    }
}

@Suite struct MerkleFrontierTests {
    @Test func frontierMatchesReferenceRootForEverySize() throws {
        var f = MerkleFrontier()
        var leaves: [MerkleHash] = []
        #expect(f.root == RFC6962.root(leafHashes: leaves))
        for i in 0..<300 {
            leaves.append(testLeaf(i))
            f.append(leaves[i])
            #expect(f.size == UInt64(i + 1))
            #expect(f.nodes.count == (i + 1).nonzeroBitCount)
            #expect(f.root == RFC6962.root(leafHashes: leaves), "size \(i + 1)")
            // A frontier restored from its parts continues identically.
            let restored = try MerkleFrontier(size: f.size, nodes: f.nodes)
            #expect(restored == f)
        }
    }

    @Test func frontierInitChecksNodeCount() {
        #expect(errorCode { _ = try MerkleFrontier(size: 3, nodes: [testLeaf(0)]) } == "invalid_argument")
        #expect(errorCode { _ = try MerkleFrontier(size: 0, nodes: [testLeaf(0)]) } == "invalid_argument")
        #expect(errorCode { _ = try MerkleFrontier(size: 4, nodes: [testLeaf(0)]) } == nil)
    }

    @Test func onNewNodeReportsEveryPerfectSubtree() {
        var f = MerkleFrontier()
        var seen: [(Int, UInt64)] = []
        for i in 0..<8 {
            f.append(testLeaf(i)) { level, index, _ in seen.append((level, index)) }
        }
        let want: [(Int, UInt64)] = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0),
                                     (0, 4), (0, 5), (1, 2), (0, 6), (0, 7), (1, 3), (2, 1), (3, 0)]
        #expect(seen.map { "\($0.0)/\($0.1)" } == want.map { "\($0.0)/\($0.1)" })
    }

    @Test func failingCallbackLeavesFrontierUnchanged() {
        struct Stop: Error {}
        var f = MerkleFrontier()
        for i in 0..<7 { f.append(testLeaf(i)) }
        let before = f
        #expect(throws: Stop.self) {
            try f.append(testLeaf(7)) { level, _, _ in if level == 2 { throw Stop() } }
        }
        #expect(f == before)
    }

    /// Builds a tree of `n` leaves, storing every node the frontier reports.
    static func build(_ n: Int) -> (MerkleFrontier, DictionaryNodeSource, [MerkleHash], [MerkleHash]) {
        var f = MerkleFrontier()
        var src = DictionaryNodeSource()
        var leaves: [MerkleHash] = []
        var roots: [MerkleHash] = [f.root]
        for i in 0..<n {
            let h = testLeaf(i)
            leaves.append(h)
            f.append(h) { level, index, hash in
                src.nodes[.init(level: level, index: index)] = hash
            }
            roots.append(f.root)
        }
        return (f, src, leaves, roots)
    }

    @Test func nodeHashesMatchReferenceSubtrees() {
        let (_, src, leaves, _) = Self.build(64)
        for (key, hash) in src.nodes {
            let lo = Int(key.index) << key.level, hi = (Int(key.index) + 1) << key.level
            #expect(hash == RFC6962.root(leafHashes: Array(leaves[lo..<hi])))
        }
        #expect(src.nodes.count == 127)
    }

    @Test func inclusionProofsForEveryIndexAndSize() throws {
        let n = 200
        let (_, src, leaves, roots) = Self.build(n)
        var checked = 0
        for size in 1...n {
            #expect(try MerkleProofs.root(treeSize: UInt64(size), source: src) == roots[size])
            for index in 0..<size {
                let proof = try MerkleProofs.inclusionProof(index: UInt64(index), treeSize: UInt64(size), source: src)
                try RFC6962.verifyInclusion(leafHash: leaves[index], index: UInt64(index), treeSize: UInt64(size),
                                            proof: proof, root: roots[size])
                checked += 1
            }
        }
        #expect(checked == n * (n + 1) / 2)
        #expect(try MerkleProofs.root(treeSize: 0, source: src) == RFC6962.emptyRoot)
    }

    @Test func tamperedInclusionProofsAreRefused() throws {
        let n = 37
        let (_, src, leaves, roots) = Self.build(n)
        for size in [2, 5, 8, 13, 16, 37] {
            for index in 0..<size {
                let i = UInt64(index), s = UInt64(size)
                let proof = try MerkleProofs.inclusionProof(index: i, treeSize: s, source: src)
                let root = roots[size]
                func code(_ leaf: MerkleHash, _ i: UInt64, _ s: UInt64, _ p: [MerkleHash], _ r: MerkleHash) -> String? {
                    errorCode { try RFC6962.verifyInclusion(leafHash: leaf, index: i, treeSize: s, proof: p, root: r) }
                }
                #expect(code(leaves[index], i, s, proof, root) == nil)
                for j in proof.indices {
                    var p = proof
                    p[j] = p[j].flipping(bit: (j * 37) % 256)
                    #expect(code(leaves[index], i, s, p, root) == "bad_inclusion_proof")
                    var dropped = proof
                    dropped.remove(at: j)
                    #expect(code(leaves[index], i, s, dropped, root) == "bad_inclusion_proof")
                }
                #expect(code(leaves[index], i, s, proof + [root], root) == "bad_inclusion_proof")
                #expect(code(leaves[index].flipping(bit: 0), i, s, proof, root) == "bad_inclusion_proof")
                #expect(code(leaves[index], i, s, proof, root.flipping(bit: 255)) == "bad_inclusion_proof")
                let other = (index + 1) % size
                #expect(code(leaves[index], UInt64(other), s, proof, root) == "bad_inclusion_proof")
                #expect(code(leaves[index], s, s, proof, root) == "bad_inclusion_proof")
            }
        }
    }

    @Test func consistencyProofsForEveryPairOfSizes() throws {
        let n = 100
        let (_, src, _, roots) = Self.build(n)
        var checked = 0
        for size1 in 1...n {
            for size2 in size1...n {
                let proof = try MerkleProofs.consistencyProof(size1: UInt64(size1), size2: UInt64(size2), source: src)
                try RFC6962.verifyConsistency(size1: UInt64(size1), size2: UInt64(size2),
                                              root1: roots[size1], root2: roots[size2], proof: proof)
                checked += 1
            }
        }
        #expect(checked == n * (n + 1) / 2)
    }

    @Test func tamperedConsistencyProofsAreRefused() throws {
        let (_, src, _, roots) = Self.build(40)
        for (size1, size2) in [(1, 2), (3, 7), (4, 8), (5, 13), (6, 8), (7, 40), (16, 33), (31, 32)] {
            let s1 = UInt64(size1), s2 = UInt64(size2)
            let proof = try MerkleProofs.consistencyProof(size1: s1, size2: s2, source: src)
            func code(_ a: UInt64, _ b: UInt64, _ r1: MerkleHash, _ r2: MerkleHash, _ p: [MerkleHash]) -> String? {
                errorCode { try RFC6962.verifyConsistency(size1: a, size2: b, root1: r1, root2: r2, proof: p) }
            }
            #expect(code(s1, s2, roots[size1], roots[size2], proof) == nil)
            for j in proof.indices {
                var p = proof
                p[j] = p[j].flipping(bit: 100)
                #expect(code(s1, s2, roots[size1], roots[size2], p) == "bad_consistency_proof", "\(size1)->\(size2) [\(j)]")
                var dropped = proof
                dropped.remove(at: j)
                #expect(code(s1, s2, roots[size1], roots[size2], dropped) == "bad_consistency_proof")
            }
            #expect(code(s1, s2, roots[size1], roots[size2], proof + [roots[size1]]) == "bad_consistency_proof")
            #expect(code(s1, s2, roots[size2], roots[size1], proof) == "bad_consistency_proof")
            #expect(code(s1, s2, roots[size1].flipping(bit: 3), roots[size2], proof) == "bad_consistency_proof")
            #expect(code(s1 + 1, s2, roots[size1], roots[size2], proof) == "bad_consistency_proof")
        }
    }

    @Test func consistencyEdgeCases() {
        let a = testLeaf(1), b = testLeaf(2)
        func code(_ s1: UInt64, _ s2: UInt64, _ r1: MerkleHash, _ r2: MerkleHash, _ p: [MerkleHash]) -> String? {
            errorCode { try RFC6962.verifyConsistency(size1: s1, size2: s2, root1: r1, root2: r2, proof: p) }
        }
        #expect(code(0, 0, RFC6962.emptyRoot, RFC6962.emptyRoot, []) == nil)
        #expect(code(0, 0, a, a, []) == "bad_consistency_proof")
        #expect(code(0, 5, RFC6962.emptyRoot, a, [a]) == "bad_consistency_proof")
        #expect(code(5, 5, a, a, []) == nil)
        #expect(code(5, 5, a, b, []) == "bad_consistency_proof")
        #expect(code(5, 5, a, a, [a]) == "bad_consistency_proof")
        #expect(code(6, 5, a, a, [a]) == "bad_consistency_proof")
    }

    @Test func proofGeneratorRefusesBadArguments() {
        let (_, src, _, _) = Self.build(10)
        #expect(errorCode { _ = try MerkleProofs.inclusionProof(index: 10, treeSize: 10, source: src) } == "invalid_argument")
        #expect(errorCode { _ = try MerkleProofs.inclusionProof(index: 0, treeSize: 0, source: src) } == "invalid_argument")
        #expect(errorCode { _ = try MerkleProofs.consistencyProof(size1: 0, size2: 3, source: src) } == "invalid_argument")
        #expect(errorCode { _ = try MerkleProofs.consistencyProof(size1: 4, size2: 3, source: src) } == "invalid_argument")
        #expect((try? MerkleProofs.consistencyProof(size1: 4, size2: 4, source: src)) == [])
        // Nodes beyond the stored tree surface the source's error.
        #expect(throws: DictionaryNodeSource.Missing.self) { try MerkleProofs.root(treeSize: 11, source: src) }
    }
}
