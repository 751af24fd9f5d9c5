/// Size limits applied before any decoding.
public enum TokenLimits {
    /// The longest compact token accepted, in bytes. A RegisterUsage token with an RSA-4096
    /// signature is well under 2 KiB; anything near this cap is not one.
    public static let maxTokenBytes = 16 * 1024
    /// The longest response document (object or SDK envelope) accepted, in bytes.
    public static let maxResponseBytes = 64 * 1024
}

/// A compact JWS split into its parts, keeping the exact bytes that were signed.
///
/// Parsing is strict: exactly three non-empty segments, each canonical unpadded base64url.
/// Nothing here judges the header or the signature; ``Verifier`` does.
public struct CompactJWS: Sendable {
    /// The token exactly as received.
    public let compact: String
    /// `ASCII(header) || "." || ASCII(payload)`: the bytes the signature covers.
    public let signingInput: ArraySlice<UInt8>
    /// Decoded header bytes (JSON text).
    public let header: [UInt8]
    /// Decoded payload bytes.
    public let payload: [UInt8]
    /// Decoded signature bytes.
    public let signature: [UInt8]

    /// Splits and decodes a compact token.
    public init(_ token: String) throws(VerificationError) {
        let bytes = Array(token.utf8)
        try self.init(bytes: bytes, compact: token)
    }

    init(bytes: [UInt8], compact: String) throws(VerificationError) {
        guard bytes.count <= TokenLimits.maxTokenBytes else {
            throw VerificationError(.tokenTooLarge, "token of \(bytes.count) bytes exceeds the \(TokenLimits.maxTokenBytes)-byte limit")
        }
        let parts = bytes.withUnsafeBufferPointer { buf -> Result<(Int, Int, [UInt8], [UInt8], [UInt8]), VerificationError> in
            var d1 = -1, d2 = -1
            for i in 0..<buf.count where buf[i] == UInt8(ascii: ".") {
                if d1 < 0 { d1 = i } else if d2 < 0 { d2 = i } else {
                    return .failure(VerificationError(.malformedToken, "token has more than three segments (JWE and other serializations are not accepted)"))
                }
            }
            guard d2 >= 0 else {
                let n = d1 < 0 ? 1 : 2
                return .failure(VerificationError(.malformedToken, "token has \(n) segment\(n == 1 ? "" : "s"); a compact JWS has exactly three"))
            }
            guard d1 > 0, d2 > d1 + 1, d2 < buf.count - 1 else {
                return .failure(VerificationError(.malformedToken, "token has an empty segment"))
            }
            guard let h = Base64.urlDecode(UnsafeBufferPointer(rebasing: buf[0..<d1])) else {
                return .failure(VerificationError(.malformedToken, "header segment is not canonical unpadded base64url"))
            }
            guard let p = Base64.urlDecode(UnsafeBufferPointer(rebasing: buf[(d1 + 1)..<d2])) else {
                return .failure(VerificationError(.malformedToken, "payload segment is not canonical unpadded base64url"))
            }
            guard let s = Base64.urlDecode(UnsafeBufferPointer(rebasing: buf[(d2 + 1)...])) else {
                return .failure(VerificationError(.malformedToken, "signature segment is not canonical unpadded base64url"))
            }
            return .success((d1, d2, h, p, s))
        }
        let (_, d2, h, p, s) = try parts.get()
        self.compact = compact
        self.signingInput = bytes[0..<d2]
        self.header = h
        self.payload = p
        self.signature = s
    }
}
