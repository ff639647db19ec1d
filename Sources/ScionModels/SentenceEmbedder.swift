// Sentence embeddings from a BERT-style encoder, as sentence-transformers computes them for
// all-MiniLM-L6-v2 and its kin: tokenize, encode in batches, mean-pool the last hidden state over
// non-padding tokens ([CLS] and [SEP] included), then L2-normalize. Follows sentence-transformers'
// models/Pooling.py (pooling_mode_mean_tokens) and models/Normalize.py. Only mean pooling here.
// NOTE: MiniLM's tokenizer.json pads every text to 128 and truncates at 128, but sentence-transformers
// truncates at sentence_bert_config.json's max_seq_length (256) instead; `load` reads that file.

import Foundation
import ScionNN
import ScionTensor
import ScionTokenizers

/// Turns texts into unit-length vectors with an encoder and masked mean pooling.
///
/// ```swift
/// let embedder = try SentenceEmbedder.load(path: minilmFolder)
/// let vectors = embedder.embed(["A cat.", "Un chat."])   // 2 × 384, each of norm 1
/// ```
public struct SentenceEmbedder {
    /// The encoder.
    public let model: any EncoderModel
    /// The tokenizer (its padding id and truncation settings are honoured).
    public let tokenizer: Tokenizer
    /// Longest token sequence (special tokens included); nil uses the tokenizer's own truncation.
    public var maxSequenceLength: Int?
    /// Texts per forward pass.
    public var batchSize: Int

    /// An embedder over `model` and `tokenizer`.
    ///
    /// - Parameters:
    ///   - maxSequenceLength: truncation length (sentence-transformers' `max_seq_length`); nil keeps
    ///     the tokenizer's.
    ///   - batchSize: texts per forward pass (results do not depend on it).
    public init(model: any EncoderModel, tokenizer: Tokenizer, maxSequenceLength: Int? = nil, batchSize: Int = 32) {
        self.model = model; self.tokenizer = tokenizer
        self.maxSequenceLength = maxSequenceLength; self.batchSize = max(1, batchSize)
    }

    /// Loads a sentence-transformers folder (an HF BERT folder with tokenizer.json; optional
    /// sentence_bert_config.json for `max_seq_length`, and 1_Pooling/config.json, which must ask for mean pooling).
    ///
    /// - Throws: ``ModelLoadError`` for a missing tokenizer, an unsupported pooling mode, or a bad model.
    public static func load(path: String, batchSize: Int = 32) throws -> SentenceEmbedder {
        let loaded = try ModelLoader.loadEncoder(path: path)
        guard let tokenizer = loaded.tokenizer else {
            throw ModelLoadError.missingFile((path as NSString).appendingPathComponent("tokenizer.json"))
        }
        func json(_ name: String) -> [String: Any]? {
            let p = (path as NSString).appendingPathComponent(name)
            return FileManager.default.contents(atPath: p).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
        if let pooling = json("1_Pooling/config.json"), pooling["pooling_mode_mean_tokens"] as? Bool != true {
            throw ModelLoadError.invalidConfig(path: (path as NSString).appendingPathComponent("1_Pooling/config.json"),
                                               field: "pooling_mode_mean_tokens", reason: "only mean pooling is supported")
        }
        let maxLength = json("sentence_bert_config.json")?["max_seq_length"] as? Int
        return SentenceEmbedder(model: loaded.model, tokenizer: tokenizer, maxSequenceLength: maxLength, batchSize: batchSize)
    }

    /// Token ids, type ids of one text, truncated to `maxSequenceLength` (special tokens kept), unpadded.
    func tokenize(_ text: String) -> (ids: [Int], types: [Int]) {
        guard let limit = maxSequenceLength else {
            let e = tokenizer.encode(text, applyPadding: false)
            return (e.ids, e.typeIDs)
        }
        let e = tokenizer.encode(text, applyTruncation: false, applyPadding: false)
        var ids = e.ids, types = e.typeIDs
        // Drop ordinary tokens from the end, keeping the post-processor's specials ([CLS] … [SEP]):
        // the same ids as truncating the text's tokens first and adding the specials after.
        var excess = ids.count - limit, i = ids.count - 1
        while excess > 0 && i >= 0 {
            if e.specialTokensMask[i] == 0 { ids.remove(at: i); types.remove(at: i); excess -= 1 }
            i -= 1
        }
        return (ids, types)
    }

    /// Embeddings of `texts`, in input order: mean of the last hidden state over non-padding tokens,
    /// L2-normalized when `normalize`.
    ///
    /// Texts are batched by length (less padding); padding is masked in attention and in pooling, so
    /// the result does not depend on batching.
    public func embed(_ texts: [String], normalize: Bool = true) -> [[Float]] {
        let encoded = texts.map(tokenize)
        let padID = tokenizer.padding?.padID ?? 0
        let order = encoded.indices.sorted { encoded[$0].ids.count < encoded[$1].ids.count }
        var out = [[Float]](repeating: [], count: texts.count)
        var start = 0
        while start < order.count {
            let rows = Array(order[start..<min(start + batchSize, order.count)])
            start += rows.count
            let t = max(1, rows.map { encoded[$0].ids.count }.max() ?? 1)
            var ids = [Int](), types = [Int](), mask = [Int]()
            for r in rows {
                let (i, ty) = encoded[r]
                let pad = t - i.count
                ids += i + [Int](repeating: padID, count: pad)
                types += ty + [Int](repeating: 0, count: pad)
                mask += [Int](repeating: 1, count: i.count) + [Int](repeating: 0, count: pad)
            }
            let b = rows.count
            let hidden = withoutGradients {
                model.encode(Tensor(indices: ids, shape: [b, t]), attentionMask: Tensor(indices: mask, shape: [b, t]),
                             tokenTypeIDs: Tensor(indices: types, shape: [b, t]))
            }
            let c = hidden.shape[2]
            let h = hidden.floats()                                                    // [B, T, C]
            for (k, r) in rows.enumerated() {
                var sum = [Double](repeating: 0, count: c)
                let n = encoded[r].ids.count
                for j in 0..<n { for d in 0..<c { sum[d] += Double(h[(k * t + j) * c + d]) } }
                var v = sum.map { $0 / Double(max(n, 1)) }
                if normalize {
                    // sentence-transformers' Normalize: x / max(‖x‖, 1e-12).
                    let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                    v = v.map { $0 / norm }
                }
                out[r] = v.map { Float($0) }
            }
        }
        return out
    }
}
