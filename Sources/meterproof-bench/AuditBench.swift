import CMeterProofSQLite
import Foundation
import MeterProof
import MeterProofAudit

/// Dispatches the trail benchmarks; returns false for an unknown name.
func runAuditBenchmarks(_ command: String, _ o: BenchOptions) -> Bool {
    switch command {
    case "audit": AuditBench.run(o)
    case "import": ImportBench.run(o)
    case "export": runExportBenchmark(o)
    default: return false
    }
    return true
}

/// Shared fixtures: signed responses made with the test keys.
enum BenchFixtures {
    static func simulator(version: Int = 1) -> ResponseSimulator {
        let pem = try! String(contentsOfFile: repoRoot() + "/keys/test/private/v\(version).key.pem", encoding: .utf8)
        return ResponseSimulator(signingKey: try! RSAPrivateKey(pem: pem))
    }

    static func keyring() -> Keyring { try! Keyring.load(from: repoRoot() + "/keys/test", allowingTestKeys: true) }

    static func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "meterproof-bench-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: d)
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// A fresh trail in `dir`.
    static func trail(in dir: String) -> (AuditTrail, NoteSigner) {
        let signer = try! NoteSigner.generate(name: "bench.example/log")
        let t = try! AuditTrail.create(path: dir + "/trail.sqlite", signer: signer)
        return (t, signer)
    }

    /// The page size of the SQLite file at `path` (what a trail was created with), for raw
    /// references that use the same pragmas.
    static func pageSize(of path: String) -> Int {
        var db: OpaquePointer?
        var st: OpaquePointer?
        defer { sqlite3_finalize(st); sqlite3_close(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK,
              sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nil) == SQLITE_OK,
              sqlite3_step(st) == SQLITE_ROW else { fatalError("cannot read the page size of \(path)") }
        return Int(sqlite3_column_int64(st, 0))
    }

    /// Runs a child to completion, sampling /proc/<pid>/status every 5 ms: peak resident
    /// anonymous memory (heap, stacks) and peak total RSS (which also counts mapped file pages).
    static func childPeakRSS(_ exe: String, _ args: [String]) -> (status: Int32, kib: Int, anonKiB: Int, seconds: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let t0 = now()
        try! p.run()
        var peakAnon = 0, peakTotal = 0
        let statusPath = "/proc/\(p.processIdentifier)/status"
        while p.isRunning {
            if let text = try? String(contentsOfFile: statusPath, encoding: .utf8) {
                for line in text.split(separator: "\n") {
                    let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                    guard parts.count >= 2, let v = Int(parts[1]) else { continue }
                    if parts[0] == "RssAnon:" { peakAnon = max(peakAnon, v) }
                    if parts[0] == "VmHWM:" { peakTotal = max(peakTotal, v) }
                }
            }
            usleep(5000)
        }
        p.waitUntilExit()
        return (p.terminationStatus, peakTotal, peakAnon, now() - t0)
    }

    static var meterproofBinary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("meterproof").path
    }
}

/// A raw SQLite reference: same pragmas (page size included), one table of (seq, body) rows.
final class RawSQLite {
    var db: OpaquePointer?
    var insert: OpaquePointer?

    init(path: String, pageSize: Int) {
        sqlite3_open(path, &db)
        sqlite3_exec(db, "PRAGMA page_size=\(pageSize); PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE rows(seq INTEGER PRIMARY KEY, body BLOB NOT NULL);", nil, nil, nil)
        sqlite3_prepare_v2(db, "INSERT INTO rows(seq, body) VALUES (?, ?)", -1, &insert, nil)
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close(db)
    }

    func insertBatch(_ rows: ArraySlice<[UInt8]>, firstSeq: Int) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        for (i, r) in rows.enumerated() {
            sqlite3_bind_int64(insert, 1, Int64(firstSeq + i))
            _ = r.withUnsafeBytes { sqlite3_bind_blob(insert, 2, $0.baseAddress, Int32($0.count), cmp_sqlite3_transient()) }
            sqlite3_step(insert)
            sqlite3_reset(insert)
        }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }
}

