// A checkpoint as growth operators see it: an architecture family, the HF config.json, and dense
// tensors keyed by HF names (ARCHITECTURE.md §2.7). Operators are functions Checkpoint → Checkpoint
// and never touch module objects; loading and saving go through ScionModels, so a checkpoint that
// loads here loads strictly there, and a saved one is an HF folder transformers reads.

import Foundation
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

/// The architecture families growth operators know, with their config and key spellings.
public enum ModelFamily: String, Sendable, CaseIterable, Codable {
    /// GPT-2 (`model_type` "gpt2"): pre-LayerNorm, Conv1D weights [in, out], learned positions.
    case gpt2
    /// Llama family (`model_type` "llama", "mistral", "qwen2"): RMSNorm, SwiGLU, GQA, RoPE.
    case llama
    /// BERT (`model_type` "bert", `BertModel` or `BertForMaskedLM`): post-LayerNorm encoder.
    case bert

    /// The family of an HF `model_type`, or nil.
    public init?(modelType: String) {
        switch modelType {
        case "gpt2": self = .gpt2
        case "llama", "mistral", "qwen2": self = .llama
        case "bert": self = .bert
        default: return nil
        }
    }

    /// config.json's layer-count field.
    public var layerCountKey: String { self == .gpt2 ? "n_layer" : "num_hidden_layers" }
    /// config.json's hidden-size field.
    public var hiddenSizeKey: String { self == .gpt2 ? "n_embd" : "hidden_size" }
    /// config.json's attention-head field.
    public var headCountKey: String { self == .gpt2 ? "n_head" : "num_attention_heads" }
    /// config.json's FFN inner-size field.
    public var intermediateSizeKey: String { self == .gpt2 ? "n_inner" : "intermediate_size" }
}

/// An architecture config plus its tensors keyed by HF names, with the lineage that produced it.
///
/// ```swift
/// let seed = try Checkpoint(folder: "runs/small")
/// let grown = try GStack(growthFactor: 4).grow(seed)
/// try grown.save(to: "runs/small-x4")
/// ```
public struct Checkpoint: Sendable {
    /// The architecture family.
    public var family: ModelFamily
    /// config.json, as JSON bytes (unknown fields are kept).
    public var configData: Data
    /// Dense tensors by HF key (the model's own key spelling; tied heads omitted).
    public var tensors: [String: Tensor]
    /// Files copied along when saving (tokenizer.json, tokenizer_config.json, generation_config.json, …).
    public var extraFiles: [String: Data]
    /// How this checkpoint was made (empty for a seed).
    public var lineage: Lineage
    /// SHA-256 of the weights this checkpoint was read from, if it came from disk.
    public var sourceDigest: String?
    /// The folder this checkpoint was read from, if any.
    public var sourcePath: String?

