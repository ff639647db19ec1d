// DoRA: weight-decomposed low-rank adaptation. The adapted weight is split into a magnitude m [out]
// (trainable, initialised to the row norms of W) and a direction W + s·B·A:
//     W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_row
// The row norm is treated as a constant in the backward pass (the paper's §4.3 memory saving, as PEFT).
// With y₀ = W·x (bias excluded) and f = m / ‖·‖, the forward pass is
//     y = y₀ + b + (f − 1) ⊙ y₀ + f ⊙ s·B·A·x
// DoRA reuses LoRA's A and B by composition and adds `lora_magnitude_vector` (PEFT's saved key).
// With `lora_dropout` in training, x is dropped in both adapter terms (y₀ = W·drop(x) there), as PEFT.
// Paper: Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation" (arXiv:2402.09353).
// PEFT reference: src/peft/tuners/lora/dora.py (DoraLinearLayer); config is LoraConfig(use_dora=True).

import Foundation
import ScionNN
import ScionTensor

/// DoRA: a LoRA config with `use_dora: true` (PEFT's `peft_type` stays "LORA").
public enum DoRA: AdapterMethod {
    public static let name = "dora"
    public static let peftType = "LORA"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> LoRA.Config {
        LoRA.Config(r: r, loraAlpha: Double(2 * r), targetModules: targetModules, useDora: true)
    }

    /// The DoRA layer: a LoRA layer plus the magnitude vector [out].
    public final class Layer: ConfiguredAdapter, TrainingModeAdapter {
        public let lora: LoRA.Layer
        public let magnitude: Parameter
        public var config: any AdapterConfig { lora.config }
        /// Non-nil during a training step: `lora_dropout` applies (held by the inner LoRA layer).
        public var trainingState: AdapterTrainingState? {
            get { lora.trainingState }
            set { lora.trainingState = newValue }
        }

        init(lora: LoRA.Layer, base: Linear, initialize: Bool) {
            self.lora = lora
            magnitude = Parameter(Tensor.zeros([base.outFeatures]))
            if initialize { magnitude.value = Self.rowNorm(base: base, lora: lora) }
        }

        public var entries: [ModuleEntry] { lora.entries + [.parameter("lora_magnitude_vector", magnitude)] }

        /// ‖W + s·B·A‖ per output row, detached.
        static func rowNorm(base: Linear, lora: LoRA.Layer) -> Tensor {
            let w = base.weightOutIn.detached() + lora.deltaOutIn().detached()
            return w.squared().sum(axes: [1]).sqrt().detached()
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            let factor = magnitude.value / Self.rowNorm(base: base, lora: lora)   // [out]
            let dropping = lora.trainingState != nil && lora.loraConfig.loraDropout > 0
            let xd = lora.dropped(x)
            // PEFT: without dropout the base result is reused; with it, W·drop(x) is recomputed.
            let yb = dropping ? base.baseForward(xd) : y
            let y0 = base.bias.map { yb - $0.value } ?? yb
            return y + (factor - 1) * y0 + factor * lora.update(xd)
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            let w = base.weightOutIn.detached()
            let factor = (magnitude.value.detached() / Self.rowNorm(base: base, lora: lora)).reshaped([-1, 1])
            return base.inLayout(factor * (w + lora.deltaOutIn().detached()) - w)
        }
    }
}
