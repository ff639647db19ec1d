// SVFit: fine-tune only the top singular values. With W = U Σ Vᵀ and the top-r triplets kept,
//     W' = W + U_r · diag(δ) · V_rᵀ,   δ ∈ R^r trainable, δ = 0 at start
// (equivalently U_r diag(σ_r + δ) V_rᵀ + the frozen residual). r is fixed, or the smallest rank whose
// singular values hold `energy_threshold` of ‖W‖²_F. U_r and V_rᵀ are frozen and saved with the
// adapter (SVD signs differ between LAPACK builds, so they are not recomputed on load).
// Paper: Sun et al. 2024, "SVFit: Parameter-Efficient Fine-Tuning of Large Pre-Trained Models Using
// Singular Values" (arXiv:2409.05926). Not in PEFT: Scion's own `peft_type` "SVFIT", PEFT's layout,
// keys `svfit_u` [out, r], `svfit_vt` [r, in], `svfit_delta` [r].

import Foundation
import ScionNN
import ScionTensor

/// SVFit: r trainable numbers per matrix.
public enum SVFit: AdapterMethod {
    public static let name = "svfit"
    public static let peftType = "SVFIT"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config { Config(r: r, targetModules: targetModules) }

    public struct Config: CommonFieldsConfig, Equatable {
        public var common: PEFTCommonConfig
        /// Singular triplets kept (ignored when `energyThreshold` is set).
        public var r: Int
        /// Keep the fewest triplets whose σ² sum reaches this fraction of ‖W‖²_F (e.g. 0.99).
        public var energyThreshold: Double?

        enum CodingKeys: String, CodingKey { case r, energyThreshold = "energy_threshold" }

        public init(r: Int, energyThreshold: Double? = nil, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: SVFit.peftType, targetModules: targetModules)
            self.r = r; self.energyThreshold = energyThreshold
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
            energyThreshold = try c.decodeIfPresent(Double.self, forKey: .energyThreshold)
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(r, forKey: .r); try c.encodeIfPresent(energyThreshold, forKey: .energyThreshold)
        }

        public func validate() throws {
            if let e = energyThreshold {
                guard e > 0 && e <= 1 else { throw AdapterError.invalidConfig(method: "SVFit", rule: "energy_threshold must be in (0, 1] (got \(e))") }
            } else {
                guard r > 0 else { throw AdapterError.invalidConfig(method: "SVFit", rule: "r must be a positive integer (got \(r))") }
            }
        }

        public var parameterNames: [String] { ["svfit_u", "svfit_vt", "svfit_delta"] }
        public var rankTensorName: String? { "svfit_delta" }

        public func check(base: Linear, key: String, rank: Int?) throws {
            guard energyThreshold == nil || rank != nil else { return }
            let r = rank ?? self.r, m = Swift.min(base.inFeatures, base.outFeatures)
            guard r <= m else {
                throw AdapterError.invalidConfig(method: "SVFit", rule: "\(key): r (\(r)) must not exceed min(in_features, out_features) = \(m)")
            }
        }

        /// The rank for `base`: fixed, or by the energy threshold over its singular values.
        func rank(singularValues s: [Double]) -> Int {
            guard let e = energyThreshold else { return r }
            let total = s.reduce(0) { $0 + $1 * $1 }
            var acc = 0.0
            for (i, v) in s.enumerated() { acc += v * v; if acc >= e * total { return i + 1 } }
            return s.count
        }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            try check(base: base, key: key, rank: rank)
            guard initialize else {
                let r = rank ?? self.r
                return Layer(config: self, u: .zeros([base.outFeatures, r]), vt: .zeros([r, base.inFeatures]))
            }
            let (u, s, vt) = try base.weightOutIn.cast(.float64).svd()
            let r = rank ?? self.rank(singularValues: s.doubles())
            return Layer(config: self, u: u.sliced(axis: 1, 0..<r).contiguous().cast(.float32),
                         vt: vt.sliced(axis: 0, 0..<r).contiguous().cast(.float32))
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            guard energyThreshold != nil, let s = try? base.weightOutIn.cast(.float64).svd().s else { return r }
            return rank(singularValues: s.doubles())
        }
    }

    public final class Layer: ConfiguredAdapter {
        /// U_r [out, r] and V_rᵀ [r, in], frozen.
        public let u: Parameter, vt: Parameter
        /// δ [r], trainable.
        public let delta: Parameter
        public let svConfig: Config
        public var config: any AdapterConfig { svConfig }

        init(config: Config, u: Tensor, vt: Tensor) {
            svConfig = config
            self.u = Parameter(u, trainable: false); self.vt = Parameter(vt, trainable: false)
            delta = Parameter(Tensor.zeros([vt.shape[0]]))
        }

        public var entries: [ModuleEntry] {
            [.parameter("svfit_u", u), .parameter("svfit_vt", vt), .parameter("svfit_delta", delta)]
        }
        public var trainableParameters: [Parameter] { [delta] }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            y + (x.matmul(vt.value.matrixTransposed) * delta.value).matmul(u.value.matrixTransposed)
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            base.inLayout((u.value * delta.value.reshaped([1, -1])).matmul(vt.value).detached())
        }
    }
}
