/// The one rule for a `PublicKeyVersion`, shared by every reader: requests, token claims,
/// captures, key file names (`v<N>.pem`), JWKS `kid`s, pins, bundles and the CLI.
///
/// RegisterUsage's `PublicKeyVersion` is a 32-bit integer with a minimum of 1, so a version is
/// an integer from 1 to 2147483647. Written as text it is canonical decimal: ASCII digits, no
/// sign, no leading zero. `01`, `+1` and `1.0` name no version; accepting them would let two
/// spellings of one key version stand side by side (two key files, two pins).
public enum KeyVersion {
    /// Every version a key, a request or a token can name: 1...2147483647.
    public static let range: ClosedRange<Int> = 1...Int(Int32.max)

    /// `text` as a key version when it is one written in canonical decimal; otherwise `nil`.
    ///
    ///     KeyVersion.parse("12")          // 12
    ///     KeyVersion.parse("2147483647")  // 2147483647
    ///     KeyVersion.parse("01")          // nil: a leading zero
    ///     KeyVersion.parse("2147483648")  // nil: out of range
    public static func parse(_ text: some StringProtocol) -> Int? {
        let utf8 = text.utf8
        guard (1...10).contains(utf8.count), utf8.first != 0x30 else { return nil }
        var v = 0
        for b in utf8 {
            guard b >= 0x30, b <= 0x39 else { return nil }
            v = v * 10 + Int(b - 0x30)
        }
        return range.contains(v) ? v : nil
    }

    /// A JSON number as a key version: an integer within ``range``.
    package static func version(of number: JSONNumber) -> Int? {
        guard let v = number.int64, v >= 1, v <= Int64(range.upperBound) else { return nil }
        return Int(v)
    }
}
