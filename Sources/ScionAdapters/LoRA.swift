// LoRA: low-rank adaptation. For a frozen W [out, in], the layer computes
//     y = W·x + b + s · B·(A·x),   A [r, in], B [out, r],   s = α / r   (rsLoRA: s = α / √r)
// with B = 0 at initialisation, so the adapted model starts as the base model; ΔW = s · B·A merges.
// Initialisations (PEFT's `init_lora_weights`): true (A Kaiming-uniform, B = 0), "gaussian"
// (A ~ N(0, 1/r)), false (A and B both random: tests only), "pissa" (A, B from the top-r singular
// triplets of W, and W is replaced by the residual), "olora" (A, B from W's QR factors, likewise).
// Papers: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models" (arXiv:2106.09685);
// Kalajdzievski 2023, "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA" (arXiv:2312.03732);
// Meng et al. 2024, "PiSSA: Principal Singular Values and Singular Vectors Adaptation" (arXiv:2404.02948);
// Büyükakyüz 2024, "OLoRA: Orthonormal Low-Rank Adaptation" (arXiv:2406.01775).
// PEFT reference: src/peft/tuners/lora/config.py, layer.py (LoraLayer.update_layer, pissa_init, olora_init).
// `lora_dropout` drops the input of the low-rank path during training steps only (AdapterDropout).
// LoRA on Embedding modules: LoRAEmbedding.swift.
// A PiSSA/OLoRA adapter saved as is needs the residual base; convert to plain LoRA before sharing.

import Foundation
import ScionNN
import ScionTensor

