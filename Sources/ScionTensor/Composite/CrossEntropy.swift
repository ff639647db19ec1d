// Cross-entropy over class logits: a fused per-row kernel (log-sum-exp and the target logit in one
// pass; backward softmax − one-hot without materializing log-probabilities) with ignore-index,
// optional per-token weights, and the composite from log-softmax + gather it is tested against.

import Foundation

/// How per-token losses are combined.
public enum LossReduction: String, Sendable {
    /// Weighted mean over tokens that are not ignored (PyTorch's default).
    case mean
    /// Weighted sum.
    case sum
    /// One loss per token (0 for ignored tokens).
    case none
}

extension Tensor {
    /// Cross-entropy of `logits` [N, V] against integer `targets` [N].
    /// Tokens whose target equals `ignoreIndex` contribute nothing. `weights` [N] scales each token's
    /// loss (a mask or per-token weight); with `.mean` the result is Σ wᵢℓᵢ / Σ wᵢ over kept tokens.
    public func crossEntropy(targets: Tensor, ignoreIndex: Int = -100, weights: Tensor? = nil,
                             reduction: LossReduction = .mean) -> Tensor {
        precondition(rank == 2 && targets.rank == 1 && targets.shape[0] == shape[0] && targets.dtype.isInteger,
                     "crossEntropy: logits \(shape) and targets \(targets.shape) (\(targets.dtype)); expected [N, V] and [N] integers")
        let x = contiguous()
        let (loss, lse) = FusedKernels.crossEntropyForward(x, targets, ignoreIndex: ignoreIndex)
        let perToken = loss.recorded(.crossEntropy(ignoreIndex: ignoreIndex), [x, targets],
                                     saving: [x.detached(), targets, lse])
        return Tensor.reduceLoss(perToken, targets: targets, ignoreIndex: ignoreIndex, weights: weights, reduction: reduction)
    }

    /// Cross-entropy composed from log-softmax and gather (the reference for the fused kernel).
    public func crossEntropyComposite(targets: Tensor, ignoreIndex: Int = -100, weights: Tensor? = nil,
                                      reduction: LossReduction = .mean) -> Tensor {
        let t = targets.ints()
        let safe = Tensor(indices: t.map { $0 == ignoreIndex ? 0 : $0 }, shape: [t.count, 1])
        let keep = Tensor(doubles: t.map { $0 == ignoreIndex ? 0 : 1 }, shape: [t.count], dtype: dtype)
        let nll = -logSoftmaxComposite(axis: -1).gather(axis: 1, index: safe).reshaped([t.count])
        return Tensor.reduceLoss(nll * keep, targets: targets, ignoreIndex: ignoreIndex, weights: weights, reduction: reduction)
    }

    static func reduceLoss(_ perToken: Tensor, targets: Tensor, ignoreIndex: Int, weights: Tensor?,
                           reduction: LossReduction) -> Tensor {
        let t = targets.ints()
        let keep = Tensor(doubles: t.map { $0 == ignoreIndex ? 0 : 1 }, shape: [t.count], dtype: perToken.dtype)
        var w = keep
        if let weights {
            precondition(weights.shape == [t.count], "crossEntropy: weights \(weights.shape) for \(t.count) tokens")
            w = keep * weights.cast(perToken.dtype)
        }
        let weighted = weights == nil ? perToken : perToken * w
        switch reduction {
        case .none: return weighted
        case .sum: return weighted.sum()
        case .mean: return weighted.sum() / w.sum().detached()
        }
    }
}

extension FusedKernels {
    static func crossEntropyForward(_ x: Tensor, _ targets: Tensor, ignoreIndex: Int) -> (Tensor, Tensor) {
        switch x.dtype {
        case .float32: return crossEntropyTyped(x, targets, ignoreIndex: ignoreIndex, Float.self)
        case .float64: return crossEntropyTyped(x, targets, ignoreIndex: ignoreIndex, Double.self)
        default: preconditionFailure("crossEntropy: unsupported dtype \(x.dtype)")
        }
    }

    static func crossEntropyTyped<T: TensorFloat>(_ x: Tensor, _ targets: Tensor, ignoreIndex: Int,
                                                  _: T.Type) -> (Tensor, Tensor) {
        let (rows, n) = (x.shape[0], x.shape[1])
        let t = targets.ints()
        for ti in t where ti != ignoreIndex {
            precondition(ti >= 0 && ti < n, "crossEntropy: target \(ti) out of range for \(n) classes")
        }
        let loss = Storage(byteCount: rows * MemoryLayout<T>.stride), lse = Storage(byteCount: rows * MemoryLayout<T>.stride)
        let lp = loss.pointer.assumingMemoryBound(to: T.self), sp = lse.pointer.assumingMemoryBound(to: T.self)
        let xp = x.pointer(T.self)
        let tb = UnsafeSendableBox(t)
        parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { range in
            for r in range {
                let xi = xp + r * n
                let l: T
                if T.self == Float.self {
                    let m = FastMath.max(xi.asFloat, n)
                    l = T(Foundation.log(FastMath.expSum(xi.asFloat, nil, n, minus: m)) + m)
                } else {
                    var m = -T.infinity
                    for j in 0..<n where xi[j] > m { m = xi[j] }
                    var s: T = 0
                    for j in 0..<n { s += T.exp(xi[j] - m) }
                    l = T.log(s) + m
                }
                sp[r] = l
                let target = tb.value[r]
                lp[r] = target == ignoreIndex ? 0 : l - xi[target]
            }
        }
        return (Tensor(storage: loss, shape: [rows], dtype: x.dtype), Tensor(storage: lse, shape: [rows], dtype: x.dtype))
    }

    static func crossEntropyBackward<T: TensorFloat>(_ x: Tensor, _ targets: Tensor, _ lse: Tensor, _ g: Tensor,
                                                     ignoreIndex: Int, _: T.Type) -> Tensor {
        let (rows, n) = (x.shape[0], x.shape[1])
        let t = targets.ints()
        let gc = g.contiguous()
        defer { withExtendedLifetime(gc) {} }
        let out = Storage(uninitializedByteCount: x.count * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        let xp = x.pointer(T.self), lp = lse.pointer(T.self), gp = gc.pointer(T.self)
        let tb = UnsafeSendableBox(t)
        parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { range in
            for r in range {
                let xi = xp + r * n, oi = o + r * n
                let target = tb.value[r]
                if target == ignoreIndex { oi.initialize(repeating: 0, count: n); continue }
                let gr = gp[r], l = lp[r]
                if T.self == Float.self {                              // g · softmax
                    _ = FastMath.expSum(xi.asFloat, oi.asFloat, n, minus: Float(l))
                    FastMath.scale(oi.asFloat, oi.asFloat, n, by: Float(gr))
                } else {
                    for j in 0..<n { oi[j] = gr * T.exp(xi[j] - l) }
                }
                oi[target] -= gr                                       // − g · one-hot
            }
        }
        return Tensor(storage: out, shape: x.shape, dtype: x.dtype)
    }
}
