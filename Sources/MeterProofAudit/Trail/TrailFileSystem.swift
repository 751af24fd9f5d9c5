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
        guard let resolved = realpath(FileSystem.dirname(path), nil) else { return nil }
        defer { free(resolved) }
        guard let mounts = try? FileSystem.read("/proc/self/mounts", limit: 4 << 20) else { return nil }
        return networkFileSystem(directory: String(cString: resolved), mounts: String(decoding: mounts, as: UTF8.self))
    }

    /// The network file system type of the mount holding `directory` (an absolute path without
    /// symbolic links), given the text of `/proc/self/mounts`.
    static func networkFileSystem(directory: String, mounts: String) -> String? {
        var best: (length: Int, type: String)? = nil
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mountPoint = unescapeMountField(fields[1]), type = String(fields[2])
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

    /// `/proc/self/mounts` writes a space, tab, newline or backslash in a path as `\040`, `\011`,
    /// `\012`, `\134`.
    private static func unescapeMountField(_ field: Substring) -> String {
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
