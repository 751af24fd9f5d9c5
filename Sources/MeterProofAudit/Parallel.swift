import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Data-parallel helpers for the batch stages (trail verify, import, export, report).
enum Parallel {
    /// `body(i)` for every `i` in `0..<count`, results in index order, on up to `maxWorkers`
    /// threads, each taking one contiguous slice of at least `grain` items.
    static func map<T>(_ count: Int, grain: Int, maxWorkers: Int = System.activeProcessorCount, _ body: @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let workers = min(max(1, maxWorkers), max(1, count / max(1, grain)))
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = UnsafeSendable(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for i in (count * w / workers)..<(count * (w + 1) / workers) {
                    (base.value + i).initialize(to: body(i))
                }
            }
            initialized = count
        }
    }

    /// The same, but the up to `maxWorkers` threads take chunks of `chunk` items from a shared
    /// counter until none is left, so a thread that shares its core with other work (an
    /// import's writer) does fewer chunks instead of holding the whole batch up at its end.
    static func mapBalanced<T>(_ count: Int, chunk: Int, maxWorkers: Int = System.activeProcessorCount, _ body: @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let chunk = max(1, chunk)
        let chunks = count / chunk + (count % chunk == 0 ? 0 : 1)
        let workers = min(max(1, maxWorkers), chunks)
        let next = Atomic<Int>(0)
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = UnsafeSendable(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let c = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if c >= chunks { break }
                    let start = c * chunk
                    for i in start..<(start + min(chunk, count - start)) {
                        (base.value + i).initialize(to: body(i))
                    }
                }
            }
            initialized = count
        }
    }
}

/// One computation started on a background thread now and collected later with ``wait()``:
/// the stages of a pipeline (read the next batch while this one is parsed) overlap.
final class Background<T: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<T?>(nil)

    init(_ work: @escaping @Sendable () -> T) {
        DispatchQueue.global().async { [self] in
            let r = work()
            result.withLock { $0 = r }
            done.signal()
        }
    }

    /// The result, waiting for it the first time. Called from one thread (the owner's).
    @discardableResult
    func wait() -> T {
        // The result is stored before the signal: once it is there, the work is over.
        if let r = result.withLock({ $0 }) { return r }
        done.wait()
        return result.withLock { $0! }
    }
}

extension Array where Element == UInt64 {
    /// In an ascending array, the first position whose value is at least `value` (binary search).
    func lowerBound(of value: UInt64) -> Int {
        var a = 0, b = count
        while a < b {
            let mid = (a + b) / 2
            if self[mid] < value { a = mid + 1 } else { b = mid }
        }
        return a
    }
}

/// Lets disjoint slices of one buffer be written from `concurrentPerform` workers.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

enum System {
    static var activeProcessorCount: Int {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return 1
        #endif
    }
}
