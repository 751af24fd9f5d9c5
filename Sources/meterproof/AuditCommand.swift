import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof
import MeterProofAudit

/// The default trail and log key paths (relative to the working directory).
enum Defaults {
    static let db = "meterproof.sqlite"
    static let logKey = "meterproof-log.key"

    /// `meterproof-log.key` in the trail's directory (the working directory for a bare name).
    static func logKey(besideTrail db: String) -> String {
        db.contains("/") ? FileSystem.join(FileSystem.dirname(db), logKey) : logKey
    }
}

/// `--signer-record FILE` / `--no-signer-record`, on every command that signs a checkpoint:
/// where the log signer keeps the newest checkpoint it signed (``SignerRecord``), checked
/// before and replaced after each signing.
struct SignerRecordOptions: ParsableArguments {
    @Option(name: .customLong("signer-record"), help: "Where the signer keeps the newest checkpoint it signed; a new one must extend it (default: the signing key's path + .last-checkpoint).", transform: pathArgument)
    var path: String?

    @Flag(name: .customLong("no-signer-record"), help: "Sign without checking or keeping the signer record (turns off the fork check; where the key's directory is read-only, rather name a writable --signer-record).")
    var disabled = false

    var given: Bool { path != nil || disabled }

    func validate() throws {
        if path != nil && disabled { throw ValidationError("--signer-record and --no-signer-record exclude each other") }
    }

    /// The record for the signer key file `key`, `nil` with `--no-signer-record`.
    func record(forKey key: String) throws(AuditError) -> SignerRecord? {
        if disabled { return nil }
        if let path { return SignerRecord(path: path) }
        return try .beside(keyFile: key)
    }
}

/// `--signer-record FILE` / `--no-signer-record` on the commands that check a trail
/// (`audit verify`, `report`): the signer record the trail must extend.
struct SignerRecordCheckOptions: ParsableArguments {
    @Option(name: .customLong("signer-record"), help: "A signer record the trail must extend (default: the one beside the trail's default log key, meterproof-log.key.last-checkpoint, when it exists).", transform: pathArgument)
    var path: String?

    @Flag(name: .customLong("no-signer-record"), help: "Do not check a signer record.")
    var disabled = false

    func validate() throws {
        if path != nil && disabled { throw ValidationError("--signer-record and --no-signer-record exclude each other") }
    }

    /// The record to check: the one named (which must exist), else the one beside the default
    /// key of the trail `db` when there is one and it is a checkpoint signed by the trail's key
    /// (`logKey` when given). The default key's directory may hold another trail's key and
    /// record (a trail made with `--signing-key` elsewhere): such a record, or one that does not
    /// parse, is not this trail's to check, and a note says it was left out.
    func record(besideTrail db: String, logKey: NoteVerifier? = nil) throws -> SignerRecord? {
        if disabled { return nil }
        if let path {
            if !FileSystem.exists(path) { throw fail(Exit.unreadable, "bad_input: no signer record at \(path)") }
            return SignerRecord(path: path)
        }
        // A default key that is no regular file has no record beside it.
        guard let beside = try? SignerRecord.beside(keyFile: Defaults.logKey(besideTrail: db)), FileSystem.exists(beside.path) else { return nil }
        // A trail that cannot be opened is reported by the check itself.
        guard let trail = try? AuditTrail(path: db, readOnly: true) else { return beside }
        let key = logKey ?? trail.verifier
        do { _ = try beside.read(verifier: key) } catch {
            printError("note: the signer record \(beside.path) beside the default log key is not a checkpoint signed by this trail's log key (\(key.vkey)), so it was not checked: it is another trail's (this trail signs with another key file), or this trail was replaced under another key (compare with --log-key). Name this trail's record with --signer-record")
            return nil
        }
        return beside
    }
}

/// Whether `record` has no file yet (before a signing that may start it).
func recordIsMissing(_ record: SignerRecord?) -> Bool {
    var link = stat()
    return record.map { lstat($0.path, &link) != 0 } ?? false
}

/// After a signing of size `size` that started `record` (it was missing before) for a trail
/// that existed before this command, says so on standard error: from then on forks of that
/// checkpoint are refused, but nothing before it was compared with an earlier record (one that
/// was removed, as anyone who can write its directory could, goes unnoticed).
func noteStartedRecord(_ record: SignerRecord?, wasMissing: Bool, size: UInt64) {
    guard let record, wasMissing, size > 0, FileSystem.exists(record.path) else { return }
    printError("note: no signer record was at \(record.path): started it with this checkpoint (size \(size)); later checkpoints must extend it. The history up to it was taken as the trail holds it: if a record was there before and was removed, compare the trail with a checkpoint kept elsewhere (meterproof audit verify --against FILE)")
}

