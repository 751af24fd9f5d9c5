import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof
import MeterProofAudit
import Synchronization

extension MeterProofCommand.Audit {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Offline audit: verify captured responses and record them in the trail.",
            // The generated usage collapses to `[<options>]` once it is this long. Kept equal to
            // docs/cli.md's synopsis, and checked to name every option, by InvocationTests.
            usage: """
            meterproof audit import [--db <db>] --keys <keys> [--jobs <jobs>] [--no-progress] [--format <format>] [--signing-key <signing-key>] [--signer-record <signer-record>] [--no-signer-record] [--batch-size <batch-size>] [--max-age <max-age>] [--no-freshness] [--min-key-bits <min-key-bits>] [--allow-missing-nonce] [--files-from <files-from>] [<captures> ...]
            """,
            discussion: """
            CAPTURES are JSON Lines files ('-' for standard input): {"request": {...}, "response": {...}, "capturedAt": "..."} \
            (bound), or a bare response object or token (unbound). Malformed lines are recorded as rejected entries with \
            their file and line (malformed_input; a duplicate JSON member or an oversized token is recorded with its own code, \
            duplicate_member or token_too_large). Re-importing a file adds nothing (each line is recognised by its hash). \
            The trail is created on first use, with its log key beside it; with a log key a checkpoint is signed at the end, \
            checked against and kept in the signer record (see --signer-record; a record that cannot be used is refused before \
            the import: 1 inconsistent_checkpoint, 2 bad_input, 5 cannot be written). \
            Exit 0 when the import completed (whatever the verdicts), 130 when interrupted (committed work is kept), \
            2 unreadable captures, keyring or key file, a --signing-key that is another log's (wrong_log_key, before anything is imported) \
            (or unsafe_location: a hard-linked or separately mounted trail file), 3 not a trail, 4 newer schema, 5 storage error, 6 trail locked, \
            64 bad invocation; \
            if the final checkpoint cannot be signed, the summary is printed and the exit code is that error's.
            """
        )

        @Option(help: "Trail file (created if absent).", transform: pathArgument)
        var db: String = Defaults.db

        @Option(help: "Keyring directory.", transform: pathArgument)
        var keys: String

        @Option(parsing: .unconditional, help: "Verification threads, 1-256 (default: all cores).")
        var jobs: Int?

        @Flag(name: .customLong("no-progress"), help: "No progress bar on standard error.")
        var noProgress = false

        @Option(help: "Summary format: text or json.")
        var format: OutputFormat = .text

        @Option(name: .customLong("signing-key"), help: "Log signer key (default: meterproof-log.key beside the trail). Used to create the trail and sign a checkpoint.", transform: pathArgument)
        var signingKey: String?

        @OptionGroup var signerRecord: SignerRecordOptions

        @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Captures per durable transaction, 1-100000 (a batch also ends at 8 MiB of lines).")
        var batchSize: Int = 2000

        @OptionGroup var freshness: FreshnessOptions

        @Flag(name: .customLong("allow-missing-nonce"), help: "Accept bound captures whose request sent no nonce and whose token carries none (nonce_missing otherwise): nothing stops such a response from being replayed.")
        var allowMissingNonce = false

        @Argument(help: "Capture files (JSON Lines), at least one (or --files-from); '-' for standard input (once).", transform: pathArgument)
        var captures: [String] = []

        @Option(name: .customLong("files-from"), help: "Also import the capture files this file names, one per line (blank lines skipped; '-' reads the list from standard input): for thousands of files, which as arguments take quadratic time to parse.", transform: pathArgument)
        var filesFrom: String?

        func validate() throws {
            if captures.isEmpty && filesFrom == nil { throw ValidationError("Give at least one captures file (or '-' for standard input, or --files-from FILE).") }
            if filesFrom == "-" && captures.contains("-") { throw ValidationError("Standard input can hold the captures or the list of files (--files-from -), not both.") }
            if let jobs, jobs < 1 || jobs > 256 { throw ValidationError("--jobs must be between 1 and 256.") }
            if batchSize < 1 || batchSize > 100_000 { throw ValidationError("--batch-size must be between 1 and 100000.") }
            if captures.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input ('-') can be read only once.") }
        }

        /// The capture files named by the list file, one per line (a final CR dropped, blank
        /// lines skipped), each a non-empty UTF-8 path other than '-'.
        func listedFiles(_ list: String) throws -> [String] {
            let bytes = try readInput(list, limit: 256 << 20)
            let name = list == "-" ? "standard input" : list
            var out: [String] = []
            for (i, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
                var line = raw
                if line.last == 0x0D { line = line.dropLast() }
                if line.isEmpty { continue }
                guard !line.contains(0), let path = String(validating: line, as: UTF8.self) else {
                    throw fail(Exit.unreadable, "bad_input: \(name) line \(i + 1) is not a UTF-8 file name")
                }
                if path == "-" { throw fail(Exit.unreadable, "bad_input: \(name) line \(i + 1) is '-': standard input is given as an argument, not in a list") }
                out.append(path)
            }
            return out
        }

        func run() throws {
            // Files named as arguments, then those the list names (parsed here, in linear time).
            let captures = try captures + (filesFrom.map(listedFiles) ?? [])
            if captures.isEmpty { throw fail(Exit.unreadable, "bad_input: \(filesFrom == "-" ? "standard input" : filesFrom ?? "the list") names no capture file") }
            if captures.contains("-") { try StandardStreams.requireStandardInput() }
            let keyring = try loadKeyring(keys)
            warnIfNetworkFileSystem(db)
            // A FIFO or process substitution (`<(zcat captures.jsonl.gz)`) is read like standard input.
            for f in captures where f != "-" {
                switch FileSystem.kind(f) {
                case .missing:
                    // A dangling link or a loop of links is not "no such file" to whoever made it;
                    // a path that cannot be searched says why.
                    var why = "no such file"
                    if let what = FileSystem.notARegularFile(f), errno != ENOENT || what.hasPrefix("a symbolic link") {
                        why = what.hasPrefix("a symbolic link") ? "it is \(what)" : what
                    }
                    throw fail(Exit.unreadable, "bad_input: cannot read captures file \(f): \(why)")
                case .directory: throw fail(Exit.unreadable, "bad_input: cannot read captures file \(f): it is a directory")
                case .file, .other:
                    if access(f, R_OK) != 0 { throw fail(Exit.unreadable, "bad_input: cannot read captures file \(f): permission denied") }
                    // Before a trail is created for it. (A FIFO is not probed: that would consume it.)
                    if FileSystem.kind(f) == .file, let why = FileSystem.unreadableReason(f) {
                        throw fail(Exit.unreadable, "bad_input: cannot read captures file \(f): \(why)")
                    }
                }
            }
            let keyPath = signingKey ?? Defaults.logKey(besideTrail: db)
            let record = try withTrail { try signerRecord.record(forKey: keyPath) }
            // Whether this process created the trail, and the log key once read: a key given
            // as `<(…)` or a FIFO can be read only once.
            var createdHere = false
            var loadedSigner: NoteSigner? = nil
            // The import stops after the batch being written commits; a stop while the trail is
            // being created waits for it to be whole, then stops before the first batch. A second
            // stop signal ends the process at once (each batch is one transaction).
            catchStopSignals(secondSignalEnds: true)
            if !FileSystem.exists(db) {
                // Under the lock, imports starting at once into a new trail create it once; the
                // others import into it.
                let created = try withTrail {
                    try withCreationLock(for: db, key: keyPath) { () throws -> Bool in
                        if FileSystem.exists(db) { return false }
                        if FileSystem.exists(keyPath) {
                            // One key and origin must never sign two histories: the default key
                            // beside a missing trail most likely signed another trail's
                            // checkpoints. A key named with --signing-key is the user's choice.
                            guard signingKey != nil else {
                                throw AuditError(.alreadyExists, "\(keyPath) exists but \(db) does not: that key signs the checkpoints of a trail that was there (or of another trail in this directory), and one log key must never sign two histories. To start over, move \(keyPath) and its signer record \(keyPath).last-checkpoint away together (keep them with the old trail: they show what it signed)")
                            }
                            let signer = try LogKeyFile.read(keyPath)
                            loadedSigner = signer
                            // A key whose record holds a signed history cannot sign a new,
                            // different one: refused before anything is imported.
                            if let record, let kept = try record.read(verifier: signer.verifier), kept.checkpoint.size > 0 {
                                throw AuditError(.inconsistent, "\(keyPath) already signed a checkpoint of size \(kept.checkpoint.size) of another trail (the signer record \(record.path)), and one log key must never sign two histories; a new trail \(db) would fork that log. Create it with a new key: name a --signing-key file that does not exist yet (then pass that key to every later signing), or move this key and its record away together")
                            }
                            try record?.preflight(verifier: signer.verifier, origin: signer.name, trailSize: nil)
                            do { try AuditTrail.create(path: db, signer: signer) } catch let e as AuditError where e.code == .alreadyExists && FileSystem.exists(db) {
                                return false
                            }
                        } else {
                            do { _ = try initTrail(db: db, signingKey: keyPath, origin: nil, record: record) } catch let e as AuditError where e.code == .alreadyExists && FileSystem.exists(db) {
                                // A program that does not take the lock (the library) created it.
                                return false
                            }
                        }
                        return true
                    }
                }
                createdHere = created
                if created {
                    // The vkey is what an auditor checks checkpoints with: shown once, here,
                    // as `audit init` prints it, to be kept apart from the trail.
                    let vkey = (try? AuditTrail(path: db, readOnly: true).verifier.vkey).map { " (verifier key \($0): keep a copy apart from the trail)" } ?? ""
                    printError("created trail \(db) with log key \(keyPath)\(vkey)")
                }
            }
            // The signer record's problems that can be seen now are found before the import,
            // not after it has committed (the full check runs when signing).
            if !createdHere, FileSystem.exists(keyPath) {
                try withTrail {
                    let signer = try loadedSigner ?? LogKeyFile.read(keyPath)
                    loadedSigner = signer
                    let trail = try AuditTrail(path: db, readOnly: true)
                    if signer.verifier == trail.verifier {
                        try record?.preflight(verifier: signer.verifier, origin: trail.origin, trailSize: trail.size())
                    } else if signingKey != nil {
                        // A key named for this import that is another log's would be refused
                        // only at signing, after the import. (The default key beside the trail
                        // may be another trail's; then the import goes on unsigned, and the
                        // signing reports it, as without a key.)
                        throw AuditError(.wrongKey, "the signing key \(keyPath) (\(signer.verifier.vkey)) is not the log key of \(db) (\(trail.verifier.vkey)); nothing was imported. \(AuditTrail.logKeyIsFixed)")
                    }
                }
            }
            var policy = VerificationPolicy.strict
            freshness.apply(to: &policy)
            policy.allowMissingNonce = allowMissingNonce

            let showProgress = !noProgress && isatty(2) == 1
            let bar = ProgressBar()
            let importer = CaptureImporter(trailPath: db, keyring: keyring, policy: policy,
                                           jobs: jobs ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))), batchSize: batchSize)
            var summary = try withTrail {
                try importer.run(files: captures, progress: { p in if showProgress { bar.update(p) } },
                                 shouldStop: { stopRequested.load(ordering: .relaxed) })
            }
            if showProgress { bar.finish() }
            warnTestKeyAcceptances(summary.testKeyAccepted)
            for u in summary.unterminated {
                printError("warning: \(u.file) ends without a line feed: its last line (line \(u.line)) was read up to the end of the input and recorded as read. If the file was still being written (or its writer died mid-line), that line may be cut short; once the file is complete, importing it again records the whole line as a capture of its own")
            }
            var checkpoint: SignedNote? = nil
            var checkpointError: AuditError? = nil
            if FileSystem.exists(keyPath) {
                do throws(AuditError) {
                    let signer: NoteSigner
                    if let loadedSigner { signer = loadedSigner } else { signer = try LogKeyFile.read(keyPath) }
                    // The import's own entries, still the newest, are not read again.
                    checkpoint = try signKeepingRecord(record, db: db, trailIsNew: createdHere) { () throws(AuditError) -> SignedNote in
                        try AuditTrail(path: db).signCheckpoint(with: signer, after: summary, record: record)
                    }
                } catch {
                    checkpointError = error
                }
            }
            summary.treeSize = checkpoint.flatMap { try? Checkpoint(parsing: $0.text).size } ?? summary.treeSize
            switch format {
            case .json: writeOut(terminalJSON(.object(summary.json(db: db, checkpoint: checkpoint))) + "\n")
            case .text: writeOut(summary.text(db: db, checkpoint: checkpoint, keyPath: checkpointError == nil ? nil : keyPath))
            }
            if let checkpointError { throw fail(AuditError(checkpointError.code, "the import is committed, but no checkpoint was signed: \(checkpointError.reason)")) }
            if summary.interrupted { throw ExitCode(Exit.interrupted) }
        }
    }
}

