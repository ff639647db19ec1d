// What a training loop calls so that methods with per-step behaviour run without per-method wiring:
// AdaLoRA (orthogonality penalty, importance EMAs, budget pruning), IncreLoRA (penalty, rank growth)
// and DyLoRA (a rank sampled each step). `AdapterTraining.hooks(for:)` finds them from the model's
// active adapters; the trainer adds `regularization()` to the loss and calls the step methods.

import Foundation
import ScionNN
import ScionTensor

/// Per-step behaviour of an adapter method during training.
public protocol AdapterTrainingHook: AnyObject {
    /// Called before the forward pass of `step` (DyLoRA samples its rank here).
    func beforeForward(step: Int)
    /// A term to add to the loss (orthogonality penalties), or nil.
    func regularization() -> Tensor?
    /// Called after the backward pass, before the optimizer step.
    func afterBackward(step: Int, gradients: Gradients)
}

extension AdapterTrainingHook {
    public func beforeForward(step: Int) {}
    public func regularization() -> Tensor? { nil }
    public func afterBackward(step: Int, gradients: Gradients) {}
}

/// Discovery of training hooks.
public enum AdapterTraining {
    /// The hooks the active adapters of `model` need (empty for LoRA, DoRA, IA³, …).
    public static func hooks(for model: any Module, seed: UInt64 = 0) throws -> [any AdapterTrainingHook] {
        let active = Injection.linearLayers(of: model).compactMap(\.1.activeAdapter)
        var hooks: [any AdapterTrainingHook] = []
        if active.contains(where: { $0 is AdaLoRA.Layer }) { hooks.append(AdaLoRAHook(model: model, allocator: try AdaLoRA.RankAllocator(model: model))) }
        if active.contains(where: { $0 is IncreLoRA.Layer }) { hooks.append(IncreLoRAHook(model: model, allocator: try IncreLoRA.RankAllocator(model: model, seed: seed))) }
        if active.contains(where: { $0 is DyLoRA.Layer }) { hooks.append(DyLoRAHook(model: model, seed: seed)) }
        return hooks
    }

    final class AdaLoRAHook: AdapterTrainingHook {
        let model: any Module, allocator: AdaLoRA.RankAllocator
        init(model: any Module, allocator: AdaLoRA.RankAllocator) { self.model = model; self.allocator = allocator }
        func regularization() -> Tensor? { AdaLoRA.orthogonalRegularization(model) }
        func afterBackward(step: Int, gradients: Gradients) { allocator.step(step, gradients: gradients) }
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
    }

    final class DyLoRAHook: AdapterTrainingHook {
        let model: any Module
        var generator: RandomGenerator
        init(model: any Module, seed: UInt64) { self.model = model; generator = RandomGenerator(seed: seed) }
        func beforeForward(step: Int) { _ = try? DyLoRA.sampleRank(in: model, generator: &generator) }
    }
}
