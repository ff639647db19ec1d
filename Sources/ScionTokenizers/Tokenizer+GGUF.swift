// Building a tokenizer from GGUF `tokenizer.ggml.*` metadata, without a GGUF reader dependency.
// Follows llama.cpp's llama-vocab.cpp: model "gpt2" is byte-level BPE with a pre-tokenizer chosen by
// `tokenizer.ggml.pre` (smollm: digits one by one, then the GPT-2 regex; llama-bpe: Llama 3 regex;
// qwen2: Qwen2 regex; gpt2/default: GPT-2 regex); model "llama" is SentencePiece BPE by scores with
// ▁ for spaces and <0xNN> byte fallback. Token types 2 (unknown), 3 (control) and 4 (user-defined)
// are matched literally before pre-tokenization.

import Foundation

/// The `tokenizer.ggml.*` values of a GGUF file, as plain Swift values.
public struct GGUFTokenizerMetadata: Sendable, Equatable {
    /// `tokenizer.ggml.model`: `"gpt2"` or `"llama"`.
    public var model: String
    /// `tokenizer.ggml.pre`, e.g. `"smollm"`, `"llama-bpe"`, `"qwen2"`, `"default"`.
    public var pre: String?
    /// `tokenizer.ggml.tokens`.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
    public var tokenTypes: [Int32]?
    /// `tokenizer.ggml.merges` as `"a b"` strings (model `gpt2`).
    public var merges: [String]?
    /// `tokenizer.ggml.scores` (model `llama`).
    public var scores: [Float]?
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenID: Int?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenID: Int?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenID: Int?
    /// `tokenizer.ggml.padding_token_id`.
    public var paddingTokenID: Int?
    /// `tokenizer.ggml.add_bos_token`.
    public var addBOS: Bool
    /// `tokenizer.ggml.add_eos_token`.
    public var addEOS: Bool
    /// `tokenizer.ggml.add_space_prefix` (model `llama`).
    public var addSpacePrefix: Bool

    /// Creates the metadata record.
    public init(model: String, pre: String? = nil, tokens: [String], tokenTypes: [Int32]? = nil,
                merges: [String]? = nil, scores: [Float]? = nil, bosTokenID: Int? = nil,
                eosTokenID: Int? = nil, unknownTokenID: Int? = nil, paddingTokenID: Int? = nil,
                addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = false) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }
}

extension Tokenizer {
    /// Builds a tokenizer from GGUF tokenizer metadata given as separate values.
    ///
    /// See ``GGUFTokenizerMetadata`` for the meaning of each parameter.
    /// - Throws: `TokenizerError.unsupported` for an unknown model or pre-tokenizer name,
    ///   `.malformed` for inconsistent arrays or merges naming unknown tokens.
    public convenience init(ggufModel: String, pre: String?, tokens: [String], tokenTypes: [Int32]?,
                            merges: [String]?, scores: [Float]?, bosTokenID: Int?, eosTokenID: Int?,
                            unknownTokenID: Int?, paddingTokenID: Int?, addBOS: Bool, addEOS: Bool,
                            addSpacePrefix: Bool) throws {
        try self.init(gguf: GGUFTokenizerMetadata(
            model: ggufModel, pre: pre, tokens: tokens, tokenTypes: tokenTypes, merges: merges,
            scores: scores, bosTokenID: bosTokenID, eosTokenID: eosTokenID,
            unknownTokenID: unknownTokenID, paddingTokenID: paddingTokenID, addBOS: addBOS,
            addEOS: addEOS, addSpacePrefix: addSpacePrefix))
    }

