import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof
import MeterProofAudit

extension MeterProofCommand.Audit {
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log", abstract: "List recorded entries.",
            discussion: "Exit 0 listed (also when nothing matches), 1 a stored entry does not decode or the trail holds a seq no trail can (invalid_entry, inconsistent_checkpoint: run audit verify), 3 not a trail, 4 newer schema, 5 storage error, 64 on a bad invocation (e.g. --since is not an RFC 3339 time)."
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, jsonl }
        enum OutcomeFilter: String, ExpressibleByArgument, CaseIterable { case accepted, rejected, all }

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(help: "table, json (one array) or jsonl (each entry's canonical bytes, one per line).")
        var format: Format = .table

        @OptionGroup var filter: EntryFilterOptions

        func run() throws {
            let f = try filter.makeFilter()
            try withTrail {
                let trail = try AuditTrail(path: db, readOnly: true)
                var buffer: [UInt8] = []
                buffer.reserveCapacity(1 << 16)
                func flush() { buffer.withUnsafeBytes { writeOut($0) }; buffer.removeAll(keepingCapacity: true) }
                if format == .table {
                    buffer.append(contentsOf: "SEQ      RECORDED AT              SOURCE  OUTCOME   REASON                 PRODUCT CODE          KEY  NONCE\n".utf8)
                }
                if format == .json { buffer.append(UInt8(ascii: "[")) }
                var first = true
                try trail.forEachEntry { seq, bytes in
                    let e: AuditEntry
                    do throws(AuditError) { e = try AuditEntry(canonicalBytes: bytes) } catch {
                        throw AuditError(error.code, "entry \(seq): \(error.reason) (run `meterproof audit verify`)")
                    }
                    guard f.matches(e) else { return }
                    switch format {
                    case .jsonl:
                        buffer.append(contentsOf: bytes)
                        buffer.append(0x0A)
                    case .json:
                        if !first { buffer.append(UInt8(ascii: ",")) }
                        buffer.append(0x0A)
                        buffer.append(contentsOf: bytes)
                    case .table:
                        func col(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : pad(s, w) }
                        let line = col(String(e.seq), 9) + col(e.recordedAt, 25) + col(e.source.rawValue, 8) + col(e.outcome, 10)
                            + col(oneLine(e.reason ?? "-"), 23) + col(oneLine(e.productCode ?? "-"), 22) + col(e.publicKeyVersion.map { String($0) } ?? "-", 5)
                            + oneLine(e.nonce ?? "-") + "\n"
                        buffer.append(contentsOf: line.utf8)
                    }
                    first = false
                    if buffer.count > 1 << 16 { flush() }
                }
                if format == .json { buffer.append(contentsOf: (first ? "]\n" : "\n]\n").utf8) }
                flush()
            }
        }
    }
}

/// The selection flags shared by `audit log`, `export` and `report`.
struct EntryFilterOptions: ParsableArguments {
    @Option(help: "Only entries recorded at or after this RFC 3339 time.")
    var since: String?

    @Option(help: "Only entries recorded before this RFC 3339 time.")
    var until: String?

    // Optional (nil is `all`), so that `export verify` can tell an explicit `--outcome all` from none.
    @Option(help: "accepted, rejected or all (default: all).")
    var outcome: MeterProofCommand.Audit.Log.OutcomeFilter?

    @Option(name: .customLong("product-code"), parsing: .unconditional, help: "Only entries for this product code.")
    var productCode: String?

    // `recordedAt` has milliseconds; a bound may have up to nine fraction digits. Each bound rounds
    // up to the next millisecond (RFC3339.parseMillisecondsRoundingUp): for whole-millisecond
    // times that keeps both an inclusive --since and an exclusive --until exact (an entry at
    // …01.808Z is before --since …01.8081Z, and before --until …01.8081Z).
    func validate() throws {
        if let since, RFC3339.parseMillisecondsRoundingUp(since) == nil { throw ValidationError("--since must be an RFC 3339 time, e.g. 2026-01-01T00:00:00Z.") }
        if let until, RFC3339.parseMillisecondsRoundingUp(until) == nil { throw ValidationError("--until must be an RFC 3339 time, e.g. 2026-02-01T00:00:00Z.") }
        // An empty window selects nothing: a swapped pair, not a question worth answering.
        if let since, let until, let s = RFC3339.parseMillisecondsAndNanoseconds(since), let u = RFC3339.parseMillisecondsAndNanoseconds(until) {
            if (s.milliseconds, s.nanoseconds) >= (u.milliseconds, u.nanoseconds) { throw ValidationError("--since must be earlier than --until.") }
            if let sb = RFC3339.parseMillisecondsRoundingUp(since), let ub = RFC3339.parseMillisecondsRoundingUp(until), sb >= ub {
                throw ValidationError("--since and --until enclose no whole millisecond, and entries are recorded in milliseconds: the window selects nothing.")
            }
        }
    }

    func makeFilter() throws -> EntryFilter {
        EntryFilter(since: since.flatMap { RFC3339.parseMillisecondsRoundingUp($0) }, until: until.flatMap { RFC3339.parseMillisecondsRoundingUp($0) },
                    outcome: outcome == nil || outcome == .all ? nil : outcome?.rawValue, productCode: productCode)
    }
}
