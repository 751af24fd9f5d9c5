import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// The fast entry writer and checker must agree exactly with the general RFC 8785 route.
@Suite("Entry codec fast paths")
struct EntryCodecTests {
    static let tricky = ["", "a", "quote \" back\\slash", "ctl \u{01}\u{08}\u{09}\u{0A}\u{0C}\u{0D}\u{1F}\u{7F}", "/slash", "é ü 中 😀", "\u{FB33}\u{10000}", "comma, inside", ",", "\"quoted, comma\"",
                         "=1+1", "+x", "-", "@sum, a", "\t=tab", "\rcr", "'=already"]

    func randomEntry(_ rng: inout SystemRandomNumberGenerator, seq: UInt64) -> AuditEntry {
        func s() -> String? { Bool.random(using: &rng) ? nil : Self.tricky.randomElement(using: &rng)! + String(Int.random(in: 0...999, using: &rng)) }
        func i() -> Int64? { Bool.random(using: &rng) ? nil : Int64.random(in: Int64.min...Int64.max, using: &rng) }
        let accepted = Bool.random(using: &rng)
        var e = AuditEntry(rejected: .badSignature, message: s() ?? "m", source: Bool.random(using: &rng) ? .live : .import, capture: nil)
        e.seq = seq
        e.recordedAt = "2026-11-27T12:00:00.000Z"
        e.binding = Bool.random(using: &rng) ? "bound" : "unbound"
        e.outcome = accepted ? "accepted" : "rejected"
        e.reason = accepted ? nil : "bad_signature"
        e.message = s(); e.productCode = s(); e.publicKeyVersion = i(); e.nonce = s(); e.issuedAt = i()
        e.keyFingerprint = s(); e.warnings = s(); e.token = s(); e.capturedAt = s(); e.captureFile = s()
        e.captureLine = i(); e.captureHash = s()
        return e
    }

    @Test("fast writer equals CanonicalJSON.serialize, and both readers accept it")
    func writerMatchesReference() throws {
        var rng = SystemRandomNumberGenerator()
        for n in 0..<500 {
            let e = randomEntry(&rng, seq: UInt64(n) * 7_919)
            let reference = try CanonicalJSON.serialize(e.members)
            let fast = try e.canonicalBytes()
            #expect(fast == reference)
            let summary = try fast.withUnsafeBytes { try AuditEntry.checkCanonical($0).get() }
            #expect(summary.seq == e.seq)
            #expect(summary.accepted == e.isAccepted)
            #expect(summary.hasNonce == (e.nonce != nil))
            let expectedNonce = e.isAccepted && e.productCode != nil ? e.nonce : nil
            #expect(summary.acceptedNonce?.nonce == expectedNonce)
            #expect(summary.acceptedNonce?.productCode == (expectedNonce == nil ? nil : e.productCode))
            #expect(try AuditEntry(canonicalBytes: fast) == e)
            #expect(try AuditEntry(referenceCanonicalBytes: fast) == e)
        }
    }

