import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof
import Synchronization

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
    /// SIGINT or SIGTERM stopped an import (committed work kept) or an export (nothing left).
    static let interrupted: Int32 = 130
}

/// Prints one line to standard error.
func printError(_ message: String) {
    writeFD(2, "meterproof: " + oneLine(message) + "\n")
}

/// `text` made safe to print as (part of) one line of a terminal or a log. A token's header,
/// a capture, a trail entry or a bundle's file names are attacker-controlled and may hold a
/// newline (a forged extra line: `accepted`), an escape sequence (clearing the screen,
/// rewriting what is shown) or a bidirectional override: every control character (C0 with LF,
/// CR and tab, DEL, C1), every invisible format character (bidirectional controls, zero-width
/// spaces and joiners, the byte order mark, the soft hyphen), the Unicode line and paragraph
/// separators, spaces other than U+0020, and private-use or unassigned code points are written
/// as escapes (`\n`, `\u001b`, `\u202e`, `\u200b`): a `prod\u{200B}-alpha` must not look like
/// `prod-alpha`. Everything else is kept as it is (the rule `VERIFY.md`'s code spans follow).
func oneLine(_ text: some StringProtocol) -> String {
    let needsEscape = needsTerminalEscape
    guard text.unicodeScalars.contains(where: needsEscape) else { return String(text) }
    var out = ""
    for u in text.unicodeScalars {
        switch u.value {
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case let v where needsEscape(u): appendUnicodeEscape(v, to: &out)
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

/// Whether `u` must not reach a terminal as itself: C0 and C1 controls, DEL, format characters
/// (bidi overrides, zero-width), line and paragraph separators, non-ASCII spaces, private-use,
/// unassigned and surrogate code points.
func needsTerminalEscape(_ u: Unicode.Scalar) -> Bool {
    if u.value < 0x80 { return u.value < 0x20 || u.value == 0x7F }
    switch u.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .privateUse, .unassigned, .surrogate: return true
    default: return false
    }
}

/// `value` as one line of JSON for standard output, with every character ``oneLine(_:)`` would
/// escape written as a `\uXXXX` escape (a surrogate pair above U+FFFF): the same JSON value,
/// but a C1 control or a bidi override in a token cannot act on the terminal. Outside string
/// literals JSON text is ASCII, so only characters inside strings change.
func terminalJSON(_ value: JSONValue) -> String {
    let json = JSONText.serialize(value)
    guard json.unicodeScalars.contains(where: needsTerminalEscape) else { return json }
    var out = ""
    out.reserveCapacity(json.utf8.count + 16)
    for u in json.unicodeScalars {
        guard needsTerminalEscape(u) else { out.unicodeScalars.append(u); continue }
        if u.value > 0xFFFF {
            let v = u.value - 0x10000
            appendUnicodeEscape(0xD800 + (v >> 10), to: &out)
            appendUnicodeEscape(0xDC00 + (v & 0x3FF), to: &out)
        } else {
            appendUnicodeEscape(u.value, to: &out)
        }
    }
    return out
}

/// Appends `\u` and `value` in lowercase hex, at least four digits.
private func appendUnicodeEscape(_ value: UInt32, to out: inout String) {
    let hex = String(value, radix: 16)
    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}

/// Writes text to a file descriptor, unbuffered.
func writeFD(_ fd: Int32, _ text: String) {
    var t = text
    _ = t.withUTF8 { FileSystem.writeAll(fd, UnsafeRawBufferPointer($0)) }
}

/// Left-aligns `s` in a column of `width` characters.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

/// `n` and its noun, singular for exactly one: `counted(1, "entry", "entries")` is `1 entry`.
func counted(_ n: some BinaryInteger, _ singular: String, _ plural: String) -> String {
    "\(n) \(n == 1 ? singular : plural)"
}

/// `value` with `digits` decimals (no Foundation formatting).
func decimal(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(value) * scale).rounded()
    let whole = Int64(r / scale), frac = Int64(r.truncatingRemainder(dividingBy: scale))
    let sign = value < 0 && r != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(whole) }
    let f = String(frac)
    return sign + String(whole) + "." + String(repeating: "0", count: digits - f.count) + f
}

