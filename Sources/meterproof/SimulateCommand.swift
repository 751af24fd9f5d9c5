import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

extension MeterProofCommand {
    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Print an AWS-shaped RegisterUsage response signed PS256 with a test key.",
            discussion: "For exercising an integration without AWS. Signs with whatever RSA private key --signing-key names (MeterProof's published test keys in keys/test/private, or a key of your own); the output verifies only against a keyring holding its public half, and verify refuses MeterProof's test keys unless --allow-test-keys is given. Exit 0 printed, 2 the key cannot be read or is not an RSA private key, 64 on a bad invocation."
        )

        @Option(name: .customLong("signing-key"), help: "PEM RSA private key (e.g. keys/test/private/v1.key.pem).", transform: pathArgument)
        var signingKey: String

        @Option(name: .customLong("product-code"), parsing: .unconditional, help: "ProductCode claim.")
        var productCode: String

        @Option(name: .customLong("key-version"), parsing: .unconditional, help: "PublicKeyVersion claim.", transform: keyVersionArgument)
        var keyVersion: Int

        @Option(parsing: .unconditional, help: "Nonce claim (omitted when absent; taken as given, even when it starts with '-').")
        var nonce: String?

        @Option(name: .customLong("issued-at"), parsing: .unconditional, help: "iat claim in epoch seconds (default: now; excludes --no-iat).")
        var issuedAt: Int64?

        @Flag(name: .customLong("no-iat"), help: "Omit the iat claim.")
        var noIat = false

        @Option(help: "Claim spelling: camel (productCode, default) or pascal (ProductCode).")
        var spelling: Spelling = .camel

        @Option(name: .customLong("rotation-timestamp"), parsing: .unconditional, help: "PublicKeyRotationTimestamp in epoch seconds, 0-999999999999 (default null).")
        var rotationTimestamp: Int64?

        enum Spelling: String, ExpressibleByArgument, CaseIterable { case camel, pascal }

        func validate() throws {
            if noIat && issuedAt != nil { throw ValidationError("--issued-at and --no-iat exclude each other.") }
            // As `verify` refuses them (an unset shell variable?): a response it cannot be asked about.
            if productCode.isEmpty { throw ValidationError("--product-code must not be empty.") }
            if nonce?.isEmpty == true { throw ValidationError("--nonce must not be empty: omit it for a response without a nonce.") }
            // What `verify` accepts as an epoch time (RegisterUsageResponse): a response it would
            // call malformed is not a simulation of AWS.
            if let rotationTimestamp, rotationTimestamp < 0 || rotationTimestamp >= 1_000_000_000_000 {
                throw ValidationError("--rotation-timestamp must be epoch seconds between 0 and 999999999999.")
            }
        }

        func run() throws {
            let pem = try readInput(signingKey, limit: 1 << 16)
            let key: RSAPrivateKey
            do { key = try RSAPrivateKey(pem: String(decoding: pem, as: UTF8.self)) } catch {
                throw fail(Exit.unreadable, "bad_input: \(signingKey): \(error.reason)")
            }
            let sim = ResponseSimulator(signingKey: key)
            let iat: Int64? = noIat ? nil : (issuedAt ?? WallClock.nowSeconds())
            let r: String
            do {
                r = try sim.response(productCode: productCode, keyVersion: keyVersion, nonce: nonce, issuedAt: iat,
                                     spelling: spelling == .pascal ? .pascal : .camel, rotationTimestamp: rotationTimestamp)
            } catch {
                throw fail(Exit.unreadable, "bad_input: cannot sign with \(signingKey): \(error.reason)")
            }
            writeOut(r + "\n")
            // A response made to test a refusal is fine, but say so when one is made by accident:
            // verify it as `verify` would, now, against the signing key's public half.
            if let publicKey = try? key.publicKey,
               let keyring = try? Keyring(entries: [KeyringEntry(version: keyVersion, key: publicKey, source: signingKey)]) {
                let request = RegisterUsageRequest(productCode: productCode, publicKeyVersion: keyVersion, nonce: nonce)
                if let e = Verifier(keyring: keyring).verify(Array(r.utf8), expecting: request).error {
                    printError("warning: verify would refuse this response now (\(e.code.rawValue): \(e.reason))")
                }
            }
        }
    }
}
