// Autoregressive text generation over any `LanguageModel`: tokenize, prefill the prompt into a
// `KVCache`, then decode one token per step with a `Sampler` until a stop token, a stop string,
// the token budget or the context ends it. A batch of prompts is left-padded with an attention
// mask (as transformers pads decoder-only batches) and each row stops on its own; the step loop
// runs until every row is done. Text is streamed in complete characters through `IncrementalDecoder`,
// holding back any tail that could still grow into a stop string, so streamed text always equals
// the final text. Not a server or a scheduler: one call, one batch.

import Foundation
import ScionNN
import ScionTensor
import ScionTokenizers

/// Generates text with a language model and its tokenizer.
///
/// ```swift
/// let generator = Generator(model: model, tokenizer: tokenizer)
/// let result = try generator.generate(prompt: "Once upon a time",
///                                     options: GenerationOptions(maxNewTokens: 32, sampling: .greedy)) {
///     print($0, terminator: "")
/// }
/// print(result.finishReason)
/// ```
public final class Generator {
    /// The model.
    public let model: any LanguageModel
    /// The tokenizer that encodes prompts and decodes output.
    public let tokenizer: Tokenizer

    /// A generator for `model` with `tokenizer`.
    public init(model: any LanguageModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates a continuation of one text prompt.
    ///
    /// - Parameters:
    ///   - prompt: The prompt text (encoded with the tokenizer's special tokens when
    ///     ``GenerationOptions/addSpecialTokens`` is set).
    ///   - options: Budget, sampling and stopping settings.
    ///   - onText: Called with each new piece of text, in complete characters.
    /// - Returns: The generated text, ids and finish reason.
    /// - Throws: ``GenerationError`` for an empty or too long prompt or invalid options.
    @discardableResult
    public func generate(prompt: String, options: GenerationOptions = GenerationOptions(),
                         onText: ((String) -> Void)? = nil) throws -> GenerationResult {
        let results = try generate(prompts: [prompt], options: options, onText: onText.map { f in { _, s in f(s) } })
        return results[0]
    }

    /// Generates continuations of a batch of text prompts, returned in input order.
    ///
    /// - Parameters:
    ///   - prompts: The prompts.
    ///   - options: Settings shared by every row.
    ///   - onText: Called with (row, new text) as text completes.
    /// - Returns: One result per prompt.
    /// - Throws: ``GenerationError``.
    public func generate(prompts: [String], options: GenerationOptions = GenerationOptions(),
                         onText: ((Int, String) -> Void)? = nil) throws -> [GenerationResult] {
        let ids = prompts.map {
            tokenizer.encode($0, addSpecialTokens: options.addSpecialTokens, applyTruncation: false,
                             applyPadding: false).ids
        }
        return try generate(promptTokenIDs: ids, options: options, onText: onText)
    }

    /// Generates continuations of a batch of tokenized prompts.
    ///
    /// Rows are left-padded to the longest prompt; the model receives an attention mask
    /// [B, cached + T] (1 = token, 0 = padding) whenever the lengths differ.
    ///
    /// - Parameters:
    ///   - promptTokenIDs: One id list per prompt.
    ///   - options: Settings shared by every row.
    ///   - onText: Called with (row, new text) as text completes.
    /// - Returns: One result per prompt.
    /// - Throws: ``GenerationError/emptyPrompt``, ``GenerationError/promptTooLong(tokens:limit:)``,
    ///   ``GenerationError/invalidTokenID(_:vocabularySize:)`` or
    ///   ``GenerationError/invalidOption(name:reason:)``.
    public func generate(promptTokenIDs: [[Int]], options: GenerationOptions = GenerationOptions(),
                         onText: ((Int, String) -> Void)? = nil) throws -> [GenerationResult] {
        try options.validate()
        guard !promptTokenIDs.isEmpty, promptTokenIDs.allSatisfy({ !$0.isEmpty }) else {
            throw GenerationError.emptyPrompt
        }
        let vocabulary = model.vocabularySize, limit = model.maxPositions
        for ids in promptTokenIDs {
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw GenerationError.invalidTokenID(bad, vocabularySize: vocabulary)
            }
        }
        guard options.paddingTokenID >= 0 && options.paddingTokenID < vocabulary else {
            throw GenerationError.invalidTokenID(options.paddingTokenID, vocabularySize: vocabulary)
        }
        let prompts = try promptTokenIDs.map { ids -> [Int] in
            guard ids.count > limit else { return ids }
            guard options.truncatesPromptFromLeft else {
                throw GenerationError.promptTooLong(tokens: ids.count, limit: limit)
            }
            return Array(ids.suffix(max(1, limit - options.maxNewTokens)))
        }

        let b = prompts.count
        let longest = prompts.map(\.count).max() ?? 0
        let padded = prompts.map { [Int](repeating: options.paddingTokenID, count: longest - $0.count) + $0 }
        var mask = prompts.map { [Int](repeating: 0, count: longest - $0.count) + [Int](repeating: 1, count: $0.count) }
        let needsMask = prompts.contains { $0.count != longest }
        let cache = options.usesCache
            ? model.makeCache(batchSize: b, capacity: min(limit, longest + options.maxNewTokens)) : nil

        var rows = prompts.map { RowState(tokenizer: tokenizer, prompt: $0, options: options) }
        var sequence = padded            // every id fed so far, per row (for the no-cache path)
        var input = padded               // ids to feed this step
        // Greedy without a repetition penalty is a plain argmax over the float logits (lowest id on ties, as Sampler).
        let greedyArgmax = options.sampling.isGreedy && options.sampling.repetitionPenalty == 1
        while true {
            let ids: Tensor, fed: [[Int]]
            if cache != nil { fed = input } else { fed = sequence }
            ids = Tensor(indices: fed.flatMap { $0 }, shape: [b, fed[0].count])
            let maskTensor = needsMask ? Tensor(indices: mask.flatMap { $0 }, shape: [b, mask[0].count]) : nil
            // NOTE: inference records no autograd tape (the parameters are trainable leaves).
            let logits = withoutGradients { model.nextTokenLogits(ids, cache: cache, attentionMask: maskTensor) }   // [B, V]
            precondition(logits.shape == [b, vocabulary],
                         "Generator: model returned next-token logits \(logits.shape) for ids [\(b), \(fed[0].count)]")
            let last = logits.floats()
            var next = [Int](repeating: options.paddingTokenID, count: b)
            for r in 0..<b where rows[r].finishReason == nil {
                let token = greedyArgmax ? last.withUnsafeBufferPointer { argmax($0, from: r * vocabulary, count: vocabulary) }
                    : rows[r].sampler.sample(logits: Array(last[(r * vocabulary)..<((r + 1) * vocabulary)]),
                                             history: rows[r].history)
                next[r] = token
                if let piece = rows[r].accept(token, options: options), !piece.isEmpty { onText?(r, piece) }
            }
            if rows.allSatisfy({ $0.finishReason != nil }) { break }
            if sequence[0].count >= limit {
                // NOTE: no position left to feed the sampled token: the context is full.
                for r in 0..<b where rows[r].finishReason == nil {
                    if let piece = rows[r].finish(.contextFull), !piece.isEmpty { onText?(r, piece) }
                }
                break
            }
            for r in 0..<b {
                sequence[r].append(next[r])
                mask[r].append(1)
            }
            input = next.map { [$0] }
        }
        return rows.map {
            GenerationResult(text: String(decoding: $0.text, as: UTF8.self), tokenIDs: $0.generated,
                             finishReason: $0.finishReason ?? .length, promptTokenCount: $0.promptCount)
        }
    }
}

