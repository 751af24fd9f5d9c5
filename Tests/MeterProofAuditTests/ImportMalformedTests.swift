import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

/// Malformed capture lines are recorded as rejected entries (never dropped, never fatal), with
/// their file and line; blank lines are counted and skipped; CRLF works; overlong lines are
/// recognised by the hash of all their bytes.
@Suite struct ImportMalformedTests {
    /// One malformed line and what its entry must say. `message` is the text after `<file>:<line>: `
    /// when the capture itself could not be read; `verifierMessage` the whole message when the line
    /// was a (broken) token that reached the verifier.
    struct Case {
        var line: [UInt8]
        var reason: String
        var message: String? = nil
        var verifierMessage: String? = nil
        var binding = "unbound"
        var token: String? = nil
    }

    static let request = #"{"productCode":"prod-import","publicKeyVersion":1,"nonce":"m-1"}"#

    static let cases: [Case] = [
        Case(line: Array("this is not json".utf8), reason: "malformed_token",
             verifierMessage: "token has 1 segment; a compact JWS has exactly three", token: "this is not json"),
        Case(line: Array("[1, 2, 3]".utf8), reason: "malformed_input", message: "input is a JSON array, not a response object or token"),
        Case(line: Array("42".utf8), reason: "malformed_input", message: "input is a JSON number, not a response object or token"),
        Case(line: Array("null".utf8), reason: "malformed_input", message: "input is a JSON null, not a response object or token"),
        Case(line: Array(#"{"request": \#(request), "capturedAt": "2026-11-01T00:00:05Z"}"#.utf8), reason: "malformed_input",
             message: #"capture has no "response""#),
        Case(line: Array(#"{"response": {"Signature": "a.b.c"}, "request": null}"#.utf8), reason: "malformed_input",
             message: #"capture has no "request" object"#),
        Case(line: Array(#"{"request": {"publicKeyVersion": 1, "nonce": "m-1"}, "response": {"Signature": "a.b.c"}}"#.utf8),
             reason: "malformed_input", message: "capture request has no ProductCode string"),
        Case(line: Array(#"{"request": {"productCode": 5, "publicKeyVersion": 1}, "response": {"Signature": "a.b.c"}}"#.utf8),
             reason: "malformed_input", message: "capture request has no ProductCode string"),
        Case(line: Array(#"{"request": {"productCode": "p", "ProductCode": "p", "publicKeyVersion": 1}, "response": {"Signature": "a.b.c"}}"#.utf8),
             reason: "malformed_input", message: "capture request carries both ProductCode and productCode"),
        Case(line: Array(#"{"request": {"productCode": "p", "publicKeyVersion": 1, "Nonce": "a", "nonce": "a"}, "response": {"Signature": "a.b.c"}}"#.utf8),
             reason: "malformed_input", message: "capture request carries both Nonce and nonce"),
        Case(line: Array(#"{"request": \#(request), "response": {"Signature": "a.b.c"}, "capturedAt": "yesterday"}"#.utf8),
             reason: "malformed_input", message: #"capturedAt "yesterday" is not an RFC 3339 time"#),
        Case(line: Array(#"{"request": \#(request), "response": {"Signature": "a.b.c"}, "capturedAt": 1793577600}"#.utf8),
             reason: "malformed_input", message: "capturedAt is a number, not an RFC 3339 string"),
        Case(line: Array(#"{"request": \#(request), "response": {"Signature": "a.b.c"}, "capturedAt": ["2026-11-01T00:00:00Z"]}"#.utf8),
             reason: "malformed_input", message: "capturedAt is an array, not an RFC 3339 string"),
        Case(line: Array(#"{"request": {"productCode": "p", "publicKeyVersion": 1, "nonce": {}}, "response": {"Signature": "a.b.c"}}"#.utf8),
             reason: "malformed_input", message: "capture request Nonce is an object"),
        Case(line: Array(#"{"request": \#(request), "response": {"Signature": "a.b.c"}, "capturedAt": "2026-11-01T00:00:00Z", "capturedAt": "2026-11-01T00:00:00Z"}"#.utf8),
             reason: "duplicate_member", message: #"capture has duplicate member "capturedAt""#),
        Case(line: Array(#"{"request": "#.utf8), reason: "malformed_input",
             message: "capture line is not valid JSON: unexpected end of JSON at byte 12"),
        Case(line: Array(#"{"Signature": 42}"#.utf8), reason: "malformed_input", message: #"response "Signature" is not a string"#),
        Case(line: Array(#"{"Signature": "a"#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), reason: "malformed_input"),
        Case(line: [0xC3, 0x28, 0x2E, 0x61, 0x2E, 0x62], reason: "malformed_input",
             message: "input is neither JSON nor a token (not UTF-8)"),
        Case(line: Array("eyJhbGciOiJQUzI1NiJ9.e30".utf8), reason: "malformed_token",
             verifierMessage: "token has 2 segments; a compact JWS has exactly three", token: "eyJhbGciOiJQUzI1NiJ9.e30"),
        Case(line: Array(#"{"request": \#(request), "response": "eyJhbGciOiJQUzI1NiJ9.e30"}"#.utf8), reason: "malformed_token",
             verifierMessage: "token has 2 segments; a compact JWS has exactly three", binding: "bound", token: "eyJhbGciOiJQUzI1NiJ9.e30"),
    ]

    @Test func everyMalformedLineIsRecordedWithItsFileAndLine() throws {
        let blanks: [[UInt8]] = [[], Array("   ".utf8), [0x0D], [0x09, 0x20, 0x0D], [0x0D, 0x0D]]
        // Interleave: a blank line after every third case.
        var lines: [[UInt8]] = []
        var caseLine: [Int] = []
        var nextBlank = 0
        for (i, c) in Self.cases.enumerated() {
            lines.append(c.line)
            caseLine.append(lines.count)
            if i % 3 == 2 && nextBlank < blanks.count {
                lines.append(blanks[nextBlank])
                nextBlank += 1
            }
        }
        let blankCount = lines.count - Self.cases.count
        #expect(blankCount == 5)
        lines.append([])  // and one at the very end (no recorded entry, but counted)

        let bed = try ImportBed()
        let file = bed.scratch.path("malformed.jsonl")
        let summary = try bed.run("malformed.jsonl", ImportFixture.file(lines))
        let n = Self.cases.count
        #expect(summary.lines == n + blankCount + 1 && summary.blankLines == blankCount + 1)
        #expect(summary.recorded == n && summary.rejected == n && summary.accepted == 0 && summary.duplicates == 0)
        #expect(summary.boundCaptures == 1 && summary.unboundCaptures == n - 1)
        #expect(summary.reasons == ["malformed_input": 17, "malformed_token": 3, "duplicate_member": 1])
        #expect(summary.firstSeq == 0 && summary.lastSeq == UInt64(n - 1) && summary.treeSize == UInt64(n))

        let entries = try bed.entries()
        try #require(entries.count == n)
        for (i, (e, c)) in zip(entries, Self.cases).enumerated() {
            let where_ = "case \(i): \(String(decoding: c.line, as: UTF8.self))"
            #expect(e.outcome == "rejected", "\(where_)")
            #expect(e.reason == c.reason, "\(where_)")
            #expect(e.binding == c.binding, "\(where_)")
            #expect(e.captureFile == file)
            #expect(e.captureLine == Int64(caseLine[i]), "\(where_)")
            #expect(e.captureHash == ImportFixture.hex(c.line), "\(where_)")
            #expect(e.token == c.token, "\(where_)")
            #expect(e.productCode == nil && e.nonce == nil && e.issuedAt == nil && e.keyFingerprint == nil && e.warnings == nil, "\(where_)")
            #expect(e.capturedAt == nil, "\(where_)")
            let msg = try #require(e.message)
            if let v = c.verifierMessage {
                #expect(msg == v, "\(where_)")
            } else {
                let prefix = "\(file):\(caseLine[i]): "
                #expect(msg.hasPrefix(prefix), "\(where_): \(msg)")
                if let m = c.message { #expect(msg == prefix + m, "\(where_)") }
            }
        }
        #expect(try bed.captureRows() == Int64(n))
        #expect(try bed.trail().verify().intact)

        // Importing it again records nothing: malformed lines are deduplicated like any other.
        let again = try bed.run(files: [file])
        #expect(again.recorded == 0 && again.duplicates == n && again.blankLines == blankCount + 1)
        #expect(try bed.trail().size() == UInt64(n))
    }

    /// An unbound capture's key is picked by its payload's own key version claim. A payload that
    /// does not parse, or is not an object, is recorded with the reason and message a bound
    /// verification of the same token gives, not as a missing claim; `missing_claim` stays for
    /// a well-formed object that names no usable key version.
    @Test func anUnboundTokenWhosePayloadIsNotAJSONObjectIsRecordedWithItsOwnReason() throws {
        func token(_ payload: [UInt8]) throws -> String { try ResponseSimulator(signingKey: TrailFixture.v1).token(payload: payload) }
        let p = ImportFixture.productCode
        let duplicate = try token(Array(#"{"productCode":"\#(p)","publicKeyVersion":1,"publicKeyVersion":2,"nonce":"u-dup"}"#.utf8))
        let notUTF8 = try token(Array(#"{"productCode":"prod-"#.utf8) + [0xC3, 0x28] + Array(#"","publicKeyVersion":1,"nonce":"u-utf8"}"#.utf8))
        let loneSurrogate = try token(Array(#"{"productCode":"\#(p)\ud800","publicKeyVersion":1,"nonce":"u-surrogate"}"#.utf8))
        let array = try token(Array(#"[{"productCode":"\#(p)","publicKeyVersion":1,"nonce":"u-array"}]"#.utf8))
        let noVersion = try token(Array(#"{"productCode":"\#(p)","nonce":"u-none","iat":\#(ImportFixture.base)}"#.utf8))
        let badVersion = try token(Array(#"{"productCode":"\#(p)","publicKeyVersion":"01","nonce":"u-01"}"#.utf8))
        let noUsableVersion = "unbound token: the payload names no usable publicKeyVersion to select a key"
        // Token, line (every unbound shape), reason, message.
        let cases: [(token: String, line: String, reason: String, message: String)] = [
            (duplicate, duplicate, "duplicate_member", #"payload has duplicate member "publicKeyVersion""#),
            (notUTF8, JSONText.quoted(notUTF8), "malformed_json", "payload is not valid UTF-8 JSON: string is not valid UTF-8 at byte 16"),
            (loneSurrogate, ImportFixture.response(loneSurrogate), "malformed_json",
             #"payload is not valid UTF-8 JSON: lone high surrogate in \u escape at byte 33"#),
            (array, #"{"RegisterUsageResult":"# + ImportFixture.response(array) + "}", "malformed_json", "payload is a JSON array, not an object"),
            (noVersion, noVersion, "missing_claim", noUsableVersion),
            (badVersion, JSONText.quoted(badVersion), "missing_claim", noUsableVersion),
        ]
        let bed = try ImportBed()
        let summary = try bed.run("unbound-payloads.jsonl", lines: cases.map(\.line))
        #expect(summary.digest == "lines=6 blank=0 recorded=6 dup=0 accepted=0 rejected=6 bound=0 unbound=6 "
                + "reasons[duplicate_member=1,malformed_json=3,missing_claim=2] warnings[] seqs=0..5 size=6 interrupted=false")
        let entries = try bed.entries()
        try #require(entries.count == cases.count)
        let verifier = Verifier(keyring: TrailFixture.keyring, policy: .offline)
        for (i, (e, c)) in zip(entries, cases).enumerated() {
            #expect(e.outcome == "rejected" && e.binding == "unbound", "line \(i + 1)")
            #expect(e.reason == c.reason, "line \(i + 1)")
            #expect(e.message == c.message, "line \(i + 1)")
            #expect(e.token == c.token, "line \(i + 1)")
            #expect(e.productCode == nil && e.publicKeyVersion == nil && e.keyFingerprint == nil, "line \(i + 1)")
            // What `meterproof verify` says of the same token when the payload does not parse.
            if c.reason != "missing_claim" {
                let request = RegisterUsageRequest(productCode: p, publicKeyVersion: 1, nonce: nil)
                let bound = verifier.verify(Array(c.token.utf8), expecting: request)
                #expect(bound.reasonCode == c.reason && bound.error?.reason == c.message, "line \(i + 1)")
            }
        }
        #expect(try bed.trail().verify().intact)
    }

    @Test func aTokenNearTheLineLimitIsRecordedWithoutItsBytesAndTheImportGoesOn() throws {
        // Just under the 1 MiB line limit: too large for any token, and its text alone would put
        // the entry over the 1 MiB entry limit. The entry says why, without the token.
        let huge = #"{"Signature":""# + String(repeating: "A", count: Capture.maxLineBytes - 40) + #""}"#
        let good = try ImportFixture.token("after-huge")
        let bed = try ImportBed()
        let s = try bed.run("huge.jsonl", lines: [huge, good])
        #expect(s.recorded == 2 && s.accepted == 1 && s.reasons == ["token_too_large": 1])
        let e = try bed.entries()
        #expect(e[0].reason == "token_too_large" && e[0].token == nil)
        #expect(e[0].message == "token of \(Capture.maxLineBytes - 40) bytes exceeds the 16384-byte limit; the token is not recorded")
        #expect(e[1].isAccepted && e[1].token == good)
        #expect(try bed.trail().verify().intact)
        // A token just over the limit is not kept either; one at the limit would be (not reachable
        // as a valid token, but the rule is the verifier's own limit).
        let over = String(repeating: "B", count: TokenLimits.maxTokenBytes + 1)
        let bed2 = try ImportBed()
        _ = try bed2.run("over.jsonl", lines: [over])
        #expect(try bed2.entries()[0].token == nil)
    }

    @Test func crlfLineEndingsWork() throws {
        let tok = try ImportFixture.token("crlf-1")
        let tok2 = try ImportFixture.token("crlf-2")
        let lines = [ImportFixture.bound(tok, nonce: "crlf-1", capturedAt: ImportFixture.time(ImportFixture.base + 1)), tok2, "[]"]
        let crlf = ImportFixture.file(lines.map { Array($0.utf8) } + [[]], terminator: [0x0D, 0x0A])
        let bed = try ImportBed()
        let s = try bed.run("crlf.jsonl", crlf)
        #expect(s.digest == "lines=4 blank=1 recorded=3 dup=0 accepted=2 rejected=1 bound=1 unbound=2 reasons[malformed_input=1] "
                + "warnings[] seqs=0..2 size=3 interrupted=false")
        let e = try bed.entries()
        #expect(e.map(\.captureLine) == [1, 2, 3])
        // The hash is of the line without its terminator, so the LF-only file is the same captures.
        #expect(e.map(\.captureHash) == lines.map { ImportFixture.hex($0) })
        #expect(e[1].token == tok2)
        let lf = try bed.run("lf.jsonl", lines: lines)
        #expect(lf.recorded == 0 && lf.duplicates == 3)
        // A final line without any terminator is read too.
        let last = try bed.run("noeol.jsonl", Array(("\r\n" + tok2 + "\r\n" + "[true]").utf8))
        #expect(last.lines == 3 && last.blankLines == 1 && last.duplicates == 1 && last.recorded == 1)
        #expect(try bed.entries().last?.captureHash == ImportFixture.hex("[true]"))
    }

    /// A UTF-8 byte-order mark (as Windows tools write) at the very start of a captures file is
    /// not part of the first line: that line is imported exactly as without it (same hash, so
    /// the file without the mark is all duplicates). A mark anywhere else is part of its line.
    @Test func aByteOrderMarkIsSkippedAtTheStartOfAFileOnly() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let first = try ImportFixture.token("bom-1")
        let second = ImportFixture.bound(try ImportFixture.token("bom-2"), nonce: "bom-2", capturedAt: ImportFixture.time(ImportFixture.base + 1))
        let bed = try ImportBed()
        let s = try bed.run("bom.jsonl", bom + ImportFixture.file([first, second]))
        #expect(s.digest == "lines=2 blank=0 recorded=2 dup=0 accepted=2 rejected=0 bound=1 unbound=1 reasons[] "
                + "warnings[] seqs=0..1 size=2 interrupted=false")
        let e = try bed.entries()
        #expect(e[0].captureLine == 1 && e[0].token == first && e[0].nonce == "bom-1")
        #expect(e.map(\.captureHash) == [ImportFixture.hex(first), ImportFixture.hex(second)])
        let plain = try bed.run("plain.jsonl", lines: [first, second])
        #expect(plain.recorded == 0 && plain.duplicates == 2)

        // At the start of line 2, or a second mark after the first, it stays: a malformed token.
        let third = try ImportFixture.token("bom-3"), fourth = try ImportFixture.token("bom-4")
        let file = bed.scratch.path("inside.jsonl")
        let inside = try bed.run("inside.jsonl", bom + bom + Array(third.utf8) + [0x0A] + bom + Array(fourth.utf8) + [0x0A])
        #expect(inside.digest == "lines=2 blank=0 recorded=2 dup=0 accepted=0 rejected=2 bound=0 unbound=2 "
                + "reasons[malformed_token=2] warnings[] seqs=2..3 size=4 interrupted=false")
        let rejected = try bed.entries()[2...]
        #expect(rejected.map(\.captureFile) == [file, file])
        #expect(rejected.map(\.captureLine) == [1, 2])
        #expect(rejected.map(\.captureHash) == [ImportFixture.hex(bom + Array(third.utf8)), ImportFixture.hex(bom + Array(fourth.utf8))])
        #expect(rejected.map(\.message) == Array(repeating: "header segment is not canonical unpadded base64url", count: 2))
        #expect(try bed.trail().verify().intact)
    }

    /// Lines longer than `Capture.maxLineBytes` are rejected as `malformed_input`, and
    /// identified by the SHA-256 of all their bytes, however the reader met them.
    @Test func overlongLinesAreRecordedOnceEachByTheirFullHash() throws {
        let max = Capture.maxLineBytes
        // A: just over the limit (seen whole in the read buffer); B: the same length, differing
        // only in its last byte; C: several buffers long (hashed while it streams past).
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: max + 1)
        var b = a
        b[b.count - 1] = UInt8(ascii: "b")
        let c = [UInt8](repeating: UInt8(ascii: "c"), count: 2 * max + 100)
        let ok = Array(try ImportFixture.token("overlong-ok").utf8)
        let lines: [[UInt8]] = [a, ok, b, c, a, c, b]
        let bed = try ImportBed()
        let file = bed.scratch.path("overlong.jsonl")
        let s = try bed.run("overlong.jsonl", ImportFixture.file(lines))
        #expect(s.digest == "lines=7 blank=0 recorded=4 dup=3 accepted=1 rejected=3 bound=0 unbound=4 reasons[malformed_input=3] "
                + "warnings[] seqs=0..3 size=4 interrupted=false")
        let e = try bed.entries()
        #expect(e.map(\.captureLine) == [1, 2, 3, 4])
        #expect(e.map(\.captureHash) == [a, ok, b, c].map { ImportFixture.hex($0) })
        for i in [0, 2, 3] {
            #expect(e[i].reason == "malformed_input" && e[i].binding == "unbound" && e[i].token == nil)
            #expect(e[i].message == "\(file):\(i + 1): capture line longer than \(max) bytes")
        }
        #expect(e[1].isAccepted)
    }

    /// An overlong CRLF line whose CR is the last byte of a read buffer: the CR is still part of
    /// the terminator, so the line hashes as without it (and a copy with an LF ending is a duplicate).
    @Test func anOverlongCRLFLineIsHashedWithoutItsCR() throws {
        let max = Capture.maxLineBytes
        // The reader fills 1 MiB at a time; a line of 2 MiB - 1 bytes puts its CR at offset 2 MiB - 1.
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: 2 * max - 1)
        let bytes = body + [0x0D, 0x0A] + body + [0x0A] + body + [0x0D, 0x0A]
        let bed = try ImportBed()
        let s = try bed.run("overlong-crlf.jsonl", bytes)
        #expect(s.recorded == 1 && s.duplicates == 2 && s.lines == 3)
        #expect(try bed.entries().map(\.captureHash) == [ImportFixture.hex(body)])
    }
}
