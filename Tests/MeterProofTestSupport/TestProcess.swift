import Foundation

/// Output of a finished child process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Process helpers shared by the test targets.
public enum TestProcess {
    /// Runs `executable` to completion; stdin from `stdin`, stdout and stderr captured in files
    /// (no pipe deadlocks).
    public static func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil, cwd: String? = nil) throws -> ProcessResult {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("meterproof-run-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out"), err = dir.appendingPathComponent("err"), inp = dir.appendingPathComponent("in")
        _ = fm.createFile(atPath: out.path, contents: nil)
        _ = fm.createFile(atPath: err.path, contents: nil)
        _ = fm.createFile(atPath: inp.path, contents: Data(stdin ?? []))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let outH = try FileHandle(forWritingTo: out), errH = try FileHandle(forWritingTo: err), inH = try FileHandle(forReadingFrom: inp)
        p.standardOutput = outH
        p.standardError = errH
        p.standardInput = inH
        try p.run()
        p.waitUntilExit()
        try outH.close(); try errH.close(); try inH.close()
        return ProcessResult(status: p.terminationStatus,
                             stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                             stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    /// An executable product `swift build` put next to the test bundle (`meterproof`,
    /// `meterproof-bench`), else in `<packageRoot>/.build/debug`.
    public static func builtProduct(_ name: String, packageRoot: URL) -> String? {
        let fm = FileManager.default
        func executable(_ url: URL) -> Bool {
            var isDir: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDir) && !isDir.boolValue && fm.isExecutableFile(atPath: url.path)
        }
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name)
            if executable(candidate) { return candidate.path }
            dir = dir.deletingLastPathComponent()
        }
        let fallback = packageRoot.appendingPathComponent(".build/debug/\(name)")
        return executable(fallback) ? fallback.path : nil
    }

    /// The full path of `name` on `PATH`, if there is an executable file by that name.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
