import Testing
@testable import MeterProof

@Suite("ResponseSimulator")
struct SimulatorTests {
    @Test("payload bytes in both spellings, members in the AWS order")
    func payloadBytes() {
        let camel = ResponseSimulator.payload(productCode: "prod-abc", keyVersion: 3, nonce: "n-1", issuedAt: 1_750_000_000, spelling: .camel)
        #expect(String(decoding: camel, as: UTF8.self) == #"{"productCode":"prod-abc","publicKeyVersion":3,"nonce":"n-1","iat":1750000000}"#)
        let pascal = ResponseSimulator.payload(productCode: "prod-abc", keyVersion: 1, nonce: nil, issuedAt: nil, spelling: .pascal)
        #expect(String(decoding: pascal, as: UTF8.self) == #"{"ProductCode":"prod-abc","PublicKeyVersion":1}"#)
    }

    @Test("a nonce with quotes, control characters and non-ASCII survives signing and verification exactly")
    func awkwardNonce() throws {
        let nonce = "a\"b\\c\n\t\u{1}é😀 </script>"
        let sim = ResponseSimulator(signingKey: TestKeys.v1)
        let response = try sim.response(productCode: Fixture.product, keyVersion: 1, nonce: nonce, issuedAt: Fixture.now)
        let req = RegisterUsageRequest(productCode: Fixture.product, publicKeyVersion: 1, nonce: nonce)
        let r = Verifier(keyring: TestKeys.keyring).verify(Array(response.utf8), expecting: req, now: Fixture.now)
        #expect(r.isAccepted, "\(r.error?.description ?? "")")
        #expect(r.claims?.nonce == nonce)
        #expect(r.claims?.nonce?.utf8.elementsEqual(nonce.utf8) == true)
    }

    @Test("response object: Signature then PublicKeyRotationTimestamp (null or a number)")
    func responseShape() throws {
        let sim = ResponseSimulator(signingKey: TestKeys.v1)
        let plain = try #require(try StrictJSON.parse(sim.response(productCode: "p", keyVersion: 1, nonce: nil, issuedAt: nil)).objectValue)
        #expect(plain.members.map(\.name) == ["Signature", "PublicKeyRotationTimestamp"])
        #expect(plain["PublicKeyRotationTimestamp"] == .null)
        let rotated = try #require(try StrictJSON.parse(sim.response(productCode: "p", keyVersion: 1, nonce: nil, issuedAt: nil, rotationTimestamp: 42)).objectValue)
        #expect(rotated["PublicKeyRotationTimestamp"] == .number(JSONNumber(42)))
        let token = try #require(rotated["Signature"]?.stringValue)
        let jws = try CompactJWS(token)
        #expect(jws.header == Array(ResponseSimulator.header.utf8))
        #expect(jws.signature.count == 256)
        #expect(TestKeys.publicKey(TestKeys.v1).isValidPS256Signature(jws.signature, for: Array(jws.signingInput)))
    }

    @Test("PSS signatures are randomized: two signatures over one input differ, both verify")
    func randomizedSalt() throws {
        let a = try JWS.token(), b = try JWS.token()
        #expect(JWS.segments(a)[2] != JWS.segments(b)[2])
        for t in [a, b] {
            #expect(Verifier(keyring: TestKeys.keyring).verify(Array(t.utf8), expecting: Fixture.request, now: Fixture.now).isAccepted)
        }
    }
}
