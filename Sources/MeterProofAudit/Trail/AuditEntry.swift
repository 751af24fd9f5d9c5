import MeterProof

/// Where a recorded attempt came from.
public enum EntrySource: String, Sendable {
    /// A verification made by software at container start (`meterproof verify --db`, the library).
    case live
    /// A captured response verified offline (`meterproof audit import`).
    case `import`
}

/// Where an imported attempt was read from.
public struct CaptureOrigin: Sendable, Hashable {
    /// The captures file (as named on the command line; `-` for standard input).
    public var file: String
    /// 1-based line number in that file.
    public var line: Int
    /// Lowercase hex SHA-256 of the line's bytes (without its line terminator).
    public var hash: String
    /// The capture's `capturedAt`, when given.
    public var capturedAt: String?

    /// The origin of one capture line; `hash` is the lowercase hex SHA-256 of its bytes without
    /// the line terminator, `capturedAt` the capture's own text or `nil`.
    public init(file: String, line: Int, hash: String, capturedAt: String?) {
        self.file = file
        self.line = line
        self.hash = hash
        self.capturedAt = capturedAt
    }
}

/// One recorded verification attempt: a leaf of the audit trail's Merkle tree.
///
/// Its canonical bytes are the RFC 8785 serialization of the flat object of its fields; the
/// leaf hash is `SHA-256(0x00 || bytes)`. Every field is always present (null when unknown),
/// so all entries share one column set (see docs/audit-trail.md).
public struct AuditEntry: Sendable, Hashable {
    /// Position in the trail, from 0: the entry's leaf index. Assigned when appended (0 before).
    public var seq: UInt64
    /// When the entry was appended: RFC 3339 UTC with milliseconds (`2025-01-31T12:00:00.123Z`),
    /// the same for every entry of one append. Empty until appended.
    public var recordedAt: String
    /// `live` (verified by the program at start) or `import` (a capture verified offline).
    public var source: EntrySource
    /// `bound` (checked against a request) or `unbound` (claims taken from the token).
    public var binding: String
    /// `accepted` or `rejected`.
    public var outcome: String
    /// The stable reason code of a rejection (e.g. `bad_signature`, `nonce_replayed`); `nil`
    /// exactly when accepted.
    public var reason: String?
    /// The human sentence of a rejection (its wording may change); `nil` when accepted.
    public var message: String?
    /// The product code the token claims, read even on rejection (trusted only when the signature
    /// verified); `nil` when none could be read.
    public var productCode: String?
    /// The key version the token claims, else the one used to pick the key; `nil` when neither
    /// is known.
    public var publicKeyVersion: Int64?
    /// The nonce the token claims; `nil` when it carries none or none could be read.
    public var nonce: String?
    /// The token's `iat`, in epoch **seconds**; `nil` when absent or unread.
    public var issuedAt: Int64?
    /// Lowercase hex SHA-256 of the DER SPKI of the key that verified the signature; `nil` unless
    /// the signature verified and the claims parsed.
    public var keyFingerprint: String?
    /// Comma-separated warning codes on an accepted attempt (e.g. `key_rotation_due`).
    public var warnings: String?
    /// The raw compact JWS, so anyone can re-verify AWS's signature.
    public var token: String?
    /// For imports: the capture's `capturedAt` as written (RFC 3339); `nil` when it has none,
    /// and for live entries.
    public var capturedAt: String?
    /// For imports: the captures file as named (`-` for standard input); `nil` for live entries.
    public var captureFile: String?
    /// For imports: the 1-based line number in ``captureFile``; `nil` for live entries.
    public var captureLine: Int64?
    /// For imports: lowercase hex SHA-256 of the capture line (without its terminator), which
    /// re-imports are deduplicated by; `nil` for live entries.
    public var captureHash: String?

    /// Whether ``outcome`` is `accepted`. For an entry the trail returns, the verdict to act on
    /// (an accepted verification may have been recorded as `nonce_replayed`).
    public var isAccepted: Bool { outcome == "accepted" }
    /// ``reason`` as a ``ReasonCode``, to compare with its static members
    /// (`entry.reasonCode == .nonceReplayed`); `nil` when accepted, or for a code this version
    /// does not know (an entry written by a newer release).
    public var reasonCode: ReasonCode? { reason.flatMap(ReasonCode.init(rawValue:)) }

