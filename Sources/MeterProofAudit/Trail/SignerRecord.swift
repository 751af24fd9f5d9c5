#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// The log signer's own memory: the newest checkpoint its key signed, kept in a file outside
/// the trail (by default beside the signer key file, as `<key file>.last-checkpoint`).
///
/// A trail keeps every checkpoint it signed, but anyone who can write the trail file can delete
/// them, alter the entries they covered and recompute the hashes; the trail alone then shows
/// no contradiction, and its next signing would sign a fork of a history the key already
/// vouched for. With a record, signing first proves that the tree about to be signed extends the
/// recorded checkpoint (an RFC 9162 consistency proof from the trail's stored hashes, checked
/// against the recorded root and the root of the checked tree) and refuses otherwise
/// (`inconsistent_checkpoint`); after signing, the record is replaced by the new checkpoint.
///
/// The record is a signed checkpoint like any other, so `meterproof audit verify --against`
/// takes it too. It protects what it covers as long as whoever can write the trail cannot also
/// replace or delete the record: keep it with the key, on storage the trail's writers cannot
/// write. A missing record is started afresh at the next signing (trust on first use).
public struct SignerRecord: Sendable, Hashable {
    /// The record file.
    public let path: String

    /// A record at `path`.
    public init(path: String) { self.path = path }

    /// The default record of a signer key file: `<keyFile>.last-checkpoint`, beside the file the
    /// key really is: a symbolic link (a secrets mount linked into the trail's directory) is
    /// followed, so every name of one key file shares one record. A key file yet to be created
    /// gets the record beside its name.
    ///
    /// - Throws: `bad_input` when `keyFile` is not a regular file (a FIFO, `/dev/fd/N`, a
    ///   directory): there is no place beside it to keep a record, so one must be named; or a
    ///   symbolic link to nothing.
    public static func beside(keyFile: String) throws(AuditError) -> SignerRecord {
        var link = stat()
        // A key yet to be made keeps the record beside the name given.
        if lstat(keyFile, &link) != 0 { return SignerRecord(path: keyFile + ".last-checkpoint") }
        if let what = FileSystem.notARegularFile(keyFile) {
            if what.hasPrefix("a symbolic link") {
                // Not a key to read, nor a name a new key could take.
                throw AuditError(.badInput, "the signing key \(keyFile) is \(what): point it at the key file, or name the key file itself")
            }
            throw AuditError(.badInput, "the signing key \(keyFile) is \(what), so there is no place beside it for the signer record: name one with --signer-record FILE (on storage the trail's writers cannot write), or sign without one with --no-signer-record")
        }
        guard link.st_mode & S_IFMT == S_IFLNK, let real = realpath(keyFile, nil) else {
            return SignerRecord(path: keyFile + ".last-checkpoint")
        }
        defer { free(real) }
        return SignerRecord(path: String(cString: real) + ".last-checkpoint")
    }

    /// Checks, before long work that ends in signing (an import), what can be checked without
    /// the trail: the record, if any, is a checkpoint of `verifier`'s log, the trail does not
    /// hold fewer entries than it (`trailSize`, `nil` for a trail yet to be created, which
    /// must then find no record of size 1 or more), and the record's place can be written.
    package func preflight(verifier: NoteVerifier, origin: String, trailSize: UInt64?) throws(AuditError) {
        _ = try kept(verifier: verifier, origin: origin, held: trailSize)
        do { try AtomicFile.checkDestination(path) } catch {
            throw AuditError(error.code, "cannot keep the signer record \(path): \(error.reason)\(Self.elsewhere)")
        }
        let dir = AtomicFile.split(path).dir
        if access(dir, W_OK) != 0 {
            let err = errno
            throw AuditError(AtomicFile.error(err, "").code, "cannot keep the signer record \(path): its directory \(dir) is not writable (\(String(cString: strerror(err))))\(Self.elsewhere)")
        }
    }

