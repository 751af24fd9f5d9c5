/// One versioned AWS public key.
public struct KeyringEntry: Sendable {
    /// The `PublicKeyVersion` this key answers for.
    public let version: Int
    /// The RSA public key; its fingerprint (lowercase hex SHA-256 of the DER SPKI) is what
    /// `keyring.json` pins.
    public let key: RSAPublicKey
    /// The file the key came from (for messages).
    public let source: String
    /// Start of validity from `keyring.json`, in epoch **seconds**; `nil` when none. Before it,
    /// verification refuses the key (`key_not_yet_valid`).
    public let notBefore: Int64?
    /// End of validity from `keyring.json`, in epoch **seconds**; `nil` when none. Not a refusal:
    /// a token verified after it is still accepted, with a `key_rotation_due` warning.
    public let notAfter: Int64?
    /// Whether `keyring.json` pinned this key's fingerprint.
    public let pinned: Bool

    /// A key for `version` built in memory (for ``Keyring/init(entries:location:)``, e.g. from
    /// keys a program embeds). `notBefore` and `notAfter` are epoch seconds; `source` names it
    /// in messages. `pinned` says whether the caller checked its fingerprint against a pin.
    public init(version: Int, key: RSAPublicKey, source: String, notBefore: Int64? = nil, notAfter: Int64? = nil, pinned: Bool = false) {
        self.version = version
        self.key = key
        self.source = source
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.pinned = pinned
    }
}

/// A set of versioned RSA public keys, loaded once and shared by every verification.
///
/// A keyring directory holds `v<N>.pem` files (an RSA public key as a PEM `PUBLIC KEY`
/// (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1) block; see ``RSAPublicKey/init(pem:)``)
/// and/or JWKS files (`*.jwks`, `jwks.json`) whose `kid` is the version number. An optional
/// `keyring.json` pins each version's SHA-256 fingerprint of the DER SPKI and optional
/// `notBefore`/`notAfter`:
///
///     {"keys": [{"version": 1, "sha256": "<64 hex>", "notBefore": "2024-01-01T00:00:00Z", "notAfter": null}]}
///
/// When `keyring.json` exists every key must be listed in it. A file named like a key version
/// that is not a `v<N>.pem` name (`v01.pem`, `v0.pem`, `V1.pem`, `v1.PEM`) is an error, not
/// silently skipped; other files are ignored.
public struct Keyring: Sendable {
    /// Every key, by `PublicKeyVersion` (see also ``versions`` and ``subscript(_:)``).
    public let entries: [Int: KeyringEntry]
    /// The directory or file this keyring was loaded from.
    public let location: String

    /// Builds a keyring from entries already in memory. Unlike ``load(from:allowingTestKeys:)``,
    /// it does not refuse MeterProof's published test keys (tests build keyrings of them): check
    /// ``RSAPublicKey/isMeterProofTestKey`` on the entries before trusting a keyring for
    /// production.
    public init(entries: [KeyringEntry], location: String = "<memory>") throws(KeyringError) {
        var map: [Int: KeyringEntry] = [:]
        for e in entries {
            // What the loader enforces for files holds for entries built in memory too.
            guard KeyVersion.range.contains(e.version) else {
                throw KeyringError(.invalidEntry, file: e.source, "key version \(e.version) is outside 1...2147483647: no token can name it")
            }
            if let nb = e.notBefore, let na = e.notAfter, na < nb {
                throw KeyringError(.invalidEntry, file: e.source, "notAfter is before notBefore")
            }
            if let prior = map[e.version] {
                throw KeyringError(.duplicateVersion, file: e.source, "duplicate key version \(e.version) (also in \(prior.source))")
            }
            map[e.version] = e
        }
        self.entries = map
        self.location = location
    }

    /// The key for `version`, if any.
    public subscript(version: Int) -> KeyringEntry? { entries[version] }

    /// Versions in ascending order.
    public var versions: [Int] { entries.keys.sorted() }