extension ImportSummary {
    func json(db: String, checkpoint: SignedNote?) -> JSONObject {
        func counts(_ d: [String: Int]) -> JSONValue {
            .object(JSONObject(d.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))
        }
        return JSONObject([
            ("trail", .string(db)), ("lines", .int(lines)), ("blankLines", .int(blankLines)), ("recorded", .int(recorded)),
            ("duplicates", .int(duplicates)), ("accepted", .int(accepted)), ("rejected", .int(rejected)),
            ("reasons", counts(reasons)), ("warnings", counts(warnings)), ("bound", .int(boundCaptures)), ("unbound", .int(unboundCaptures)),
            ("firstSeq", .int(firstSeq.map { Int64($0) })), ("lastSeq", .int(lastSeq.map { Int64($0) })), ("treeSize", .int(Int64(treeSize))),
            ("milliseconds", .int(Int64((seconds * 1000).rounded()))), ("rate", .int(Int64(Double(recorded + duplicates) / max(seconds, 1e-6)))),
            ("interrupted", .bool(interrupted)), ("checkpoint", .str(checkpoint?.serialized)),
            ("unterminated", .array(unterminated.map { .object(JSONObject([("file", .string($0.file)), ("line", .int($0.line))])) })),
            ("testKeyAccepted", .int(testKeyAccepted)),
        ])
    }

