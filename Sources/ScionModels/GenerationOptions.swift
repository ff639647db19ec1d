// The settings and the outcome of one generation call: how many tokens, when to stop, how to
// sample, what to do with a prompt that does not fit; and per prompt the text, ids and why it ended.

import Foundation

/// Settings of ``Generator``.
///
/// ```swift
/// var options = GenerationOptions(maxNewTokens: 64, sampling: .greedy)
/// options.stopStrings = ["\n\n"]
/// ```
public struct GenerationOptions: Sendable, Equatable {
    /// The most tokens to generate per prompt (≥ 1).
    public var maxNewTokens: Int
    /// How each token is chosen. Every row of a batch gets its own sampler seeded with `sampling.seed`,
    /// so a batched prompt draws the same tokens as the same prompt alone.
    public var sampling: SamplingOptions
    /// Token ids that end a row (EOS, end-of-turn). The id is kept in the row's token ids; its text is not.
    public var stopTokenIDs: Set<Int>
    /// Strings that end a row when they appear in the generated text; the text is cut before them.
    public var stopStrings: [String]
    /// Add the tokenizer's special tokens (BOS and the like) when encoding text prompts. Turn it off
    /// for chat-template output, which already contains them.
    public var addSpecialTokens: Bool
    /// Leave special tokens out of the returned and streamed text.
    public var skipSpecialTokens: Bool
    /// When a prompt does not fit, keep its last tokens (leaving room for `maxNewTokens` where the
    /// context allows) instead of throwing ``GenerationError/promptTooLong(tokens:limit:)``.
    public var truncatesPromptFromLeft: Bool
    /// Reuse keys and values through a ``KVCache`` (normal); false recomputes the whole sequence each
    /// step (for tests and debugging).
    public var usesCache: Bool
    /// The id written into left padding of a batch (masked out, so any valid id works).
    public var paddingTokenID: Int

    /// Creates generation settings.
    public init(maxNewTokens: Int = 128, sampling: SamplingOptions = SamplingOptions(),
                stopTokenIDs: Set<Int> = [], stopStrings: [String] = [], addSpecialTokens: Bool = true,
                skipSpecialTokens: Bool = true, truncatesPromptFromLeft: Bool = false, usesCache: Bool = true,
                paddingTokenID: Int = 0) {
        self.maxNewTokens = maxNewTokens; self.sampling = sampling; self.stopTokenIDs = stopTokenIDs
        self.stopStrings = stopStrings; self.addSpecialTokens = addSpecialTokens
        self.skipSpecialTokens = skipSpecialTokens; self.truncatesPromptFromLeft = truncatesPromptFromLeft
        self.usesCache = usesCache; self.paddingTokenID = paddingTokenID
    }

    /// Checks every value's range.
    ///
    /// - Throws: ``GenerationError/invalidOption(name:reason:)`` naming the first bad option.
    public func validate() throws {
        guard maxNewTokens >= 1 else {
            throw GenerationError.invalidOption(name: "max-tokens", reason: "must be ≥ 1, got \(maxNewTokens)")
        }
        if stopStrings.contains("") {
            throw GenerationError.invalidOption(name: "stop", reason: "a stop string must not be empty")
        }
        try sampling.validate()
    }
}

/// Why a row stopped generating.
public enum FinishReason: String, Sendable, Codable, Equatable {
    /// A token of ``GenerationOptions/stopTokenIDs`` was generated.
    case stopToken = "stop_token"
    /// A string of ``GenerationOptions/stopStrings`` appeared in the text.
    case stopString = "stop_string"
    /// ``GenerationOptions/maxNewTokens`` tokens were generated.
    case length
    /// The model's context (``LanguageModel/maxPositions``) is full.
    case contextFull = "context_full"
}

/// The outcome for one prompt.
public struct GenerationResult: Sendable, Equatable, Codable {
    /// The generated text, without the prompt, special tokens (unless asked for) or the stop string.
    public var text: String
    /// Every generated token id, including a final stop token (as transformers returns it).
    public var tokenIDs: [Int]
    /// Why generation ended.
    public var finishReason: FinishReason
    /// Prompt tokens fed to the model (after any truncation).
    public var promptTokenCount: Int

    /// Creates a result.
    public init(text: String, tokenIDs: [Int], finishReason: FinishReason, promptTokenCount: Int) {
        self.text = text; self.tokenIDs = tokenIDs; self.finishReason = finishReason
        self.promptTokenCount = promptTokenCount
    }
}
