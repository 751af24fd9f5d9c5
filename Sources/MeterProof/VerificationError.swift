/// Why MeterProof refused something: a stable snake_case reason code plus a human sentence.
///
/// Codes are modelled as a struct over a private enum so new codes can be added without
/// breaking `switch` statements in callers; compare with `==` against the static members.
/// Every code is documented in `docs/verification.md`.
public struct ReasonCode: EnumBackedCode {
    package enum Backing: String, CaseIterable, Sendable {
        case malformedInput = "malformed_input"
        case tokenTooLarge = "token_too_large"
        case malformedToken = "malformed_token"
        case malformedJSON = "malformed_json"
        case duplicateMember = "duplicate_member"
        case unsupportedAlgorithm = "unsupported_algorithm"
        case unsupportedHeader = "unsupported_header"
        case unknownKeyVersion = "unknown_key_version"
        case weakKey = "weak_key"
        case badSignature = "bad_signature"
        case malformedClaims = "malformed_claims"
        case missingClaim = "missing_claim"
        case ambiguousClaim = "ambiguous_claim"
        case productCodeMismatch = "product_code_mismatch"
        case keyVersionMismatch = "key_version_mismatch"
        case nonceMismatch = "nonce_mismatch"
        case nonceMissing = "nonce_missing"
        case nonceReplayed = "nonce_replayed"
        case tokenStale = "token_stale"
        case tokenFromFuture = "token_from_future"
        case keyNotYetValid = "key_not_yet_valid"
        case invalidRequest = "invalid_request"
    }

    package let backing: Backing

    package init(_ backing: Backing) { self.backing = backing }

    /// The input is not a token, a RegisterUsage response object, nor an SDK envelope around one.
    public static let malformedInput = ReasonCode(.malformedInput)
    /// The token is longer than ``TokenLimits/maxTokenBytes``; nothing was decoded.
    public static let tokenTooLarge = ReasonCode(.tokenTooLarge)
    /// Not exactly three non-empty strict-base64url segments.
    public static let malformedToken = ReasonCode(.malformedToken)
    /// Header or payload is not strict UTF-8 JSON of the required shape.
    public static let malformedJSON = ReasonCode(.malformedJSON)
    /// A JSON object carries the same member name twice.
    public static let duplicateMember = ReasonCode(.duplicateMember)
    /// The header `alg` is not exactly `PS256`.
    public static let unsupportedAlgorithm = ReasonCode(.unsupportedAlgorithm)
    /// The header carries `crit`, a key-fetching member (`jku`, `x5u`, `jwk`, `x5c`), `b64`,
    /// a JWE member (`zip`, `enc`), or a `typ` other than `JWT`.
    public static let unsupportedHeader = ReasonCode(.unsupportedHeader)
    /// The keyring holds no key for the requested `PublicKeyVersion`.
    public static let unknownKeyVersion = ReasonCode(.unknownKeyVersion)
    /// The key is not RSA, is below the modulus floor, or has an unacceptable exponent.
    public static let weakKey = ReasonCode(.weakKey)
    /// The RSASSA-PSS signature did not verify (or has the wrong length).
    public static let badSignature = ReasonCode(.badSignature)
    /// A claim has the wrong JSON type (a number where a string belongs, a nested value, ...).
    public static let malformedClaims = ReasonCode(.malformedClaims)
    /// A required claim (`productCode`, `publicKeyVersion`) is absent.
    public static let missingClaim = ReasonCode(.missingClaim)
    /// Both spellings of one claim are present (e.g. `nonce` and `Nonce`).
    public static let ambiguousClaim = ReasonCode(.ambiguousClaim)
    /// The signed product code differs from the one the caller asked about.
    public static let productCodeMismatch = ReasonCode(.productCodeMismatch)
    /// The signed key version differs from the one the caller requested.
    public static let keyVersionMismatch = ReasonCode(.keyVersionMismatch)
    /// The signed nonce differs from the nonce the caller sent.
    public static let nonceMismatch = ReasonCode(.nonceMismatch)
    /// The token carries no nonce and the caller did not allow that.
    public static let nonceMissing = ReasonCode(.nonceMissing)
    /// The nonce was already accepted once for this product code.
    public static let nonceReplayed = ReasonCode(.nonceReplayed)
    /// `iat` is older than the maximum age.
    public static let tokenStale = ReasonCode(.tokenStale)
    /// `iat` lies further in the future than the allowed clock skew.
    public static let tokenFromFuture = ReasonCode(.tokenFromFuture)
    /// The key's configured `notBefore` lies after the reference time (`now` of the
    /// verification; an import's `capturedAt`), not the token's `iat`.
    public static let keyNotYetValid = ReasonCode(.keyNotYetValid)
    /// The caller's own expectation is unusable (e.g. key version < 1, product code outside AWS's pattern).
    public static let invalidRequest = ReasonCode(.invalidRequest)
}

/// A refusal: the reason code and a sentence a human can act on.
public struct VerificationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable reason code.
    public var code: ReasonCode
    /// A one-line explanation, never containing secrets.
    public var reason: String

    /// A refusal with a stable `code` and a human `reason`.
    public init(_ code: ReasonCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `code: reason`, e.g. `bad_signature: RSASSA-PSS signature does not verify …`.
    public var description: String { "\(code.rawValue): \(reason)" }
}
