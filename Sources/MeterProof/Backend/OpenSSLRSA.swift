import CMeterProofOpenSSL
import Synchronization

/// Digests fetched once per process: implicit fetching inside every `EVP_DigestVerifyInit`
/// costs a provider lookup per call.
enum OpenSSLDigests {
    nonisolated(unsafe) static let sha256: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil)!
    nonisolated(unsafe) static let sha384: OpaquePointer = EVP_MD_fetch(nil, "SHA384", nil)!
}

/// An OpenSSL call failed; `message` is OpenSSL's own error string.
struct OpenSSLFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Drains OpenSSL's thread-local error queue so one failure never leaks into the next call's diagnostics.
@inline(__always) func clearOpenSSLErrors() { ERR_clear_error() }

/// The last OpenSSL error as text, for messages naming why a key did not parse.
func lastOpenSSLError() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    guard code != 0 else { return "unknown OpenSSL error" }
    var buf = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buf, buf.count)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Owns one `EVP_PKEY*` and frees it in `deinit`.
///
/// `@unchecked Sendable`: the key is never mutated after construction, and OpenSSL 3
/// documents `EVP_PKEY` objects as safe to use from several threads at once for
/// verification and signing (each call creates its own `EVP_PKEY_CTX`).
final class EVPKeyBacking: @unchecked Sendable {
    let pkey: OpaquePointer
    /// Idle PS256 verification contexts, reused across calls (see ``PS256VerifyContext``).
    private let verifyContexts = Mutex<[PS256VerifyContext]>([])

    init(takingOwnershipOf pkey: OpaquePointer) { self.pkey = pkey }

    deinit { EVP_PKEY_free(pkey) }

