import MeterProof

/// Shared syntax rules of c2sp.org/signed-note.
enum NoteSyntax {
    /// Largest note (or proof file) accepted, in UTF-8 bytes.
    static let maxSize = 1 << 20
    /// Largest number of signature lines accepted (the spec requires at least 16).
    static let maxSignatures = 100
    /// `U+2014 EM DASH` followed by a space, in UTF-8.
    static let signaturePrefix: [UInt8] = [0xE2, 0x80, 0x94, 0x20]

    /// Key names (and checkpoint origins): non-empty, no Unicode white space, no `+`, no
    /// ASCII control characters.
    static func isValidName(_ name: some StringProtocol) -> Bool {
        guard !name.isEmpty else { return false }
        for s in name.unicodeScalars {
            if s == "+" || s.properties.isWhitespace || s.value < 0x20 || s.value == 0x7F { return false }
        }
        return true
    }

    /// True if the UTF-8 bytes contain an ASCII control character other than newline.
    static func hasForbiddenControl(_ utf8: some Sequence<UInt8>) -> Bool {
        utf8.contains { $0 < 0x20 && $0 != 0x0A }
    }

    /// The c2sp key ID: the first four bytes, big-endian, of
    /// `SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key)`.
    static func ed25519KeyID(name: String, publicKey: [UInt8]) -> UInt32 {
        let h = Digest.sha256(Array(name.utf8) + [0x0A, 0x01] + publicKey)
        return h.withUnsafeBytes { b in
            UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        }
    }

    /// Eight lowercase hex digits.
    static func hex8(_ id: UInt32) -> String {
        Hex.encode([UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)])
    }

    /// Parses exactly eight hex digits (either case, as Go's note package accepts).
    static func parseHex8(_ s: Substring) -> UInt32? {
        guard s.utf8.count == 8, let b = Hex.decode(s) else { return nil }
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }

    /// Parses `0` or a decimal without leading zeros that fits in UInt64.
    static func parseDecimal(_ s: Substring) -> UInt64? {
        let u = s.utf8
        guard let first = u.first, u.count <= 20, u.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        if first == 0x30 && u.count > 1 { return nil }
        return UInt64(s)
    }

    /// Splits `s` at the first occurrence of the ASCII byte `separator` (byte-wise, so a
    /// combining mark after it cannot hide it inside a grapheme cluster).
    static func chop(_ s: Substring, _ separator: UInt8) -> (Substring, Substring)? {
        guard let i = s.utf8.firstIndex(of: separator) else { return nil }
        return (s[..<i], s[s.utf8.index(after: i)...])
    }

    /// Byte-wise string equality (Swift's `==` treats canonically equivalent strings as equal,
    /// but signatures and key IDs cover exact bytes).
    static func same(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    static func same(_ a: [String], _ b: [String]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
    }
}

/// A c2sp.org/signed-note Ed25519 verifier key.
public struct NoteVerifier: Sendable, Equatable {
    /// The key name (e.g. the log origin).
    public let name: String
    /// The key ID: first four bytes of `SHA-256(name || 0x0A || 0x01 || public key)`.
    public let keyID: UInt32
    /// The Ed25519 public key.
    public let publicKey: Ed25519PublicKey

    init(name: String, publicKey: Ed25519PublicKey) {
        self.name = name
        self.publicKey = publicKey
        self.keyID = NoteSyntax.ed25519KeyID(name: name, publicKey: publicKey.rawRepresentation)
    }

