// Rotary position embeddings (Su et al. 2021, RoFormer) in both conventions: rotate-half (GPT-NeoX,
// Hugging Face Llama/Qwen2) and adjacent pairs (GPT-J, GGUF's "NORM" order). A fused kernel whose
// backward is the inverse rotation, and the composite from slices it is tested against. Only the
// first 2·(cos.shape[1]) features rotate (partial rotary); the rest pass through.

import Foundation

extension Tensor {
    /// cos and sin tables [P, R/2] for `positions`, θᵢ = base^(−2i/R) scaled by `frequencyScale`
    /// (per-frequency factors, e.g. from Llama 3 `rope_scaling`; nil = 1).
    public static func ropeTables(positions: [Int], rotaryDimension r: Int, base: Double,
                                  inverseFrequencies: [Double]? = nil, dtype: DType = .float32) -> (cos: Tensor, sin: Tensor) {
        precondition(r > 0 && r % 2 == 0, "ropeTables: rotary dimension \(r) must be even and positive")
        let half = r / 2
        let inv = inverseFrequencies ?? (0..<half).map { 1 / Foundation.pow(base, Double(2 * $0) / Double(r)) }
        precondition(inv.count == half, "ropeTables: \(inv.count) inverse frequencies for rotary dimension \(r)")
        var c = [Double](repeating: 0, count: positions.count * half), s = c
        for (pi, p) in positions.enumerated() {
            for i in 0..<half {
                // NOTE: angle computed in Float when the table is float32, as transformers does.
                let angle = dtype == .float32 ? Double(Float(p) * Float(inv[i])) : Double(p) * inv[i]
                c[pi * half + i] = Foundation.cos(angle); s[pi * half + i] = Foundation.sin(angle)
            }
        }
        return (Tensor(doubles: c, shape: [positions.count, half], dtype: dtype),
                Tensor(doubles: s, shape: [positions.count, half], dtype: dtype))
    }

    /// Applies rotary embeddings to `self` [..., T, D] with tables [T, R/2] (R ≤ D).
    public func rotaryEmbedding(cos: Tensor, sin: Tensor, style: RoPEStyle = .rotateHalf) -> Tensor {
        precondition(rank >= 2 && cos.shape == sin.shape && cos.rank == 2 && cos.shape[0] == shape[rank - 2]
                     && 2 * cos.shape[1] <= shape[rank - 1] && cos.dtype == dtype && sin.dtype == dtype,
                     "rotaryEmbedding: input \(shape), cos \(cos.shape), sin \(sin.shape)")
        let x = contiguous()
        let y = FusedKernels.rope(x, cos.contiguous(), sin.contiguous(), style: style, inverse: false)
        return y.recorded(.rope(style), [x], saving: [cos.contiguous().detached(), sin.contiguous().detached()])
    }

    /// Rotary embeddings composed from slices and arithmetic (the reference).
    public func rotaryEmbeddingComposite(cos: Tensor, sin: Tensor, style: RoPEStyle = .rotateHalf) -> Tensor {
        let d = shape[rank - 1], r = 2 * cos.shape[1], half = r / 2
        let rot = sliced(axis: -1, 0..<r), pass = sliced(axis: -1, r..<d)
        let y: Tensor
        switch style {
        case .rotateHalf:
            let x1 = rot.sliced(axis: -1, 0..<half), x2 = rot.sliced(axis: -1, half..<r)
            y = Tensor.concat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis: -1)
        case .adjacentPairs:
            let x1 = rot.sliced(axis: -1, 0..<r, step: 2), x2 = rot.sliced(axis: -1, 1..<r, step: 2)
            let y1 = x1 * cos - x2 * sin, y2 = x2 * cos + x1 * sin
            // Interleave: [..., half, 2] → [..., r].
            y = Tensor.stack([y1, y2], axis: -1).reshaped(Array(shape.dropLast()) + [r])
        }
        return r == d ? y : Tensor.concat([y, pass], axis: -1)
    }
}

extension FusedKernels {
    static func rope(_ x: Tensor, _ cos: Tensor, _ sin: Tensor, style: RoPEStyle, inverse: Bool) -> Tensor {
        switch x.dtype {
        case .float32: return ropeTyped(x, cos, sin, style: style, inverse: inverse, Float.self)
        case .float64: return ropeTyped(x, cos, sin, style: style, inverse: inverse, Double.self)
        default: preconditionFailure("rotaryEmbedding: unsupported dtype \(x.dtype)")
        }
    }

    static func ropeTyped<T: TensorFloat>(_ x: Tensor, _ cos: Tensor, _ sin: Tensor, style: RoPEStyle, inverse: Bool,
                                          _: T.Type) -> Tensor {
        let d = x.shape[x.rank - 1], t = x.shape[x.rank - 2], half = cos.shape[1]
        let rows = d == 0 ? 0 : x.count / d
        let out = Storage(uninitializedByteCount: x.count * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        let xp = x.pointer(T.self), cp = cos.pointer(T.self), sp = sin.pointer(T.self)
        let sign: T = inverse ? -1 : 1
        parallelFor(rows, grain: max(1, 4096 / max(d, 1))) { range in
            for row in range {
                let pos = row % t
                let xi = xp + row * d, oi = o + row * d, ci = cp + pos * half, si = sp + pos * half
                for i in 0..<half {
                    let (a, b) = style == .rotateHalf ? (i, i + half) : (2 * i, 2 * i + 1)
                    let c = ci[i], s = sign * si[i]
                    let x1 = xi[a], x2 = xi[b]
                    oi[a] = x1 * c - x2 * s
                    oi[b] = x2 * c + x1 * s
                }
                for j in (2 * half)..<d { oi[j] = xi[j] }
            }
        }
        return Tensor(storage: out, shape: x.shape, dtype: x.dtype)
    }
}
