// BERT encoder (post-LayerNorm blocks, learned absolute and token-type embeddings) and its
// masked-LM head. Follows transformers' models/bert/modeling_bert.py (BertModel, BertForMaskedLM);
// parameter keys match their state dicts verbatim. The attention mask [B, T] becomes an additive
// mask on the keys; no causal masking. Not here: relative position embeddings, cross-attention,
// the decoder (is_decoder) mode and the task heads other than masked LM.

import Foundation
import ScionNN
import ScionTensor

/// BERT hyperparameters, decoded from an HF config.json (field names as transformers' BertConfig).
///
/// Required fields: `vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
/// `intermediate_size`, `max_position_embeddings`. The rest take transformers' defaults.
public struct BertConfig: Codable, Sendable, Equatable {
    /// Vocabulary size (`vocab_size`).
    public var vocabSize: Int
    /// Hidden width C (`hidden_size`).
    public var hiddenSize: Int
    /// Number of layers (`num_hidden_layers`).
    public var numHiddenLayers: Int
    /// Attention heads (`num_attention_heads`).
    public var numAttentionHeads: Int
    /// Feed-forward width (`intermediate_size`).
    public var intermediateSize: Int
    /// Rows of the position embedding (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Rows of the token-type embedding (`type_vocab_size`, default 2).
    public var typeVocabSize: Int
    /// Feed-forward activation (`hidden_act`, default "gelu" = exact erf GELU).
    public var hiddenAct: String
    /// LayerNorm ε (`layer_norm_eps`, default 1e-12).
    public var layerNormEps: Double
    /// Standard deviation of random initialization (`initializer_range`).
    public var initializerRange: Double
    /// Padding token id (`pad_token_id`).
    public var padTokenId: Int?
    /// Only "absolute" is supported (`position_embedding_type`).
    public var positionEmbeddingType: String
    /// Whether the MLM decoder is the word embedding (`tie_word_embeddings`, default true).
    public var tieWordEmbeddings: Bool

    enum CodingKeys: String, CodingKey {
        case vocabSize, hiddenSize, numHiddenLayers, numAttentionHeads, intermediateSize, maxPositionEmbeddings
        case typeVocabSize, hiddenAct, layerNormEps, initializerRange, padTokenId, positionEmbeddingType
        case tieWordEmbeddings
    }

    /// A configuration with transformers' defaults for everything not given.
    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                intermediateSize: Int, maxPositionEmbeddings: Int, typeVocabSize: Int = 2,
                hiddenAct: String = "gelu", layerNormEps: Double = 1e-12, initializerRange: Double = 0.02,
                padTokenId: Int? = 0, positionEmbeddingType: String = "absolute", tieWordEmbeddings: Bool = true) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.typeVocabSize = typeVocabSize
        self.hiddenAct = hiddenAct; self.layerNormEps = layerNormEps; self.initializerRange = initializerRange
        self.padTokenId = padTokenId; self.positionEmbeddingType = positionEmbeddingType
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        maxPositionEmbeddings = try c.decode(Int.self, forKey: .maxPositionEmbeddings)
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? 2
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-12
        initializerRange = try c.decodeIfPresent(Double.self, forKey: .initializerRange) ?? 0.02
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? 0
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
    }

    /// Checks the values decoding cannot check.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` naming the field.
    public func validate(path: String = "config.json") throws {
        func bad(_ field: String, _ reason: String) -> ModelLoadError { .invalidConfig(path: path, field: field, reason: reason) }
        for (field, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
                           ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
                           ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)] where v <= 0 {
            throw bad(field, "must be positive, got \(v)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw bad("num_attention_heads", "hidden_size \(hiddenSize) is not a multiple of \(numAttentionHeads)")
        }
        if HFActivation(hiddenAct) == nil { throw bad("hidden_act", "unsupported '\(hiddenAct)'") }
        if positionEmbeddingType != "absolute" {
            throw bad("position_embedding_type", "only 'absolute' is supported, got '\(positionEmbeddingType)'")
        }
    }
}

/// `embeddings.*`: word + position + token-type embeddings, then LayerNorm.
final class BertEmbeddings: Module {
    let wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding
    let layerNorm: LayerNorm

