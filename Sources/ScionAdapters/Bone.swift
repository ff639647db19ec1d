// Bone and Bat: block-affine adapters with zero-initialised blocks (so the output starts at the base).
// • Bone: one trainable B [r, out] shared by every r-wide column group of W:
//       ΔW[:, g·r ..< (g+1)·r] = Bᵀ for each group g,   so  y += (Σ_g x_g) · B
//   (x_g the g-th r-chunk of x; in_features must be divisible by r).
// • Bat ("weight guide"): W cut into r×r blocks W_{j,i}; one r×r B_j per row block j:
//       W'_{j,i} = W_{j,i} + W_{j,i}·B_j + B_j
//   (in and out divisible by r). ΔW depends on W, so Bat applies x·ΔWᵀ with W held constant.
// Paper: Kang & Yin 2024, "Bone: Block-Affine Adaptation of Large Language Models" (arXiv:2409.15371).
// PEFT's Bone became MiSS (src/peft/tuners/miss); Scion keeps the paper's names: `peft_type` "BONE"
// with key `bone_block` [r, out], and "BAT" with `bat_block` [out/r, r, r], in PEFT's layout.
// Unmerge restores the saved weight exactly (no (I + B_j)⁻¹ needed).

import Foundation
import ScionNN
import ScionTensor

/// Configuration shared by Bone and Bat: the block size r.
public struct BlockAdapterConfig: CommonFieldsConfig, Equatable {
    public var common: PEFTCommonConfig
    public var r: Int

    enum CodingKeys: String, CodingKey { case r }

    public init(peftType: String, r: Int, targetModules: TargetModules? = nil) {
        common = PEFTCommonConfig(peftType: peftType, targetModules: targetModules); self.r = r
    }

    public init(from decoder: any Decoder) throws {
        common = try PEFTCommonConfig(from: decoder)
        r = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Int.self, forKey: .r) ?? 64
    }

    public func encode(to encoder: any Encoder) throws {
        try common.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(r, forKey: .r)
    }

    var isBat: Bool { common.peftType == Bat.peftType }
    var methodName: String { isBat ? "Bat" : "Bone" }

    public func validate() throws {
        guard r > 0 else { throw AdapterError.invalidConfig(method: methodName, rule: "r must be a positive integer (got \(r))") }
    }

    public var parameterNames: [String] { [isBat ? "bat_block" : "bone_block"] }

    public func check(base: Linear, key: String, rank: Int?) throws {
        guard base.inFeatures % r == 0, !isBat || base.outFeatures % r == 0 else {
            throw AdapterError.invalidConfig(method: methodName, rule:
                "\(key): r (\(r)) must divide in_features (\(base.inFeatures))" + (isBat ? " and out_features (\(base.outFeatures))" : ""))
        }
    }

    public func makeAdapter(for base: Linear, key: String, rank: Int?, initialize: Bool,
                            generator: inout RandomGenerator) throws -> any ConfiguredAdapter {
        try validate()
        try check(base: base, key: key, rank: nil)
        return isBat ? Bat.Layer(config: self, base: base) : Bone.Layer(config: self, base: base)
    }

    public func trainableParameterCount(for base: Linear, key: String) -> Int { r * base.outFeatures }
}

/// Bone: a block B [r, out] shared across W's column groups.
public enum Bone: AdapterMethod {
    public static let name = "bone"
    public static let peftType = "BONE"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> BlockAdapterConfig {
        BlockAdapterConfig(peftType: peftType, r: r, targetModules: targetModules)
    }

    public final class Layer: ConfiguredAdapter {
        public let block: Parameter
        public let blockConfig: BlockAdapterConfig
        public var config: any AdapterConfig { blockConfig }

        init(config: BlockAdapterConfig, base: Linear) {
            blockConfig = config
            block = Parameter(Tensor.zeros([config.r, base.outFeatures]))
        }

        public var entries: [ModuleEntry] { [.parameter("bone_block", block)] }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            let r = blockConfig.r, lead = Array(x.shape.dropLast())
            let summed = x.reshaped(lead + [base.inFeatures / r, r]).sum(axes: [x.rank - 1])   // [..., r]
            return y + summed.matmul(block.value)
        }

        public func deltaWeight(base: Linear) -> Tensor? {
            let bt = block.value.detached().matrixTransposed                                   // [out, r]
            let groups = base.inFeatures / blockConfig.r
            return base.inLayout(Tensor.concat(Array(repeating: bt, count: groups), axis: 1))
        }
    }
}

/// Bat: per-row-block r×r matrices that act on W's own blocks.
public enum Bat: AdapterMethod {
    public static let name = "bat"
    public static let peftType = "BAT"
    public static func makeConfig(r: Int, targetModules: TargetModules?) -> BlockAdapterConfig {
        BlockAdapterConfig(peftType: peftType, r: r, targetModules: targetModules)
    }

    public final class Layer: ConfiguredAdapter {
        public let blocks: Parameter
        public let blockConfig: BlockAdapterConfig
        public var config: any AdapterConfig { blockConfig }

        init(config: BlockAdapterConfig, base: Linear) {
            blockConfig = config
            blocks = Parameter(Tensor.zeros([base.outFeatures / config.r, config.r, config.r]))
        }

        public var entries: [ModuleEntry] { [.parameter("bat_block", blocks)] }

        /// ΔW [out, in]: blocks W_{j,i}·B_j + B_j (W constant).
        func deltaOutIn(base: Linear) -> Tensor {
            let r = blockConfig.r, (o, i) = (base.outFeatures, base.inFeatures)
            let w = base.weightOutIn.detached().reshaped([o / r, r, i / r, r]).permuted(0, 2, 1, 3)   // [J, I, r, r]
            let b = blocks.value.reshaped([o / r, 1, r, r])
            let d = w.matmul(b) + b                                                                   // [J, I, r, r]
            return d.permuted(0, 2, 1, 3).contiguous().reshaped([o, i])
        }

        public func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor {
            y + x.matmul(deltaOutIn(base: base).matrixTransposed)
        }

        public func deltaWeight(base: Linear) -> Tensor? { base.inLayout(deltaOutIn(base: base).detached()) }
    }
}