    @Test("JSON string escaping (8 bytes at a time) equals a character-by-character reference")
    func quotingMatchesNaiveReference() {
        func naive(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        }
        let alphabet: [Character] = ["a", "Z", "0", "-", "_", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}", "é", "中", "😀", " "]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let s = String((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            #expect(JSONText.quoted(s) == naive(s), "\(Array(s.utf8))")
        }
    }

    @Test("whole words of plain bytes are skipped; a word holding a special byte is not")
    func skipPlainWordsStopsAtTheRightWord() {
        func skip(_ text: String, _ stopAtNonASCII: Bool) -> Int {
            Array(text.utf8).withUnsafeBytes { JSONText.skipPlainWords($0, from: 0, stopAtNonASCII: stopAtNonASCII) }
        }
        let plain = String(repeating: "abcdEFGH", count: 8)  // 64 bytes
        #expect(skip(plain, true) == 64 && skip(plain + "xyz", true) == 64)
        for (special, ascii) in [("\"", true), ("\\", true), ("\n", true), ("\u{01}", true), ("\u{1F}", true), ("é", false)] {
            var s = Array(plain)
            s[20] = Character(special)
            let text = String(s)
            #expect(skip(text, true) == 16, "\(special)")
            #expect(skip(text, false) == (ascii ? 16 : text.utf8.count / 8 * 8), "\(special)")
        }
        #expect(skip(" ~}{[]/!", true) == 8)  // 0x20 and 0x7E are plain
    }

    @Test("the export reads canonical bytes into the same selection, fields and CSV row as the decoded entry")
    func exportViewMatchesDecodedEntry() throws {
        var rng = SystemRandomNumberGenerator()
        let recorded = try #require(RFC3339.parseMilliseconds("2026-11-27T12:00:00.000Z"))
        for n in 0..<500 {
            let e = randomEntry(&rng, seq: UInt64(n))
            let bytes = try e.canonicalBytes()
            var filters = [EntryFilter(), EntryFilter(outcome: "accepted"), EntryFilter(outcome: "rejected"),
                           EntryFilter(productCode: "nope"), EntryFilter(since: recorded), EntryFilter(since: recorded + 1),
                           EntryFilter(until: recorded), EntryFilter(until: recorded + 1)]
            if let pc = e.productCode { filters.append(EntryFilter(productCode: pc)) }
            for f in filters {
                var csv: [UInt8] = [0x21]
                let v = try bytes.withUnsafeBytes { try AuditEntry.exportView($0, filter: f, csvInto: &csv).get() }
                #expect(v.selected == f.matches(e), "\(f)")
                #expect(v.seq == e.seq && v.accepted == e.isAccepted)
                guard v.selected else {
                    #expect(csv == [0x21])
                    continue
                }
                #expect(csv == [0x21] + EntryCSV.row(e), "\(String(decoding: csv, as: UTF8.self))")
                // The fingerprint comes back as its raw canonical content; decoded, it is the entry's.
                let fingerprint = v.keyFingerprint.flatMap { r in
                    (try? StrictJSON.parse([0x22] + Array(bytes[r]) + [0x22]))?.stringValue
                }
                #expect((v.keyFingerprint == nil) == (e.keyFingerprint == nil))
                #expect(v.reason == e.reason && fingerprint == e.keyFingerprint && v.publicKeyVersion == e.publicKeyVersion
                        && v.hasToken == (e.token != nil))
            }
        }
    }

    @Test("one-pass checker refuses exactly what the reference reader refuses, on single-byte edits")
    func checkerAgreesOnMutations() throws {
        var rng = SystemRandomNumberGenerator()
        var refused = 0, checked = 0
        for n in 0..<60 {
            let bytes = try randomEntry(&rng, seq: UInt64(n)).canonicalBytes()
            for _ in 0..<40 {
                var m = bytes
                let at = Int.random(in: 0..<m.count, using: &rng)
                m[at] = [0x20, 0x22, 0x5C, 0x2C, 0x30, 0x6E, 0x7B, 0xFF, 0xC3, 0x41].randomElement(using: &rng)!
                let fastOK = (try? m.withUnsafeBytes { try AuditEntry.checkCanonical($0).get() }) != nil
                let slow = try? AuditEntry(referenceCanonicalBytes: m)
                let slowOK = slow != nil
                #expect(fastOK == slowOK, "disagreement on \(String(decoding: m, as: UTF8.self))")
                let fastEntry = try? AuditEntry(canonicalBytes: m)
                #expect(fastEntry == slow)
                checked += 1
                if !fastOK { refused += 1 }
            }
        }
        #expect(checked == 2400)
        #expect(refused > 500)
    }

    @Test("a member name canonically equivalent to a field name is refused by both readers")
    func lookAlikeNamesAreRefused() throws {
        // KELVIN SIGN (U+212A) for the K of publicKeyVersion: equal as Swift Strings, not as
        // bytes. The reference reader matched it through a dictionary (found by fuzzing).
        var rng = SystemRandomNumberGenerator()
        let bytes = try randomEntry(&rng, seq: 3).canonicalBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        try #require(text.contains("\"publicKeyVersion\":"))
        let kelvin = Array(text.replacingOccurrences(of: "\"publicKeyVersion\":", with: "\"public\u{212A}eyVersion\":").utf8)
        #expect((try? AuditEntry(referenceCanonicalBytes: kelvin)) == nil)
        #expect((try? AuditEntry(canonicalBytes: kelvin)) == nil)
        #expect(kelvin.withUnsafeBytes { AuditEntry.readsBack($0) } != nil)
    }

    @Test("specific refusals", arguments: [
        (#"{"binding":"bound"}"#, "expected member"),
        ("", "expected member"),
    ])
    func refusals(text: String, fragment: String) {
        let r = Array(text.utf8).withUnsafeBytes { AuditEntry.checkCanonical($0) }
        guard case .failure(let e) = r else { Issue.record("accepted \(text)"); return }
        #expect(e.message.contains(fragment))
    }

    @Test("reason must be null exactly when accepted, -0 and leading zeros refused")
    func semanticRefusals() throws {
        var rng = SystemRandomNumberGenerator()
        var e = randomEntry(&rng, seq: 5)
        e.outcome = "accepted"
        e.reason = "bad_signature"
        let b = e.fastCanonicalBytes()
        #expect(throws: EntryFormatError.self) { try b.withUnsafeBytes { try AuditEntry.checkCanonical($0).get() } }
        e.reason = nil
        e.publicKeyVersion = 0
        let ok = e.fastCanonicalBytes()
        let text = String(decoding: ok, as: UTF8.self)
        for bad in [text.replacingOccurrences(of: "\"publicKeyVersion\":0", with: "\"publicKeyVersion\":-0"),
                    text.replacingOccurrences(of: "\"seq\":5", with: "\"seq\":05"),
                    text.replacingOccurrences(of: "\"seq\":5", with: "\"seq\":-5")] {
            #expect(bad != text)
            #expect(throws: EntryFormatError.self) { try Array(bad.utf8).withUnsafeBytes { try AuditEntry.checkCanonical($0).get() } }
        }
    }
}
