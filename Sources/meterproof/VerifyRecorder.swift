import MeterProof

/// Verification for the CLI, optionally recorded in an audit trail.
enum VerifyRecorder {
    static func verify(verifier: Verifier, input: [UInt8], request: RegisterUsageRequest, db: String?) throws -> VerificationResult {
        guard db != nil else { return verifier.verify(input, expecting: request) }
        throw fail(Exit.usage, "--db needs the audit trail, which this build does not have yet")
    }
}
