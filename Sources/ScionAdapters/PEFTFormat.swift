// PEFT's adapter file format, read and written once for every method: a directory with
// adapter_config.json (the config dataclass, PEFT's key names; unknown keys ignored on read) and
// adapter_model.safetensors, whose keys are "base_model.model." + module key + parameter name
// ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"). The in-memory tree already uses
// those names minus the prefix (see `Linear`'s adapter slot), so saving and loading are a prefix rule.
// Embedding adapters (LoRA) use PEFT's `lora_embedding_A` / `lora_embedding_B` keys the same way
// ("base_model.model.model.embed_tokens.lora_embedding_A"). Methods PEFT lacks use the same layout with
// their own `peft_type`. The config is written atomically; the weights by the atomic safetensors writer.
// PEFT (save_embedding_layers="auto") also writes the whole table of a targeted embedding as
// "<module>.base_layer.weight"; Scion reads it into the base weight (shape-checked) as PEFT does, and
// does not write it (the adapter stays small; PEFT loads such files).
// Reference: huggingface/peft, src/peft/utils/save_and_load.py (get_peft_model_state_dict,
// set_peft_model_state_dict) and src/peft/config.py (PeftConfigMixin.from_pretrained).

import Foundation
import ScionCheckpoint
import ScionNN
import ScionTensor

