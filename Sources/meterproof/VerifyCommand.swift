import ArgumentParser
import MeterProof

extension MeterProofCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify one RegisterUsage response against the request that produced it.",
            discussion: "Exit 0 when accepted, 1 when rejected (the reason code is printed), 2 when the input or keyring cannot be read, 64 on a bad invocation. With --db: 3 not a trail, 4 newer schema, 5 storage error, 6 trail locked, 2 unsafe_location (a hard-linked or separately mounted trail file), and 1 with no 'rejected:' line when the trail was edited (inconsistent_checkpoint, invalid_entry). Any exit but 0: do not unlock."
        )

        @Option(help: "Keyring directory (v<N>.pem files, JWKS, optional keyring.json).", transform: pathArgument)
        var keys: String

        // Unconditional: the value is whatever follows, even when it starts with '-' (a nonce is
        // any characters; a base64url nonce starts with '-' one time in 64).
        @Option(name: .customLong("product-code"), parsing: .unconditional, help: "The ProductCode sent to RegisterUsage.")
        var productCode: String

        @Option(name: .customLong("key-version"), parsing: .unconditional, help: "The PublicKeyVersion sent to RegisterUsage (plain decimal, 1 to 2147483647).", transform: keyVersionArgument)
        var keyVersion: Int

        @Option(parsing: .unconditional, help: "The Nonce sent to RegisterUsage (taken as given, even when it starts with '-').")
        var nonce: String?

        @Flag(name: .customLong("allow-missing-nonce"), help: "Accept a token without a nonce (only when --nonce is not given).")
        var allowMissingNonce = false

        @OptionGroup var freshness: FreshnessOptions

        @Flag(name: .customLong("allow-test-keys"), help: "Use a keyring holding MeterProof's published test keys (keys/test), whose private halves anyone has: only to try MeterProof.")
        var allowTestKeys = false

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Option(help: "Record the attempt in this audit trail and consume the nonce there.", transform: pathArgument)
        var db: String?

        @Argument(help: "File holding a response object or a token (at most 1 MiB); '-' or absent for standard input.", transform: pathArgument)
        var input: String?

        func validate() throws {
            if nonce == nil && !allowMissingNonce { throw ValidationError("Give --nonce NONCE (the nonce sent), or --allow-missing-nonce.") }
            if nonce != nil && allowMissingNonce { throw ValidationError("--nonce and --allow-missing-nonce exclude each other.") }
            if productCode.isEmpty { throw ValidationError("--product-code must not be empty.") }
            // `--nonce "$NONCE"` with the variable unset: an empty nonce is a script's bug, not
            // the nonce a request sent.
            if nonce?.isEmpty == true { throw ValidationError("--nonce must not be empty: give the nonce the request sent (or --allow-missing-nonce if it sent none).") }
        }

        func run() throws {
            // verify is what unlocks: a container image that shipped keys/test by mistake must
            // stop here, not accept tokens anyone can sign with a warning nobody reads.
            let keyring = try loadKeyring(keys, allowingTestKeys: allowTestKeys)
            var policy = VerificationPolicy.strict
            policy.allowMissingNonce = allowMissingNonce
            freshness.apply(to: &policy)
            let verifier = Verifier(keyring: keyring, policy: policy)
            let bytes = try readResponseInput(input)
            let request = RegisterUsageRequest(productCode: productCode, publicKeyVersion: keyVersion, nonce: nonce)
            let result = try VerifyRecorder.verify(verifier: verifier, input: bytes, request: request, db: db)
            if result.isAccepted, let fp = result.keyFingerprint, keyring.testKeyFingerprints.contains(fp) {
                printError("warning: test_key: accepted under MeterProof's public TEST key (version \(keyVersion), sha256 \(fp)): its private half is published in keys/test/private, so anyone can make tokens it accepts; never use keys/test in production")
            }
            switch format {
            case .json: writeOut(terminalJSON(.object(result.jsonSummary)) + "\n")
            case .text: writeOut(result.textSummary)
            }
            if !result.isAccepted { throw ExitCode(Exit.rejected) }
        }
    }
}

extension VerificationResult {
    var jsonSummary: JSONObject {
        JSONObject([
            ("outcome", .string(isAccepted ? "accepted" : "rejected")),
            ("reason", .str(error?.code.rawValue)),
            ("message", .str(error?.reason)),
            ("productCode", .str(claims?.productCode)),
            ("publicKeyVersion", .int(claims?.publicKeyVersion ?? keyVersion)),
            ("nonce", .str(claims?.nonce)),
            ("issuedAt", .int(claims?.issuedAt)),
            ("keyFingerprint", .str(keyFingerprint)),
            ("claimsVerified", .bool(claimsVerified)),
            ("warnings", .array(warnings.map { .object(JSONObject([("code", .string($0.code)), ("message", .string($0.message))])) })),
        ])
    }

    var textSummary: String {
        var lines: [String] = []
        if let error {
            lines.append("rejected: \(error.code.rawValue): \(oneLine(error.reason))")
        } else {
            lines.append("accepted")
            if let c = claims {
                lines.append("  productCode:      \(oneLine(c.productCode))")
                lines.append("  publicKeyVersion: \(c.publicKeyVersion)")
                lines.append("  nonce:            \(c.nonce.map { oneLine($0) } ?? "(none)")")
                lines.append("  issuedAt:         \(c.issuedAt.map { "\($0) (\(RFC3339.format(seconds: $0)))" } ?? "(absent)")")
            }
            if let keyFingerprint { lines.append("  keyFingerprint:   \(keyFingerprint)") }
            for w in warnings { lines.append("  warning: \(w.code): \(oneLine(w.message))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
