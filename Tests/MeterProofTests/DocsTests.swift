import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// The reference documentation names every stable code the code can produce.
///
/// These tests fail when a code is added (or renamed) without being documented:
/// reason codes in docs/verification.md, `audit verify` problem codes in docs/audit-trail.md,
/// audit error codes in docs/audit-trail.md or docs/cli.md. A code counts as documented when
/// it appears in backticks, e.g. `bad_signature`.
@Suite("Docs")
struct DocsTests {
    /// The package root: three levels up from this file (Tests/MeterProofTests/DocsTests.swift).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/MeterProofTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root

    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// The codes in `codes` that `document` does not mention as `` `code` ``.
    static func undocumented(_ codes: some Sequence<String>, in documents: [String]) -> [String] {
        codes.filter { code in !documents.contains { $0.contains("`\(code)`") } }.sorted()
    }

    /// The string literals in the first argument of every `fail(` call in `source`: the problem
    /// codes of `TrailVerifier.swift`. The first argument runs to the first `,` or `)` outside
    /// parentheses, brackets and string literals, so `fail(a ? "x" : "y", …)` yields both.
    static func failCodes(in source: String) -> Set<String> {
        var codes = Set<String>()
        let chars = Array(source)
        let needle = Array("fail(")
        var i = 0
        while i + needle.count <= chars.count {
            guard Array(chars[i..<(i + needle.count)]) == needle else { i += 1; continue }
            // Skip identifiers that merely end in "fail(".
            if i > 0, chars[i - 1].isLetter || chars[i - 1].isNumber || chars[i - 1] == "_" { i += 1; continue }
            var j = i + needle.count
            var depth = 0
            var inString = false
            var escaped = false
            var literal = ""
            scan: while j < chars.count {
                let c = chars[j]
                if inString {
                    if escaped { escaped = false; literal.append(c) }
                    else if c == "\\" { escaped = true }
                    else if c == "\"" {
                        inString = false
                        if literal.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) != nil { codes.insert(literal) }
                        literal = ""
                    } else { literal.append(c) }
                } else {
                    switch c {
                    case "\"": inString = true
                    case "(", "[": depth += 1
                    case ")", "]":
                        if depth == 0 { break scan }
                        depth -= 1
                    case ",":
                        if depth == 0 { break scan }
                    default: break
                    }
                }
                j += 1
            }
            i += needle.count
        }
        return codes
    }

    @Test("every ReasonCode is in docs/verification.md")
    func reasonCodes() throws {
        let doc = try Self.text("docs/verification.md")
        let codes = ReasonCode.allCases.map(\.rawValue)
        #expect(codes.contains("bad_signature"))
        let missing = Self.undocumented(codes, in: [doc])
        #expect(missing.isEmpty, "docs/verification.md does not mention: \(missing.joined(separator: ", "))")
    }

    @Test("the fail() extractor sees plain and conditional codes")
    func extractor() {
        let sample = """
        func fail(_ code: String, _ message: String, seq: UInt64? = nil) -> Int { 0 }
        return fail("plain_code", "a message, with a comma", seq: 1)
        problem = fail(x > y ? "first_code" : "second_code", "entry \\(x) is \\(f(y, z))", seq: x)
        notfail("not_a_code", "x")
        """
        #expect(Self.failCodes(in: sample) == ["plain_code", "first_code", "second_code"])
    }

    @Test("every audit verify problem code is in docs/audit-trail.md")
    func problemCodes() throws {
        let source = try Self.text("Sources/MeterProofAudit/Trail/TrailVerifier.swift")
        let codes = Self.failCodes(in: source)
        // Guard against the extractor silently finding nothing.
        #expect(codes.contains("leaf_hash_mismatch"))
        #expect(codes.contains("missing_entry") && codes.contains("seq_order"))
        let doc = try Self.text("docs/audit-trail.md")
        let missing = Self.undocumented(codes, in: [doc])
        #expect(missing.isEmpty, "docs/audit-trail.md does not mention: \(missing.joined(separator: ", "))")
    }

    /// The message of every `fail(Exit.…, …)` and `printError(…)` call in the CLI's sources, as
    /// written (up to the literal's first quote), with the file it is in.
    static func cliMessages() throws -> [(file: String, message: String?)] {
        let dir = root.appendingPathComponent("Sources/meterproof")
        var out: [(file: String, message: String?)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where name.hasSuffix(".swift") {
            let source = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            // Not the helpers themselves: their definitions, and fail() passing its message on.
            for line in source.split(separator: "\n") where !line.contains("func fail(") && !line.contains("func printError(") && !line.contains("printError(message)") {
                for call in ["fail(Exit.", "printError("] {
                    var rest = line[...]
                    while let r = rest.range(of: call) {
                        rest = rest[r.upperBound...]
                        // fail(Exit.<code>, "<message>…"; printError("<message>…"
                        var arg = rest
                        if call == "fail(Exit." {
                            guard let comma = arg.firstIndex(of: ",") else { out.append((name, nil)); continue }
                            arg = arg[arg.index(after: comma)...].drop { $0 == " " }
                        }
                        guard arg.first == "\"" else { out.append((name, nil)); continue }
                        out.append((name, String(arg.dropFirst().prefix { $0 != "\"" })))
                    }
                }
            }
        }
        return out
    }

    @Test("every error the CLI prints starts with a code the docs name")
    func cliErrorCodes() throws {
        let messages = try Self.cliMessages()
        // Guard against the extractor silently finding nothing.
        #expect(messages.contains { $0.message?.hasPrefix("bad_input: keyring ") == true })
        #expect(messages.count > 15)
        let docs = [try Self.text("docs/cli.md"), try Self.text("docs/audit-trail.md"), try Self.text("docs/export-bundle.md")]
        for (file, message) in messages {
            guard let message else { Issue.record("\(file): an error message that is not a string literal starting with its code"); continue }
            // A code chosen at run time (`\(code): …`, `\(v.problemCode ?? …`), or a warning or note.
            if message.hasPrefix("\\("), message.prefix(while: { $0 != ")" }).lowercased().contains("code") { continue }
            if message.hasPrefix("warning: ") || message.hasPrefix("note: ") || message.hasPrefix("created trail ") { continue }
            guard let colon = message.range(of: ": "), message[..<colon.lowerBound].range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) != nil else {
                Issue.record("\(file): \"\(message)…\" does not start with `<code>: `")
                continue
            }
            let code = String(message[..<colon.lowerBound])
            #expect(Self.undocumented([code], in: docs).isEmpty, "\(file): `\(code)` is in no table of docs/cli.md, audit-trail.md or export-bundle.md")
        }
    }

    @Test("docs/verification.md names each code whose Swift member is not its lowerCamelCase")
    func swiftNamesThatDiffer() throws {
        let doc = try Self.text("docs/verification.md")
        func check<C: EnumBackedCode>(_ type: C.Type) {
            for c in C.allCases {
                let parts = c.rawValue.split(separator: "_")
                let camel = String(parts[0]) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
                let name = String(describing: c.backing)
                guard name != camel else { continue }
                // "`raw` is `Type.Code.name`" or "`raw` `.name`", close together.
                let documented = doc.ranges(of: "`\(c.rawValue)`").contains { r in
                    doc[r.upperBound...].prefix(40).contains(".\(name)`")
                }
                #expect(documented, "docs/verification.md does not say that `\(c.rawValue)` is .\(name) in Swift")
            }
        }
        check(ReasonCode.self)
        check(KeyringError.Code.self)
        check(KeyError.Code.self)
        check(AuditError.Code.self)
    }

    @Test("every KeyringError, KeyError and NonceError code is in docs/verification.md")
    func keyErrorCodes() throws {
        let codes = KeyringError.Code.allCases.map(\.rawValue) + KeyError.Code.allCases.map(\.rawValue) + [NonceError().code]
        #expect(codes.contains("pin_mismatch") && codes.contains("malformed_key") && codes.contains("random_failure"))
        let missing = Self.undocumented(codes, in: [try Self.text("docs/verification.md")])
        #expect(missing.isEmpty, "docs/verification.md does not mention: \(missing.joined(separator: ", "))")
    }

    @Test("every ExportError code is in docs/export-bundle.md, docs/audit-trail.md or docs/cli.md")
    func exportErrorCodes() throws {
        let codes = ExportError.Code.allCases.map(\.rawValue)
        #expect(codes.contains("bundle_exists") && codes.contains("not_a_trail"))
        #expect(Set(codes).count == codes.count, "a code listed twice: \(codes)")
        for c in [ExportError.Code.bundleExists, .badOutput, .noCheckpoint, .missingKey, .keyVersionConflict, .writeFailed, .notABundle, .interrupted] {
            #expect(ExportError.Code(rawValue: c.rawValue) == c)
        }
        #expect(ExportError.Code(rawValue: "bad_signature") == nil)
        let docs = [try Self.text("docs/export-bundle.md"), try Self.text("docs/audit-trail.md"), try Self.text("docs/cli.md")]
        let missing = Self.undocumented(codes, in: docs)
        #expect(missing.isEmpty, "the docs do not mention: \(missing.joined(separator: ", "))")
    }

    @Test("every AuditError code is in docs/audit-trail.md or docs/cli.md")
    func auditErrorCodes() throws {
        for c in AuditError.Code.allCases { #expect(AuditError.Code(rawValue: c.rawValue) == c) }
        #expect(AuditError.Code(rawValue: "bundle_exists") == nil)
        let codes = AuditError.Code.allCases.map(\.rawValue)
        #expect(codes.contains("not_a_trail"))
        let docs = [try Self.text("docs/audit-trail.md"), try Self.text("docs/cli.md")]
        let missing = Self.undocumented(codes, in: docs)
        #expect(missing.isEmpty, "docs/audit-trail.md and docs/cli.md do not mention: \(missing.joined(separator: ", "))")
    }

    /// The `check_bundle.py` hash that docs/export-bundle.md publishes for this version, the one
    /// an auditor compares the copy in a bundle's VERIFY.md with (never with the bundle's own
    /// SHA256SUMS). The script changes; this keeps the published value honest.
    @Test("docs/export-bundle.md publishes the SHA-256 of this version's check_bundle.py and check_bundle.go")
    func checkerHashIsPublished() throws {
        let doc = try Self.text("docs/export-bundle.md")
        for (name, text) in [("check_bundle.py", BundleInstructions.pythonScript), ("check_bundle.go", BundleInstructions.goProgram)] {
            let prefix = "`\(name)` of MeterProof \(MeterProofVersion.string): sha256 `"
            let actual = Hex.encode(SHA256.hash(Array(text.utf8)))
            let published = doc.components(separatedBy: "\n").compactMap { line -> String? in
                guard let r = line.range(of: prefix) else { return nil }
                return String(line[r.upperBound...].prefix { $0 != "`" })
            }
            #expect(published == [actual], "docs/export-bundle.md must carry exactly one line \(prefix)\(actual)` (found \(published))")
        }
    }
}