    /// For each version whose key is on the same RSA modulus as another version's, those other
    /// versions, ascending. AWS gives every key version a new key, so a shared modulus is most
    /// likely a key file copied under a new version's name: tokens of the real new key would then
    /// fail to verify once AWS starts using it. `meterproof keys list` marks such keys.
    public var sharedKeyVersions: [Int: [Int]] {
        var byModulus: [[UInt8]: [Int]] = [:]
        for v in versions { byModulus[entries[v]!.key.modulus, default: []].append(v) }
        var out: [Int: [Int]] = [:]
        for group in byModulus.values where group.count > 1 {
            for v in group { out[v] = group.filter { $0 != v } }
        }
        return out
    }

    /// The fingerprints that name a MeterProof test key where only a fingerprint is at hand (an
    /// entry's `keyFingerprint`): the published test keys', and those of this keyring's keys
    /// that ``RSAPublicKey/isMeterProofTestKey`` recognises by modulus.
    package var testKeyFingerprints: Set<String> {
        RSAPublicKey.testKeyFingerprints.union(entries.values.lazy.map(\.key).filter(\.isMeterProofTestKey).map(\.fingerprint))
    }

    /// Loads a keyring directory, or a single JWKS / PEM file.
    ///
    /// A keyring holding one of MeterProof's published test keys (`keys/test`, whose private
    /// halves ship in the repository, so anyone can make tokens they accept) is refused with
    /// ``KeyringError/Code/testKey`` unless `allowingTestKeys` is `true`: a vendor who shipped
    /// `keys/test` by mistake would otherwise unlock on tokens anyone can forge, with nothing
    /// said. Pass `true` only to try MeterProof or in tests.
    public static func load(from path: String, allowingTestKeys: Bool = false) throws(KeyringError) -> Keyring {
        let keyring = try loadAny(from: path)
        if !allowingTestKeys, let test = keyring.versions.lazy.compactMap({ keyring[$0] }).first(where: { $0.key.isMeterProofTestKey }) {
            throw KeyringError(.testKey, file: test.source, "key version \(test.version) (sha256 \(test.key.fingerprint)) is MeterProof's public TEST key: its private half is published in keys/test/private, so anyone can make tokens it accepts. Use AWS's keys; to try MeterProof with keys/test, load it with allowingTestKeys: true")
        }
        return keyring
    }

