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
}

/// One computation started on a background thread now and collected later with ``wait()``:
/// the stages of a pipeline (read the next batch while this one is parsed) overlap.
final class Background<T: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<T?>(nil)

    /// Starts `work` on `queue` (a serial queue runs such stages one after another, in order).
    init(on queue: DispatchQueue = .global(), _ work: @escaping @Sendable () -> T) {
        queue.async { [self] in
            let r = work()
            result.withLock { $0 = r }
            done.signal()
        }
    }

    /// The result, waiting for it; call once.
    func wait() -> T {
        done.wait()
        return result.withLock { $0.take()! }
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