/// Prints a one-line error and returns the exit code to throw. `message` starts with its code,
/// `<code>: <reason>`, one of those docs/cli.md lists (DocsTests checks the literals).
func fail(_ code: Int32, _ message: String) -> ExitCode {
    printError(message)
    return ExitCode(code)
}

/// Writes to standard output, unbuffered. Output that cannot be written (a full disk behind a redirect,
/// say) ends the command with a one-line error and exit 5, never a silent success. (A closed
/// pipe ends it by SIGPIPE first, as for any Unix filter.)
func writeOut(_ text: String) {
    var t = text
    t.withUTF8 { writeOut(UnsafeRawBufferPointer($0)) }
}

/// The same for bytes.
func writeOut(_ bytes: UnsafeRawBufferPointer) {
    guard !FileSystem.writeAll(1, bytes) else { return }
    let e = errno
    let code = e == ENOSPC || e == EDQUOT ? "disk_full" : "storage_error"
    printError("\(code): cannot write standard output: \(String(cString: strerror(e))) (whatever the command recorded before this output is kept)")
    exit(Exit.storage)
}

/// Warns that `count` accepted entries (of an import, or of a bundle) were verified under
/// MeterProof's published test keys, when there are any.
func warnTestKeyAcceptances(_ count: Int) {
    guard count > 0 else { return }
    printError("warning: test_key: \(counted(count, "accepted entry was", "accepted entries were")) verified under MeterProof's published TEST keys (keys/test): anyone can sign tokens they accept, so they prove nothing about AWS")
}

/// `--key-version`: a key version in canonical decimal (``KeyVersion/parse(_:)``). `01` or
/// `+1` would name version 1 under another spelling than the key file's `v1.pem`.
func keyVersionArgument(_ text: String) throws -> Int {
    guard let v = KeyVersion.parse(text) else {
        // A carriage return or space (a CRLF environment file, a trailing blank) is invisible in
        // the value as printed before this: name it.
        let hidden = text.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
        throw ValidationError("a key version is an integer from 1 to 2147483647, written without sign or leading zeros"
                              + (hidden ? " (this value, \(JSONText.quoted(String(text.prefix(40)))), holds white space or a control character: a line ending from a CRLF file?)" : ""))
    }
    return v
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Standard streams that were closed when the process started (`<&-`, `>&-`, `2>&-`).
///
/// Each is reopened on `/dev/null` before anything else runs, so that no file the command
/// opens gets its number: with standard output closed, a report's temporary file or a key
/// file would take descriptor 1 and receive the command's output, and with standard input
/// closed a keyring file would be read again as the input. It is opened in the direction the
/// stream is not used (standard input for writing, the outputs for reading), so using it still
/// fails with EBADF as a closed stream does: `--help` or a summary written to a closed standard
/// output ends with exit 5, never a silent 0 (``writeOut(_:)-(String)``, the `atexit` flush).
enum StandardStreams {
    /// Computed once, first thing in `main`.
    static let closedAtStart: Set<Int32> = {
        var closed: Set<Int32> = []
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            // open() returns the lowest free descriptor: this one, as the lower ones are open.
            let n = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY)
            if n == fd { closed.insert(fd) } else if n >= 0 { close(n) }
        }
        return closed
    }()

    /// Fails with `bad_input` (exit 2) when standard input was closed.
    static func requireStandardInput() throws {
        if closedAtStart.contains(0) { throw fail(Exit.unreadable, "bad_input: cannot read standard input: it is closed") }
    }
}

/// Reads a whole input file (or stdin for `-`/nil), refusing anything above `limit` bytes.
func readInput(_ path: String?, limit: Int = 1 << 20) throws -> [UInt8] {
    let p = path ?? "-"
    if p == "-" { try StandardStreams.requireStandardInput() }
    if p != "-" {
        switch FileSystem.kind(p) {
        case .missing: throw fail(Exit.unreadable, "bad_input: cannot read \(p): no such file")
        case .directory: throw fail(Exit.unreadable, "bad_input: cannot read \(p): is a directory")
        default: break
        }
    }
    do { return try FileSystem.read(p, limit: limit) } catch {
        throw fail(Exit.unreadable, "bad_input: cannot read \(p == "-" ? "standard input" : p): \(error.message)")
    }
}

