import ArgumentParser
import Foundation
import MeterProof

/// Process exit codes, documented in docs/cli.md.
enum Exit {
    static let ok: Int32 = 0
    static let rejected: Int32 = 1
    static let unreadable: Int32 = 2
    static let notATrail: Int32 = 3
    static let newerSchema: Int32 = 4
    static let storage: Int32 = 5
    static let locked: Int32 = 6
    static let usage: Int32 = 64
}

/// Prints one line to standard error.
func printError(_ message: String) {
    let line = "meterproof: " + message.replacingOccurrences(of: "\n", with: " ") + "\n"
    FileHandle.standardError.write(Data(line.utf8))
}

/// Prints a one-line error and returns the exit code to throw.
func fail(_ code: Int32, _ message: String) -> ExitCode {
    printError(message)
    return ExitCode(code)
}

/// Writes text to standard output without buffering surprises.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Reads a whole input file (or stdin for `-`/nil), refusing anything above `limit` bytes.
func readInput(_ path: String?, limit: Int = 1 << 20) throws -> [UInt8] {
    let handle: FileHandle
    if path == nil || path == "-" {
        handle = FileHandle.standardInput
    } else {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path!, isDirectory: &isDir) else {
            throw fail(Exit.unreadable, "cannot read \(path!): no such file")
        }
        guard !isDir.boolValue else { throw fail(Exit.unreadable, "cannot read \(path!): is a directory") }
        guard let h = FileHandle(forReadingAtPath: path!) else { throw fail(Exit.unreadable, "cannot read \(path!): permission denied") }
        handle = h
    }
    var out: [UInt8] = []
    while true {
        let chunk: Data
        do { chunk = try handle.read(upToCount: 64 * 1024) ?? Data() } catch {
            throw fail(Exit.unreadable, "cannot read \(path ?? "standard input"): \(error.localizedDescription)")
        }
        if chunk.isEmpty { break }
        out.append(contentsOf: chunk)
        if out.count > limit { throw fail(Exit.unreadable, "input \(path ?? "standard input") is larger than \(limit) bytes") }
    }
    return out
}

/// Loads a keyring or exits 2 with the file named.
func loadKeyring(_ path: String) throws -> Keyring {
    do { return try Keyring.load(from: path) } catch {
        throw fail(Exit.unreadable, "keyring: \(error.description)")
    }
}

/// The reference to a JSON value for output.
extension JSONValue {
    static func str(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func int(_ i: Int64?) -> JSONValue { i.map { .number(JSONNumber($0)) } ?? .null }
    static func int(_ i: Int?) -> JSONValue { int(i.map(Int64.init)) }
}

/// Checks the policy-lowering flags shared by verify and import.
struct FreshnessOptions: ParsableArguments {
    @Option(name: .customLong("max-age"), help: "Refuse tokens whose iat is older than SECONDS (default 600).")
    var maxAge: Int64?

    @Flag(name: .customLong("no-freshness"), help: "Do not judge iat at all (offline audit).")
    var noFreshness = false

    @Option(name: .customLong("min-key-bits"), help: "Lowest accepted RSA modulus size (default 2048). Lowering it prints a warning.")
    var minKeyBits: Int?

    func validate() throws {
        if noFreshness && maxAge != nil { throw ValidationError("--max-age and --no-freshness exclude each other.") }
        if let maxAge, maxAge <= 0 { throw ValidationError("--max-age must be a positive number of seconds.") }
        if let minKeyBits, minKeyBits < 512 || minKeyBits > 16384 { throw ValidationError("--min-key-bits must be between 512 and 16384.") }
    }

    func apply(to policy: inout VerificationPolicy) {
        if noFreshness { policy.maxAge = nil; policy.maxFutureSkew = nil }
        if let maxAge { policy.maxAge = maxAge }
        if let minKeyBits {
            if minKeyBits < 2048 { printError("warning: accepting RSA keys of \(minKeyBits) bits, below the 2048-bit floor RFC 7518 requires for PS256") }
            policy.minimumKeyBits = minKeyBits
        }
    }
}
