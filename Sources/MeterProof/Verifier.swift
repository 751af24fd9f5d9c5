/// What the caller sent to `RegisterUsage`: the values the signed answer must repeat.
public struct RegisterUsageRequest: Sendable, Hashable {
    /// The `ProductCode` sent; the token's claim must equal it code point for code point. Must be
    /// 1 to 255 characters of `[-a-zA-Z0-9/=:_.@]`, else the result is `invalid_request`.
    public var productCode: String
    /// The `PublicKeyVersion` sent: selects the key, and the token's claim must equal it. Must be
    /// in ``KeyVersion/range`` (1 to 2147483647), else the result is `invalid_request`.
    public var publicKeyVersion: Int
    /// The nonce sent with the call; `nil` if none was sent. An empty string is refused
    /// (`invalid_request`): pass `nil` instead.
    public var nonce: String?

    /// The call as it was sent. Nothing is checked here: an unusable request makes verification
    /// return `invalid_request`.
    public init(productCode: String, publicKeyVersion: Int, nonce: String?) {
        self.productCode = productCode
        self.publicKeyVersion = publicKeyVersion
        self.nonce = nonce
    }
}

/// Knobs of verification. The defaults are the strict, online ones.
public struct VerificationPolicy: Sendable, Hashable {
    /// Accept a token without a nonce claim (only when the caller sent none either).
    public var allowMissingNonce: Bool = false
    /// Refuse tokens whose `iat` is older than this many seconds; `nil` disables the check.
    public var maxAge: Int64? = 600
    /// Refuse tokens whose `iat` lies more than this many seconds in the future; `nil` disables it.
    public var maxFutureSkew: Int64? = 60
    /// Smallest accepted RSA modulus, in bits. Lowering it below 2048 (RFC 7518's floor for
    /// PS256) is the caller's deliberate choice: the library neither logs nor bounds it (the
    /// CLI takes 512...8192 and prints a warning below 2048; keys above 8192 bits are refused
    /// whatever the floor, see ``RSAPublicKey/weakness(minimumBits:)``).
    public var minimumKeyBits: Int = 2048
    /// Refuse a token without `iat` (`missing_claim`). Off by default: `iat` is optional in the
    /// claim set, and a token without it is never stale, so turning this on closes that gap
    /// where the tokens one receives always carry it.
    public var requireIssuedAt: Bool = false

    /// The strict defaults, the same as ``strict``: a nonce required, `maxAge` 600 s,
    /// `maxFutureSkew` 60 s, RSA keys of at least 2048 bits, `iat` optional.
    public init() {}

    /// Strict online verification (10 minutes max age, 60 s future skew, RSA >= 2048, a nonce
    /// required). `iat` stays optional, as in AWS's claim set: a token without one is never
    /// stale; set ``requireIssuedAt`` to refuse such tokens.
    public static let strict = VerificationPolicy()

    /// Offline audit: no freshness check (the caller may instead judge against capture time).
    public static var offline: VerificationPolicy {
        var p = VerificationPolicy()
        p.maxAge = nil
        p.maxFutureSkew = nil
        return p
    }
}

/// A non-fatal finding on an accepted token.
public struct VerificationWarning: Sendable, Hashable, CustomStringConvertible {
    /// Stable snake_case code; currently `key_rotation_due`.
    public let code: String
    /// A human sentence naming what says the key is due (the response's or payload's
    /// `PublicKeyRotationTimestamp`, or the key's `notAfter`); its wording may change.
    public let message: String