    /// Builds a tokenizer from GGUF tokenizer metadata.
    ///
    /// ```swift
    /// let tokenizer = try Tokenizer(gguf: GGUFTokenizerMetadata(
    ///     model: "gpt2", pre: "smollm", tokens: tokens, tokenTypes: types, merges: merges))
    /// tokenizer.encode("The capital of France is").ids  // SmolLM2: [504, 3575, 282, 4649, 314]
    /// ```
    /// - Throws: `TokenizerError.unsupported` or `.malformed`.
    public convenience init(gguf m: GGUFTokenizerMetadata) throws {
        if let types = m.tokenTypes, types.count != m.tokens.count {
            throw TokenizerError.malformed(field: "tokenizer.ggml.token_type",
                                           reason: "\(types.count) types for \(m.tokens.count) tokens")
        }
        var added: [AddedToken] = []
        for (i, type) in (m.tokenTypes ?? []).enumerated() where type == 2 || type == 3 || type == 4 {
            added.append(AddedToken(id: i, content: m.tokens[i], special: type != 4))
        }
        var template: [TemplatePiece] = []
        if m.addBOS, let bos = m.bosTokenID { template.append(.special(ids: [bos], typeID: 0)) }
        template.append(.sequence(typeID: 0))
        if m.addEOS, let eos = m.eosTokenID { template.append(.special(ids: [eos], typeID: 0)) }
        let post: PostProcessor? = template.count > 1 ? .template(single: template) : nil
        let padding: PaddingSettings? = nil

        switch m.model {
        case "gpt2":
            let preTokenizer: PreTokenizer
            switch m.pre ?? "default" {
            case "smollm":
                preTokenizer = .sequence([.digits(individual: true),
                                          .byteLevel(addPrefixSpace: false, useRegex: true)])
            case "llama-bpe", "llama3":
                preTokenizer = .sequence([
                    .split(pattern: .scanner(.llama3), behavior: .isolated, invert: false),
                    .byteLevel(addPrefixSpace: false, useRegex: false)])
            case "qwen2":
                preTokenizer = .sequence([
                    .split(pattern: .scanner(.qwen2), behavior: .isolated, invert: false),
                    .byteLevel(addPrefixSpace: false, useRegex: false)])
            case "gpt2", "default":
                preTokenizer = .byteLevel(addPrefixSpace: false, useRegex: true)
            case let other:
                throw TokenizerError.unsupported(component: "tokenizer.ggml.pre", name: other)
            }
            guard let rawMerges = m.merges else {
                throw TokenizerError.malformed(field: "tokenizer.ggml.merges", reason: "missing for model gpt2")
            }
            var vocab: [String: Int] = [:]
            vocab.reserveCapacity(m.tokens.count)
            for (i, t) in m.tokens.enumerated() where vocab[t] == nil { vocab[t] = i }
            var merges: [(String, String)] = []
            merges.reserveCapacity(rawMerges.count)
            for (i, s) in rawMerges.enumerated() {
                guard let space = s.utf8.firstIndex(of: 0x20) else {
                    throw TokenizerError.malformed(field: "tokenizer.ggml.merges[\(i)]", reason: "expected \"a b\"")
                }
                merges.append((String(s[..<space]), String(s[s.utf8.index(after: space)...])))
            }
            let model = try BPEModel(
                vocab: vocab, merges: merges, unknownToken: m.unknownTokenID.flatMap { id in
                    m.tokens.indices.contains(id) ? m.tokens[id] : nil
                }, fuseUnknown: false, byteFallback: false, ignoreMerges: m.pre == "llama-bpe",
                continuingSubwordPrefix: nil, endOfWordSuffix: nil)
            self.init(addedTokens: added, normalizer: nil, preTokenizer: preTokenizer, model: .bpe(model),
                      postProcessor: post, decoder: .byteLevel, padding: padding, truncation: nil,
                      sourceJSON: nil)
        case "llama":
            guard let scores = m.scores, scores.count == m.tokens.count else {
                throw TokenizerError.malformed(field: "tokenizer.ggml.scores",
                                               reason: "expected one score per token for model llama")
            }
            let model = SentencePieceBPEModel(tokens: m.tokens, scores: scores, unknownID: m.unknownTokenID)
            var steps: [Normalizer] = []
            if m.addSpacePrefix { steps.append(.prepend("▁")) }
            steps.append(.replace(pattern: .literal(" "), content: "▁"))
            var decoders: [Decoder] = [.replace(pattern: .literal("▁"), content: " "), .byteFallback, .fuse]
            if m.addSpacePrefix { decoders.append(.strip(content: " ", start: 1, stop: 0)) }
            self.init(addedTokens: added, normalizer: .sequence(steps), preTokenizer: nil,
                      model: .sentencePieceBPE(model, tokens: m.tokens), postProcessor: post,
                      decoder: .sequence(decoders), padding: padding, truncation: nil, sourceJSON: nil)
        default:
            throw TokenizerError.unsupported(component: "tokenizer.ggml.model", name: m.model)
        }
    }
}
