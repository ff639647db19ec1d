// Errors thrown by Scion's tokenizers: each names the file or field and what was wrong.
// Loading never traps on bad input: a malformed tokenizer.json, GGUF metadata with missing tokens or
// a component Scion does not implement each surface as one of these cases.

/// A tokenizer file or configuration could not be used.
public enum TokenizerError: Error, Equatable, Sendable {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The JSON was malformed or a field had the wrong type.
    case malformed(field: String, reason: String)
    /// The tokenizer uses a component Scion does not implement.
    ///
    /// `component` is the pipeline stage (`"normalizer"`, `"pre_tokenizer"`, `"model"`,
    /// `"post_processor"`, `"decoder"`, `"tokenizer.ggml.pre"`, ...), `name` its `type` value.
    case unsupported(component: String, name: String)
    /// A trainer was given settings it cannot honour (for example a vocabulary smaller than the
    /// byte alphabet plus the special tokens).
    case invalidTrainingConfiguration(reason: String)
}
