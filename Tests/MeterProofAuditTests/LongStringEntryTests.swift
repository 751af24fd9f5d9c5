import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Entry strings with escapes beyond the strict reader's default 64 KiB document limit (an
/// entry may be up to 1 MiB): whatever the trail records must read back, verify and export.
@Suite struct LongStringEntryTests {
    /// 70,000 characters ending in an escaped quote, plus `tag`.
    static func long(_ tag: String) -> String { String(repeating: "a", count: 70_000) + "\"" + tag }

    /// A genuine accepted entry, then the same token re-recorded with long escaped product
    /// code and nonce (accepted), and a rejected entry with a long fingerprint and message.
    func trailWithLongStrings() throws -> (AuditTrail, NoteSigner, String) {
        let dir = try makeTempDir("long")
        let signer = try NoteSigner.generate(name: "long.test/log")
        let trail = try AuditTrail.create(path: dir + "/trail.sqlite", signer: signer)
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
        let now = WallClock.nowSeconds()
        let response = try sim.response(productCode: "prod-l", keyVersion: 1, nonce: "nonce-l", issuedAt: now - 1)
        let result = Verifier(keyring: keyring, policy: .strict).verify(Array(response.utf8), expecting: RegisterUsageRequest(productCode: "prod-l", publicKeyVersion: 1, nonce: "nonce-l"), now: now)
        #expect(result.isAccepted)
        var accepted = AuditTrail.Pending(result: result, keyring: keyring, source: .live)
        _ = try trail.append([accepted])
        accepted.entry.productCode = Self.long("pc")
        accepted.entry.nonce = Self.long("nonce")
        var rejected = AuditEntry(rejected: .badSignature, message: Self.long("message"), source: .live, capture: nil)
        rejected.keyFingerprint = Self.long("fp")
        _ = try trail.append([accepted, AuditTrail.Pending(entry: rejected)])
        return (trail, signer, dir)
    }

    @Test func longEscapedStringsAreRecordedReadBackAndVerify() throws {
        let (trail, _, _) = try trailWithLongStrings()
        #expect(try trail.size() == 3)
        let e1 = try trail.entry(1)
        #expect(e1.isAccepted, "\(e1.reason ?? "") \(e1.message ?? "")")
        #expect(e1.productCode == Self.long("pc") && e1.nonce == Self.long("nonce"))
        let e2 = try trail.entry(2)
        #expect(e2.message == Self.long("message") && e2.keyFingerprint == Self.long("fp"))
        let v = try trail.verify()
        #expect(v.intact, "\(v.problem ?? "")")
        // The long nonce was consumed: the same entry again is a replay.
        var again = AuditTrail.Pending(entry: e1)
        again.entry.seq = 0
        guard case .recorded(let r) = try trail.append([again])[0] else { Issue.record("not recorded"); return }
        #expect(r.reason == ReasonCode.nonceReplayed.rawValue)
    }

    @Test func longEscapedStringsExportAndTheBundleVerifies() throws {
        let (trail, signer, dir) = try trailWithLongStrings()
        _ = try trail.signCheckpoint(with: signer)
        let out = dir + "/bundle"
        let s = try trail.exportBundle(to: out)
        #expect(s.manifest.counts.entries == 3)
        // Only the genuine key is bundled; the long fingerprint is a rejected entry's.
        #expect(s.keyFiles == 1)
        let lines = try BundleEdit.lines(out, "entries.jsonl")
        #expect(try lines.map { Array($0.dropLast()) } == (0..<3).map { try trail.entry($0).canonicalBytes() })
        // The forged long claims do not match the token: only the token check objects.
        #expect(try bundleProblem(out, checkTokens: false) == nil)
        #expect(try bundleProblem(out) == "claims_mismatch")
    }

    @Test func decodingCoversEveryLengthAnEntryAllows() {
        let text = String(repeating: "\\u0001", count: 150_000) + "\\\"end"
        let decoded = Array(text.utf8).withUnsafeBytes { AuditEntry.decodeCanonicalString($0) }
        #expect(decoded == String(repeating: "\u{01}", count: 150_000) + "\"end")
        // Plain content is taken as it stands, escapes or not, and a bad escape is refused.
        #expect(Array("plain".utf8).withUnsafeBytes { AuditEntry.decodeCanonicalString($0) } == "plain")
        #expect(Array("bad\\x".utf8).withUnsafeBytes { AuditEntry.decodeCanonicalString($0) } == nil)
    }
}
