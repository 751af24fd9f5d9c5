import MeterProofTestSupport
import Foundation
import Testing
import MeterProof

/// Where things are, relative to the package root (three levels up from this file).
enum Paths {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Tests/MeterProofCLITests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root
    static let testKeys = root.appendingPathComponent("keys/test")
    static let peerScript = root.appendingPathComponent("Tests/interop/pss_peer.py").path

    /// The `meterproof` executable `swift build` put next to the test bundle.
    static let binary: String? = TestProcess.builtProduct("meterproof", packageRoot: root)
}

/// Fixed values for the CLI tests. The CLI judges freshness against the wall clock, so tokens are
/// issued "now" unless a test says otherwise.
enum CLIFixture {
    static let product = "prod-abc"
    static let nonce = "6d1f4b2a-3c5e-4f70-8a9b-0c1d2e3f4a5b"
    static let v1Fingerprint = "a97721a799eabe9ab15efe1fb52ca8efbb322fbdc03c43f4bea8fd187ac9415d"
    static let v2Fingerprint = "0f2644fcad00920fcb2bf0db3fdb4e1440effa8c466d299e4a9dbd7554b90b85"

    static func privateKey(_ name: String) -> RSAPrivateKey {
        let path = Paths.testKeys.appendingPathComponent("private/\(name)").path
        guard let d = FileManager.default.contents(atPath: path), let k = try? RSAPrivateKey(pem: String(decoding: d, as: UTF8.self)) else {
            fatalError("cannot load \(path)")
        }
        return k
    }

    static let v1 = privateKey("v1.key.pem")
    static let v2 = privateKey("v2.key.pem")

    /// A response object from the library simulator (the engine behind `meterproof simulate`).
    static func response(key: RSAPrivateKey = v1, productCode: String = product, keyVersion: Int = 1, nonce: String? = nonce,
                         issuedAt: Int64? = WallClock.nowSeconds(), spelling: ClaimSpelling = .camel, rotation: Int64? = nil) throws -> String {
        try ResponseSimulator(signingKey: key).response(productCode: productCode, keyVersion: keyVersion, nonce: nonce, issuedAt: issuedAt,
                                                        spelling: spelling, rotationTimestamp: rotation)
    }

    /// The usual verify arguments for `input`.
    static func verifyArgs(_ input: String?, keys: String = Paths.testKeys.path, keyVersion: Int = 1, nonce: String? = nonce,
                           product: String = product, json: Bool = true) -> [String] {
        var a = ["verify", "--keys", keys, "--product-code", product, "--key-version", String(keyVersion), "--allow-test-keys"]
        if let nonce { a += ["--nonce", nonce] } else { a += ["--allow-missing-nonce"] }
        if json { a += ["--format", "json"] }
        return a + (input.map { [$0] } ?? [])
    }
}

struct CLIRun: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    /// stderr split into lines (a final newline does not make an extra empty line).
    var stderrLines: [String] {
        var lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// stdout parsed as one JSON value by MeterProof's strict reader.
    func json() throws -> JSONValue { try StrictJSON.parse(Array(stdout.utf8)) }

    func object() throws -> JSONObject {
        try #require(try json().objectValue, "stdout is not a JSON object: \(stdout)")
    }
}

enum Run {
    /// Runs a program with stdin from `stdin` (empty when nil) and stdout/stderr captured in files.
    static func program(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil, cwd: String? = nil) throws -> CLIRun {
        let r = try TestProcess.run(executable, arguments, stdin: stdin, cwd: cwd)
        return CLIRun(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// Runs `meterproof` with `arguments`.
    static func cli(_ arguments: [String], stdin: [UInt8]? = nil) throws -> CLIRun {
        let bin = try #require(Paths.binary, "the meterproof executable was not found next to the tests; run `swift build` first")
        return try program(bin, arguments, stdin: stdin)
    }

    static func which(_ name: String) -> String? { TestProcess.which(name) }
}

/// External tools some CLI tests compare against; each test skips with a reason when its tool is absent.
enum Tools {
    static let openssl: String? = Run.which("openssl")
    static let jose: String? = Run.which("jose")
    /// `python3` able to import `cryptography`.
    static let python: String? = {
        guard let py = Run.which("python3"), let r = try? Run.program(py, [Paths.peerScript, "check"]), r.status == 0 else { return nil }
        return py
    }()
}

func temporaryDirectory(_ tag: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("meterproof-cli-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A scratch directory removed at the end of the test.
final class Scratch {
    let dir: URL
    init() throws { dir = try temporaryDirectory("scratch") }
    deinit { try? FileManager.default.removeItem(at: dir) }

    /// Writes `text` to `name` in the scratch directory and returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
}

extension JSONValue {
    var intValue: Int64? { if case .number(let n) = self { return n.int64 } else { return nil } }
    var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
}
