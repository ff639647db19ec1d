// The shared vocabulary of parameter-efficient fine-tuning: an adapter method (`AdapterMethod`), its
// configuration as PEFT writes it (`AdapterConfig`, decoded from adapter_config.json with unknown keys
// ignored; the fields every PEFT config shares live once in `PEFTCommonConfig`), the adapter layers
// that sit in `Linear`'s and `Embedding`'s slots (`ConfiguredAdapter`, `ConfiguredEmbeddingAdapter`),
// target selection (`TargetModules`, `OneOrMany` for `layers_to_transform` / `layers_pattern`),
// errors, and the explicit registry `allAdapterMethods`.
// Reference: huggingface/peft, src/peft/config.py (PeftConfig, PeftConfigMixin) and
// src/peft/tuners/tuners_utils.py (check_target_module_exists).

import Foundation
import ScionNN
import ScionTensor

/// Which modules an adapter attaches to, as PEFT's `target_modules` (and `exclude_modules`).
///
/// A list matches a module whose dotted key equals a name or ends with "." + name; a string is a
/// regular expression that must match the whole key; "all-linear" selects every `Linear` except
/// the output head.
public enum TargetModules: Codable, Sendable, Equatable, CustomStringConvertible {
    case names([String])
    case regex(String)
    case allLinear

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let list = try? c.decode([String].self) { self = .names(list); return }
        let s = try c.decode(String.self)
        self = s == "all-linear" ? .allLinear : .regex(s)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .names(let n): try c.encode(n)
        case .regex(let r): try c.encode(r)
        case .allLinear: try c.encode("all-linear")
        }
    }

    /// Whether the module at `key` is selected.
    public func matches(_ key: String) -> Bool {
        switch self {
        case .names(let names): return names.contains { key == $0 || key.hasSuffix("." + $0) }
        case .regex(let pattern): return fullMatch(pattern, key)
        case .allLinear: return !key.hasSuffix("lm_head") && !key.hasSuffix("cls.predictions.decoder")
        }
    }

    public var description: String {
        switch self {
        case .names(let n): return n.joined(separator: ", ")
        case .regex(let r): return "regex \(r)"
        case .allLinear: return "all-linear"
        }
    }
}

/// Whether the regular expression matches all of `s` (Python's `re.fullmatch`).
func fullMatch(_ pattern: String, _ s: String) -> Bool {
    guard let re = try? NSRegularExpression(pattern: "^(?:" + pattern + ")$") else { return false }
    return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
}

