#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Whole-file replacement that a crash or a concurrent reader never sees half done.
enum AtomicFile {
    /// Writes `bytes` to a temporary file beside `path`, `fsync`s it, renames it over `path`
    /// and `fsync`s the directory. On any failure the temporary file is removed and `path`
    /// is left as it was.
    ///
    /// Only a missing path or a regular file is replaced: a directory, a symbolic link, a
    /// device node, FIFO or socket is refused with `bad_input`.
    ///
    /// - Parameter refuseSQLite: refuse to replace an existing file that is an SQLite
    ///   database (so a slip of `--out` cannot destroy an audit trail).
    /// - Parameter onlyReplacingHTML: replace an existing non-empty file only if it is an HTML
    ///   document (an earlier report), so `--out` naming a log key, a captures file or any other
    ///   file by mistake destroys nothing.
    ///
    /// A file that is replaced keeps its permission bits (a report made private with
    /// `chmod 600` stays private); a new file gets 0644 less the umask.
    static func write(_ bytes: [UInt8], to path: String, refuseSQLite: Bool = false, onlyReplacingHTML: Bool = false) throws(AuditError) {
        let existingMode = try checkDestination(path, refuseSQLite: refuseSQLite, onlyReplacingHTML: onlyReplacingHTML)
        let (dir, base) = split(path)
        var tmp = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            tmp = "\(dir)/.\(base).tmp-\(getpid())-\(attempt)-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw error(errno, "creating a temporary file in \(dir)") }
        func abandon(_ err: Int32, _ what: String) -> AuditError {
            if fd >= 0 { close(fd) }
            unlink(tmp)
            return error(err, what)
        }
        if let existingMode, fchmod(fd, existingMode) != 0 { throw abandon(errno, "keeping the permissions of \(path)") }
        if !bytes.withUnsafeBytes({ FileSystem.writeAll(fd, $0) }) {
            throw abandon(errno, "writing \(path)")
        }
        if fsync(fd) != 0 { throw abandon(errno, "flushing \(path) to disk") }
        if close(fd) != 0 { fd = -1; throw abandon(errno, "closing \(path)") }
        fd = -1
        if rename(tmp, path) != 0 { throw abandon(errno, "renaming the temporary file to \(path)") }
        syncDirectory(dir)
    }

