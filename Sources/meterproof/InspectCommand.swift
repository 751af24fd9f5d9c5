import ArgumentParser
import MeterProof

extension MeterProofCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inspect",
            abstract: "Decode a token and report whether its signature is valid (no binding checks).",
            discussion: "Exit 0 when the signature is valid, 1 when it is not, 2 when the input or keyring cannot be read, 64 on a bad invocation."
        )

        @Option(help: "Keyring directory.", transform: pathArgument)
        var keys: String

        @Option(name: .customLong("key-version"), parsing: .unconditional, help: "Check the signature under this key version (default: the token's own publicKeyVersion claim).", transform: keyVersionArgument)
        var keyVersion: Int?

        @Option(name: .customLong("min-key-bits"), parsing: .unconditional, help: "Lowest accepted RSA modulus size, 512 to \(RSAPublicKey.maximumBits) bits (default 2048).")
        var minKeyBits: Int?

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        @Argument(help: "File holding a response object or a token; '-' or absent for standard input.", transform: pathArgument)
        var input: String?

        func validate() throws {
            try validateMinKeyBits(minKeyBits)
        }

        func run() throws {
            let keyring = try loadKeyring(keys)
            var policy = VerificationPolicy.offline
            if let minKeyBits {
                if minKeyBits < 2048 { printError("warning: accepting RSA keys of \(minKeyBits) bits, below the 2048-bit floor") }
                policy.minimumKeyBits = minKeyBits
            }
            let bytes = try readResponseInput(input)
            let i = Verifier(keyring: keyring, policy: policy).inspect(bytes, keyVersion: keyVersion)
            switch format {
            case .json:
                var members: [(String, JSONValue)] = [
                    ("signatureValid", .bool(i.signatureValid)),
                    ("reason", .str(i.error?.code.rawValue)),
                    ("message", .str(i.error?.reason)),
                    ("keyVersion", .int(i.keyVersion)),
                    ("keyFingerprint", .str(i.keyFingerprint)),
                    ("header", i.header.map { .object($0) } ?? .null),
                ]
                if let p = i.payload { members.append(("claims", .object(p))) }
                else { members.append(("payloadText", .str(i.payloadText))) }
                if let ce = i.claimsError {
                    members.append(("claimsError", .object(JSONObject([("reason", .string(ce.code.rawValue)), ("message", .string(ce.reason))]))))
                }
                writeOut(terminalJSON(.object(JSONObject(members))) + "\n")
            case .text:
                var lines: [String] = []
                lines.append("signature: " + (i.signatureValid ? "valid" : "INVALID (\(i.error.map { "\($0.code.rawValue): \(oneLine($0.reason))" } ?? "unknown"))"))
                if let v = i.keyVersion { lines.append("key version: \(v)" + (i.keyFingerprint.map { " (sha256 \($0))" } ?? "")) }
                if let h = i.header { lines.append("header: " + oneLine(JSONText.serialize(.object(h)))) }
                if let p = i.payload { lines.append("claims: " + oneLine(JSONText.serialize(.object(p)))) }
                else if let t = i.payloadText { lines.append("payload (not a JSON object): " + oneLine(JSONText.quoted(t))) }
                else if i.token != nil && i.error?.code != .malformedToken && i.error?.code != .tokenTooLarge { lines.append("payload: not UTF-8") }
                if let ce = i.claimsError { lines.append("claims problem: \(ce.code.rawValue): \(oneLine(ce.reason))") }
                if let c = i.claims, let iat = c.issuedAt { lines.append("issued at: \(RFC3339.format(seconds: iat))") }
                if let rt = i.rotationTimestamp {
                    lines.append("PublicKeyRotationTimestamp: \(RFC3339.format(seconds: rt))")
                } else if let text = i.rotationTimestampText {
                    lines.append("PublicKeyRotationTimestamp: " + oneLine(JSONText.quoted(text)) + " (not a time MeterProof can read)")
                }
                writeOut(lines.joined(separator: "\n") + "\n")
            }
            if !i.signatureValid { throw ExitCode(Exit.rejected) }
        }
    }
}
