// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay.
// Follows torch.optim.SGD exactly, including its first step (the momentum buffer starts as a copy of
// the gradient, without dampening) and its Nesterov form (Sutskever et al. 2013, as torch writes it).

import Foundation
import ScionNN
import ScionTensor

/// SGD with momentum, as torch.optim.SGD.
///
/// For each parameter with gradient `g`, learning rate `lr`, group weight decay `wd`:
/// ```
/// d ← g + wd·p
/// b ← d                                  (first update of this parameter)
/// b ← μ·b + (1 − dampening)·d            (later updates)
/// d ← d + μ·b   (Nesterov)   or   d ← b
/// p ← p − lr·d
/// ```
/// With `momentum == 0` there is no buffer and `d` is applied directly.
public final class SGD: Optimizer {
    /// Momentum factor μ.
    public let momentum: Double
    /// Dampening of the gradient added to the momentum buffer.
    public let dampening: Double
    /// Whether to use Nesterov momentum (requires momentum > 0 and dampening 0, as in torch).
    public let nesterov: Bool
    private var core: OptimizerCore

    /// An SGD optimizer over `groups` (each group's `weightDecay` is an L2 term added to the gradient).
    public init(groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        core = OptimizerCore(kind: "SGD", groups: groups, bufferNames: momentum != 0 ? ["momentum_buffer"] : [])
    }

    public var groups: [ParameterGroup] { core.groups }
    public var stepCount: Int { core.stepCount }
    public func state() -> OptimizerState { core.state() }
    public func load(_ state: OptimizerState) throws { try core.load(state) }

    public func step(gradients: Gradients, learningRate: Double) {
        let (momentum, dampening, nesterov) = (Float(momentum), Float(1 - dampening), nesterov)
        core.step(gradients: gradients, learningRate: learningRate) { slot, group, lr, p, g, out, range in
            let lo = range.lowerBound, n = range.count
            let wd = Float(group.weightDecay), negLR = Float(-lr)
            let p = p + lo, g = g + lo, out = out + lo
            let useDecay = group.weightDecay != 0
            guard momentum != 0 else {
                for i in 0..<n {
                    let d = useDecay ? g[i] + wd * p[i] : g[i]
                    out[i] = p[i] + negLR * d
                }
                return
            }
            let b = slot.buffer("momentum_buffer") + lo
            let first = slot.step == 1
            for i in 0..<n {
                var d = useDecay ? g[i] + wd * p[i] : g[i]
                let buf = first ? d : b[i] * momentum + dampening * d
                b[i] = buf
                d = nesterov ? d + momentum * buf : buf
                out[i] = p[i] + negLR * d
            }
        }
    }
}
