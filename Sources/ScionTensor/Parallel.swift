// Thread pool configuration and the parallel-for used by non-GEMM kernels.
// Work is split into chunks by index only, and every output element is computed by exactly one
// chunk in a fixed order, so results never depend on the thread count.

import Dispatch
import Foundation

/// Process-wide compute settings: the number of threads kernels and BLAS may use.
public enum ComputeSettings {
    nonisolated(unsafe) private static var _threads = ProcessInfo.processInfo.activeProcessorCount
    private static let lock = NSLock()

    /// Threads used by Scion's kernels and by BLAS (default: the active processor count).
    public static var threadCount: Int {
        get { lock.lock(); defer { lock.unlock() }; return _threads }
        set {
            lock.lock(); _threads = max(1, newValue); lock.unlock()
            BLAS.shared.setThreads(max(1, newValue))
        }
    }
}

/// Runs `body` over `0..<count` split into contiguous chunks across threads.
/// `grain` is the smallest chunk worth a thread (in iterations).
@inline(__always)
func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let threads = ComputeSettings.threadCount
    let chunks = min(threads, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        let box = UnsafeSendableBox(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            box.value(lo..<hi)
        }
    }
}

/// Carries a non-Sendable value into `concurrentPerform`; the kernels guarantee disjoint writes.
struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
