/// Text made safe for HTML.
enum HTMLText {
    /// Escapes `&`, `<`, `>`, `"` and `'` so `s` can go in element content and in quoted
    /// attribute values, and replaces characters HTML5 forbids in a document (C0 controls
    /// other than tab, line feed and carriage return; DEL and C1 controls; noncharacters)
    /// with U+FFFD, so any string from the trail yields valid HTML.
    static func escape(_ s: String) -> String {
        if !s.unicodeScalars.contains(where: needsWork) { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isForbidden(u) {
                    out += "\u{FFFD}"
                } else if isInvisible(u) {
                    let hex = String(u.value, radix: 16, uppercase: true)
                    out += "⟨U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + "⟩"
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }

    private static func needsWork(_ u: Unicode.Scalar) -> Bool {
        switch u {
        case "&", "<", ">", "\"", "'": return true
        default: return isForbidden(u) || isInvisible(u)
        }
    }

    /// Format characters (Unicode category Cf) and the line and paragraph separators: they change
    /// how the text around them is shown without being seen (zero-width characters and marks,
    /// bidirectional embeddings, overrides and isolates, the byte-order mark, tag characters). From a forged token they could
    /// make `prod-alpha\u{200B}` look like `prod-alpha`, or reverse the trusted text after them
    /// in the same cell, so they are written out as `⟨U+202E⟩`.
    private static func isInvisible(_ u: Unicode.Scalar) -> Bool {
        guard u.value >= 0xAD else { return false }  // ASCII and Latin-1 up to the soft hyphen: none
        switch u.properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    private static func isForbidden(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if v < 0x20 { return v != 0x09 && v != 0x0A && v != 0x0D }
        if v >= 0x7F && v <= 0x9F { return true }
        if v >= 0xFDD0 && v <= 0xFDEF { return true }
        return v & 0xFFFE == 0xFFFE
    }
}

/// Numbers as the report prints them.
enum ReportFormat {
    /// `1234567` → `1,234,567`.
    static func count<I: BinaryInteger>(_ n: I) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }

    /// One decimal place, e.g. `12.5`.
    static func oneDecimal(_ x: Double) -> String {
        let tenths = Int64((x * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        return "\(sign)\(abs(tenths) / 10).\(abs(tenths) % 10)"
    }

    /// `part / whole` as a percentage with one decimal, or an em dash when `whole` is zero.
    static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "—" : oneDecimal(Double(part) * 100 / Double(whole)) + "%"
    }
}
