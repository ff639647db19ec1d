// The basic layers, keyed as in transformers: Linear (nn.Linear [out, in], or GPT-2's Conv1D
// [in, out] kept as stored), Embedding, LayerNorm and RMSNorm. Weights may be dense parameters or
// quantized blocks (`Weight`); the forward pass picks the kernel. `Linear` and `Embedding` have an
// adapter slot (LoRA, DoRA, IA³, … live in ScionAdapters): the adapter's parameters appear under the
// layer's key with PEFT's names, so the tree holds "model.layers.0.self_attn.q_proj.lora_A.weight"
// and "model.embed_tokens.lora_embedding_A".

import Foundation
import ScionTensor

/// How a linear layer's weight is stored.
public enum WeightLayout: Sendable {
    /// [out, in], torch.nn.Linear.
    case outIn
    /// [in, out], GPT-2's Conv1D.
    case inOut
}

/// A layer's weight: a dense parameter or quantized blocks.
public enum Weight {
    case dense(Parameter)
    case quantized(QuantizedMatrix)

    /// The module entry for this weight under `key`.
    public func entry(_ key: String) -> ModuleEntry {
        switch self {
        case .dense(let p): return .parameter(key, p)
        case .quantized(let q): return .quantized(key, q)
        }
    }

    /// The dense parameter, if dense.
    public var parameter: Parameter? { if case .dense(let p) = self { return p } else { return nil } }
}

/// A trainable modification of one ``Linear`` layer (LoRA, DoRA, IA³, …; see ScionAdapters).
public protocol LinearAdapter: AnyObject {
    /// Parameters relative to the adapted layer; keys equal PEFT's saved keys ("lora_A.weight").
    var entries: [ModuleEntry] { get }
    /// The adapted output, given the base output `y = base.baseForward(x)` (bias included).
    func apply(_ x: Tensor, baseOutput y: Tensor, base: Linear) -> Tensor
    /// ΔW in the base layer's layout such that W + ΔW reproduces ``apply(_:baseOutput:base:)``;
    /// `nil` if the method cannot be merged.
    func deltaWeight(base: Linear) -> Tensor?
    /// Δb such that b + Δb completes the merge (IA³ scales the bias); `nil` when the bias is unchanged.
    func deltaBias(base: Linear) -> Tensor?
}

extension LinearAdapter {
    public func deltaBias(base: Linear) -> Tensor? { nil }
}

/// y = x·Wᵀ + b (or x·W + b for the [in, out] layout), plus the active adapter's change.
public final class Linear: Module {
    public var weight: Weight
    public let bias: Parameter?
    public let layout: WeightLayout
    public let inFeatures: Int, outFeatures: Int
    /// Adapters attached to this layer, by adapter name ("default").
    public var adapters: [String: any LinearAdapter] = [:]
    /// The adapter that runs and whose parameters appear in ``entries``; nil for none.
    public var activeAdapterName: String?
    /// When false the active adapter is bypassed (its parameters stay in the tree).
    public var adaptersEnabled = true
    /// The weight and bias before the active adapter was merged into them; non-nil while merged,
    /// in which case the forward pass does not apply the adapter again.
    public var unmergedState: (weight: Weight, bias: Tensor?)?

    /// The active adapter, if any.
    public var activeAdapter: (any LinearAdapter)? { activeAdapterName.flatMap { adapters[$0] } }

    /// A zero-initialized layer (loaders fill it; initializers live in the model files).
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true, layout: WeightLayout = .outIn) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.layout = layout
        weight = .dense(Parameter(Tensor.zeros(layout == .outIn ? [outFeatures, inFeatures] : [inFeatures, outFeatures])))
        self.bias = bias ? Parameter(Tensor.zeros([outFeatures])) : nil
    }

    public var entries: [ModuleEntry] {
        [weight.entry("weight")] + (bias.map { [ModuleEntry.parameter("bias", $0)] } ?? [])
            + (activeAdapter?.entries ?? [])
    }

    /// Applies the layer to x [..., in] → [..., out]: the base layer, then the active adapter
    /// (unless disabled or merged).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = baseForward(x)
        guard adaptersEnabled, unmergedState == nil, let adapter = activeAdapter else { return y }
        return adapter.apply(x, baseOutput: y, base: self)
    }

    /// The dense weight in the [out, in] orientation (quantized weights dequantized), for adapters.
    public var weightOutIn: Tensor {
        let w: Tensor
        switch weight {
        case .dense(let p): w = p.value
        case .quantized(let q): w = q.dequantized()
        }
        return layout == .outIn ? w : w.matrixTransposed
    }

    /// The base layer alone (x·Wᵀ + b), without any adapter.
    public func baseForward(_ x: Tensor) -> Tensor {
        precondition(x.shape.last == inFeatures, "Linear: input \(x.shape) for in_features \(inFeatures)")
        var y: Tensor
        switch weight {
        case .dense(let p):
            y = layout == .outIn ? x.matmul(p.value.matrixTransposed) : x.matmul(p.value)
        case .quantized(let q):
            let lead = Array(x.shape.dropLast())
            y = q.matmulTransposed(x.reshaped([-1, inFeatures])).reshaped(lead + [outFeatures])
        }
        if let bias { y = y + bias.value }
        return y
    }
}

