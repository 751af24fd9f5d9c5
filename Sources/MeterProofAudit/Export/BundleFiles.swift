#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MeterProof
import Synchronization

@inline(__always) func posixClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.close(fd)
    #else
    return Darwin.close(fd)
    #endif
}

@inline(__always) func posixRead(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, p, n)
    #else
    return Darwin.read(fd, p, n)
    #endif
}

/// `strerror(errno)` as a string.
func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

/// A buffered, write-once output file that hashes what it writes (for SHA256SUMS).
///
/// The file is created with `O_EXCL`, so an export never writes through a file it did not create.
///
/// With `background`, hashing and `write(2)` run in order on the file's own serial queue (the
/// two big `entries.*` files are hashed and written side by side), at most two chunks behind
/// the caller, while the exporting thread goes on reading the trail. A failure there is reported by the
/// next `write` or by `close()`. Only the calling thread touches `buffer` and `byteCount`; only
/// the queue touches the descriptor's writes, the hasher and the writeback counters until
/// `close()` has drained it.
final class BundleFileWriter: @unchecked Sendable {
    let relativePath: String
    let fullPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let hasher = SHA256Hasher()
    private(set) var byteCount = 0
    private let syncEach: Bool
    private let queue: DispatchQueue?
    private let slots = DispatchSemaphore(value: 2)
    private let failure = Mutex<ExportError?>(nil)

    /// Creates `root/relativePath` holding exactly `bytes` (`O_EXCL`; with `syncEach`, fsynced
    /// before it is closed) and returns their SHA-256: the whole-file route for the small
    /// files of a bundle (a proof file per selected entry), without a writer's buffer,
    /// queue or digest context.
    static func writeWhole(root: String, relativePath: String, bytes: [UInt8], syncEach: Bool) throws(ExportError) -> [UInt8] {
        let fullPath = root + "/" + relativePath
        let fd = open(fullPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw ExportError(.writeFailed, "cannot create \(fullPath): \(errnoText())") }
        if !bytes.withUnsafeBytes({ FileSystem.writeAll(fd, $0) }) {
            let e = ExportError(.writeFailed, "writing \(fullPath): \(errnoText())")
            _ = posixClose(fd)
            throw e
        }
        if syncEach && fsync(fd) != 0 {
            let e = ExportError(.writeFailed, "syncing \(fullPath): \(errnoText())")
            _ = posixClose(fd)
            throw e
        }
        if posixClose(fd) != 0 { throw ExportError(.writeFailed, "closing \(fullPath): \(errnoText())") }
        return SHA256.hash(bytes)
    }

    /// Creates `root/relativePath`; with `syncEach`, `close()` fsyncs it.
    init(root: String, relativePath: String, syncEach: Bool, background: Bool = false) throws(ExportError) {
        self.relativePath = relativePath
        self.fullPath = root + "/" + relativePath
        self.syncEach = syncEach
        self.queue = background ? DispatchQueue(label: "meterproof.export.file") : nil
        fd = open(fullPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw ExportError(.writeFailed, "cannot create \(fullPath): \(errnoText())") }
        buffer.reserveCapacity(1 << 16)
    }

    deinit { discard() }

