import MeterProofTestSupport
import Foundation
import MeterProof
import Testing
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the Trail*Tests files: scratch directories, trails with synthetic or real
// entries, raw SQLite access as an attacker holding the file would have it, and child processes.

/// Where things are, relative to the package root (three levels up from this file).
enum TrailPaths {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/MeterProofAuditTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
    static let testKeys = root.appendingPathComponent("keys/test").path
    static let checkTrailScript = root.appendingPathComponent("Tests/interop/check_trail.py").path

    /// An executable product `swift build` put next to the test bundle (`meterproof`, `meterproof-bench`).
    static func product(_ name: String) -> String? { TestProcess.builtProduct(name, packageRoot: root) }

    static let cli: String? = product("meterproof")
    static let bench: String? = product("meterproof-bench")
}

/// A temporary directory removed when the object goes away.
final class TrailScratch {
    let dir: String
    init(_ tag: String = "trail") throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("meterproof-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        dir = url.path
    }
    deinit {
        // A test may have made the directory read-only; give it back before removing it.
        chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func path(_ name: String) -> String { dir + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name)))) }
}

/// Output of a finished child process.
struct TrailProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum TrailRun {
    /// Runs `executable` to completion with stdout and stderr captured in files (no pipe deadlocks).
    static func program(_ executable: String, _ arguments: [String], cwd: String? = nil) throws -> TrailProcessResult {
        try start(executable, arguments, cwd: cwd).finish()
    }

    /// Runs `meterproof` (the built CLI).
    static func cli(_ arguments: [String], cwd: String? = nil) throws -> TrailProcessResult {
        let bin = try #require(TrailPaths.cli, "the meterproof executable was not found next to the tests; run `swift build` first")
        return try program(bin, arguments, cwd: cwd)
    }

    /// Starts `executable`; call `finish()` on the result to wait and collect its output.
    static func start(_ executable: String, _ arguments: [String], cwd: String? = nil) throws -> TrailChild {
        try TrailChild(executable, arguments, cwd: cwd)
    }

    /// The full path of `name` on `PATH`, if it is an executable file.
    static func which(_ name: String) -> String? { TestProcess.which(name) }

    /// Runs the CLI as the unprivileged user `nobody` (as root, file modes stop nothing), or
    /// returns `nil`, printing why, when `nobody` cannot run the binary here (the package
    /// directory must be reachable for it).
    static func cliAsNobody(_ arguments: [String], suite: String) throws -> TrailProcessResult? {
        let cli = try #require(TrailPaths.cli)
        let drop = ["--reuid=65534", "--regid=65534", "--clear-groups", cli]
        guard try program("/usr/bin/setpriv", drop + ["--help"]).status == 0 else {
            print("\(suite): skipping the unprivileged run: nobody cannot run \(cli)")
            return nil
        }
        return try program("/usr/bin/setpriv", drop + arguments)
    }
}

/// A running child process whose stdout and stderr go to files in its own scratch directory.
final class TrailChild {
    let process = Process()
    private let scratch: TrailScratch
    private let outHandle: FileHandle
    private let errHandle: FileHandle

    init(_ executable: String, _ arguments: [String], cwd: String?) throws {
        scratch = try TrailScratch("child")
        _ = FileManager.default.createFile(atPath: scratch.path("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.path("err"), contents: nil)
        outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("out")))
        errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("err")))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// What the child has written to stdout so far.
    func stdoutSoFar() -> String { String(decoding: (try? scratch.read("out")) ?? [], as: UTF8.self) }

    /// Waits for the child and returns its status and output.
    func finish() throws -> TrailProcessResult {
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return TrailProcessResult(status: process.terminationStatus,
                                  stdout: String(decoding: try scratch.read("out"), as: UTF8.self),
                                  stderr: String(decoding: try scratch.read("err"), as: UTF8.self))
    }
}

