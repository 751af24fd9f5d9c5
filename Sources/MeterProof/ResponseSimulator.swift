/// Produces AWS-shaped RegisterUsage responses signed PS256 with a test key, so integrations
/// can be exercised without AWS. Never use a simulator key as a production key.
public struct ResponseSimulator: Sendable {
    /// The test key every token is signed with (PS256).
    public let signingKey: RSAPrivateKey

    /// A simulator signing with `signingKey`; put its public key in test keyrings only.
    public init(signingKey: RSAPrivateKey) { self.signingKey = signingKey }

    /// The header AWS uses.
    public static let header = #"{"alg":"PS256","typ":"JWT"}"#

    /// A payload in the chosen spelling: `.camel` or `.pascal` (`.mixed`, which describes what
    /// a parser may read, is written as `.camel`). Member order follows the AWS examples.
    public static func payload(productCode: String, keyVersion: Int, nonce: String?, issuedAt: Int64?, spelling: ClaimSpelling) -> [UInt8] {
        let pascal = spelling == .pascal
        var out: [UInt8] = [UInt8(ascii: "{")]
        func member(_ name: String, _ raw: [UInt8]) {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(name, to: &out)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: raw)
        }
        func quoted(_ s: String) -> [UInt8] { var b: [UInt8] = []; JSONText.appendQuoted(s, to: &b); return b }
        member(pascal ? "ProductCode" : "productCode", quoted(productCode))
        member(pascal ? "PublicKeyVersion" : "publicKeyVersion", Array(String(keyVersion).utf8))
        if let nonce { member(pascal ? "Nonce" : "nonce", quoted(nonce)) }
        if let issuedAt { member("iat", Array(String(issuedAt).utf8)) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Signs `payload` under `header` as a compact JWS (PS256, salt 32).
    public func token(header: [UInt8] = Array(ResponseSimulator.header.utf8), payload: [UInt8]) throws(KeyError) -> String {
        let signingInput = Base64.urlEncode(header) + "." + Base64.urlEncode(payload)
        let sig = try signingKey.signPS256(Array(signingInput.utf8))
        return signingInput + "." + Base64.urlEncode(sig)
    }

    /// A complete response object `{"Signature": …, "PublicKeyRotationTimestamp": …}` as JSON text.
    public func response(productCode: String, keyVersion: Int, nonce: String?, issuedAt: Int64?,
                         spelling: ClaimSpelling = .camel, rotationTimestamp: Int64? = nil) throws(KeyError) -> String {
        let t = try token(payload: Self.payload(productCode: productCode, keyVersion: keyVersion, nonce: nonce, issuedAt: issuedAt, spelling: spelling))
        return #"{"Signature":"# + JSONText.quoted(t) + #","PublicKeyRotationTimestamp":"# + (rotationTimestamp.map(String.init) ?? "null") + "}"
    }
}
