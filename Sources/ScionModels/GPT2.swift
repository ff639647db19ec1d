// GPT-2 (decoder-only, learned absolute positions, pre-LayerNorm blocks). Follows transformers'
// models/gpt2/modeling_gpt2.py (GPT2LMHeadModel); parameter keys match its state dict verbatim.
// Conv1D weights stay [in, out] as stored (`Linear(layout: .inOut)`), so load → save is
// byte-identical. `lm_head.weight` is the token embedding's own `Parameter` when tied.
// Not here: cross-attention (add_cross_attention), the double-heads/classification variants, and
// reorder_and_upcast_attn (attention already accumulates in float32).

import Foundation
import ScionNN
import ScionTensor

/// GPT-2 hyperparameters, decoded from an HF config.json (field names as transformers' GPT2Config).
///
/// Required fields: `vocab_size`, `n_positions`, `n_embd`, `n_layer`, `n_head`. The rest take
/// transformers' defaults when absent.
public struct GPT2Config: Codable, Sendable, Equatable {
    /// Vocabulary size (`vocab_size`).
    public var vocabSize: Int
    /// Longest sequence (`n_positions`): rows of the position embedding.
    public var nPositions: Int
    /// Hidden width C (`n_embd`).
    public var nEmbd: Int
    /// Number of blocks (`n_layer`).
    public var nLayer: Int
    /// Attention heads (`n_head`); `n_embd` must be a multiple.
    public var nHead: Int
    /// MLP width (`n_inner`); nil means 4·`n_embd`.
    public var nInner: Int?
    /// MLP activation (`activation_function`): "gelu_new" (tanh GELU, the default), "gelu_pytorch_tanh",
    /// "gelu_fast", "gelu" (erf), "relu" or "silu".
    public var activationFunction: String
    /// LayerNorm ε (`layer_norm_epsilon`).
    public var layerNormEpsilon: Double
    /// Standard deviation of the random initialization (`initializer_range`).
    public var initializerRange: Double
    /// Divide attention scores by √D (`scale_attn_weights`).
    public var scaleAttnWeights: Bool
    /// Also divide attention scores by layer index + 1 (`scale_attn_by_inverse_layer_idx`).
    public var scaleAttnByInverseLayerIdx: Bool
    /// Whether `lm_head.weight` is the token embedding (`tie_word_embeddings`).
    public var tieWordEmbeddings: Bool
    /// `bos_token_id`, if any.
    public var bosTokenId: Int?
    /// `eos_token_id`, if any.
    public var eosTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize, nPositions, nEmbd, nLayer, nHead, nInner, activationFunction, layerNormEpsilon
        case initializerRange, scaleAttnWeights, scaleAttnByInverseLayerIdx, tieWordEmbeddings
        case bosTokenId, eosTokenId
    }

    /// A configuration with transformers' defaults for everything not given.
    public init(vocabSize: Int, nPositions: Int, nEmbd: Int, nLayer: Int, nHead: Int, nInner: Int? = nil,
                activationFunction: String = "gelu_new", layerNormEpsilon: Double = 1e-5,
                initializerRange: Double = 0.02, scaleAttnWeights: Bool = true,
                scaleAttnByInverseLayerIdx: Bool = false, tieWordEmbeddings: Bool = true,
                bosTokenId: Int? = nil, eosTokenId: Int? = nil) {
        self.vocabSize = vocabSize; self.nPositions = nPositions; self.nEmbd = nEmbd; self.nLayer = nLayer
        self.nHead = nHead; self.nInner = nInner; self.activationFunction = activationFunction
        self.layerNormEpsilon = layerNormEpsilon; self.initializerRange = initializerRange
        self.scaleAttnWeights = scaleAttnWeights; self.scaleAttnByInverseLayerIdx = scaleAttnByInverseLayerIdx
        self.tieWordEmbeddings = tieWordEmbeddings; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        nPositions = try c.decode(Int.self, forKey: .nPositions)
        nEmbd = try c.decode(Int.self, forKey: .nEmbd)
        nLayer = try c.decode(Int.self, forKey: .nLayer)
        nHead = try c.decode(Int.self, forKey: .nHead)
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? "gelu_new"
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-5
        initializerRange = try c.decodeIfPresent(Double.self, forKey: .initializerRange) ?? 0.02
        scaleAttnWeights = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnWeights) ?? true
        scaleAttnByInverseLayerIdx = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnByInverseLayerIdx) ?? false
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId)
    }

    /// Head dimension D = `n_embd` / `n_head`.
    public var headDimension: Int { nEmbd / nHead }

    /// Checks the values decoding cannot check.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` naming the field.
    public func validate(path: String = "config.json") throws {
        func bad(_ field: String, _ reason: String) -> ModelLoadError { .invalidConfig(path: path, field: field, reason: reason) }
        for (field, v) in [("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd),
                           ("n_layer", nLayer), ("n_head", nHead)] where v <= 0 {
            throw bad(field, "must be positive, got \(v)")
        }
        if nEmbd % nHead != 0 { throw bad("n_head", "n_embd \(nEmbd) is not a multiple of n_head \(nHead)") }
        if let n = nInner, n <= 0 { throw bad("n_inner", "must be positive, got \(n)") }
        if HFActivation(activationFunction) == nil {
            throw bad("activation_function", "unsupported '\(activationFunction)' (gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu, silu)")
        }
    }
}

