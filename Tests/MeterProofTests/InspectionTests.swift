import Testing
@testable import MeterProof

@Suite("Inspection")
struct InspectionTests {
    static let verifier = Verifier(keyring: TestKeys.keyring, policy: .offline)

    static func inspect(_ text: String, keyVersion: Int? = nil) -> Inspection {
        verifier.inspect(Array(text.utf8), keyVersion: keyVersion, now: Fixture.now)
    }

    @Test("a valid token: signature valid, header, payload and claims decoded")
    func valid() throws {
        let i = Self.inspect(JWS.response(try JWS.token(), rotation: "1767225600"))
        #expect(i.signatureValid)
        #expect(i.error == nil)
        #expect(i.keyVersion == 1)
        #expect(i.keyFingerprint == Fixture.v1Fingerprint)
        #expect(i.header?["alg"] == .string("PS256"))
        #expect(i.payloadText == Fixture.payload)
        #expect(i.claims?.productCode == Fixture.product)
        #expect(i.claimsError == nil)
        #expect(i.rotationTimestamp == 1_767_225_600)
    }

    @Test("header rules apply: alg none is not a valid signature")
    func algNone() throws {
        let i = Self.inspect(try JWS.token(header: #"{"alg":"none"}"#))
        #expect(!i.signatureValid)
        #expect(i.error?.code == .unsupportedAlgorithm)
        #expect(i.header?["alg"] == .string("none"))
        #expect(i.claims?.productCode == Fixture.product)
    }

    @Test("a payload that is not UTF-8: no text, claims error, signature still judged")
    func notUTF8() throws {
        let t = try JWS.token(header: Array(Fixture.header.utf8), payload: [0xFF, 0xFE, 0x00])
        let i = Self.inspect(t, keyVersion: 1)
        #expect(i.signatureValid)
        #expect(i.payloadText == nil)
        #expect(i.payload == nil)
        #expect(i.claimsError?.code == .malformedJSON)
    }

    @Test("the key version comes from the argument, else from the claims", arguments: [(nil as Int?, 1, true), (1, 1, true), (2, 2, false), (9, 9, false)])
    func keyVersionChoice(given: Int?, used: Int, valid: Bool) throws {
        let i = Self.inspect(try JWS.token(), keyVersion: given)
        #expect(i.keyVersion == used)
        #expect(i.signatureValid == valid)
        if given == 9 { #expect(i.error?.code == .unknownKeyVersion) }
        if given == 2 { #expect(i.error?.code == .badSignature) }
    }

    @Test("a version out of range: missing_claim names what a usable one is")
    func versionOutOfRange() throws {
        let t = try JWS.token(payload: #"{"productCode":"p","publicKeyVersion":99999999999,"nonce":"n"}"#)
        let i = Self.inspect(t)
        #expect(!i.signatureValid)
        #expect(i.error?.code == .missingClaim)
        #expect(i.error?.reason == "no key version given, and the payload names no usable publicKeyVersion (an integer from 1 to 2147483647)")
    }

    @Test("malformed input and malformed tokens are reported, not thrown")
    func malformed() {
        #expect(Self.inspect("").error?.code == .malformedInput)
        let t = Self.inspect("a.b")
        #expect(t.error?.code == .malformedToken)
        #expect(t.token == "a.b")
        #expect(t.header == nil)
    }

    @Test("claim spelling is recorded", arguments: [
        (claims(), ClaimSpelling.camel),
        (claims(pascal: true), .pascal),
        (#"{"ProductCode":"prod-abc","publicKeyVersion":1}"#, .mixed),
    ])
    func spelling(payload: String, spelling: ClaimSpelling) throws {
        #expect(try RegisterUsageClaims(payload: Array(payload.utf8)).spelling == spelling)
    }
}
