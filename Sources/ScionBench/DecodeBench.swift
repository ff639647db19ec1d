// `scion-bench decode`: one GPT-2-124M-shaped fp32 decode step (B=1, T=1) at a given context —
// the per-layer matmuls, attention over a KV-cache view and the 50257-wide head — and attention
// alone reading the cache view in place vs copying it first (what `contiguous()` used to cost),
// and the M = 1 matmuls (head, QKV) on their own.

import Foundation
import ScionTensor

@MainActor func benchDecode() {
    header("GPT-2-124M-shaped fp32 decode step, B=1 (median of \(runs))")
    print("| context | threads | step ms | attention in place ms (12 layers) | attention after copy ms | copy share of step |")
    print("|---|---|---|---|---|---|")
    var g = RandomGenerator(seed: 5)
    let (c, h, d, layers, vocab, capacity) = (768, 12, 64, 12, 50257, 1024)
    let wqkv = (0..<layers).map { _ in Tensor.normal([c, 3 * c], std: 0.02, generator: &g) }
    let wo = (0..<layers).map { _ in Tensor.normal([c, c], std: 0.02, generator: &g) }
    let wfc = (0..<layers).map { _ in Tensor.normal([c, 4 * c], std: 0.02, generator: &g) }
    let wproj = (0..<layers).map { _ in Tensor.normal([4 * c, c], std: 0.02, generator: &g) }
    let head = Tensor.normal([vocab, c], std: 0.02, generator: &g)
    let bufK = (0..<layers).map { _ in Tensor.normal([1, h, capacity, d], generator: &g) }
    let bufV = (0..<layers).map { _ in Tensor.normal([1, h, capacity, d], generator: &g) }
    let x0 = Tensor.normal([1, c], generator: &g)
    for t in threadList {
        ComputeSettings.threadCount = t
        for context in [128, 512, 1024] {
            func attention(_ layer: Int, _ q: Tensor, copy: Bool) -> Tensor {
                let k = bufK[layer].sliced(axis: 2, 0..<context), v = bufV[layer].sliced(axis: 2, 0..<context)
                return copy
                    ? Tensor.scaledDotProductAttention(query: q, key: k.contiguous(), value: v.contiguous(), causal: true)
                    : Tensor.scaledDotProductAttention(query: q, key: k, value: v, causal: true)
            }
            let step = median(runs) {
                var x = x0
                for l in 0..<layers {
                    let qkv = x.matmul(wqkv[l])                                   // [1, 3C]
                    let q = qkv.sliced(axis: 1, 0..<c).reshaped([1, 1, h, d]).permuted(0, 2, 1, 3)  // [1, H, 1, D]
                    let a = attention(l, q, copy: false).permuted(0, 2, 1, 3).reshaped([1, c])
                    x = x + a.matmul(wo[l])
                    x = x + x.matmul(wfc[l]).gelu(approximation: .tanh).matmul(wproj[l])
                }
                _ = x.matmul(head.matrixTransposed)                                 // [1, V]
            } * 1000
            let headMs = median(runs) { _ = x0.matmul(head.matrixTransposed) } * 1000
            let qkvMs = median(runs) { for l in 0..<layers { _ = x0.matmul(wqkv[l]) } } * 1000
            // NOTE: M = 1 matmuls bound the step: sgemm packs the whole weight for one row.
            print(String(format: "  (head [1,768]×[768,50257] %.1f ms; 12 qkv [1,768]×[768,2304] %.1f ms)", headMs, qkvMs))
            let q = Tensor.normal([1, h, 1, d], generator: &g)
            let (inPlace, copied) = pairedMedians(runs, {
                for l in 0..<layers { _ = attention(l, q, copy: false) }
            }, {
                for l in 0..<layers { _ = attention(l, q, copy: true) }
            })
            print(String(format: "| %d | %d | %.2f | %.3f | %.3f | %.1f%% |", context, t, step, inPlace * 1000,
                         copied * 1000, (copied - inPlace) * 1000 / step * 100))
        }
    }
}
