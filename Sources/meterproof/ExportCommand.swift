import ArgumentParser
import MeterProof
import MeterProofAudit
import Synchronization

/// Exit code for an export error (docs/export-bundle.md): trail errors keep theirs; a failed
/// write is a storage error; everything else is an input the export cannot use (2).
func exitCode(for e: ExportError) -> Int32 {
    if let t = e.trailError { return exitCode(for: t) }
    if e.code == .writeFailed { return Exit.storage }
    if e.code == .interrupted { return Exit.interrupted }
    return Exit.unreadable
}

func fail(_ e: ExportError) -> ExitCode { fail(exitCode(for: e), "\(e.code.rawValue): \(e.reason)") }

extension MeterProofCommand {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a self-contained, offline-verifiable compliance bundle of selected entries.",
            // The generated usage would show `[--out <out>]` (optional only because `export verify`
            // takes no --out) and a bare `<subcommand>`. Kept equal to docs/cli.md's synopsis, and
            // checked to name every option, by InvocationTests.
            usage: """
            meterproof export [--db <db>] --out <out> [--since <since>] [--until <until>] [--outcome <outcome>] [--product-code <product-code>] [--signing-key <signing-key>] [--signer-record <signer-record>] [--no-signer-record]
            meterproof export verify <directory> [--keys <keys>] [--log-key <log-key>] [--no-token-check] [--format <format>]
            """,
            discussion: """
            Writes DIR (which must not exist or be empty; its parent must exist) atomically: entries.jsonl, entries.csv, \
            the signed checkpoint, inclusion proofs (for a selection), the log key, the RSA keys that verified the entries, \
            manifest.json, SHA256SUMS and VERIFY.md (how to check it without MeterProof). See docs/export-bundle.md.
            Exit 0 written; 1 the trail does not match its checkpoint (or, with --signing-key, the signer record); 2 bad output directory, no checkpoint, missing key \
            or unreadable input; 3 not a trail; 4 newer schema; 5 storage or write error; 6 locked; 64 bad invocation; 130 interrupted \
            (Ctrl-C or SIGTERM: nothing is published and the temporary directory is removed).
            Check a bundle with `meterproof export verify DIR`.
            """,
            subcommands: [VerifyBundle.self]
        )

        // Optional, with the default applied in run(): `export verify` must tell an option given
        // on the command line from a default (see VerifyBundle.validate()).
        @Option(help: "Trail file. (default: \(Defaults.db))", transform: pathArgument)
        var db: String?

        @Option(help: "The bundle directory to create.", transform: pathArgument)
        var out: String?

        @OptionGroup var filter: EntryFilterOptions

        @Option(name: .customLong("signing-key"), help: "Sign a fresh checkpoint of the whole trail with this log key and prove the bundle against it (default: the trail's newest checkpoint).", transform: pathArgument)
        var signingKey: String?

        @OptionGroup var signerRecord: SignerRecordOptions

        func run() throws {
            // Not in validate(), which also runs for `export verify`; thrown from run(), a
            // ValidationError would print the top-level usage instead of this command's.
            guard let out else { throw usageError("Give --out DIR (the bundle directory to create), or use `export verify DIR`.") }
            if signerRecord.given && signingKey == nil {
                throw usageError("--signer-record and --no-signer-record apply only with --signing-key (an export without it signs nothing).")
            }
            let f = try filter.makeFilter()
            // Ctrl-C or SIGTERM: the temporary directory is removed and nothing is published.
            catchStopSignals()
            var recordWasMissing = false
            var storedBefore: UInt64? = nil
            var record: SignerRecord? = nil
            let summary = try withTrail { () throws -> ExportSummary in
                let signer = try signingKey.map { try LogKeyFile.read($0) }
                if let signingKey { record = try signerRecord.record(forKey: signingKey) }
                recordWasMissing = recordIsMissing(record)
                if signingKey != nil && record == nil { storedBefore = newestStoredCheckpointSize(db ?? Defaults.db) }
                let trail = try AuditTrail(path: db ?? Defaults.db, readOnly: signer == nil)
                do {
                    return try trail.exportBundle(to: out, options: ExportOptions(filter: f, signer: signer, signerRecord: record, shouldStop: { stopRequested.load(ordering: .relaxed) }))
                } catch let e as ExportError {
                    throw fail(e)
                }
            }
            let m = summary.manifest
            noteStartedRecord(record, wasMissing: recordWasMissing, size: m.treeSize)
            if signingKey != nil && record == nil && m.treeSize != storedBefore { warnSignedWithoutRecord() }
            var lines = ["exported \(counted(m.counts.entries, "entry", "entries")) (\(m.counts.accepted) accepted, \(m.counts.rejected) rejected) to \(summary.directory)"]
            lines.append("  checkpoint: \(m.origin) size \(m.treeSize) root \(m.root.base64)")
            if m.selection.fullPrefix {
                lines.append("  full prefix: every entry below the checkpoint; the root is recomputed from entries.jsonl (no proofs)")
            } else {
                lines.append("  selection: \(counted(summary.proofFiles, "inclusion proof", "inclusion proofs")) in proofs/")
            }
            lines.append("  keys: \(summary.keyFiles) pinned in keys/keyring.json")
            if m.newerEntriesOmitted > 0 {
                lines.append("  left out: \(counted(m.newerEntriesOmitted, "entry", "entries")) recorded after the checkpoint (sign a new checkpoint, or pass --signing-key, to include them)")
            }
            lines.append("check it with: meterproof export verify \(summary.directory)   (or without MeterProof: see VERIFY.md)")
            writeOut(lines.joined(separator: "\n") + "\n")
            if !summary.testKeyVersions.isEmpty {
                let files = summary.testKeyVersions.map { "keys/v\($0).pem" }.joined(separator: ", ")
                printError("warning: test_key: the bundle's \(files) \(summary.testKeyVersions.count == 1 ? "is one of" : "are") MeterProof's published TEST keys (keys/test): tokens accepted under them prove nothing about AWS")
            }
        }
    }
}

