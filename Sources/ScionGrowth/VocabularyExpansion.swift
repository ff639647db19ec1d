// Vocabulary growth: add tokens to the tokenizer with ids V, V+1, … (old ids never move), append
// embedding rows (and output-head rows and biases when untied) from an `EmbeddingInitializer`, and
// set `vocab_size`. Follows the CW2V study's setup (TECHNIQUES.md row 10, §3.2). Tokens arrive either
// as added tokens (whole strings, matched before pre-tokenization) or as new BPE merges learned on
// new-language text (`BPETrainer.extending`, the tokenizer.json is replaced by the grown one). Hidden states on
// old-vocabulary text are unchanged; the next-token distribution gains k new outcomes, which is
// why this operator is not function-preserving (the KL on old text is bounded, see the initializers).

import Foundation
import ScionTensor
import ScionTokenizers

/// Adds tokens to the vocabulary, keeping the old ids.
///
/// ```swift
/// let grown = try VocabularyExpansion(tokens: ["Scion", "tensor"], initializer: SubPieceMeanInitializer()).grow(seed)
/// // or: merges learned on German text, appended after the old ids
/// let ext = try BPETrainer(vocabularySize: 0).extending(tokenizerJSON, on: german, addingTokens: 500, firstID: seed.vocabularySize)
/// let grownDE = try VocabularyExpansion(extension: ext, initializer: MeanInitializer()).grow(seed)
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

    /// The grown tokenizer from a merges extension (replaces tokenizer.json), or nil for added tokens.
    public var mergesExtension: BPEExtension?

    /// Adds `tokens` as added tokens (tokenizer.json's `added_tokens`, ids V, V+1, …).
    public init(tokens: [String], initializer: any EmbeddingInitializer = MeanInitializer(), pieces: [[Int]]? = nil) {
        self.tokens = tokens; self.initializer = initializer; self.pieces = pieces
    }

    /// Adds the tokens of a merges extension (``BPEExtension/firstNewID`` must be the model's
    /// `vocab_size`); their pieces are the extension's old-id spellings.
    public init(extension ext: BPEExtension, initializer: any EmbeddingInitializer = MeanInitializer()) {
        self.tokens = ext.newTokens; self.initializer = initializer; self.pieces = ext.pieces
        self.mergesExtension = ext
    }

    public var preservesFunction: Bool { false }
    public var parameters: [String: String] {
        ["tokens": tokens.joined(separator: "\u{1F}"), "count": "\(tokens.count)", "initializer": initializer.name,
         "tokenizer": mergesExtension == nil ? "added_tokens" : "merges"]
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
        if let ext = mergesExtension {
            try require(ext.firstNewID == v, "merges extension starts at vocab_size",
                        "first new id \(ext.firstNewID), vocab_size \(v)")
            guard let old = try tokenizer(source) else {
                throw GrowthError.constraintViolated(operator: Self.name, constraint: "merges extension needs the source's tokenizer.json",
                                                     detail: "no tokenizer.json in the source")
            }
            let grown = try ext.tokenizer()
            for id in 0..<v where old.token(forID: id) != grown.token(forID: id) {
                try require(false, "merges extension keeps every old id",
                            "id \(id) is '\(old.token(forID: id) ?? "-")' in the source, '\(grown.token(forID: id) ?? "-")' in the extension")
            }
        }
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        try validate(source)
        let v = source.vocabularySize, k = tokens.count
        let news = try newTokens(source)
        let keys = Self.embeddingKeys(source)
        var out = source.derived(operatorName: Self.name, parameters: parameters)
        let matrixKeys = [keys.embedding] + (keys.head.map { [$0] } ?? [])
        let matrices = matrixKeys.map { source.tensors[$0]!.floats() }
        let c = source.tensors[keys.embedding]!.shape[1]
        try require(matrixKeys.allSatisfy { source.tensors[$0]!.shape == [v, c] }, "embedding and head are [vocab_size, C]",
                    matrixKeys.map { "\($0) \(source.tensors[$0]!.shape)" }.joined(separator: ", "))
        let added = try initializer.rows(for: news, matrices: matrices, rows: v, columns: c)
        try require(added.count == matrices.count && added.allSatisfy { $0.count == k * c }, "the initializer returns [k, C] rows",
                    "\(added.map(\.count)) values for k = \(k), C = \(c)")
        for (i, key) in matrixKeys.enumerated() {
            out.tensors[key] = Tensor(matrices[i] + added[i], shape: [v + k, c])      // [V + k, C]
        }
        for key in keys.headBiases {
            // The new tokens' biases are the mean old bias, so a new logit stays a mean of old logits.
            let b = source.tensors[key]!.floats()
            let mean = Float(b.reduce(0.0) { $0 + Double($1) } / Double(b.count))
            out.tensors[key] = Tensor(b + Array(repeating: mean, count: k), shape: [v + k])
        }
        try out.updateConfig { $0["vocab_size"] = v + k }
        if let data = try grownTokenizerJSON(source) {
            out.extraFiles["tokenizer.json"] = data
            if mergesExtension != nil { try Self.rewriteSlowTokenizerFiles(&out.extraFiles, from: data) }
        }
        return out
    }

    /// The grown tokenizer.json: the merges extension's, or the source's with the tokens appended to
    /// `added_tokens` (ids V, V+1, …); nil when the source has no tokenizer.json (added tokens).
    ///
    /// - Throws: `JSONSerialization` errors for an unreadable source tokenizer.json.
    public func grownTokenizerJSON(_ source: Checkpoint) throws -> Data? {
        if let ext = mergesExtension { return ext.tokenizerJSON }
        guard let data = source.extraFiles["tokenizer.json"],
              var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let v = source.vocabularySize
        var added = json["added_tokens"] as? [[String: Any]] ?? []
        for (i, t) in tokens.enumerated() {
            added.append(["id": v + i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": true, "special": false])
        }
        json["added_tokens"] = added
        return try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
    }

    /// Rewrites GPT-2-style vocab.json and merges.txt, when the folder carries them, from the grown
    /// tokenizer.json so slow tokenizers see the same vocabulary and merges.
    static func rewriteSlowTokenizerFiles(_ files: inout [String: Data], from tokenizerJSON: Data) throws {
        guard let root = try JSONSerialization.jsonObject(with: tokenizerJSON) as? [String: Any],
              let model = root["model"] as? [String: Any] else { return }
        if files["vocab.json"] != nil, let vocab = model["vocab"] as? [String: Any] {
            files["vocab.json"] = try JSONSerialization.data(withJSONObject: vocab, options: [.sortedKeys])
        }
        if files["merges.txt"] != nil, let merges = model["merges"] as? [Any] {
            let lines = merges.map { m in (m as? String) ?? ((m as? [String]) ?? []).joined(separator: " ") }
            files["merges.txt"] = Data((["#version: 0.2"] + lines).joined(separator: "\n").appending("\n").utf8)
        }
    }

    /// The bound on KL(old ‖ new) on old-vocabulary text for mean initialization with a tied head:
    /// log(1 + k/V).
    public static func meanInitKLBound(added k: Int, vocabularySize v: Int) -> Double { Foundation.log(1 + Double(k) / Double(v)) }
}
