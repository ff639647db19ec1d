// The Hugging Face config of the llama family (model_type llama, mistral, qwen2), decoded from
// config.json with HF field names. Follows transformers' configuration_llama.py / configuration_qwen2.py
// and modeling_rope_utils.py (both the 4.x `rope_theta` + `rope_scaling` fields and the 5.x
// `rope_parameters` field are read). Not a GGUF config: ScionCheckpoint.LlamaGGUFConfig holds those
// values and ``LlamaConfig/init(gguf:modelType:)`` converts them.

import Foundation
import ScionCheckpoint

/// RoPE frequency scaling, as in transformers' `rope_scaling` / `rope_parameters`.
public struct RopeScaling: Codable, Sendable, Equatable {
    /// "default", "linear" or "llama3" (`rope_type`, or the legacy `type`).
    public var ropeType: String
    /// Divides the inverse frequencies (linear) or the low ones (llama3).
    public var factor: Double?
    /// Llama 3: wavelengths longer than `originalMaxPositionEmbeddings / lowFreqFactor` are divided by `factor`.
    public var lowFreqFactor: Double?
    /// Llama 3: wavelengths shorter than `originalMaxPositionEmbeddings / highFreqFactor` are kept.
    public var highFreqFactor: Double?
    /// Llama 3: the pretraining context length.
    public var originalMaxPositionEmbeddings: Int?

    /// Scaling parameters; only those of `ropeType` are read.
    public init(ropeType: String = "default", factor: Double? = nil, lowFreqFactor: Double? = nil,
                highFreqFactor: Double? = nil, originalMaxPositionEmbeddings: Int? = nil) {
        self.ropeType = ropeType; self.factor = factor; self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor; self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }

    // NOTE: keys are the camelCase forms produced by `.convertFromSnakeCase`; `type` is the pre-4.40 name.
    enum CodingKeys: String, CodingKey {
        case ropeType, type, factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings, ropeTheta
    }

    /// Decodes `rope_scaling` or `rope_parameters`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type) ?? "default"
        factor = try c.decodeIfPresent(Double.self, forKey: .factor)
        lowFreqFactor = try c.decodeIfPresent(Double.self, forKey: .lowFreqFactor)
        highFreqFactor = try c.decodeIfPresent(Double.self, forKey: .highFreqFactor)
        originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
    }

    /// Encodes as `rope_scaling` (legacy form, read by transformers 4.x and 5.x).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ropeType, forKey: .ropeType)
        try c.encodeIfPresent(factor, forKey: .factor)
        try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
        try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
        try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
    }
}

/// A llama-family config (Llama 1–3, Mistral, Qwen2) with HF field names.
///
/// Decode it with ``HFFolder/decodeConfig(_:)`` (snake_case → camelCase) and check it with
/// ``validate(path:)``; ``LlamaForCausalLM/load(folder:)`` does both.
public struct LlamaConfig: Codable, Sendable, Equatable {
    /// "llama", "mistral" or "qwen2".
    public var modelType: String
    /// Vocabulary size V (`vocab_size`).
    public var vocabSize: Int
    /// Model width C (`hidden_size`).
    public var hiddenSize: Int
    /// SwiGLU width (`intermediate_size`).
    public var intermediateSize: Int
    /// Decoder layers (`num_hidden_layers`).
    public var numHiddenLayers: Int
    /// Query heads H (`num_attention_heads`).
    public var numAttentionHeads: Int
    /// Defaults to `numAttentionHeads` (no GQA).
    public var numKeyValueHeads: Int
    /// Defaults to `hiddenSize / numAttentionHeads`.
    public var headDim: Int
    /// RMSNorm ε (`rms_norm_eps`).
    public var rmsNormEps: Double
    /// RoPE base (`rope_theta`, or `rope_parameters.rope_theta` in transformers 5).
    public var ropeTheta: Double
    /// nil = plain RoPE.
    public var ropeScaling: RopeScaling?
    /// Longest supported context (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Whether `lm_head` reuses the token embedding (`tie_word_embeddings`).
    public var tieWordEmbeddings: Bool
    /// Bias on q/k/v/o (Llama's `attention_bias`). Qwen2 always has q/k/v bias and no o bias.
    public var attentionBias: Bool
    /// Bias on the MLP projections.
    public var mlpBias: Bool
    /// Mistral/Qwen2 sliding-window size (active only when ``slidingWindowIsActive``).
    public var slidingWindow: Int?
    /// Qwen2's `use_sliding_window`.
    public var useSlidingWindow: Bool?