extension MeterProofCommand.Export {
    /// A bad invocation found in run(): ArgumentParser's form, with this command's usage (a
    /// ValidationError thrown from run() would print the top-level usage instead).
    func usageError(_ message: String) -> ExitCode {
        // Indented as ArgumentParser indents a usage of several lines under "Usage: ".
        let usage = MeterProofCommand.usageString(for: Self.self).split(separator: "\n").joined(separator: "\n       ")
        writeFD(2, "Error: \(message)\nUsage: " + usage + "\n  See 'meterproof export --help' for more information.\n")
        return ExitCode(Exit.usage)
    }

    /// The options given on the command line, in declaration order (none has a default value
    /// that could not be told apart from an explicit one).
    var givenOptions: [String] {
        var given: [String] = []
        if db != nil { given.append("--db") }
        if out != nil { given.append("--out") }
        if filter.since != nil { given.append("--since") }
        if filter.until != nil { given.append("--until") }
        if filter.outcome != nil { given.append("--outcome") }
        if filter.productCode != nil { given.append("--product-code") }
        if signingKey != nil { given.append("--signing-key") }
        if signerRecord.path != nil { given.append("--signer-record") }
        if signerRecord.disabled { given.append("--no-signer-record") }
        return given
    }

    struct VerifyBundle: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check an export bundle offline.",
            discussion: """
            Checks SHA256SUMS, the checkpoint signature, the manifest, every entry (canonical, in order, selected, \
            in the tree: root or inclusion proofs), entries.csv, the keys, and re-verifies every accepted token's PS256 \
            signature and claims. Stops at the first failure and names it.
            Exit 0 sound; 1 a check failed (the problem code is printed); 2 DIR, --keys or --log-key unreadable; 64 bad invocation.
            """
        )

        /// `export`'s own options, parsed from the same command line: `export verify` takes
        /// none of them (see validate()).
        @ParentCommand var export: MeterProofCommand.Export

        @Argument(help: "The bundle directory.", transform: pathArgument)
        var directory: String

        @Option(help: "Keyring directory to re-verify tokens with (default: the bundle's own keys/).", transform: pathArgument)
        var keys: String?

        @Option(name: .customLong("log-key"), help: "The log's verifier key (vkey text or a file holding it), obtained out of band (default: the bundle's log-key.vkey).", transform: pathArgument)
        var logKey: String?

        @Flag(name: .customLong("no-token-check"), help: "Skip re-verifying the tokens' signatures and claims.")
        var noTokenCheck = false

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        /// ArgumentParser accepts `export`'s options before `verify` (and after it) and would
        /// silently drop them: `export --product-code x verify DIR` would print `sound` and let
        /// the user believe the bundle's selection was checked against `x`. Refuse them instead.
        func validate() throws {
            let given = export.givenOptions
            guard !given.isEmpty else { return }
            let list = given.count == 1 ? given[0] : given.dropLast().joined(separator: ", ") + " and " + given.last!
            throw ValidationError("\(list) \(given.count == 1 ? "is an option" : "are options") of `meterproof export`, not of `export verify`, which checks the bundle as it was written; remove \(given.count == 1 ? "it" : "them").")
        }

        func run() throws {
            let key = try logKey.map { try parseVerifierKey($0) }
            let keyring = try keys.map { try loadKeyring($0) }
            let start = WallClock.monotonicSeconds()
            let r: BundleVerification
            do {
                r = try BundleVerifier(directory: directory, logKey: key, keyring: keyring, checkTokens: !noTokenCheck).verify()
            } catch {
                throw fail(error)
            }
            let secs = WallClock.monotonicSeconds() - start
            if r.usedBundledLogKey && !r.logKey.isEmpty {
                printError("note: the checkpoint was checked under the bundle's own log-key.vkey (\(r.logKey)); compare it with the log's published key out of band, or pass --log-key")
            }
            // The same holds for the RSA keys: bundled, they are what the operator configured.
            if r.sound && keys == nil && r.tokensVerified > 0 {
                printError("note: the tokens were checked under the bundle's own keys/ (the keys the operator's trail recorded); compare their fingerprints with AWS's keys out of band, or pass --keys")
            }
            if r.sound { warnTestKeyAcceptances(r.testKeyAccepted) }
            switch format {
            case .json:
                writeOut(terminalJSON(.object(JSONObject([
                    ("sound", .bool(r.sound)), ("problem", .str(r.problemCode)), ("message", .str(r.problem)),
                    ("entries", .int(r.entries)), ("accepted", .int(r.accepted)), ("rejected", .int(r.rejected)),
                    ("proofsVerified", .int(r.proofsVerified)), ("tokensVerified", .int(r.tokensVerified)), ("filesChecked", .int(r.filesChecked)),
                    ("fullPrefix", .bool(r.fullPrefix)), ("treeSize", .uint(r.treeSize)), ("root", .string(r.root.base64)),
                    ("origin", .string(r.origin)), ("logKey", .string(r.logKey)), ("bundledLogKey", .bool(r.usedBundledLogKey)), ("testKeyAccepted", .int(r.testKeyAccepted)),
                ]))) + "\n")
            case .text:
                if r.sound {
                    // A selection proves that its entries are in the log, not that no other entry
                    // matching it exists: say so where an auditor who asked for everything looks.
                    let how = r.fullPrefix ? "full prefix, root recomputed"
                        : "a selection, \(counted(r.proofsVerified, "inclusion proof", "inclusion proofs")) verified (membership only: that no other matching entry exists is not proven)"
                    let tokens = noTokenCheck ? "token re-verification skipped" : "\(counted(r.tokensVerified, "accepted token", "accepted tokens")) re-verified"
                    writeOut("sound: \(counted(r.entries, "entry", "entries")) (\(r.accepted) accepted, \(r.rejected) rejected) of \(r.origin) at checkpoint size \(r.treeSize); \(how); \(tokens); \(r.filesChecked == 1 ? "1 file matches" : "\(r.filesChecked) files match") SHA256SUMS (\(decimal(secs, 2)) s)\n")
                } else {
                    writeOut("FAILED: \(r.problemCode ?? "unknown"): \(oneLine(r.problem ?? ""))\n")
                }
            }
            if !r.sound { throw ExitCode(Exit.rejected) }
        }
    }
}
