// Measuring d90 for SAID: fine-tune a task in full and inside random d-dimensional subspaces for a sweep
// of d, and report the smallest d whose improvement over the base model reaches 90% of full fine-tuning's
// improvement. Every run starts from a fresh model and trains with AdamW for the same number of steps;
// the metric is the task loss after training (lower is better), so improvement = base loss − final loss.
// Papers: Aghajanyan et al. 2021, "Intrinsic Dimensionality Explains the Effectiveness of Language Model
// Fine-Tuning" (arXiv:2012.13255), whose d90 is "90% of the full fine-tuning performance"; Li et al. 2018,
// "Measuring the Intrinsic Dimension of Objective Landscapes" (arXiv:1804.08838), who measure it against
// the improvement over the starting point, as here (TECHNIQUES row 71).

import Foundation
import ScionNN
import ScionOptim
import ScionTensor

extension SAID {
    /// The outcome of a d90 sweep.
    public struct D90Measurement: Sendable, Equatable, CustomStringConvertible {
        /// The task loss of the base model.
        public var baselineLoss: Double
        /// The task loss after full fine-tuning.
        public var fullFineTuningLoss: Double
        /// Parameters full fine-tuning trains (D).
        public var fullParameterCount: Int
        /// The task loss after SAID fine-tuning, by intrinsic dimension d.
        public var lossByDimension: [Int: Double]

        /// The smallest d whose improvement reaches 90% of full fine-tuning's; nil if none in the sweep does.
        public var d90: Int? {
            SAID.d90(results: lossByDimension.mapValues { -$0 }, baseline: -baselineLoss, fullFineTuning: -fullFineTuningLoss)
        }

        /// Improvement over the base model as a fraction of full fine-tuning's, by d.
        public var fractionByDimension: [Int: Double] {
            let full = baselineLoss - fullFineTuningLoss
            return lossByDimension.mapValues { full > 0 ? (baselineLoss - $0) / full : 0 }
        }

        public var description: String {
            var lines = ["base loss \(String(format: "%.4f", baselineLoss)), full fine-tuning \(String(format: "%.4f", fullFineTuningLoss)) (D = \(fullParameterCount))"]
            for d in lossByDimension.keys.sorted() {
                lines.append("  d = \(d): loss \(String(format: "%.4f", lossByDimension[d]!)), \(String(format: "%.1f", 100 * fractionByDimension[d]!))% of full")
            }
            lines.append("d90 = \(d90.map(String.init) ?? "not reached")")
            return lines.joined(separator: "\n")
        }
    }

    /// d90 from a sweep by improvement: the smallest d with `results[d] − baseline ≥ 0.9 · (full − baseline)`
    /// (metrics higher-is-better; pass −loss for losses). Nil when full fine-tuning does not improve on
    /// the baseline or no d reaches 90%.
    public static func d90(results: [Int: Double], baseline: Double, fullFineTuning full: Double) -> Int? {
        guard full > baseline else { return nil }
        return results.keys.sorted().first { results[$0]! - baseline >= 0.9 * (full - baseline) }
    }

    /// Measures d90 on a task: full fine-tuning, then SAID at each of `dimensions`, each from a fresh model.
    ///
    /// - Parameters:
    ///   - dimensions: The intrinsic dimensions d to try.
    ///   - makeModel: A fresh base model (called once per run).
    ///   - targetModules: The matrices SAID moves (nil: the architecture's defaults).
    ///   - loss: The task's training loss (a differentiable scalar) for a model.
    ///   - steps: AdamW steps per run.
    ///   - learningRate: The SAID runs' learning rate (z and λ).
    ///   - fullLearningRate: Full fine-tuning's learning rate.
    ///   - projectionSeed: SAID's `projection_seed` (the subspace; a fixed seed makes d90 reproducible).
    /// - Throws: ``AdapterError`` from attaching SAID (for example d above a matrix's padded size).
    public static func measureD90(dimensions: [Int], makeModel: () throws -> any Module, targetModules: TargetModules?,
                                  loss: (any Module) -> Tensor, steps: Int, learningRate: Double, fullLearningRate: Double,
                                  projectionSeed: UInt64 = 0) throws -> D90Measurement {
        func train(_ model: any Module, learningRate: Double) -> Double {
            let params = model.trainableParameters()
            let optimizer = AdamW(groups: ParameterGroup.standard(params, weightDecay: 0))
            for _ in 0..<steps { optimizer.step(gradients: loss(model).backward(), learningRate: learningRate) }
            return withoutGradients { loss(model).item() }
        }
        let base = try makeModel()
        let baseline = withoutGradients { loss(base).item() }
        let full = try makeModel()
        for (_, p) in full.namedParameters() { p.setTrainable(true) }
        let fullCount = full.trainableParameters().reduce(0) { $0 + $1.1.value.count }
        let fullLoss = train(full, learningRate: fullLearningRate)
        var losses: [Int: Double] = [:]
        for d in dimensions {
            let model = try makeModel()
            var config = Config(intrinsicDimension: d, targetModules: targetModules)
            config.projectionSeed = projectionSeed
            try Injection.addAdapter(config, to: model)
            losses[d] = train(model, learningRate: learningRate)
        }
        return D90Measurement(baselineLoss: baseline, fullFineTuningLoss: fullLoss, fullParameterCount: fullCount, lossByDimension: losses)
    }
}