    /// Parses a verifier key `<name>+<hex8 key ID>+<base64(0x01 || 32-byte public key)>`.
    ///
    /// - Throws: `malformed_key` if the text does not have that shape (or the algorithm byte
    ///   is not 0x01, Ed25519); `key_id_mismatch` if the key ID is not the one computed from
    ///   the name and key.
    public init(vkey: String) throws(TransparencyError) {
        guard vkey.utf8.count <= 4096,
              let (name, rest) = NoteSyntax.chop(vkey[...], 0x2B),
              let (idText, keyText) = NoteSyntax.chop(rest, 0x2B)
        else { throw .malformedKey("a verifier key is <name>+<key ID>+<base64 key>") }
        guard NoteSyntax.isValidName(name) else { throw .malformedKey("invalid key name") }
        guard let id = NoteSyntax.parseHex8(idText) else { throw .malformedKey("the key ID is not 8 hex digits") }
        guard let key = Base64.decode(keyText), key.count == 33 else {
            throw .malformedKey("the key is not base64 of 33 bytes")
        }
        guard key[0] == 0x01 else { throw .malformedKey("unsupported key algorithm \(key[0]); only Ed25519 (1)") }
        let pub = try Ed25519PublicKey(rawRepresentation: Array(key[1...]))
        self.init(name: String(name), publicKey: pub)
        guard keyID == id else {
            throw .keyIDMismatch("key ID \(NoteSyntax.hex8(id)) does not match the computed \(NoteSyntax.hex8(keyID))")
        }
    }

    /// The verifier key text `<name>+<hex8 key ID>+<base64(0x01 || public key)>`.
    public var vkey: String {
        "\(name)+\(NoteSyntax.hex8(keyID))+\(Base64.encode([0x01] + publicKey.rawRepresentation))"
    }

    /// Equal when name (byte-wise), key ID and public key are.
    public static func == (a: NoteVerifier, b: NoteVerifier) -> Bool {
        NoteSyntax.same(a.name, b.name) && a.keyID == b.keyID && a.publicKey == b.publicKey
    }

    /// Whether `signature` is this key's Ed25519 signature of `text`'s UTF-8 bytes.
    public func isValidSignature(_ signature: [UInt8], forText text: String) -> Bool {
        publicKey.isValidSignature(signature, for: Array(text.utf8))
    }
}

/// A c2sp.org/signed-note Ed25519 signer key.
///
/// Immutable and `Sendable`: one signer may be shared and used from any number of threads.
public struct NoteSigner: Sendable {
    /// The key name (for a log, its origin).
    public let name: String
    /// The key ID (see `NoteVerifier.keyID`).
    public let keyID: UInt32
    /// The Ed25519 private key.
    public let privateKey: Ed25519PrivateKey

    /// Signs as `name` with `privateKey`.
    ///
    /// - Throws: `malformed_key` if `name` is empty or contains white space, `+` or control characters.
    public init(name: String, privateKey: Ed25519PrivateKey) throws(TransparencyError) {
        guard NoteSyntax.isValidName(name) else { throw .malformedKey("invalid key name") }
        self.name = name
        self.privateKey = privateKey
        self.keyID = NoteSyntax.ed25519KeyID(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }

    /// The longest key name (log origin) ``generate(name:)`` takes, in UTF-8 bytes. Key texts
    /// are read back with a 4096-byte limit: a name near it made a key that could be written
    /// but never read (a trail whose own vkey did not parse). Existing keys with longer names
    /// still load.
    public static let maxNameBytes = 1024

    /// A signer with a fresh random Ed25519 key.
    ///
    /// - Throws: `malformed_key` for an invalid name or one longer than ``maxNameBytes``;
    ///   `crypto_failure` if OpenSSL fails.
    public static func generate(name: String) throws(TransparencyError) -> NoteSigner {
        guard name.utf8.count <= maxNameBytes else {
            throw .malformedKey("the key name is \(name.utf8.count) bytes long; at most \(maxNameBytes) are allowed")
        }
        return try NoteSigner(name: name, privateKey: Ed25519PrivateKey())
    }

    /// Parses a signer key `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>`.
    ///
    /// - Throws: `malformed_key`, or `key_id_mismatch` if the key ID is not the computed one.
    public init(skey: String) throws(TransparencyError) {
        let prefix = "PRIVATE+KEY+"
        guard skey.utf8.count <= 4096, skey.utf8.starts(with: prefix.utf8),
              let (name, rest) = NoteSyntax.chop(skey[skey.utf8.index(skey.startIndex, offsetBy: prefix.utf8.count)...], 0x2B),
              let (idText, keyText) = NoteSyntax.chop(rest, 0x2B)
        else { throw .malformedKey("a signer key is PRIVATE+KEY+<name>+<key ID>+<base64 key>") }
        guard NoteSyntax.isValidName(name) else { throw .malformedKey("invalid key name") }
        guard let id = NoteSyntax.parseHex8(idText) else { throw .malformedKey("the key ID is not 8 hex digits") }
        guard var key = Base64.decode(keyText), key.count == 33 else {
            throw .malformedKey("the key is not base64 of 33 bytes")
        }
        defer { for i in key.indices { key[i] = 0 } }
        guard key[0] == 0x01 else { throw .malformedKey("unsupported key algorithm \(key[0]); only Ed25519 (1)") }
        try self.init(name: String(name), privateKey: Ed25519PrivateKey(seed: Array(key[1...])))
        guard keyID == id else {
            throw .keyIDMismatch("key ID \(NoteSyntax.hex8(id)) does not match the computed \(NoteSyntax.hex8(keyID))")
        }
    }

    /// The signer key text `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || seed)>` (secret).
    public var skey: String {
        "PRIVATE+KEY+\(name)+\(NoteSyntax.hex8(keyID))+\(Base64.encode([0x01] + privateKey.seed))"
    }

    /// The matching verifier key.
    public var verifier: NoteVerifier {
        NoteVerifier(name: name, publicKey: privateKey.publicKey)
    }
}

/// One signature line of a signed note: `— <name> base64(key ID || signature)`.
public struct NoteSignature: Sendable, Equatable {
    /// The key name.
    public let name: String
    /// The key ID (big-endian first four bytes of the base64 payload).
    public let keyID: UInt32
    /// The signature bytes after the key ID (64 bytes for Ed25519).
    public let signature: [UInt8]

