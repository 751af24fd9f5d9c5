import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// Items prepared ahead of the append (as an import does on its verification threads) must be
/// recorded exactly as unprepared ones, duplicates included.
@Suite("Trail prepared append")
struct TrailPreparedAppendTests {
    /// A batch exercising every path of the append: accepted and rejected, a nonce replayed inside
    /// the batch, a capture repeated inside the batch, the capture hash given only as (uppercase)
    /// hex on the entry, escapes (one message mostly escapes) and non-ASCII text, and null fields.
    static func items() -> [AuditTrail.Pending] {
        var out: [AuditTrail.Pending] = []
        for i in 0..<40 {
            var e = TrailFixture.entry(i, nonce: i % 4 == 0 ? "n-\(i / 8)" : nil) // n-0 twice, n-1 twice, ...
            e.message = i % 4 == 0 ? nil : "line \(i): \"quoted\" \\ tab\t caf\u{E9} \u{1F600} \u{7}"
            e.issuedAt = i % 3 == 0 ? nil : 1_800_000_000 + Int64(i)
            // Escapes that make the canonical bytes six times the text: past any size estimate.
            if i == 38 { e.message = String(repeating: "\u{1}", count: 600) }
            let hash = SHA256.hash("capture \(i % 13)") // lines 13.. repeat earlier captures
            switch i % 3 {
            case 0: out.append(.init(entry: e, captureHash: hash))
            case 1:
                e.captureHash = Hex.encode(hash).uppercased()
                out.append(.init(entry: e))
            default: out.append(.init(entry: e))
            }
        }
        return out
    }

    /// The reported outcomes with the append time blanked (two appends never share it).
    static func normalized(_ out: [AuditTrail.AppendOutcome]) -> [String] {
        out.map {
            switch $0 {
            case .duplicate(let seq): return "duplicate \(seq)"
            case .recorded(var e):
                e.recordedAt = ""
                return String(decoding: e.fastCanonicalBytes(), as: UTF8.self)
            }
        }
    }

    @Test func preparedAndUnpreparedItemsAreRecordedIdentically() throws {
        let s = try TrailScratch()
        let (plain, _) = try TrailFixture.makeTrail(s, "plain.sqlite")
        let (fast, _) = try TrailFixture.makeTrail(s, "fast.sqlite")
        var prepared = Self.items()
        for i in prepared.indices { prepared[i].prepare() }
        #expect(prepared.allSatisfy { $0.prepared != nil })

        let a = try plain.append(Self.items())
        #expect(plain.splicedInLastAppend == 0)
        let b = try fast.append(prepared)
        #expect(Self.normalized(a) == Self.normalized(b))
        // Every recorded item the nonce rule left alone came from its preparation.
        let recorded = b.filter { if case .recorded = $0 { true } else { false } }.count
        let replayed = b.filter { if case .recorded(let e) = $0 { e.reason == "nonce_replayed" } else { false } }.count
        #expect(fast.splicedInLastAppend == recorded - replayed)
        #expect(fast.splicedInLastAppend > 20)
        // The batch did hit the replay and duplicate paths.
        #expect(b.contains { if case .duplicate = $0 { true } else { false } })
        #expect(b.contains { if case .recorded(let e) = $0 { e.reason == "nonce_replayed" } else { false } })
        // What is stored is byte for byte the canonical form of what was reported.
        for case .recorded(let e) in b {
            #expect(try fast.entryBytes(e.seq) == e.canonicalBytes())
        }
        #expect(try fast.verify().intact)
        #expect(try plain.verify().intact)
    }