/// External tools; tests that need one skip with a printed reason when it is absent.
enum TrailTools {
    /// `python3` able to import `cryptography`'s Ed25519.
    static let python: String? = {
        guard let py = TrailRun.which("python3"),
              let r = try? TrailRun.program(py, ["-c", "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey"]),
              r.status == 0 else { return nil }
        return py
    }()
}

/// Builders for trails and entries.
enum TrailFixture {
    static let origin = "trail.test/log"
    static let productCode = "prod-trail"

    static func signer(_ name: String = origin) throws -> NoteSigner { try NoteSigner.generate(name: name) }

    /// A new trail at `scratch/name` with a fresh log key.
    static func makeTrail(_ scratch: TrailScratch, _ name: String = "trail.sqlite", origin: String = origin) throws -> (AuditTrail, NoteSigner) {
        let s = try signer(origin)
        let t = try AuditTrail.create(path: scratch.path(name), signer: s)
        return (t, s)
    }

    /// A synthetic entry: accepted with `nonce` when given, otherwise rejected `bad_signature`.
    static func entry(_ i: Int, nonce: String? = nil, productCode: String = productCode) -> AuditEntry {
        var e = AuditEntry(rejected: .badSignature, message: "synthetic entry \(i)", source: .live, capture: nil)
        e.productCode = productCode
        e.publicKeyVersion = 1
        if let nonce {
            e.outcome = "accepted"
            e.reason = nil
            e.message = nil
            e.binding = "bound"
            e.nonce = nonce
        }
        return e
    }

    /// Appends `count` synthetic entries (every third accepted with a unique nonce).
    static func fill(_ trail: AuditTrail, count: Int, tag: String = "n") throws {
        for i in 0..<count {
            try trail.record(entry(i, nonce: i % 3 == 0 ? "\(tag)-\(i)" : nil))
        }
    }

    // MARK: Real tokens

    static let keyring: Keyring = {
        do { return try Keyring.load(from: TrailPaths.testKeys, allowingTestKeys: true) } catch { fatalError("cannot load \(TrailPaths.testKeys): \(error)") }
    }()

    static let v1: RSAPrivateKey = {
        let path = TrailPaths.testKeys + "/private/v1.key.pem"
        guard let d = FileManager.default.contents(atPath: path), let k = try? RSAPrivateKey(pem: String(decoding: d, as: UTF8.self)) else {
            fatalError("cannot load \(path)")
        }
        return k
    }()

    /// A response object signed with the v1 test key, issued now.
    static func response(nonce: String, productCode: String = productCode) throws -> String {
        try ResponseSimulator(signingKey: v1).response(productCode: productCode, keyVersion: 1, nonce: nonce, issuedAt: WallClock.nowSeconds())
    }

    /// The entry for verifying `response(nonce:)` against a request for `nonce`.
    static func verifiedEntry(nonce: String, requestNonce: String? = nil) throws -> AuditEntry {
        let r = try response(nonce: nonce)
        let request = RegisterUsageRequest(productCode: productCode, publicKeyVersion: 1, nonce: requestNonce ?? nonce)
        let result = Verifier(keyring: keyring).verify(Array(r.utf8), expecting: request)
        return AuditEntry(result: result, source: .live)
    }

    /// `verify` arguments for the CLI.
    static func verifyArgs(nonce: String, db: String, input: String) -> [String] {
        ["verify", "--keys", TrailPaths.testKeys, "--allow-test-keys", "--product-code", productCode, "--key-version", "1",
         "--nonce", nonce, "--format", "json", "--db", db, input]
    }
}

/// Raw access to a trail file through a plain SQLite connection (no defensive mode), as anyone
/// holding the file has it.
enum TrailRaw {
    static let tables = ["meta", "entries", "nodes", "nonces", "checkpoints", "captures"]

    static func open(_ path: String) throws -> SQLiteDatabase {
        try SQLiteDatabase(path: path, mode: .readWrite, busyTimeoutMilliseconds: 2000)
    }

