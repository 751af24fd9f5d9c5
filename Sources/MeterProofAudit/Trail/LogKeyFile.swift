#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Reading and writing the log signer key file (C2SP `PRIVATE+KEY+<name>+<id>+<base64>` text).
public enum LogKeyFile {
    /// Writes `signer` to `path` with mode 0600, refusing to replace an existing file
    /// (`O_CREAT | O_EXCL`). A partial write removes the file.
    public static func write(_ signer: NoteSigner, to path: String) throws(AuditError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            let err = errno
            if err == EEXIST { throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite a key file") }
            if err == EROFS || err == EACCES { throw AuditError(.readOnly, "cannot write \(path): \(String(cString: strerror(err)))") }
            throw AuditError(.storage, "cannot write \(path): \(String(cString: strerror(err)))")
        }
        let bytes = Array((signer.skey + "\n").utf8)
        var written = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; failure = errno; return }
                written += n
            }
            if fsync(fd) != 0 { failure = errno }
        }
        close(fd)
        if failure != 0 {
            unlink(path)
            if failure == ENOSPC { throw AuditError(.diskFull, "writing \(path): the disk is full") }
            throw AuditError(.storage, "writing \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Reads a signer key file.
    public static func read(_ path: String) throws(AuditError) -> NoteSigner {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError(.badInput, "cannot read the log key \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = Glibc.read(fd, &buf, buf.count)
        guard n > 0, n < buf.count else { throw AuditError(.badInput, "the log key \(path) is empty or too large") }
        var text = String(decoding: buf[0..<n], as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        do { return try NoteSigner(skey: text) } catch {
            throw AuditError(.badInput, "\(path) is not a C2SP Ed25519 signer key: \(error)")
        }
    }
}
