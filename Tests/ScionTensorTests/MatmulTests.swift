// Matrix products: matmul with NumPy semantics (1-D, 2-D, batched, broadcast batch, all four
// transpose combinations as views, odd shapes), the Kronecker product, and the GEMM fast path
// (BLAS) against the portable Swift GEMM and the naive reference.

import ScionTestSupport
import Testing
@testable import ScionTensor

struct MatmulTests {
    static let shapePairs: [([Int], [Int])] = [
        ([4], [4]), ([3], [3, 5]), ([3, 4], [4]), ([1, 7], [7, 1]), ([7, 1], [1, 6]), ([3, 4], [4, 5]),
        ([17, 33], [33, 5]), ([2, 3, 4], [2, 4, 5]), ([2, 3, 4], [4, 6]), ([3, 4], [2, 4, 2]),
        ([2, 1, 3, 4], [3, 4, 2]), ([2, 3, 4], [4]), ([5], [2, 5, 3]), ([0, 4], [4, 3]), ([3, 0], [0, 2]),
        ([2, 3, 4], [1, 4, 5]),
    ]

    @Test(arguments: TestLayout.allCases)
    func matmul(layout: TestLayout) {
        for (sa, sb) in Self.shapePairs {
            // Gradient checks on the 17×33 case would need 1,300 evaluations; the forward covers it.
            let big = sa.reduce(1, *) > 200
            checkOp("matmul", [sa, sb], layout: layout, op: .accumulation, grad: !big,
                    { $0[0].matmul($0[1]) }, { RefTensor.matmul($0[0], $0[1]) })
        }
    }

    /// All four combinations of transposed operands, built as transposed views of stored matrices.
    @Test(arguments: [false, true], [false, true])
    func transposedViews(transA: Bool, transB: Bool) {
        var rng = TestRandom(seed: 77)
        for (m, k, n) in [(3, 4, 5), (1, 6, 7), (17, 33, 5), (5, 1, 3), (4, 3, 1), (2, 2, 2)] {
            for batch in [[], [2], [2, 3]] {
                let a = rng.ref(batch + [m, k]), b = rng.ref(batch + [k, n])
                let expected = RefTensor.matmul(a, b)
                for dtype in [DType.float64, .float32] {
                    let ta = transA ? makeTensor(a.permuted(swapLast(a.rank)), dtype: dtype).matrixTransposed
                                    : makeTensor(a, dtype: dtype)
                    let tb = transB ? makeTensor(b.permuted(swapLast(b.rank)), dtype: dtype).matrixTransposed
                                    : makeTensor(b, dtype: dtype)
                    let exp = dtype == .float32 ? RefTensor.matmul(a.map { Double(Float($0)) }, b.map { Double(Float($0)) }) : expected
                    expectOK(compare(ta.matmul(tb), exp, Tolerance.for(dtype: dtype, op: .accumulation),
                                     label: "matmul \(batch + [m, k]) × \([k, n]) transA \(transA) transB \(transB) \(dtype)"))
                }
                if m * k * n <= 60 {
                    let pa = transA ? a.permuted(swapLast(a.rank)) : a, pb = transB ? b.permuted(swapLast(b.rank)) : b
                    expectAll(gradientCheck([pa, pb], label: "matmul transposed \(transA) \(transB)") { x in
                        (transA ? x[0].matrixTransposed : x[0]).matmul(transB ? x[1].matrixTransposed : x[1])
                    })
                }
            }
        }
    }

    func swapLast(_ rank: Int) -> [Int] {
        var p = Array(0..<rank); p.swapAt(rank - 1, rank - 2); return p
    }

    @Test func broadcastBatchOperand() {
        // A stride-0 batch dimension (expanded operand) reaches the GEMM loop without a copy.
        var rng = TestRandom(seed: 8)
        let a = rng.ref([1, 3, 4]), b = rng.ref([5, 4, 2])
        let ta = makeTensor(a).expanded(to: [5, 3, 4])
        expectOK(compare(ta.matmul(makeTensor(b)), RefTensor.matmul(a.expanded([5, 3, 4]), b),
                         Tolerance.for(dtype: .float64, op: .accumulation)))
        expectAll(gradientCheck([a, b], label: "expanded batch") { $0[0].expanded(to: [5, 3, 4]).matmul($0[1]) })
    }

