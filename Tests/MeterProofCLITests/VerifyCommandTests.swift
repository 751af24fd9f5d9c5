import Foundation
import Testing
import MeterProof

@Suite("meterproof verify")
struct VerifyCommandTests {
    @Test("accepted: exit 0 and every JSON field")
    func acceptedJSON() throws {
        let s = try Scratch()
        let iat = WallClock.nowSeconds() - 2
        let input = try s.file("r.json", try CLIFixture.response(issuedAt: iat))
        let r = try Run.cli(CLIFixture.verifyArgs(input))
        #expect(r.status == 0)
        // Accepted under a test key: one warning on stderr, nothing else.
        #expect(r.stderr == "meterproof: warning: test_key: accepted under MeterProof's public TEST key (version 1, sha256 \(CLIFixture.v1Fingerprint)): its private half is published in keys/test/private, so anyone can make tokens it accepts; never use keys/test in production\n")
        let o = try r.object()
        #expect(o.members.map(\.name) == ["outcome", "reason", "message", "productCode", "publicKeyVersion", "nonce", "issuedAt",
                                          "keyFingerprint", "claimsVerified", "warnings"])
        #expect(o["outcome"] == .string("accepted"))
        #expect(o["reason"] == .null)
        #expect(o["message"] == .null)
        #expect(o["productCode"] == .string(CLIFixture.product))
        #expect(o["publicKeyVersion"]?.intValue == 1)
        #expect(o["nonce"] == .string(CLIFixture.nonce))
        #expect(o["issuedAt"]?.intValue == iat)
        #expect(o["keyFingerprint"] == .string(CLIFixture.v1Fingerprint))
        #expect(o["claimsVerified"] == .bool(true))
        #expect(o["warnings"] == .array([]))
        #expect(r.stdout.hasSuffix("}\n"))
    }

    @Test("an input over 1 MiB is refused before it is parsed (exit 2), from a file or standard input")
    func oversizedInput() throws {
        let s = try Scratch()
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: (1 << 20) + 1)
        let file = try s.file("big.json", String(decoding: big, as: UTF8.self))
        let r = try Run.cli(CLIFixture.verifyArgs(file))
        #expect(r.status == 2 && r.stdout.isEmpty)
        #expect(r.stderr == "meterproof: bad_input: cannot read \(file): larger than 1048576 bytes\n", "\(r.stderr)")
        let piped = try Run.cli(CLIFixture.verifyArgs("-"), stdin: big)
        #expect(piped.status == 2 && piped.stderr == "meterproof: bad_input: cannot read standard input: larger than 1048576 bytes\n", "\(piped.stderr)")
        // Exactly 1 MiB is read (and then refused as a response, exit 1).
        let edge = try s.file("edge.json", String(decoding: big.dropLast(), as: UTF8.self))
        #expect(try Run.cli(CLIFixture.verifyArgs(edge)).status == 1)
    }

    @Test("accepted under key version 2 (RSA-3072)")
    func acceptedV2() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(key: CLIFixture.v2, keyVersion: 2))
        let r = try Run.cli(CLIFixture.verifyArgs(input, keyVersion: 2))
        #expect(r.status == 0)
        #expect(try r.object()["keyFingerprint"] == .string(CLIFixture.v2Fingerprint))
    }

    @Test("accepted: text output")
    func acceptedText() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let r = try Run.cli(CLIFixture.verifyArgs(input, json: false))
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "accepted")
        #expect(lines.contains("  productCode:      prod-abc"))
        #expect(lines.contains("  keyFingerprint:   \(CLIFixture.v1Fingerprint)"))
    }

    @Test("attacker-controlled text is printed on one line, with control characters escaped")
    func controlCharactersAreEscaped() throws {
        let s = try Scratch()
        // Unsigned: a header whose alg carries a newline, a clear-screen escape and a fake verdict.
        let header = Base64.urlEncode(Array(#"{"alg":"X\n\u001b[2Jaccepted\u202e P\u200bS\u00a0256\ufeff\u00e9"}"#.utf8))
        let token = header + "." + Base64.urlEncode(Array(#"{"a":1}"#.utf8)) + ".AAAA"
        let input = try s.file("u.tok", token)
        let r = try Run.cli(CLIFixture.verifyArgs(input, json: false))
        #expect(r.status == 1)
        // Invisible characters too (zero-width space, no-break space, BOM); visible letters stay.
        #expect(r.stdout == #"rejected: unsupported_algorithm: header alg is "X\n\u001b[2Jaccepted\u202e P\u200bS\u00a0256\ufeff"# + "\u{E9}" + #""; only PS256 is accepted"# + "\n", "\(r.stdout)")
        let inspect = try Run.cli(["inspect", "--keys", Paths.testKeys.path, input])
        #expect(inspect.status == 1 && !inspect.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E }, "\(inspect.stdout)")
        #expect(inspect.stdout.split(separator: "\n").count == inspect.stdout.components(separatedBy: "\n").count - 1)
    }

    struct Rejection: Sendable, CustomTestStringConvertible {
        let name: String
        let reason: String
        let response: @Sendable () throws -> String
        var keyVersion = 1
        var nonce: String? = CLIFixture.nonce
        var product = CLIFixture.product
        var testDescription: String { "\(name) → \(reason)" }
    }

    static let rejections: [Rejection] = [
        Rejection(name: "nonce mismatch", reason: "nonce_mismatch", response: { try CLIFixture.response() }, nonce: "another-nonce"),
        Rejection(name: "product mismatch", reason: "product_code_mismatch", response: { try CLIFixture.response() }, product: "prod-xyz"),
        Rejection(name: "signed by key 2, checked under 1", reason: "bad_signature", response: { try CLIFixture.response(key: CLIFixture.v2) }),
        Rejection(name: "stale", reason: "token_stale", response: { try CLIFixture.response(issuedAt: WallClock.nowSeconds() - 3600) }),
        Rejection(name: "from the future", reason: "token_from_future", response: { try CLIFixture.response(issuedAt: WallClock.nowSeconds() + 3600) }),
        Rejection(name: "iat Int64.min (used to trap in the freshness check)", reason: "malformed_claims",
                  response: { try CLIFixture.response(issuedAt: Int64.min) }),
        Rejection(name: "unknown key version", reason: "unknown_key_version", response: { try CLIFixture.response(keyVersion: 7) }, keyVersion: 7),
        Rejection(name: "nonce missing", reason: "nonce_missing", response: { try CLIFixture.response(nonce: nil) }),
        Rejection(name: "not a token", reason: "malformed_token", response: { "this is not a token" }),
        Rejection(name: "JSON without Signature", reason: "malformed_input", response: { #"{"Token":"x"}"# }),
    ]

    @Test("rejected: exit 1 with the reason, in JSON and in text", arguments: rejections)
    func rejected(_ c: Rejection) throws {
        let s = try Scratch()
        let input = try s.file("r.json", try c.response())
        let r = try Run.cli(CLIFixture.verifyArgs(input, keyVersion: c.keyVersion, nonce: c.nonce, product: c.product))
        #expect(r.status == 1)
        #expect(r.stderr == "")
        let o = try r.object()
        #expect(o["outcome"] == .string("rejected"))
        #expect(o["reason"] == .string(c.reason))
        #expect(o["message"]?.stringValue?.isEmpty == false)
        #expect(o["warnings"] == .array([]))
        let t = try Run.cli(CLIFixture.verifyArgs(input, keyVersion: c.keyVersion, nonce: c.nonce, product: c.product, json: false))
        #expect(t.status == 1)
        #expect(t.stdout.hasPrefix("rejected: \(c.reason): "))
        #expect(t.stdout.split(separator: "\n").count == 1)
    }

    @Test("a rejection after the signature held reports the verified claims; before it, the fingerprint is withheld")
    func rejectionDetails() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let mismatch = try Run.cli(CLIFixture.verifyArgs(input, nonce: "other")).object()
        #expect(mismatch["claimsVerified"] == .bool(true))
        #expect(mismatch["keyFingerprint"] == .string(CLIFixture.v1Fingerprint))
        let forged = try s.file("f.json", try CLIFixture.response(key: CLIFixture.v2))
        let bad = try Run.cli(CLIFixture.verifyArgs(forged)).object()
        #expect(bad["claimsVerified"] == .bool(false))
        #expect(bad["keyFingerprint"] == .null)
        #expect(bad["productCode"] == .string(CLIFixture.product))  // untrusted, kept for the record
    }

    @Test("freshness flags: --max-age and --no-freshness")
    func freshnessFlags() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(issuedAt: WallClock.nowSeconds() - 3600))
        #expect(try Run.cli(CLIFixture.verifyArgs(input)).status == 1)
        #expect(try Run.cli(CLIFixture.verifyArgs(input) + ["--max-age", "7200"]).status == 0)
        #expect(try Run.cli(CLIFixture.verifyArgs(input) + ["--no-freshness"]).status == 0)
        #expect(try Run.cli(CLIFixture.verifyArgs(input) + ["--max-age", "60"]).object()["reason"] == .string("token_stale"))
    }

    @Test("--allow-missing-nonce accepts a token without a nonce")
    func allowMissingNonce() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response(nonce: nil))
        let r = try Run.cli(CLIFixture.verifyArgs(input, nonce: nil))
        #expect(r.status == 0)
        #expect(try r.object()["nonce"] == .null)
        // The token carries a nonce but none was sent: refused even so.
        let withNonce = try s.file("n.json", try CLIFixture.response())
        #expect(try Run.cli(CLIFixture.verifyArgs(withNonce, nonce: nil)).object()["reason"] == .string("nonce_mismatch"))
        // An empty nonce claim is a nonce too, and the message shows it.
        let empty = try s.file("e.json", try CLIFixture.response(nonce: ""))
        let o = try Run.cli(CLIFixture.verifyArgs(empty, nonce: nil)).object()
        #expect(o["reason"] == .string("nonce_mismatch") && o["message"] == .string(#"token carries a nonce ("") but none was sent"#), "\(o)")
    }

    @Test("a nonce or product code starting with '-' is the option's value, not an unknown option")
    func dashLeadingValues() throws {
        // A base64url nonce starts with '-' one time in 64: `--nonce "$NONCE"` failed with
        // "Missing value for '--nonce <nonce>'" (exit 64), so the software did not start.
        let s = try Scratch()
        for nonce in ["-Xy_z", "-h", "--help"] {
            let input = try s.file("r.json", try CLIFixture.response(nonce: nonce))
            let r = try Run.cli(CLIFixture.verifyArgs(input, nonce: nonce))
            #expect(r.status == 0, "\(nonce): \(r.stderr)")
            #expect(try r.object()["nonce"] == .string(nonce))
        }
        // Exactly "--" ends the options wherever it stands; attached with '=' it is a value.
        let dashes = try s.file("d.json", try CLIFixture.response(nonce: "--"))
        var args = CLIFixture.verifyArgs(dashes, nonce: nil)
        args[args.firstIndex(of: "--allow-missing-nonce")!] = "--nonce=--"
        let d = try Run.cli(args)
        #expect(d.status == 0, "\(d.stderr)")
        #expect(try d.object()["nonce"] == .string("--"))
        let odd = try s.file("p.json", try CLIFixture.response(productCode: "-prod"))
        let p = try Run.cli(CLIFixture.verifyArgs(odd, product: "-prod"))
        #expect(p.status == 0, "\(p.stderr)")
    }

    @Test("an empty --opt= value is refused, not filled with the next argument")
    func emptyAttachedValue() throws {
        // `--nonce=` took the response file as the nonce and read standard input instead.
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let base = ["verify", "--keys", Paths.testKeys.path, "--product-code", CLIFixture.product, "--key-version", "1", "--allow-test-keys"]
        let r = try Run.cli(base + ["--nonce=", input])
        #expect(r.status == 64)
        #expect(r.stderr == "Error: --nonce= gives an empty value; write the value after '=' (a request sent without a nonce: leave --nonce out and pass --allow-missing-nonce).\n  See 'meterproof --help' for more information.\n", "\(r.stderr)")
        let pc = try Run.cli(["verify", "--keys", Paths.testKeys.path, "--product-code=", "--key-version", "1", "--nonce", CLIFixture.nonce, input])
        #expect(pc.status == 64 && pc.stderr.hasPrefix("Error: --product-code= gives an empty value; write the value after '='.\n"), "\(pc.stderr)")
        // After `--`, such an argument is a file name like any other.
        let after = try Run.cli(base + ["--nonce", CLIFixture.nonce, "--", "--x="])
        #expect(after.status == 2, "\(after.stderr)")
    }

    @Test("input on standard input: '-' and no argument")
    func stdinInput() throws {
        let response = try CLIFixture.response()
        let dash = try Run.cli(CLIFixture.verifyArgs("-"), stdin: Array(response.utf8))
        #expect(dash.status == 0)
        #expect(try dash.object()["outcome"] == .string("accepted"))
        let none = try Run.cli(CLIFixture.verifyArgs(nil), stdin: Array(response.utf8))
        #expect(none.status == 0)
        // A bare token with a trailing newline, as `echo` would send it.
        let token = try #require(try StrictJSON.parse(response).objectValue?["Signature"]?.stringValue)
        #expect(try Run.cli(CLIFixture.verifyArgs("-"), stdin: Array((token + "\n").utf8)).status == 0)
        // Empty standard input is a rejection, not a crash.
        let empty = try Run.cli(CLIFixture.verifyArgs("-"), stdin: [])
        #expect(empty.status == 1)
        #expect(try empty.object()["reason"] == .string("malformed_input"))
    }

    @Test("a response or token file starting with a UTF-8 byte-order mark reads as without it; a mark elsewhere stays")
    func byteOrderMark() throws {
        let s = try Scratch()
        let bom = "\u{FEFF}"  // EF BB BF in UTF-8
        let response = try CLIFixture.response()
        let token = try #require(try StrictJSON.parse(response).objectValue?["Signature"]?.stringValue)
        for (name, text) in [("r.json", bom + response), ("t.txt", bom + token + "\n")] {
            let input = try s.file(name, text)
            #expect(Array(text.utf8).starts(with: [0xEF, 0xBB, 0xBF]))
            let r = try Run.cli(CLIFixture.verifyArgs(input))
            #expect(r.status == 0, "\(name): \(r.stdout)")
            #expect(try r.object()["outcome"] == .string("accepted"), "\(name)")
            let i = try Run.cli(["inspect", "--keys", Paths.testKeys.path, "--format", "json", input])
            #expect(i.status == 0, "\(name): \(i.stdout)")
            #expect(try i.object()["signatureValid"] == .bool(true), "\(name)")
        }
        let stdin = try Run.cli(CLIFixture.verifyArgs("-"), stdin: Array((bom + response).utf8))
        #expect(stdin.status == 0)
        #expect(try stdin.object()["outcome"] == .string("accepted"))
        // Only at the very start: after leading whitespace the mark is part of the input.
        let late = try Run.cli(CLIFixture.verifyArgs(try s.file("late.json", " " + bom + response)))
        #expect(late.status == 1)
        let o = try late.object()
        #expect(o["reason"] == .string("malformed_token"))
        #expect(o["message"] == .string("header segment is not canonical unpadded base64url"))
    }

    @Test("unreadable input: exit 2, one line on stderr, nothing on stdout", arguments: ["missing-file", "directory"])
    func unreadableInput(kind: String) throws {
        let s = try Scratch()
        let path: String
        if kind == "directory" {
            path = s.path("adir")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } else {
            path = s.path("does-not-exist.json")
        }
        let r = try Run.cli(CLIFixture.verifyArgs(path))
        #expect(r.status == 2)
        #expect(r.stdout == "")
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("meterproof: bad_input: cannot read \(path): "))
        for noise in ["Fatal error", "Stack dump", "backtrace", "Swift/", "0x"] {
            #expect(!r.stderr.contains(noise))
        }
    }

    @Test("unreadable keyring: exit 2, one line naming the file at fault")
    func unreadableKeyring() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let missing = s.path("no-keys")
        let r = try Run.cli(CLIFixture.verifyArgs(input, keys: missing))
        #expect(r.status == 2)
        #expect(r.stdout == "")
        #expect(r.stderrLines == ["meterproof: bad_input: keyring \(missing): no such keyring directory or file"])
        // A keyring whose pin does not match names the key file.
        let dir = s.path("ring")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: Paths.testKeys.appendingPathComponent("v1.pem").path, toPath: dir + "/v1.pem")
        try Data(#"{"keys":[{"version":1,"sha256":"\#(CLIFixture.v2Fingerprint)"}]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/keyring.json"))
        let pin = try Run.cli(CLIFixture.verifyArgs(input, keys: dir))
        #expect(pin.status == 2)
        #expect(pin.stderrLines.count == 1)
        #expect(pin.stderr.contains("\(dir)/v1.pem: fingerprint mismatch"))
    }

    @Test("bad invocation: exit 64", arguments: [
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "INPUT"],                       // no --nonce, no --allow-missing-nonce
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--allow-missing-nonce", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "0", "--nonce", "n", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "one", "--nonce", "n", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "", "--key-version", "1", "--nonce", "n", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "", "INPUT"],                 // `--nonce "$UNSET"`
        ["verify", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "INPUT"],                      // no --keys
        ["verify", "--keys", "K", "--key-version", "1", "--nonce", "n", "INPUT"],                                     // no --product-code
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--max-age", "0", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--max-age", "5", "--no-freshness", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--min-key-bits", "100", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--format", "xml", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "1", "--nonce", "n", "--bogus", "INPUT"],
        ["frobnicate"],
        ["simulate", "--signing-key", "K", "--product-code", "p", "--key-version", "0"],
        ["simulate", "--signing-key", "K", "--product-code", "p", "--key-version", "1", "--no-iat", "--issued-at", "5"],
        ["inspect", "--keys", "K", "--key-version", "0", "INPUT"],
        // A key version has one spelling: v1.pem's.
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "01", "--nonce", "n", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "+1", "--nonce", "n", "INPUT"],
        ["verify", "--keys", "K", "--product-code", "prod-abc", "--key-version", "2147483648", "--nonce", "n", "INPUT"],
        ["simulate", "--signing-key", "K", "--product-code", "p", "--key-version", "01"],
        ["inspect", "--keys", "K", "--key-version", "+1", "INPUT"],
    ])
    func badInvocation(args: [String]) throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let resolved = args.map { $0 == "K" ? Paths.testKeys.path : ($0 == "INPUT" ? input : $0) }
        let r = try Run.cli(resolved)
        #expect(r.status == 64, "stderr: \(r.stderr)")
        #expect(r.stdout == "")
        #expect(!r.stderr.isEmpty)
    }

    @Test("the published test keys: refused without --allow-test-keys (exit 2, test_key), accepted with it and a warning")
    func testKeysNeedTheFlag() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let args = CLIFixture.verifyArgs(input).filter { $0 != "--allow-test-keys" }
        let refused = try Run.cli(args)
        #expect(refused.status == 2)
        #expect(refused.stdout == "")
        #expect(refused.stderr == "meterproof: test_key: keyring \(Paths.testKeys.appendingPathComponent("v1.pem").path): MeterProof's public TEST key, whose private half is published in keys/test/private, so anyone can make tokens it accepts; use the keys AWS gave you, or pass --allow-test-keys to try MeterProof\n")
        let allowed = try Run.cli(args + ["--allow-test-keys"])
        #expect(allowed.status == 0)
        #expect(allowed.stderrLines.count == 1 && allowed.stderrLines[0].hasPrefix("meterproof: warning: test_key: "))
        // Other commands read them without the flag.
        #expect(try Run.cli(["inspect", "--keys", Paths.testKeys.path, input]).status == 0)
        #expect(try Run.cli(["keys", "list", "--keys", Paths.testKeys.path]).status == 0)
    }

    @Test("--key-version 01: exit 64 naming the value and the rule")
    func keyVersionSpelling() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let r = try Run.cli(["verify", "--keys", Paths.testKeys.path, "--product-code", "prod-abc", "--key-version", "01", "--nonce", "n", input])
        #expect(r.status == 64)
        #expect(r.stderrLines.first == "Error: The value '01' is invalid for '--key-version <key-version>': a key version is an integer from 1 to 2147483647, written without sign or leading zeros")
        // A carriage return from a CRLF environment file is named, escaped.
        let cr = try Run.cli(["verify", "--keys", Paths.testKeys.path, "--product-code", "prod-abc", "--key-version", "1\r", "--nonce", "n", input])
        #expect(cr.status == 64)
        #expect(cr.stderr.contains(#"a key version is an integer from 1 to 2147483647, written without sign or leading zeros (this value, "1\r", holds white space or a control character: a line ending from a CRLF file?)"#), "\(cr.stderr)")
    }

    @Test("--min-key-bits below 2048 prints one warning line on stderr")
    func minKeyBitsWarning() throws {
        let s = try Scratch()
        let input = try s.file("r.json", try CLIFixture.response())
        let lowered = try Run.cli(CLIFixture.verifyArgs(input) + ["--min-key-bits", "1024"])
        #expect(lowered.status == 0)
        #expect(try lowered.object()["outcome"] == .string("accepted"))
        // The floor's warning, then the test key's (every accepted verify under keys/test).
        #expect(lowered.stderrLines.count == 2)
        #expect(lowered.stderrLines.first?.hasPrefix("meterproof: warning: ") == true && lowered.stderrLines.first?.contains("1024") == true)
        #expect(lowered.stderrLines.last?.hasPrefix("meterproof: warning: test_key: ") == true)
        // No floor warning at or above the floor; a raised floor refuses the 2048-bit test key.
        #expect(try Run.cli(CLIFixture.verifyArgs(input) + ["--min-key-bits", "2048"]).stderrLines.allSatisfy { $0.hasPrefix("meterproof: warning: test_key: ") })
        let raised = try Run.cli(CLIFixture.verifyArgs(input) + ["--min-key-bits", "3072"])
        #expect(raised.stderr == "")
        #expect(try raised.object()["reason"] == .string("weak_key"))
    }

    @Test("a 1024-bit key is refused as weak_key unless --min-key-bits 1024 lowers the floor",
          .enabled(if: Tools.openssl != nil, "openssl is not on PATH (needed to make the 1024-bit key)"))
    func minKeyBitsWeakKeyring() throws {
        let s = try Scratch()
        // A keyring holding one 1024-bit key (made once, here).
        let keyPath = s.path("weak.key.pem")
        let gen = try Run.program(try #require(Tools.openssl), ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", keyPath])
        try #require(gen.status == 0, "openssl genpkey failed: \(gen.stderr)")
        let ring = s.path("weakring")
        try FileManager.default.createDirectory(atPath: ring, withIntermediateDirectories: false)
        let pub = try Run.program(try #require(Tools.openssl), ["pkey", "-in", keyPath, "-pubout", "-out", ring + "/v1.pem"])
        try #require(pub.status == 0)
        let weakKey = try RSAPrivateKey(pem: String(decoding: try #require(FileManager.default.contents(atPath: keyPath)), as: UTF8.self))
        let weakInput = try s.file("w.json", try CLIFixture.response(key: weakKey))

        let refused = try Run.cli(CLIFixture.verifyArgs(weakInput, keys: ring))
        #expect(refused.status == 1)
        #expect(try refused.object()["reason"] == .string("weak_key"))
        #expect(refused.stderr == "")
        let lowered = try Run.cli(CLIFixture.verifyArgs(weakInput, keys: ring) + ["--min-key-bits", "1024"])
        #expect(lowered.status == 0)
        #expect(try lowered.object()["outcome"] == .string("accepted"))
        #expect(lowered.stderrLines.count == 1)
        #expect(lowered.stderr.hasPrefix("meterproof: warning: "))
        // keys list shows the key and its weakness.
        let list = try Run.cli(["keys", "list", "--keys", ring, "--format", "json"])
        #expect(list.status == 0)
        let entry = try #require(try list.json().arrayValue?.first?.objectValue)
        #expect(entry["bits"]?.intValue == 1024)
        #expect(entry["weakness"]?.stringValue?.contains("1024") == true)
    }

    @Test("--version prints the library version")
    func version() throws {
        let r = try Run.cli(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == MeterProofVersion.string + "\n")
    }
}