    /// The recorded checkpoint, verified under `verifier`, of the log `origin`, and covering no
    /// more than the `held` entries (when given); `nil` when there is no record yet.
    ///
    /// - Throws: `bad_input` as ``read(verifier:)``; `inconsistent_checkpoint` for another log's
    ///   checkpoint or one ahead of the trail.
    func kept(verifier: NoteVerifier, origin: String, held: UInt64?) throws(AuditError) -> (note: SignedNote, checkpoint: Checkpoint)? {
        guard let kept = try read(verifier: verifier) else { return nil }
        let cp = kept.checkpoint
        guard NoteSyntax.same(cp.origin, origin) else {
            throw AuditError(.inconsistent, "the signer record \(path) holds a checkpoint of the log \(cp.origin), not of this trail's log \(origin): this key signs another log; refusing to sign")
        }
        if let held, cp.size > held { throw behind(cp.size, held) }
        return kept
    }

    /// The refusal for a trail holding fewer entries than the recorded checkpoint.
    func behind(_ recorded: UInt64, _ held: UInt64) -> AuditError {
        AuditError(.inconsistent, "this log key signed a checkpoint of size \(recorded) (the signer record \(path)), but the trail holds \(held) entries: it was cut back, or replaced by an older copy; refusing to sign. \(Self.wayForward(recorded))")
    }

    /// What to do about a trail that no longer extends what its key signed.
    static func wayForward(_ recorded: UInt64) -> String {
        "Restore a copy of the trail that holds those \(recorded) entries unchanged; if there is none, keep this file as evidence and start a new trail with a new key (move the trail, its key and this record away together, then meterproof audit init). Signing it anyway (--no-signer-record) would sign a fork of the log under its key"
    }

    /// What to do when the record cannot be kept where it is.
    static let elsewhere = "; name a writable place for it with --signer-record FILE (out of reach of the trail's writers), or sign without one with --no-signer-record"

    /// The record's note, parsed but not verified; `nil` when there is no record yet.
    ///
    /// - Throws: `bad_input` when the file cannot be read or is not a signed note.
    func readNote() throws(AuditError) -> SignedNote? {
        switch FileSystem.kind(path) {
        case .missing: return nil
        case .file: break
        default: throw AuditError(.badInput, "the signer record \(path) is not a regular file")
        }
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: NoteSyntax.maxSize) } catch {
            throw AuditError(.badInput, "cannot read the signer record \(path): \(error.message)")
        }
        do { return try SignedNote(parsing: String(decoding: bytes, as: UTF8.self)) } catch {
            throw AuditError(.badInput, "the signer record \(path) is not a signed note (\(error))")
        }
    }

    /// The recorded checkpoint, verified under `verifier`; `nil` when there is no record yet.
    ///
    /// - Throws: `bad_input` when the file cannot be read, is not a signed checkpoint, or is not
    ///   signed by `verifier` (a record of another key, or one that was tampered with).
    public func read(verifier: NoteVerifier) throws(AuditError) -> (note: SignedNote, checkpoint: Checkpoint)? {
        guard let note = try readNote() else { return nil }
        let hint = "; keep it (it shows what a key signed), and if it belongs to another key, give this key its own record with --signer-record FILE"
        do {
            return (note, try Checkpoint(verifying: note, verifiers: [verifier]))
        } catch {
            throw AuditError(.badInput, "the signer record \(path) is not a checkpoint signed by the log key \(verifier.name)+\(NoteSyntax.hex8(verifier.keyID)) (\(error))\(hint)")
        }
    }

    /// Replaces the record with `note` (a temporary file beside it, synced, renamed into place,
    /// the directory synced), so a crash leaves the old record or the new one, never a part.
    package func write(_ note: SignedNote) throws(AuditError) {
        do { try AtomicFile.write(Array(note.serialized.utf8), to: path) } catch {
            throw AuditError(error.code, "cannot keep the signer record \(path): \(error.reason)\(Self.elsewhere)")
        }
    }

    /// Checks that the tree of `size` entries with `root` extends the recorded checkpoint,
    /// proving it with the stored hashes of `trail`; returns the recorded note, if any, so the
    /// caller can tell whether it needs replacing.
    func check(trail: AuditTrail, size: UInt64, root: MerkleHash) throws -> SignedNote? {
        guard let kept = try kept(verifier: trail.verifier, origin: trail.origin, held: size) else { return nil }
        let cp = kept.checkpoint
        guard cp.size > 0 else { return kept.note }
        do {
            let proof = cp.size == size ? [] : try MerkleProofs.consistencyProof(size1: cp.size, size2: size, source: trail)
            try RFC6962.verifyConsistency(size1: cp.size, size2: size, root1: cp.root, root2: root, proof: proof)
        } catch let e as TransparencyError {
            throw AuditError(.inconsistent, "the trail does not extend the checkpoint of size \(cp.size) this log key signed before (the signer record \(path)): its history up to there was changed (\(e.message)); signing would fork the log, refusing. `meterproof audit verify` names what differs. \(Self.wayForward(cp.size))")
        }
        return kept.note
    }
}

