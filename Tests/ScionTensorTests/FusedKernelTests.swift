// Fused kernels against their composites of primitives, forward and backward, in Float64 and
// Float32 and every layout; forward against the naive reference; and each fused backward against
// finite differences: softmax/logSoftmax, layerNorm, rmsNorm, GELU (both forms), SiLU,
// cross-entropy, scaled dot-product attention and rotary embeddings.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

/// Compares `fused` with `composite` (values and weighted gradients) in both float dtypes, and
/// with `ref` when given; then gradient-checks `fused` in Float64 on the same inputs if `gradcheck`.
func checkFused(_ name: String, _ inputs: [RefTensor], layout: TestLayout = .contiguous, wrt: [Int]? = nil,
                gradcheck: Bool = true, sourceLocation: SourceLocation = #_sourceLocation,
                fused: ([Tensor]) -> Tensor, composite: ([Tensor]) -> Tensor, ref: (([RefTensor]) -> RefTensor)? = nil) {
    let label = "\(name) \(inputs.map(\.shape)) [\(layout)]"
    let checked = wrt ?? Array(inputs.indices)
    for dtype in [DType.float64, .float32] {
        let tol = Tolerance.for(dtype: dtype, op: .fused)
        let xs = inputs.map { makeTensor($0, dtype: dtype, layout: layout) }
        let a = weightedGradients(xs, f: fused), b = weightedGradients(xs, f: composite)
        expectOK(compare(a.value, b.value, tol, label: "\(label) forward \(dtype)"), sourceLocation: sourceLocation)
        for i in checked {
            expectOK(compare(a.gradients[i], b.gradients[i], tol, label: "\(label) ∂input\(i) \(dtype)"),
                     sourceLocation: sourceLocation)
        }
        if let ref {
            let rounded = dtype == .float32 ? inputs.map { $0.map { Double(Float($0)) } } : inputs
            expectOK(compare(a.value, ref(rounded), tol, label: "\(label) vs reference \(dtype)"), sourceLocation: sourceLocation)
        }
    }
    if gradcheck {
        expectAll(gradientCheck(inputs, layout: layout, wrt: checked, label: "\(label) fused", fused),
                  sourceLocation: sourceLocation)
    }
}

/// `ScionTestSupport.weightedGradients` with a labelled closure.
func weightedGradients(_ xs: [Tensor], f: ([Tensor]) -> Tensor) -> (value: Tensor, gradients: [Tensor]) {
    ScionTestSupport.weightedGradients(xs, f)
}

struct FusedKernelTests {
    @Test(arguments: TestLayout.allCases)
    func softmax(layout: TestLayout) {
        var rng = TestRandom(seed: 40)
        for (shape, axis) in [([3, 4, 5], -1), ([3, 4, 5], 0), ([3, 4, 5], 1), ([7], 0), ([2, 1], -1), ([0, 3], -1)] {
            let x = rng.ref(shape, low: -4, high: 4)
            checkFused("softmax axis \(axis)", [x], layout: layout,
                       fused: { $0[0].softmax(axis: axis) }, composite: { $0[0].softmaxComposite(axis: axis) },
                       ref: { $0[0].softmax(axis: axis) })
            checkFused("logSoftmax axis \(axis)", [x], layout: layout,
                       fused: { $0[0].logSoftmax(axis: axis) }, composite: { $0[0].logSoftmaxComposite(axis: axis) },
                       ref: { $0[0].logSoftmax(axis: axis) })
        }
    }

    @Test func softmaxIsStableForLargeAndMaskedInputs() {
        let x = Tensor(doubles: [1000, 1001, -.infinity, -.infinity, -.infinity, -.infinity], shape: [2, 3])
        let y = x.softmax().doubles()
        #expect(Swift.abs(y[0] - 1 / (1 + M_E)) < 1e-12 && y[2] == 0)
        #expect(y[3...].allSatisfy { $0.isNaN || $0 == 0 } == true)   // fully masked row: no crash
        #expect(Tensor(doubles: [1000, 0], shape: [2]).logSoftmax().doubles()[1] == -1000)
    }

