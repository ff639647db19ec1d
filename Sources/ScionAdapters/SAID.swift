// SAID: structure-aware intrinsic-dimension fine-tuning. Every adapted matrix moves inside one shared
// random d-dimensional subspace: ΔW_i = λ_i · reshape(P_i z)[out, in], with z ∈ R^d trainable and
// shared by all layers (z = 0 at start, so the output starts at the base), one trainable scalar λ_i per
// layer, and a fixed Fastfood projection P_i = H G Π H B / L (L = 2^⌈log₂ out·in⌉, H the Walsh–Hadamard
// matrix applied by the fast transform, five butterfly stages per small matrix product; B random signs,
// Π a random permutation, G a Gaussian diagonal). P_i is regenerated from `projection_seed` and the module key, never stored.
// d90 — the smallest d reaching 90% of full fine-tuning's metric — is computed by `SAID.d90`, and
// measured on a task by `SAID.measureD90` (SAIDD90.swift).
// Papers: Aghajanyan et al. 2021, "Intrinsic Dimensionality Explains the Effectiveness of Language Model
// Fine-Tuning" (ACL 2021, arXiv:2012.13255); Le et al. 2013, "Fastfood". Not in PEFT: `peft_type`
// "SAID", keys `said_z` [d] (the shared z, written under every module) and `said_lambda` [1].

import Foundation
import ScionNN
import ScionTensor

/// SAID: a shared intrinsic vector z projected into every adapted matrix.
public enum SAID: AdapterMethod {
    public static let name = "said"
    public static let peftType = "SAID"
    /// `r` is the intrinsic dimension d.
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config { Config(intrinsicDimension: r, targetModules: targetModules) }

    /// The shared z for one injection (a reference shared by every copy of a config).
    public final class SharedVector: @unchecked Sendable {
        var parameter: Parameter?
        init() {}
    }

    public struct Config: CommonFieldsConfig {
        public var common: PEFTCommonConfig
        public var intrinsicDimension: Int
        public var projectionSeed: UInt64 = 0
        let shared = SharedVector()

        enum CodingKeys: String, CodingKey { case intrinsicDimension = "intrinsic_dim", projectionSeed = "projection_seed" }

        public init(intrinsicDimension: Int, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: SAID.peftType, targetModules: targetModules)
            self.intrinsicDimension = intrinsicDimension
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            intrinsicDimension = try c.decodeIfPresent(Int.self, forKey: .intrinsicDimension) ?? 1000
            projectionSeed = try c.decodeIfPresent(UInt64.self, forKey: .projectionSeed) ?? 0
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(intrinsicDimension, forKey: .intrinsicDimension); try c.encode(projectionSeed, forKey: .projectionSeed)
        }

        public func validate() throws {
            guard intrinsicDimension > 0 else {
                throw AdapterError.invalidConfig(method: "SAID", rule: "intrinsic_dim must be a positive integer (got \(intrinsicDimension))")
            }
        }

        public func check(base: Linear, key: String, rank: Int?) throws {
            let l = SAID.paddedLength(base.inFeatures * base.outFeatures)
            guard intrinsicDimension <= l else {
                throw AdapterError.invalidConfig(method: "SAID", rule: "\(key): intrinsic_dim (\(intrinsicDimension)) must not exceed \(l), the padded size of the matrix")
            }
        }

