import Dispatch
import Foundation
import MeterProof
import MeterProofAudit

/// `meterproof-bench export [--entries N] [--db PATH] [--product-code CODE] [--dir DIR] [--repeat N] [--keep]`
///
/// Builds (or reuses, with --db) a trail of N bound entries (default 100000; about 90%
/// accepted, 10% nonce replays, 1% under the RSA-3072 key), then times the `meterproof`
/// binary beside this one: export of the full prefix and of a one-product selection
/// with proofs, against `sqlite3 -csv` dumping the same rows; `export verify` with and
/// without token re-verification; and the peak memory of each (from `/usr/bin/time -v`).
func runExportBenchmark(_ options: BenchOptions) {
    let n = options.int("entries", 100_000)
    let root = repoRoot()
    let work = options.string("dir", NSTemporaryDirectory() + "meterproof-export-bench")
    try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    let db = options.values["db"] ?? "\(work)/trail-\(n).sqlite"
    let keyFile = db + ".log.key"
    let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("meterproof").path
    guard FileManager.default.isExecutableFile(atPath: bin) else {
        print("export benchmark: the meterproof binary is not beside meterproof-bench (\(bin)); build it first")
        return
    }
    print("# meterproof-bench export (\(ProcessInfo.processInfo.activeProcessorCount) cores)")

    if !FileManager.default.fileExists(atPath: db) {
        let t0 = now()
        guard ExportBenchTrail.build(db: db, keyFile: keyFile, entries: n, root: root) else { return }
        print("built \(db): \(n) entries in \(fmt(now() - t0, 1)) s (signing the tokens dominates)")
    } else {
        print("reusing \(db)")
    }
    let total: UInt64
    do {
        let trail = try AuditTrail(path: db)
        if let skey = try? String(contentsOfFile: keyFile, encoding: .utf8), let signer = try? NoteSigner(skey: skey.trimmingCharacters(in: .whitespacesAndNewlines)) {
            _ = try trail.signCheckpoint(with: signer)
        }
        guard let note = try trail.latestCheckpoint() else {
            print("export benchmark: \(db) has no checkpoint and no \(keyFile) to sign one; run `meterproof audit checkpoint` first")
            return
        }
        total = try Checkpoint(verifying: note, verifiers: [trail.verifier]).size
    } catch {
        print("export benchmark: cannot open \(db): \(error)")
        return
    }
    let product = options.string("product-code", "prod-bench-3")
    let repeats = max(1, options.int("repeat", 2))
    let run = ExportBenchRunner(bin: bin)
    print("each number is the fastest of \(repeats) runs (--repeat N); bundles are kept until the end, since ext4 makes creating files slow right after many were deleted")

    // sqlite3 dumping the same rows as CSV: the floor for "read every row and write it out".
    var dumpSeconds: Double? = nil
    if let sqlite = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
        let out = work + "/dump.csv"
        let r = run.best(repeats) { _ in run.time(sqlite, ["-csv", db, "SELECT seq, body FROM entries WHERE seq < \(total) ORDER BY seq"], stdout: out) }
        dumpSeconds = r.seconds
        print("sqlite3 -csv dump of the same \(total) rows (seq, body) to a file: \(fmt(Double(total) / r.seconds)) rows/s (\(fmt(r.seconds, 2)) s, peak RSS \(r.peakMiB) MiB)")
        try? FileManager.default.removeItem(atPath: out)
    } else {
        print("sqlite3 not installed: no CSV dump to compare with (apt-get install sqlite3)")
    }

    let stamp = "\(getpid())-\(Int(Date().timeIntervalSince1970))"
    var made: [String] = []
    func bundle(_ name: String, _ i: Int) -> String {
        let d = "\(work)/bundle-\(name)-\(stamp)-\(i)"
        made.append(d)
        return d
    }
    defer { if !options.has("keep") { for d in made { try? FileManager.default.removeItem(atPath: d) } } }

    let e1 = run.best(repeats) { i in run.time(bin, ["export", "--db", db, "--out", bundle("full", i)]) }
    guard e1.status == 0 else { print("export failed: \(e1.output)"); return }
    let full = made.last!
    let vsDump: (Double) -> String = { s in dumpSeconds.map { "; \(fmt(s / $0, 1))x the sqlite3 dump's time" } ?? "" }
    let rateVsDump = dumpSeconds.map { "; \(fmt($0 / e1.seconds, 2))x the sqlite3 dump's rate (goal >= 1x)" } ?? ""
    print("export full prefix (\(total) entries, no proofs): \(fmt(Double(total) / e1.seconds)) entries/s (\(fmt(e1.seconds, 2)) s, peak RSS \(e1.peakMiB) MiB)\(rateVsDump)")

    let e2 = run.best(repeats) { i in run.time(bin, ["export", "--db", db, "--out", bundle("selection", i), "--product-code", product]) }
    guard e2.status == 0 else { print("export failed: \(e2.output)"); return }
    let sel = made.last!
    let selected = ((try? String(contentsOfFile: sel + "/entries.jsonl", encoding: .utf8)) ?? "").utf8.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    print("export selection --product-code \(product) (\(selected) of \(total) entries, \(selected) proof files): \(fmt(Double(selected) / e2.seconds)) selected entries/s, \(fmt(Double(total) / e2.seconds)) scanned entries/s (\(fmt(e2.seconds, 2)) s, peak RSS \(e2.peakMiB) MiB)\(vsDump(e2.seconds)); vs the full prefix \(fmt(e2.seconds / e1.seconds, 2))x")

    let v1 = run.best(repeats) { _ in run.time(bin, ["export", "verify", full]) }
    let v2 = run.best(repeats) { _ in run.time(bin, ["export", "verify", full, "--no-token-check"]) }
    guard v1.status == 0, v2.status == 0 else { print("export verify failed: \(v1.output) \(v2.output)"); return }
    print("export verify full prefix with token re-verification: \(fmt(Double(total) / v1.seconds)) entries/s (\(fmt(v1.seconds, 2)) s, peak RSS \(v1.peakMiB) MiB); vs export \(fmt(v1.seconds / e1.seconds, 2))x")
    print("export verify full prefix without token re-verification: \(fmt(Double(total) / v2.seconds)) entries/s (\(fmt(v2.seconds, 2)) s, peak RSS \(v2.peakMiB) MiB); the PS256 re-verification is \(fmt(100 * (v1.seconds - v2.seconds) / v1.seconds, 0))% of the full check")
    let v3 = run.best(repeats) { _ in run.time(bin, ["export", "verify", sel]) }
    let v4 = run.best(repeats) { _ in run.time(bin, ["export", "verify", sel, "--no-token-check"]) }
    guard v3.status == 0, v4.status == 0 else { print("export verify failed: \(v3.output) \(v4.output)"); return }
    print("export verify selection (\(selected) entries, one proof each) with token re-verification: \(fmt(Double(selected) / v3.seconds)) entries/s (\(fmt(v3.seconds, 2)) s, peak RSS \(v3.peakMiB) MiB); without: \(fmt(Double(selected) / v4.seconds)) entries/s (\(fmt(v4.seconds, 2)) s)")

    ExportBenchProofs.compare(db: db, size: total, product: product)

    let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    let script = root + "/Tests/interop/check_bundle.py"
    if let python, FileManager.default.fileExists(atPath: script) {
        let p = run.time(python, [script, full])
        if p.status == 0 {
            print("independent Python check_bundle.py on the full prefix: \(fmt(Double(total) / p.seconds)) entries/s (\(fmt(p.seconds, 2)) s, peak RSS \(p.peakMiB) MiB) vs export verify \(fmt(Double(total) / v1.seconds)) entries/s")
        } else {
            print("Python check_bundle.py did not run: \(p.output.split(separator: "\n").first ?? "")")
        }
    }
}