/// The activations HF configs name (GPT-2 `activation_function`, BERT `hidden_act`).
enum HFActivation {
    case gelu(GELUApproximation), relu, silu

    init?(_ name: String) {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .gelu(.tanh)
        case "gelu": self = .gelu(.none)
        case "relu": self = .relu
        case "silu", "swish": self = .silu
        default: return nil
        }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu(let a): return x.gelu(approximation: a)
        case .relu: return x.relu()
        case .silu: return x.silu()
        }
    }
}

/// Causal self-attention with a fused QKV projection (`attn.c_attn`, `attn.c_proj`).
final class GPT2Attention: Module {
    let cAttn: Linear, cProj: Linear
    let heads: Int, scale: Double

    init(_ config: GPT2Config, layerIndex: Int) {
        cAttn = Linear(inFeatures: config.nEmbd, outFeatures: 3 * config.nEmbd, layout: .inOut)
        cProj = Linear(inFeatures: config.nEmbd, outFeatures: config.nEmbd, layout: .inOut)
        heads = config.nHead
        var s = config.scaleAttnWeights ? 1 / Double(config.headDimension).squareRoot() : 1
        if config.scaleAttnByInverseLayerIdx { s /= Double(layerIndex + 1) }
        scale = s
    }

    var entries: [ModuleEntry] { [.child("c_attn", cAttn), .child("c_proj", cProj)] }

    func callAsFunction(_ x: Tensor, layer: Int, cache: KVCache?, mask: Tensor?) -> Tensor {
        let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
        let qkv = cAttn(x).split(sizes: [c, c, c], axis: 2)                  // 3 × [B, T, C]
        func heads(_ y: Tensor) -> Tensor { y.reshaped(b, t, self.heads, -1).transposed(1, 2) }  // [B, H, T, D]
        var (k, v) = (heads(qkv[1]), heads(qkv[2]))
        if let cache { (k, v) = cache.append(layer: layer, keys: k, values: v) }   // [B, H, S, D]
        let y = Tensor.scaledDotProductAttention(query: heads(qkv[0]), key: k, value: v, mask: mask,
                                                 causal: true, scale: scale)      // [B, H, T, D]
        return cProj(y.transposed(1, 2).reshaped(b, t, c))                        // [B, T, C]
    }
}

/// The feed-forward block (`mlp.c_fc`, `mlp.c_proj`).
final class GPT2MLP: Module {
    let cFc: Linear, cProj: Linear
    let activation: HFActivation

    init(_ config: GPT2Config) {
        let inner = config.nInner ?? 4 * config.nEmbd
        cFc = Linear(inFeatures: config.nEmbd, outFeatures: inner, layout: .inOut)
        cProj = Linear(inFeatures: inner, outFeatures: config.nEmbd, layout: .inOut)
        activation = HFActivation(config.activationFunction) ?? .gelu(.tanh)
    }

    var entries: [ModuleEntry] { [.child("c_fc", cFc), .child("c_proj", cProj)] }

