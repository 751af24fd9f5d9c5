import Foundation
import MeterProof
import Synchronization
import MeterProofAudit

/// `meterproof-bench import [--captures N] [--jobs J] [--rounds R] [--random-nonces]`: the offline-audit rate of the
/// real CLI on a generated file of bound captures, next to the raw OpenSSL verify rate times the
/// cores used and a Python baseline doing the same verify + SQLite insert work, in R rounds
/// (default 3) that each measure all three.
enum ImportBench {
    static func run(_ o: BenchOptions) {
        let n = o.int("captures", 100_000)
        let cores = o.int("jobs", ProcessInfo.processInfo.activeProcessorCount)
        print("# meterproof-bench import (release build, \(n) bound captures, \(cores) cores)")
        let randomNonces = o.has("random-nonces")
        let file = NSTemporaryDirectory() + "meterproof-bench-captures-\(n)\(randomNonces ? "-random" : "").jsonl"
        if !FileManager.default.fileExists(atPath: file) {
            let t0 = now()
            generate(count: n, to: file, randomNonces: randomNonces)
            print("generated \(file) in \(fmt(now() - t0, 1)) s")
        }
        // The limit: a single-core raw OpenSSL PS256 verify loop on the same key.
        let f = VerifyBench.fixture(version: 1, count: 256, root: repoRoot())
        let pkey = VerifyBench.rawKey(f.key)
        let md = VerifyBench.fetchSHA256()

        let dir = BenchFixtures.tempDir("import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = BenchFixtures.meterproofBinary
        let args = ["audit", "import", "--db", dir + "/trail.sqlite", "--signing-key", dir + "/log.key", "--keys", repoRoot() + "/keys/test",
                    "--no-progress", "--format", "json", "--jobs", String(cores), file]
        let script = dir + "/baseline.py"
        try! pythonBaseline.write(toFile: script, atomically: true, encoding: .utf8)

        // The machine's speed drifts by tens of percent over minutes: each round measures all
        // three side by side (raw verify, the import, the Python baseline), and the ratios are
        // taken within a round; the summary gives their medians.
        let rounds = max(1, o.int("rounds", 3))
        var rawShares: [Double] = [], pyRatios: [Double] = [], rates: [Double] = []
        for k in 1...rounds {
            for name in ["trail.sqlite", "trail.sqlite-wal", "trail.sqlite-shm", "log.key", "log.key.last-checkpoint", "py.sqlite", "py.sqlite-wal", "py.sqlite-journal"] {
                try? FileManager.default.removeItem(atPath: dir + "/" + name)
            }
            let raw = VerifyBench.rate(seconds: 2, count: 256) { i in VerifyBench.rawVerify(pkey, md, f.signingInputs[i], f.signatures[i]) }
            print("round \(k): raw OpenSSL PS256 verify, one core: \(fmt(raw)) /s; x \(cores) cores = \(fmt(raw * Double(cores))) /s")
            let r = BenchFixtures.childPeakRSS(bin, args)
            guard r.status == 0 else { print("meterproof audit import failed with exit \(r.status)"); return }
            let rate = Double(n) / r.seconds
            rates.append(rate)
            rawShares.append(100 * rate / (raw * Double(cores)))
            print("  meterproof audit import (verify + durable record + checkpoint): \(fmt(rate)) captures/s (\(fmt(r.seconds, 2)) s), peak anonymous memory \(r.anonKiB / 1024) MiB, peak RSS \(r.kib / 1024) MiB")
            print("  = \(fmt(rawShares.last!, 1))% of raw verify x cores (goal >= 75%)")
            let py = BenchFixtures.childPeakRSS("/usr/bin/python3", [script, file, repoRoot() + "/keys/test/v1.pem", dir + "/py.sqlite"])
            if py.status == 0 {
                let pyRate = Double(n) / py.seconds
                pyRatios.append(rate / pyRate)
                print("  Python baseline (json + cryptography PSS verify + sqlite3 insert, batches of 1000, synchronous=FULL): \(fmt(pyRate)) captures/s")
                print("  MeterProof / Python = \(fmt(pyRatios.last!, 2))x (goal >= 3x)")
            } else {
                print("  Python baseline could not run (python3 with cryptography needed): exit \(py.status)")
            }
        }
        print("median of \(rounds) rounds: import \(fmt(median(rates))) captures/s; \(fmt(median(rawShares), 1))% of raw verify x cores (goal >= 75%); "
              + "\(pyRatios.isEmpty ? "no Python baseline" : "MeterProof / Python \(fmt(median(pyRatios), 2))x (goal >= 3x)")")

        // Re-import of the last round's file: every line is a duplicate.
        let again = BenchFixtures.childPeakRSS(bin, args)
        print("re-import of the same file (all duplicates): \(fmt(Double(n) / again.seconds)) captures/s, exit \(again.status)")
        // What SQLite alone costs for the rows the import writes per capture, with the CPU it takes
        // (user + sys of this process): the writer's floor, next to the RSA work.
        writerFloor(entries: n, bodyBytes: averageEntryBytes(dir + "/trail.sqlite"), dir: dir)
        if o.has("large") {
            // Memory stays flat with input size: a file 3x larger.
            let big = dir + "/big.jsonl"
            _ = FileManager.default.createFile(atPath: big, contents: nil)
            let h = FileHandle(forWritingAtPath: big)!
            let data = FileManager.default.contents(atPath: file)!
            for i in 0..<3 {
                // Distinct lines per copy (the capture hash covers the whole line).
                h.write(Data(String(decoding: data, as: UTF8.self).replacingOccurrences(of: "Z\"}", with: "Z\",\"copy\":\(i)}").utf8))
            }
            try? h.close()
            let rb = BenchFixtures.childPeakRSS(bin, ["audit", "import", "--db", dir + "/big.sqlite", "--signing-key", dir + "/big.key", "--keys", repoRoot() + "/keys/test", "--no-progress", "--format", "json", big])
            print("import of a 3x larger file: peak anonymous memory \(rb.anonKiB / 1024) MiB, peak RSS \(rb.kib / 1024) MiB (exit \(rb.status))")
        }
        if o.has("hostile") { hostile(bin: bin, dir: dir) }
    }

    /// Inputs built to blow memory up: lines just under the 1 MiB line limit (each a bare
    /// "token" far over the token limit), and thousands of one-line files. Peak memory must stay
    /// flat (the goal: under 100 MB whatever the input).
    static func hostile(bin: String, dir: String) {
        let lines = 300, bytes = 1_000_000
        let long = dir + "/hostile-long.jsonl"
        _ = FileManager.default.createFile(atPath: long, contents: nil)
        let h = FileHandle(forWritingAtPath: long)!
        for i in 0..<lines {
            let head = Array("\"\(i)-".utf8)
            h.write(Data(head + [UInt8](repeating: UInt8(ascii: "a"), count: bytes - head.count - 1) + Array("\"\n".utf8)))
        }
        try? h.close()
        let keys = repoRoot() + "/keys/test"
        let a = BenchFixtures.childPeakRSS(bin, ["audit", "import", "--db", dir + "/hostile1.sqlite", "--signing-key", dir + "/hostile1.key", "--keys", keys, "--no-progress", long])
        print("hostile: \(lines) lines of \(bytes) bytes (\(lines * bytes / 1_000_000) MB): peak anonymous memory \(a.anonKiB / 1024) MiB, peak RSS \(a.kib / 1024) MiB, \(fmt(a.seconds, 2)) s (exit \(a.status))")
        try? FileManager.default.removeItem(atPath: long)
        let files = 2000
        let many = dir + "/hostile-files"
        try? FileManager.default.createDirectory(atPath: many, withIntermediateDirectories: true)
        var paths: [String] = []
        for i in 0..<files {
            let p = many + "/c\(i).jsonl"
            _ = FileManager.default.createFile(atPath: p, contents: Data("not a capture \(i)\n".utf8))
            paths.append(p)
        }
        let b = BenchFixtures.childPeakRSS(bin, ["audit", "import", "--db", dir + "/hostile2.sqlite", "--signing-key", dir + "/hostile2.key", "--keys", keys, "--no-progress"] + paths)
        print("hostile: \(files) one-line capture files: peak anonymous memory \(b.anonKiB / 1024) MiB, peak RSS \(b.kib / 1024) MiB, \(fmt(b.seconds, 2)) s (exit \(b.status))")
        try? FileManager.default.removeItem(atPath: many)
        hostileEntries(bin: bin, dir: dir, keys: keys)
    }

    /// Lines that quote a huge value in their rejection (a `capturedAt` of one letter and 450,000
    /// combining marks): the import cuts such messages at 4 KiB, so they stay small entries.
    /// Then entries near the 1 MiB entry limit, appended through the library (which keeps a
    /// caller's message whole): `report`, `export` and `export verify` batch by bytes as well as
    /// by count, so their anonymous memory stays flat (the mapped trail file counts in RSS, not
    /// in anonymous memory).
    static func hostileEntries(bin: String, dir: String, keys: String) {
        let lines = 200
        let path = dir + "/hostile-entries.jsonl"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let h = FileHandle(forWritingAtPath: path)!
        let marks = String(repeating: "\u{301}", count: 450_000)
        for i in 0..<lines { h.write(Data("{\"Signature\":\"a.b.c\",\"capturedAt\":\"\(i)\(marks)\"}\n".utf8)) }
        try? h.close()
        let imported = dir + "/hostile3-import.sqlite"
        let imp = BenchFixtures.childPeakRSS(bin, ["audit", "import", "--db", imported, "--signing-key", dir + "/hostile3-import.key", "--keys", keys, "--no-progress", path])
        try? FileManager.default.removeItem(atPath: path)
        let importedSize = (try? FileManager.default.attributesOfItem(atPath: imported)[.size] as? Int) ?? 0
        print("hostile: \(lines) lines of about 900 KB quoting their capturedAt: import \(fmt(imp.seconds, 2)) s, peak anonymous memory \(imp.anonKiB / 1024) MiB, trail \(importedSize / 1_048_576) MiB (exit \(imp.status))")

        let db = dir + "/hostile3.sqlite"
        guard let signer = try? NoteSigner.generate(name: "bench.hostile/log"), let trail = try? AuditTrail.create(path: db, signer: signer) else {
            print("hostile: could not create a trail for large entries"); return
        }
        let big = String(repeating: "x", count: 900_000)
        for chunk in stride(from: 0, to: lines, by: 20) {
            let items = (chunk..<min(lines, chunk + 20)).map { i in
                AuditTrail.Pending(entry: AuditEntry(rejected: .malformedInput, message: "\(i): \(big)", source: .live, capture: nil))
            }
            _ = try? trail.append(items)
        }
        _ = try? trail.signCheckpoint(with: signer)
        let size = (try? FileManager.default.attributesOfItem(atPath: db)[.size] as? Int) ?? 0
        print("hostile: \(lines) entries of about 900 KB appended through the library (trail \(size / 1_048_576) MiB):")
        for (name, args) in [("report", ["report", "--db", db, "--out", dir + "/hostile3.html"]),
                             ("export", ["export", "--db", db, "--out", dir + "/hostile3-bundle"]),
                             ("export verify", ["export", "verify", dir + "/hostile3-bundle"])] {
            let r = BenchFixtures.childPeakRSS(bin, args)
            print("  \(name): peak anonymous memory \(r.anonKiB / 1024) MiB, peak RSS \(r.kib / 1024) MiB, \(fmt(r.seconds, 2)) s (exit \(r.status))")
        }
    }

    static func averageEntryBytes(_ path: String) -> Int {
        guard let t = try? AuditTrail(path: path, readOnly: true), let n = try? t.size(), n > 0,
              let first = try? t.entryBytes(0), let last = try? t.entryBytes(n - 1) else { return 1200 }
        return (first.count + last.count) / 2
    }

    /// Raw SQLite writing what an import writes per accepted capture (entry with leaf hash and
    /// nonce row; a new trail's page size), 2000 rows per commit, and the same plus a capture row under a random 32-byte
    /// key (what a rejected capture adds, and what schema 1 wrote for every capture): rows/s
    /// and CPU µs per row.
    static func writerFloor(entries n: Int, bodyBytes: Int, dir: String) {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: bodyBytes)
        var results: [String] = []
        for captures in [true, false] {
            let path = dir + (captures ? "/floor-captures.sqlite" : "/floor.sqlite")
            let raw = RawTrailShapedSQLite(path: path, pageSize: AuditTrail.newTrailPageSize, guards: false, captures: captures)
            let bodies = [[UInt8]](repeating: body, count: 2000)
            let c0 = cpuSeconds(), t0 = now()
            var done = 0
            while done < n {
                let k = min(2000, n - done)
                raw.insertBatch(bodies[0..<k], firstSeq: done)
                done += k
            }
            let dt = now() - t0, cpu = cpuSeconds() - c0
            results.append("\(fmt(Double(n) / dt)) rows/s, \(fmt(cpu / Double(n) * 1e6, 1)) µs CPU per row")
            try? FileManager.default.removeItem(atPath: path)
        }
        print("  writer floor, raw SQLite writing an import's rows per accepted capture (\(bodyBytes)-byte entry + leaf hash, nonce row; 2000 per commit): \(results[1]); with a capture row under a random 32-byte key too (rejected captures; every capture in schema 1): \(results[0])")
    }

