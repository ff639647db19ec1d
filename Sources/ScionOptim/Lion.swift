// Lion, "EvoLved Sign Momentum" (Chen et al., "Symbolic Discovery of Optimization Algorithms",
// NeurIPS 2023, Program 1): the update is the sign of an interpolation of momentum and gradient,
// with decoupled weight decay. Not in torch.optim; the fixtures compute it with torch tensor ops in the
// paper's order (decay, signed step, momentum update), in Float32.

import Foundation
import ScionNN
import ScionTensor

/// Lion: sign momentum with decoupled weight decay.
///
/// For each parameter with gradient `g`, learning rate `lr` and group weight decay `wd`:
/// ```
/// c ← β1·m + (1 − β1)·g
/// p ← p·(1 − lr·wd) − lr·sign(c)
/// m ← β2·m + (1 − β2)·g
/// ```
/// `sign(0) = 0`. Lion's updates have unit size per element, so its learning rate is typically 3-10×
/// smaller than AdamW's and its weight decay correspondingly larger.
public final class Lion: Optimizer {
    /// Interpolation weight of the momentum in the update direction.
    public let beta1: Double
    /// Momentum decay.
    public let beta2: Double
    private var core: OptimizerCore

    /// A Lion optimizer over `groups` (paper defaults β1 = 0.9, β2 = 0.99).
    public init(groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.99) {
        self.beta1 = beta1; self.beta2 = beta2
        core = OptimizerCore(kind: "Lion", groups: groups, bufferNames: ["exp_avg"])
    }

    public var groups: [ParameterGroup] { core.groups }
    public var stepCount: Int { core.stepCount }
    public func state() -> OptimizerState { core.state() }
    public func load(_ state: OptimizerState) throws { try core.load(state) }

    public func step(gradients: Gradients, learningRate: Double) {
        let (b1, w1, b2, w2) = (Float(beta1), Float(1 - beta1), Float(beta2), Float(1 - beta2))
        core.step(gradients: gradients, learningRate: learningRate) { slot, group, lr, p, g, out, range in
            let lo = range.lowerBound, n = range.count
            let p = p + lo, g = g + lo, out = out + lo, m = slot.buffer("exp_avg") + lo
            let decay = Float(1 - lr * group.weightDecay), negLR = Float(-lr)
            for i in 0..<n {
                let gi = g[i], mi = m[i]
                let c = mi * b1 + w1 * gi
                let sign: Float = c > 0 ? 1 : (c < 0 ? -1 : 0)
                out[i] = p[i] * decay + negLR * sign
                m[i] = mi * b2 + w2 * gi
            }
        }
    }
}
