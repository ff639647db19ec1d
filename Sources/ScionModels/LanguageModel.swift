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

    /// Logits of the last position only, [B, V], for ids [B, T] (what generation samples from).
    ///
    /// Same arguments and cache effect as ``logits(_:cache:attentionMask:)``; a model may skip the
    /// output projection of the other positions (the default slices the full logits).
    func nextTokenLogits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor

    /// Hidden states: the embedding output and each layer's output [B, T, C] (for tests against transformers).
    func hiddenStates(_ ids: Tensor) -> [Tensor]

    /// An empty cache sized for this model.
    func makeCache(batchSize: Int, capacity: Int) -> KVCache
}

extension LanguageModel {
    /// Logits without a cache or mask.
    public func callAsFunction(_ ids: Tensor) -> Tensor { logits(ids, cache: nil, attentionMask: nil) }

    /// The last position of ``logits(_:cache:attentionMask:)``, [B, V].
    public func nextTokenLogits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        let full = logits(ids, cache: cache, attentionMask: attentionMask)       // [B, T, V]
        let t = full.shape[1]
        return full.sliced(axis: 1, (t - 1)..<t).reshaped([full.shape[0], full.shape[2]])
    }
}

/// A bidirectional encoder (BERT): token ids → hidden states.
public protocol EncoderModel: Module {
    /// Last hidden state [B, T, C] for ids [B, T] with attention mask [B, T] (1 = token, 0 = padding).
    func encode(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> Tensor
    /// Hidden states: embedding output and each layer's output.
    func hiddenStates(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> [Tensor]
}
