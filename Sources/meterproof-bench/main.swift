import Foundation

// meterproof-bench: release-build benchmarks for MeterProof. See docs/benchmarks.md.
//
//   meterproof-bench verify [--seconds S] [--keys DIR]
//   meterproof-bench verify-callgrind        (needs valgrind; counts instructions per token)
//   meterproof-bench audit | import | export (audit trail benchmarks)

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    print("usage: meterproof-bench verify|verify-callgrind|audit|import|export [options]")
    exit(64)
}
let options = BenchOptions(Array(args.dropFirst()))

switch command {
case "verify": VerifyBench.run(options)
case "verify-callgrind": VerifyBench.callgrind(options)
case "verify-loop": VerifyBench.loop(options)
case "trail-writer": TrailWriter.run(options)
default:
    if !runAuditBenchmarks(command, options) {
        print("unknown benchmark \(command)")
        exit(64)
    }
}

/// `--name value` options.
struct BenchOptions {
    var values: [String: String] = [:]
    init(_ args: [String]) {
        var i = 0
        while i < args.count {
            if args[i].hasPrefix("--") {
                let name = String(args[i].dropFirst(2))
                if i + 1 < args.count, !args[i + 1].hasPrefix("--") { values[name] = args[i + 1]; i += 2 } else { values[name] = ""; i += 1 }
            } else { i += 1 }
        }
    }
    func double(_ name: String, _ d: Double) -> Double { values[name].flatMap(Double.init) ?? d }
    func int(_ name: String, _ d: Int) -> Int { values[name].flatMap(Int.init) ?? d }
    func string(_ name: String, _ d: String) -> String { values[name] ?? d }
    func has(_ name: String) -> Bool { values[name] != nil }
}

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The repository root, found from the binary's location (.build/<config>/meterproof-bench) or the working directory.
func repoRoot() -> String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<5 {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        url.deleteLastPathComponent()
    }
    return FileManager.default.currentDirectoryPath
}

func fmt(_ v: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", v) }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
}
