// The errors of ScionData: each case names the file (and line, where there is one) at fault.
// Not a place for tokenizer or template errors; those are wrapped with the file and line added.

import Foundation

/// An error while reading, tokenizing, caching or loading training data.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file or folder could not be read.
    case unreadable(path: String, reason: String)
    /// A file's bytes are not valid UTF-8; `line` is 1-based.
    case invalidUTF8(path: String, line: Int)
    /// A JSONL line is not valid JSON, or lacks a required field; `line` is 1-based.
    case invalidJSON(path: String, line: Int, reason: String)
    /// A chat conversation could not be rendered with the chat template.
    case chatTemplate(path: String, line: Int, reason: String)
    /// A token id does not fit the cache's element type, or the tokenizer lacks a needed token.
    case tokenizer(reason: String)
    /// The cache on disk is damaged or inconsistent.
    case corruptCache(path: String, reason: String)
    /// A setting is out of range (sequence length, batch size, weights, split fraction).
    case invalidConfiguration(reason: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .invalidUTF8(let path, let line): return "\(path):\(line): invalid UTF-8"
        case .invalidJSON(let path, let line, let reason): return "\(path):\(line): bad JSON: \(reason)"
        case .chatTemplate(let path, let line, let reason):
            return "\(path):\(line): chat template failed: \(reason)"
        case .tokenizer(let reason): return "tokenizer: \(reason)"
        case .corruptCache(let path, let reason): return "\(path): corrupt cache: \(reason)"
        case .invalidConfiguration(let reason): return "invalid configuration: \(reason)"
        }
    }
}
