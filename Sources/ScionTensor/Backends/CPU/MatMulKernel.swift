// Batched matrix multiplication on strided views, through BLAS with transpose flags: a view whose
// last two axes are transposed (stride 1 on the second-to-last axis) is passed as-is with the
// transpose flag, never copied. Batches are looped; operands may broadcast over batch (stride 0).

import Foundation

extension Kernels {
    /// How a 2-D view can be handed to GEMM without a copy: (transposed, leading dimension).
    static func gemmLayout(_ x: Tensor) -> (trans: Bool, ld: Int)? {
        let r = x.rank
        let rows = x.shape[r - 2], cols = x.shape[r - 1]
        let s0 = x.strides[r - 2], s1 = x.strides[r - 1]
        if s1 == 1 || cols == 1 {
            let ld = rows == 1 ? max(cols, 1) : s0
            if ld >= max(cols, 1) { return (false, ld) }
        }
        if s0 == 1 || rows == 1 {
            let ld = cols == 1 ? max(rows, 1) : s1
            if ld >= max(rows, 1) { return (true, ld) }
        }
        return nil
    }

    /// `a` [..., M, K] × `b` [..., K, N] with equal batch shapes → [..., M, N].
    static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.dtype == b.dtype && a.dtype.isComputeFloat,
                     "matmul: dtypes \(a.dtype) and \(b.dtype) (shapes \(a.shape) × \(b.shape))")
        let r = a.rank
        let m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1]
        let batchShape = Array(a.shape.dropLast(2))
        let batch = batchShape.reduce(1, *)
        // Every element is written (beta = 0), so the output needs no zeroing.
        let out = Storage(uninitializedByteCount: batch * m * n * a.dtype.byteSize)
        let result = Tensor(storage: out, shape: batchShape + [m, n], dtype: a.dtype)
        if batch == 0 || m == 0 || n == 0 { return result }
        if k == 0 { return Tensor.zeros(batchShape + [m, n], dtype: a.dtype) }
        let a2 = gemmLayout(a) != nil ? a : contiguous(a)
        let b2 = gemmLayout(b) != nil ? b : contiguous(b)
        defer { withExtendedLifetime((a2, b2)) {} }
        let (ta, lda) = gemmLayout(a2)!, (tb, ldb) = gemmLayout(b2)!
        func run<T: TensorFloat>(_: T.Type) {
            let ap = a2.storage.pointer.assumingMemoryBound(to: T.self)
            let bp = b2.storage.pointer.assumingMemoryBound(to: T.self)
            let cp = out.pointer.assumingMemoryBound(to: T.self)
            var aOffsets: [Int] = [], bOffsets: [Int] = []
            StridedWalk.forEachOffset(shape: batchShape, strides: Array(a2.strides.dropLast(2)), offset: a2.offset) { aOffsets.append($0) }
            StridedWalk.forEachOffset(shape: batchShape, strides: Array(b2.strides.dropLast(2)), offset: b2.offset) { bOffsets.append($0) }
            if batch == 1 { aOffsets = [a2.offset]; bOffsets = [b2.offset] }
            for i in 0..<batch {
                GEMM.run(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: ap + aOffsets[i], lda: lda,
                         b: bp + bOffsets[i], ldb: ldb, beta: 0, c: cp + i * m * n, ldc: n)
            }
        }
        if a.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return result
    }
}
