import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// The nonce rule (an accepted (productCode, nonce) is accepted at most once, ever), enforced
/// inside the append transaction, and capture de-duplication.
@Suite struct TrailReplayTests {
    /// The README's way: record the result and act on the recorded entry. A replay comes back
    /// rejected, and the accepted entry keeps its key, so it can be exported.
    @Test func recordingAResultReturnsTheVerdictAndKeepsTheKey() throws {
        let s = try TrailScratch("record-result")
        let (trail, signer) = try TrailFixture.makeTrail(s)
        let verifier = Verifier(keyring: TrailFixture.keyring)
        let request = RegisterUsageRequest(productCode: TrailFixture.productCode, publicKeyVersion: 1, nonce: "record-1")
        let result = verifier.verify(Array(try TrailFixture.response(nonce: "record-1").utf8), expecting: request)
        #expect(result.isAccepted)
        let first = try trail.record(result, keyring: verifier.keyring)
        #expect(first.isAccepted && first.keyFingerprint == TrailFixture.keyring.entries[1]?.key.fingerprint)
        let again = try trail.record(result, keyring: verifier.keyring)
        #expect(!again.isAccepted && again.reason == "nonce_replayed", "\(again)")
        #expect(try trail.recordedKeys().map(\.version) == [1])
        _ = try trail.signCheckpoint(with: signer)
        let summary = try trail.exportBundle(to: s.path("bundle"), options: ExportOptions())
        #expect(summary.manifest.counts.accepted == 1 && summary.manifest.counts.rejected == 1)
    }

    @Test func theSameNonceIsAcceptedOnceAndTheReplayIsRecorded() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let first = try trail.record(TrailFixture.verifiedEntry(nonce: "replay-1"))
        #expect(first.isAccepted && first.seq == 0)
        let second = try trail.record(TrailFixture.verifiedEntry(nonce: "replay-1"))
        #expect(second.seq == 1)
        #expect(second.outcome == "rejected" && second.reason == "nonce_replayed")
        #expect(second.message == "nonce replay-1 was already accepted for product \(TrailFixture.productCode)")
        #expect(second.warnings == nil)
        // The stored entry is the rejection, still carrying the token for re-verification.
        let stored = try trail.entry(1)
        #expect(stored == second)
        #expect(stored.token != nil && stored.nonce == "replay-1" && stored.keyFingerprint != nil)

        // The same nonce for another product is a different pair.
        #expect(try trail.record(TrailFixture.entry(2, nonce: "replay-1", productCode: "other-product")).isAccepted)
        // A rejected attempt does not consume its nonce.
        let mismatch = try trail.record(TrailFixture.verifiedEntry(nonce: "replay-2", requestNonce: "something-else"))
        #expect(mismatch.reason == "nonce_mismatch")
        #expect(try trail.record(TrailFixture.verifiedEntry(nonce: "replay-2")).isAccepted)

        // Across reopening the file.
        let reopened = try AuditTrail(path: s.path("trail.sqlite"))
        #expect(try reopened.record(TrailFixture.verifiedEntry(nonce: "replay-1")).reason == "nonce_replayed")
        #expect(try reopened.record(TrailFixture.verifiedEntry(nonce: "replay-2")).reason == "nonce_replayed")
        #expect(try reopened.record(TrailFixture.verifiedEntry(nonce: "replay-3")).isAccepted)
        // The first connection sees the other's consumption too (its cached frontier resyncs).
        let viaFirst = try trail.record(TrailFixture.verifiedEntry(nonce: "replay-3"))
        #expect(viaFirst.reason == "nonce_replayed" && viaFirst.seq == 8)

