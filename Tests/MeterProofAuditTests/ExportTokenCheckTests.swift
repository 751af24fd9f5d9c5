import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// `export verify` re-verifies the token of every accepted entry. A trail written by someone
/// who holds the log key can record anything as accepted; these bundles are consistent in
/// every other respect (hashes, root, checkpoint), so only the token check can catch them.
@Suite struct ExportTokenCheckTests {
    enum Forgery { case badSignature, otherNonce }

    /// A 40-entry trail of genuine accepted entries, except entry `forgedSeq`, forged as
    /// `kind`; checkpointed and exported as a full prefix. Returns the bundle directory.
    func forgedBundle(_ kind: Forgery, forgedSeq: Int) throws -> String {
        let (trail, dir) = try forgedTrail { n, item, response in
            guard n == forgedSeq else { return }
            switch kind {
            case .badSignature: item.entry.token = ExportFixture.tamperSignature(response)
            case .otherNonce: item.entry.nonce = "nonce-never-issued"
            }
        }
        let out = dir + "/bundle"
        _ = try trail.exportBundle(to: out)
        return out
    }

    /// 40 genuine accepted entries under key version 1, each passed to `forge` before it is
    /// recorded (with its index and the response it came from); checkpointed.
    func forgedTrail(_ forge: (Int, inout AuditTrail.Pending, String) -> Void) throws -> (AuditTrail, String) {
        let dir = try makeTempDir("forged")
        let signer = try NoteSigner.generate(name: "forged.test/log")
        let trail = try AuditTrail.create(path: dir + "/trail.sqlite", signer: signer)
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let verifier = Verifier(keyring: keyring, policy: .strict)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
        let now = WallClock.nowSeconds()
        var items: [AuditTrail.Pending] = []
        for n in 0..<40 {
            let response = try sim.response(productCode: "prod-f", keyVersion: 1, nonce: "nonce-\(n)", issuedAt: now - 1)
            let result = verifier.verify(Array(response.utf8), expecting: RegisterUsageRequest(productCode: "prod-f", publicKeyVersion: 1, nonce: "nonce-\(n)"), now: now)
            #expect(result.isAccepted)
            var item = AuditTrail.Pending(result: result, keyring: keyring, source: .live)
            forge(n, &item, response)
            items.append(item)
        }
        _ = try trail.append(items)
        _ = try trail.signCheckpoint(with: signer)
        return (trail, dir)
    }

    @Test func anEntryClaimingAnotherVersionForItsKeyIsRefusedAtExport() throws {
        // Entries 12 and 30 claim version 2 for the version-1 key: the export names the first.
        let (trail, dir) = try forgedTrail { n, item, _ in
            if n == 12 || n == 30 { item.entry.publicKeyVersion = 2 }
        }
        do {
            _ = try trail.exportBundle(to: dir + "/bundle")
            Issue.record("exported a trail whose entries claim two versions for one key")
        } catch {
            #expect(error.code == .keyVersionConflict)
            #expect(error.reason.contains("e.g. seq 12") && error.reason.contains("claim version 2"), "\(error.reason)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bundle"))
    }

    func verify(_ dir: String, checkTokens: Bool = true) throws -> BundleVerification {
        try BundleVerifier(directory: dir, checkTokens: checkTokens).verify()
    }

    @Test func aForgedSignatureIsNamedWithItsEntry() throws {
        let b = try forgedBundle(.badSignature, forgedSeq: 17)
        let v = try verify(b)
        #expect(v.problemCode == "token_invalid")
        #expect(v.problem?.contains("accepted entry 17") == true, "\(v.problem ?? "")")
        // Everything before it was checked and counted; nothing after it.
        #expect(v.tokensVerified == 17)
        // Without the token check the bundle is sound: the forgery is only in the signature.
        let lax = try verify(b, checkTokens: false)
        #expect(lax.problemCode == nil, "\(lax.problem ?? "")")
        #expect(lax.tokensVerified == 0 && lax.entries == 40)
    }

    @Test func recordedClaimsMustBeTheTokens() throws {
        let b = try forgedBundle(.otherNonce, forgedSeq: 3)
        let v = try verify(b)
        #expect(v.problemCode == "claims_mismatch")
        #expect(v.problem?.contains("accepted entry 3") == true && v.problem?.contains("nonce") == true, "\(v.problem ?? "")")
    }

    @Test func theFirstProblemInLineOrderIsNamedWhateverItsKind() throws {
        // A bad token on line 3 and a CSV row edited for line 30 (SHA256SUMS rewritten, as a
        // forger would): the token problem comes first in the file, so it is the one named.
        let b = try forgedBundle(.badSignature, forgedSeq: 2)
        var rows = try BundleEdit.csvRecords(b)
        rows[30] = Array(String(decoding: rows[30], as: UTF8.self).replacingOccurrences(of: "prod-f", with: "prod-g").utf8)
        try BundleEdit.write(b, "entries.csv", rows.flatMap { $0 })
        try BundleEdit.reseal(b)
        let v = try verify(b)
        #expect(v.problemCode == "token_invalid", "\(v.problem ?? "")")
        #expect(v.problem?.contains("accepted entry 2") == true)
        // Without the token check, the CSV edit is what is left to find.
        #expect(try verify(b, checkTokens: false).problemCode == "csv_mismatch")
    }
}
