// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_ (Pascanu et al. 2013): the L2 norm
// over all gradients together; when it exceeds maxNorm every gradient is scaled by maxNorm/(norm + 1e-6).
// The norm is summed in Float64 over fixed 32K-element blocks in order, so it does not depend on
// the thread count.

import Foundation
import ScionNN
import ScionTensor

/// Clips the gradients of `parameters` to a global L2 norm of at most `maxNorm`, in place.
///
/// ```
/// total = √(Σ_p Σ_i g_{p,i}²)
/// if maxNorm / (total + 1e-6) < 1:  g ← g · maxNorm / (total + 1e-6)
/// ```
/// Parameters without a gradient are ignored. Scaled gradients are new tensors; the old ones are untouched.
/// - Parameters:
///   - gradients: Gradients from `loss.backward()`; replaced by the clipped gradients when clipping applies.
///   - parameters: The parameters whose gradients count (for example `optimizer.parameters`).
///   - maxNorm: The largest allowed global norm.
/// - Returns: The total norm before clipping (useful to log).
@discardableResult
public func clipGradientNorm(_ gradients: inout Gradients, parameters: [Parameter], maxNorm: Double) -> Double {
    let total = gradientNorm(gradients, parameters: parameters)
    let coefficient = maxNorm / (total + 1e-6)
    guard coefficient < 1 else { return total }
    var seen = Set<ObjectIdentifier>()
    for p in parameters where seen.insert(ObjectIdentifier(p)).inserted {
        let value = p.value
        guard let g = gradients[value] else { continue }
        gradients[value] = withoutGradients { g.detached() * coefficient }
    }
    return total
}

/// The global L2 norm of the gradients of `parameters` (each parameter counted once).
public func gradientNorm(_ gradients: Gradients, parameters: [Parameter]) -> Double {
    var seen = Set<ObjectIdentifier>()
    var sum = 0.0
    for p in parameters where seen.insert(ObjectIdentifier(p)).inserted {
        guard let g = gradients[p.value] else { continue }
        sum += sumOfSquares(g)
    }
    return sum.squareRoot()
}

/// Σ x² in Float64 over fixed blocks summed in order (independent of thread count).
func sumOfSquares(_ t: Tensor) -> Double {
    let n = t.count, block = 1 << 15
    let blocks = (n + block - 1) / block
    guard blocks > 0 else { return 0 }
    var partial = [Double](repeating: 0, count: blocks)
    withFloat32Elements(t) { x in
        partial.withUnsafeMutableBufferPointer { out in
            let box = SendableBox((x, out.baseAddress!))
            forEachChunk(blocks, grain: 8) { range in
                for b in range {
                    let lo = b * block, hi = min(n, lo + block)
                    var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
                    var i = lo
                    let x = box.value.0
                    while i + 4 <= hi {
                        let v0 = Double(x[i]), v1 = Double(x[i + 1]), v2 = Double(x[i + 2]), v3 = Double(x[i + 3])
                        a0 += v0 * v0; a1 += v1 * v1; a2 += v2 * v2; a3 += v3 * v3
                        i += 4
                    }
                    while i < hi { let v = Double(x[i]); a0 += v * v; i += 1 }
                    box.value.1[b] = (a0 + a1) + (a2 + a3)
                }
            }
        }
    }
    return partial.reduce(0, +)
}
