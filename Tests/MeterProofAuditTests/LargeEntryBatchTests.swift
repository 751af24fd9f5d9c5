import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Entries near the 1 MiB entry limit: `export`, `export verify` and `report` end their batches
/// at a byte budget as well as at a count, so a batch boundary falls wherever the bytes run out.
/// The results must be the same as with small entries.
@Suite struct LargeEntryBatchTests {
    @Test func exportVerifyAndReportAcrossByteBudgetBoundaries() throws {
        let dir = try makeTempDir("large-entries")
        let signer = try NoteSigner.generate(name: "large.test/log")
        let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
        // 40 entries of about 700 KB (28 MB): each budget (4 MiB for export, 16 MiB for export
        // verify and the report) is crossed several times, mid-way through the entries.
        let big = String(repeating: "x", count: 700_000)
        var items: [AuditTrail.Pending] = []
        for i in 0..<40 {
            var e = AuditEntry(rejected: .malformedInput, message: "\(i): \(big)", source: .live, capture: nil)
            e.productCode = i % 3 == 0 ? "prod-a" : "prod-b"
            items.append(AuditTrail.Pending(entry: e))
        }
        _ = try trail.append(items)
        _ = try trail.signCheckpoint(with: signer)
        #expect(40 * 700_000 > 4 * AuditTrail.exportBatchBytes && 40 * 700_000 > BundleVerifier.verifyBatchBytes)

        let full = try trail.exportBundle(to: dir + "/full")
        #expect(full.manifest.counts.entries == 40)
        let selection = try trail.exportBundle(to: dir + "/a", options: ExportOptions(filter: EntryFilter(productCode: "prod-a")))
        #expect(selection.manifest.counts.entries == 14 && selection.proofFiles == 14)
        for d in [full.directory, selection.directory] {
            let v = try BundleVerifier(directory: d, logKey: signer.verifier).verify()
            #expect(v.sound, "\(d): \(v.problem ?? "")")
        }
        let full2 = try BundleVerifier(directory: full.directory, logKey: signer.verifier).verify()
        #expect(full2.entries == 40 && full2.fullPrefix)
        // entries.jsonl holds every body in order, exactly.
        let jsonl = try Data(contentsOf: URL(fileURLWithPath: full.directory + "/entries.jsonl"))
        var expected: [UInt8] = []
        try trail.forEachEntry { _, body in expected += body; expected.append(0x0A) }
        #expect(Array(jsonl) == expected)

        let report = try ComplianceReport.build(trail: AuditTrail(path: dir + "/t.sqlite", readOnly: true))
        #expect(report.statistics.totals == OutcomeCounts(accepted: 0, rejected: 40))
        #expect(report.statistics.products.map(\.counts.total).sorted() == [14, 26])
        #expect(report.integrity.intact)
    }
}