    func callAsFunction(_ x: Tensor) -> Tensor { cProj(activation(cFc(x))) }
}

/// One pre-LayerNorm block: x + attn(ln_1(x)), then + mlp(ln_2(·)).
final class GPT2Block: Module {
    let ln1: LayerNorm, attn: GPT2Attention, ln2: LayerNorm, mlp: GPT2MLP

    init(_ config: GPT2Config, layerIndex: Int) {
        ln1 = LayerNorm(dimension: config.nEmbd, eps: config.layerNormEpsilon)
        attn = GPT2Attention(config, layerIndex: layerIndex)
        ln2 = LayerNorm(dimension: config.nEmbd, eps: config.layerNormEpsilon)
        mlp = GPT2MLP(config)
    }

    var entries: [ModuleEntry] { [.child("ln_1", ln1), .child("attn", attn), .child("ln_2", ln2), .child("mlp", mlp)] }

    func callAsFunction(_ x: Tensor, layer: Int, cache: KVCache?, mask: Tensor?) -> Tensor {
        let h = x + attn(ln1(x), layer: layer, cache: cache, mask: mask)
        return h + mlp(ln2(h))
    }
}

/// The GPT-2 trunk (`transformer.*`): token and position embeddings, blocks, final LayerNorm.
public final class GPT2Model: Module {
    /// Token embedding `wte` [V, C].
    public let wte: Embedding
    /// Position embedding `wpe` [n_positions, C].
    public let wpe: Embedding
    let h: [GPT2Block]
    /// Final LayerNorm `ln_f`.
    public let lnF: LayerNorm

    init(_ config: GPT2Config) {
        wte = Embedding(count: config.vocabSize, dimension: config.nEmbd)
        wpe = Embedding(count: config.nPositions, dimension: config.nEmbd)
        h = (0..<config.nLayer).map { GPT2Block(config, layerIndex: $0) }
        lnF = LayerNorm(dimension: config.nEmbd, eps: config.layerNormEpsilon)
    }

    public var entries: [ModuleEntry] {
        [.child("wte", wte), .child("wpe", wpe), .list("h", h), .child("ln_f", lnF)]
    }
}

/// GPT-2 with its language-modeling head, keyed exactly as transformers' `GPT2LMHeadModel`.
///
/// ```swift
/// let model = try GPT2LMHeadModel.load(folder: HFFolder(path: "gpt2"))
/// let logits = model(Tensor(indices: [464, 3290], shape: [1, 2]))   // [1, 2, 50257]
/// ```
public final class GPT2LMHeadModel: LanguageModel {
    /// The hyperparameters.
    public let config: GPT2Config
    /// The trunk (`transformer.*`).
    public let transformer: GPT2Model
    /// The output projection (`lm_head`, [V, C], no bias); its weight is `transformer.wte`'s when tied.
    public let lmHead: Linear
    /// When true (and without a cache), each block's activations are recomputed during backward
    /// instead of kept (`Tensor.checkpointed`): less memory for about one more forward pass.
    public var gradientCheckpointing = false

    /// Checkpoint key rules: base prefix "transformer.", ignored attention-mask buffers, tied `lm_head.weight`.
    public static let keyRules = KeyRules(basePrefix: "transformer.",
                                          ignoredSuffixes: [".attn.bias", ".attn.masked_bias"],
                                          tiedKeys: ["lm_head.weight"])

    /// A zero-initialized model (a loader fills it).
    public init(config: GPT2Config) {
        self.config = config
        transformer = GPT2Model(config)
        lmHead = Linear(inFeatures: config.nEmbd, outFeatures: config.vocabSize, bias: false)
        if config.tieWordEmbeddings { lmHead.weight = transformer.wte.weight }
    }

    /// A randomly initialized model, following GPT-2's scheme (as transformers' `_init_weights`):
    /// weights and embeddings ~ N(0, `initializer_range`²), the residual projections (`attn.c_proj`,
    /// `mlp.c_proj`) ~ N(0, (`initializer_range`/√(2·n_layer))²), biases 0, LayerNorm weight 1.
    public convenience init(config: GPT2Config, generator: inout RandomGenerator) {
        self.init(config: config)
        let std = config.initializerRange
        for (key, p) in namedParameters() where p.shape.count == 2 {
            let residual = key.hasSuffix("attn.c_proj.weight") || key.hasSuffix("mlp.c_proj.weight")
            p.value = Tensor.normal(p.shape, std: residual ? std / (2 * Double(config.nLayer)).squareRoot() : std,
                                    generator: &generator)
        }
    }

