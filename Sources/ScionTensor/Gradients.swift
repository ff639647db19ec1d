// Vector–Jacobian products: one rule per primitive, in one exhaustive switch, so a new primitive
// without a derivative does not compile. Given dL/dy (`g`) and what the op saved, return dL/dx for
// each input (nil: not differentiable). Results are *added* into the gradient store by the caller.
// Runs with recording off, so rules may use any tensor op.

import Foundation

func vjp(_ node: GradNode, _ g: Tensor) -> [Tensor?] {
    let shapes = node.inputShapes
    let s = node.saved
    switch node.op {
    case .leaf, .checkpoint:
        return []
    case .add:
        return [g, g]
    case .sub:
        return [g, -g]
    case .mul:
        return [g * s[1], g * s[0]]
    case .div:
        return [g / s[1], -g * s[0] / s[1].squared()]
    case .maximum, .minimum:
        let (a, b) = (s[0], s[1])
        let wins = node.op == .maximum ? (a .> b) : (a .< b)
        let ties = a .== b
        let zero = Tensor.zeros([], dtype: g.dtype)
        let half = g * 0.5
        let ga = Tensor.select(wins, g, Tensor.select(ties, half, zero))
        let gb = Tensor.select(wins, zero, Tensor.select(ties, half, g))
        return [ga, gb]
    case .neg:
        return [-g]
    case .exp:
        return [g * s[0]]                                   // d eˣ = eˣ (the saved output)
    case .log:
        return [g / s[0]]
    case .sqrt:
        return [g * 0.5 / s[0]]                             // d √x = 1 / (2√x) (the saved output)
    case .sin:
        return [g * s[0].cos()]
    case .cos:
        return [-g * s[0].sin()]
    case .tanh:
        return [g * (1 - s[0].squared())]                   // 1 − tanh² (the saved output)
    case .erf:
        return [g * (2 / Double.pi.squareRoot()) * (-s[0].squared()).exp()]
    case .abs:
        let x = s[0]
        let zero = Tensor.zeros([], dtype: g.dtype)
        return [Tensor.select(x .> 0, g, Tensor.select(x .< 0, -g, zero))]
    case .powScalar(let p):
        return [g * p * s[0].pow(p - 1)]
    case .less, .lessEqual, .equal, .argmax:
        return shapes.map { _ in nil }
    case .select:
        let zero = Tensor.zeros([], dtype: g.dtype)
        return [nil, Tensor.select(s[0], g, zero), Tensor.select(s[0], zero, g)]
    case .cast:
        return [g.cast(node.inputDTypes[0])]
    case .sum:
        return [g.expanded(to: shapes[0])]
    case .max(let axes):
        let (x, y) = (s[0], s[1])
        let mask = (x .== y.expanded(to: x.shape)).cast(g.dtype)
        let count = mask.sum(axes: axes, keepingDimensions: true)
        return [g.expanded(to: x.shape) * mask / count]
    case .reshape:
        return [g.reshaped(shapes[0])]
    case .permute(let p):
        var inverse = [Int](repeating: 0, count: p.count)
        for (i, a) in p.enumerated() { inverse[a] = i }
        return [g.permuted(inverse)]
    case .expand:
        let inShape = shapes[0]
        let axes = inShape.indices.filter { inShape[$0] == 1 && g.shape[$0] != 1 }
        return [axes.isEmpty ? g : g.sum(axes: axes, keepingDimensions: true)]
    case .slice(let ranges):
        return [Kernels.sliceScatter(g, into: shapes[0], ranges)]
    case .pad(let flat, _):
        return [g.sliced(shapes[0].indices.map { SliceRange(flat[2 * $0], flat[2 * $0] + shapes[0][$0]) })]
    case .concat(let axis):
        return g.split(sizes: shapes.map { $0[axis] }, axis: axis).map { Optional($0) }
    case .contiguous:
        return [g]
    case .matmul:
        let (a, b) = (s[0], s[1])
        // An operand that is a transposed matrix (x·Wᵀ with W [out, in], the tied LM head) gets its
        // gradient as (gᵀ·x)ᵀ: the same GEMM with other transpose flags, whose result has W's own
        // row-major layout, so accumulating it with other gradients of W (the embedding's, 154 MB for
        // GPT-2) reads memory in order instead of across a transpose.
        // An operand that needs no gradient (a frozen base weight under LoRA, the input of the first
        // layer) gets none: its GEMM is a third of the matmul's backward work.
        let ga = node.parents[0] == nil ? nil
            : isTransposedMatrix(a) ? b.matmul(g.matrixTransposed).matrixTransposed : g.matmul(b.matrixTransposed)
        let gb = node.parents[1] == nil ? nil
            : isTransposedMatrix(b) ? g.matrixTransposed.matmul(a).matrixTransposed : a.matrixTransposed.matmul(g)
        return [ga, gb]
    case .gather(let axis):
        return [Tensor.zeros(shapes[0], dtype: g.dtype).scatterAdding(axis: axis, index: s[0], source: g), nil]
    case .scatterAdd(let axis):
        return [g, nil, g.gather(axis: axis, index: s[0])]
    case .indexSelect(let axis):
        return [g.indexAdd(axis: axis, index: s[0], size: shapes[0][axis]), nil]
    case .indexAdd(let axis, _):
        return [g.indexSelect(axis: axis, index: s[0]), nil]
    case .softmax, .logSoftmax, .layerNorm, .rmsNorm, .gelu, .silu, .crossEntropy, .attention, .rope:
        return FusedGradients.vjp(node, g)
    }
}

/// True for a 2-D view that is the transpose of a row-major matrix.
func isTransposedMatrix(_ x: Tensor) -> Bool {
    x.rank == 2 && x.shape[0] > 1 && x.shape[1] > 1 && x.strides[0] == 1 && x.strides[1] == x.shape[0]
}
