import Foundation
import Testing
import MeterProof

@Suite("meterproof inspect")
struct InspectCommandTests {
    static func inspect(_ input: String, _ extra: [String] = []) throws -> CLIRun {
        try Run.cli(["inspect", "--keys", Paths.testKeys.path, "--format", "json"] + extra + [input])
    }

    /// A compact token signed PS256 by test key 1 over an arbitrary payload.
    static func token(payload: String) throws -> String {
        try ResponseSimulator(signingKey: CLIFixture.v1).token(payload: Array(payload.utf8))
    }

    @Test("valid signature: exit 0, signatureValid true, header and claims shown")
    func valid() throws {
        let s = try Scratch()
        // Stale and bound to nothing: inspect judges the signature only.
        let input = try s.file("r.json", try CLIFixture.response(issuedAt: 1_600_000_000))
        let r = try Self.inspect(input)
        #expect(r.status == 0)
        #expect(r.stderr == "")
        let o = try r.object()
        #expect(o["signatureValid"] == .bool(true))
        #expect(o["reason"] == .null)
        #expect(o["message"] == .null)
        #expect(o["keyVersion"]?.intValue == 1)
        #expect(o["keyFingerprint"] == .string(CLIFixture.v1Fingerprint))
        #expect(o["header"] == .object(JSONObject([("alg", .string("PS256")), ("typ", .string("JWT"))])))
        let claims = try #require(o["claims"]?.objectValue)
        #expect(claims["productCode"] == .string(CLIFixture.product))
        #expect(claims["iat"]?.intValue == 1_600_000_000)
        #expect(o["payloadText"] == nil)
        #expect(o["claimsError"] == nil)
    }

