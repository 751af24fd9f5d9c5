/// The `entries.csv` rendering of audit entries (RFC 4180).
///
/// - The header row is ``AuditEntry/fieldNames``; then one row per entry, fields in that order.
/// - Every row (the header too) ends in CRLF; the text is UTF-8 without a byte-order mark.
/// - A field is quoted when it contains `,`, `"`, CR or LF, and `"` inside it is doubled.
/// - `null` is an empty, unquoted field; the empty string is written `""` so the two stay apart.
/// - Integers are plain decimal.
/// - A string whose first character is `=`, `+`, `-`, `@`, TAB or CR gets an apostrophe `'`
///   before it, so a spreadsheet shows it as text instead of evaluating it as a formula
///   (entry strings carry capture-supplied text: nonces, product codes, raw lines). Integers,
///   booleans and null are never prefixed. Such a field does not read back to the entry's exact
///   string: `entries.jsonl` is the evidence, the CSV is for reading.
///
/// The rendering is a function of the entry, so a verifier can rebuild each row from
/// `entries.jsonl` and compare.
public enum EntryCSV {
    /// The header row with its CRLF.
    public static let header: [UInt8] = Array((AuditEntry.fieldNames.joined(separator: ",") + "\r\n").utf8)

    /// Appends the entry's row, CRLF included.
    public static func appendRow(_ entry: AuditEntry, to out: inout [UInt8]) {
        for (i, (_, value)) in entry.members.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendField(value, to: &out)
        }
        out.append(0x0D)
        out.append(0x0A)
    }

    /// The entry's row, CRLF included.
    public static func row(_ entry: AuditEntry) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        appendRow(entry, to: &out)
        return out
    }

    static func appendField(_ value: EntryValue, to out: inout [UInt8]) {
        switch value {
        case .null: break
        case .int(let v): AuditEntry.appendDecimal(v, to: &out)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .string(let s):
            let u = s.utf8
            @inline(__always) func special(_ b: UInt8) -> Bool { b == 0x2C || b == 0x22 || b == 0x0D || b == 0x0A }
            let needsQuotes = u.isEmpty || (u.withContiguousStorageIfAvailable { $0.contains(where: special) } ?? u.contains(where: special))
            let guarded = u.first.map(startsFormula) ?? false
            guard needsQuotes else {
                if guarded { out.append(UInt8(ascii: "'")) }
                out.append(contentsOf: u)
                return
            }
            out.append(0x22)
            if guarded { out.append(UInt8(ascii: "'")) }
            for b in u {
                if b == 0x22 { out.append(0x22) }
                out.append(b)
            }
            out.append(0x22)
        }
    }

    /// `=`, `+`, `-`, `@`, TAB, CR: a first character a spreadsheet may take for a formula.
    @inline(__always) static func startsFormula(_ b: UInt8) -> Bool {
        b == 0x3D || b == 0x2B || b == 0x2D || b == 0x40 || b == 0x09 || b == 0x0D
    }

    /// One field as read back: `nil` for an empty unquoted field (null), else its text.
    public typealias Field = String?

    /// Splits one record (with or without its final CRLF) into fields, strictly: quoted fields
    /// must close and be followed by `,` or the end; unquoted fields must not contain `"`, CR or LF.
    /// Returns `nil` if the record is not RFC 4180.
    public static func parseRecord(_ raw: some Collection<UInt8>) -> [Field]? {
        var bytes = Array(raw)
        if bytes.count >= 2 && bytes[bytes.count - 2] == 0x0D && bytes[bytes.count - 1] == 0x0A { bytes.removeLast(2) }
        var fields: [Field] = []
        var i = 0
        let n = bytes.count
        while true {
            if i < n && bytes[i] == 0x22 {
                var text: [UInt8] = []
                i += 1
                var closed = false
                while i < n {
                    if bytes[i] == 0x22 {
                        if i + 1 < n && bytes[i + 1] == 0x22 { text.append(0x22); i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    text.append(bytes[i])
                    i += 1
                }
                guard closed else { return nil }
                fields.append(String(decoding: text, as: UTF8.self))
            } else {
                let start = i
                while i < n && bytes[i] != 0x2C {
                    if bytes[i] == 0x22 || bytes[i] == 0x0D || bytes[i] == 0x0A { return nil }
                    i += 1
                }
                fields.append(i == start ? nil : String(decoding: bytes[start..<i], as: UTF8.self))
            }
            if i == n { return fields }
            guard bytes[i] == 0x2C else { return nil }
            i += 1
        }
    }

    /// The field text an entry value renders to (`nil` for null), formula guard included.
    public static func fieldText(_ value: EntryValue) -> Field {
        switch value {
        case .null: return nil
        case .int(let v): return String(v)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return s.utf8.first.map(startsFormula) == true ? "'" + s : s
        }
    }
}
