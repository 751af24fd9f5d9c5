/// An RSA public key that can check PS256 signatures.
///
/// Parsing happens once; the parsed OpenSSL key is shared by every verification, from any
/// number of threads.
public struct RSAPublicKey: Sendable {
    let backing: EVPKeyBacking

    /// Modulus size in bits.
    public let bits: Int
    /// The public exponent when it fits in 64 bits.
    public let publicExponent: UInt64?
    /// Whether the public exponent is odd.
    public let exponentIsOdd: Bool
    /// DER SubjectPublicKeyInfo.
    public let spkiDER: [UInt8]
    /// Lowercase hex SHA-256 of ``spkiDER``: the key's fingerprint everywhere in MeterProof.
    public let fingerprint: String

    init(backing: EVPKeyBacking) throws(KeyError) {
        guard backing.isRSA else { throw KeyError(.unsupportedKeyType, "not an RSA key (rsaEncryption expected; RSA-PSS-only, EC and other key types are refused)") }
        self.backing = backing
        self.bits = backing.bits
        guard let e = backing.rsaPublicExponent else { throw KeyError(.malformedKey, "RSA key without a readable public exponent") }
        self.publicExponent = e.value
        self.exponentIsOdd = e.odd
        self.spkiDER = backing.spkiDER
        guard !spkiDER.isEmpty else { throw KeyError(.malformedKey, "could not encode the key as SubjectPublicKeyInfo") }
        self.fingerprint = Hex.encode(SHA256.hash(spkiDER))
    }

    /// Parses a PEM RSA public key: a `-----BEGIN PUBLIC KEY-----` block (SubjectPublicKeyInfo,
    /// as `openssl pkey -pubout` writes) or a `-----BEGIN RSA PUBLIC KEY-----` block (PKCS#1
    /// RSAPublicKey, as `openssl rsa -RSAPublicKey_out` writes), whichever comes first.
    ///
    /// This is OpenSSL's `PEM_read_bio_PUBKEY`: text outside PEM blocks and blocks that hold no
    /// public key (a certificate, a private key) are skipped, and only the first public-key
    /// block is read. A private key, a certificate or DER alone is refused, and so is a key
    /// that is not rsaEncryption. The fingerprint is that of the DER SubjectPublicKeyInfo
    /// whichever form the PEM uses.
    public init(pem: some StringProtocol) throws(KeyError) {
        switch EVPKeyBacking.fromPEM(Array(pem.utf8), privateKey: false) {
        case .success(let b): try self.init(backing: b)
        case .failure(let f):
            throw KeyError(.malformedKey, "no PEM public key (-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----): \(f.message)")
        }
    }

    /// Parses DER SubjectPublicKeyInfo.
    public init(spkiDER der: [UInt8]) throws(KeyError) {
        switch EVPKeyBacking.fromSPKIDER(der) {
        case .success(let b): try self.init(backing: b)
        case .failure(let f): throw KeyError(.malformedKey, "not a DER SubjectPublicKeyInfo: \(f.message)")
        }
    }

    /// Builds a key from a JWK's big-endian `n` and `e`.
    public init(modulus: [UInt8], exponent: [UInt8]) throws(KeyError) {
        guard !modulus.isEmpty, modulus.first != 0 else { throw KeyError(.malformedKey, "JWK modulus is empty or has a leading zero byte") }
        guard !exponent.isEmpty, exponent.first != 0 else { throw KeyError(.malformedKey, "JWK exponent is empty or has a leading zero byte") }
        switch EVPKeyBacking.rsaFromComponents(modulus: modulus, exponent: exponent) {
        case .success(let b): try self.init(backing: b)
        case .failure(let f): throw KeyError(.malformedKey, "JWK is not a usable RSA key: \(f.message)")
        }
    }

    /// PEM text of this key.
    public var pem: String { backing.publicPEM }

    /// Checks the key against the policy floor and the fixed ceiling: modulus from
    /// `minimumBits` to ``maximumBits``, exponent odd, from 3 to ``maximumExponent``.
    /// Returns a sentence naming the weakness, or `nil` when the key is acceptable.
    ///
    /// The ceiling bounds what one verification costs: a key with a 3000-bit exponent or a
    /// 16384-bit modulus (which anyone can put in a bundle's `keys/`) made re-verifying a
    /// bundle about 100 times slower. AWS's keys are 2048 or 3072 bits with exponent 65537.
    public func weakness(minimumBits: Int) -> String? {
        if bits < minimumBits { return "RSA modulus of \(bits) bits is below the \(minimumBits)-bit floor" }
        if bits > Self.maximumBits { return "RSA modulus of \(bits) bits is above the \(Self.maximumBits)-bit ceiling (every verification under it would be slow; AWS keys are 2048 or 3072 bits)" }
        if !exponentIsOdd { return "RSA public exponent is even" }
        guard let e = publicExponent, e <= Self.maximumExponent else {
            return "RSA public exponent is above \(Self.maximumExponent) (every verification under it would be slow; AWS keys use 65537)"
        }
        if e < 3 { return "RSA public exponent \(e) is below 3" }
        return nil
    }

