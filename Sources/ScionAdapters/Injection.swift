// Attaching adapters to a model, written once for every method: target matching (names, regex,
// "all-linear", per-architecture defaults as data, PEFT's `exclude_modules`, `modules_to_save`,
// `layers_to_transform` / `layers_pattern`), freezing the base, the trainable-parameter report,
// merge / unmerge, enable / disable, and several named adapters with switching.
// Adapters sit in the slots of `Linear` and `Embedding` (LoRA only on embeddings), so the model's
// structure never changes; merging writes W + ΔW into the layer and keeps the original for `unmerge`.
// A quantized (Q8_0/Q4_0/Q4_1) weight is merged in float and written back re-quantized in its own
// format (`QuantizedMerge`), unless the caller asks for a dense merge.
// Reference: huggingface/peft, src/peft/tuners/tuners_utils.py (BaseTuner, inject_adapter,
// check_target_module_exists) and src/peft/utils/constants.py (default target modules).

import Foundation
import ScionNN
import ScionTensor

/// A layer with an adapter slot (`Linear` or `Embedding`): what naming, switching, freezing and
/// unmerging need, whatever the layer type.
protocol AdapterHost: AnyObject {
    var hostedAdapterNames: [String] { get }
    var activeAdapterName: String? { get set }
    var adaptersEnabled: Bool { get set }
    var isMerged: Bool { get }
    /// The trainable parameters of the active adapter.
    var activeTrainableParameters: [Parameter] { get }
    func removeAdapter(named name: String)
    /// Restores the weights saved by a merge (no-op when not merged).
    func restoreUnmerged()
    /// Forgets the saved weights and every adapter (merge-and-unload).
    func unloadAdapters()
}

func trainable(_ adapter: AnyObject?, entries: [ModuleEntry]) -> [Parameter] {
    if let a = adapter as? any ConfiguredAdapter { return a.trainableParameters }
    if let a = adapter as? any ConfiguredEmbeddingAdapter { return a.trainableParameters }
    return entries.compactMap { if case .parameter(_, let p) = $0 { return p } else { return nil } }
}

extension Linear: AdapterHost {
    var hostedAdapterNames: [String] { Array(adapters.keys) }
    var isMerged: Bool { unmergedState != nil }
    var activeTrainableParameters: [Parameter] {
        guard let a = activeAdapter else { return [] }
        return trainable(a, entries: a.entries)
    }
    func removeAdapter(named name: String) {
        if activeAdapterName == name && unmergedState != nil { restoreUnmerged() }
        adapters[name] = nil
        if activeAdapterName == name { activeAdapterName = nil }
    }
    func restoreUnmerged() {
        guard let (w, b) = unmergedState else { return }
        switch (weight, w) {
        case (.dense(let p), .dense(let original)): p.value = original.value
        default: weight = w
        }
        if let b, let bias { bias.value = b }
        unmergedState = nil
    }
    func unloadAdapters() { unmergedState = nil; adapters = [:]; activeAdapterName = nil }
}

extension Embedding: AdapterHost {
    var hostedAdapterNames: [String] { Array(adapters.keys) }
    var isMerged: Bool { unmergedState != nil }
    var activeTrainableParameters: [Parameter] {
        guard let a = activeAdapter else { return [] }
        return trainable(a, entries: a.entries)
    }
    func removeAdapter(named name: String) {
        if activeAdapterName == name && unmergedState != nil { restoreUnmerged() }
        adapters[name] = nil
        if activeAdapterName == name { activeAdapterName = nil }
    }
    func restoreUnmerged() {
        guard let w = unmergedState else { return }
        weight = w   // merging replaced the weight (never in place, so a tied head keeps W)
        unmergedState = nil
    }
    func unloadAdapters() { unmergedState = nil; adapters = [:]; activeAdapterName = nil }
}

/// Adapter injection and management.
public enum Injection {
    /// Default LoRA-family targets by HF `model_type` (PEFT's defaults for these architectures).
    public static let defaultTargets: [String: [String]] = [
        "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
        "gpt2": ["c_attn"], "bert": ["query", "value"],
    ]