    @Test(arguments: TestLayout.allCases)
    func layerNorm(layout: TestLayout) {
        var rng = TestRandom(seed: 41)
        for shape in [[3, 8], [2, 3, 5], [1, 1], [4, 1], [0, 4]] {
            let c = shape.last!
            let x = rng.ref(shape, low: -3, high: 3), w = rng.ref([c], low: 0.5, high: 1.5), b = rng.ref([c])
            checkFused("layerNorm affine", [x, w, b], layout: layout,
                       fused: { $0[0].layerNorm(weight: $0[1], bias: $0[2]) },
                       composite: { $0[0].layerNormComposite(weight: $0[1], bias: $0[2]) },
                       ref: { $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: 1e-5) })
            checkFused("layerNorm plain", [x], layout: layout,
                       fused: { $0[0].layerNorm(weight: nil, bias: nil, eps: 1e-3) },
                       composite: { $0[0].layerNormComposite(weight: nil, bias: nil, eps: 1e-3) },
                       ref: { $0[0].layerNorm(weight: nil, bias: nil, eps: 1e-3) })
            checkFused("layerNorm weight only", [x, w], layout: layout,
                       fused: { $0[0].layerNorm(weight: $0[1], bias: nil) },
                       composite: { $0[0].layerNormComposite(weight: $0[1], bias: nil) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func rmsNorm(layout: TestLayout) {
        var rng = TestRandom(seed: 42)
        for shape in [[3, 8], [2, 3, 5], [1, 1], [0, 4]] {
            let x = rng.ref(shape, low: -3, high: 3), w = rng.ref([shape.last!], low: 0.5, high: 1.5)
            checkFused("rmsNorm", [x, w], layout: layout,
                       fused: { $0[0].rmsNorm(weight: $0[1]) }, composite: { $0[0].rmsNormComposite(weight: $0[1]) },
                       ref: { $0[0].rmsNorm(weight: $0[1], eps: 1e-6) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func activations(layout: TestLayout) {
        var rng = TestRandom(seed: 43)
        for shape in [[5], [3, 4], [2, 3, 4], [0, 2], []] {
            let x = rng.ref(shape, low: -5, high: 5)
            checkFused("gelu erf", [x], layout: layout, fused: { $0[0].gelu() }, composite: { $0[0].geluComposite() },
                       ref: { $0[0].gelu(tanhApproximation: false) })
            checkFused("gelu tanh", [x], layout: layout, fused: { $0[0].gelu(approximation: .tanh) },
                       composite: { $0[0].geluComposite(approximation: .tanh) }, ref: { $0[0].gelu(tanhApproximation: true) })
            checkFused("silu", [x], layout: layout, fused: { $0[0].silu() }, composite: { $0[0].siluComposite() },
                       ref: { $0[0].silu() })
        }
    }

    @Test(arguments: [LossReduction.mean, .sum, .none], [false, true])
    func crossEntropy(reduction: LossReduction, weighted: Bool) {
        var rng = TestRandom(seed: 44)
        for (n, v, ignore) in [(6, 5, -100), (4, 3, 1), (1, 7, -100), (5, 1, -100)] {
            let logits = rng.ref([n, v], low: -3, high: 3)
            var targets = (0..<n).map { _ in rng.int(0...(v - 1)) }
            if n > 2 { targets[1] = ignore; targets[n - 1] = ignore == -100 ? -100 : targets[n - 1] }
            if ignore != -100 && !targets.contains(where: { $0 != ignore }) { targets[0] = (ignore + 1) % v }
            let t = Tensor(indices: targets)
            let weights = weighted ? Tensor(doubles: rng.values(n, low: 0.2, high: 2), shape: [n]) : nil
            checkFused("crossEntropy \(reduction) weighted \(weighted) ignore \(ignore)", [logits],
                       fused: { $0[0].crossEntropy(targets: t, ignoreIndex: ignore, weights: weights?.cast($0[0].dtype),
                                                   reduction: reduction) },
                       composite: { $0[0].crossEntropyComposite(targets: t, ignoreIndex: ignore,
                                                                weights: weights?.cast($0[0].dtype), reduction: reduction) },
                       ref: { x in
                           let l = x[0].crossEntropyPerToken(targets: targets, ignoreIndex: ignore)
                           let keep = targets.map { $0 == ignore ? 0.0 : 1.0 }
                           let w = weights.map { wt in zip(wt.doubles(), keep).map { $0 * $1 } } ?? keep
                           let weightedLoss = zip(l.data, w).map { $0 * $1 }
                           switch reduction {
                           case .none: return RefTensor(shape: [n], data: weightedLoss)
                           case .sum: return RefTensor(shape: [], data: [weightedLoss.reduce(0, +)])
                           case .mean: return RefTensor(shape: [], data: [weightedLoss.reduce(0, +) / w.reduce(0, +)])
                           }
                       })
        }
    }

    @Test func crossEntropyIgnoredTokensGetNoGradient() {
        let logits = Tensor(doubles: [1, 2, 3, 4, 5, 6], shape: [2, 3]).requiringGradient()
        let g = logits.crossEntropy(targets: Tensor(indices: [-100, 2])).gradients(of: [logits])[0].doubles()
        #expect(g[0..<3].allSatisfy { $0 == 0 })
        #expect(Swift.abs(g[3...].reduce(0, +)) < 1e-12)                // softmax − one-hot sums to 0
    }

    // MARK: Attention

    struct AttentionCase: Sendable, CustomStringConvertible {
        var b = 1, h = 2, hkv = 2, t = 3, s = 3, d = 4, dv = 4
        var causal = false
        var mask: MaskKind = .none
        var gradcheck = true
        var name: String
        enum MaskKind: Sendable { case none, bool, additive, boolPerBatch }
        var description: String { name }
    }

    static let attentionCases: [AttentionCase] = [
        AttentionCase(b: 2, name: "plain"),
        AttentionCase(causal: true, name: "causal"),
        AttentionCase(t: 2, s: 5, causal: true, name: "causal decode T<S"),
        AttentionCase(t: 1, s: 4, causal: true, name: "T=1 decode"),
        AttentionCase(t: 3, s: 4, mask: .bool, name: "bool mask"),
        AttentionCase(b: 2, t: 3, s: 4, causal: true, mask: .boolPerBatch, name: "bool mask per batch + causal"),
        AttentionCase(t: 3, s: 4, mask: .additive, name: "additive mask"),
        AttentionCase(h: 4, hkv: 2, t: 3, s: 3, causal: true, name: "GQA H=4 Hkv=2"),
        AttentionCase(h: 4, hkv: 1, t: 2, s: 3, d: 2, dv: 3, name: "MQA Hkv=1, Dv≠D"),
        AttentionCase(b: 1, h: 2, hkv: 1, t: 130, s: 130, d: 8, dv: 8, causal: true, gradcheck: false,
                      name: "T=130 causal, three 64-row blocks"),
        AttentionCase(b: 1, h: 1, hkv: 1, t: 130, s: 131, d: 4, dv: 4, mask: .additive, gradcheck: false,
                      name: "T=130 additive mask"),
    ]

    @Test(arguments: attentionCases)
    func attention(_ c: AttentionCase) {
        var rng = TestRandom(seed: 45)
        let q = rng.ref([c.b, c.h, c.t, c.d]), k = rng.ref([c.b, c.hkv, c.s, c.d]), v = rng.ref([c.b, c.hkv, c.s, c.dv])
        var maskTensor: Tensor? = nil
        var maskRef: RefTensor? = nil
        switch c.mask {
        case .none: break
        case .bool, .boolPerBatch:
            // Key 0 always visible so no row is fully masked (the composite would give NaN there).
            let shape = c.mask == .bool ? [c.t, c.s] : [c.b, 1, c.t, c.s]
            var m = rng.ref(shape).map { $0 > -0.3 ? 1 : 0 }
            for i in 0..<(m.count / c.s) { m.data[i * c.s] = 1 }
            maskTensor = makeTensor(m) .> 0.5
            maskRef = m.map { $0 != 0 ? 0 : -.infinity }
        case .additive:
            let m = rng.ref([1, 1, c.t, c.s], low: -2, high: 0.5)
            maskTensor = makeTensor(m, dtype: .float32)
            maskRef = m.map { Double(Float($0)) }
        }
        let scale = 1 / Double(c.d).squareRoot()
        for layout in [TestLayout.contiguous, .permuted] {
            checkFused("attention \(c.name)", [q, k, v], layout: layout, gradcheck: c.gradcheck && layout == .contiguous,
                       fused: { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: maskTensor,
                                                                 causal: c.causal) },
                       composite: { Tensor.scaledDotProductAttentionComposite(query: $0[0], key: $0[1], value: $0[2],
                                                                              mask: maskTensor, causal: c.causal) },
                       ref: c.t > 64 ? nil : { x in
                           RefTensor.attention(q: x[0], k: x[1], v: x[2], mask: maskRef, causal: c.causal, scale: scale)
                       })
        }
    }

    @Test func attentionCustomScale() {
        var rng = TestRandom(seed: 46)
        let q = rng.ref([1, 1, 3, 2]), k = rng.ref([1, 1, 3, 2]), v = rng.ref([1, 1, 3, 2])
        checkFused("attention scale 0.3", [q, k, v],
                   fused: { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], scale: 0.3) },
                   composite: { Tensor.scaledDotProductAttentionComposite(query: $0[0], key: $0[1], value: $0[2], scale: 0.3) },
                   ref: { RefTensor.attention(q: $0[0], k: $0[1], v: $0[2], mask: nil, causal: false, scale: 0.3) })
    }

    // MARK: RoPE

    @Test(arguments: [RoPEStyle.rotateHalf, .adjacentPairs], [8, 4])
    func rotaryEmbedding(style: RoPEStyle, rotaryDimension: Int) {
        var rng = TestRandom(seed: 47)
        let x = rng.ref([2, 2, 5, 8])
        for dtype in [DType.float64, .float32] {
            let (cos, sin) = Tensor.ropeTables(positions: [3, 4, 5, 6, 7], rotaryDimension: rotaryDimension, base: 10000,
                                               dtype: dtype)
            let cosRef = RefTensor(cos), sinRef = RefTensor(sin)
            for layout in TestLayout.allCases {
                let xt = makeTensor(x, dtype: dtype, layout: layout)
                let label = "rope \(style) R=\(rotaryDimension) \(dtype) [\(layout)]"
                let tol = Tolerance.for(dtype: dtype, op: .fused)
                let fusedOut = weightedGradients([xt]) { $0[0].rotaryEmbedding(cos: cos, sin: sin, style: style) }
                let compOut = weightedGradients([xt]) { $0[0].rotaryEmbeddingComposite(cos: cos, sin: sin, style: style) }
                expectOK(compare(fusedOut.value, compOut.value, tol, label: "\(label) forward"))
                expectOK(compare(fusedOut.gradients[0], compOut.gradients[0], tol, label: "\(label) backward"))
                let xr = dtype == .float32 ? x.map { Double(Float($0)) } : x
                expectOK(compare(fusedOut.value, xr.rope(cos: cosRef, sin: sinRef, adjacentPairs: style == .adjacentPairs),
                                 tol, label: "\(label) reference"))
                if dtype == .float64 && layout != .permuted {
                    expectAll(gradientCheck([x], layout: layout, label: label) {
                        $0[0].rotaryEmbedding(cos: cos, sin: sin, style: style)
                    })
                }
            }
        }
    }

    @Test func ropeTablesMatchFormula() {
        let (cos, sin) = Tensor.ropeTables(positions: [0, 2], rotaryDimension: 4, base: 100, dtype: .float64)
        // θ = 100^(−2i/4) = [1, 0.1]; angles at p = 2: [2, 0.2].
        expectOK(compare(cos, RefTensor(shape: [2, 2], data: [1, 1, Foundation.cos(2), Foundation.cos(0.2)]), .exact))
        expectOK(compare(sin, RefTensor(shape: [2, 2], data: [0, 0, Foundation.sin(2), Foundation.sin(0.2)]), .exact))
    }
}