/// A method's configuration: PEFT's config dataclass, decoded from adapter_config.json.
///
/// Decoding ignores keys the struct does not know (newer PEFT versions add keys). Encoding writes
/// PEFT's own key names, so a saved file loads in PEFT.
public protocol AdapterConfig: Codable, Sendable {
    /// PEFT's `peft_type` ("LORA", "IA3", "ADALORA").
    var peftType: String { get }
    /// Modules to adapt; nil means the architecture's default (``Injection/defaultTargets``).
    var targetModules: TargetModules? { get set }
    /// Modules never adapted.
    var excludeModules: TargetModules? { get }
    /// PEFT's `layers_to_transform`: only modules in these layer indices are adapted (list targets only).
    var layersToTransform: OneOrMany<Int>? { get }
    /// PEFT's `layers_pattern`: the name of the module list whose index `layersToTransform` selects
    /// ("layers", "h"); nil means the first numbered segment of the key.
    var layersPattern: OneOrMany<String>? { get }
    /// PEFT's `modules_to_save`: modules trained in full beside the adapter; adapters never target them.
    var modulesToSave: [String]? { get }
    /// `base_model_name_or_path`, recorded at save time.
    var baseModelNameOrPath: String? { get set }
    /// PEFT's `fan_in_fan_out`: the targets store [in, out] (GPT-2's Conv1D). Set at injection from
    /// the layers' layout; Scion itself reads each layer's layout.
    var fanInFanOut: Bool { get set }
    /// Checks the config's own rules (for example r > 0), naming the rule that fails.
    func validate() throws
    /// Adapter parameter names relative to the adapted module, as in PEFT's saved keys.
    var parameterNames: [String] { get }
    /// Builds the adapter for `base` (at `key`). `rank` overrides the configured rank (loading a
    /// pruned or pattern-ranked file). With `initialize` false, parameters are left at zero for a
    /// loader to fill, and the base weight is never changed (PiSSA/OLoRA residuals are not recomputed).
    func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                     generator: inout RandomGenerator) throws -> any ConfiguredAdapter
    /// Closed-form count of trainable parameters this config adds to `base`.
    func trainableParameterCount(for base: Linear, key: String) -> Int
    /// Default targets when `targetModules` is nil, by HF `model_type`.
    func defaultTargets(modelType: String) -> TargetModules?
    /// Fills unset fields from the architecture's defaults (targets; IA³ also feed-forward modules).
    mutating func applyDefaults(modelType: String)
    /// The saved parameter whose first dimension is a module's rank (for loading per-module ranks).
    var rankTensorName: String? { get }
    /// Checks that the method can adapt `base` (for example r ≤ min(in, out) for SVD forms), before
    /// anything is built, so a failing attach changes nothing.
    func check(base: Linear, key: String, rank: Int?) throws

    // Embedding modules (PEFT's LoRA `Embedding` layer). Only LoRA adapts them; the defaults refuse.

    /// Adapter parameter names on an adapted ``Embedding`` (LoRA: `lora_embedding_A`, `lora_embedding_B`).
    var embeddingParameterNames: [String] { get }
    /// The saved embedding parameter whose first dimension is the module's rank.
    var embeddingRankTensorName: String? { get }
    /// Checks that the method can adapt the embedding `base` at `key`, naming the rule that fails.
    func check(base: Embedding, key: String, rank: Int?) throws
    /// Builds the adapter for the embedding `base` (at `key`); as ``makeAdapter(for:key:rank:initialize:generator:)``.
    func makeEmbeddingAdapter(for base: Embedding, key: String, rank: Int?, initialize: Bool,
                              generator: inout RandomGenerator) throws -> any ConfiguredEmbeddingAdapter
    /// Closed-form count of trainable parameters this config adds to the embedding `base`.
    func trainableParameterCount(for base: Embedding, key: String) -> Int
}

extension AdapterConfig {
    public var excludeModules: TargetModules? { nil }
    public var layersToTransform: OneOrMany<Int>? { nil }
    public var layersPattern: OneOrMany<String>? { nil }
    public var modulesToSave: [String]? { nil }
    public var embeddingParameterNames: [String] { [] }
    public var embeddingRankTensorName: String? { nil }
    public func check(base: Embedding, key: String, rank: Int?) throws {
        throw AdapterError.invalidConfig(method: peftType, rule:
            "\(key) is an Embedding module; \(peftType) adapts only Linear modules (LoRA adapts embeddings)")
    }
    public func makeEmbeddingAdapter(for base: Embedding, key: String, rank: Int?, initialize: Bool,
                                     generator: inout RandomGenerator) throws -> any ConfiguredEmbeddingAdapter {
        try check(base: base, key: key, rank: rank)
        throw AdapterError.invalidConfig(method: peftType, rule: "\(key): no embedding adapter for \(peftType)")
    }
    public func trainableParameterCount(for base: Embedding, key: String) -> Int { 0 }
    public func defaultTargets(modelType: String) -> TargetModules? { Injection.defaultTargets[modelType].map { .names($0) } }
    public func check(base: Linear, key: String, rank: Int?) throws {}
    public var rankTensorName: String? { nil }
    public mutating func applyDefaults(modelType: String) {
        if targetModules == nil { targetModules = defaultTargets(modelType: modelType) }
    }
}

/// An adapter layer built from a config; the config travels with it so the model can be saved.
public protocol ConfiguredAdapter: LinearAdapter {
    /// The configuration this adapter was built from.
    var config: any AdapterConfig { get }
    /// The parameters that train (default: every entry; SVFit keeps its singular vectors fixed).
    var trainableParameters: [Parameter] { get }
}

extension ConfiguredAdapter {
    public var trainableParameters: [Parameter] {
        entries.compactMap { if case .parameter(_, let p) = $0 { return p } else { return nil } }
    }
}

/// An embedding adapter built from a config (LoRA's `lora_embedding_A` / `lora_embedding_B`).
public protocol ConfiguredEmbeddingAdapter: EmbeddingAdapter {
    /// The configuration this adapter was built from.
    var config: any AdapterConfig { get }
    /// The parameters that train (default: every entry).
    var trainableParameters: [Parameter] { get }
}

