// DyLoRA: dynamic search-free LoRA. One LoRA of maximum rank r_max trained so that every prefix
// works: at rank b ≤ r_max only the first b rows of A and the first b columns of B are used,
//     ΔW_b = (α / b) · B[:, :b] · A[:b, :]
// Training samples b ∈ [r_min, r_max] each step (`sampleRank`); evaluation picks any b (`setRank`).
// Variant: the paper's "frozen" update (its Algorithm 1): during a training step only the b-th slice
// trains — row b of A and column b of B; rows/columns 1…b−1 take part in the forward pass but are
// detached, and those beyond b are not used, so their gradients are zero. (TECHNIQUES row 84 also
// allows updating all truncated slices; Scion follows the paper's default.) Outside a training step
// the first b slices are used with no detaching. The rank sampled for a step derives from (seed, step),
// not from a running generator, so a resumed run samples the same ranks.
// Paper: Valipour et al. 2023, "DyLoRA: Parameter-Efficient Tuning of Pre-trained Models using Dynamic
// Search-Free Low-Rank Adaptation" (EACL 2023, arXiv:2210.07558). PEFT lacks DyLoRA (issue #289):
// Scion saves it in PEFT's LoRA layout (`lora_A.weight`, `lora_B.weight`) with `peft_type` "DYLORA"
// and the extra config key `r_min`.

import Foundation
import ScionNN
import ScionTensor

/// DyLoRA: a nested LoRA usable at every rank up to `r`.
///
/// Training follows the paper's "frozen" variant (Valipour et al. 2023, Algorithm 1): each step samples
/// b ∈ [r_min, r_max] (``sampleRank(in:seed:step:)``) and only the b-th slice — row b of `lora_A`, column
/// b of `lora_B` — receives gradients; slices 1…b−1 are used but detached, later ones unused. At
/// inference any b can be chosen (``setRank(_:in:)``); after each training step the layers return to r_max.
public enum DyLoRA: AdapterMethod {
    public static let name = "dylora"
    public static let peftType = "DYLORA"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        Config(r: r, loraAlpha: Double(2 * r), targetModules: targetModules)
    }

    public struct Config: CommonFieldsConfig, Equatable {
        public var common: PEFTCommonConfig
        /// The maximum rank r_max.
        public var r: Int
        /// The smallest rank sampled in training.
        public var rMin: Int
        public var loraAlpha: Double

        enum CodingKeys: String, CodingKey { case r, rMin = "r_min", loraAlpha = "lora_alpha" }

        public init(r: Int, rMin: Int = 1, loraAlpha: Double, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: DyLoRA.peftType, targetModules: targetModules)
            self.r = r; self.rMin = rMin; self.loraAlpha = loraAlpha
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
            rMin = try c.decodeIfPresent(Int.self, forKey: .rMin) ?? 1
            loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(r, forKey: .r); try c.encode(rMin, forKey: .rMin); try c.encode(loraAlpha, forKey: .loraAlpha)
        }

        public func validate() throws {
            guard r > 0 else { throw AdapterError.invalidConfig(method: "DyLoRA", rule: "r must be a positive integer (got \(r))") }
            guard rMin >= 1 && rMin <= r else { throw AdapterError.invalidConfig(method: "DyLoRA", rule: "r_min must be in 1...r (got \(rMin), r \(r))") }
        }

        public var parameterNames: [String] { ["lora_A.weight", "lora_B.weight"] }
        public var rankTensorName: String? { "lora_A.weight" }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            return Layer(config: self, rank: rank ?? r, base: base, initialize: initialize, generator: &generator)
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int { r * (base.inFeatures + base.outFeatures) }
    }

    /// The DyLoRA layer: `lora_A.weight` [r_max, in] and `lora_B.weight` [out, r_max], used up to ``rank``.
    public final class Layer: ConfiguredAdapter, TrainingModeAdapter {
        public let loraA: Parameter, loraB: Parameter
        public let maxRank: Int
        /// The rank b in use (1...maxRank).
        public var rank: Int
        public let dyConfig: Config
        public var config: any AdapterConfig { dyConfig }
        /// Non-nil during a training step: only the b-th slice receives gradients.
        public var trainingState: AdapterTrainingState?

        init(config: Config, rank r: Int, base: Linear, initialize: Bool, generator: inout RandomGenerator) {
            dyConfig = config; maxRank = r; rank = r
            loraA = Parameter(initialize ? kaimingUniform([r, base.inFeatures], fanIn: base.inFeatures, generator: &generator)
                                         : .zeros([r, base.inFeatures]))
            loraB = Parameter(Tensor.zeros([base.outFeatures, r]))
        }

        public var entries: [ModuleEntry] { [.parameter("lora_A.weight", loraA), .parameter("lora_B.weight", loraB)] }

        var a: Tensor { loraA.value.sliced(axis: 0, 0..<rank) }
        var b: Tensor { loraB.value.sliced(axis: 1, 0..<rank) }
        var scale: Double { dyConfig.loraAlpha / Double(rank) }

        /// A[:b] [b, in] and B[:, :b] [out, b]; in training the first b − 1 slices are detached.
        func factors() -> (a: Tensor, b: Tensor) {
            guard trainingState != nil, rank > 1 else { return (a, b) }
            let k = rank - 1
            let a = Tensor.concat([loraA.value.sliced(axis: 0, 0..<k).detached(), loraA.value.sliced(axis: 0, k..<rank)], axis: 0)
            let b = Tensor.concat([loraB.value.sliced(axis: 1, 0..<k).detached(), loraB.value.sliced(axis: 1, k..<rank)], axis: 1)
            return (a, b)
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            let (a, b) = factors()
            return y + x.matmul(a.matrixTransposed).matmul(b.matrixTransposed) * scale
        }

        public func deltaWeight(base: Linear) -> Tensor? { base.inLayout((b.matmul(a) * scale).detached()) }
    }

    /// Evaluates every DyLoRA layer of `model` at rank `b` (nil: the maximum).
    public static func setRank(_ b: Int?, in model: any Module) throws {
        for (key, l) in Injection.linearLayers(of: model) {
            guard let layer = l.activeAdapter as? Layer else { continue }
            let r = b ?? layer.maxRank
            guard r >= 1 && r <= layer.maxRank else {
                throw AdapterError.invalidConfig(method: "DyLoRA", rule: "\(key): rank must be in 1...\(layer.maxRank) (got \(r))")
            }
            layer.rank = r
        }
    }

    /// The rank a training step samples: uniform in [r_min, r_max], derived from (`seed`, `step`) only.
    public static func sampleRank(in model: any Module, seed: UInt64, step: Int) throws -> Int {
        var g = RandomGenerator(seed: AdapterDropout.mix(AdapterDropout.mix(seed ^ 0xD1_10EA) ^ UInt64(truncatingIfNeeded: step)))
        return try sampleRank(in: model, generator: &g)
    }

    /// Samples b uniformly in [r_min, r_max] and sets it on every layer (call once per training step).
    @discardableResult
    public static func sampleRank(in model: any Module, generator: inout RandomGenerator) throws -> Int {
        guard let first = Injection.linearLayers(of: model).lazy.compactMap({ $0.1.activeAdapter as? Layer }).first else {
            throw AdapterError.invalidConfig(method: "DyLoRA", rule: "the model has no active DyLoRA adapter")
        }
        let lo = first.dyConfig.rMin, hi = first.maxRank
        let b = lo + Int(generator.next() % UInt64(hi - lo + 1))
        try setRank(b, in: model)
        return b
    }
}
