/// Writes JSON text without Foundation.
package enum JSONText {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal with minimal escaping (RFC 8785 style): only `"`,
    /// `\` and control characters are escaped (`\b \f \n \r \t`, else `\u00xx` lowercase).
    package static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { u in
            var runStart = 0
            var i = 0
            let raw = UnsafeRawBufferPointer(u)
            while i < u.count {
                i = skipPlainWords(raw, from: i, stopAtNonASCII: false)
                guard i < u.count else { break }
                let b = u[i]
                i += 1
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                let at = i - 1
                if at > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<at])) }
                runStart = at + 1
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x08: out.append(0x5C); out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(0x5C); out.append(UInt8(ascii: "f"))
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
                }
            }
            if u.count > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<u.count])) }
        }
        out.append(0x22)
    }

    /// Skips whole 8-byte words, from `i`, in which no byte needs escaping in a JSON string
    /// literal (none below 0x20, no `"`, no `\`; with `stopAtNonASCII`, none at or above 0x80
    /// either). Returns where a word holding such a byte, or fewer than 8 bytes, begins: the
    /// caller goes on byte by byte from there.
    @inlinable
    package static func skipPlainWords(_ b: UnsafeRawBufferPointer, from start: Int, stopAtNonASCII: Bool) -> Int {
        var i = start
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        // Exact tests for "some byte is below n": borrows can only start at such a byte.
        @inline(__always) func hasByteBelow(_ v: UInt64, _ n: UInt64) -> Bool { (v &- ones &* n) & ~v & highs != 0 }
        while b.count - i >= 8 {
            let x = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            // A control byte, or a zero byte once `"` or `\` is xor-ed away.
            if hasByteBelow(x, 0x20) || hasByteBelow(x ^ (ones &* 0x22), 1) || hasByteBelow(x ^ (ones &* 0x5C), 1)
                || (stopAtNonASCII && x & highs != 0) { break }
            i += 8
        }
        return i
    }

    /// `s` as a JSON string literal.
    package static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Serializes a parsed value back to compact JSON text (members in document order).
    package static func serialize(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        append(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func append(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n): out.append(contentsOf: n.text.utf8)
        case .string(let s): appendQuoted(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                append(v, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, m) in o.members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendQuoted(m.name, to: &out)
                out.append(UInt8(ascii: ":"))
                append(m.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
