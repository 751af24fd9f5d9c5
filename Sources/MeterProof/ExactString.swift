#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Swift's `String ==` and `String` hashing use Unicode canonical equivalence: "caf\u{E9}" equals
// "cafe\u{301}", and "K" equals KELVIN SIGN (U+212A). A product code, nonce, fingerprint or
// origin that differs in its bytes is a different value to AWS, to SQLite's unique index and to
// an auditor's `grep`, so every comparison of such values in MeterProof goes through these.

/// Byte-for-byte string equality (no Unicode canonical equivalence, unlike `==`), fast for
/// native strings: lengths first, then one memcmp of the UTF-8 storage.
@inline(__always)
package func utf8Equal(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    var x = a, y = b
    return x.withUTF8 { ux in
        y.withUTF8 { uy in
            ux.count == 0 || memcmp(ux.baseAddress!, uy.baseAddress!, ux.count) == 0
        }
    }
}

/// ``utf8Equal(_:_:)`` for optional values: two `nil`s are equal, `nil` equals no string.
@inline(__always)
package func utf8Equal(_ a: String?, _ b: String?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return utf8Equal(x, y)
    default: return false
    }
}

/// A string that is equal to, and hashes like, only strings with the same UTF-8 bytes: a
/// dictionary or set key that keeps canonically equivalent spellings apart.
package struct ExactString: Hashable, Sendable {
    package let value: String

    package init(_ value: String) { self.value = value }

    package static func == (a: ExactString, b: ExactString) -> Bool { utf8Equal(a.value, b.value) }

    package func hash(into hasher: inout Hasher) {
        var s = value
        s.withUTF8 {
            hasher.combine($0.count)
            hasher.combine(bytes: UnsafeRawBufferPointer($0))
        }
    }
}

extension Unicode.Scalar {
    /// The code point as Unicode writes it, `U+` and at least four uppercase hex digits
    /// (`U+000A`, `U+202E`, `U+1F600`): how messages and reports name a character that cannot
    /// be shown.
    package var codePointNotation: String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
