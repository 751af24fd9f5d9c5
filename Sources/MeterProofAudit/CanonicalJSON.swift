import MeterProof

/// A value allowed in an audit entry: a string, an integer, a boolean or null.
///
/// Equality and hashing of `.string` compare the exact UTF-8 bytes, not Swift's default
/// Unicode canonical equivalence: two entries are equal only if they serialize identically.
public enum EntryValue: Sendable, Hashable {
    /// A string member.
    case string(String)
    /// An integer member (entries hold no other numbers).
    case int(Int64)
    /// A boolean member.
    case bool(Bool)
    /// A `null` member.
    case null

    /// Same kind and value; strings by their exact UTF-8 bytes.
    public static func == (a: EntryValue, b: EntryValue) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
        case let (.int(x), .int(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// Hashes what `==` compares (a string's UTF-8 bytes).
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let s):
            hasher.combine(0 as UInt8)
            for b in s.utf8 { hasher.combine(b) }
            hasher.combine(s.utf8.count)
        case .int(let i): hasher.combine(1 as UInt8); hasher.combine(i)
        case .bool(let b): hasher.combine(2 as UInt8); hasher.combine(b)
        case .null: hasher.combine(3 as UInt8)
        }
    }
}

/// Why ``CanonicalJSON`` refused to write or read an entry.
public struct CanonicalJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One of ``duplicateMember``, ``notCanonical``, ``malformedJSON``, ``unsupportedValue``.
    public let code: String
    /// A human-readable explanation.
    public let message: String

    /// Two members share a name.
    public static let duplicateMember = "duplicate_member"
    /// Valid JSON, but not byte-identical to its RFC 8785 form (whitespace, order, escapes, `-0`).
    public static let notCanonical = "not_canonical"
    /// Not JSON at all per the strict reader (grammar, UTF-8, size).
    public static let malformedJSON = "malformed_json"
    /// JSON, but not a flat object of strings, Int64 integers, booleans and null.
    public static let unsupportedValue = "unsupported_value"

    /// An error with `code` (one of the static members above) and a human `message`.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

/// RFC 8785 (JSON Canonicalization Scheme) for MeterProof's flat audit entries.
///
/// Entries hold only strings, integers, booleans and null, which keeps the scheme exact:
/// integers are written in plain decimal over the whole `Int64` range. (Full JCS would
/// print integers beyond ±2^53 through IEEE 754 doubles; entries never rely on that.)
public enum CanonicalJSON {
    /// The largest entry, in bytes, that ``serialize(_:)`` writes and ``parseEntry(_:)`` reads.
    public static let maxEntryBytes = 1 << 20