    /// The field names, in canonical (sorted) order: the CSV header.
    public static let fieldNames: [String] = [
        "binding", "captureFile", "captureHash", "captureLine", "capturedAt", "issuedAt", "keyFingerprint",
        "message", "nonce", "outcome", "productCode", "publicKeyVersion", "reason", "recordedAt", "seq", "source",
        "token", "warnings",
    ]

    /// The entry as name/value pairs.
    public var members: [(String, EntryValue)] {
        func s(_ v: String?) -> EntryValue { v.map { .string($0) } ?? .null }
        func i(_ v: Int64?) -> EntryValue { v.map { .int($0) } ?? .null }
        return [
            ("binding", .string(binding)), ("captureFile", s(captureFile)), ("captureHash", s(captureHash)),
            ("captureLine", i(captureLine)), ("capturedAt", s(capturedAt)), ("issuedAt", i(issuedAt)),
            ("keyFingerprint", s(keyFingerprint)), ("message", s(message)), ("nonce", s(nonce)),
            ("outcome", .string(outcome)), ("productCode", s(productCode)), ("publicKeyVersion", i(publicKeyVersion)),
            ("reason", s(reason)), ("recordedAt", .string(recordedAt)), ("seq", .int(Int64(seq))),
            ("source", .string(source.rawValue)), ("token", s(token)), ("warnings", s(warnings)),
        ]
    }

    /// RFC 8785 bytes: what is stored, hashed and exported.
    public func canonicalBytes() throws(AuditError) -> [UInt8] {
        let bytes = fastCanonicalBytes()
        try Self.checkSize(bytes.count, seq: seq)
        return bytes
    }

    /// Refuses canonical bytes longer than an entry may be.
    static func checkSize(_ count: Int, seq: UInt64) throws(AuditError) {
        guard count <= CanonicalJSON.maxEntryBytes else {
            throw AuditError(.invalidEntry, "entry \(seq) is \(count) bytes; the limit is \(CanonicalJSON.maxEntryBytes)")
        }
    }