    private static func loadAny(from path: String) throws(KeyringError) -> Keyring {
        let kind = FileSystem.kind(path)
        guard kind != .missing else { throw KeyringError(.notFound, file: path, "no such keyring directory or file") }
        var loaded: [KeyringEntry] = []
        var pins: [Int: Pin]? = nil
        if kind != .directory {
            // One file, read as named: also a pipe (`--keys <(fetch-jwks)`), which a read waits
            // on until its writer sends, as for the other inputs named on the command line.
            // Its directory's pins would not apply: refuse rather than verify unpinned.
            let dir = FileSystem.dirname(path)
            if FileSystem.basename(path) == "keyring.json" {
                throw KeyringError(.invalidPins, file: path, "is the pins file, which holds no keys; name its directory (\(dir)) as the keyring")
            }
            if FileSystem.kind(FileSystem.join(dir, "keyring.json")) != .missing {
                throw KeyringError(.invalidPins, file: path, "a keyring.json lies beside it, whose pins and validity dates a single key file does not apply; name the directory (\(dir)) instead")
            }
        }
        if kind == .directory {
            let names: [String]
            do { names = try FileSystem.list(path) } catch {
                throw KeyringError(.unreadable, file: path, "cannot list the keyring directory: \(error.message)")
            }
            for name in names {
                let full = FileSystem.join(path, name)
                // A file named as keys or pins that is not a regular file (a dangling link, a
                // directory, a FIFO) is an error, not skipped: skipping keyring.json switched
                // pinning off, and skipping v2.pem had an import record every v2 capture, for
                // good, as rejected unknown_key_version.
                func requireFile() throws(KeyringError) {
                    if let what = FileSystem.notARegularFile(full) {
                        throw KeyringError(name == "keyring.json" ? .invalidPins : .unreadable, file: full,
                                           "is \(what); " + (name == "keyring.json" ? "pins must be a JSON file (or absent)" : "a key file must be a regular file (or a link to one)"))
                    }
                }
                if name == "keyring.json" {
                    try requireFile()
                    pins = try parsePins(try read(full), file: full)
                } else if let version = pemVersion(name) {
                    try requireFile()
                    loaded.append(try pemEntry(version: version, file: full))
                } else if let problem = misnamedKeyFile(name) {
                    throw KeyringError(.misnamedKeyFile, file: full, problem)
                } else if name.hasSuffix(".jwks") || name == "jwks.json" {
                    try requireFile()
                    loaded += try parseJWKS(try read(full), file: full)
                }
            }
        } else if path.lowercased().hasSuffix(".pem") {
            // One PEM file: its name gives the version.
            let name = FileSystem.basename(path)
            guard let version = pemVersion(name) else {
                throw KeyringError(.misnamedKeyFile, file: path, misnamedKeyFile(name)
                    ?? "a PEM key file must be named v<N>.pem (N its PublicKeyVersion, a positive decimal without leading zeros)")
            }
            loaded.append(try pemEntry(version: version, file: path))
        } else {
            loaded = try parseJWKS(try read(path), file: path)
        }
        guard !loaded.isEmpty else {
            throw KeyringError(.noKeys, file: path, "no keys found (expected v<N>.pem files or a JWKS file)")
        }
        var keyring = try Keyring(entries: loaded, location: path)
        if let pins { keyring = try keyring.applying(pins, file: FileSystem.join(path, "keyring.json")) }
        return keyring
    }

    private static func pemEntry(version: Int, file: String) throws(KeyringError) -> KeyringEntry {
        let text = try read(file)
        // Exactly one block, a public key: OpenSSL would take the first public key among
        // several blocks and skip the rest, a private key or a second key included.
        let pem = String(decoding: text, as: UTF8.self)
        let blocks = pem.split(separator: "-----BEGIN ", omittingEmptySubsequences: false).dropFirst().map { $0.prefix { $0 != "-" } }
        if blocks.count > 1 {
            throw KeyringError(.invalidKeyFile, file: file, "holds \(blocks.count) PEM blocks (\(blocks.map { String($0) }.joined(separator: ", "))); a key file holds exactly one public key")
        }
        if let kind = blocks.first, kind != "PUBLIC KEY", kind != "RSA PUBLIC KEY" {
            throw KeyringError(.invalidKeyFile, file: file, "holds a \(kind) PEM block, not a public key (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----)" + (kind.contains("PRIVATE") ? "; a private key has no place in a keyring" : ""))
        }
        let key: RSAPublicKey
        do { key = try RSAPublicKey(pem: pem) } catch {
            throw KeyringError(.invalidKeyFile, file: file, "unparsable key: \(error.reason)")
        }
        return KeyringEntry(version: version, key: key, source: file, notBefore: nil, notAfter: nil, pinned: false)
    }

    struct Pin { var sha256: String; var notBefore: Int64?; var notAfter: Int64? }

    private func applying(_ pins: [Int: Pin], file: String) throws(KeyringError) -> Keyring {
        var out: [KeyringEntry] = []
        for version in versions {
            let e = entries[version]!
            guard let pin = pins[version] else {
                throw KeyringError(.pinMismatch, file: e.source, "key version \(version) is not pinned in keyring.json")
            }
            guard pin.sha256 == e.key.fingerprint else {
                throw KeyringError(.pinMismatch, file: e.source, "fingerprint mismatch for version \(version): keyring.json pins \(pin.sha256), the key is \(e.key.fingerprint)")
            }
            out.append(KeyringEntry(version: version, key: e.key, source: e.source, notBefore: pin.notBefore, notAfter: pin.notAfter, pinned: true))
        }
        for version in pins.keys.sorted() where entries[version] == nil {
            throw KeyringError(.pinMismatch, file: file, "keyring.json pins version \(version) but no key file provides it")
        }
        return try Keyring(entries: out, location: location)
    }