extension ConfiguredEmbeddingAdapter {
    public var trainableParameters: [Parameter] {
        entries.compactMap { if case .parameter(_, let p) = $0 { return p } else { return nil } }
    }
}

/// One parameter-efficient fine-tuning method.
public protocol AdapterMethod: Sendable {
    associatedtype Config: AdapterConfig
    /// The CLI name (`scion finetune --method lora`).
    static var name: String { get }
    /// PEFT's `peft_type` written to adapter_config.json.
    static var peftType: String { get }
    /// A config of rank `r` (the method's notion of size) on `targetModules` (nil: architecture default).
    static func makeConfig(r: Int, targetModules: TargetModules?) -> Config
}

extension AdapterMethod {
    /// Decodes this method's config from adapter_config.json bytes (unknown keys ignored).
    public static func decodeConfig(_ data: Data) throws -> Config {
        try JSONDecoder().decode(Config.self, from: data)
    }
}

/// Every adapter method, in one explicit list (no registration side effects). The contract tests
/// iterate it; `loadAdapter` finds the config type for a file's `peft_type` here (first match wins:
/// DoRA is LoRA with `use_dora`, so "LORA" decodes as ``LoRA/Config`` for both).
public let allAdapterMethods: [any AdapterMethod.Type] = [LoRA.self, DoRA.self, IA3.self, AdaLoRA.self, DyLoRA.self,
                                                          SVFit.self, Bone.self, Bat.self, IncreLoRA.self, Compacter.self,
                                                          SAID.self, DSEE.self]

/// Errors from attaching, merging, saving and loading adapters.
public enum AdapterError: Error, Equatable, CustomStringConvertible {
    /// A config breaks a rule of its method.
    case invalidConfig(method: String, rule: String)
    /// No module of the model matches the targets.
    case noTargetModules(targets: String, available: [String])
    /// An adapter file does not fit this model: modules it names that the model lacks (or that are
    /// not Linear / Embedding layers as the file needs), and tensors whose shapes differ.
    case baseModelMismatch(missingModules: [String], shapeMismatches: [String])
    /// The method has no closed-form weight update.
    case notMergeable(module: String)
    /// adapter_config.json names a method Scion does not have.
    case unknownPEFTType(String, supported: [String])
    /// No adapter with this name is attached.
    case unknownAdapter(String, available: [String])
    /// An adapter with this name is already attached.
    case duplicateAdapter(String)
    /// A file could not be read or written, or is malformed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfig(let m, let rule): return "invalid \(m) config: \(rule)"
        case .noTargetModules(let t, let avail):
            return "no module matches target_modules (\(t)); Linear and Embedding modules: \(avail.prefix(12).joined(separator: ", "))\(avail.count > 12 ? ", …" : "")"
        case .baseModelMismatch(let missing, let shapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("modules missing from the base model (or not Linear/Embedding as needed): \(missing.joined(separator: ", "))") }
            if !shapes.isEmpty { parts.append("shape mismatches: \(shapes.joined(separator: "; "))") }
            return "adapter does not match the base model: " + parts.joined(separator: "; ")
        case .notMergeable(let m): return "\(m): this adapter cannot be merged into the weight"
        case .unknownPEFTType(let t, let s): return "unknown peft_type \(t); supported: \(s.joined(separator: ", "))"
        case .unknownAdapter(let n, let a): return "no adapter named \(n); attached: \(a.joined(separator: ", "))"
        case .duplicateAdapter(let n): return "an adapter named \(n) is already attached"
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}

// MARK: - Helpers shared by method files

extension Linear {
    /// `d` ([out, in]) in this layer's stored layout.
    func inLayout(_ d: Tensor) -> Tensor { layout == .outIn ? d : d.matrixTransposed.contiguous() }
}

/// A trainable parameter of the given shape filled by `fill` (zeros when nil).
func makeParameter(_ shape: [Int], _ fill: Tensor? = nil) -> Parameter {
    Parameter(fill ?? Tensor.zeros(shape))
}