    @Test func anItemChangedAfterPreparingIsRecordedWithItsChanges() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        var item = AuditTrail.Pending(entry: TrailFixture.entry(0), captureHash: SHA256.hash("line"))
        item.prepare()
        item.entry.message = "changed after preparing"
        var other = AuditTrail.Pending(entry: TrailFixture.entry(1), captureHash: SHA256.hash("first"))
        other.prepare()
        other.captureHash = SHA256.hash("second")
        let out = try trail.append([item, other])
        guard case .recorded(let e0) = out[0], case .recorded(let e1) = out[1] else { Issue.record("unexpected \(out)"); return }
        #expect(e0.message == "changed after preparing")
        #expect(try AuditEntry(canonicalBytes: trail.entryBytes(0)).message == "changed after preparing")
        #expect(e1.captureHash == Hex.encode(SHA256.hash("second")))
        #expect(try AuditEntry(canonicalBytes: trail.entryBytes(1)).captureHash == Hex.encode(SHA256.hash("second")))
        #expect(try trail.verify().intact)
        #expect(trail.splicedInLastAppend == 0)
    }

    /// The preparation goes with any change to what it was made from, and only with such a change.
    @Test func changingTheEntryOrCaptureHashDropsThePreparation() {
        var item = AuditTrail.Pending(entry: TrailFixture.entry(0), captureHash: SHA256.hash("line"))
        item.prepare()
        #expect(item.prepared != nil)
        item.key = (2, [1, 2, 3]) // not part of the entry's bytes
        #expect(item.prepared != nil)
        item.entry.issuedAt = 1_800_000_000
        #expect(item.prepared == nil)
        item.prepare()
        #expect(item.prepared != nil)
        item.captureHash = SHA256.hash("other line")
        #expect(item.prepared == nil)
        item.prepare()
        let same = item.entry
        item.entry = same // even an assignment of the same value
        #expect(item.prepared == nil)
    }

    /// Every field an item carries, changed after preparing (strings to a canonically
    /// equivalent but different spelling, which `String ==` would call equal), is recorded as changed.
    @Test func everyFieldChangedAfterPreparingIsRecorded() throws {
        let strings: [(String, WritableKeyPath<AuditEntry, String?>)] = [
            ("message", \.message), ("productCode", \.productCode), ("nonce", \.nonce), ("keyFingerprint", \.keyFingerprint),
            ("warnings", \.warnings), ("token", \.token), ("capturedAt", \.capturedAt), ("captureFile", \.captureFile),
        ]
        let ints: [(String, WritableKeyPath<AuditEntry, Int64?>)] = [
            ("publicKeyVersion", \.publicKeyVersion), ("issuedAt", \.issuedAt), ("captureLine", \.captureLine),
        ]
        // The rest: binding, outcome, reason and source (below), captureHash (the item's own
        // test above), recordedAt and seq (filled in by the append). A new field must be added here.
        #expect(strings.count + ints.count + 4 + 1 + 2 == AuditEntry.fieldNames.count)

        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        func base() -> AuditEntry {
            var e = TrailFixture.entry(0)
            for (_, k) in strings { e[keyPath: k] = "caf\u{E9}" }
            for (_, k) in ints { e[keyPath: k] = 7 }
            return e
        }
        func check(_ name: String, _ change: (inout AuditEntry) -> Void) throws {
            var item = AuditTrail.Pending(entry: base())
            item.prepare()
            change(&item.entry)
            let out = try trail.append([item])
            guard case .recorded(let e) = out[0] else { Issue.record("\(name): \(out)"); return }
            #expect(trail.splicedInLastAppend == 0, "\(name): the stale preparation was used")
            var expected = item.entry
            expected.seq = e.seq
            expected.recordedAt = e.recordedAt
            #expect(try trail.entryBytes(e.seq) == expected.canonicalBytes(), "\(name)")
        }
        for (name, k) in strings { try check(name) { $0[keyPath: k] = "cafe\u{301}" } }
        for (name, k) in ints { try check(name) { $0[keyPath: k] = 8 } }
        try check("binding") { $0.binding = "bound" }
        try check("source") { $0.source = .import }
        try check("outcome and reason") { $0.outcome = "accepted"; $0.reason = nil; $0.nonce = "fresh-nonce"; $0.binding = "bound" }
        try check("reason") { $0.reason = "malformed_input" }
        // Unchanged, the preparation is used.
        var same = AuditTrail.Pending(entry: base())
        same.prepare()
        _ = try trail.append([same])
        #expect(trail.splicedInLastAppend == 1)
        #expect(try trail.verify().intact)
    }

    @Test func anEntryThatWouldNotReadBackIsRefusedPreparedOrNot() throws {
        let s = try TrailScratch()
        let (trail, _) = try TrailFixture.makeTrail(s)
        var e = TrailFixture.entry(0)
        e.outcome = "maybe"
        var item = AuditTrail.Pending(entry: e)
        item.prepare()
        #expect(item.prepared == nil)
        for candidate in [item, AuditTrail.Pending(entry: e)] {
            #expect(throws: AuditError.self) { try trail.append([AuditTrail.Pending(entry: TrailFixture.entry(1)), candidate]) }
            do { _ = try trail.append([candidate]) } catch { #expect(error.code == .invalidEntry) }
        }
        #expect(try trail.size() == 0) // nothing half-written: the good item in the batch went too
    }

    @Test func aKnownCaptureIsADuplicateEvenWithTheGuardTriggersDropped() throws {
        let s = try TrailScratch()
        let path = s.path("trail.sqlite")
        do {
            let (trail, _) = try TrailFixture.makeTrail(s)
            _ = try trail.append([.init(entry: TrailFixture.entry(0), captureHash: SHA256.hash("a")),
                                  .init(entry: TrailFixture.entry(1), captureHash: SHA256.hash("b"))])
        }
        // Without the trigger the primary key refuses the row; either way it is a duplicate.
        try TrailRaw.tamper(path) { _ in }
        let trail = try AuditTrail(path: path)
        var known = AuditTrail.Pending(entry: TrailFixture.entry(2), captureHash: SHA256.hash("b"))
        known.prepare()
        let out = try trail.append([known, .init(entry: TrailFixture.entry(3), captureHash: SHA256.hash("c"))])
        guard case .duplicate(let seq) = out[0], case .recorded(let e) = out[1] else { Issue.record("unexpected \(out)"); return }
        #expect(seq == 1)
        #expect(e.seq == 2)
        #expect(try trail.size() == 3)
    }
}
