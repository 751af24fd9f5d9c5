/// A c2sp.org/tlog-checkpoint body: the text a log signs to commit to a tree head.
///
///     <origin>\n<tree size in decimal>\n<base64 root hash>\n[<extension line>\n ...]
public struct Checkpoint: Sendable, Equatable {
    /// The log's identity, e.g. `example.com/meterproof`; by convention also its key name.
    public let origin: String
    /// The number of leaves in the tree.
    public let size: UInt64
    /// The RFC 6962 root of the tree.
    public let root: MerkleHash
    /// Optional extension lines (without their newlines).
    public let extensions: [String]

    /// A checkpoint from its parts. The origin should be non-empty without white space, `+`
    /// or control characters, and extension lines non-empty without control characters;
    /// otherwise `text` will not parse back.
    public init(origin: String, size: UInt64, root: MerkleHash, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// Parses a checkpoint body strictly: origin line non-empty with no white space, `+` or
    /// control characters; size in decimal without leading zeros (fits UInt64); root as
    /// standard padded base64 of exactly 32 bytes; then zero or more non-empty extension
    /// lines; every line ends in "\n". At most 1 MiB.
    ///
    /// - Throws: `malformed_checkpoint`.
    public init(parsing text: String) throws(TransparencyError) {
        let u = text.utf8
        guard u.count <= NoteSyntax.maxSize else { throw .malformedCheckpoint("checkpoint is larger than 1 MiB") }
        guard let last = u.last, last == 0x0A else { throw .malformedCheckpoint("checkpoint must end in a newline") }
        guard !NoteSyntax.hasForbiddenControl(u) else {
            throw .malformedCheckpoint("checkpoint contains a control character other than newline")
        }
        let lines = text.utf8.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { Substring($0) }
        guard lines.count >= 3 else { throw .malformedCheckpoint("checkpoint needs origin, size and root lines") }
        guard NoteSyntax.isValidName(lines[0]) else {
            throw .malformedCheckpoint("origin is empty or contains white space or '+'")
        }
        guard let size = NoteSyntax.parseDecimal(lines[1]) else {
            throw .malformedCheckpoint("tree size is not a decimal without leading zeros")
        }
        guard let root = MerkleHash(base64: String(lines[2])) else {
            throw .malformedCheckpoint("root is not standard padded base64 of 32 bytes")
        }
        let ext = lines[3...]
        guard ext.allSatisfy({ !$0.isEmpty }) else { throw .malformedCheckpoint("empty extension line") }
        self.init(origin: String(lines[0]), size: size, root: root, extensions: ext.map { String($0) })
    }

    /// Verifies `note` with `verifiers` (see `SignedNote.verify`) and parses its text.
    ///
    /// - Throws: `no_known_signature` / `bad_signature`, then `malformed_checkpoint`.
    public init(verifying note: SignedNote, verifiers: [NoteVerifier]) throws(TransparencyError) {
        try note.verify(verifiers)
        try self.init(parsing: note.text)
    }

    /// The body text: `<origin>\n<size>\n<base64 root>\n` followed by extension lines.
    public var text: String {
        var s = "\(origin)\n\(size)\n\(root.base64)\n"
        for e in extensions { s += e + "\n" }
        return s
    }

    /// Signs `text` as a signed note.
    ///
    /// - Throws: `malformed_checkpoint` if `text` would not parse back; errors of `SignedNote.sign`.
    public func signed(with signers: [NoteSigner]) throws(TransparencyError) -> SignedNote {
        _ = try Checkpoint(parsing: text)
        return try SignedNote.sign(text: text, with: signers)
    }

    /// Equal when origin and extensions are byte-for-byte equal and size and root are equal.
    public static func == (a: Checkpoint, b: Checkpoint) -> Bool {
        a.size == b.size && a.root == b.root && NoteSyntax.same(a.origin, b.origin)
            && NoteSyntax.same(a.extensions, b.extensions)
    }
}