/// Saving and loading adapters in PEFT's format.
public enum PEFTFormat {
    /// The key prefix PEFT puts before the base model's module keys.
    public static let keyPrefix = "base_model.model."
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// The tensors of adapter `name`, under PEFT's saved keys.
    public static func stateDictionary(of model: any Module, name: String = "default") throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, m) in Injection.adaptableLayers(of: model) {
            let entries = (m as? Linear)?.adapters[name]?.entries ?? (m as? Embedding)?.adapters[name]?.entries ?? []
            for e in entries { if case .parameter(let k, let p) = e { out[keyPrefix + key + "." + k] = p.value.detached() } }
        }
        guard !out.isEmpty else { throw AdapterError.unknownAdapter(name, available: Injection.adapterNames(in: model)) }
        return out
    }

    /// The config of adapter `name`.
    public static func config(of model: any Module, name: String = "default") throws -> any AdapterConfig {
        for (_, l) in Injection.linearLayers(of: model) {
            if let a = l.adapters[name] as? any ConfiguredAdapter { return a.config }
        }
        for (_, e) in Injection.embeddingLayers(of: model) {
            if let a = e.adapters[name] as? any ConfiguredEmbeddingAdapter { return a.config }
        }
        throw AdapterError.unknownAdapter(name, available: Injection.adapterNames(in: model))
    }

    /// Writes adapter `name` to `directory` as PEFT does (created if needed).
    public static func save(_ model: any Module, name: String = "default", to directory: String,
                            baseModelNameOrPath: String? = nil) throws {
        let tensors = try stateDictionary(of: model, name: name)
        var config = try self.config(of: model, name: name)
        if let baseModelNameOrPath { config.baseModelNameOrPath = baseModelNameOrPath }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(config).write(to: URL(fileURLWithPath: directory + "/" + configFile), options: .atomic)
        } catch {
            throw AdapterError.io(path: directory, reason: "\(error)")
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory + "/" + weightsFile)
    }

    /// Reads adapter_config.json in `directory` with the method its `peft_type` names.
    public static func readConfig(directory: String) throws -> any AdapterConfig {
        let path = directory + "/" + configFile
        guard let data = FileManager.default.contents(atPath: path) else { throw AdapterError.io(path: path, reason: "cannot read") }
        struct Header: Decodable { var peft_type: String? }
        let type: String
        do { type = try JSONDecoder().decode(Header.self, from: data).peft_type ?? "LORA" } catch {
            throw AdapterError.io(path: path, reason: "not a JSON object: \(error)")
        }
        guard let method = allAdapterMethods.first(where: { $0.peftType == type }) else {
            throw AdapterError.unknownPEFTType(type, supported: Array(Set(allAdapterMethods.map { $0.peftType })).sorted())
        }
        do { return try method.decodeConfig(data) } catch let e as AdapterError { throw e } catch {
            throw AdapterError.io(path: path, reason: "\(error)")
        }
    }

    /// Loads the adapter in `directory` into `model` as `name` and makes it active. The modules come
    /// from the file's keys; every module the file names must be a `Linear` of the model (an `Embedding`
    /// for `lora_embedding_*` keys) with matching shapes, or nothing is attached and the error names
    /// the modules.
    @discardableResult
    public static func load(into model: any Module, from directory: String, name: String = "default") throws -> any AdapterConfig {
        let config = try readConfig(directory: directory)
        try config.validate()
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: directory + "/" + weightsFile) } catch {
            throw AdapterError.io(path: directory + "/" + weightsFile, reason: "\(error)")
        }
        // File key → (module, parameter name).
        var byModule: [String: [String: String]] = [:]
        var embeddingModules = Set<String>()
        var baseWeights: [String: String] = [:]   // module → file key of PEFT's saved base table
        var unknown: [String] = []
        let baseSuffix = ".base_layer.weight"
        for full in file.tensorNames {
            let key = full.hasPrefix(keyPrefix) ? String(full.dropFirst(keyPrefix.count)) : full
            if key.hasSuffix(baseSuffix) {
                baseWeights[String(key.dropLast(baseSuffix.count))] = full
            } else if let suffix = config.parameterNames.first(where: { key.hasSuffix("." + $0) }) {
                byModule[String(key.dropLast(suffix.count + 1)), default: [:]][suffix] = full
            } else if let suffix = config.embeddingParameterNames.first(where: { key.hasSuffix("." + $0) }) {
                let module = String(key.dropLast(suffix.count + 1))
                byModule[module, default: [:]][suffix] = full
                embeddingModules.insert(module)
            } else {
                unknown.append(full)
            }
        }
        let linear = Set(Injection.linearLayers(of: model).map(\.0))
        let embeddings = Set(Injection.embeddingLayers(of: model).map(\.0))
        let missing = byModule.keys.filter { embeddingModules.contains($0) ? !embeddings.contains($0) : !linear.contains($0) }.sorted()
            + baseWeights.keys.filter { !embeddings.contains($0) && !linear.contains($0) }.sorted()
        guard missing.isEmpty, unknown.isEmpty else {
            throw AdapterError.baseModelMismatch(missingModules: missing + unknown.map { "\($0) (not a \(config.peftType) parameter)" },
                                                 shapeMismatches: [])
        }
        let modules: [(String, Int?)] = try byModule.keys.sorted().map { m in
            let rankName = embeddingModules.contains(m) ? config.embeddingRankTensorName : config.rankTensorName
            let aKey = rankName.flatMap { byModule[m]?[$0] }
            return (m, try aKey.map { try file.info(named: $0).shape.first ?? 0 })
        }
        for (m, r) in modules where (r ?? 1) <= 0 {
            throw AdapterError.invalidConfig(method: config.peftType, rule: "\(m): rank must be positive (lora_A has \(r ?? 0) rows)")
        }
        try Injection.attach(config, to: model, name: name, modules: modules, initialize: false, seed: 0)
        // Fill, checking shapes; on any mismatch detach and report every one.
        let layers = Dictionary(Injection.adaptableLayers(of: model), uniquingKeysWith: { a, _ in a })
        var mismatches: [String] = [], values: [(Parameter, Tensor)] = []
        for (m, _) in modules {
            guard let entries = (layers[m] as? Linear)?.adapters[name]?.entries ?? (layers[m] as? Embedding)?.adapters[name]?.entries
            else { continue }
            for e in entries {
                guard case .parameter(let k, let p) = e else { continue }
                guard let fileKey = byModule[m]?[k] else { mismatches.append("\(m).\(k): missing from the file"); continue }
                let t = try file.floatTensor(named: fileKey)
                if t.shape != p.shape { mismatches.append("\(m).\(k): model needs \(p.shape), file has \(t.shape)") } else { values.append((p, t)) }
            }
        }
        var bases: [(any Module, Tensor)] = []
        for (m, fileKey) in baseWeights.sorted(by: { $0.key < $1.key }) {
            let t = try file.floatTensor(named: fileKey)
            let shape: [Int]
            if let e = layers[m] as? Embedding { shape = [e.count, e.dimension] } else if let l = layers[m] as? Linear {
                shape = l.layout == .outIn ? [l.outFeatures, l.inFeatures] : [l.inFeatures, l.outFeatures]
            } else { continue }
            if t.shape != shape { mismatches.append("\(m).base_layer.weight: model needs \(shape), file has \(t.shape)") } else { bases.append((layers[m]!, t)) }
        }
        guard mismatches.isEmpty else {
            try? Injection.deleteAdapter(name, from: model)
            throw AdapterError.baseModelMismatch(missingModules: [], shapeMismatches: mismatches)
        }
        for (p, t) in values { p.value = t.cast(p.value.dtype) }
        for (m, t) in bases {
            // PEFT's saved base table replaces the base weight (in place, so a tied head follows, as in PEFT).
            let weight = (m as? Embedding)?.weight ?? (m as! Linear).weight
            let replacement: Weight
            switch weight {
            case .dense(let p): p.value = t.cast(p.value.dtype); continue
            case .quantized(let q): replacement = .quantized(try QuantizedMerge.quantize(t, format: q.format))
            }
            if let e = m as? Embedding { e.weight = replacement } else if let l = m as? Linear { l.weight = replacement }
        }
        return config
    }
}