    /// `v<N>.pem` with N a key version in canonical decimal (``KeyVersion/parse(_:)``).
    package static func pemVersion(_ name: some StringProtocol) -> Int? {
        guard name.hasPrefix("v"), name.hasSuffix(".pem") else { return nil }
        return KeyVersion.parse(name.dropFirst().dropLast(4))
    }

    /// Why `name` is refused when it looks like a key file, `v<digits>.pem` in any case, but is
    /// not a ``pemVersion(_:)`` name (`v01.pem`, `v0.pem`, `V1.pem`, `v1.PEM`, `v2147483648.pem`);
    /// `nil` for a `v<N>.pem` name and for a name that does not look like one. Skipping such a
    /// file silently left out a key the operator meant to ship, or hid a stray copy.
    static func misnamedKeyFile(_ name: String) -> String? {
        guard pemVersion(name) == nil else { return nil }
        let lower = name.lowercased()
        // The pins and JWKS names in another case would be skipped: pinning silently off, or
        // a key version missing.
        if lower == "keyring.json" && name != "keyring.json" {
            return "looks like the pins file but is not named keyring.json (in lower case); rename it, or the keys are loaded unpinned"
        }
        if (lower == "jwks.json" && name != "jwks.json") || (lower.hasSuffix(".jwks") && !name.hasSuffix(".jwks")) {
            return "looks like a JWKS file but is not named jwks.json or *.jwks (in lower case); rename it, or its keys are not loaded"
        }
        guard lower.hasPrefix("v"), lower.hasSuffix(".pem") else { return nil }
        let digits = lower.utf8.dropFirst().dropLast(4)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let rule = "looks like a key file but is not named v<N>.pem (a lower-case v, N a positive decimal without leading zeros, .pem)"
        guard let version = KeyVersion.parse(String(decoding: digits.drop { $0 == 0x30 }, as: UTF8.self)) else {
            return "\(rule), and its number is no key version (1 to 2147483647); move it out of the keyring directory"
        }
        return "\(rule); if it is the key for version \(version), name it v\(version).pem, otherwise move it out of the keyring directory"
    }

    private static func read(_ path: String) throws(KeyringError) -> [UInt8] {
        do { return try FileSystem.read(path, limit: 1 << 20) } catch {
            throw KeyringError(.unreadable, file: path, "cannot read the file: \(error.message)")
        }
    }

