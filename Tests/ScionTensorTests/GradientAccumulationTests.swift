// Backward fast paths: in-place gradient accumulation (only when no other tensor shares the stored
// gradient's memory), the embedding backward scattered straight into a tied weight's gradient, and
// the matmul gradient of a transposed operand computed in the operand's own layout. Each is checked
// against gradients computed separately and summed with `+` (the plain path), on float64.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

struct GradientAccumulationTests {
    let tol = Tolerance.for(dtype: .float64, op: .accumulation)

    /// Gradient of `f` at `w` alone (one backward pass).
    func grad(_ w: Tensor, _ f: (Tensor) -> Tensor) -> Tensor {
        let leaf = w.requiringGradient()
        return f(leaf).gradients(of: [leaf])[0]
    }

    @Test func tiedEmbeddingAndHeadMatchSeparateGradients() {
        var g = RandomGenerator(seed: 11)
        let w = Tensor.normal([7, 5], dtype: .float64, generator: &g)       // [V, C]
        let ids = Tensor(indices: [3, 1, 3, 6, 0, 3])                        // repeated ids
        let x = Tensor.normal([4, 5], dtype: .float64, generator: &g)
        let probe = Tensor.normal([6, 5], dtype: .float64, generator: &g)
        func head(_ w: Tensor) -> Tensor { (x.matmul(w.matrixTransposed).exp()).sum() }            // uses Wᵀ
        func embed(_ w: Tensor) -> Tensor { (w.indexSelect(axis: 0, index: ids) * probe).sum() }
        let tied = grad(w) { head($0) + embed($0) }
        let separate = grad(w, head) + grad(w, embed)
        expectOK(compare(tied, separate, tol))
        #expect(tied.isContiguous)
        // The embedding first (nothing stored yet), then the head: the plain path.
        let reversed = grad(w) { embed($0) + head($0) }
        expectOK(compare(reversed, separate, tol))
    }

    @Test func sharedGradientMemoryIsNeverWrittenInPlace() {
        // y = x + x hands the same gradient tensor to both edges into x: it must be added, not doubled twice.
        let x = Tensor(doubles: [1, 2, 3], shape: [3])
        let g1 = grad(x) { ($0 + $0).sum() }
        #expect(g1.doubles() == [2, 2, 2])
        // A seed the caller holds keeps its values.
        let seed = Tensor(doubles: [1, 10, 100], shape: [3])
        let leaf = x.requiringGradient()
        let gs = (leaf + leaf * 2).gradients(of: [leaf], seed: seed)[0]
        #expect(gs.doubles() == [3, 30, 300])
        #expect(seed.doubles() == [1, 10, 100])
        // A residual stream: h = x + f(x), used again downstream.
        let r = grad(x) { v in
            let h = v + v.sin()
            return (h * h + h).sum()
        }
        let expected = [1.0, 2, 3].map { v -> Double in
            let h = v + Foundation.sin(v)
            return (2 * h + 1) * (1 + Foundation.cos(v))
        }
        expectOK(compare(r, RefTensor(shape: [3], data: expected), tol))
    }

    @Test func keptIntermediateGradientsSurviveTheWalk() {
        // gradients(of:) for an intermediate that is also accumulated into.
        let x = Tensor(doubles: [0.5, -1.5], shape: [2]).requiringGradient()
        let h = x * 3
        let y = (h * h + h).sum()
        let gs = y.gradients(of: [h, x])
        expectOK(compare(gs[0], RefTensor(shape: [2], data: [0.5, -1.5].map { 2 * 3 * $0 + 1 }), tol))
        expectOK(compare(gs[1], RefTensor(shape: [2], data: [0.5, -1.5].map { 3 * (2 * 3 * $0 + 1) }), tol))
    }

    @Test func transposedOperandGradientsMatchGradCheck() {
        // Both operands transposed views: a = Aᵀ, b = Bᵀ.
        var g = RandomGenerator(seed: 5)
        let a = Tensor.normal([3, 4], dtype: .float64, generator: &g)       // used as [4, 3]
        let b = Tensor.normal([5, 3], dtype: .float64, generator: &g)       // used as [3, 5]
        let w = Tensor.normal([4, 5], dtype: .float64, generator: &g)
        let (_, gr) = valueAndGradients(at: [a, b]) { v in (v[0].matrixTransposed.matmul(v[1].matrixTransposed) * w).sum() }
        // The same product from contiguous copies of the operands (the plain path), transposed back.
        let at = a.matrixTransposed.contiguous(), bt = b.matrixTransposed.contiguous()
        let (_, plain) = valueAndGradients(at: [at, bt]) { v in (v[0].matmul(v[1]) * w).sum() }
        expectOK(compare(gr[0], plain[0].matrixTransposed.contiguous(), tol))
        expectOK(compare(gr[1], plain[1].matrixTransposed.contiguous(), tol))
    }

    @Test func resultsDoNotDependOnThreadCount() {
        var g = RandomGenerator(seed: 3)
        let w = Tensor.normal([300, 64], generator: &g)
        let ids = Tensor(indices: (0..<200).map { ($0 * 37) % 300 })
        let x = Tensor.normal([200, 64], generator: &g)
        func run() -> [Float] {
            grad(w) { v in
                let e = v.indexSelect(axis: 0, index: ids)
                return ((e + x).matmul(v.matrixTransposed).tanh()).sum()
            }.floats()
        }
        let saved = ComputeSettings.threadCount
        defer { ComputeSettings.threadCount = saved }
        ComputeSettings.threadCount = 1
        let one = run()
        ComputeSettings.threadCount = 2
        #expect(run() == one)
    }
}

/// The fused activation backward (g ⊙ f′(x) in 4096-element blocks) over several blocks and threads.
struct ActivationBackwardTests {
    @Test(arguments: [GELUApproximation.tanh, .none])
    func geluBackwardMatchesTheComposite(_ approximation: GELUApproximation) {
        var g = RandomGenerator(seed: 21)
        let x = Tensor.normal([2, 20_011], std: 2, generator: &g)           // not a multiple of the block
        let w = Tensor.normal([2, 20_011], generator: &g)
        let fused = valueAndGradients(at: [x]) { ($0[0].gelu(approximation: approximation) * w).sum() }.gradients[0]
        let composite = valueAndGradients(at: [x]) {
            ($0[0].geluComposite(approximation: approximation) * w).sum()
        }.gradients[0]
        expectOK(compare(fused, composite, Tolerance.for(dtype: .float32, op: .fused)))
        let silu = valueAndGradients(at: [x]) { ($0[0].silu() * w).sum() }.gradients[0]
        let siluComposite = valueAndGradients(at: [x]) { ($0[0].siluComposite() * w).sum() }.gradients[0]
        expectOK(compare(silu, siluComposite, Tolerance.for(dtype: .float32, op: .fused)))
    }
}
