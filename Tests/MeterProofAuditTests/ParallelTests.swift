import Synchronization
import Testing
@testable import MeterProofAudit
#if canImport(Glibc)
import Glibc
#endif

/// The data-parallel helpers: every index computed once, results in index order, and no more
/// threads than asked for.
@Suite("Parallel")
struct ParallelTests {
    /// The calling thread's id (distinct among live threads).
    static func threadID() -> UInt { UInt(pthread_self()) }

    @Test(arguments: [(0, 16, 2), (1, 16, 2), (15, 16, 4), (16, 16, 4), (17, 16, 4), (1000, 7, 3), (2000, 16, 2), (5, 1, 8)])
    func balancedMapKeepsOrderAndCoversEveryIndexOnce(count: Int, chunk: Int, workers: Int) {
        let calls = Mutex<[Int: Int]>([:])
        let threads = Mutex<Set<UInt>>([])
        let out = Parallel.mapBalanced(count, chunk: chunk, maxWorkers: workers) { i -> Int in
            calls.withLock { $0[i, default: 0] += 1 }
            threads.withLock { _ = $0.insert(Self.threadID()) }
            return i * 3 + 1
        }
        #expect(out == (0..<count).map { $0 * 3 + 1 })
        let c = calls.withLock { $0 }
        #expect(c.count == count && c.values.allSatisfy { $0 == 1 })
        let used = threads.withLock { $0.count }
        #expect(used <= max(1, min(workers, (count + chunk - 1) / chunk)), "\(used) threads for \(workers) workers")
    }

    /// A worker slowed down (as one sharing its core with the import's writer is) does fewer
    /// chunks: the others take what it has not started.
    @Test func aSlowWorkerTakesFewerChunks() {
        let slowThread = Mutex<UInt?>(nil)
        let perThread = Mutex<[UInt: Int]>([:])
        _ = Parallel.mapBalanced(64, chunk: 1, maxWorkers: 2) { i -> Int in
            let me = Self.threadID()
            let slow = slowThread.withLock { s -> Bool in
                if s == nil { s = me }
                return s == me
            }
            let first = perThread.withLock { t -> Bool in
                t[me, default: 0] += 1
                return t[me] == 1
            }
            guard slow else { return i }
            // The slow thread's first item waits (up to 5 s, under a loaded test run) for the
            // other thread to start, so the comparison does not depend on when it was scheduled.
            if first {
                for _ in 0..<500 where perThread.withLock({ $0.count }) < 2 { usleep(10_000) }
            }
            usleep(10_000)
            return i
        }
        let counts = perThread.withLock { $0 }
        let slow = slowThread.withLock { $0 }!
        #expect(counts.values.reduce(0, +) == 64)
        // With a static split the slow thread does its 32; here the other one takes what the slow
        // one has not started (in practice all but one or two). (When the pool had no second
        // thread free, one thread rightly did all 64: nothing to compare.)
        if counts.count == 2 {
            #expect(counts[slow, default: 0] < 32, "\(counts)")
        }
    }
}
