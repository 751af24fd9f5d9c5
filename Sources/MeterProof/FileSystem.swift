#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small POSIX file helpers, so the verification path and the CLI need no Foundation
/// (loading Foundation's ICU data costs ~10 ms of every process start).
package enum FileSystem {
    /// What is at a path.
    package enum Kind: Sendable { case missing, file, directory, other }

    /// The kind of file at `path` (following symbolic links).
    package static func kind(_ path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    package static func exists(_ path: String) -> Bool { kind(path) != .missing }

    /// What `path` is instead of a regular file (or a link to one), for an error message:
    /// "a directory", "a symbolic link to nothing (or a loop of links)", …; `nil` when it is one.
    package static func notARegularFile(_ path: String) -> String? {
        var st = stat()
        if stat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: return nil
            case S_IFDIR: return "a directory"
            default: return "not a regular file (a FIFO, socket or device)"
            }
        }
        let cause = errno
        var link = stat()
        if lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK, cause == ENOENT || cause == ELOOP {
            return "a symbolic link to nothing (or a loop of links)"
        }
        return "unreadable (\(String(cString: strerror(cause))))"
    }

    /// The UTF-8 byte-order mark (EF BB BF) that Windows tools write at the start of a text
    /// file. Skipped at the very start of a captures file or standard input, and of a response
    /// read by `verify` or `inspect`; nowhere else.
    package static let utf8ByteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Size in bytes of a regular file.
    package static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    /// Names in a directory (no `.` or `..`), sorted.
    package static func list(_ path: String) throws(FileError) -> [String] {
        guard let dir = opendir(path) else { throw FileError(path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Reads a whole file (`-` for standard input), refusing more than `limit` bytes.
    package static func read(_ path: String, limit: Int) throws(FileError) -> [UInt8] {
        let fd: Int32
        if path == "-" { fd = 0 } else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(path: path, errno: errno) }
            if kind(path) == .directory { close(fd); throw FileError(path: path, errno: EISDIR) }
        }
        // Only standard input stays open: a file may itself get descriptor 0 when stdin is closed.
        defer { if path != "-" { close(fd) } }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, errno: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { throw FileError(path: path, message: "larger than \(limit) bytes") }
        }
        return out
    }

    /// Reads the first byte of the regular file at `path` and returns why that failed (`nil`
    /// when it could be read, or the file is empty): a file can open and still refuse every
    /// read (`/proc/self/mem`, a damaged disk block), which a command should learn before it
    /// creates anything for it.
    package static func unreadableReason(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var byte: UInt8 = 0
        while pread(fd, &byte, 1, 0) < 0 {
            if errno == EINTR { continue }
            return String(cString: strerror(errno))
        }
        return nil
    }

    /// Removes `path` and, for a directory, everything below it (best effort; symbolic links
    /// are removed, never followed).
    package static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in (try? list(path)) ?? [] { removeTree(join(path, name)) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// `dir/name`, without doubling a trailing slash.
    package static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    /// The directory part of a path (`.` for a bare name).
    package static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The text of the symbolic link at `path` (not resolved), or `nil`.
    package static func linkTarget(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink(path, &buf, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The last path component.
    package static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Writes all bytes to a file descriptor, retrying short writes and EINTR, and waiting
    /// until a non-blocking descriptor (a pipe a parent left in that mode) can take more.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, -1)
                    continue
                }
                return false
            }
            done += n
        }
        return true
    }
}

private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer?, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buf, n)
    #else
    return Darwin.read(fd, buf, n)
    #endif
}

private func posixWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buf, n)
    #else
    return Darwin.write(fd, buf, n)
    #endif
}

/// A file could not be read; says which and why.
package struct FileError: Error, Sendable, CustomStringConvertible {
    package let path: String
    package let message: String

    package init(path: String, errno code: Int32) {
        self.path = path
        self.message = String(cString: strerror(code))
    }

    package init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    package var description: String { "\(path): \(message)" }
}