    /// A config from values; omitted fields take transformers' defaults.
    public init(modelType: String = "llama", vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil, rmsNormEps: Double = 1e-6,
                ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil, maxPositionEmbeddings: Int = 2048,
                tieWordEmbeddings: Bool = false, attentionBias: Bool = false, mlpBias: Bool = false,
                slidingWindow: Int? = nil, useSlidingWindow: Bool? = nil) {
        self.modelType = modelType; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias; self.mlpBias = mlpBias
        self.slidingWindow = slidingWindow; self.useSlidingWindow = useSlidingWindow
    }

    /// The config of a llama GGUF file (`general.architecture` = llama).
    public init(gguf g: ScionCheckpoint.LlamaGGUFConfig, headDim: Int? = nil, ropeScaling: RopeScaling? = nil) {
        self.init(modelType: "llama", vocabSize: g.vocabSize, hiddenSize: g.hiddenSize, intermediateSize: g.intermediateSize,
                  numHiddenLayers: g.layerCount, numAttentionHeads: g.headCount, numKeyValueHeads: g.kvHeadCount,
                  headDim: headDim, rmsNormEps: g.rmsNormEpsilon, ropeTheta: g.ropeTheta, ropeScaling: ropeScaling,
                  maxPositionEmbeddings: g.contextLength, tieWordEmbeddings: g.tieWordEmbeddings)
    }

    enum CodingKeys: String, CodingKey {
        case modelType, vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads
        case headDim, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, attentionBias, mlpBias
        case slidingWindow, useSlidingWindow
        /// transformers 5.x: `{"rope_type", "rope_theta", "factor", ...}` in one object.
        case ropeParameters
        case architectures
    }

    private struct RopeTheta: Decodable { var ropeTheta: Double? }

