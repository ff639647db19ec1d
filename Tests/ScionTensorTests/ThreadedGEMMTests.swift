// GEMMs big enough to be split over threads by Scion (column strips, row strips, and one-row
// products through GEMV), for every transpose combination, at 1, 2 and 3 threads, against the naive
// reference; and the worker pool behind every parallel loop (each index once, nested loops, several
// submitting threads, waking after idle). Serialized: the thread count is process-wide.

import Foundation
import ScionTestSupport
import Testing
@testable import ScionTensor

@Suite(.serialized)
struct ThreadedGEMMTests {
    /// (M, K, N): wide C (split by columns), narrow C (split by rows), one row (GEMV strips), odd sizes.
    static let shapes = [(40, 97, 300), (300, 97, 40), (1, 256, 2000), (70, 64, 129)]

    @Test(arguments: [false, true], [false, true])
    func splitProductsMatchReference(transA: Bool, transB: Bool) {
        var rng = TestRandom(seed: 31)
        for (m, k, n) in Self.shapes {
            #expect(m * n * k >= GEMM.parallelThreshold, "shape \(m)×\(k)×\(n) would not be split")
            let a = rng.ref([m, k]), b = rng.ref([k, n])
            let exp = RefTensor.matmul(a.map { Double(Float($0)) }, b.map { Double(Float($0)) })
            let ta = transA ? makeTensor(a.permuted([1, 0]), dtype: .float32).matrixTransposed : makeTensor(a, dtype: .float32)
            let tb = transB ? makeTensor(b.permuted([1, 0]), dtype: .float32).matrixTransposed : makeTensor(b, dtype: .float32)
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                let y = withThreadCount(threads) { ta.matmul(tb) }
                expectOK(compare(y, exp, Tolerance.for(dtype: .float32, op: .accumulation),
                                 label: "\(m)×\(k)×\(n) transA \(transA) transB \(transB) threads \(threads)"))
                results.append(y.floats())
            }
            // The same thread count twice gives the same bits.
            #expect(withThreadCount(2) { ta.matmul(tb) }.floats() == results[1])
        }
    }

    @Test func blasThreadingModeGivesTheSameProducts() {
        var rng = TestRandom(seed: 4)
        let a = makeTensor(rng.ref([64, 80]), dtype: .float32), b = makeTensor(rng.ref([80, 96]), dtype: .float32)
        let scion = withThreadCount(2) { a.matmul(b) }
        let saved = ComputeSettings.gemmThreading
        ComputeSettings.gemmThreading = .blas
        let blas = withThreadCount(2) { a.matmul(b) }
        ComputeSettings.gemmThreading = saved
        let (x, y) = (scion.floats(), blas.floats())
        for i in x.indices { #expect(abs(x[i] - y[i]) <= 1e-4 * max(1, abs(y[i]))) }
    }

    @Test(arguments: [2, 3, 5])
    func poolRunsEveryIndexOnce(threads: Int) {
        withThreadCount(threads) {
            for iterations in [1, 2, 3, 7, 64] {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: iterations)
                counts.initialize(repeating: 0, count: iterations)
                defer { counts.deallocate() }
                let box = UnsafeSendableBox(counts)
                let lock = NSLock()
                parallelPerform(iterations) { i in lock.lock(); box.value[i] += 1; lock.unlock() }
                #expect((0..<iterations).allSatisfy { counts[$0] == 1 }, "\(iterations) iterations, \(threads) threads")
            }
        }
    }

    @Test func nestedLoopsRunSeriallyInside() {
        withThreadCount(2) {
            let lock = NSLock()
            var seen: [Int] = []
            parallelPerform(2) { outer in
                #expect(ParallelRegion.isInside)
                parallelPerform(3) { inner in lock.lock(); seen.append(outer * 10 + inner); lock.unlock() }
            }
            #expect(seen.sorted() == [0, 1, 2, 10, 11, 12])
            #expect(!ParallelRegion.isInside)
        }
    }

    @Test func severalSubmittingThreadsAndIdleWorkers() {
        withThreadCount(2) {
            // Four threads submit loops at once: one holds the pool, the others fall back to GCD.
            let totals = UnsafeMutablePointer<Int>.allocate(capacity: 4)
            totals.initialize(repeating: 0, count: 4)
            defer { totals.deallocate() }
            let box = UnsafeSendableBox(totals)
            DispatchQueue.concurrentPerform(iterations: 4) { t in
                let lock = NSLock()
                for _ in 0..<200 {
                    parallelPerform(4) { i in lock.lock(); box.value[t] += i + 1; lock.unlock() }
                }
            }
            #expect((0..<4).allSatisfy { totals[$0] == 200 * 10 })
            // After the workers have gone to sleep, a loop still completes (the wake-up path).
            Thread.sleep(forTimeInterval: 0.05)
            var sum = 0
            let lock = NSLock()
            parallelPerform(8) { i in lock.lock(); sum += i; lock.unlock() }
            #expect(sum == 28)
        }
    }
}
