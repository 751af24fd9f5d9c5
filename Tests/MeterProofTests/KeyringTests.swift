import Foundation
import Testing
@testable import MeterProof

@Suite("Keyring")
struct KeyringTests {
    static func loadError(_ dir: URL) -> KeyringError? {
        do { _ = try Keyring.load(from: dir.path, allowingTestKeys: true); return nil } catch { return error }
    }

    /// A temporary keyring directory holding copies of the named files from `keys/test`.
    static func directory(copying files: [String] = [], _ tag: String = "keyring") throws -> URL {
        let dir = try makeTemporaryDirectory(tag)
        for f in files {
            try FileManager.default.copyItem(at: PackagePaths.testKeys.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        return dir
    }

    /// The JWK of a public key, built from its n and e.
    static func jwk(_ key: RSAPublicKey, kid: String, alg: String? = "PS256") -> String {
        var e = key.publicExponent ?? 0
        var eBytes: [UInt8] = []
        while e > 0 { eBytes.insert(UInt8(e & 0xFF), at: 0); e >>= 8 }
        let algMember = alg.map { #","alg":"\#($0)""# } ?? ""
        return #"{"kty":"RSA","kid":"\#(kid)"\#(algMember),"n":"\#(Base64.urlEncode(key.modulus))","e":"\#(Base64.urlEncode(eBytes))"}"#
    }

    static var v1Public: RSAPublicKey { TestKeys.publicKey(TestKeys.v1) }
    static var v2Public: RSAPublicKey { TestKeys.publicKey(TestKeys.v2) }

    @Test("the pinned test keyring loads with its pins and validity")
    func testKeyring() throws {
        let k = try Keyring.load(from: PackagePaths.testKeys.path, allowingTestKeys: true)
        #expect(k.versions == [1, 2])
        let v1 = try #require(k[1]), v2 = try #require(k[2])
        #expect(v1.key.bits == 2048)
        #expect(v2.key.bits == 3072)
        #expect(v1.key.publicExponent == 65537)
        #expect(v1.key.fingerprint == Fixture.v1Fingerprint)
        #expect(v2.key.fingerprint == Fixture.v2Fingerprint)
        #expect(v1.pinned && v2.pinned)
        #expect(v1.notBefore == Fixture.testKeysNotBefore)
        #expect(v1.notAfter == nil)
        #expect(v1.source.hasSuffix("keys/test/v1.pem"))
        #expect(v1.key.signatureByteCount == 256)
        #expect(v2.key.signatureByteCount == 384)
        #expect(k[3] == nil)
        // The fingerprint is SHA-256 of the DER SPKI, whichever way the key was read.
        #expect(Hex.encode(MeterProof.SHA256.hash(v1.key.spkiDER)) == Fixture.v1Fingerprint)
        #expect(try RSAPublicKey(spkiDER: v1.key.spkiDER).fingerprint == Fixture.v1Fingerprint)
        #expect(try RSAPublicKey(pem: v1.key.pem).fingerprint == Fixture.v1Fingerprint)
        #expect(Self.v1Public.fingerprint == Fixture.v1Fingerprint)
    }

    @Test("a fingerprint mismatch names the key file")
    func fingerprintMismatch() throws {
        let dir = try Self.directory(copying: ["v1.pem", "v2.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let wrong = String(Fixture.v1Fingerprint.reversed())
        try write(#"{"keys":[{"version":1,"sha256":"\#(wrong)"},{"version":2,"sha256":"\#(Fixture.v2Fingerprint)"}]}"#,
                  to: dir.appendingPathComponent("keyring.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.code == .pinMismatch)
        #expect(e.file == dir.appendingPathComponent("v1.pem").path)
        #expect(e.reason.contains("fingerprint mismatch"))
        #expect(e.reason.contains(wrong) && e.reason.contains(Fixture.v1Fingerprint))
    }

    @Test("a PEM and a JWKS giving the same version is an error naming both files")
    func duplicateVersion() throws {
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"keys":[\#(Self.jwk(Self.v1Public, kid: "1"))]}"#, to: dir.appendingPathComponent("jwks.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.description.contains(dir.appendingPathComponent("v1.pem").path))
        #expect(e.description.contains(dir.appendingPathComponent("jwks.json").path))
        #expect(e.reason.contains("duplicate key version 1"))
        #expect(e.code == .duplicateVersion)
    }

    @Test("two keys with one kid inside one JWKS is an error naming the file")
    func duplicateKidInOneJWKS() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"keys":[\#(Self.jwk(Self.v1Public, kid: "1")),\#(Self.jwk(Self.v2Public, kid: "1"))]}"#, to: dir.appendingPathComponent("keys.jwks"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file.hasPrefix(dir.appendingPathComponent("keys.jwks").path))
        #expect(e.reason.contains("duplicate key version 1"))
        #expect(e.code == .duplicateVersion)
    }

    @Test("an unparsable PEM names the file", arguments: [
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "",
    ])
    func unparsablePEM(content: String) throws {
        let dir = try Self.directory(copying: ["v2.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(content, to: dir.appendingPathComponent("v1.pem"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file == dir.appendingPathComponent("v1.pem").path)
        #expect(e.reason.contains("unparsable"))
        #expect(e.code == .invalidKeyFile)
    }

    @Test("a private key where a public key belongs is refused, naming the file")
    func privateKeyAsPEM() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: PackagePaths.testKeys.appendingPathComponent("private/v1.key.pem"), to: dir.appendingPathComponent("v1.pem"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file == dir.appendingPathComponent("v1.pem").path)
        #expect(e.code == .invalidKeyFile)
    }

    @Test("a key without a pin, when keyring.json exists, names the key file")
    func unpinnedKey() throws {
        let dir = try Self.directory(copying: ["v1.pem", "v2.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"keys":[{"version":1,"sha256":"\#(Fixture.v1Fingerprint)"}]}"#, to: dir.appendingPathComponent("keyring.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file == dir.appendingPathComponent("v2.pem").path)
        #expect(e.reason.contains("not pinned"))
        #expect(e.code == .pinMismatch)
    }

    @Test("a byte-order mark at the start of keyring.json is skipped; one after white space is invalid JSON")
    func keyringJSONByteOrderMark() throws {
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let pins = #"{"keys":[{"version":1,"sha256":"\#(Fixture.v1Fingerprint)","notBefore":"2024-01-01T00:00:00Z"}]}"#
        try Data([0xEF, 0xBB, 0xBF] + Array(pins.utf8)).write(to: dir.appendingPathComponent("keyring.json"))
        let keyring = try Keyring.load(from: dir.path, allowingTestKeys: true)
        #expect(keyring[1]?.pinned == true)
        #expect(keyring[1]?.notBefore == 1_704_067_200)
        try Data([0x20, 0xEF, 0xBB, 0xBF] + Array(pins.utf8)).write(to: dir.appendingPathComponent("keyring.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.code == .invalidPins)
        #expect(e.reason.hasPrefix("invalid JSON: unexpected byte 0xef"), "\(e.reason)")
    }

    @Test("a pin for a key no file provides names keyring.json")
    func pinForMissingKey() throws {
        let dir = try Self.directory(copying: ["v1.pem", "keyring.json"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try #require(Self.loadError(dir))
        #expect(e.file == dir.appendingPathComponent("keyring.json").path)
        #expect(e.reason.contains("version 2"))
        #expect(e.code == .pinMismatch)
    }

    @Test("keyring.json problems name keyring.json", arguments: [
        #"{"keys":[{"version":1,"sha256":"A97721A799EABE9AB15EFE1FB52CA8EFBB322FBDC03C43F4BEA8FD187AC9415D"}]}"#,
        #"{"keys":[{"version":"1","sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"}]}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d","notBefore":"2024-01-01"}]}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d","notAfter":1704067200}]}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"},{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"}]}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d","version":1}]}"#,
        #"{"pins":[]}"#,
        "[]",
        // A misspelt or unknown member would switch its rule off without a word.
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d","notbefore":"2099-01-01T00:00:00Z"}]}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"}],"require":true}"#,
        #"{"keys":[{"version":1,"sha256":"a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d","notBefore":"2026-01-02T00:00:00Z","notAfter":"2026-01-01T00:00:00Z"}]}"#,
    ])
    func badPins(content: String) throws {
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(content, to: dir.appendingPathComponent("keyring.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file == dir.appendingPathComponent("keyring.json").path)
        #expect(e.code == .invalidPins)
    }

    @Test("JWKS problems name the JWKS file", arguments: [
        #"{"keys":[{"kty":"EC","kid":"1","crv":"P-256"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":"01","n":"AQAB","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":1,"n":"AQAB","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":"1","alg":"RS256","n":"AQAB","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":"1","n":"AQAB=","e":"AQAB"}]}"#,
        #"{"keys":[{"kty":"RSA","kid":"1","n":"AAEC","e":"AQAB"}]}"#,
        #"{"keys":{}}"#,
        #"{"keys":[{"kty":"RSA","kid":"4294967297","n":"AQAB","e":"AQAB"}]}"#,
    ])
    func badJWKS(content: String) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(content, to: dir.appendingPathComponent("jwks.json"))
        let e = try #require(Self.loadError(dir))
        #expect(e.file.hasPrefix(dir.appendingPathComponent("jwks.json").path))
        #expect(e.code == .invalidJWKS)
    }

    @Test("a JWKS-only directory built from the test keys' n and e gives the same keys and fingerprints")
    func jwksOnly() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write(#"{"keys":[\#(Self.jwk(Self.v1Public, kid: "1")),\#(Self.jwk(Self.v2Public, kid: "2", alg: nil))]}"#,
                  to: dir.appendingPathComponent("jwks.json"))
        let k = try Keyring.load(from: dir.path, allowingTestKeys: true)
        #expect(k.versions == [1, 2])
        #expect(k[1]?.key.fingerprint == Fixture.v1Fingerprint)
        #expect(k[2]?.key.fingerprint == Fixture.v2Fingerprint)
        #expect(k[1]?.key.bits == 2048)
        #expect(k[1]?.pinned == false)
        // A single JWKS file loads as a keyring too.
        #expect(try Keyring.load(from: dir.appendingPathComponent("jwks.json").path, allowingTestKeys: true).versions == [1, 2])
        // With a byte-order mark at its start (as a Windows editor saves it), the same keys.
        let jwks = try Data(contentsOf: dir.appendingPathComponent("jwks.json"))
        try (Data([0xEF, 0xBB, 0xBF]) + jwks).write(to: dir.appendingPathComponent("jwks.json"))
        #expect(try Keyring.load(from: dir.path, allowingTestKeys: true)[2]?.key.fingerprint == Fixture.v2Fingerprint)
        try jwks.write(to: dir.appendingPathComponent("jwks.json"))
        // The same directory with the repository's pins: every JWKS key is pinned by version.
        try FileManager.default.copyItem(at: PackagePaths.testKeys.appendingPathComponent("keyring.json"), to: dir.appendingPathComponent("keyring.json"))
        let pinned = try Keyring.load(from: dir.path, allowingTestKeys: true)
        #expect(pinned[1]?.pinned == true && pinned[2]?.pinned == true)
        // And it verifies what the PEM keyring verifies.
        let t = try JWS.token()
        #expect(Verifier(keyring: pinned).verify(Array(t.utf8), expecting: Fixture.request, now: Fixture.now).isAccepted)
        // Named alone, it would be verified without the pins beside it (found by a review): refused.
        let single = dir.appendingPathComponent("jwks.json").path
        #expect(throws: KeyringError(.invalidPins, file: single, "a keyring.json lies beside it, whose pins and validity dates a single key file does not apply; name the directory (\(dir.path)) instead")) {
            try Keyring.load(from: single, allowingTestKeys: true)
        }
    }

    @Test("keyring.json and JWKS names in another case are refused, not skipped")
    func misCasedPinsAndJWKS() throws {
        for (name, what) in [("Keyring.json", "the pins file"), ("keyring.JSON", "the pins file"),
                             ("JWKS.json", "a JWKS file"), ("keys.JWKS", "a JWKS file")] {
            let dir = try Self.directory(copying: ["v1.pem"])
            defer { try? FileManager.default.removeItem(at: dir) }
            try write("{}", to: dir.appendingPathComponent(name))
            do {
                _ = try Keyring.load(from: dir.path, allowingTestKeys: true)
                Issue.record("\(name) was skipped")
            } catch {
                #expect(error.code == .misnamedKeyFile && error.file == dir.appendingPathComponent(name).path, "\(error)")
                #expect(error.reason.hasPrefix("looks like \(what)"), "\(error)")
            }
        }
    }

    @Test("refused without a prompt: an encrypted PEM, a JWKS with private parts; a JWKS through a pipe is read")
    func keyFilesThatMustNotBeRead() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // OpenSSL's default callback would ask for a passphrase on the terminal or standard input.
        let lines = Self.v1Public.pem.split(separator: "\n", omittingEmptySubsequences: false)
        let encrypted = ([lines[0], "Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF", ""] + lines[1...]).joined(separator: "\n")
        #expect(throws: KeyError.self) { try RSAPublicKey(pem: encrypted) }
        do { _ = try RSAPublicKey(pem: encrypted) } catch {
            #expect(error.reason.contains("the PEM is encrypted (Proc-Type: 4,ENCRYPTED); MeterProof reads unencrypted keys only"), "\(error.reason)")
        }
        // A comment outside the block that mentions the marker is not an encrypted key.
        let commented = "converted from a key that had Proc-Type: 4,ENCRYPTED\n" + Self.v1Public.pem
        #expect(try RSAPublicKey(pem: commented).fingerprint == Self.v1Public.fingerprint)
        let encryptedPrivate = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
        do { _ = try RSAPrivateKey(pem: encryptedPrivate); Issue.record("an encrypted private key loaded") } catch {
            #expect(error.reason.contains("the PEM is encrypted (ENCRYPTED PRIVATE KEY)"), "\(error.reason)")
        }
        // The pins file named as the keyring.
        let pinsOnly = PackagePaths.testKeys.appendingPathComponent("keyring.json").path
        #expect(throws: KeyringError(.invalidPins, file: pinsOnly, "is the pins file, which holds no keys; name its directory (\(PackagePaths.testKeys.path)) as the keyring")) {
            try Keyring.load(from: pinsOnly, allowingTestKeys: true)
        }
        // A JWKS named as a pipe (`--keys <(fetch-jwks)`) is read like a file.
        let pipe = Pipe()
        pipe.fileHandleForWriting.write(Data(#"{"keys":[\#(Self.jwk(Self.v1Public, kid: "1"))]}"#.utf8))
        try pipe.fileHandleForWriting.close()
        #expect(try Keyring.load(from: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)", allowingTestKeys: true).versions == [1])
        // A JWKS is for public verification keys only.
        let jwks = dir.appendingPathComponent("keys.jwks")
        let base = Self.jwk(Self.v1Public, kid: "1")
        for (extra, message) in [(#","d":"AQAB""#, "keys[0] carries the private key member \"d\": a private key has no place in a keyring"),
                                 (#","use":"enc""#, "keys[0]: use is not \"sig\""),
                                 (#","key_ops":["encrypt"]"#, "keys[0]: key_ops does not include \"verify\"")] {
            try write(#"{"keys":[\#(base.dropLast())\#(extra)}]}"#, to: jwks)
            #expect(throws: KeyringError(.invalidJWKS, file: jwks.path, message)) { try Keyring.load(from: dir.path, allowingTestKeys: true) }
        }
        try write(#"{"keys":[\#(base.dropLast()),"use":"sig","key_ops":["verify"]}]}"#, to: jwks)
        #expect(try Keyring.load(from: dir.path, allowingTestKeys: true).versions == [1])
    }

    @Test("other files and subdirectories are ignored; names that are not v<N>.pem are not keys")
    func ignoredFiles() throws {
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try write("# notes", to: dir.appendingPathComponent("README.md"))
        for name in ["key.pem", "v.pem", "v-1.pem", "v1.pem.bak", "v1a.pem", "aws-v2.pem"] {
            try write("garbage", to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("notes"), withIntermediateDirectories: false)
        let k = try Keyring.load(from: dir.path, allowingTestKeys: true)
        #expect(k.versions == [1])
    }

    @Test("a file named like a key version but not v<N>.pem is refused, naming it, not skipped", arguments: [
        ("v01.pem", "; if it is the key for version 1, name it v1.pem, otherwise move it out of the keyring directory"),
        ("v0000000002.pem", "; if it is the key for version 2, name it v2.pem, otherwise move it out of the keyring directory"),
        ("V2.pem", "; if it is the key for version 2, name it v2.pem, otherwise move it out of the keyring directory"),
        ("v1.PEM", "; if it is the key for version 1, name it v1.pem, otherwise move it out of the keyring directory"),
        ("v0.pem", ", and its number is no key version (1 to 2147483647); move it out of the keyring directory"),
        ("v2147483648.pem", ", and its number is no key version (1 to 2147483647); move it out of the keyring directory"),
        ("v00000000000000000000000000000000003.pem", "; if it is the key for version 3, name it v3.pem, otherwise move it out of the keyring directory"),
    ])
    func misnamedKeyFile(name: String, advice: String) throws {
        // Next to a good v1.pem, a stray v01.pem used to be skipped without a word.
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: PackagePaths.testKeys.appendingPathComponent("v2.pem"), to: dir.appendingPathComponent(name))
        let e = try #require(Self.loadError(dir))
        let rule = "looks like a key file but is not named v<N>.pem (a lower-case v, N a positive decimal without leading zeros, .pem)"
        #expect(e == KeyringError(.misnamedKeyFile, file: dir.appendingPathComponent(name).path, rule + advice))
        // Given alone, the same file gets the same error; another PEM name is told the rule.
        #expect(throws: e) { try Keyring.load(from: dir.appendingPathComponent(name).path, allowingTestKeys: true) }
        try FileManager.default.moveItem(at: dir.appendingPathComponent(name), to: dir.appendingPathComponent("aws.pem"))
        #expect(throws: KeyringError(.misnamedKeyFile, file: dir.appendingPathComponent("aws.pem").path,
                                     "a PEM key file must be named v<N>.pem (N its PublicKeyVersion, a positive decimal without leading zeros)")) {
            try Keyring.load(from: dir.appendingPathComponent("aws.pem").path, allowingTestKeys: true)
        }
        #expect(try Keyring.load(from: dir.path, allowingTestKeys: true).versions == [1])
    }

    /// `key`'s PKCS#1 RSAPublicKey as PEM (`-----BEGIN RSA PUBLIC KEY-----`), cut out of its
    /// 2048-bit SPKI.
    static func pkcs1PEM(_ key: RSAPublicKey) throws -> String {
        let header: [UInt8] = [0x30, 0x82, 0x01, 0x22, 0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01,
                               0x05, 0x00, 0x03, 0x82, 0x01, 0x0F, 0x00]
        try #require(Array(key.spkiDER.prefix(header.count)) == header)
        let b64 = Array(Base64.encode(key.spkiDER.dropFirst(header.count)))
        let lines = stride(from: 0, to: b64.count, by: 64).map { String(b64[$0..<min($0 + 64, b64.count)]) }
        return "-----BEGIN RSA PUBLIC KEY-----\n" + lines.joined(separator: "\n") + "\n-----END RSA PUBLIC KEY-----\n"
    }

    @Test("a PKCS#1 RSA PUBLIC KEY PEM loads as the same key, with the SPKI fingerprint its pin names")
    func pkcs1PEMLoads() throws {
        let dir = try Self.directory(copying: ["v2.pem", "keyring.json"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let pkcs1 = try Self.pkcs1PEM(Self.v1Public)
        #expect(pkcs1.hasPrefix("-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA"))
        try write(pkcs1, to: dir.appendingPathComponent("v1.pem"))
        let k = try Keyring.load(from: dir.path, allowingTestKeys: true)
        #expect(k[1]?.key.fingerprint == Fixture.v1Fingerprint)
        #expect(k[1]?.pinned == true)
        #expect(try RSAPublicKey(pem: pkcs1).spkiDER == Self.v1Public.spkiDER)
    }

    @Test("the first PEM block holding a public key is read: text and non-key blocks before it are skipped")
    func pemSurroundings() throws {
        let spki = TestKeys.pem("v1.pem"), v2 = TestKeys.pem("v2.pem"), privateKey = TestKeys.pem("private/v2.key.pem")
        #expect(try RSAPublicKey(pem: "AWS Marketplace key, version 1\n" + spki + "trailing note\n").fingerprint == Fixture.v1Fingerprint)
        #expect(try RSAPublicKey(pem: privateKey + spki).fingerprint == Fixture.v1Fingerprint)
        #expect(try RSAPublicKey(pem: spki + v2).fingerprint == Fixture.v1Fingerprint)
    }

    @Test("a keyring's key file holds exactly one PEM block, a public key")
    func keyFileHoldsOnePublicKey() throws {
        let spki = TestKeys.pem("v1.pem"), v2 = TestKeys.pem("v2.pem"), privateKey = TestKeys.pem("private/v1.key.pem")
        for (text, problem) in [
            (privateKey + spki, "holds 2 PEM blocks (PRIVATE KEY, PUBLIC KEY); a key file holds exactly one public key"),
            (spki + v2, "holds 2 PEM blocks (PUBLIC KEY, PUBLIC KEY); a key file holds exactly one public key"),
            (privateKey, "holds a PRIVATE KEY PEM block, not a public key (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----); a private key has no place in a keyring"),
        ] {
            let dir = try Self.directory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try text.write(to: dir.appendingPathComponent("v1.pem"), atomically: true, encoding: .utf8)
            let e = try #require(Self.loadError(dir))
            #expect(e.file == dir.appendingPathComponent("v1.pem").path && e.reason == problem && e.code == .invalidKeyFile, "\(e)")
        }
        // Text around the one block is still fine.
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ("AWS Marketplace key, version 1\n" + spki).write(to: dir.appendingPathComponent("v1.pem"), atomically: true, encoding: .utf8)
        #expect(try Keyring.load(from: dir.path, allowingTestKeys: true).entries[1]?.key.fingerprint == Fixture.v1Fingerprint)
    }

    @Test("what is not a PEM RSA public key is refused with a message that names the accepted forms")
    func pemRefusals() throws {
        let noKey = "no PEM public key (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----): "
        for text in ["not a key", TestKeys.pem("private/v1.key.pem"), String(decoding: Self.v1Public.spkiDER, as: UTF8.self)] {
            #expect(throws: KeyError.self) { try RSAPublicKey(pem: text) }
            do { _ = try RSAPublicKey(pem: text) } catch { #expect(error.reason.hasPrefix(noKey) && error.code == .malformedKey, "\(error.reason)") }
        }
        let ec = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEs1liQFE9yEYYjkuXsV+InMORM/k5\n9tV7MaUYNCKaAqG7LqPrwXOtOD/9icBOkobyla3ydcONtJJOVtksNfNkzA==\n-----END PUBLIC KEY-----\n"
        #expect(throws: KeyError(.unsupportedKeyType, "not an RSA key (rsaEncryption expected; RSA-PSS-only, EC and other key types are refused)")) { try RSAPublicKey(pem: ec) }
    }

    @Test("v<N>.pem names", arguments: [
        ("v1.pem", 1 as Int?), ("v12.pem", 12), ("v999999999.pem", 999_999_999), ("v01.pem", nil), ("v0.pem", nil), ("v.pem", nil),
        ("v1.PEM", nil), ("V1.pem", nil), ("v1.pem.bak", nil), ("v-1.pem", nil), ("v+1.pem", nil), ("v١.pem", nil),
        ("v1000000000.pem", 1_000_000_000), ("v2147483647.pem", 2_147_483_647), ("v2147483648.pem", nil), ("v99999999999.pem", nil),
    ])
    func pemNames(name: String, version: Int?) {
        #expect(Keyring.pemVersion(name) == version)
    }

    @Test("key versions as text: canonical decimal from 1 to 2147483647, one spelling each", arguments: [
        ("1", 1 as Int?), ("12", 12), ("2147483647", 2_147_483_647), ("1000000000", 1_000_000_000),
        ("0", nil), ("01", nil), ("+1", nil), ("-1", nil), (" 1", nil), ("1 ", nil), ("1.0", nil), ("1e3", nil), ("", nil),
        ("2147483648", nil), ("9999999999", nil), ("99999999999999999999", nil), ("١", nil), ("0x1", nil),
    ])
    func keyVersionText(text: String, version: Int?) {
        #expect(KeyVersion.parse(text) == version)
        #expect(KeyVersion.parse(Substring(text)) == version)
    }


    @Test("a missing directory and an empty directory are errors naming the path")
    func missingOrEmpty() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(Self.loadError(dir)?.file == dir.path)
        #expect(Self.loadError(dir)?.code == .noKeys)
        let missing = dir.appendingPathComponent("nope")
        #expect(Self.loadError(missing)?.file == missing.path)
        #expect(Self.loadError(missing)?.code == .notFound)
    }

    @Test("in-memory keyrings refuse duplicate versions")
    func memoryDuplicates() throws {
        let e = KeyringEntry(version: 1, key: Self.v1Public, source: "a", notBefore: nil, notAfter: nil, pinned: false)
        let f = KeyringEntry(version: 1, key: Self.v2Public, source: "b", notBefore: nil, notAfter: nil, pinned: false)
        #expect(throws: KeyringError(.duplicateVersion, file: "b", "duplicate key version 1 (also in a)")) { try Keyring(entries: [e, f]) }
        // The loader's rules hold for entries built in memory.
        #expect(throws: KeyringError(.invalidEntry, file: "z", "key version 0 is outside 1...2147483647: no token can name it")) {
            try Keyring(entries: [KeyringEntry(version: 0, key: Self.v1Public, source: "z")])
        }
        #expect(throws: KeyringError(.invalidEntry, file: "y", "key version 2147483648 is outside 1...2147483647: no token can name it")) {
            try Keyring(entries: [KeyringEntry(version: 2_147_483_648, key: Self.v1Public, source: "y")])
        }
        #expect(try Keyring(entries: [KeyringEntry(version: 2_147_483_647, key: Self.v1Public, source: "x")]).versions == [2_147_483_647])
        #expect(throws: KeyringError(.invalidEntry, file: "w", "notAfter is before notBefore")) {
            try Keyring(entries: [KeyringEntry(version: 1, key: Self.v1Public, source: "w", notBefore: 10, notAfter: 9)])
        }
    }

    @Test("key weakness: modulus floor and exponent rules")
    func weakness() throws {
        #expect(Self.v1Public.weakness(minimumBits: 2048) == nil)
        #expect(Self.v1Public.weakness(minimumBits: 3072) != nil)
        let weak = TestKeys.publicKey(TestKeys.weak1024)
        #expect(weak.bits == 1024)
        #expect(weak.weakness(minimumBits: 2048)?.contains("1024") == true)
        #expect(weak.weakness(minimumBits: 1024) == nil)
        // e = 1 and an even exponent are refused whatever the size.
        let n = Self.v1Public.modulus
        #expect(try RSAPublicKey(modulus: n, exponent: [0x01]).weakness(minimumBits: 2048) != nil)
        #expect(try RSAPublicKey(modulus: n, exponent: [0x01, 0x00, 0x00]).weakness(minimumBits: 2048) != nil)
        #expect(try RSAPublicKey(modulus: n, exponent: [0x03]).weakness(minimumBits: 2048) == nil)
        // The ceiling: an exponent above 2^32 - 1, or a modulus above 8192 bits, made every
        // verification under the key slow (a bundle's keys/ can hold anything).
        #expect(try RSAPublicKey(modulus: n, exponent: [0xFF, 0xFF, 0xFF, 0xFF]).weakness(minimumBits: 2048) == nil)
        #expect(try RSAPublicKey(modulus: n, exponent: [0x01, 0x00, 0x00, 0x00, 0x01]).weakness(minimumBits: 2048)
                == "RSA public exponent is above 4294967295 (every verification under it would be slow; AWS keys use 65537)")
        #expect(try RSAPublicKey(modulus: n, exponent: [0x01] + [UInt8](repeating: 0, count: 380) + [0x01]).weakness(minimumBits: 2048)
                == "RSA public exponent is above 4294967295 (every verification under it would be slow; AWS keys use 65537)")
        let big = [0xC1] + [UInt8](repeating: 0x5A, count: 1023) + [0x01]  // 8200 bits, odd
        #expect(try RSAPublicKey(modulus: big, exponent: [1, 0, 1]).weakness(minimumBits: 2048)
                == "RSA modulus of 8200 bits is above the 8192-bit ceiling (every verification under it would be slow; AWS keys are 2048 or 3072 bits)")
        let most = [0xC1] + [UInt8](repeating: 0x5A, count: 1022) + [0x01]  // 8192 bits
        #expect(try RSAPublicKey(modulus: most, exponent: [1, 0, 1]).weakness(minimumBits: 2048) == nil)
        // Refused before any signature work: a token under such a key is weak_key.
        let slow = try RSAPublicKey(modulus: n, exponent: [0x01] + [UInt8](repeating: 0, count: 380) + [0x01])
        let keyring = try Keyring(entries: [KeyringEntry(version: 1, key: slow, source: "slow.pem")])
        let r = Verifier(keyring: keyring).verify(Array(try JWS.token().utf8), expecting: Fixture.request, now: Fixture.now)
        #expect(r.error?.code == .weakKey, "\(String(describing: r.error))")
        #expect(throws: KeyError(.malformedKey, "JWK modulus is empty or has a leading zero byte")) { try RSAPublicKey(modulus: [0] + n, exponent: [1, 0, 1]) }
        #expect(throws: KeyError(.malformedKey, "JWK exponent is empty or has a leading zero byte")) { try RSAPublicKey(modulus: n, exponent: []) }
    }

    @Test("error codes are stable strings that round-trip through init(rawValue:)")
    func errorCodes() {
        #expect(KeyringError.Code.allCases.map(\.rawValue) == ["keyring_not_found", "keyring_unreadable", "no_keys", "misnamed_key_file",
                                                               "invalid_key_file", "invalid_jwks", "invalid_pins", "duplicate_version", "pin_mismatch",
                                                               "invalid_keyring_entry", "test_key"])
        for c in KeyringError.Code.allCases { #expect(KeyringError.Code(rawValue: c.rawValue) == c) }
        #expect(KeyError.Code.allCases.map(\.rawValue) == ["malformed_key", "unsupported_key_type", "signing_failed"])
        for c in KeyError.Code.allCases { #expect(KeyError.Code(rawValue: c.rawValue) == c) }
        #expect(KeyringError.Code(rawValue: "bad_signature") == nil)
        #expect(KeyError.Code(rawValue: "") == nil)
    }

    @Test("the shipped test keys are recognised as such; other keys are not")
    func testKeysAreRecognised() throws {
        let k = try Keyring.load(from: PackagePaths.testKeys.path, allowingTestKeys: true)
        #expect(k[1]?.key.isMeterProofTestKey == true && k[2]?.key.isMeterProofTestKey == true)
        #expect(TestKeys.publicKey(TestKeys.weak1024).isMeterProofTestKey == false)
        // The published primes make a key on the same modulus with another exponent (found by a
        // review: recognised by fingerprint only, it loaded without allowingTestKeys).
        for v in [1, 2] {
            let test = try #require(k[v]?.key)
            let sibling = try RSAPublicKey(modulus: test.modulus, exponent: [0x01, 0x00, 0x03])
            #expect(sibling.fingerprint != test.fingerprint && sibling.isMeterProofTestKey)
            let dir = try Self.directory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try write(sibling.pem, to: dir.appendingPathComponent("v\(v).pem"))
            do {
                _ = try Keyring.load(from: dir.path)
                Issue.record("a key on test key v\(v)'s modulus loaded without allowingTestKeys")
            } catch {
                #expect(error.code == .testKey, "\(error)")
            }
        }
    }

    @Test("the published test keys load only when the caller says so (test_key), wherever they are")
    func testKeysNeedConsent() throws {
        // keys/test itself, a copy of one of its keys under another directory, and as one file.
        let copy = try Self.directory(copying: ["v2.pem"])
        defer { try? FileManager.default.removeItem(at: copy) }
        let fp1 = TestKeys.publicKey(TestKeys.v1).fingerprint, fp2 = TestKeys.publicKey(TestKeys.v2).fingerprint
        let cases: [(String, String, Int, String)] = [
            (PackagePaths.testKeys.path, PackagePaths.testKeys.appendingPathComponent("v1.pem").path, 1, fp1),
            (copy.path, copy.appendingPathComponent("v2.pem").path, 2, fp2),
            (copy.appendingPathComponent("v2.pem").path, copy.appendingPathComponent("v2.pem").path, 2, fp2),
        ]
        for (path, file, version, fp) in cases {
            #expect(throws: KeyringError(.testKey, file: file, "key version \(version) (sha256 \(fp)) is MeterProof's public TEST key: its private half is published in keys/test/private, so anyone can make tokens it accepts. Use AWS's keys; to try MeterProof with keys/test, load it with allowingTestKeys: true")) {
                try Keyring.load(from: path)
            }
            #expect(try Keyring.load(from: path, allowingTestKeys: true)[version]?.key.fingerprint == fp)
        }
        // Another key loads without it.
        let other = try Self.directory()
        defer { try? FileManager.default.removeItem(at: other) }
        try write(TestKeys.publicKey(TestKeys.other2048).pem, to: other.appendingPathComponent("v7.pem"))
        #expect(try Keyring.load(from: other.path).versions == [7])
    }

    @Test("a keyring.json that is not a file is refused, not skipped (pins would be off)")
    func pinsNotAFile() throws {
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("keyring.json"), withIntermediateDirectories: false)
        #expect(Self.loadError(dir) == KeyringError(.invalidPins, file: dir.appendingPathComponent("keyring.json").path,
                                                    "is a directory; pins must be a JSON file (or absent)"))
    }

    @Test("a key file that is not a regular file is refused, naming it, not skipped", arguments: ["link", "loop", "directory", "fifo"])
    func keyFileNotAFile(kind: String) throws {
        // Skipping it had an import record every capture of that version, for good, as rejected
        // unknown_key_version.
        for name in ["v2.pem", "aws.jwks"] {
            let dir = try Self.directory(copying: ["v1.pem"])
            defer { try? FileManager.default.removeItem(at: dir) }
            let full = dir.appendingPathComponent(name).path
            let what: String
            switch kind {
            case "link":
                try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: "/nonexistent/secret/\(name)")
                what = "a symbolic link to nothing (or a loop of links)"
            case "loop":
                try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: name)
                what = "a symbolic link to nothing (or a loop of links)"
            case "directory":
                try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: false)
                what = "a directory"
            default:
                #expect(mkfifo(full, 0o600) == 0)
                what = "not a regular file (a FIFO, socket or device)"
            }
            #expect(Self.loadError(dir) == KeyringError(.unreadable, file: full, "is \(what); a key file must be a regular file (or a link to one)"))
        }
        // A link to a key file is a key file.
        let dir = try Self.directory(copying: ["v1.pem"])
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("v2.pem").path,
                                                   withDestinationPath: PackagePaths.testKeys.appendingPathComponent("v2.pem").path)
        #expect(try Keyring.load(from: dir.path, allowingTestKeys: true).versions == [1, 2])
    }

    @Test("an unreadable key file is keyring_unreadable, naming the file")
    func unreadableKeyFile() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Key files are read with a 1 MiB limit; a larger one is refused unread.
        try write(String(repeating: "A", count: (1 << 20) + 1), to: dir.appendingPathComponent("v1.pem"))
        let e = try #require(Self.loadError(dir))
        #expect(e.code == .unreadable && e.file == dir.appendingPathComponent("v1.pem").path, "\(e)")
    }
}
