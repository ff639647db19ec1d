// Training mode for adapter layers, and PEFT's `lora_dropout`. Adapters behave differently only while
// a training step runs: LoRA-family layers drop their input to the low-rank path (y = W·x + s·B·A·drop(x),
// the base path keeps x), DyLoRA trains only its sampled slice. Outside a step (evaluation, inference,
// merging) the state is nil and the layers are deterministic.
// Dropout masks are not drawn from a running generator: each is derived from (seed, step, micro-batch,
// module key), so a resumed run draws the same masks as an uninterrupted one and a forward pass that
// gradient checkpointing recomputes sees the same mask again. Kept entries are scaled by 1/(1 − p)
// (inverted dropout, as torch.nn.Dropout).
// Paper: Srivastava et al. 2014, "Dropout" (JMLR 15); PEFT reference: src/peft/tuners/lora/layer.py
// (Linear.forward: `lora_B(lora_A(dropout(x))) * scaling`).

import Foundation
import ScionNN
import ScionTensor

/// Where a training step is, for adapter layers with training-only behaviour.
public struct AdapterTrainingState: Sendable, Equatable {
    /// The run's seed.
    public var seed: UInt64
    /// The 1-based optimizer step.
    public var step: Int
    /// The 0-based micro-batch within the step's accumulation window.
    public var microBatch: Int

    public init(seed: UInt64, step: Int, microBatch: Int = 0) {
        self.seed = seed; self.step = step; self.microBatch = microBatch
    }
}

/// An adapter layer that behaves differently during training (dropout, DyLoRA's slice).
public protocol TrainingModeAdapter: AnyObject {
    /// The training step in progress; nil outside training (the default, deterministic behaviour).
    var trainingState: AdapterTrainingState? { get set }
}

extension Injection {
    /// Puts every active adapter of `model` into training mode at `state`, or (nil) into inference mode.
    public static func setTrainingState(_ state: AdapterTrainingState?, in model: any Module) {
        for (_, m) in adaptableLayers(of: model) {
            (activeAdapterObject(m) as? any TrainingModeAdapter)?.trainingState = state
        }
    }
}

/// Inverted dropout with masks derived from the training state and the module key.
public enum AdapterDropout {
    /// SplitMix64's finaliser: a well-mixed 64-bit value.
    static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The generator seed for one (state, module, stream) draw.
    static func seed(_ state: AdapterTrainingState, key: String, stream: UInt64) -> UInt64 {
        var h = mix(state.seed ^ 0xD50F_0A7E)
        h = mix(h ^ UInt64(truncatingIfNeeded: state.step))
        h = mix(h ^ UInt64(truncatingIfNeeded: state.microBatch))
        h = mix(h ^ SAID.keyHash(key))
        return mix(h ^ stream)
    }

    /// The kept-entry mask for `shape` (entries 0 or 1/(1 − p)), the same for the same arguments.
    public static func mask(shape: [Int], probability p: Double, key: String, state: AdapterTrainingState) -> Tensor {
        var g = RandomGenerator(seed: seed(state, key: key, stream: 0))
        let keep = Float(1 / (1 - p))
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n where g.nextUniform() >= p { values[i] = keep }
        return Tensor(values, shape: shape)
    }

    /// `x` with each entry zeroed with probability `p` and the rest scaled by 1/(1 − p) when `state` is
    /// a training step and p > 0; `x` itself otherwise.
    public static func apply(_ x: Tensor, probability p: Double, key: String, state: AdapterTrainingState?) -> Tensor {
        guard let state, p > 0 else { return x }
        let m = mask(shape: x.shape, probability: p, key: key, state: state)
        return x * (x.dtype == .float32 ? m : m.cast(x.dtype))
    }
}