    /// Every `Linear` and `Embedding` in `model` with its dotted key, depth first (a layer reachable
    /// twice appears once).
    static func adaptableLayers(of model: any Module) -> [(String, any Module)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, any Module)] = []
        func walk(_ m: any Module, _ key: String) {
            if m is Linear || m is Embedding {
                if seen.insert(ObjectIdentifier(m)).inserted { out.append((key, m)) }
                return
            }
            for e in m.entries {
                switch e {
                case .child(let k, let c): walk(c, key.isEmpty ? k : key + "." + k)
                case .list(let k, let cs):
                    for (i, c) in cs.enumerated() { walk(c, (key.isEmpty ? k : key + "." + k) + ".\(i)") }
                case .parameter, .quantized: break
                }
            }
        }
        walk(model, "")
        return out
    }

    /// Every `Linear` in `model` with its dotted key, depth first (a layer reachable twice appears once).
    public static func linearLayers(of model: any Module) -> [(String, Linear)] {
        adaptableLayers(of: model).compactMap { k, m in (m as? Linear).map { (k, $0) } }
    }

    /// Every `Embedding` in `model` with its dotted key, depth first.
    public static func embeddingLayers(of model: any Module) -> [(String, Embedding)] {
        adaptableLayers(of: model).compactMap { k, m in (m as? Embedding).map { (k, $0) } }
    }

    /// The active adapter of a Linear or Embedding layer, if any.
    static func activeAdapterObject(_ m: any Module) -> AnyObject? {
        if let l = m as? Linear { return l.activeAdapter }
        if let e = m as? Embedding { return e.activeAdapter }
        return nil
    }

    static func hosts(of model: any Module) -> [(String, any AdapterHost)] {
        adaptableLayers(of: model).compactMap { k, m in (m as? any AdapterHost).map { (k, $0) } }
    }

    /// The HF `model_type` guessed from the module keys ("llama", "gpt2", "bert"), or nil.
    public static func modelType(of model: any Module) -> String? {
        let keys = linearLayers(of: model).map(\.0)
        if keys.contains(where: { $0.hasSuffix("attn.c_attn") }) { return "gpt2" }
        if keys.contains(where: { $0.hasSuffix("self_attn.q_proj") }) { return "llama" }
        if keys.contains(where: { $0.hasSuffix("attention.self.query") }) { return "bert" }
        return nil
    }

    /// The layer index in `key` as PEFT reads it for `layers_to_transform`: the number after the first
    /// segment named by one of `patterns` ("model.layers.3.mlp" → 3 for "layers"), or, without
    /// patterns, after the first dotted segment followed by a number. Nil when there is none.
    public static func layerIndex(in key: String, patterns: [String]?) -> Int? {
        func first(_ pattern: String) -> Int? {
            guard let re = try? NSRegularExpression(pattern: pattern),
                  let m = re.firstMatch(in: key, options: .anchored, range: NSRange(key.startIndex..., in: key)),
                  let r = Range(m.range(at: 1), in: key) else { return nil }
            return Int(key[r])
        }
        // NOTE: lazy `.*?` takes the first numbered segment (not an expert index further in), as PEFT.
        guard let patterns, !patterns.isEmpty else { return first(#".*?\.[^.]*\.(\d+)\."#) }
        for p in patterns {
            if let i = first("(?:^|.*?\\.)" + NSRegularExpression.escapedPattern(for: p) + #"\.(\d+)\."#) { return i }
        }
        return nil
    }

    /// Whether `config` selects the module at `key` (of an Embedding when `isEmbedding`), as PEFT's
    /// `check_target_module_exists`: excluded and `modules_to_save` keys never; then the targets; then,
    /// for list targets, `layers_to_transform`.
    static func selects(_ config: any AdapterConfig, targets: TargetModules, key: String, isEmbedding: Bool) -> Bool {
        if config.excludeModules?.matches(key) ?? false { return false }
        if let save = config.modulesToSave, save.contains(where: { key == $0 || key.hasSuffix("." + $0) || key.contains("." + $0 + ".") || key.hasPrefix($0 + ".") }) {
            return false
        }
        if isEmbedding, case .allLinear = targets { return false }
        guard targets.matches(key) else { return false }
        if case .regex = targets { return true }
        guard let layers = config.layersToTransform?.values, !layers.isEmpty else { return true }
        guard let index = layerIndex(in: key, patterns: config.layersPattern?.values) else { return false }
        return layers.contains(index)
    }

    /// The keys of the modules `config` selects in `model` (Linear layers, and Embedding layers named
    /// by the targets), in model order.
    ///
    /// - Throws: ``AdapterError/invalidConfig(method:rule:)`` when there are no targets or
    ///   `layers_to_transform` comes with a regex target; ``AdapterError/noTargetModules(targets:available:)``
    ///   naming the targets (with the layer selection) and the modules there are.
    public static func targetKeys(_ config: any AdapterConfig, in model: any Module) throws -> [String] {
        let all = adaptableLayers(of: model)
        guard let targets = config.targetModules ?? modelType(of: model).flatMap({ config.defaultTargets(modelType: $0) }) else {
            throw AdapterError.invalidConfig(method: config.peftType, rule:
                "target_modules is required: no default targets for this architecture")
        }
        if case .regex = targets, config.layersToTransform != nil || config.layersPattern != nil {
            throw AdapterError.invalidConfig(method: config.peftType, rule:
                "layers_to_transform and layers_pattern cannot be used when target_modules is a regex string")
        }
        let keys = all.filter { selects(config, targets: targets, key: $0.0, isEmbedding: $0.1 is Embedding) }.map(\.0)
        guard !keys.isEmpty else {
            var described = targets.description
            if let l = config.layersToTransform?.values {
                described += " in layers \(l.map(String.init).joined(separator: ", "))"
                if let p = config.layersPattern?.values { described += " of \(p.joined(separator: "/"))" }
            }
            if let x = config.excludeModules { described += "; excluding \(x)" }
            throw AdapterError.noTargetModules(targets: described, available: all.map(\.0))
        }
        return keys
    }

    /// Attaches a new adapter named `name` built from `config` to the modules it targets, makes it
    /// the active adapter, and freezes everything else. Returns the adapted module keys.
    ///
    /// ```swift
    /// try Injection.addAdapter(LoRA.Config(r: 8, loraAlpha: 16), to: model)
    /// ```
    @discardableResult
    public static func addAdapter(_ config: any AdapterConfig, to model: any Module, name: String = "default",
                                  seed: UInt64 = 0) throws -> [String] {
        try config.validate()
        var config = config
        if let type = modelType(of: model) { config.applyDefaults(modelType: type) }
        let keys = try targetKeys(config, in: model)
        let layers = Dictionary(linearLayers(of: model), uniquingKeysWith: { a, _ in a })
        let adaptedLinear = keys.compactMap { layers[$0] }
        config.fanInFanOut = !adaptedLinear.isEmpty && adaptedLinear.allSatisfy { $0.layout == .inOut }
        try attach(config, to: model, name: name, modules: keys.map { ($0, nil) }, initialize: true, seed: seed)
        return keys
    }

    /// Builds and attaches adapters on exactly `modules` (key, rank override), Linear or Embedding
    /// layers. All-or-nothing.
    static func attach(_ config: any AdapterConfig, to model: any Module, name: String,
                       modules: [(String, Int?)], initialize: Bool, seed: UInt64) throws {
        let layers = Dictionary(adaptableLayers(of: model), uniquingKeysWith: { a, _ in a })
        if hosts(of: model).contains(where: { $0.1.hostedAdapterNames.contains(name) }) { throw AdapterError.duplicateAdapter(name) }
        var generator = RandomGenerator(seed: seed)
        let missing = modules.map(\.0).filter { layers[$0] == nil }
        guard missing.isEmpty else { throw AdapterError.baseModelMismatch(missingModules: missing, shapeMismatches: []) }
        for (key, rank) in modules {
            let layer = layers[key]!
            if (layer as? any AdapterHost)?.isMerged == true {
                throw AdapterError.invalidConfig(method: config.peftType, rule: "\(key): unmerge before adding an adapter")
            }
            if let e = layer as? Embedding {
                try config.check(base: e, key: key, rank: rank)
            } else if initialize, let l = layer as? Linear {
                try config.check(base: l, key: key, rank: rank)
            }
        }
        var linear: [(Linear, any ConfiguredAdapter)] = [], embedding: [(Embedding, any ConfiguredEmbeddingAdapter)] = []
        for (key, rank) in modules {
            if let l = layers[key] as? Linear {
                linear.append((l, try config.makeAdapter(for: l, key: key, rank: rank, initialize: initialize, generator: &generator)))
            } else if let e = layers[key] as? Embedding {
                embedding.append((e, try config.makeEmbeddingAdapter(for: e, key: key, rank: rank, initialize: initialize,
                                                                     generator: &generator)))
            }
        }
        for (layer, adapter) in linear { layer.adapters[name] = adapter }
        for (layer, adapter) in embedding { layer.adapters[name] = adapter }
        try setActiveAdapter(name, in: model)
    }

    /// Names of the adapters attached anywhere in `model`, sorted.
    public static func adapterNames(in model: any Module) -> [String] {
        Array(Set(hosts(of: model).flatMap { $0.1.hostedAdapterNames })).sorted()
    }

    /// Makes `name` the active adapter (nil: none) and freezes every parameter but its own.
    public static func setActiveAdapter(_ name: String?, in model: any Module) throws {
        if let name, !adapterNames(in: model).contains(name) {
            throw AdapterError.unknownAdapter(name, available: adapterNames(in: model))
        }
        let layers = hosts(of: model)
        if layers.contains(where: { $0.1.isMerged }) {
            throw AdapterError.invalidConfig(method: "adapter", rule: "unmerge before switching adapters")
        }
        for (_, l) in layers { l.activeAdapterName = name.flatMap { l.hostedAdapterNames.contains($0) ? $0 : nil } }
        freezeBase(model)
    }

    /// Freezes every parameter except those of the active adapters.
    public static func freezeBase(_ model: any Module) {
        var adapterParams = Set<ObjectIdentifier>()
        for (_, l) in hosts(of: model) {
            for p in l.activeTrainableParameters { adapterParams.insert(ObjectIdentifier(p)) }
        }
        for (_, p) in model.namedParameters() { p.setTrainable(adapterParams.contains(ObjectIdentifier(p))) }
    }

    /// Turns the active adapters on or off everywhere (their parameters stay attached).
    public static func setAdaptersEnabled(_ enabled: Bool, in model: any Module) {
        for (_, l) in hosts(of: model) { l.adaptersEnabled = enabled }
    }

    /// Removes the adapter `name` from every layer (the active adapter becomes none if it was `name`).
    public static func deleteAdapter(_ name: String, from model: any Module) throws {
        guard adapterNames(in: model).contains(name) else { throw AdapterError.unknownAdapter(name, available: adapterNames(in: model)) }
        for (_, l) in hosts(of: model) { l.removeAdapter(named: name) }
    }

    /// Writes W + ΔW (and b + Δb) of the active adapter into every adapted layer. The forward pass is
    /// unchanged up to rounding; the adapter no longer runs separately.
    ///
    /// A quantized (Q8_0/Q4_0/Q4_1) weight is dequantized, merged in float and, with `requantize`
    /// (the default), written back quantized in the same format: the merged weight then differs from
    /// the float merge by at most one quantization step per block (``QuantizedMerge/stepBound(_:format:)``).
    /// With `requantize` false it stays dense. An embedding whose weight is tied to another layer
    /// (GPT-2's `lm_head`) gets its own merged weight, so the tied layer keeps the base weight.
    ///
    /// - Throws: ``AdapterError/notMergeable(module:)`` naming the first module whose method has no
    ///   closed-form update (nothing is merged then).
    public static func merge(_ model: any Module, requantize: Bool = true) throws {
        var linearPlans: [(Linear, Tensor, Tensor?)] = []
        var embeddingPlans: [(Embedding, Tensor)] = []
        for (key, m) in adaptableLayers(of: model) {
            if let l = m as? Linear, l.unmergedState == nil, let a = l.activeAdapter {
                guard let d = a.deltaWeight(base: l) else { throw AdapterError.notMergeable(module: key) }
                linearPlans.append((l, d, a.deltaBias(base: l)))
            } else if let e = m as? Embedding, e.unmergedState == nil, let a = e.activeAdapter {
                guard let d = a.deltaWeight(base: e) else { throw AdapterError.notMergeable(module: key) }
                embeddingPlans.append((e, d))
            }
        }
        for (l, d, db) in linearPlans {
            let originalBias = l.bias?.value
            switch l.weight {
            case .dense(let p):
                l.unmergedState = (.dense(Parameter(p.value, trainable: false)), originalBias)
                p.value = p.value + d.cast(p.value.dtype)
            case .quantized(let q):
                l.unmergedState = (.quantized(q), originalBias)
                let merged = q.dequantized() + d
                l.weight = requantize ? .quantized(try QuantizedMerge.quantize(merged, format: q.format))
                                      : .dense(Parameter(merged, trainable: false))
            }
            if let db, let b = l.bias { b.value = b.value + db.cast(b.value.dtype) }
        }
        for (e, d) in embeddingPlans {
            // A new weight, never an in-place update: a head tied to this embedding keeps W.
            e.unmergedState = e.weight
            switch e.weight {
            case .dense(let p):
                e.weight = .dense(Parameter(p.value + d.cast(p.value.dtype), trainable: false))
            case .quantized(let q):
                let merged = q.dequantized() + d
                e.weight = requantize ? .quantized(try QuantizedMerge.quantize(merged, format: q.format))
                                      : .dense(Parameter(merged, trainable: false))
            }
        }
    }

    /// Keys of the embeddings whose weight a Linear layer of `model` shares (tied embeddings, GPT-2's
    /// `lm_head`): merging an adapter into one unties it.
    public static func tiedEmbeddingKeys(in model: any Module) -> [String] {
        func id(_ w: Weight) -> ObjectIdentifier? {
            switch w {
            case .dense(let p): return ObjectIdentifier(p)
            case .quantized(let q): return ObjectIdentifier(q)
            }
        }
        let linear = Set(linearLayers(of: model).compactMap { id($0.1.weight) })
        return embeddingLayers(of: model).filter { id($0.1.weight).map(linear.contains) ?? false }.map(\.0)
    }

    /// Restores the weights saved by ``merge(_:requantize:)`` exactly.
    public static func unmerge(_ model: any Module) {
        for (_, l) in hosts(of: model) { l.restoreUnmerged() }
    }

    /// Merges the active adapter and removes all adapters: a plain model with the fine-tuned weights.
    public static func mergeAndUnload(_ model: any Module, requantize: Bool = true) throws {
        try merge(model, requantize: requantize)
        for (_, l) in hosts(of: model) { l.unloadAdapters() }
    }

    /// Trainable and total parameter counts (PEFT's `print_trainable_parameters`).
    public struct TrainableReport: Sendable, Equatable, CustomStringConvertible {
        public var trainable: Int, total: Int
        public var percent: Double { total == 0 ? 0 : 100 * Double(trainable) / Double(total) }
        public var description: String {
            "trainable params: \(trainable) || all params: \(total) || trainable%: \(String(format: "%.4f", percent))"
        }
    }

    /// Counts the trainable parameters (the active adapter's, after injection) against all of them.
    public static func trainableReport(_ model: any Module) -> TrainableReport {
        TrainableReport(trainable: model.trainableParameters().reduce(0) { $0 + $1.1.value.count }, total: model.numberOfParameters)
    }

    /// Closed-form count of trainable parameters `config` adds to the module at `key` of `model`
    /// (Linear or Embedding); 0 for a key that is neither.
    public static func trainableParameterCount(_ config: any AdapterConfig, key: String, in model: any Module) -> Int {
        guard let m = adaptableLayers(of: model).first(where: { $0.0 == key })?.1 else { return 0 }
        if let l = m as? Linear { return config.trainableParameterCount(for: l, key: key) }
        if let e = m as? Embedding { return config.trainableParameterCount(for: e, key: key) }
        return 0
    }
}
