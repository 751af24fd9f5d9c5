import MeterProof

/// Why an audit-trail operation failed: a stable code and a sentence.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why an audit-trail operation failed; compare against the static members. A struct over a
    /// private enum, so new codes can be added without breaking callers' `switch` statements.
    public struct Code: EnumBackedCode {
        package enum Backing: String, CaseIterable, Sendable {
            case notATrail = "not_a_trail"
            case newerSchema = "newer_schema"
            case alreadyExists = "already_exists"
            case readOnly = "read_only"
            case diskFull = "disk_full"
            case locked = "locked"
            case storage = "storage_error"
            case invalidEntry = "invalid_entry"
            case noSuchEntry = "no_such_entry"
            case noCheckpoint = "no_checkpoint"
            case wrongKey = "wrong_log_key"
            case inconsistent = "inconsistent_checkpoint"
            case badInput = "bad_input"
            case corrupt = "corrupt_trail"
            case tampered = "trail_tampered"
            case unsafeLocation = "unsafe_location"
        }
        package let backing: Backing
        package init(_ b: Backing) { backing = b }

        /// The file is not a MeterProof trail (wrong `application_id`, or not SQLite at all).
        public static let notATrail = Code(.notATrail)
        /// The trail was written by a newer MeterProof (higher `user_version`).
        public static let newerSchema = Code(.newerSchema)
        /// Creating a trail or writing a log key file refuses to overwrite an existing one
        /// (`AuditTrail.create`, `LogKeyFile.write`, `audit init`).
        public static let alreadyExists = Code(.alreadyExists)
        /// The file or its directory is read-only.
        public static let readOnly = Code(.readOnly)
        /// The disk is full; nothing was half-written (the transaction rolled back).
        public static let diskFull = Code(.diskFull)
        /// Another writer held the database past the busy timeout.
        public static let locked = Code(.locked)
        /// Any other SQLite failure (the message carries SQLite's extended code).
        public static let storage = Code(.storage)
        /// An entry is not of the entry shape or not canonical; or it cannot be recorded as
        /// given (an unbound result recorded as a live acceptance, a key that is not the entry's).
        public static let invalidEntry = Code(.invalidEntry)
        /// The requested seq does not exist.
        public static let noSuchEntry = Code(.noSuchEntry)
        /// No checkpoint has been signed yet.
        public static let noCheckpoint = Code(.noCheckpoint)
        /// A signer key, verifier key or checkpoint given does not belong to this trail's log
        /// (signing, `openOrCreate`, proving against a checkpoint).
        public static let wrongKey = Code(.wrongKey)
        /// A checkpoint does not match the trail's history.
        public static let inconsistent = Code(.inconsistent)
        /// An input is malformed or unusable: a file given (log key, captures file), a trail path
        /// that is a directory, FIFO, device or socket, or a request no answer exists for (a
        /// consistency proof from size 0, or from a larger size to a smaller one).
        public static let badInput = Code(.badInput)
        /// SQLite reports the trail file's pages malformed: the file was truncated, overwritten
        /// or otherwise damaged below the level of rows (`audit verify` reports it as not intact).
        public static let corrupt = Code(.corrupt)
        /// Entries no signed checkpoint covers yet fail a check `audit verify` makes (their bytes
        /// and hashes, or the nonce or captures table disagree): signing a checkpoint, and so an
        /// export with a signing key, refuses to vouch for them.
        public static let tampered = Code(.tampered)
        /// The trail file is reachable under another directory (mounted on its own, as by a
        /// single-file bind mount or a Kubernetes `subPath`, or hard-linked): SQLite keeps the
        /// write-ahead log and locks beside each name, so writers through different names would
        /// not exclude each other. Writing is refused.
        public static let unsafeLocation = Code(.unsafeLocation)
    }

    /// The stable code.
    public var code: Code
    /// A human sentence; its wording may change.
    public var reason: String

    /// An error with a stable `code` and a human `reason`.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `code: reason`, e.g. `not_a_trail: …`.
    public var description: String { "\(code.rawValue): \(reason)" }

    /// Maps a SQLite failure to the audit error a user can act on (`locked`, `read_only`,
    /// `disk_full`, `not_a_trail`, `corrupt_trail`, else `storage_error`), its message starting
    /// with `what`.
    package static func from(_ e: SQLiteError, doing what: String) -> AuditError {
        if e.isBusy || e.resultCode == 6 /* SQLITE_LOCKED */ {
            return AuditError(.locked, "\(what): the trail is locked by another writer (\(e.description))")
        }
        if e.isReadOnly { return AuditError(.readOnly, "\(what): the trail is read-only (\(e.description))") }
        if e.isFull { return AuditError(.diskFull, "\(what): the disk is full; nothing was half-written (SQLite rolls back what it could not finish) (\(e.description))") }
        if e.isNotADatabase { return AuditError(.notATrail, "\(what): not an SQLite database (\(e.description))") }
        if e.isCorrupt {
            return AuditError(.corrupt, "\(what): the trail file is damaged, its pages are malformed (truncated or overwritten; \(e.description))")
        }
        if e.isCantOpen {
            return AuditError(.storage, "\(what): cannot open the trail file (\(e.description))")
        }
        return AuditError(.storage, "\(what): \(e.description)")
    }
}
