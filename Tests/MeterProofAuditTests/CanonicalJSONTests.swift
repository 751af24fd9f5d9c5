import Foundation
import MeterProofAudit
import Testing

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }


/// Compares member lists exactly (names by UTF-8 bytes, values by `EntryValue` byte equality).
private func sameMembers(_ a: [(String, EntryValue)], _ b: [(String, EntryValue)]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.0.utf8.elementsEqual($1.0.utf8) && $0.1 == $1.1 }
}

/// Deterministic generator so failures reproduce (SplitMix64).
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let python3: String? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()

@Suite struct CanonicalJSONTests {
    @Test func rfc8785SortingExample() throws {
        // The property-sorting example of RFC 8785 section 3.2.3, in the RFC's input order.
        let members: [(String, EntryValue)] = [
            ("\u{20AC}", .string("Euro Sign")),
            ("\r", .string("Carriage Return")),
            ("\u{FB33}", .string("Hebrew Letter Dalet With Dagesh")),
            ("1", .string("One")),
            ("\u{1F600}", .string("Emoji: Grinning Face")),
            ("\u{80}", .string("Control")),
            ("\u{F6}", .string("Latin Small Letter O With Diaeresis")),
        ]
        let expected = #"{"\r":"Carriage Return","1":"One","\#u{80}":"Control","\#u{F6}":"Latin Small Letter O With Diaeresis","\#u{20AC}":"Euro Sign","\#u{1F600}":"Emoji: Grinning Face","\#u{FB33}":"Hebrew Letter Dalet With Dagesh"}"#
        #expect(try CanonicalJSON.serialize(members) == bytes(expected))
    }

