// GGUF ↔ Hugging Face mapping for llama-family checkpoints: tensor names, the Q/K row permutation that
// llama.cpp's convert_hf_to_gguf.py applies (`LlamaModel.permute`) and its inverse, the config values,
// and a loader that turns a whole llama GGUF into HF-named, HF-layout float32 tensors.
// Follows FORMATS.md §4 and transformers' modeling_llama.py key names. Not for gemma/qwen-style
// architectures: they are not permuted and have extra norms.

import ScionTensor

/// The hyper-parameters a llama decoder needs, read from GGUF metadata (`llama.*` keys).
public struct LlamaGGUFConfig: Sendable, Equatable, Codable {
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var ropeTheta: Double
    public var rmsNormEpsilon: Double
    public var contextLength: Int
    /// True when the file has no `output.weight`: the LM head reuses the token embedding.
    public var tieWordEmbeddings: Bool
    /// Per-head dimension `hiddenSize / headCount`.
    public var headDimension: Int { hiddenSize / headCount }

    public init(hiddenSize: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, intermediateSize: Int, vocabSize: Int,
                ropeTheta: Double, rmsNormEpsilon: Double, contextLength: Int, tieWordEmbeddings: Bool) {
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.contextLength = contextLength
        self.tieWordEmbeddings = tieWordEmbeddings
    }
}

/// A llama GGUF file mapped to Hugging Face names and layout.
public struct LlamaGGUFCheckpoint: Sendable {
    /// The model's hyper-parameters.
    public var config: LlamaGGUFConfig
    /// Dequantized float32 tensors keyed by HF names (`model.layers.0.self_attn.q_proj.weight`), HF layout.
    public var tensors: [String: Tensor]
    /// GGUF tensors with no HF counterpart (for example `rope_freqs.weight`), left out of ``tensors``.
    public var unmappedTensorNames: [String]
}

