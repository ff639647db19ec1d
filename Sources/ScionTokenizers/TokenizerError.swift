// Errors thrown by Scion's tokenizers: each names the file or field and what was wrong.

/// A tokenizer file or configuration could not be used.
public enum TokenizerError: Error, Equatable, Sendable {
    /// The file could not be read.
    case unreadable(path: String, reason: String)
    /// The JSON was malformed or a field had the wrong type.
    case malformed(field: String, reason: String)
    /// The tokenizer uses a component Scion does not implement.
    case unsupported(component: String, name: String)
}
