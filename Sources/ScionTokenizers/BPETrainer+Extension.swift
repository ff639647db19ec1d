// Vocabulary growth for a trained BPE tokenizer: learn extra merges on new-language text on top of
// an existing tokenizer.json and append the new tokens after the old ids, so every old id and every
// old merge (with its rank) stays as it was. Same algorithm and tie-break as `BPETrainer.train`
// (Sennrich et al. 2016, arXiv:1508.07909), started from the old tokenizer's own segmentation of
// each word, as the tokenizer-extension step of the CW2V study's setup (TECHNIQUES.md row 10, §3.2).
//
// Why old text keeps its ids "where merges allow": BPE applies the lowest-ranked applicable merge
// first, and every new merge ranks after every old one, so a word is first merged exactly as the old
// tokenizer merges it; only then can new merges fire. A merge whose result is already a token (old,
// added, or produced by an earlier new merge) is never learned, so every new merge makes a fresh id
// no old merge mentions, and nothing old can fire after it. Hence, for a base without
// `ignore_merges`, expanding each new id into its `pieces` turns the new encoding of any text into
// exactly the old encoding; text where no new pair occurs is encoded identically.

import Foundation

/// A BPE tokenizer grown by merges learned on new text (see ``BPETrainer/extending(_:on:addingTokens:firstID:)``).
public struct BPEExtension: Sendable {
    /// The grown `tokenizer.json` (old vocabulary and merges unchanged, new entries appended; keys sorted).
    public var tokenizerJSON: Data
    /// The id of the first new token; new token `i` has id `firstNewID + i`.
    public var firstNewID: Int
    /// The new tokens' vocabulary strings (in the base's spelling, e.g. byte-level "Ġund"), in id order.
    public var newTokens: [String]
    /// The appended merges, in rank order (merge `i` creates `newTokens[i]`).
    public var newMerges: [[String]]
    /// Each new token spelled in old ids: the old tokenizer's pieces that the new merges join.
    public var pieces: [[Int]]

    /// The grown tokenizer.
    ///
    /// - Throws: `TokenizerError` if the JSON does not load (it always does when produced by the trainer).
    public func tokenizer() throws -> Tokenizer { try Tokenizer(jsonData: tokenizerJSON) }
}

