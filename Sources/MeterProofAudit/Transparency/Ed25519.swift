import CMeterProofOpenSSL

/// Owns one `EVP_MD_CTX` for a single sign or verify operation.
private final class DigestContext {
    let ctx: OpaquePointer

    init() throws(TransparencyError) {
        guard let c = EVP_MD_CTX_new() else { throw .cryptoFailure("EVP_MD_CTX_new failed") }
        ctx = c
    }

    deinit { EVP_MD_CTX_free(ctx) }
}

/// An Ed25519 private key (RFC 8032) held by OpenSSL.
public final class Ed25519PrivateKey: @unchecked Sendable {
    // @unchecked Sendable: the EVP_PKEY is created in init, never mutated, and freed only in
    // deinit; OpenSSL allows concurrent signing with one immutable key (each call uses its own
    // EVP_MD_CTX).
    private let pkey: OpaquePointer
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// A fresh random key from OpenSSL's CSPRNG.
    public convenience init() throws(TransparencyError) {
        var seed = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&seed, 32) == 1 else {
            ERR_clear_error()
            throw .cryptoFailure("RAND_bytes failed")
        }
        defer { for i in seed.indices { seed[i] = 0 } }
        try self.init(seed: seed)
    }

    /// The key with this 32-byte RFC 8032 seed.
    ///
    /// - Throws: `malformed_key` unless `seed` has 32 bytes.
    public init(seed: [UInt8]) throws(TransparencyError) {
        guard seed.count == 32 else { throw .malformedKey("an Ed25519 seed has 32 bytes, not \(seed.count)") }
        guard let k = seed.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
        }) else {
            ERR_clear_error()
            throw .malformedKey("OpenSSL refused the Ed25519 seed")
        }
        var pub = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_get_raw_public_key(k, &pub, &len) == 1, len == 32,
              let pk = try? Ed25519PublicKey(rawRepresentation: pub)
        else {
            EVP_PKEY_free(k)
            ERR_clear_error()
            throw .cryptoFailure("could not derive the Ed25519 public key")
        }
        pkey = k
        publicKey = pk
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The 32-byte RFC 8032 seed (secret).
    public var seed: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len = 32
        guard EVP_PKEY_get_raw_private_key(pkey, &out, &len) == 1, len == 32 else {
            ERR_clear_error()
            return []
        }
        return out
    }

    /// The 64-byte Ed25519 signature of `message`.
    public func signature(for message: UnsafeRawBufferPointer) throws(TransparencyError) -> [UInt8] {
        let c = try DigestContext()
        guard EVP_DigestSignInit(c.ctx, nil, nil, nil, pkey) == 1 else {
            ERR_clear_error()
            throw .cryptoFailure("EVP_DigestSignInit failed")
        }
        var sig = [UInt8](repeating: 0, count: 64)
        var len = 64
        var dummy: UInt8 = 0
        let ok = withUnsafeMutablePointer(to: &dummy) { d in
            EVP_DigestSign(c.ctx, &sig, &len,
                           message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(d),
                           message.count)
        }
        guard ok == 1, len == 64 else {
            ERR_clear_error()
            throw .cryptoFailure("EVP_DigestSign failed")
        }
        return sig
    }

    /// The 64-byte Ed25519 signature of `message`.
    public func signature(for message: some Collection<UInt8>) throws(TransparencyError) -> [UInt8] {
        let result: Result<[UInt8], TransparencyError> = Array(message).withUnsafeBytes { b in
            Result { () throws(TransparencyError) -> [UInt8] in try signature(for: b) }
        }
        return try result.get()
    }

    /// The 64-byte Ed25519 signature of the UTF-8 bytes of `message`.
    public func signature(for message: String) throws(TransparencyError) -> [UInt8] {
        try signature(for: Array(message.utf8))
    }
}

/// An Ed25519 public key (RFC 8032) held by OpenSSL.
public final class Ed25519PublicKey: @unchecked Sendable, Equatable {
    // @unchecked Sendable: the EVP_PKEY is created in init, never mutated, and freed only in
    // deinit; concurrent verification with one immutable key is safe in OpenSSL.
    private let pkey: OpaquePointer
    /// The 32-byte RFC 8032 encoding.
    public let rawRepresentation: [UInt8]

    /// The key with this 32-byte RFC 8032 encoding.
    ///
    /// - Throws: `malformed_key` unless OpenSSL accepts 32 bytes.
    public init(rawRepresentation: [UInt8]) throws(TransparencyError) {
        guard rawRepresentation.count == 32 else {
            throw .malformedKey("an Ed25519 public key has 32 bytes, not \(rawRepresentation.count)")
        }
        guard let k = rawRepresentation.withUnsafeBufferPointer({
            EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
        }) else {
            ERR_clear_error()
            throw .malformedKey("OpenSSL refused the Ed25519 public key")
        }
        pkey = k
        self.rawRepresentation = rawRepresentation
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Whether `signature` is a valid Ed25519 signature of `message` under this key.
    /// Only an OpenSSL result of exactly 1 counts as valid.
    public func isValidSignature(_ signature: [UInt8], for message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == 64, let c = try? DigestContext() else { return false }
        guard EVP_DigestVerifyInit(c.ctx, nil, nil, nil, pkey) == 1 else {
            ERR_clear_error()
            return false
        }
        var dummy: UInt8 = 0
        let r = withUnsafeMutablePointer(to: &dummy) { d in
            EVP_DigestVerify(c.ctx, signature, 64,
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(d),
                             message.count)
        }
        if r != 1 { ERR_clear_error() }
        return r == 1
    }

    /// Whether `signature` is a valid Ed25519 signature of `message` under this key.
    public func isValidSignature(_ signature: [UInt8], for message: some Collection<UInt8>) -> Bool {
        if let r = message.withContiguousStorageIfAvailable({ isValidSignature(signature, for: UnsafeRawBufferPointer($0)) }) {
            return r
        }
        return Array(message).withUnsafeBytes { isValidSignature(signature, for: $0) }
    }

    /// Whether `signature` is a valid Ed25519 signature of the UTF-8 bytes of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: String) -> Bool {
        isValidSignature(signature, for: Array(message.utf8))
    }

    /// Keys are equal when their encodings are.
    public static func == (a: Ed25519PublicKey, b: Ed25519PublicKey) -> Bool {
        a.rawRepresentation == b.rawRepresentation
    }
}
