#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON value as read by ``StrictJSON``.
///
/// Objects keep their members in document order; duplicates never reach this type because
/// the reader refuses them.
public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number kept as its exact source text (RFC 8259 grammar already checked).
    case number(JSONNumber)
    /// A string, escapes decoded (valid UTF-8; lone surrogate escapes are refused).
    case string(String)
    /// An array, in document order.
    case array([JSONValue])
    /// An object, members in document order.
    case object(JSONObject)

    /// Equal when of the same kind and value; strings (and member names) by their bytes, never
    /// by Swift's canonical equivalence; numbers by their source text.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return utf8Equal(x, y)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        default: return false
        }
    }

    /// The string of a `.string` value; `nil` for any other kind.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The object of an `.object` value; `nil` for any other kind.
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }

    /// A short name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// ``typeName`` with its indefinite article, for "X is …" messages: "an array",
    /// "an object", "a string", "a number", "a boolean", and "null" (which takes none).
    public var typeNameWithArticle: String {
        switch self {
        case .null: return typeName
        case .array, .object: return "an " + typeName
        case .bool, .number, .string: return "a " + typeName
        }
    }
}

/// A JSON number's exact text.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The number as written in the document.
    public let text: String
    /// The number's source text, ``text``.
    public var description: String { text }

    init(text: String) { self.text = text }

    /// The exact decimal text of an integer.
    public init(_ value: Int64) { self.text = String(value) }

    /// The exact decimal text of an unsigned integer (all of `UInt64`, beyond `Int64`).
    public init(unsigned value: UInt64) { self.text = String(value) }

    /// The value when the text is a plain integer (no fraction, no exponent) that fits in `Int64`.
    public var int64: Int64? {
        var utf8 = text.utf8[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") { negative = true; utf8 = utf8.dropFirst() }
        guard !utf8.isEmpty else { return nil }
        var value: Int64 = 0
        for b in utf8 {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(b - 0x30)) : m.addingReportingOverflow(Int64(b - 0x30))
            if o1 || o2 { return nil }
            value = a
        }
        return value
    }

    /// The value as a `Double` (always available for a grammatical number, possibly rounded).
    public var double: Double? { Double(text) }
}

/// A JSON object: members in document order, names unique.
public struct JSONObject: Sendable, Equatable {
    /// The members in document order; names are unique.
    public private(set) var members: [(name: String, value: JSONValue)]

    init(members: [(name: String, value: JSONValue)]) { self.members = members }

    /// Builds an object for output. Names must be unique (checked: a later duplicate replaces nothing and is dropped).
    public init(_ pairs: [(String, JSONValue)]) {
        var seen = Set<ExactString>()
        members = pairs.filter { seen.insert(ExactString($0.0)).inserted }.map { (name: $0.0, value: $0.1) }
    }

    /// The member named exactly `name`: compared code point by code point, never by Swift's
    /// canonical equivalence (RFC 7515 section 10.12: "public\u{212A}eyVersion", with a KELVIN
    /// SIGN, is not `publicKeyVersion`).
    public subscript(name: String) -> JSONValue? {
        for m in members where utf8Equal(m.name, name) { return m.value }
        return nil
    }

    /// The number of members.
    public var count: Int { members.count }

    /// Equal when both hold the same members in the same order.
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        guard a.members.count == b.members.count else { return false }
        for (x, y) in zip(a.members, b.members) where !utf8Equal(x.name, y.name) || x.value != y.value { return false }
        return true
    }
}

/// Limits the strict reader enforces before and while parsing.
public struct JSONLimits: Sendable, Equatable {
    /// Maximum input size in bytes.
    public var maxBytes: Int
    /// Maximum nesting depth: 1 allows a flat object or array of scalars.
    public var maxDepth: Int

    /// Limits of `maxBytes` bytes of input and `maxDepth` levels of nesting (defaults: 64 KiB, 16).
    public init(maxBytes: Int = 64 * 1024, maxDepth: Int = 16) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}

