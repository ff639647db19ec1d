// Sentence embeddings from an encoder: mean pooling of the last hidden state over real tokens
// (attention mask 1), then L2 normalisation — what sentence-transformers' all-MiniLM-L6-v2 does
// (its modules.json: Transformer → Pooling(mean) → Normalize). Not a retrieval index.

import Foundation
import ScionTensor
import ScionTokenizers

/// Pooling of token states into one vector per input.
///
/// ```math
/// e = Σ_t m_t h_t / max(Σ_t m_t, 1e-9);   ê = e / max(‖e‖₂, 1e-12)
/// ```
public enum Pooling {
    /// Mean of `hidden` [B, T, C] over positions whose mask is 1.
    ///
    /// - Parameters:
    ///   - hidden: Token states [B, T, C].
    ///   - attentionMask: [B][T] with 1 for tokens and 0 for padding; nil counts every position.
    /// - Returns: B vectors of C values.
    public static func mean(_ hidden: Tensor, attentionMask: [[Int]]? = nil) -> [[Float]] {
        let (b, t, c) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
        let h = hidden.floats()
        return (0..<b).map { bi in
            var sum = [Double](repeating: 0, count: c)
            var count = 0.0
            for ti in 0..<t where attentionMask?[bi][ti] ?? 1 == 1 {
                count += 1
                let base = (bi * t + ti) * c
                for ci in 0..<c { sum[ci] += Double(h[base + ci]) }
            }
            return sum.map { Float($0 / max(count, 1e-9)) }
        }
    }

    /// `v` scaled to unit Euclidean length (a zero vector stays zero).
    public static func l2Normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return v.map { Float(Double($0) / max(norm, 1e-12)) }
    }

    /// Normalised mean-pooled embeddings of `texts`, in input order, one forward pass per text
    /// (so no padding enters the encoder).
    ///
    /// - Parameters:
    ///   - texts: The inputs.
    ///   - encoder: The encoder (BERT).
    ///   - tokenizer: Its tokenizer; special tokens and the tokenizer's truncation are applied.
    /// - Returns: One unit vector per text.
    public static func sentenceEmbeddings(_ texts: [String], encoder: any EncoderModel, tokenizer: Tokenizer) -> [[Float]] {
        texts.map { text in
            let ids = tokenizer.encode(text, addSpecialTokens: true, applyTruncation: true, applyPadding: false).ids
            let idTensor = Tensor(indices: ids, shape: [1, ids.count])
            let hidden = encoder.encode(idTensor, attentionMask: nil, tokenTypeIDs: nil)  // [1, T, C]
            return l2Normalized(mean(hidden)[0])
        }
    }
}
