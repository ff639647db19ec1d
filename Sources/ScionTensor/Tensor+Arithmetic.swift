// Elementwise arithmetic with NumPy broadcasting, unary math, comparisons and select, matmul and
// the Kronecker product. Broadcasting is an explicit `expand` so binary primitives see equal shapes.

import Foundation

extension Tensor {
    static func binaryOp(_ a: Tensor, _ b: Tensor, _ op: Primitive, name: String) -> Tensor {
        precondition(a.dtype == b.dtype, "\(name): dtypes \(a.dtype) and \(b.dtype) differ (shapes \(a.shape), \(b.shape))")
        let s = broadcastShape(a.shape, b.shape, op: name)
        let ae = a.expanded(to: s), be = b.expanded(to: s)
        let out = Kernels.binary(ae, be, op)
        switch op {
        case .add, .sub: return out.recorded(op, [ae, be])
        case .mul, .div: return out.recorded(op, [ae, be], saving: [ae.detached(), be.detached()])
        case .maximum, .minimum: return out.recorded(op, [ae, be], saving: [ae.detached(), be.detached()])
        default: return out
        }
    }

    func scalarLike(_ v: Double) -> Tensor { Tensor(scalar: v, dtype: dtype) }

    public static func + (a: Tensor, b: Tensor) -> Tensor { binaryOp(a, b, .add, name: "add") }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binaryOp(a, b, .sub, name: "sub") }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binaryOp(a, b, .mul, name: "mul") }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binaryOp(a, b, .div, name: "div") }
    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalarLike(b) }
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalarLike(b) }
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalarLike(b) }
    public static func / (a: Tensor, b: Double) -> Tensor { a / a.scalarLike(b) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) + b }
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) - b }
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) * b }
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) / b }
    public static prefix func - (a: Tensor) -> Tensor { a.unaryOp(.neg) }

    /// Elementwise maximum (NaN propagates).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { binaryOp(a, b, .maximum, name: "maximum") }
    /// Elementwise minimum (NaN propagates).
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { binaryOp(a, b, .minimum, name: "minimum") }

    func unaryOp(_ op: Primitive) -> Tensor {
        let out = Kernels.unary(self, op)
        switch op {
        case .neg: return out.recorded(op, [self])
        case .exp, .sqrt, .tanh: return out.recorded(op, [self], saving: [out])
        default: return out.recorded(op, [self], saving: [self.detached()])
        }
    }

    /// eˣ elementwise.
    public func exp() -> Tensor { unaryOp(.exp) }
    /// Natural logarithm elementwise.
    public func log() -> Tensor { unaryOp(.log) }
    /// Square root elementwise.
    public func sqrt() -> Tensor { unaryOp(.sqrt) }
    /// Sine elementwise.
    public func sin() -> Tensor { unaryOp(.sin) }
    /// Cosine elementwise.
    public func cos() -> Tensor { unaryOp(.cos) }
    /// Hyperbolic tangent elementwise.
    public func tanh() -> Tensor { unaryOp(.tanh) }
    /// Error function elementwise.
    public func erf() -> Tensor { unaryOp(.erf) }
    /// Absolute value elementwise (gradient 0 at 0, as in PyTorch).
    public func abs() -> Tensor { unaryOp(.abs) }
    /// xᵖ elementwise for a constant exponent.
    public func pow(_ p: Double) -> Tensor { unaryOp(.powScalar(p)) }
    /// 1/x elementwise.
    public func reciprocal() -> Tensor { unaryOp(.powScalar(-1)) }
    /// 1/√x elementwise.
    public func rsqrt() -> Tensor { unaryOp(.powScalar(-0.5)) }
    /// x² elementwise.
    public func squared() -> Tensor { unaryOp(.powScalar(2)) }
    /// max(x, 0) elementwise.
    public func relu() -> Tensor { Tensor.maximum(self, scalarLike(0)) }
    /// 1 / (1 + e⁻ˣ), composed from tanh for stability: σ(x) = (1 + tanh(x/2)) / 2.
    public func sigmoid() -> Tensor { ((self * 0.5).tanh() + 1) * 0.5 }
    /// Clamps into [lo, hi].
    public func clamped(min lo: Double, max hi: Double) -> Tensor {
        Tensor.minimum(Tensor.maximum(self, scalarLike(lo)), scalarLike(hi))
    }

    // MARK: Comparisons and select

    static func compare(_ a: Tensor, _ b: Tensor, _ op: Primitive, name: String) -> Tensor {
        precondition(a.dtype == b.dtype, "\(name): dtypes \(a.dtype) and \(b.dtype) differ")
        let s = broadcastShape(a.shape, b.shape, op: name)
        return Kernels.binary(a.expanded(to: s).detached(), b.expanded(to: s).detached(), op)
    }

    /// Elementwise a < b as a bool mask.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { compare(a, b, .less, name: "less") }
    /// Elementwise a <= b as a bool mask.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, .lessEqual, name: "lessEqual") }
    /// Elementwise a > b as a bool mask.
    public static func .> (a: Tensor, b: Tensor) -> Tensor { compare(b, a, .less, name: "greater") }
    /// Elementwise a >= b as a bool mask.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { compare(b, a, .lessEqual, name: "greaterEqual") }
    /// Elementwise a == b as a bool mask.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { compare(a, b, .equal, name: "equal") }
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalarLike(b) }
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalarLike(b) }
    public static func .== (a: Tensor, b: Double) -> Tensor { a .== a.scalarLike(b) }

    /// Logical not of a bool mask.
    public func logicalNot() -> Tensor {
        precondition(dtype == .bool, "logicalNot: dtype \(dtype) is not bool")
        return Kernels.binary(cast(.float32), Tensor.zeros(shape), .equal)
    }

    /// `a` where `mask` is true, else `b` (broadcasting all three).
    public static func select(_ mask: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let s = broadcastShape(broadcastShape(mask.shape, a.shape, op: "select"), b.shape, op: "select")
        let m = mask.expanded(to: s).detached(), ae = a.expanded(to: s), be = b.expanded(to: s)
        return Kernels.select(m, ae, be).recorded(.select, [m, ae, be], saving: [m])
    }

    // MARK: Matmul

    /// Matrix product with NumPy semantics: 1-D operands are promoted, batch dimensions broadcast.
    /// Transposed views are passed to BLAS with transpose flags, never copied.
    ///
    /// Shapes: `[..., M, K] × [..., K, N] → [..., M, N]`.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(rank >= 1 && other.rank >= 1, "matmul: \(shape) × \(other.shape): scalar operand")
        var a = rank == 1 ? unsqueezed(0) : self
        var b = other.rank == 1 ? other.unsqueezed(1) : other
        let k = a.shape[a.rank - 1]
        precondition(k == b.shape[b.rank - 2],
                     "matmul: \(shape) × \(other.shape): inner dimensions \(k) ≠ \(b.shape[b.rank - 2])")
        precondition(dtype == other.dtype, "matmul: dtypes \(dtype) and \(other.dtype) differ")
        // [B, T, K] × [K, N]: fold the batch into rows for one large GEMM when a is a plain row-major view.
        if b.rank == 2 && a.rank > 2 && a.strides.last == 1 && a.isContiguous {
            let lead = Array(a.shape.dropLast())
            let y = a.reshaped([-1, k]).matmul(b)                 // [B·T, N]
            let out = y.reshaped(lead + [b.shape[1]])             // [B, T, N]
            // NOTE: a 1-D `other` was promoted to [K, 1]; drop that axis as NumPy does ([B, T]).
            return other.rank == 1 ? out.squeezed([out.rank - 1]) : out
        }
        let batch = Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
        a = a.expanded(to: batch + Array(a.shape.suffix(2)))
        b = b.expanded(to: batch + Array(b.shape.suffix(2)))
        var y = Kernels.matmul(a, b).recorded(.matmul, [a, b], saving: [a.detached(), b.detached()])
        if rank == 1 { y = y.squeezed([y.rank - 2]) }
        if other.rank == 1 { y = y.squeezed([y.rank - 1]) }
        return y
    }

    /// Kronecker product of two matrices: [m, n] ⊗ [p, q] → [m·p, n·q].
    public func kronecker(_ other: Tensor) -> Tensor {
        precondition(rank == 2 && other.rank == 2, "kronecker: \(shape) ⊗ \(other.shape): both must be matrices")
        let (m, n, p, q) = (shape[0], shape[1], other.shape[0], other.shape[1])
        let a = reshaped(m, 1, n, 1)                           // [m, 1, n, 1]
        let b = other.reshaped(1, p, 1, q)                     // [1, p, 1, q]
        return (a * b).reshaped(m * p, n * q)                  // [m, p, n, q] → [m·p, n·q]
    }
}

infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence
infix operator .== : ComparisonPrecedence