    /// Parses `keyring.json` or a JWKS file. A UTF-8 byte-order mark at the very start (as a
    /// Windows editor saves the file) is skipped, as for captures files; anywhere else it is
    /// invalid JSON.
    private static func parseJSONObject(_ bytes: [UInt8], file: String, code: KeyringError.Code) throws(KeyringError) -> JSONObject {
        let value: JSONValue
        let text = bytes.starts(with: FileSystem.utf8ByteOrderMark) ? Array(bytes.dropFirst(FileSystem.utf8ByteOrderMark.count)) : bytes
        do { value = try StrictJSON.parse(text, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 8)) } catch {
            throw KeyringError(code, file: file, "invalid JSON: \(error.description)")
        }
        guard let obj = value.objectValue else { throw KeyringError(code, file: file, "top level is not a JSON object") }
        return obj
    }

    static func parseJWKS(_ bytes: [UInt8], file: String) throws(KeyringError) -> [KeyringEntry] {
        let obj = try parseJSONObject(bytes, file: file, code: .invalidJWKS)
        guard case .array(let keys)? = obj["keys"] else { throw KeyringError(.invalidJWKS, file: file, "JWKS has no \"keys\" array") }
        var out: [KeyringEntry] = []
        for (i, k) in keys.enumerated() {
            guard let jwk = k.objectValue else { throw KeyringError(.invalidJWKS, file: file, "keys[\(i)] is not an object") }
            guard jwk["kty"]?.stringValue == "RSA" else { throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: kty is not \"RSA\"") }
            if let alg = jwk["alg"], alg.stringValue != "PS256" {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: alg is not \"PS256\"")
            }
            guard let kid = jwk["kid"]?.stringValue, let version = KeyVersion.parse(kid) else {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: kid must be the key version as a decimal string (1 to 2147483647)")
            }
            // A keyring holds public keys for verifying signatures, nothing else.
            if let secret = ["d", "p", "q", "dp", "dq", "qi", "oth"].first(where: { jwk[$0] != nil }) {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)] carries the private key member \"\(secret)\": a private key has no place in a keyring")
            }
            if let use = jwk["use"], use.stringValue != "sig" {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: use is not \"sig\"")
            }
            if let ops = jwk["key_ops"], !({ if case .array(let a) = ops { return a.contains(.string("verify")) } else { return false } }()) {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: key_ops does not include \"verify\"")
            }
            guard let n = jwk["n"]?.stringValue.flatMap({ Base64.urlDecode($0) }),
                  let e = jwk["e"]?.stringValue.flatMap({ Base64.urlDecode($0) }) else {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: n and e must be base64url strings")
            }
            let key: RSAPublicKey
            do { key = try RSAPublicKey(modulus: n, exponent: e) } catch {
                throw KeyringError(.invalidJWKS, file: file, "keys[\(i)]: unparsable key: \(error.reason)")
            }
            out.append(KeyringEntry(version: version, key: key, source: "\(file)#kid=\(kid)", notBefore: nil, notAfter: nil, pinned: false))
        }
        return out
    }

    static func parsePins(_ bytes: [UInt8], file: String) throws(KeyringError) -> [Int: Pin] {
        let obj = try parseJSONObject(bytes, file: file, code: .invalidPins)
        guard case .array(let list)? = obj["keys"] else { throw KeyringError(.invalidPins, file: file, "keyring.json has no \"keys\" array") }
        // A misspelt member ("notbefore") would silently switch its rule off: refuse what is not known.
        if let other = obj.members.first(where: { $0.name != "keys" }) {
            throw KeyringError(.invalidPins, file: file, "unknown member \(JSONText.quoted(other.name)) (keyring.json holds only \"keys\")")
        }
        var pins: [Int: Pin] = [:]
        for (i, item) in list.enumerated() {
            guard let o = item.objectValue else { throw KeyringError(.invalidPins, file: file, "keys[\(i)] is not an object") }
            if let other = o.members.first(where: { !["version", "sha256", "notBefore", "notAfter"].contains($0.name) }) {
                throw KeyringError(.invalidPins, file: file, "keys[\(i)]: unknown member \(JSONText.quoted(other.name)) (a pin holds version, sha256, notBefore and notAfter)")
            }
            guard case .number(let n)? = o["version"], let v = KeyVersion.version(of: n) else {
                throw KeyringError(.invalidPins, file: file, "keys[\(i)]: version must be an integer from 1 to 2147483647")
            }
            guard let sha = o["sha256"]?.stringValue, sha.utf8.count == 64, Hex.decode(sha) != nil, sha == sha.lowercased() else {
                throw KeyringError(.invalidPins, file: file, "keys[\(i)]: sha256 must be 64 lowercase hex digits")
            }
            func time(_ name: String) throws(KeyringError) -> Int64? {
                switch o[name] {
                case nil, .null?: return nil
                case .string(let s)?:
                    guard let t = RFC3339.parseSeconds(s) else { throw KeyringError(.invalidPins, file: file, "keys[\(i)]: \(name) is not an RFC 3339 time") }
                    return t
                default: throw KeyringError(.invalidPins, file: file, "keys[\(i)]: \(name) must be an RFC 3339 string or null")
                }
            }
            let pin = Pin(sha256: sha, notBefore: try time("notBefore"), notAfter: try time("notAfter"))
            if let nb = pin.notBefore, let na = pin.notAfter, na < nb {
                throw KeyringError(.invalidPins, file: file, "keys[\(i)]: notAfter is before notBefore")
            }
            guard pins[v] == nil else { throw KeyringError(.invalidPins, file: file, "keys[\(i)]: version \(v) listed twice") }
            pins[v] = pin
        }
        return pins
    }
}

