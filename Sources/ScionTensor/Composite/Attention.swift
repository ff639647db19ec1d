// Scaled dot-product attention, fused: per (batch, KV head) and block of 64 queries, scores come
// from one GEMM, are masked and soft-maxed in place, and multiply V in a second GEMM; only the
// per-row log-sum-exp is kept (memory O(T) per head, plus one 64×S scratch per worker), and the
// backward recomputes the probabilities block by block (FlashAttention's recomputation, Dao et
// al. 2022, on the CPU). Supports causal masking (aligned to the last key, so T < S is decoding
// with a cache), additive or boolean masks broadcast to [B, H, T, S], and GQA/MQA (H a multiple of
// the KV head count). The composite from matmul + softmax is the reference it is tested against.

import Foundation

extension Tensor {
    /// Attention over q [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv] → [B, H, T, Dv].
    ///
    /// - Parameters:
    ///   - mask: additive (float) or boolean (true = attend) mask broadcastable to [B, H, T, S].
    ///   - causal: query t attends keys s ≤ t + (S − T).
    ///   - scale: defaults to 1/√D.
    public static func scaledDotProductAttention(query q: Tensor, key k: Tensor, value v: Tensor, mask: Tensor? = nil,
                                                 causal: Bool = false, scale: Double? = nil) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4,
                     "attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, H, T, D]")
        let (b, h, _, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, s) = (k.shape[1], k.shape[2])
        precondition(k.shape[0] == b && v.shape[0] == b && k.shape[3] == d && v.shape[1] == hkv && v.shape[2] == s,
                     "attention: q \(q.shape), k \(k.shape), v \(v.shape) disagree")
        precondition(hkv > 0 && h % hkv == 0, "attention: \(h) query heads not a multiple of \(hkv) KV heads")
        precondition(q.dtype == k.dtype && k.dtype == v.dtype, "attention: dtypes \(q.dtype), \(k.dtype), \(v.dtype)")
        let sc = scale ?? 1 / Double(d).squareRoot()
        var additive: Tensor? = nil
        if let mask {
            let m = mask.dtype == .bool
                ? Tensor.select(mask, Tensor.zeros([], dtype: q.dtype), Tensor.full([], value: -.infinity, dtype: q.dtype))
                : mask.cast(q.dtype).detached()
            additive = m.expanded(to: [b, h, q.shape[2], s]).detached()
        }
        // Without gradients, K and V may be any view whose rows are contiguous (a KV-cache slice
        // [B, Hkv, S, D] of a [B, Hkv, capacity, D] buffer): the kernel takes their batch, head and
        // row strides, so decoding does not copy the whole cache every step. The backward pass
        // wants contiguous inputs, so with gradients they are copied as before.
        let inference = !(q.requiresGradient || k.requiresGradient || v.requiresGradient)
        func rowsContiguous(_ x: Tensor) -> Bool { x.strides[3] == 1 && x.strides[2] >= x.shape[3] }
        let kc = inference && rowsContiguous(k) ? k : k.contiguous()
        let vc = inference && rowsContiguous(v) ? v : v.contiguous()
        let qc = q.contiguous()
        let opts = AttentionOptions(causal: causal, scale: sc, hasMask: additive != nil)
        let (out, lse) = FusedKernels.attentionForward(qc, kc, vc, additive, opts)
        var saved = [qc.detached(), kc.detached(), vc.detached(), out, lse]
        if let additive { saved.append(additive) }
        return out.recorded(.attention(opts), [qc, kc, vc], saving: saved)
    }

    /// Attention composed from primitives (materializes the [B, H, T, S] scores; the reference).
    public static func scaledDotProductAttentionComposite(query q: Tensor, key k: Tensor, value v: Tensor,
                                                          mask: Tensor? = nil, causal: Bool = false,
                                                          scale: Double? = nil) -> Tensor {
        let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, s) = (k.shape[1], k.shape[2])
        let group = h / hkv
        // Repeat KV heads for GQA: [B, Hkv, S, D] → [B, Hkv, g, S, D] → [B, H, S, D].
        let kr = k.unsqueezed(2).expanded(to: [b, hkv, group, s, d]).reshaped(b, h, s, d)
        let vr = v.unsqueezed(2).expanded(to: [b, hkv, group, s, v.shape[3]]).reshaped(b, h, s, v.shape[3])
        var scores = q.matmul(kr.matrixTransposed) * (scale ?? 1 / Double(d).squareRoot())   // [B, H, T, S]
        if causal {
            var allowed = [Double](repeating: 0, count: t * s)
            for i in 0..<t { for j in 0..<s where j > i + (s - t) { allowed[i * s + j] = -.infinity } }
            scores = scores + Tensor(doubles: allowed, shape: [t, s], dtype: q.dtype)
        }
        if let mask {
            scores = mask.dtype == .bool
                ? scores + Tensor.select(mask, Tensor.zeros([], dtype: q.dtype), Tensor.full([], value: -.infinity, dtype: q.dtype))
                : scores + mask.cast(q.dtype)
        }
        return scores.softmaxComposite(axis: -1).matmul(vr)                                  // [B, H, T, Dv]
    }
}