        public var parameterNames: [String] { ["said_z", "said_lambda"] }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            try check(base: base, key: key, rank: nil)
            if shared.parameter == nil { shared.parameter = Parameter(Tensor.zeros([intrinsicDimension])) }
            return Layer(config: self, z: shared.parameter!, key: key, base: base, initialize: initialize)
        }

        /// Per layer (λ); the shared d is counted by ``sharedParameterCount``.
        public func trainableParameterCount(for base: Linear, key: String) -> Int { 1 }
        public var sharedParameterCount: Int { intrinsicDimension }
    }

    static func paddedLength(_ n: Int) -> Int { var l = 1; while l < n { l *= 2 }; return l }

    /// The k×k Sylvester–Hadamard matrix, entries (−1)^popcount(i & j).
    static func hadamard(_ k: Int) -> Tensor {
        Tensor((0..<(k * k)).map { ((($0 / k) & ($0 % k)).nonzeroBitCount % 2 == 0 ? 1 : -1) as Float }, shape: [k, k])
    }

    /// Fast Walsh–Hadamard transform (unnormalised) of x [L], L a power of two; differentiable.
    ///
    /// The log₂L butterfly stages are applied five at a time: stages h, 2h, …, 16h together are H₃₂
    /// acting on one axis of x viewed as [L/(32h), 32, h] (H_L = H₂ ⊗ … ⊗ H₂), so a transform is a
    /// handful of small matrix products instead of log₂L rounds of elementwise ops. O(L · 32 · log₃₂ L).
    public static func fastWalshHadamard(_ x: Tensor) -> Tensor {
        let l = x.shape[0]
        precondition(l > 0 && l & (l - 1) == 0, "fastWalshHadamard: length \(l) is not a power of two")
        var y = x, h = 1
        while h < l {
            let k = Swift.min(l / h, 32)
            let n = l / (k * h)
            let hk = hadamard(k)                                                     // [k, k], symmetric
            if h == 1 {
                y = y.reshaped([n, k]).matmul(hk).reshaped([l])                      // [n, k]·H_k
            } else {
                // [n, k, h] → [n, h, k], transform the k axis, back to [n, k, h].
                y = y.reshaped([n, k, h]).transposed(1, 2).matmul(hk).transposed(1, 2).contiguous().reshaped([l])
            }
            h *= k
        }
        return y
    }

    /// A stable 64-bit hash of a module key (FNV-1a), for per-module projection seeds.
    static func keyHash(_ s: String) -> UInt64 {
        s.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    public final class Layer: ConfiguredAdapter {
        public let z: Parameter, lambda: Parameter
        public let saidConfig: Config
        public var config: any AdapterConfig { saidConfig }
        let signs: Tensor, permutation: Tensor, gaussian: Tensor, length: Int

        init(config: Config, z: Parameter, key: String, base: Linear, initialize: Bool) {
            saidConfig = config; self.z = z
            lambda = Parameter(Tensor.ones([1]))
            let l = SAID.paddedLength(base.inFeatures * base.outFeatures)
            length = l
            var g = RandomGenerator(seed: config.projectionSeed ^ SAID.keyHash(key))
            signs = Tensor((0..<l).map { _ in g.nextUniform() < 0.5 ? -1 : 1 }, shape: [l])
            var perm = Array(0..<l)
            for i in stride(from: l - 1, to: 0, by: -1) { perm.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            permutation = Tensor(indices: perm)
            gaussian = Tensor.normal([l], generator: &g)
        }

        public var entries: [ModuleEntry] { [.parameter("said_z", z), .parameter("said_lambda", lambda)] }

        /// ΔW [out, in] = λ · (H G Π H B pad(z))[:out·in] / L.
        func deltaOutIn(base: Linear) -> Tensor {
            let d = z.value.shape[0]
            var x = d < length ? z.value.padded([(0, length - d)]) : z.value
            x = SAID.fastWalshHadamard(x * signs)
            x = SAID.fastWalshHadamard(x.indexSelect(axis: 0, index: permutation) * gaussian) / Double(length)
            let n = base.outFeatures * base.inFeatures
            return (x.sliced(axis: 0, 0..<n) * lambda.value).reshaped([base.outFeatures, base.inFeatures])
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            y + x.matmul(deltaOutIn(base: base).matrixTransposed)
        }

        public func deltaWeight(base: Linear) -> Tensor? { base.inLayout(deltaOutIn(base: base).detached()) }
    }

    /// d90: the smallest intrinsic dimension whose metric reaches 90% of full fine-tuning's
    /// (`results` maps d → metric, higher is better); nil if none does.
    public static func d90(results: [Int: Double], fullFineTuning full: Double) -> Int? {
        results.keys.sorted().first { results[$0]! >= 0.9 * full }
    }
}
