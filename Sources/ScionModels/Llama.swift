// Llama-family decoder (Llama 1–3, Mistral, Qwen2): RMSNorm, GQA attention with rotate-half RoPE
// (default / linear / llama3 scaling), SwiGLU MLP, KV cache. Follows transformers' modeling_llama.py
// and modeling_qwen2.py; keys match their state dicts ("model.layers.0.self_attn.q_proj.weight").
// Weights may be dense or quantized (GGUF Q8_0/Q4_0/Q4_1 stay quantized, §2.6). Not here: sliding-
// window attention (contexts beyond an active window are refused), training-only dropout.

import Foundation
import ScionCheckpoint
import ScionNN
import ScionTensor

/// Makes the weight for `key` with `shape` ([out, in] for projections, [V, C] for the embedding).
typealias WeightFactory = (_ key: String, _ shape: [Int]) throws -> Weight

/// Self-attention with grouped KV heads (`self_attn`).
public final class LlamaAttention: Module {
    /// Projections [H·D, C], [Hkv·D, C], [Hkv·D, C] and [C, H·D].
    public let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
    let heads: Int, kvHeads: Int, headDim: Int

    init(config c: LlamaConfig, prefix: String, weight: WeightFactory) throws {
        heads = c.numAttentionHeads; kvHeads = c.numKeyValueHeads; headDim = c.headDim
        func linear(_ name: String, _ inF: Int, _ outF: Int, _ bias: Bool) throws -> Linear {
            let l = Linear(inFeatures: inF, outFeatures: outF, bias: bias)
            l.weight = try weight(prefix + name + ".weight", [outF, inF])
            return l
        }
        qProj = try linear("q_proj", c.hiddenSize, heads * headDim, c.qkvBias)
        kProj = try linear("k_proj", c.hiddenSize, kvHeads * headDim, c.qkvBias)
        vProj = try linear("v_proj", c.hiddenSize, kvHeads * headDim, c.qkvBias)
        oProj = try linear("o_proj", heads * headDim, c.hiddenSize, c.outputBias)
    }

    public var entries: [ModuleEntry] {
        [.child("q_proj", qProj), .child("k_proj", kProj), .child("v_proj", vProj), .child("o_proj", oProj)]
    }

    /// x [B, T, C] → [B, T, C]; `rope` rotates q/k, `cache` stores k/v for `layer`.
    func callAsFunction(_ x: Tensor, rope: LlamaRoPE, mask: Tensor?, cache: KVCache?, layer: Int) -> Tensor {
        let (b, t) = (x.shape[0], x.shape[1])
        var q = qProj(x).reshaped(b, t, heads, headDim).transposed(1, 2)       // [B, H, T, D]
        var k = kProj(x).reshaped(b, t, kvHeads, headDim).transposed(1, 2)     // [B, Hkv, T, D]
        var v = vProj(x).reshaped(b, t, kvHeads, headDim).transposed(1, 2)     // [B, Hkv, T, D]
        q = rope.apply(q)
        k = rope.apply(k)
        if let cache { (k, v) = cache.append(layer: layer, keys: k.contiguous(), values: v.contiguous()) }  // [B, Hkv, S, D]
        let o = Tensor.scaledDotProductAttention(query: q, key: k, value: v, mask: mask, causal: mask == nil)  // [B, H, T, D]
        return oProj(o.transposed(1, 2).reshaped(b, t, heads * headDim))      // [B, T, C]
    }
}

/// SwiGLU feed-forward: down(silu(gate(x)) · up(x)) (`mlp`).
public final class LlamaMLP: Module {
    /// Projections [I, C], [I, C] and [C, I].
    public let gateProj: Linear, upProj: Linear, downProj: Linear

    init(config c: LlamaConfig, prefix: String, weight: WeightFactory) throws {
        func linear(_ name: String, _ inF: Int, _ outF: Int) throws -> Linear {
            let l = Linear(inFeatures: inF, outFeatures: outF, bias: c.mlpBias)
            l.weight = try weight(prefix + name + ".weight", [outF, inF])
            return l
        }
        gateProj = try linear("gate_proj", c.hiddenSize, c.intermediateSize)
        upProj = try linear("up_proj", c.hiddenSize, c.intermediateSize)
        downProj = try linear("down_proj", c.intermediateSize, c.hiddenSize)
    }