    init(_ config: BertConfig) {
        wordEmbeddings = Embedding(count: config.vocabSize, dimension: config.hiddenSize)
        positionEmbeddings = Embedding(count: config.maxPositionEmbeddings, dimension: config.hiddenSize)
        tokenTypeEmbeddings = Embedding(count: config.typeVocabSize, dimension: config.hiddenSize)
        layerNorm = LayerNorm(dimension: config.hiddenSize, eps: config.layerNormEps)
    }

    var entries: [ModuleEntry] {
        [.child("word_embeddings", wordEmbeddings), .child("position_embeddings", positionEmbeddings),
         .child("token_type_embeddings", tokenTypeEmbeddings), .child("LayerNorm", layerNorm)]
    }

    func callAsFunction(_ ids: Tensor, tokenTypeIDs: Tensor?) -> Tensor {
        let (b, t) = (ids.shape[0], ids.shape[1])
        let positions = Tensor(indices: Array(0..<t), shape: [1, t])
        let types = tokenTypeIDs ?? Tensor(indices: [Int](repeating: 0, count: b * t), shape: [b, t])
        return layerNorm(wordEmbeddings(ids) + positionEmbeddings(positions) + tokenTypeEmbeddings(types))  // [B, T, C]
    }
}

/// `attention.self.{query,key,value}`: multi-head scaled dot-product attention.
final class BertSelfAttention: Module {
    let query: Linear, key: Linear, value: Linear
    let heads: Int

    init(_ config: BertConfig) {
        query = Linear(inFeatures: config.hiddenSize, outFeatures: config.hiddenSize)
        key = Linear(inFeatures: config.hiddenSize, outFeatures: config.hiddenSize)
        value = Linear(inFeatures: config.hiddenSize, outFeatures: config.hiddenSize)
        heads = config.numAttentionHeads
    }

    var entries: [ModuleEntry] { [.child("query", query), .child("key", key), .child("value", value)] }

    func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        func split(_ y: Tensor) -> Tensor { y.reshaped(b, t, heads, -1).transposed(1, 2) }   // [B, H, T, D]
        let y = Tensor.scaledDotProductAttention(query: split(query(x)), key: split(key(x)), value: split(value(x)),
                                                 mask: mask)                                  // [B, H, T, D]
        return y.transposed(1, 2).reshaped(b, t, c)                                           // [B, T, C]
    }
}

/// A projection followed by residual add and LayerNorm (`attention.output` and `output`).
final class BertResidualOutput: Module {
    let dense: Linear, layerNorm: LayerNorm

    init(inFeatures: Int, _ config: BertConfig) {
        dense = Linear(inFeatures: inFeatures, outFeatures: config.hiddenSize)
        layerNorm = LayerNorm(dimension: config.hiddenSize, eps: config.layerNormEps)
    }

    var entries: [ModuleEntry] { [.child("dense", dense), .child("LayerNorm", layerNorm)] }

    func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor { layerNorm(dense(x) + residual) }
}

/// `attention.*`: self-attention and its output projection.
final class BertAttention: Module {
    // NOTE: the HF key is "self", a Swift keyword, hence the longer property name.
    let selfAttention: BertSelfAttention
    let output: BertResidualOutput

    init(_ config: BertConfig) {
        selfAttention = BertSelfAttention(config)
        output = BertResidualOutput(inFeatures: config.hiddenSize, config)
    }

    var entries: [ModuleEntry] { [.child("self", selfAttention), .child("output", output)] }

    func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor { output(selfAttention(x, mask: mask), residual: x) }
}

/// `intermediate.dense` with the configured activation.
final class BertIntermediate: Module {
    let dense: Linear
    let activation: HFActivation

    init(_ config: BertConfig) {
        dense = Linear(inFeatures: config.hiddenSize, outFeatures: config.intermediateSize)
        activation = HFActivation(config.hiddenAct) ?? .gelu(.none)
    }

    var entries: [ModuleEntry] { [.child("dense", dense)] }

    func callAsFunction(_ x: Tensor) -> Tensor { activation(dense(x)) }
}