/// Why the strict reader refused a document.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of refusal this is.
    public enum Kind: Sendable, Equatable {
        /// Grammar, encoding, depth or size violation.
        case syntax
        /// The same member name appears twice in one object.
        case duplicateMember(String)
    }
    /// What kind of refusal this is: a syntax, size or depth violation, or a duplicate member.
    public var kind: Kind
    /// Byte offset where the problem was found.
    public var offset: Int
    /// A human sentence; its wording may change.
    public var message: String

    /// `message at byte offset`.
    public var description: String { "\(message) at byte \(offset)" }
}

/// MeterProof's own strict JSON reader (RFC 8259), used on the verification path.
///
/// Stricter than Foundation: duplicate member names are refused, input must be valid UTF-8
/// (no lone surrogates, even escaped), depth and size are capped, no trailing content is
/// allowed, and numbers are kept as exact text. It works on bytes, with no Foundation.
public enum StrictJSON {
    /// Parses `bytes` as one JSON value.
    public static func parse<C: Collection>(_ bytes: C, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue where C.Element == UInt8 {
        let result = bytes.withContiguousStorageIfAvailable { buf in
            Result { () throws(JSONError) -> JSONValue in try parseBuffer(buf, limits: limits) }
        } ?? Array(bytes).withUnsafeBufferPointer { buf in
            Result { () throws(JSONError) -> JSONValue in try parseBuffer(buf, limits: limits) }
        }
        return try result.get()
    }

    /// Parses a string's UTF-8 bytes as one JSON value.
    public static func parse(_ string: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        var s = string
        let result = s.withUTF8 { buf in
            Result { () throws(JSONError) -> JSONValue in try parseBuffer(buf, limits: limits) }
        }
        return try result.get()
    }

    static func parseBuffer(_ buf: UnsafeBufferPointer<UInt8>, limits: JSONLimits) throws(JSONError) -> JSONValue {
        guard buf.count <= limits.maxBytes else {
            throw JSONError(kind: .syntax, offset: 0, message: "JSON document of \(buf.count) bytes exceeds the \(limits.maxBytes)-byte limit")
        }
        var p = Parser(buf: buf, maxDepth: limits.maxDepth)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == buf.count else { throw p.error("trailing content after the JSON value") }
        return v
    }
}

private struct Parser {
    let buf: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var i = 0

    init(buf: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buf = buf
        self.maxDepth = maxDepth
    }

    func error(_ message: String) -> JSONError { JSONError(kind: .syntax, offset: i, message: message) }

    mutating func skipWhitespace() {
        while i < buf.count {
            switch buf[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard i < buf.count else { throw error("unexpected end of JSON") }
        switch buf[i] {
        case UInt8(ascii: "{"): return .object(try object(depth: depth + 1))
        case UInt8(ascii: "["): return .array(try array(depth: depth + 1))
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected byte 0x\(String(buf[i], radix: 16)) where a JSON value belongs")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard buf.count - i >= n else { throw error("truncated literal") }
        let w = word.utf8Start
        for k in 0..<n where buf[i + k] != w[k] { throw error("invalid literal") }
        i += n
    }

    mutating func object(depth: Int) throws(JSONError) -> JSONObject {
        guard depth <= maxDepth else { throw error("JSON nesting deeper than \(maxDepth)") }
        i += 1  // {
        var members: [(name: String, value: JSONValue)] = []
        skipWhitespace()
        if i < buf.count && buf[i] == UInt8(ascii: "}") { i += 1; return JSONObject(members: members) }
        // Names are compared by their UTF-8 bytes: Swift's `String` equality and hashing apply
        // canonical equivalence, which would call "\u00e9" and "e\u0301" the same member.
        var seen: Set<[UInt8]>? = nil
        while true {
            skipWhitespace()
            guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw error("expected a member name string") }
            let nameOffset = i
            let name = try string()
            // Linear scan for small objects; a set once objects grow.
            if members.count < 16 {
                for m in members where utf8Equal(m.name, name) {
                    throw JSONError(kind: .duplicateMember(name), offset: nameOffset, message: "duplicate member \"\(name)\"")
                }
            } else {
                if seen == nil { seen = Set(members.map { Array($0.name.utf8) }) }
                if !seen!.insert(Array(name.utf8)).inserted {
                    throw JSONError(kind: .duplicateMember(name), offset: nameOffset, message: "duplicate member \"\(name)\"")
                }
            }
            skipWhitespace()
            guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw error("expected ':' after member name") }
            i += 1
            skipWhitespace()
            let v = try value(depth: depth)
            members.append((name, v))
            if seen != nil { seen!.insert(Array(name.utf8)) }
            skipWhitespace()
            guard i < buf.count else { throw error("unterminated object") }
            if buf[i] == UInt8(ascii: ",") { i += 1; continue }
            if buf[i] == UInt8(ascii: "}") { i += 1; return JSONObject(members: members) }
            throw error("expected ',' or '}' in object")
        }
    }

    mutating func array(depth: Int) throws(JSONError) -> [JSONValue] {
        guard depth <= maxDepth else { throw error("JSON nesting deeper than \(maxDepth)") }
        i += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if i < buf.count && buf[i] == UInt8(ascii: "]") { i += 1; return items }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard i < buf.count else { throw error("unterminated array") }
            if buf[i] == UInt8(ascii: ",") { i += 1; continue }
            if buf[i] == UInt8(ascii: "]") { i += 1; return items }
            throw error("expected ',' or ']' in array")
        }
    }

