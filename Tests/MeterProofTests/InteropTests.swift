import Foundation
import Testing
@testable import MeterProof

/// External PS256 implementations the interop tests compare against.
enum Peers {
    static let script = PackagePaths.interop.appendingPathComponent("pss_peer.py").path

    /// `python3` when it can import `cryptography` (checked once, by running the helper).
    static let python: String? = {
        guard let py = Run.which("python3") else {
            print("note: python3 not on PATH; Python interop tests will be skipped")
            return nil
        }
        guard let r = try? Run.program(py, [script, "check"]), r.status == 0, r.stdout.hasPrefix("ok ") else {
            print("note: python3 cannot import cryptography; Python interop tests will be skipped")
            return nil
        }
        return py
    }()

    /// The Debian `jose` CLI (José), if installed.
    static let jose: String? = {
        let j = Run.which("jose")
        if j == nil { print("note: the jose CLI is not installed (apt-get install jose); jose interop tests will be skipped") }
        return j
    }()

    static func pythonSign(payload: String, key: String = "private/v1.key.pem", salt: Int = 32) throws -> String {
        let r = try Run.program(try #require(python), [script, "sign", "--key", PackagePaths.testKeys.appendingPathComponent(key).path,
                                                         "--payload", payload, "--salt", String(salt)])
        #expect(r.status == 0, "python sign failed: \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Python's verdict on `input` (token or response object) under `keys/test/<pub>`.
    static func pythonVerify(_ input: String, pub: String = "v1.pem") throws -> ProcessOutput {
        let dir = try makeTemporaryDirectory("py")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("input")
        try write(input, to: file)
        return try Run.program(try #require(python), [script, "verify", "--pub", PackagePaths.testKeys.appendingPathComponent(pub).path, "--input", file.path])
    }

    /// `jose jws ver` on a compact token with the JWK of `key`; true when jose accepts it.
    static func joseVerify(_ token: String, key: RSAPublicKey) throws -> ProcessOutput {
        let dir = try makeTemporaryDirectory("jose")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("token"), jwkFile = dir.appendingPathComponent("key.jwk")
        try write(token, to: tokenFile)  // no trailing newline: jose reads the file verbatim
        try write(KeyringTests.jwk(key, kid: "1"), to: jwkFile)
        return try Run.program(try #require(jose), ["jws", "ver", "-i", tokenFile.path, "-k", jwkFile.path])
    }
}

@Suite("Interop with independent PS256 implementations")
struct InteropTests {
    static let verifier = Verifier(keyring: TestKeys.keyring)

    /// One character of the payload segment replaced by another base64url character (still canonical).
    static func tamper(_ token: String, segment: Int = 1) -> String {
        var parts = JWS.segments(token)
        var chars = Array(parts[segment])
        let i = chars.count / 2
        chars[i] = chars[i] == "A" ? "B" : "A"
        parts[segment] = String(chars)
        return parts.joined(separator: ".")
    }

    @Test("tokens signed by Python cryptography verify in MeterProof",
          .enabled(if: Peers.python != nil, "python3 with the cryptography package is not available"),
          arguments: [claims(), claims(pascal: true), claims(keyVersion: #""1""#), claims(iat: nil)])
    func pythonSignsWeVerify(payload: String) throws {
        let token = try Peers.pythonSign(payload: payload)
        let r = Self.verifier.verify(Array(token.utf8), expecting: Fixture.request, now: Fixture.now)
        #expect(r.isAccepted, "\(r.error?.description ?? "")")
        #expect(r.keyFingerprint == Fixture.v1Fingerprint)
        // The same token also verifies in Python, and our signature check agrees byte for byte.
        #expect(try Peers.pythonVerify(token).stdout == "valid\n")
        #expect(try CompactJWS(token).payload == Array(payload.utf8))
    }

    @Test("a Python RSA-3072 token verifies under key version 2",
          .enabled(if: Peers.python != nil, "python3 with the cryptography package is not available"))
    func pythonV2() throws {
        let token = try Peers.pythonSign(payload: claims(keyVersion: "2"), key: "private/v2.key.pem")
        let req = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 2, nonce: Fixture.nonce)
        #expect(Self.verifier.verify(Array(token.utf8), expecting: req, now: Fixture.now).isAccepted)
        #expect(Self.verifier.verify(Array(token.utf8), expecting: Fixture.request, now: Fixture.now).error?.code == .badSignature)
    }

    @Test("Python PSS signatures with another salt length are refused by us",
          .enabled(if: Peers.python != nil, "python3 with the cryptography package is not available"),
          arguments: [0, 20, 64])
    func pythonOtherSalt(salt: Int) throws {
        let token = try Peers.pythonSign(payload: claims(), salt: salt)
        #expect(Self.verifier.verify(Array(token.utf8), expecting: Fixture.request, now: Fixture.now).error?.code == .badSignature)
        #expect(try Peers.pythonVerify(token).status == 1)
    }

    @Test("ResponseSimulator output verifies in Python cryptography",
          .enabled(if: Peers.python != nil, "python3 with the cryptography package is not available"))
    func weSignPythonVerifies() throws {
        let sim = ResponseSimulator(signingKey: TestKeys.v1)
        for spelling in [ClaimSpelling.camel, .pascal] {
            let response = try sim.response(productCode: Fixture.product, keyVersion: 1, nonce: Fixture.nonce, issuedAt: Fixture.now, spelling: spelling)
            let r = try Peers.pythonVerify(response)
            #expect(r.status == 0)
            #expect(r.stdout == "valid\n")
            // Under the other key Python refuses it too.
            #expect(try Peers.pythonVerify(response, pub: "v2.pem").stdout == "invalid: bad signature\n")
        }
        let v2 = try ResponseSimulator(signingKey: TestKeys.v2).token(payload: Array(claims(keyVersion: "2").utf8))
        #expect(try Peers.pythonVerify(v2, pub: "v2.pem").stdout == "valid\n")
    }

    @Test("ResponseSimulator output verifies with the jose CLI",
          .enabled(if: Peers.jose != nil, "the jose CLI is not installed (apt-get install -y jose)"))
    func weSignJoseVerifies() throws {
        let token = try ResponseSimulator(signingKey: TestKeys.v1).token(payload: Array(claims().utf8))
        let ok = try Peers.joseVerify(token, key: TestKeys.publicKey(TestKeys.v1))
        #expect(ok.status == 0, "jose refused: \(ok.stderr)")
        let wrongKey = try Peers.joseVerify(token, key: TestKeys.publicKey(TestKeys.v2))
        #expect(wrongKey.status != 0)
        let v2 = try ResponseSimulator(signingKey: TestKeys.v2).token(payload: Array(claims(keyVersion: "2").utf8))
        #expect(try Peers.joseVerify(v2, key: TestKeys.publicKey(TestKeys.v2)).status == 0)
        // jose is strict about the salt as well: a salt-20 PSS signature is refused.
        let salt20 = try JWS.token(scheme: .pss(saltLength: 20))
        #expect(try Peers.joseVerify(salt20, key: TestKeys.publicKey(TestKeys.v1)).status != 0)
    }

    @Test("a token tampered by one byte is refused by us, Python and jose", arguments: [1, 2])
    func tampered(segment: Int) throws {
        let good = try ResponseSimulator(signingKey: TestKeys.v1).token(payload: Array(claims().utf8))
        let bad = Self.tamper(good, segment: segment)
        #expect(bad != good)
        #expect(bad.utf8.count == good.utf8.count)
        #expect(Self.verifier.verify(Array(good.utf8), expecting: Fixture.request, now: Fixture.now).isAccepted)
        #expect(Self.verifier.verify(Array(bad.utf8), expecting: Fixture.request, now: Fixture.now).error?.code == .badSignature)
        if Peers.python != nil {
            #expect(try Peers.pythonVerify(good).stdout == "valid\n")
            let r = try Peers.pythonVerify(bad)
            #expect(r.status == 1)
            #expect(r.stdout.hasPrefix("invalid"))
        } else {
            print("note: python3 with cryptography unavailable; tampered token checked by MeterProof only")
        }
        if Peers.jose != nil {
            #expect(try Peers.joseVerify(good, key: TestKeys.publicKey(TestKeys.v1)).status == 0)
            #expect(try Peers.joseVerify(bad, key: TestKeys.publicKey(TestKeys.v1)).status != 0)
        } else {
            print("note: jose CLI unavailable; tampered token not checked by jose")
        }
    }
}
