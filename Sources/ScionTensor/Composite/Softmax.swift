// Softmax and log-softmax: a fused, numerically stable kernel (max subtracted, one pass per row,
// rows in parallel) with a hand-written backward, and the composite from primitives it is tested
// against. Fused rules: softmax  dx = y ⊙ (g − Σ g⊙y);  log-softmax  dx = g − eʸ ⊙ Σ g.

import Foundation

extension Tensor {
    /// Softmax along `axis` (fused kernel).
    public func softmax(axis: Int = -1) -> Tensor {
        let a = self.axis(axis, op: "softmax")
        if a != rank - 1 { return transposed(a, -1).softmax(axis: -1).transposed(a, -1) }
        let x = contiguous()
        let y = FusedKernels.softmaxRows(x, log: false)
        return y.recorded(.softmax(axis: a), [x], saving: [y])
    }

    /// Log-softmax along `axis` (fused kernel).
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let a = self.axis(axis, op: "logSoftmax")
        if a != rank - 1 { return transposed(a, -1).logSoftmax(axis: -1).transposed(a, -1) }
        let x = contiguous()
        let y = FusedKernels.softmaxRows(x, log: true)
        return y.recorded(.logSoftmax(axis: a), [x], saving: [y])
    }

    /// Softmax composed from primitives (the reference for the fused kernel).
    public func softmaxComposite(axis: Int = -1) -> Tensor {
        let m = max(axes: [axis], keepingDimensions: true).detached()
        let e = (self - m).exp()
        return e / e.sum(axes: [axis], keepingDimensions: true)
    }

    /// Log-softmax composed from primitives.
    public func logSoftmaxComposite(axis: Int = -1) -> Tensor {
        self - logSumExp(axes: [axis], keepingDimensions: true)
    }
}

enum FusedKernels {
    /// Rows of the last axis: (row count, row length).
    static func rowsOf(_ x: Tensor) -> (Int, Int) {
        let n = x.shape.last ?? 1
        return (n == 0 ? 0 : x.count / n, n)
    }

    static func softmaxRows(_ x: Tensor, log: Bool) -> Tensor {
        switch x.dtype {
        case .float32: return softmaxRowsTyped(x, log: log, Float.self)
        case .float64: return softmaxRowsTyped(x, log: log, Double.self)
        default: preconditionFailure("softmax: unsupported dtype \(x.dtype) for shape \(x.shape)")
        }
    }

    static func softmaxRowsTyped<T: TensorFloat>(_ x: Tensor, log: Bool, _: T.Type) -> Tensor {
        let (rows, n) = rowsOf(x)
        let out = Storage(uninitializedByteCount: x.count * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        let xp = x.pointer(T.self)
        parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { range in
            for r in range {
                let xi = xp + r * n, oi = o + r * n
                if T.self == Float.self {
                    let xf = xi.asFloat, of = oi.asFloat
                    var m = FastMath.max(xf, n)
                    if !m.isFinite && !m.isNaN { m = 0 }
                    if log {
                        let ls = Foundation.log(FastMath.expSum(xf, nil, n, minus: m)) + m
                        for j in 0..<n { of[j] = xf[j] - ls }
                    } else {
                        let s = FastMath.expSum(xf, of, n, minus: m)
                        FastMath.scale(of, of, n, by: 1 / s)
                    }
                    continue
                }
                var m = -T.infinity
                for j in 0..<n where xi[j] > m || xi[j].isNaN { m = xi[j] }
                if !m.isFinite && !m.isNaN { m = 0 }   // all −∞ (fully masked): avoid ∞ − ∞
                var s: T = 0
                for j in 0..<n { let e = T.exp(xi[j] - m); oi[j] = e; s += e }
                if log {
                    let ls = T.log(s) + m
                    for j in 0..<n { oi[j] = xi[j] - ls }
                } else {
                    let inv = 1 / s
                    for j in 0..<n { oi[j] *= inv }
                }
            }
        }
        return Tensor(storage: out, shape: x.shape, dtype: x.dtype)
    }

    static func softmaxBackward<T: TensorFloat>(_ y: Tensor, _ g: Tensor, log: Bool, _: T.Type) -> Tensor {
        let (rows, n) = rowsOf(y)
        let gc = g.contiguous()
        defer { withExtendedLifetime(gc) {} }
        let out = Storage(uninitializedByteCount: y.count * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        let yp = y.pointer(T.self), gp = gc.pointer(T.self)
        parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { range in
            for r in range {
                let yi = yp + r * n, gi = gp + r * n, oi = o + r * n
                var s: T = 0
                if log {
                    for j in 0..<n { s += gi[j] }
                    if T.self == Float.self {
                        let yf = yi.asFloat, of = oi.asFloat, gf = gi.asFloat, sf = s as! Float
                        _ = FastMath.expSum(yf, of, n, minus: 0)
                        for j in 0..<n { of[j] = gf[j] - of[j] * sf }
                        continue
                    }
                    for j in 0..<n { oi[j] = gi[j] - T.exp(yi[j]) * s }
                } else {
                    for j in 0..<n { s += gi[j] * yi[j] }
                    for j in 0..<n { oi[j] = yi[j] * (gi[j] - s) }
                }
            }
        }
        return Tensor(storage: out, shape: y.shape, dtype: y.dtype)
    }
}