    public var entries: [ModuleEntry] { [.child("transformer", transformer), .child("lm_head", lmHead)] }

    public var vocabularySize: Int { config.vocabSize }
    public var maxPositions: Int { config.nPositions }
    public var layerCount: Int { config.nLayer }

    /// Runs the trunk; returns the final hidden state [B, T, C] (after `ln_f`) and, when `collect`,
    /// every hidden state as transformers' `output_hidden_states` reports them.
    func forward(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?, collect: Bool) -> (Tensor, [Tensor]) {
        precondition(ids.rank == 2, "GPT2: ids must be [B, T], got \(ids.shape)")
        let (b, t) = (ids.shape[0], ids.shape[1])
        let past = cache?.length ?? 0
        precondition(past + t <= config.nPositions, "GPT2: \(past + t) positions exceed n_positions \(config.nPositions)")
        var positions = Tensor(indices: Array(past..<(past + t)), shape: [1, t])
        var mask: Tensor? = nil
        if let attentionMask {
            let (p, m) = causalMaskInputs(attentionMask, batchSize: b, newTokens: t)
            positions = p; mask = m
        }
        var x = transformer.wte(ids) + transformer.wpe(positions)              // [B, T, C]
        var states: [Tensor] = collect ? [x] : []
        let recompute = gradientCheckpointing && cache == nil && mask == nil && GradientMode.enabled
        for (i, block) in transformer.h.enumerated() {
            if recompute {
                x = Tensor.checkpointed([x]) { block($0[0], layer: i, cache: nil, mask: nil) }
            } else {
                x = block(x, layer: i, cache: cache, mask: mask)
            }
            if collect && i < transformer.h.count - 1 { states.append(x) }
        }
        x = transformer.lnF(x)
        // NOTE: transformers reports the last hidden state after ln_f, not the raw last block output.
        if collect { states.append(x) }
        return (x, states)
    }

    /// Positions [B, T] and an additive mask [B, 1, 1, S] from a 0/1 mask [B, S] (left padding).
    /// Positions follow transformers' generate(): cumsum(mask) − 1, and 0 at padding.
    private func causalMaskInputs(_ attentionMask: Tensor, batchSize b: Int, newTokens t: Int) -> (Tensor, Tensor) {
        precondition(attentionMask.rank == 2 && attentionMask.shape[0] == b && attentionMask.shape[1] >= t,
                     "GPT2: attention mask \(attentionMask.shape) for \(b) rows of \(t) new tokens")
        let s = attentionMask.shape[1]
        let m = attentionMask.doubles()
        var pos = [Int](), add = [Double]()
        pos.reserveCapacity(b * t); add.reserveCapacity(b * s)
        for row in 0..<b {
            var count = 0
            for j in 0..<s {
                let keep = m[row * s + j] != 0
                if keep { count += 1 }
                if j >= s - t { pos.append(keep ? count - 1 : 0) }
                // NOTE: a finite minimum (as transformers uses) keeps fully masked padding rows finite.
                add.append(keep ? 0 : -Double(Float.greatestFiniteMagnitude))
            }
        }
        return (Tensor(indices: pos, shape: [b, t]), Tensor(doubles: add, shape: [b, 1, 1, s], dtype: .float32))
    }