    /// User + system CPU time of this process so far.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// Writes `count` bound captures signed with the v1 test key, using every core.
    static func generate(count: Int, to path: String, randomNonces: Bool = false) {
        let sim = BenchFixtures.simulator(version: 1)
        let base: Int64 = 1_800_000_000
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let lines = Mutex([String?](repeating: nil, count: count))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var local: [(Int, String)] = []
            for i in stride(from: t, to: count, by: threads) {
                let nonce = randomNonces ? UUID().uuidString.lowercased()
                    : String(format: "%08x-%04x-4%03x-8%03x-%012x", i, i & 0xFFFF, i & 0xFFF, (i >> 12) & 0xFFF, i &* 2_654_435_761 & 0xFFFF_FFFF_FFFF)
                let product = "prod-\(["alpha", "beta", "gamma"][i % 3])"
                let iat = base + Int64(i)
                let resp = try! sim.response(productCode: product, keyVersion: 1, nonce: nonce, issuedAt: iat)
                let line = #"{"request":{"productCode":"\#(product)","publicKeyVersion":1,"nonce":"\#(nonce)"},"response":"# + resp
                    + #","capturedAt":""# + RFC3339.format(seconds: iat + 2) + #""}"#
                local.append((i, line))
            }
            lines.withLock { all in for (i, l) in local { all[i] = l } }
        }
        let text = lines.withLock { $0.map { $0! }.joined(separator: "\n") } + "\n"
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static let pythonBaseline = #"""
import base64, json, sqlite3, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
captures, keyfile, dbfile = sys.argv[1:4]
key = serialization.load_pem_public_key(open(keyfile, "rb").read())
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
db = sqlite3.connect(dbfile, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE entries(seq INTEGER PRIMARY KEY, outcome TEXT, product TEXT, nonce TEXT, token TEXT)")
def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
rows, seq = [], 0
def flush():
    db.execute("BEGIN"); db.executemany("INSERT INTO entries VALUES (?,?,?,?,?)", rows); db.execute("COMMIT"); rows.clear()
for line in open(captures, "rb"):
    c = json.loads(line)
    req, tok = c["request"], c["response"]["Signature"]
    h, p, s = tok.split(".")
    ok = True
    try:
        key.verify(b64d(s), (h + "." + p).encode(), pss, hashes.SHA256())
        claims = json.loads(b64d(p))
        ok = claims["productCode"] == req["productCode"] and claims["publicKeyVersion"] == req["publicKeyVersion"] and claims["nonce"] == req["nonce"]
    except Exception:
        ok = False
    rows.append((seq, "accepted" if ok else "rejected", req["productCode"], req["nonce"], tok)); seq += 1
    if len(rows) == 1000: flush()
if rows: flush()
"""#
}
