import MeterProof

extension ComplianceReport {
    /// The report as one self-contained HTML5 document: inline CSS, an inline SVG chart, no
    /// scripts and no external resources, laid out for screen and for print (A4). Every
    /// string that comes from the trail is HTML-escaped.
    public func renderHTML() -> String {
        var r = ReportRenderer(report: self)
        return r.render()
    }
}

/// Builds the HTML text of a ``ComplianceReport``.
struct ReportRenderer {
    let report: ComplianceReport
    var out = ""

    init(report: ComplianceReport) {
        self.report = report
        out.reserveCapacity(64 * 1024 + report.statistics.rejectedListed.count * 400)
    }

    private var stats: ReportStatistics { report.statistics }

    /// Escaped text.
    private func e(_ s: String) -> String { HTMLText.escape(s) }
    private func n<I: BinaryInteger>(_ v: I) -> String { ReportFormat.count(v) }
    private func time(_ ms: Int64) -> String { RFC3339.format(milliseconds: ms) }
    /// A possibly absent value: escaped, or a muted dash.
    private func opt(_ s: String?, code: Bool = false) -> String {
        guard let s else { return "<span class=\"muted\">—</span>" }
        return code ? "<code class=\"wrap\">\(e(s))</code>" : "<span class=\"wrap\">\(e(s))</span>"
    }
    /// A key fingerprint; 64 hex digits break in the middle rather than anywhere.
    private func fingerprint(_ fp: String?) -> String {
        guard let fp else { return "<span class=\"muted\">—</span>" }
        if fp.utf8.count == 64 && fp.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            return "<code class=\"fp\">\(fp.prefix(32))<wbr>\(fp.suffix(32))</code>"
        }
        return "<code class=\"wrap\">\(e(fp))</code>"
    }
    /// A product code, spaces and invisible characters written out, cut to the report's text
    /// length (a forged token's code can be of any length).
    private func product(_ p: String?) -> String {
        guard let p else { return "<span class=\"muted\">(none)</span>" }
        return "<code class=\"wrap\">\(HTMLText.escape(HTMLText.cut(p, scalars: stats.limits.textLength), identifier: true))</code>"
    }

    mutating func render() -> String {
        head()
        out += "<body>\n<main>\n"
        header()
        statusBanner()
        testKeyCallout()
        summaryCards()
        trailSection()
        integritySection()
        selectionSection()
        outcomeSection()
        dailySection()
        productSection()
        reasonSection()
        rejectedSection()
        keySection()
        rotationSection()
        footer()
        out += "</main>\n</body>\n</html>\n"
        return out
    }

    // MARK: Document head

    private mutating func head() {
        out += """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <meta name="generator" content="\(e(report.generator))">
        <title>MeterProof compliance report — \(e(report.origin))</title>
        <style>
        \(Self.css)
        </style>
        </head>

        """
    }

    static let css = """
    :root { --ink: #1b2230; --muted: #5d6678; --line: #dde2ea; --panel: #f5f7fa; --accent: #1f4e79;
      --ok: #17693c; --ok-bg: #e9f6ef; --ok-line: #a6d8bb; --bad: #b42318; --bad-bg: #fdeceb; --bad-line: #f2aca5;
      --warn: #8a5a00; --warn-bg: #fff7e3; --acc: #2f6f9f; --rej: #d0603e; }
    * { box-sizing: border-box; }
    html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
    body { margin: 0; background: #e9edf2; color: var(--ink);
      font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; }
    main { max-width: 1060px; margin: 24px auto; background: #fff; padding: 36px 48px 28px; box-shadow: 0 1px 4px rgba(20, 30, 50, .12); }
    header.report { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 20px; }
    .brand { font-size: 12px; letter-spacing: .14em; text-transform: uppercase; color: var(--accent); font-weight: 700; }
    h1 { font-size: 26px; margin: 2px 0 10px; font-weight: 650; }
    h2 { font-size: 17px; margin: 30px 0 10px; padding-bottom: 5px; border-bottom: 1px solid var(--line); font-weight: 650; }
    h2 .no { color: var(--muted); font-weight: 500; margin-right: 8px; }
    h3 { font-size: 14px; margin: 16px 0 6px; }
    p { margin: 6px 0 10px; }
    dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; font-size: 13px; }
    dl.meta dt { color: var(--muted); }
    dl.meta dd { margin: 0; min-width: 0; }
    code, pre, .mono { font-family: "SFMono-Regular", Menlo, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace; font-size: 12px; }
    .wrap { overflow-wrap: anywhere; word-break: break-word; }
    .muted { color: var(--muted); }
    .status { border: 1px solid; border-radius: 8px; padding: 14px 18px; margin: 0 0 22px; display: flex; gap: 16px; align-items: flex-start; }
    .status.ok { background: var(--ok-bg); border-color: var(--ok-line); }
    .status.bad { background: var(--bad-bg); border-color: var(--bad-line); border-width: 2px; }
    .status.warn { background: var(--warn-bg); border-color: #d9a23a; }
    .status.warn .icon { background: #b7791f; }
    .status.warn .verdict { color: #8a5a00; }
    .status .icon { flex: none; width: 38px; height: 38px; border-radius: 50%; color: #fff; font-size: 22px; font-weight: 700;
      display: flex; align-items: center; justify-content: center; }
    .status.ok .icon { background: var(--ok); }
    .status.bad .icon { background: var(--bad); }
    .status .verdict { display: block; font-size: 18px; font-weight: 700; }
    .status.ok .verdict { color: var(--ok); }
    .status.bad .verdict { color: var(--bad); }
    .status p { margin: 4px 0 0; }
    .cards { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; }
    .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
    .card .label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; font-weight: 600; }
    .card .value { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; line-height: 1.3; }
    .card.accepted .value { color: var(--acc); }
    .card.rejected .value { color: var(--rej); }
    .card.warning .value { color: var(--warn); }
    table { width: 100%; border-collapse: collapse; font-size: 13px; margin: 8px 0 4px; }
    th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
    code.fp { font-size: 11.5px; }
    thead th { white-space: nowrap; background: var(--panel); color: var(--muted); font-size: 11px; font-weight: 650; text-transform: uppercase;
      letter-spacing: .04em; border-bottom: 2px solid var(--line); }
    tbody th { font-weight: 500; }
    .n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
    tfoot th, tfoot td { font-weight: 650; border-top: 2px solid var(--line); border-bottom: none; }
    tr.other td, tr.other th { color: var(--muted); font-style: italic; }
    table.kv th { width: 210px; color: var(--muted); font-weight: 500; }
    .note { color: var(--muted); font-size: 12.5px; }
    .callout { border-left: 4px solid; padding: 8px 14px; margin: 10px 0; border-radius: 0 6px 6px 0; }
    .callout.warn { background: var(--warn-bg); border-color: #d9a23a; }
    .callout.bad { background: var(--bad-bg); border-color: var(--bad); }
    .callout.info { background: var(--panel); border-color: var(--accent); }
    .tag-bad { color: var(--bad); white-space: nowrap; }
    pre.signed { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin: 6px 0;
      white-space: pre-wrap; overflow-wrap: anywhere; }
    .pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
    .pill.accepted { background: #e2eef8; color: var(--acc); }
    .pill.rejected { background: #fbe8e2; color: #a8442a; }
    .legend { display: flex; gap: 18px; font-size: 12.5px; color: var(--muted); margin: 4px 0 2px; }
    .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 6px; }
    figure { margin: 6px 0 10px; }
    svg.chart { display: block; width: 100%; height: auto; }
    svg.chart text { font-family: inherit; font-size: 11px; fill: var(--muted); }
    svg.chart .grid { stroke: var(--line); stroke-width: 1; }
    svg.chart .axis { stroke: #8a93a3; stroke-width: 1; }
    svg.chart .acc { fill: var(--acc); }
    svg.chart .rej { fill: var(--rej); }
    svg.chart .hit { fill: transparent; }
    svg.chart g.day:hover .hit { fill: rgba(31, 78, 121, .07); }
    svg.chart text.axis-title { font-size: 12px; fill: var(--ink); }
    footer { margin-top: 34px; padding-top: 10px; border-top: 1px solid var(--line); font-size: 12px; color: var(--muted); }
    @media screen and (max-width: 760px) { main { padding: 20px; } .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
    @media print {
      body { background: #fff; font-size: 10.5pt; }
      main { box-shadow: none; margin: 0; padding: 0; max-width: none; }
      .card { padding: 8px 10px; }
      .card .value { font-size: 20px; }
      h2 { break-after: avoid; }
      tr, .card, .status, figure, pre.signed, .callout { break-inside: avoid; }
      thead { display: table-header-group; }
      svg.chart g.day:hover .hit { fill: transparent; }
    }
    @page { size: A4; margin: 14mm 12mm; }
    """

    // MARK: Header, banner, cards

    private mutating func header() {
        out += """
        <header class="report">
        <div class="brand">MeterProof</div>
        <h1>Compliance report</h1>
        <dl class="meta">
        <dt>Log</dt><dd><code class="wrap">\(e(report.origin))</code></dd>
        <dt>Trail file</dt><dd><code class="wrap">\(e(report.trailPath))</code></dd>
        <dt>Selection</dt><dd>\(selectionSummary())</dd>
        <dt>Generated</dt><dd>\(e(report.generatedAt)) by \(e(report.generator))</dd>
        </dl>
        </header>

        """
    }

    private func selectionSummary() -> String {
        let f = report.filter
        if f.selectsAll { return "every entry in the trail" }
        var parts: [String] = []
        if let s = f.since { parts.append("recorded at or after \(e(time(s)))") }
        if let u = f.until { parts.append("recorded before \(e(time(u)))") }
        if let p = f.productCode { parts.append("product code \(product(p))") }
        if let o = f.outcome { parts.append("\(e(o)) only") }
        return "entries " + parts.joined(separator: ", ")
    }

    private mutating func statusBanner() {
        let v = report.integrity
        // Intact rows prove nothing about entries no signed checkpoint covers: whoever can write
        // the file could have replaced them wholesale. Say so on the banner, not only below.
        let covered = v.signedSize
        if v.intact && covered < v.entries {
            let open = v.entries - covered
            out += """
            <section class="status warn" id="status" aria-label="Integrity status">
            <div class="icon" aria-hidden="true">!</div>
            <div><strong class="verdict">Trail intact, but \(n(open)) entr\(open == 1 ? "y is" : "ies are") not covered by a signed checkpoint</strong>
            <p>\(n(v.entries)) entr\(v.entries == 1 ? "y" : "ies") and \(n(v.checkpointsVerified)) signed checkpoint\(v.checkpointsVerified == 1 ? "" : "s") re-verified: every stored hash and signature matches. \(covered == 0 ? "No checkpoint is stored, so nothing signed commits to any of this history" : "The latest checkpoint covers entries 0 to \(n(covered - 1)); the \(n(open)) after it are committed to by nothing signed yet") (sign one with <code>meterproof audit checkpoint</code> and keep a copy elsewhere).</p></div>
            </section>

            """
        } else if v.intact {
            out += """
            <section class="status ok" id="status" aria-label="Integrity status">
            <div class="icon" aria-hidden="true">✓</div>
            <div><strong class="verdict">Trail intact</strong>
            <p>\(n(v.entries)) entr\(v.entries == 1 ? "y" : "ies") and \(n(v.checkpointsVerified)) signed checkpoint\(v.checkpointsVerified == 1 ? "" : "s") re-verified: every stored hash and signature matches.</p></div>
            </section>

            """
        } else {
            out += """
            <section class="status bad" id="status" aria-label="Integrity status">
            <div class="icon" aria-hidden="true">✗</div>
            <div><strong class="verdict">Trail NOT intact: tampering or damage detected</strong>
            <p><code>\(e(v.problemCode ?? "unknown"))</code>\(v.firstBadSeq.map { " at seq <strong>\(n($0))</strong>" } ?? ""): \(e(v.problem ?? ""))</p>
            <p>The figures below are computed from the rows as they are now stored; they cannot be relied on\(v.firstBadSeq.map { " from seq \(n($0)) on" } ?? "").</p></div>
            </section>

            """
        }
    }

    private mutating func summaryCards() {
        let t = stats.totals
        let rotation = stats.rotationWarnings.reduce(0) { $0 + $1.count }
        out += """
        <section class="cards" aria-label="Summary">
        <div class="card"><div class="label">Selected attempts</div><div class="value">\(n(t.total))</div></div>
        <div class="card accepted"><div class="label">Accepted</div><div class="value">\(n(t.accepted))</div></div>
        <div class="card rejected"><div class="label">Rejected</div><div class="value">\(n(t.rejected))</div></div>
        <div class="card"><div class="label">Acceptance rate</div><div class="value">\(ReportFormat.percent(t.accepted, of: t.total))</div></div>
        <div class="card\(rotation > 0 ? " warning" : "")"><div class="label">Rotation warnings</div><div class="value">\(n(rotation))</div></div>
        </section>

        """
    }

    private mutating func h2(_ no: Int, _ title: String, id: String) {
        out += "<section id=\"\(id)\">\n<h2><span class=\"no\">\(no)</span>\(title)</h2>\n"
    }

    // MARK: 1. Trail and checkpoint

    private mutating func trailSection() {
        h2(1, "Trail and latest checkpoint", id: "trail")
        out += """
        <table class="kv">
        <tbody>
        <tr><th scope="row">Trail file</th><td><code class="wrap">\(e(report.trailPath))</code></td></tr>
        <tr><th scope="row">Log origin</th><td><code class="wrap">\(e(report.origin))</code></td></tr>
        <tr><th scope="row">Log verifier key (vkey)</th><td><code class="wrap">\(e(report.logKey))</code></td></tr>
        <tr><th scope="row">Entries recorded</th><td>\(n(report.trailSize))</td></tr>
        <tr><th scope="row">Signed checkpoints</th><td>\(n(report.checkpointCount))</td></tr>

        """
        if let cp = report.latestCheckpoint {
            out += """
            <tr><th scope="row">Latest checkpoint size</th><td>\(n(cp.size)) entries</td></tr>
            <tr><th scope="row">Latest checkpoint root</th><td><code class="wrap">\(e(cp.root))</code></td></tr>
            </tbody>
            </table>
            <h3>Latest signed checkpoint</h3>
            <pre class="signed">\(e(cp.signedText))</pre>

            """
            if cp.size < report.trailSize {
                let k = report.trailSize - cp.size
                out += "<p class=\"callout info\">\(n(k)) entr\(k == 1 ? "y was" : "ies were") recorded after this checkpoint and \(k == 1 ? "is" : "are") not yet covered by a signature; sign a new one with <code>meterproof audit checkpoint</code>.</p>\n"
            }
        } else {
            out += "</tbody>\n</table>\n"
            if report.checkpointProblem == nil {
                out += "<p class=\"callout warn\">No checkpoint is stored, so nothing signed commits to this trail's history. Sign one with <code>meterproof audit checkpoint</code> and keep a copy outside the trail.</p>\n"
            }
        }
        if let p = report.checkpointProblem {
            out += "<p class=\"callout bad\">The stored checkpoints could not be read: \(e(p))</p>\n"
        }
        out += "</section>\n\n"
    }

    // MARK: 2. Integrity

    /// What the integrity check found of the signer record.
    private func recordVerdict(_ v: TrailVerification) -> String {
        if let size = v.recordSize { return "the trail extends it (size \(n(size)))" }
        if v.problemCode?.hasPrefix("record_") == true { return "<strong>the trail does not extend it</strong> (see the problem above)" }
        return "<span class=\"muted\">\(v.intact ? "none checked" : "not checked (the trail failed an earlier check)")</span>"
    }

    private mutating func integritySection() {
        let v = report.integrity
        h2(2, "Integrity", id: "integrity")
        out += """
        <table class="kv">
        <tbody>
        <tr><th scope="row">Result</th><td>\(v.intact ? "<strong class=\"pill accepted\">intact</strong>" : "<strong class=\"pill rejected\">NOT intact</strong>")</td></tr>

        """
        if !v.intact {
            out += """
            <tr><th scope="row">Problem code</th><td><code>\(e(v.problemCode ?? "unknown"))</code></td></tr>
            <tr><th scope="row">First bad seq</th><td>\(v.firstBadSeq.map { n($0) } ?? "<span class=\"muted\">not pinned to one entry</span>")</td></tr>
            <tr><th scope="row">Message</th><td class="wrap">\(e(v.problem ?? ""))</td></tr>
            <tr><th scope="row">Entries verified before the problem</th><td>\(n(v.entries))</td></tr>

            """
        } else {
            out += """
            <tr><th scope="row">Entries verified</th><td>\(n(v.entries))</td></tr>
            <tr><th scope="row">Recomputed root</th><td><code class="wrap">\(e(v.root.base64))</code></td></tr>

            """
        }
        out += """
        <tr><th scope="row">Checkpoints verified</th><td>\(n(v.checkpointsVerified)) of \(n(report.checkpointCount))</td></tr>
        <tr><th scope="row">Signer record</th><td>\(recordVerdict(v))</td></tr>
        </tbody>
        </table>
        <p class="note">Checked when this report was generated, as by <code>meterproof audit verify</code>: SQLite's integrity check; every checkpoint's Ed25519 signature and root; each entry's canonical form, sequence number and leaf hash; every stored subtree hash; the stored keys and the nonce table; then that the trail extends the signer record (the newest checkpoint its log key signed, kept beside the key), when there is one. A trail replaced wholesale with a consistent forgery passes these checks; compare with a checkpoint kept elsewhere (<code>meterproof audit verify --against</code>) to rule that out.</p>

        """
        if stats.undecodable > 0 {
            let first = stats.firstUndecodable
            out += "<p class=\"callout bad\">\(n(stats.undecodable)) stored entr\(stats.undecodable == 1 ? "y is not a valid entry" : "ies are not valid entries") and \(stats.undecodable == 1 ? "is" : "are") left out of every count below\(first.map { " (first: seq \(n($0.seq)): \(e($0.message)))" } ?? "").</p>\n"
        }
        out += "</section>\n\n"
    }

    // MARK: 3. Selection

    private mutating func selectionSection() {
        let f = report.filter
        h2(3, "Selection", id: "selection")
        out += """
        <table class="kv">
        <tbody>
        <tr><th scope="row">Recorded at or after</th><td>\(f.since.map { e(time($0)) } ?? "<span class=\"muted\">the first entry</span>")</td></tr>
        <tr><th scope="row">Recorded before</th><td>\(f.until.map { e(time($0)) } ?? "<span class=\"muted\">no limit</span>")</td></tr>
        <tr><th scope="row">Product code</th><td>\(f.productCode.map { product($0) } ?? "<span class=\"muted\">all</span>")</td></tr>
        <tr><th scope="row">Outcome</th><td>\(f.outcome.map { e($0) } ?? "<span class=\"muted\">accepted and rejected</span>")</td></tr>
        <tr><th scope="row">Entries read / selected</th><td>\(n(stats.scanned)) / \(n(stats.totals.total))</td></tr>
        <tr><th scope="row">First selected entry</th><td>\(opt(stats.firstRecordedAt))</td></tr>
        <tr><th scope="row">Last selected entry</th><td>\(opt(stats.lastRecordedAt))</td></tr>
        </tbody>
        </table>
        <p class="note">Times are <code>recordedAt</code>, stamped in UTC when the attempt was appended to the trail. The window includes its start and excludes its end. Integrity and trail identity always cover the whole trail.</p>
        </section>


        """
    }

    // MARK: 4. Outcomes

    private mutating func outcomeSection() {
        let t = stats.totals
        h2(4, "Totals per outcome", id: "outcomes")
        out += """
        <table>
        <thead><tr><th scope="col">Outcome</th><th scope="col" class="n">Attempts</th><th scope="col" class="n">Share</th></tr></thead>
        <tbody>
        <tr><th scope="row"><span class="pill accepted">accepted</span></th><td class="n">\(n(t.accepted))</td><td class="n">\(ReportFormat.percent(t.accepted, of: t.total))</td></tr>
        <tr><th scope="row"><span class="pill rejected">rejected</span></th><td class="n">\(n(t.rejected))</td><td class="n">\(ReportFormat.percent(t.rejected, of: t.total))</td></tr>
        </tbody>
        <tfoot><tr><th scope="row">Total</th><td class="n">\(n(t.total))</td><td class="n">\(t.total == 0 ? "—" : "100.0%")</td></tr></tfoot>
        </table>
        </section>


        """
    }

    // MARK: 5. Per day

    static let chartDays = 400

    private mutating func dailySection() {
        h2(5, "Attempts per day (UTC)", id: "daily")
        let days = stats.days
        if days.isEmpty {
            out += "<p class=\"muted\">No dated entries in the selection.</p>\n"
        } else {
            let range = stats.dayRange(limit: Self.chartDays)
            out += """
            <div class="legend" aria-hidden="true"><span><span class="swatch" style="background:#2f6f9f"></span>Accepted</span><span><span class="swatch" style="background:#d0603e"></span>Rejected</span></div>
            <figure>
            \(Self.chart(range))
            </figure>

            """
            if let first = days.first, let last = days.last, last.dayNumber - first.dayNumber + 1 > Int64(range.count) {
                let start = range.first?.dayNumber ?? first.dayNumber
                let before = days.filter { $0.dayNumber < start }.reduce(0) { $0 + $1.counts.total }
                out += "<p class=\"\(before > 0 ? "callout warn" : "note")\">The chart shows the most recent \(n(range.count)) days\(before > 0 ? ", from \(range.first!.date): \(n(before)) attempt\(before == 1 ? "" : "s") recorded before that \(before == 1 ? "is" : "are") not in it" : ""); the table lists every day.</p>\n"
            }
            out += """
            <table>
            <thead><tr><th scope="col">Date (UTC)</th><th scope="col" class="n">Accepted</th><th scope="col" class="n">Rejected</th><th scope="col" class="n">Total</th></tr></thead>
            <tbody>

            """
            var sum = OutcomeCounts()
            for d in days {
                sum.add(d.counts)
                out += "<tr><td class=\"time\">\(d.date)</td><td class=\"n\">\(n(d.counts.accepted))</td><td class=\"n\">\(n(d.counts.rejected))</td><td class=\"n\">\(n(d.counts.total))</td></tr>\n"
            }
            out += "</tbody>\n"
            if stats.otherDays.total > 0 {
                let o = stats.otherDays
                sum.add(o)
                out += "<tbody><tr class=\"other\"><td>other days (beyond \(n(stats.limits.days)) tracked)</td><td class=\"n\">\(n(o.accepted))</td><td class=\"n\">\(n(o.rejected))</td><td class=\"n\">\(n(o.total))</td></tr></tbody>\n"
            }
            out += "<tfoot><tr><th scope=\"row\">Total</th><td class=\"n\">\(n(sum.accepted))</td><td class=\"n\">\(n(sum.rejected))</td><td class=\"n\">\(n(sum.total))</td></tr></tfoot>\n</table>\n"
            out += "<p class=\"note\">Days without entries are gaps in the chart and are left out of the table.</p>\n"
        }
        if stats.undated > 0 {
            out += "<p class=\"callout warn\">\(n(stats.undated)) selected entr\(stats.undated == 1 ? "y has" : "ies have") a <code>recordedAt</code> that is not an RFC 3339 time and \(stats.undated == 1 ? "is" : "are") not counted per day.</p>\n"
        }
        out += "</section>\n\n"
    }

    /// Smallest 1, 2 or 5 × 10^k step giving at most `ticks` intervals up to `maximum`.
    static func niceStep(_ maximum: Int, ticks: Int = 5) -> Int {
        var magnitude = 1
        while true {
            for m in [1, 2, 5] where m * magnitude * ticks >= maximum { return m * magnitude }
            if magnitude > Int.max / 100 { return maximum }
            magnitude *= 10
        }
    }

    /// The stacked bar chart of `days` as inline SVG, each day with a `<title>` tooltip.
    static func chart(_ days: [ReportStatistics.Day]) -> String {
        let width = 960.0, height = 300.0
        let left = 58.0, right = 14.0, top = 14.0
        let rotated = days.count > 8
        let bottom = rotated ? 86.0 : 48.0
        let plotW = width - left - right, plotH = height - top - bottom
        let maxTotal = days.map(\.counts.total).max() ?? 0
        let step = niceStep(max(maxTotal, 1))
        let yMax = max(step, (maxTotal + step - 1) / step * step)
        func y(_ v: Int) -> Double { top + plotH - plotH * Double(v) / Double(yMax) }
        func f(_ x: Double) -> String { ReportFormat.oneDecimal(x) }
        let slot = plotW / Double(days.count)
        let barW = slot >= 4 ? min(slot * 0.72, 48) : slot
        let labelEvery = max(1, Int((Double(days.count) / (rotated ? 32.0 : 12.0)).rounded(.up)))

        var s = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        s += "<title id=\"chart-title\">Attempts per day (UTC)</title>\n"
        let total = days.reduce(OutcomeCounts()) { var c = $0; c.add($1.counts); return c }
        s += "<desc id=\"chart-desc\">Stacked bars of accepted (bottom) and rejected (top) attempts for each UTC day from \(days.first!.date) to \(days.last!.date): \(total.accepted) accepted and \(total.rejected) rejected in all.</desc>\n"
        // Horizontal grid and y labels.
        var v = 0
        while v <= yMax {
            let yy = f(y(v))
            s += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(yy)\" x2=\"\(f(width - right))\" y2=\"\(yy)\"/>"
            s += "<text x=\"\(f(left - 8))\" y=\"\(yy)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(ReportFormat.count(v))</text>\n"
            v += step
        }
        // Bars.
        for (i, d) in days.enumerated() {
            let x0 = left + slot * Double(i)
            let bx = x0 + (slot - barW) / 2
            let c = d.counts
            s += "<g class=\"day\"><title>\(d.date): \(ReportFormat.count(c.total)) attempt\(c.total == 1 ? "" : "s"), \(ReportFormat.count(c.accepted)) accepted, \(ReportFormat.count(c.rejected)) rejected</title>"
            s += "<rect class=\"hit\" x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(slot))\" height=\"\(f(plotH))\"/>"
            // A day with attempts never looks empty: each non-zero part is at least 1 unit tall
            // (one attempt beside 100,000 would otherwise round to a bar of height 0.0).
            // (Never above the plot's top: a near-maximum day keeps its true height.)
            var hAcc = c.accepted > 0 ? max(y(0) - y(c.accepted), 1) : 0
            var hRej = c.rejected > 0 ? max(y(c.accepted) - y(c.total), 1) : 0
            // The bar stays inside the plot: a part raised to one unit is paid for by the other,
            // larger part, so each non-zero part keeps at least one unit.
            let excess = hAcc + hRej - plotH
            if excess > 0 {
                if hAcc >= hRej { hAcc = max(hAcc - excess, 1) } else { hRej = max(hRej - excess, 1) }
            }
            if c.accepted > 0 {
                s += "<rect class=\"acc\" x=\"\(f(bx))\" y=\"\(f(y(0) - hAcc))\" width=\"\(f(barW))\" height=\"\(f(hAcc))\"/>"
            }
            if c.rejected > 0 {
                s += "<rect class=\"rej\" x=\"\(f(bx))\" y=\"\(f(y(0) - hAcc - hRej))\" width=\"\(f(barW))\" height=\"\(f(hRej))\"/>"
            }
            s += "</g>\n"
        }
        // Axes.
        s += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(y(0)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(0)))\"/>"
        s += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(y(0)))\"/>\n"
        // X labels.
        for (i, d) in days.enumerated() where i % labelEvery == 0 {
            let cx = left + slot * (Double(i) + 0.5)
            let ly = y(0) + 14
            s += "<line class=\"axis\" x1=\"\(f(cx))\" y1=\"\(f(y(0)))\" x2=\"\(f(cx))\" y2=\"\(f(y(0) + 4))\"/>"
            if rotated {
                s += "<text x=\"\(f(cx))\" y=\"\(f(ly))\" text-anchor=\"end\" transform=\"rotate(-45 \(f(cx)) \(f(ly)))\">\(d.date)</text>\n"
            } else {
                s += "<text x=\"\(f(cx))\" y=\"\(f(ly + 2))\" text-anchor=\"middle\">\(d.date)</text>\n"
            }
        }
        // Axis titles.
        s += "<text class=\"axis-title\" x=\"14\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(top + plotH / 2)))\">Attempts</text>\n"
        s += "<text class=\"axis-title\" x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">Date recorded (UTC)</text>\n"
        s += "</svg>"
        return s
    }

    // MARK: 6. Products

    private mutating func productSection() {
        h2(6, "Attempts per product code", id: "products")
        let products = stats.products
        if products.isEmpty {
            out += "<p class=\"muted\">No entries in the selection.</p>\n</section>\n\n"
            return
        }
        out += """
        <table>
        <thead><tr><th scope="col">Product code</th><th scope="col" class="n">Accepted</th><th scope="col" class="n">Rejected</th><th scope="col" class="n">Total</th><th scope="col" class="n">Acceptance rate</th></tr></thead>
        <tbody>

        """
        for p in products {
            let c = p.counts
            out += "<tr><th scope=\"row\">\(product(p.productCode))</th><td class=\"n\">\(n(c.accepted))</td><td class=\"n\">\(n(c.rejected))</td><td class=\"n\">\(n(c.total))</td><td class=\"n\">\(ReportFormat.percent(c.accepted, of: c.total))</td></tr>\n"
        }
        let o = stats.otherProducts
        if o.total > 0 {
            out += "<tr class=\"other\"><th scope=\"row\">other product codes (beyond \(n(stats.limits.distinctValues)) tracked)</th><td class=\"n\">\(n(o.accepted))</td><td class=\"n\">\(n(o.rejected))</td><td class=\"n\">\(n(o.total))</td><td class=\"n\">\(ReportFormat.percent(o.accepted, of: o.total))</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        let none = products.contains { $0.productCode == nil } ? "(none): the attempt carries no product code, e.g. the token could not be parsed. " : ""
        out += "<p class=\"note\">\(none)A rejected attempt's product code is the one the token claimed, which may not be genuine.</p>\n</section>\n\n"
    }

    // MARK: 7. Reasons

    private mutating func reasonSection() {
        h2(7, "Attempts per outcome and reason", id: "reasons")
        let reasons = stats.reasons
        if reasons.isEmpty {
            out += "<p class=\"muted\">No entries in the selection.</p>\n</section>\n\n"
            return
        }
        let total = stats.totals.total
        out += """
        <table>
        <thead><tr><th scope="col">Outcome</th><th scope="col">Reason code</th><th scope="col" class="n">Attempts</th><th scope="col" class="n">Share of selection</th></tr></thead>
        <tbody>

        """
        for r in reasons {
            let pill = r.outcome == "accepted" ? "accepted" : "rejected"
            out += "<tr><td><span class=\"pill \(pill)\">\(e(r.outcome))</span></td><td>\(r.reason.map { "<code class=\"wrap\">\(e($0))</code>" } ?? "<span class=\"muted\">—</span>")</td><td class=\"n\">\(n(r.count))</td><td class=\"n\">\(ReportFormat.percent(r.count, of: total))</td></tr>\n"
        }
        let o = stats.otherReasons
        if o.total > 0 {
            out += "<tr class=\"other\"><td>—</td><td>other reason codes (beyond \(n(stats.limits.distinctValues)) tracked)</td><td class=\"n\">\(n(o.total))</td><td class=\"n\">\(ReportFormat.percent(o.total, of: total))</td></tr>\n"
        }
        out += "</tbody>\n</table>\n<p class=\"note\">Reason codes are documented in docs/verification.md; <code>nonce_replayed</code> marks a response whose nonce had already been accepted for the product.</p>\n</section>\n\n"
    }

    // MARK: 8. Rejected attempts

    private mutating func rejectedSection() {
        h2(8, "Rejected attempts", id: "rejected")
        let list = stats.rejectedListed
        let more = stats.rejectedNotListed
        if list.isEmpty {
            if more > 0 {
                // `--max-rejected 0`: the attempts exist, none is listed.
                out += "<p class=\"callout info\">\(n(more)) rejected attempt\(more == 1 ? "" : "s") not listed (the report was asked to list none). <code>meterproof audit log --outcome rejected</code> lists them all.</p>\n</section>\n\n"
            } else {
                out += "<p class=\"muted\">No rejected attempts in the selection.</p>\n</section>\n\n"
            }
            return
        }
        out += """
        <table>
        <thead><tr><th scope="col" class="n">Seq</th><th scope="col">Recorded at (UTC)</th><th scope="col">Product code</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead>
        <tbody>

        """
        for r in list {
            out += "<tr><td class=\"n\">\(r.seq)</td><td class=\"time\">\(e(r.recordedAt))</td><td>\(product(r.productCode))</td><td>\(opt(r.reason, code: true))</td><td>\(opt(r.message))</td></tr>\n"
        }
        out += "</tbody>\n</table>\n"
        if more > 0 {
            out += "<p class=\"callout info\">… and \(n(more)) more rejected attempt\(more == 1 ? "" : "s") not listed (\(list.count == 1 ? "the first is shown" : "the first \(n(list.count)) are shown")). <code>meterproof audit log --outcome rejected</code> lists them all.</p>\n"
        }
        out += "</section>\n\n"
    }

    /// Acceptances under MeterProof's published test keys prove nothing about AWS: anyone can
    /// sign tokens those keys accept. Said at the top, where a reader looks first.
    private mutating func testKeyCallout() {
        let accepted = stats.keys.filter { RSAPublicKey.isMeterProofTestKey(fingerprint: $0.fingerprint) }.reduce(0) { $0 + $1.counts.accepted }
        guard accepted > 0 else { return }
        out += "<p class=\"callout bad\" id=\"test-keys\"><strong>\(n(accepted)) accepted entr\(accepted == 1 ? "y was" : "ies were") verified under MeterProof's published TEST keys</strong> (marked in <a href=\"#keys\">the key table</a>). Their private halves are public, so anyone can sign tokens they accept: these acceptances prove nothing about AWS. Production trails verify under the keys AWS published.</p>\n"
    }

    // MARK: 9. Keys

    private mutating func keySection() {
        h2(9, "AWS public keys in use", id: "keys")
        let keys = stats.keys
        if keys.isEmpty {
            out += "<p class=\"muted\">No entry in the selection names a public key.</p>\n</section>\n\n"
            return
        }
        out += """
        <table>
        <thead><tr><th scope="col" class="n">Version</th><th scope="col">Fingerprint (SHA-256 of SPKI)</th><th scope="col" class="n">Accepted</th><th scope="col" class="n">Rejected</th><th scope="col" class="n">Total</th><th scope="col">First seen</th><th scope="col">Last seen</th><th scope="col">In trail</th></tr></thead>
        <tbody>

        """
        for k in keys {
            let stored = k.fingerprint.map { report.storedKeyFingerprints.contains($0) } ?? false
            let test = RSAPublicKey.isMeterProofTestKey(fingerprint: k.fingerprint)
            out += "<tr><td class=\"n\">\(k.version.map { String($0) } ?? "<span class=\"muted\">—</span>")</td><td>\(fingerprint(k.fingerprint))\(test ? " <strong class=\"tag-bad\">TEST KEY</strong>" : "")</td><td class=\"n\">\(n(k.counts.accepted))</td><td class=\"n\">\(n(k.counts.rejected))</td><td class=\"n\">\(n(k.counts.total))</td><td class=\"time\">\(e(k.firstSeen))</td><td class=\"time\">\(e(k.lastSeen))</td><td>\(stored ? "yes" : "<span class=\"muted\">no</span>")</td></tr>\n"
        }
        let ok = stats.otherKeys
        if ok.total > 0 {
            out += "<tr class=\"other\"><td></td><td>other key versions claimed by rejected tokens (beyond \(n(stats.limits.distinctValues)) tracked)</td><td class=\"n\">\(n(ok.accepted))</td><td class=\"n\">\(n(ok.rejected))</td><td class=\"n\">\(n(ok.total))</td><td></td><td></td><td></td></tr>\n"
        }
        out += "</tbody>\n</table>\n<p class=\"note\">Version is the token's <code>PublicKeyVersion</code>; the fingerprint is that of the keyring key that checked the signature (none when the token never reached signature checking). “In trail” means the trail stores the key itself, so exports can bundle it.</p>\n</section>\n\n"
    }

    // MARK: 10. Rotation warnings

    private mutating func rotationSection() {
        h2(10, "Key rotation warnings", id: "rotation")
        let rows = stats.rotationWarnings
        if rows.isEmpty {
            out += "<p>No entry in the selection carries the <code>\(ReportStatistics.rotationWarningCode)</code> warning.</p>\n"
        } else {
            out += """
            <p class="callout warn">A key rotation may be due for the key versions below: accepted responses carried a <code>PublicKeyRotationTimestamp</code> for them (in the signed payload, or beside the token in the response, where it is not covered by AWS's signature), or the keyring's <code>notAfter</code> for the key has passed. Make sure the keyring holds the next public key version before the current one is retired.</p>
            <table>
            <thead><tr><th scope="col" class="n">Key version</th><th scope="col" class="n">Entries warned</th><th scope="col">First warned</th><th scope="col">Last warned</th><th scope="col" class="n">Latest seq</th></tr></thead>
            <tbody>

            """
            for r in rows {
                out += "<tr><td class=\"n\">\(r.version.map { String($0) } ?? "<span class=\"muted\">—</span>")</td><td class=\"n\">\(n(r.count))</td><td class=\"time\">\(e(r.firstSeen))</td><td class=\"time\">\(e(r.lastSeen))</td><td class=\"n\">\(r.lastSeq)</td></tr>\n"
            }
            out += "</tbody>\n</table>\n"
        }
        let others = stats.warnings.filter { $0.code != ReportStatistics.rotationWarningCode }
        if !others.isEmpty || stats.otherWarnings > 0 {
            out += "<h3>Other warnings</h3>\n<table>\n<thead><tr><th scope=\"col\">Warning code</th><th scope=\"col\" class=\"n\">Entries</th></tr></thead>\n<tbody>\n"
            for w in others {
                out += "<tr><td><code class=\"wrap\">\(e(w.code))</code></td><td class=\"n\">\(n(w.count))</td></tr>\n"
            }
            if stats.otherWarnings > 0 {
                out += "<tr class=\"other\"><td>other warning codes</td><td class=\"n\">\(n(stats.otherWarnings))</td></tr>\n"
            }
            out += "</tbody>\n</table>\n"
        }
        out += "</section>\n\n"
    }

    // MARK: Footer

    private mutating func footer() {
        out += """
        <footer>
        <p><strong>This report is a view, not evidence.</strong> It summarizes the trail as stored when it was generated and can be edited like any HTML file. The evidence is the export bundle (<code>meterproof export</code>): the entries with their original AWS tokens, signed checkpoints, inclusion proofs and public keys, which anyone can re-verify independently.</p>
        <p>Generated \(e(report.generatedAt)) by \(e(report.generator)) from <code class="wrap">\(e(report.trailPath))</code> (\(n(report.trailSize)) entries).</p>
        </footer>

        """
    }
}
