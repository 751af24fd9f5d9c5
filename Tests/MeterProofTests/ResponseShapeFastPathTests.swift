import Testing
@testable import MeterProof

/// The zero-tree path for the plain AWS response shape must agree with the strict reader.
@Suite("Plain AWS response fast path")
struct ResponseShapeFastPathTests {
    static let tokens = [
        "eyJhbGciOiJQUzI1NiJ9.eyJhIjoxfQ.c2ln",   // ordinary
        "a+b/c=.d.e",                             // characters base64url forbids
        "a.b",                                    // two segments
        " x.y.z",                                 // a space
        "é.b.c",                                  // non-ASCII
        "a\\/b.c.d",                              // an escape: must leave the fast path
        "a\\u0041.b.c",
    ]

    @Test("same token and same verdict as the full JSON route", arguments: tokens)
    func agrees(token: String) throws {
        let doc = #"{"Signature":""# + token + #"","PublicKeyRotationTimestamp":null}"#
        let bytes = Array(doc.utf8)
        let fast = RegisterUsageResponse.plainAWSShape(bytes)
        let strict = try? RegisterUsageResponse(json: StrictJSON.parse(bytes))
        if let fast {
            #expect(fast == strict?.token)
            #expect(!token.contains("\\"))
        } else {
            #expect(token.contains("\\") || token.unicodeScalars.contains { $0.value >= 0x80 })
        }
        let viaParse = try? RegisterUsageResponse(parsing: bytes)
        #expect(viaParse?.token == strict?.token)
    }

    @Test("anything but the exact shape takes the full route")
    func exactShapeOnly() {
        for doc in [#"{"Signature":"a.b.c","PublicKeyRotationTimestamp":1}"#,
                    #"{ "Signature":"a.b.c","PublicKeyRotationTimestamp":null}"#,
                    #"{"Signature":"a.b.c","PublicKeyRotationTimestamp":null,"Signature":"x.y.z"}"#,
                    #"{"Signature":"","PublicKeyRotationTimestamp":null}"#] {
            #expect(RegisterUsageResponse.plainAWSShape(Array(doc.utf8)) == nil, "\(doc)")
        }
        // The duplicate member is still caught by the strict reader.
        let dup = Array(#"{"Signature":"a.b.c","PublicKeyRotationTimestamp":null,"Signature":"x.y.z"}"#.utf8)
        #expect(throws: VerificationError(.duplicateMember, "response object has duplicate member \"Signature\"")) {
            try RegisterUsageResponse(parsing: dup)
        }
    }
}
