// What the trainer needs from a causal LM beyond `LanguageModel`: saving as an HF folder and
// opting into gradient checkpointing. Architectures conform here, one line each.

import Foundation
import ScionNN

/// A causal LM the trainer can checkpoint and save.
public protocol TrainableLanguageModel: LanguageModel {
    /// Whether blocks recompute their activations during backward instead of keeping them.
    var gradientCheckpointing: Bool { get set }
    /// Writes an HF folder (config.json, model.safetensors) that `ModelLoader` and transformers load.
    ///
    /// - Throws: `CheckpointError` when `path` exists and `overwrite` is false, or writing fails.
    func save(to path: String, overwrite: Bool) throws
}

extension GPT2LMHeadModel: TrainableLanguageModel {}
extension LlamaForCausalLM: TrainableLanguageModel {}
