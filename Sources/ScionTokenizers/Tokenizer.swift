// The tokenizer pipeline: added tokens -> normalizer -> pre-tokenizer -> model -> post-processor,
// and ids -> tokens -> decoder on the way back. Mirrors the structure of HF tokenizers'
// tokenizer/mod.rs for single sequences (no pair inputs, no character offsets).
// A Tokenizer is immutable and Sendable; the only shared state is a locked word -> ids cache.

import Foundation

/// The result of encoding one text.
public struct Encoding: Sendable, Equatable {
    /// Token ids, including special tokens and padding when those were applied.
    public var ids: [Int]
    /// The vocabulary string of each id.
    public var tokens: [String]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
    /// Segment ids from the post-processor template (0 for single sequences unless it says otherwise).
    public var typeIDs: [Int]
    /// 1 where the post-processor or padding inserted the token.
    public var specialTokensMask: [Int]
    /// Character offsets of each token. Scion does not track offsets yet, so this is always nil.
    public var offsets: [Range<Int>]?
}

/// Padding settings read from `tokenizer.json` (HF `PaddingParams`).
public struct PaddingSettings: Sendable, Equatable {
    /// Pad every encoding to this length, or (nil) to the longest in the batch.
    public var fixedLength: Int?
    /// Round the padded length up to a multiple of this.
    public var padToMultipleOf: Int?
    /// Pad on the left instead of the right.
    public var padsLeft: Bool
    /// The padding id.
    public var padID: Int
    /// The padding type id.
    public var padTypeID: Int
    /// The padding token string.
    public var padToken: String

    /// Creates padding settings.
    public init(fixedLength: Int?, padToMultipleOf: Int? = nil, padsLeft: Bool = false,
                padID: Int, padTypeID: Int = 0, padToken: String) {
        self.fixedLength = fixedLength
        self.padToMultipleOf = padToMultipleOf
        self.padsLeft = padsLeft
        self.padID = padID
        self.padTypeID = padTypeID
        self.padToken = padToken
    }
}

/// Truncation settings read from `tokenizer.json` (HF `TruncationParams`, single sequences).
public struct TruncationSettings: Sendable, Equatable {
    /// The maximum length including the special tokens the post-processor adds.
    public var maxLength: Int
    /// Drop tokens from the left instead of the right.
    public var truncatesLeft: Bool

    /// Creates truncation settings.
    public init(maxLength: Int, truncatesLeft: Bool = false) {
        self.maxLength = maxLength
        self.truncatesLeft = truncatesLeft
    }
}

/// The subword model at the heart of a tokenizer.
enum TokenizerModel: Sendable {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    case unigram(UnigramModel)
    case sentencePieceBPE(SentencePieceBPEModel, tokens: [String])

    func tokenize(_ word: String, into out: inout [Int]) {
        switch self {
        case let .bpe(m): m.tokenize(word, into: &out)
        case let .wordPiece(m): m.tokenize(word, into: &out)
        case let .unigram(m): m.tokenize(word, into: &out)
        case let .sentencePieceBPE(m, _): m.tokenize(word, into: &out)
        }
    }

    func id(for token: String) -> Int? {
        switch self {
        case let .bpe(m): return m.vocab[token]
        case let .wordPiece(m): return m.vocab[token]
        case let .unigram(m): return m.vocab[token]
        case let .sentencePieceBPE(m, _): return m.vocab[token]
        }
    }

    func token(for id: Int) -> String? {
        switch self {
        case let .bpe(m): return m.idToToken[id]
        case let .wordPiece(m): return m.idToToken[id]
        case let .unigram(m): return m.pieces.indices.contains(id) ? m.pieces[id].0 : nil
        case let .sentencePieceBPE(_, tokens): return tokens.indices.contains(id) ? tokens[id] : nil
        }
    }