    @Test(arguments: TestLayout.allCases)
    func kronecker(layout: TestLayout) {
        for (sa, sb) in [([2, 3], [2, 2]), ([1, 1], [3, 2]), ([3, 1], [1, 4]), ([2, 2], [0, 3])] {
            checkOp("kronecker", [sa, sb], layout: layout, { $0[0].kronecker($0[1]) }, { RefTensor.kronecker($0[0], $0[1]) })
        }
    }

    /// Runs GEMM on stored row-major operands, through `GEMM.run` (BLAS when loaded) or `GEMM.portable`.
    func gemm<T: TensorFloat>(_ type: T.Type, portable: Bool, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                              a: [T], b: [T], alpha: T, beta: T, c: [T]) -> [T] {
        var c = c
        let lda = transA ? m : k, ldb = transB ? k : n
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    if portable {
                        GEMM.portable(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!,
                                      lda: Swift.max(lda, 1), b: bp.baseAddress!, ldb: Swift.max(ldb, 1), beta: beta,
                                      c: cp.baseAddress!, ldc: Swift.max(n, 1))
                    } else {
                        GEMM.run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!,
                                 lda: Swift.max(lda, 1), b: bp.baseAddress!, ldb: Swift.max(ldb, 1), beta: beta,
                                 c: cp.baseAddress!, ldc: Swift.max(n, 1))
                    }
                }
            }
        }
        return c
    }

    @Test(arguments: [false, true], [false, true])
    func fastGEMMEqualsPortableAndReference(transA: Bool, transB: Bool) {
        var rng = TestRandom(seed: 31)
        for (m, n, k) in [(1, 1, 1), (1, 9, 13), (13, 1, 9), (17, 33, 5), (64, 65, 63), (7, 3, 1), (5, 4, 0)] {
            // Stored operands: op(A) is m×k, so A is stored k×m when transposed.
            let a = rng.values(m * k), b = rng.values(k * n), c0 = rng.values(m * n)
            let ra = RefTensor(shape: transA ? [k, m] : [m, k], data: a), rb = RefTensor(shape: transB ? [n, k] : [k, n], data: b)
            let opA = transA ? ra.permuted([1, 0]) : ra, opB = transB ? rb.permuted([1, 0]) : rb
            // C = 0.5·op(A)·op(B) + 2·C.
            let expected = (RefTensor.matmul(opA, opB).map { 0.5 * $0 } + RefTensor(shape: [m, n], data: c0).map { 2 * $0 }).data
            let label = "GEMM m \(m) n \(n) k \(k) transA \(transA) transB \(transB)"
            let fast64 = gemm(Double.self, portable: false, transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b,
                              alpha: 0.5, beta: 2, c: c0)
            let port64 = gemm(Double.self, portable: true, transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b,
                              alpha: 0.5, beta: 2, c: c0)
            let tol64 = Tolerance.for(dtype: .float64, op: .accumulation)
            expectOK(compare(fast64, shape: [m, n], expected, shape: [m, n], tol64, label: "\(label) fast f64"))
            expectOK(compare(port64, shape: [m, n], expected, shape: [m, n], tol64, label: "\(label) portable f64"))
            let f = { (xs: [Double]) in xs.map { Float($0) } }
            let fast32 = gemm(Float.self, portable: false, transA: transA, transB: transB, m: m, n: n, k: k, a: f(a), b: f(b),
                              alpha: 0.5, beta: 2, c: f(c0))
            let port32 = gemm(Float.self, portable: true, transA: transA, transB: transB, m: m, n: n, k: k, a: f(a), b: f(b),
                              alpha: 0.5, beta: 2, c: f(c0))
            let tol32 = Tolerance.for(dtype: .float32, op: .accumulation)
            expectOK(compare(fast32.map(Double.init), shape: [m, n], port32.map(Double.init), shape: [m, n], tol32,
                             label: "\(label) fast vs portable f32"))
            expectOK(compare(port32.map(Double.init), shape: [m, n], expected, shape: [m, n], tol32, label: "\(label) portable f32"))
        }
    }

    @Test func blasIsLoadedOnThisMachine() {
        // Informational: the suite still passes with the portable GEMM, but record which ran.
        let kind = BLAS.shared.kind
        #expect([BLASBackendKind.openBLAS, .accelerate, .portable].contains(kind))
    }
}