/// After a signing with `--no-signer-record`: nothing compared the new checkpoint with what
/// the key signed before, and a trail restored from an old copy is signed as a fork this way.
func warnSignedWithoutRecord() {
    printError("warning: signed without the signer record (--no-signer-record): whether this checkpoint extends what the key signed before was not checked, and no record was kept")
}

/// The size of the newest checkpoint the trail `db` holds, if it can be read: compared with
/// the size signed after a signing (a log holds one checkpoint per size), to tell a new
/// checkpoint from the stored one returned when nothing new was signed.
func newestStoredCheckpointSize(_ db: String) -> UInt64? {
    (try? AuditTrail(path: db, readOnly: true).latestCheckpoint())?.flatMap { try? Checkpoint(parsing: $0.text).size }
}

/// Runs `sign`, a signing of the trail `db` with `record`, then
/// ``noteStartedRecord(_:wasMissing:size:)`` unless the trail is new (created by this command:
/// there was nothing to compare with), or, without a record, ``warnSignedWithoutRecord()``
/// when a new checkpoint was signed.
func signKeepingRecord<E: Error>(_ record: SignerRecord?, db: String, trailIsNew: Bool = false, _ sign: () throws(E) -> SignedNote) throws(E) -> SignedNote {
    let missing = recordIsMissing(record)
    let before = record == nil ? newestStoredCheckpointSize(db) : nil
    let note = try sign()
    guard let size = try? Checkpoint(parsing: note.text).size else { return note }
    if record == nil && before != size { warnSignedWithoutRecord() }
    if !trailIsNew { noteStartedRecord(record, wasMissing: missing, size: size) }
    return note
}

/// Exit code for an audit-trail error (docs/cli.md).
func exitCode(for e: AuditError) -> Int32 {
    switch e.code {
    case .notATrail: return Exit.notATrail
    case .newerSchema: return Exit.newerSchema
    // A damaged file is a storage failure for every command but `audit verify`, which reports
    // it as its verdict (TAMPERED, exit 1): exit 1 means "rejected" to `verify`, and "report
    // written" to `report`.
    case .readOnly, .diskFull, .storage, .corrupt: return Exit.storage
    case .locked: return Exit.locked
    case .inconsistent, .invalidEntry, .tampered: return Exit.rejected
    default: return Exit.unreadable
    }
}

/// Prints an audit error as one line and returns the exit code to throw.
func fail(_ e: AuditError) -> ExitCode { fail(exitCode(for: e), "\(e.code.rawValue): \(e.reason)") }

/// Warns (once, on standard error) when the trail a command writes lives on a network file
/// system, where SQLite's WAL locking does not hold between hosts.
func warnIfNetworkFileSystem(_ db: String) {
    guard let type = AuditTrail.networkFileSystem(holding: db) else { return }
    printError("warning: network_file_system: \(db) is on a \(type) file system: SQLite's WAL locks and shared memory work only between processes on one host, so hosts sharing this trail could both accept one nonce, or corrupt it; keep each trail on a local disk, one per host")
}

/// Runs `body`, turning audit errors into one-line messages and exit codes.
func withTrail<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as AuditError { throw fail(e) } catch let e as SQLiteError {
        // A read that streams rows (`audit log`) surfaces SQLite's own error: it is a storage
        // problem like any other, with its stable code and exit status.
        throw fail(AuditError.from(e, doing: "reading the trail"))
    }
}

/// Reads a checkpoint file (`--checkpoint`, `--from`, `--against`): a signed note whose body
/// is a checkpoint. Either failing is `bad_input` (exit 2) before any key is asked about: a
/// well-signed note that holds no checkpoint is not a question of the log key.
func readCheckpointFile(_ path: String) throws -> SignedNote {
    let bytes = try readInput(path, limit: 1 << 20)
    let note: SignedNote
    do { note = try SignedNote(parsing: String(decoding: bytes, as: UTF8.self)) } catch {
        // The signature covers the exact bytes: CRLF line endings (a Windows editor, a mail
        // client) break a note that was sound.
        let crlf = String(validating: bytes, as: UTF8.self) != nil && zip(bytes, bytes.dropFirst()).contains { $0 == 0x0D && $1 == 0x0A }
        let hint = crlf ? " (the file has CRLF line endings: a signed note's lines end in LF alone; converting it back to LF endings, e.g. with dos2unix, restores it)" : ""
        throw fail(Exit.unreadable, "bad_input: \(path) is not a signed checkpoint: \(error)\(hint)")
    }
    do { _ = try Checkpoint(parsing: note.text) } catch {
        throw fail(Exit.unreadable, "bad_input: \(path) is a signed note, but its text is not a checkpoint: \(error)")
    }
    return note
}

