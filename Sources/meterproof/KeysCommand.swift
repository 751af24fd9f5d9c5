import ArgumentParser
import MeterProof

extension MeterProofCommand {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keys",
            abstract: "Inspect a keyring.",
            subcommands: [List.self]
        )

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys: version, algorithm, bits, fingerprint, validity.",
                                                            discussion: "Exit 0 listed, 2 the keyring cannot be read (bad_input), 64 on a bad invocation.")

            @Option(help: "Keyring directory.", transform: pathArgument)
            var keys: String

            @Option(help: "Output format: text or json.")
            var format: OutputFormat = .text

            func run() throws {
                let keyring = try loadKeyring(keys)
                let rows = keyring.versions.map { keyring[$0]! }
                let shared = keyring.sharedKeyVersions
                switch format {
                case .json:
                    let arr: [JSONValue] = rows.map { e in
                        .object(JSONObject([
                            ("version", .int(e.version)),
                            ("algorithm", .string("RSA")),
                            ("bits", .int(e.key.bits)),
                            ("fingerprint", .string(e.key.fingerprint)),
                            ("notBefore", .str(e.notBefore.map { RFC3339.format(seconds: $0) })),
                            ("notAfter", .str(e.notAfter.map { RFC3339.format(seconds: $0) })),
                            ("pinned", .bool(e.pinned)),
                            ("weakness", .str(e.key.weakness(minimumBits: 2048))),
                            ("testKey", .bool(e.key.isMeterProofTestKey)),
                            ("sameKeyAs", .array((shared[e.version] ?? []).map { .int($0) })),
                            ("source", .string(e.source)),
                        ]))
                    }
                    writeOut(terminalJSON(.array(arr)) + "\n")
                case .text:
                    var out = "VERSION  ALG  BITS  FINGERPRINT (SHA-256 of DER SPKI)                                  VALIDITY\n"
                    for e in rows {
                        let from = e.notBefore.map { RFC3339.format(seconds: $0) } ?? "-"
                        let to = e.notAfter.map { RFC3339.format(seconds: $0) } ?? "-"
                        var line = "\(pad(String(e.version), 8)) RSA  \(pad(String(e.key.bits), 5)) \(e.key.fingerprint)  \(from) .. \(to)"
                        if !e.pinned { line += "  (unpinned)" }
                        if let w = e.key.weakness(minimumBits: 2048) { line += "  WEAK: \(w)" }
                        if e.key.isMeterProofTestKey { line += "  TEST KEY (its private half is published)" }
                        if let others = shared[e.version] {
                            line += "  SAME KEY AS " + others.map { "v\($0)" }.joined(separator: ", ") + " (AWS gives each version a new key)"
                        }
                        out += line + "\n"
                    }
                    writeOut(out)
                }
            }
        }
    }

    struct NonceCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "nonce", abstract: "Print a fresh 128-bit nonce (UUID-shaped, lowercase).",
                                                        discussion: "Exit 0 printed, 2 the system's random source failed (random_failure).")

        func run() throws {
            do { writeOut(try Nonce.generate() + "\n") } catch { throw fail(Exit.unreadable, "random_failure: \(error.reason)") }
        }
    }
}
