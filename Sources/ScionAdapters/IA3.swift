// (IA)³: infused adapter by inhibiting and amplifying inner activations. A learned vector l rescales
// a layer's activations: for attention-type targets its output, y = l ⊙ (W·x + b), with l [out, 1];
// for feed-forward targets its input, y = W·(l ⊙ x) + b, with l [1, in]. l starts at 1 (the identity).
// Merging multiplies W's rows (or columns) by l, and for output scaling the bias too.
// Paper: Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
// In-Context Learning" (arXiv:2205.05638). PEFT reference: src/peft/tuners/ia3/{config,layer}.py.

import Foundation
import ScionNN
import ScionTensor

/// (IA)³: `ia3_l` per target module.
public enum IA3: AdapterMethod {
    public static let name = "ia3"
    public static let peftType = "IA3"
    /// (IA)³ has no rank; `r` is ignored.
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        var c = Config(); c.targetModules = targetModules
        if case .names(let n)? = targetModules {
            c.feedforwardModules = .names(n.filter { $0.hasSuffix("down_proj") || $0.hasSuffix("mlp.c_proj") })
        }
        return c
    }

    /// Default (target, feed-forward) modules by model type, as PEFT's IA3 mappings.
    public static let defaultModules: [String: (targets: [String], feedforward: [String])] = [
        "llama": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        "mistral": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        "qwen2": (["k_proj", "v_proj", "down_proj"], ["down_proj"]),
        "gpt2": (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
        "bert": (["key", "value", "output.dense"], ["output.dense"]),
    ]

    /// PEFT's `IA3Config`: the common fields (``PEFTCommonConfig``) plus IA³'s own.
    public struct Config: CommonFieldsConfig, Equatable {
        public var common = PEFTCommonConfig(peftType: IA3.peftType)
        /// Modules whose input (not output) is scaled.
        public var feedforwardModules: TargetModules?
        public var initIa3Weights = true

        // NOTE: explicit snake_case keys so the file round-trips PEFT's names exactly.
        enum CodingKeys: String, CodingKey {
            case feedforwardModules = "feedforward_modules", initIa3Weights = "init_ia3_weights"
        }

        public init() {}

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder, defaultPeftType: IA3.peftType)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            feedforwardModules = try c.decodeIfPresent(TargetModules.self, forKey: .feedforwardModules)
            initIa3Weights = try c.decodeIfPresent(Bool.self, forKey: .initIa3Weights) ?? true
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(feedforwardModules, forKey: .feedforwardModules)
            try c.encode(initIa3Weights, forKey: .initIa3Weights)
        }

        public func validate() throws {}

        public var parameterNames: [String] { ["ia3_l"] }

        /// Whether `key` is a feed-forward module (PEFT: list entries match by suffix, a string by full regex).
        public func isFeedforward(_ key: String) -> Bool {
            switch feedforwardModules {
            case .none: return false
            case .names(let n)?: return n.contains { key.hasSuffix($0) }
            case .regex(let r)?: return fullMatch(r, key)
            case .allLinear?: return true
            }
        }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            Layer(config: self, feedforward: isFeedforward(key), base: base, initialize: initialize)
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            isFeedforward(key) ? base.inFeatures : base.outFeatures
        }

        public func defaultTargets(modelType: String) -> TargetModules? {
            IA3.defaultModules[modelType].map { .names($0.targets) }
        }

        public mutating func applyDefaults(modelType: String) {
            guard targetModules == nil, let d = IA3.defaultModules[modelType] else { return }
            targetModules = .names(d.targets)
            if feedforwardModules == nil { feedforwardModules = .names(d.feedforward) }
        }
    }

    /// The (IA)³ layer: `ia3_l` [1, in] (feed-forward) or [out, 1].
    public final class Layer: ConfiguredAdapter {
        public let scaling: Parameter
        public let isFeedforward: Bool
        public let ia3Config: Config
        public var config: any AdapterConfig { ia3Config }

        init(config: Config, feedforward: Bool, base: Linear, initialize: Bool) {
            ia3Config = config; isFeedforward = feedforward
            let shape = feedforward ? [1, base.inFeatures] : [base.outFeatures, 1]
            scaling = Parameter(initialize && config.initIa3Weights ? Tensor.ones(shape) : Tensor.zeros(shape))
        }

        public var entries: [ModuleEntry] { [.parameter("ia3_l", scaling)] }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            if isFeedforward { return base.baseForward(x * scaling.value.reshaped([-1])) }
            return y * scaling.value.reshaped([-1])
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            let w = base.weightOutIn.detached()
            let l = scaling.value.detached()   // [1, in] scales columns; [out, 1] scales rows
            return base.inLayout(w * (l - 1))
        }

        public func deltaBias(base: Linear) -> Tensor? {
            guard !isFeedforward, let b = base.bias else { return nil }
            return b.value.detached() * (scaling.value.detached().reshaped([-1]) - 1)
        }
    }
}
