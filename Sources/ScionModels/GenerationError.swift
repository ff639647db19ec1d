// Typed errors of generation, sampling and evaluation: bad options, prompts that do not fit the
// model's context, sequences too short to score. Thrown before any model work starts.

import Foundation

/// Errors from ``Generator``, ``SamplingOptions`` and ``Perplexity``.
public enum GenerationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The prompt has more tokens than the model's context (`limit`), and truncation was not asked for.
    case promptTooLong(tokens: Int, limit: Int)
    /// The prompt encodes to no tokens at all, so there is nothing to condition on.
    case emptyPrompt
    /// An option is outside its valid range; `name` is the option, `reason` says what is allowed.
    case invalidOption(name: String, reason: String)
    /// A token id outside the model's vocabulary.
    case invalidTokenID(Int, vocabularySize: Int)
    /// Too few tokens to score: perplexity needs at least two.
    case sequenceTooShort(tokens: Int)

    /// A one-line explanation naming the offending value.
    public var description: String {
        switch self {
        case .promptTooLong(let tokens, let limit):
            return "the prompt has \(tokens) tokens but the model's context holds \(limit)"
        case .emptyPrompt: return "the prompt is empty (it encodes to no tokens)"
        case .invalidOption(let name, let reason): return "invalid \(name): \(reason)"
        case .invalidTokenID(let id, let v): return "token id \(id) is outside the vocabulary (size \(v))"
        case .sequenceTooShort(let tokens): return "perplexity needs at least 2 tokens, got \(tokens)"
        }
    }
}