    public var entries: [ModuleEntry] { [.child("gate_proj", gateProj), .child("up_proj", upProj), .child("down_proj", downProj)] }

    func callAsFunction(_ x: Tensor) -> Tensor { downProj(gateProj(x).silu() * upProj(x)) }
}

/// One pre-norm decoder block (`model.layers.N`).
public final class LlamaDecoderLayer: Module {
    /// Attention and feed-forward sub-blocks.
    public let selfAttn: LlamaAttention, mlp: LlamaMLP
    /// Pre-attention and pre-MLP RMS norms.
    public let inputLayernorm: RMSNorm, postAttentionLayernorm: RMSNorm

    init(config c: LlamaConfig, prefix: String, weight: WeightFactory) throws {
        selfAttn = try LlamaAttention(config: c, prefix: prefix + "self_attn.", weight: weight)
        mlp = try LlamaMLP(config: c, prefix: prefix + "mlp.", weight: weight)
        inputLayernorm = RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps)
        postAttentionLayernorm = RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps)
    }

    public var entries: [ModuleEntry] {
        [.child("self_attn", selfAttn), .child("mlp", mlp),
         .child("input_layernorm", inputLayernorm), .child("post_attention_layernorm", postAttentionLayernorm)]
    }

    func callAsFunction(_ x: Tensor, rope: LlamaRoPE, mask: Tensor?, cache: KVCache?, layer: Int) -> Tensor {
        let h = x + selfAttn(inputLayernorm(x), rope: rope, mask: mask, cache: cache, layer: layer)
        return h + mlp(postAttentionLayernorm(h))
    }
}

/// The decoder stack without the LM head (`model`).
public final class LlamaModel: Module {
    /// Token embedding [V, C].
    public let embedTokens: Embedding
    /// Decoder blocks.
    public let layers: [LlamaDecoderLayer]
    /// Final RMS norm.
    public let norm: RMSNorm

    init(config c: LlamaConfig, weight: WeightFactory) throws {
        embedTokens = Embedding(count: c.vocabSize, dimension: c.hiddenSize)
        embedTokens.weight = try weight("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        layers = try (0..<c.numHiddenLayers).map { try LlamaDecoderLayer(config: c, prefix: "model.layers.\($0).", weight: weight) }
        norm = RMSNorm(dimension: c.hiddenSize, eps: c.rmsNormEps)
    }

    public var entries: [ModuleEntry] {
        [.child("embed_tokens", embedTokens), .list("layers", layers), .child("norm", norm)]
    }
}

/// Rotary tables for one forward pass: one table when every row shares positions, else one per row.
struct LlamaRoPE {
    let tables: [(cos: Tensor, sin: Tensor)]

    func apply(_ x: Tensor) -> Tensor {                                        // [B, H, T, D]
        if tables.count == 1 { return x.rotaryEmbedding(cos: tables[0].cos, sin: tables[0].sin) }
        let rows = tables.enumerated().map { i, t in
            x.sliced(axis: 0, i..<(i + 1)).rotaryEmbedding(cos: t.cos, sin: t.sin)  // [1, H, T, D]
        }
        return Tensor.concat(rows, axis: 0)
    }
}

/// A llama-family causal LM (`LlamaForCausalLM` / `MistralForCausalLM` / `Qwen2ForCausalLM`).
///
/// ```swift
/// let model = try LlamaForCausalLM.load(folder: HFFolder(path: "SmolLM2-135M"))
/// let logits = model(Tensor(indices: [504, 3575, 282], shape: [1, 3]))   // [1, 3, V]
/// ```
///
/// Tied embeddings share one weight (one `Parameter` or one `QuantizedMatrix`) between
/// `model.embed_tokens.weight` and `lm_head.weight`; the key set then lacks `lm_head.weight`,
/// as transformers' state dict does on save.
public final class LlamaForCausalLM: LanguageModel {
    /// The HF config this model was built from.
    public let config: LlamaConfig
    /// The decoder stack (`model.`).
    public let model: LlamaModel
    /// Output projection [V, C] (`lm_head`); shares the embedding's weight when tied.
    public let lmHead: Linear
    /// When true (and without a cache or mask), each layer's activations are recomputed during
    /// backward instead of kept (`Tensor.checkpointed`).
    public var gradientCheckpointing = false
    let inverseFrequencies: [Double]

