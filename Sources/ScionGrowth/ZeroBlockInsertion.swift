// Function-preserving depth growth: insert new blocks whose output projections (attention output
// and MLP output, weights and biases) are zero, so in a pre-norm residual block x + 0 + 0 = x and
// the grown model computes the old function exactly (the depth analogue of Net2Net's
// Net2DeeperNet; Chen, Goodfellow & Shlens 2016). The other weights copy the preceding block, so
// the new block starts trained, not random.
// NOTE: BERT is post-norm (LayerNorm(x + sublayer(x))): a zeroed sublayer still applies a
// LayerNorm, so insertion into BERT is approximate; `preservesFunction` says so and tests measure it.

import Foundation
import ScionTensor

/// Inserts blocks whose residual contributions start at exactly zero.
///
/// New blocks go after the given source layers (`after: [1]` puts one new block after layer 1;
/// `-1` means before layer 0). Each copies the block it follows (layer 0 when inserted first),
/// with zeroed output projections:
/// GPT-2 `attn.c_proj`, `mlp.c_proj`; Llama `self_attn.o_proj`, `mlp.down_proj`;
/// BERT `attention.output.dense`, `output.dense`.
public struct ZeroBlockInsertion: GrowthOperator {
    public static let name = "insert"
    /// Source layer indices after which one new block each is inserted (−1: at the front).
    public var after: [Int]
    /// True: exact for the pre-norm families (GPT-2, Llama); see ``preservesFunction(for:)`` for BERT.
    public var preservesFunction: Bool { true }

    /// Exact for GPT-2 and Llama; approximate for post-norm BERT.
    public func preservesFunction(for source: Checkpoint) -> Bool { Self.isExact(for: source.family) }

    /// - Parameter after: source layers after which to insert a block (repeat an index to insert several).
    public init(after: [Int]) { self.after = after }

    /// Inserts `count` blocks spread evenly through a stack of `layerCount` layers.
    public init(count: Int, evenlyInto layerCount: Int) {
        after = (0..<count).map { (($0 + 1) * layerCount) / (count + 1) - 1 }.map { Swift.max(-1, $0) }
    }

    public var parameters: [String: String] { ["after": after.map(String.init).joined(separator: ",")] }

    /// Whether insertion is exact for `family` (pre-norm residual blocks).
    public static func isExact(for family: ModelFamily) -> Bool { family != .bert }

    /// The residual-output tensors zeroed in a new block.
    static func outputSuffixes(_ family: ModelFamily) -> [String] {
        switch family {
        case .gpt2: return ["attn.c_proj.weight", "attn.c_proj.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"]
        case .llama: return ["self_attn.o_proj.weight", "self_attn.o_proj.bias", "mlp.down_proj.weight", "mlp.down_proj.bias"]
        case .bert: return ["attention.output.dense.weight", "attention.output.dense.bias", "output.dense.weight", "output.dense.bias"]
        }
    }

    public func validate(_ source: Checkpoint) throws {
        let l = source.layerCount
        try require(!after.isEmpty, "at least one insertion", "no insertion positions given")
        try require(after.allSatisfy { $0 >= -1 && $0 < l }, "-1 <= after[i] < \(source.family.layerCountKey)",
                    "positions \(after) outside -1..<\(l)")
        if source.family == .gpt2 {
            // NOTE: with scale_attn_by_inverse_layer_idx, attention scores depend on the layer index, so
            // shifting old layers to new indices changes their function.
            try require(source.bool("scale_attn_by_inverse_layer_idx") != true,
                        "scale_attn_by_inverse_layer_idx == false",
                        "layer-index-dependent attention scaling changes when layers move")
        }
    }

    public func grow(_ source: Checkpoint) throws -> Checkpoint {
        try validate(source)
        let old = (0..<source.layerCount).map { source.layer($0) }
        let zeroed = Set(Self.outputSuffixes(source.family))
        func newBlock(copying i: Int) -> [String: Tensor] {
            var b = old[i]
            for (k, t) in b where zeroed.contains(k) { b[k] = TensorSurgery.zeros(like: t) }
            return b
        }
        var layers: [[String: Tensor]] = [], sources: [Int] = []
        for _ in after.filter({ $0 == -1 }) { layers.append(newBlock(copying: 0)); sources.append(0) }
        for i in 0..<old.count {
            layers.append(old[i]); sources.append(i)
            for _ in after.filter({ $0 == i }) { layers.append(newBlock(copying: i)); sources.append(i) }
        }
        return try source.derived(operatorName: Self.name, parameters: parameters)
            .replacingLayers(layers, layerSource: sources)
    }
}
