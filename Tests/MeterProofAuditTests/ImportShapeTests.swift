import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Every capture shape through `CaptureImporter`, and exactly what each one records.
@Suite struct ImportShapeTests {
    /// What one recorded entry must hold (besides the fields every import entry shares).
    struct Expect {
        var binding: String
        var nonce: String?
        var productCode = ImportFixture.productCode
        var version: Int64 = 1
        var iat: Int64? = ImportFixture.base
        var capturedAt: String?
        var warnings: String? = nil
        var fingerprint = ImportFixture.v1Fingerprint
        var token: String
    }

    @Test func everyShapeIsRecordedWithItsBindingClaimsAndCaptureOrigin() throws {
        let base = ImportFixture.base
        let t = ImportFixture.token
        let camel = try t("shape-camel", base, ImportFixture.productCode, 1, .camel)
        let pascal = try t("shape-pascal", base, ImportFixture.productCode, 2, .pascal)
        let stringVersion = try t("shape-string-version", base, ImportFixture.productCode, 1, .camel)
        let bare = try t("shape-bare", base, ImportFixture.productCode, 1, .camel)
        let boto = try t("shape-boto3", base, ImportFixture.productCode, 1, .camel)
        let envelope = try t("shape-envelope", base, ImportFixture.productCode, 1, .pascal)
        let jsonString = try t("shape-json-string", base, ImportFixture.productCode, 1, .camel)
        let plain = try t("shape-plain", base, ImportFixture.productCode, 1, .camel)
        let old = try t("shape-old", 1_700_000_000, ImportFixture.productCode, 1, .camel)  // 2023: stale by any clock
        let rotation = try t("shape-rotation", base, ImportFixture.productCode, 1, .camel)

        // capturedAt is kept exactly as written, whatever RFC 3339 spelling it uses.
        let at1 = "2026-11-02T00:00:05Z", at2 = "2026-11-02T01:00:03.250+01:00", at3 = "2026-11-02t00:01:00z"
        #expect(RFC3339.parseSeconds(at1) == base + 5 && RFC3339.parseSeconds(at2) == base + 3 && RFC3339.parseSeconds(at3) == base + 60)
        let lines = [
            ImportFixture.bound(camel, nonce: "shape-camel", capturedAt: at1),
            ImportFixture.bound(pascal, nonce: "shape-pascal", version: "2", capturedAt: at2, pascal: true),
            ImportFixture.bound(stringVersion, nonce: "shape-string-version", version: #""1""#, capturedAt: at1),
            ImportFixture.response(bare),
            #"{"Signature":"# + JSONText.quoted(boto) + #","PublicKeyRotationTimestamp":null,"ResponseMetadata":{"RequestId":"4c1e","HTTPStatusCode":200,"HTTPHeaders":{"content-type":"application/x-amz-json-1.1"},"RetryAttempts":0},"capturedAt":"# + JSONText.quoted(at3) + "}",
            #"{"RegisterUsageResult":"# + ImportFixture.response(envelope) + "}",
            JSONText.quoted(jsonString),
            plain,
            ImportFixture.bound(old, nonce: "shape-old", capturedAt: nil),
            ImportFixture.bound(rotation, nonce: "shape-rotation", capturedAt: at1, rotation: base + 30 * 86400),
        ]
        let expected: [Expect] = [
            Expect(binding: "bound", nonce: "shape-camel", capturedAt: at1, token: camel),
            Expect(binding: "bound", nonce: "shape-pascal", version: 2, capturedAt: at2, fingerprint: ImportFixture.v2Fingerprint, token: pascal),
            Expect(binding: "bound", nonce: "shape-string-version", capturedAt: at1, token: stringVersion),
            Expect(binding: "unbound", nonce: "shape-bare", token: bare),
            Expect(binding: "unbound", nonce: "shape-boto3", capturedAt: at3, token: boto),
            Expect(binding: "unbound", nonce: "shape-envelope", token: envelope),
            Expect(binding: "unbound", nonce: "shape-json-string", token: jsonString),
            Expect(binding: "unbound", nonce: "shape-plain", token: plain),
            Expect(binding: "bound", nonce: "shape-old", iat: 1_700_000_000, token: old),
            Expect(binding: "bound", nonce: "shape-rotation", capturedAt: at1, warnings: "key_rotation_due", token: rotation),
        ]

        let bed = try ImportBed()
        let file = bed.scratch.path("shapes.jsonl")
        let summary = try bed.run("shapes.jsonl", lines: lines)
        #expect(summary.digest == "lines=10 blank=0 recorded=10 dup=0 accepted=10 rejected=0 bound=5 unbound=5 reasons[] "
                + "warnings[key_rotation_due=1] seqs=0..9 size=10 interrupted=false")

        let entries = try bed.entries()
        try #require(entries.count == lines.count)
        for (i, (e, x)) in zip(entries, expected).enumerated() {
            #expect(e.seq == UInt64(i))
            #expect(e.source == .import)
            #expect(e.outcome == "accepted" && e.reason == nil && e.message == nil, "line \(i + 1): \(e.reason ?? "") \(e.message ?? "")")
            #expect(e.binding == x.binding, "line \(i + 1)")
            #expect(e.productCode == x.productCode)
            #expect(e.publicKeyVersion == x.version, "line \(i + 1)")
            #expect(e.nonce == x.nonce)
            #expect(e.issuedAt == x.iat, "line \(i + 1)")
            #expect(e.keyFingerprint == x.fingerprint, "line \(i + 1)")
            #expect(e.warnings == x.warnings, "line \(i + 1)")
            #expect(e.token == x.token, "line \(i + 1)")
            #expect(e.captureFile == file)
            #expect(e.captureLine == Int64(i + 1))
            #expect(e.capturedAt == x.capturedAt, "line \(i + 1)")
            #expect(e.captureHash == ImportFixture.hex(lines[i]), "line \(i + 1)")
            #expect(RFC3339.parseMilliseconds(e.recordedAt) != nil)
        }
        // Every accepted nonce is consumed; the two keys that verified are remembered.
        let raw = try TrailRaw.open(bed.trailPath)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces WHERE product_code = '\(ImportFixture.productCode)'") == 10)
        #expect(try bed.trail().recordedKeys().map(\.fingerprint) == [ImportFixture.v1Fingerprint, ImportFixture.v2Fingerprint])
        #expect(try bed.captureRows() == 0) // all ten accepted: found again through their nonces
        // What finds them: the nonce each line's token claims, read without verifying, is the
        // one its entry consumed, for every shape.
        for (i, e) in entries.enumerated() {
            let claimed = CaptureImporter.claimedNonce(Array(lines[i].utf8)[...])
            #expect(claimed?.productCode == e.productCode && claimed?.nonce == e.nonce, "line \(i + 1)")
        }
        let again = try bed.run(files: [file])
        #expect(again.duplicates == 10 && again.duplicatesSkippedVerification == 10 && again.recorded == 0)
        #expect(try bed.trail().verify().intact)
    }

