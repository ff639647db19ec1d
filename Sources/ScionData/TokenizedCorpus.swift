// Tokenized documents: the `TokenizedCorpus` protocol that packing reads (the on-disk
// `TokenCache` and the in-memory `InMemoryCorpus` conform), and the tokenization of a
// `TextDocument` into ids with a per-token loss mask. Packing, shuffling and EOS live elsewhere.

import Foundation
import ScionTokenizers

/// One document's token ids and, for supervised fine-tuning, which tokens are loss targets.
public struct TokenizedDocument: Sendable, Equatable {
    /// The token ids.
    public var ids: [Int]
    /// `true` where the token is a target of the loss; `nil` means all are.
    public var lossMask: [Bool]?

    /// Creates a document.
    public init(ids: [Int], lossMask: [Bool]? = nil) {
        precondition(lossMask == nil || lossMask?.count == ids.count, "lossMask length must match ids")
        self.ids = ids
        self.lossMask = lossMask
    }

    /// Whether token `i` is a loss target.
    public func isSupervised(_ i: Int) -> Bool { lossMask?[i] ?? true }
}

/// A random-access collection of tokenized documents.
public protocol TokenizedCorpus: Sendable {
    /// The number of documents.
    var documentCount: Int { get }
    /// The length of document `index` in tokens.
    func documentLength(_ index: Int) -> Int
    /// Document `index`.
    func document(_ index: Int) -> TokenizedDocument
    /// Tokens `range` of document `index` (offsets within the document).
    func document(_ index: Int, range: Range<Int>) -> TokenizedDocument
}

extension TokenizedCorpus {
    /// The total number of tokens over all documents.
    public var tokenCount: Int { (0..<documentCount).reduce(0) { $0 + documentLength($1) } }

    /// Slices ``document(_:)``; conformers with cheaper range reads override it.
    public func document(_ index: Int, range: Range<Int>) -> TokenizedDocument {
        let d = document(index)
        return TokenizedDocument(ids: Array(d.ids[range]), lossMask: d.lossMask.map { Array($0[range]) })
    }
}

/// Tokenized documents held in memory (tests, the synthetic corpus, small runs).
public struct InMemoryCorpus: TokenizedCorpus {
    /// The documents.
    public var documents: [TokenizedDocument]

    /// Creates a corpus from documents.
    public init(documents: [TokenizedDocument]) { self.documents = documents }

    /// Tokenizes text documents.
    ///
    /// - Parameters:
    ///   - documents: The documents.
    ///   - tokenizer: The tokenizer (`tokenIDs`, so no special tokens are added).
    public init(documents: [TextDocument], tokenizer: Tokenizer) {
        self.documents = documents.map { DocumentTokenizer.tokenize($0, with: tokenizer) }.filter { !$0.ids.isEmpty }
    }

    public var documentCount: Int { documents.count }
    public func documentLength(_ index: Int) -> Int { documents[index].ids.count }
    public func document(_ index: Int) -> TokenizedDocument { documents[index] }
}

/// Turns ``TextDocument``s into ids and masks.
public enum DocumentTokenizer {
    /// Tokenizes each segment with `tokenizer.tokenIDs` and concatenates them.
    ///
    /// Segments are tokenized separately so that the mask follows segment edges exactly; the
    /// loss mask is `nil` when every segment is supervised.
    public static func tokenize(_ document: TextDocument, with tokenizer: Tokenizer) -> TokenizedDocument {
        var ids: [Int] = []
        var mask: [Bool] = []
        for s in document.segments {
            let piece = tokenizer.tokenIDs(s.text)
            ids.append(contentsOf: piece)
            mask.append(contentsOf: repeatElement(s.supervised, count: piece.count))
        }
        return TokenizedDocument(ids: ids, lossMask: mask.allSatisfy { $0 } ? nil : mask)
    }

    /// A fingerprint of the tokenizer: its `tokenizer.json` when it has one, else its vocabulary.
    public static func fingerprint(of tokenizer: Tokenizer) -> String {
        var h = StableHash()
        if let json = tokenizer.jsonData() {
            h.update(json)
        } else {
            for id in 0..<tokenizer.vocabularySize { h.update("\(id)\u{1}\(tokenizer.token(forID: id) ?? "")\u{2}") }
        }
        for t in tokenizer.specialAndAddedTokens { h.update("\(t.id)\u{1}\(t.content)\u{1}\(t.special)") }
        return h.finalize()
    }
}