    /// Logits [B, T, V] for ids [B, T].
    ///
    /// - Parameters:
    ///   - ids: token ids [B, T].
    ///   - cache: when given, `ids` continue the cached positions and their keys/values are appended.
    ///   - attentionMask: [B, cached + T], 1 for tokens and 0 for (left) padding; positions then count
    ///     only real tokens, as transformers' `generate` does.
    public func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        lmHead(forward(ids, cache: cache, attentionMask: attentionMask, collect: false).0)
    }

    /// Logits of the last position only [B, V]: the head (50257 × C) runs on one row per sequence.
    public func nextTokenLogits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        let x = forward(ids, cache: cache, attentionMask: attentionMask, collect: false).0   // [B, T, C]
        let t = x.shape[1]
        return lmHead(x.sliced(axis: 1, (t - 1)..<t).reshaped([x.shape[0], x.shape[2]]))
    }

    /// The embedding output, each block's output, and (last) the final state after `ln_f`: n_layer + 1
    /// tensors [B, T, C], as transformers' `output_hidden_states`.
    public func hiddenStates(_ ids: Tensor) -> [Tensor] {
        forward(ids, cache: nil, attentionMask: nil, collect: true).1
    }

    /// An empty cache with one [B, H, capacity, D] buffer pair per layer (capacity ≤ n_positions).
    public func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layerCount: config.nLayer, batchSize: batchSize, kvHeads: config.nHead,
                headDimension: config.headDimension, capacity: min(capacity, config.nPositions))
    }

    /// Mean next-token cross-entropy of `ids` [B, T] (labels = ids shifted by one, as transformers
    /// computes `loss` when `labels=input_ids`).
    public func loss(_ ids: Tensor) -> Tensor {
        let (b, t) = (ids.shape[0], ids.shape[1])
        // The head runs only on the T−1 positions that have a label: slicing the logits instead would
        // copy [B, T−1, V] into rows (100 MB at B4×T64) and zero-fill [B, T, V] again in backward.
        let x = forward(ids, cache: nil, attentionMask: nil, collect: false).0
        let h = x.sliced(axis: 1, 0..<(t - 1)).reshaped(b * (t - 1), config.nEmbd)        // [B·(T-1), C]
        let targets = ids.sliced(axis: 1, 1..<t).reshaped(b * (t - 1))                        // [B·(T-1)]
        return lmHead(h).crossEntropy(targets: targets)
    }

    // MARK: Loading and saving

    /// Loads an HF GPT-2 folder (config.json + safetensors), strictly.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` for a bad config,
    ///   ``ModelLoadError/checkpointMismatch(_:)`` listing every missing, unexpected and mis-shaped key.
    public static func load(folder: HFFolder) throws -> GPT2LMHeadModel {
        let config = try folder.decodeConfig(GPT2Config.self)
        try config.validate(path: (folder.path as NSString).appendingPathComponent("config.json"))
        let model = GPT2LMHeadModel(config: config)
        try model.loadCheckpoint(try folder.tensors())
        return model
    }

    /// Loads checkpoint tensors (keys with or without "transformer.") strictly.
    ///
    /// - Throws: ``ModelLoadError/checkpointMismatch(_:)`` with the ``ModuleError`` description.
    public func loadCheckpoint(_ tensors: [String: Tensor]) throws {
        try loadNormalized(self, tensors, rules: Self.keyRules, tied: config.tieWordEmbeddings)
    }

    /// config.json as transformers writes it for `GPT2LMHeadModel`.
    public func configJSON() throws -> Data {
        try hfConfigJSON(config, modelType: "gpt2", architecture: "GPT2LMHeadModel",
                         nullableKeys: ["bos_token_id", "eos_token_id", "n_inner"])
    }

    /// Saves an HF folder (config.json, model.safetensors with this model's keys; a tied `lm_head`
    /// is not written, as transformers does) that transformers' `from_pretrained` loads.
    ///
    /// - Throws: `CheckpointError` when `path` exists and `overwrite` is false, or writing fails.
    public func save(to path: String, overwrite: Bool = false) throws {
        try HFFolder.save(to: path, config: configJSON(), tensors: stateDictionary(), overwrite: overwrite)
    }
}

/// Encodes `config` with snake_case keys, adds `model_type` and `architectures`, and writes nil
/// optionals in `nullableKeys` as JSON null (transformers would otherwise apply its own defaults).
func hfConfigJSON<C: Encodable>(_ config: C, modelType: String, architecture: String,
                                nullableKeys: [String] = []) throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    var object = try JSONSerialization.jsonObject(with: encoder.encode(config)) as? [String: Any] ?? [:]
    for k in nullableKeys where object[k] == nil { object[k] = NSNull() }
    object["model_type"] = modelType
    object["architectures"] = [architecture]
    object["dtype"] = "float32"
    return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
}
