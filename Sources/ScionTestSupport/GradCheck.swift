// Finite-difference gradient checking in Float64: the safety net behind "one VJP per primitive".
// The scalar checked is L = Σ(w ⊙ f(x)) with a seeded random w, so every output element's
// gradient is exercised with a distinct weight; central differences perturb one input element at
// a time, rebuilding the input in the same storage layout as the analytic pass.

import Foundation
import ScionTensor

/// Checks the analytic gradient of `f` against central finite differences.
///
/// - Parameters:
///   - inputs: the inputs' values (Float64), one per argument of `f`.
///   - layout: how each input tensor is laid out in storage (all inputs alike).
///   - wrt: which inputs to check (default: all).
///   - seed: seeds the output weights `w`.
///   - eps: the finite-difference step.
///   - tolerance: defaults to `Tolerance.for(dtype: .float64, op: .gradientCheck)`.
/// - Returns: one comparison per checked input (analytic vs numeric).
public func gradientCheck(_ inputs: [RefTensor], layout: TestLayout = .contiguous, wrt: [Int]? = nil,
                          seed: UInt64 = 7, eps: Double = 1e-6, tolerance: Tolerance? = nil,
                          label: String = "", _ f: ([Tensor]) -> Tensor) -> [Comparison] {
    let tol = tolerance ?? Tolerance.for(dtype: .float64, op: .gradientCheck)
    let build = { (values: [RefTensor]) in values.map { makeTensor($0, dtype: .float64, layout: layout) } }
    let y0 = withoutGradients { f(build(inputs)) }
    var rng = TestRandom(seed: seed)
    let w = Tensor(doubles: rng.normals(y0.count), shape: y0.shape, dtype: .float64)
    func loss(_ xs: [Tensor]) -> Tensor { (f(xs) * w).sum() }

    let leaves = build(inputs).map { $0.requiringGradient() }
    let analytic = loss(leaves).gradients(of: leaves)
    var results: [Comparison] = []
    for i in wrt ?? Array(inputs.indices) {
        var numeric = [Double](repeating: 0, count: inputs[i].count)
        for j in 0..<inputs[i].count {
            var plus = inputs, minus = inputs
            plus[i].data[j] += eps
            minus[i].data[j] -= eps
            let lp = withoutGradients { loss(build(plus)).item() }
            let lm = withoutGradients { loss(build(minus)).item() }
            numeric[j] = (lp - lm) / (2 * eps)
        }
        results.append(compare(analytic[i].doubles(), shape: analytic[i].shape, numeric, shape: inputs[i].shape, tol,
                               label: "\(label) ∂/∂input\(i) [\(layout)]"))
    }
    return results
}

/// The gradients of L = Σ(w ⊙ f(x)) with respect to each input, for comparing two implementations
/// (fused and composite) on identical inputs and weights. Inputs keep their dtype and layout.
public func weightedGradients(_ inputs: [Tensor], seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> (value: Tensor, gradients: [Tensor]) {
    let leaves = inputs.map { $0.requiringGradient() }
    let y = f(leaves)
    var rng = TestRandom(seed: seed)
    let w = Tensor(doubles: rng.normals(y.count), shape: y.shape, dtype: .float64).cast(y.dtype)
    return (y.detached(), (y * w).sum().gradients(of: leaves))
}