func parseVerifierKey(_ text: String) throws -> NoteVerifier {
    var bytes: [UInt8]
    if FileSystem.kind(text) == .file { bytes = try readInput(text, limit: 4096) } else { bytes = Array(text.utf8) }
    // Trailing line ends, LF or CRLF (a Swift String would keep "\r\n" as one Character).
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
    let s = String(decoding: bytes, as: UTF8.self)
    do { return try NoteVerifier(vkey: s) } catch {
        throw fail(Exit.unreadable, "bad_input: --log-key is neither a vkey nor a file holding one: \(error)")
    }
}

extension MeterProofCommand {
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The tamper-evident audit trail: create, checkpoint, list, prove, verify, import.",
            subcommands: [Init.self, CheckpointCommand.self, Log.self, Prove.self, Consistency.self, VerifyTrail.self, Import.self]
        )
    }
}

extension MeterProofCommand.Audit {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create a trail and its Ed25519 log key.",
            discussion: "Writes the signer key to --signing-key (mode 0600) and prints the verifier key (vkey) as the last line. Refuses to overwrite an existing trail or key file, or to write a key where an earlier key's signer record (<key>.last-checkpoint) was left. Exit 0 created, 2 already_exists or bad_input (or random_failure), 5 read_only, disk_full or storage_error, 6 locked (another MeterProof process creating a trail or key in the same directory for 10 s), 64 on a bad invocation."
        )

        @Option(help: "Trail file to create.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(name: .customLong("signing-key"), help: "Where to write the log signer key (default: meterproof-log.key beside the trail, where audit import and audit checkpoint look).", transform: pathArgument)
        var signingKeyOption: String?

        /// Beside the trail by default, as `audit import` looks for it: in a container, the
        /// working directory is often not the volume that holds the trail.
        var signingKey: String { signingKeyOption ?? Defaults.logKey(besideTrail: db) }

        @Option(help: "The log's origin (checkpoint first line): no spaces, no '+', at most 1024 bytes. Default: meterproof.local/<random>.")
        var origin: String?

        func validate() throws {
            if let origin, origin.isEmpty || origin.contains(where: { $0 == " " || $0 == "+" || $0.isNewline }) {
                throw ValidationError("--origin must be non-empty, without spaces or '+'.")
            }
            if let origin, origin.utf8.count > NoteSigner.maxNameBytes {
                throw ValidationError("--origin must be at most \(NoteSigner.maxNameBytes) bytes long (it is \(origin.utf8.count)).")
            }
        }

        func run() throws {
            warnIfNetworkFileSystem(db)
            let vkey = try withTrail { () throws -> String in
                try withCreationLock(for: db, key: signingKey) {
                    try initTrail(db: db, signingKey: signingKey, origin: origin, record: SignerRecord.beside(keyFile: signingKey))
                }
            }
            writeOut("created \(db); log signer key written to \(signingKey) (keep it secret)\n\(vkey)\n")
        }
    }

    struct CheckpointCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint", abstract: "Sign and print a checkpoint of the current trail.",
            discussion: "Checks the entries the new checkpoint covers beyond the newest signed one before signing, and that the new tree extends the signer record (the newest checkpoint this key signed, kept in --signer-record, which it then replaces). Exit 0 signed, 1 the trail does not match its newest checkpoint or the signer record, or those entries were edited (inconsistent_checkpoint, trail_tampered, invalid_entry), 2 the signing key cannot be read or is not this log's, or the signer record cannot be read, is not this key's checkpoint or is not a regular file (bad_input, wrong_log_key), or the trail file is hard-linked or separately mounted (unsafe_location), 3 not a trail, 4 newer schema, 5 storage error (also: the signer record cannot be written; 2 when its directory is missing or it is a symbolic link), 6 trail locked, 64 on a bad invocation."
        )

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(name: .customLong("signing-key"), help: "The log signer key file (default: meterproof-log.key beside the trail).", transform: pathArgument)
        var signingKeyOption: String?

        @OptionGroup var signerRecord: SignerRecordOptions

        var signingKey: String { signingKeyOption ?? Defaults.logKey(besideTrail: db) }

        func run() throws {
            warnIfNetworkFileSystem(db)
            let note = try withTrail { () throws -> SignedNote in
                let signer = try LogKeyFile.read(signingKey)
                let record = try signerRecord.record(forKey: signingKey)
                return try signKeepingRecord(record, db: db) { try AuditTrail(path: db).signCheckpoint(with: signer, record: record) }
            }
            writeOut(note.serialized)
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prove", abstract: "Print a c2sp.org/tlog-proof@v1 inclusion proof for one entry.",
            discussion: "Exit 0 printed, 1 the checkpoint does not match the trail (inconsistent_checkpoint), 2 no such entry, no checkpoint, a checkpoint file that cannot be read or is not signed by this log (no_such_entry, no_checkpoint, bad_input, wrong_log_key), 3 not a trail, 4 newer schema, 5 storage error, 64 on a bad invocation."
        )

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(parsing: .unconditional, help: "The entry's seq.")
        var seq: UInt64

        @Option(help: "Prove against this checkpoint file (default: the trail's newest checkpoint).", transform: pathArgument)
        var checkpoint: String?

        func run() throws {
            let note = try checkpoint.map { try readCheckpointFile($0) }
            let proof = try withTrail { try AuditTrail(path: db, readOnly: true).inclusionProof(seq: seq, checkpoint: note) }
            writeOut(proof.serialized)
        }
    }

    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "consistency",
            abstract: "Prove that the trail's newest checkpoint extends an older one.",
            discussion: "Prints 'meterproof-consistency@v1', 'old N', 'new M', the RFC 9162 proof hashes (base64, one per line), a blank line and the newest checkpoint. Exit 1 if the older checkpoint is not part of this trail's history."
        )

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(help: "The older checkpoint file.", transform: pathArgument)
        var from: String

        func run() throws {
            let old = try readCheckpointFile(from)
            let text = try withTrail { () throws -> String in
                let trail = try AuditTrail(path: db, readOnly: true)
                let oldCP: Checkpoint
                do { oldCP = try Checkpoint(verifying: old, verifiers: [trail.verifier]) } catch {
                    throw AuditError(.wrongKey, "\(from) is not signed by this trail's log key: \(error)")
                }
                guard utf8Equal(oldCP.origin, trail.origin) else { throw AuditError(.wrongKey, "\(from) is for log \(oldCP.origin), not \(trail.origin)") }
                guard let newNote = try trail.latestCheckpoint() else { throw AuditError(.noCheckpoint, "the trail has no checkpoint yet") }
                let newCP = try Checkpoint(verifying: newNote, verifiers: [trail.verifier])
                guard oldCP.size <= newCP.size else {
                    throw AuditError(.inconsistent, "\(from) covers \(counted(oldCP.size, "entry", "entries")), more than the newest checkpoint (\(newCP.size)): the trail was truncated")
                }
                let proof = try trail.consistencyProof(from: oldCP.size, to: newCP.size)
                do { try RFC6962.verifyConsistency(size1: oldCP.size, size2: newCP.size, root1: oldCP.root, root2: newCP.root, proof: proof) } catch {
                    throw AuditError(.inconsistent, "\(from) is not consistent with the trail's newest checkpoint: \(error)")
                }
                return "meterproof-consistency@v1\nold \(oldCP.size)\nnew \(newCP.size)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n" + newNote.serialized
            }
            writeOut(text)
        }
    }

    struct VerifyTrail: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute and check the whole trail.",
            discussion: "Also checks that the trail extends the signer record (the newest checkpoint its key signed, kept beside the key; see --signer-record). Exit 0 when intact, 1 when tampered (the first bad seq and the reason are printed; also a file too damaged to open, or a trail that does not extend the signer record), 2 when --against, --log-key or --signer-record cannot be read or --db is a directory, FIFO, device or socket, 3 not a trail, 4 newer schema, 5 storage error, 6 locked, 64 on a bad invocation."
        )

        @Option(help: "Trail file.", transform: pathArgument)
        var db: String = Defaults.db

        @Option(help: "A checkpoint kept elsewhere that the trail must extend (catches truncation and wholesale rewrites).", transform: pathArgument)
        var against: String?

        @Option(name: .customLong("log-key"), help: "The expected log verifier key (vkey text or a file holding it).", transform: pathArgument)
        var logKey: String?

        @OptionGroup var signerRecord: SignerRecordCheckOptions

        @Option(help: "Output format: text or json.")
        var format: OutputFormat = .text

        func run() throws {
            let note = try against.map { try readCheckpointFile($0) }
            let key = try logKey.map { try parseVerifierKey($0) }
            let record = try signerRecord.record(besideTrail: db, logKey: key)
            let start = WallClock.monotonicSeconds()
            let r = try withTrail { try Self.verify(db, against: note, logKey: key, record: record) }
            let secs = WallClock.monotonicSeconds() - start
            switch format {
            case .json:
                writeOut(terminalJSON(.object(JSONObject([
                    ("intact", .bool(r.intact)), ("entries", .uint(r.entries)),
                    ("checkpointsVerified", .int(r.checkpointsVerified)),
                    ("root", r.problemCode == AuditError.Code.corrupt.rawValue ? .null : .string(r.root.base64)),
                    ("firstBadSeq", .uint(r.firstBadSeq)), ("problem", .str(r.problemCode)),
                    ("message", .str(r.problem)),
                    ("signerRecord", r.recordSize.map { size in .object(JSONObject([("path", .string(record?.path ?? "")), ("size", .uint(size))])) } ?? .null),
                ]))) + "\n")
            case .text:
                if r.intact {
                    writeOut("intact: \(counted(r.entries, "entry", "entries")), \(r.checkpointsVerified) checkpoint(s) verified, root \(r.root.base64) (\(decimal(secs, 2)) s)\n")
                    if let size = r.recordSize, let record {
                        writeOut("extends the signer record \(record.path) (size \(size))\n")
                    }
                    // Intact rows prove little about entries no signed checkpoint commits to (the
                    // stored ones, or the one given with --against).
                    if r.signedSize < r.entries {
                        let covered = r.signedSize, open = r.entries - covered
                        printError("note: \(covered == 0 ? "no checkpoint is stored, so nothing signed commits to this trail's \(counted(r.entries, "entry", "entries"))" : "\(counted(open, "entry", "entries")) after the latest checkpoint (seq \(covered) to \(r.entries - 1)) \(open == 1 ? "is" : "are") committed to by nothing signed yet"); sign a checkpoint (meterproof audit checkpoint) and keep a copy elsewhere")
                    }
                } else {
                    writeOut("TAMPERED: \(r.problemCode!)" + (r.firstBadSeq.map { " at seq \($0)" } ?? "") + ": \(oneLine(r.problem!))\n")
                }
            }
            if !r.intact { throw ExitCode(Exit.rejected) }
        }

        /// Opens and verifies; a file too damaged to open is a verdict (not intact,
        /// `corrupt_trail`), not a storage failure.
        static func verify(_ db: String, against note: SignedNote?, logKey key: NoteVerifier?, record: SignerRecord?) throws(AuditError) -> TrailVerification {
            let trail: AuditTrail
            do { trail = try AuditTrail(path: db, readOnly: true) } catch {
                if error.code == .corrupt { return TrailVerification(damaged: error) }
                throw error
            }
            return try trail.verify(against: note, logKey: key, record: record)
        }
    }
}

