// Perplexity of a causal LM over a token sequence or a text file, by the sliding-window recipe of
// transformers' "Perplexity of fixed-length models" guide: windows of `contextLength` tokens start
// every `stride` tokens, and each window scores only the tokens no earlier window scored, with the
// rest of the window as context. Unlike the guide's approximation, the NLL is summed per token and
// divided once by the number of predicted tokens, so every token weighs the same. The first token
// is never predicted (nothing precedes it); text is tokenized with the tokenizer's own special-token
// settings (a BOS only where the tokenizer adds one). When stride equals the window, each window
// starts one token early so no token goes unscored.

import Foundation
import ScionNN
import ScionTensor
import ScionTokenizers

/// The outcome of a perplexity evaluation.
public struct PerplexityResult: Sendable, Equatable, Codable {
    /// exp(mean NLL).
    public var perplexity: Double
    /// Tokens predicted (and scored): the sequence length minus one.
    public var tokenCount: Int
    /// Mean negative log-likelihood per predicted token, in nats.
    public var meanNLL: Double
    /// Forward passes run.
    public var windowCount: Int

    /// Creates a result.
    public init(perplexity: Double, tokenCount: Int, meanNLL: Double, windowCount: Int) {
        self.perplexity = perplexity; self.tokenCount = tokenCount; self.meanNLL = meanNLL
        self.windowCount = windowCount
    }
}

/// Sliding-window perplexity.
///
/// ```math
/// PPL = exp( -(1/N) Σ_{i=1}^{N} log p(x_i | x_{max(0, e-L)..<i}) )
/// ```
/// where each token i is scored in the first window [s, e) with e > i, of length L = `contextLength`.
///
/// ```swift
/// let r = try Perplexity.evaluate(model: model, tokenizer: tok, text: corpus, contextLength: 1024, stride: 512)
/// print(r.perplexity)
/// ```
public enum Perplexity {
    /// Perplexity of a token sequence.
    ///
    /// - Parameters:
    ///   - model: The language model.
    ///   - tokenIDs: The sequence (at least 2 tokens).
    ///   - contextLength: Window length; nil uses the model's ``LanguageModel/maxPositions``.
    ///   - stride: Distance between window starts (1...contextLength); nil uses half the window.
    /// - Returns: Perplexity, predicted-token count and mean NLL.
    /// - Throws: ``GenerationError/sequenceTooShort(tokens:)``,
    ///   ``GenerationError/invalidTokenID(_:vocabularySize:)`` or
    ///   ``GenerationError/invalidOption(name:reason:)`` for a bad window.
    public static func evaluate(model: any LanguageModel, tokenIDs: [Int], contextLength: Int? = nil,
                                stride: Int? = nil) throws -> PerplexityResult {
        let window = contextLength ?? model.maxPositions
        guard window >= 2 && window <= model.maxPositions else {
            throw GenerationError.invalidOption(
                name: "context", reason: "must be in 2...\(model.maxPositions) (the model's context), got \(window)")
        }
        let step = stride ?? max(1, window / 2)
        guard step >= 1 && step <= window else {
            throw GenerationError.invalidOption(name: "stride", reason: "must be in 1...\(window) (the context), got \(step)")
        }
        guard tokenIDs.count >= 2 else { throw GenerationError.sequenceTooShort(tokens: tokenIDs.count) }
        let v = model.vocabularySize
        if let bad = tokenIDs.first(where: { $0 < 0 || $0 >= v }) {
            throw GenerationError.invalidTokenID(bad, vocabularySize: v)
        }
        var totalNLL = 0.0, predicted = 0, windows = 0
        var scoredEnd = 1  // tokens before this index are scored (token 0 never is)
        var begin = 0
        while scoredEnd < tokenIDs.count {
            let end = min(begin + window, tokenIDs.count)
            let ids = Array(tokenIDs[begin..<end])
            let logits = model.logits(Tensor(indices: ids, shape: [1, ids.count]), cache: nil, attentionMask: nil)
            // [1, T, V] log-probabilities; position j predicts token begin + j + 1.
            let logProbabilities = logits.logSoftmax(axis: -1).floats()
            for i in max(scoredEnd, begin + 1)..<end {
                let j = i - begin - 1
                totalNLL -= Double(logProbabilities[j * v + tokenIDs[i]])
                predicted += 1
            }
            windows += 1
            scoredEnd = end
            // NOTE: with stride == contextLength the next window would start at its first unscored
            // token, which has no context inside the window (transformers' recipe skips it); start
            // one earlier so every token is scored exactly once.
            begin = min(begin + step, scoredEnd - 1)
        }
        let mean = totalNLL / Double(predicted)
        return PerplexityResult(perplexity: Foundation.exp(mean), tokenCount: predicted, meanNLL: mean, windowCount: windows)
    }

    /// Perplexity of a text, tokenized with the tokenizer's special-token settings.
    ///
    /// - Parameters: See ``evaluate(model:tokenIDs:contextLength:stride:)``; `text` is the corpus.
    /// - Returns: The result.
    /// - Throws: As ``evaluate(model:tokenIDs:contextLength:stride:)``.
    public static func evaluate(model: any LanguageModel, tokenizer: Tokenizer, text: String,
                                contextLength: Int? = nil, stride: Int? = nil) throws -> PerplexityResult {
        let ids = tokenizer.encode(text, addSpecialTokens: true, applyTruncation: false, applyPadding: false).ids
        return try evaluate(model: model, tokenIDs: ids, contextLength: contextLength, stride: stride)
    }

    /// Perplexity of a UTF-8 text file.
    ///
    /// - Parameters: See ``evaluate(model:tokenizer:text:contextLength:stride:)``; `file` is the corpus.
    /// - Returns: The result.
    /// - Throws: A file-reading error, or as ``evaluate(model:tokenIDs:contextLength:stride:)``.
    public static func evaluate(model: any LanguageModel, tokenizer: Tokenizer, file: URL,
                                contextLength: Int? = nil, stride: Int? = nil) throws -> PerplexityResult {
        let text = try String(contentsOf: file, encoding: .utf8)
        return try evaluate(model: model, tokenizer: tokenizer, text: text, contextLength: contextLength, stride: stride)
    }
}
