#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

/// Reading and writing the log signer key file (C2SP `PRIVATE+KEY+<name>+<id>+<base64>` text).
public enum LogKeyFile {
    /// Writes `signer` to `path` with mode 0600, refusing to replace an existing file. The key
    /// is written and synced under a temporary name beside `path`, then linked into place, so
    /// `path` never holds a partial key, even after a crash.
    public static func write(_ signer: NoteSigner, to path: String) throws(AuditError) {
        let staged = try stage(signer, for: path)
        do { try publish(staged, to: path) } catch {
            unlink(staged)
            throw error
        }
    }

    /// Writes `signer` to a new temporary file beside `path` (mode 0600, synced) and returns
    /// its name; ``publish(_:to:)`` links it into place. `audit init` stages the key, creates the
    /// trail, then publishes the key: a crash in between leaves no half-made pair under the
    /// final names.
    package static func stage(_ signer: NoteSigner, for path: String) throws(AuditError) -> String {
        if access(path, F_OK) == 0 { throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite a key file") }
        let tmp = path + ".creating-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            let err = errno
            // A path through a directory that is not there is the caller's mistake, not storage.
            if err == ENOENT || err == ENOTDIR { throw AuditError(.badInput, "cannot write \(path): directory \(AtomicFile.split(path).dir) does not exist") }
            throw AtomicFile.error(err, "cannot write \(path)")
        }
        let bytes = Array((signer.skey + "\n").utf8)
        var failure: Int32 = 0
        if !bytes.withUnsafeBytes({ FileSystem.writeAll(fd, $0) }) { failure = errno }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure != 0 {
            unlink(tmp)
            throw AtomicFile.error(failure, "writing \(path)")
        }
        return tmp
    }

    /// Links a key file made by ``stage(_:for:)`` into place at `path` and removes the
    /// temporary name. `link` fails instead of replacing, so an existing `path` is never
    /// overwritten; on failure the staged file is kept (it may be the only copy of a key a
    /// trail was just created with) and the caller decides.
    package static func publish(_ staged: String, to path: String) throws(AuditError) {
        if link(staged, path) != 0 {
            let err = errno
            if err == EEXIST { throw AuditError(.alreadyExists, "\(path) already exists; refusing to overwrite a key file") }
            throw AtomicFile.error(err, "cannot write \(path)")
        }
        unlink(staged)
        // The new name must survive a power cut along with the trail that depends on it.
        AtomicFile.syncDirectory(AtomicFile.split(path).dir)
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
