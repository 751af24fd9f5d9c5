import Foundation
import MeterProof
@testable import MeterProofAudit

/// The repository root (three levels above this file).
enum RepoFiles {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.standardizedFileURL.path
    }()
    static var testKeys: String { root + "/keys/test" }
    static func privateKey(_ v: Int) throws -> RSAPrivateKey {
        try RSAPrivateKey(pem: String(contentsOfFile: "\(testKeys)/private/v\(v).key.pem", encoding: .utf8))
    }
}

/// One directory per test process for everything the export tests write; the
/// directories of earlier test processes that have exited are removed when it is made.
let exportTestRoot: String = {
    let base = NSTemporaryDirectory() + "meterproof-export-tests"
    let fm = FileManager.default
    for name in (try? fm.contentsOfDirectory(atPath: base)) ?? [] {
        if let pid = Int32(name), pid != getpid(), kill(pid, 0) != 0 { try? fm.removeItem(atPath: base + "/" + name) }
    }
    let mine = base + "/\(getpid())"
    try? fm.createDirectory(atPath: mine, withIntermediateDirectories: true)
    return mine
}()

/// A fresh temporary directory.
/// A new trail at `dir/t.sqlite` of a fresh log named `log`, holding one live verification
/// per (product code, nonce): a response signed with test key v1 (iat 1), verified offline
/// against its own request, recorded with its key.
func makeTrailOfVerifications(in dir: String, log: String, _ requests: [(product: String, nonce: String)]) throws -> (AuditTrail, NoteSigner) {
    let signer = try NoteSigner.generate(name: log)
    let trail = try AuditTrail.create(path: dir + "/t.sqlite", signer: signer)
    let sim = ResponseSimulator(signingKey: try RepoFiles.privateKey(1))
    let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
    let verifier = Verifier(keyring: keyring, policy: .offline)
    let items = try requests.map { q in
        let r = try sim.response(productCode: q.product, keyVersion: 1, nonce: q.nonce, issuedAt: 1)
        let request = RegisterUsageRequest(productCode: q.product, publicKeyVersion: 1, nonce: q.nonce)
        return AuditTrail.Pending(result: verifier.verify(Array(r.utf8), expecting: request), keyring: keyring, source: .live)
    }
    _ = try trail.append(items)
    return (trail, signer)
}