extension BPETrainer {
    /// Learns up to `k` merges on `texts` on top of the BPE tokenizer `base` and appends their tokens.
    ///
    /// Words are cut by the base's own added tokens, normalizer and pre-tokenizer, and start from the
    /// base's segmentation. Merges are learned as in ``train(on:)`` (most frequent pair, ties to the
    /// smallest ids; pairs seen fewer than ``minimumFrequency`` times are never merged), skipping any
    /// pair whose result is already a token and any pair with an unknown or byte-fallback token. This
    /// trainer's `vocabularySize`, `specialTokens` and `preTokenization` are not used.
    ///
    /// - Parameters:
    ///   - base: The old `tokenizer.json` (a BPE model without subword prefix or word suffix).
    ///   - texts: New-language text.
    ///   - k: How many tokens to add (fewer when the text runs out of frequent pairs).
    ///   - firstID: The first new id (default: one past the base's largest id). A model whose
    ///     embedding has more rows than the tokenizer has ids passes its `vocab_size` here.
    /// - Returns: The grown tokenizer and the new tokens with their old pieces.
    /// - Throws: `TokenizerError.invalidTrainingConfiguration` for `k < 1`, a `firstID` below the
    ///   base's ids, or text with no pair to merge; `.unsupported` for a non-BPE base or one with a
    ///   subword prefix/suffix; `.malformed` for an unreadable base.
    public func extending(_ base: Data, on texts: [String], addingTokens k: Int, firstID: Int? = nil) throws -> BPEExtension {
        guard k >= 1 else {
            throw TokenizerError.invalidTrainingConfiguration(reason: "addingTokens must be at least 1, got \(k)")
        }
        let old = try Tokenizer(jsonData: base)
        guard case let .bpe(model) = old.model else {
            throw TokenizerError.unsupported(component: "model", name: "\(old.modelKind) (merges can only extend a BPE model)")
        }
        guard model.continuingSubwordPrefix == nil, model.endOfWordSuffix == nil else {
            throw TokenizerError.unsupported(component: "model",
                                             name: "BPE with continuing_subword_prefix or end_of_word_suffix (merges extension)")
        }
        let oldCount = max(model.vocab.values.max() ?? -1, old.addedTokens.map(\.id).max() ?? -1) + 1
        let start = firstID ?? oldCount
        guard start >= oldCount else {
            throw TokenizerError.invalidTrainingConfiguration(
                reason: "firstID \(start) is below the base's \(oldCount) ids (old ids must not move)")
        }

        // Words of the new text, each split as the old tokenizer splits it.
        var wordCounts: [String: Int] = [:]
        for text in texts {
            for w in old.preTokenizedWords(text) { wordCounts[w, default: 0] += 1 }
        }
        let sortedWords = wordCounts.keys.sorted()
        let words: [[Int]] = sortedWords.map { w in
            var ids: [Int] = []
            model.tokenize(w, into: &ids)
            return ids
        }
        var stats = BPEPairStatistics(words: words, counts: sortedWords.map { wordCounts[$0]! })
        var excluded = Set(model.byteTokenIDs ?? [])
        if let u = model.unknownID { excluded.insert(u) }

        var newTokens: [String] = [], newMerges: [[String]] = [], pieces: [[Int]] = []
        var newIndex: [String: Int] = [:]
        func string(_ id: Int) -> String { id >= start ? newTokens[id - start] : model.idToToken[id] ?? "" }
        func spelled(_ id: Int) -> [Int] { id >= start ? pieces[id - start] : [id] }
        while newTokens.count < k {
            guard let (key, count) = stats.best(), count >= max(1, minimumFrequency) else { break }
            let a = Int(key >> 32), b = Int(key & 0xFFFF_FFFF)
            let merged = string(a) + string(b)
            if excluded.contains(a) || excluded.contains(b) || model.vocab[merged] != nil
                || old.addedByContent[merged] != nil || newIndex[merged] != nil {
                stats.discard(key)
                continue
            }
            let id = start + newTokens.count
            newIndex[merged] = id
            newTokens.append(merged)
            newMerges.append([string(a), string(b)])
            pieces.append(spelled(a) + spelled(b))
            stats.merge(key, into: id)
        }
        guard !newTokens.isEmpty else {
            throw TokenizerError.invalidTrainingConfiguration(
                reason: "no new pair occurs at least \(max(1, minimumFrequency)) times in the \(texts.count) texts")
        }

        // The old file with the new vocabulary entries and merges appended; everything else as it was.
        guard var root = try JSONSerialization.jsonObject(with: base) as? [String: Any],
              var modelJSON = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(field: "model", reason: "expected an object")
        }
        var vocab = modelJSON["vocab"] as? [String: Any] ?? [:]
        for (i, t) in newTokens.enumerated() { vocab[t] = start + i }
        let oldMerges = modelJSON["merges"] as? [Any] ?? []
        // Keep the base's merge spelling ("a b" strings or [a, b] pairs); pairs whenever a token holds a space.
        let asStrings = oldMerges.first is String && !newMerges.joined().contains { $0.contains(" ") }
        var merges: [Any] = asStrings || oldMerges.isEmpty ? oldMerges : oldMerges.map { m -> Any in
            guard let s = m as? String else { return m }
            let p = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            return p.map(String.init)
        }
        merges += newMerges.map { asStrings ? $0.joined(separator: " ") as Any : $0 as Any }
        modelJSON["vocab"] = vocab
        modelJSON["merges"] = merges
        root["model"] = modelJSON
        let data = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
        _ = try Tokenizer(jsonData: data)
        return BPEExtension(tokenizerJSON: data, firstNewID: start, newTokens: newTokens, newMerges: newMerges, pieces: pieces)
    }
}

extension Tokenizer {
    /// The pre-tokenized words of `text` outside added tokens, exactly as `tokenIDs` hands them to the model.
    func preTokenizedWords(_ text: String) -> [String] {
        var words: [String] = []
        var isFirst = true
        for (segment, addedID) in rawMatcher.split(text) {
            if addedID != nil {
                isFirst = false
                continue
            }
            let normalized = normalizer?.normalize(segment) ?? segment
            for (sub, subID) in normalizedMatcher.split(normalized) {
                if subID == nil {
                    words += preTokenizer?.preTokenize([sub], isFirstSegment: isFirst) ?? [sub]
                }
                isFirst = false
            }
        }
        return words
    }

    /// The model type, for error messages.
    var modelKind: String {
        switch model {
        case .bpe: return "BPE"
        case .wordPiece: return "WordPiece"
        case .unigram: return "Unigram"
        case .sentencePieceBPE: return "SentencePiece BPE (GGUF)"
        }
    }
}
