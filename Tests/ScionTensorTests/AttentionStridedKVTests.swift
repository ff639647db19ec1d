// Attention reads K/V views with contiguous rows and arbitrary batch/head/row strides (a KV-cache
// slice) without copying; the result must equal attention on contiguous copies.

import Testing
@testable import ScionTensor

// Packing may differ with the leading dimension, so compare to float rounding, not bit for bit.
private func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.floats(), b.floats()).map { abs($0 - $1) }.max() ?? 0
}

@Suite struct AttentionStridedKVTests {
    @Test(arguments: [(1, 4, 4, 1), (2, 4, 2, 3), (2, 6, 3, 5)])
    func cacheViewEqualsContiguous(b: Int, h: Int, hkv: Int, t: Int) {
        var g = RandomGenerator(seed: 21)
        let (capacity, s, d) = (16, 9, 8)
        let bufferK = Tensor.normal([b, hkv, capacity, d], generator: &g)
        let bufferV = Tensor.normal([b, hkv, capacity, d], generator: &g)
        let q = Tensor.normal([b, h, t, d], generator: &g)
        let (k, v) = (bufferK.sliced(axis: 2, 0..<s), bufferV.sliced(axis: 2, 0..<s))
        #expect(!k.isContiguous)
        let mask = Tensor.normal([b, 1, t, s], generator: &g)
        for causal in [false, true] {
            let strided = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, causal: causal)
            let copied = Tensor.scaledDotProductAttention(query: q, key: k.contiguous(), value: v.contiguous(),
                                                          mask: mask, causal: causal)
            #expect(maxDifference(strided, copied) < 1e-6)
        }
        // A row-padded view (D of a wider row) also works.
        let wide = Tensor.normal([b, hkv, s, 2 * d], generator: &g).sliced(axis: 3, 0..<d)
        let a = Tensor.scaledDotProductAttention(query: q, key: wide, value: wide)
        let c = Tensor.scaledDotProductAttention(query: q, key: wide.contiguous(), value: wide.contiguous())
        #expect(maxDifference(a, c) < 1e-6)
    }
}
