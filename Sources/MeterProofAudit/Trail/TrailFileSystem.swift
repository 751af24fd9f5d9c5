#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MeterProof

extension AuditTrail {
    /// The type of the network or cluster file system holding the directory of `path`
    /// (`nfs4`, `cifs`, `9p`, …, as `/proc/self/mounts` names it), or `nil` for a local one
    /// or when it cannot be told (not Linux, no `/proc`).
    ///
    /// SQLite's WAL mode keeps its locks and index in shared memory (`-shm`), which works only
    /// between processes on one host: two hosts sharing a trail on such a file system could
    /// both accept one nonce, or corrupt the file. The CLI warns (`network_file_system`);
    /// keep each trail on a local disk, one per host.
    public static func networkFileSystem(holding path: String) -> String? {
        guard let directory = resolved(FileSystem.dirname(path)), let mounts = mountTable() else { return nil }
        return networkFileSystem(directory: directory, mounts: mounts)
    }

    /// The network file system type of the mount holding `directory` (an absolute path without
    /// symbolic links), given the text of `/proc/self/mounts`.
    static func networkFileSystem(directory: String, mounts: String) -> String? {
        var best: (length: Int, type: String)? = nil
        for (mountPoint, type) in mountEntries(mounts) {
            let covers = mountPoint == "/" || directory == mountPoint || directory.hasPrefix(mountPoint + "/")
            // The last of equal mount points is the one on top.
            if covers, mountPoint.utf8.count >= (best?.length ?? -1) { best = (mountPoint.utf8.count, type) }
        }
        guard let type = best?.type else { return nil }
        return networkTypes.contains(type) ? type : nil
    }

    /// `/proc/self/mounts` types of network and cluster file systems.
    private static let networkTypes: Set<String> = [
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "coda", "lustre", "gfs2", "ocfs2",
        "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.cephfs",
    ]

    /// The text of `/proc/self/mounts`, or `nil` where it cannot be read (not Linux, no `/proc`).
    static func mountTable() -> String? {
        (try? FileSystem.read("/proc/self/mounts", limit: 4 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Each line of a `/proc/self/mounts` text as its mount point (unescaped) and file system type.
    static func mountEntries(_ mounts: String) -> [(mountPoint: String, type: String)] {
        mounts.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count >= 3 ? (unescapeMountField(fields[1]), String(fields[2])) : nil
        }
    }

    /// `path` with every symbolic link resolved (`realpath`), or `nil` when it cannot be.
    static func resolved(_ path: String) -> String? {
        guard let r = realpath(path, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// `/proc/self/mounts` writes a space, tab, newline or backslash in a path as `\040`, `\011`,
    /// `\012`, `\134`.
    static func unescapeMountField(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var out: [UInt8] = []
        let b = Array(field.utf8)
        var i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension AuditTrail {
    /// Why writing the trail at `path` would break the nonce rule, or `nil`: the file is a mount
    /// point of its own (a single-file bind mount, a Kubernetes `subPath`) or has more than one
    /// hard link. SQLite names the write-ahead log and the lock file after the path, in the
    /// path's directory (`-wal`, `-shm`), so processes reaching one file through two directories
    /// keep two logs and two locks: both can accept one nonce, and the file is corrupted. (A
    /// symbolic link is safe: SQLite resolves it first.)
    static func unsafeLocation(of path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let real = resolved(path)
        let advice = "SQLite keeps the trail's write-ahead log and locks beside that name (-wal, -shm), so processes reaching the file through different directories would not exclude each other: one nonce could be accepted twice and the file corrupted"
        if st.st_nlink > 1 && UInt64(st.st_nlink) - 1 != creationLinks(of: real ?? path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) {
            // The staged name may have gone between the two looks (a creation finishing): look again.
            var again = stat()
            if stat(path, &again) == 0, again.st_nlink > 1,
               UInt64(again.st_nlink) - 1 != creationLinks(of: real ?? path, device: UInt64(again.st_dev), inode: UInt64(again.st_ino)) {
                return "\(path) has \(again.st_nlink) hard links: \(advice). Keep one name for the trail (copy it to break the links)"
            }
        }
        let mountedAlone = "\(path) is mounted on its own (a single-file bind mount or Kubernetes subPath): \(advice). Mount the directory that holds the trail instead"
        // The mount table, not device numbers: overlayfs may report a file's lower layer's
        // device, unlike its directory's, with nothing mounted (a container's own disk), and a
        // bind mount from the same file system keeps the device number.
        if let real, let mounts = mountTable(), isMountPoint(real, mounts: mounts) { return mountedAlone }
        return nil
    }

    /// How many `<real>.creating-…` names beside `real` (the trail's path with its links
    /// resolved: beside the file itself, not a link to it) are links to the same file: the
    /// staged name of a trail being created (linked into place, then removed), or one a crash
    /// left. Nothing opens a trail under such a name, so they share no write-ahead log with it.
    private static func creationLinks(of real: String, device: UInt64, inode: UInt64) -> UInt64 {
        let dir = FileSystem.dirname(real), prefix = FileSystem.basename(real) + ".creating-"
        guard let names = try? FileSystem.list(dir) else { return 0 }
        var count: UInt64 = 0
        for name in names where name.hasPrefix(prefix) {
            var st = stat()
            if lstat(FileSystem.join(dir, name), &st) == 0, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode { count += 1 }
        }
        return count
    }

    /// Whether `file` (an absolute path without symbolic links) is a mount point in the text of
    /// `/proc/self/mounts`.
    static func isMountPoint(_ file: String, mounts: String) -> Bool {
        mountEntries(mounts).contains { utf8Equal($0.mountPoint, file) }
    }

    /// Why a writer could not use the trail at `path` although the file itself is writable, or
    /// `nil`: its `-wal` or `-shm` exists and is not writable (left with the trail's mode by a
    /// reader while the trail was read-only). SQLite would report only "readonly database".
    static func unwritableSideFile(of path: String) -> String? {
        guard access(path, W_OK) == 0 else { return nil }
        for suffix in ["-wal", "-shm"] {
            let side = path + suffix
            var st = stat()
            // Only a refusal counts: a side file that another process's connection removes
            // between the two calls (ENOENT) is no obstacle.
            guard lstat(side, &st) == 0, access(side, W_OK) != 0, errno == EACCES || errno == EROFS || errno == EPERM else { continue }
            let mode = String(st.st_mode & 0o777, radix: 8)
            return "\(side) is not writable (mode \(mode), owner uid \(st.st_uid)), though \(path) is: a reader left it while the trail was read-only. Give it the trail's owner and mode (chown, chmod) while no process uses the trail; do not delete a non-empty -wal, it may hold recorded entries"
        }
        return nil
    }
}
