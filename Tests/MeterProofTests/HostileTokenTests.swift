import Foundation
import Testing
@testable import MeterProof

/// Which keyring a hostile case is verified against.
enum KeyringChoice: Sendable {
    /// `keys/test` as loaded from disk (pinned, notBefore 2024-01-01).
    case test
    /// Version 1 is the embedded 1024-bit key.
    case weak1024
    /// Version 1 is the test v1 key whose notAfter passed a day before `now`.
    case notAfterPast
    /// Version 1 is the test v1 key valid only from a day after `now`.
    case notBeforeFuture

    var keyring: Keyring {
        switch self {
        case .test: return TestKeys.keyring
        case .weak1024: return TestKeys.memoryKeyring(key: TestKeys.publicKey(TestKeys.weak1024))
        case .notAfterPast: return TestKeys.memoryKeyring(key: TestKeys.publicKey(TestKeys.v1), notAfter: Fixture.now - 86_400)
        case .notBeforeFuture: return TestKeys.memoryKeyring(key: TestKeys.publicKey(TestKeys.v1), notBefore: Fixture.now + 86_400)
        }
    }
}

/// One row of the table: an input built in the test and exactly one expected outcome.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// `nil`: accepted.
    let expected: ReasonCode?
    var warnings: [String] = []
    var request: RegisterUsageRequest? = Fixture.request
    var policy: VerificationPolicy = .strict
    var keyring: KeyringChoice = .test
    let input: @Sendable () throws -> [UInt8]

    var testDescription: String { "\(name) → \(expected?.rawValue ?? "accepted")" }

    static func reject(_ name: String, _ code: ReasonCode, request: RegisterUsageRequest? = Fixture.request, policy: VerificationPolicy = .strict,
                       keyring: KeyringChoice = .test, _ text: @escaping @Sendable () throws -> String) -> HostileCase {
        HostileCase(name: name, expected: code, request: request, policy: policy, keyring: keyring, input: { Array(try text().utf8) })
    }

    static func rejectBytes(_ name: String, _ code: ReasonCode, _ bytes: @escaping @Sendable () throws -> [UInt8]) -> HostileCase {
        HostileCase(name: name, expected: code, input: bytes)
    }

    static func accept(_ name: String, warnings: [String] = [], request: RegisterUsageRequest? = Fixture.request, policy: VerificationPolicy = .strict,
                       keyring: KeyringChoice = .test, _ text: @escaping @Sendable () throws -> String) -> HostileCase {
        HostileCase(name: name, expected: nil, warnings: warnings, request: request, policy: policy, keyring: keyring, input: { Array(try text().utf8) })
    }
}

