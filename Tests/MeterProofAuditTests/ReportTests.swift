import CMeterProofSQLite
import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

// MARK: Helpers

/// A fresh directory for one report test, removed afterwards.
func withReportTempDir<T>(_ body: (String) throws -> T) throws -> T {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("meterproof-report-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(dir.path)
}

/// A string that breaks HTML if it is not escaped.
let reportHostile = "<script>alert(1)</script> & \"x\" 'y'"

/// An entry built directly, as a caller of `ReportStatistics.add` or `AuditTrail.append` may.
func reportEntry(seq: UInt64 = 0, at recordedAt: String = "", accepted: Bool, reason: String? = nil, message: String? = nil,
                 product: String? = "prod-a", version: Int64? = 1, fingerprint: String? = "fp1",
                 warnings: String? = nil, nonce: String? = nil) -> AuditEntry {
    var e = AuditEntry(rejected: .badSignature, message: "", source: .live, capture: nil)
    e.seq = seq
    e.recordedAt = recordedAt
    e.outcome = accepted ? "accepted" : "rejected"
    e.reason = accepted ? nil : (reason ?? "bad_signature")
    e.message = accepted ? nil : (message ?? "signature does not verify")
    e.binding = "bound"
    e.productCode = product
    e.publicKeyVersion = version
    e.keyFingerprint = fingerprint
    e.warnings = warnings
    e.nonce = nonce
    return e
}

/// The `<tr>` of the per-day table for `date`.
func dayRow(_ date: String, _ accepted: Int, _ rejected: Int) -> String {
    "<tr><td class=\"time\">\(date)</td><td class=\"n\">\(accepted)</td><td class=\"n\">\(rejected)</td><td class=\"n\">\(accepted + rejected)</td></tr>"
}

/// A minimal intact verification result for reports built from parts.
func intactVerification(entries: UInt64) -> TrailVerification {
    TrailVerification(entries: entries, checkpointsVerified: 0, firstBadSeq: nil, problemCode: nil, problem: nil, root: RFC6962.emptyRoot)
}

/// A report of `stats` without a trail behind it.
/// Its latest checkpoint covers `checkpointSize` entries (default: all of them).
func reportOf(_ stats: ReportStatistics, integrity: TrailVerification? = nil, checkpointSize: UInt64? = nil) -> ComplianceReport {
    let size = checkpointSize ?? stats.scanned
    let cp = size == 0 ? nil : ComplianceReport.CheckpointSummary(size: size, root: "AAAA", signedText: "example.com/log\n\(size)\nAAAA\n")
    var verdict = integrity ?? intactVerification(entries: stats.scanned)
    if integrity == nil { verdict.signedSize = size }
    return ComplianceReport(trailPath: "t.sqlite", origin: "example.com/log", logKey: "example.com/log+00000000+AQ==", trailSize: stats.scanned,
                     checkpointCount: cp == nil ? 0 : 1, latestCheckpoint: cp, integrity: verdict,
                     statistics: stats, generatedAt: "2026-01-01T00:00:00.000Z", generator: "meterproof test")
}

// MARK: Aggregation

@Suite struct ReportStatisticsTests {
    /// Three days, two products, three reasons, two keys, rotation warnings and one undated entry.
    static func sample() -> [AuditEntry] {
        [
            reportEntry(seq: 0, at: "2026-03-01T00:00:00.000Z", accepted: true, product: "prod-a"),
            reportEntry(seq: 1, at: "2026-03-01T23:59:59.999Z", accepted: false, reason: "bad_signature", product: "prod-a"),
            reportEntry(seq: 2, at: "2026-03-01T12:00:00.000Z", accepted: true, product: "prod-b", warnings: "key_rotation_due"),
            // 2026-03-02 is empty; 03-03 in another offset still counts on its UTC date.
            reportEntry(seq: 3, at: "2026-03-03T01:30:00+02:00", accepted: true, product: "prod-a"),  // 2026-03-02T23:30Z
            reportEntry(seq: 4, at: "2026-03-03T10:00:00.000Z", accepted: false, reason: "nonce_replayed", product: "prod-b"),
            reportEntry(seq: 5, at: "2026-03-03T11:00:00.000Z", accepted: false, reason: "nonce_replayed", product: "prod-b"),
            reportEntry(seq: 6, at: "2026-03-03T12:00:00.000Z", accepted: true, product: "prod-a", version: 2, fingerprint: "fp2",
                        warnings: "key_rotation_due,other_warning"),
            reportEntry(seq: 7, at: "2026-03-04T00:00:00.000Z", accepted: true, product: "prod-a", version: 2, fingerprint: "fp2",
                        warnings: "key_rotation_due"),
            reportEntry(seq: 8, at: "2026-03-04T00:00:01.000Z", accepted: false, reason: "malformed_token", product: nil, version: nil, fingerprint: nil),
            reportEntry(seq: 9, at: "not a time", accepted: true, product: "prod-a"),
        ]
    }

    static func stats(_ filter: EntryFilter = EntryFilter(), limits: ReportStatistics.Limits = .init()) -> ReportStatistics {
        var s = ReportStatistics(filter: filter, limits: limits)
        for e in sample() { s.add(e) }
        return s
    }

    @Test func countsPerOutcomeDayProductAndReason() {
        let s = Self.stats()
        #expect(s.scanned == 10)
        #expect(s.totals == OutcomeCounts(accepted: 6, rejected: 4))
        #expect(s.undated == 1)
        #expect(s.days.map(\.date) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"])
        #expect(s.days.map(\.counts) == [OutcomeCounts(accepted: 2, rejected: 1), OutcomeCounts(accepted: 1, rejected: 0),
                                         OutcomeCounts(accepted: 1, rejected: 2), OutcomeCounts(accepted: 1, rejected: 1)])
        // Per-day counts add up to the dated entries.
        #expect(s.days.reduce(0) { $0 + $1.counts.total } == s.totals.total - s.undated)
        #expect(s.products.map(\.productCode) == ["prod-a", "prod-b", nil])
        #expect(s.products.map(\.counts) == [OutcomeCounts(accepted: 5, rejected: 1), OutcomeCounts(accepted: 1, rejected: 2),
                                             OutcomeCounts(accepted: 0, rejected: 1)])
        #expect(s.reasons.map { "\($0.outcome)/\($0.reason ?? "-")=\($0.count)" }
                == ["accepted/-=6", "rejected/nonce_replayed=2", "rejected/bad_signature=1", "rejected/malformed_token=1"])
        #expect(s.firstRecordedAt == "2026-03-01T00:00:00.000Z")
        #expect(s.lastRecordedAt == "2026-03-04T00:00:01.000Z")
    }

    @Test func zeroFilledDayRangeForTheChart() {
        let s = Self.stats()
        #expect(s.dayRange().map(\.date) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"])
        var sparse = ReportStatistics()
        sparse.add(reportEntry(at: "2025-12-30T10:00:00Z", accepted: true))
        sparse.add(reportEntry(at: "2026-01-02T10:00:00Z", accepted: false))
        #expect(sparse.days.count == 2)
        #expect(sparse.dayRange().map(\.date) == ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"])
        #expect(sparse.dayRange().map(\.counts.total) == [1, 0, 0, 1])
        #expect(sparse.dayRange(limit: 2).map(\.date) == ["2026-01-01", "2026-01-02"])
        var early = ReportStatistics()
        early.add(reportEntry(at: "1969-12-31T23:59:59.999Z", accepted: true))
        #expect(early.days.map(\.date) == ["1969-12-31"])
    }

    @Test func keysAndRotationWarnings() {
        let s = Self.stats()
        #expect(s.keys.count == 2)
        let k1 = s.keys[0], k2 = s.keys[1]
        #expect(k1.version == 1 && k1.fingerprint == "fp1")
        #expect(k1.counts == OutcomeCounts(accepted: 4, rejected: 3))
        #expect(k1.firstSeen == "2026-03-01T00:00:00.000Z")
        #expect(k1.lastSeen == "2026-03-03T11:00:00.000Z")
        #expect(k1.firstSeq == 0 && k1.lastSeq == 9)
        #expect(k2.version == 2 && k2.counts == OutcomeCounts(accepted: 2, rejected: 0))
        #expect(k2.firstSeen == "2026-03-03T12:00:00.000Z" && k2.lastSeen == "2026-03-04T00:00:00.000Z")
        let rot = s.rotationWarnings
        #expect(rot.map(\.version) == [1, 2])
        #expect(rot.map(\.count) == [1, 2])
        #expect(rot[1].firstSeen == "2026-03-03T12:00:00.000Z" && rot[1].lastSeen == "2026-03-04T00:00:00.000Z" && rot[1].lastSeq == 7)
        #expect(s.warnings.map(\.code) == ["key_rotation_due", "other_warning"])
        #expect(s.warnings.map(\.count) == [3, 1])
    }

    @Test func selectionByWindowProductAndOutcome() {
        let since = RFC3339.parseMilliseconds("2026-03-01T12:00:00Z")!
        let until = RFC3339.parseMilliseconds("2026-03-03T11:00:00Z")!
        let s = Self.stats(EntryFilter(since: since, until: until))
        // seq 2 (since is inclusive), 3, 4; seq 5 is at `until` (exclusive); the undated entry is out.
        #expect(s.scanned == 10)
        #expect(s.totals == OutcomeCounts(accepted: 2, rejected: 2))
        #expect(s.undated == 0)
        #expect(s.rejectedListed.map(\.seq) == [1, 4])
        let p = Self.stats(EntryFilter(productCode: "prod-b"))
        #expect(p.totals == OutcomeCounts(accepted: 1, rejected: 2))
        #expect(p.products.map(\.productCode) == ["prod-b"])
        let r = Self.stats(EntryFilter(outcome: "rejected"))
        #expect(r.totals == OutcomeCounts(accepted: 0, rejected: 4))
        #expect(r.rejectedListed.map(\.seq) == [1, 4, 5, 8])
    }

    @Test func rejectedListAndBreakdownsAreCapped() {
        let s = Self.stats(limits: .init(rejectedListed: 2, distinctValues: 1, days: 2, textLength: 16))
        #expect(s.rejectedListed.map(\.seq) == [1, 4])
        #expect(s.rejectedNotListed == 2)
        // Entries that name a key by fingerprint (verified) are always tracked; only the
        // unverified claim (seq 8: no key, no product) falls into "other" past the limit.
        #expect(Set(s.products.map(\.productCode)) == ["prod-a", "prod-b"])
        #expect(s.otherProducts == OutcomeCounts(accepted: 0, rejected: 1))
        #expect(s.products.reduce(0) { $0 + $1.counts.total } + s.otherProducts.total == s.totals.total)
        #expect(s.reasons.count == 1 && s.otherReasons.total == 4)
        #expect(s.days.count == 2 && s.otherDays.total == 5)  // 03-03 and 03-04; one entry is undated
        #expect(s.keys.count == 2 && s.otherKeys.total == 0)
        // Messages are cut to the text limit.
        #expect(s.rejectedListed[0].message == "signature does …")

        let html = reportOf(s).renderHTML()
        #expect(html.contains("… and 2 more rejected attempts not listed (the first 2 are shown)."))
        #expect(html.contains("other product codes (beyond 1 tracked)"))
    }

    @Test("a flood of forged claims cannot push the real products and keys out of the tables")
    func forgedClaimsDoNotHideVerifiedValues() {
        var s = ReportStatistics(limits: .init(distinctValues: 3))
        for i in 0..<50 {
            s.add(reportEntry(seq: UInt64(i), at: "2026-03-01T00:00:00.000Z", accepted: false, reason: "bad_signature",
                              product: "junk-\(i)", version: Int64(100 + i), fingerprint: nil))
        }
        s.add(reportEntry(seq: 50, at: "2026-03-01T00:00:01.000Z", accepted: true, product: "prod-real", version: 1, fingerprint: "fp1"))
        s.add(reportEntry(seq: 51, at: "2026-03-01T00:00:02.000Z", accepted: false, reason: "nonce_replayed", product: "prod-real", version: 1, fingerprint: "fp1"))
        #expect(s.products.contains { $0.productCode == "prod-real" && $0.counts == OutcomeCounts(accepted: 1, rejected: 1) })
        #expect(s.products.count == 4 && s.otherProducts == OutcomeCounts(accepted: 0, rejected: 47))
        #expect(s.keys.contains { $0.fingerprint == "fp1" && $0.counts == OutcomeCounts(accepted: 1, rejected: 1) })
        #expect(s.keys.count == 4 && s.otherKeys == OutcomeCounts(accepted: 0, rejected: 47))
        let html = reportOf(s).renderHTML()
        #expect(html.contains("other key versions claimed by rejected tokens (beyond 3 tracked)</td><td class=\"n\">0</td><td class=\"n\">47</td><td class=\"n\">47</td>"))
    }

    @Test("invisible and bidirectional characters from the trail are shown, not obeyed")
    func invisibleCharactersAreVisible() {
        #expect(HTMLText.escape("prod-alpha\u{200B}") == "prod-alpha⟨U+200B⟩")
        #expect(HTMLText.escape("exe.\u{202E}gpj") == "exe.⟨U+202E⟩gpj")
        #expect(HTMLText.escape("\u{FEFF}a\u{2066}b\u{2069}\u{061C}") == "⟨U+FEFF⟩a⟨U+2066⟩b⟨U+2069⟩⟨U+061C⟩")
        // Every format character, tag characters and the Mongolian vowel separator included.
        #expect(HTMLText.escape("a\u{206A}\u{FFF9}\u{180E}\u{E0001}\u{E0041}\u{2028}\u{AD}") == "a⟨U+206A⟩⟨U+FFF9⟩⟨U+180E⟩⟨U+E0001⟩⟨U+E0041⟩⟨U+2028⟩⟨U+00AD⟩")
        #expect(HTMLText.escape("é ü 中 😀 <") == "é ü 中 😀 &lt;")
        // Spaces other than U+0020, default-ignorable code points and the blank Braille pattern
        // show as nothing too: a code ending in any of them looked exactly like `prod-alpha`.
        #expect(HTMLText.escape("prod-alpha\u{A0}|\u{FE0F}|\u{3164}|\u{2800}|\u{115F}|\u{FFA0}|\u{34F}|\u{2003}|\u{3000}")
                == "prod-alpha⟨U+00A0⟩|⟨U+FE0F⟩|⟨U+3164⟩|⟨U+2800⟩|⟨U+115F⟩|⟨U+FFA0⟩|⟨U+034F⟩|⟨U+2003⟩|⟨U+3000⟩")
        // In an identifier (a product code) every plain space is shown as well; in prose it is not.
        #expect(HTMLText.escape(" prod-alpha ", identifier: true) == "⟨U+0020⟩prod-alpha⟨U+0020⟩")
        #expect(HTMLText.escape("a b", identifier: false) == "a b")
    }

    @Test("text is cut by Unicode scalars, so combining marks cannot make a cut entry huge")
    func cutCountsScalars() {
        let zalgo = "a" + String(repeating: "\u{301}", count: 100_000)
        #expect(zalgo.count == 1)  // one character
        let cut = HTMLText.cut(zalgo, scalars: 500)
        #expect(cut.unicodeScalars.count == 500 && cut.hasSuffix("…"))
        #expect(HTMLText.cut("abcd", scalars: 4) == "abcd")
        #expect(HTMLText.cut("abcde", scalars: 4) == "abc…")
        #expect(HTMLText.cut("", scalars: 4) == "")
        // In the statistics (messages, product codes of rejected attempts) and in every product table.
        var s = ReportStatistics(limits: .init(textLength: 100))
        s.add(reportEntry(seq: 0, at: "2026-03-01T00:00:00.000Z", accepted: false, reason: "malformed_input", message: "x" + String(repeating: "\u{301}", count: 50_000),
                          product: "p" + String(repeating: "\u{301}", count: 50_000), version: nil, fingerprint: nil))
        #expect(s.rejectedListed[0].message!.unicodeScalars.count == 100)
        #expect(s.rejectedListed[0].productCode!.unicodeScalars.count == 100)
        let html = reportOf(s).renderHTML()
        #expect(html.utf8.count < 60_000, "\(html.utf8.count) bytes")
    }

    @Test func maxRejectedZeroCountsWhatItDoesNotList() {
        // `--max-rejected 0` lists none, but the selection has rejected attempts: the report
        // must say how many are left out, never "No rejected attempts".
        let s = Self.stats(limits: .init(rejectedListed: 0))
        #expect(s.rejectedListed.isEmpty)
        #expect(s.rejectedNotListed == 4)
        let html = reportOf(s).renderHTML()
        #expect(html.contains("<p class=\"callout info\">4 rejected attempts not listed (the report was asked to list none). <code>meterproof audit log --outcome rejected</code> lists them all.</p>"))
        #expect(!html.contains("No rejected attempts in the selection."))

        var one = ReportStatistics(limits: .init(rejectedListed: 0))
        one.add(reportEntry(seq: 0, at: "2026-03-01T00:00:00Z", accepted: false))
        #expect(reportOf(one).renderHTML().contains("<p class=\"callout info\">1 rejected attempt not listed (the report was asked to list none)."))
        // Nothing rejected in the selection: that is still what it says.
        #expect(reportOf(Self.stats(EntryFilter(outcome: "accepted"), limits: .init(rejectedListed: 0))).renderHTML()
                .contains("<p class=\"muted\">No rejected attempts in the selection.</p>"))
    }

    @Test func undecodableEntriesAreCountedApart() {
        var s = ReportStatistics()
        s.add(reportEntry(seq: 0, at: "2026-03-01T00:00:00Z", accepted: true))
        s.addUndecodable(seq: 1, message: "entry is not canonical JSON")
        s.addUndecodable(seq: 2, message: "again")
        #expect(s.undecodable == 2)
        #expect(s.firstUndecodable?.seq == 1)
        #expect(s.totals.total == 1)
        #expect(reportOf(s).renderHTML().contains("2 stored entries are not valid entries"))
    }
}