/// Reads the response or token given to `verify` or `inspect` with ``readInput(_:limit:)``; a
/// UTF-8 byte-order mark at its very start (as Windows tools write) is dropped, so the input
/// reads as without it.
func readResponseInput(_ path: String?) throws -> [UInt8] {
    let bytes = try readInput(path)
    let bom = FileSystem.utf8ByteOrderMark
    return bytes.starts(with: bom) ? Array(bytes.dropFirst(bom.count)) : bytes
}

/// Loads a keyring or exits 2 with the file named. Only `verify` refuses MeterProof's
/// published test keys (unless `--allow-test-keys`): it is the command that unlocks.
func loadKeyring(_ path: String, allowingTestKeys: Bool = true) throws -> Keyring {
    do { return try Keyring.load(from: path, allowingTestKeys: allowingTestKeys) } catch {
        if error.code == .testKey {
            throw fail(Exit.unreadable, "test_key: keyring \(error.file): MeterProof's public TEST key, whose private half is published in keys/test/private, so anyone can make tokens it accepts; use the keys AWS gave you, or pass --allow-test-keys to try MeterProof")
        }
        throw fail(Exit.unreadable, "bad_input: keyring \(error.description)")
    }
}

/// The reference to a JSON value for output.
extension JSONValue {
    static func str(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
    static func int(_ i: Int64?) -> JSONValue { i.map { .number(JSONNumber($0)) } ?? .null }
    static func int(_ i: Int?) -> JSONValue { int(i.map(Int64.init)) }
    /// Sizes and seqs: any `UInt64` (a crafted bundle or an edited trail can hold any).
    static func uint(_ u: UInt64?) -> JSONValue { u.map { .number(JSONNumber(unsigned: $0)) } ?? .null }
}

/// Checks the policy-lowering flags shared by verify and import.
///
/// Every numeric option of the CLI (here and in the commands) is parsed `.unconditional`: by
/// default ArgumentParser takes the `-5` of `--max-age -5` for an option and reports "Missing
/// value", whereas `--max-age=-5` reaches the range check. Unconditional, both spellings reach the
/// same check and message; a following option name (`--max-age --no-freshness`) is then refused
/// as an invalid number instead, still exit 64. String options keep the default, so that a
/// forgotten value never swallows the next option silently.
/// `--min-key-bits` (of `verify`, `audit import` and `inspect`): from 512 up to the largest
/// modulus a key may have at all (``RSAPublicKey/maximumBits``).
func validateMinKeyBits(_ bits: Int?) throws {
    if let bits, bits < 512 || bits > RSAPublicKey.maximumBits {
        throw ValidationError("--min-key-bits must be between 512 and \(RSAPublicKey.maximumBits).")
    }
}

struct FreshnessOptions: ParsableArguments {
    @Option(name: .customLong("max-age"), parsing: .unconditional, help: "Refuse tokens whose iat is older than SECONDS, a positive whole number (default 600).")
    var maxAge: Int64?

    @Flag(name: .customLong("no-freshness"), help: "Do not judge iat at all (offline audit).")
    var noFreshness = false

    @Option(name: .customLong("min-key-bits"), parsing: .unconditional, help: "Lowest accepted RSA modulus size, 512 to \(RSAPublicKey.maximumBits) bits (default 2048). Lowering it prints a warning.")
    var minKeyBits: Int?