    /// Decodes config.json (with `.convertFromSnakeCase`); missing optional fields take transformers' defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        let parameters = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeParameters)
        let parametersTheta = try c.decodeIfPresent(RopeTheta.self, forKey: .ropeParameters)?.ropeTheta
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? parametersTheta ?? 10_000
        var scaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling) ?? parameters
        if scaling?.ropeType == "default" { scaling = nil }
        ropeScaling = scaling
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow)
    }

    /// Encodes config.json fields (use `.convertToSnakeCase`), with `architectures` for transformers.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode([modelType == "qwen2" ? "Qwen2ForCausalLM" : modelType == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"],
                     forKey: .architectures)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        if modelType != "qwen2" {
            try c.encode(attentionBias, forKey: .attentionBias)
            try c.encode(mlpBias, forKey: .mlpBias)
        }
        try c.encodeIfPresent(slidingWindow, forKey: .slidingWindow)
        try c.encodeIfPresent(useSlidingWindow, forKey: .useSlidingWindow)
    }

    /// Whether q/k/v projections carry a bias (always for Qwen2).
    public var qkvBias: Bool { modelType == "qwen2" || attentionBias }
    /// Whether o_proj carries a bias (never for Qwen2).
    public var outputBias: Bool { modelType != "qwen2" && attentionBias }

    /// The sliding window in force, if any: Mistral whenever `sliding_window` is set, Qwen2 only with
    /// `use_sliding_window`. Scion does not implement windowed attention; contexts beyond it are refused.
    public var activeSlidingWindow: Int? {
        guard let w = slidingWindow else { return nil }
        switch modelType {
        case "qwen2": return useSlidingWindow == true ? w : nil
        default: return w
        }
    }

    /// Checks the values a model needs.
    /// - Throws: ``ModelLoadError/invalidConfig(path:field:reason:)`` naming the HF field.
    public func validate(path: String = "config.json") throws {
        func fail(_ field: String, _ reason: String) -> ModelLoadError { .invalidConfig(path: path, field: field, reason: reason) }
        for (v, f) in [(vocabSize, "vocab_size"), (hiddenSize, "hidden_size"), (intermediateSize, "intermediate_size"),
                       (numHiddenLayers, "num_hidden_layers"), (numAttentionHeads, "num_attention_heads"),
                       (numKeyValueHeads, "num_key_value_heads"), (headDim, "head_dim"),
                       (maxPositionEmbeddings, "max_position_embeddings")] where v <= 0 {
            throw fail(f, "must be positive, got \(v)")
        }
        guard ["llama", "mistral", "qwen2"].contains(modelType) else { throw fail("model_type", "'\(modelType)' is not llama, mistral or qwen2") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("num_key_value_heads", "num_attention_heads (\(numAttentionHeads)) is not a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        guard headDim % 2 == 0 else { throw fail("head_dim", "must be even for rotary embeddings, got \(headDim)") }
        guard rmsNormEps > 0 else { throw fail("rms_norm_eps", "must be positive") }
        guard ropeTheta > 0 else { throw fail("rope_theta", "must be positive") }
        if let s = ropeScaling {
            switch s.ropeType {
            case "default": break
            case "linear":
                guard let f = s.factor, f > 0 else { throw fail("rope_scaling.factor", "linear scaling needs a positive factor") }
            case "llama3":
                guard let f = s.factor, f > 0 else { throw fail("rope_scaling.factor", "llama3 scaling needs a positive factor") }
                guard let lo = s.lowFreqFactor, let hi = s.highFreqFactor, hi != lo else {
                    throw fail("rope_scaling.low_freq_factor", "llama3 scaling needs low_freq_factor and a different high_freq_factor")
                }
                _ = (f, lo, hi)
                guard (s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings) > 0 else {
                    throw fail("rope_scaling.original_max_position_embeddings", "must be positive")
                }
            default:
                throw fail("rope_scaling.rope_type", "'\(s.ropeType)' is not supported (default, linear, llama3)")
            }
        }
        if let w = activeSlidingWindow, w <= 0 { throw fail("sliding_window", "must be positive, got \(w)") }
    }

    /// Inverse RoPE frequencies θᵢ = base^(−2i/D) for i < D/2, with `rope_scaling` applied.
    ///
    /// Llama 3 (transformers' `_compute_llama3_parameters`), with wavelength λ = 2π/θ,
    /// L = original_max_position_embeddings:
    /// ```
    /// λ < L/high            → θ
    /// λ > L/low             → θ / factor
    /// otherwise             → (1 − s)·θ/factor + s·θ,   s = (L/λ − low) / (high − low)
    /// ```
    /// Computed in float32 like transformers (its inv_freq is a float32 tensor).
    public var inverseFrequencies: [Double] {
        let d = headDim, half = d / 2
        let base = Float(ropeTheta)
        var inv: [Float] = (0..<half).map { 1 / Foundation.pow(base, Float(2 * $0) / Float(d)) }
        guard let s = ropeScaling else { return inv.map(Double.init) }
        switch s.ropeType {
        case "linear":
            let f = Float(s.factor ?? 1)
            inv = inv.map { $0 / f }
        case "llama3":
            let factor = Float(s.factor ?? 1), low = Float(s.lowFreqFactor ?? 1), high = Float(s.highFreqFactor ?? 4)
            let old = Float(s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings)
            let lowWavelength = old / low, highWavelength = old / high
            inv = inv.map { f in
                let wavelength = 2 * Float.pi / f
                let scaled = wavelength > lowWavelength ? f / factor : f
                if wavelength < highWavelength || wavelength > lowWavelength { return scaled }
                let smooth = (old / wavelength - low) / (high - low)
                return (1 - smooth) * scaled / factor + smooth * scaled
            }
        default: break
        }
        return inv.map(Double.init)
    }
}
