// The protocols every architecture implements, so generation, evaluation, training and the CLI
// work with any of them: `LanguageModel` (causal LMs: GPT-2, Llama family) and `EncoderModel` (BERT).

import Foundation
import ScionNN
import ScionTensor

/// A causal language model: token ids → next-token logits.
public protocol LanguageModel: Module {
    /// Vocabulary size (logit width).
    var vocabularySize: Int { get }
    /// Longest context the model supports.
    var maxPositions: Int { get }
    /// Number of transformer layers.
    var layerCount: Int { get }

    /// Logits [B, T, V] for ids [B, T].
    ///
    /// - Parameters:
    ///   - cache: when given, `ids` continue the cached positions, and their keys/values are appended.
    ///   - attentionMask: [B, cached + T] with 1 for real tokens and 0 for padding (left padding).
    func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor

    /// Hidden states: the embedding output and each layer's output [B, T, C] (for tests against transformers).
    func hiddenStates(_ ids: Tensor) -> [Tensor]

    /// An empty cache sized for this model.
    func makeCache(batchSize: Int, capacity: Int) -> KVCache
}

extension LanguageModel {
    /// Logits without a cache or mask.
    public func callAsFunction(_ ids: Tensor) -> Tensor { logits(ids, cache: nil, attentionMask: nil) }
}

/// A bidirectional encoder (BERT): token ids → hidden states.
public protocol EncoderModel: Module {
    /// Last hidden state [B, T, C] for ids [B, T] with attention mask [B, T] (1 = token, 0 = padding).
    func encode(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> Tensor
    /// Hidden states: embedding output and each layer's output.
    func hiddenStates(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> [Tensor]
}
