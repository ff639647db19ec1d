// The closed set of operations that kernels implement and autograd differentiates.
// Everything else in Scion is a composition of these. A few fused kernels (softmax, norms,
// activations, cross-entropy, attention, RoPE) are listed too: each is an optimization of a
// composite written from primitives, has its own hand-written backward, and is tested against
// that composite forward and backward (ARCHITECTURE.md §2.3).

/// One recorded operation. Reductions keep reduced axes as size 1; the front end reshapes.
public enum Primitive: Sendable, Hashable {
    /// A trainable input (created by ``Tensor/requiringGradient()``).
    case leaf
    // Elementwise unary.
    case neg, exp, log, sqrt, sin, cos, tanh, erf, abs
    case powScalar(Double)
    // Elementwise binary on equal shapes (broadcasting is an explicit `expand`).
    case add, sub, mul, div, maximum, minimum
    // Masks: not differentiable.
    case less, lessEqual, equal
    /// `select(mask, a, b)`: `a` where mask is true, else `b`.
    case select
    case cast(DType)
    // Reductions (reduced axes kept with size 1).
    case sum(axes: [Int]), max(axes: [Int])
    case argmax(axis: Int)
    // Views.
    case reshape([Int]), permute([Int]), expand([Int])
    /// Strided slice: per axis (start, end, step).
    case slice([SliceRange])
    // Data movement.
    case pad([Int], value: Double)   // flattened (before, after) per axis
    case concat(axis: Int)
    case contiguous
    // BLAS.
    case matmul
    // Indexing.
    case gather(axis: Int), scatterAdd(axis: Int)
    case indexSelect(axis: Int), indexAdd(axis: Int, size: Int)
    // Fused kernels (each tested against its composite).
    case softmax(axis: Int), logSoftmax(axis: Int)
    case layerNorm(eps: Double), rmsNorm(eps: Double)
    case gelu(GELUApproximation), silu
    case crossEntropy(ignoreIndex: Int)
    case attention(AttentionOptions)
    case rope(RoPEStyle)
    /// Gradient checkpointing: the inner function is recomputed during backward.
    case checkpoint
}

/// One axis of a strided slice: indices `start, start+step, …` below `end`.
public struct SliceRange: Sendable, Hashable {
    public var start: Int, end: Int, step: Int
    public init(_ start: Int, _ end: Int, step: Int = 1) {
        self.start = start; self.end = end; self.step = step
    }
    /// Number of selected indices.
    public var count: Int { end > start ? (end - start + step - 1) / step : 0 }
}

/// The two GELU forms: exact (erf, BERT) and tanh (GPT-2's `gelu_new`).
public enum GELUApproximation: String, Sendable, Hashable { case none, tanh }

/// The two rotary-embedding conventions.
public enum RoPEStyle: String, Sendable, Hashable {
    /// Rotate-half (GPT-NeoX / Hugging Face Llama): pairs (i, i + D/2).
    case rotateHalf
    /// Adjacent pairs (2i, 2i+1): GPT-J / original Llama / GGUF "NORM" order.
    case adjacentPairs
}

/// Static settings of a fused attention call.
public struct AttentionOptions: Sendable, Hashable {
    public var causal: Bool
    public var scale: Double
    public var hasMask: Bool
    public init(causal: Bool, scale: Double, hasMask: Bool) {
        self.causal = causal; self.scale = scale; self.hasMask = hasMask
    }
}
