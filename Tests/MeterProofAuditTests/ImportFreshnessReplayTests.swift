import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Freshness is judged against `capturedAt`, and the nonce rule and line deduplication hold
/// within one import and across imports.
@Suite struct ImportFreshnessReplayTests {
    let base = ImportFixture.base

    @Test func freshnessIsJudgedAgainstCapturedAt() throws {
        let f1 = try ImportFixture.token("fresh-1")
        let f2 = try ImportFixture.token("fresh-2")
        let bare = try ImportFixture.token("fresh-bare")
        func at(_ offset: Int64) -> String { ImportFixture.time(base + offset) }
        let lines = [
            ImportFixture.bound(f1, nonce: "fresh-1", capturedAt: at(7200)),   // iat 2 h before capture
            ImportFixture.bound(f1, nonce: "fresh-1", capturedAt: at(601)),    // just past the 600 s limit
            ImportFixture.bound(f1, nonce: "fresh-1", capturedAt: at(-900)),   // iat 15 min after capture
            ImportFixture.bound(f1, nonce: "fresh-1", capturedAt: at(-61)),    // just past the 60 s skew
            ImportFixture.bound(f1, nonce: "fresh-1", capturedAt: at(600)),    // exactly 600 s old: fresh
            ImportFixture.bound(f2, nonce: "fresh-2", capturedAt: at(-60)),    // exactly 60 s early: fresh
            #"{"Signature":"# + JSONText.quoted(bare) + #","capturedAt":"# + JSONText.quoted(at(7200)) + "}",  // unbound, judged too
        ]
        let strict = try ImportBed()
        let s = try strict.run("fresh.jsonl", lines: lines)
        #expect(s.digest == "lines=7 blank=0 recorded=7 dup=0 accepted=2 rejected=5 bound=6 unbound=1 "
                + "reasons[token_from_future=2,token_stale=3] warnings[] seqs=0..6 size=7 interrupted=false")
        let e = try strict.entries()
        #expect(e.map { $0.reason ?? "accepted" } == ["token_stale", "token_stale", "token_from_future", "token_from_future",
                                                     "accepted", "accepted", "token_stale"])
        #expect(e.map(\.capturedAt) == [at(7200), at(601), at(-900), at(-61), at(600), at(-60), at(7200)])
        #expect(e[0].message == "token issued 7200 s before the reference time; the limit is 600 s")
        #expect(e[2].message == "token issued 900 s after the reference time; the limit is 60 s")
        // The signature verified and the claims parsed: the rejection still names the key and claims.
        for i in [0, 2, 6] {
            #expect(e[i].keyFingerprint == ImportFixture.v1Fingerprint && e[i].issuedAt == base && e[i].token != nil)
        }
        // Rejections consumed nothing: fresh-1 was first accepted on line 5.
        #expect(try TrailRaw.int(TrailRaw.open(strict.trailPath), "SELECT seq FROM nonces WHERE nonce = 'fresh-1'") == 4)

        // VerificationPolicy.offline (the CLI's --no-freshness): both accepted.
        let offline = try ImportBed()
        let o = try offline.run("fresh.jsonl", lines: [lines[0], lines[5], lines[6]], policy: .offline)
        #expect(o.digest == "lines=3 blank=0 recorded=3 dup=0 accepted=3 rejected=0 bound=2 unbound=1 reasons[] warnings[] "
                + "seqs=0..2 size=3 interrupted=false")
        let offline2 = try ImportBed()
        let o2 = try offline2.run("fresh.jsonl", lines: [lines[2]], policy: .offline)
        #expect(o2.accepted == 1 && o2.rejected == 0)

        // A longer maximum age (--max-age 7200) moves the limit.
        var lenient = VerificationPolicy.strict
        lenient.maxAge = 7200
        let l = try ImportBed().run("fresh.jsonl", lines: [lines[0]], policy: lenient)
        #expect(l.accepted == 1)
    }

    @Test func aNonceIsAcceptedOnceWithinAndAcrossImports() throws {
        let n1 = try ImportFixture.token("replay-1")
        let n2 = try ImportFixture.token("replay-2")
        let other = try ImportFixture.token("replay-1", productCode: "prod-other")
        func at(_ offset: Int64) -> String { ImportFixture.time(base + offset) }
        let first = ImportFixture.bound(n1, nonce: "replay-1", capturedAt: at(10))
        let lines = [
            first,
            ImportFixture.bound(n1, nonce: "replay-1", capturedAt: at(310)),  // the same response captured again
            ImportFixture.bound(other, nonce: "replay-1", productCode: "prod-other", capturedAt: at(10)),  // another product: not a replay
            first,                                                            // the very same line: a duplicate
            ImportFixture.bound(n2, nonce: "replay-2", capturedAt: at(10)),
        ]
        let bed = try ImportBed()
        let s = try bed.run("a.jsonl", lines: lines)
        #expect(s.digest == "lines=5 blank=0 recorded=4 dup=1 accepted=3 rejected=1 bound=4 unbound=0 reasons[nonce_replayed=1] "
                + "warnings[] seqs=0..3 size=4 interrupted=false")
        let e = try bed.entries()
        #expect(e.map { $0.reason ?? "accepted" } == ["accepted", "nonce_replayed", "accepted", "accepted"])
        #expect(e.map(\.captureLine) == [1, 2, 3, 5])
        #expect(e[1].message == "nonce replay-1 was already accepted for product \(ImportFixture.productCode)")
        #expect(e[1].warnings == nil && e[1].nonce == "replay-1" && e[1].keyFingerprint == ImportFixture.v1Fingerprint)

        // A later import of another file holding the same response: a replay, bound or not.
        let later = [
            ImportFixture.bound(n1, nonce: "replay-1", capturedAt: at(400)),
            ImportFixture.response(n2),
            ImportFixture.response(n2, rotation: base + 86400),  // a different line, the same nonce
        ]
        let s2 = try bed.run("b.jsonl", lines: later)
        #expect(s2.digest == "lines=3 blank=0 recorded=3 dup=0 accepted=0 rejected=3 bound=1 unbound=2 reasons[nonce_replayed=3] "
                + "warnings[] seqs=4..6 size=7 interrupted=false")
        let e2 = try bed.entries()
        #expect(e2[4...].allSatisfy { $0.reason == "nonce_replayed" && $0.warnings == nil })
        #expect(e2[4].captureFile == bed.scratch.path("b.jsonl") && e2[4].captureLine == 1)

        let raw = try TrailRaw.open(bed.trailPath)
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces") == 3)
        // Each accepted line is found through its nonce; the four rejected ones by their hash.
        #expect(try bed.captureRows() == 4)
        #expect(try bed.trail().verify().intact)
    }

    /// Summary warnings count accepted entries per warning code: an entry warned twice
    /// (rotation in the response and in the payload) is one entry with `key_rotation_due`.
    @Test func warningsAreCountedPerEntry() throws {
        let payload = Array(#"{"productCode":"prod-import","publicKeyVersion":1,"nonce":"warn-1","iat":1793577600,"publicKeyRotationTimestamp":1796169600}"#.utf8)
        let twice = try ResponseSimulator(signingKey: TrailFixture.v1).token(payload: payload)
        let once = try ImportFixture.token("warn-2")
        let at = ImportFixture.time(base + 5)
        let bed = try ImportBed()
        let s = try bed.run("warn.jsonl", lines: [
            ImportFixture.bound(twice, nonce: "warn-1", capturedAt: at, rotation: base + 86400),
            ImportFixture.bound(once, nonce: "warn-2", capturedAt: at, rotation: base + 86400),
        ])
        #expect(s.accepted == 2 && s.warnings == ["key_rotation_due": 2])
        let e = try bed.entries()
        #expect(e[0].warnings == "key_rotation_due")  // each code once per entry, however many sources raised it
        #expect(e[1].warnings == "key_rotation_due")
    }
}