/// Runs a process under `/usr/bin/time -v` when available, for wall time and peak RSS.
struct ExportBenchRunner {
    let bin: String
    let timeTool = FileManager.default.isExecutableFile(atPath: "/usr/bin/time") ? "/usr/bin/time" : nil
    #if os(Linux)
    static let children = __rusage_who_t(RUSAGE_CHILDREN.rawValue)
    #else
    static let children = RUSAGE_CHILDREN
    #endif

    struct Result {
        var status: Int32
        var seconds: Double
        var peakKiB: Int?
        var output: String
        var peakMiB: String { peakKiB.map { fmt(Double($0) / 1024, 1) } ?? "?" }
    }

    /// The fastest of `n` runs (peak memory: the largest seen); stops at a failed run.
    func best(_ n: Int, _ body: (Int) -> Result) -> Result {
        var best: Result? = nil
        for i in 0..<n {
            let r = body(i)
            if r.status != 0 { return r }
            if best == nil || r.seconds < best!.seconds {
                let peak = max(best?.peakKiB ?? 0, r.peakKiB ?? 0)
                best = r
                best!.peakKiB = peak > 0 ? peak : nil
            } else if let p = r.peakKiB, p > (best!.peakKiB ?? 0) {
                best!.peakKiB = p
            }
        }
        return best!
    }