// MARK: Rendering

@Suite struct ReportHTMLTests {
    @Test func tablesShowTheAggregatedNumbers() {
        let html = reportOf(ReportStatisticsTests.stats()).renderHTML()
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.hasSuffix("</html>\n"))
        for (date, a, r) in [("2026-03-01", 2, 1), ("2026-03-02", 1, 0), ("2026-03-03", 1, 2), ("2026-03-04", 1, 1)] {
            #expect(html.contains(dayRow(date, a, r)), "day row \(date)")
        }
        #expect(html.contains("<tfoot><tr><th scope=\"row\">Total</th><td class=\"n\">5</td><td class=\"n\">4</td><td class=\"n\">9</td></tr></tfoot>"))
        #expect(html.contains("<tr><th scope=\"row\"><code class=\"wrap\">prod-a</code></th><td class=\"n\">5</td><td class=\"n\">1</td><td class=\"n\">6</td><td class=\"n\">83.3%</td></tr>"))
        #expect(html.contains("<tr><th scope=\"row\"><span class=\"muted\">(none)</span></th><td class=\"n\">0</td><td class=\"n\">1</td><td class=\"n\">1</td>"))
        #expect(html.contains("<code class=\"wrap\">nonce_replayed</code></td><td class=\"n\">2</td><td class=\"n\">20.0%</td>"))
        // The chart: one tooltip per day (the empty day too), bars and axis labels.
        #expect(html.contains("<title>2026-03-03: 3 attempts, 1 accepted, 2 rejected</title>"))
        #expect(html.contains("<title>2026-03-02: 1 attempt, 1 accepted, 0 rejected</title>"))
        #expect(html.contains(">Date recorded (UTC)</text>"))
        #expect(html.contains("class=\"acc\"") && html.contains("class=\"rej\""))
        // Rotation warnings by key version.
        #expect(html.contains("<tr><td class=\"n\">2</td><td class=\"n\">2</td><td class=\"time\">2026-03-03T12:00:00.000Z</td><td class=\"time\">2026-03-04T00:00:00.000Z</td><td class=\"n\">7</td></tr>"))
        #expect(html.contains("<code class=\"wrap\">other_warning</code>"))
        #expect(html.contains("1 selected entry has a <code>recordedAt</code> that is not an RFC 3339 time"))
    }

    @Test("a day's small rejected part keeps at least one unit of height beside a full accepted bar")
    func chartKeepsEveryNonZeroPartVisible() throws {
        var s = ReportStatistics()
        for i in 0..<99_999 { s.add(reportEntry(seq: UInt64(i), at: "2026-03-01T00:00:00.000Z", accepted: true)) }
        s.add(reportEntry(seq: 99_999, at: "2026-03-01T00:00:01.000Z", accepted: false, reason: "malformed_input"))
        let html = reportOf(s).renderHTML()
        let rej = try #require(html.range(of: "<rect class=\"rej\""))
        let tag = html[rej.lowerBound...].prefix { $0 != ">" }
        let height = try #require(tag.range(of: "height=\"")).upperBound
        let value = try #require(Double(tag[height...].prefix { $0 != "\"" }))
        #expect(value >= 1, "\(tag)")
    }

    @Test func selfContainedWithoutScripts() {
        let html = reportOf(ReportStatisticsTests.stats()).renderHTML().lowercased()
        #expect(!html.contains("<script"))
        #expect(!html.contains("<link"))
        #expect(!html.contains(" src="))
        #expect(!html.contains("url("))
        #expect(!html.contains("@import"))
        // The only URL is the SVG namespace name, which is never fetched; a content security
        // policy forbids fetching anything anyway.
        #expect(html.components(separatedBy: "http://").count - 1 == 1 && !html.contains("https://"))
        #expect(html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(html.contains("<meta http-equiv=\"content-security-policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"))
    }

    @Test func everyTrailStringIsEscaped() {
        var s = ReportStatistics(filter: EntryFilter(productCode: reportHostile))
        s.add(reportEntry(seq: 0, at: "2026-03-01T00:00:00Z", accepted: false, reason: reportHostile, message: reportHostile, product: reportHostile,
                          fingerprint: reportHostile, warnings: "key_rotation_due," + reportHostile))
        var r = reportOf(s, integrity: TrailVerification(entries: 0, checkpointsVerified: 0, firstBadSeq: 0, problemCode: reportHostile,
                                                         problem: reportHostile, root: RFC6962.emptyRoot))
        r.trailPath = reportHostile
        r.origin = reportHostile
        r.logKey = reportHostile
        r.latestCheckpoint = .init(size: 1, root: reportHostile, signedText: reportHostile)
        let html = r.renderHTML()
        #expect(!html.contains("<script"))
        #expect(!html.contains("\"x\""))
        #expect(!html.contains("'y'"))
        #expect(!html.contains("& \""))
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; &#39;y&#39;"
        // path (x3), origin (x2 + title), vkey, checkpoint root and text, selection (x2), problem code (x2)
        // and message (x2), product, reason, message, fingerprint, warning code.
        #expect(html.components(separatedBy: escaped).count - 1 >= 17)
    }

    @Test func escapingReplacesForbiddenCharacters() {
        #expect(HTMLText.escape("plain text") == "plain text")
        #expect(HTMLText.escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&#39;")
        var nonchars = "non"
        nonchars.unicodeScalars.append(Unicode.Scalar(0xFFFE)!)
        nonchars.unicodeScalars.append(Unicode.Scalar(0xFDD0)!)
        nonchars.unicodeScalars.append(Unicode.Scalar(0x10FFFF)!)
        #expect(HTMLText.escape("nul\u{0}bell\u{7}del\u{7F}c1\u{85}" + nonchars) == "nul\u{FFFD}bell\u{FFFD}del\u{FFFD}c1\u{FFFD}non\u{FFFD}\u{FFFD}\u{FFFD}")
        #expect(HTMLText.escape("tab\tnl\ncr\r é 日本 😀") == "tab\tnl\ncr\r é 日本 😀")
    }

    @Test func notIntactIsProminent() {
        let bad = TrailVerification(entries: 3, checkpointsVerified: 0, firstBadSeq: 3, problemCode: "leaf_hash_mismatch",
                                    problem: "entry 3: its bytes do not hash to the stored leaf hash (edited)", root: RFC6962.emptyRoot)
        let html = reportOf(ReportStatisticsTests.stats(), integrity: bad).renderHTML()
        #expect(html.contains("<section class=\"status bad\""))
        #expect(html.contains("Trail NOT intact"))
        #expect(html.contains("<code>leaf_hash_mismatch</code> at seq <strong>3</strong>"))
        #expect(!html.contains("Trail intact"))
        let good = reportOf(ReportStatisticsTests.stats()).renderHTML()
        #expect(good.contains("<section class=\"status ok\""))
        #expect(!good.contains("NOT intact"))
        // Intact, but entries beyond the latest checkpoint (or no checkpoint at all) are not
        // committed to by anything signed: the banner says so.
        let open = reportOf(ReportStatisticsTests.stats(), checkpointSize: 7).renderHTML()
        #expect(open.contains("<section class=\"status warn\""))
        #expect(open.contains("Trail intact, but 3 entries are not covered by a signed checkpoint"))
        #expect(open.contains("The latest checkpoint covers entries 0 to 6; the 3 after it are committed to by nothing signed yet"))
        let none = reportOf(ReportStatisticsTests.stats(), checkpointSize: 0).renderHTML()
        #expect(none.contains("Trail intact, but 10 entries are not covered by a signed checkpoint") && none.contains("No checkpoint is stored"))
    }

    @Test func emptySelectionRenders() {
        let html = reportOf(ReportStatistics()).renderHTML()
        #expect(html.contains("No dated entries in the selection."))
        #expect(html.contains("No rejected attempts in the selection."))
        #expect(html.contains("<div class=\"value\">—</div>"))
        #expect(!html.contains("<svg"))
    }

    @Test func numberFormatting() {
        #expect(ReportFormat.count(0) == "0")
        #expect(ReportFormat.count(999) == "999")
        #expect(ReportFormat.count(1000) == "1,000")
        #expect(ReportFormat.count(1234567) == "1,234,567")
        #expect(ReportFormat.percent(1, of: 3) == "33.3%")
        #expect(ReportFormat.percent(2, of: 3) == "66.7%")
        #expect(ReportFormat.percent(0, of: 0) == "—")
        // Neither none nor all never rounds to 0.0% or 100.0%.
        #expect(ReportFormat.percent(1, of: 100_000) == "<0.1%")
        #expect(ReportFormat.percent(99_999, of: 100_000) == ">99.9%")
        #expect(ReportFormat.percent(0, of: 100_000) == "0.0%")
        #expect(ReportFormat.percent(100_000, of: 100_000) == "100.0%")
        #expect(ReportFormat.percent(1, of: 1000) == "0.1%")
        #expect(ReportRenderer.niceStep(7) == 2)
        #expect(ReportRenderer.niceStep(1) == 1)
        #expect(ReportRenderer.niceStep(23) == 5)
        #expect(ReportRenderer.niceStep(1001) == 500)
    }
}