    /// A signature line's parts.
    public init(name: String, keyID: UInt32, signature: [UInt8]) {
        self.name = name
        self.keyID = keyID
        self.signature = signature
    }

    /// Equal when name (byte-wise), key ID and signature are.
    public static func == (a: NoteSignature, b: NoteSignature) -> Bool {
        NoteSyntax.same(a.name, b.name) && a.keyID == b.keyID && a.signature == b.signature
    }

    /// The line, including its final newline.
    public var line: String {
        let id: [UInt8] = [UInt8(keyID >> 24), UInt8(keyID >> 16 & 0xFF), UInt8(keyID >> 8 & 0xFF), UInt8(keyID & 0xFF)]
        return "\u{2014} \(name) \(Base64.encode(id + signature))\n"
    }
}

/// A c2sp.org/signed-note: text, a blank line, and one or more signature lines.
public struct SignedNote: Sendable, Equatable {
    /// The signed text, ending in "\n" (not including the blank separator line).
    public let text: String
    /// The signature lines, in order.
    public let signatures: [NoteSignature]

    init(text: String, signatures: [NoteSignature]) {
        self.text = text
        self.signatures = signatures
    }

    /// Parses a signed note strictly (syntax only; call `verify` to check signatures).
    ///
    /// Rules: at most 1 MiB; no ASCII control characters other than newline; the text is
    /// everything up to and including the newline before the last blank line (so it is
    /// non-empty and ends in "\n"; as the spec allows, it may itself contain blank lines);
    /// then one to 100 lines `U+2014 SPACE <name> SPACE <base64>` each ending in "\n", where
    /// the name is non-empty without white space or `+` and the strict padded base64 decodes
    /// to at least 5 bytes (4-byte key ID and signature).
    ///
    /// - Throws: `malformed_note`.
    public init(parsing message: String) throws(TransparencyError) {
        let u = Array(message.utf8)
        guard u.count <= NoteSyntax.maxSize else { throw .malformedNote("note is larger than 1 MiB") }
        guard !NoteSyntax.hasForbiddenControl(u) else {
            throw .malformedNote("note contains a control character other than newline")
        }
        var split = -1
        var i = u.count - 2
        while i >= 0 {
            if u[i] == 0x0A && u[i + 1] == 0x0A {
                split = i
                break
            }
            i -= 1
        }
        guard split >= 0 else { throw .malformedNote("no blank line separates the text from the signatures") }
        let sigBytes = u[(split + 2)...]
        guard let last = sigBytes.last, last == 0x0A else {
            throw .malformedNote("the signature block is empty or does not end in a newline")
        }
        var sigs: [NoteSignature] = []
        for lineBytes in sigBytes.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false) {
            guard sigs.count < NoteSyntax.maxSignatures else { throw .malformedNote("more than 100 signatures") }
            guard lineBytes.starts(with: NoteSyntax.signaturePrefix) else {
                throw .malformedNote("a signature line does not start with an em dash and a space")
            }
            let line = String(decoding: lineBytes.dropFirst(NoteSyntax.signaturePrefix.count), as: UTF8.self)
            guard let (name, b64) = NoteSyntax.chop(line[...], 0x20) else {
                throw .malformedNote("a signature line has no space between name and signature")
            }
            guard NoteSyntax.isValidName(name) else { throw .malformedNote("invalid key name in a signature line") }
            guard !b64.isEmpty, let raw = Base64.decode(b64) else {
                throw .malformedNote("a signature is not strict padded base64")
            }
            guard raw.count >= 5 else { throw .malformedNote("a signature is shorter than 5 bytes") }
            let id = UInt32(raw[0]) << 24 | UInt32(raw[1]) << 16 | UInt32(raw[2]) << 8 | UInt32(raw[3])
            sigs.append(NoteSignature(name: String(name), keyID: id, signature: Array(raw[4...])))
        }
        self.text = String(decoding: u[...split], as: UTF8.self)
        self.signatures = sigs
    }