/// `encoder.layer.N`: attention, intermediate, output (post-LayerNorm).
final class BertLayer: Module {
    let attention: BertAttention, intermediate: BertIntermediate, output: BertResidualOutput

    init(_ config: BertConfig) {
        attention = BertAttention(config)
        intermediate = BertIntermediate(config)
        output = BertResidualOutput(inFeatures: config.intermediateSize, config)
    }

    var entries: [ModuleEntry] {
        [.child("attention", attention), .child("intermediate", intermediate), .child("output", output)]
    }

    func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let a = attention(x, mask: mask)
        return output(intermediate(a), residual: a)
    }
}

/// `encoder.*`: the layer list.
final class BertEncoder: Module {
    let layer: [BertLayer]
    init(_ config: BertConfig) { layer = (0..<config.numHiddenLayers).map { _ in BertLayer(config) } }
    var entries: [ModuleEntry] { [.list("layer", layer)] }
}

/// `pooler.dense`: tanh(dense(first token)).
final class BertPooler: Module {
    let dense: Linear
    init(_ config: BertConfig) { dense = Linear(inFeatures: config.hiddenSize, outFeatures: config.hiddenSize) }
    var entries: [ModuleEntry] { [.child("dense", dense)] }
}

/// The BERT encoder, keyed exactly as transformers' `BertModel` (no "bert." prefix).
///
/// ```swift
/// let bert = try BertModel.load(folder: HFFolder(path: minilmPath))
/// let h = bert.encode(ids, attentionMask: mask, tokenTypeIDs: nil)   // [B, T, 384]
/// ```
public final class BertModel: EncoderModel {
    /// The hyperparameters.
    public let config: BertConfig
    let embeddings: BertEmbeddings
    let encoder: BertEncoder
    let pooler: BertPooler?

    /// Checkpoint key rules: base prefix "bert.", ignored `embeddings.position_ids`, legacy
    /// LayerNorm `gamma`/`beta` → `weight`/`bias`, and the MLM decoder tied to the word embedding.
    public static let keyRules = KeyRules(
        basePrefix: "bert.", ignoredSuffixes: ["embeddings.position_ids"],
        tiedKeys: ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"],
        legacyRenames: [(".gamma", ".weight"), (".beta", ".bias")])

    /// A zero-initialized encoder; `addPoolingLayer` as in transformers (task heads build it without).
    public init(config: BertConfig, addPoolingLayer: Bool = true) {
        self.config = config
        embeddings = BertEmbeddings(config)
        encoder = BertEncoder(config)
        pooler = addPoolingLayer ? BertPooler(config) : nil
    }

    public var entries: [ModuleEntry] {
        [.child("embeddings", embeddings), .child("encoder", encoder)] + (pooler.map { [ModuleEntry.child("pooler", $0)] } ?? [])
    }

    /// The word-embedding parameter [V, C] (`embeddings.word_embeddings.weight`).
    public var wordEmbedding: Weight { embeddings.wordEmbeddings.weight }

    /// An additive key mask [B, 1, 1, T] from a 0/1 mask [B, T]: 0 for tokens, float32's minimum for padding.
    static func additiveMask(_ attentionMask: Tensor) -> Tensor {
        let (b, t) = (attentionMask.shape[0], attentionMask.shape[1])
        let add = attentionMask.doubles().map { $0 != 0 ? 0 : -Double(Float.greatestFiniteMagnitude) }
        return Tensor(doubles: add, shape: [b, 1, 1, t], dtype: .float32)
    }

    func forward(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?, collect: Bool) -> (Tensor, [Tensor]) {
        precondition(ids.rank == 2, "BERT: ids must be [B, T], got \(ids.shape)")
        precondition(ids.shape[1] <= config.maxPositionEmbeddings,
                     "BERT: \(ids.shape[1]) tokens exceed max_position_embeddings \(config.maxPositionEmbeddings)")
        if let attentionMask { precondition(attentionMask.shape == ids.shape, "BERT: mask \(attentionMask.shape) for ids \(ids.shape)") }
        let mask = attentionMask.map(Self.additiveMask)
        var x = embeddings(ids, tokenTypeIDs: tokenTypeIDs)
        var states = collect ? [x] : []
        for layer in encoder.layer {
            x = layer(x, mask: mask)
            if collect { states.append(x) }
        }
        return (x, states)
    }