    /// A `key_rotation_due` warning with `message`.
    public static func keyRotationDue(_ message: String) -> VerificationWarning {
        VerificationWarning(code: "key_rotation_due", message: message)
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

/// The outcome of one verification, with everything learned along the way.
///
/// On rejection, ``claims`` may still hold what the payload said (read only for the record,
/// never trusted): ``claimsVerified`` tells whether the signature covered them.
public struct VerificationResult: Sendable {
    /// `nil` when accepted; otherwise why not.
    public let error: VerificationError?
    /// The compact token, when one was found in the input.
    public let token: String?
    /// Decoded claims (verified when ``claimsVerified``).
    public let claims: RegisterUsageClaims?
    /// Whether a valid signature covered ``claims``.
    public let claimsVerified: Bool
    /// The key version used (requested, or claimed when unbound).
    public let keyVersion: Int?
    /// SHA-256 fingerprint of the key that verified the signature, when its claims were
    /// then read (``claimsVerified``); `nil` before a valid signature, and for a signature
    /// that verified over a payload that is not a claim set (`malformed_claims` and the like).
    public let keyFingerprint: String?
    /// Warnings on an accepted token (e.g. `key_rotation_due`).
    public let warnings: [VerificationWarning]
    /// Whether the expectation came from a real request (`true`) or from the token itself.
    public let bound: Bool

    /// Whether every check passed. For an unbound result (``bound`` false, from
    /// ``Verifier/verifyUnbound(_:now:)``) that means AWS signed the token's own claims, not
    /// that it answers a request of yours: never unlock on an unbound result.
    public var isAccepted: Bool { error == nil }

    /// The reason code as text (`nil` when accepted).
    public var reasonCode: String? { error?.code.rawValue }
}

/// Verifies RegisterUsage responses against a keyring and a policy.
///
/// Build one per keyring and share it: it is immutable and safe to call from any number of
/// threads at once; the parsed OpenSSL keys live in the ``Keyring``.
public struct Verifier: Sendable {
    /// The keys tokens are verified against, by `PublicKeyVersion`.
    public let keyring: Keyring
    /// The checks applied beyond the signature: freshness, key size, nonce and `iat` rules.
    public let policy: VerificationPolicy

    /// A verifier for `keyring` under `policy` (default ``VerificationPolicy/strict``); cheap,
    /// it only stores the two.
    public init(keyring: Keyring, policy: VerificationPolicy = .strict) {
        self.keyring = keyring
        self.policy = policy
    }

    /// Verifies raw input (a token, a response object or an SDK envelope) against `request`,
    /// the `RegisterUsage` call that produced it: what a program does at start.
    ///
    /// - Parameters:
    ///   - input: the response bytes as received (ASCII white space around them is ignored; a
    ///     response document over ``TokenLimits/maxResponseBytes`` is `token_too_large`).
    ///   - request: what was sent: the token must name this product code and key version and
    ///     repeat this nonce, and the key for this version verifies it.
    ///   - now: the reference time for freshness and key validity, in epoch **seconds**.
    /// - Returns: the verdict; it never throws. Accepted means every check passed.
    public func verify(_ input: some Collection<UInt8>, expecting request: RegisterUsageRequest, now: Int64 = WallClock.nowSeconds()) -> VerificationResult {
        verify(input, expectingIfBound: request, now: now)
    }

    /// Verifies a token **without a request**: the claims are taken from the token itself and
    /// the key is chosen by its own `publicKeyVersion` claim. For an offline audit of bare
    /// captured tokens only: an accepted unbound result (``VerificationResult/bound`` false)
    /// shows that AWS signed these claims, not that they answer a request of yours, and
    /// `AuditTrail.record(_:keyring:)` (in MeterProofAudit) refuses it.
    ///
    /// - Parameter now: the reference time for freshness and key validity, in epoch **seconds**.
    public func verifyUnbound(_ input: some Collection<UInt8>, now: Int64 = WallClock.nowSeconds()) -> VerificationResult {
        verify(input, expectingIfBound: nil, now: now)
    }

    /// Verifies an already-parsed response without a request; see ``verifyUnbound(_:now:)``.
    public func verifyUnbound(response: RegisterUsageResponse, now: Int64 = WallClock.nowSeconds()) -> VerificationResult {
        verify(response: response, expectingIfBound: nil, now: now)
    }

    /// Bound when `request` is given, unbound when it is `nil` (the importer's captures may be either).
    package func verify(_ input: some Collection<UInt8>, expectingIfBound request: RegisterUsageRequest?, now: Int64) -> VerificationResult {
        let response: RegisterUsageResponse
        do { response = try RegisterUsageResponse(parsing: input) } catch {
            return .init(error: error, token: nil, claims: nil, claimsVerified: false, keyVersion: nil, keyFingerprint: nil, warnings: [], bound: request != nil)
        }
        return verify(response: response, expectingIfBound: request, now: now)
    }

    /// Verifies against `request` and, when everything else passed, consumes the nonce in
    /// `replayGuard`; a nonce seen before turns the result into a `nonce_replayed` rejection.
    /// A token without a nonce (accepted only with ``VerificationPolicy/allowMissingNonce``)
    /// consumes nothing and passes the guard every time.
    ///
    /// - Throws: only what `replayGuard.consume` throws; the verdict itself is returned.
    public func verify(_ input: some Collection<UInt8>, expecting request: RegisterUsageRequest, now: Int64 = WallClock.nowSeconds(), replayGuard: some ReplayGuard) throws -> VerificationResult {
        let r = verify(input, expecting: request, now: now)
        guard r.isAccepted, let claims = r.claims, let nonce = claims.nonce else { return r }
        if try replayGuard.consume(nonce: nonce, productCode: claims.productCode) { return r }
        return r.rejected(VerificationError(.nonceReplayed, "nonce \(nonce) was already accepted for product \(claims.productCode)"))
    }

    /// Verifies an already-parsed response against `request`; see ``verify(_:expecting:now:)``.
    public func verify(response: RegisterUsageResponse, expecting request: RegisterUsageRequest, now: Int64 = WallClock.nowSeconds()) -> VerificationResult {
        verify(response: response, expectingIfBound: request, now: now)
    }

    /// Bound when `request` is given, unbound when it is `nil`.
    package func verify(response: RegisterUsageResponse, expectingIfBound request: RegisterUsageRequest?, now: Int64) -> VerificationResult {
        var state = State(token: response.token, bound: request != nil)
        do {
            try run(response: response, request: request, now: now, state: &state)
            return state.result(error: nil)
        } catch {
            return state.result(error: error)
        }
    }

    struct State {
        var token: String
        var bound: Bool
        var claims: RegisterUsageClaims? = nil
        var claimsVerified = false
        var keyVersion: Int? = nil
        var fingerprint: String? = nil
        var warnings: [VerificationWarning] = []

        func result(error: VerificationError?) -> VerificationResult {
            VerificationResult(error: error, token: token, claims: claims, claimsVerified: claimsVerified,
                               keyVersion: keyVersion, keyFingerprint: error == nil ? fingerprint : (claimsVerified ? fingerprint : nil),
                               warnings: error == nil ? warnings : [], bound: bound)
        }
    }

    private func run(response: RegisterUsageResponse, request: RegisterUsageRequest?, now: Int64, state: inout State) throws(VerificationError) {
        if let request {
            guard KeyVersion.range.contains(request.publicKeyVersion) else {
                throw VerificationError(.invalidRequest, "requested PublicKeyVersion \(request.publicKeyVersion) is not an integer from 1 to 2147483647")
            }
            guard Self.isValidProductCode(request.productCode) else {
                // Say which character is wrong: a trailing line feed or space from an environment
                // file is invisible in the value as a log shows it.
                let code = request.productCode
                var detail = code.isEmpty ? "it is empty" : "it is \(code.utf8.count) bytes"
                if let bad = code.unicodeScalars.enumerated().first(where: { !Self.isValidProductCode(String($0.element)) }) {
                    detail = "character \(bad.offset + 1) is \(bad.element.codePointNotation)"
                }
                throw VerificationError(.invalidRequest, "requested ProductCode \(JSONText.quoted(String(code.unicodeScalars.prefix(300)))) is not 1-255 characters of [-a-zA-Z0-9/=:_.@] (the RegisterUsage pattern): \(detail)")
            }
            // An empty nonce is an unset variable, not a nonce: a token with an empty nonce
            // claim must never match it.
            guard request.nonce?.isEmpty != true else {
                throw VerificationError(.invalidRequest, "requested Nonce is empty: pass nil when the request sent none")
            }
        }
        let jws = try CompactJWS(response.token)
        // Record what the payload claims, untrusted, in case we refuse before reading it properly.
        defer { if state.claims == nil { state.claims = try? RegisterUsageClaims(payload: jws.payload) } }

        try Self.checkHeader(jws.header)
        let version: Int
        if let request {
            version = request.publicKeyVersion
        } else {
            // A payload that does not parse, or is not an object, fails here with its own reason.
            guard let v = try RegisterUsageClaims.claimedKeyVersion(jws.payload) else {
                throw VerificationError(.missingClaim, "unbound token: the payload names no usable publicKeyVersion to select a key")
            }
            version = v
        }
        state.keyVersion = version
        let entry = try key(for: version, now: now)
        try Self.checkSignature(jws, with: entry)
        state.fingerprint = entry.key.fingerprint

        let claims = try RegisterUsageClaims(payload: jws.payload)
        state.claims = claims
        state.claimsVerified = true

        if let request {
            // Binding compares code points exactly: Swift's String == would treat canonically
            // equivalent spellings ("caf\u{E9}" and "cafe\u{301}", "K" and KELVIN SIGN) as equal.
            guard utf8Equal(claims.productCode, request.productCode) else {
                throw VerificationError(.productCodeMismatch, "token is for product \"\(claims.productCode)\", expected \"\(request.productCode)\"")
            }
            guard claims.publicKeyVersion == request.publicKeyVersion else {
                throw VerificationError(.keyVersionMismatch, "token claims key version \(claims.publicKeyVersion), the request used \(request.publicKeyVersion)")
            }
            switch (request.nonce, claims.nonce) {
            case let (sent?, got?):
                guard utf8Equal(sent, got) else { throw VerificationError(.nonceMismatch, "token nonce does not match the nonce sent") }
            case (nil, let got?):
                // Quoted (cut): an empty nonce claim is a nonce, and reads as none unless shown.
                throw VerificationError(.nonceMismatch, "token carries a nonce (\(JSONText.quoted(String(got.unicodeScalars.prefix(100))))) but none was sent")
            case (_?, nil):
                throw VerificationError(.nonceMissing, "token carries no nonce although one was sent")
            case (nil, nil):
                guard policy.allowMissingNonce else {
                    throw VerificationError(.nonceMissing, "token carries no nonce, and the request sent none: a response without a nonce can be replayed; to accept it anyway pass --allow-missing-nonce (VerificationPolicy.allowMissingNonce)")
                }
            }
        } else if claims.publicKeyVersion != version {
            throw VerificationError(.keyVersionMismatch, "token claims key version \(claims.publicKeyVersion) but was checked under \(version)")
        }

        if claims.issuedAt == nil && policy.requireIssuedAt {
            throw VerificationError(.missingClaim, "token carries no iat, and the policy requires one (requireIssuedAt)")
        }
        if let iat = claims.issuedAt {
            if let maxAge = policy.maxAge, now - iat > maxAge {
                throw VerificationError(.tokenStale, "token issued \(now - iat) s before the reference time; the limit is \(maxAge) s")
            }
            if let skew = policy.maxFutureSkew, iat - now > skew {
                throw VerificationError(.tokenFromFuture, "token issued \(iat - now) s after the reference time; the limit is \(skew) s")
            }
        }

        if let t = response.rotationTimestamp {
            state.warnings.append(.keyRotationDue("response PublicKeyRotationTimestamp \(response.rotationTimestampText ?? String(t)) says key version \(version) is being retired"))
        } else if let text = response.rotationTimestampText {
            state.warnings.append(.keyRotationDue("response PublicKeyRotationTimestamp \(JSONText.quoted(text)) (not a time MeterProof can read) says key version \(version) is being retired"))
        }
        if let t = claims.rotationTimestamp {
            state.warnings.append(.keyRotationDue("payload PublicKeyRotationTimestamp \(t) says key version \(version) is being retired"))
        } else if let text = claims.rotationTimestampText {
            state.warnings.append(.keyRotationDue("payload PublicKeyRotationTimestamp \(JSONText.quoted(text)) (not a time MeterProof can read) says key version \(version) is being retired"))
        }
        if let notAfter = entry.notAfter, now > notAfter {
            state.warnings.append(.keyRotationDue("key version \(version) passed its notAfter \(RFC3339.format(seconds: notAfter))"))
        }
    }

    /// RegisterUsage's ProductCode constraint: 1 to 255 characters of `[-a-zA-Z0-9/=:_.@]`.
    static func isValidProductCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= 255 && code.utf8.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "@"):
                return true
            default:
                return false
            }
        }
    }

    /// Picks and vets the key for `version`.
    func key(for version: Int, now: Int64) throws(VerificationError) -> KeyringEntry {
        guard let entry = keyring[version] else {
            throw VerificationError(.unknownKeyVersion, "no key for PublicKeyVersion \(version) in the keyring (have: \(keyring.versions.map(String.init).joined(separator: ", ")))")
        }
        if let weakness = entry.key.weakness(minimumBits: policy.minimumKeyBits) {
            throw VerificationError(.weakKey, "key version \(version): \(weakness)")
        }
        if let nb = entry.notBefore, now < nb {
            throw VerificationError(.keyNotYetValid, "key version \(version) is valid from \(RFC3339.format(seconds: nb)) only")
        }
        return entry
    }

    /// The header rules: a UTF-8 JSON object, `alg` exactly PS256, no `crit`, no key-fetching
    /// members, `typ` JWT (any case, or application/jwt) if present.
    static func checkHeader(_ bytes: [UInt8]) throws(VerificationError) {
        // The header AWS sends, byte for byte, passes every rule below; skip parsing it.
        if bytes.elementsEqual(canonicalHeader) { return }
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes, limits: JSONLimits(maxBytes: TokenLimits.maxTokenBytes, maxDepth: 8)) } catch {
            if case .duplicateMember(let name) = error.kind {
                throw VerificationError(.duplicateMember, "header has duplicate member \"\(name)\"")
            }
            throw VerificationError(.malformedJSON, "header is not valid UTF-8 JSON: \(error.description)")
        }
        guard let header = value.objectValue else {
            throw VerificationError(.malformedJSON, "header is a JSON \(value.typeName), not an object")
        }
        guard let algValue = header["alg"] else {
            throw VerificationError(.unsupportedAlgorithm, "header has no alg; only PS256 is accepted")
        }
        guard case .string(let alg) = algValue, alg == "PS256" else {
            let shown: String
            if case .string(let s) = algValue { shown = "\"\(s)\"" } else { shown = algValue.typeNameWithArticle }
            throw VerificationError(.unsupportedAlgorithm, "header alg is \(shown); only PS256 is accepted")
        }
        if header["crit"] != nil {
            throw VerificationError(.unsupportedHeader, "header carries crit; no JWS extensions are understood")
        }
        for name in ["jku", "x5u", "jwk", "x5c"] where header[name] != nil {
            throw VerificationError(.unsupportedHeader, "header carries \(name); keys are never taken from the token")
        }
        // RFC 7797's b64 changes what the signature covers; zip and enc belong to JWE. No
        // RegisterUsage token carries them: one that does was not made by AWS as a plain JWS.
        if header["b64"] != nil {
            throw VerificationError(.unsupportedHeader, "header carries b64 (RFC 7797 unencoded payload); only the plain JWS form is accepted")
        }
        for name in ["zip", "enc"] where header[name] != nil {
            throw VerificationError(.unsupportedHeader, "header carries \(name), a JWE member; a RegisterUsage token is a signed JWS")
        }
        if let typ = header["typ"] {
            // RFC 7515 4.1.9: a media type, compared case-insensitively, whose "application/"
            // prefix may be left out; "JWT" is what AWS sends.
            guard case .string(let t) = typ, ["jwt", "application/jwt"].contains(t.lowercased()) else {
                throw VerificationError(.unsupportedHeader, "header typ must be \"JWT\" (or application/jwt, in any case) when present")
            }
        }
    }

    static let canonicalHeader: [UInt8] = Array(#"{"alg":"PS256","typ":"JWT"}"#.utf8)

    static func checkSignature(_ jws: CompactJWS, with entry: KeyringEntry) throws(VerificationError) {
        guard jws.signature.count == entry.key.signatureByteCount else {
            throw VerificationError(.badSignature, "signature is \(jws.signature.count) byte\(jws.signature.count == 1 ? "" : "s"); key version \(entry.version) needs exactly \(entry.key.signatureByteCount)")
        }
        let ok = jws.signature.withUnsafeBytes { sig in
            jws.signingInput.withUnsafeBytes { msg in entry.key.isValidPS256Signature(sig, for: msg) }
        }
        guard ok else {
            throw VerificationError(.badSignature, "RSASSA-PSS signature does not verify under key version \(entry.version)")
        }
    }
}

extension VerificationResult {
    /// The same result turned into a rejection (claims kept for the record).
    public func rejected(_ error: VerificationError) -> VerificationResult {
        VerificationResult(error: error, token: token, claims: claims, claimsVerified: claimsVerified, keyVersion: keyVersion,
                           keyFingerprint: keyFingerprint, warnings: [], bound: bound)
    }
}