    func time(_ exe: String, _ args: [String], stdout: String? = nil) -> Result {
        // Start every run with no dirty pages: an export syncs its bundle (syncfs) before the
        // rename, and would otherwise also wait for the writeback of earlier runs' files (the
        // sqlite3 dump, which never syncs, included).
        sync()
        let p = Process()
        let errFile = NSTemporaryDirectory() + "meterproof-bench-time-\(getpid()).txt"
        if let timeTool {
            p.executableURL = URL(fileURLWithPath: timeTool)
            p.arguments = ["-v", "-o", errFile, exe] + args
        } else {
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
        }
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdout)
        } else {
            p.standardOutput = Pipe()
        }
        let errPipe = Pipe()
        p.standardError = errPipe
        var before = rusage()
        getrusage(ExportBenchRunner.children, &before)
        let t0 = now()
        do { try p.run() } catch { return Result(status: -1, seconds: 0, peakKiB: nil, output: "\(error)") }
        var outData = Data()
        if let pipe = p.standardOutput as? Pipe { outData = pipe.fileHandleForReading.readDataToEndOfFile() }
        let errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let seconds = now() - t0
        var peak: Int? = nil
        if timeTool != nil, let text = try? String(contentsOfFile: errFile, encoding: .utf8) {
            for line in text.split(separator: "\n") where line.contains("Maximum resident set size") {
                peak = Int(line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
            }
            try? FileManager.default.removeItem(atPath: errFile)
        } else {
            var after = rusage()
            getrusage(ExportBenchRunner.children, &after)
            peak = after.ru_maxrss > before.ru_maxrss ? Int(after.ru_maxrss) : nil   // a high-water mark over all children
        }
        return Result(status: p.terminationStatus, seconds: seconds, peakKiB: peak,
                      output: String(decoding: outData + errData, as: UTF8.self))
    }
}

