import CMeterProofOpenSSL
import MeterProof

/// A SHA-256 value in a Merkle tree: exactly 32 bytes, stored inline (no heap allocation).
///
/// The bytes live in four `UInt64` words in memory order, so `withUnsafeBytes` exposes the
/// digest exactly as SHA-256 produced it.
public struct MerkleHash: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline
    typealias Storage = (UInt64, UInt64, UInt64, UInt64)

    @usableFromInline
    var storage: Storage

    @inlinable
    init(storage: Storage) { self.storage = storage }

    /// The all-zero value (not the hash of anything); useful as a placeholder.
    public static let zero = MerkleHash(storage: (0, 0, 0, 0))

    /// The 32 bytes of `bytes`; `nil` unless it has exactly 32 elements.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var s: Storage = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &s) { out in
            var i = 0
            for b in bytes where i < 32 {
                out[i] = b
                i += 1
            }
        }
        storage = s
    }

    /// Decodes standard padded base64 (strict); `nil` unless it decodes to exactly 32 bytes.
    public init?(base64: String) {
        guard base64.utf8.count == 44, let b = Base64.decode(base64) else { return nil }
        self.init(bytes: b)
    }

    /// Decodes 64 hex digits (either case); `nil` otherwise.
    public init?(hex: String) {
        guard hex.utf8.count == 64, let b = Hex.decode(hex) else { return nil }
        self.init(bytes: b)
    }

    /// The 32 bytes as an array.
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Standard padded base64 (44 characters).
    public var base64: String { Base64.encode(bytes) }

    /// Lowercase hex (64 characters).
    public var hex: String { Hex.encode(bytes) }

    /// Lowercase hex.
    public var description: String { hex }

    /// Calls `body` with the 32 bytes.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    /// The same 32 bytes.
    @inlinable
    public static func == (a: MerkleHash, b: MerkleHash) -> Bool {
        // Not constant-time; Merkle hashes are public values.
        a.storage.0 == b.storage.0 && a.storage.1 == b.storage.1
            && a.storage.2 == b.storage.2 && a.storage.3 == b.storage.3
    }

    /// Hashes the 32 bytes.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }
}

/// The SHA-256 implementation fetched once from OpenSSL's default provider.
///
/// `SHA256()` in OpenSSL 3 re-fetches the algorithm by name on every call (~650 ns for a
/// 65-byte input here); `EVP_Digest` with a pre-fetched `EVP_MD` takes ~260 ns.
final class FetchedSHA256: @unchecked Sendable {
    // @unchecked Sendable: a fetched EVP_MD is immutable and OpenSSL documents it as safe to
    // use from many threads at once; it is only freed in deinit.
    let md: OpaquePointer
    private let owned: Bool

    init() {
        if let fetched = EVP_MD_fetch(nil, "SHA256", nil) {
            md = fetched
            owned = true
        } else {
            md = EVP_sha256()
            owned = false
        }
    }

    deinit {
        if owned { EVP_MD_free(md) }
    }

    static let shared = FetchedSHA256()
}

@usableFromInline
enum Digest {
    /// SHA-256 of `count` bytes at `bytes`, written straight into a `MerkleHash`.
    @usableFromInline
    static func sha256(_ bytes: UnsafeRawPointer?, _ count: Int) -> MerkleHash {
        var out = MerkleHash.zero
        Swift.withUnsafeMutableBytes(of: &out.storage) { o in
            let p = o.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if EVP_Digest(bytes, count, p, nil, FetchedSHA256.shared.md, nil) != 1 {
                // EVP_Digest only fails if it cannot allocate a context; the one-shot API
                // has its own fallback path.
                _ = CMeterProofOpenSSL.SHA256(bytes?.assumingMemoryBound(to: UInt8.self), count, p)
            }
        }
        return out
    }

    static func sha256(_ bytes: UnsafeRawBufferPointer) -> MerkleHash {
        sha256(bytes.baseAddress, bytes.count)
    }

    static func sha256(_ bytes: some Collection<UInt8>) -> MerkleHash {
        if let h = bytes.withContiguousStorageIfAvailable({ sha256(UnsafeRawBufferPointer($0)) }) { return h }
        return Array(bytes).withUnsafeBytes { sha256($0) }
    }
}