/// Payload JSON with each claim's raw JSON value replaceable (`nil` omits the member).
func claims(productCode: String? = #""prod-abc""#, keyVersion: String? = "1", nonce: String? = #""\#(Fixture.nonce)""#,
            iat: String? = String(Fixture.now - 5), extra: [String] = [], pascal: Bool = false) -> String {
    var m: [String] = []
    if let productCode { m.append(#""\#(pascal ? "ProductCode" : "productCode")":\#(productCode)"#) }
    if let keyVersion { m.append(#""\#(pascal ? "PublicKeyVersion" : "publicKeyVersion")":\#(keyVersion)"#) }
    if let nonce { m.append(#""\#(pascal ? "Nonce" : "nonce")":\#(nonce)"#) }
    if let iat { m.append(#""iat":\#(iat)"#) }
    return "{" + (m + extra).joined(separator: ",") + "}"
}

enum HostileTable {
    static let T = Fixture.now
    static let N = Fixture.nonce
    static let noNonceRequest = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 1, nonce: nil)
    static var allowMissing: VerificationPolicy { var p = VerificationPolicy.strict; p.allowMissingNonce = true; return p }

    /// A header whose base64url holds both `-` and `_` and needs one `=` of padding, so the
    /// alphabet, padding and trailing-bit cases can be signed over the deviant spelling: only a
    /// strict decoder refuses them.
    static let oddHeader = #"{"alg":"PS256","typ":"JWT","x":"?~?~"}"#
    static var oddHeaderSegment: String { Base64.urlEncode(Array(oddHeader.utf8)) }

    static func headerToken(_ header: String) -> @Sendable () throws -> String { { try JWS.token(header: header) } }

    static let cases: [HostileCase] = [
        // Baselines: the honest shapes are accepted.
        .accept("bare camelCase token") { try JWS.token() },
        .accept("token as a JSON string") { "\"" + (try JWS.token()) + "\"" },
        .accept("response object with null rotation timestamp") { JWS.response(try JWS.token()) },
        .accept("leading and trailing whitespace around the whole input") { " \n\t" + (try JWS.token()) + "\r\n  " },
        .accept("whitespace around a response object") { "\n  " + JWS.response(try JWS.token()) + "\n\n" },
        .accept("boto3 response with ResponseMetadata") {
            #"{"Signature":"\#(try JWS.token())","PublicKeyRotationTimestamp":null,"ResponseMetadata":{"RequestId":"0b1c","HTTPStatusCode":200,"HTTPHeaders":{"content-type":"application/x-amz-json-1.1"},"RetryAttempts":0}}"#
        },
        .accept("PascalCase payload (AWS API reference spelling)") { try JWS.token(payload: claims(pascal: true)) },
        .accept("publicKeyVersion as the string \"1\" (Java sample leniency)") { try JWS.token(payload: claims(keyVersion: #""1""#)) },
        .accept("header with an unknown extra member") { try JWS.token(header: oddHeader) },
        .accept("header without typ") { try JWS.token(header: #"{"alg":"PS256"}"#) },
        // The request's PublicKeyVersion picks the key; a kid naming another version is not read.
        .accept("kid naming another key version") { try JWS.token(header: #"{"alg":"PS256","typ":"JWT","kid":"2"}"#) },
        // RFC 7515 4.1.9: typ is a media type, case-insensitive, "application/" optional.
        .accept("typ in lower case") { try JWS.token(header: #"{"alg":"PS256","typ":"jwt"}"#) },
        .accept("typ application/jwt") { try JWS.token(header: #"{"alg":"PS256","typ":"application/JWT"}"#) },
        // Members the verifier does not read may be of any JSON type (RFC 7519 allows an array aud).
        .accept("nested payload member not read") { try JWS.token(payload: claims(extra: [#""extra":{"productCode":"prod-other"}"#])) },
        .accept("array aud claim") { try JWS.token(payload: claims(extra: [#""aud":["a","b"]"#])) },
        .accept("no iat claim: freshness cannot be judged") { try JWS.token(payload: claims(iat: nil)) },
        .accept("iat exactly 600 s old (the default limit)") { try JWS.token(payload: claims(iat: String(T - 600))) },
        .accept("iat exactly 60 s ahead (the default skew)") { try JWS.token(payload: claims(iat: String(T + 60))) },
        .accept("fractional iat") { try JWS.token(payload: claims(iat: "\(T - 5).75")) },
        .accept("no nonce anywhere, allowMissingNonce", request: noNonceRequest, policy: allowMissing) { try JWS.token(payload: claims(nonce: nil)) },
        .accept("PublicKeyRotationTimestamp as epoch seconds", warnings: ["key_rotation_due"]) { JWS.response(try JWS.token(), rotation: "1767225600") },
        .accept("PublicKeyRotationTimestamp as an ISO-8601 string", warnings: ["key_rotation_due"]) {
            JWS.response(try JWS.token(), rotation: #""2026-01-01T00:00:00Z""#)
        },
        .accept("PublicKeyRotationTimestamp claim inside the payload", warnings: ["key_rotation_due"]) {
            try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":1767225600"#]))
        },
        .accept("mixed spelling, each claim once", request: Fixture.request) {
            try JWS.token(payload: #"{"ProductCode":"prod-abc","publicKeyVersion":1,"Nonce":"\#(N)","iat":\#(T)}"#)
        },
        .accept("lower-case signature member") { #"{"signature":"\#(try JWS.token())"}"# },
        .accept("SDK envelope with one member holding the response") {
            #"{"RegisterUsageResult":\#(JWS.response(try JWS.token())),"requestId":"r-1"}"#
        },
        .accept("token JSON string with an escaped dot") {
            "\"" + (try JWS.token()).replacingOccurrences(of: ".", with: "\\u002e") + "\""
        },
        .accept("lower-case publicKeyRotationTimestamp in the response", warnings: ["key_rotation_due"]) {
            #"{"Signature":"\#(try JWS.token())","publicKeyRotationTimestamp":1767225600}"#
        },
        .accept("rotation timestamp in the response and in the payload: two warnings", warnings: ["key_rotation_due", "key_rotation_due"]) {
            JWS.response(try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":"2026-01-01T00:00:00Z""#])), rotation: "1767225600")
        },
        .accept("keyring entry past its notAfter", warnings: ["key_rotation_due"], keyring: .notAfterPast) { try JWS.token() },
        // The response's timestamp is outside the signature and only ever a warning: a value
        // that is not a readable time must not refuse a genuine token.
        .accept("PublicKeyRotationTimestamp in epoch milliseconds (Java's Date)", warnings: ["key_rotation_due"]) {
            JWS.response(try JWS.token(), rotation: "1767225600000")
        },
        .accept("PublicKeyRotationTimestamp not a time", warnings: ["key_rotation_due"]) { JWS.response(try JWS.token(), rotation: #""next tuesday""#) },
        .accept("PublicKeyRotationTimestamp without a zone (.NET)", warnings: ["key_rotation_due"]) {
            JWS.response(try JWS.token(), rotation: #""2026-01-01T00:00:00""#)
        },
        .accept("PublicKeyRotationTimestamp negative", warnings: ["key_rotation_due"]) { JWS.response(try JWS.token(), rotation: "-1") },
        // Only ever a warning, in the payload too: a signed value in a format MeterProof cannot
        // read does not refuse the token (it used to be malformed_claims).
        .accept("payload PublicKeyRotationTimestamp not a time MeterProof reads", warnings: ["key_rotation_due"]) {
            try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":"2024-01-01T00:00:00.000+0000""#]))
        },
        .accept("payload PublicKeyRotationTimestamp as an object", warnings: ["key_rotation_due"]) {
            try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":{"epochSecond":1704067200,"nano":0}"#]))
        },
        .accept("response PublicKeyRotationTimestamp as an object (a serialised Java Instant)", warnings: ["key_rotation_due"]) {
            JWS.response(try JWS.token(), rotation: #"{"epochSecond":1704067200,"nano":0}"#)
        },
        // .NET's DateTime.MinValue is what a non-nullable field holds when AWS sent nothing.
        .accept(".NET DateTime.MinValue is no rotation") { JWS.response(try JWS.token(), rotation: #""0001-01-01T00:00:00""#) },
        .accept(".NET DateTime.MinValue with a zone is no rotation") { JWS.response(try JWS.token(), rotation: #""0001-01-01T00:00:00Z""#) },
        .accept(".NET DateTime.MinValue in /Date()/ form is no rotation") { JWS.response(try JWS.token(), rotation: #""/Date(-62135596800000)/""#) },
        .accept("DateTime.MinValue as epoch seconds is no rotation") { JWS.response(try JWS.token(), rotation: "-62135596800") },

        // Algorithm confusion.
        .reject("alg none with a signature segment", .unsupportedAlgorithm) { try JWS.token(header: #"{"alg":"none","typ":"JWT"}"#) },
        .reject("alg none with an empty signature segment", .malformedToken) {
            Base64.urlEncode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64.urlEncode(Array(Fixture.payload.utf8)) + "."
        },
        .reject("HS256 keyed with the PEM text of v1.pem", .unsupportedAlgorithm) {
            let input = Base64.urlEncode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + Base64.urlEncode(Array(Fixture.payload.utf8))
            let mac = JWS.hmacSHA256(key: Array(TestKeys.pem("v1.pem").utf8), message: Array(input.utf8))
            return input + "." + Base64.urlEncode(mac)
        },
        .reject("RS256 with a valid PKCS#1 v1.5 signature", .unsupportedAlgorithm) {
            try JWS.token(header: #"{"alg":"RS256","typ":"JWT"}"#, scheme: .pkcs1v15)
        },
        .reject("PS256 header over a PKCS#1 v1.5 signature", .badSignature) {
            try JWS.token(scheme: .pkcs1v15)
        },
        .reject("PS384", .unsupportedAlgorithm, headerToken(#"{"alg":"PS384","typ":"JWT"}"#)),
        .reject("alg in lower case", .unsupportedAlgorithm, headerToken(#"{"alg":"ps256","typ":"JWT"}"#)),
        .reject("alg with trailing space", .unsupportedAlgorithm, headerToken(#"{"alg":"PS256 ","typ":"JWT"}"#)),
        .reject("missing alg", .unsupportedAlgorithm, headerToken(#"{"typ":"JWT"}"#)),
        .reject("alg as a number", .unsupportedAlgorithm, headerToken(#"{"alg":256,"typ":"JWT"}"#)),
        .reject("alg null", .unsupportedAlgorithm, headerToken(#"{"alg":null,"typ":"JWT"}"#)),
        .reject("alg as an array", .unsupportedAlgorithm, headerToken(#"{"alg":["PS256"],"typ":"JWT"}"#)),

        // Header members that must not be honoured.
        .reject("crit [\"exp\"]", .unsupportedHeader, headerToken(#"{"alg":"PS256","typ":"JWT","crit":["exp"],"exp":1}"#)),
        .reject("crit []", .unsupportedHeader, headerToken(#"{"alg":"PS256","typ":"JWT","crit":[]}"#)),
        .reject("jku", .unsupportedHeader, headerToken(#"{"alg":"PS256","jku":"https://attacker.example/jwks.json"}"#)),
        .reject("x5u", .unsupportedHeader, headerToken(#"{"alg":"PS256","x5u":"https://attacker.example/cert.pem"}"#)),
        .reject("jwk", .unsupportedHeader, headerToken(#"{"alg":"PS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}"#)),
        .reject("x5c", .unsupportedHeader, headerToken(#"{"alg":"PS256","x5c":["MIIB"]}"#)),
        .reject("b64 false (RFC 7797)", .unsupportedHeader, headerToken(#"{"alg":"PS256","b64":false,"crit":[]}"#)),
        .reject("b64 true, without crit", .unsupportedHeader, headerToken(#"{"alg":"PS256","b64":true}"#)),
        .reject("zip (a JWE member)", .unsupportedHeader, headerToken(#"{"alg":"PS256","zip":"DEF"}"#)),
        .reject("enc (a JWE member)", .unsupportedHeader, headerToken(#"{"alg":"PS256","enc":"A256GCM"}"#)),
        .reject("typ JOSE", .unsupportedHeader, headerToken(#"{"alg":"PS256","typ":"JOSE"}"#)),
        .reject("typ application/jose", .unsupportedHeader, headerToken(#"{"alg":"PS256","typ":"application/jose"}"#)),
        .reject("typ as a number", .unsupportedHeader, headerToken(#"{"alg":"PS256","typ":1}"#)),
        .reject("duplicate alg in the header", .duplicateMember, headerToken(#"{"alg":"none","alg":"PS256"}"#)),
        .reject("duplicate alg in the header, spelled with an escape", .duplicateMember, headerToken(#"{"alg":"PS256","\u0061lg":"none"}"#)),
        .reject("header is not JSON", .malformedJSON, headerToken("alg=PS256")),
        .reject("header is an array", .malformedJSON, headerToken(#"[{"alg":"PS256"}]"#)),
        .reject("header with trailing garbage", .malformedJSON, headerToken(#"{"alg":"PS256"}x"#)),

        // Payload shape.
        .reject("duplicate nonce in the payload", .duplicateMember) { try JWS.token(payload: claims(extra: [#""nonce":"other""#])) },
        .reject("duplicate productCode, second spelled with an escape", .duplicateMember) {
            try JWS.token(payload: claims(extra: [#""product\u0043ode":"prod-other""#]))
        },
        .reject("productCode and ProductCode", .ambiguousClaim) { try JWS.token(payload: claims(extra: [#""ProductCode":"prod-abc""#])) },
        .reject("nonce and Nonce", .ambiguousClaim) { try JWS.token(payload: claims(extra: [#""Nonce":"\#(N)""#])) },
        .reject("productCode as an object", .malformedClaims) { try JWS.token(payload: claims(productCode: nil, extra: [#""productCode":{"v":"prod-abc"}"#])) },
        .reject("nonce as an array", .malformedClaims) { try JWS.token(payload: claims(nonce: nil, extra: [#""nonce":["\#(N)"]"#])) },
        .reject("payload is an array", .malformedJSON) { try JWS.token(payload: "[" + claims() + "]") },
        .reject("payload is not JSON", .malformedJSON) { try JWS.token(payload: "productCode=prod-abc&publicKeyVersion=1") },
        .reject("payload is not UTF-8", .malformedJSON) {
            try JWS.token(header: Array(Fixture.header.utf8), payload: Array(#"{"productCode":"prod-"#.utf8) + [0xC3, 0x28] + Array(#"","publicKeyVersion":1}"#.utf8))
        },
        .reject("payload is empty JSON text", .malformedJSON) { try JWS.token(payload: " ") },
        .reject("payload without productCode", .missingClaim) { try JWS.token(payload: claims(productCode: nil)) },
        .reject("payload without publicKeyVersion", .missingClaim) { try JWS.token(payload: claims(keyVersion: nil)) },
        .reject("publicKeyVersion spelled with a KELVIN SIGN", .missingClaim) {
            try JWS.token(payload: #"{"productCode":"prod-abc","public\u212aeyVersion":1,"nonce":"\#(N)","iat":\#(T)}"#)
        },

        // Compact serialization.
        .reject("trailing bits set in the last signature character", .malformedToken) {
            let t = try JWS.token()
            var sig = Array(JWS.segments(t)[2].utf8)
            let last = Base64.urlTable[Int(sig[sig.count - 1])]
            sig[sig.count - 1] = Base64.urlAlphabet[Int(last | 1)]
            return JWS.withSignature(t, String(decoding: sig, as: UTF8.self))
        },
        .reject("trailing bits set in the header segment (signed over)", .malformedToken) {
            var h = Array(oddHeaderSegment.utf8)
            let last = Base64.urlTable[Int(h[h.count - 1])]
            h[h.count - 1] = Base64.urlAlphabet[Int(last | 1)]
            return try JWS.signSegments(String(decoding: h, as: UTF8.self), Base64.urlEncode(Array(Fixture.payload.utf8)))
        },
        .reject("'+' instead of '-' in the header segment (signed over)", .malformedToken) {
            try JWS.signSegments(oddHeaderSegment.replacingOccurrences(of: "-", with: "+"), Base64.urlEncode(Array(Fixture.payload.utf8)))
        },
        .reject("'/' instead of '_' in the header segment (signed over)", .malformedToken) {
            try JWS.signSegments(oddHeaderSegment.replacingOccurrences(of: "_", with: "/"), Base64.urlEncode(Array(Fixture.payload.utf8)))
        },
        .reject("'=' padding on the header segment (signed over)", .malformedToken) {
            try JWS.signSegments(oddHeaderSegment + "=", Base64.urlEncode(Array(Fixture.payload.utf8)))
        },
        .reject("'=' padding on the signature segment", .malformedToken) {
            let t = try JWS.token()
            return t + "=="
        },
        .reject("space inside the token", .malformedToken) {
            let s = JWS.segments(try JWS.token())
            return s[0] + ". " + s[1] + "." + s[2]
        },
        .reject("line break inside the signature", .malformedToken) {
            let s = JWS.segments(try JWS.token())
            return s[0] + "." + s[1] + "." + String(s[2].prefix(100)) + "\n" + String(s[2].dropFirst(100))
        },
        .reject("two segments (one dot)", .malformedToken) { JWS.segments(try JWS.token()).prefix(2).joined(separator: ".") },
        .reject("four segments (three dots)", .malformedToken) { try JWS.token() + ".e30" },
        .reject("trailing dot (four segments, last empty)", .malformedToken) { try JWS.token() + "." },
        .reject("five-segment JWE-looking token", .malformedToken) {
            Base64.urlEncode(Array(#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#.utf8)) + ".a2V5.aXZpdml2aXZpdml2.Y2lwaGVy.dGFndGFn"
        },
        .reject("empty header segment", .malformedToken) { let s = JWS.segments(try JWS.token()); return "." + s[1] + "." + s[2] },
        .reject("empty payload segment", .malformedToken) { let s = JWS.segments(try JWS.token()); return s[0] + ".." + s[2] },
        .reject("zero-length signature", .malformedToken) { JWS.withSignature(try JWS.token(), "") },
        .reject("no dots at all", .malformedToken) { Base64.urlEncode(Array(Fixture.payload.utf8)) },
        .reject("bare token above 16 KiB", .tokenTooLarge) {
            try JWS.token(payload: claims(extra: [#""pad":"\#(String(repeating: "A", count: 13_000))""#]))
        },
        .reject("token above 16 KiB inside a response object", .tokenTooLarge) {
            JWS.response(try JWS.token(payload: claims(extra: [#""pad":"\#(String(repeating: "A", count: 13_000))""#])))
        },
        .reject("response document above 64 KiB", .tokenTooLarge) {
            #"{"Signature":"\#(try JWS.token())","ResponseMetadata":{"pad":"\#(String(repeating: " ", count: 70_000))"}}"#
        },

        // Signatures.
        .reject("short signature (255 bytes)", .badSignature) {
            let t = try JWS.token()
            return JWS.withSignature(t, Base64.urlEncode(Base64.urlDecode(JWS.segments(t)[2])!.dropFirst()))
        },
        .reject("long signature (257 bytes, leading zero)", .badSignature) {
            let t = try JWS.token()
            return JWS.withSignature(t, Base64.urlEncode([0] + Base64.urlDecode(JWS.segments(t)[2])!))
        },
        .reject("all-zero signature of the right length", .badSignature) { JWS.withSignature(try JWS.token(), Base64.urlEncode([UInt8](repeating: 0, count: 256))) },
        .reject("PSS salt 0", .badSignature) { try JWS.token(scheme: .pss(saltLength: 0)) },
        .reject("PSS salt 20", .badSignature) { try JWS.token(scheme: .pss(saltLength: 20)) },
        .reject("PSS salt 64", .badSignature) { try JWS.token(scheme: .pss(saltLength: 64)) },
        .reject("signed by v2's key, verified under version 1", .badSignature) { try JWS.token(key: TestKeys.v2) },
        .reject("signed by an unrelated 2048-bit key", .badSignature) { try JWS.token(key: TestKeys.other2048) },
        .reject("payload changed after signing", .badSignature) {
            let s = JWS.segments(try JWS.token())
            return s[0] + "." + Base64.urlEncode(Array(claims(productCode: #""prod-abd""#).utf8)) + "." + s[2]
        },
        .reject("header changed after signing (typ dropped)", .badSignature) {
            let s = JWS.segments(try JWS.token())
            return Base64.urlEncode(Array(#"{"alg":"PS256"}"#.utf8)) + "." + s[1] + "." + s[2]
        },

        // Keys.
        .reject("unknown key version (request 7)", .unknownKeyVersion,
                request: RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 7, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(keyVersion: "7"))
        },
        .reject("request key version 0", .invalidRequest,
                request: RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 0, nonce: Fixture.nonce)) { try JWS.token() },
        .reject("request key version above 2147483647", .invalidRequest,
                request: RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 2_147_483_648, nonce: Fixture.nonce)) { try JWS.token() },
        .reject("request product code outside AWS's pattern (space)", .invalidRequest,
                request: RegisterUsageRequest(productCode: "prod abc", publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: #""prod abc""#))
        },
        .reject("request product code with a NUL", .invalidRequest,
                request: RegisterUsageRequest(productCode: "prod\u{0}abc", publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: #""prod\u0000abc""#))
        },
        .reject("request product code longer than 255", .invalidRequest,
                request: RegisterUsageRequest(productCode: String(repeating: "p", count: 256), publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: "\"" + String(repeating: "p", count: 256) + "\""))
        },
        .reject("request product code empty", .invalidRequest,
                request: RegisterUsageRequest(productCode: "", publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: #""""#))
        },
        .reject("request nonce empty, even against a token whose nonce claim is empty", .invalidRequest,
                request: RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 1, nonce: "")) {
            try JWS.token(payload: claims(nonce: #""""#))
        },
        .accept("request product code using every allowed character class",
                request: RegisterUsageRequest(productCode: "aZ09-/=:_.@", publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: #""aZ09-/=:_.@""#))
        },
        .reject("1024-bit key in the keyring", .weakKey, keyring: .weak1024) { try JWS.token(key: TestKeys.weak1024) },
        .reject("key notBefore in the future", .keyNotYetValid, keyring: .notBeforeFuture) { try JWS.token() },

        // Binding to the request.
        .reject("product mismatch", .productCodeMismatch) { try JWS.token(payload: claims(productCode: #""prod-xyz""#)) },
        .reject("product differing only in case", .productCodeMismatch) { try JWS.token(payload: claims(productCode: #""PROD-ABC""#)) },
        .reject("key version claim 2 under request 1, signed by key 1", .keyVersionMismatch) { try JWS.token(payload: claims(keyVersion: "2")) },
        .reject("product code equal only under Unicode canonical equivalence (KELVIN SIGN)", .productCodeMismatch,
                request: RegisterUsageRequest(productCode: "prod-K", publicKeyVersion: 1, nonce: Fixture.nonce)) {
            try JWS.token(payload: claims(productCode: #""prod-\u212a""#))
        },
        .reject("nonce equal only under Unicode canonical equivalence", .nonceMismatch,
                request: RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 1, nonce: "caf\u{E9}-1")) {
            try JWS.token(payload: claims(nonce: #""cafe\u0301-1""#))
        },
        .reject("nonce mismatch", .nonceMismatch) { try JWS.token(payload: claims(nonce: #""00000000-0000-0000-0000-000000000000""#)) },
        .reject("token nonce although none was sent", .nonceMismatch, request: noNonceRequest, policy: allowMissing) { try JWS.token() },
        .reject("nonce missing although one was sent", .nonceMissing) { try JWS.token(payload: claims(nonce: nil)) },
        .reject("nonce null although one was sent", .nonceMissing) { try JWS.token(payload: claims(nonce: "null")) },
        .reject("nonce missing, none sent, missing not allowed", .nonceMissing, request: noNonceRequest) { try JWS.token(payload: claims(nonce: nil)) },
        .reject("nonce missing although sent, even with allowMissingNonce", .nonceMissing, policy: allowMissing) { try JWS.token(payload: claims(nonce: nil)) },

        // Freshness.
        .reject("stale iat (601 s)", .tokenStale) { try JWS.token(payload: claims(iat: String(T - 601))) },
        .reject("future iat (61 s)", .tokenFromFuture) { try JWS.token(payload: claims(iat: String(T + 61))) },
        .reject("iat in milliseconds", .tokenFromFuture) { try JWS.token(payload: claims(iat: String(T * 1000))) },

        // Claim types.
        .reject("iat as a string", .malformedClaims) { try JWS.token(payload: claims(iat: #""\#(T)""#)) },
        .reject("iat Int64.min (freshness arithmetic must not overflow)", .malformedClaims) { try JWS.token(payload: claims(iat: String(Int64.min))) },
        .reject("iat Int64.max", .malformedClaims) { try JWS.token(payload: claims(iat: String(Int64.max))) },
        .reject("iat -1e15 as an integer", .malformedClaims) { try JWS.token(payload: claims(iat: "-1000000000000000")) },
        .reject("iat just inside the NumericDate bound, far in the past", .tokenStale) { try JWS.token(payload: claims(iat: "-999999999999999")) },
        .reject("iat just inside the NumericDate bound, far in the future", .tokenFromFuture) { try JWS.token(payload: claims(iat: "999999999999999")) },
        .reject("iat as 1e400", .malformedClaims) { try JWS.token(payload: claims(iat: "1e400")) },
        .reject("productCode as a number", .malformedClaims) { try JWS.token(payload: claims(productCode: "12345")) },
        .reject("productCode null", .malformedClaims) { try JWS.token(payload: claims(productCode: "null")) },
        .reject("publicKeyVersion \"01\"", .malformedClaims) { try JWS.token(payload: claims(keyVersion: #""01""#)) },
        .reject("publicKeyVersion 1.5", .malformedClaims) { try JWS.token(payload: claims(keyVersion: "1.5")) },
        .reject("publicKeyVersion 1.0", .malformedClaims) { try JWS.token(payload: claims(keyVersion: "1.0")) },
        .reject("publicKeyVersion 0", .malformedClaims) { try JWS.token(payload: claims(keyVersion: "0")) },
        .reject("publicKeyVersion true", .malformedClaims) { try JWS.token(payload: claims(keyVersion: "true")) },
        .reject("nonce as a number", .malformedClaims) { try JWS.token(payload: claims(nonce: "12345")) },

        // The response around the token.
        .reject("JSON object without Signature", .malformedInput) { #"{"PublicKeyRotationTimestamp":null,"Token":"\#(try JWS.token())"}"# },
        .reject("response object with duplicate Signature", .duplicateMember) {
            #"{"Signature":"\#(try JWS.token())","Signature":"\#(try JWS.token(key: TestKeys.v2))"}"#
        },
        .reject("duplicate member inside ResponseMetadata", .duplicateMember) {
            #"{"Signature":"\#(try JWS.token())","ResponseMetadata":{"RequestId":"a","RequestId":"b"}}"#
        },
        .reject("Signature and signature", .malformedInput) { #"{"Signature":"\#(try JWS.token())","signature":"\#(try JWS.token())"}"# },
        .reject("SDK envelope holding two responses", .malformedInput) {
            #"{"a":\#(JWS.response(try JWS.token())),"b":\#(JWS.response(try JWS.token()))}"#
        },
        .reject("response nested two envelopes deep", .malformedInput) {
            #"{"outer":{"inner":\#(JWS.response(try JWS.token()))}}"#
        },
        .reject("both spellings of PublicKeyRotationTimestamp", .malformedInput) {
            #"{"Signature":"\#(try JWS.token())","PublicKeyRotationTimestamp":null,"publicKeyRotationTimestamp":null}"#
        },
        // A rotation timestamp only ever warns, in the payload as in the response, whatever its
        // type: a value MeterProof cannot read is kept as written and named in the warning.
        .accept("rotation timestamp claim of another type in the payload", warnings: ["key_rotation_due"]) {
            try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":true"#]))
        },
        .reject("Signature as a number", .malformedInput) { #"{"Signature":1}"# },
        .accept("PublicKeyRotationTimestamp true", warnings: ["key_rotation_due"]) { JWS.response(try JWS.token(), rotation: "true") },
        .reject("response JSON with trailing garbage", .malformedInput) { JWS.response(try JWS.token()) + "}" },
        // JSON that is no response object says what it is (as `audit import` does), not "token has 1 segment".
        .reject("JSON array input", .malformedInput) { #"["\#(try JWS.token())"]"# },
        .reject("JSON number input", .malformedInput) { "123" },
        .reject("JSON literal input", .malformedInput) { "true" },
        .reject("JSON number with a fraction", .malformedInput) { "-1.5e3" },
        .reject("not JSON, not a token", .malformedToken) { "nonsense" },
        .reject("empty input", .malformedInput) { "" },
        .reject("whitespace-only input", .malformedInput) { " \n\t " },
        .rejectBytes("non-UTF-8 bare input", .malformedInput) { Array(try JWS.token().utf8) + [0xFF] },
    ]
}

@Suite("Hostile tokens")
struct HostileTokenTests {
    @Test(arguments: HostileTable.cases)
    func hostile(_ c: HostileCase) throws {
        let input = try c.input()
        let verifier = Verifier(keyring: c.keyring.keyring, policy: c.policy)
        let r = c.request.map { verifier.verify(input, expecting: $0, now: Fixture.now) } ?? verifier.verifyUnbound(input, now: Fixture.now)
        #expect(r.error?.code == c.expected, "got \(r.error?.description ?? "accepted")")
        #expect(r.warnings.map(\.code) == c.warnings)
        if c.expected == nil {
            #expect(r.claimsVerified)
            #expect(r.keyFingerprint != nil)
        } else {
            #expect(r.warnings.isEmpty)
            #expect(r.error?.reason.isEmpty == false)
        }
    }

    @Test("the table is large and covers every reason code but nonce_replayed")
    func coverage() {
        let rejections = HostileTable.cases.filter { $0.expected != nil }
        #expect(rejections.count >= 40)
        let covered = Set(rejections.compactMap(\.expected))
        let all = Set(ReasonCode.allCases)
        // nonce_replayed needs a replay guard; ReplayGuardTests cover it.
        #expect(all.subtracting(covered) == [.nonceReplayed])
        #expect(Set(HostileTable.cases.map(\.name)).count == HostileTable.cases.count, "case names must be unique")
    }

    @Test("a value of the wrong JSON type is named with the right article: an array, an object, a boolean, null")
    func typeNamesInMessages() throws {
        func reason(_ input: String) -> String? {
            Verifier(keyring: TestKeys.keyring).verify(Array(input.utf8), expecting: Fixture.request, now: Fixture.now).error?.reason
        }
        #expect(reason(try JWS.token(header: #"{"alg":["PS256"]}"#)) == "header alg is an array; only PS256 is accepted")
        #expect(reason(try JWS.token(header: #"{"alg":{"name":"PS256"}}"#)) == "header alg is an object; only PS256 is accepted")
        #expect(reason(try JWS.token(header: #"{"alg":null}"#)) == "header alg is null; only PS256 is accepted")
        #expect(reason(try JWS.token(payload: claims(productCode: "null"))) == "productCode is null, not a string")
        #expect(reason(try JWS.token(payload: claims(productCode: "true"))) == "productCode is a boolean, not a string")
        #expect(reason(try JWS.token(payload: claims(keyVersion: "true"))) == "publicKeyVersion is a boolean, not an integer")
        #expect(reason(try JWS.token(payload: claims(nonce: "7"))) == "nonce is a number, not a string")
        #expect(reason(try JWS.token(payload: claims(iat: #""soon""#))) == "iat is a string, not a NumericDate number")
    }

    @Test("a response PublicKeyRotationTimestamp is read as seconds, as milliseconds from 10^12, or kept as written")
    func rotationTimestampForms() throws {
        func read(_ rotation: String) throws -> (Int64?, String?, [String]) {
            let input = Array(JWS.response(try JWS.token(), rotation: rotation).utf8)
            let r = try RegisterUsageResponse(parsing: input)
            let v = Verifier(keyring: TestKeys.keyring).verify(input, expecting: Fixture.request, now: Fixture.now)
            #expect(v.isAccepted, "\(rotation): \(String(describing: v.error))")
            return (r.rotationTimestamp, r.rotationTimestampText, v.warnings.map(\.message))
        }
        let secs = try read("1767225600")
        #expect(secs.0 == 1_767_225_600 && secs.1 == "1767225600")
        #expect(secs.2 == ["response PublicKeyRotationTimestamp 1767225600 says key version 1 is being retired"])
        let millis = try read("1767225600123")
        #expect(millis.0 == 1_767_225_600 && millis.1 == "1767225600123")
        let odd = try read(#""2026-01-01 00:00:00 UTC""#)
        #expect(odd.0 == nil && odd.1 == "2026-01-01 00:00:00 UTC")
        #expect(odd.2 == [#"response PublicKeyRotationTimestamp "2026-01-01 00:00:00 UTC" (not a time MeterProof can read) says key version 1 is being retired"#])
        let huge = try read("1e300")
        #expect(huge.0 == nil && huge.1 == "1e300")
        // Inspect shows the value as written.
        let i = Verifier(keyring: TestKeys.keyring).inspect(Array(JWS.response(try JWS.token(), rotation: #""soon""#).utf8), now: Fixture.now)
        #expect(i.signatureValid && i.rotationTimestamp == nil && i.rotationTimestampText == "soon")
        // Any other JSON type is kept as its JSON text.
        let array = try read("[1,2]")
        #expect(array.0 == nil && array.1 == "[1,2]")
        #expect(array.2 == [#"response PublicKeyRotationTimestamp "[1,2]" (not a time MeterProof can read) says key version 1 is being retired"#])
        // Inside the signed payload too: a value MeterProof cannot read warns, it does not refuse
        // a correctly signed token (it was malformed_claims; the reference fixes no format).
        let signed = Verifier(keyring: TestKeys.keyring).verify(Array(try JWS.token(payload: claims(extra: [#""PublicKeyRotationTimestamp":"soon""#])).utf8),
                                                              expecting: Fixture.request, now: Fixture.now)
        #expect(signed.isAccepted && signed.claims?.rotationTimestamp == nil && signed.claims?.rotationTimestampText == "soon")
        #expect(signed.warnings.map(\.message) == [#"payload PublicKeyRotationTimestamp "soon" (not a time MeterProof can read) says key version 1 is being retired"#])
    }

    @Test("HMAC helper matches RFC 4231 test case 1")
    func hmacHelper() {
        let mac = JWS.hmacSHA256(key: [UInt8](repeating: 0x0B, count: 20), message: Array("Hi There".utf8))
        #expect(Hex.encode(mac) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test("PKCS#1 v1.5 helper really produces a valid RS256 signature (so the RS256 row tests alg pinning)")
    func rs256HelperIsValid() throws {
        let input = Array("abc.def".utf8)
        let sig = try TestKeys.v1.sign(input, scheme: .pkcs1v15)
        #expect(sig.count == 256)
        #expect(!TestKeys.publicKey(TestKeys.v1).isValidPS256Signature(sig, for: input))
        let pss20 = try TestKeys.v1.sign(input, scheme: .pss(saltLength: 20))
        #expect(!TestKeys.publicKey(TestKeys.v1).isValidPS256Signature(pss20, for: input))
        let pss32 = try TestKeys.v1.sign(input, scheme: .pss(saltLength: 32))
        #expect(TestKeys.publicKey(TestKeys.v1).isValidPS256Signature(pss32, for: input))
    }

    @Test("a rejected token keeps its untrusted claims for the record, marked unverified")
    func rejectedClaimsAreUnverified() throws {
        let t = try JWS.token(key: TestKeys.v2)
        let r = Verifier(keyring: TestKeys.keyring).verify(Array(t.utf8), expecting: Fixture.request, now: Fixture.now)
        #expect(r.error?.code == .badSignature)
        #expect(r.claims?.productCode == Fixture.product)
        #expect(r.claimsVerified == false)
        #expect(r.keyFingerprint == nil)
        #expect(r.token == t)
    }

    @Test("an invalid requested product code is shown escaped, with its first bad character")
    func productCodeMessagesNameTheBadCharacter() throws {
        func message(_ code: String) throws -> String? {
            let req = RegisterUsageRequest(productCode: code, publicKeyVersion: 1, nonce: Fixture.nonce)
            return Verifier(keyring: TestKeys.keyring).verify(Array(try JWS.token().utf8), expecting: req, now: Fixture.now).error?.reason
        }
        // A trailing line feed from an environment file is invisible where the value is logged.
        #expect(try message("prod-abc\n") == #"requested ProductCode "prod-abc\n" is not 1-255 characters of [-a-zA-Z0-9/=:_.@] (the RegisterUsage pattern): character 9 is U+000A"#)
        #expect(try message("prod abc") == #"requested ProductCode "prod abc" is not 1-255 characters of [-a-zA-Z0-9/=:_.@] (the RegisterUsage pattern): character 5 is U+0020"#)
        #expect(try message(String(repeating: "a", count: 256))?.hasSuffix("(the RegisterUsage pattern): it is 256 bytes") == true)
    }

    @Test("an accepted token reports its claims, key and fingerprint")
    func acceptedDetails() throws {
        let t = try JWS.token(payload: claims(keyVersion: "2"), key: TestKeys.v2)
        let req = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 2, nonce: Fixture.nonce)
        let r = Verifier(keyring: TestKeys.keyring).verify(Array(t.utf8), expecting: req, now: Fixture.now)
        #expect(r.isAccepted)
        #expect(r.keyVersion == 2)
        #expect(r.keyFingerprint == Fixture.v2Fingerprint)
        #expect(r.claims?.nonce == Fixture.nonce)
        #expect(r.claims?.issuedAt == Fixture.now - 5)
        #expect(r.claims?.spelling == .camel)
        #expect(r.bound)
    }

    @Test("unbound verification picks the key from the token's own claim")
    func unbound() throws {
        let t = try JWS.token(payload: claims(keyVersion: "2"), key: TestKeys.v2)
        let v = Verifier(keyring: TestKeys.keyring, policy: .offline)
        let ok = v.verifyUnbound(Array(t.utf8), now: Fixture.now + 1_000_000)
        #expect(ok.isAccepted)
        #expect(ok.keyVersion == 2)
        #expect(ok.bound == false)
        let lying = try JWS.token(payload: claims(keyVersion: "2"), key: TestKeys.v1)
        #expect(v.verifyUnbound(Array(lying.utf8), now: Fixture.now).error?.code == .badSignature)
        let noVersion = try JWS.token(payload: claims(keyVersion: nil))
        #expect(v.verifyUnbound(Array(noVersion.utf8), now: Fixture.now).error?.code == .missingClaim)
        // Beyond 2147483647 no version is named, as a number or as a string alike.
        for version in ["3000000000", #""3000000000""#] {
            let big = try JWS.token(payload: claims(keyVersion: version))
            #expect(v.verifyUnbound(Array(big.utf8), now: Fixture.now).error?.code == .missingClaim, "\(version)")
        }
        // A payload that is not a JSON object is refused with its own reason, as when bound.
        let duplicate = try JWS.token(payload: claims(extra: [#""publicKeyVersion":2"#]))
        let dup = v.verifyUnbound(Array(duplicate.utf8), now: Fixture.now)
        #expect(dup.error?.code == .duplicateMember && dup.error?.reason == #"payload has duplicate member "publicKeyVersion""#)
        let array = try JWS.token(payload: "[" + claims() + "]")
        let arr = v.verifyUnbound(Array(array.utf8), now: Fixture.now)
        #expect(arr.error?.code == .malformedJSON && arr.error?.reason == "payload is a JSON array, not an object")
    }

    @Test("policy knobs: maxAge and future skew can be changed or disabled")
    func freshnessPolicy() throws {
        let old = Array(try JWS.token(payload: claims(iat: String(Fixture.now - 3600))).utf8)
        var p = VerificationPolicy.strict
        #expect(Verifier(keyring: TestKeys.keyring, policy: p).verify(old, expecting: Fixture.request, now: Fixture.now).error?.code == .tokenStale)
        p.maxAge = 7200
        #expect(Verifier(keyring: TestKeys.keyring, policy: p).verify(old, expecting: Fixture.request, now: Fixture.now).isAccepted)
        #expect(Verifier(keyring: TestKeys.keyring, policy: .offline).verify(old, expecting: Fixture.request, now: Fixture.now).isAccepted)
        var lowered = VerificationPolicy.strict
        lowered.minimumKeyBits = 1024
        let weak = Array(try JWS.token(key: TestKeys.weak1024).utf8)
        #expect(Verifier(keyring: KeyringChoice.weak1024.keyring, policy: lowered).verify(weak, expecting: Fixture.request, now: Fixture.now).isAccepted)
    }
}