        let v = try reopened.verify()
        #expect(v.intact && v.entries == 9)
        let raw = try TrailRaw.open(s.path("trail.sqlite"))
        #expect(try TrailRaw.int(raw, "SELECT count(*) FROM nonces") == 4)
        #expect(try TrailRaw.int(raw, "SELECT seq FROM nonces WHERE nonce = 'replay-1' AND product_code = '\(TrailFixture.productCode)'") == 0)
    }

    @Test func aBatchAppliesTheRuleWithinItselfAndIsAllOrNothing() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let out = try trail.append([
            .init(entry: TrailFixture.entry(0, nonce: "b-1")),
            .init(entry: TrailFixture.entry(1, nonce: "b-1")),
            .init(entry: TrailFixture.entry(2, nonce: "b-2")),
        ])
        let reasons = out.map { o -> String? in
            guard case .recorded(let e) = o else { return "duplicate" }
            return e.reason
        }
        #expect(reasons == [nil, "nonce_replayed", nil])

        // A batch that fails part-way writes nothing, and consumes none of its nonces.
        // An entry the trail could not read back (outcome "maybe") must be refused, not stored
        // where verify() would later report it as invalid_entry for ever.
        var invalid = TrailFixture.entry(5)
        invalid.outcome = "maybe"
        var acceptedWithReason = TrailFixture.entry(6, nonce: "b-4")
        acceptedWithReason.reason = "bad_signature"
        for bad in [invalid, acceptedWithReason] {
            let code = errorCode { _ = try trail.append([.init(entry: TrailFixture.entry(3, nonce: "b-3")), .init(entry: bad)]) }
            #expect(code == "invalid_entry")
            #expect(errorCode { try trail.record(bad) } == "invalid_entry")
        }
        #expect(try trail.size() == 3)
        // Neither the refused batch's nonce nor its seq was consumed.
        let e = try trail.record(TrailFixture.entry(3, nonce: "b-3"))
        #expect(e.isAccepted && e.seq == 3)
        #expect(try trail.record(TrailFixture.entry(7, nonce: "b-4")).isAccepted)
        #expect(try trail.verify().intact)
    }

    @Test func aCaptureIsImportedOnce() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        let h1 = [UInt8](repeating: 1, count: 32), h2 = [UInt8](repeating: 2, count: 32)
        let first = try trail.append([.init(entry: TrailFixture.entry(0), captureHash: h1), .init(entry: TrailFixture.entry(1), captureHash: h1),
                                      .init(entry: TrailFixture.entry(2))])
        guard case .recorded(let e0) = first[0], case .duplicate(let dup) = first[1], case .recorded(let e2) = first[2] else {
            Issue.record("unexpected outcomes \(first)")
            return
        }
        #expect(e0.seq == 0 && dup == 0 && e2.seq == 1)
        let again = try AuditTrail(path: s.path("trail.sqlite")).append([.init(entry: TrailFixture.entry(3), captureHash: h1),
                                                                         .init(entry: TrailFixture.entry(4), captureHash: h2)])
        guard case .duplicate(let d) = again[0], case .recorded(let e) = again[1] else {
            Issue.record("unexpected outcomes \(again)")
            return
        }
        #expect(d == 0 && e.seq == 2)
        #expect(try trail.size() == 3)
        #expect(try trail.verify().intact)
    }

    @Test func cliVerifyWithDbRejectsTheSecondUseOfAToken() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        _ = trail
        let db = s.path("trail.sqlite")
        let response = try s.write("r.json", TrailFixture.response(nonce: "cli-replay"))
        let args = TrailFixture.verifyArgs(nonce: "cli-replay", db: db, input: response)

        let first = try TrailRun.cli(args)
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.hasPrefix(#"{"outcome":"accepted","reason":null,"#))
        let second = try TrailRun.cli(args)
        #expect(second.status == 1, "\(second.stdout) \(second.stderr)")
        #expect(second.stdout.hasPrefix(#"{"outcome":"rejected","reason":"nonce_replayed","message":"nonce cli-replay was already accepted for product prod-trail","#), "\(second.stdout)")
        // Text output too.
        var text = args
        text.removeAll { $0 == "--format" || $0 == "json" }
        let third = try TrailRun.cli(text)
        #expect(third.status == 1 && third.stdout.hasPrefix("rejected: nonce_replayed: "), "\(third.stdout)")

        let reopened = try AuditTrail(path: db)
        #expect(try reopened.size() == 3)
        #expect(try reopened.entry(0).isAccepted)
        for seq: UInt64 in [1, 2] {
            let e = try reopened.entry(seq)
            #expect(e.reason == "nonce_replayed" && e.nonce == "cli-replay" && e.token != nil)
        }
        let v = try TrailRun.cli(["audit", "verify", "--db", db])
        #expect(v.status == 0 && v.stdout.hasPrefix("intact: 3 entries"), "\(v.stdout)")
    }

    @Test func racingProcessesAcceptANonceExactlyOnce() throws {
        let cli = try #require(TrailPaths.cli, "the meterproof executable was not found next to the tests")
        let s = try TrailScratch("race")
        let (trail, _) = try TrailFixture.makeTrail(s)
        let db = s.path("trail.sqlite")
        let rounds = 20
        var nonces: [String] = []
        for round in 0..<rounds {
            let nonce = "race-\(round)-\(UUID().uuidString)"
            nonces.append(nonce)
            let response = try s.write("r\(round).json", TrailFixture.response(nonce: nonce))
            let args = TrailFixture.verifyArgs(nonce: nonce, db: db, input: response)
            let a = try TrailRun.start(cli, args), b = try TrailRun.start(cli, args)
            let results = [try a.finish(), try b.finish()]
            let statuses = results.map(\.status).sorted()
            #expect(statuses == [0, 1], "round \(round): \(results)")
            let loser = results.first { $0.status == 1 }
            #expect(loser?.stdout.contains(#""reason":"nonce_replayed""#) == true, "round \(round): \(results)")
        }
        // Both attempts of every round are recorded: one acceptance, one replay each.
        #expect(try trail.size() == UInt64(2 * rounds))
        var accepted: [String: Int] = [:], replayed: [String: Int] = [:]
        for seq in 0..<UInt64(2 * rounds) {
            let e = try trail.entry(seq)
            let nonce = try #require(e.nonce)
            if e.isAccepted { accepted[nonce, default: 0] += 1 } else {
                #expect(e.reason == "nonce_replayed")
                replayed[nonce, default: 0] += 1
            }
        }
        for n in nonces {
            #expect(accepted[n] == 1 && replayed[n] == 1, "\(n)")
        }
        let v = try trail.verify()
        #expect(v.intact && v.entries == UInt64(2 * rounds))
    }
}
