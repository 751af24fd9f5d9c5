/// Why a transparency-log primitive refused its input: a stable snake_case `code` plus a human `message`.
///
/// Compare errors by `code` (the message wording may change). Codes:
/// `malformed_note`, `no_known_signature`, `bad_signature`, `bad_inclusion_proof`,
/// `bad_consistency_proof`, `malformed_checkpoint`, `malformed_proof`, `malformed_key`,
/// `key_id_mismatch`, `origin_mismatch`, `invalid_argument`, `crypto_failure`.
public struct TransparencyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Stable snake_case reason, e.g. `bad_inclusion_proof`.
    public let code: String
    /// Human-readable explanation.
    public let message: String

    /// Creates an error; prefer the static factories so codes stay consistent.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// A signed note whose syntax is not valid (c2sp.org/signed-note).
    public static func malformedNote(_ message: String) -> TransparencyError {
        TransparencyError(code: "malformed_note", message: message)
    }

    /// No signature from any of the given verifiers was present on the note.
    public static func noKnownSignature(_ message: String = "the note is not signed by any known key") -> TransparencyError {
        TransparencyError(code: "no_known_signature", message: message)
    }

    /// A signature from a known key (matching name and key ID) did not verify.
    public static func badSignature(_ message: String) -> TransparencyError {
        TransparencyError(code: "bad_signature", message: message)
    }

    /// An inclusion proof does not prove the leaf against the root.
    public static func badInclusionProof(_ message: String) -> TransparencyError {
        TransparencyError(code: "bad_inclusion_proof", message: message)
    }

    /// A consistency proof does not prove that the first tree is a prefix of the second.
    public static func badConsistencyProof(_ message: String) -> TransparencyError {
        TransparencyError(code: "bad_consistency_proof", message: message)
    }

    /// A checkpoint body that is not valid (c2sp.org/tlog-checkpoint).
    public static func malformedCheckpoint(_ message: String) -> TransparencyError {
        TransparencyError(code: "malformed_checkpoint", message: message)
    }

    /// A proof (tlog-proof file or its hashes) whose syntax is not valid.
    public static func malformedProof(_ message: String) -> TransparencyError {
        TransparencyError(code: "malformed_proof", message: message)
    }

    /// A key (vkey, skey, raw key or seed) that cannot be decoded.
    public static func malformedKey(_ message: String) -> TransparencyError {
        TransparencyError(code: "malformed_key", message: message)
    }

    /// A vkey/skey whose key ID does not match the one computed from its name and key.
    public static func keyIDMismatch(_ message: String) -> TransparencyError {
        TransparencyError(code: "key_id_mismatch", message: message)
    }

    /// A checkpoint from a different log than the one expected.
    public static func originMismatch(_ message: String) -> TransparencyError {
        TransparencyError(code: "origin_mismatch", message: message)
    }

    /// An argument outside the function's domain (e.g. a leaf index beyond the tree size).
    public static func invalidArgument(_ message: String) -> TransparencyError {
        TransparencyError(code: "invalid_argument", message: message)
    }

    /// OpenSSL failed for a reason unrelated to the input (e.g. out of memory).
    public static func cryptoFailure(_ message: String) -> TransparencyError {
        TransparencyError(code: "crypto_failure", message: message)
    }
}
