/// Strict base64 and base64url codecs (RFC 4648), without Foundation.
///
/// The base64url decoder is the one the token parser uses: no padding, no `+`, `/`, `=` or
/// whitespace, length % 4 != 1, and the unused trailing bits of the last character must be
/// zero, so each byte string has exactly one accepted spelling.
package enum Base64 {
    static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let stdAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static let urlTable: [UInt8] = makeTable(urlAlphabet)
    static let stdTable: [UInt8] = makeTable(stdAlphabet)

    private static func makeTable(_ alphabet: [UInt8]) -> [UInt8] {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }

    /// Encodes without padding using the URL-safe alphabet.
    package static func urlEncode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        encode(Array(bytes), alphabet: urlAlphabet, pad: false)
    }

    /// Encodes with padding using the standard alphabet.
    package static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        encode(Array(bytes), alphabet: stdAlphabet, pad: true)
    }

    private static func encode(_ b: [UInt8], alphabet: [UInt8], pad: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let n = UInt32(b[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            if pad { out.append(0x3D); out.append(0x3D) }
        } else if rest == 2 {
            let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)]); out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            if pad { out.append(0x3D) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strictly decodes unpadded base64url; `nil` on any deviation from the canonical form.
    package static func urlDecode(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        decode(input, table: urlTable, padded: false)
    }

    /// Strictly decodes unpadded base64url text.
    package static func urlDecode(_ input: some StringProtocol) -> [UInt8]? {
        var s = String(input)
        return s.withUTF8 { urlDecode($0) }
    }

    /// Strictly decodes padded standard base64 (length a multiple of 4, canonical padding bits).
    package static func decode(_ input: some StringProtocol) -> [UInt8]? {
        var s = String(input)
        return s.withUTF8 { decode($0, table: stdTable, padded: true) }
    }

    static func decode(_ input: UnsafeBufferPointer<UInt8>, table: [UInt8], padded: Bool) -> [UInt8]? {
        var n = input.count
        if padded {
            guard n % 4 == 0 else { return nil }
            if n > 0 && input[n - 1] == 0x3D { n -= 1 }
            if n > 0 && input[n - 1] == 0x3D { n -= 1 }
        }
        guard n % 4 != 1 else { return nil }
        let outCount = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1)
        var ok = true
        let out = table.withUnsafeBufferPointer { t in
            [UInt8](unsafeUninitializedCapacity: outCount) { o, initialized in
                var i = 0, j = 0
                while i + 4 <= n {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])], d = t[Int(input[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 { ok = false; break }
                    o[j] = a << 2 | b >> 4
                    o[j + 1] = (b & 0x0F) << 4 | c >> 2
                    o[j + 2] = (c & 0x03) << 6 | d
                    i += 4; j += 3
                }
                if ok {
                    let rest = n - i
                    if rest == 2 {
                        let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                        if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { ok = false } else { o[j] = a << 2 | b >> 4; j += 1 }
                    } else if rest == 3 {
                        let a = t[Int(input[i])], b = t[Int(input[i + 1])], c = t[Int(input[i + 2])]
                        if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { ok = false } else {
                            o[j] = a << 2 | b >> 4
                            o[j + 1] = (b & 0x0F) << 4 | c >> 2
                            j += 2
                        }
                    }
                }
                if !ok { for k in j..<outCount { o[k] = 0 }; j = outCount }
                initialized = j
            }
        }
        return ok ? out : nil
    }
}

/// Lowercase hexadecimal helpers.
package enum Hex {
    /// Lowercase hex of `bytes`.
    @inlinable
    package static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if let s = bytes.withContiguousStorageIfAvailable({ encode(UnsafeRawBufferPointer($0)) }) { return s }
        return Array(bytes).withUnsafeBytes { encode($0) }
    }

    /// Lowercase hex of `bytes`, written straight into the string's storage.
    package static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            var j = 0
            for b in bytes {
                out[j] = digit(b >> 4)
                out[j + 1] = digit(b & 15)
                j += 2
            }
            return j
        }
    }

    @inline(__always)
    static func digit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    /// Whether `hex` is exactly the lowercase hex of `bytes` (no allocation).
    package static func isEncoding(_ hex: String, of bytes: [UInt8]) -> Bool {
        var hex = hex
        return hex.withUTF8 { h in
            guard h.count == bytes.count * 2 else { return false }
            for (i, b) in bytes.enumerated() where h[2 * i] != digit(b >> 4) || h[2 * i + 1] != digit(b & 15) { return false }
            return true
        }
    }

    /// Decodes hex (either case); `nil` if odd length or a non-hex character.
    package static func decode(_ s: some StringProtocol) -> [UInt8]? {
        var text = String(s)
        return text.withUTF8 { u -> [UInt8]? in
            guard u.count % 2 == 0 else { return nil }
            func v(_ c: UInt8) -> UInt8? {
                switch c {
                case 0x30...0x39: return c - 0x30
                case 0x41...0x46: return c - 0x41 + 10
                case 0x61...0x66: return c - 0x61 + 10
                default: return nil
                }
            }
            var out = [UInt8]()
            out.reserveCapacity(u.count / 2)
            var i = 0
            while i < u.count {
                guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
                out.append(h << 4 | l)
                i += 2
            }
            return out
        }
    }
}
