// The architecture registry: which `model_type` (HF config.json) or `general.architecture` (GGUF)
// builds which model. One explicit list, no import-time side effects.

import Foundation
import ScionCheckpoint
import ScionNN

/// Builds models from checkpoints by architecture name.
public enum Architectures {
    /// Causal LMs from HF folders, by `model_type`.
    static let causalFromFolder: [String: @Sendable (HFFolder) throws -> any LanguageModel] = [
        "llama": { try LlamaForCausalLM.load(folder: $0) },
        "mistral": { try LlamaForCausalLM.load(folder: $0) },
        "qwen2": { try LlamaForCausalLM.load(folder: $0) },
        "gpt2": { try GPT2LMHeadModel.load(folder: $0) },
    ]
    /// Causal LMs from GGUF files, by `general.architecture`.
    static let causalFromGGUF: [String: @Sendable (GGUFFile) throws -> any LanguageModel] = [
        "llama": { try LlamaForCausalLM.load(gguf: $0) },
    ]
    /// Encoders from HF folders, by `model_type`.
    static let encodersFromFolder: [String: @Sendable (HFFolder) throws -> any EncoderModel] = [
        "bert": { try BertModel.load(folder: $0) },
    ]

    /// Every supported architecture name.
    public static var supported: [String] {
        Array(Set(causalFromFolder.keys).union(encodersFromFolder.keys).union(causalFromGGUF.keys.map { "\($0) (GGUF)" })).sorted()
    }
}
