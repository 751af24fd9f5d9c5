import CMeterProofOpenSSL

/// SHA-256 through OpenSSL's one-shot and streaming digests.
package enum SHA256 {
    /// The digest size in bytes.
    public static let byteCount = 32

    /// SHA-256 of `bytes`. Uses `EVP_Digest` with a digest fetched once: OpenSSL 3's one-shot
    /// `SHA256()` fetches the algorithm by name on every call.
    package static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, n in
            var len: UInt32 = 0
            let ok = EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress, &len, OpenSSLDigests.sha256, nil)
            precondition(ok == 1 && len == 32, "EVP_Digest(SHA-256) failed")
            n = 32
        }
    }

    /// SHA-256 of a byte collection.
    package static func hash<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(bytes).withUnsafeBytes { hash($0) }
    }

    /// SHA-256 of a string's UTF-8 bytes.
    package static func hash(_ string: String) -> [UInt8] {
        var s = string
        return s.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }
}

/// A streaming SHA-256 context; owns its `EVP_MD_CTX`.
package final class SHA256Hasher {
    private let ctx: OpaquePointer

    package init() {
        ctx = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(ctx, OpenSSLDigests.sha256, nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// Feeds bytes into the digest.
    package func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    package func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { update($0) }
        }
    }

    /// Finishes and returns the digest; the hasher is reset for reuse.
    package func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, n in
            finalize(into: UnsafeMutableRawBufferPointer(out))
            n = 32
        }
    }

    /// Finishes, writing the 32-byte digest to `out` (no allocation); the hasher is reset for reuse.
    package func finalize(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 32, "a SHA-256 digest needs 32 bytes")
        var len: UInt32 = 0
        let ok = EVP_DigestFinal_ex(ctx, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &len) == 1
            && EVP_DigestInit_ex(ctx, OpenSSLDigests.sha256, nil) == 1
        precondition(ok && len == 32, "EVP_DigestFinal_ex(SHA-256) failed")
    }
}
