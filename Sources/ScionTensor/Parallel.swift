// Thread pool configuration and the parallel-for used by non-GEMM kernels.
// Work is split into chunks by index only, and every output element is computed by exactly one
// chunk in a fixed order, so results never depend on the thread count.

import Dispatch
import Foundation

/// Who splits a matrix product over threads.
public enum GEMMThreading: String, Sendable, CaseIterable {
    /// Scion cuts C into one block per thread and runs single-threaded BLAS on each (the default).
    case scion
    /// BLAS's own threads (OpenBLAS's pool with ``ComputeSettings/threadCount`` threads).
    case blas
}

/// Process-wide compute settings: the number of threads kernels and BLAS may use.
public enum ComputeSettings {
    nonisolated(unsafe) private static var _threads = ProcessInfo.processInfo.activeProcessorCount
    nonisolated(unsafe) private static var _gemmThreading =
        ProcessInfo.processInfo.environment["SCION_GEMM_THREADING"].flatMap(GEMMThreading.init(rawValue:)) ?? .scion
    private static let lock = NSLock()

    /// Threads used by Scion's kernels and by BLAS (default: the active processor count).
    public static var threadCount: Int {
        get { lock.lock(); defer { lock.unlock() }; return _threads }
        set {
            lock.lock(); _threads = max(1, newValue); let mode = _gemmThreading; lock.unlock()
            BLAS.shared.setThreads(mode == .blas ? max(1, newValue) : 1)
        }
    }

    /// Who splits GEMMs over the threads: ``GEMMThreading/scion`` unless the environment variable
    /// SCION_GEMM_THREADING says `blas`.
    public static var gemmThreading: GEMMThreading {
        get { lock.lock(); defer { lock.unlock() }; return _gemmThreading }
        set {
            lock.lock(); _gemmThreading = newValue; let n = _threads; lock.unlock()
            BLAS.shared.setThreads(newValue == .blas ? n : 1)
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
        parallelPerform(chunks) { c in
            box.value(count * c / chunks..<count * (c + 1) / chunks)
        }
    }
}

/// Marks the threads running a chunk of ``parallelFor``, so that a GEMM called from inside one runs
/// single-threaded instead of splitting again over threads that are already busy.
enum ParallelRegion {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True on a thread that is running a chunk of a parallel loop.
    static var isInside: Bool { pthread_getspecific(key) != nil }

    /// Runs `body` marked as inside a parallel region (nesting-safe).
    @inline(__always)
    static func enter(_ body: () -> Void) {
        let old = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        body()
        pthread_setspecific(key, old)
    }
}

/// Carries a non-Sendable value into `concurrentPerform`; the kernels guarantee disjoint writes.
struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
