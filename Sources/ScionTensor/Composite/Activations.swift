// GELU (erf form, BERT; tanh form, GPT-2's gelu_new), SiLU and dropout. GELU and SiLU are fused
// elementwise kernels with hand-written derivatives, tested against their primitive compositions:
//   gelu_erf(x)  = ½x(1 + erf(x/√2)),             d = Φ(x) + x·φ(x)
//   gelu_tanh(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³),
//                  d = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)
//   silu(x)      = x·σ(x),                          d = σ(x)(1 + x(1 − σ(x)))
// Dropout is a composite (a seeded Bernoulli mask times 1/(1−p)); its backward is the same mask.

import Foundation

extension Tensor {
    /// GELU activation; `.none` is the exact erf form (BERT), `.tanh` GPT-2's approximation.
    public func gelu(approximation: GELUApproximation = .none) -> Tensor {
        let x = contiguous()
        let out = FusedKernels.activation(x, op: .gelu(approximation), derivative: false)
        return out.recorded(.gelu(approximation), [x], saving: [x.detached()])
    }

    /// SiLU (swish): x·σ(x).
    public func silu() -> Tensor {
        let x = contiguous()
        return FusedKernels.activation(x, op: .silu, derivative: false).recorded(.silu, [x], saving: [x.detached()])
    }

    /// GELU composed from primitives.
    public func geluComposite(approximation: GELUApproximation = .none) -> Tensor {
        switch approximation {
        case .none: return self * 0.5 * ((self / 2.0.squareRoot()).erf() + 1)
        case .tanh:
            let u = (self + self.pow(3) * 0.044715) * (2 / Double.pi).squareRoot()
            return self * 0.5 * (u.tanh() + 1)
        }
    }

    /// SiLU composed from primitives.
    public func siluComposite() -> Tensor { self * sigmoid() }

    /// Inverted dropout: zeroes elements with probability `p` and scales the rest by 1/(1−p).
    /// The mask comes from `generator`, so a seed reproduces it on every platform and thread count.
    public func dropout(_ p: Double, generator: inout RandomGenerator) -> Tensor {
        precondition(p >= 0 && p < 1, "dropout: probability \(p) not in [0, 1)")
        if p == 0 { return self }
        let keep = Tensor.bernoulli(shape, probability: 1 - p, dtype: dtype, generator: &generator)
        return self * (keep / (1 - p))
    }
}

extension FusedKernels {
    static func activation(_ x: Tensor, op: Primitive, derivative: Bool) -> Tensor {
        switch x.dtype {
        case .float32: return activationTyped(x, op: op, derivative: derivative, Float.self)
        case .float64: return activationTyped(x, op: op, derivative: derivative, Double.self)
        default: preconditionFailure("\(op): unsupported dtype \(x.dtype) for shape \(x.shape)")
        }
    }

    /// The backward of GELU/SiLU: g ⊙ f′(x). Float32 runs one fused pass (f′ on a block of 4096
    /// elements, then the product while the block is in L1) instead of writing f′(x) and multiplying
    /// in a second kernel: two [B·T, 3072] passes and an allocation fewer per MLP.
    static func activationBackward(_ x: Tensor, _ g: Tensor, op: Primitive) -> Tensor {
        if x.dtype == .float32 && g.dtype == .float32 && g.shape == x.shape && g.isContiguous {
            return activationTyped(x, op: op, derivative: true, times: g, Float.self)
        }
        return g * activation(x, op: op, derivative: true)
    }

