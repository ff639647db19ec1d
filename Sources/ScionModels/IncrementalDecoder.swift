// Turns a stream of token ids into a stream of text increments that are always complete Unicode
// scalars. Byte-level tokens (GPT-2, Llama 3) and byte-fallback tokens (SentencePiece) can split one
// character across tokens; decoding such a prefix yields U+FFFD, so the increment waits until the
// character completes. Decodes only a short window (the usual prefix/read-offset scheme of
// streaming detokenizers), seeded with the prompt's last tokens so a leading space that the decoder
// would strip at the start of a text survives.

import Foundation
import ScionTokenizers

/// Streaming detokenizer: push ids, get the newly completed text.
///
/// ```swift
/// var d = IncrementalDecoder(tokenizer: tok, context: Array(prompt.suffix(4)))
/// for id in ids { print(d.push(id), terminator: "") }
/// print(d.flush())
/// ```
public struct IncrementalDecoder {
    /// The tokenizer that decodes.
    public let tokenizer: Tokenizer
    /// Leave special tokens out of the text.
    public let skipSpecialTokens: Bool
    private var ids: [Int]
    private var prefixOffset = 0
    private var readOffset: Int

    /// A decoder whose output continues after `context` (tokens already shown, e.g. the prompt's tail).
    public init(tokenizer: Tokenizer, context: [Int] = [], skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        ids = context
        readOffset = context.count
    }

    /// Adds one token and returns the text it completes ("" while a character is unfinished).
    public mutating func push(_ id: Int) -> String {
        ids.append(id)
        return advance(final: false)
    }

    /// The text still held back (an unfinished character decodes as U+FFFD).
    public mutating func flush() -> String { advance(final: true) }

    private mutating func advance(final: Bool) -> String {
        guard readOffset < ids.count else { return "" }
        let before = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let after = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        if !final && after.unicodeScalars.last == "\u{FFFD}" { return "" }
        let a = Array(after.utf8), b = Array(before.utf8)
        // Normally `before` is a prefix of `after`; otherwise emit past the common prefix.
        var common = 0
        while common < b.count && common < a.count && a[common] == b[common] { common += 1 }
        // Back up to a scalar boundary (never split a multi-byte character).
        while common > 0 && common < a.count && a[common] & 0xC0 == 0x80 { common -= 1 }
        guard final || a.count > common else { return "" }
        prefixOffset = readOffset
        readOffset = ids.count
        return String(decoding: a[common...], as: UTF8.self)
    }
}