    /// `failedKey`: the key a checkpoint could not be signed with (the error follows on stderr).
    func text(db: String, checkpoint: SignedNote?, keyPath failedKey: String? = nil) -> String {
        var out = interrupted ? "import INTERRUPTED (everything below is committed; run the same command again to finish)\n" : "import complete\n"
        out += "  trail:       \(db) (\(counted(treeSize, "entry", "entries")))\n"
        out += "  lines:       \(lines) (\(blankLines) blank)\n"
        out += "  recorded:    \(recorded) (\(boundCaptures) bound, \(unboundCaptures) unbound)\n"
        out += "  duplicates:  \(duplicates) (already in the trail, not recorded again)\n"
        out += "  accepted:    \(accepted)\n"
        for (w, n) in warnings.sorted(by: { $0.key < $1.key }) { out += "    with warning \(w): \(n)\n" }
        out += "  rejected:    \(rejected)\n"
        for (r, n) in reasons.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            out += "    \(pad(r, 24)) \(n)\n"
        }
        let rate = Double(recorded + duplicates) / max(seconds, 1e-6)
        out += "  time:        \(decimal(seconds, 2)) s (\(Int(rate)) captures/s)\n"
        if let checkpoint {
            out += "checkpoint:\n" + checkpoint.serialized
        } else if let failedKey {
            out += "no checkpoint signed with \(failedKey) (the error follows)\n"
        } else {
            out += "no log key available: no checkpoint signed\n"
        }
        return out
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: Sendable {
    private let last = Mutex(0.0)

    func update(_ p: ImportProgress) {
        guard last.withLock({ l in
            guard p.elapsed - l >= 0.1 else { return false }
            l = p.elapsed
            return true
        }) else { return }
        let rate = Double(p.committed) / max(p.elapsed, 1e-3)
        var line = "\r"
        if let total = p.totalBytes, total > 0 {
            let frac = min(1, Double(p.bytesRead) / Double(total))
            let width = 30
            let filled = Int(frac * Double(width))
            let eta = frac > 0 ? p.elapsed * (1 - frac) / frac : 0
            line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            let percent = decimal(frac * 100, 0)
            line += String(repeating: " ", count: max(0, 3 - percent.count)) + percent + "%  \(counted(p.committed, "capture", "captures"))  \(decimal(rate, 0))/s  ETA \(decimal(eta, 0))s "
        } else {
            line += "\(counted(p.committed, "capture", "captures"))  \(decimal(rate, 0))/s "
        }
        writeFD(2, line)
    }

    func finish() { writeFD(2, "\r\u{1B}[K") }
}