/// LoRA, rsLoRA, PiSSA and OLoRA (one config, as in PEFT).
public enum LoRA: AdapterMethod {
    public static let name = "lora"
    public static let peftType = "LORA"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        Config(r: r, loraAlpha: Double(2 * r), targetModules: targetModules)
    }

    /// PEFT's `init_lora_weights`: a Boolean or a method name.
    public enum Initialization: Codable, Sendable, Equatable {
        case standard          // true
        case random            // false: B is random too (tests)
        case gaussian
        case pissa
        case olora

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = b ? .standard : .random; return }
            let s = try c.decode(String.self)
            switch s {
            case "gaussian": self = .gaussian
            case "pissa": self = .pissa
            case "olora": self = .olora
            default:
                throw DecodingError.dataCorruptedError(in: c, debugDescription:
                    "init_lora_weights \"\(s)\" is not supported (true, false, \"gaussian\", \"pissa\", \"olora\")")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .standard: try c.encode(true)
            case .random: try c.encode(false)
            case .gaussian: try c.encode("gaussian")
            case .pissa: try c.encode("pissa")
            case .olora: try c.encode("olora")
            }
        }
    }

    /// PEFT's `LoraConfig`: the common fields (``PEFTCommonConfig``) plus LoRA's own.
    public struct Config: CommonFieldsConfig, Equatable {
        public var common: PEFTCommonConfig
        public var r: Int
        public var loraAlpha: Double
        /// Dropout probability on the adapter's input during training (never at inference).
        public var loraDropout: Double = 0
        public var bias = "none"
        public var useRslora = false
        public var useDora = false
        public var initLoraWeights: Initialization = .standard
        /// Per-module rank overrides: key pattern → r (PEFT's `rank_pattern`).
        public var rankPattern: [String: Int] = [:]
        /// Per-module α overrides (PEFT's `alpha_pattern`).
        public var alphaPattern: [String: Double] = [:]

        // NOTE: explicit snake_case keys (not a key strategy) so the file round-trips PEFT's names exactly.
        enum CodingKeys: String, CodingKey {
            case r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
            case bias, useRslora = "use_rslora", useDora = "use_dora", initLoraWeights = "init_lora_weights"
            case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
        }

        public init(r: Int = 8, loraAlpha: Double = 8, targetModules: TargetModules? = nil, useRslora: Bool = false,
                    useDora: Bool = false, initLoraWeights: Initialization = .standard) {
            common = PEFTCommonConfig(peftType: LoRA.peftType, targetModules: targetModules)
            self.r = r; self.loraAlpha = loraAlpha
            self.useRslora = useRslora; self.useDora = useDora; self.initLoraWeights = initLoraWeights
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder, defaultPeftType: LoRA.peftType)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
            loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
            loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? 0
            bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
            useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? false
            useDora = try c.decodeIfPresent(Bool.self, forKey: .useDora) ?? false
            initLoraWeights = try c.decodeIfPresent(Initialization.self, forKey: .initLoraWeights) ?? .standard
            rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
            alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern) ?? [:]
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(r, forKey: .r); try c.encode(loraAlpha, forKey: .loraAlpha); try c.encode(loraDropout, forKey: .loraDropout)
            try c.encode(bias, forKey: .bias); try c.encode(useRslora, forKey: .useRslora); try c.encode(useDora, forKey: .useDora)
            try c.encode(initLoraWeights, forKey: .initLoraWeights)
            try c.encode(rankPattern, forKey: .rankPattern); try c.encode(alphaPattern, forKey: .alphaPattern)
        }

        var methodName: String { useDora ? "DoRA" : "LoRA" }

        public func validate() throws {
            guard r > 0 else { throw AdapterError.invalidConfig(method: methodName, rule: "r must be a positive integer (got \(r))") }
            if let bad = rankPattern.first(where: { $0.value <= 0 }) {
                throw AdapterError.invalidConfig(method: methodName, rule: "rank_pattern[\(bad.key)] must be positive (got \(bad.value))")
            }
            guard loraDropout >= 0 && loraDropout < 1 else {
                throw AdapterError.invalidConfig(method: methodName, rule: "lora_dropout must be in [0, 1) (got \(loraDropout))")
            }
            guard bias == "none" else {
                throw AdapterError.invalidConfig(method: methodName, rule: "bias \"\(bias)\" is not supported (only \"none\")")
            }
        }

        public var parameterNames: [String] {
            useDora ? ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"] : ["lora_A.weight", "lora_B.weight"]
        }

        /// The pattern value for `key` (PEFT: a pattern matches when the key ends with it after a dot).
        func patternValue<T>(_ pattern: [String: T], _ key: String) -> T? {
            pattern.keys.sorted().first { fullMatch("(.*\\.)?" + $0, key) }.map { pattern[$0]! }
        }

        /// The rank for the module at `key`.
        public func rank(for key: String) -> Int { patternValue(rankPattern, key) ?? r }

        /// The scale s for rank `rank` at `key`: α/r, or α/√r with rsLoRA.
        public func scale(for key: String, rank: Int) -> Double {
            let alpha = patternValue(alphaPattern, key) ?? loraAlpha
            return useRslora ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        }

        public var rankTensorName: String? { "lora_A.weight" }

        public func check(base: Linear, key: String, rank: Int?) throws {
            guard initLoraWeights == .pissa || initLoraWeights == .olora else { return }
            let r = rank ?? self.rank(for: key), m = Swift.min(base.inFeatures, base.outFeatures)
            let method = initLoraWeights == .pissa ? "PiSSA" : "OLoRA"
            guard r <= m else {
                throw AdapterError.invalidConfig(method: methodName, rule:
                    "\(key): r (\(r)) must not exceed min(in_features, out_features) = \(m) for \(method) initialisation")
            }
            guard base.weight.parameter != nil else {
                throw AdapterError.invalidConfig(method: methodName, rule: "\(key): \(method) initialisation needs a dense base weight")
            }
        }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            let r = rank ?? self.rank(for: key)
            let lora = try Layer(base: base, key: key, config: self, rank: r, initialize: initialize, generator: &generator)
            return useDora ? DoRA.Layer(lora: lora, base: base, initialize: initialize) : lora
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            rank(for: key) * (base.inFeatures + base.outFeatures) + (useDora ? base.outFeatures : 0)
        }
    }

    /// The LoRA layer: `lora_A.weight` [r, in] and `lora_B.weight` [out, r].
    public final class Layer: ConfiguredAdapter, TrainingModeAdapter {
        public let loraA: Parameter
        public let loraB: Parameter
        public let rank: Int
        /// s = α/r (or α/√r with rsLoRA).
        public let scale: Double
        public let loraConfig: Config
        public var config: any AdapterConfig { loraConfig }
        /// The adapted module's key (dropout masks derive from it).
        public let key: String
        /// Non-nil during a training step: `lora_dropout` applies.
        public var trainingState: AdapterTrainingState?

        init(base: Linear, key: String, config: Config, rank r: Int, initialize: Bool,
             generator: inout RandomGenerator) throws {
            let (inF, outF) = (base.inFeatures, base.outFeatures)
            loraConfig = config; rank = r; self.key = key
            scale = config.scale(for: key, rank: r)
            var a = Tensor.zeros([r, inF]), b = Tensor.zeros([outF, r])
            if initialize {
                switch config.initLoraWeights {
                case .standard:
                    // Kaiming-uniform with a = √5, as torch.nn.Linear: bound 1/√in.
                    let bound = 1 / Double(inF).squareRoot()
                    a = Tensor.uniform([r, inF], low: -bound, high: bound, generator: &generator)
                case .gaussian:
                    a = Tensor.normal([r, inF], std: 1 / Double(r), generator: &generator)
                case .random:
                    let bound = 1 / Double(inF).squareRoot()
                    a = Tensor.uniform([r, inF], low: -bound, high: bound, generator: &generator)
                    b = Tensor.uniform([outF, r], low: -bound, high: bound, generator: &generator)
                case .pissa, .olora:
                    try config.check(base: base, key: key, rank: r)
                    guard case .dense(let p) = base.weight else { preconditionFailure("checked above") }
                    let w = base.weightOutIn.cast(.float64)
                    let s = scale
                    if config.initLoraWeights == .pissa {
                        // W = U S Vᵀ; B = U_r √(S_r/s), A = √(S_r/s) V_rᵀ, so s·B·A is W's best rank-r part.
                        let (u, sv, vt) = try w.svd()
                        let root = (sv.sliced(axis: 0, 0..<r) / s).sqrt()
                        b = (u.sliced(axis: 1, 0..<r) * root.reshaped([1, r])).cast(.float32)
                        a = (vt.sliced(axis: 0, 0..<r) * root.reshaped([r, 1])).cast(.float32)
                    } else {
                        // W = Q R; B = Q_r, A = R_r (the first r columns / rows).
                        let (q, rr) = try w.qr()
                        b = q.sliced(axis: 1, 0..<r).contiguous().cast(.float32)
                        a = rr.sliced(axis: 0, 0..<r).contiguous().cast(.float32)
                    }
                    let residual = w.cast(.float32) - b.matmul(a) * s
                    p.value = base.inLayout(residual).cast(p.value.dtype)
                }
            }
            loraA = Parameter(a.contiguous()); loraB = Parameter(b.contiguous())
        }

        public var entries: [ModuleEntry] { [.parameter("lora_A.weight", loraA), .parameter("lora_B.weight", loraB)] }

        /// x after `lora_dropout` (unchanged outside training).
        func dropped(_ x: Tensor) -> Tensor {
            AdapterDropout.apply(x, probability: loraConfig.loraDropout, key: key, state: trainingState)
        }

        /// s · B·(A·x) for x [..., in] → [..., out] (x already dropped when training).
        func update(_ x: Tensor) -> Tensor {
            x.matmul(loraA.value.matrixTransposed).matmul(loraB.value.matrixTransposed) * scale
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor { y + update(dropped(x)) }

        /// s · B·A in [out, in].
        func deltaOutIn() -> Tensor { loraB.value.matmul(loraA.value) * scale }

        public func deltaWeight(base: Linear) -> Tensor? { base.inLayout(deltaOutIn().detached()) }
    }
}