    mutating func number() throws(JSONError) -> JSONNumber {
        let start = i
        if buf[i] == UInt8(ascii: "-") { i += 1 }
        guard i < buf.count else { throw error("truncated number") }
        if buf[i] == UInt8(ascii: "0") {
            i += 1
        } else if buf[i] >= 0x31 && buf[i] <= 0x39 {
            while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
        } else {
            throw error("invalid number")
        }
        if i < buf.count && buf[i] == UInt8(ascii: ".") {
            i += 1
            let d = i
            while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
            guard i > d else { throw error("invalid number fraction") }
        }
        if i < buf.count && (buf[i] == UInt8(ascii: "e") || buf[i] == UInt8(ascii: "E")) {
            i += 1
            if i < buf.count && (buf[i] == UInt8(ascii: "+") || buf[i] == UInt8(ascii: "-")) { i += 1 }
            let d = i
            while i < buf.count && buf[i] >= 0x30 && buf[i] <= 0x39 { i += 1 }
            guard i > d else { throw error("invalid number exponent") }
        }
        if i - start > 64 { throw JSONError(kind: .syntax, offset: start, message: "number longer than 64 characters") }
        return JSONNumber(text: String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self))
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard buf.count - i >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws(JSONError) -> String {
        i += 1  // opening quote
        let start = i
        // Fast path: no escapes. Plain words are skipped 8 bytes at a time; an all-ASCII string
        // needs no UTF-8 validation, any other is validated in place.
        var ascii = true
        let raw = UnsafeRawBufferPointer(buf)
        while i < buf.count {
            i = JSONText.skipPlainWords(raw, from: i, stopAtNonASCII: ascii)
            guard i < buf.count else { break }
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: buf[start..<i])
                let s: String
                if ascii {
                    s = String(decoding: slice, as: UTF8.self)
                } else {
                    guard let v = String(validating: slice, as: UTF8.self) else {
                        i = start
                        throw error("string is not valid UTF-8")
                    }
                    s = v
                }
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw error("unescaped control character in string") }
            if c >= 0x80 { ascii = false }
            i += 1
        }
        guard i < buf.count else { throw error("unterminated string") }
        // Slow path with escapes.
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: buf[start..<i]))
        while i < buf.count {
            let c = buf[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                return s
            }
            if c < 0x20 { throw error("unescaped control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < buf.count else { throw error("unterminated escape") }
            let e = buf[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    guard buf.count - i >= 6, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone high surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else { throw error("invalid low surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw error("lone low surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                out.append(contentsOf: UTF8.encode(u)!)
            default:
                throw error("invalid escape character")
            }
        }
        throw error("unterminated string")
    }
}
