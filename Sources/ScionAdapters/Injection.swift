// Attaching adapters to a model, written once for every method: target matching (names, regex,
// "all-linear", per-architecture defaults as data), freezing the base, the trainable-parameter report,
// merge / unmerge, enable / disable, and several named adapters with switching.
// The adapter sits in `Linear`'s slot, so the model's structure never changes; merging writes
// W + ΔW into the layer (dequantizing a quantized weight) and keeps the original for `unmerge`.
// Reference: huggingface/peft, src/peft/tuners/tuners_utils.py (BaseTuner, inject_adapter,
// check_target_module_exists) and src/peft/utils/constants.py (default target modules).

import Foundation
import ScionNN
import ScionTensor

/// Adapter injection and management.
public enum Injection {
    /// Default LoRA-family targets by HF `model_type` (PEFT's defaults for these architectures).
    public static let defaultTargets: [String: [String]] = [
        "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
        "gpt2": ["c_attn"], "bert": ["query", "value"],
    ]

    /// Every `Linear` in `model` with its dotted key, depth first (a layer reachable twice appears once).
    public static func linearLayers(of model: any Module) -> [(String, Linear)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Linear)] = []
        func walk(_ m: any Module, _ key: String) {
            if let l = m as? Linear {
                if seen.insert(ObjectIdentifier(l)).inserted { out.append((key, l)) }
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

    /// The HF `model_type` guessed from the module keys ("llama", "gpt2", "bert"), or nil.
    public static func modelType(of model: any Module) -> String? {
        let keys = linearLayers(of: model).map(\.0)
        if keys.contains(where: { $0.hasSuffix("attn.c_attn") }) { return "gpt2" }
        if keys.contains(where: { $0.hasSuffix("self_attn.q_proj") }) { return "llama" }
        if keys.contains(where: { $0.hasSuffix("attention.self.query") }) { return "bert" }
        return nil
    }

    /// The keys of the modules `config` selects in `model`.
    public static func targetKeys(_ config: any AdapterConfig, in model: any Module) throws -> [String] {
        let all = linearLayers(of: model).map(\.0)
        guard let targets = config.targetModules ?? modelType(of: model).flatMap({ config.defaultTargets(modelType: $0) }) else {
            throw AdapterError.invalidConfig(method: config.peftType, rule:
                "target_modules is required: no default targets for this architecture")
        }
        let keys = all.filter { targets.matches($0) && !(config.excludeModules?.matches($0) ?? false) }
        guard !keys.isEmpty else { throw AdapterError.noTargetModules(targets: targets.description, available: all) }
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
        config.fanInFanOut = keys.allSatisfy { layers[$0]?.layout == .inOut }
        try attach(config, to: model, name: name, modules: keys.map { ($0, nil) }, initialize: true, seed: seed)
        return keys
    }

    /// Builds and attaches adapters on exactly `modules` (key, rank override). All-or-nothing.
    static func attach(_ config: any AdapterConfig, to model: any Module, name: String,
                       modules: [(String, Int?)], initialize: Bool, seed: UInt64) throws {
        let layers = Dictionary(linearLayers(of: model), uniquingKeysWith: { a, _ in a })
        if layers.values.contains(where: { $0.adapters[name] != nil }) { throw AdapterError.duplicateAdapter(name) }
        var generator = RandomGenerator(seed: seed)
        let missing = modules.map(\.0).filter { layers[$0] == nil }
        guard missing.isEmpty else { throw AdapterError.baseModelMismatch(missingModules: missing, shapeMismatches: []) }
        for (key, rank) in modules {
            let layer = layers[key]!
            if layer.unmergedState != nil { throw AdapterError.invalidConfig(method: config.peftType, rule: "\(key): unmerge before adding an adapter") }
            if initialize { try config.check(base: layer, key: key, rank: rank) }
        }
        var built: [(Linear, any ConfiguredAdapter)] = []
        for (key, rank) in modules {
            let layer = layers[key]!
            built.append((layer, try config.makeAdapter(for: layer, key: key, rank: rank, initialize: initialize, generator: &generator)))
        }
        for (layer, adapter) in built { layer.adapters[name] = adapter }
        try setActiveAdapter(name, in: model)
    }

    /// Names of the adapters attached anywhere in `model`, sorted.
    public static func adapterNames(in model: any Module) -> [String] {
        Array(Set(linearLayers(of: model).flatMap { $0.1.adapters.keys })).sorted()
    }

    /// Makes `name` the active adapter (nil: none) and freezes every parameter but its own.
    public static func setActiveAdapter(_ name: String?, in model: any Module) throws {
        if let name, !adapterNames(in: model).contains(name) {
            throw AdapterError.unknownAdapter(name, available: adapterNames(in: model))
        }
        let layers = linearLayers(of: model)
        if layers.contains(where: { $0.1.unmergedState != nil }) {
            throw AdapterError.invalidConfig(method: "adapter", rule: "unmerge before switching adapters")
        }
        for (_, l) in layers { l.activeAdapterName = name.flatMap { l.adapters[$0] == nil ? nil : $0 } }
        freezeBase(model)
    }

    /// Freezes every parameter except those of the active adapters.
    public static func freezeBase(_ model: any Module) {
        var adapterParams = Set<ObjectIdentifier>()
        for (_, l) in linearLayers(of: model) {
            guard let a = l.activeAdapter else { continue }
            let trainable = (a as? any ConfiguredAdapter)?.trainableParameters
                ?? a.entries.compactMap { if case .parameter(_, let p) = $0 { return p } else { return nil } }
            for p in trainable { adapterParams.insert(ObjectIdentifier(p)) }
        }
        for (_, p) in model.namedParameters() { p.setTrainable(adapterParams.contains(ObjectIdentifier(p))) }
    }

    /// Turns the active adapters on or off everywhere (their parameters stay attached).
    public static func setAdaptersEnabled(_ enabled: Bool, in model: any Module) {
        for (_, l) in linearLayers(of: model) { l.adaptersEnabled = enabled }
    }

    /// Removes the adapter `name` from every layer (the active adapter becomes none if it was `name`).
    public static func deleteAdapter(_ name: String, from model: any Module) throws {
        guard adapterNames(in: model).contains(name) else { throw AdapterError.unknownAdapter(name, available: adapterNames(in: model)) }
        for (_, l) in linearLayers(of: model) {
            if l.activeAdapterName == name && l.unmergedState != nil { unmergeLayer(l) }
            l.adapters[name] = nil
            if l.activeAdapterName == name { l.activeAdapterName = nil }
        }
    }

    /// Writes W + ΔW (and b + Δb) of the active adapter into every adapted layer. The forward pass is
    /// unchanged; the adapter no longer runs separately. A quantized weight becomes dense.
    public static func merge(_ model: any Module) throws {
        var plans: [(Linear, Tensor, Tensor?)] = []
        for (key, l) in linearLayers(of: model) where l.unmergedState == nil {
            guard let a = l.activeAdapter else { continue }
            guard let d = a.deltaWeight(base: l) else { throw AdapterError.notMergeable(module: key) }
            plans.append((l, d, a.deltaBias(base: l)))
        }
        for (l, d, db) in plans {
            let originalBias = l.bias?.value
            switch l.weight {
            case .dense(let p):
                l.unmergedState = (.dense(Parameter(p.value, trainable: false)), originalBias)
                p.value = p.value + d.cast(p.value.dtype)
            case .quantized(let q):
                l.unmergedState = (.quantized(q), originalBias)
                l.weight = .dense(Parameter(q.dequantized() + d, trainable: false))
            }
            if let db, let b = l.bias { b.value = b.value + db.cast(b.value.dtype) }
        }
    }

    /// Restores the weights saved by ``merge(_:)`` exactly.
    public static func unmerge(_ model: any Module) {
        for (_, l) in linearLayers(of: model) { unmergeLayer(l) }
    }

    static func unmergeLayer(_ l: Linear) {
        guard let (w, b) = l.unmergedState else { return }
        switch (l.weight, w) {
        case (.dense(let p), .dense(let original)): p.value = original.value
        default: l.weight = w
        }
        if let b, let bias = l.bias { bias.value = b }
        l.unmergedState = nil
    }

    /// Merges the active adapter and removes all adapters: a plain model with the fine-tuned weights.
    public static func mergeAndUnload(_ model: any Module) throws {
        try merge(model)
        for (_, l) in linearLayers(of: model) {
            l.unmergedState = nil; l.adapters = [:]; l.activeAdapterName = nil
        }
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
}
