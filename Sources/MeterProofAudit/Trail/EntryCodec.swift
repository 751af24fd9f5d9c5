#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Fast paths for the entry format: writing canonical bytes directly in the fixed field order,
/// and checking stored bytes in one pass. Both are exactly equivalent to the general
/// ``CanonicalJSON`` route (tests compare them), which stays the reference.
extension AuditEntry {
    /// What the one-pass check learns about an entry.
    package struct Summary: Sendable, Equatable {
        package var seq: UInt64
        package var accepted: Bool
        package var hasNonce: Bool
        package var hasProductCode: Bool
        /// For an accepted entry carrying both: its product code and nonce (what the nonce table must hold).
        package var acceptedNonce: (productCode: String, nonce: String)?
        /// The imported capture line's SHA-256, when present (``captureRowHash(schema1:)``: whether `captures` holds it).
        package var captureHash: [UInt8]? = nil

        /// The hash the entry's `captures` row holds, when it must have one: every imported entry
        /// has one, except (schema 2) an accepted entry that consumed a nonce, which its nonce row
        /// leads to. `schema1`: the trail still keeps rows for those too.
        package func captureRowHash(schema1: Bool) -> [UInt8]? {
            acceptedNonce == nil || schema1 ? captureHash : nil
        }

        package static func == (a: Summary, b: Summary) -> Bool {
            a.seq == b.seq && a.accepted == b.accepted && a.hasNonce == b.hasNonce && a.hasProductCode == b.hasProductCode
                && utf8Equal(a.acceptedNonce?.productCode, b.acceptedNonce?.productCode) && utf8Equal(a.acceptedNonce?.nonce, b.acceptedNonce?.nonce)
                && a.captureHash == b.captureHash
        }
    }

    /// Field kinds, in canonical order (names sorted by UTF-16 code units; all ASCII).
    enum Kind { case string, stringOrNull, intOrNull, seq }
    static let layout: [(name: String, kind: Kind)] = [
        ("binding", .string), ("captureFile", .stringOrNull), ("captureHash", .stringOrNull), ("captureLine", .intOrNull),
        ("capturedAt", .stringOrNull), ("issuedAt", .intOrNull), ("keyFingerprint", .stringOrNull), ("message", .stringOrNull),
        ("nonce", .stringOrNull), ("outcome", .string), ("productCode", .stringOrNull), ("publicKeyVersion", .intOrNull),
        ("reason", .stringOrNull), ("recordedAt", .string), ("seq", .seq), ("source", .string), ("token", .stringOrNull),
        ("warnings", .stringOrNull),
    ]
    /// Indexes into ``layout`` of the fields the checker looks at.
    enum Field {
        static let binding = 0, captureHash = 2, keyFingerprint = 6, nonce = 8, outcome = 9, productCode = 10
        static let publicKeyVersion = 11, reason = 12, recordedAt = 13, seq = 14, source = 15, token = 16
    }

    /// `"name":` prefixes, with the `{` or `,` that precedes each.
    static let prefixes: [[UInt8]] = layout.enumerated().map { i, f in Array(((i == 0 ? "{" : ",") + "\"" + f.name + "\":").utf8) }

    /// What the scanner walks: each field's kind, and its prefix as a range of one byte string
    /// (no per-field array to retain on the hot path).
    static let scanLayout: (kinds: [Kind], prefixBytes: [UInt8], prefixRanges: [Range<Int>]) = {
        var bytes: [UInt8] = [], ranges: [Range<Int>] = []
        for p in prefixes {
            ranges.append(bytes.count..<(bytes.count + p.count))
            bytes += p
        }
        return (layout.map(\.kind), bytes, ranges)
    }()