/// Name and layout conversion between llama.cpp's GGUF and Hugging Face's llama checkpoints.
public enum LlamaGGUF {
    private static let blockNames: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
        ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"),
        ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ]
    private static let globalNames: [(gguf: String, hf: String)] = [
        ("token_embd", "model.embed_tokens"), ("output_norm", "model.norm"), ("output", "lm_head"),
    ]

    /// The HF name for a GGUF tensor name (`blk.3.ffn_up.weight` → `model.layers.3.mlp.up_proj.weight`), or nil.
    public static func hfName(forGGUF name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        if parts.count == 2, let m = globalNames.first(where: { $0.gguf == parts[0] }) { return "\(m.hf).\(suffix)" }
        if parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
           let m = blockNames.first(where: { $0.gguf == parts[2] }) {
            return "model.layers.\(layer).\(m.hf).\(suffix)"
        }
        return nil
    }

    /// The GGUF name for an HF llama tensor name, or nil.
    public static func ggufName(forHF name: String) -> String? {
        for m in globalNames {
            for suffix in ["weight", "bias"] where name == "\(m.hf).\(suffix)" { return "\(m.gguf).\(suffix)" }
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]), layer >= 0,
              String(layer) == parts[2], let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        let middle = parts[3..<(parts.count - 1)].joined(separator: ".")
        guard let m = blockNames.first(where: { $0.hf == middle }) else { return nil }
        return "blk.\(layer).\(m.gguf).\(suffix)"
    }

    /// HF → GGUF row order for Q or K (weight `[out, in]` or bias `[out]`): within each head, rows
    /// `(2, D/2)` become `(D/2, 2)`, so rotate-half pairs (i, i + D/2) become adjacent (2i, 2i + 1).
    ///
    /// `headCount` is the number of query heads for Q and of key/value heads for K.
    /// Precondition: `out` is a multiple of `2 · headCount`.
    public static func permuteForGGUF(_ weight: Tensor, headCount: Int) -> Tensor {
        swapHalves(weight, headCount: headCount, from: 2)
    }

    /// GGUF → HF row order for Q or K: the inverse of ``permuteForGGUF(_:headCount:)``.
    public static func unpermuteFromGGUF(_ weight: Tensor, headCount: Int) -> Tensor {
        swapHalves(weight, headCount: headCount, from: nil)
    }

    /// Views rows as [H, a, b] (a = 2 when `from` is 2, else a = D/2), swaps a and b, flattens back.
    private static func swapHalves(_ w: Tensor, headCount: Int, from: Int?) -> Tensor {
        let rows = w.shape.first ?? 0
        precondition(headCount > 0 && rows % (2 * headCount) == 0,
                     "LlamaGGUF permutation: \(rows) rows not divisible into \(headCount) heads of even size")
        let half = rows / headCount / 2
        let rest = Array(w.shape.dropFirst())
        let inner = from == 2 ? [2, half] : [half, 2]
        return w.contiguous()
            .reshaped([headCount] + inner + rest)  // [H, 2, D/2, in] or [H, D/2, 2, in]
            .transposed(1, 2)                      // swap the pair axes
            .contiguous()
            .reshaped(w.shape)                     // [out, in]
    }

    /// The config values of a llama GGUF file.
    /// - Throws: ``CheckpointError/missingMetadata(path:key:)`` or ``CheckpointError/invalidMetadata(path:key:reason:)``.
    public static func config(of file: GGUFFile) throws -> LlamaGGUFConfig {
        let arch = file.architecture ?? "llama"
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = file.metadata["\(arch).\(key)"] else {
                if let value { return value }
                throw CheckpointError.missingMetadata(path: file.path, key: "\(arch).\(key)")
            }
            guard let i = v.intValue, i > 0 else {
                throw CheckpointError.invalidMetadata(path: file.path, key: "\(arch).\(key)", reason: "not a positive integer: \(v)")
            }
            return i
        }
        func double(_ key: String, default value: Double? = nil) throws -> Double {
            guard let v = file.metadata["\(arch).\(key)"] else {
                if let value { return value }
                throw CheckpointError.missingMetadata(path: file.path, key: "\(arch).\(key)")
            }
            guard let d = v.doubleValue, d.isFinite else {
                throw CheckpointError.invalidMetadata(path: file.path, key: "\(arch).\(key)", reason: "not a number: \(v)")
            }
            return d
        }
        let heads = try int("attention.head_count")
        var vocab = file.metadata["\(arch).vocab_size"]?.intValue ?? file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
        if vocab == nil, let embd = try? file.tensor(named: "token_embd.weight") { vocab = embd.shape.first }
        guard let vocab else { throw CheckpointError.missingMetadata(path: file.path, key: "\(arch).vocab_size") }
        return LlamaGGUFConfig(hiddenSize: try int("embedding_length"), layerCount: try int("block_count"), headCount: heads,
                           kvHeadCount: try int("attention.head_count_kv", default: heads),
                           intermediateSize: try int("feed_forward_length"), vocabSize: vocab,
                           ropeTheta: try double("rope.freq_base", default: 10_000),
                           rmsNormEpsilon: try double("attention.layer_norm_rms_epsilon"),
                           contextLength: try int("context_length"),
                           tieWordEmbeddings: !file.contains("output.weight"))
    }

    /// Loads a whole llama GGUF file as HF-named float32 tensors in HF layout (Q/K rows un-permuted).
    ///
    /// - Throws: ``CheckpointError`` for missing or malformed metadata, a Q/K tensor whose rows do not split
    ///   into the configured heads, or a tensor type without a dequantizer.
    public static func load(_ file: GGUFFile) throws -> LlamaGGUFCheckpoint {
        let config = try config(of: file)
        var tensors: [String: Tensor] = [:]
        var unmapped: [String] = []
        for t in file.tensors {
            guard let hf = hfName(forGGUF: t.name) else { unmapped.append(t.name); continue }
            var w = try t.dequantized()
            let heads = t.name.contains(".attn_q.") ? config.headCount : t.name.contains(".attn_k.") ? config.kvHeadCount : 0
            if heads > 0 {
                guard let rows = w.shape.first, rows % (2 * heads) == 0 else {
                    throw CheckpointError.invalidTensorInfo(path: file.path, tensor: t.name,
                                                            reason: "shape \(w.shape) does not split into \(heads) heads")
                }
                w = unpermuteFromGGUF(w, headCount: heads)
            }
            tensors[hf] = w
        }
        return LlamaGGUFCheckpoint(config: config, tensors: tensors, unmappedTensorNames: unmapped)
    }
}
