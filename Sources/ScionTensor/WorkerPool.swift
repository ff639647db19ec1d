// The worker threads behind every parallel loop in Scion (element-wise kernels, GEMM strips, quantized
// decode rows, the optimizer). Workers keep polling for ~200 µs after each job (a few spins, then
// sched_yield, so an oversubscribed machine still makes progress), so the next job starts without a
// kernel round trip; then they sleep on a condition variable.
//
// Why not DispatchQueue.concurrentPerform (what Scion used before): decoding SmolLM2-135M runs ~210
// parallel matrix products per token, each a few tens of microseconds; with GCD every one of them woke a
// sleeping worker through the kernel (perf stat: ~450 context switches per token), and 2 threads were
// only 1.25× faster than 1. llama.cpp's and OpenMP's thread pools spin between jobs for the same reason.
// Determinism is unchanged: callers split work into chunks by index, and which thread runs a chunk never
// changes what it computes.

import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import CScionKernels

/// Runs `body(i)` for i in 0..<iterations on Scion's worker threads and the calling thread, returning
/// when all have finished (like `DispatchQueue.concurrentPerform`). Calls from inside a chunk of another
/// parallel loop run serially; a call that finds the pool busy (another thread's loop) uses GCD.
public func parallelPerform(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 0 { return }
    if iterations == 1 || ParallelRegion.isInside {
        for i in 0..<iterations { body(i) }
        return
    }
    if #available(macOS 15, *) {
        if WorkerPool.shared.run(iterations, body) { return }
    }
    withoutActuallyEscaping(body) { body in
        let box = UnsafeSendableBox(body)
        DispatchQueue.concurrentPerform(iterations: iterations) { i in ParallelRegion.enter { box.value(i) } }
    }
}

@available(macOS 15, *)
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker keeps polling for the next job before it sleeps (nanoseconds).
    static let spinNanoseconds: UInt64 = 200_000

    /// Bumped once per job; workers wait for it to change.
    private let generation = Atomic<Int>(0)
    /// The next chunk index to hand out.
    private let nextIndex = Atomic<Int>(0)
    /// Workers done with the current job. The submitter waits for all of them before it returns, so
    /// `job` is never changed while a worker may still read it.
    private let acknowledged = Atomic<Int>(0)
    private let sleeping = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Workers started (only the submitter holding `busy` changes it).
    private let workers = Atomic<Int>(0)
    // The current job: written by the submitter before `generation` is bumped (sequentially
    // consistent), read by workers after they see the new generation.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    nonisolated(unsafe) private var iterations = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    private init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    /// Runs the job on the pool; false (nothing run) when another thread's job holds the pool.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(ComputeSettings.threadCount - 1)
        let workerCount = workers.load(ordering: .relaxed)
        withoutActuallyEscaping(body) { body in
            job = body
            iterations = count
            nextIndex.store(0, ordering: .relaxed)
            acknowledged.store(0, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleeping.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            ParallelRegion.enter { takeChunks(body, count) }
            var spins = 0
            while acknowledged.load(ordering: .acquiring) < workerCount { backOff(&spins) }
            job = nil
        }
        return true
    }

    /// Runs chunks of the current job until none are left.
    @inline(__always)
    private func takeChunks(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = nextIndex.add(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    private func ensureWorkers(_ wanted: Int) {
        while workers.load(ordering: .relaxed) < wanted {
            let start = generation.load(ordering: .sequentiallyConsistent)
            let index = workers.load(ordering: .relaxed)
            let thread = Thread { [unowned self] in self.workerLoop(seen: start) }
            thread.name = "scion-worker-\(index)"
            thread.stackSize = 1 << 22
            workers.add(1, ordering: .sequentiallyConsistent)
            thread.start()
        }
    }

    private func workerLoop(seen start: Int) -> Never {
        var seen = start
        while true {
            var spins = 0
            let idleSince = DispatchTime.now().uptimeNanoseconds
            var current = generation.load(ordering: .sequentiallyConsistent)
            while current == seen {
                backOff(&spins)
                current = generation.load(ordering: .sequentiallyConsistent)
                if spins > 64 && DispatchTime.now().uptimeNanoseconds - idleSince > Self.spinNanoseconds { break }
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                sleeping.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(condition, mutex)
                }
                sleeping.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
                current = generation.load(ordering: .sequentiallyConsistent)
            }
            // Exactly one job per generation: the submitter does not start the next one before this
            // worker acknowledges this one, so `current` is seen + 1.
            seen = current
            if let body = job {
                ParallelRegion.enter { takeChunks(body, iterations) }
            }
            acknowledged.add(1, ordering: .releasing)
        }
    }
}

/// One step of a wait loop: a CPU spin hint for the first iterations, then `sched_yield`, so a waiter
/// never holds a core another runnable thread (the one it waits for, when there are more threads than
/// cores) could use.
@inline(__always) func backOff(_ spins: inout Int) {
    spins += 1
    if spins < 64 { scion_spin_pause() } else { sched_yield() }
}