    /// The last hidden state [B, T, C].
    ///
    /// - Parameters:
    ///   - ids: token ids [B, T].
    ///   - attentionMask: [B, T], 1 for tokens, 0 for padding (masked out as keys); nil attends everything.
    ///   - tokenTypeIDs: segment ids [B, T]; nil means all 0.
    public func encode(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> Tensor {
        forward(ids, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs, collect: false).0
    }

    /// The embedding output and each layer's output: num_hidden_layers + 1 tensors [B, T, C].
    public func hiddenStates(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> [Tensor] {
        forward(ids, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs, collect: true).1
    }

    /// The pooler output tanh(dense(h[:, 0])) [B, C] (next-sentence / classification feature; sentence
    /// embeddings use mean pooling instead). Nil when the model has no pooler.
    public func pooled(_ lastHiddenState: Tensor) -> Tensor? {
        guard let pooler else { return nil }
        return pooler.dense(lastHiddenState.selecting(axis: 1, index: 0)).tanh()
    }

    // MARK: Loading and saving

    /// Loads an HF BERT folder (config.json + safetensors), strictly. A checkpoint with "bert."-prefixed
    /// keys (a task model's) also loads: its head ("cls.*") is skipped and, without "pooler.*" keys,
    /// the model is built without a pooler.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` for a bad config,
    ///   ``ModelLoadError/checkpointMismatch(_:)`` listing every missing, unexpected and mis-shaped key.
    public static func load(folder: HFFolder) throws -> BertModel {
        let config = try folder.decodeConfig(BertConfig.self)
        try config.validate(path: (folder.path as NSString).appendingPathComponent("config.json"))
        let tensors = try folder.tensors().filter { !$0.key.hasPrefix("cls.") }
        let hasPooler = tensors.keys.contains { $0.hasPrefix("pooler.") || $0.hasPrefix("bert.pooler.") }
        let model = BertModel(config: config, addPoolingLayer: hasPooler)
        try model.loadCheckpoint(tensors)
        return model
    }

    /// Loads checkpoint tensors (keys with or without "bert.") strictly.
    ///
    /// - Throws: ``ModelLoadError/checkpointMismatch(_:)`` with the ``ModuleError`` description.
    public func loadCheckpoint(_ tensors: [String: Tensor]) throws {
        try loadNormalized(self, tensors, rules: Self.keyRules, tied: config.tieWordEmbeddings)
    }

    /// Saves an HF folder (config.json for `BertModel`, model.safetensors with this model's keys).
    ///
    /// - Throws: `CheckpointError` when `path` exists and `overwrite` is false, or writing fails.
    public func save(to path: String, overwrite: Bool = false) throws {
        try HFFolder.save(to: path, config: hfConfigJSON(config, modelType: "bert", architecture: "BertModel"),
                          tensors: stateDictionary(), overwrite: overwrite)
    }
}

/// Normalizes keys with `rules` and loads strictly, mapping a ``ModuleError`` to
/// ``ModelLoadError/checkpointMismatch(_:)``.
func loadNormalized(_ module: any Module, _ tensors: [String: Tensor], rules: KeyRules, tied: Bool) throws {
    let keys = Set(module.namedParameters().map { $0.0 })
    let normalized = rules.normalize(tensors, modelKeys: keys, tied: tied)
    do { try module.load(normalized) } catch let e as ModuleError { throw ModelLoadError.checkpointMismatch(e.description) }
}

/// `cls.predictions.transform`: dense, activation, LayerNorm.
final class BertPredictionHeadTransform: Module {
    let dense: Linear, activation: HFActivation, layerNorm: LayerNorm

    init(_ config: BertConfig) {
        dense = Linear(inFeatures: config.hiddenSize, outFeatures: config.hiddenSize)
        activation = HFActivation(config.hiddenAct) ?? .gelu(.none)
        layerNorm = LayerNorm(dimension: config.hiddenSize, eps: config.layerNormEps)
    }

    var entries: [ModuleEntry] { [.child("dense", dense), .child("LayerNorm", layerNorm)] }

    func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(activation(dense(x))) }
}

/// `cls.predictions`: transform, decoder (tied to the word embedding) and the output bias.
final class BertLMPredictionHead: Module {
    let transform: BertPredictionHeadTransform
    let decoder: Linear
    let bias: Parameter

