import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof
import MeterProofAudit

extension MeterProofCommand {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a self-contained HTML compliance report of the audit trail.",
            discussion: """
            The report shows the trail's identity and newest checkpoint, the result of a full \
            re-verification (with the signer record, as audit verify checks it), and statistics of the selected entries (per outcome, day, product, \
            reason and key, rejected attempts, rotation warnings). It is a view for people; the \
            export bundle is the evidence. The file is replaced atomically, and only when it is empty or \
            an earlier MeterProof report. See docs/report.md.

            Exit 0 when the report was written and the trail is intact, 1 when it was written but \
            the trail is NOT intact, 2 bad output path or unreadable trail file, 3 not a trail, \
            4 newer schema, 5 storage error (reading the trail or writing the report), 6 locked, \
            64 bad invocation.
            """
        )

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(help: "The HTML file to write (an earlier report there is replaced atomically; any other existing file is refused).", transform: pathArgument)
        var out: String

        @OptionGroup var filter: EntryFilterOptions

        @OptionGroup var signerRecord: SignerRecordCheckOptions

        @Option(name: .customLong("max-rejected"), parsing: .unconditional, help: "List at most this many rejected attempts (the rest are counted).")
        var maxRejected: Int = 1000

        func validate() throws {
            if out.isEmpty { throw ValidationError("--out must name a file.") }
            if maxRejected < 0 { throw ValidationError("--max-rejected must not be negative.") }
        }

        func run() throws {
            let selection = try filter.makeFilter()
            let record = try signerRecord.record(besideTrail: db)
            let dbKind = FileSystem.kind(db)
            if dbKind != .missing {
                if dbKind == .directory { throw fail(Exit.unreadable, "bad_input: cannot read \(db): it is a directory, not a trail file") }
                if access(db, R_OK) != 0 { throw fail(Exit.unreadable, "bad_input: cannot read \(db): permission denied") }
            }
            let report = try withTrail { () throws -> ComplianceReport in
                let trail = try AuditTrail(path: db, readOnly: true)
                // A bad --out is refused now, not after reading the whole trail.
                try ComplianceReport.checkDestination(out)
                var options = ComplianceReport.Options(filter: selection, limits: .init(rejectedListed: maxRejected))
                options.signerRecord = record
                let report = try ComplianceReport.build(trail: trail, options: options)
                // Written whole or not at all: a stop signal waits for the rename.
                try deferringStopSignals { try report.writeHTML(to: out) }
                return report
            }
            let t = report.statistics.totals
            let v = report.integrity
            let uncovered = report.trailSize - min(report.trailSize, report.latestCheckpoint?.size ?? 0)
            let verdict = v.intact ? "trail intact" + (uncovered > 0 ? "; \(counted(uncovered, "entry", "entries")) not covered by a signed checkpoint" : "") : "trail NOT intact (\(v.problemCode ?? "unknown")\(v.firstBadSeq.map { " at seq \($0)" } ?? ""))"
            writeOut("wrote \(out): \(counted(t.total, "selected entry", "selected entries")) (\(t.accepted) accepted, \(t.rejected) rejected); \(verdict)\n")
            if !v.intact {
                throw fail(Exit.rejected, "\(v.problemCode ?? "tampered"): the trail is not intact: \(v.problem ?? "")")
            }
        }
    }
}
