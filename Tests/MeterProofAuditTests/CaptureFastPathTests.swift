import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// `Capture.plainBound` takes the common bound shape without parsing the whole line; wherever
/// it answers, the full route must give the same capture, and every other line (every error
/// included) must come out exactly as the full route has it.
@Suite struct CaptureFastPathTests {
    /// What a parse gave: the capture's values, or the error's code and message.
    static func outcome(_ parse: () throws(VerificationError) -> Capture) -> String {
        do {
            let c = try parse()
            let r = c.request.map { "\($0.productCode)|\($0.publicKeyVersion)|\($0.nonce ?? "nil")" } ?? "unbound"
            return "ok \(c.response.token) \(c.response.rotationTimestamp.map(String.init) ?? "nil") \(c.response.rotationTimestampText ?? "nil") "
                + "\(r) \(c.capturedAtMillis.map(String.init) ?? "nil") \(c.capturedAtText ?? "nil")"
        } catch {
            return "error \(error.code.rawValue): \(error.reason)"
        }
    }

    static func bothRoutes(_ line: [UInt8]) -> (public: String, full: String) {
        (outcome { () throws(VerificationError) in try Capture(line: line[...]) },
         outcome { () throws(VerificationError) in try Capture(fullyParsing: line[...]) })
    }

    static func plainLine(_ nonce: String = "n-1", token given: String? = nil) throws -> String {
        let token = try given ?? ImportFixture.token(nonce)
        return #"{"request":{"productCode":"\#(ImportFixture.productCode)","publicKeyVersion":1,"nonce":"\#(nonce)"},"#
            + #""response":{"Signature":"\#(token)","PublicKeyRotationTimestamp":null},"capturedAt":"2026-11-02T00:02:50.000Z"}"#
    }

    @Test func thePlainShapeIsTakenAndAgreesWithTheFullRoute() throws {
        let token = try ImportFixture.token("n-1")
        let line = Array(try Self.plainLine(token: token).utf8)
        let fast = try #require(Capture.plainBound(line[...]))
        #expect(fast.request == RegisterUsageRequest(productCode: ImportFixture.productCode, publicKeyVersion: 1, nonce: "n-1"))
        #expect(fast.capturedAtText == "2026-11-02T00:02:50.000Z" && fast.capturedAtMillis == RFC3339.parseMilliseconds("2026-11-02T00:02:50.000Z"))
        #expect(fast.response.token == token && fast.response.rotationTimestamp == nil && fast.response.rotationTimestampText == nil)
        let (p, f) = Self.bothRoutes(line)
        #expect(p == f && p.hasPrefix("ok "))
    }