    var vocabularySize: Int {
        switch self {
        case let .bpe(m): return m.vocab.count
        case let .wordPiece(m): return m.vocab.count
        case let .unigram(m): return m.pieces.count
        case let .sentencePieceBPE(_, tokens): return tokens.count
        }
    }
}

/// A word -> ids cache shared by all callers of one tokenizer.
final class WordCache: @unchecked Sendable {
    // Invariant: `storage` is only touched while `lock` is held.
    private let lock = NSLock()
    private var storage: [String: [Int]] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func get(_ word: String) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return storage[word]
    }

    func set(_ word: String, _ ids: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if storage.count >= capacity { storage.removeAll(keepingCapacity: true) }
        storage[word] = ids
    }
}

/// A text tokenizer compatible with Hugging Face `tokenizer.json` files and GGUF tokenizer metadata.
///
/// The pipeline runs in HF's order: added/special tokens are split out of the raw text, the rest is
/// normalized, pre-tokenized into words, each word is tokenized by the model (BPE, WordPiece,
/// Unigram, or score-ordered SentencePiece BPE for GGUF `llama` vocabularies), and the
/// post-processor adds special tokens. Truncation and padding from the file are honoured unless the
/// caller turns them off.
///
/// ```swift
/// let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("tokenizer.json"))
/// let encoding = tokenizer.encode("Hello world", addSpecialTokens: true)
/// let text = tokenizer.decode(encoding.ids, skipSpecialTokens: true)
/// ```
public final class Tokenizer: Sendable {
    let addedTokens: [AddedToken]
    let rawMatcher: AddedTokenMatcher
    let normalizedMatcher: AddedTokenMatcher
    let addedByID: [Int: AddedToken]
    let addedByContent: [String: Int]
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenizerModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    let cache = WordCache(capacity: 100_000)
    let sourceJSON: Data?

    /// Padding from the file (all-MiniLM-L6-v2 pads to 128), applied when `encode` is asked to.
    public let padding: PaddingSettings?
    /// Truncation from the file, applied when `encode` is asked to.
    public let truncation: TruncationSettings?