enum ExportBenchTrail {
    /// Creates a trail of `entries` bound entries and its log key file.
    static func build(db: String, keyFile: String, entries n: Int, root: String) -> Bool {
        do {
            let keysDir = root + "/keys/test"
            let keyring = try Keyring.load(from: keysDir, allowingTestKeys: true)
            let sims = try [1, 2].map { v in
                ResponseSimulator(signingKey: try RSAPrivateKey(pem: String(contentsOfFile: "\(keysDir)/private/v\(v).key.pem", encoding: .utf8)))
            }
            let signer = try NoteSigner.generate(name: "bench.meterproof.local/export")
            let trail = try AuditTrail.create(path: db, signer: signer)
            try (signer.skey + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
            let verifier = Verifier(keyring: keyring, policy: .offline)
            let chunk = 4096
            var start = 0
            while start < n {
                let count = min(chunk, n - start)
                // Sign in parallel; every tenth item replays the one before it.
                var results = [VerificationResult?](repeating: nil, count: count)
                let base = start
                results.withUnsafeMutableBufferPointer { buf in
                    let out = SendableBuffer(buf)
                    let workers = ProcessInfo.processInfo.activeProcessorCount
                    DispatchQueue.concurrentPerform(iterations: workers) { w in
                        for j in stride(from: w, to: count, by: workers) {
                            let i = base + j
                            if i % 10 == 9 && j > 0 { continue }
                            let version = i % 97 == 0 ? 2 : 1
                            let product = "prod-bench-\(i % 7)"
                            let nonce = String(format: "%08x-0000-4000-8000-%012x", i, i)
                            guard let r = try? sims[version - 1].response(productCode: product, keyVersion: version, nonce: nonce, issuedAt: 1_800_000_000) else { continue }
                            out.buffer[j] = verifier.verify(Array(r.utf8), expecting: RegisterUsageRequest(productCode: product, publicKeyVersion: version, nonce: nonce))
                        }
                    }
                }
                var items: [AuditTrail.Pending] = []
                items.reserveCapacity(count)
                for j in 0..<count {
                    let r = results[j] ?? results[j - 1]!
                    items.append(AuditTrail.Pending(result: r, keyring: keyring, source: .live))
                }
                _ = try trail.append(items)
                start += count
                if start % 20480 == 0 || start == n { print("  built \(start)/\(n) entries") }
            }
            _ = try trail.signCheckpoint(with: signer)
            return true
        } catch {
            print("export benchmark: building the trail failed: \(error)")
            return false
        }
    }
}

/// Lets `concurrentPerform` workers fill disjoint slots of one buffer.
struct SendableBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ b: UnsafeMutableBufferPointer<T>) { buffer = b }
}

/// Proof generation in isolation, leaf hashes in memory: the export's chunked proofs, one
/// streaming pass (`BatchInclusionProofs`), and one `MerkleProofs.inclusionProof` per entry
/// over the trail's stored subtree hashes.
enum ExportBenchProofs {
    static func compare(db: String, size: UInt64, product: String) {
        do {
            let trail = try AuditTrail(path: db, readOnly: true)
            var selected: [UInt64] = []
            var leaves: [MerkleHash] = []
            leaves.reserveCapacity(Int(size))
            try trail.forEachEntry(from: 0, to: size) { seq, body in
                leaves.append(RFC6962.leafHash(body))
                if let e = try? AuditEntry(canonicalBytes: body), e.productCode == product { selected.append(seq) }
            }
            guard !selected.isEmpty else { return }
            let marks = Set(selected)
            var t0 = now()
            var batch = BatchInclusionProofs()
            for (i, h) in leaves.enumerated() { batch.append(h, mark: marks.contains(UInt64(i))) }
            var hashes = 0
            try batch.forEachProof { _, p in hashes += p.count }
            let streaming = now() - t0
            // What the export does: chunk roots in the pass, then each marked chunk's leaves again.
            t0 = now()
            var chunked = ChunkedInclusionProofs()
            for (i, h) in leaves.enumerated() { chunked.append(h, mark: marks.contains(UInt64(i))) }
            _ = chunked.finish()
            var chunkedHashes = 0
            for c in chunked.markedChunks() {
                for (_, p) in try chunked.proofs(chunk: c.chunk, leafHashes: Array(leaves[Int(c.leaves.lowerBound)..<Int(c.leaves.upperBound)])) {
                    chunkedHashes += p.count
                }
            }
            let perChunk = now() - t0
            t0 = now()
            var lookedUp = 0
            for seq in selected { lookedUp += try MerkleProofs.inclusionProof(index: seq, treeSize: size, source: trail).count }
            let lookups = now() - t0
            guard hashes == lookedUp, chunkedHashes == lookedUp else { print("proof comparison: the methods disagree"); return }
            print("inclusion proofs for \(selected.count) of \(size) leaves (leaf hashes in memory): per 4096-leaf chunk, as the export does, \(fmt(perChunk * 1000, 1)) ms (\(fmt(Double(selected.count) / perChunk)) proofs/s); one streaming pass \(fmt(streaming * 1000, 1)) ms (\(fmt(Double(selected.count) / streaming)) proofs/s) vs one proof at a time from stored subtree hashes \(fmt(lookups * 1000, 1)) ms (\(fmt(Double(selected.count) / lookups)) proofs/s): \(fmt(lookups / streaming, 1))x")
        } catch {
            print("proof comparison skipped: \(error)")
        }
    }
}
