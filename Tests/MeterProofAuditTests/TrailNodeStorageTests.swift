import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// The trail stores leaf hashes and every `nodeStride`-th level; everything else is recomputed.
@Suite("Trail subtree storage")
struct TrailNodeStorageTests {
    @Test("roots, inclusion and consistency proofs from stride storage match the reference tree for every size up to 300")
    func proofsFromStrideStorage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mp-stride-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = try NoteSigner.generate(name: "stride.test/log")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        var leaves: [MerkleHash] = []
        for i in 0..<300 {
            var e = AuditEntry(rejected: .malformedInput, message: "line \(i)", source: .import, capture: nil)
            e.productCode = "p\(i % 3)"
            let out = try trail.append([AuditTrail.Pending(entry: e)])
            guard case .recorded(let r) = out[0] else { Issue.record("not recorded"); return }
            leaves.append(RFC6962.leafHash(try r.canonicalBytes()))
        }
        for size in 1...300 {
            let expected = RFC6962.root(leafHashes: Array(leaves[0..<size]))
            #expect(try trail.root(size: UInt64(size)) == expected)
            for index in stride(from: 0, to: size, by: max(1, size / 9)) {
                let proof = try MerkleProofs.inclusionProof(index: UInt64(index), treeSize: UInt64(size), source: trail)
                try RFC6962.verifyInclusion(leafHash: leaves[index], index: UInt64(index), treeSize: UInt64(size), proof: proof, root: expected)
            }
            if size > 1 {
                let old = size / 2
                let proof = try trail.consistencyProof(from: UInt64(old), to: UInt64(size))
                try RFC6962.verifyConsistency(size1: UInt64(old), size2: UInt64(size), root1: RFC6962.root(leafHashes: Array(leaves[0..<old])), root2: expected, proof: proof)
            }
        }
        // Only levels 4, 8, … are in the nodes table: 300/16 + 300/256 rows.
        let count = try trail.db.prepare("SELECT count(*), min(level), max(level) FROM nodes")
        #expect(try count.step())
        #expect(count.int64(at: 0) == 300 / 16 + 300 / 256)
        #expect(count.int64(at: 1) == 4)
        #expect(count.int64(at: 2) == 8)
        #expect(try trail.verify().intact)
    }
}
