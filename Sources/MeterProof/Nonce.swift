import Synchronization

/// RegisterUsage nonces.
public enum Nonce {
    /// 128 random bits from OpenSSL's `RAND_bytes`, printed as a lowercase UUID-shaped string
    /// (8-4-4-4-12 hex digits). No version bits are set: all 128 bits are random.
    public static func generate() throws(NonceError) -> String {
        guard let b = secureRandomBytes(16) else { throw NonceError() }
        let h = Hex.encode(b)
        let u = Array(h.utf8)
        func part(_ r: Range<Int>) -> String { String(decoding: u[r], as: UTF8.self) }
        return "\(part(0..<8))-\(part(8..<12))-\(part(12..<16))-\(part(16..<20))-\(part(20..<32))"
    }
}

/// OpenSSL's random generator failed; no nonce was produced. Its only code is
/// `random_failure`; retrying is safe.
public struct NonceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable code, `random_failure`.
    public var code: String { "random_failure" }
    /// A human sentence.
    public var reason: String { "OpenSSL RAND_bytes failed; no nonce generated" }
    /// The ``reason`` alone (without the code).
    public var description: String { reason }
}

/// Remembers which nonces were accepted, so each is accepted at most once per product code.
///
/// Implementations must make ``consume(nonce:productCode:)`` atomic: of any number of
/// concurrent calls with the same pair, exactly one returns `true`, ever.
/// `MeterProofAudit`'s trail applies the same rule durably and across processes inside its
/// append transaction (`AuditTrail.append`), where the nonce is consumed together with the
/// record of the attempt.
public protocol ReplayGuard: Sendable {
    /// Marks `(productCode, nonce)` used. Returns `true` the first time, `false` afterwards.
    func consume(nonce: String, productCode: String) throws -> Bool
}

/// A process-local ``ReplayGuard`` (forgets everything when the process exits).
///
/// Thread-safe: the set of used pairs sits behind a `Mutex`. It grows without bound, one entry
/// per consumed `(productCode, nonce)` pair (with ``Verifier``, per accepted nonce) for the
/// life of the process; for a long-lived process or across restarts, use the audit trail.
public final class InMemoryReplayGuard: ReplayGuard {
    private let used = Mutex<Set<ExactString>>([])

    /// An empty guard: no nonce consumed yet.
    public init() {}

    /// Remembers `(productCode, nonce)` and returns `true` the first time the pair is seen,
    /// `false` afterwards; atomic under the lock, never throws. Pairs are compared by their
    /// UTF-8 bytes, as the trail's unique index compares them: canonically equivalent spellings
    /// of a nonce are different nonces.
    public func consume(nonce: String, productCode: String) -> Bool {
        // Length-prefixed, so no product code and nonce can run into another pair.
        let key = ExactString("\(productCode.utf8.count):\(productCode)\(nonce)")
        return used.withLock { $0.insert(key).inserted }
    }
}
