// Vocabulary growth: add tokens to the tokenizer with ids V, V+1, … (old ids never move), append
// embedding rows (and output-head rows and biases when untied) from an `EmbeddingInitializer`, and
// set `vocab_size`. Follows the CW2V study's setup (TECHNIQUES.md row 10, §3.2). Hidden states on
// old-vocabulary text are unchanged; the next-token distribution gains k new outcomes, which is
// why this operator is not function-preserving (the KL on old text is bounded, see the initializers).

import Foundation
import ScionTensor
import ScionTokenizers

/// Adds tokens to the vocabulary, keeping the old ids.
///
/// ```swift
/// let grown = try VocabularyExpansion(tokens: ["Scion", "tensor"], initializer: SubPieceMeanInitializer()).grow(seed)
/// ```
public struct VocabularyExpansion: GrowthOperator {
    public static let name = "vocab"
    /// The new tokens' texts, given ids V, V+1, … in this order.
    public var tokens: [String]
    /// How new rows are initialized.
    public var initializer: any EmbeddingInitializer
    /// Explicit old sub-pieces per token (overrides the tokenizer's split; required without a tokenizer
    /// for initializers that use pieces).
    public var pieces: [[Int]]?

    public init(tokens: [String], initializer: any EmbeddingInitializer = MeanInitializer(), pieces: [[Int]]? = nil) {
        self.tokens = tokens; self.initializer = initializer; self.pieces = pieces
    }

    public var preservesFunction: Bool { false }
    public var parameters: [String: String] {
        ["tokens": tokens.joined(separator: "\u{1F}"), "count": "\(tokens.count)", "initializer": initializer.name]
    }

    /// The token-embedding key and the untied output-head keys (weight, and bias when present).
    static func embeddingKeys(_ s: Checkpoint) -> (embedding: String, head: String?, headBiases: [String]) {
        switch s.family {
        case .gpt2: return ("transformer.wte.weight", s.tensors["lm_head.weight"] != nil ? "lm_head.weight" : nil, [])
        case .llama: return ("model.embed_tokens.weight", s.tensors["lm_head.weight"] != nil ? "lm_head.weight" : nil, [])
        case .bert:
            let p = s.tensors.keys.contains { $0.hasPrefix("bert.") } ? "bert." : ""
            let dec = "cls.predictions.decoder.weight"
            return (p + "embeddings.word_embeddings.weight", s.tensors[dec] != nil ? dec : nil,
                    ["cls.predictions.bias", "cls.predictions.decoder.bias"].filter { s.tensors[$0] != nil })
        }
    }

    func tokenizer(_ s: Checkpoint) throws -> Tokenizer? {
        guard let data = s.extraFiles["tokenizer.json"] else { return nil }
        return try Tokenizer(jsonData: data)
    }

    /// The new tokens with their old sub-pieces.
    func newTokens(_ s: Checkpoint) throws -> [NewToken] {
        let tok = try tokenizer(s)
        return tokens.enumerated().map { i, t in
            NewToken(content: t, pieces: pieces?[i] ?? tok?.encode(t, addSpecialTokens: false).ids ?? [])
        }
    }

    public func validate(_ source: Checkpoint) throws {
        let v = source.vocabularySize
        try require(!tokens.isEmpty, "at least one new token", "no tokens given")
        try require(Set(tokens).count == tokens.count, "new tokens are distinct", "duplicates in \(tokens)")
        if let p = pieces {
            try require(p.count == tokens.count, "one piece list per token", "\(p.count) piece lists for \(tokens.count) tokens")
        }
        if let tok = try tokenizer(source) {
            try require(tok.vocabularySize <= v, "tokenizer vocabulary <= vocab_size",
                        "the tokenizer has \(tok.vocabularySize) ids, the model \(v)")
            for t in tokens {
                if let id = tok.id(forToken: t) {
                    try require(false, "new tokens are not in the vocabulary", "'\(t)' already has id \(id)")
                }
            }
        }
        let keys = Self.embeddingKeys(source)
        try require(source.tensors[keys.embedding]?.shape.first == v, "\(keys.embedding) has vocab_size rows",
                    "shape \(source.tensors[keys.embedding]?.shape ?? []) for vocab_size \(v)")
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        try validate(source)
        let v = source.vocabularySize, k = tokens.count
        let news = try newTokens(source)
        let keys = Self.embeddingKeys(source)
        var out = source.derived(operatorName: Self.name, parameters: parameters)
        for key in [keys.embedding] + (keys.head.map { [$0] } ?? []) {
            let t = source.tensors[key]!
            let c = t.shape[1], m = t.floats()
            let added = try initializer.rows(for: news, matrix: m, rows: v, columns: c)
            out.tensors[key] = Tensor(m + added, shape: [v + k, c])
        }
        for key in keys.headBiases {
            // The new tokens' biases are the mean old bias, so a new logit stays a mean of old logits.
            let b = source.tensors[key]!.floats()
            let mean = Float(b.reduce(0.0) { $0 + Double($1) } / Double(b.count))
            out.tensors[key] = Tensor(b + Array(repeating: mean, count: k), shape: [v + k])
        }
        try out.updateConfig { $0["vocab_size"] = v + k }
        if let data = source.extraFiles["tokenizer.json"],
           var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
            var added = json["added_tokens"] as? [[String: Any]] ?? []
            for (i, t) in tokens.enumerated() {
                added.append(["id": v + i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                              "normalized": true, "special": false])
            }
            json["added_tokens"] = added
            out.extraFiles["tokenizer.json"] = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        }
        return out
    }

    /// The bound on KL(old ‖ new) on old-vocabulary text for mean initialization with a tied head:
    /// log(1 + k/V).
    public static func meanInitKLBound(added k: Int, vocabularySize v: Int) -> Double { Foundation.log(1 + Double(k) / Double(v)) }
}