    /// The same captures judged against the wrong request (or, unbound, by claim alone) show that
    /// bound captures really are bound, and that a bound capture's request key version selects the key.
    @Test func boundCapturesAreCheckedAgainstTheirRequest() throws {
        let base = ImportFixture.base
        let tok = try ImportFixture.token("bind-1")
        let v2tok = try ImportFixture.token("bind-2", version: 2)
        let at = ImportFixture.time(base + 5)
        let lines = [
            ImportFixture.bound(tok, nonce: "bind-1", productCode: "prod-other", capturedAt: at),     // product_code_mismatch
            ImportFixture.bound(tok, nonce: "bind-x", capturedAt: at),                                // nonce_mismatch
            ImportFixture.bound(tok, nonce: nil, capturedAt: at),                                     // token has a nonce, none sent
            ImportFixture.bound(v2tok, nonce: "bind-2", version: "1", capturedAt: at),                // v1 key chosen: wrong length
            ImportFixture.bound(tok, nonce: "bind-1", version: "0", capturedAt: at),                  // not a positive version
            ImportFixture.bound(tok, nonce: "bind-1", version: #""01""#, capturedAt: at),             // not canonical
            ImportFixture.bound(tok, nonce: "bind-1", version: "7", capturedAt: at),                  // no such key
            ImportFixture.bound(tok, nonce: "bind-1", capturedAt: at),                                // finally right
        ]
        let bed = try ImportBed()
        let summary = try bed.run("bind.jsonl", lines: lines)
        #expect(summary.digest == "lines=8 blank=0 recorded=8 dup=0 accepted=1 rejected=7 bound=6 unbound=2 "
                + "reasons[bad_signature=1,malformed_input=2,nonce_mismatch=2,product_code_mismatch=1,unknown_key_version=1] warnings[] "
                + "seqs=0..7 size=8 interrupted=false")
        let e = try bed.entries()
        #expect(e.map { $0.reason ?? "accepted" } == ["product_code_mismatch", "nonce_mismatch", "nonce_mismatch", "bad_signature",
                                                     "malformed_input", "malformed_input", "unknown_key_version", "accepted"])
        #expect(e.map(\.binding) == ["bound", "bound", "bound", "bound", "unbound", "unbound", "bound", "bound"])
        // A signature-verified rejection keeps the (verified) claims and the key; a forgery-like one does not.
        #expect(e[0].keyFingerprint == ImportFixture.v1Fingerprint && e[0].productCode == ImportFixture.productCode)
        #expect(e[3].keyFingerprint == nil && e[3].publicKeyVersion == 2)
        let file = bed.scratch.path("bind.jsonl")
        #expect(e[4].message == "\(file):5: capture request PublicKeyVersion 0 is not an integer from 1 to 2147483647")
        #expect(e[5].message == "\(file):6: capture request PublicKeyVersion \"01\" is not an integer from 1 to 2147483647 in canonical decimal")
        #expect(e[4].token == nil && e[4].productCode == nil && e[4].capturedAt == nil)
    }

    /// Go and .NET capture code writes `Request`, `Response` and `CapturedAt`. Such a line used
    /// to read as an envelope around its response: accepted as unbound, its request (here a
    /// wrong product and nonce) and its capture time (here 4000 s after issue) ignored.
    @Test func pascalCaseCaptureMembersAreBound() throws {
        let base = ImportFixture.base
        let tok = try ImportFixture.token("pascal-1")
        func pascalLine(product: String, nonce: String, at: Int64) -> String {
            ImportFixture.bound(tok, nonce: nonce, productCode: product, capturedAt: ImportFixture.time(at), pascal: true)
                .replacingOccurrences(of: #"{"request":"#, with: #"{"Request":"#)
                .replacingOccurrences(of: #","response":"#, with: #","Response":"#)
                .replacingOccurrences(of: #","capturedAt":"#, with: #","CapturedAt":"#)
        }
        let lines = [
            pascalLine(product: "prod-other", nonce: "pascal-1", at: base + 5),     // product_code_mismatch
            pascalLine(product: ImportFixture.productCode, nonce: "WRONG", at: base + 5),  // nonce_mismatch
            pascalLine(product: ImportFixture.productCode, nonce: "pascal-1", at: base + 4000),  // token_stale
            pascalLine(product: ImportFixture.productCode, nonce: "pascal-1", at: base + 5),     // accepted, bound
            // Both spellings of one member, and a spelling MeterProof does not read: refused, not unbound.
            #"{"request":{"productCode":"p","publicKeyVersion":1},"Request":{"productCode":"p","publicKeyVersion":1},"response":"x"}"#,
            #"{"REQUEST":{"productCode":"p","publicKeyVersion":1},"RESPONSE":{"Signature":"\#(tok)"}}"#,
            // A bound capture whose capture time is misspelled (found by fuzzing: it was ignored,
            // so a token issued 4000 s before its capture was accepted without a freshness check).
            pascalLine(product: ImportFixture.productCode, nonce: "pascal-1", at: base + 4000)
                .replacingOccurrences(of: #","CapturedAt":"#, with: #","capturedat":"#),
            pascalLine(product: ImportFixture.productCode, nonce: "pascal-1", at: base + 4000)
                .replacingOccurrences(of: #","CapturedAt":"#, with: #","captured_at":"#),
            pascalLine(product: ImportFixture.productCode, nonce: "pascal-1", at: base + 5)
                .replacingOccurrences(of: #","CapturedAt":"#, with: #","Response ":{},"CapturedAt":"#),
        ]
        let bed = try ImportBed()
        _ = try bed.run("pascal.jsonl", lines: lines)
        let e = try bed.entries()
        #expect(e.map { $0.reason ?? "accepted" } == ["product_code_mismatch", "nonce_mismatch", "token_stale", "accepted", "malformed_input", "malformed_input",
                                                     "malformed_input", "malformed_input", "malformed_input"])
        #expect(e.prefix(4).allSatisfy { $0.binding == "bound" })
        #expect(e[3].capturedAt == ImportFixture.time(base + 5))
        let file = bed.scratch.path("pascal.jsonl")
        #expect(e[4].message == "\(file):5: capture carries both \"request\" and \"Request\"")
        #expect(e[5].message == "\(file):6: capture member \"REQUEST\" is not a spelling MeterProof reads (request or Request, response or Response, capturedAt or CapturedAt); it would be ignored, and the capture judged unbound")
        let spellings = "is not a spelling MeterProof reads (request or Request, response or Response, capturedAt or CapturedAt); it would be ignored, and"
        #expect(e[6].message == "\(file):7: capture member \"capturedat\" \(spellings) the capture judged without its capture time (no freshness check)")
        #expect(e[7].message == "\(file):8: capture member \"captured_at\" \(spellings) the capture judged without its capture time (no freshness check)")
        #expect(e[8].message == "\(file):9: capture member \"Response \" \(spellings) the capture judged on its other members")
    }
}

/// A key on a published test key's modulus with another exponent (anyone can make one from the
/// published primes) is a test key to the import's warning too, not only to `Keyring.load`.
@Suite struct ImportTestKeySiblingTests {
    @Test(.enabled(if: Tools.python != nil, "python3 with cryptography is not installed"))
    func aKeyOnATestKeysModulusIsCountedAsATestKey() throws {
        let python = try #require(Tools.python)
        let s = try TrailScratch("sibling")
        let script = try s.write("sibling.py", """
            import sys
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None).private_numbers()
            p, q, e = k.p, k.q, 65539
            d = pow(e, -1, (p - 1) * (q - 1))
            key = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q)).private_key()
            open(sys.argv[2], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            """)
        let pemPath = s.path("sibling.key.pem")
        let r = try runProcess(python, [script, TrailPaths.testKeys + "/private/v1.key.pem", pemPath])
        try #require(r.status == 0, "\(r.output)")
        let sibling = try RSAPrivateKey(pem: try String(contentsOfFile: pemPath, encoding: .utf8))
        let siblingPublic = try sibling.publicKey
        #expect(siblingPublic.fingerprint != ImportFixture.v1Fingerprint && siblingPublic.isMeterProofTestKey)
        let keys = s.path("keys")
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: false)
        _ = try s.write("keys/v1.pem", siblingPublic.pem)
        let keyring = try Keyring.load(from: keys, allowingTestKeys: true)
        let token = try ResponseSimulator(signingKey: sibling).token(payload: ResponseSimulator.payload(
            productCode: ImportFixture.productCode, keyVersion: 1, nonce: "sib-1", issuedAt: ImportFixture.base, spelling: .camel))
        let bed = try ImportBed("sibling")
        let file = try bed.scratch.write("c.jsonl", ImportFixture.file([
            ImportFixture.bound(token, nonce: "sib-1", capturedAt: ImportFixture.time(ImportFixture.base + 5))]))
        let summary = try CaptureImporter(trailPath: bed.trailPath, keyring: keyring, policy: .strict, jobs: 1).run(files: [file])
        #expect(summary.accepted == 1 && summary.testKeyAccepted == 1, "\(summary)")
    }
}
