import MeterProof

/// A c2sp.org/tlog-proof@v1 file: an offline-verifiable proof that a leaf is in a log,
/// made of a leaf index, its RFC 6962 inclusion proof and the signed checkpoint it leads to.
///
///     c2sp.org/tlog-proof@v1
///     [extra <base64>]
///     index <n>
///     <base64 hash>            (leaf sibling first)
///     ...
///     <blank line>
///     <signed checkpoint, verbatim>
public struct TlogProof: Sendable, Equatable {
    /// The first line of every proof.
    public static let header = "c2sp.org/tlog-proof@v1"

    /// The zero-based leaf index.
    public let index: UInt64
    /// The inclusion proof, leaf sibling first.
    public let hashes: [MerkleHash]
    /// The signed checkpoint.
    public let checkpoint: SignedNote
    /// Opaque, unauthenticated application data; do not trust it without checking.
    public let extra: [UInt8]?

    /// A proof from its parts.
    public init(index: UInt64, hashes: [MerkleHash], checkpoint: SignedNote, extra: [UInt8]? = nil) {
        self.index = index
        self.hashes = hashes
        self.checkpoint = checkpoint
        self.extra = extra
    }

    /// Parses a proof strictly: the header line; an optional `extra <strict base64>` line;
    /// `index <decimal without leading zeros>`; zero to 64 lines of strict base64 32-byte
    /// hashes; a blank line; then the signed checkpoint (parsed by `SignedNote(parsing:)`).
    /// At most 1 MiB plus the header part.
    ///
    /// - Throws: `malformed_proof`; `malformed_note` for the checkpoint's note syntax.
    public init(parsing text: String) throws(TransparencyError) {
        let u = Array(text.utf8)
        guard u.count <= NoteSyntax.maxSize + 8192 else { throw .malformedProof("proof is too large") }
        var split = -1
        var i = 0
        while i + 1 < u.count {
            if u[i] == 0x0A && u[i + 1] == 0x0A {
                split = i
                break
            }
            i += 1
        }
        guard split >= 0 else { throw .malformedProof("no blank line before the checkpoint") }
        let head = u[..<split]
        guard !NoteSyntax.hasForbiddenControl(head) else {
            throw .malformedProof("proof contains a control character other than newline")
        }
        let lines = head.split(separator: 0x0A, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 2, NoteSyntax.same(lines[0], Self.header) else {
            throw .malformedProof("the first line is not \(Self.header)")
        }
        var n = 1
        var extra: [UInt8]?
        if lines[n].utf8.starts(with: "extra ".utf8) {
            guard let e = Base64.decode(Self.afterASCIIPrefix(lines[n], 6)) else {
                throw .malformedProof("extra data is not strict padded base64")
            }
            extra = e
            n += 1
        }
        guard n < lines.count, lines[n].utf8.starts(with: "index ".utf8),
              let index = NoteSyntax.parseDecimal(Self.afterASCIIPrefix(lines[n], 6))
        else { throw .malformedProof("missing or invalid index line") }
        n += 1
        guard lines.count - n <= 64 else { throw .malformedProof("more than 64 proof hashes") }
        var hashes: [MerkleHash] = []
        while n < lines.count {
            guard let h = MerkleHash(base64: lines[n]) else {
                throw .malformedProof("a proof line is not standard padded base64 of 32 bytes")
            }
            hashes.append(h)
            n += 1
        }
        let note = try SignedNote(parsing: String(decoding: u[(split + 2)...], as: UTF8.self))
        self.init(index: index, hashes: hashes, checkpoint: note, extra: extra)
    }

    /// `s` without its first `count` UTF-8 bytes (an ASCII prefix already matched byte-wise),
    /// so that a combining mark after the prefix is kept and refused rather than absorbed.
    private static func afterASCIIPrefix(_ s: String, _ count: Int) -> Substring {
        s[s.utf8.index(s.startIndex, offsetBy: count)...]
    }

    /// The proof file text.
    public var serialized: String {
        var s = Self.header + "\n"
        if let extra { s += "extra \(Base64.encode(extra))\n" }
        s += "index \(index)\n"
        for h in hashes { s += h.base64 + "\n" }
        s += "\n"
        s += checkpoint.serialized
        return s
    }

    /// Verifies the checkpoint signature with `verifiers`, parses it as a `Checkpoint`
    /// (and, if `origin` is given, checks it), then verifies that `leafHash` is leaf `index`
    /// of that tree. Returns the checkpoint.
    ///
    /// - Throws: `no_known_signature` / `bad_signature`, `malformed_checkpoint`,
    ///   `origin_mismatch`, `bad_inclusion_proof`.
    @discardableResult
    public func verify(leafHash: MerkleHash, verifiers: [NoteVerifier], origin: String? = nil) throws(TransparencyError) -> Checkpoint {
        let cp = try Checkpoint(verifying: checkpoint, verifiers: verifiers)
        if let origin, !NoteSyntax.same(origin, cp.origin) {
            throw .originMismatch("checkpoint origin \(cp.origin) is not \(origin)")
        }
        try RFC6962.verifyInclusion(leafHash: leafHash, index: index, treeSize: cp.size, proof: hashes, root: cp.root)
        return cp
    }
}