    static func fromPEM(_ pem: [UInt8], privateKey: Bool) -> Result<EVPKeyBacking, OpenSSLFailure> {
        clearOpenSSLErrors()
        // An encrypted PEM would make OpenSSL's default callback ask for a passphrase: on the
        // terminal (a command hangs), else from standard input (which holds the response).
        // The markers as they stand in a block: the header line right after a BEGIN line, or the
        // BEGIN line of PKCS#8 (a comment outside the block that mentions them does not count).
        for marker in ["-----\nProc-Type: 4,ENCRYPTED", "-----\r\nProc-Type: 4,ENCRYPTED", "-----BEGIN ENCRYPTED PRIVATE KEY-----"]
        where pem.firstRange(of: Array(marker.utf8)) != nil {
            return .failure(OpenSSLFailure("the PEM is encrypted (\(marker.hasSuffix("ENCRYPTED") ? "Proc-Type: 4,ENCRYPTED" : "ENCRYPTED PRIVATE KEY")); MeterProof reads unencrypted keys only (decrypt it with `openssl pkey`)"))
        }
        // And no passphrase is ever asked for: a callback that gives none.
        let noPassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in -1 }
        return pem.withUnsafeBytes { raw -> Result<EVPKeyBacking, OpenSSLFailure> in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return .failure(OpenSSLFailure("out of memory")) }
            defer { BIO_free(bio) }
            let key = privateKey ? PEM_read_bio_PrivateKey(bio, nil, noPassphrase, nil) : PEM_read_bio_PUBKEY(bio, nil, noPassphrase, nil)
            guard let key else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
            return .success(EVPKeyBacking(takingOwnershipOf: key))
        }
    }

    static func fromSPKIDER(_ der: [UInt8]) -> Result<EVPKeyBacking, OpenSSLFailure> {
        clearOpenSSLErrors()
        return der.withUnsafeBufferPointer { buf -> Result<EVPKeyBacking, OpenSSLFailure> in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            guard let key = d2i_PUBKEY(nil, &p, buf.count) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
            guard p == buf.baseAddress.map({ $0 + buf.count }) else {
                EVP_PKEY_free(key)
                return .failure(OpenSSLFailure("trailing bytes after the SubjectPublicKeyInfo"))
            }
            return .success(EVPKeyBacking(takingOwnershipOf: key))
        }
    }

    /// Builds an RSA public key from big-endian modulus and exponent bytes (a JWK's `n` and `e`).
    static func rsaFromComponents(modulus: [UInt8], exponent: [UInt8]) -> Result<EVPKeyBacking, OpenSSLFailure> {
        clearOpenSSLErrors()
        guard let n = BN_bin2bn(modulus, Int32(modulus.count), nil) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        defer { BN_free(n) }
        guard let e = BN_bin2bn(exponent, Int32(exponent.count), nil) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        defer { BN_free(e) }
        // OSSL_PARAM_BLD and EVP_PKEY_CTX keep these names by reference, not by copy, so they must
        // outlive the parameter array and the context. A Swift literal passed as `const char *` is
        // only valid for the duration of that one call.
        return "n".withCString { nKey in "e".withCString { eKey in "RSA".withCString { rsa in
            guard let bld = OSSL_PARAM_BLD_new() else { return .failure(OpenSSLFailure("out of memory")) }
            defer { OSSL_PARAM_BLD_free(bld) }
            guard OSSL_PARAM_BLD_push_BN(bld, nKey, n) == 1, OSSL_PARAM_BLD_push_BN(bld, eKey, e) == 1,
                  let params = OSSL_PARAM_BLD_to_param(bld) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
            defer { OSSL_PARAM_free(params) }
            guard let ctx = EVP_PKEY_CTX_new_from_name(nil, rsa, nil) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
            defer { EVP_PKEY_CTX_free(ctx) }
            var key: OpaquePointer? = nil
            guard EVP_PKEY_fromdata_init(ctx) == 1,
                  EVP_PKEY_fromdata(ctx, &key, cmp_EVP_PKEY_PUBLIC_KEY(), params) == 1, let key else {
                return .failure(OpenSSLFailure(lastOpenSSLError()))
            }
            return .success(EVPKeyBacking(takingOwnershipOf: key))
        } } }
    }

    var isRSA: Bool { EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA }
    var bits: Int { Int(EVP_PKEY_get_bits(pkey)) }
    var byteCount: Int { Int(EVP_PKEY_get_size(pkey)) }

    /// The public exponent if it fits in 64 bits, else `nil`; `odd` tells its parity either way.
    var rsaPublicExponent: (value: UInt64?, odd: Bool)? {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, "e", &bn) == 1, let bn else { clearOpenSSLErrors(); return nil }
        defer { BN_free(bn) }
        let odd = BN_is_odd(bn) == 1
        guard BN_num_bits(bn) <= 64 else { return (nil, odd) }
        var bytes = [UInt8](repeating: 0, count: 8)
        _ = BN_bn2binpad(bn, &bytes, 8)
        let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (value, odd)
    }

    /// Big-endian modulus bytes.
    var rsaModulus: [UInt8]? {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, "n", &bn) == 1, let bn else { clearOpenSSLErrors(); return nil }
        defer { BN_free(bn) }
        var out = [UInt8](repeating: 0, count: Int((BN_num_bits(bn) + 7) / 8))
        _ = BN_bn2bin(bn, &out)
        return out
    }

    /// DER SubjectPublicKeyInfo of the public half.
    var spkiDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let n = i2d_PUBKEY(pkey, &out)
        guard n > 0, let out else { clearOpenSSLErrors(); return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(n)))
    }

    /// RSASSA-PSS / SHA-256 / MGF1-SHA-256 / salt 32 verification. Only a return of 1 counts.
    ///
    /// The message is hashed here and the digest verified with a context taken from a small
    /// pool: setting a context up (`EVP_DigestVerifyInit`: algorithm fetches, provider state,
    /// PSS parameters) costs about a third of a fresh RSA-2048 verification. A context is used
    /// by one thread at a time, and one that saw a failure is dropped rather than reused.
    func verifyPS256(message: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        guard let context = verifyContexts.withLock({ $0.popLast() }) ?? PS256VerifyContext(pkey: pkey) else {
            return verifyPS256Fresh(message: message, signature: signature)
        }
        var digest: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let hashed = withUnsafeMutableBytes(of: &digest) { d in
            EVP_Digest(message.baseAddress, message.count, d.baseAddress!.assumingMemoryBound(to: UInt8.self), nil, OpenSSLDigests.sha256, nil) == 1
        }
        guard hashed else {
            clearOpenSSLErrors()
            return false
        }
        let rc = withUnsafeBytes(of: &digest) { d in
            EVP_PKEY_verify(context.ctx, signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
                            d.baseAddress!.assumingMemoryBound(to: UInt8.self), 32)
        }
        if rc == 1 {
            verifyContexts.withLock { if $0.count < 16 { $0.append(context) } }
            return true
        }
        clearOpenSSLErrors()
        return false
    }

    /// The same verification with a context set up for this call only (`EVP_DigestVerify`).
    func verifyPS256Fresh(message: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> Bool {
        guard let mctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(mctx) }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestVerifyInit(mctx, &pctx, OpenSSLDigests.sha256, nil, pkey) == 1, let pctx,
              setPSSParameters(pctx, saltLength: 32)
        else {
            clearOpenSSLErrors()
            return false
        }
        let rc = EVP_DigestVerify(
            mctx,
            signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
            message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        if rc != 1 { clearOpenSSLErrors() }
        return rc == 1
    }

    enum SignatureScheme {
        /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, the given salt length.
        case pss(saltLength: Int32)
        /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256); only for building hostile test tokens.
        case pkcs1v15
    }

    /// Signs with a private key.
    func sign(message: UnsafeRawBufferPointer, scheme: SignatureScheme) -> Result<[UInt8], OpenSSLFailure> {
        clearOpenSSLErrors()
        guard let mctx = EVP_MD_CTX_new() else { return .failure(OpenSSLFailure("out of memory")) }
        defer { EVP_MD_CTX_free(mctx) }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestSignInit(mctx, &pctx, OpenSSLDigests.sha256, nil, pkey) == 1, let pctx else {
            return .failure(OpenSSLFailure(lastOpenSSLError()))
        }
        switch scheme {
        case .pss(let salt):
            guard setPSSParameters(pctx, saltLength: salt) else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        case .pkcs1v15:
            guard EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        }
        var len = 0
        let msg = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard EVP_DigestSign(mctx, nil, &len, msg, message.count) == 1 else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        var sig = [UInt8](repeating: 0, count: len)
        guard EVP_DigestSign(mctx, &sig, &len, msg, message.count) == 1 else { return .failure(OpenSSLFailure(lastOpenSSLError())) }
        return .success(Array(sig.prefix(len)))
    }

    /// PEM text of the public half.
    var publicPEM: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PUBKEY(bio, pkey) == 1 else { clearOpenSSLErrors(); return "" }
        var ptr: UnsafeMutablePointer<CChar>? = nil
        let n = cmp_BIO_get_mem_data(bio, &ptr)
        guard n > 0, let ptr else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
    }
}

