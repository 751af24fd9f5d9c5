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
            // A path through a directory that is not there is the caller's mistake, not storage.
            if err == ENOENT || err == ENOTDIR { throw AuditError(.badInput, "cannot write \(path): directory \(AtomicFile.split(path).dir) does not exist") }
            throw AuditError(.storage, "cannot write \(path): \(String(cString: strerror(err)))")
        }
        let bytes = Array((signer.skey + "\n").utf8)
        var failure: Int32 = 0
        if !bytes.withUnsafeBytes({ FileSystem.writeAll(fd, $0) }) { failure = errno }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure != 0 {
            unlink(path)
            if failure == ENOSPC { throw AuditError(.diskFull, "writing \(path): the disk is full") }
            throw AuditError(.storage, "writing \(path): \(String(cString: strerror(failure)))")
        }
    }

    /// Reads a signer key file.
    public static func read(_ path: String) throws(AuditError) -> NoteSigner {
        let bytes: [UInt8]
        do { bytes = try FileSystem.read(path, limit: 4096) } catch {
            throw AuditError(.badInput, "cannot read the log key \(path): \(error.message)")
        }
        var text = String(decoding: bytes, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { throw AuditError(.badInput, "the log key \(path) is empty") }
        do { return try NoteSigner(skey: text) } catch {
            throw AuditError(.badInput, "\(path) is not a C2SP Ed25519 signer key: \(error)")
        }
    }
}
