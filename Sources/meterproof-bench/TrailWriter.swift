import Foundation
import MeterProof
import MeterProofAudit

/// `meterproof-bench trail-writer --db PATH [--count N]`: a child process for the audit trail's
/// crash test (Tests/MeterProofAuditTests/TrailCrashTests.swift).
///
/// Opens the trail at `--db` and appends entries in a loop, one `AuditTrail.record` (one durable
/// transaction) per entry. Every other entry is accepted and carries a nonce unique to this
/// process, so the nonce table is written too. After each `record` returns it writes
/// `committed <seq>` to standard output with a direct `write(2)` (no buffering), so a line the
/// parent reads names an entry that was committed before the line existed. Runs until killed or
/// until `--count N` entries are written.
///
/// Exit codes: 0 after `--count` entries, 64 bad usage, 5 the trail could not be opened or
/// appended to, 70 an accepted entry came back rejected (its unique nonce was a replay).
enum TrailWriter {
    static func run(_ o: BenchOptions) {
        guard let db = o.values["db"], !db.isEmpty else {
            say(2, "usage: meterproof-bench trail-writer --db PATH [--count N]\n")
            exit(64)
        }
        let count = o.int("count", Int.max)
        let trail: AuditTrail
        do { trail = try AuditTrail(path: db) } catch {
            say(2, "trail-writer: \(error)\n")
            exit(5)
        }
        let tag = "writer-\(getpid())-\(WallClock.nowMilliseconds())"
        var i = 0
        while i < count {
            var e = AuditEntry(rejected: .malformedInput, message: "\(tag) #\(i)", source: .live, capture: nil)
            if i % 2 == 0 {
                e.outcome = "accepted"
                e.reason = nil
                e.message = nil
                e.binding = "bound"
                e.productCode = "prod-trail-writer"
                e.publicKeyVersion = 1
                e.nonce = "\(tag)-\(i)"
            }
            let recorded: AuditEntry
            do { recorded = try trail.record(e) } catch {
                say(2, "trail-writer: \(error)\n")
                exit(5)
            }
            if recorded.outcome != e.outcome {
                say(2, "trail-writer: entry \(recorded.seq) was recorded as \(recorded.reason ?? recorded.outcome)\n")
                exit(70)
            }
            say(1, "committed \(recorded.seq)\n")
            i += 1
        }
    }

    /// Writes `text` to file descriptor `fd` at once (no stdio buffer to lose on SIGKILL).
    private static func say(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}
