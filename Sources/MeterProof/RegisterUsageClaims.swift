/// Which spelling a payload used for its claims.
public enum ClaimSpelling: String, Sendable {
    /// `productCode`, `publicKeyVersion`, `nonce` (what production integrations see).
    case camel
    /// `ProductCode`, `PublicKeyVersion`, `Nonce` (the AWS API reference example).
    case pascal
    /// Some claims in one spelling, some in the other (each claim still spelled once).
    case mixed
}

/// The claims of a RegisterUsage token, read in either spelling.
public struct RegisterUsageClaims: Sendable, Equatable {
    /// The `productCode` (or `ProductCode`) claim, as signed.
    public var productCode: String
    /// The `publicKeyVersion` claim: a JSON integer or a canonical decimal string, 1 to 2147483647.
    public var publicKeyVersion: Int
    /// The `nonce` claim; `nil` when the claim is absent or `null`.
    public var nonce: String?
    /// `iat`, NumericDate seconds (a fractional value is floored).
    public var issuedAt: Int64?
    /// A non-null `PublicKeyRotationTimestamp` claim, in epoch seconds, when readable as a time.
    public var rotationTimestamp: Int64?
    /// The `PublicKeyRotationTimestamp` claim as written, when present and not `null` (a value
    /// MeterProof cannot read as a time is kept here alone: it only ever warns, so it does not
    /// turn a correctly signed token into a refusal).
    public var rotationTimestampText: String? = nil
    /// Which spelling the payload used for `productCode`, `publicKeyVersion`, `nonce` and
    /// `publicKeyRotationTimestamp`.
    public var spelling: ClaimSpelling
    /// The whole payload object as read.
    public var payload: JSONObject

    /// Limits for payload JSON: small, and at most 8 levels deep.
    static let payloadLimits = JSONLimits(maxBytes: TokenLimits.maxTokenBytes, maxDepth: 8)

    /// Parses and checks a payload: a UTF-8 JSON object, no duplicates, claims in either spelling
    /// (the claims it reads are scalars; other members may be of any JSON type).
    public init(payload bytes: [UInt8]) throws(VerificationError) {
        let obj = try Self.readObject(bytes, what: "payload")
        try self.init(object: obj)
    }

    static func readObject(_ bytes: [UInt8], what: String) throws(VerificationError) -> JSONObject {
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes, limits: payloadLimits) } catch {
            if case .duplicateMember(let name) = error.kind {
                throw VerificationError(.duplicateMember, "\(what) has duplicate member \"\(name)\"")
            }
            throw VerificationError(.malformedJSON, "\(what) is not valid UTF-8 JSON: \(error.description)")
        }
        guard let obj = value.objectValue else {
            throw VerificationError(.malformedJSON, "\(what) is a JSON \(value.typeName), not an object")
        }
        return obj
    }

    init(object obj: JSONObject) throws(VerificationError) {
        // Members MeterProof does not read may be arrays or objects (RFC 7519 allows an array
        // `aud`, and AWS may add claims): each claim read below is checked for its own type.
        var camelCount = 0, pascalCount = 0
        func claim(_ camel: String, _ pascal: String) throws(VerificationError) -> JSONValue? {
            let c = obj[camel], p = obj[pascal]
            if c != nil && p != nil {
                throw VerificationError(.ambiguousClaim, "payload carries both \"\(camel)\" and \"\(pascal)\"")
            }
            if c != nil { camelCount += 1 }
            if p != nil { pascalCount += 1 }
            return c ?? p
        }
        let pc = try claim("productCode", "ProductCode")
        let kv = try claim("publicKeyVersion", "PublicKeyVersion")
        let nc = try claim("nonce", "Nonce")
        let rt = try claim("publicKeyRotationTimestamp", "PublicKeyRotationTimestamp")

        guard let pc else { throw VerificationError(.missingClaim, "payload has no productCode claim") }
        guard case .string(let productCode) = pc else {
            throw VerificationError(.malformedClaims, "productCode is \(pc.typeNameWithArticle), not a string")
        }
        guard let kv else { throw VerificationError(.missingClaim, "payload has no publicKeyVersion claim") }
        let version: Int
        switch kv {
        case .number(let n):
            guard let v = KeyVersion.version(of: n) else {
                throw VerificationError(.malformedClaims, "publicKeyVersion \(n.text) is not an integer from 1 to 2147483647")
            }
            version = v
        case .string(let s):
            guard let v = KeyVersion.parse(s) else {
                throw VerificationError(.malformedClaims, "publicKeyVersion \"\(s)\" is not a canonical decimal integer")
            }
            version = v
        default:
            throw VerificationError(.malformedClaims, "publicKeyVersion is \(kv.typeNameWithArticle), not an integer")
        }
        var nonce: String? = nil
        switch nc {
        case nil, .null?: break
        case .string(let s)?: nonce = s
        case let v?: throw VerificationError(.malformedClaims, "nonce is \(v.typeNameWithArticle), not a string")
        }
        var iat: Int64? = nil
        switch obj["iat"] {
        case nil: break
        case .number(let n)?:
            // Both paths bound |iat| below 1e15 s (about 31.7 million years): an unbounded
            // integer made the freshness arithmetic (now - iat) overflow and trap.
            if let v = n.int64, v.magnitude < 1_000_000_000_000_000 {
                iat = v
            } else if let d = n.double, d.isFinite, abs(d) < 1e15 {
                iat = Int64(d.rounded(.down))
            } else {
                throw VerificationError(.malformedClaims, "iat \(n.text) is not a NumericDate")
            }
        case let v?:
            throw VerificationError(.malformedClaims, "iat is \(v.typeNameWithArticle), not a NumericDate number")
        }
        // Only ever a warning: a value MeterProof cannot read as a time is kept as written.
        let (rotation, rotationText) = RegisterUsageResponse.rotationTimestamp(rt)
        self.productCode = productCode
        self.publicKeyVersion = version
        self.nonce = nonce
        self.issuedAt = iat
        self.rotationTimestamp = rotation
        self.rotationTimestampText = rotationText
        self.spelling = pascalCount == 0 ? .camel : (camelCount == 0 ? .pascal : .mixed)
        self.payload = obj
    }

    /// The key version a payload claims, read before its signature is checked (used only to
    /// pick the key when no request binds the version). A payload that is not a JSON object
    /// fails as ``init(payload:)`` would (`duplicate_member`, `malformed_json`, same message),
    /// so an unbound token reports what is wrong with it; `nil` when the object names no usable
    /// version.
    static func claimedKeyVersion(_ payload: [UInt8]) throws(VerificationError) -> Int? {
        let obj = try readObject(payload, what: "payload")
        let v = obj["publicKeyVersion"] ?? obj["PublicKeyVersion"]
        switch v {
        case .number(let n)?: return KeyVersion.version(of: n)
        case .string(let s)?: return KeyVersion.parse(s)
        default: return nil
        }
    }
}