extension AuditTrail {
    /// ``verify(against:logKey:batchSize:)``, then, on an intact trail, whether it extends the
    /// checkpoint in the signer `record` (what `meterproof audit verify` does with the record
    /// beside the trail's key): a trail whose checkpoints were deleted and whose history was
    /// rewritten agrees with itself, but not with what the key signed before. A missing record
    /// file checks nothing.
    ///
    /// Problems (see docs/audit-trail.md): `record_signature` the record is not signed by the
    /// log key (`logKey`, else the trail's own); `record_origin` it is another log's;
    /// `record_truncated` it covers more entries than the trail holds; `record_root_mismatch`
    /// the trail's history up to its size differs. When it holds, ``TrailVerification/recordSize``
    /// is its size, and ``TrailVerification/signedSize`` covers it.
    ///
    /// - Throws: `bad_input` when the record cannot be read or is not a signed note; the
    ///   errors of ``verify(against:logKey:batchSize:)``.
    public func verify(against: SignedNote? = nil, logKey: NoteVerifier? = nil, record: SignerRecord?) throws(AuditError) -> TrailVerification {
        // Read before the pass takes its snapshot: a signing that ends during the pass replaces
        // the record with a checkpoint of entries the snapshot does not hold.
        try verify(against: against, logKey: logKey, record: record, note: record?.readNote())
    }

    /// ``verify(against:logKey:record:)`` with the record's `note` read by the caller, before
    /// any read transaction it runs this in began (a report reads the trail in one snapshot).
    package func verify(against: SignedNote?, logKey: NoteVerifier?, record: SignerRecord?, note: SignedNote?) throws(AuditError) -> TrailVerification {
        var result = try verify(against: against, logKey: logKey)
        guard result.intact, let record, let note else { return result }
        func fail(_ code: String, _ message: String, seq: UInt64? = nil) -> TrailVerification { result.failed(code, message, seq: seq) }
        let key = logKey ?? verifier
        let cp: Checkpoint
        do { cp = try Checkpoint(verifying: note, verifiers: [key]) } catch {
            return fail("record_signature", "the signer record \(record.path) is not a checkpoint signed by \(key.name)+\(NoteSyntax.hex8(key.keyID)) (\(error)): the trail was replaced under another key, or the record is another key's")
        }
        guard NoteSyntax.same(cp.origin, origin) else {
            return fail("record_origin", "the signer record \(record.path) is for log \(cp.origin), not \(origin)")
        }
        guard cp.size <= result.entries else {
            return fail("record_truncated", "the signer record \(record.path) holds a checkpoint of \(cp.size) entries but the trail has only \(result.entries): if this is the live trail, it was cut back or replaced by an older copy (\(SignerRecord.wayForward(cp.size))); an older backup checked beside the live trail's key reads so too (check a backup with --no-signer-record)", seq: result.entries)
        }
        // Every stored hash was just checked against the entries, so the stored tree's root at
        // the record's size is the entries' own.
        guard try root(size: cp.size) == cp.root else {
            return fail("record_root_mismatch", "the trail's history up to size \(cp.size) differs from the checkpoint in the signer record \(record.path): the log key signed another history (this one rewritten since, or another trail signed with the same key)")
        }
        result.signedSize = max(result.signedSize, cp.size)
        result.recordSize = cp.size
        return result
    }
}