    /// Side files carried from a parent folder into grown folders.
    public static let carriedFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "generation_config.json", "vocab.txt", "vocab.json", "merges.txt"]

    /// A checkpoint from parts.
    public init(family: ModelFamily, configData: Data, tensors: [String: Tensor], extraFiles: [String: Data] = [:],
                lineage: Lineage = Lineage()) {
        self.family = family; self.configData = configData; self.tensors = tensors
        self.extraFiles = extraFiles; self.lineage = lineage
    }

    /// Reads an HF folder: the model is loaded strictly through ScionModels (so malformed folders
    /// fail here with the model's own error) and its state dictionary becomes `tensors`.
    ///
    /// - Throws: ``GrowthError/unsupported(operator:reason:)`` for an unknown `model_type`, and
    ///   ScionModels' `ModelLoadError` for a bad config or mismatched tensors.
    public init(folder path: String) throws {
        let folder = try HFFolder(path: path)
        guard let type = folder.modelType, let family = ModelFamily(modelType: type) else {
            throw GrowthError.unsupported(operator: "load", reason: "model_type '\(folder.modelType ?? "?")' (supported: gpt2, llama, mistral, qwen2, bert)")
        }
        let state: [String: Tensor]
        switch family {
        case .gpt2: state = try GPT2LMHeadModel.load(folder: folder).stateDictionary()
        case .llama: state = try LlamaForCausalLM.load(folder: folder).stateDictionary()
        case .bert:
            state = folder.architectures.contains("BertForMaskedLM")
                ? try BertForMaskedLM.load(folder: folder).stateDictionary()
                : try BertModel.load(folder: folder).stateDictionary()
        }
        var extra: [String: Data] = [:]
        for name in Self.carriedFiles {
            if let d = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)) { extra[name] = d }
        }
        self.init(family: family, configData: folder.configData, tensors: state, extraFiles: extra,
                  lineage: try Lineage.read(folder: path) ?? Lineage())
        sourceDigest = try Lineage.weightsDigest(folder: path)
        sourcePath = path
    }

    // MARK: Config

    /// config.json as a dictionary.
    public var config: [String: Any] {
        (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] ?? [:]
    }

    /// An integer config field (nil when absent or null).
    public func int(_ key: String) -> Int? { (config[key] as? NSNumber)?.intValue }

    /// A boolean config field.
    public func bool(_ key: String) -> Bool? { (config[key] as? NSNumber)?.boolValue }

    /// Rewrites config.json through `body` (keys sorted, pretty-printed).
    public mutating func updateConfig(_ body: (inout [String: Any]) -> Void) throws {
        var c = config
        body(&c)
        configData = try JSONSerialization.data(withJSONObject: c, options: [.prettyPrinted, .sortedKeys])
    }

    /// Number of transformer blocks L.
    public var layerCount: Int { int(family.layerCountKey) ?? 0 }
    /// Hidden size C.
    public var hiddenSize: Int { int(family.hiddenSizeKey) ?? 0 }
    /// Query heads H.
    public var headCount: Int { int(family.headCountKey) ?? 1 }
    /// Key/value heads (GQA groups); H for GPT-2 and BERT.
    public var keyValueHeadCount: Int { family == .llama ? int("num_key_value_heads") ?? headCount : headCount }
    /// Head dimension D (Llama's `head_dim`, else C / H).
    public var headDimension: Int { family == .llama ? int("head_dim") ?? hiddenSize / headCount : hiddenSize / headCount }
    /// FFN inner size F (GPT-2's null `n_inner` means 4C).
    public var intermediateSize: Int { int(family.intermediateSizeKey) ?? 4 * hiddenSize }
    /// Whether the output head shares the token embedding.
    public var tiedEmbeddings: Bool { bool("tie_word_embeddings") ?? (family != .llama) }
    /// Vocabulary size V.
    public var vocabularySize: Int { int("vocab_size") ?? 0 }
    /// Longest sequence the model takes (`n_positions` or `max_position_embeddings`).
    public var maxPositions: Int { int("n_positions") ?? int("max_position_embeddings") ?? 512 }
    /// Whether this BERT checkpoint carries the masked-LM head.
    public var hasMaskedLMHead: Bool { tensors.keys.contains { $0.hasPrefix("cls.") } }

    // MARK: Layers

    /// The key prefix of the block list, with its trailing dot ("transformer.h.", "model.layers.",
    /// "encoder.layer.", "bert.encoder.layer.").
    public var layerPrefix: String {
        switch family {
        case .gpt2: return "transformer.h."
        case .llama: return "model.layers."
        case .bert: return tensors.keys.contains { $0.hasPrefix("bert.encoder.layer.") } ? "bert.encoder.layer." : "encoder.layer."
        }
    }

    /// The tensors of block `i`, keyed by the suffix after "<prefix><i>." (e.g. "attn.c_proj.weight").
    public func layer(_ i: Int) -> [String: Tensor] {
        let p = layerPrefix + "\(i)."
        var out: [String: Tensor] = [:]
        for (k, t) in tensors where k.hasPrefix(p) { out[String(k.dropFirst(p.count))] = t }
        return out
    }

    /// Tensors outside the block list (embeddings, final norm, heads, pooler).
    public var nonLayerTensors: [String: Tensor] { tensors.filter { !$0.key.hasPrefix(layerPrefix) } }

    /// This checkpoint with its blocks replaced by `layers` (in order); the layer count and
    /// per-layer config lists (Qwen2's `layer_types`, through `layerSource`) follow.
    func replacingLayers(_ layers: [[String: Tensor]], layerSource: [Int]) throws -> Checkpoint {
        var out = self
        var t = nonLayerTensors
        for (i, layer) in layers.enumerated() {
            for (suffix, tensor) in layer { t[layerPrefix + "\(i).\(suffix)"] = tensor }
        }
        out.tensors = t
        let layerKey = family.layerCountKey
        try out.updateConfig { c in
            c[layerKey] = layers.count
            if let types = c["layer_types"] as? [Any], !types.isEmpty {
                c["layer_types"] = layerSource.map { types[min($0, types.count - 1)] }
            }
        }
        return out
    }

    // MARK: Saving

    /// Checks that config.json decodes and validates as the family's ScionModels config, and that
    /// the tensors load strictly into a model of that config, without writing anything.
    ///
    /// - Throws: `ModelLoadError` naming the bad field or the mismatched keys.
    public func checkLoadable() throws {
        _ = try instantiate()
    }

    /// Builds the ScionModels model for this config and loads the tensors strictly.
    func instantiate() throws -> any Module {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        switch family {
        case .gpt2:
            let c = try decoder.decode(GPT2Config.self, from: configData)
            try c.validate()
            let m = GPT2LMHeadModel(config: c)
            try m.loadCheckpoint(tensors)
            return m
        case .llama:
            let c = try decoder.decode(LlamaConfig.self, from: configData)
            try c.validate()
            var g = RandomGenerator(seed: 0)
            let m = try LlamaForCausalLM(config: c, generator: &g)
            let normalized = LlamaForCausalLM.keyRules.normalize(tensors, modelKeys: Set(m.namedParameters().map { $0.0 }),
                                                                  tied: c.tieWordEmbeddings)
            do { try m.load(normalized) } catch let e as ModuleError { throw ModelLoadError.checkpointMismatch(e.description) }
            return m
        case .bert:
            let c = try decoder.decode(BertConfig.self, from: configData)
            try c.validate()
            if hasMaskedLMHead {
                let m = BertForMaskedLM(config: c)
                let normalized = BertModel.keyRules.normalize(tensors, modelKeys: Set(m.namedParameters().map { $0.0 }),
                                                               tied: c.tieWordEmbeddings)
                do { try m.load(normalized) } catch let e as ModuleError { throw ModelLoadError.checkpointMismatch(e.description) }
                return m
            }
            let m = BertModel(config: c, addPoolingLayer: tensors.keys.contains { $0.hasPrefix("pooler.") })
            try m.loadCheckpoint(tensors)
            return m
        }
    }

    /// Writes an HF folder: config.json, model.safetensors, the carried side files and the lineage
    /// manifest. The checkpoint is checked with ``checkLoadable()`` first, so nothing is written
    /// for a config or tensor set ScionModels would refuse.
    ///
    /// - Throws: `ModelLoadError` from the check, `CheckpointError` when `path` exists and
    ///   `overwrite` is false or writing fails.
    public func save(to path: String, overwrite: Bool = false) throws {
        try checkLoadable()
        var extra = extraFiles
        if !lineage.steps.isEmpty { extra[Lineage.fileName] = try lineage.jsonData() }
        try HFFolder.save(to: path, config: configData, tensors: tensors.mapValues { $0.contiguous() },
                          extraFiles: extra, overwrite: overwrite)
    }

    /// Total number of parameters (elements over all tensors; a tied head counts once).
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// A derived checkpoint with `step` appended to the lineage (parent digest and path from self).
    func derived(operatorName: String, parameters: [String: String]) -> Checkpoint {
        var out = self
        out.lineage = lineage.appending(Lineage.Step(operatorName: operatorName, parameters: parameters,
                                                     parentSHA256: sourceDigest, parentPath: sourcePath))
        out.sourceDigest = nil
        out.sourcePath = nil
        return out
    }
}