/// The index of the largest of `count` values starting at `start`, relative to `start` (the first on ties).
private func argmax(_ values: UnsafeBufferPointer<Float>, from start: Int, count: Int) -> Int {
    var best = 0, bestValue = values[start]
    for i in 1..<count where values[start + i] > bestValue { best = i; bestValue = values[start + i] }
    return best
}

/// One row's progress: sampler, generated ids, text so far and how much of it was streamed.
private struct RowState {
    var sampler: Sampler
    var decoder: IncrementalDecoder
    var history: [Int]
    var generated: [Int] = []
    /// Complete UTF-8 text so far (cut at a stop string once one is found).
    var text: [UInt8] = []
    /// Bytes of `text` already streamed.
    var emitted = 0
    var finishReason: FinishReason?
    let promptCount: Int
    let maxNewTokens: Int
    let stops: [[UInt8]]

    init(tokenizer: Tokenizer, prompt: [Int], options: GenerationOptions) {
        sampler = Sampler(options: options.sampling)
        decoder = IncrementalDecoder(tokenizer: tokenizer, context: Array(prompt.suffix(4)),
                                     skipSpecialTokens: options.skipSpecialTokens)
        history = prompt
        promptCount = prompt.count
        maxNewTokens = options.maxNewTokens
        stops = options.stopStrings.map { Array($0.utf8) }
    }

    /// Records a sampled token; returns the text that may now be streamed.
    mutating func accept(_ token: Int, options: GenerationOptions) -> String? {
        generated.append(token)
        history.append(token)
        if options.stopTokenIDs.contains(token) { return finish(.stopToken) }
        let piece = decoder.push(token)
        if let cut = append(piece) { return release(upTo: cut, reason: .stopString) }
        if generated.count >= maxNewTokens { return finish(.length) }
        return release(upTo: text.count - heldBack(), reason: nil)
    }

    /// Ends the row: flushes the decoder and streams everything left.
    mutating func finish(_ reason: FinishReason) -> String? {
        let rest = decoder.flush()
        if let cut = append(rest) { return release(upTo: cut, reason: .stopString) }
        return release(upTo: text.count, reason: reason)
    }

    /// Appends text; when a stop string now occurs, returns where it starts.
    private mutating func append(_ piece: String) -> Int? {
        guard !piece.isEmpty else { return nil }
        let old = text.count
        text.append(contentsOf: piece.utf8)
        var best: Int?
        for s in stops {
            // Only windows that include new bytes can hold a new match.
            var i = max(0, old - s.count + 1)
            while i + s.count <= text.count {
                if text[i] == s[0] && text[i..<(i + s.count)].elementsEqual(s) {
                    best = min(best ?? i, i)
                    break
                }
                i += 1
            }
        }
        return best
    }

    /// Bytes at the end of `text` that could be the start of a stop string (not streamed yet).
    private func heldBack() -> Int {
        var held = 0
        for s in stops {
            for k in stride(from: min(s.count - 1, text.count), to: held, by: -1)
            where text[(text.count - k)...].elementsEqual(s[0..<k]) {
                held = k
                break
            }
        }
        return held
    }

    /// Streams text up to byte `end`; with a reason, the row ends and the text is cut at `end`.
    private mutating func release(upTo end: Int, reason: FinishReason?) -> String? {
        if let reason {
            finishReason = reason
            if end < text.count { text.removeSubrange(end...) }
        }
        guard end > emitted else { return nil }
        let piece = String(decoding: text[emitted..<end], as: UTF8.self)
        emitted = end
        return piece
    }
}
