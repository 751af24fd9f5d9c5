#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// The append-only, tamper-evident audit trail: one SQLite file.
///
/// Every recorded attempt is a leaf of an RFC 6962 Merkle tree; the trail stores each entry's
/// canonical bytes and its leaf hash, and the completed subtree hashes of every fourth level
/// (each level between is recomputed from at most 8 stored hashes), so appending is O(log n)
/// and proofs are O(log n) lookups. Checkpoints are C2SP signed notes (Ed25519).
///
/// One `AuditTrail` owns one SQLite connection and is not `Sendable`: open one per thread or
/// process. Any number of processes may append to the same file at once; `BEGIN IMMEDIATE`
/// serializes them and the nonce table's primary key makes "accepted at most once" atomic.
public final class AuditTrail {
    /// `PRAGMA application_id` of every MeterProof trail: ASCII "MPTR".
    public static let applicationID: Int64 = 0x4D50_5452
    /// The schema version this build writes (`PRAGMA user_version`).
    ///
    /// - 1: every imported entry has a row in `captures`.
    /// - 2: an accepted entry that consumed a nonce has none: its nonce row leads to it, and
    ///   the entry records its line hash. A version-1 trail is read as it is and migrated the
    ///   first time it is opened for writing (its redundant `captures` rows are removed).
    public static let schemaVersion: Int64 = 2

    let db: SQLiteDatabase
    /// How the file was opened (readers fall back to `.immutable` where they cannot lock).
    let openMode: SQLiteDatabase.OpenMode
    /// The trail file's path, as given when it was opened or created.
    public let path: String
    /// The log's origin line (the name in its checkpoints).
    public let origin: String
    /// The log's public key (C2SP vkey), as stored in the trail.
    public let verifier: NoteVerifier
    /// Cached right edge of the tree; revalidated against the file at each write.
    private var frontier = MerkleFrontier()
    /// The entries this object appended itself, when they are the newest of the trail and
    /// contiguous: signing a checkpoint does not re-read them (see ``signCheckpoint(with:)``).
    /// With them, the root of the tree where they start, as this object's frontier had it, and
    /// the `nonces` and `captures` rows it inserted for them. (Their end root is the frontier's.)
    private var ownTail: (range: Range<UInt64>, startRoot: MerkleHash, nonceRows: Int64, captureRows: Int64)? = nil
    /// Key fingerprints known to be in the `keys` table (filled after commits only).
    private var knownKeys = Set<String>()
    /// Checkpoints already verified under this trail's key, by their exact text: proving many
    /// entries against one checkpoint checks its Ed25519 signature once.
    private var verifiedCheckpoints: [String: Checkpoint] = [:]

    // MARK: Creating and opening

    /// The page size a new trail is created with (existing trails keep theirs).
    package static let newTrailPageSize = 8192

    /// Creates a new, empty trail at `path` for the log key `signer`. Refuses to overwrite.
    ///
    /// The file is built under a temporary name and linked into place only when complete,
    /// so a crash leaves either no trail or a whole one.
    @discardableResult
    public static func create(path: String, signer: NoteSigner) throws(AuditError) -> AuditTrail {
        try create(path: path, logKey: signer.verifier)
    }

