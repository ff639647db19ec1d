// The optimizer protocol, parameter groups and the Codable optimizer state.
// Optimizers follow torch.optim's update rules exactly (per-parameter step counts, parameters without a
// gradient skipped); they are not autograd code: updates run outside the tape and replace
// `Parameter.value` with a new tensor, so earlier values held elsewhere never change (tensor immutability).

import Foundation
import ScionNN
import ScionTensor

/// A first-order optimizer over parameter groups.
///
/// Each call to ``step(gradients:learningRate:)`` updates every parameter of every group that has a
/// gradient in `gradients`, with the group's learning rate `learningRate · learningRateMultiplier` and
/// the group's weight decay. The learning rate comes from the caller (usually a ``Schedule``).
///
/// ```swift
/// let optimizer = AdamW(groups: ParameterGroup.standard(model, weightDecay: 0.1))
/// for step in 0..<steps {
///     var grads = loss(model).backward()
///     clipGradientNorm(&grads, parameters: optimizer.parameters, maxNorm: 1)
///     optimizer.step(gradients: grads, learningRate: schedule.learningRate(at: step))
/// }
/// ```
public protocol Optimizer: AnyObject {
    /// The parameter groups, in update order.
    var groups: [ParameterGroup] { get }
    /// Number of completed calls to ``step(gradients:learningRate:)``.
    var stepCount: Int { get }
    /// Updates every parameter that has a gradient.
    /// - Parameters:
    ///   - gradients: Gradients from `loss.backward()`, looked up by each parameter's current value.
    ///   - learningRate: The base learning rate for this step (multiplied by each group's multiplier).
    func step(gradients: Gradients, learningRate: Double)
    /// The optimizer's state (step counts and per-parameter buffers), for checkpoints.
    func state() -> OptimizerState
    /// Restores a state saved by ``state()`` of the same kind of optimizer over the same parameter names.
    /// - Throws: ``OptimizerError`` when the kind, a name or a buffer size does not match; nothing changes then.
    func load(_ state: OptimizerState) throws
}

extension Optimizer {
    /// Every parameter of every group, in update order.
    public var parameters: [Parameter] { groups.flatMap { $0.parameters.map { $0.parameter } } }
}

/// A set of parameters sharing a learning-rate multiplier and a weight decay (torch's `param_groups`).
public struct ParameterGroup {
    /// A label ("decay", "no_decay", …).
    public var name: String
    /// The parameters with their unique names (keys of the optimizer state).
    public var parameters: [(name: String, parameter: Parameter)]
    /// Multiplies the step's learning rate for this group.
    public var learningRateMultiplier: Double
    /// Weight decay coefficient (decoupled for AdamW and Lion, L2 for SGD).
    public var weightDecay: Double

    /// A group of named parameters.
    public init(name: String, parameters: [(String, Parameter)], learningRateMultiplier: Double = 1,
                weightDecay: Double = 0) {
        self.name = name
        self.parameters = parameters.map { (name: $0.0, parameter: $0.1) }
        self.learningRateMultiplier = learningRateMultiplier
        self.weightDecay = weightDecay
    }

    /// True for parameters conventionally excluded from weight decay: biases and normalization weights.
    ///
    /// A key ending in "bias", containing "norm" (any case, so "LayerNorm" too) or "ln_" (GPT-2's
    /// `ln_1`, `ln_f`), or a tensor of rank ≤ 1, is not decayed.
    public static func isExcludedFromWeightDecay(key: String, shape: [Int]) -> Bool {
        key.hasSuffix("bias") || key.lowercased().contains("norm") || key.contains("ln_") || shape.count <= 1
    }

    /// The standard two groups, "decay" (matrices, embeddings) and "no_decay" (biases, norm weights),
    /// from named parameters (empty groups are dropped).
    /// - Parameters:
    ///   - parameters: Named parameters, for example `model.trainableParameters()`.
    ///   - weightDecay: Weight decay of the "decay" group; "no_decay" gets 0.
    public static func standard(_ parameters: [(String, Parameter)], weightDecay: Double,
                                learningRateMultiplier: Double = 1) -> [ParameterGroup] {
        let noDecay = parameters.filter { isExcludedFromWeightDecay(key: $0.0, shape: $0.1.shape) }
        let decay = parameters.filter { !isExcludedFromWeightDecay(key: $0.0, shape: $0.1.shape) }
        return [ParameterGroup(name: "decay", parameters: decay, learningRateMultiplier: learningRateMultiplier,
                               weightDecay: weightDecay),
                ParameterGroup(name: "no_decay", parameters: noDecay, learningRateMultiplier: learningRateMultiplier,
                               weightDecay: 0)].filter { !$0.parameters.isEmpty }
    }

    /// The standard groups over a module's trainable parameters.
    public static func standard(_ module: any Module, weightDecay: Double) -> [ParameterGroup] {
        standard(module.trainableParameters(), weightDecay: weightDecay)
    }
}

/// An optimizer's resumable state: step counts and per-parameter buffers as plain `Float` arrays.
///
/// Encoding with `JSONEncoder` and decoding again restores every `Float` bit for bit (finite values),
/// so a resumed run continues exactly as an uninterrupted one.
public struct OptimizerState: Codable, Equatable, Sendable {
    /// The optimizer kind ("AdamW", "SGD", "Lion").
    public var kind: String
    /// Completed optimizer steps.
    public var stepCount: Int
    /// Per-parameter state by parameter name.
    public var parameters: [String: ParameterState]

    /// The state of one parameter.
    public struct ParameterState: Codable, Equatable, Sendable {
        /// Updates applied to this parameter (torch's per-parameter `step`).
        public var step: Int
        /// Buffers by name ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"), torch's names.
        public var buffers: [String: [Float]]

        public init(step: Int, buffers: [String: [Float]]) { self.step = step; self.buffers = buffers }
    }

    public init(kind: String, stepCount: Int, parameters: [String: ParameterState]) {
        self.kind = kind; self.stepCount = stepCount; self.parameters = parameters
    }
}

/// Errors from building an optimizer or loading its state.
public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    /// The state was saved by another kind of optimizer.
    case kindMismatch(expected: String, actual: String)
    /// The state names parameters this optimizer lacks, or lacks ones it has.
    case parameterMismatch(missing: [String], unexpected: [String])
    /// A buffer's length differs from its parameter's element count.
    case bufferSizeMismatch(parameter: String, buffer: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .kindMismatch(let e, let a): return "optimizer state is for \(a), not \(e)"
        case .parameterMismatch(let m, let u):
            return "optimizer state does not match the parameters: missing \(m), unexpected \(u)"
        case .bufferSizeMismatch(let p, let b, let e, let a):
            return "\(p).\(b): expected \(e) elements, state has \(a)"
        }
    }
}