func makeTempDir(_ tag: String = "export") throws -> String {
    let path = exportTestRoot + "/\(tag)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A trail of a few hundred entries made by the real verifier over simulated tokens, in
/// three time phases, with both test keys, several products, odd nonces (commas, quotes,
/// line breaks, the empty string) and several rejection reasons; a checkpoint after the
/// second phase… see `build()`.
struct ExportFixture: Sendable {
    let dir: String
    let db: String
    let signer: NoteSigner
    /// Epoch ms boundaries between the phases.
    let t1: Int64
    let t2: Int64
    /// Entries covered by the stored checkpoint, and entries appended after it.
    let checkpointSize: UInt64
    let newer: UInt64

    static let products = ["prod-a", "prod-b", "prod-c"]

    static let shared: Result<ExportFixture, any Error> = Result { try build() }

    static func get() throws -> ExportFixture { try shared.get() }

    static func build() throws -> ExportFixture {
        let dir = try makeTempDir("fixture")
        let db = dir + "/trail.sqlite"
        let signer = try NoteSigner.generate(name: "export.test/log")
        let trail = try AuditTrail.create(path: db, signer: signer)
        let keyring = try Keyring.load(from: RepoFiles.testKeys, allowingTestKeys: true)
        let verifier = Verifier(keyring: keyring, policy: .strict)
        let sims = [1: ResponseSimulator(signingKey: try RepoFiles.privateKey(1)), 2: ResponseSimulator(signingKey: try RepoFiles.privateKey(2))]
        let now = WallClock.nowSeconds()
        var n = 0

        func phase(_ count: Int) throws {
            var items: [AuditTrail.Pending] = []
            for _ in 0..<count {
                n += 1
                let version = n % 5 == 0 ? 2 : 1
                let product = products[n % 3]
                let nonce: String
                switch n % 11 {
                case 3: nonce = "n\(n), with a comma"
                case 4: nonce = "n\(n) \"quoted\""
                case 5: nonce = "n\(n)\r\nline break"
                case 6: nonce = "n\(n) ünïcødé ✓"
                default: nonce = "nonce-\(n)"
                }
                // Entry 7: an empty nonce, refused as invalid_request (an empty CSV cell in the bundle).
                let useNonce = n == 7 ? "" : nonce
                let response = try sims[version]!.response(productCode: product, keyVersion: version, nonce: useNonce, issuedAt: now - 1)
                var request = RegisterUsageRequest(productCode: product, publicKeyVersion: version, nonce: useNonce)
                var input = Array(response.utf8)
                switch n % 13 {
                case 1: request.productCode = "other-product"                   // product_code_mismatch
                case 2: request.publicKeyVersion = 3                              // unknown_key_version
                case 8: input = Array(("{\"Signature\":\"" + tamperSignature(response) + "\"}").utf8) // bad_signature
                case 9: input = Array("not a response".utf8)                      // malformed_token
                default: break
                }
                let result = verifier.verify(input, expecting: request, now: now)
                items.append(AuditTrail.Pending(result: result, keyring: keyring, source: .live))
                if n % 17 == 0 { items.append(AuditTrail.Pending(result: result, keyring: keyring, source: .live)) } // replay
                if items.count >= 25 {
                    _ = try trail.append(items)
                    items.removeAll()
                }
            }
            if !items.isEmpty { _ = try trail.append(items) }
        }

        func pause() -> Int64 {
            usleep(5_000)
            let t = WallClock.nowMilliseconds()
            usleep(5_000)
            return t
        }

        try phase(90)
        let t1 = pause()
        try phase(90)
        let t2 = pause()
        try phase(90)
        let note = try trail.signCheckpoint(with: signer)
        let cp = try Checkpoint(verifying: note, verifiers: [trail.verifier])
        usleep(5_000)
        try phase(12)
        let total = try trail.size()
        return ExportFixture(dir: dir, db: db, signer: signer, t1: t1, t2: t2, checkpointSize: cp.size, newer: total - cp.size)
    }

    /// The response with the last character of its signature changed.
    static func tamperSignature(_ response: String) -> String {
        let obj = try! StrictJSON.parse(response).objectValue!
        var token = obj["Signature"]!.stringValue!
        let last = token.removeLast()
        token.append(last == "A" ? "Q" : "A")
        return token
    }

    func trail() throws -> AuditTrail { try AuditTrail(path: db, readOnly: true) }

    /// A copy of the trail (for tests that append or sign, so the shared one stays as built).
    func copyTrail() throws -> String {
        let path = try makeTempDir("trailcopy") + "/trail.sqlite"
        let src = try SQLiteDatabase(path: db, mode: .readOnly)
        try src.execute("VACUUM INTO '\(path)'")
        return path
    }

    /// Exports into a new directory under a fresh temporary directory.
    func export(_ filter: EntryFilter = EntryFilter(), signer: NoteSigner? = nil) throws -> (dir: String, summary: ExportSummary) {
        let out = try makeTempDir("bundle") + "/bundle"
        let t = signer == nil ? try trail() : try AuditTrail(path: try copyTrail())
        let s = try t.exportBundle(to: out, options: ExportOptions(filter: filter, signer: signer))
        return (out, s)
    }

    /// Entries of the trail below the stored checkpoint that match `filter`.
    func matching(_ filter: EntryFilter) throws -> [AuditEntry] {
        let t = try trail()
        return try (0..<checkpointSize).map { try t.entry($0) }.filter { filter.matches($0) }
    }
}

/// Verifies a bundle with the library; returns the problem code (nil when sound).
func bundleProblem(_ dir: String, logKey: NoteVerifier? = nil, keyring: Keyring? = nil, checkTokens: Bool = true) throws -> String? {
    try BundleVerifier(directory: dir, logKey: logKey, keyring: keyring, checkTokens: checkTokens).verify().problemCode
}

enum BundleEdit {
    static func read(_ dir: String, _ rel: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel)))
    }

    static func write(_ dir: String, _ rel: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + rel))
    }

    /// Copies a bundle to a new temporary directory.
    static func copy(_ dir: String) throws -> String {
        let dst = try makeTempDir("copy") + "/bundle"
        try FileManager.default.copyItem(atPath: dir, toPath: dst)
        return dst
    }

    /// Every file of a bundle, relative, sorted.
    static func files(_ dir: String) throws -> [String] {
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: dir)!
        while let f = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + f, isDirectory: &isDir), !isDir.boolValue { out.append(f) }
        }
        return out.sorted()
    }

    /// Rewrites SHA256SUMS for the bundle's current files, as a forger would.
    static func reseal(_ dir: String) throws {
        let lines = try files(dir).filter { $0 != "SHA256SUMS" }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { Hex.encode(SHA256.hash(try read(dir, $0))) + "  " + $0 + "\n" }
        try write(dir, "SHA256SUMS", Array(lines.joined().utf8))
    }

    /// Lines of a file split after each LF (kept).
    static func lines(_ dir: String, _ rel: String) throws -> [[UInt8]] {
        let b = try read(dir, rel)
        var out: [[UInt8]] = []
        var cur: [UInt8] = []
        for c in b {
            cur.append(c)
            if c == 0x0A { out.append(cur); cur = [] }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// CSV records (CRLF kept), header first.
    static func csvRecords(_ dir: String) throws -> [[UInt8]] {
        let b = try read(dir, "entries.csv")
        var out: [[UInt8]] = []
        var cur: [UInt8] = []
        var q = false
        for c in b {
            cur.append(c)
            if c == 0x22 { q.toggle() }
            if c == 0x0A && !q { out.append(cur); cur = [] }
        }
        return out
    }
}