    /// Drops every trigger (the append-only guards), as an attacker with the file would.
    static func dropTriggers(_ db: SQLiteDatabase) throws {
        let st = try db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        var names: [String] = []
        while try st.step() { names.append(st.string(at: 0) ?? "") }
        #expect(names.count >= 2 * tables.count, "triggers: \(names)")
        for n in names { try db.execute("DROP TRIGGER \"\(n)\"") }
    }

    /// Opens `path`, drops the triggers and runs `body` in one transaction.
    static func tamper(_ path: String, _ body: (SQLiteDatabase) throws -> Void) throws {
        let db = try open(path)
        try dropTriggers(db)
        try db.transaction(.immediate) { try body(db) }
    }

    static func int(_ db: SQLiteDatabase, _ sql: String) throws -> Int64 {
        let st = try db.prepare(sql)
        guard try st.step() else { return -1 }
        return st.int64(at: 0)
    }

    static func body(_ db: SQLiteDatabase, _ seq: Int64) throws -> [UInt8] {
        let st = try db.prepare("SELECT body FROM entries WHERE seq = ?")
        try st.bind(seq, at: 1)
        guard try st.step(), let b = st.blob(at: 0) else { throw AuditError(.noSuchEntry, "raw: no entry \(seq)") }
        return b
    }

    static func setBody(_ db: SQLiteDatabase, _ seq: Int64, _ body: [UInt8], rehash: Bool) throws {
        let st = try db.prepare(rehash ? "UPDATE entries SET body = ?, leaf_hash = ? WHERE seq = ?" : "UPDATE entries SET body = ? WHERE seq = ?")
        try st.bind(body, at: 1)
        if rehash {
            try st.bind(RFC6962.leafHash(body).bytes, at: 2)
            try st.bind(seq, at: 3)
        } else {
            try st.bind(seq, at: 2)
        }
        try st.run()
        #expect(db.changes == 1)
    }

    /// Re-serializes `body` with a different seq (still canonical).
    static func withSeq(_ body: [UInt8], _ seq: UInt64) throws -> [UInt8] {
        var e = try AuditEntry(canonicalBytes: body)
        e.seq = seq
        return try e.canonicalBytes()
    }

    /// Recomputes every leaf hash from the bodies and rebuilds the nodes table, so the file is
    /// self-consistent again; only signed checkpoints (or one kept elsewhere) can tell.
    static func rebuildTree(_ db: SQLiteDatabase) throws {
        try db.execute("DELETE FROM nodes")
        let read = try db.prepare("SELECT seq, body FROM entries ORDER BY seq")
        var rows: [(Int64, [UInt8])] = []
        while try read.step() { rows.append((read.int64(at: 0), read.blob(at: 1) ?? [])) }
        let setLeaf = try db.prepare("UPDATE entries SET leaf_hash = ? WHERE seq = ?")
        let addNode = try db.prepare("INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)")
        var f = MerkleFrontier()
        for (seq, body) in rows {
            let leaf = RFC6962.leafHash(body)
            try setLeaf.bind(leaf.bytes, at: 1)
            try setLeaf.bind(seq, at: 2)
            try setLeaf.run()
            setLeaf.reset()
            try f.append(leaf) { level, index, hash in
                // What the writer stores (levels 4, 8, …), as an attacker who knows the format would.
                guard AuditTrail.isStoredLevel(level) else { return }
                try addNode.bind(Int64(level), at: 1)
                try addNode.bind(Int64(index), at: 2)
                try addNode.bind(hash.bytes, at: 3)
                try addNode.run()
                addNode.reset()
            }
        }
    }
}

/// The leaf hashes of a trail's stored bodies, in order.
func trailLeafHashes(_ trail: AuditTrail) throws -> [MerkleHash] {
    var out: [MerkleHash] = []
    try trail.forEachEntry { _, bytes in out.append(RFC6962.leafHash(bytes)) }
    return out
}