/// A keyring could not be loaded: a stable ``Code``, the file at fault and a sentence.
///
/// Compare ``code`` against the static members (`error.code == .pinMismatch`); the wording of
/// ``reason`` may change between releases, the codes do not.
public struct KeyringError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a keyring was refused. A struct over a private enum, so new codes can be added
    /// without breaking callers' `switch` statements.
    public struct Code: EnumBackedCode {
        package enum Backing: String, CaseIterable, Sendable {
            case notFound = "keyring_not_found"
            case unreadable = "keyring_unreadable"
            case noKeys = "no_keys"
            case misnamedKeyFile = "misnamed_key_file"
            case invalidKeyFile = "invalid_key_file"
            case invalidJWKS = "invalid_jwks"
            case invalidPins = "invalid_pins"
            case duplicateVersion = "duplicate_version"
            case pinMismatch = "pin_mismatch"
            case invalidEntry = "invalid_keyring_entry"
            case testKey = "test_key"
        }
        package let backing: Backing
        package init(_ backing: Backing) { self.backing = backing }

        /// The path does not exist.
        public static let notFound = Code(.notFound)
        /// The directory cannot be listed or a file in it cannot be read (permissions, I/O,
        /// larger than 1 MiB).
        public static let unreadable = Code(.unreadable)
        /// The directory or file holds no key.
        public static let noKeys = Code(.noKeys)
        /// A file is named like a key version but not `v<N>.pem` (`v01.pem`, `V1.pem`, `v1.PEM`),
        /// or a single PEM file given as the keyring is not named `v<N>.pem`.
        public static let misnamedKeyFile = Code(.misnamedKeyFile)
        /// A `v<N>.pem` file is not exactly one usable RSA public key PEM block.
        public static let invalidKeyFile = Code(.invalidKeyFile)
        /// A JWKS file is not valid JSON or a JWK in it is not a usable PS256 RSA key.
        public static let invalidJWKS = Code(.invalidJWKS)
        /// `keyring.json` is not valid JSON or not of the pin file's shape.
        public static let invalidPins = Code(.invalidPins)
        /// Two keys claim the same `PublicKeyVersion`.
        public static let duplicateVersion = Code(.duplicateVersion)
        /// `keyring.json` and the key files disagree: a key is not pinned, its fingerprint
        /// differs from the pin, or a pinned version has no key file.
        public static let pinMismatch = Code(.pinMismatch)
        /// A ``KeyringEntry`` given to ``Keyring/init(entries:location:)`` has a version outside
        /// 1...2147483647 (no token can name it) or a `notAfter` before its `notBefore`.
        public static let invalidEntry = Code(.invalidEntry)
        /// The keyring holds one of MeterProof's published test keys and the caller did not
        /// pass `allowingTestKeys: true` to ``Keyring/load(from:allowingTestKeys:)``.
        public static let testKey = Code(.testKey)
    }

    /// The stable code.
    public var code: Code
    /// The file (or directory) at fault.
    public var file: String
    /// A human sentence; its wording may change.
    public var reason: String

    /// An error with a stable `code`, the `file` at fault and a human `reason`.
    public init(_ code: Code, file: String, _ reason: String) {
        self.code = code
        self.file = file
        self.reason = reason
    }

    /// `file: reason`.
    public var description: String { "\(file): \(reason)" }
}