    /// Key rules for HF checkpoints: base prefix "model.", the old `rotary_emb.inv_freq` buffer, tied lm_head.
    public static let keyRules = KeyRules(basePrefix: "model.", ignoredSuffixes: ["rotary_emb.inv_freq"],
                                          tiedKeys: ["lm_head.weight"])

    init(config: LlamaConfig, weight: WeightFactory) throws {
        self.config = config
        model = try LlamaModel(config: config, weight: weight)
        lmHead = Linear(inFeatures: config.hiddenSize, outFeatures: config.vocabSize, bias: false)
        lmHead.weight = config.tieWordEmbeddings
            ? model.embedTokens.weight
            : try weight("lm_head.weight", [config.vocabSize, config.hiddenSize])
        inverseFrequencies = config.inverseFrequencies
    }

    /// A randomly initialized model (weights normal(0, 0.02) as transformers' `initializer_range`,
    /// biases 0, norms 1).
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` for an invalid config.
    public convenience init(config: LlamaConfig, generator: inout RandomGenerator) throws {
        try config.validate(path: "<config>")
        var g = generator
        try self.init(config: config) { _, shape in .dense(Parameter(Tensor.normal(shape, std: 0.02, generator: &g))) }
        generator = g
    }

    public var entries: [ModuleEntry] { [.child("model", model), .child("lm_head", lmHead)] }

    public var vocabularySize: Int { config.vocabSize }
    /// The context limit; an active sliding window (Mistral, Qwen2 with use_sliding_window) lowers it,
    /// because Scion's attention is full: beyond the window the outputs would differ from transformers,
    /// so generation and evaluation refuse (or truncate) longer inputs instead.
    public var maxPositions: Int { min(config.maxPositionEmbeddings, config.activeSlidingWindow ?? Int.max) }
    public var layerCount: Int { config.numHiddenLayers }

    /// A KV cache [B, Hkv, capacity, D] per layer.
    public func makeCache(batchSize: Int, capacity: Int) -> KVCache {
        KVCache(layerCount: config.numHiddenLayers, batchSize: batchSize, kvHeads: config.numKeyValueHeads,
                headDimension: config.headDim, capacity: capacity)
    }

    /// Runs the decoder stack; returns the final normed hidden state and, when `collect`, HF's
    /// `hidden_states` (embedding output, each layer's output, the last one after the final norm).
    func decode(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?, collect: Bool) -> (Tensor, [Tensor]) {
        precondition(ids.rank == 2, "LlamaForCausalLM: ids must be [B, T], got \(ids.shape)")
        let (b, t) = (ids.shape[0], ids.shape[1])
        let past = cache?.length ?? 0
        let total = past + t
        if let w = config.activeSlidingWindow {
            precondition(total <= w, "LlamaForCausalLM: context of \(total) tokens exceeds the sliding window (\(w)) of this \(config.modelType) model; sliding-window attention is not implemented")
        }
        // Positions: HF generate() derives them from the mask's cumsum (left padding); else past..<total.
        var positions: [[Int]] = [Array(past..<total)]
        var mask: Tensor? = nil
        if let attentionMask {
            precondition(attentionMask.shape == [b, total], "LlamaForCausalLM: attention mask \(attentionMask.shape), expected [\(b), \(total)]")
            let m = attentionMask.ints()
            positions = (0..<b).map { row in
                var run = 0
                var all: [Int] = []
                for s in 0..<total {
                    run += m[row * total + s]
                    all.append(m[row * total + s] == 0 ? 1 : run - 1)
                }
                return Array(all[past...])
            }
            if positions.allSatisfy({ $0 == positions[0] }) { positions = [positions[0]] }
            // Additive [B, 1, T, S]: 0 where causal and not padding, −∞ elsewhere. A query with nothing to attend (a padding
            // position) attends itself, so no row is all −∞ (its output is never used).
            var allowed = [Double](repeating: -.infinity, count: b * t * total)
            for row in 0..<b {
                for i in 0..<t {
                    var any = false
                    for s in 0...(past + i) where m[row * total + s] != 0 { allowed[(row * t + i) * total + s] = 0; any = true }
                    if !any { allowed[(row * t + i) * total + past + i] = 0 }
                }
            }
            mask = Tensor(doubles: allowed, shape: [b, 1, t, total], dtype: .float32)
        }
        let rope = LlamaRoPE(tables: positions.map {
            Tensor.ropeTables(positions: $0, rotaryDimension: config.headDim, base: config.ropeTheta,
                              inverseFrequencies: inverseFrequencies)
        })
        var x = model.embedTokens(ids)                                            // [B, T, C]
        var states: [Tensor] = collect ? [x] : []
        let recompute = gradientCheckpointing && cache == nil && mask == nil && GradientMode.enabled
        for (i, layer) in model.layers.enumerated() {
            if recompute {
                x = Tensor.checkpointed([x]) { layer($0[0], rope: rope, mask: nil, cache: nil, layer: i) }
            } else {
                x = layer(x, rope: rope, mask: mask, cache: cache, layer: i)
            }
            if collect && i < model.layers.count - 1 { states.append(x) }
        }
        x = model.norm(x)
        if collect { states.append(x) }
        return (x, states)
    }

    /// Logits [B, T, V] for ids [B, T]; with a cache, positions continue from `cache.length`; with a
    /// mask [B, cached + T] (left padding), positions come from the mask's cumsum as in HF generate().
    public func logits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        lmHead(decode(ids, cache: cache, attentionMask: attentionMask, collect: false).0)   // [B, T, V]
    }

    /// Logits of the last position only [B, V]: the head runs on one row per sequence.
    public func nextTokenLogits(_ ids: Tensor, cache: KVCache?, attentionMask: Tensor?) -> Tensor {
        let x = decode(ids, cache: cache, attentionMask: attentionMask, collect: false).0   // [B, T, C]
        let t = x.shape[1]
        return lmHead(x.sliced(axis: 1, (t - 1)..<t).reshaped([x.shape[0], x.shape[2]]))
    }

    /// HF's `hidden_states`: the embedding output, the outputs of layers 0…L−2, and the final-normed
    /// output of the last layer (L + 1 tensors [B, T, C]).
    public func hiddenStates(_ ids: Tensor) -> [Tensor] {
        decode(ids, cache: nil, attentionMask: nil, collect: true).1
    }
}

extension LlamaForCausalLM {
    /// Loads a model from an HF folder (config.json + safetensors), strictly.
    ///
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` for a bad config,
    ///   ``ModelLoadError/checkpointMismatch(_:)`` with every missing, unexpected or wrongly shaped key.
    public static func load(folder: HFFolder) throws -> LlamaForCausalLM {
        let config = try folder.decodeConfig(LlamaConfig.self)
        try config.validate(path: (folder.path as NSString).appendingPathComponent("config.json"))
        let model = try LlamaForCausalLM(config: config) { _, shape in .dense(Parameter(Tensor.zeros(shape))) }
        let keys = Set(model.namedLeaves().map { $0.0 })
        let tensors = keyRules.normalize(try folder.tensors(), modelKeys: keys, tied: config.tieWordEmbeddings)
        do {
            try model.load(tensors)
        } catch let error as ModuleError {
            throw ModelLoadError.checkpointMismatch(error.description)
        }
        return model
    }

