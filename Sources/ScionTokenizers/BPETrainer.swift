// A byte-level BPE trainer: learn merges from a text corpus and emit a HF-compatible tokenizer.json.
// Follows the classic algorithm of Sennrich et al. 2016 (arXiv:1508.07909) on GPT-2's byte alphabet,
// as HF tokenizers' BpeTrainer does, but with its own deterministic tie-break (most frequent pair,
// then the pair of smallest ids) rather than HF's, so merges can differ from HF on ties.
// The result round-trips through `Tokenizer(jsonData:)`, and `jsonData()` returns the file.

import Foundation

/// Trains a byte-level BPE tokenizer on text.
///
/// ```swift
/// var trainer = BPETrainer(vocabularySize: 1000, specialTokens: ["<|endoftext|>"])
/// let tokenizer = try trainer.train(on: lines)
/// try tokenizer.jsonData()?.write(to: url)
/// ```
public struct BPETrainer: Sendable {
    /// How the corpus is cut into words before merges are learned.
    public enum PreTokenization: String, Sendable, CaseIterable {
        /// GPT-2's regex, byte-level.
        case gpt2
        /// Llama 3's regex (digits in groups of up to three), byte-level.
        case llama3
        /// Qwen2's regex (single digits), byte-level.
        case qwen2
        /// Digits one by one, then GPT-2's regex (SmolLM).
        case smollm
    }

    /// The target vocabulary size, including the 256 byte tokens and the special tokens.
    public var vocabularySize: Int
    /// Pairs seen fewer times than this are never merged.
    public var minimumFrequency: Int
    /// Special tokens, given the first ids and never split or merged.
    public var specialTokens: [String]
    /// The pre-tokenizer used for training and written into the tokenizer.
    public var preTokenization: PreTokenization

    /// Creates a trainer.
    public init(vocabularySize: Int, minimumFrequency: Int = 2, specialTokens: [String] = [],
                preTokenization: PreTokenization = .gpt2) {
        self.vocabularySize = vocabularySize
        self.minimumFrequency = minimumFrequency
        self.specialTokens = specialTokens
        self.preTokenization = preTokenization
    }

    var preTokenizerJSON: [String: Any] {
        let byteLevel: (Bool) -> [String: Any] = {
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": $0]
        }
        func split(_ pattern: String) -> [String: Any] {
            ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false],
                byteLevel(false)]]
        }
        switch preTokenization {
        case .gpt2: return byteLevel(true)
        case .llama3: return split(SplitScanner.llama3Pattern)
        case .qwen2: return split(SplitScanner.qwen2Pattern)
        case .smollm:
            return ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true], byteLevel(true)]]
        }
    }

    /// Learns merges from `texts` and returns the trained tokenizer.
    ///
    /// - Throws: `TokenizerError.invalidTrainingConfiguration` if the vocabulary cannot hold the
    ///   byte alphabet and the special tokens.
    public func train(on texts: [String]) throws -> Tokenizer {
        try Tokenizer(jsonData: try trainedJSON(on: texts))
    }

    /// Learns merges and returns the `tokenizer.json` bytes (keys sorted, so output is stable).
    public func trainedJSON(on texts: [String]) throws -> Data {
        let alphabet = ByteLevel.byteToScalar.map { String($0) }
        guard vocabularySize >= alphabet.count + specialTokens.count else {
            throw TokenizerError.invalidTrainingConfiguration(
                reason: "vocabularySize \(vocabularySize) is below 256 bytes + \(specialTokens.count) special tokens")
        }
        let preJSON = try JSONObject(preTokenizerJSON, path: "pre_tokenizer")
        let pre = try Tokenizer.parsePreTokenizer(preJSON)
        let matcher = AddedTokenMatcher(
            specialTokens.enumerated().map { AddedToken(id: $0, content: $1, special: true) }) { $0.content }

        // Count words.
        var wordCounts: [String: Int] = [:]
        for text in texts {
            for (segment, id) in matcher.split(text) where id == nil {
                for w in pre.preTokenize([segment], isFirstSegment: true) { wordCounts[w, default: 0] += 1 }
            }
        }
        var vocab: [String] = specialTokens
        var index: [String: Int] = [:]
        for t in specialTokens where index[t] == nil { index[t] = index.count }
        vocab = Array(index.keys.sorted { index[$0]! < index[$1]! })
        for a in alphabet where index[a] == nil {
            index[a] = vocab.count
            vocab.append(a)
        }
        let sortedWords = wordCounts.keys.sorted()
        let words: [[Int]] = sortedWords.map { w in w.unicodeScalars.map { index[String($0)]! } }
        let counts: [Int] = sortedWords.map { wordCounts[$0]! }

        var stats = BPEPairStatistics(words: words, counts: counts)
        var merges: [[String]] = []
        while vocab.count < vocabularySize {
            guard let (bestKey, bestCount) = stats.best(), bestCount >= max(1, minimumFrequency) else { break }
            let a = Int(bestKey >> 32), b = Int(bestKey & 0xFFFF_FFFF)
            let merged = vocab[a] + vocab[b]
            let newID: Int
            if let existing = index[merged] {
                newID = existing
            } else {
                newID = vocab.count
                index[merged] = newID
                vocab.append(merged)
            }
            merges.append([vocab[a], vocab[b]])
            stats.merge(bestKey, into: newID)
        }

        var vocabJSON: [String: Int] = [:]
        for (i, t) in vocab.enumerated() { vocabJSON[t] = i }
        let root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
            "added_tokens": specialTokens.map {
                ["id": index[$0]!, "content": $0, "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true] as [String: Any]
            },
            "pre_tokenizer": preTokenizerJSON,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
                               "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(),
                      "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
                      "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocabJSON, "merges": merges] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
    }
}