    /// Reads an entry back from its canonical bytes, refusing anything not exactly canonical
    /// or not of the entry shape (one pass; see EntryCodec.swift).
    public init(canonicalBytes bytes: some Collection<UInt8>) throws(AuditError) {
        let r = bytes.withContiguousStorageIfAvailable { AuditEntry.decodeFast(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { AuditEntry.decodeFast($0) }
        switch r {
        case .success(let e): self = e
        case .failure(let f): throw AuditError(.invalidEntry, "entry is not canonical: \(f.message)")
        }
    }

    /// The reference decoder through the general RFC 8785 reader; the fast one must agree with it (tests).
    init(referenceCanonicalBytes bytes: some Collection<UInt8>) throws(AuditError) {
        let members: [(String, EntryValue)]
        do { members = try CanonicalJSON.parseEntry(bytes) } catch {
            throw AuditError(.invalidEntry, "entry is not canonical JSON: \(error.message)")
        }
        guard members.count == Self.fieldNames.count else {
            throw AuditError(.invalidEntry, "entry has \(members.count) members, expected \(Self.fieldNames.count)")
        }
        // Names are matched byte for byte: a String-keyed dictionary matches canonically
        // equivalent names (KELVIN SIGN for K, found by fuzzing), which the fast decoder refuses.
        var m: [String: EntryValue] = [:]
        for name in Self.fieldNames {
            guard let found = members.first(where: { $0.0.utf8.elementsEqual(name.utf8) }) else {
                throw AuditError(.invalidEntry, "entry lacks member \(name)")
            }
            m[name] = found.1
        }
        func str(_ k: String) throws(AuditError) -> String? {
            switch m[k]! {
            case .string(let s): return s
            case .null: return nil
            default: throw AuditError(.invalidEntry, "entry member \(k) must be a string or null")
            }
        }
        func req(_ k: String) throws(AuditError) -> String {
            guard let s = try str(k) else { throw AuditError(.invalidEntry, "entry member \(k) must not be null") }
            return s
        }
        func int(_ k: String) throws(AuditError) -> Int64? {
            switch m[k]! {
            case .int(let v): return v
            case .null: return nil
            default: throw AuditError(.invalidEntry, "entry member \(k) must be an integer or null")
            }
        }
        guard case .int(let seq) = m["seq"]!, seq >= 0 else { throw AuditError(.invalidEntry, "entry seq must be a non-negative integer") }
        guard let source = EntrySource(rawValue: try req("source")) else { throw AuditError(.invalidEntry, "entry source must be live or import") }
        let outcome = try req("outcome")
        guard outcome == "accepted" || outcome == "rejected" else { throw AuditError(.invalidEntry, "entry outcome must be accepted or rejected") }
        let binding = try req("binding")
        guard binding == "bound" || binding == "unbound" else { throw AuditError(.invalidEntry, "entry binding must be bound or unbound") }
        self.seq = UInt64(seq)
        self.recordedAt = try req("recordedAt")
        self.source = source
        self.binding = binding
        self.outcome = outcome
        self.reason = try str("reason")
        self.message = try str("message")
        self.productCode = try str("productCode")
        self.publicKeyVersion = try int("publicKeyVersion")
        self.nonce = try str("nonce")
        self.issuedAt = try int("issuedAt")
        self.keyFingerprint = try str("keyFingerprint")
        self.warnings = try str("warnings")
        self.token = try str("token")
        self.capturedAt = try str("capturedAt")
        self.captureFile = try str("captureFile")
        self.captureLine = try int("captureLine")
        self.captureHash = try str("captureHash")
        if (outcome == "accepted") != (reason == nil) {
            throw AuditError(.invalidEntry, "entry \(seq): reason must be null exactly when accepted")
        }
    }

    /// Builds the entry for a verification result (seq and time are filled in when appended).
    public init(result: VerificationResult, source: EntrySource, capture: CaptureOrigin? = nil) {
        self.seq = 0
        self.recordedAt = ""
        self.source = source
        self.binding = result.bound ? "bound" : "unbound"
        self.outcome = result.isAccepted ? "accepted" : "rejected"
        self.reason = result.error?.code.rawValue
        self.message = result.error?.reason
        self.productCode = result.claims?.productCode
        self.publicKeyVersion = (result.claims?.publicKeyVersion ?? result.keyVersion).map(Int64.init)
        self.nonce = result.claims?.nonce
        self.issuedAt = result.claims?.issuedAt
        self.keyFingerprint = result.keyFingerprint
        var codes: [String] = []
        for w in result.warnings where !codes.contains(w.code) { codes.append(w.code) }
        self.warnings = codes.isEmpty ? nil : codes.joined(separator: ",")
        if let token = result.token, token.utf8.count > TokenLimits.maxTokenBytes {
            // Refused unread (token_too_large): recording it would only bloat the entry, up to
            // past the entry size limit, and stop an import that must record every line.
            self.token = nil
            self.message = (result.error?.reason ?? "the token is over the size limit") + "; the token is not recorded"
        } else {
            self.token = result.token
        }
        self.capturedAt = capture?.capturedAt
        self.captureFile = capture?.file
        self.captureLine = capture.map { Int64($0.line) }
        self.captureHash = capture?.hash
    }

    /// A rejected entry for input that never reached verification (e.g. a malformed capture line).
    public init(rejected code: ReasonCode, message: String, source: EntrySource, capture: CaptureOrigin?) {
        self.seq = 0
        self.recordedAt = ""
        self.source = source
        self.binding = "unbound"
        self.outcome = "rejected"
        self.reason = code.rawValue
        self.message = message
        self.capturedAt = capture?.capturedAt
        self.captureFile = capture?.file
        self.captureLine = capture.map { Int64($0.line) }
        self.captureHash = capture?.hash
    }
}
