import Testing
@testable import MeterProof

@Suite("StrictJSON")
struct StrictJSONTests {
    static func parse(_ s: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        try StrictJSON.parse(Array(s.utf8), limits: limits)
    }

    static func error(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) -> JSONError? {
        do { _ = try StrictJSON.parse(bytes, limits: limits); return nil } catch { return error }
    }

    static func error(_ s: String, limits: JSONLimits = JSONLimits()) -> JSONError? { error(Array(s.utf8), limits: limits) }

    @Test("a well-formed document keeps member order, types and exact number text")
    func wellFormed() throws {
        let v = try Self.parse(#" {"b":[true,false,null],"a":"x\u00e9\ud83d\ude00\n","n":1.50,"o":{}} "#)
        let o = try #require(v.objectValue)
        #expect(o.members.map(\.name) == ["b", "a", "n", "o"])
        #expect(o["b"] == .array([.bool(true), .bool(false), .null]))
        #expect(o["a"] == .string("xé😀\n"))
        guard case .number(let n)? = o["n"] else { Issue.record("n is not a number"); return }
        #expect(n.text == "1.50")
        #expect(o["o"] == .object(JSONObject([])))
        #expect(o["missing"] == nil)
    }

    @Test("type names for messages, bare and with their article")
    func typeNames() throws {
        let values: [JSONValue] = [.null, .bool(true), .number(JSONNumber(1)), .string("s"), .array([]), .object(JSONObject([]))]
        #expect(values.map(\.typeName) == ["null", "boolean", "number", "string", "array", "object"])
        #expect(values.map(\.typeNameWithArticle) == ["null", "a boolean", "a number", "a string", "an array", "an object"])
    }

    @Test("scalars at the top level")
    func topLevelScalars() throws {
        #expect(try Self.parse("null") == .null)
        #expect(try Self.parse("true") == .bool(true))
        #expect(try Self.parse(#""s""#) == .string("s"))
        #expect(try Self.parse("[]") == .array([]))
    }

    @Test("duplicate member names are refused, however they are spelled", arguments: [
        (#"{"a":1,"a":2}"#, "a"),
        (#"{"a":1,"\u0061":2}"#, "a"),
        (#"{"\u0061":1,"a":2}"#, "a"),
        (#"{"a\/b":1,"a/b":2}"#, "a/b"),
        (#"{"x":{"k":1,"k":1}}"#, "k"),
        (#"[{"k":1},{"k":1,"k":null}]"#, "k"),
        (#"{"é":1,"\u00e9":2}"#, "é"),
    ])
    func duplicates(doc: String, name: String) {
        #expect(Self.error(doc)?.kind == .duplicateMember(name))
    }

    @Test("duplicates are found in large objects too (past the linear-scan threshold)")
    func duplicatesInLargeObjects() throws {
        let members = (0..<40).map { #""k\#($0)":\#($0)"# }
        let ok = try Self.parse("{" + members.joined(separator: ",") + "}")
        #expect(ok.objectValue?.count == 40)
        for dup in ["k0", "k15", "k16", "k39"] {
            let doc = "{" + (members + [#""\#(dup)":0"#]).joined(separator: ",") + "}"
            #expect(Self.error(doc)?.kind == .duplicateMember(dup))
        }
        // Duplicate among the first 16 found after more than 16 members were read.
        let late = "{" + (members.prefix(20) + [#""k3":0"#]).joined(separator: ",") + "}"
        #expect(Self.error(late)?.kind == .duplicateMember("k3"))
    }

    @Test("names are compared by code point, without Unicode normalization (RFC 7515 section 10.12)", arguments: [
        #"{"\u00e9":1,"e\u0301":2}"#,      // é precomposed vs decomposed
        #"{"K":1,"\u212a":2}"#,             // LATIN K vs KELVIN SIGN
        #"{"\u212b":1,"\u00c5":2}"#,        // ANGSTROM SIGN vs Å
    ])
    func noNormalization(doc: String) throws {
        let o = try #require(try Self.parse(doc).objectValue)
        #expect(o.count == 2)
        let names = o.members.map(\.name)
        #expect(o[names[0]] == .number(JSONNumber(1)))
        #expect(o[names[1]] == .number(JSONNumber(2)))
    }

    @Test("member lookup is exact: a canonically-equivalent name does not match")
    func lookupIsExact() throws {
        let o = try #require(try Self.parse(#"{"public\u212aeyVersion":1}"#).objectValue)
        #expect(o["publicKeyVersion"] == nil)
        #expect(o["public\u{212A}eyVersion"] == .number(JSONNumber(1)))
    }

    @Test("lone or broken surrogates are refused", arguments: [
        #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800x""#, #""\ud800\ud800""#, #""\udfff\ud800""#, #""a\ud83d""#,
    ])
    func loneSurrogates(doc: String) {
        #expect(Self.error(doc)?.kind == .syntax)
    }

    @Test("invalid UTF-8 is refused, in names and values, with or without escapes", arguments: [
        [0x22, 0xED, 0xA0, 0x80, 0x22],                   // encoded surrogate U+D800
        [0x22, 0xC0, 0xAF, 0x22],                         // overlong '/'
        [0x22, 0xFF, 0x22],
        [0x22, 0xE2, 0x82, 0x22],                         // truncated sequence
        [0x22, 0x5C, 0x6E, 0xC3, 0x22],                   // "\n" then a truncated sequence (slow path)
        [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D], // bad name
        [0xEF, 0xBB, 0xBF, 0x7B, 0x7D],                   // byte-order mark before {}
    ] as [[UInt8]])
    func invalidUTF8(bytes: [UInt8]) {
        #expect(Self.error(bytes)?.kind == .syntax)
    }

    @Test("strings longer than a word: the 8-byte skip stops at quotes, escapes, control bytes and non-ASCII at every offset")
    func wordSkipEveryOffset() throws {
        let plain = Array("abcdefghijklmnopqrstuvwxyz0123".utf8)
        for at in 0..<plain.count {
            func doc(_ insert: [UInt8]) -> [UInt8] {
                var b = plain
                b.replaceSubrange(at..<(at + 1), with: insert)
                return [0x22] + b + [0x22]
            }
            let expected = { (mid: String) in
                String(decoding: plain[..<at], as: UTF8.self) + mid + String(decoding: plain[(at + 1)...], as: UTF8.self)
            }
            #expect(try StrictJSON.parse(doc([0x5C, 0x22])) == .string(expected("\"")), "escaped quote at \(at)")
            #expect(try StrictJSON.parse(doc([0xC3, 0xA9])) == .string(expected("\u{E9}")), "e-acute at \(at)")
            #expect(try StrictJSON.parse(doc([0xF0, 0x9F, 0x98, 0x80])) == .string(expected("\u{1F600}")), "emoji at \(at)")
            #expect(Self.error(doc([0x0A]))?.kind == .syntax, "raw newline at \(at)")
            #expect(Self.error(doc([0xC3]))?.kind == .syntax, "truncated sequence at \(at)")
            #expect(Self.error(doc([0xFF]))?.kind == .syntax, "0xFF at \(at)")
            #expect(Self.error(doc([0x22]))?.kind == .syntax, "early quote at \(at)")
        }
        // A string that ends exactly at a word boundary, and one left unterminated there.
        #expect(try StrictJSON.parse(Array("\"abcdefgh\"".utf8)) == .string("abcdefgh"))
        #expect(Self.error(Array("\"abcdefghabcdefgh".utf8))?.kind == .syntax)
    }

    @Test("unescaped control characters are refused; escaped ones and DEL are fine")
    func controlCharacters() throws {
        for c: UInt8 in [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] {
            #expect(Self.error([0x22, 0x61, c, 0x22])?.kind == .syntax, "raw 0x\(String(c, radix: 16)) accepted")
            #expect(Self.error([0x22, 0x5C, 0x6E, c, 0x22])?.kind == .syntax, "raw 0x\(String(c, radix: 16)) after an escape accepted")
        }
        #expect(try StrictJSON.parse([0x22, 0x7F, 0x22]) == .string("\u{7F}"))
        #expect(try Self.parse(#""\t\b\f\r\n\"\\\/\u0000""#) == .string("\t\u{8}\u{C}\r\n\"\\/\u{0}"))
    }

    @Test("invalid escapes are refused", arguments: [#""\x""#, #""\u12""#, #""\uZZZZ""#, #""\'""#, #""\"#, #""\U0041""#])
    func invalidEscapes(doc: String) {
        #expect(Self.error(doc)?.kind == .syntax)
    }

    @Test("numbers in the RFC 8259 grammar are kept as text", arguments: [
        "0", "-0", "1", "-1", "123", "1.5", "-1.25e-3", "1e10", "1E+2", "1e-0", "0.0", "9223372036854775808",
    ])
    func validNumbers(text: String) throws {
        #expect(try Self.parse(text) == .number(JSONNumber(text: text)))
        #expect(try Self.parse("[\(text)]") == .array([.number(JSONNumber(text: text))]))
    }

    @Test("numbers outside the grammar are refused", arguments: [
        "01", "-01", "00", "-", "+1", ".5", "1.", "1.e3", "1e", "1e+", "0x1", "Infinity", "-Infinity", "NaN", "--1", "1e1.5", "١",
        String(repeating: "1", count: 65),
    ])
    func invalidNumbers(text: String) {
        #expect(Self.error(text)?.kind == .syntax, "\(text) accepted at top level")
        #expect(Self.error("[\(text)]")?.kind == .syntax, "\(text) accepted in an array")
        #expect(Self.error(#"{"n":\#(text)}"#)?.kind == .syntax, "\(text) accepted as a member")
    }

    @Test("integer extraction is exact and overflow-safe")
    func int64Values() {
        #expect(JSONNumber(text: "9223372036854775807").int64 == Int64.max)
        #expect(JSONNumber(text: "-9223372036854775808").int64 == Int64.min)
        #expect(JSONNumber(text: "9223372036854775808").int64 == nil)
        #expect(JSONNumber(text: "-9223372036854775809").int64 == nil)
        #expect(JSONNumber(text: "1e2").int64 == nil)
        #expect(JSONNumber(text: "1.0").int64 == nil)
        #expect(JSONNumber(text: "-0").int64 == 0)
    }

    @Test("trailing content is refused; surrounding whitespace is not", arguments: [
        "{} {}", "{}x", "1 2", #""a""b""#, "[]]", "{}}", "null,", "{}\u{0}", "true false",
    ])
    func trailingGarbage(doc: String) {
        #expect(Self.error(doc)?.kind == .syntax)
    }

    @Test("whitespace is the four JSON whitespace characters only")
    func whitespace() throws {
        #expect(try Self.parse(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n\t ") == .object(JSONObject([("a", .array([.number(JSONNumber(1)), .number(JSONNumber(2))]))])))
        #expect(Self.error("{}\u{0B}")?.kind == .syntax)  // vertical tab
        #expect(Self.error("\u{A0}{}")?.kind == .syntax)  // no-break space
    }

    @Test("truncated and malformed structures are refused", arguments: [
        "", " ", "{", "[", #"{"a""#, #"{"a":"#, #"{"a":1"#, #"{"a":1,}"#, "[1,]", "[,1]", #"{,"a":1}"#, #"{a:1}"#, #"{'a':1}"#,
        #"{"a" 1}"#, "[1 2]", "tru", "nul", "True", "nulll", #""abc"#, "/* c */ {}", "{} // c",
    ])
    func malformed(doc: String) {
        #expect(Self.error(doc)?.kind == .syntax)
    }

    @Test("the depth limit counts arrays and objects alike")
    func depthLimit() throws {
        let flat = JSONLimits(maxBytes: 1024, maxDepth: 1)
        #expect(try Self.parse(#"{"a":1}"#, limits: flat).objectValue?.count == 1)
        #expect(try Self.parse("[1,2]", limits: flat) == .array([.number(JSONNumber(1)), .number(JSONNumber(2))]))
        #expect(Self.error(#"{"a":{}}"#, limits: flat)?.kind == .syntax)
        #expect(Self.error(#"{"a":[]}"#, limits: flat)?.kind == .syntax)
        #expect(Self.error("[[]]", limits: flat)?.kind == .syntax)
        let d16 = String(repeating: "[", count: 16) + String(repeating: "]", count: 16)
        let d17 = String(repeating: "[", count: 17) + String(repeating: "]", count: 17)
        #expect(throws: Never.self) { try Self.parse(d16) }
        #expect(Self.error(d17)?.kind == .syntax)
        #expect(Self.error(d17)?.message.contains("nesting") == true)
    }

    @Test("very deep input fails fast instead of overflowing the stack")
    func deepInput() {
        let deep = String(repeating: "[", count: 200_000)
        #expect(Self.error(deep, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 16))?.kind == .syntax)
        let deepObjects = String(repeating: #"{"a":"#, count: 50_000)
        #expect(Self.error(deepObjects, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 16))?.kind == .syntax)
    }

    @Test("the size limit is checked before parsing and is inclusive")
    func sizeLimit() throws {
        let doc = #"{"a":"12345"}"#  // 13 bytes
        #expect(try Self.parse(doc, limits: JSONLimits(maxBytes: 13, maxDepth: 4)).objectValue?.count == 1)
        let e = Self.error(doc, limits: JSONLimits(maxBytes: 12, maxDepth: 4))
        #expect(e?.kind == .syntax)
        #expect(e?.offset == 0)
        #expect(e?.message.contains("limit") == true)
    }

    @Test("errors carry the byte offset of the problem")
    func offsets() {
        #expect(Self.error(#"{"a":1,"a":2}"#)?.offset == 7)
        #expect(Self.error("[1,x]")?.offset == 3)
        #expect(Self.error("{} x")?.offset == 3)
    }

    @Test("String and byte entry points agree")
    func entryPoints() throws {
        let s = #"{"k":["v",1,null]}"#
        #expect(try StrictJSON.parse(s) == StrictJSON.parse(Array(s.utf8)))
        #expect(try StrictJSON.parse(Array(s.utf8)[...]) == StrictJSON.parse(s))
    }

    @Test("serialize round-trips what the reader produced")
    func serializeRoundTrip() throws {
        let s = #"{"a":[1,-0.5e3,"x\"\\\n\u0001é"],"b":{"c":null,"d":true}}"#
        let v = try StrictJSON.parse(s)
        let text = JSONText.serialize(v)
        #expect(text == #"{"a":[1,-0.5e3,"x\"\\\n\u0001é"],"b":{"c":null,"d":true}}"#)
        #expect(try StrictJSON.parse(text) == v)
    }

    @Test("values compare by bytes: canonically equivalent strings and member names differ")
    func valuesCompareByBytes() throws {
        #expect(try StrictJSON.parse(Array(#""caf\u00e9""#.utf8)) != StrictJSON.parse(Array(#""cafe\u0301""#.utf8)))
        #expect(try StrictJSON.parse(Array(#"{"K":1}"#.utf8)) != StrictJSON.parse(Array(#"{"\u212a":1}"#.utf8)))
        #expect(try StrictJSON.parse(Array(#"{"K":"x"}"#.utf8)) == StrictJSON.parse(Array(#"{"\u004b":"x"}"#.utf8)))
        // Output objects keep both spellings as distinct members.
        #expect(JSONObject([("caf\u{E9}", .null), ("cafe\u{301}", .null)]).count == 2)
    }
}
