// Layer norm (Ba et al. 2016; torch.nn.LayerNorm) and RMS norm (Zhang & Sennrich 2019; HF
// LlamaRMSNorm) over the last axis: fused one-pass kernels with hand-written backward, rows in
// parallel, and the primitive compositions they are tested against. With x̂ = (x − μ)·r:
//   layer norm  dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),  ĝ = g⊙w;  dw = Σ g⊙x̂;  db = Σ g
//   RMS norm    dx = r·(ĝ − x̂·mean(ĝ⊙x̂)),  x̂ = x·r;  dw = Σ g⊙x̂

import Foundation

extension Tensor {
    /// Layer normalization over the last axis with optional affine weight and bias ([C] each).
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        let c = shape.last ?? 0
        let w = weight ?? Tensor.ones([c], dtype: dtype), b = bias ?? Tensor.zeros([c], dtype: dtype)
        precondition(w.shape == [c] && b.shape == [c], "layerNorm: weight \(w.shape) / bias \(b.shape) for input \(shape)")
        let x = contiguous()
        let (y, mean, rstd) = FusedKernels.normForward(x, w, b, eps: eps, rms: false)
        return y.recorded(.layerNorm(eps: eps), [x, w, b], saving: [x.detached(), w.detached(), mean, rstd])
    }

    /// RMS normalization over the last axis: x / √(mean(x²) + ε) · weight.
    public func rmsNorm(weight: Tensor, eps: Double = 1e-6) -> Tensor {
        let c = shape.last ?? 0
        precondition(weight.shape == [c], "rmsNorm: weight \(weight.shape) for input \(shape)")
        let x = contiguous()
        let (y, _, rstd) = FusedKernels.normForward(x, weight, nil, eps: eps, rms: true)
        return y.recorded(.rmsNorm(eps: eps), [x, weight], saving: [x.detached(), weight.detached(), rstd])
    }

    /// Layer norm composed from primitives.
    public func layerNormComposite(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        let mu = mean(axes: [-1], keepingDimensions: true)
        let d = self - mu
        let v = d.squared().mean(axes: [-1], keepingDimensions: true)
        var y = d * (v + eps).rsqrt()
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    /// RMS norm composed from primitives.
    public func rmsNormComposite(weight: Tensor, eps: Double = 1e-6) -> Tensor {
        self * (squared().mean(axes: [-1], keepingDimensions: true) + eps).rsqrt() * weight
    }
}

extension FusedKernels {
    static func normForward(_ x: Tensor, _ w: Tensor, _ b: Tensor?, eps: Double, rms: Bool) -> (Tensor, Tensor, Tensor) {
        switch x.dtype {
        case .float32: return normForwardTyped(x, w, b, eps: eps, rms: rms, Float.self)
        case .float64: return normForwardTyped(x, w, b, eps: eps, rms: rms, Double.self)
        default: preconditionFailure("norm: unsupported dtype \(x.dtype) for shape \(x.shape)")
        }
    }

