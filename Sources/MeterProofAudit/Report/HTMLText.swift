/// Text made safe for HTML.
enum HTMLText {
    /// Escapes `&`, `<`, `>`, `"` and `'` so `s` can go in element content and in quoted
    /// attribute values, and replaces characters HTML5 forbids in a document (C0 controls
    /// other than tab, line feed and carriage return; DEL and C1 controls; noncharacters)
    /// with U+FFFD, so any string from the trail yields valid HTML.
    ///
    /// With `identifier` (product codes, which are compared byte for byte), every space is
    /// written out as `⟨U+0020⟩` too, so `"prod-alpha "` cannot pass for `prod-alpha`.
    static func escape(_ s: String, identifier: Bool = false) -> String {
        if !s.unicodeScalars.contains(where: { needsWork($0) || (identifier && $0 == " ") }) { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for u in s.unicodeScalars {
            switch u {
            case " " where identifier: out += "⟨U+0020⟩"
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isForbidden(u) {
                    out += "\u{FFFD}"
                } else if isInvisible(u) {
                    out += "⟨" + u.codePointNotation + "⟩"
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

    /// Characters that change how the text around them is shown, or show as nothing, without
    /// being seen: format characters (Unicode category Cf: zero-width characters and marks,
    /// bidirectional embeddings, overrides and isolates, the byte-order mark, tag characters),
    /// the line and paragraph separators, every space other than U+0020 (no-break and the
    /// typographic spaces), default-ignorable code points (variation selectors, the Hangul
    /// fillers, the combining grapheme joiner) and the blank Braille pattern. From a forged token
    /// they could make `prod-alpha\u{200B}` or `prod-alpha\u{FE0F}` look like `prod-alpha`, or
    /// reverse the trusted text after them in the same cell, so they are written out as
    /// `⟨U+202E⟩`.
    private static func isInvisible(_ u: Unicode.Scalar) -> Bool {
        guard u.value >= 0xA0 else { return false }  // ASCII and the C1 controls (forbidden): none
        if u.value == 0x2800 || u.properties.isDefaultIgnorableCodePoint { return true }
        switch u.properties.generalCategory {
        case .format, .lineSeparator, .paragraphSeparator, .spaceSeparator: return true
        default: return false
        }
    }

    /// `s` cut to at most `scalars` Unicode scalars, the last of them `…` when anything was cut.
    /// Counted in scalars, not characters: one character can carry any number of combining
    /// marks, so a character count bounds nothing.
    static func cut(_ s: String, scalars: Int) -> String {
        let limit = max(1, scalars)
        var n = 0
        for i in s.unicodeScalars.indices {
            if n == limit - 1 {
                // The rest fits only if this is the last scalar.
                return s.unicodeScalars.index(after: i) == s.unicodeScalars.endIndex ? s : String(s.unicodeScalars[..<i]) + "…"
            }
            n += 1
        }
        return s
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

    /// `part / whole` as a percentage with one decimal, or an em dash when `whole` is zero. A
    /// share that is neither none nor all never reads as `0.0%` or `100.0%`: it is `<0.1%` or
    /// `>99.9%` (one rejection in 100,000 is not "0.0% rejected").
    static func percent(_ part: Int, of whole: Int) -> String {
        guard whole != 0 else { return "—" }
        let text = oneDecimal(Double(part) * 100 / Double(whole))
        if part > 0 && text == "0.0" { return "<0.1%" }
        if part < whole && text == "100.0" { return ">99.9%" }
        return text + "%"
    }
}