/// The floor MeterProof's storage design sets, without any MeterProof code: the same rows it
/// writes per accepted entry (the entry with its leaf hash, a nonce row) into tables shaped like
/// the trail's, with and without the guard triggers that refuse `INSERT OR REPLACE`, and, for an
/// import, a capture row keyed by a random 32-byte hash (what a line's SHA-256 is).
final class RawTrailShapedSQLite {
    var db: OpaquePointer?
    var entry: OpaquePointer?
    var nonce: OpaquePointer?
    var capture: OpaquePointer?
    private var state: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(path: String, pageSize: Int, guards: Bool, captures: Bool = false) {
        sqlite3_open(path, &db)
        var sql = """
        PRAGMA page_size=\(pageSize); PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
        CREATE TABLE entries(seq INTEGER PRIMARY KEY, body BLOB NOT NULL, leaf_hash BLOB NOT NULL);
        CREATE TABLE nonces(product_code TEXT NOT NULL, nonce TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(product_code, nonce)) WITHOUT ROWID;
        CREATE TABLE captures(hash BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
        """
        if guards {
            sql += """
            CREATE TRIGGER e_guard BEFORE INSERT ON entries WHEN EXISTS (SELECT 1 FROM entries WHERE seq = NEW.seq) BEGIN SELECT RAISE(ABORT, 'x'); END;
            CREATE TRIGGER n_guard BEFORE INSERT ON nonces WHEN EXISTS (SELECT 1 FROM nonces WHERE product_code = NEW.product_code AND nonce = NEW.nonce) BEGIN SELECT RAISE(IGNORE); END;
            """
        }
        sqlite3_exec(db, sql, nil, nil, nil)
        sqlite3_prepare_v2(db, "INSERT INTO entries(seq, body, leaf_hash) VALUES (?, ?, ?)", -1, &entry, nil)
        sqlite3_prepare_v2(db, "INSERT INTO nonces(product_code, nonce, seq) VALUES ('prod-bench', ?, ?) ON CONFLICT DO NOTHING", -1, &nonce, nil)
        if captures { sqlite3_prepare_v2(db, "INSERT INTO captures(hash, seq) VALUES (?, ?)", -1, &capture, nil) }
    }

    deinit {
        sqlite3_finalize(entry)
        sqlite3_finalize(nonce)
        sqlite3_finalize(capture)
        sqlite3_close(db)
    }

    /// splitmix64: stand-in capture hashes, as scattered as SHA-256 output.
    private func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Inserts `rows` from `firstSeq` on, each with its nonce row: `nonces[i]` when given (made
    /// before the timing starts), else `n-` and the hex of the seq.
    func insertBatch(_ rows: ArraySlice<[UInt8]>, firstSeq: Int, nonces: [String]? = nil) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        var leaf = [UInt8](repeating: 7, count: 32)
        for (i, r) in rows.enumerated() {
            let seq = Int64(firstSeq + i)
            leaf[0] = UInt8(truncatingIfNeeded: seq)
            sqlite3_bind_int64(entry, 1, seq)
            _ = r.withUnsafeBytes { sqlite3_bind_blob(entry, 2, $0.baseAddress, Int32($0.count), cmp_sqlite3_transient()) }
            _ = leaf.withUnsafeBytes { sqlite3_bind_blob(entry, 3, $0.baseAddress, 32, cmp_sqlite3_transient()) }
            sqlite3_step(entry)
            sqlite3_reset(entry)
            let n = nonces?[i] ?? "n-" + String(seq, radix: 16)
            _ = n.withCString { sqlite3_bind_text(nonce, 1, $0, -1, cmp_sqlite3_transient()) }
            sqlite3_bind_int64(nonce, 2, seq)
            sqlite3_step(nonce)
            sqlite3_reset(nonce)
            if let capture {
                var key = (next(), next(), next(), next())
                _ = withUnsafeBytes(of: &key) { sqlite3_bind_blob(capture, 1, $0.baseAddress, 32, cmp_sqlite3_transient()) }
                sqlite3_bind_int64(capture, 2, seq)
                sqlite3_step(capture)
                sqlite3_reset(capture)
            }
        }
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }
}

