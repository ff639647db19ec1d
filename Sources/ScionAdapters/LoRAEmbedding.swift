// LoRA on an Embedding (token embeddings: Llama's `embed_tokens`, GPT-2's `wte`). For a frozen table
// W [V, C] and ids i, the layer looks up
//     y = W[i] + s · (Aᵀ[i] · Bᵀ),   A = lora_embedding_A [r, V],   B = lora_embedding_B [C, r],   s = α/r (√r: rsLoRA)
// — A is "transposed relative to Linear" (its columns are the vocabulary), as PEFT stores it, and
// ΔW = s · (B·A)ᵀ [V, C] merges. Initialisation as PEFT: A = 0 and B ~ N(0, 1) (so the adapted model
// starts as the base); with `init_lora_weights: false` both are N(0, 1). PiSSA/OLoRA initialisation
// does not apply to embeddings (PEFT falls back to the standard one); `lora_dropout` is not applied to
// ids (PEFT neither). DoRA on embeddings is not supported (refused with the rule named).
// Saved keys: `lora_embedding_A`, `lora_embedding_B` (raw parameters, no ".weight").
// Paper: Hu et al. 2021, "LoRA" (arXiv:2106.09685), which adapts embeddings the same way (loralib's
// Embedding). PEFT reference: src/peft/tuners/lora/layer.py (class Embedding, reset_lora_parameters).

import Foundation
import ScionNN
import ScionTensor

extension LoRA.Config {
    public var embeddingParameterNames: [String] { ["lora_embedding_A", "lora_embedding_B"] }
    public var embeddingRankTensorName: String? { "lora_embedding_A" }

    public func check(base: Embedding, key: String, rank: Int?) throws {
        guard !useDora else {
            throw AdapterError.invalidConfig(method: methodName, rule: "\(key): DoRA on Embedding modules is not supported (use plain LoRA)")
        }
        let r = rank ?? self.rank(for: key)
        guard r > 0 else { throw AdapterError.invalidConfig(method: methodName, rule: "\(key): r must be a positive integer (got \(r))") }
    }

    public func makeEmbeddingAdapter(for base: Embedding, key: String, rank: Int?, initialize: Bool,
                                     generator: inout RandomGenerator) throws -> any ConfiguredEmbeddingAdapter {
        try validate()
        try check(base: base, key: key, rank: rank)
        return LoRA.EmbeddingLayer(base: base, key: key, config: self, rank: rank ?? self.rank(for: key),
                                   initialize: initialize, generator: &generator)
    }

    public func trainableParameterCount(for base: Embedding, key: String) -> Int {
        rank(for: key) * (base.count + base.dimension)
    }
}

extension LoRA {
    /// LoRA on an ``Embedding``: `lora_embedding_A` [r, V] and `lora_embedding_B` [C, r].
    public final class EmbeddingLayer: ConfiguredEmbeddingAdapter {
        public let loraA: Parameter
        public let loraB: Parameter
        public let rank: Int
        /// s = α/r (or α/√r with rsLoRA).
        public let scale: Double
        public let loraConfig: Config
        public var config: any AdapterConfig { loraConfig }

        init(base: Embedding, key: String, config: Config, rank r: Int, initialize: Bool, generator: inout RandomGenerator) {
            loraConfig = config; rank = r
            scale = config.scale(for: key, rank: r)
            var a = Tensor.zeros([r, base.count]), b = Tensor.zeros([base.dimension, r])
            if initialize {
                if config.initLoraWeights == .random { a = Tensor.normal([r, base.count], generator: &generator) }
                b = Tensor.normal([base.dimension, r], generator: &generator)
            }
            loraA = Parameter(a); loraB = Parameter(b)
        }

        public var entries: [ModuleEntry] { [.parameter("lora_embedding_A", loraA), .parameter("lora_embedding_B", loraB)] }

        public func apply(_ ids: Tensor, baseOutput y: Tensor, base: Embedding) -> Tensor {
            let flat = ids.reshaped([-1])                                                   // [N]
            let afterA = loraA.value.indexSelect(axis: 1, index: flat).matrixTransposed     // [N, r]
            let update = afterA.matmul(loraB.value.matrixTransposed) * scale                // [N, C]
            return y + update.reshaped(ids.shape + [base.dimension])                        // [..., C]
        }

        /// s · (B·A)ᵀ in [V, C].
        public func deltaWeight(base: Embedding) -> Tensor? {
            (loraB.value.matmul(loraA.value) * scale).detached().matrixTransposed.contiguous()
        }
    }
}