    init(addedTokens: [AddedToken], normalizer: Normalizer?, preTokenizer: PreTokenizer?,
         model: TokenizerModel, postProcessor: PostProcessor?, decoder: Decoder?,
         padding: PaddingSettings?, truncation: TruncationSettings?, sourceJSON: Data?) {
        self.addedTokens = addedTokens
        self.rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized }) { $0.content }
        self.normalizedMatcher = AddedTokenMatcher(addedTokens.filter { $0.normalized }) {
            normalizer?.normalize($0.content) ?? $0.content
        }
        var byID: [Int: AddedToken] = [:]
        var byContent: [String: Int] = [:]
        for t in addedTokens {
            byID[t.id] = t
            byContent[t.content] = t.id
        }
        self.addedByID = byID
        self.addedByContent = byContent
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.padding = padding
        self.truncation = truncation
        self.sourceJSON = sourceJSON
    }

    /// The number of ids: the model vocabulary plus added tokens outside it.
    public var vocabularySize: Int {
        let modelSize = model.vocabularySize
        let extra = addedTokens.filter { model.token(for: $0.id) == nil }.count
        return modelSize + extra
    }

    /// The added tokens (special and user-defined), in file order.
    public var specialAndAddedTokens: [AddedToken] { addedTokens }

    /// The id of a token string, checking added tokens first.
    public func id(forToken token: String) -> Int? { addedByContent[token] ?? model.id(for: token) }

    /// The string of a token id, checking added tokens first.
    public func token(forID id: Int) -> String? { addedByID[id]?.content ?? model.token(for: id) }

    /// Encodes text into token ids.
    ///
    /// - Parameters:
    ///   - text: The input text.
    ///   - addSpecialTokens: Run the post-processor (BOS/CLS/SEP and the like).
    ///   - applyTruncation: Honour the file's truncation settings, if it has any.
    ///   - applyPadding: Honour the file's padding settings, if it has any.
    /// - Returns: Ids, tokens, attention mask, type ids and special-token mask.
    public func encode(_ text: String, addSpecialTokens: Bool = true, applyTruncation: Bool = true,
                       applyPadding: Bool = true) -> Encoding {
        var ids = tokenIDs(text)
        var special = [Bool](repeating: false, count: ids.count)
        var typeIDs = [Int](repeating: 0, count: ids.count)
        if applyTruncation, let t = truncation {
            let room = max(0, t.maxLength - (addSpecialTokens ? (postProcessor?.addedTokenCount ?? 0) : 0))
            if ids.count > room {
                ids = t.truncatesLeft ? Array(ids.suffix(room)) : Array(ids.prefix(room))
                special = Array(special.prefix(room))
                typeIDs = Array(typeIDs.prefix(room))
            }
        }
        if addSpecialTokens, let p = postProcessor {
            p.process(ids: &ids, typeIDs: &typeIDs, special: &special)
        }
        var mask = [Int](repeating: 1, count: ids.count)
        var tokens = ids.map { token(forID: $0) ?? "" }
        var specialMask = special.map { $0 ? 1 : 0 }
        if applyPadding, let p = padding {
            var target = p.fixedLength ?? ids.count
            if let m = p.padToMultipleOf, m > 0, target % m != 0 { target += m - target % m }
            let extra = target - ids.count
            if extra > 0 {
                func pad<T>(_ a: inout [T], _ v: T) {
                    let fill = [T](repeating: v, count: extra)
                    a = p.padsLeft ? fill + a : a + fill
                }
                pad(&ids, p.padID)
                pad(&tokens, p.padToken)
                pad(&mask, 0)
                pad(&typeIDs, p.padTypeID)
                pad(&specialMask, 1)
            }
        }
        return Encoding(ids: ids, tokens: tokens, attentionMask: mask, typeIDs: typeIDs,
                        specialTokensMask: specialMask, offsets: nil)
    }

    /// The model's token ids for `text`, without special tokens, truncation or padding.
    ///
    /// This is the fast path behind `encode`; use it when only ids are needed.
    public func tokenIDs(_ text: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        var isFirst = true
        for (segment, addedID) in rawMatcher.split(text) {
            if let addedID {
                ids.append(addedID)
                isFirst = false
                continue
            }
            let normalized = normalizer?.normalize(segment) ?? segment
            for (sub, subID) in normalizedMatcher.split(normalized) {
                if let subID {
                    ids.append(subID)
                } else {
                    let words = preTokenizer?.preTokenize([sub], isFirstSegment: isFirst) ?? [sub]
                    for w in words { tokenizeWord(w, into: &ids) }
                }
                isFirst = false
            }
        }
        return ids
    }

    @inline(__always)
    private func tokenizeWord(_ word: String, into ids: inout [Int]) {
        let cacheable = word.utf8.count <= 64
        if cacheable, let hit = cache.get(word) {
            ids.append(contentsOf: hit)
            return
        }
        var out: [Int] = []
        model.tokenize(word, into: &out)
        if cacheable { cache.set(word, out) }
        ids.append(contentsOf: out)
    }

    /// Decodes ids back into text.
    ///
    /// Unknown ids are dropped. Without a decoder, tokens are joined with spaces (HF's behaviour).
    /// - Parameters:
    ///   - ids: Token ids.
    ///   - skipSpecialTokens: Drop added tokens marked special (BOS, EOS, padding, ...).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let a = addedByID[id] {
                if skipSpecialTokens && a.special { continue }
                tokens.append(a.content)
            } else if let t = model.token(for: id) {
                tokens.append(t)
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// The `tokenizer.json` this tokenizer was loaded from or trained into, if it has one.
    ///
    /// Tokenizers built from GGUF metadata have no JSON form and return nil.
    public func jsonData() -> Data? { sourceJSON }
}