    /// Waits until the queue has written everything handed to it.
    private func drain() {
        guard queue != nil else { return }
        slots.wait()
        slots.wait()
        slots.signal()
        slots.signal()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ExportError) {
        byteCount += bytes.count
        if buffer.count + bytes.count > 1 << 16 { try flush() }
        if bytes.count >= 1 << 16 {
            try emit(Array(bytes)[...])
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Writes a run of bytes that shares another array's storage (kept alive, not copied,
    /// until it is written).
    func write(_ bytes: ArraySlice<UInt8>) throws(ExportError) {
        if bytes.count >= 1 << 16 {
            try flush()
            byteCount += bytes.count
            try emit(bytes)
            return
        }
        let r: Result<Void, ExportError> = bytes.withUnsafeBytes { b in Result { () throws(ExportError) in try write(b) } }
        try r.get()
    }

    func write(_ bytes: [UInt8]) throws(ExportError) {
        try write(bytes[...])
    }

    func write(_ text: String) throws(ExportError) {
        try write(Array(text.utf8))
    }

    private func flush() throws(ExportError) {
        guard !buffer.isEmpty else { return }
        let full = buffer
        buffer = []
        buffer.reserveCapacity(1 << 16)
        try emit(full[...])
    }

    /// Hashes and writes `chunk`, here or on the queue.
    private func emit(_ chunk: ArraySlice<UInt8>) throws(ExportError) {
        if let e = failure.withLock({ $0 }) { throw e }
        guard let queue else { return try hashAndWrite(chunk) }
        slots.wait()
        queue.async {
            defer { self.slots.signal() }
            guard self.failure.withLock({ $0 }) == nil else { return }
            do throws(ExportError) { try self.hashAndWrite(chunk) } catch { self.failure.withLock { $0 = error } }
        }
    }

    private func hashAndWrite(_ chunk: ArraySlice<UInt8>) throws(ExportError) {
        let r: Result<Void, ExportError> = chunk.withUnsafeBytes { b in
            hasher.update(b)
            return Result { () throws(ExportError) in try writeAll(b) }
        }
        try r.get()
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(ExportError) {
        guard FileSystem.writeAll(fd, bytes) else {
            throw ExportError(.writeFailed, "writing \(fullPath): \(errnoText())")
        }
        written += bytes.count
        // Start the disk writes of every 8 MiB as it is written, so the final sync has little
        // left to wait for (the export is durable before it is renamed into place).
        if written - writebackStart >= 8 << 20, let kick = BundleDirectory.syncFileRangeFunction {
            _ = kick(fd, Int64(writebackStart), Int64(written - writebackStart), BundleDirectory.syncFileRangeWrite)
            writebackStart = written
        }
    }

    private var written = 0
    private var writebackStart = 0

    /// On a failed export: waits until the queue has stopped writing to this file, and closes
    /// it (nothing if `close()` already did), so the temporary directory can go.
    func discard() {
        drain()
        if fd >= 0 {
            _ = posixClose(fd)
            fd = -1
        }
    }

    /// Flushes, waits for the queue, optionally fsyncs, closes; returns the SHA-256 of everything written.
    func close() throws(ExportError) -> [UInt8] {
        try flush()
        drain()
        if let e = failure.withLock({ $0 }) { throw e }
        if syncEach && fsync(fd) != 0 { throw ExportError(.writeFailed, "syncing \(fullPath): \(errnoText())") }
        let rc = posixClose(fd)
        fd = -1
        if rc != 0 { throw ExportError(.writeFailed, "closing \(fullPath): \(errnoText())") }
        return hasher.finalize()
    }
}

/// The durability and atomicity steps of an export: a temporary sibling directory, synced,
/// then renamed onto the target.
enum BundleDirectory {
    /// `syncfs(2)`, looked up at run time (the Swift Glibc module does not declare it).
    /// One call flushes every file of the bundle, instead of one `fsync` per proof file.
    static let syncfsFunction: (@convention(c) (Int32) -> Int32)? = {
        #if os(Linux)
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "syncfs") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// `sync_file_range(2)`, looked up at run time like `syncfs`: with `SYNC_FILE_RANGE_WRITE`
    /// it starts writeback of a range without waiting for it.
    static let syncFileRangeFunction: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        #if os(Linux)
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
        #else
        return nil
        #endif
    }()

    /// `SYNC_FILE_RANGE_WRITE` from `<fcntl.h>`.
    static let syncFileRangeWrite: UInt32 = 2

    /// Whether files can be synced all at once (else each file is fsynced on close).
    static var hasSyncfs: Bool { syncfsFunction != nil }

    /// Checks the target: absent (its parent a directory) or an empty directory.
    /// Returns the parent directory.
    static func checkTarget(_ path: String) throws(ExportError) -> String {
        guard !path.isEmpty else { throw ExportError(.badOutput, "the output directory name is empty") }
        // `.`, `..` or `/` cannot be renamed onto (EBUSY after all the work): refuse them first.
        let last = path.split(separator: "/").last.map(String.init) ?? "/"
        guard last != "." && last != ".." && last != "/" else {
            throw ExportError(.badOutput, "\(path) names an existing directory by `.`, `..` or `/`; give the bundle a directory name of its own (it is created)")
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                if (st.st_mode & S_IFMT) == S_IFLNK {
                    // The bundle is renamed into place, which would replace the link itself.
                    throw ExportError(.bundleExists, "\(path) is a symbolic link; give the directory it points to, or a new name")
                }
                throw ExportError(.bundleExists, "\(path) exists and is not a directory; refusing to replace it")
            }
            let contents: [String]
            do { contents = try FileSystem.list(path) } catch {
                throw ExportError(.bundleExists, "\(path) exists and cannot be listed; refusing to write into it")
            }
            guard contents.isEmpty else {
                throw ExportError(.bundleExists, "\(path) exists and is not empty; refusing to overwrite it (choose a new directory)")
            }
        } else if errno != ENOENT {
            throw ExportError(.badOutput, "cannot examine \(path): \(errnoText())")
        }
        let parent = parentDirectory(path)
        var ps = stat()
        guard stat(parent, &ps) == 0, (ps.st_mode & S_IFMT) == S_IFDIR else {
            throw ExportError(.badOutput, "the parent directory \(parent) of \(path) does not exist")
        }
        return parent
    }

    static func parentDirectory(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        let parent = String(p[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func baseName(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return p }
        return String(p[p.index(after: slash)...])
    }

    /// Creates a fresh temporary directory beside `target` (same file system, so rename works).
    static func makeTemporary(beside target: String, parent: String) throws(ExportError) -> String {
        var random: [UInt8] = []
        for _ in 0..<6 { random.append(UInt8.random(in: 0...255)) }
        let tmp = parent + "/." + baseName(target) + ".partial-\(getpid())-" + Hex.encode(random)
        guard mkdir(tmp, 0o755) == 0 else {
            throw ExportError(.writeFailed, "cannot create the temporary directory \(tmp): \(errnoText())")
        }
        return tmp
    }

    static func makeSubdirectory(_ path: String) throws(ExportError) {
        guard mkdir(path, 0o755) == 0 else { throw ExportError(.writeFailed, "cannot create \(path): \(errnoText())") }
    }

    /// fsyncs a directory (so the names it holds are durable).
    static func syncDirectory(_ path: String) throws(ExportError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ExportError(.writeFailed, "cannot open \(path) to sync it: \(errnoText())") }
        defer { _ = posixClose(fd) }
        guard fsync(fd) == 0 else { throw ExportError(.writeFailed, "syncing \(path): \(errnoText())") }
    }

    /// Flushes the whole file system holding `path` (every bundle file at once).
    static func syncFileSystem(of path: String) throws(ExportError) {
        guard let f = syncfsFunction else { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ExportError(.writeFailed, "cannot open \(path) to sync it: \(errnoText())") }
        defer { _ = posixClose(fd) }
        guard f(fd) == 0 else { throw ExportError(.writeFailed, "syncing the bundle's file system: \(errnoText())") }
    }

    /// Renames the finished temporary directory onto the target. `rename(2)` replaces an empty
    /// directory atomically and fails if the target gained entries meanwhile.
    static func publish(_ tmp: String, to target: String, parent: String) throws(ExportError) {
        if rename(tmp, target) != 0 {
            let e = errno
            if e == ENOTEMPTY || e == EEXIST || e == ENOTDIR || e == EISDIR {
                throw ExportError(.bundleExists, "\(target) appeared or was filled while exporting; refusing to overwrite it")
            }
            throw ExportError(.writeFailed, "cannot move the finished bundle to \(target): \(errnoText(e))")
        }
        try syncDirectory(parent)
    }

    /// Removes a temporary directory and everything in it (best effort).
    static func remove(_ path: String) {
        FileSystem.removeTree(path)
    }
}