    @Test func theShippedExamplesAgreeLineByLine() throws {
        let text = try String(contentsOfFile: ImportCommandTests.examples, encoding: .utf8)
        var taken = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = Array(raw.utf8)
            if Capture.plainBound(line[...]) != nil { taken += 1 }
            let (p, f) = Self.bothRoutes(line)
            #expect(p == f, "\(raw.prefix(80))")
        }
        #expect(taken >= 200) // the file's bound captures are in the plain shape
    }

    @Test func otherShapesAndRefusedLinesTakeTheFullRoute() throws {
        let token = try ImportFixture.token("n-2")
        let plain = try Self.plainLine("n-2")
        let lines = [
            plain.replacingOccurrences(of: #""productCode":"prod"#, with: #""productCode":"x","productCode":"prod"#),  // duplicate member
            plain.replacingOccurrences(of: #"{"request":"#, with: #"{ "request":"#),                                    // whitespace
            plain.replacingOccurrences(of: #","capturedAt""#, with: #","extra":1,"capturedAt""#),                     // another member
            plain.replacingOccurrences(of: #""publicKeyVersion":1"#, with: #""publicKeyVersion":{"v":1}"#),           // nested value
            plain.replacingOccurrences(of: #""nonce":"n-2""#, with: #""nonce":"n\u002d2""#),                          // an escape
            plain.replacingOccurrences(of: "null}", with: "1700000000}"),                                             // a rotation time
            plain.replacingOccurrences(of: "2026-11-02T00:02:50.000Z", with: "yesterday"),                           // bad capturedAt
            plain.replacingOccurrences(of: "2026-11-02T00:02:50.000Z", with: #"2026-11-02T00:02:50\u002e000Z"#),     // escaped capturedAt
            plain.replacingOccurrences(of: #""publicKeyVersion":1"#, with: #""publicKeyVersion":0"#),                // refused request
            plain.replacingOccurrences(of: #""productCode""#, with: #""ProductCode""#) + " ",                          // trailing space
            String(plain.dropLast()),                                                                                // cut short
            #"{"request":{"productCode":"p","publicKeyVersion":1,"nonce":"a}b"},"response":{"Signature":"\#(token)","PublicKeyRotationTimestamp":null},"capturedAt":"2026-11-02T00:02:50Z"}"#,
            #"{"request":{"productCode":"p","publicKeyVersion":1,"nonce":"x"},"response":{"Signature":"\#(token)","PublicKeyRotationTimestamp":null},"capturedAt":"2026-11-02T00:02:50Z","capturedAt":"2026-11-02T00:02:51Z"}"#,
        ]
        for line in lines {
            let (p, f) = Self.bothRoutes(Array(line.utf8))
            #expect(p == f, "\(line.prefix(100))")
        }
        // The duplicate is refused as such, not taken from either copy.
        #expect(Self.bothRoutes(Array(lines[0].utf8)).public.hasPrefix("error duplicate_member"))
        #expect(Self.bothRoutes(Array(lines[12].utf8)).public.hasPrefix("error duplicate_member"))
        // A brace inside a request string is part of the string.
        #expect(Self.bothRoutes(Array(lines[11].utf8)).public.contains("|a}b "))
        #expect(Capture.plainBound(Array(lines[11].utf8)[...]) != nil)
    }

    @Test func aLineOverTheLimitIsRefusedByBothRoutes() throws {
        // Found by fuzzing: the fast path bounded the request and the response but not the
        // line, so a 1 MiB + 720-byte line padded inside the request was taken.
        let plain = try Self.plainLine("n-3")
        let marker = "\"nonce\":\"n-3\""
        let padMember = ",\"pad\":\"\""
        let pad = Capture.maxLineBytes + 1 - plain.utf8.count - padMember.utf8.count
        let big = plain.replacingOccurrences(of: marker, with: marker + ",\"pad\":\"" + String(repeating: "x", count: pad) + "\"")
        #expect(big.utf8.count == Capture.maxLineBytes + 1)
        #expect(Capture.plainBound(Array(big.utf8)[...]) == nil)
        let (p, f) = Self.bothRoutes(Array(big.utf8))
        #expect(p == f && p.hasPrefix("error malformed_input: "), "\(p.prefix(200))")
        // A string PublicKeyVersion is held to the number form's range: malformed either way.
        for v in ["\"2147483648\"", "2147483648", "\"9223372036854775807\""] {
            let line = plain.replacingOccurrences(of: "\"publicKeyVersion\":1", with: "\"publicKeyVersion\":" + v)
            let (p, f) = Self.bothRoutes(Array(line.utf8))
            #expect(p == f && p.hasPrefix("error malformed_input: capture request PublicKeyVersion"), "\(v): \(p.prefix(160))")
        }
    }

    @Test func everySingleByteChangeComesOutAsTheFullRouteHasIt() throws {
        let line = Array(try Self.plainLine("n-3").utf8)
        var differentVerdicts = Set<String>()
        for i in line.indices {
            for b: UInt8 in [0x22, 0x5C, 0x7B, 0x7D, 0x2C, 0x3A, 0x20, 0x01, 0xC3, 0x61, 0x31, 0x2E] where line[i] != b {
                var m = line
                m[i] = b
                let (p, f) = Self.bothRoutes(m)
                #expect(p == f, "byte \(i) -> \(b)")
                differentVerdicts.insert(String(p.prefix(30)))
            }
        }
        #expect(differentVerdicts.count > 3) // the changes did reach different verdicts
    }
}