extension FusedKernels {
    static let attentionBlock = 64

    /// Splits (batch, KV head) work over Scion's threads with single-threaded GEMMs inside (a GEMM
    /// inside a parallel loop does not split again); with fewer work items than threads, runs them in
    /// order and lets each GEMM split over the threads instead.
    static func attentionParallel(_ count: Int, _ body: (Range<Int>) -> Void) {
        if count >= ComputeSettings.threadCount && ComputeSettings.threadCount > 1 {
            parallelFor(count, body)
        } else {
            body(0..<count)
        }
    }

    static func attentionForward(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ mask: Tensor?,
                                 _ o: AttentionOptions) -> (Tensor, Tensor) {
        switch q.dtype {
        case .float32: return attentionForwardTyped(q, k, v, mask, o, Float.self)
        case .float64: return attentionForwardTyped(q, k, v, mask, o, Double.self)
        default: preconditionFailure("attention: unsupported dtype \(q.dtype)")
        }
    }

    /// Geometry shared by forward and backward.
    /// K and V strides (batch, head, row) come from the tensors: contiguous ones give
    /// (Hkv·S·D, S·D, D); a KV-cache view gives its buffer's. Q, the output and gradients are contiguous.
    struct AttentionGeometry {
        let b: Int, h: Int, t: Int, d: Int, hkv: Int, s: Int, dv: Int
        let kBatch: Int, kHead: Int, kRow: Int, vBatch: Int, vHead: Int, vRow: Int
        var group: Int { h / hkv }
        init(_ q: Tensor, _ k: Tensor, _ v: Tensor) {
            b = q.shape[0]; h = q.shape[1]; t = q.shape[2]; d = q.shape[3]
            hkv = k.shape[1]; s = k.shape[2]; dv = v.shape[3]
            (kBatch, kHead, kRow) = (k.strides[0], k.strides[1], k.strides[2])
            (vBatch, vHead, vRow) = (v.strides[0], v.strides[1], v.strides[2])
        }
        /// Keys visible to query row `i` (exclusive upper bound).
        func keyLimit(_ i: Int, causal: Bool) -> Int { causal ? Swift.max(0, Swift.min(s, i + (s - t) + 1)) : s }
    }

    /// Writes masked, scaled scores for rows [r0, r0+rows) of head (bi, hi) into `scores` [rows, sEff].
    static func attentionScores<T: TensorFloat>(_ g: AttentionGeometry, _ o: AttentionOptions, bi: Int, hi: Int,
                                                r0: Int, rows: Int, sEff: Int, q: UnsafePointer<T>,
                                                k: UnsafePointer<T>, mask: Tensor?, scores: UnsafeMutablePointer<T>) {
        let kvh = hi / g.group
        let qp = q + ((bi * g.h + hi) * g.t + r0) * g.d
        let kp = k + bi * g.kBatch + kvh * g.kHead
        GEMM.run(transA: false, transB: true, m: rows, n: sEff, k: g.d, alpha: T(o.scale), a: qp, lda: g.d,
                 b: kp, ldb: g.kRow, beta: 0, c: scores, ldc: sEff)
        if let mask {
            let mp = mask.storage.pointer.assumingMemoryBound(to: T.self)
            let st = mask.strides
            for r in 0..<rows {
                let base = mask.offset + bi * st[0] + hi * st[1] + (r0 + r) * st[2]
                let row = scores + r * sEff
                for j in 0..<sEff { row[j] += mp[base + j * st[3]] }
            }
        }
        if o.causal {
            for r in 0..<rows {
                let lim = g.keyLimit(r0 + r, causal: true)
                let row = scores + r * sEff
                for j in Swift.min(lim, sEff)..<sEff { row[j] = -.infinity }
            }
        }
    }

