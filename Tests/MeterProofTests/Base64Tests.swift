import Testing
@testable import MeterProof

@Suite("Base64")
struct Base64Tests {
    /// RFC 4648 section 10 vectors: (bytes, standard padded, url unpadded).
    static let rfc4648: [(String, String, String)] = [
        ("", "", ""), ("f", "Zg==", "Zg"), ("fo", "Zm8=", "Zm8"), ("foo", "Zm9v", "Zm9v"),
        ("foob", "Zm9vYg==", "Zm9vYg"), ("fooba", "Zm9vYmE=", "Zm9vYmE"), ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
    ]

    @Test("RFC 4648 vectors encode and decode both ways")
    func rfcVectors() {
        for (plain, std, url) in Self.rfc4648 {
            let bytes = Array(plain.utf8)
            #expect(Base64.encode(bytes) == std)
            #expect(Base64.urlEncode(bytes) == url)
            #expect(Base64.decode(std) == bytes)
            #expect(Base64.urlDecode(url) == bytes)
        }
    }

    @Test("the two alphabets differ only in 62 and 63")
    func alphabets() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]
        #expect(Base64.urlEncode(bytes) == "-_-_")
        #expect(Base64.encode(bytes) == "+/+/")
        #expect(Base64.urlDecode("-_-_") == bytes)
        #expect(Base64.decode("+/+/") == bytes)
        #expect(Base64.urlDecode("+/+/") == nil)
        #expect(Base64.decode("-_-_") == nil)
    }

    @Test("round trips for every length 0...99 and every byte value")
    func roundTrips() {
        var g = SystemRandomNumberGenerator()
        for n in 0..<100 {
            let b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            #expect(Base64.urlDecode(Base64.urlEncode(b)) == b)
            #expect(Base64.decode(Base64.encode(b)) == b)
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.urlDecode(Base64.urlEncode(all)) == all)
        #expect(Base64.decode(Base64.encode(all)) == all)
    }

    @Test("exactly one spelling per byte string: of the 64 possible last characters, only the canonical ones decode")
    func canonicalTrailingBits() {
        let alphabet = Base64.urlAlphabet.map { Character(Unicode.Scalar($0)) }
        // Two characters carry one byte: the last holds 4 unused bits, so 4 of 64 are canonical.
        let twoChar = alphabet.filter { Base64.urlDecode("Q" + String($0)) != nil }
        #expect(twoChar == ["A", "Q", "g", "w"])
        // Three characters carry two bytes: 2 unused bits, 16 of 64 canonical.
        let threeChar = alphabet.filter { Base64.urlDecode("QU" + String($0)) != nil }
        #expect(threeChar.count == 16)
        #expect(threeChar.allSatisfy { Base64.urlTable[Int($0.asciiValue!)] & 0x03 == 0 })
        // Same rule for the padded standard decoder.
        let stdTwo = Base64.stdAlphabet.map { Character(Unicode.Scalar($0)) }.filter { Base64.decode("Q" + String($0) + "==") != nil }
        #expect(stdTwo == ["A", "Q", "g", "w"])
    }

    @Test("strict base64url refuses every deviation", arguments: [
        "Zg==", "Zg=", "Zm8=", "Zh", "Zm9", "Z", "Zm9vY", "Zm9v+", "ab/c", "ab+c", " Zm9v", "Zm9v ", "Zm9v\n", "Zm 9v", "Zm9v=",
        "Zm\r\n9v", "Zm9v\u{0}", "Zm9vé", "=", "==", "====", "Zg==Zg", ".", "Zm9v.", "Zm9%",
    ])
    func urlRefusals(text: String) {
        #expect(Base64.urlDecode(text) == nil)
    }

    @Test("strict padded base64 refuses every deviation", arguments: [
        "Zg", "Zg=", "Zm8", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zg=a", "-_8=", "Zm9v\n", " Zm9v", "Zm9v====", "Zm 9v", "A",
        "Zm9vYg=", "Zm9vYg===",
    ])
    func stdRefusals(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test("the buffer and string entry points agree")
    func bufferEntryPoint() {
        var s = "Zm9vYmE"
        let viaBuffer = s.withUTF8 { Base64.urlDecode($0) }
        #expect(viaBuffer == Array("fooba".utf8))
        var bad = "Zm9vYmF"
        #expect(bad.withUTF8 { Base64.urlDecode($0) } == nil)
    }

    @Test("hex encodes lowercase and decodes either case, refusing odd length and non-hex")
    func hex() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("0x12") == nil)
    }

    @Test("hex of every byte value, from arrays, slices and non-contiguous collections, and the allocation-free comparison")
    func hexEveryByte() {
        let all = (0...255).map { UInt8($0) }
        let expected = all.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(Hex.encode(all) == expected)
        #expect(Hex.encode(all[16..<18]) == "1011")
        #expect(Hex.encode(all.lazy.map { $0 }) == expected) // no contiguous storage
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.decode(expected) == all)
        #expect(Hex.decode(expected.uppercased()) == all)
        #expect(Hex.decode(Substring(expected.dropFirst(2))) == Array(all.dropFirst()))
        #expect(Hex.isEncoding(expected, of: all))
        #expect(!Hex.isEncoding(expected.uppercased(), of: all))
        #expect(!Hex.isEncoding("00", of: [0x01]))
        #expect(!Hex.isEncoding("000", of: [0x00]))
        #expect(!Hex.isEncoding("", of: [0x00]))
        #expect(Hex.isEncoding("", of: []))
    }
}