/// A trainable modification of one ``Embedding`` (LoRA's `lora_embedding_A`/`lora_embedding_B`; see
/// ScionAdapters).
public protocol EmbeddingAdapter: AnyObject {
    /// Parameters relative to the adapted layer; keys equal PEFT's saved keys ("lora_embedding_A").
    var entries: [ModuleEntry] { get }
    /// The adapted rows, given the integer ids and the base rows `y = base.baseForward(ids)` [..., dim].
    func apply(_ ids: Tensor, baseOutput y: Tensor, base: Embedding) -> Tensor
    /// ΔW [count, dim] such that W + ΔW reproduces ``apply(_:baseOutput:base:)``; `nil` if the method
    /// cannot be merged.
    func deltaWeight(base: Embedding) -> Tensor?
}

/// Token embedding lookup: ids [...] → [..., dim], plus the active adapter's change.
public final class Embedding: Module {
    public var weight: Weight
    public let count: Int, dimension: Int
    /// Adapters attached to this layer, by adapter name ("default").
    public var adapters: [String: any EmbeddingAdapter] = [:]
    /// The adapter that runs and whose parameters appear in ``entries``; nil for none.
    public var activeAdapterName: String?
    /// When false the active adapter is bypassed (its parameters stay in the tree).
    public var adaptersEnabled = true
    /// The weight before the active adapter was merged into it; non-nil while merged, in which case
    /// the lookup does not apply the adapter again.
    public var unmergedState: Weight?

    /// The active adapter, if any.
    public var activeAdapter: (any EmbeddingAdapter)? { activeAdapterName.flatMap { adapters[$0] } }

    public init(count: Int, dimension: Int) {
        self.count = count; self.dimension = dimension
        weight = .dense(Parameter(Tensor.zeros([count, dimension])))
    }

    public var entries: [ModuleEntry] { [weight.entry("weight")] + (activeAdapter?.entries ?? []) }

    /// Looks up integer ids of any shape, then applies the active adapter (unless disabled or merged).
    public func callAsFunction(_ ids: Tensor) -> Tensor {
        let y = baseForward(ids)
        guard adaptersEnabled, unmergedState == nil, let adapter = activeAdapter else { return y }
        return adapter.apply(ids, baseOutput: y, base: self)
    }

    /// The lookup alone, without any adapter: ids [...] → [..., dim].
    public func baseForward(_ ids: Tensor) -> Tensor {
        precondition(ids.dtype.isInteger, "Embedding: ids must be integers, got \(ids.dtype)")
        let flat = ids.reshaped([-1])
        let rows: Tensor
        switch weight {
        case .dense(let p): rows = p.value.indexSelect(axis: 0, index: flat)
        case .quantized(let q):
            let idx = flat.ints()
            precondition(idx.allSatisfy { $0 >= 0 && $0 < count }, "Embedding: id out of range 0..<\(count)")
            rows = q.gatherRows(idx)
        }
        return rows.reshaped(ids.shape + [dimension])
    }

    /// The dense weight [count, dim] (a quantized weight dequantized), for adapters.
    public var denseWeight: Tensor {
        switch weight {
        case .dense(let p): return p.value
        case .quantized(let q): return q.dequantized()
        }
    }
}

/// torch.nn.LayerNorm over the last axis.
public final class LayerNorm: Module {
    public let weight: Parameter, bias: Parameter?
    public let eps: Double

    public init(dimension: Int, eps: Double = 1e-5, bias: Bool = true) {
        weight = Parameter(Tensor.ones([dimension]))
        self.bias = bias ? Parameter(Tensor.zeros([dimension])) : nil
        self.eps = eps
    }

    public var entries: [ModuleEntry] {
        [.parameter("weight", weight)] + (bias.map { [ModuleEntry.parameter("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(weight: weight.value, bias: bias?.value, eps: eps) }
}

/// RMS norm as in HF LlamaRMSNorm: x / √(mean(x²) + ε) · weight.
public final class RMSNorm: Module {
    public let weight: Parameter
    public let eps: Double

    public init(dimension: Int, eps: Double = 1e-6) {
        weight = Parameter(Tensor.ones([dimension]))
        self.eps = eps
    }

    public var entries: [ModuleEntry] { [.parameter("weight", weight)] }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: weight.value, eps: eps) }
}