    /// Saves an HF folder transformers loads (`LlamaForCausalLM.from_pretrained`); quantized weights are
    /// dequantized. Tied models omit `lm_head.weight`, as transformers does.
    public func save(to path: String, overwrite: Bool = false) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try HFFolder.save(to: path, config: try encoder.encode(config), tensors: stateDictionary(), overwrite: overwrite)
    }

    /// Loads a llama GGUF file. Q8_0/Q4_0/Q4_1 matrices stay quantized over the memory-mapped blocks
    /// (zero-copy), except Q and K whose rows llama.cpp permuted within each head: their block rows are
    /// reordered back (a copy, still quantized, exact). F32/F16 tensors become dense float32; other
    /// quantization types (K-quants, Q5_x) are dequantized to dense float32.
    ///
    /// - Throws: ``CheckpointError`` for malformed metadata, ``ModelLoadError/checkpointMismatch(_:)``
    ///   naming the missing or wrongly shaped tensors.
    public static func load(gguf file: GGUFFile) throws -> LlamaForCausalLM {
        let g = try LlamaGGUF.config(of: file)
        let arch = file.architecture ?? "llama"
        let headDim = file.metadata["\(arch).attention.key_length"]?.intValue
            ?? file.metadata["\(arch).rope.dimension_count"]?.intValue
        var scaling: RopeScaling? = nil
        if file.metadata["\(arch).rope.scaling.type"]?.stringValue == "linear",
           let f = file.metadata["\(arch).rope.scaling.factor"]?.doubleValue {
            scaling = RopeScaling(ropeType: "linear", factor: f)
        }
        let config = LlamaConfig(gguf: g, headDim: headDim, ropeScaling: scaling)
        try config.validate(path: file.path)
        var problems: [String] = []
        let model = try LlamaForCausalLM(config: config) { key, shape in
            guard let name = LlamaGGUF.ggufName(forHF: key), let t = try? file.tensor(named: name) else {
                problems.append("missing tensor \(key) (GGUF \(LlamaGGUF.ggufName(forHF: key) ?? "?"))")
                return .dense(Parameter(Tensor.zeros(shape)))
            }
            guard t.shape == shape else {
                problems.append("\(key) (GGUF \(name)): expected shape \(shape), file has \(t.shape)")
                return .dense(Parameter(Tensor.zeros(shape)))
            }
            let heads = key.hasSuffix("q_proj.weight") ? config.numAttentionHeads : key.hasSuffix("k_proj.weight") ? config.numKeyValueHeads : 0
            let format: QuantizationFormat? = t.type == .q8_0 ? .q8_0 : t.type == .q4_0 ? .q4_0 : t.type == .q4_1 ? .q4_1 : nil
            if let format {
                let (storage, offset) = t.rawStorage
                var q = try QuantizedMatrix(format: format, rows: shape[0], columns: shape[1], storage: storage, byteOffset: offset)
                if heads > 0 { q = q.rowsPermuted(ggufToHFRowOrder(rows: shape[0], heads: heads)) }
                return .quantized(q)
            }
            // NOTE: dense fallback (F32/F16, and quantization types without a fused kernel).
            var w = try t.dequantized().cast(.float32)
            if heads > 0 { w = LlamaGGUF.unpermuteFromGGUF(w, headCount: heads) }
            return .dense(Parameter(w))
        }
        // Norms: dense F32 vectors.
        var norms: [(String, Parameter)] = [("model.norm.weight", model.model.norm.weight)]
        for (i, layer) in model.model.layers.enumerated() {
            norms.append(("model.layers.\(i).input_layernorm.weight", layer.inputLayernorm.weight))
            norms.append(("model.layers.\(i).post_attention_layernorm.weight", layer.postAttentionLayernorm.weight))
        }
        for (key, p) in norms {
            guard let name = LlamaGGUF.ggufName(forHF: key), let t = try? file.tensor(named: name) else {
                problems.append("missing tensor \(key) (GGUF \(LlamaGGUF.ggufName(forHF: key) ?? "?"))"); continue
            }
            let w = try t.dequantized().cast(.float32)
            guard w.shape == p.shape else { problems.append("\(key) (GGUF \(name)): expected shape \(p.shape), file has \(w.shape)"); continue }
            p.value = w
        }
        if !problems.isEmpty {
            throw ModelLoadError.checkpointMismatch("\(file.path) does not match the llama model: " + problems.joined(separator: "; "))
        }
        return model
    }

    /// For each HF row of Q or K, the GGUF row holding it: within a head of D rows, HF row j·D/2 + i is
    /// GGUF row 2i + j (llama.cpp interleaves the rotate-half pairs; see LlamaGGUF.permuteForGGUF).
    static func ggufToHFRowOrder(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var order = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for j in 0..<2 { for i in 0..<half { order[h * d + j * half + i] = h * d + 2 * i + j } }
        }
        return order
    }
}