    /// Equal when the texts are byte-for-byte equal and the signatures are equal.
    public static func == (a: SignedNote, b: SignedNote) -> Bool {
        NoteSyntax.same(a.text, b.text) && a.signatures == b.signatures
    }

    /// Checks that `text` can be the text of a signed note.
    static func validateText(_ text: String) throws(TransparencyError) {
        let u = text.utf8
        guard u.count <= NoteSyntax.maxSize else { throw .malformedNote("note text is larger than 1 MiB") }
        guard let last = u.last, last == 0x0A else { throw .malformedNote("note text must end in a newline") }
        guard !NoteSyntax.hasForbiddenControl(u) else {
            throw .malformedNote("note text contains a control character other than newline")
        }
    }

    /// Signs `text` (non-empty, ending in "\n", no control characters but newline) with each signer, in order.
    ///
    /// - Throws: `malformed_note` for invalid text; `invalid_argument` if `signers` is empty;
    ///   `crypto_failure` if OpenSSL fails.
    public static func sign(text: String, with signers: [NoteSigner]) throws(TransparencyError) -> SignedNote {
        try validateText(text)
        guard !signers.isEmpty else { throw .invalidArgument("a signed note needs at least one signer") }
        let bytes = Array(text.utf8)
        var sigs: [NoteSignature] = []
        for s in signers {
            let sig = try s.privateKey.signature(for: bytes)
            sigs.append(NoteSignature(name: s.name, keyID: s.keyID, signature: sig))
        }
        return SignedNote(text: text, signatures: sigs)
    }

    /// The note as text: the text, a blank line, and the signature lines.
    public var serialized: String {
        var s = text + "\n"
        for sig in signatures { s += sig.line }
        return s
    }

    /// Verifies the note against trusted keys and returns those that signed it (each once, in
    /// signature order).
    ///
    /// A signature line counts as a key's only if both its name and key ID match; lines from
    /// other keys are ignored (key rotation, witness cosignatures). Every line from a known
    /// key must verify.
    ///
    /// - Throws: `bad_signature` if a known key's signature is invalid; `no_known_signature`
    ///   if no known key signed.
    @discardableResult
    public func verify(_ verifiers: [NoteVerifier]) throws(TransparencyError) -> [NoteVerifier] {
        let bytes = Array(text.utf8)
        var verified: [NoteVerifier] = []
        for sig in signatures {
            let candidates = verifiers.filter { $0.keyID == sig.keyID && NoteSyntax.same($0.name, sig.name) }
            if candidates.isEmpty { continue }
            guard let v = candidates.first(where: { $0.publicKey.isValidSignature(sig.signature, for: bytes) }) else {
                throw .badSignature("the signature by \(sig.name)+\(NoteSyntax.hex8(sig.keyID)) does not verify")
            }
            if !verified.contains(v) { verified.append(v) }
        }
        guard !verified.isEmpty else { throw .noKnownSignature() }
        return verified
    }
}