    static func attentionForwardTyped<T: TensorFloat>(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ mask: Tensor?,
                                                      _ o: AttentionOptions, _: T.Type) -> (Tensor, Tensor) {
        let g = AttentionGeometry(q, k, v)
        let out = Storage(byteCount: g.b * g.h * g.t * g.dv * MemoryLayout<T>.stride)
        let lse = Storage(byteCount: g.b * g.h * g.t * MemoryLayout<T>.stride)
        let qp = q.pointer(T.self), kp = k.pointer(T.self), vp = v.pointer(T.self)
        let op = out.pointer.assumingMemoryBound(to: T.self), lp = lse.pointer.assumingMemoryBound(to: T.self)
        let blk = attentionBlock
        let mbox = UnsafeSendableBox(mask)
        attentionParallel(g.b * g.hkv) { range in
            let scratch = Storage(uninitializedByteCount: blk * Swift.max(g.s, 1) * MemoryLayout<T>.stride)
            let scores = scratch.pointer.assumingMemoryBound(to: T.self)
            defer { withExtendedLifetime(scratch) {} }
            for work in range {
                let bi = work / g.hkv, kvh = work % g.hkv
                for hi in (kvh * g.group)..<((kvh + 1) * g.group) {
                    for r0 in stride(from: 0, to: g.t, by: blk) {
                        let rows = Swift.min(blk, g.t - r0)
                        let sEff = g.keyLimit(r0 + rows - 1, causal: o.causal)
                        let rowBase = (bi * g.h + hi) * g.t + r0
                        if sEff == 0 {
                            for r in 0..<rows { lp[rowBase + r] = .infinity }
                            continue
                        }
                        attentionScores(g, o, bi: bi, hi: hi, r0: r0, rows: rows, sEff: sEff, q: qp, k: kp,
                                        mask: mbox.value, scores: scores)
                        for r in 0..<rows {
                            let row = scores + r * sEff
                            var m = -T.infinity
                            for j in 0..<sEff where row[j] > m { m = row[j] }
                            if m == -.infinity {            // fully masked row: output 0
                                for j in 0..<sEff { row[j] = 0 }
                                lp[rowBase + r] = .infinity
                                continue
                            }
                            var sum: T = 0
                            if T.self == Float.self {
                                sum = T(FastMath.expSum(row.asFloat, row.asFloat, sEff, minus: Float(m)))
                            } else {
                                for j in 0..<sEff { let e = T.exp(row[j] - m); row[j] = e; sum += e }
                            }
                            let inv = 1 / sum
                            for j in 0..<sEff { row[j] *= inv }
                            lp[rowBase + r] = m + T.log(sum)
                        }
                        GEMM.run(transA: false, transB: false, m: rows, n: g.dv, k: sEff, alpha: 1, a: scores, lda: sEff,
                                 b: vp + bi * g.vBatch + kvh * g.vHead, ldb: g.vRow, beta: 0,
                                 c: op + rowBase * g.dv, ldc: g.dv)
                    }
                }
            }
        }
        return (Tensor(storage: out, shape: [g.b, g.h, g.t, g.dv], dtype: q.dtype),
                Tensor(storage: lse, shape: [g.b, g.h, g.t], dtype: q.dtype))
    }