/// Creates a trail and its key file; on failure, neither is left behind. Call it inside
/// ``withCreationLock(for:key:_:)``.
///
/// The key is written under a temporary name first, the trail is created, and only then is
/// the key linked into place: a crash before the trail exists leaves no key under its final
/// name (a re-run starts clean), and one after leaves the trail with its key beside it under
/// the temporary `.creating-` name.
///
/// With a `record` (`nil`: `--no-signer-record`), the new key's signer record is started with
/// a signed checkpoint of the empty tree, so that a record missing later was removed (or the
/// trail predates records), not simply never written; one that already exists there, left by
/// an earlier key, is refused before anything is made.
func initTrail(db: String, signingKey: String, origin: String?, record: SignerRecord?) throws -> String {
    if FileSystem.exists(db) { throw AuditError(.alreadyExists, "\(db) already exists; refusing to overwrite it") }
    if FileSystem.exists(signingKey) { throw AuditError(.alreadyExists, "\(signingKey) already exists; refusing to overwrite a key file") }
    // A record left by an earlier key there would refuse the new key's first signing.
    if let record, FileSystem.exists(record.path) {
        throw AuditError(.alreadyExists, "\(record.path) already exists: it is the signer record of a log key that signed before. Keep it with that key (it shows what the key vouched for): move both away first, or give the new key another file name (--signing-key)")
    }
    var name = origin ?? ""
    // 48 of a fresh nonce's random bits name the log.
    if origin == nil {
        let nonce: String
        do { nonce = try Nonce.generate() } catch { throw fail(Exit.unreadable, "random_failure: \(error.reason)") }
        name = "meterproof.local/" + String(nonce.filter { $0 != "-" }.prefix(12))
    }
    let signer: NoteSigner
    do { signer = try NoteSigner.generate(name: name) } catch {
        let shown = name.count > 80 ? String(name.prefix(80)) + "…" : name
        throw AuditError(.badInput, "cannot create a log key named \(shown): \(error)")
    }
    let staged: String
    do { staged = try LogKeyFile.stage(signer, for: signingKey) } catch {
        // A secrets mount is read-only by design: the key is made elsewhere and copied in.
        let reason = error.code == .readOnly ? error.reason + ". To keep the key on read-only storage (a secret mount), create the trail and key where both can be written, then move the key there and name it with --signing-key (docs/audit-trail.md, \"A key on read-only storage\")" : error.reason
        throw AuditError(error.code, reason)
    }
    // A record that could not be written would leave the trail's first signing without one:
    // refused before the trail is made.
    do { try record?.preflight(verifier: signer.verifier, origin: name, trailSize: nil) } catch {
        unlink(staged)
        throw error
    }
    do { try AuditTrail.create(path: db, signer: signer) } catch {
        unlink(staged)
        throw error
    }
    do { try LogKeyFile.publish(staged, to: signingKey) } catch {
        // Only another program can have made the key file meanwhile (MeterProof creates under
        // the locks of both directories). The trail is made and may already be in use: keep it,
        // and its staged key, and say where that is.
        // Not an AuditError: an import must not take this for another creator's trail.
        throw fail(AuditError(error.code, "\(db) was created, but its log key could not be put in place: \(error.reason). Its key is in \(staged): move it to a safe place and pass it as --signing-key"))
    }
    if let record {
        do {
            try record.write(try Checkpoint(origin: name, size: 0, root: RFC6962.emptyRoot).signed(with: [signer]))
        } catch {
            // The trail and its key are made; the first signing starts the record instead.
            printError("warning: \(db) and its key were created, but the signer record \(record.path) could not be started (\((error as? AuditError)?.code.rawValue ?? "\(error)")); the first signing that can write it starts it")
        }
    }
    return signer.verifier.vkey
}