    /// RFC 8785 bytes written directly (same result as `CanonicalJSON.serialize(members)`).
    func fastCanonicalBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(canonicalSizeEstimate)
        appendCanonicalHead(to: &out)
        Self.appendCanonicalTimeAndSeq(recordedAt: recordedAt, seq: seq, to: &out)
        appendCanonicalTail(to: &out)
        return out
    }

    /// Room for the canonical bytes: the fixed names and values plus every string unescaped
    /// (escapes may still grow them).
    var canonicalSizeEstimate: Int {
        func n(_ s: String?) -> Int { s?.utf8.count ?? 0 }
        return 400 + binding.utf8.count + outcome.utf8.count + n(captureFile) + n(captureHash) + n(capturedAt)
            + n(keyFingerprint) + n(message) + n(nonce) + n(productCode) + n(reason) + n(token) + n(warnings)
    }

    /// The canonical bytes before the `recordedAt` value: the fields that sort before it, then
    /// its `"recordedAt":` prefix.
    func appendCanonicalHead(to out: inout [UInt8]) {
        func str(_ i: Int, _ v: String?) { Self.appendMember(i, v, to: &out) }
        func int(_ i: Int, _ v: Int64?) {
            out.append(contentsOf: Self.prefixes[i])
            if let v { Self.appendDecimal(v, to: &out) } else { out.append(contentsOf: Self.null) }
        }
        str(0, binding); str(1, captureFile); str(2, captureHash); int(3, captureLine); str(4, capturedAt)
        int(5, issuedAt); str(6, keyFingerprint); str(7, message); str(8, nonce); str(9, outcome); str(10, productCode)
        int(11, publicKeyVersion); str(12, reason)
        out.append(contentsOf: Self.prefixes[Field.recordedAt])
    }

    /// The two values an append fills in, `recordedAt` and `seq`, with the `seq` prefix between them.
    static func appendCanonicalTimeAndSeq(recordedAt: String, seq: UInt64, to out: inout [UInt8]) {
        precondition(seq <= UInt64(Int64.max), "seq \(seq) is beyond a JSON integer the trail can store")
        JSONText.appendQuoted(recordedAt, to: &out)
        out.append(contentsOf: prefixes[Field.seq])
        appendDecimal(Int64(bitPattern: seq), to: &out)
    }

    /// The canonical bytes after the `seq` value: the fields that sort after it and the closing brace.
    func appendCanonicalTail(to out: inout [UInt8]) {
        Self.appendMember(15, source.rawValue, to: &out)
        Self.appendMember(16, token, to: &out)
        Self.appendMember(17, warnings, to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// Member `i` (its prefix, then the quoted string or `null`).
    static func appendMember(_ i: Int, _ v: String?, to out: inout [UInt8]) {
        out.append(contentsOf: prefixes[i])
        if let v { JSONText.appendQuoted(v, to: &out) } else { out.append(contentsOf: null) }
    }

    static let null: [UInt8] = Array("null".utf8)

    /// A canonical JSON integer (no allocation).
    static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0) // 24 bytes: enough for 20 digits
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[23 - n] = UInt8(truncatingIfNeeded: m % 10) + 0x30
                m /= 10
                n += 1
            } while m != 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[(24 - n)...]))
        }
    }

    /// Checks in one pass that `bytes` are exactly the canonical form of an entry (every field,
    /// in order, of its type; minimal escapes; valid UTF-8; canonical integers) and that
    /// `reason` is null exactly when `outcome` is `accepted`. Returns what verification needs,
    /// or a sentence saying what is wrong.
    package static func checkCanonical(_ bytes: UnsafeRawBufferPointer) -> Result<Summary, EntryFormatError> {
        var sink: [FieldValue]? = nil
        return scan(bytes, into: &sink)
    }

    /// The line hash stored entry bytes record (`captureHash`); `nil` when they record none or
    /// are not a canonical entry.
    static func recordedCaptureHash(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        guard case .success(let summary) = checkCanonical(bytes) else { return nil }
        return summary.captureHash
    }

    /// The same check for bytes about to be recorded: only whether they read back, without
    /// building the summary's strings (capture hash, accepted nonce).
    static func readsBack(_ bytes: UnsafeRawBufferPointer) -> EntryFormatError? {
        var sink: [FieldValue]? = nil
        if case .failure(let e) = scan(bytes, into: &sink, summaryStrings: false) { return e }
        return nil
    }

    /// A field as found by the scanner: a string's content range, an integer, or null.
    enum FieldValue { case null, string(Range<Int>), int(Int64) }

    /// The one-pass check, keeping every field's raw value (content range, integer or null).
    /// Without `summaryStrings`, the summary's capture hash and accepted nonce are left out.
    static func scanFields(_ bytes: UnsafeRawBufferPointer, summaryStrings: Bool = true) -> Result<(summary: Summary, fields: [FieldValue]), EntryFormatError> {
        var sink: [FieldValue]? = []
        sink!.reserveCapacity(layout.count)
        switch scan(bytes, into: &sink, summaryStrings: summaryStrings) {
        case .failure(let e): return .failure(e)
        case .success(let s): return .success((s, sink!))
        }
    }

    /// Decodes canonical entry bytes in one pass (the scanner of ``checkCanonical(_:)``).
    static func decodeFast(_ bytes: UnsafeRawBufferPointer) -> Result<AuditEntry, EntryFormatError> {
        let v: [FieldValue]
        switch scanFields(bytes, summaryStrings: false) {
        case .failure(let e): return .failure(e)
        case .success(let r): v = r.fields
        }
        var failed = false
        func str(_ i: Int) -> String? {
            guard case .string(let r) = v[i] else { return nil }
            guard let s = decodeString(bytes, r) else { failed = true; return nil }
            return s
        }
        func int(_ i: Int) -> Int64? { if case .int(let x) = v[i] { return x } else { return nil } }
        var e = AuditEntry(rejected: .malformedInput, message: "", source: str(15) == "live" ? .live : .import, capture: nil)
        e.binding = str(0) ?? ""
        e.captureFile = str(1); e.captureHash = str(2); e.captureLine = int(3); e.capturedAt = str(4)
        e.issuedAt = int(5); e.keyFingerprint = str(6); e.message = str(7); e.nonce = str(8)
        e.outcome = str(9) ?? ""; e.productCode = str(10); e.publicKeyVersion = int(11); e.reason = str(12)
        e.recordedAt = str(13) ?? ""; e.seq = UInt64(int(14) ?? 0); e.token = str(16); e.warnings = str(17)
        if failed { return .failure(EntryFormatError("a string member cannot be decoded")) }
        return .success(e)
    }

    /// The scanner behind the checks above. Without `summaryStrings` the summary's capture hash
    /// and accepted nonce are not decoded (the bytes are checked all the same).
    static func scan(_ bytes: UnsafeRawBufferPointer, into sink: inout [FieldValue]?, summaryStrings: Bool = true) -> Result<Summary, EntryFormatError> {
        var p = EntryScanner(bytes)
        var summary = Summary(seq: 0, accepted: false, hasNonce: false, hasProductCode: false, acceptedNonce: nil)
        var reasonNull = true
        var nonceRange: Range<Int>? = nil, productRange: Range<Int>? = nil
        let (kinds, prefixBytes, prefixRanges) = scanLayout
        for i in 0..<kinds.count {
            let matched = prefixBytes.withUnsafeBytes { p.expect(UnsafeRawBufferPointer(rebasing: $0[prefixRanges[i]])) }
            guard matched else { return .failure(EntryFormatError("expected member \"\(layout[i].name)\" at byte \(p.i)")) }
            let isNull = p.peekNull()
            switch kinds[i] {
            case .string:
                guard let r = p.string() else { return .failure(EntryFormatError("member \(layout[i].name) is not a canonical string")) }
                sink?.append(.string(r))
                switch i {
                case Field.outcome:
                    if p.equals(r, "accepted") { summary.accepted = true } else if !p.equals(r, "rejected") {
                        return .failure(EntryFormatError("outcome must be accepted or rejected"))
                    }
                case Field.binding:
                    guard p.equals(r, "bound") || p.equals(r, "unbound") else { return .failure(EntryFormatError("binding must be bound or unbound")) }
                case Field.source:
                    guard p.equals(r, "live") || p.equals(r, "import") else { return .failure(EntryFormatError("source must be live or import")) }
                default: break
                }
            case .stringOrNull:
                var range: Range<Int>? = nil
                if isNull { p.i += 4 } else {
                    guard let r = p.string() else { return .failure(EntryFormatError("member \(layout[i].name) is not a canonical string or null")) }
                    range = r
                }
                sink?.append(range.map { .string($0) } ?? .null)
                switch i {
                case Field.nonce: summary.hasNonce = !isNull; nonceRange = range
                case Field.productCode: summary.hasProductCode = !isNull; productRange = range
                case Field.reason: reasonNull = isNull
                case Field.captureHash:
                    // 64 lowercase hex digits when present; anything else cannot match a captures row.
                    if summaryStrings, let r = range { summary.captureHash = Hex.decode(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)) ?? [] }
                default: break
                }
            case .intOrNull:
                if isNull { p.i += 4; sink?.append(.null) } else if let v = p.integer() { sink?.append(.int(v)) } else {
                    return .failure(EntryFormatError("member \(layout[i].name) is not a canonical integer or null"))
                }
            case .seq:
                guard let v = p.integer(), v >= 0 else { return .failure(EntryFormatError("seq is not a non-negative integer")) }
                summary.seq = UInt64(v)
                sink?.append(.int(v))
            }
        }
        guard p.i == bytes.count - 1, bytes[p.i] == UInt8(ascii: "}") else {
            return .failure(EntryFormatError("unexpected bytes after the last member"))
        }
        guard summary.accepted == reasonNull else {
            return .failure(EntryFormatError("reason must be null exactly when the outcome is accepted"))
        }
        if summary.accepted, let nr = nonceRange, let pr = productRange {
            // What the nonce table must hold has to decode, whether or not the caller wants it:
            // without the strings, only literals with escapes need the decoding to be checked.
            if summaryStrings || has(0x5C, UnsafeRawBufferPointer(rebasing: bytes[pr])) || has(0x5C, UnsafeRawBufferPointer(rebasing: bytes[nr])) {
                guard let pc = decodeString(bytes, pr), let n = decodeString(bytes, nr) else {
                    return .failure(EntryFormatError("product code or nonce cannot be decoded"))
                }
                if summaryStrings { summary.acceptedNonce = (pc, n) }
            }
        }
        return .success(summary)
    }
}