    /// The largest modulus a key may have, in bits.
    public static let maximumBits = 8192
    /// The largest public exponent a key may have (2^32 − 1).
    public static let maximumExponent: UInt64 = 0xFFFF_FFFF

    /// RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) check of `signature` over `message`.
    /// The signature must be exactly the modulus length.
    public func isValidPS256Signature(_ signature: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == backing.byteCount else { return false }
        return backing.verifyPS256(message: message, signature: signature)
    }

    /// Convenience over byte arrays.
    public func isValidPS256Signature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        signature.withUnsafeBytes { s in message.withUnsafeBytes { m in isValidPS256Signature(s, for: m) } }
    }

    /// Modulus length in bytes (the only acceptable signature length).
    public var signatureByteCount: Int { backing.byteCount }

    /// Big-endian modulus bytes (for JWKS export).
    public var modulus: [UInt8] { backing.rsaModulus ?? [] }

    /// Whether this is one of the TEST keys shipped in MeterProof's `keys/test` (v1, RSA-2048;
    /// v2, RSA-3072), whose private halves are published in the same repository: anyone can
    /// sign tokens they accept. ``Keyring/load(from:allowingTestKeys:)`` refuses a keyring holding
    /// one unless told to allow it; a keyring built in memory is not checked.
    ///
    /// Recognised by fingerprint and by modulus: the published private halves give away the
    /// primes, so anyone can make a key on the same modulus with another public exponent (and
    /// so another fingerprint) and sign with it.
    public var isMeterProofTestKey: Bool {
        Self.isMeterProofTestKey(fingerprint: fingerprint) || Self.testKeyModulusDigests.contains(Hex.encode(SHA256.hash(modulus)))
    }

    /// Whether `fingerprint` (lowercase hex SHA-256 of a DER SubjectPublicKeyInfo, as entries and
    /// results record it) names one of those test keys; `false` for `nil`. Where the key itself
    /// is at hand, ``isMeterProofTestKey`` also recognises another key on a test key's modulus.
    package static func isMeterProofTestKey(fingerprint: String?) -> Bool {
        fingerprint.map(testKeyFingerprints.contains) ?? false
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo of `keys/test/v1.pem` and `keys/test/v2.pem`.
    package static let testKeyFingerprints: Set<String> = [
        "a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d",
        "0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85",
    ]

    /// SHA-256 of the big-endian modulus of `keys/test/v1.pem` and `keys/test/v2.pem`.
    package static let testKeyModulusDigests: Set<String> = [
        "f0eac4345f9ce7d223f4ae2a98a4026ad60925e451f5285438b3626a0a790865",
        "85f276e350151f86f64b45d706080a39e20efa184c4de500fada602e1f06a57f",
    ]
}

/// A key could not be loaded or used: a stable ``Code`` and a sentence.
public struct KeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a key was refused; compare against the static members.
    public struct Code: EnumBackedCode {
        package enum Backing: String, CaseIterable, Sendable {
            case malformedKey = "malformed_key"
            case unsupportedKeyType = "unsupported_key_type"
            case signingFailed = "signing_failed"
        }
        package let backing: Backing
        package init(_ backing: Backing) { self.backing = backing }

        /// The bytes are not a PEM, DER or JWK encoding of a key, or the key's numbers are unusable.
        public static let malformedKey = Code(.malformedKey)
        /// A well-formed key that is not an RSA (`rsaEncryption`) key: EC, Ed25519, RSA-PSS-only.
        public static let unsupportedKeyType = Code(.unsupportedKeyType)
        /// OpenSSL failed to sign (test tokens only).
        public static let signingFailed = Code(.signingFailed)
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

    /// The ``reason`` alone (without the code).
    public var description: String { reason }
}

/// An RSA private key, for signing test tokens (`meterproof simulate`) only.
public struct RSAPrivateKey: Sendable {
    let backing: EVPKeyBacking

    /// Parses a PEM private key (PKCS#8 or traditional RSA).
    public init(pem: some StringProtocol) throws(KeyError) {
        switch EVPKeyBacking.fromPEM(Array(pem.utf8), privateKey: true) {
        case .success(let b):
            guard b.isRSA else { throw KeyError(.unsupportedKeyType, "not an RSA private key") }
            backing = b
        case .failure(let f): throw KeyError(.malformedKey, "not a PEM private key: \(f.message)")
        }
    }

    /// The public half.
    public var publicKey: RSAPublicKey {
        get throws(KeyError) {
            try RSAPublicKey(spkiDER: backing.spkiDER)
        }
    }

    /// PS256 signature (salt 32) over `message`.
    public func signPS256(_ message: [UInt8]) throws(KeyError) -> [UInt8] {
        try sign(message, scheme: .pss(saltLength: 32))
    }

    func sign(_ message: [UInt8], scheme: EVPKeyBacking.SignatureScheme) throws(KeyError) -> [UInt8] {
        let r = message.withUnsafeBytes { backing.sign(message: $0, scheme: scheme) }
        switch r {
        case .success(let s): return s
        case .failure(let f): throw KeyError(.signingFailed, "signing failed: \(f.message)")
        }
    }
}
