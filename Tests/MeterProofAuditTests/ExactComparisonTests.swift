import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Product codes, nonces and other recorded values are compared by their bytes, as SQLite's
/// unique index and the export's scan compare them, never by Swift's canonical equivalence
/// ("caf\u{E9}" == "cafe\u{301}" in Swift).
@Suite struct ExactComparisonTests {
    static let composed = "caf\u{E9}"        // NFC: U+00E9
    static let decomposed = "cafe\u{301}"    // NFD: e + COMBINING ACUTE ACCENT

    @Test func spellingsAreDifferentBytesButEqualSwiftStrings() {
        // The premise of this suite: if Swift ever stops treating these as equal, the tests
        // below still hold, but this one says why they exist.
        #expect(Self.composed == Self.decomposed)
        #expect(!utf8Equal(Self.composed, Self.decomposed))
        #expect(ExactString(Self.composed) != ExactString(Self.decomposed))
        #expect(Set([ExactString(Self.composed), ExactString(Self.decomposed)]).count == 2)
        #expect(!utf8Equal("K", "\u{212A}"))
        #expect(utf8Equal(nil, nil) && !utf8Equal(nil, "") && !utf8Equal("", nil))
    }

    /// A trail with two accepted entries for the composed spelling and one for the decomposed
    /// one. A request's product code must match the RegisterUsage pattern (ASCII), so such codes
    /// reach a trail only through unbound verification (an imported bare token), which records
    /// the token's own claims.
    static func trail() throws -> (AuditTrail, NoteSigner, String) {
        let dir = try makeTempDir("exact")
        let signer = try NoteSigner.generate(name: "exact.test/log")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let verifier = Verifier(keyring: keyring, policy: .offline)
        let items = try [(composed, "n0"), (decomposed, "n1"), (composed, "n2")].enumerated().map { i, q in
            let r = Array(try sim.response(productCode: q.0, keyVersion: 1, nonce: q.1, issuedAt: 1).utf8)
            let hash = SHA256.hash(r)
            return AuditTrail.Pending(result: verifier.verifyUnbound(r), keyring: keyring, source: .import,
                                      capture: CaptureOrigin(file: "captures.jsonl", line: i + 1, hash: Hex.encode(hash), capturedAt: nil),
                                      captureHash: hash)
        }
        _ = try trail.append(items)
        _ = try trail.signCheckpoint(with: signer)
        return (trail, signer, dir)
    }

    @Test func filtersSelectOnlyTheSameBytes() throws {
        let (trail, _, _) = try Self.trail()
        let entries = try (0..<3).map { try trail.entry($0) }
        #expect(entries.allSatisfy { $0.isAccepted })
        #expect(entries.filter { EntryFilter(productCode: Self.composed).matches($0) }.map(\.seq) == [0, 2])
        #expect(entries.filter { EntryFilter(productCode: Self.decomposed).matches($0) }.map(\.seq) == [1])

        var stats = ReportStatistics(filter: EntryFilter())
        for e in entries { stats.add(e) }
        let products = stats.products.map { (Array($0.productCode!.utf8), $0.counts.total) }
        #expect(products.count == 2)
        #expect(products.contains { $0.0 == Array(Self.composed.utf8) && $0.1 == 2 })
        #expect(products.contains { $0.0 == Array(Self.decomposed.utf8) && $0.1 == 1 })
    }

    @Test func exportSelectsAndVerifiesByBytes() throws {
        let (trail, _, dir) = try Self.trail()
        let nfc = try trail.exportBundle(to: dir + "/nfc", options: ExportOptions(filter: EntryFilter(productCode: Self.composed)))
        let nfd = try trail.exportBundle(to: dir + "/nfd", options: ExportOptions(filter: EntryFilter(productCode: Self.decomposed)))
        #expect(nfc.manifest.counts.entries == 2 && nfd.manifest.counts.entries == 1)
        #expect(try bundleProblem(nfc.directory) == nil)
        #expect(try bundleProblem(nfd.directory) == nil)

        // A bundle that declares one spelling but holds the other's entries: the review's
        // forgery, which needs no key (the checkpoint and proofs are genuine).
        let copy = try BundleEdit.copy(nfc.directory)
        let manifest = String(decoding: try BundleEdit.read(copy, "manifest.json"), as: UTF8.self)
        let from = "\"productCode\": " + JSONText.quoted(Self.composed)
        #expect(manifest.contains(from))
        try BundleEdit.write(copy, "manifest.json", Array(manifest.replacingOccurrences(of: from, with: "\"productCode\": " + JSONText.quoted(Self.decomposed)).utf8))
        try BundleEdit.reseal(copy)
        let v = try BundleVerifier(directory: copy).verify()
        #expect(v.problemCode == "selection_mismatch", "\(v.problem ?? "sound")")
    }

    @Test func reasonCountsKeepSpellingsApart() throws {
        // A library may record its own reason codes; two spellings are two codes, in the
        // manifest as in the Python checker's dictionary.
        let dir = try makeTempDir("exact")
        let signer = try NoteSigner.generate(name: "exact.test/reasons")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        for (i, reason) in [Self.composed, Self.decomposed, Self.composed].enumerated() {
            var e = AuditEntry(rejected: .badSignature, message: "entry \(i)", source: .live, capture: nil)
            e.reason = reason
            _ = try trail.record(e)
        }
        let bundle = try trail.exportBundle(to: dir + "/b", options: ExportOptions(signer: signer))
        #expect(bundle.manifest.counts.exactByReason == [ExactString(Self.composed): 2, ExactString(Self.decomposed): 1])
        #expect(try bundleProblem(bundle.directory) == nil)
        let parsed = try BundleManifest(parsing: BundleEdit.read(bundle.directory, "manifest.json"))
        #expect(parsed.counts == bundle.manifest.counts)
        if Tools.python != nil {
            let r = try ExportInteropTests.pythonCheck(bundle.directory)
            #expect(r.status == 0 && r.output.hasPrefix("OK: 3 entries"), "\(r.output)")
        }
    }
}
