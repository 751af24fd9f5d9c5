/// The forensic view of a token: what it says and whether its signature holds, with no
/// binding or freshness checks. Signature validity is judged on its own (structure, header
/// rules, PS256, key), even when the payload is not JSON or not a RegisterUsage claim set.
public struct Inspection: Sendable {
    /// The compact token, when the input held one.
    public let token: String?
    /// The decoded header object, when it is JSON.
    public let header: JSONObject?
    /// The decoded payload as text, when it is UTF-8.
    public let payloadText: String?
    /// The payload object, when it is a JSON object.
    public let payload: JSONObject?
    /// RegisterUsage claims, when the payload is a valid claim set.
    public let claims: RegisterUsageClaims?
    /// Why the payload is not a valid claim set (reported, not hidden).
    public let claimsError: VerificationError?
    /// The key version the signature was checked under.
    public let keyVersion: Int?
    /// Fingerprint of that key, when the keyring has it and it passed the key checks
    /// (`nil` for a key refused as `weak_key`, say).
    public let keyFingerprint: String?
    /// Whether the signature is a valid PS256 signature under ``keyVersion``.
    public let signatureValid: Bool
    /// Why the signature is not valid (or could not be checked).
    public let error: VerificationError?
    /// The response's `PublicKeyRotationTimestamp`, if any, when readable as a time.
    public let rotationTimestamp: Int64?
    /// The response's `PublicKeyRotationTimestamp` as written, if present and not `null`.
    public let rotationTimestampText: String?
}

extension Verifier {
    /// Inspects `input`; checks the signature under `keyVersion`, or under the token's own
    /// `publicKeyVersion` claim when `keyVersion` is `nil`.
    public func inspect(_ input: some Collection<UInt8>, keyVersion: Int? = nil, now: Int64 = WallClock.nowSeconds()) -> Inspection {
        let response: RegisterUsageResponse
        do { response = try RegisterUsageResponse(parsing: input) } catch {
            return Inspection(token: nil, header: nil, payloadText: nil, payload: nil, claims: nil, claimsError: nil,
                              keyVersion: keyVersion, keyFingerprint: nil, signatureValid: false, error: error, rotationTimestamp: nil,
                              rotationTimestampText: nil)
        }
        let jws: CompactJWS
        do { jws = try CompactJWS(response.token) } catch {
            return Inspection(token: response.token, header: nil, payloadText: nil, payload: nil, claims: nil, claimsError: nil,
                              keyVersion: keyVersion, keyFingerprint: nil, signatureValid: false, error: error,
                              rotationTimestamp: response.rotationTimestamp, rotationTimestampText: response.rotationTimestampText)
        }
        let header = (try? StrictJSON.parse(jws.header, limits: JSONLimits(maxBytes: TokenLimits.maxTokenBytes, maxDepth: 8)))?.objectValue
        let payloadText = String(validating: jws.payload, as: UTF8.self)
        let payloadObject = try? RegisterUsageClaims.readObject(jws.payload, what: "payload")
        var claims: RegisterUsageClaims? = nil
        var claimsError: VerificationError? = nil
        do { claims = try RegisterUsageClaims(payload: jws.payload) } catch { claimsError = error }

        var version = keyVersion ?? claims?.publicKeyVersion
        // Why the payload names no version, as unbound verification reports it: a payload that
        // is not a JSON object (`malformed_json`, `duplicate_member`) is not `missing_claim`.
        var versionError: VerificationError? = nil
        if version == nil {
            do { version = try RegisterUsageClaims.claimedKeyVersion(jws.payload) } catch { versionError = error }
        }
        var fingerprint: String? = nil
        var sigError: VerificationError? = nil
        do throws(VerificationError) {
            try Self.checkHeader(jws.header)
            guard let version else {
                throw versionError ?? VerificationError(.missingClaim, "no key version given, and the payload names no usable publicKeyVersion (an integer from 1 to 2147483647)")
            }
            let entry = try key(for: version, now: now)
            fingerprint = entry.key.fingerprint
            try Self.checkSignature(jws, with: entry)
        } catch {
            sigError = error
        }
        return Inspection(token: response.token, header: header, payloadText: payloadText, payload: payloadObject, claims: claims,
                          claimsError: claimsError, keyVersion: version, keyFingerprint: fingerprint,
                          signatureValid: sigError == nil, error: sigError, rotationTimestamp: response.rotationTimestamp,
                          rotationTimestampText: response.rotationTimestampText)
    }
}