enum AuditBench {
    static func run(_ o: BenchOptions) {
        var big = o.int("entries", 1_000_000)
        let randomNonces = o.has("random-nonces")
        print("# meterproof-bench audit (release build; synchronous=FULL, WAL)")
        let keyring = BenchFixtures.keyring()
        let verifier = Verifier(keyring: keyring, policy: .offline)
        let sim = BenchFixtures.simulator()
        let poolSize = 256
        var responses: [[UInt8]] = [], requests: [RegisterUsageRequest] = []
        for i in 0..<poolSize {
            let n = String(format: "bench-%08x", i)
            responses.append(Array(try! sim.response(productCode: "prod-bench", keyVersion: 1, nonce: n, issuedAt: 1_800_000_000).utf8))
            requests.append(RegisterUsageRequest(productCode: "prod-bench", publicKeyVersion: 1, nonce: n))
        }

        // 1. Durable single appends: verification + one commit each.
        if !o.has("trail") {
            let dir = BenchFixtures.tempDir("single")
            let (trail, _) = BenchFixtures.trail(in: dir)
            let raw = RawSQLite(path: dir + "/raw.sqlite", pageSize: BenchFixtures.pageSize(of: dir + "/trail.sqlite"))
            var verifyOnly: [Double] = [], ours: [Double] = [], rawTimes: [Double] = []
            let rounds = o.int("single", 400)
            var sampleBody: [UInt8] = []
            for i in 0..<rounds {
                let k = i % poolSize
                var t0 = now()
                _ = verifier.verify(responses[k], expecting: requests[k], now: 1_800_000_000)
                verifyOnly.append(now() - t0)
                t0 = now()
                let r = verifier.verify(responses[k], expecting: requests[k], now: 1_800_000_000)
                let e = try! trail.record(AuditEntry(result: r, source: .live))
                ours.append(now() - t0)
                if sampleBody.isEmpty { sampleBody = try! e.canonicalBytes() }
                t0 = now()
                raw.insertBatch([sampleBody][...], firstSeq: i)
                rawTimes.append(now() - t0)
            }
            let vm = median(verifyOnly), om = median(ours), rm = median(rawTimes)
            print("durable single append (verify + commit), \(rounds) rounds: median \(fmt(om * 1000, 3)) ms, p99 \(fmt(percentile(ours, 0.99) * 1000, 3)) ms")
            print("  reference: verification alone median \(fmt(vm * 1000, 3)) ms; raw SQLite one-row commit (\(sampleBody.count)-byte row) median \(fmt(rm * 1000, 3)) ms, p99 \(fmt(percentile(rawTimes, 0.99) * 1000, 3)) ms")
            print("  MeterProof adds \(fmt((om - vm - rm) * 1000, 3)) ms over verification + raw commit (goal <= 0.1 ms)")
            try? FileManager.default.removeItem(atPath: dir)
        }

        // 2. Batched appends (1000 per transaction) of already-verified results.
        var entryTemplates: [AuditEntry] = []
        for k in 0..<poolSize {
            entryTemplates.append(AuditEntry(result: verifier.verify(responses[k], expecting: requests[k], now: 1_800_000_000), source: .live))
        }
        func entries(_ start: Int, _ count: Int) -> [AuditTrail.Pending] {
            (start..<(start + count)).map { i in
                var e = entryTemplates[i % poolSize]
                e.nonce = benchNonce(i, random: randomNonces)
                return AuditTrail.Pending(entry: e)
            }
        }
        if !o.has("trail") {
            let dir = BenchFixtures.tempDir("batch")
            let (trail, _) = BenchFixtures.trail(in: dir)
            // The references use the trail's pragmas, page size included (a new trail's 8 KiB
            // pages make raw SQLite faster too); the 4 KiB default is shown next to them.
            let pageSize = BenchFixtures.pageSize(of: dir + "/trail.sqlite")
            let raw = RawSQLite(path: dir + "/raw.sqlite", pageSize: pageSize)
            let rawDefault = RawSQLite(path: dir + "/raw-4k.sqlite", pageSize: 4096)
            let floor = RawTrailShapedSQLite(path: dir + "/floor.sqlite", pageSize: pageSize, guards: false)
            let guarded = RawTrailShapedSQLite(path: dir + "/guarded.sqlite", pageSize: pageSize, guards: true)
            let batches = o.int("batches", 100)
            var ourTime = 0.0, rawTime = 0.0, rawDefaultTime = 0.0, floorTime = 0.0, guardedTime = 0.0
            var bodies: [[UInt8]] = []
            func timed(_ total: inout Double, _ body: () -> Void) {
                let t0 = now()
                body()
                total += now() - t0
            }
            for b in 0..<batches {
                let items = entries(b * 1000, 1000)
                var out: [AuditTrail.AppendOutcome] = []
                timed(&ourTime) { out = try! trail.append(items) }
                if bodies.isEmpty { bodies = out.map { if case .recorded(let e) = $0 { return try! e.canonicalBytes() } else { return [] } } }
                timed(&rawTime) { raw.insertBatch(bodies[...], firstSeq: b * 1000) }
                timed(&rawDefaultTime) { rawDefault.insertBatch(bodies[...], firstSeq: b * 1000) }
                let nonces = items.map { $0.entry.nonce ?? "" }
                timed(&floorTime) { floor.insertBatch(bodies[...], firstSeq: b * 1000, nonces: nonces) }
                timed(&guardedTime) { guarded.insertBatch(bodies[...], firstSeq: b * 1000, nonces: nonces) }
            }
            let n = Double(batches * 1000)
            print("batched append (1000 per commit, \(batches * 1000) entries, nonces \(randomNonces ? "scattered like random UUIDs" : "in key order")): \(fmt(n / ourTime)) entries/s; raw SQLite same-size rows, same pragmas (\(pageSize)-byte pages) \(fmt(n / rawTime)) rows/s = \(fmt(100 * rawTime / ourTime, 1))% of raw (goal >= 80%)")
            print("  raw SQLite with SQLite's default 4096-byte pages: \(fmt(n / rawDefaultTime)) rows/s; MeterProof = \(fmt(100 * rawDefaultTime / ourTime, 1))% of it")
            print("  storage floor, raw SQLite writing the trail's rows per accepted entry (entry + leaf hash + nonce row): \(fmt(n / floorTime)) entries/s = \(fmt(100 * rawTime / floorTime, 1))% of raw; the same with the REPLACE guard triggers firing (as they would if the writer's connection kept them on) \(fmt(n / guardedTime)) entries/s = \(fmt(100 * rawTime / guardedTime, 1))% of raw")
            try? FileManager.default.removeItem(atPath: dir)
        }

        // 3. audit verify and proofs on a large trail (`--trail PATH` reuses one kept by `--keep`).
        let reused: String? = o.has("trail") ? o.string("trail", "") : nil
        let dir = reused.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? BenchFixtures.tempDir("big")
        let trail: AuditTrail, cp: SignedNote
        if let reused {
            trail = try! AuditTrail(path: reused)
            cp = try! trail.latestCheckpoint()!
            big = Int(try! trail.size())
            print("reusing the \(big)-entry trail \(reused)")
        } else {
            let (t, signer) = BenchFixtures.trail(in: dir)
            trail = t
            let t0 = now()
            var done = 0
            while done < big {
                let n = min(10_000, big - done)
                _ = try! trail.append(entries(done, n))
                done += n
            }
            cp = try! trail.signCheckpoint(with: signer)
            let buildRate = Double(big) / (now() - t0)
            let fileMB = Double((try? FileManager.default.attributesOfItem(atPath: dir + "/trail.sqlite")[.size] as? Int) ?? 0) / 1e6
            print("built a \(big)-entry trail at \(fmt(buildRate)) entries/s (\(fmt(fileMB, 0)) MB)")
        }
        let t1 = now()
        let v = try! trail.verify()
        let dt = now() - t1
        precondition(v.intact, "benchmark trail does not verify: \(v.problem ?? "")")
        print("audit verify (in process, all checks incl. integrity_check): \(fmt(Double(big) / dt)) entries/s (\(fmt(dt, 2)) s; goal >= 300000/s)")
        var proofTimes: [Double] = []
        for i in 0..<200 {
            let seq = UInt64((i * 7919) % big)
            let p0 = now()
            _ = try! trail.inclusionProof(seq: seq, checkpoint: cp)
            proofTimes.append(now() - p0)
        }
        print("inclusion proof at size \(big): median \(fmt(median(proofTimes) * 1000, 3)) ms, p99 \(fmt(percentile(proofTimes, 0.99) * 1000, 3)) ms (goal < 1 ms)")
        let bin = BenchFixtures.meterproofBinary
        if FileManager.default.isExecutableFile(atPath: bin) {
            let r = BenchFixtures.childPeakRSS(bin, ["audit", "verify", "--db", dir + "/trail.sqlite"])
            print("meterproof audit verify as a process: exit \(r.status), \(fmt(Double(big) / r.seconds)) entries/s, peak anonymous memory \(r.anonKiB / 1024) MiB (peak RSS incl. the mapped trail file \(r.kib / 1024) MiB)")
            // The same on a trail 10x smaller, to show memory does not grow with n.
            if reused != nil { return }
            let small = BenchFixtures.tempDir("small")
            let (st, _) = BenchFixtures.trail(in: small)
            var d2 = 0
            while d2 < big / 10 { _ = try! st.append(entries(d2, 10_000)); d2 += 10_000 }
            let r2 = BenchFixtures.childPeakRSS(bin, ["audit", "verify", "--db", small + "/trail.sqlite"])
            print("  same at \(big / 10) entries: peak anonymous memory \(r2.anonKiB / 1024) MiB (peak RSS \(r2.kib / 1024) MiB)")
            try? FileManager.default.removeItem(atPath: small)
        }
        if reused != nil || o.has("keep") { print("kept the trail at \(dir)/trail.sqlite") } else { try? FileManager.default.removeItem(atPath: dir) }
    }
}

/// The bench's nonce for entry `i`: in key order (`n-` and the hex of `i`), or with
/// `random` a UUID-shaped string whose order is unrelated to `i` (a splitmix64 of it), as
/// real RegisterUsage nonces are.
func benchNonce(_ i: Int, random: Bool) -> String {
    guard random else { return String(format: "n-%012x", i) }
    var z = UInt64(i) &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    let w = UInt64(i) &* 0x2545_F491_4F6C_DD1D
    return String(format: "%08x-%04x-4%03x-8%03x-%012llx", UInt32(truncatingIfNeeded: z >> 32), UInt16(truncatingIfNeeded: z >> 16),
                  UInt16(truncatingIfNeeded: z) & 0xFFF, UInt16(truncatingIfNeeded: w >> 52), w & 0xFFFF_FFFF_FFFF)
}