    static func attentionBackward<T: TensorFloat>(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ out: Tensor, _ lse: Tensor,
                                                  _ mask: Tensor?, _ o: AttentionOptions, _ gOut: Tensor,
                                                  _: T.Type) -> (Tensor, Tensor, Tensor) {
        let g = AttentionGeometry(q, k, v)
        let dO = gOut.contiguous()
        defer { withExtendedLifetime(dO) {} }
        let dq = Storage(byteCount: q.count * MemoryLayout<T>.stride)
        let dk = Storage(byteCount: k.count * MemoryLayout<T>.stride)
        let dv = Storage(byteCount: v.count * MemoryLayout<T>.stride)
        let qp = q.pointer(T.self), kp = k.pointer(T.self), vp = v.pointer(T.self)
        let outp = out.pointer(T.self), lp = lse.pointer(T.self), dOp = dO.pointer(T.self)
        let dqp = dq.pointer.assumingMemoryBound(to: T.self), dkp = dk.pointer.assumingMemoryBound(to: T.self)
        let dvp = dv.pointer.assumingMemoryBound(to: T.self)
        let blk = attentionBlock
        let mbox = UnsafeSendableBox(mask)
        // One worker per (batch, KV head): it owns dK and dV of that head, so no two workers write
        // the same element and the sums run in a fixed order.
        attentionParallel(g.b * g.hkv) { range in
            let scratch = Storage(uninitializedByteCount: 2 * blk * Swift.max(g.s, 1) * MemoryLayout<T>.stride)
            let p = scratch.pointer.assumingMemoryBound(to: T.self), dp = p + blk * Swift.max(g.s, 1)
            defer { withExtendedLifetime(scratch) {} }
            for work in range {
                let bi = work / g.hkv, kvh = work % g.hkv
                let kOff = (bi * g.hkv + kvh) * g.s
                for hi in (kvh * g.group)..<((kvh + 1) * g.group) {
                    for r0 in stride(from: 0, to: g.t, by: blk) {
                        let rows = Swift.min(blk, g.t - r0)
                        let sEff = g.keyLimit(r0 + rows - 1, causal: o.causal)
                        if sEff == 0 { continue }
                        let rowBase = (bi * g.h + hi) * g.t + r0
                        attentionScores(g, o, bi: bi, hi: hi, r0: r0, rows: rows, sEff: sEff, q: qp, k: kp,
                                        mask: mbox.value, scores: p)
                        for r in 0..<rows {                                   // P = exp(S − lse)
                            let row = p + r * sEff, l = lp[rowBase + r]
                            if l == .infinity { for j in 0..<sEff { row[j] = 0 } } else if T.self == Float.self {
                                _ = FastMath.expSum(row.asFloat, row.asFloat, sEff, minus: Float(l))
                            } else {
                                for j in 0..<sEff { row[j] = T.exp(row[j] - l) }
                            }
                        }
                        // dV += Pᵀ · dO
                        GEMM.run(transA: true, transB: false, m: sEff, n: g.dv, k: rows, alpha: 1, a: p, lda: sEff,
                                 b: dOp + rowBase * g.dv, ldb: g.dv, beta: 1, c: dvp + kOff * g.dv, ldc: g.dv)
                        // dP = dO · Vᵀ
                        GEMM.run(transA: false, transB: true, m: rows, n: sEff, k: g.dv, alpha: 1, a: dOp + rowBase * g.dv,
                                 lda: g.dv, b: vp + kOff * g.dv, ldb: g.dv, beta: 0, c: dp, ldc: sEff)
                        for r in 0..<rows {                                   // dS = P ⊙ (dP − rowsum(dO ⊙ O))
                            var di: T = 0
                            let dor = dOp + (rowBase + r) * g.dv, orow = outp + (rowBase + r) * g.dv
                            for j in 0..<g.dv { di += dor[j] * orow[j] }
                            let prow = p + r * sEff, dprow = dp + r * sEff
                            for j in 0..<sEff { dprow[j] = prow[j] * (dprow[j] - di) }
                        }
                        // dQ = scale · dS · K ;  dK += scale · dSᵀ · Q
                        GEMM.run(transA: false, transB: false, m: rows, n: g.d, k: sEff, alpha: T(o.scale), a: dp, lda: sEff,
                                 b: kp + kOff * g.d, ldb: g.d, beta: 0, c: dqp + rowBase * g.d, ldc: g.d)
                        GEMM.run(transA: true, transB: false, m: sEff, n: g.d, k: rows, alpha: T(o.scale), a: dp, lda: sEff,
                                 b: qp + rowBase * g.d, ldb: g.d, beta: 1, c: dkp + kOff * g.d, ldc: g.d)
                    }
                }
            }
        }
        return (Tensor(storage: dq, shape: q.shape, dtype: q.dtype), Tensor(storage: dk, shape: k.shape, dtype: q.dtype),
                Tensor(storage: dv, shape: v.shape, dtype: q.dtype))
    }
}
