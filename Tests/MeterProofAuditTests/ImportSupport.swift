import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the Import*Tests files: signed tokens with fixed issue times, capture lines
// of every shape, and a scratch trail to import into through `CaptureImporter`.

enum ImportFixture {
    /// 2026-11-02T00:00:00Z: issue times are fixed, so freshness is decided by `capturedAt` alone.
    static let base: Int64 = 1_793_577_600
    static let productCode = "prod-import"
    static let v1Fingerprint = "a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"
    static let v2Fingerprint = "0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85"

    static let v2: RSAPrivateKey = {
        let path = TrailPaths.testKeys + "/private/v2.key.pem"
        guard let d = FileManager.default.contents(atPath: path), let k = try? RSAPrivateKey(pem: String(decoding: d, as: UTF8.self)) else {
            fatalError("cannot load \(path)")
        }
        return k
    }()

    /// A compact JWS signed with the test key of `version` (1: RSA-2048, 2: RSA-3072).
    static func token(_ nonce: String?, iat: Int64? = base, productCode: String = productCode, version: Int = 1,
                      spelling: ClaimSpelling = .camel) throws -> String {
        let sim = ResponseSimulator(signingKey: version == 1 ? TrailFixture.v1 : v2)
        return try sim.token(payload: ResponseSimulator.payload(productCode: productCode, keyVersion: version, nonce: nonce,
                                                                issuedAt: iat, spelling: spelling))
    }

    /// `{"Signature":"<token>","PublicKeyRotationTimestamp":<rotation or null>}`.
    static func response(_ token: String, rotation: Int64? = nil) -> String {
        #"{"Signature":"# + JSONText.quoted(token) + #","PublicKeyRotationTimestamp":"# + (rotation.map(String.init) ?? "null") + "}"
    }

    /// A bound capture line. `version` is written as given (a JSON integer, or a string when quoted).
    static func bound(_ token: String, nonce: String?, productCode: String = productCode, version: String = "1",
                      capturedAt: String?, pascal: Bool = false, rotation: Int64? = nil) -> String {
        let (pc, v, n) = pascal ? ("ProductCode", "PublicKeyVersion", "Nonce") : ("productCode", "publicKeyVersion", "nonce")
        var request = #"{""# + pc + #"":"# + JSONText.quoted(productCode) + #",""# + v + #"":"# + version
        if let nonce { request += #",""# + n + #"":"# + JSONText.quoted(nonce) }
        request += "}"
        var line = #"{"request":"# + request + #","response":"# + response(token, rotation: rotation)
        if let capturedAt { line += #","capturedAt":"# + JSONText.quoted(capturedAt) }
        return line + "}"
    }

    /// RFC 3339 text of epoch seconds (`2026-11-01T00:00:00Z`).
    static func time(_ seconds: Int64) -> String { RFC3339.format(seconds: seconds) }

    /// Lowercase hex SHA-256.
    static func hex(_ bytes: some Collection<UInt8>) -> String { Hex.encode(SHA256.hash(Array(bytes))) }
    static func hex(_ text: String) -> String { hex(Array(text.utf8)) }

    /// Lines joined with LF, with a final LF.
    static func file(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\n") + "\n").utf8) }

    /// Lines of raw bytes joined with `terminator`, with a final one.
    static func file(_ lines: [[UInt8]], terminator: [UInt8] = [0x0A]) -> [UInt8] {
        var out: [UInt8] = []
        for l in lines { out += l; out += terminator }
        return out
    }

    /// Whether a line counts as blank for the import (only spaces, tabs and CRs).
    static func isBlank(_ line: String) -> Bool { line.utf8.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }
}

/// A scratch directory holding a fresh trail, and imports into it through the library.
final class ImportBed {
    let scratch: TrailScratch
    let trailPath: String
    let signer: NoteSigner

    init(_ tag: String = "import") throws {
        scratch = try TrailScratch(tag)
        trailPath = scratch.path("trail.sqlite")
        signer = try NoteSigner.generate(name: "import.test/log")
        try AuditTrail.create(path: trailPath, signer: signer)
    }

    /// Writes `bytes` to `name` in the scratch directory and imports it.
    @discardableResult
    func run(_ name: String, _ bytes: [UInt8], policy: VerificationPolicy = .strict, jobs: Int = 2, batchSize: Int = 2000) throws -> ImportSummary {
        try run(files: [scratch.write(name, bytes)], policy: policy, jobs: jobs, batchSize: batchSize)
    }

    @discardableResult
    func run(_ name: String, lines: [String], policy: VerificationPolicy = .strict, jobs: Int = 2, batchSize: Int = 2000) throws -> ImportSummary {
        try run(name, ImportFixture.file(lines), policy: policy, jobs: jobs, batchSize: batchSize)
    }

    @discardableResult
    func run(files: [String], policy: VerificationPolicy = .strict, jobs: Int = 2, batchSize: Int = 2000) throws -> ImportSummary {
        let importer = CaptureImporter(trailPath: trailPath, keyring: TrailFixture.keyring, policy: policy, jobs: jobs, batchSize: batchSize)
        return try importer.run(files: files)
    }

    func trail() throws -> AuditTrail { try AuditTrail(path: trailPath) }

    /// Every entry of the trail, in seq order.
    func entries() throws -> [AuditEntry] {
        let t = try trail()
        return try (0..<t.size()).map { try t.entry($0) }
    }

    /// Rows of the `captures` table.
    func captureRows() throws -> Int64 {
        try TrailRaw.int(TrailRaw.open(trailPath), "SELECT count(*) FROM captures")
    }
}

extension ImportSummary {
    /// The counts as one comparable string (reasons and warnings sorted), for compact expectations.
    var digest: String {
        func d(_ m: [String: Int]) -> String { m.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
        return "lines=\(lines) blank=\(blankLines) recorded=\(recorded) dup=\(duplicates) accepted=\(accepted) rejected=\(rejected) "
            + "bound=\(boundCaptures) unbound=\(unboundCaptures) reasons[\(d(reasons))] warnings[\(d(warnings))] "
            + "seqs=\(firstSeq.map(String.init) ?? "nil")..\(lastSeq.map(String.init) ?? "nil") size=\(treeSize) interrupted=\(interrupted)"
    }
}