extension AuditEntry {
    /// What an export needs from a stored entry, read straight from its canonical bytes
    /// without building an ``AuditEntry``: the selection test, the bookkeeping fields, and the
    /// CSV row (byte-for-byte ``EntryCSV/row(_:)`` of the decoded entry; tests compare them).
    struct ExportView: Sendable {
        var seq: UInt64 = 0
        var selected = false
        var accepted = false
        var reason: String? = nil
        /// The raw content range of `keyFingerprint` in the entry's bytes (canonical, so equal
        /// ranges mean equal fingerprints), when it is not null.
        var keyFingerprint: Range<Int>? = nil
        var publicKeyVersion: Int64? = nil
        var hasToken = false
    }

    /// Reads `bytes` for an export; for a selected entry, appends its CSV row (CRLF included)
    /// to `csv`.
    static func exportView(_ bytes: UnsafeRawBufferPointer, filter: EntryFilter, csvInto row: inout [UInt8]) -> Result<ExportView, EntryFormatError> {
        let summary: Summary, v: [FieldValue]
        switch scanFields(bytes, summaryStrings: false) {
        case .failure(let e): return .failure(e)
        case .success(let r): (summary, v) = r
        }
        var failed = false
        func str(_ i: Int) -> String? {
            guard case .string(let r) = v[i] else { return nil }
            guard let s = decodeString(bytes, r) else { failed = true; return nil }
            return s
        }
        func equals(_ i: Int, _ text: String) -> Bool {
            guard case .string(let r) = v[i] else { return false }
            if has(0x5C, UnsafeRawBufferPointer(rebasing: bytes[r])) { return str(i) == text }
            var t = text
            return t.withUTF8 { UnsafeRawBufferPointer($0).elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        }
        var out = ExportView()
        out.seq = summary.seq
        out.accepted = summary.accepted
        out.selected = true
        if let outcome = filter.outcome, outcome != (summary.accepted ? "accepted" : "rejected") { out.selected = false }
        if out.selected, let pc = filter.productCode, !equals(Field.productCode, pc) { out.selected = false }
        if out.selected, filter.since != nil || filter.until != nil {
            guard let t = str(Field.recordedAt).flatMap(RFC3339.parseMilliseconds) else { out.selected = false; return .success(out) }
            if let since = filter.since, t < since { out.selected = false }
            if let until = filter.until, t >= until { out.selected = false }
        }
        guard out.selected else { return failed ? .failure(EntryFormatError("a string member cannot be decoded")) : .success(out) }
        if !summary.accepted { out.reason = str(Field.reason) }
        if case .string(let r) = v[Field.keyFingerprint] { out.keyFingerprint = r }
        if case .int(let k) = v[Field.publicKeyVersion] { out.publicKeyVersion = k }
        if case .string = v[Field.token] { out.hasToken = true }

        // The CSV row: integers and escape-free strings are copied as they stand (canonical JSON
        // escapes `"` and control characters, so only a comma forces quotes, and TAB and CR
        // cannot come first), after the formula guard's apostrophe where one is due; strings
        // with escapes are decoded and rendered like any other value.
        for (i, value) in v.enumerated() {
            if i > 0 { row.append(UInt8(ascii: ",")) }
            switch value {
            case .null: break
            case .int(let x):
                appendDecimal(x, to: &row)
            case .string(let r):
                let content = UnsafeRawBufferPointer(rebasing: bytes[r])
                if has(0x5C, content) {
                    guard let s = decodeString(bytes, r) else { failed = true; break }
                    EntryCSV.appendField(.string(s), to: &row)
                } else {
                    let quoted = content.isEmpty || has(UInt8(ascii: ","), content)
                    if quoted { row.append(0x22) }
                    if let first = content.first, EntryCSV.startsFormula(first) { row.append(UInt8(ascii: "'")) }
                    row.append(contentsOf: content)
                    if quoted { row.append(0x22) }
                }
            }
        }
        row.append(0x0D)
        row.append(0x0A)
        return failed ? .failure(EntryFormatError("a string member cannot be decoded")) : .success(out)
    }
}

/// Whether `b` holds `byte` (libc's vectorised `memchr`).
@inline(__always)
private func has(_ byte: UInt8, _ b: UnsafeRawBufferPointer) -> Bool {
    guard let p = b.baseAddress, b.count > 0 else { return false }
    return memchr(p, Int32(byte), b.count) != nil
}

/// The value of an already-validated canonical string literal whose content is `r`.
private func decodeString(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> String? {
    AuditEntry.decodeCanonicalString(UnsafeRawBufferPointer(rebasing: b[r]))
}

extension AuditEntry {
    /// The value of a canonical string literal's content (the bytes between its quotes), as
    /// checked by the entry scanner; `nil` if it does not decode.
    ///
    /// Without escapes the bytes are the value. With escapes the strict reader decodes the
    /// literal, with room for any string an entry can hold (its default 64 KiB limit would
    /// refuse longer ones that the scanner accepts).
    static func decodeCanonicalString(_ content: UnsafeRawBufferPointer) -> String? {
        if !has(0x5C, content) { return String(decoding: content, as: UTF8.self) }
        var literal: [UInt8] = []
        literal.reserveCapacity(content.count + 2)
        literal.append(0x22)
        literal.append(contentsOf: content)
        literal.append(0x22)
        return (try? StrictJSON.parse(literal, limits: JSONLimits(maxBytes: CanonicalJSON.maxEntryBytes + 2)))?.stringValue
    }
}

/// Why stored bytes are not a canonical entry.
package struct EntryFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    init(_ m: String) { message = m }
    public var description: String { message }
}

private struct EntryScanner {
    let b: UnsafeRawBufferPointer
    var i = 0
    init(_ b: UnsafeRawBufferPointer) { self.b = b }

