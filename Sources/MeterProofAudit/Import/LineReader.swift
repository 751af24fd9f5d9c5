#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Streams lines from a file descriptor with bounded memory.
///
/// Lines end at LF (a preceding CR is dropped). A line longer than `maxLineBytes` is returned
/// truncated with `tooLong` set, and the rest of it is skipped. A UTF-8 byte-order mark at the
/// very start of the input (as Windows tools write) is skipped; one anywhere else stays.
package final class LineReader {
    package struct Line {
        /// 1-based line number.
        package var number: Int
        package var bytes: ArraySlice<UInt8>
        package var tooLong: Bool
        /// For an overlong line: SHA-256 of all its bytes (streamed), so it is recognised on re-import.
        package var overlongHash: [UInt8]? = nil
    }

    private let fd: Int32
    private let ownsFD: Bool
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    /// Where `read` puts its bytes before they join ``buffer``: allocated at the first read and
    /// reused. Growing `buffer` by a zero-filled megabyte per read had cost each small file of
    /// a many-file import two megabytes of writes (and, unoptimised, most of a second).
    private var chunk: UnsafeMutableRawBufferPointer? = nil
    private static let chunkBytes = 1 << 20
    private var start = 0
    private var eof = false
    private var lineNumber = 0
    /// Whether the start of the input was looked at for a byte-order mark.
    private var checkedByteOrderMark = false
    /// Bytes consumed so far (for progress).
    package private(set) var bytesRead: Int = 0
    /// Asked before every read: when it returns `true`, ``next()`` gives up on the line it is
    /// reading and returns `nil` with ``stopped`` set. A line that never ends (`/dev/zero`, a
    /// huge file without a newline) would otherwise keep an interrupted import reading.
    package var shouldStop: (() -> Bool)? = nil
    /// Whether ``next()`` returned `nil` because ``shouldStop`` asked it to, not at end of input.
    package private(set) var stopped = false
    /// The number of the last line when the input ended without a line feed after it: a file
    /// still being written, or a writer that died mid-line, ends that way (as does a file whose
    /// editor left out the final newline).
    package private(set) var unterminatedLine: Int? = nil
    /// The opened file's device and inode (`nil` for standard input): which file this is, so
    /// that a file reopened by its name can be told from one put in its place meanwhile.
    package private(set) var identity: [UInt64]? = nil
    /// Whether the path opened is a regular file (standard input never counts): one that can be
    /// closed and opened again by its name.
    package private(set) var isRegularFile = false

    /// Opens `path` (`-` for standard input); `shouldStop` becomes ``shouldStop``. A FIFO is
    /// opened without waiting for a writer (reads wait for data instead, asking `shouldStop`).
    package init(path: String, maxLineBytes: Int, shouldStop: (() -> Bool)? = nil) throws(AuditError) {
        self.shouldStop = shouldStop
        if path == "-" {
            fd = 0
            ownsFD = false
        } else {
            // O_NONBLOCK: opening a FIFO no writer has opened yet would otherwise wait in the
            // kernel, deaf to a stop request. Reads poll first (see `fill`), so it is harmless.
            var f: Int32
            repeat { f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) } while f < 0 && errno == EINTR
            guard f >= 0 else { throw AuditError(.badInput, "cannot read \(path): \(String(cString: strerror(errno)))") }
            var st = stat()
            if fstat(f, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                close(f)
                throw AuditError(.badInput, "cannot read \(path): is a directory")
            }
            identity = [UInt64(st.st_dev), UInt64(st.st_ino)]
            isRegularFile = (st.st_mode & S_IFMT) == S_IFREG
            fd = f
            ownsFD = true
        }
        self.maxLineBytes = maxLineBytes
    }

    deinit {
        if ownsFD { close(fd) }
        chunk?.deallocate()
    }

    private func fill() throws(AuditError) {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        if chunk == nil { chunk = .allocate(byteCount: Self.chunkBytes, alignment: 16) }
        let chunk = chunk!
        var n = 0
        while true {
            // Wait for input in slices of 250 ms, asking `shouldStop` between them: a pipe or
            // FIFO with nothing to give (or no writer yet) never ends a blocking read, and a
            // signal that lands just before one would not interrupt it. A regular file is
            // always ready.
            if let shouldStop, shouldStop() {
                stopped = true
                return
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 250)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            n = read(fd, chunk.baseAddress!, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) { continue }
            break
        }
        if n < 0 {
            throw AuditError(.badInput, "read error: \(String(cString: strerror(errno)))")
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
        bytesRead += n
        if n == 0 { eof = true }
    }

    /// The index of the first LF at or after `from` (libc's vectorised `memchr`).
    private func newline(from: Int) -> Int? {
        guard from < buffer.count else { return nil }
        return buffer.withUnsafeBytes { b in
            memchr(b.baseAddress! + from, 0x0A, b.count - from).map { UnsafeRawPointer($0) - b.baseAddress! }
        }
    }

    /// The next line, or `nil` at end of input (or when ``shouldStop`` stopped it).
    package func next() throws(AuditError) -> Line? {
        if stopped { return nil }
        if !checkedByteOrderMark {
            // Skipped before the first line, so that line (its bytes and its hash) is the same
            // as in the file without the mark. A pipe may hand over fewer than three bytes.
            let bom = FileSystem.utf8ByteOrderMark
            while buffer.count - start < bom.count && !eof {
                try fill()
                if stopped { return nil }
            }
            checkedByteOrderMark = true
            if buffer[start...].starts(with: bom) { start += bom.count }
        }
        var scanFrom = start
        // Set once a line outgrows the limit: its bytes are hashed as they stream past, not kept.
        var overlong: SHA256Hasher? = nil
        func finishOverlong(_ tail: ArraySlice<UInt8>) -> Line {
            overlong!.update(tail)
            return Line(number: lineNumber, bytes: [], tooLong: true, overlongHash: overlong!.finalize())
        }
        while true {
            if let nl = newline(from: scanFrom) {
                lineNumber += 1
                var end = nl
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                defer { start = nl + 1 }
                if overlong != nil { return finishOverlong(buffer[start..<end]) }
                let line = Array(buffer[start..<end])[...]
                if line.count > maxLineBytes {
                    return Line(number: lineNumber, bytes: [], tooLong: true, overlongHash: SHA256.hash(line))
                }
                return Line(number: lineNumber, bytes: line, tooLong: false)
            }
            if eof {
                guard start < buffer.count || overlong != nil else { return nil }
                lineNumber += 1
                unterminatedLine = lineNumber
                var end = buffer.count
                if end > start && buffer[end - 1] == 0x0D { end -= 1 }
                defer { start = buffer.count }
                if overlong != nil { return finishOverlong(buffer[start..<end]) }
                let line = Array(buffer[start..<end])[...]
                if line.count > maxLineBytes {
                    return Line(number: lineNumber, bytes: [], tooLong: true, overlongHash: SHA256.hash(line))
                }
                return Line(number: lineNumber, bytes: line, tooLong: false)
            }
            if buffer.count - start > maxLineBytes {
                // Hash what we have of this overlong line, drop it, keep scanning for its end.
                // A CR at the end of the buffer stays: it may be the start of this line's CRLF,
                // which is not part of the line (its hash must not depend on where reads end).
                if overlong == nil { overlong = SHA256Hasher() }
                let upTo = buffer[buffer.count - 1] == 0x0D ? buffer.count - 1 : buffer.count
                overlong!.update(buffer[start..<upTo])
                start = upTo
            }
            let scanned = buffer.count - start
            try fill()
            if stopped { return nil }
            scanFrom = start + scanned
        }
    }
}