/// Runs `body` holding an exclusive lock (`flock`) on the directory that will hold `db` and on
/// the one that will hold its key file `key`, so MeterProof processes creating a trail or a key
/// there take turns: `audit init`, and the first use of `audit import`, which creates the trail
/// and its key when they are absent. The directories are locked in one order (by device and
/// inode), each at most once. Waits up to 10 s in all (then `locked`). Without a lock (a
/// missing directory, which `body` reports, or a file system that refuses `flock`) it runs
/// `body` anyway; creation itself never overwrites. SIGINT, SIGTERM and SIGHUP wait until
/// `body` is done (``deferringStopSignals(_:)``): a Ctrl-C used to leave a trail under its
/// final name with its key still under the staged `.creating-` name.
func withCreationLock<T>(for db: String, key: String, _ body: () throws -> T) throws -> T {
    var dirs: [(id: [UInt64], path: String, fd: Int32)] = []
    defer { for d in dirs { _ = flock(d.fd, LOCK_UN); close(d.fd) } }
    for path in [FileSystem.dirname(db), FileSystem.dirname(key)] {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        var st = stat()
        guard fstat(fd, &st) == 0, !dirs.contains(where: { $0.id == [UInt64(st.st_dev), UInt64(st.st_ino)] }) else { close(fd); continue }
        dirs.append(([UInt64(st.st_dev), UInt64(st.st_ino)], path, fd))
    }
    dirs.sort { $0.id.lexicographicallyPrecedes($1.id) }
    var waited = 0
    // A stop asked for while waiting (``catchStopSignals()`` installed) ends the command before
    // anything is made; one that comes later waits for the trail and key to be whole.
    func stopIfAsked() throws {
        if stopRequested.load(ordering: .relaxed) {
            throw fail(Exit.interrupted, "interrupted: stopped while waiting to create \(db); nothing was created")
        }
    }
    for d in dirs {
        while flock(d.fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { break }
            try stopIfAsked()
            if waited >= 10_000 {
                throw AuditError(.locked, "another MeterProof process has been creating a trail or log key in \(d.path) for 10 s; try again")
            }
            usleep(10_000)
            waited += 10
        }
    }
    try stopIfAsked()
    return try deferringStopSignals(body)
}