    func validate() throws {
        if noFreshness && maxAge != nil { throw ValidationError("--max-age and --no-freshness exclude each other.") }
        if let maxAge, maxAge <= 0 { throw ValidationError("--max-age must be a positive number of seconds.") }
        try validateMinKeyBits(minKeyBits)
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

/// Set by SIGINT/SIGTERM once ``catchStopSignals()`` has run.
let stopRequested = Atomic<Bool>(false)

/// Installs `handler` for `sig` with `flags` and returns the action it replaced; `nil` (and
/// nothing installed) when the parent chose to ignore `sig` (a background job in a script:
/// it stays ignored) or `sigaction` failed.
private func replaceHandler(of sig: Int32, with handler: @convention(c) (Int32) -> Void, flags: Int32) -> sigaction? {
    var previous = sigaction()
    guard sigaction(sig, nil, &previous) == 0 else { return nil }
    #if os(Linux)
    let old = previous.__sigaction_handler.sa_handler
    #else
    let old = previous.__sigaction_u.__sa_handler
    #endif
    if unsafeBitCast(old, to: UnsafeRawPointer?.self) == unsafeBitCast(SIG_IGN, to: UnsafeRawPointer?.self) { return nil }
    var action = sigaction()
    #if os(Linux)
    action.__sigaction_handler.sa_handler = handler
    #else
    action.__sigaction_u.__sa_handler = handler
    #endif
    sigemptyset(&action.sa_mask)
    action.sa_flags = flags
    return sigaction(sig, &action, nil) == 0 ? previous : nil
}

/// Turns SIGINT and SIGTERM into ``stopRequested`` for a long command that stops cleanly
/// (an import keeps its committed batches, an export removes what it wrote). A signal the
/// parent chose to ignore (a background job in a script) stays ignored.
///
/// With `secondSignalEnds`, a second SIGINT or SIGTERM ends the process at once (the default
/// action), for a command whose every write is one SQLite transaction: an import whose batch
/// waits on another writer's lock, or that signs its checkpoint, need not be waited for.
func catchStopSignals(secondSignalEnds: Bool = false) {
    // Touch the flag before any handler can: a global is initialised on first use in a debug
    // build, and that must not happen inside a signal handler.
    _ = stopRequested.load(ordering: .relaxed)
    let once: @convention(c) (Int32) -> Void = { _ in stopRequested.store(true, ordering: .relaxed) }
    let twice: @convention(c) (Int32) -> Void = { sig in
        // signal() and raise() are async-signal-safe.
        if stopRequested.exchange(true, ordering: .relaxed) {
            signal(sig, SIG_DFL)
            raise(sig)
        }
    }
    let handler = secondSignalEnds ? twice : once
    for sig in [SIGINT, SIGTERM] {
        // Without SA_RESTART (which `signal()` sets): a read waiting on an idle pipe or FIFO, or
        // the open of a FIFO no writer has opened yet, returns EINTR, so the stop is seen.
        // SQLite, Dispatch and our own write loops retry EINTR.
        _ = replaceHandler(of: sig, with: handler, flags: 0)
    }
}

/// Unblocks SIGINT, SIGTERM and SIGHUP for the process's main thread (run first in `main`). A
/// blocked signal mask is inherited across exec: started from a thread that blocks them (a
/// Dispatch or Swift concurrency thread, Foundation's `Process`), no command could be stopped,
/// neither by its handlers nor by the default action.
func unblockStopSignals() {
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopSignals, sig) }
    pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
}

/// The signal ``deferringStopSignals(_:)`` held back, 0 for none.
private let deferredStopSignal = Atomic<Int32>(0)

/// Runs `body` with SIGINT, SIGTERM and SIGHUP held back, then delivers one that arrived
/// meanwhile (to whatever handles it outside: ``catchStopSignals()``'s flag, or the default,
/// which ends the process). For steps that must not be cut in two: a trail must never appear
/// without its log key beside it, nor a report leave its temporary file. A signal the parent
/// chose to ignore stays ignored. (A handler, not a blocked mask: a process-directed signal
/// goes to any thread that does not block it, and Dispatch may have started some.)
func deferringStopSignals<T>(_ body: () throws -> T) throws -> T {
    let handler: @convention(c) (Int32) -> Void = { sig in deferredStopSignal.store(sig, ordering: .relaxed) }
    _ = deferredStopSignal.load(ordering: .relaxed)  // initialised here, not first in the handler
    var previous: [(Int32, sigaction)] = []
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        // SA_RESTART: the step's own system calls carry on as if nothing had arrived.
        if let old = replaceHandler(of: sig, with: handler, flags: SA_RESTART) { previous.append((sig, old)) }
    }
    defer {
        for (sig, old) in previous {
            var o = old
            sigaction(sig, &o, nil)
        }
        let held = deferredStopSignal.exchange(0, ordering: .relaxed)
        if held != 0 { raise(held) }
    }
    return try body()
}

/// A file or directory name given on the command line: never empty. `--db "$TRAIL"` with the
/// variable unset would otherwise name no file, and each command would complain about a file
/// called "" in its own way (an operations review found `not_a_trail` with advice to run
/// `audit init`, which then failed too).
func pathArgument(_ text: String) throws -> String {
    guard !text.isEmpty else { throw ValidationError("a file or directory name must not be empty (an unset shell variable?)") }
    return text
}