/// An `EVP_PKEY_CTX` initialised once for PS256 verification of a SHA-256 digest (RSASSA-PSS,
/// MGF1-SHA-256, salt length 32) and then used for many `EVP_PKEY_verify` calls.
///
/// `@unchecked Sendable`: it moves between threads through ``EVPKeyBacking``'s pool, which
/// hands each context to one caller at a time.
final class PS256VerifyContext: @unchecked Sendable {
    let ctx: OpaquePointer

    init?(pkey: OpaquePointer) {
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else {
            clearOpenSSLErrors()
            return nil
        }
        guard EVP_PKEY_verify_init(ctx) == 1,
              EVP_PKEY_CTX_set_signature_md(ctx, OpenSSLDigests.sha256) == 1,
              setPSSParameters(ctx, saltLength: 32) else {
            clearOpenSSLErrors()
            EVP_PKEY_CTX_free(ctx)
            return nil
        }
        self.ctx = ctx
    }

    deinit { EVP_PKEY_CTX_free(ctx) }
}

/// Sets RSASSA-PSS padding with MGF1-SHA-256 and a salt of `saltLength` bytes on `pctx`;
/// true only if OpenSSL accepted all three.
func setPSSParameters(_ pctx: OpaquePointer, saltLength: Int32) -> Bool {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
        && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, OpenSSLDigests.sha256) == 1
        && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltLength) == 1
}

/// Fills `count` bytes from OpenSSL's CSPRNG.
func secureRandomBytes(_ count: Int) -> [UInt8]? {
    var out = [UInt8](repeating: 0, count: count)
    guard RAND_bytes(&out, Int32(count)) == 1 else { clearOpenSSLErrors(); return nil }
    return out
}
