// What a training loop calls so that methods with per-step behaviour run without per-method wiring:
// training mode (`lora_dropout`, DyLoRA's slice) set for the span of each step, AdaLoRA (orthogonality
// penalty, importance EMAs, budget pruning), IncreLoRA (penalty, rank growth) and DyLoRA (a rank sampled
// each step). `AdapterTraining.hooks(for:)` finds them from the model's active adapters; the trainer
// adds `regularization()` to the loss, calls the step methods, and saves each hook's
// `checkpointState()` into its checkpoints so that a resumed run continues exactly
// (`restoreCheckpointState` runs before the weights are loaded).

import Foundation
import ScionNN
import ScionTensor

/// Per-step behaviour of an adapter method during training.
public protocol AdapterTrainingHook: AnyObject {
    /// Called before the forward passes of `step` (DyLoRA samples its rank here).
    func beforeForward(step: Int)
    /// Called before the forward pass of micro-batch `index` (0-based) of `step`.
    func beforeMicroBatch(step: Int, index: Int)
    /// A term to add to the loss (orthogonality penalties), or nil.
    func regularization() -> Tensor?
    /// Called after the backward pass, before the optimizer step.
    func afterBackward(step: Int, gradients: Gradients)
    /// A file-name-safe name for this hook's checkpoint state; nil when it keeps none.
    var checkpointName: String? { get }
    /// The state a resumed run needs (see ``checkpointName``).
    func checkpointState() throws -> Data
    /// Puts back a state saved by ``checkpointState()`` (before the weights are loaded).
    func restoreCheckpointState(_ data: Data) throws
}

extension AdapterTrainingHook {
    public func beforeForward(step: Int) {}
    public func beforeMicroBatch(step: Int, index: Int) {}
    public func regularization() -> Tensor? { nil }
    public func afterBackward(step: Int, gradients: Gradients) {}
    public var checkpointName: String? { nil }
    public func checkpointState() throws -> Data { Data() }
    public func restoreCheckpointState(_ data: Data) throws {}
}

/// Discovery of training hooks.
public enum AdapterTraining {
    /// The hooks the active adapters of `model` need (empty for IA³, Bone, …; LoRA gets the
    /// training-mode hook, which applies `lora_dropout`). `seed` drives dropout masks and DyLoRA's ranks.
    public static func hooks(for model: any Module, seed: UInt64 = 0) throws -> [any AdapterTrainingHook] {
        let active = Injection.adaptableLayers(of: model).compactMap { Injection.activeAdapterObject($0.1) }
        var hooks: [any AdapterTrainingHook] = []
        if active.contains(where: { $0 is any TrainingModeAdapter }) { hooks.append(TrainingModeHook(model: model, seed: seed)) }
        if active.contains(where: { $0 is AdaLoRA.Layer }) { hooks.append(AdaLoRAHook(model: model, allocator: try AdaLoRA.RankAllocator(model: model))) }
        if active.contains(where: { $0 is IncreLoRA.Layer }) { hooks.append(IncreLoRAHook(model: model, allocator: try IncreLoRA.RankAllocator(model: model, seed: seed))) }
        if active.contains(where: { $0 is DyLoRA.Layer }) { hooks.append(DyLoRAHook(model: model, seed: seed)) }
        return hooks
    }

    /// Training mode for the span of a step: on before the forward passes (per micro-batch), off
    /// after the backward pass, so evaluation between steps runs in inference mode.
    final class TrainingModeHook: AdapterTrainingHook {
        let model: any Module, seed: UInt64
        init(model: any Module, seed: UInt64) { self.model = model; self.seed = seed }
        func beforeForward(step: Int) { Injection.setTrainingState(AdapterTrainingState(seed: seed, step: step), in: model) }
        func beforeMicroBatch(step: Int, index: Int) {
            Injection.setTrainingState(AdapterTrainingState(seed: seed, step: step, microBatch: index), in: model)
        }
        func afterBackward(step: Int, gradients: Gradients) { Injection.setTrainingState(nil, in: model) }
    }

    final class AdaLoRAHook: AdapterTrainingHook {
        let model: any Module, allocator: AdaLoRA.RankAllocator
        init(model: any Module, allocator: AdaLoRA.RankAllocator) { self.model = model; self.allocator = allocator }
        func regularization() -> Tensor? { AdaLoRA.orthogonalRegularization(model) }
        func afterBackward(step: Int, gradients: Gradients) { allocator.step(step, gradients: gradients) }
        var checkpointName: String? { "adalora" }
        func checkpointState() throws -> Data { try allocator.checkpointState() }
        func restoreCheckpointState(_ data: Data) throws { try allocator.restoreCheckpointState(data) }
    }

    final class IncreLoRAHook: AdapterTrainingHook {
        let model: any Module, allocator: IncreLoRA.RankAllocator
        init(model: any Module, allocator: IncreLoRA.RankAllocator) { self.model = model; self.allocator = allocator }
        func regularization() -> Tensor? {
            let layers = Injection.linearLayers(of: model).compactMap { $0.1.activeAdapter as? IncreLoRA.Layer }
            guard let first = layers.first else { return nil }
            func penalty(_ l: IncreLoRA.Layer) -> Tensor {
                let a = l.loraA.value, b = l.loraB.value
                return (a.matmul(a.matrixTransposed) - identityMatrix(a.shape[0])).squared().sum().sqrt()
                    + (b.matrixTransposed.matmul(b) - identityMatrix(b.shape[1])).squared().sum().sqrt()
            }
            let sum = layers.dropFirst().reduce(penalty(first)) { $0 + penalty($1) }
            return sum * (first.increConfig.orthRegWeight / Double(2 * layers.count))
        }
        func afterBackward(step: Int, gradients: Gradients) { allocator.step(step, gradients: gradients) }
        var checkpointName: String? { "increlora" }
        func checkpointState() throws -> Data { try allocator.checkpointState() }
        func restoreCheckpointState(_ data: Data) throws { try allocator.restoreCheckpointState(data) }
    }

    /// Samples each step's rank from (seed, step) and returns to the full rank after the backward
    /// pass (evaluation and saving see r_max). Keeps no state: a resumed run samples the same ranks.
    final class DyLoRAHook: AdapterTrainingHook {
        let model: any Module, seed: UInt64
        init(model: any Module, seed: UInt64) { self.model = model; self.seed = seed }
        func beforeForward(step: Int) { _ = try? DyLoRA.sampleRank(in: model, seed: seed, step: step) }
        func afterBackward(step: Int, gradients: Gradients) { try? DyLoRA.setRank(nil, in: model) }
    }
}