    @Test("invalid signature: exit 1, signatureValid false with the reason, claims still shown")
    func invalid() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(key: CLIFixture.v2))  // claims version 1, signed by 2
        let r = try Self.inspect(input)
        #expect(r.status == 1)
        let o = try r.object()
        #expect(o["signatureValid"] == .bool(false))
        #expect(o["reason"] == .string("bad_signature"))
        #expect(o["message"]?.stringValue?.isEmpty == false)
        #expect(o["keyVersion"]?.intValue == 1)
        #expect(o["claims"]?.objectValue?["productCode"] == .string(CLIFixture.product))
        // Checked under the key that did sign it, it is valid.
        let v2 = try Self.inspect(input, ["--key-version", "2"])
        #expect(v2.status == 0)
        #expect(try v2.object()["keyFingerprint"] == .string(CLIFixture.v2Fingerprint))
    }

    @Test("a payload that is not JSON is reported in payloadText, with its signature judged on its own")
    func payloadNotJSON() throws {
        let s = try Scratch()
        let input = try s.file("t.txt", try Self.token(payload: "hello, not json"))
        let r = try Self.inspect(input, ["--key-version", "1"])
        #expect(r.status == 0)
        let o = try r.object()
        #expect(o["signatureValid"] == .bool(true))
        #expect(o["payloadText"] == .string("hello, not json"))
        #expect(o["claims"] == nil)
        #expect(o["claimsError"]?.objectValue?["reason"] == .string("malformed_json"))
        // Without --key-version there is no claim to pick the key from, and the reason is the
        // one unbound verification (and `audit import`) gives such a payload: not missing_claim.
        let unkeyed = try Self.inspect(input)
        #expect(unkeyed.status == 1)
        let u = try unkeyed.object()
        #expect(u["signatureValid"] == .bool(false))
        #expect(u["reason"] == .string("malformed_json"), "\(u)")
        #expect(u["payloadText"] == .string("hello, not json"))
        let keyring = try Keyring.load(from: Paths.testKeys.path, allowingTestKeys: true)
        #expect(Verifier(keyring: keyring).verifyUnbound(Array(try Self.token(payload: "hello, not json").utf8)).error?.code.rawValue == "malformed_json")
        // A JSON string payload, and one with a duplicate member, likewise.
        for (payload, reason) in [(#""hello""#, "malformed_json"), (#"{"publicKeyVersion":1,"publicKeyVersion":2}"#, "duplicate_member")] {
            let o = try Self.inspect(try s.file("p.txt", try Self.token(payload: payload))).object()
            #expect(o["reason"] == .string(reason), "\(payload): \(o)")
        }
        // An object that names no version is missing_claim.
        let noVersion = try Self.inspect(try s.file("n.txt", try Self.token(payload: #"{"productCode":"p"}"#))).object()
        #expect(noVersion["reason"] == .string("missing_claim"), "\(noVersion)")
    }

    @Test("--format json escapes what must not reach a terminal, as the same JSON values")
    func jsonIsTerminalSafe() throws {
        // A one-character CSI (U+009B), DEL, a bidi override, a line separator and a tag
        // character above U+FFFF, in a claim an attacker chooses (found by a review: the text
        // output escaped them, the JSON output wrote them raw).
        let s = try Scratch()
        let hostile = "a\u{9B}2J\u{7F}\u{202E}b\u{2028}\u{E0041}é"
        let payload = "{\"productCode\":" + JSONText.quoted(hostile) + ",\"publicKeyVersion\":1}"
        let r = try Self.inspect(try s.file("t.txt", try Self.token(payload: payload)))
        #expect(r.stdout.contains(#""productCode":"a\u009b2J\u007f\u202eb\u2028\udb40\udc41é""#), "\(r.stdout)")
        #expect(!r.stdout.unicodeScalars.contains { $0.value == 0x9B || $0.value == 0x7F || $0.value == 0x202E || $0.value == 0x2028 || $0.value == 0xE0041 })
        #expect(try r.object()["claims"]?.objectValue?["productCode"] == .string(hostile))
    }

    @Test("a JSON payload that is not a claim set is shown with its claims problem")
    func payloadNotClaims() throws {
        let s = try Scratch()
        let input = try s.file("t.txt", try Self.token(payload: #"{"productCode":5,"publicKeyVersion":1}"#))
        let o = try Self.inspect(input).object()
        #expect(o["signatureValid"] == .bool(true))
        #expect(o["claims"]?.objectValue?["productCode"]?.intValue == 5)
        #expect(o["claimsError"]?.objectValue?["reason"] == .string("malformed_claims"))
    }

    @Test("a malformed token: exit 1, reason malformed_token, no header")
    func malformed() throws {
        let s = try Scratch()
        let input = try s.file("t.txt", "a.b")
        let r = try Self.inspect(input)
        #expect(r.status == 1)
        let o = try r.object()
        #expect(o["signatureValid"] == .bool(false))
        #expect(o["reason"] == .string("malformed_token"))
        #expect(o["header"] == .null)
    }

    @Test("text format")
    func text() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(rotation: 1_767_225_600))
        let r = try Run.cli(["inspect", "--keys", Paths.testKeys.path, input])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "signature: valid")
        #expect(lines.contains("key version: 1 (sha256 \(CLIFixture.v1Fingerprint))"))
        #expect(lines.contains("PublicKeyRotationTimestamp: 2026-01-01T00:00:00Z"))
    }
}

@Suite("meterproof keys list and nonce")
struct KeysAndNonceCommandTests {
    /// `openssl pkey -pubin -in FILE -outform DER | sha256sum`, run as written through `sh`.
    static func opensslFingerprint(_ pem: String) throws -> String {
        let sh = try #require(Run.which("sh"))
        let r = try Run.program(sh, ["-c", "openssl pkey -pubin -in \"$1\" -outform DER | sha256sum", "sh", pem])
        try #require(r.status == 0, "openssl | sha256sum failed: \(r.stderr)")
        return String(r.stdout.prefix(64))
    }

    /// A fresh RSA-2048 public key PEM at `path`, made by `openssl`.
    static func generatePublicKey(_ path: String) throws {
        let sh = try #require(Run.which("sh"))
        let gen = try Run.program(sh, ["-c", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out \"$1\"", "sh", path])
        try #require(gen.status == 0, "\(gen.stderr)")
    }

    @Test("keys list --format json: versions, bits, fingerprints matching openssl, pins, validity",
          .enabled(if: Tools.openssl != nil && Run.which("sha256sum") != nil, "openssl or sha256sum is not on PATH (needed to cross-check fingerprints)"))
    func keysListJSON() throws {
        let r = try Run.cli(["keys", "list", "--keys", Paths.testKeys.path, "--format", "json"])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        let rows = try #require(try r.json().arrayValue).compactMap(\.objectValue)
        #expect(rows.count == 2)
        #expect(rows.map { $0["version"]?.intValue } == [1, 2])
        #expect(rows.map { $0["bits"]?.intValue } == [2048, 3072])
        #expect(rows.map { $0["algorithm"] } == [.string("RSA"), .string("RSA")])
        let expected = [try Self.opensslFingerprint(Paths.testKeys.appendingPathComponent("v1.pem").path),
                        try Self.opensslFingerprint(Paths.testKeys.appendingPathComponent("v2.pem").path)]
        #expect(expected == [CLIFixture.v1Fingerprint, CLIFixture.v2Fingerprint])
        #expect(rows.map { $0["fingerprint"]?.stringValue } == expected)
        for row in rows {
            #expect(row["pinned"] == .bool(true))
            #expect(row["notBefore"] == .string("2024-01-01T00:00:00Z"))
            #expect(row["notAfter"] == .null)
            #expect(row["weakness"] == .null)
            #expect(row["testKey"] == .bool(true))
            #expect(row["sameKeyAs"] == .array([]))
        }
        #expect(rows[0].members.map(\.name) == ["version", "algorithm", "bits", "fingerprint", "notBefore", "notAfter", "pinned", "weakness", "testKey", "sameKeyAs", "source"])
        #expect(rows[0]["source"]?.stringValue?.hasSuffix("keys/test/v1.pem") == true)
    }

    @Test("keys list text: a header and one line per key")
    func keysListText() throws {
        let r = try Run.cli(["keys", "list", "--keys", Paths.testKeys.path])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("VERSION"))
        #expect(lines[1].hasPrefix("1 ") && lines[1].contains(" 2048 ") && lines[1].contains(CLIFixture.v1Fingerprint))
        #expect(lines[2].hasPrefix("2 ") && lines[2].contains(" 3072 ") && lines[2].contains(CLIFixture.v2Fingerprint))
        #expect(lines.dropFirst().allSatisfy { $0.hasSuffix("  TEST KEY (its private half is published)") })
        #expect(!r.stdout.contains("unpinned"))
    }

    @Test("keys list marks only the published test keys", .enabled(if: Tools.openssl != nil, "openssl is not on PATH"))
    func keysListMarksTestKeysOnly() throws {
        let s = try Scratch()
        let dir = s.dir.path
        try Self.generatePublicKey(dir + "/v7.pem")
        try FileManager.default.copyItem(atPath: Paths.testKeys.appendingPathComponent("v1.pem").path, toPath: dir + "/v1.pem")
        let r = try Run.cli(["keys", "list", "--keys", dir, "--format", "json"])
        #expect(r.status == 0)
        let rows = try #require(try r.json().arrayValue).compactMap(\.objectValue)
        #expect(rows.map { $0["version"]?.intValue } == [1, 7])
        #expect(rows.map { $0["testKey"] } == [.bool(true), .bool(false)])
        let text = try Run.cli(["keys", "list", "--keys", dir]).stdout.split(separator: "\n").map(String.init)
        #expect(text.count == 3 && text[1].contains("TEST KEY") && !text[2].contains("TEST KEY"), "\(text)")
    }

    @Test("keys list marks a key copied under a second and a third version", .enabled(if: Tools.openssl != nil, "openssl is not on PATH"))
    func keysListMarksSharedKeys() throws {
        let s = try Scratch()
        let dir = s.dir.path
        try Self.generatePublicKey(dir + "/v3.pem")
        for name in ["v4.pem", "v9.pem"] { try FileManager.default.copyItem(atPath: dir + "/v3.pem", toPath: dir + "/" + name) }
        try FileManager.default.copyItem(atPath: Paths.testKeys.appendingPathComponent("v2.pem").path, toPath: dir + "/v5.pem")
        let r = try Run.cli(["keys", "list", "--keys", dir, "--format", "json"])
        #expect(r.status == 0)
        let rows = try #require(try r.json().arrayValue).compactMap(\.objectValue)
        #expect(rows.map { $0["version"]?.intValue } == [3, 4, 5, 9])
        let shared: [[Int64]] = rows.map { row in (row["sameKeyAs"]?.arrayValue ?? [.null]).map { $0.intValue ?? -1 } }
        #expect(shared == [[4, 9], [3, 9], [], [3, 4]])
        let text = try Run.cli(["keys", "list", "--keys", dir]).stdout.split(separator: "\n").map(String.init)
        #expect(text.count == 5, "\(text)")
        #expect(text[1].hasSuffix("  (unpinned)  SAME KEY AS v4, v9 (AWS gives each version a new key)"), "\(text)")
        #expect(text[3].hasSuffix("  (unpinned)  TEST KEY (its private half is published)"), "\(text)")
        #expect(text[4].hasSuffix("  SAME KEY AS v3, v4 (AWS gives each version a new key)"), "\(text)")
    }

    @Test("keys list with a v01.pem beside v1.pem: exit 2, bad_input naming the file")
    func keysListMisnamedKeyFile() throws {
        let scratch = try Scratch()
        for name in ["v1.pem", "v2.pem"] {
            try FileManager.default.copyItem(atPath: Paths.testKeys.appendingPathComponent(name).path, toPath: scratch.path(name))
        }
        try FileManager.default.copyItem(atPath: Paths.testKeys.appendingPathComponent("v2.pem").path, toPath: scratch.path("v01.pem"))
        let r = try Run.cli(["keys", "list", "--keys", scratch.dir.path])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "meterproof: bad_input: keyring \(scratch.path("v01.pem")): looks like a key file but is not named v<N>.pem "
                + "(a lower-case v, N a positive decimal without leading zeros, .pem); if it is the key for version 1, name it v1.pem, "
                + "otherwise move it out of the keyring directory\n")
    }

    @Test("keys list on a missing directory: exit 2")
    func keysListMissing() throws {
        let r = try Run.cli(["keys", "list", "--keys", "/nonexistent/keyring"])
        #expect(r.status == 2)
        #expect(r.stderrLines.count == 1)
    }

    @Test("an argument that is not valid UTF-8 is refused before anything runs: exit 64, no file written")
    func nonUTF8Argument() throws {
        let bin = try #require(Paths.binary, "the meterproof executable was not found next to the tests; run `swift build` first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mp-utf8-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The shell passes the byte 0xFF through; Foundation's Process would need a String.
        let r = try Run.program("/bin/sh", ["-c", #"cd "$1" && exec "$0" audit init --db "$(printf 'x\377.sqlite')" --signing-key k"#, bin, dir])
        #expect(r.status == 64)
        #expect(r.stderr == "meterproof: bad_input: argument 4 is not valid UTF-8; MeterProof takes paths and values in UTF-8 only (rename the file)\n", "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [])
    }

    @Test("nonce: one UUID-shaped lowercase line, different each time")
    func nonce() throws {
        let a = try Run.cli(["nonce"]), b = try Run.cli(["nonce"])
        #expect(a.status == 0 && b.status == 0)
        #expect(a.stderr == "")
        for r in [a, b] {
            #expect(r.stdout.hasSuffix("\n"))
            let line = String(r.stdout.dropLast())
            #expect(line.wholeMatch(of: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/) != nil, "\(line)")
        }
        #expect(a.stdout != b.stdout)
    }
}

@Suite("meterproof simulate")
struct SimulateCommandTests {
    static func simulate(_ extra: [String], key: String = "v1.key.pem") throws -> CLIRun {
        try Run.cli(["simulate", "--signing-key", Paths.testKeys.appendingPathComponent("private/\(key)").path,
                     "--product-code", CLIFixture.product] + extra)
    }

    /// The payload object inside a simulated response.
    static func payload(_ response: String) throws -> JSONObject {
        let token = try #require(try StrictJSON.parse(response).objectValue?["Signature"]?.stringValue)
        return try #require(try StrictJSON.parse(CompactJWS(token).payload).objectValue)
    }

    @Test("simulate warns, on standard error, when verify would refuse what it made (and still prints it, exit 0)")
    func warnsWhenVerifyWouldRefuse() throws {
        let prefix = "meterproof: warning: verify would refuse this response now ("
        for (extra, code) in [(["--key-version", "1", "--nonce", CLIFixture.nonce, "--product-code", "prod abc"], "invalid_request"),
                              (["--key-version", "1", "--nonce", CLIFixture.nonce, "--issued-at", "5"], "token_stale"),
                              (["--key-version", "1"], "nonce_missing")] {
            let sim = try Self.simulate(extra)
            #expect(sim.status == 0 && sim.stdout.hasPrefix(#"{"Signature":""#), "\(extra)")
            #expect(sim.stderr.hasPrefix(prefix + code + ": ") && sim.stderrLines.count == 1, "\(extra): \(sim.stderr)")
        }
        // An empty nonce or product code (an unset shell variable?) is refused, as verify refuses it.
        let emptyNonce = try Self.simulate(["--key-version", "1", "--nonce", ""])
        #expect(emptyNonce.status == 64 && emptyNonce.stdout.isEmpty && emptyNonce.stderrLines.first == "Error: --nonce must not be empty: omit it for a response without a nonce.", "\(emptyNonce.stderr)")
        let emptyProduct = try Self.simulate(["--key-version", "1", "--product-code", ""])
        #expect(emptyProduct.status == 64 && emptyProduct.stderrLines.first == "Error: --product-code must not be empty.", "\(emptyProduct.stderr)")
    }

    @Test("simulate (camel) then verify: accepted")
    func camel() throws {
        let sim = try Self.simulate(["--key-version", "1", "--nonce", CLIFixture.nonce])
        #expect(sim.status == 0)
        #expect(sim.stderr == "")
        let p = try Self.payload(sim.stdout)
        #expect(p.members.map(\.name) == ["productCode", "publicKeyVersion", "nonce", "iat"])
        let iat = try #require(p["iat"]?.intValue)
        #expect(abs(iat - WallClock.nowSeconds()) <= 5)
        let r = try Run.cli(CLIFixture.verifyArgs("-"), stdin: Array(sim.stdout.utf8))
        #expect(r.status == 0)
        #expect(try r.object()["issuedAt"]?.intValue == iat)
    }

    @Test("simulate --spelling pascal then verify: accepted")
    func pascal() throws {
        let sim = try Self.simulate(["--key-version", "1", "--nonce", CLIFixture.nonce, "--spelling", "pascal"])
        #expect(sim.status == 0)
        let p = try Self.payload(sim.stdout)
        #expect(p.members.map(\.name) == ["ProductCode", "PublicKeyVersion", "Nonce", "iat"])
        let s = try Scratch()
        let r = try Run.cli(CLIFixture.verifyArgs(try s.file("r.json", sim.stdout)))
        #expect(r.status == 0)
        let o = try r.object()
        #expect(o["outcome"] == .string("accepted"))
        #expect(o["productCode"] == .string(CLIFixture.product))
        #expect(o["nonce"] == .string(CLIFixture.nonce))
    }

    @Test("simulate --rotation-timestamp then verify: accepted with a key_rotation_due warning")
    func rotation() throws {
        let sim = try Self.simulate(["--key-version", "2", "--nonce", CLIFixture.nonce, "--rotation-timestamp", "1767225600"], key: "v2.key.pem")
        #expect(sim.status == 0)
        #expect(try StrictJSON.parse(sim.stdout).objectValue?["PublicKeyRotationTimestamp"]?.intValue == 1_767_225_600)
        let r = try Run.cli(CLIFixture.verifyArgs("-", keyVersion: 2), stdin: Array(sim.stdout.utf8))
        #expect(r.status == 0)
        let o = try r.object()
        #expect(o["outcome"] == .string("accepted"))
        let warnings = try #require(o["warnings"]?.arrayValue)
        #expect(warnings.count == 1)
        #expect(warnings.first?.objectValue?["code"] == .string("key_rotation_due"))
        #expect(warnings.first?.objectValue?["message"]?.stringValue?.contains("1767225600") == true)
        // Text output lists the warning too.
        let t = try Run.cli(CLIFixture.verifyArgs("-", keyVersion: 2, json: false), stdin: Array(sim.stdout.utf8))
        #expect(t.stdout.contains("  warning: key_rotation_due: "))
        // A time verify would call malformed is refused up front (exit 64), not simulated.
        for bad in ["-5", "1000000000000", "9223372036854775807"] {
            let r = try Self.simulate(["--key-version", "2", "--nonce", CLIFixture.nonce, "--rotation-timestamp=\(bad)"], key: "v2.key.pem")
            #expect(r.status == 64, "\(bad): \(r.stderr)")
            #expect(r.stderr.contains("--rotation-timestamp must be epoch seconds between 0 and 999999999999."), "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test("simulate --no-iat and --issued-at")
    func iatOptions() throws {
        let none = try Self.simulate(["--key-version", "1", "--nonce", CLIFixture.nonce, "--no-iat"])
        #expect(try Self.payload(none.stdout)["iat"] == nil)
        let r = try Run.cli(CLIFixture.verifyArgs("-"), stdin: Array(none.stdout.utf8))
        #expect(r.status == 0)
        #expect(try r.object()["issuedAt"] == .null)
        let fixed = try Self.simulate(["--key-version", "1", "--issued-at", "1600000000"])
        #expect(try Self.payload(fixed.stdout)["iat"]?.intValue == 1_600_000_000)
        #expect(try Self.payload(fixed.stdout)["nonce"] == nil)
        let stale = try Run.cli(CLIFixture.verifyArgs("-", nonce: nil), stdin: Array(fixed.stdout.utf8))
        #expect(try stale.object()["reason"] == .string("token_stale"))
    }

    @Test("simulate with an unreadable or non-key signing key: exit 2, one line")
    func badSigningKey() throws {
        let missing = try Run.cli(["simulate", "--signing-key", "/nonexistent/key.pem", "--product-code", "p", "--key-version", "1"])
        #expect(missing.status == 2)
        #expect(missing.stderrLines.count == 1)
        let notKey = try Run.cli(["simulate", "--signing-key", Paths.testKeys.appendingPathComponent("v1.pem").path, "--product-code", "p", "--key-version", "1"])
        #expect(notKey.status == 2)
        #expect(notKey.stderrLines.count == 1)
        #expect(notKey.stdout == "")
    }

    @Test("simulate output verifies in Python cryptography",
          .enabled(if: Tools.python != nil, "python3 with the cryptography package is not available"))
    func pythonVerifies() throws {
        let s = try Scratch()
        let sim = try Self.simulate(["--key-version", "1", "--nonce", CLIFixture.nonce])
        let file = try s.file("r.json", sim.stdout)
        let ok = try Run.program(try #require(Tools.python), [Paths.peerScript, "verify", "--pub", Paths.testKeys.appendingPathComponent("v1.pem").path, "--input", file])
        #expect(ok.status == 0)
        #expect(ok.stdout == "valid\n")
        let tampered = try s.file("t.json", InteropTamper.tamper(sim.stdout))
        let bad = try Run.program(try #require(Tools.python), [Paths.peerScript, "verify", "--pub", Paths.testKeys.appendingPathComponent("v1.pem").path, "--input", tampered])
        #expect(bad.status == 1)
        #expect(bad.stdout == "invalid: bad signature\n")
        #expect(try Run.cli(CLIFixture.verifyArgs(tampered)).object()["reason"] == .string("bad_signature"))
    }

    @Test("simulate output verifies with jose jws ver",
          .enabled(if: Tools.jose != nil, "the jose CLI is not installed (apt-get install -y jose)"))
    func joseVerifies() throws {
        let s = try Scratch()
        let sim = try Self.simulate(["--key-version", "1", "--nonce", CLIFixture.nonce])
        let token = try #require(try StrictJSON.parse(sim.stdout).objectValue?["Signature"]?.stringValue)
        // The JWK of test key 1, from its modulus and exponent.
        let key = try CLIFixture.v1.publicKey
        let jwk = #"{"kty":"RSA","alg":"PS256","n":"\#(Base64.urlEncode(key.modulus))","e":"AQAB"}"#
        #expect(key.publicExponent == 65537)
        let jwkFile = try s.file("key.jwk", jwk)
        let ok = try Run.program(try #require(Tools.jose), ["jws", "ver", "-i", try s.file("token", token), "-k", jwkFile])
        #expect(ok.status == 0, "jose: \(ok.stderr)")
        let bad = try Run.program(try #require(Tools.jose), ["jws", "ver", "-i", try s.file("bad", InteropTamper.tamperToken(token)), "-k", jwkFile])
        #expect(bad.status != 0)
    }
}

/// One-character tampering inside the payload segment (the result stays canonical base64url).
enum InteropTamper {
    static func tamperToken(_ token: String) -> String {
        var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var chars = Array(parts[1])
        let i = chars.count / 2
        chars[i] = chars[i] == "A" ? "B" : "A"
        parts[1] = String(chars)
        return parts.joined(separator: ".")
    }

    /// The same inside a response object.
    static func tamper(_ response: String) throws -> String {
        let token = try #require(try StrictJSON.parse(response).objectValue?["Signature"]?.stringValue)
        return response.replacingOccurrences(of: token, with: tamperToken(token))
    }
}