/// The n×n identity (float32).
func identityMatrix(_ n: Int) -> Tensor {
    var v = [Float](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    return Tensor(v, shape: [n, n])
}

/// One value or a list of them, as PEFT's `Union[int, list[int]]` / `Union[str, list[str]]` fields
/// (`layers_to_transform`, `layers_pattern`); encoded back in the form it was given.
public enum OneOrMany<Element: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    case one(Element)
    case many([Element])

    /// The values as a list.
    public var values: [Element] {
        switch self {
        case .one(let v): return [v]
        case .many(let v): return v
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let list = try? c.decode([Element].self) { self = .many(list); return }
        self = .one(try c.decode(Element.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .one(let v): try c.encode(v)
        case .many(let v): try c.encode(v)
        }
    }
}

/// The fields every PEFT config shares (PEFT's `PeftConfig` plus the targeting fields of its tuner
/// configs), written once and used by every method's config. Decoded from, and encoded into, the
/// same JSON object as the method's own fields, under PEFT's key names; nil fields are not written.
public struct PEFTCommonConfig: Codable, Sendable, Equatable {
    public var peftType: String
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    public var inferenceMode = false
    public var targetModules: TargetModules?
    public var excludeModules: TargetModules?
    /// Layer indices to adapt (`layers_to_transform`); only with list targets.
    public var layersToTransform: OneOrMany<Int>?
    /// The layer-list name(s) whose index `layersToTransform` selects (`layers_pattern`).
    public var layersPattern: OneOrMany<String>?
    public var fanInFanOut = false
    public var modulesToSave: [String]?

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", taskType = "task_type", baseModelNameOrPath = "base_model_name_or_path"
        case revision, inferenceMode = "inference_mode", targetModules = "target_modules"
        case excludeModules = "exclude_modules", layersToTransform = "layers_to_transform", layersPattern = "layers_pattern"
        case fanInFanOut = "fan_in_fan_out", modulesToSave = "modules_to_save"
    }

    public init(peftType: String, targetModules: TargetModules? = nil) {
        self.peftType = peftType; self.targetModules = targetModules
    }

    /// Decodes the common fields; `peft_type` is required unless `defaultPeftType` is given.
    public init(from decoder: any Decoder, defaultPeftType: String?) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let defaultPeftType {
            peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? defaultPeftType
        } else {
            peftType = try c.decode(String.self, forKey: .peftType)
        }
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        revision = try c.decodeIfPresent(String.self, forKey: .revision)
        inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? false
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules)
        excludeModules = try c.decodeIfPresent(TargetModules.self, forKey: .excludeModules)
        layersToTransform = try c.decodeIfPresent(OneOrMany<Int>.self, forKey: .layersToTransform)
        layersPattern = try c.decodeIfPresent(OneOrMany<String>.self, forKey: .layersPattern)
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    }

    public init(from decoder: any Decoder) throws { try self.init(from: decoder, defaultPeftType: nil) }
}

/// The former name of ``PEFTCommonConfig``.
public typealias CommonAdapterFields = PEFTCommonConfig

/// A config built from ``PEFTCommonConfig`` plus its own fields (every method's config).
public protocol CommonFieldsConfig: AdapterConfig {
    var common: PEFTCommonConfig { get set }
}

extension CommonFieldsConfig {
    public var peftType: String { get { common.peftType } set { common.peftType = newValue } }
    public var taskType: String? { get { common.taskType } set { common.taskType = newValue } }
    public var revision: String? { get { common.revision } set { common.revision = newValue } }
    public var inferenceMode: Bool { get { common.inferenceMode } set { common.inferenceMode = newValue } }
    public var targetModules: TargetModules? { get { common.targetModules } set { common.targetModules = newValue } }
    public var excludeModules: TargetModules? { get { common.excludeModules } set { common.excludeModules = newValue } }
    public var layersToTransform: OneOrMany<Int>? { get { common.layersToTransform } set { common.layersToTransform = newValue } }
    public var layersPattern: OneOrMany<String>? { get { common.layersPattern } set { common.layersPattern = newValue } }
    public var modulesToSave: [String]? { get { common.modulesToSave } set { common.modulesToSave = newValue } }
    public var baseModelNameOrPath: String? { get { common.baseModelNameOrPath } set { common.baseModelNameOrPath = newValue } }
    public var fanInFanOut: Bool { get { common.fanInFanOut } set { common.fanInFanOut = newValue } }
}

/// Kaiming-uniform (a = √5) samples, as torch.nn.Linear's default: bound 1/√fanIn.
func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout RandomGenerator) -> Tensor {
    let bound = 1 / Double(fanIn).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
}