    mutating func expect(_ lit: UnsafeRawBufferPointer) -> Bool {
        guard b.count - i >= lit.count else { return false }
        guard lit.count == 0 || memcmp(b.baseAddress! + i, lit.baseAddress!, lit.count) == 0 else { return false }
        i += lit.count
        return true
    }

    func peekNull() -> Bool {
        b.count - i >= 4 && b[i] == 0x6E && b[i + 1] == 0x75 && b[i + 2] == 0x6C && b[i + 3] == 0x6C
    }

    func equals(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let u = s.utf8Start
        for k in 0..<r.count where b[r.lowerBound + k] != u[k] { return false }
        return true
    }

    /// A canonical string; returns the raw content range (between the quotes).
    mutating func string() -> Range<Int>? {
        guard i < b.count, b[i] == 0x22 else { return nil }
        i += 1
        let start = i
        while i < b.count {
            // Skip 8 plain ASCII bytes at a time (no control, quote, backslash or high bit).
            i = JSONText.skipPlainWords(b, from: i, stopAtNonASCII: true)
            guard i < b.count else { break }
            let c = b[i]
            if c == 0x22 { let r = start..<i; i += 1; return r }
            if c < 0x20 { return nil }
            if c == 0x5C {
                guard i + 1 < b.count else { return nil }
                switch b[i + 1] {
                case 0x22, 0x5C, UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    // Only control characters without a short form, as \u00xx lowercase.
                    guard i + 5 < b.count, b[i + 2] == 0x30, b[i + 3] == 0x30 else { return nil }
                    let hi = b[i + 4], lo = b[i + 5]
                    guard hi == 0x30 || hi == 0x31 else { return nil }
                    guard (lo >= 0x30 && lo <= 0x39) || (lo >= 0x61 && lo <= 0x66) else { return nil }
                    let v = (hi - 0x30) << 4 | (lo <= 0x39 ? lo - 0x30 : lo - 0x61 + 10)
                    if v == 0x08 || v == 0x09 || v == 0x0A || v == 0x0C || v == 0x0D { return nil }
                    i += 6
                default: return nil
                }
                continue
            }
            if c < 0x80 { i += 1; continue }
            // Multi-byte UTF-8, validated strictly (no overlongs, no surrogates, <= U+10FFFF).
            let need: Int
            var lowBound: UInt8 = 0x80, highBound: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lowBound = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; highBound = 0x9F
            case 0xF0: need = 3; lowBound = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; highBound = 0x8F
            default: return nil
            }
            guard i + need < b.count else { return nil }
            let c1 = b[i + 1]
            guard c1 >= lowBound && c1 <= highBound else { return nil }
            for k in 2...max(2, need) where k <= need {
                guard b[i + k] & 0xC0 == 0x80 else { return nil }
            }
            i += need + 1
        }
        return nil
    }

    /// A canonical integer in Int64 range: -?(0|[1-9][0-9]*), no -0.
    mutating func integer() -> Int64? {
        var neg = false
        if i < b.count && b[i] == UInt8(ascii: "-") { neg = true; i += 1 }
        guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
        if b[i] == 0x30 {
            i += 1
            if neg { return nil }
            if i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { return nil }
            return 0
        }
        var v: Int64 = 0
        while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
            let d = Int64(b[i] - 0x30)
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = neg ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return v
    }
}
