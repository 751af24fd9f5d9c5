import MeterProof
import MeterProofAudit

/// Verification for the CLI, optionally recorded in an audit trail.
enum VerifyRecorder {
    /// Verifies; with `db`, records the attempt and applies the nonce rule in the same
    /// transaction that decides acceptance (a replayed nonce turns into `nonce_replayed`).
    static func verify(verifier: Verifier, input: [UInt8], request: RegisterUsageRequest, db: String?) throws -> VerificationResult {
        let result = verifier.verify(input, expecting: request)
        guard let db else { return result }
        warnIfNetworkFileSystem(db)
        let recorded = try withTrail { () throws -> AuditEntry in
            let outcome = try AuditTrail(path: db).append([AuditTrail.Pending(result: result, keyring: verifier.keyring, source: .live)])
            guard case .recorded(let e) = outcome.first else { throw AuditError(.storage, "the attempt was not recorded") }
            return e
        }
        if result.isAccepted && !recorded.isAccepted {
            return result.rejected(VerificationError(.nonceReplayed, recorded.message ?? "nonce already accepted"))
        }
        return result
    }
}