    static func activationTyped<T: TensorFloat>(_ x: Tensor, op: Primitive, derivative: Bool, times g: Tensor? = nil,
                                                _: T.Type) -> Tensor {
        let n = x.count
        let out = Storage(uninitializedByteCount: n * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        let xp = x.pointer(T.self)
        let c = T((2 / Double.pi).squareRoot()), k: T = 0.044715
        let invSqrt2 = T(1 / 2.0.squareRoot()), invSqrt2Pi = T(1 / (2 * Double.pi).squareRoot())
        if T.self == Float.self {
            let xf = xp.asFloat, of = o.asFloat
            let gbox = UnsafeSendableBox(g.map { UnsafePointer($0.pointer(Float.self)) })
            defer { withExtendedLifetime(g) {} }
            let cf: Float = 0.7978845608028654, kf: Float = 0.044715
            parallelFor(n, grain: 16384) { range in
                guard let gp = gbox.value else {
                    apply(xf + range.lowerBound, of + range.lowerBound, range.count)
                    return
                }
                var lo = range.lowerBound
                while lo < range.upperBound {
                    let hi = Swift.min(lo + 4096, range.upperBound)
                    apply(xf + lo, of + lo, hi - lo)
                    for i in lo..<hi { of[i] *= gp[i] }
                    lo = hi
                }
            }
            @inline(__always) func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ len: Int) {
                switch (op, derivative) {
                case (.gelu(.tanh), false):
                    FastMath.map(x, y, len) { v in
                        let v3: FastMath.V = v * v * v
                        let u: FastMath.V = cf * (v + kf * v3)
                        return 0.5 * v * (1 + FastMath.tanh(u))
                    }
                case (.gelu(.tanh), true):
                    FastMath.map(x, y, len) { v in
                        let v2: FastMath.V = v * v
                        let t: FastMath.V = FastMath.tanh(cf * (v + kf * v2 * v))
                        let left: FastMath.V = 0.5 * (1 + t)
                        let du: FastMath.V = cf * (1 + 3 * kf * v2)
                        return left + 0.5 * v * (1 - t * t) * du
                    }
                case (.gelu(.none), false):
                    FastMath.map(x, y, len) { v in
                        let e: FastMath.V = FastMath.erf(v * 0.7071067811865476)
                        return 0.5 * v * (1 + e)
                    }
                case (.gelu(.none), true):
                    FastMath.map(x, y, len) { v in
                        let e: FastMath.V = FastMath.erf(v * 0.7071067811865476)
                        let phi: FastMath.V = 0.3989422804014327 * FastMath.exp(-0.5 * v * v)
                        return 0.5 * (1 + e) + v * phi
                    }
                case (.silu, false):
                    FastMath.map(x, y, len) { v in v / (1 + FastMath.exp(-v)) }
                case (.silu, true):
                    FastMath.map(x, y, len) { v in
                        let s: FastMath.V = 1 / (1 + FastMath.exp(-v))
                        return s * (1 + v * (1 - s))
                    }
                default: preconditionFailure("activation: \(op)")
                }
            }
            return Tensor(storage: out, shape: x.shape, dtype: x.dtype)
        }
        precondition(g == nil, "activation: a fused gradient product is float32 only")
        parallelFor(n, grain: 16384) { range in
            switch op {
            case .gelu(.tanh):
                if derivative {
                    for i in range {
                        let v = xp[i], t = T.tanh(c * (v + k * v * v * v))
                        o[i] = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * k * v * v)
                    }
                } else {
                    for i in range { let v = xp[i]; o[i] = 0.5 * v * (1 + T.tanh(c * (v + k * v * v * v))) }
                }
            case .gelu(.none):
                if derivative {
                    for i in range {
                        let v = xp[i]
                        o[i] = 0.5 * (1 + T.erf(v * invSqrt2)) + v * invSqrt2Pi * T.exp(-0.5 * v * v)
                    }
                } else {
                    for i in range { let v = xp[i]; o[i] = 0.5 * v * (1 + T.erf(v * invSqrt2)) }
                }
            case .silu:
                if derivative {
                    for i in range { let v = xp[i], s = 1 / (1 + T.exp(-v)); o[i] = s * (1 + v * (1 - s)) }
                } else {
                    for i in range { let v = xp[i]; o[i] = v / (1 + T.exp(-v)) }
                }
            default: preconditionFailure("activation: \(op)")
            }
        }
        return Tensor(storage: out, shape: x.shape, dtype: x.dtype)
    }
}