    /// Serializes a flat object in RFC 8785 form.
    ///
    /// Members are sorted by the UTF-16 code units of their names; there is no whitespace;
    /// strings escape only `"`, `\` and U+0000–U+001F (as `\b \f \n \r \t` or lowercase
    /// `\u00xx`), everything else (including `/`, U+007F and non-ASCII) is written as UTF-8;
    /// integers are plain decimal.
    ///
    /// - Throws: `duplicate_member` if two names are equal. Names are compared as Swift strings,
    ///   i.e. up to Unicode canonical equivalence (`"\u{E9}"` and `"e\u{301}"` collide): stricter
    ///   than ``StrictJSON``, which keeps such names apart, so that no reader keying members by
    ///   Swift strings sees one name twice. An entry's own names are all ASCII, so no valid entry
    ///   is refused, and ``parseEntry(_:)`` applies the same rule on the way back in.
    ///   `unsupported_value` if the result would exceed ``maxEntryBytes``.
    public static func serialize(_ members: [(String, EntryValue)]) throws(CanonicalJSONError) -> [UInt8] {
        if members.count > 1 {
            var seen = Set<String>(minimumCapacity: members.count)
            for (name, _) in members where !seen.insert(name).inserted {
                throw CanonicalJSONError(code: CanonicalJSONError.duplicateMember,
                                         message: "member name \"\(name)\" appears more than once")
            }
        }
        let order = members.indices.sorted { members[$0].0.utf16.lexicographicallyPrecedes(members[$1].0.utf16) }
        var out: [UInt8] = []
        out.reserveCapacity(2 + members.count * 24)
        out.append(UInt8(ascii: "{"))
        for (n, i) in order.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            appendString(members[i].0, to: &out)
            out.append(UInt8(ascii: ":"))
            switch members[i].1 {
            case .string(let s): appendString(s, to: &out)
            case .int(let v): appendInt(v, to: &out)
            case .bool(let b): out.append(contentsOf: b ? "true".utf8 : "false".utf8)
            case .null: out.append(contentsOf: "null".utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
        guard out.count <= maxEntryBytes else {
            throw CanonicalJSONError(code: CanonicalJSONError.unsupportedValue,
                                     message: "entry of \(out.count) bytes exceeds the \(maxEntryBytes)-byte limit")
        }
        return out
    }

    /// Parses an entry that must already be in canonical form.
    ///
    /// The bytes are read with ``StrictJSON`` and must be a flat object of strings, `Int64`
    /// integers, booleans and null whose re-serialization is byte-identical to the input.
    /// Members are returned in document (= canonical) order.
    ///
    /// - Throws: `malformed_json` for anything the strict reader refuses (grammar, invalid
    ///   UTF-8, lone surrogates, over ``maxEntryBytes``); `duplicate_member`; `unsupported_value`
    ///   for a non-object document, nested arrays or objects, fractions, exponents and integers
    ///   outside `Int64`; `not_canonical` for any other difference (whitespace, member order,
    ///   unneeded or uppercase escapes, `-0`).
    public static func parseEntry(_ bytes: some Collection<UInt8>) throws(CanonicalJSONError) -> [(String, EntryValue)] {
        let document: JSONValue
        do {
            document = try StrictJSON.parse(bytes, limits: JSONLimits(maxBytes: maxEntryBytes))
        } catch {
            switch error.kind {
            case .duplicateMember(let name):
                throw CanonicalJSONError(code: CanonicalJSONError.duplicateMember,
                                         message: "member name \"\(name)\" appears more than once")
            case .syntax:
                throw CanonicalJSONError(code: CanonicalJSONError.malformedJSON, message: error.description)
            }
        }
        guard case .object(let object) = document else {
            throw CanonicalJSONError(code: CanonicalJSONError.unsupportedValue,
                                     message: "entry is a JSON \(document.typeName), not an object")
        }
        var members: [(String, EntryValue)] = []
        members.reserveCapacity(object.count)
        for (name, value) in object.members {
            let entryValue: EntryValue
            switch value {
            case .string(let s): entryValue = .string(s)
            case .bool(let b): entryValue = .bool(b)
            case .null: entryValue = .null
            case .number(let number):
                guard let i = number.int64 else {
                    throw CanonicalJSONError(code: CanonicalJSONError.unsupportedValue,
                                             message: "member \"\(name)\": number \(number.text) is not an integer within Int64")
                }
                entryValue = .int(i)
            case .array, .object:
                throw CanonicalJSONError(code: CanonicalJSONError.unsupportedValue,
                                         message: "member \"\(name)\": nested \(value.typeName) is not allowed")
            }
            members.append((name, entryValue))
        }
        let canonical = try serialize(members)
        var offset = 0
        var it = bytes.makeIterator()
        for expected in canonical {
            guard let actual = it.next() else { break }
            if actual != expected { break }
            offset += 1
        }
        guard offset == canonical.count, it.next() == nil else {
            throw CanonicalJSONError(code: CanonicalJSONError.notCanonical,
                                     message: "entry differs from its canonical form at byte \(offset)")
        }
        return members
    }


    /// RFC 8785 string escaping is exactly ``JSONText``'s minimal escaping.
    private static func appendString(_ s: String, to out: inout [UInt8]) {
        JSONText.appendQuoted(s, to: &out)
    }

    private static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = v.magnitude  // UInt64: exact even for Int64.min
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        out[start...].reverse()
    }
}
