// The shared vocabulary of parameter-efficient fine-tuning: an adapter method (`AdapterMethod`), its
// configuration as PEFT writes it (`AdapterConfig`, decoded from adapter_config.json with unknown keys
// ignored), the adapter layer that sits in `Linear`'s slot (`ConfiguredAdapter`), target selection
// (`TargetModules`), errors, and the explicit registry `allAdapterMethods`.
// Reference: huggingface/peft, src/peft/config.py and src/peft/tuners/tuners_utils.py.

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
}

extension AdapterConfig {
    public var excludeModules: TargetModules? { nil }
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
    /// not Linear layers), and tensors whose shapes differ.
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
            return "no module matches target_modules (\(t)); Linear modules: \(avail.prefix(12).joined(separator: ", "))\(avail.count > 12 ? ", …" : "")"
        case .baseModelMismatch(let missing, let shapes):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("modules missing from the base model (or not Linear): \(missing.joined(separator: ", "))") }
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

/// The fields every config shares, for methods PEFT does not have (they use PEFT's layout and key
/// names with their own `peft_type`). Decoded from, and encoded into, the same JSON object as the
/// method's own fields.
public struct CommonAdapterFields: Codable, Sendable, Equatable {
    public var peftType: String
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    public var inferenceMode = false
    public var targetModules: TargetModules?
    public var excludeModules: TargetModules?
    public var fanInFanOut = false
    public var modulesToSave: [String]?

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", taskType = "task_type", baseModelNameOrPath = "base_model_name_or_path"
        case revision, inferenceMode = "inference_mode", targetModules = "target_modules"
        case excludeModules = "exclude_modules", fanInFanOut = "fan_in_fan_out", modulesToSave = "modules_to_save"
    }

    public init(peftType: String, targetModules: TargetModules? = nil) {
        self.peftType = peftType; self.targetModules = targetModules
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decode(String.self, forKey: .peftType)
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        revision = try c.decodeIfPresent(String.self, forKey: .revision)
        inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? false
        targetModules = try c.decodeIfPresent(TargetModules.self, forKey: .targetModules)
        excludeModules = try c.decodeIfPresent(TargetModules.self, forKey: .excludeModules)
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    }
}

/// A config built from ``CommonAdapterFields`` plus its own fields.
public protocol CommonFieldsConfig: AdapterConfig {
    var common: CommonAdapterFields { get set }
}

extension CommonFieldsConfig {
    public var peftType: String { common.peftType }
    public var targetModules: TargetModules? { get { common.targetModules } set { common.targetModules = newValue } }
    public var excludeModules: TargetModules? { common.excludeModules }
    public var baseModelNameOrPath: String? { get { common.baseModelNameOrPath } set { common.baseModelNameOrPath = newValue } }
    public var fanInFanOut: Bool { get { common.fanInFanOut } set { common.fanInFanOut = newValue } }
}

/// Kaiming-uniform (a = √5) samples, as torch.nn.Linear's default: bound 1/√fanIn.
func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout RandomGenerator) -> Tensor {
    let bound = 1 / Double(fanIn).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
}
