// DSEE: dually sparsity-embedded efficient tuning. The update is low-rank plus sparse,
//     W' = W + s·B·A + S,
// where B·A is a LoRA (B = 0 at start) and S has k trainable entries (0 at start) on a fixed support:
// the k largest-magnitude entries of W's residual after its best rank-r approximation (the sparse part
// of a sparse + low-rank decomposition of W). `DSEE.pruneMagnitude` then prunes the merged weight.
// Paper: Chen et al. 2023, "DSEE: Dually Sparsity-embedded Efficient Tuning of Pre-trained Language
// Models" (ACL 2023, arXiv:2111.00160). Not in PEFT: `peft_type` "DSEE", LoRA's keys plus
// `dsee_index` [k] (int32 flat indices into [out, in], frozen) and `dsee_value` [k].

import Foundation
import ScionNN
import ScionTensor

/// DSEE: LoRA plus a sparse update on the residual's largest entries.
public enum DSEE: AdapterMethod {
    public static let name = "dsee"
    public static let peftType = "DSEE"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> Config {
        Config(r: r, loraAlpha: Double(2 * r), sparseCount: 16, targetModules: targetModules)
    }

    public struct Config: CommonFieldsConfig, Equatable {
        public var common: PEFTCommonConfig
        public var r: Int
        public var loraAlpha: Double
        /// Entries of S per matrix.
        public var sparseCount: Int

        enum CodingKeys: String, CodingKey { case r, loraAlpha = "lora_alpha", sparseCount = "sparse_count" }

        public init(r: Int, loraAlpha: Double, sparseCount: Int, targetModules: TargetModules? = nil) {
            common = PEFTCommonConfig(peftType: DSEE.peftType, targetModules: targetModules)
            self.r = r; self.loraAlpha = loraAlpha; self.sparseCount = sparseCount
        }

        public init(from decoder: any Decoder) throws {
            common = try PEFTCommonConfig(from: decoder)
            let c = try decoder.container(keyedBy: CodingKeys.self)
            r = try c.decodeIfPresent(Int.self, forKey: .r) ?? 8
            loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
            sparseCount = try c.decodeIfPresent(Int.self, forKey: .sparseCount) ?? 64
        }

        public func encode(to encoder: any Encoder) throws {
            try common.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(r, forKey: .r); try c.encode(loraAlpha, forKey: .loraAlpha); try c.encode(sparseCount, forKey: .sparseCount)
        }

        public func validate() throws {
            guard r > 0 else { throw AdapterError.invalidConfig(method: "DSEE", rule: "r must be a positive integer (got \(r))") }
            guard sparseCount >= 0 else { throw AdapterError.invalidConfig(method: "DSEE", rule: "sparse_count must not be negative (got \(sparseCount))") }
        }

        public func check(base: Linear, key: String, rank: Int?) throws {
            let m = Swift.min(base.inFeatures, base.outFeatures)
            guard (rank ?? r) <= m, sparseCount <= base.inFeatures * base.outFeatures else {
                throw AdapterError.invalidConfig(method: "DSEE", rule:
                    "\(key): r (\(rank ?? r)) must not exceed min(in_features, out_features) = \(m) and sparse_count (\(sparseCount)) the matrix size")
            }
        }

        public var parameterNames: [String] { ["lora_A.weight", "lora_B.weight", "dsee_index", "dsee_value"] }
        public var rankTensorName: String? { "lora_A.weight" }

        public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                                generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
            try validate()
            try check(base: base, key: key, rank: rank)
            let r = rank ?? self.r
            var support = Array(0..<sparseCount)
            if initialize {
                // Support: largest |W − W_r| entries (W_r the best rank-r part).
                let w = base.weightOutIn.cast(.float64)
                let (u, s, vt) = try w.svd()
                let lowRank = (u.sliced(axis: 1, 0..<r) * s.sliced(axis: 0, 0..<r).reshaped([1, r])).matmul(vt.sliced(axis: 0, 0..<r))
                let residual = (w - lowRank).abs().doubles()
                support = Array(residual.indices.sorted { residual[$0] > residual[$1] }.prefix(sparseCount)).sorted()
            }
            return Layer(config: self, rank: r, support: support, base: base, initialize: initialize, generator: &generator)
        }

        public func trainableParameterCount(for base: Linear, key: String) -> Int {
            r * (base.inFeatures + base.outFeatures) + sparseCount
        }
    }

    public final class Layer: ConfiguredAdapter {
        public let loraA: Parameter, loraB: Parameter, index: Parameter, value: Parameter
        public let dseeConfig: Config
        public var config: any AdapterConfig { dseeConfig }
        let scale: Double

        init(config: Config, rank r: Int, support: [Int], base: Linear, initialize: Bool, generator: inout RandomGenerator) {
            dseeConfig = config; scale = config.loraAlpha / Double(r)
            loraA = Parameter(initialize ? kaimingUniform([r, base.inFeatures], fanIn: base.inFeatures, generator: &generator) : .zeros([r, base.inFeatures]))
            loraB = Parameter(Tensor.zeros([base.outFeatures, r]))
            index = Parameter(Tensor(indices: support).cast(.int32), trainable: false)
            value = Parameter(Tensor.zeros([support.count]))
        }

        public var entries: [ModuleEntry] {
            [.parameter("lora_A.weight", loraA), .parameter("lora_B.weight", loraB),
             .parameter("dsee_index", index), .parameter("dsee_value", value)]
        }
        public var trainableParameters: [Parameter] { [loraA, loraB, value] }

        /// S as a dense [out, in] matrix (differentiable in the values).
        func sparse(base: Linear) -> Tensor {
            value.value.indexAdd(axis: 0, index: index.value, size: base.outFeatures * base.inFeatures)
                .reshaped([base.outFeatures, base.inFeatures])
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            y + x.matmul(loraA.value.matrixTransposed).matmul(loraB.value.matrixTransposed) * scale
                + x.matmul(sparse(base: base).matrixTransposed)
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            base.inLayout((loraB.value.matmul(loraA.value) * scale + sparse(base: base)).detached())
        }
    }

    /// Zeroes the `fraction` of smallest-magnitude entries of every dense Linear weight `model` adapts
    /// (after ``Injection/merge(_:)``): DSEE's unstructured pruning step. Returns the entries zeroed.
    @discardableResult
    public static func pruneMagnitude(_ model: any Module, fraction: Double) -> Int {
        var zeroed = 0
        for (_, l) in Injection.linearLayers(of: model) where !l.adapters.isEmpty {
            guard let p = l.weight.parameter else { continue }
            let v = p.value.floats()
            let k = Int(Double(v.count) * fraction)
            guard k > 0 else { continue }
            let threshold = v.map { Swift.abs($0) }.sorted()[k - 1]
            p.value = Tensor(v.map { Swift.abs($0) <= threshold ? 0 : $0 }, shape: p.shape).cast(p.value.dtype)
            zeroed += k
        }
        return zeroed
    }
}
