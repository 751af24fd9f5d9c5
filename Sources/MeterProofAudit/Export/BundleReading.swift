#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Reads a file record by record (lines, or RFC 4180 records whose quoted fields may hold
/// line breaks) with bounded memory.
final class RecordReader {
    private let fd: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false

    struct TooLong: Error {}
    struct ReadFailed: Error { let reason: String }

    /// Opens `path`; `nil` if it cannot be opened.
    init?(path: String) {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        buffer = [UInt8](repeating: 0, count: 1 << 18)
    }

    deinit { _ = posixClose(fd) }

    private func fill() throws(ReadFailed) {
        if start > 0 {
            let n = end - start
            if n > 0 {
                buffer.withUnsafeMutableBytes { b in
                    let base = b.baseAddress!
                    memmove(base, base + start, n)
                }
            }
            end = n
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
        while true {
            let got = buffer.withUnsafeMutableBytes { b in posixRead(fd, b.baseAddress! + end, b.count - end) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ReadFailed(reason: errnoText())
            }
            if got == 0 { eof = true }
            end += got
            return
        }
    }

    /// The next record: its bytes without the final LF (for CSV, with the CR before it
    /// left in place), and whether a LF ended it. `nil` at the end of the file.
    ///
    /// With `csv`, a LF inside a double-quoted field does not end the record.
    func next(limit: Int, csv: Bool = false) throws -> (bytes: [UInt8], terminated: Bool)? {
        var i = start
        var inQuotes = false
        while true {
            // The index of the record's LF in the buffered bytes, found with `memchr`; for CSV,
            // only a LF outside quotes counts (quote parity is carried across refills).
            let lf: Int? = buffer.withUnsafeBytes { b -> Int? in
                let base = b.baseAddress!
                while i < end {
                    guard let p = memchr(base + i, 0x0A, end - i) else {
                        if csv { inQuotes = inQuotes != Self.oddQuotes(base, i, end) }
                        i = end
                        return nil
                    }
                    let at = base.distance(to: UnsafeRawPointer(p))
                    if csv { inQuotes = inQuotes != Self.oddQuotes(base, i, at) }
                    i = at + 1
                    if !inQuotes { return at }
                }
                return nil
            }
            if let lf {
                if lf - start > limit { throw TooLong() }
                let rec = Array(buffer[start..<lf])
                start = lf + 1
                return (rec, true)
            }
            if end - start > limit { throw TooLong() }
            if eof {
                if start == end { return nil }
                let rec = Array(buffer[start..<end])
                start = end
                return (rec, false)
            }
            let offset = i - start
            try fill()
            i = start + offset
        }
    }

    /// Whether `base[from..<to]` holds an odd number of double quotes.
    private static func oddQuotes(_ base: UnsafeRawPointer, _ from: Int, _ to: Int) -> Bool {
        var odd = false
        var k = from
        while k < to, let q = memchr(base + k, 0x22, to - k) {
            odd.toggle()
            k = base.distance(to: UnsafeRawPointer(q)) + 1
        }
        return odd
    }
}

enum BundleFS {
    /// Why ``read(_:limit:)`` gave `nil` for `path`: its size over `limit`, or the system's
    /// reason it cannot be opened.
    static func whyUnreadable(_ path: String, limit: Int) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return String(cString: strerror(errno)) }
        if st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) > limit {
            return "it is \(st.st_size) bytes, over the \(limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit)-byte") limit"
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { _ = posixClose(fd) }
        var byte: UInt8 = 0
        return posixRead(fd, &byte, 1) < 0 ? String(cString: strerror(errno)) : "a read error"
    }

    /// The whole file, or `nil` if it cannot be read or exceeds `limit` bytes.
    static func read(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = posixClose(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { return nil }
        }
    }

    /// SHA-256 of the file, streamed; `nil` if it cannot be read.
    static func sha256(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = posixClose(fd) }
        let h = SHA256Hasher()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return h.finalize() }
            chunk.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    enum Kind { case file, directory, other }

    static func kind(_ path: String) -> Kind? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Calls `body` with each name in directory `path` (not `.` or `..`), one at a time;
    /// `false` if the directory cannot be opened.
    static func forEachName(_ path: String, _ body: (String) throws -> Void) rethrows -> Bool {
        guard let d = opendir(path) else { return false }
        defer { closedir(d) }
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { try body(name) }
        }
        return true
    }

    /// The last byte of regular file `path`: `.some(nil)` when it is empty, `nil` when it
    /// cannot be read.
    static func lastByte(_ path: String) -> UInt8?? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = posixClose(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        if st.st_size == 0 { return .some(nil) }
        var b: UInt8 = 0
        guard pread(fd, &b, 1, st.st_size - 1) == 1 else { return nil }
        return .some(b)
    }

    /// Names in a directory (not `.`/`..`), or `nil` if it cannot be listed.
    static func list(_ path: String) -> [String]? {
        var out: [String] = []
        return forEachName(path) { out.append($0) } ? out : nil
    }
}