    init(_ config: BertConfig) {
        transform = BertPredictionHeadTransform(config)
        decoder = Linear(inFeatures: config.hiddenSize, outFeatures: config.vocabSize, bias: false)
        bias = Parameter(Tensor.zeros([config.vocabSize]))
    }

    // NOTE: transformers' decoder.bias is this same `bias` (tied); it is not a separate entry.
    var entries: [ModuleEntry] { [.child("transform", transform), .child("decoder", decoder), .parameter("bias", bias)] }

    func callAsFunction(_ x: Tensor) -> Tensor { decoder(transform(x)) + bias.value }
}

/// `cls`: holds `predictions`.
final class BertOnlyMLMHead: Module {
    let predictions: BertLMPredictionHead
    init(_ config: BertConfig) { predictions = BertLMPredictionHead(config) }
    var entries: [ModuleEntry] { [.child("predictions", predictions)] }
}

/// BERT with the masked-LM head, keyed exactly as transformers' `BertForMaskedLM` ("bert.*", "cls.*";
/// `cls.predictions.decoder.weight` is the word embedding's own `Parameter` when tied).
public final class BertForMaskedLM: EncoderModel {
    /// The hyperparameters.
    public let config: BertConfig
    /// The encoder (`bert.*`, no pooler).
    public let bert: BertModel
    let cls: BertOnlyMLMHead

    /// A zero-initialized model (a loader fills it).
    public init(config: BertConfig) {
        self.config = config
        bert = BertModel(config: config, addPoolingLayer: false)
        cls = BertOnlyMLMHead(config)
        if config.tieWordEmbeddings { cls.predictions.decoder.weight = bert.wordEmbedding }
    }

    public var entries: [ModuleEntry] { [.child("bert", bert), .child("cls", cls)] }

    /// Masked-LM logits [B, T, V].
    ///
    /// - Parameters:
    ///   - ids: token ids [B, T].
    ///   - attentionMask: [B, T], 1 for tokens, 0 for padding.
    ///   - tokenTypeIDs: segment ids [B, T]; nil means all 0.
    public func logits(_ ids: Tensor, attentionMask: Tensor? = nil, tokenTypeIDs: Tensor? = nil) -> Tensor {
        cls.predictions(bert.encode(ids, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs))
    }

    /// The encoder's last hidden state [B, T, C].
    public func encode(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> Tensor {
        bert.encode(ids, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs)
    }

    /// The encoder's hidden states (embedding output and each layer's output).
    public func hiddenStates(_ ids: Tensor, attentionMask: Tensor?, tokenTypeIDs: Tensor?) -> [Tensor] {
        bert.hiddenStates(ids, attentionMask: attentionMask, tokenTypeIDs: tokenTypeIDs)
    }

    /// Loads an HF `BertForMaskedLM` folder strictly.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` or ``ModelLoadError/checkpointMismatch(_:)``.
    public static func load(folder: HFFolder) throws -> BertForMaskedLM {
        let config = try folder.decodeConfig(BertConfig.self)
        try config.validate(path: (folder.path as NSString).appendingPathComponent("config.json"))
        let model = BertForMaskedLM(config: config)
        try loadNormalized(model, try folder.tensors(), rules: BertModel.keyRules, tied: config.tieWordEmbeddings)
        return model
    }

    /// Saves an HF folder (config.json for `BertForMaskedLM`; the tied decoder is not written).
    ///
    /// - Throws: `CheckpointError` when `path` exists and `overwrite` is false, or writing fails.
    public func save(to path: String, overwrite: Bool = false) throws {
        try HFFolder.save(to: path, config: hfConfigJSON(config, modelType: "bert", architecture: "BertForMaskedLM"),
                          tensors: stateDictionary(), overwrite: overwrite)
    }
}