    /// The refusals of ``write(_:to:refuseSQLite:onlyReplacingHTML:)``, checked without writing,
    /// so a command can refuse a bad destination before long work (a report's scan of the
    /// trail). Returns the permission bits of the regular file `path` names, `nil` when there is
    /// none yet.
    @discardableResult
    static func checkDestination(_ path: String, refuseSQLite: Bool = false, onlyReplacingHTML: Bool = false) throws(AuditError) -> mode_t? {
        guard !path.isEmpty, !path.utf8.contains(0) else { throw AuditError(.badInput, "the output path is empty or contains a NUL byte") }
        let dir = split(path).dir
        var existingMode: mode_t? = nil
        var st = stat()
        // lstat: the rename replaces the name itself, so a symbolic link would be replaced, not
        // followed, and a device node or FIFO (`/dev/null` as root) would be destroyed.
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: throw AuditError(.badInput, "cannot write \(path): it is a directory")
            case S_IFLNK: throw AuditError(.badInput, "refusing to replace \(path): it is a symbolic link (name the file it points to)")
            default: throw AuditError(.badInput, "refusing to replace \(path): it is not a regular file (a device, FIFO or socket)")
            }
            if refuseSQLite && isSQLite(path) {
                throw AuditError(.badInput, "refusing to overwrite \(path): it is an SQLite database (an audit trail?), not a report")
            }
            if refuseSQLite, let database = sqliteDatabase(companion: path) {
                // Replacing a trail's write-ahead log loses every transaction not yet copied
                // into the database file.
                throw AuditError(.badInput, "refusing to overwrite \(path): it belongs to the SQLite database \(database) (its write-ahead log, shared memory or journal), not a report")
            }
            if onlyReplacingHTML && st.st_size > 0 && !isReport(path) {
                throw AuditError(.badInput, "refusing to overwrite \(path): it is not a MeterProof report (a report replaces only an earlier report); name a new file or remove this one first")
            }
            existingMode = st.st_mode & 0o7777
        }
        var dst = stat()
        let dirFound = stat(dir, &dst) == 0
        guard dirFound, (dst.st_mode & S_IFMT) == S_IFDIR else {
            throw AuditError(.badInput, "cannot write \(path): \(dirFound ? "\(dir) is not a directory" : "directory \(dir) does not exist")")
        }
        return existingMode
    }

    /// Makes a new or renamed name in `dir` durable: `fsync` of the directory, best effort
    /// (some file systems refuse `fsync` on a directory).
    static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Directory and last component of `path` (`.` when it has no slash).
    static func split(_ path: String) -> (dir: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    /// Whether the file at `path` is a regular file starting with the SQLite header. Opened
    /// without blocking, so a FIFO or device at `path` is not waited on.
    static func isSQLite(_ path: String) -> Bool {
        head(path, 16) == Array("SQLite format 3\0".utf8)
    }

    /// Whether the file at `path` is an earlier MeterProof report: an HTML document (it
    /// starts, after an optional byte-order mark and white space, with `<!DOCTYPE html` or
    /// `<html`, any case) whose head names MeterProof as its generator. Any other HTML page —
    /// one's own notes, another tool's report — is not replaced.
    static func isReport(_ path: String) -> Bool {
        guard let bytes = head(path, 2048) else { return false }
        var text = bytes[...]
        if text.starts(with: FileSystem.utf8ByteOrderMark) { text = text.dropFirst(FileSystem.utf8ByteOrderMark.count) }
        let lowered = text.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
        guard lowered.starts(with: Array("<!doctype html".utf8)) || lowered.starts(with: Array("<html".utf8)) else { return false }
        let marker = Array(#"<meta name="generator" content="meterproof "#.utf8)
        return lowered.count >= marker.count && (0...(lowered.count - marker.count)).contains { lowered[$0..<($0 + marker.count)].elementsEqual(marker) }
    }

    /// Up to the first `count` bytes of the regular file at `path` (fewer when it is shorter);
    /// nil if it is not one or cannot be read. Opened without blocking, so a FIFO or device is
    /// not waited on.
    static func head(_ path: String, _ count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress!, count) }
        return n >= 0 ? Array(bytes.prefix(n)) : nil
    }

    /// The database `path` belongs to when it is an SQLite side file: `<db>-wal`, `<db>-shm`
    /// or `<db>-journal` beside an SQLite database `<db>`, or any file that starts like a
    /// write-ahead log (magic 0x377f0682 or 0x377f0683).
    static func sqliteDatabase(companion path: String) -> String? {
        for suffix in ["-wal", "-shm", "-journal"] where path.hasSuffix(suffix) {
            let database = String(path.dropLast(suffix.count))
            if isSQLite(database) { return database }
        }
        guard let magic = head(path, 4), magic.count == 4, magic[0] == 0x37, magic[1] == 0x7F, magic[2] == 0x06, magic[3] & 0xFE == 0x82 else { return nil }
        return path.hasSuffix("-wal") ? String(path.dropLast(4)) : "(unknown: the file is a write-ahead log)"
    }

    static func error(_ err: Int32, _ what: String) -> AuditError {
        let text = String(cString: strerror(err))
        switch err {
        case EACCES, EPERM, EROFS: return AuditError(.readOnly, "\(what): \(text)")
        case ENOSPC, EDQUOT: return AuditError(.diskFull, "\(what): \(text)")
        case ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG: return AuditError(.badInput, "\(what): \(text)")
        default: return AuditError(.storage, "\(what): \(text)")
        }
    }
}
