// Compacter: a bottleneck adapter on a layer's output, y ← y + U·GELU(D·y), whose projections are
// parameterised hypercomplex multiplication (PHM) layers:
//     D = Σ_{i=1..n} A_i ⊗ (s_i t_iᵀ)   [out → d],    U = Σ_{i=1..n} A_i ⊗ (u_i v_iᵀ)   [d → out]
// The "slow" n×n matrices A_i are shared by every adapted layer; the rank-one "fast" factors are per
// layer. v starts at zero, so U = 0 and the output starts at the base. Non-linear: it cannot be merged.
// Trainable per layer: 2·(out/n + d/n)·n, plus n³ once for the shared A.
// Paper: Karimi Mahabadi et al. 2021, "Compacter: Efficient Low-Rank Hypercomplex Adapter Layers"
// (NeurIPS 2021, arXiv:2106.04647). Not in PEFT: `peft_type` "COMPACTER", keys `compacter_phm_rule`
// [n, n, n] (the shared A, written under every module), `compacter_down_s` [n, out/n], `compacter_down_t`
// [n, d/n], `compacter_up_u` [n, d/n], `compacter_up_v` [n, out/n].

import Foundation
import ScionNN
import ScionTensor

/// Compacter: Kronecker-factored bottleneck adapters with shared slow weights.
public enum Compacter: AdapterMethod {
    public static let name = "compacter"
    public static let peftType = "COMPACTER"
    /// `r` is the bottleneck width d.
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        Config(bottleneck: r, phmDimension: 2, targetModules: targetModules)
    }

    /// Holds the shared slow matrices for one injection (a reference shared by every copy of a config).
    public final class SharedRule: @unchecked Sendable {
        var parameter: Parameter?
        init() {}
    }

    public struct Config: CommonFieldsConfig {
        public var common: PEFTCommonConfig
        /// Bottleneck width d.
        public var bottleneck: Int
        /// Number of Kronecker summands n (must divide out and d).
        public var phmDimension: Int
        let shared = SharedRule()

        enum CodingKeys: String, CodingKey { case bottleneck = "reduction_dim", phmDimension = "phm_dim" }

        public init(bottleneck: Int, phmDimension: Int, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: Compacter.peftType, targetModules: targetModules)
            self.bottleneck = bottleneck; self.phmDimension = phmDimension
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            bottleneck = try c.decodeIfPresent(Int.self, forKey: .bottleneck) ?? 8
            phmDimension = try c.decodeIfPresent(Int.self, forKey: .phmDimension) ?? 4
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(bottleneck, forKey: .bottleneck); try c.encode(phmDimension, forKey: .phmDimension)
        }

        public func validate() throws {
            guard phmDimension > 0, bottleneck > 0, bottleneck % phmDimension == 0 else {
                throw AdapterError.invalidConfig(method: "Compacter", rule:
                    "reduction_dim (\(bottleneck)) must be a positive multiple of phm_dim (\(phmDimension))")
            }
        }

        public func check(base: Linear, key: String, rank: Int?) throws {
            guard base.outFeatures % phmDimension == 0 else {
                throw AdapterError.invalidConfig(method: "Compacter", rule: "\(key): phm_dim (\(phmDimension)) must divide out_features (\(base.outFeatures))")
            }
        }

        public var parameterNames: [String] {
            ["compacter_phm_rule", "compacter_down_s", "compacter_down_t", "compacter_up_u", "compacter_up_v"]
        }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            try check(base: base, key: key, rank: nil)
            let n = phmDimension
            if shared.parameter == nil {
                shared.parameter = Parameter(initialize ? Tensor.normal([n, n, n], std: 0.5, generator: &generator) : .zeros([n, n, n]))
            }
            return Layer(config: self, rule: shared.parameter!, base: base, initialize: initialize, generator: &generator)
        }

        /// Per layer; the shared n³ is counted by ``sharedParameterCount``.
        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            2 * (base.outFeatures + bottleneck)
        }

        /// The n³ slow weights shared by all layers.
        public var sharedParameterCount: Int { phmDimension * phmDimension * phmDimension }
    }

    public final class Layer: ConfiguredAdapter {
        public let rule: Parameter
        public let downS: Parameter, downT: Parameter, upU: Parameter, upV: Parameter
        public let compacterConfig: Config
        public var config: any AdapterConfig { compacterConfig }

        init(config: Config, rule: Parameter, base: Linear, initialize: Bool, generator: inout RandomGenerator) {
            compacterConfig = config; self.rule = rule
            let n = config.phmDimension, o = base.outFeatures / n, d = config.bottleneck / n
            func r(_ shape: [Int]) -> Tensor { initialize ? Tensor.normal(shape, std: 0.1, generator: &generator) : .zeros(shape) }
            downS = Parameter(r([n, o])); downT = Parameter(r([n, d])); upU = Parameter(r([n, d]))
            upV = Parameter(Tensor.zeros([n, o]))
        }

        public var entries: [ModuleEntry] {
            [.parameter("compacter_phm_rule", rule), .parameter("compacter_down_s", downS), .parameter("compacter_down_t", downT),
             .parameter("compacter_up_u", upU), .parameter("compacter_up_v", upV)]
        }

        /// Σ_i A_i ⊗ (x_i y_iᵀ) for factor rows x [n, p], y [n, q] → [n·p, n·q].
        func phm(_ x: Tensor, _ y: Tensor) -> Tensor {
            let n = compacterConfig.phmDimension
            var sum: Tensor?
            for i in 0..<n {
                let a = rule.value.selecting(axis: 0, index: i)                              // [n, n]
                let b = x.selecting(axis: 0, index: i).reshaped([-1, 1]).matmul(y.selecting(axis: 0, index: i).reshaped([1, -1]))
                let k = a.kronecker(b)
                sum = sum.map { $0 + k } ?? k
            }
            return sum!
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            let down = phm(downS.value, downT.value)        // [out, d]
            let up = phm(upU.value, upV.value)              // [d, out]
            return y + y.matmul(down).gelu().matmul(up)
        }

        public func deltaWeight(base: Linear) -> Tensor? { nil }
    }
}