    @Test func ordersByUTF16CodeUnitsNotScalars() throws {
        // U+1F600 is D83D DE00 in UTF-16, below U+FB33, although its scalar value is higher.
        #expect("\u{FB33}".unicodeScalars.lexicographicallyPrecedes("\u{1F600}".unicodeScalars))
        #expect(try CanonicalJSON.serialize([("\u{FB33}", .int(1)), ("\u{1F600}", .int(2))])
                == bytes("{\"\u{1F600}\":2,\"\u{FB33}\":1}"))
        // Same at the edges of the ranges: U+10000 (D800 DC00) sorts before U+E000.
        #expect(try CanonicalJSON.serialize([("\u{E000}", .null), ("\u{10000}", .null), ("\u{D7FF}", .null), ("\u{FFFF}", .null)])
                == bytes("{\"\u{D7FF}\":null,\"\u{10000}\":null,\"\u{E000}\":null,\"\u{FFFF}\":null}"))
        // Plain code-unit order: empty first, prefixes before extensions, uppercase before lowercase.
        #expect(try CanonicalJSON.serialize([("b", .int(1)), ("aa", .int(2)), ("a", .int(3)), ("", .int(4)), ("B", .int(5))])
                == bytes(#"{"":4,"B":5,"a":3,"aa":2,"b":1}"#))
        #expect(try CanonicalJSON.serialize([]) == bytes("{}"))
    }

    @Test func escapesMinimally() throws {
        let controls = String(String.UnicodeScalarView((0...0x1F).map { Unicode.Scalar(UInt8($0)) }))
        let value = controls + "\"\\/\u{7F}\u{80}\u{E9}\u{2028}\u{FEFF}\u{1F600}"
        let expected = #"{"s":"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\"\\/\#u{7F}\#u{80}\#u{E9}\#u{2028}\#u{FEFF}\#u{1F600}"}"#
        #expect(try CanonicalJSON.serialize([("s", .string(value))]) == bytes(expected))
        // Names are escaped by the same rule.
        #expect(try CanonicalJSON.serialize([("a\"b\\c\nd/", .bool(true))]) == bytes(#"{"a\"b\\c\nd/":true}"#))
        // Decomposed text is kept as given, not normalized.
        #expect(try CanonicalJSON.serialize([("k", .string("e\u{301}"))]) == [0x7B, 0x22, 0x6B, 0x22, 0x3A, 0x22, 0x65, 0xCC, 0x81, 0x22, 0x7D])
    }

    @Test func writesIntegersBooleansAndNull() throws {
        let members: [(String, EntryValue)] = [
            ("i", .int(-10)), ("h", .null), ("g", .bool(false)), ("f", .bool(true)), ("e", .int(10)),
            ("d", .int(Int64.max)), ("c", .int(Int64.min)), ("b", .int(-1)), ("a", .int(0)),
        ]
        let expected = #"{"a":0,"b":-1,"c":-9223372036854775808,"d":9223372036854775807,"e":10,"f":true,"g":false,"h":null,"i":-10}"#
        #expect(try CanonicalJSON.serialize(members) == bytes(expected))
    }

    @Test func refusesDuplicateNames() {
        #expect(errorCode { _ = try CanonicalJSON.serialize([("a", .int(1)), ("b", .int(2)), ("a", .int(1))]) } == "duplicate_member")
        #expect(errorCode { _ = try CanonicalJSON.serialize([("", .null), ("", .null)]) } == "duplicate_member")
        // Canonically equivalent names collide, as they do for StrictJSON on the way back in.
        #expect(errorCode { _ = try CanonicalJSON.serialize([("\u{E9}", .int(1)), ("e\u{301}", .int(2))]) } == "duplicate_member")
        #expect(errorCode { _ = try CanonicalJSON.serialize([("a", .int(1)), ("A", .int(2))]) } == nil)
    }

    @Test func parseEntryAcceptsWhatSerializeWrites() throws {
        let entries: [[(String, EntryValue)]] = [
            [],
            [("a", .int(0))],
            [("\u{1F600}", .string("x\u{0}y\n\"\\/\u{7F}")), ("\u{FB33}", .int(Int64.min)), ("", .int(Int64.max))],
            [("z", .null), ("y", .bool(true)), ("x", .bool(false)), ("w", .string("")), ("v", .int(-1))],
            [("k", .string("e\u{301}")), ("\u{E9}", .string("\u{E9}"))],
        ]
        for entry in entries {
            let written = try CanonicalJSON.serialize(entry)
            let read = try CanonicalJSON.parseEntry(written)
            let sorted = entry.sorted { $0.0.utf16.lexicographicallyPrecedes($1.0.utf16) }
            #expect(sameMembers(read, sorted))
            #expect(try CanonicalJSON.serialize(read) == written)
            // Any collection of bytes works.
            #expect(sameMembers(try CanonicalJSON.parseEntry(written[...]), sorted))
            #expect(sameMembers(try CanonicalJSON.parseEntry(Data(written)), sorted))
        }
        // EntryValue equality is byte equality: composed and decomposed text differ.
        #expect(EntryValue.string("\u{E9}") != EntryValue.string("e\u{301}"))
        #expect(Set([EntryValue.string("\u{E9}"), .string("e\u{301}"), .string("\u{E9}")]).count == 2)
    }

    @Test(arguments: [
        // Not canonical: same data, different bytes.
        (#"{"a":1, "b":2}"#, "not_canonical"),
        (#"{"a" :1}"#, "not_canonical"),
        (" {\"a\":1}", "not_canonical"),
        ("{\"a\":1}\n", "not_canonical"),
        (#"{"b":1,"a":2}"#, "not_canonical"),
        ("{\"\u{FB33}\":1,\"\u{1F600}\":2}", "not_canonical"),  // scalar order, not UTF-16 order
        (#"{"a":"\/"}"#, "not_canonical"),
        (#"{"a":"\u001F"}"#, "not_canonical"),
        (#"{"a":"\u000a"}"#, "not_canonical"),
        (#"{"a":"\u0041"}"#, "not_canonical"),
        (#"{"a":"\u00e9"}"#, "not_canonical"),
        (#"{"a":"\u007f"}"#, "not_canonical"),
        (#"{"\u0061":1}"#, "not_canonical"),
        (#"{"a":-0}"#, "not_canonical"),
        // Valid JSON, but not an allowed entry.
        (#"{"a":1.0}"#, "unsupported_value"),
        (#"{"a":1e2}"#, "unsupported_value"),
        (#"{"a":1E2}"#, "unsupported_value"),
        (#"{"a":9223372036854775808}"#, "unsupported_value"),
        (#"{"a":-9223372036854775809}"#, "unsupported_value"),
        (#"{"a":{"b":1}}"#, "unsupported_value"),
        (#"{"a":[]}"#, "unsupported_value"),
        (#"[1]"#, "unsupported_value"),
        (#""a""#, "unsupported_value"),
        (#"null"#, "unsupported_value"),
        // Duplicates.
        (#"{"a":1,"a":1}"#, "duplicate_member"),
        (#"{"a":1,"b":2,"a":3}"#, "duplicate_member"),
        ("{\"e\u{301}\":1,\"\u{E9}\":2}", "duplicate_member"),
        // Not JSON.
        ("", "malformed_json"),
        (#"{"a":01}"#, "malformed_json"),
        (#"{"a":1,}"#, "malformed_json"),
        (#"{"a":1"#, "malformed_json"),
        (#"{"a":'x'}"#, "malformed_json"),
        (#"{"a":"\ud800"}"#, "malformed_json"),
        ("{\"a\":\"\u{1}\"}", "malformed_json"),
        (#"{"a":1}{}"#, "malformed_json"),
    ])
    func parseEntryRefuses(input: String, code: String) {
        #expect(errorCode { _ = try CanonicalJSON.parseEntry(bytes(input)) } == code)
    }

    @Test func parseEntryRefusesInvalidUTF8AndOversizedInput() {
        #expect(errorCode { _ = try CanonicalJSON.parseEntry([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) } == "malformed_json")
        let big = [("a", EntryValue.string(String(repeating: "x", count: CanonicalJSON.maxEntryBytes)))]
        #expect(errorCode { _ = try CanonicalJSON.serialize(big) } == "unsupported_value")
        let text = "{\"a\":\"" + String(repeating: "x", count: CanonicalJSON.maxEntryBytes) + "\"}"
        #expect(errorCode { _ = try CanonicalJSON.parseEntry(bytes(text)) } == "malformed_json")
    }

    @Test func parseEntryAcceptsInt64Extremes() throws {
        let read = try CanonicalJSON.parseEntry(bytes(#"{"max":9223372036854775807,"min":-9223372036854775808}"#))
        #expect(sameMembers(read, [("max", .int(Int64.max)), ("min", .int(Int64.min))]))
    }

    @Test(.enabled(if: python3 != nil, "python3 is not on PATH; cross-check skipped"))
    func agreesWithPythonJSONDumps() throws {
        var rng = SplitMix64(state: 0x4D50_524F_4F46)  // fixed seed: reproducible
        let interesting: [Unicode.Scalar] = [
            "\u{80}", "\u{9F}", "\u{A0}", "\u{E9}", "\u{301}", "\u{2028}", "\u{2029}", "\u{FEFF}",
            "\u{FFFD}", "\u{FFFF}", "\u{E000}", "\u{FB33}", "\u{1F600}", "\u{10000}", "\u{10FFFF}",
        ]
        func randomString(ascii onlyASCII: Bool, maxLength: Int) -> String {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...maxLength, using: &rng) {
                if onlyASCII || Bool.random(using: &rng) {
                    scalars.append(Unicode.Scalar(UInt8.random(in: 0...0x7F, using: &rng)))
                } else {
                    scalars.append(interesting.randomElement(using: &rng)!)
                }
            }
            return String(scalars)
        }
        func randomValue() -> EntryValue {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .int([Int64.min, Int64.max, 0, -1, 1].randomElement(using: &rng)!)
            case 3: return .int(Int64.random(in: -1000...1000, using: &rng))
            case 4: return .int(Int64.random(in: Int64.min...Int64.max, using: &rng))
            default: return .string(randomString(ascii: false, maxLength: 24))
            }
        }
        func hex(_ s: String) -> String { s.utf8.map { String(format: "%02x", $0) }.joined() }

        var entries: [[(String, EntryValue)]] = []
        for _ in 0..<200 {
            var names = Set<String>()
            var entry: [(String, EntryValue)] = []
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                let name = randomString(ascii: true, maxLength: 8)
                if names.insert(name).inserted { entry.append((name, randomValue())) }
            }
            entries.append(entry)
        }
        // One line per entry; members as name:type:payload with text hex-encoded, so Python builds
        // its objects independently of our serializer.
        var input = ""
        for entry in entries {
            input += entry.map { name, value in
                switch value {
                case .string(let s): return "\(hex(name)):s:\(hex(s))"
                case .int(let i): return "\(hex(name)):i:\(i)"
                case .bool(let b): return "\(hex(name)):b:\(b ? 1 : 0)"
                case .null: return "\(hex(name)):n:"
                }
            }.joined(separator: " ") + "\n"
        }
        let script = """
            import json, sys
            out = []
            for line in sys.stdin.buffer.read().decode('ascii').split('\\n')[:-1]:
                obj = {}
                for tok in (line.split(' ') if line else []):
                    n, t, p = tok.split(':')
                    v = {'s': lambda: bytes.fromhex(p).decode('utf-8'), 'i': lambda: int(p),
                         'b': lambda: p == '1', 'n': lambda: None}[t]()
                    obj[bytes.fromhex(n).decode('utf-8')] = v
                s = json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
                out.append(s.encode('utf-8').hex())
            sys.stdout.write('\\n'.join(out) + '\\n')
            """
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterproof-jcs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputURL = dir.appendingPathComponent("entries.txt")
        try Data(input.utf8).write(to: inputURL)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python3!)
        process.arguments = ["-c", script]
        process.standardInput = try FileHandle(forReadingFrom: inputURL)
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)

        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        try #require(lines.count == entries.count)
        var mismatches = 0
        for (entry, line) in zip(entries, lines) {
            var expected: [UInt8] = []
            var chars = line.utf8.makeIterator()
            while let h = chars.next(), let l = chars.next() { expected.append(UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16)!) }
            let ours = try CanonicalJSON.serialize(entry)
            if ours != expected {
                mismatches += 1
                Issue.record("differs from Python: ours \(String(decoding: ours, as: UTF8.self).debugDescription), python \(String(decoding: expected, as: UTF8.self).debugDescription)")
            }
            let sorted = entry.sorted { $0.0.utf16.lexicographicallyPrecedes($1.0.utf16) }
            #expect(sameMembers(try CanonicalJSON.parseEntry(expected), sorted))
        }
        #expect(mismatches == 0)
        // The sample really exercised the interesting cases.
        let all = entries.flatMap { $0 }
        #expect(all.count > 800)
        #expect(all.contains { if case .string(let s) = $0.1 { s.unicodeScalars.contains { $0.value < 0x20 } } else { false } })
        #expect(all.contains { if case .string(let s) = $0.1 { s.unicodeScalars.contains { $0.value > 0xFFFF } } else { false } })
    }
}