/// Pair counts over a list of words (symbol-id sequences with multiplicities), kept up to date as
/// merges are applied. Shared by ``BPETrainer/train(on:)`` and the merges extension.
struct BPEPairStatistics {
    /// The words as symbol ids, rewritten by each merge.
    private(set) var words: [[Int]]
    /// How often each word occurs.
    let counts: [Int]
    private var pairCounts: [UInt64: Int] = [:]
    private var wherePair: [UInt64: Set<Int>] = [:]

    init(words: [[Int]], counts: [Int]) {
        self.words = words
        self.counts = counts
        for (wi, w) in words.enumerated() where w.count > 1 {
            for k in 0..<(w.count - 1) {
                let key = BPEModel.pairKey(w[k], w[k + 1])
                pairCounts[key, default: 0] += counts[wi]
                wherePair[key, default: []].insert(wi)
            }
        }
    }

    /// The most frequent pair (ties: the smallest key, i.e. the pair of smallest ids) and its count;
    /// nil when no pair is left.
    func best() -> (key: UInt64, count: Int)? {
        var bestKey: UInt64 = 0
        var bestCount = 0
        for (key, c) in pairCounts where c > bestCount || (c == bestCount && c > 0 && key < bestKey) {
            bestKey = key
            bestCount = c
        }
        return bestCount > 0 ? (bestKey, bestCount) : nil
    }

    /// Forgets a pair without merging it (it is never proposed again).
    mutating func discard(_ key: UInt64) {
        pairCounts[key] = nil
        wherePair[key] = nil
    }

    /// Replaces every occurrence of the pair `key` (left to right, non-overlapping) by `newID`.
    mutating func merge(_ key: UInt64, into newID: Int) {
        let a = Int(key >> 32), b = Int(key & 0xFFFF_FFFF)
        for wi in (wherePair[key] ?? []).sorted() {
            var w = words[wi]
            let c = counts[wi]
            for k in 0..<(w.count - 1) { pairCounts[BPEModel.pairKey(w[k], w[k + 1]), default: 0] -= c }
            var out: [Int] = []
            out.reserveCapacity(w.count)
            var k = 0
            while k < w.count {
                if k + 1 < w.count && w[k] == a && w[k + 1] == b {
                    out.append(newID)
                    k += 2
                } else {
                    out.append(w[k])
                    k += 1
                }
            }
            w = out
            if w.count > 1 {
                for k in 0..<(w.count - 1) {
                    let pair = BPEModel.pairKey(w[k], w[k + 1])
                    pairCounts[pair, default: 0] += c
                    wherePair[pair, default: []].insert(wi)
                }
            }
            words[wi] = w
        }
        pairCounts[key] = nil
        wherePair[key] = nil
        pairCounts = pairCounts.filter { $0.value > 0 }
    }
}