    /// Creates a new, empty trail at `path` for the log whose public key is `logKey`: the trail
    /// stores only the log's name and public key, so the machines that verify and record need
    /// not hold the signer key (checkpoints are signed where it is kept). Refuses to overwrite.
    @discardableResult
    public static func create(path: String, logKey: NoteVerifier) throws(AuditError) -> AuditTrail {
        if access(path, F_OK) == 0 {
            throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite it")
        }
        try refuseLeftoverSideFiles(path)
        // SQLite would say only that it cannot open the file.
        let dir = AtomicFile.split(path).dir
        guard FileSystem.kind(dir) == .directory else {
            throw AuditError(.badInput, "cannot create \(path): directory \(dir) does not exist")
        }
        // Unique per call, not just per process: two threads may create the same trail at once.
        let tmp = path + ".creating-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        unlink(tmp)
        do {
            let db = try SQLiteDatabase(path: tmp, mode: .readWriteCreate)
            // 8 KiB pages: an imported entry (about 1.1 KB) leaves a fifth of a 4 KiB page unused,
            // an eighth page at most of 8 KiB; a 100k-capture import writes 13 % fewer bytes.
            try db.execute("PRAGMA page_size=\(newTrailPageSize)")
            try db.execute("PRAGMA journal_mode=WAL")
            try db.execute("PRAGMA synchronous=FULL")
            try db.transaction(.immediate) {
                try db.execute(schemaSQL)
                try db.execute("PRAGMA application_id=\(applicationID)")
                try db.execute("PRAGMA user_version=\(schemaVersion)")
                let ins = try db.prepare("INSERT INTO meta(name, value) VALUES (?, ?)")
                for (k, v) in [("origin", logKey.name), ("vkey", logKey.vkey),
                               ("created_at", RFC3339.format(milliseconds: WallClock.nowMilliseconds())),
                               ("created_by", "meterproof \(MeterProofVersion.string)")] {
                    try ins.bind(k, at: 1)
                    try ins.bind(v, at: 2)
                    try ins.run()
                    ins.reset()
                }
            }
            // Fold the WAL into the main file so the linked file is complete on its own.
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch let e as SQLiteError {
            removeDatabaseFiles(tmp)
            throw AuditError.from(e, doing: "creating \(path)")
        } catch {
            removeDatabaseFiles(tmp)
            throw AuditError(.storage, "creating \(path): \(error)")
        }
        // Again just before the link: the window left is the link itself.
        do { try refuseLeftoverSideFiles(path) } catch {
            removeDatabaseFiles(tmp)
            throw error
        }
        // link() fails with EEXIST instead of replacing: the no-overwrite promise holds even against a race.
        if link(tmp, path) != 0 {
            let err = errno
            removeDatabaseFiles(tmp)
            if err == EEXIST { throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite it") }
            throw AtomicFile.error(err, "cannot create \(path)")
        }
        removeDatabaseFiles(tmp)
        return try AuditTrail(path: path)
    }

    /// SQLite pairs `<path>-wal` and `<path>-journal` with whatever file has the name: the
    /// non-empty leftover of a trail that was deleted while its side files stayed would be
    /// replayed into a new trail, which would then hold another log's entries, or be corrupt.
    /// Empty ones (what a reader leaves beside a closed trail) hold nothing to replay, and a
    /// `-shm` is rebuilt by the first connection, so those do not stop a new trail.
    static func refuseLeftoverSideFiles(_ path: String) throws(AuditError) {
        for side in ["-wal", "-journal"] {
            var st = stat()
            guard stat(path + side, &st) == 0, st.st_size > 0 else { continue }
            // Another process may have just created the trail (and opened it).
            if access(path, F_OK) == 0 { throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite it") }
            throw AuditError(.alreadyExists, "\(path + side) exists and is not empty, left over from a trail that was at \(path): SQLite would replay it into the new trail. Delete it (and \(path)'s other -wal, -shm and -journal files) if that trail is meant to be gone, or put the trail back beside it")
        }
    }

    static func removeDatabaseFiles(_ p: String) {
        unlink(p); unlink(p + "-wal"); unlink(p + "-shm"); unlink(p + "-journal")
    }

    /// Opens the trail at `path`, creating it first if there is none: what a program does on
    /// its first start. Safe when several processes start at once: one creates it, the others
    /// open what it created. An existing trail must belong to the log `logKey`, else
    /// `wrong_log_key`. Also throws what ``init(path:readOnly:busyTimeoutMilliseconds:)`` and
    /// ``create(path:logKey:)`` throw, `unsafe_location` included.
    public static func openOrCreate(path: String, logKey: NoteVerifier) throws(AuditError) -> AuditTrail {
        let trail: AuditTrail
        if access(path, F_OK) == 0 {
            trail = try AuditTrail(path: path)
        } else {
            do { trail = try create(path: path, logKey: logKey) } catch where error.code == .alreadyExists {
                // Another process created it meanwhile; if there is still no trail, the refusal
                // was about something else (a leftover -wal of a deleted trail): say that.
                guard access(path, F_OK) == 0 else { throw error }
                trail = try AuditTrail(path: path)
            }
        }
        guard utf8Equal(trail.verifier.vkey, logKey.vkey) else {
            throw AuditError(.wrongKey, "\(path) belongs to the log \(trail.verifier.vkey), not \(logKey.vkey)")
        }
        return trail
    }

    /// Opens an existing trail.
    ///
    /// - Throws: `not_a_trail` if the file is absent, not SQLite, or another application's
    ///   database; `bad_input` if the path is a directory, FIFO, device or socket; `corrupt_trail` if SQLite finds its
    ///   pages malformed; `newer_schema` if a newer MeterProof wrote it; `unsafe_location`
    ///   (not `readOnly`) if the file is a mount point of its own or has more than one hard link,
    ///   so processes reaching it through different directories would keep separate `-wal` and
    ///   `-shm` files (mount the directory instead); `locked`, `read_only`, `storage_error`.
    public convenience init(path: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int32 = 10_000) throws(AuditError) {
        guard access(path, F_OK) == 0 else {
            var ls = stat()
            if lstat(path, &ls) == 0, (ls.st_mode & S_IFMT) == S_IFLNK {
                // `audit init` would refuse the name too: say what is there.
                throw AuditError(.notATrail, "\(path) is a symbolic link to \(FileSystem.linkTarget(path).map { "\"\($0)\"" } ?? "a file"), which does not exist: no audit trail there")
            }
            throw AuditError(.notATrail, "no audit trail at \(path) (create one with `meterproof audit init`)")
        }
        // SQLite would call a directory a disk I/O error; say what it is.
        switch FileSystem.kind(path) {
        case .directory: throw AuditError(.badInput, "\(path) is a directory, not a trail file")
        // Opening a FIFO would wait for a writer for ever; a device or socket is no trail either.
        case .other: throw AuditError(.badInput, "\(path) is not a regular file (a FIFO, device or socket), not a trail file")
        case .file, .missing: break
        }
        if !readOnly {
            if let why = Self.unsafeLocation(of: path) { throw AuditError(.unsafeLocation, why) }
            if let why = Self.unwritableSideFile(of: path) { throw AuditError(.readOnly, why) }
        }
        do {
            try self.init(path: path, mode: readOnly ? .readOnly : .readWrite, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch where readOnly && (error.code == .readOnly || error.code == .storage) {
            // A reader that may not create the WAL's side files (a copy in a directory it cannot
            // write): open the file as immutable instead, without locks or side files.
            try self.init(path: path, mode: .immutable, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        }
    }

    private init(path: String, mode: SQLiteDatabase.OpenMode, busyTimeoutMilliseconds: Int32) throws(AuditError) {
        self.path = path
        self.openMode = mode
        let readOnly = mode != .readWrite
        do {
            db = try SQLiteDatabase(path: path, mode: mode, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            let app = try db.pragmaInt("application_id")
            guard app == Self.applicationID else {
                var st = stat()
                if app == 0, stat(path, &st) == 0, st.st_size == 0 {
                    // What a `touch` or a misconfigured file mount leaves; `audit init` refuses it.
                    throw AuditError(.notATrail, "\(path) is an empty file, not a MeterProof audit trail (remove it, then create the trail with `meterproof audit init`)")
                }
                throw AuditError(.notATrail, "\(path) is not a MeterProof audit trail (application_id \(app))")
            }
            let version = try db.pragmaInt("user_version")
            guard version <= Self.schemaVersion else {
                throw AuditError(.newerSchema, "\(path) has schema version \(version); this MeterProof reads up to \(Self.schemaVersion)")
            }
            guard version >= 1 else {
                throw AuditError(.notATrail, "\(path) has unknown schema version \(version)")
            }
            try db.setDefensive(true)
            try db.execute("PRAGMA trusted_schema=OFF")
            if !readOnly {
                try db.execute("PRAGMA synchronous=FULL")
                try db.setTriggersEnabled(false)
            }
            try db.execute("PRAGMA cache_size=-16384")
            let meta = try db.prepare("SELECT value FROM meta WHERE name = ?")
            func value(_ k: String) throws -> String {
                try meta.bind(k, at: 1)
                defer { meta.reset() }
                guard try meta.step(), let v = meta.string(at: 0) else {
                    throw AuditError(.notATrail, "\(path) lacks its \(k) record")
                }
                return v
            }
            origin = try value("origin")
            let vkeyText = try value("vkey")
            do { verifier = try NoteVerifier(vkey: vkeyText) } catch {
                throw AuditError(.notATrail, "\(path) holds an unreadable log key: \(error)")
            }
            // Only a file that opened as a whole trail is changed.
            if !readOnly && version == 1 { try Self.migrateFromVersion1(db) }
        } catch let e as AuditError {
            throw e
        } catch let e as SQLiteError {
            // A writer (or a WAL reader) must create `-wal` and `-shm` beside the file: in a
            // directory it cannot write, SQLite only says it cannot open the file.
            let dir = FileSystem.dirname(path)
            if e.isCantOpen, access(dir, W_OK) != 0, access(path, R_OK) == 0 {
                throw AuditError(.readOnly, "opening \(path): its directory \(dir) is read-only, and the trail needs to create its -wal and -shm files there (\(e.description))")
            }
            throw AuditError.from(e, doing: "opening \(path)")
        } catch {
            throw AuditError(.storage, "opening \(path): \(error)")
        }
    }

    /// Schema 1 → 2, in one transaction (another process may have done it meanwhile). A
    /// `captures` row goes only if schema 2 would not write it and it is exactly what schema 1
    /// wrote: it points at an accepted entry that consumed a nonce, and that entry records the
    /// row's hash. Any other row stays, so a forged one is still reported by `audit verify`.
    /// Only that index shrinks; entries, hashes, nonces and checkpoints are untouched. The
    /// migration is recorded in `meta` (`migrated_to_schema_2`: when, and how many rows went).
    private static func migrateFromVersion1(_ db: SQLiteDatabase) throws {
        try db.transaction(.immediate) {
            guard try db.pragmaInt("user_version") == 1 else { return }
            // The rows to remove are collected first (in a temporary table, so memory stays flat):
            // SQLite does not promise a scan of a table that is being changed meanwhile.
            try db.execute("CREATE TEMP TABLE migrate_redundant(hash BLOB PRIMARY KEY) WITHOUT ROWID")
            defer { try? db.execute("DROP TABLE IF EXISTS temp.migrate_redundant") }
            let rows = try db.prepare("SELECT c.hash, c.seq, e.body FROM captures c JOIN entries e ON e.seq = c.seq")
            let mark = try db.prepare("INSERT INTO temp.migrate_redundant(hash) VALUES (?)")
            var removed = 0
            while try rows.step() {
                let redundant = rows.withBlob(at: 2) { body -> Bool in
                    guard case .success(let s) = AuditEntry.checkCanonical(body), s.seq == UInt64(bitPattern: rows.int64(at: 1)),
                          s.captureRowHash(schema1: false) == nil, let h = s.captureRowHash(schema1: true) else { return false }
                    return rows.withBlob(at: 0) { $0.elementsEqual(h) }
                }
                guard redundant else { continue }
                try rows.withBlob(at: 0) { try mark.bind($0, at: 1) }
                try mark.run()
                mark.reset()
                removed += 1
            }
            rows.reset()
            try db.execute("DELETE FROM captures WHERE hash IN (SELECT hash FROM temp.migrate_redundant)")
            let note = try db.prepare("INSERT INTO meta(name, value) VALUES ('migrated_to_schema_2', ?)")
            try note.bind("\(RFC3339.format(milliseconds: WallClock.nowMilliseconds())); \(removed) captures rows of accepted entries removed", at: 1)
            try note.run()
            try db.execute("PRAGMA user_version=2")
        }
    }

    /// Whether `captures` also holds the lines of accepted entries that consumed a nonce
    /// (schema 1). Read in the caller's transaction: a writer may migrate the file meanwhile.
    func capturesIncludeNonceEntries() throws -> Bool {
        try db.pragmaInt("user_version") == 1
    }

    static let schemaSQL = """
    CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE entries(seq INTEGER PRIMARY KEY, body BLOB NOT NULL, leaf_hash BLOB NOT NULL);
    CREATE TABLE nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(level, idx)) WITHOUT ROWID;
    CREATE TABLE nonces(product_code TEXT NOT NULL, nonce TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(product_code, nonce)) WITHOUT ROWID;
    CREATE TABLE checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL, signed_at TEXT NOT NULL);
    CREATE TABLE captures(hash BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE keys(fingerprint TEXT PRIMARY KEY, version INTEGER NOT NULL, spki BLOB NOT NULL, first_seq INTEGER NOT NULL) WITHOUT ROWID;
    """ + [("meta", ["name"]), ("entries", ["seq"]), ("nodes", ["level", "idx"]), ("nonces", ["product_code", "nonce"]),
           ("checkpoints", ["size"]), ("captures", ["hash"]), ("keys", ["fingerprint"])].map { t, key in
        // `INSERT OR REPLACE` deletes the row it conflicts with without firing DELETE triggers
        // (unless recursive_triggers is on), so inserting over an existing key is refused too.
        // For nonces and keys the guard ignores the row instead, which is what the append's
        // `ON CONFLICT DO NOTHING` already does with it.
        let sameKey = key.map { "\($0) = NEW.\($0)" }.joined(separator: " AND ")
        let onReplace = (t == "nonces" || t == "keys") ? "RAISE(IGNORE)" : "RAISE(ABORT, 'meterproof: the audit trail is append-only')"
        return """

        CREATE TRIGGER \(t)_no_update BEFORE UPDATE ON \(t) BEGIN SELECT RAISE(ABORT, 'meterproof: the audit trail is append-only'); END;
        CREATE TRIGGER \(t)_no_delete BEFORE DELETE ON \(t) BEGIN SELECT RAISE(ABORT, 'meterproof: the audit trail is append-only'); END;
        CREATE TRIGGER \(t)_no_replace BEFORE INSERT ON \(t) WHEN EXISTS (SELECT 1 FROM \(t) WHERE \(sameKey)) BEGIN SELECT \(onReplace); END;
        """
    }.joined()

    // MARK: Reading

    /// Number of entries (the tree size).
    public func size() throws(AuditError) -> UInt64 {
        try currentSize()
    }

    /// One more than the highest stored seq. A highest or lowest seq that is negative or
    /// `Int64.max` can only come from editing the file; it is refused (`inconsistent`) rather
    /// than trusted, so no size or seq derived from it can overflow and no command signs,
    /// proves or exports over a row no trail can hold. (Two index seeks.)
    func currentSize() throws(AuditError) -> UInt64 {
        let low: Int64, high: Int64
        do {
            let st = try db.cachedStatement("SELECT (SELECT seq FROM entries ORDER BY seq LIMIT 1), (SELECT seq FROM entries ORDER BY seq DESC LIMIT 1)")
            defer { st.reset() }
            guard try st.step(), !st.isNull(at: 1) else { return 0 }
            low = st.int64(at: 0)
            high = st.int64(at: 1)
        } catch { throw AuditError.from(error, doing: "reading \(path)") }
        _ = try Self.storedIndex(low, "the lowest entry seq")
        return try Self.storedIndex(high, "the highest entry seq") + 1
    }

    /// A seq or size read from the file, refused (`inconsistent`) when it is negative or
    /// `Int64.max` (no trail reaches either; only an edited file holds them).
    static func storedIndex(_ value: Int64, _ what: String) throws(AuditError) -> UInt64 {
        guard value >= 0, value < Int64.max else {
            throw AuditError(.inconsistent, "\(what) stored in the trail is \(value), which no trail can hold: the file was altered (run `meterproof audit verify`)")
        }
        return UInt64(value)
    }

    /// The stored canonical bytes of entry `seq`.
    public func entryBytes(_ seq: UInt64) throws(AuditError) -> [UInt8] {
        do {
            let st = try db.cachedStatement("SELECT body FROM entries WHERE seq = ?")
            defer { st.reset() }
            try st.bind(Int64(bitPattern: seq), at: 1)
            guard try st.step(), let b = st.blob(at: 0) else { throw AuditError(.noSuchEntry, "no entry with seq \(seq)") }
            return b
        } catch let e as AuditError { throw e } catch let e as SQLiteError { throw AuditError.from(e, doing: "reading entry \(seq)") } catch {
            throw AuditError(.storage, "\(error)")
        }
    }

    /// Entry `seq`, decoded.
    public func entry(_ seq: UInt64) throws(AuditError) -> AuditEntry {
        let bytes = try entryBytes(seq)
        do { return try AuditEntry(canonicalBytes: bytes) } catch {
            throw AuditError(error.code, "entry \(seq): \(error.reason)")
        }
    }

    /// Calls `body` with each entry's seq and canonical bytes, in order, from `start` to `end` (exclusive).
    /// The bytes are valid only during the call. Memory use does not grow with the trail.
    ///
    /// A trail holding a seq no trail can hold (negative, or `Int64.max`: an edited file) is
    /// refused (`inconsistent`) before the first call, as every other reader refuses it, rather
    /// than listed without that row.
    public func forEachEntry(from start: UInt64 = 0, to end: UInt64 = UInt64(Int64.max), _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void) throws {
        _ = try currentSize()
        let st = try db.prepare("SELECT seq, body FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq")
        // Clamped like `end`: a start past Int64.max read as a negative seq listed everything.
        try st.bind(Int64(min(start, UInt64(Int64.max))), at: 1)
        try st.bind(Int64(min(end, UInt64(Int64.max))), at: 2)
        while try st.step() {
            let seq = try Self.storedIndex(st.int64(at: 0), "an entry seq")
            try st.withBlob(at: 1) { try body(seq, $0) }
        }
    }

    // MARK: Appending

    /// One item to append.
    public struct Pending: Sendable {
        /// Changing it (or ``captureHash``) drops any preparation: the append then serializes
        /// the entry as it is.
        public var entry: AuditEntry { didSet { prepared = nil } }
        /// For imports: the capture line's hash. An item whose line the trail already holds is
        /// skipped: found by this hash in the `captures` table, or, for a line accepted before,
        /// through the nonce its entry carries (that entry records the same hash).
        public var captureHash: [UInt8]? { didSet { prepared = nil } }
        /// The public key that verified the entry's signature, remembered in the trail so
        /// exports can bundle every key an auditor needs. When it is new to the trail, the append
        /// checks that its SHA-256 is the entry's `keyFingerprint` and, for an accepted entry,
        /// that its version is the entry's `publicKeyVersion` (`invalid_entry` otherwise, and
        /// nothing is written). A key for a fingerprint the trail already holds is neither
        /// checked nor written again: the stored key stays, whatever is passed here.
        public var key: (version: Int, spkiDER: [UInt8])?
        /// Set by ``prepare()``; cleared by any later change to `entry` or `captureHash`.
        var prepared: PreparedEntry? = nil
        /// An import's placeholder for a line its pre-check found in the trail: the append must
        /// find it too (the trail is append-only), and refuses to record the placeholder if not.
        var knownDuplicate = false

        /// The line hash the item is deduplicated by: its own `captureHash`, else the entry's
        /// (hex) one.
        var captureKey: [UInt8]? { captureHash ?? entry.captureHash.flatMap { Hex.decode($0) } }

        /// An item for `entry` as it is. `key` is the key that verified it (version, DER SPKI): an
        /// accepted entry appended without one cannot be exported (`missing_key`) unless the trail
        /// already holds that key. For a verification result prefer
        /// ``init(result:keyring:source:capture:captureHash:)``, which takes the key from the keyring.
        public init(entry: AuditEntry, captureHash: [UInt8]? = nil, key: (version: Int, spkiDER: [UInt8])? = nil) {
            self.entry = entry
            self.captureHash = captureHash
            self.key = key
        }

        /// The entry for `result`, with the verifying key taken from `keyring`, which must be the
        /// verifier's: a keyring without that key records none, and an accepted entry without
        /// its key cannot be exported (`missing_key`) unless the trail already holds the key.
        /// (``AuditTrail/record(_:keyring:)`` refuses such a keyring outright.)
        public init(result: VerificationResult, keyring: Keyring, source: EntrySource, capture: CaptureOrigin? = nil, captureHash: [UInt8]? = nil) {
            self.entry = AuditEntry(result: result, source: source, capture: capture)
            self.captureHash = captureHash
            if let fp = result.keyFingerprint, let v = result.keyVersion, let k = keyring[v], utf8Equal(k.key.fingerprint, fp) {
                self.key = (v, k.key.spkiDER)
            }
        }
    }

    /// A public key the trail has seen verify an entry.
    public struct RecordedKey: Sendable, Hashable {
        /// Lowercase hex SHA-256 of ``spkiDER``.
        public let fingerprint: String
        /// The `PublicKeyVersion` the key verified entries under.
        public let version: Int
        /// The key's DER SubjectPublicKeyInfo.
        public let spkiDER: [UInt8]
        /// The first entry it verified.
        public let firstSeq: UInt64
    }

    /// Every key that verified a recorded entry, by version then fingerprint.
    public func recordedKeys() throws(AuditError) -> [RecordedKey] {
        do {
            let st = try db.prepare("SELECT fingerprint, version, spki, first_seq FROM keys ORDER BY version, fingerprint")
            var out: [RecordedKey] = []
            while try st.step() {
                let fingerprint = st.string(at: 0) ?? ""
                let firstSeq = try Self.storedIndex(st.int64(at: 3), "the first seq of key \(fingerprint)")
                out.append(RecordedKey(fingerprint: fingerprint, version: Int(st.int64(at: 1)), spkiDER: st.blob(at: 2) ?? [], firstSeq: firstSeq))
            }
            return out
        } catch let e as AuditError { throw e } catch let e as SQLiteError { throw AuditError.from(e, doing: "reading keys") } catch {
            throw AuditError(.storage, "reading keys: \(error)")
        }
    }

    /// What happened to one appended item.
    public enum AppendOutcome: Sendable {
        /// Recorded as this entry (an accepted entry may have become `nonce_replayed`).
        case recorded(AuditEntry)
        /// The capture was already imported as entry `seq`; nothing was written.
        case duplicate(seq: UInt64)
    }

    /// Records a live verification in its own durable transaction and returns the entry as
    /// recorded: **the verdict to act on.** The nonce rule is applied in that transaction, so
    /// a verification that was accepted but whose nonce the trail already holds comes back
    /// rejected `nonce_replayed`. Unlock only when the returned entry `isAccepted`.
    ///
    /// The verifying key is recorded with the entry (from `keyring`), so an export can prove
    /// the entry's signature later: `keyring` must be the one that verified `result`
    /// (`verifier.keyring`); one without that key is refused (`invalid_entry`), since the entry
    /// could then not be exported (`missing_key`).
    ///
    /// The result must come from bound verification (``Verifier/verify(_:expecting:now:)``):
    /// an unbound result (``VerificationResult/bound`` false) answers no request of yours and
    /// is refused here (`invalid_entry`); offline audits of bare tokens record through
    /// ``CaptureImporter`` (source `import`).
    public func record(_ result: VerificationResult, keyring: Keyring) throws(AuditError) -> AuditEntry {
        guard result.bound else {
            throw AuditError(.invalidEntry, "an unbound verification result is not a live verification: verify against the request that was sent (Verifier.verify(_:expecting:)) before recording it")
        }
        if let fp = result.keyFingerprint, let v = result.keyVersion, !utf8Equal(keyring[v]?.key.fingerprint, fp) {
            throw AuditError(.invalidEntry, "the keyring given does not hold the key that verified this result (version \(v), sha256 \(fp)): pass the keyring of the verifier that produced it (verifier.keyring)")
        }
        return try recordOne(Pending(result: result, keyring: keyring, source: .live))
    }

    /// Records one entry in its own durable transaction; see ``append(_:)``.
    ///
    /// The entry carries no key: an accepted entry recorded this way cannot be exported
    /// (`missing_key`). Record verifications with ``record(_:keyring:)``.
    @discardableResult
    public func record(_ entry: AuditEntry) throws(AuditError) -> AuditEntry {
        try recordOne(Pending(entry: entry))
    }

    /// Appends one item without a capture hash (it cannot be a duplicate) and returns its entry.
    private func recordOne(_ item: Pending) throws(AuditError) -> AuditEntry {
        guard case .recorded(let e) = try append([item])[0] else {
            throw AuditError(.storage, "internal: a live entry was reported as a duplicate")
        }
        return e
    }

    /// Appends items in one transaction (`BEGIN IMMEDIATE` … `COMMIT`, synchronous=FULL).
    ///
    /// For each accepted item carrying a nonce, the nonce rule is applied inside the
    /// transaction: if `(productCode, nonce)` was already accepted, the item is recorded as
    /// rejected `nonce_replayed` instead. Items whose capture line is already recorded are
    /// skipped (``AppendOutcome/duplicate(seq:)``): by its hash in the `captures` table, or by
    /// the nonce of the accepted entry that records the same hash. An accepted item that
    /// consumes a nonce gets no `captures` row: its nonce row leads to it.
    /// Either all items are durably recorded or, on any error, none is.
    public func append(_ items: [Pending]) throws(AuditError) -> [AppendOutcome] {
        let now = RFC3339.format(milliseconds: WallClock.nowMilliseconds())
        let saved = frontier
        var newKeys: [String] = []
        var spliced = 0
        splicedInLastAppend = 0
        var start: UInt64 = 0
        var startRoot = RFC6962.emptyRoot
        var rows: (nonces: Int64, captures: Int64) = (0, 0)
        do {
            let out = try db.transaction(.immediate) {
                try syncFrontier()
                start = frontier.size
                startRoot = frontier.root
                // The last seq, size + count - 1, must stay below Int64.max (what reads back).
                guard UInt64(items.count) <= UInt64(Int64.max) - frontier.size else {
                    throw AuditError(.inconsistent, "the trail cannot take \(items.count) more entries after its \(frontier.size): seq would leave the range the trail can hold")
                }
                var out: [AppendOutcome] = []
                out.reserveCapacity(items.count)
                let findCapture = try db.cachedStatement("SELECT seq FROM captures WHERE hash = ?")
                let addCapture = try db.cachedStatement("INSERT INTO captures(hash, seq) VALUES (?, ?)")
                let findNonce = try db.cachedStatement("SELECT seq FROM nonces WHERE product_code = ? AND nonce = ?")
                let addNonce = try db.cachedStatement("INSERT INTO nonces(product_code, nonce, seq) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                let addEntry = try db.cachedStatement("INSERT INTO entries(seq, body, leaf_hash) VALUES (?, ?, ?)")
                let addNode = try db.cachedStatement("INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)")
                let addKey = try db.cachedStatement("INSERT INTO keys(fingerprint, version, spki, first_seq) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                /// The seq of the entry the captures table holds `hash` for.
                func capturedAs(_ hash: [UInt8]) throws -> UInt64? {
                    try findCapture.bind(hash, at: 1)
                    defer { findCapture.reset() }
                    guard try findCapture.step() else { return nil }
                    return try Self.storedIndex(findCapture.int64(at: 0), "the seq of a recorded capture")
                }
                /// The seq of the accepted entry that consumed `(pc, nonce)`, if it was imported
                /// from the line hashed `hash` (its entry records the hash). Schema 2 keeps no
                /// captures row for such an entry: its nonce row leads to it instead.
                func importedWithNonce(_ pc: String, _ nonce: String, hash: [UInt8]) throws -> UInt64? {
                    try findNonce.bind(pc, at: 1)
                    try findNonce.bind(nonce, at: 2)
                    defer { findNonce.reset() }
                    guard try findNonce.step() else { return nil }
                    let seq = try Self.storedIndex(findNonce.int64(at: 0), "the seq of a consumed nonce")
                    return try recordedCaptureHash(seq) == hash ? seq : nil
                }
                var body: [UInt8] = []
                // One digest context for the batch's leaf hashes (no context set up per entry).
                let hasher = SHA256Hasher()
                for item in items {
                    let prepared = item.prepared
                    // The entry records the hash it is deduplicated by, so the captures table and
                    // the hashed entries always agree (audit verify checks it).
                    let captureKey = item.captureKey
                    var e = prepared?.entry ?? item.entry
                    // A live acceptance answers the request that was sent; an unbound one answers
                    // none (it belongs to an offline import), whichever call recorded it.
                    if e.isAccepted && e.source == .live && e.binding == "unbound" {
                        throw AuditError(.invalidEntry, "an unbound verification result is not a live verification: verify against the request that was sent (Verifier.verify(_:expecting:)) before recording it")
                    }
                    let consumesNonce = e.isAccepted && e.nonce != nil && e.productCode != nil
                    if let h = captureKey {
                        // A line imported before is a duplicate: found by its hash in the captures
                        // table or, if it was accepted, through its nonce. An accepted item looks its
                        // nonce up by inserting it, below.
                        if let found = try capturedAs(h) {
                            out.append(.duplicate(seq: found))
                            continue
                        }
                        if !consumesNonce, let pc = e.productCode, let nonce = e.nonce, let found = try importedWithNonce(pc, nonce, hash: h) {
                            out.append(.duplicate(seq: found))
                            continue
                        }
                    }
                    if item.knownDuplicate {
                        throw AuditError(.inconsistent, "a capture line found in the trail before this append is no longer there: the file was altered (run `meterproof audit verify`)")
                    }
                    e.seq = frontier.size
                    e.recordedAt = now
                    if prepared == nil { e.captureHash = captureKey.map { Hex.encode($0) } }
                    var replayed = false
                    if consumesNonce, let nonce = e.nonce, let pc = e.productCode {
                        try addNonce.bind(pc, at: 1)
                        try addNonce.bind(nonce, at: 2)
                        try addNonce.bind(Int64(e.seq), at: 3)
                        try addNonce.run()
                        addNonce.reset()
                        if db.changes == 1 { rows.nonces += 1 }
                        if db.changes == 0 {
                            if let h = captureKey, let found = try importedWithNonce(pc, nonce, hash: h) {
                                out.append(.duplicate(seq: found))
                                continue
                            }
                            e.outcome = "rejected"
                            e.reason = ReasonCode.nonceReplayed.rawValue
                            e.message = "nonce \(nonce) was already accepted for product \(pc)"
                            e.warnings = nil
                            replayed = true
                        }
                    }
                    if let h = captureKey, !consumesNonce || replayed {
                        // Looked up above in this transaction, so the key is free.
                        try addCapture.bind(h, at: 1)
                        try addCapture.bind(Int64(e.seq), at: 2)
                        try addCapture.run()
                        rows.captures += 1
                        addCapture.reset()
                    }
                    if let prepared, !replayed {
                        spliced += 1
                        prepared.canonicalBytes(recordedAt: now, seq: e.seq, into: &body)
                        try AuditEntry.checkSize(body.count, seq: e.seq)
                    } else {
                        body = try e.canonicalBytes()
                        // Store only what reads back: verify() would report anything else as invalid_entry for ever.
                        if let bad = body.withUnsafeBytes({ AuditEntry.readsBack($0) }) {
                            throw AuditError(.invalidEntry, "refusing to record an entry that would not verify: \(bad.message)")
                        }
                    }
                    let leaf = body.withUnsafeBytes { RFC6962.leafHash($0, using: hasher) }
                    try addEntry.bind(Int64(e.seq), at: 1)
                    try addEntry.bind(body, at: 2)
                    try leaf.withUnsafeBytes { try addEntry.bind($0, at: 3) }
                    try addEntry.run()
                    addEntry.reset()
                    try frontier.append(leaf) { level, index, hash in
                        guard AuditTrail.isStoredLevel(level) else { return }
                        try addNode.bind(Int64(level), at: 1)
                        try addNode.bind(Int64(index), at: 2)
                        try hash.withUnsafeBytes { try addNode.bind($0, at: 3) }
                        try addNode.run()
                        addNode.reset()
                    }
                    if let key = item.key, let fp = e.keyFingerprint, !knownKeys.contains(fp), !newKeys.contains(fp) {
                        // The keys table is append-only: a wrong key stored once would make every
                        // later export and `audit verify` fail. Check it names the entry's key.
                        // The version is the one the key answered for; a rejected entry may record
                        // another (a `key_version_mismatch` token names its own), an accepted one not.
                        guard Hex.encode(SHA256.hash(key.spkiDER)) == fp, !e.isAccepted || Int64(key.version) == e.publicKeyVersion else {
                            throw AuditError(.invalidEntry, "entry \(e.seq): the key given with it (version \(key.version), SHA-256 \(Hex.encode(SHA256.hash(key.spkiDER)))) is not the key the entry names (version \(e.publicKeyVersion.map { String($0) } ?? "null"), fingerprint \(fp)); nothing was written")
                        }
                        newKeys.append(fp)
                        try addKey.bind(fp, at: 1)
                        try addKey.bind(Int64(key.version), at: 2)
                        try addKey.bind(key.spkiDER, at: 3)
                        try addKey.bind(Int64(e.seq), at: 4)
                        try addKey.run()
                        addKey.reset()
                    }
                    out.append(.recorded(e))
                }
                return out
            }
            knownKeys.formUnion(newKeys)
            splicedInLastAppend = spliced
            if let own = ownTail, own.range.upperBound == start {
                ownTail = (own.range.lowerBound..<frontier.size, own.startRoot, own.nonceRows + rows.nonces, own.captureRows + rows.captures)
            } else if frontier.size > start {
                ownTail = (start..<frontier.size, startRoot, rows.nonces, rows.captures)
            }
            return out
        } catch let e as AuditError {
            frontier = saved
            throw e
        } catch let e as SQLiteError {
            frontier = saved
            throw AuditError.from(e, doing: "appending to \(path)")
        } catch {
            frontier = saved
            throw AuditError(.storage, "appending to \(path): \(error)")
        }
    }

    /// The line hash entry `seq` records (`captureHash`), read from its stored bytes; `nil` when
    /// it records none or there is no such entry.
    func recordedCaptureHash(_ seq: UInt64) throws -> [UInt8]? {
        let st = try db.cachedStatement("SELECT body FROM entries WHERE seq = ?")
        defer { st.reset() }
        try st.bind(Int64(bitPattern: seq), at: 1)
        guard try st.step() else { return nil }
        return st.withBlob(at: 0) { AuditEntry.recordedCaptureHash($0) }
    }

    /// How many items the last `append` recorded from their preparation (for tests).
    private(set) var splicedInLastAppend = 0

    /// Makes the cached frontier match the file (another process may have appended).
    private func syncFrontier() throws {
        let n = try currentSize()
        if n == frontier.size { return }
        frontier = try loadFrontier(size: n)
        // Someone else changed the trail: what this object appended is no longer known to be
        // the newest (it may even have been cut off and replaced).
        ownTail = nil
    }

    /// Reads the frontier for a tree of `size` leaves from stored subtree hashes: popcount(size) lookups.
    func loadFrontier(size: UInt64) throws -> MerkleFrontier {
        var nodes: [MerkleHash] = []
        var start: UInt64 = 0
        var level = 63
        while level >= 0 {
            if size & (UInt64(1) << UInt64(level)) != 0 {
                nodes.append(try node(level: level, index: start >> UInt64(level)))
                start += UInt64(1) << UInt64(level)
            }
            level -= 1
        }
        return try MerkleFrontier(size: size, nodes: nodes)
    }

    // MARK: Checkpoints

    /// The checkpoints the trail has signed, oldest first.
    public func checkpoints() throws(AuditError) -> [SignedNote] {
        do {
            let st = try db.prepare("SELECT size, note FROM checkpoints ORDER BY size")
            var out: [SignedNote] = []
            while try st.step() {
                _ = try Self.storedIndex(st.int64(at: 0), "the size of a checkpoint")
                let text = st.string(at: 1) ?? ""
                do { out.append(try SignedNote(parsing: text)) } catch {
                    throw AuditError(.inconsistent, "a stored checkpoint is not a signed note: \(error)")
                }
            }
            return out
        } catch let e as AuditError { throw e } catch let e as SQLiteError { throw AuditError.from(e, doing: "reading checkpoints") } catch {
            throw AuditError(.storage, "\(error)")
        }
    }

    /// The newest checkpoint, if any.
    public func latestCheckpoint() throws(AuditError) -> SignedNote? { try checkpoints().last }

    /// Signs a checkpoint of the current tree with the log key and stores it.
    ///
    /// Refuses a signer that is not this trail's key, and refuses to sign when the newest
    /// stored checkpoint does not match the tree (a log never signs two inconsistent checkpoints).
    /// When the newest checkpoint already covers the current size, it is returned unchanged.
    ///
    /// A new checkpoint vouches for the entries appended since the newest one, so those are
    /// checked first as `audit verify` checks them (bytes, leaf hashes, subtree hashes, and the
    /// nonce and captures tables), and an edit that breaks their consistency, such as a replay
    /// turned into a second acceptance, is refused (`trail_tampered`). An edit that keeps every
    /// hash and table consistent cannot be told apart; only a checkpoint kept elsewhere covers
    /// it. The check runs in a read snapshot before the write lock is taken; entries this object
    /// appended itself, when they are the newest, are not re-read.
    ///
    /// With a `record` (see ``SignerRecord``), the tree must also extend the checkpoint the
    /// record holds, the newest this key signed as far as the record knows, even if the trail
    /// no longer holds it; the record is then replaced by the new checkpoint. Without one, only
    /// the checkpoints the trail still holds are compared with.
    public func signCheckpoint(with signer: NoteSigner, record: SignerRecord? = nil) throws(AuditError) -> SignedNote {
        try signCheckpoint(with: signer, trustingAppended: nil, record: record)
    }

    /// What to do about a log key that is not the trail's: there is no changing it.
    package static let logKeyIsFixed = "A trail's log key cannot be changed (every checkpoint and proof of the log is under it): sign with the trail's own key file (--signing-key); to move to a new key, keep this trail, its key's vkey and signer record as evidence and start a new trail (meterproof audit init)"

    /// Entries an object of this process appended, with the roots of the tree where they start
    /// and where they end as that object computed them: what signing may trust without reading
    /// the entries again, once it has shown that the tree they start from is the signed one.
    package struct AppendedTail: Sendable, Equatable {
        package let range: Range<UInt64>
        package let startRoot: MerkleHash
        package let root: MerkleHash
        /// The `nonces` and `captures` rows the appender inserted for these entries: the tables
        /// must hold exactly these for the range (a row planted for a seq the appender was
        /// going to write would have made it record a genuine capture as a duplicate).
        package let nonceRows: Int64
        package let captureRows: Int64
    }

    /// The entries this object appended itself, when they are the newest it saw.
    package var appendedTail: AppendedTail? {
        guard let own = ownTail, own.range.upperBound == frontier.size else { return nil }
        return AppendedTail(range: own.range, startRoot: own.startRoot, root: frontier.root, nonceRows: own.nonceRows, captureRows: own.captureRows)
    }

    /// ``signCheckpoint(with:)`` right after an import of this process: the entries the import
    /// appended, checked as its writer made them, are not read again when they are still the
    /// newest of the trail and their stored hashes still give the root the writer computed
    /// (anything else is checked as usual). What `meterproof audit import` does at its end.
    public func signCheckpoint(with signer: NoteSigner, after summary: ImportSummary, record: SignerRecord? = nil) throws(AuditError) -> SignedNote {
        try signCheckpoint(with: signer, trustingAppended: summary.appendedTail, record: record)
    }

    /// ``signCheckpoint(with:record:)``, also trusting `appended`: the ``appendedTail`` of another
    /// object of this process (an import's writer).
    package func signCheckpoint(with signer: NoteSigner, trustingAppended appended: AppendedTail?, record: SignerRecord? = nil) throws(AuditError) -> SignedNote {
        guard utf8Equal(signer.verifier.vkey, verifier.vkey) else {
            throw AuditError(.wrongKey, "the signing key \(signer.name)+\(NoteSyntax.hex8(signer.keyID)) is not this trail's log key (\(verifier.vkey)). \(Self.logKeyIsFixed)")
        }
        func tampered(_ p: (code: String, message: String, seq: UInt64?), _ range: Range<UInt64>) -> AuditError {
            AuditError(.tampered, "\(p.code): \(p.message); refusing to sign a checkpoint over entries \(range.lowerBound)…\(range.upperBound - 1), which no checkpoint covers yet (run `meterproof audit verify`)")
        }
        do {
            // Checking the entries no checkpoint covers yet reads them all. That runs first in
            // a read snapshot, so live writers (who wait at most 10 s for the write lock) go on
            // meanwhile; under the lock it is used only if the newest checkpoint is still the
            // same, the stored hashes still give the root it found, and then only what was
            // appended meanwhile is read.
            var snapshot: (checkpoint: String?, checked: (end: UInt64, root: MerkleHash))? = nil
            try db.transaction(.deferred) {
                try syncFrontier()
                let newest = try newestCheckpoint()
                guard newest.size < frontier.size else { return }
                var checked: (end: UInt64, root: MerkleHash)? = nil
                if let p = try unsignedProblem(from: newest.size, signedRoot: newest.root, to: frontier.size, appended: appended, prechecked: nil, checked: &checked) {
                    throw tampered(p, newest.size..<frontier.size)
                }
                if let checked { snapshot = (newest.note, checked) }
            }
            return try db.transaction(.immediate) {
                try syncFrontier()
                let size = frontier.size
                let oldest = try db.prepare("SELECT size FROM checkpoints ORDER BY size LIMIT 1")
                if try oldest.step() { _ = try Self.storedIndex(oldest.int64(at: 0), "the size of the oldest checkpoint") }
                let newest = try newestCheckpoint()
                if let note = newest.note {
                    let expected = try MerkleProofs.root(treeSize: newest.size, source: self)
                    guard newest.root == expected else {
                        throw AuditError(.inconsistent, "the newest stored checkpoint (size \(newest.size)) does not match the trail; refusing to sign")
                    }
                    if newest.size == size {
                        let signed = try SignedNote(parsing: note)
                        // The record learns of a newer checkpoint the trail holds (signed by
                        // another process, or before the record existed) once it is shown to
                        // extend what the record holds.
                        if let record, try record.check(trail: self, size: size, root: newest.root)?.serialized != signed.serialized {
                            // Best effort: nothing is signed here, and a record left behind
                            // (on a read-only key mount) still holds a checkpoint this extends.
                            try? record.write(signed)
                        }
                        return signed
                    }
                    guard newest.size < size else {
                        throw AuditError(.inconsistent, "the trail has \(size) entries but a checkpoint of size \(newest.size) exists; refusing to sign")
                    }
                }
                let prechecked = snapshot.flatMap { utf8Equal($0.checkpoint, newest.note) ? $0.checked : nil }
                var checked: (end: UInt64, root: MerkleHash)? = nil
                if let p = try unsignedProblem(from: newest.size, signedRoot: newest.root, to: size, appended: appended, prechecked: prechecked, checked: &checked) {
                    throw tampered(p, newest.size..<size)
                }
                // What is signed is the root the checks arrived at.
                guard checked?.end == size, checked?.root == frontier.root else {
                    throw tampered(("node_mismatch", "the stored subtree hashes at size \(size) do not give the root of the checked entries", newest.size), newest.size..<size)
                }
                // Nor may it fork a history the key vouched for before (a record kept outside
                // the trail remembers it when the trail's own checkpoints were deleted).
                _ = try record?.check(trail: self, size: size, root: frontier.root)
                let cp = Checkpoint(origin: origin, size: size, root: frontier.root)
                let note = try cp.signed(with: [signer])
                let ins = try db.prepare("INSERT INTO checkpoints(size, note, signed_at) VALUES (?, ?, ?)")
                try ins.bind(Int64(size), at: 1)
                try ins.bind(note.serialized, at: 2)
                try ins.bind(RFC3339.format(milliseconds: WallClock.nowMilliseconds()), at: 3)
                try ins.run()
                // Written before the commit: a record naming a checkpoint whose row then failed
                // to commit still names a tree this trail holds, so it stays consistent; the
                // other order could leave the record behind a checkpoint already out.
                try record?.write(note)
                return note
            }
        } catch let e as AuditError {
            throw e
        } catch let e as SQLiteError {
            throw AuditError.from(e, doing: "signing a checkpoint")
        } catch {
            throw AuditError(.inconsistent, "signing a checkpoint: \(error)")
        }
    }

    /// The newest stored checkpoint: its size, its root (verified under the log key) and its
    /// text; size 0 and the empty tree's root, with no text, when there is none.
    func newestCheckpoint() throws -> (size: UInt64, root: MerkleHash, note: String?) {
        let st = try db.prepare("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        guard try st.step() else { return (0, RFC6962.emptyRoot, nil) }
        let size = try Self.storedIndex(st.int64(at: 0), "the size of the newest checkpoint")
        let text = st.string(at: 1) ?? ""
        let cp = try Checkpoint(verifying: SignedNote(parsing: text), verifiers: [verifier])
        guard cp.size == size else {
            throw AuditError(.inconsistent, "the newest stored checkpoint is stored as size \(size) but says \(cp.size); refusing to sign")
        }
        return (size, cp.root, text)
    }

    /// Checks entries `signedSize..<size` (none covered by a checkpoint yet) as `audit verify`
    /// would, starting from the signed tree: the stored hashes at `signedSize` must give
    /// `signedRoot`, each range read starts where the previous one's verified root ends, and a
    /// range an object of this process appended (this object's own, or `appended`) is trusted
    /// only when it is the newest and starts from the root reached so far. `prechecked` is a
    /// prefix checked in the read snapshot (used when the stored hashes still give its root).
    /// On success `checked` is `(size, root)`: the root of the checked tree.
    func unsignedProblem(from signedSize: UInt64, signedRoot: MerkleHash, to size: UInt64, appended: AppendedTail?,
                                 prechecked: (end: UInt64, root: MerkleHash)?,
                                 checked: inout (end: UInt64, root: MerkleHash)?) throws -> (code: String, message: String, seq: UInt64?)? {
        guard try loadFrontier(size: signedSize).root == signedRoot else {
            return ("node_mismatch", "the stored subtree hashes at size \(signedSize) do not give the newest checkpoint's root", signedSize)
        }
        var position = signedSize, root = signedRoot
        if let p = prechecked, p.end > position, p.end <= size {
            guard try MerkleProofs.root(treeSize: p.end, source: self) == p.root else {
                return ("node_mismatch", "entries \(position)…\(p.end - 1) changed while they were being checked", position)
            }
            (position, root) = (p.end, p.root)
        }
        let trusted = [appendedTail, appended].compactMap { $0 }.first {
            $0.range.upperBound == size && $0.range.lowerBound >= position && $0.root == frontier.root && frontier.size == size
        }
        func read(_ range: Range<UInt64>) throws -> (code: String, message: String, seq: UInt64?)? {
            guard !range.isEmpty else { return nil }
            var r = MerkleHash.zero
            if let p = try unsignedEntriesProblem(range, root: &r, toTheEnd: range.upperBound == size) { return p }
            (position, root) = (range.upperBound, r)
            return nil
        }
        if let t = trusted {
            if let p = try read(position..<t.range.lowerBound) { return p }
            if t.startRoot == root {
                let counted = try tableRows(t.range, toTheEnd: true)
                guard counted.nonces == t.nonceRows, counted.captures == t.captureRows else {
                    return (counted.nonces != t.nonceRows ? "nonce_table_mismatch" : "capture_table_mismatch",
                            "the nonces and captures tables name entries \(t.range.lowerBound)…\(t.range.upperBound - 1) (or seqs past the trail's end) in \(counted.nonces) and \(counted.captures) rows, but the process that appended them inserted \(t.nonceRows) and \(t.captureRows)", t.range.lowerBound)
                }
                (position, root) = (size, t.root)
            } else if let p = try read(position..<size) {   // not built on the signed tree: read it too
                return p
            }
        } else if let p = try read(position..<size) {
            return p
        }
        checked = (position, root)
        return nil
    }

    // MARK: Proofs

    /// Root hash of the tree's first `size` leaves; `inconsistent_checkpoint` when the trail
    /// holds fewer (a subtree hash it needs is not stored).
    public func root(size: UInt64) throws(AuditError) -> MerkleHash {
        do { return try MerkleProofs.root(treeSize: size, source: self) } catch let e as AuditError { throw e } catch {
            throw AuditError(.storage, "computing the root at size \(size): \(error)")
        }
    }

    /// A `c2sp.org/tlog-proof@v1` proof that entry `seq` is in the tree of `checkpoint` (default: the newest).
    public func inclusionProof(seq: UInt64, checkpoint note: SignedNote? = nil) throws(AuditError) -> TlogProof {
        var chosen = note
        if chosen == nil { chosen = try latestCheckpoint() }
        guard let note = chosen else {
            throw AuditError(.noCheckpoint, "the trail has no checkpoint yet; sign one with `meterproof audit checkpoint`")
        }
        let cp: Checkpoint
        let text = note.serialized
        if let known = verifiedCheckpoints[text] { cp = known } else {
            do { cp = try Checkpoint(verifying: note, verifiers: [verifier]) } catch {
                throw AuditError(.wrongKey, "the checkpoint is not signed by this trail's log key: \(error)")
            }
            if verifiedCheckpoints.count >= 16 { verifiedCheckpoints.removeAll() }
            verifiedCheckpoints[text] = cp
        }
        guard utf8Equal(cp.origin, origin) else { throw AuditError(.wrongKey, "the checkpoint is for log \(cp.origin), not \(origin)") }
        guard seq < cp.size else {
            throw AuditError(.noSuchEntry, "entry \(seq) is not covered by the checkpoint of size \(cp.size)")
        }
        guard try size() >= cp.size else {
            throw AuditError(.inconsistent, "the checkpoint of size \(cp.size) is larger than this trail")
        }
        let hashes: [MerkleHash], leaf: MerkleHash
        do {
            hashes = try MerkleProofs.inclusionProof(index: seq, treeSize: cp.size, source: self)
            leaf = try storedNode(level: 0, index: seq)
        } catch let e as AuditError {
            // A subtree hash missing from the file is damage (`inconsistent_checkpoint`), as for
            // every other command that meets it, not a storage failure.
            throw AuditError(e.code, "building the inclusion proof: \(e.reason)")
        } catch let e as SQLiteError {
            throw AuditError.from(e, doing: "building the inclusion proof")
        } catch {
            throw AuditError(.storage, "building the inclusion proof: \(error)")
        }
        // Never hand out a proof that does not verify: checking it against the checkpoint also
        // proves the checkpoint matches this trail, for O(log n) hashes instead of a root recomputation.
        do { try RFC6962.verifyInclusion(leafHash: leaf, index: seq, treeSize: cp.size, proof: hashes, root: cp.root) } catch {
            throw AuditError(.inconsistent, "the checkpoint of size \(cp.size) does not match this trail: \(error)")
        }
        return TlogProof(index: seq, hashes: hashes, checkpoint: note)
    }

    /// RFC 9162 consistency proof between tree sizes.
    /// Refused with `bad_input` when no proof exists (`size1` is 0 or larger than `size2`), and
    /// with `inconsistent_checkpoint` when `size2` is larger than the trail or the trail holds a
    /// seq no trail can hold (an edited file).
    public func consistencyProof(from size1: UInt64, to size2: UInt64) throws(AuditError) -> [MerkleHash] {
        guard try currentSize() >= size2 else {
            throw AuditError(.inconsistent, "the checkpoint of size \(size2) is larger than this trail")
        }
        do { return try MerkleProofs.consistencyProof(size1: size1, size2: size2, source: self) } catch let e as AuditError { throw e } catch let e as TransparencyError {
            throw AuditError(.badInput, "no consistency proof from size \(size1) to \(size2): \(e.message)")
        } catch let e as SQLiteError {
            throw AuditError.from(e, doing: "building the consistency proof")
        } catch {
            throw AuditError(.storage, "building the consistency proof: \(error)")
        }
    }
}

extension AuditTrail: MerkleNodeSource {
    /// Subtree hashes are stored for every leaf (level 0, in `entries`) and for levels that
    /// are multiples of ``nodeStride`` (in `nodes`); the levels between are recomputed from
    /// the nearest stored level below, at most 2^(stride-1) reads each. This keeps appends to
    /// about one extra row per 16 entries while proofs stay O(log n).
    package static let nodeStride = 4

    /// Whether subtree hashes of `level` are stored in the `nodes` table.
    package static func isStoredLevel(_ level: Int) -> Bool { level > 0 && level % nodeStride == 0 }

    /// The hash of the perfect subtree at `level` covering leaves [index << level, (index+1) << level).
    public func node(level: Int, index: UInt64) throws -> MerkleHash {
        if level == 0 || Self.isStoredLevel(level) { return try storedNode(level: level, index: index) }
        // One range read of the 2^(level - base) stored hashes below, then hash them upwards:
        // a single B-tree seek instead of one per hash.
        let base = level - level % Self.nodeStride
        let count = 1 << (level - base)
        let first = index << UInt64(level - base)
        let st = base == 0
            ? try db.cachedStatement("SELECT seq, leaf_hash FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq")
            : try db.cachedStatement("SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx")
        defer { st.reset() }
        var p: Int32 = 1
        if base > 0 { try st.bind(Int64(base), at: 1); p = 2 }
        try st.bind(Int64(bitPattern: first), at: p)
        try st.bind(Int64(bitPattern: first + UInt64(count)), at: p + 1)
        var layer: [MerkleHash] = []
        layer.reserveCapacity(count)
        while try st.step() {
            let expected = first + UInt64(layer.count)
            guard UInt64(bitPattern: st.int64(at: 0)) == expected,
                  let h = st.withBlob(at: 1, { MerkleHash(bytes: $0) }) else { break }
            layer.append(h)
        }
        guard layer.count == count else {
            throw AuditError(.inconsistent, "missing subtree hash at level \(base), index \(first + UInt64(layer.count))")
        }
        while layer.count > 1 {
            for i in 0..<(layer.count / 2) { layer[i] = RFC6962.nodeHash(layer[2 * i], layer[2 * i + 1]) }
            layer.removeLast(layer.count / 2)
        }
        return layer[0]
    }

    func storedNode(level: Int, index: UInt64) throws -> MerkleHash {
        let st = level == 0
            ? try db.cachedStatement("SELECT leaf_hash FROM entries WHERE seq = ?")
            : try db.cachedStatement("SELECT hash FROM nodes WHERE level = ? AND idx = ?")
        defer { st.reset() }
        if level == 0 {
            try st.bind(Int64(bitPattern: index), at: 1)
        } else {
            try st.bind(Int64(level), at: 1)
            try st.bind(Int64(bitPattern: index), at: 2)
        }
        guard try st.step(), let h = st.blob(at: 0).flatMap({ MerkleHash(bytes: $0) }) else {
            throw AuditError(.inconsistent, "missing subtree hash at level \(level), index \(index)")
        }
        return h
    }
}