    static func normForwardTyped<T: TensorFloat>(_ x: Tensor, _ w: Tensor, _ b: Tensor?, eps: Double, rms: Bool,
                                                 _: T.Type) -> (Tensor, Tensor, Tensor) {
        let (rows, n) = rowsOf(x)
        let y = Storage(uninitializedByteCount: x.count * MemoryLayout<T>.stride)
        let meanS = Storage(byteCount: rows * MemoryLayout<T>.stride)
        let rstdS = Storage(byteCount: rows * MemoryLayout<T>.stride)
        let wc = w.contiguous(), bc = b?.contiguous()
        let xp = x.pointer(T.self), wp = wc.pointer(T.self), bp = bc?.pointer(T.self)
        let yp = y.pointer.assumingMemoryBound(to: T.self)
        let mp = meanS.pointer.assumingMemoryBound(to: T.self), rp = rstdS.pointer.assumingMemoryBound(to: T.self)
        let e = T(eps)
        let bbox = UnsafeSendableBox(bp)
        parallelFor(rows, grain: max(1, 2048 / max(n, 1))) { range in
            let bp = bbox.value
            for r in range {
                let xi = xp + r * n, yi = yp + r * n
                var mu: T = 0
                if !rms {
                    for j in 0..<n { mu += xi[j] }
                    mu /= T(n)
                }
                var v: T = 0
                for j in 0..<n { let d = xi[j] - mu; v += d * d }
                v /= T(n)
                let rstd = 1 / (v + e).squareRoot()
                mp[r] = mu; rp[r] = rstd
                if let bp {
                    for j in 0..<n { yi[j] = (xi[j] - mu) * rstd * wp[j] + bp[j] }
                } else {
                    for j in 0..<n { yi[j] = (xi[j] - mu) * rstd * wp[j] }
                }
            }
        }
        let rowShape = Array(x.shape.dropLast())
        return (Tensor(storage: y, shape: x.shape, dtype: x.dtype),
                Tensor(storage: meanS, shape: rowShape, dtype: x.dtype),
                Tensor(storage: rstdS, shape: rowShape, dtype: x.dtype))
    }

    /// Returns (dx, dw, db) for layer norm (`mean` non-nil) or RMS norm (`mean` nil; db unused).
    static func normBackward<T: TensorFloat>(_ x: Tensor, _ w: Tensor, _ mean: Tensor?, _ rstd: Tensor, _ g: Tensor,
                                             _: T.Type) -> (Tensor, Tensor, Tensor) {
        let (rows, n) = rowsOf(x)
        let gc = g.contiguous()
        let dx = Storage(uninitializedByteCount: x.count * MemoryLayout<T>.stride)
        let dw = Storage(byteCount: n * MemoryLayout<T>.stride), db = Storage(byteCount: n * MemoryLayout<T>.stride)
        // NOTE: keep the contiguous weight alive while its pointer is used; a temporary
        // `w.contiguous()` is freed at the end of its statement when `w` is a strided view.
        let wc = w.contiguous()
        defer { withExtendedLifetime(wc) {} }
        let xp = x.pointer(T.self), wp = wc.pointer(T.self), gp = gc.pointer(T.self)
        let mp = mean?.pointer(T.self), rp = rstd.pointer(T.self)
        let dxp = dx.pointer.assumingMemoryBound(to: T.self)
        let dwp = dw.pointer.assumingMemoryBound(to: T.self), dbp = db.pointer.assumingMemoryBound(to: T.self)
        let mbox = UnsafeSendableBox(mp)
        parallelFor(rows, grain: max(1, 2048 / max(n, 1))) { range in
            let mp = mbox.value
            for r in range {
                let xi = xp + r * n, gi = gp + r * n, di = dxp + r * n
                let mu = mp?[r] ?? 0, rs = rp[r]
                var sumG: T = 0, sumGX: T = 0                   // Σ ĝ and Σ ĝ⊙x̂
                for j in 0..<n {
                    let gh = gi[j] * wp[j], xh = (xi[j] - mu) * rs
                    sumG += gh; sumGX += gh * xh
                }
                let meanG = mp == nil ? 0 : sumG / T(n), meanGX = sumGX / T(n)
                for j in 0..<n {
                    let xh = (xi[j] - mu) * rs
                    di[j] = rs * (gi[j] * wp[j] - meanG - xh * meanGX)
                }
            }
        }
        // Parameter gradients: columns in parallel, rows summed in order (deterministic).
        parallelFor(n, grain: 64) { cols in
            let mp = mbox.value
            for r in 0..<rows {
                let xi = xp + r * n, gi = gp + r * n
                let mu = mp?[r] ?? 0, rs = rp[r]
                for j in cols {
                    dwp[j] += gi[j] * (xi[j] - mu) * rs
                    dbp[j] += gi[j]
                }
            }
        }
        return (Tensor(storage: dx, shape: x.shape, dtype: x.dtype), Tensor(storage: dw, shape: [n], dtype: x.dtype),
                Tensor(storage: db, shape: [n], dtype: x.dtype))
    }
}
