// Vectorized float32 transcendentals for the fused kernels. libm's expf/tanhf cost 17-25 ns per call
// and block vectorization (PERFORMANCE.md); these use SIMD8<Float> with branch-free masks:
//   exp:  x = n·ln2 + r, |r| ≤ ln2/2, eʳ by a degree-6 Taylor polynomial (relative error < 2e-7),
//         2ⁿ assembled in the exponent bits (n from the 1.5·2²³ rounding trick); x < −87.3 → 0.
//   tanh: sign(x)·(1 − 2/(e^{2|x|} + 1)).
//   erf:  Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7).
// Float64 paths keep libm: they serve gradient checks, where accuracy matters more than speed.

import Foundation

enum FastMath {
    typealias V = SIMD8<Float>

    @inline(__always)
    static func exp(_ x: V) -> V {
        let hi: V = V(repeating: 88.72283), lo: V = V(repeating: -87.33)
        let overflow = x .> hi
        var v = x.replacing(with: hi, where: overflow)
        let underflow = v .< lo
        v = v.replacing(with: lo, where: underflow)
        let magic = V(repeating: 12582912)                          // 1.5·2²³
        let t = v * 1.442695040888963 + magic                       // n + magic, rounded to nearest
        let n = t - magic
        let r = v - n * 0.693145751953125 - n * 1.428606765330187e-06   // Cody–Waite ln2 split
        var p = V(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2ⁿ in the exponent bits; n = 128 (x just below the overflow bound) is built as 2¹²⁷·2.
        // NOTE: the clamp is done on floats: a SIMD8<Int32> comparison compiles to per-lane scalar
        // code here and made exp ~15× slower (measured).
        let top = n .> 127
        let t2 = n.replacing(with: 127, where: top) + magic
        let n32 = unsafeBitCast(t2, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((n32 &+ 127) &<< 23, to: V.self)
        let y = (p * scale).replacing(with: p * scale * 2, where: top)
        return y.replacing(with: 0, where: underflow).replacing(with: .infinity, where: overflow)
    }

    @inline(__always)
    static func tanh(_ x: V) -> V {
        let a = x.replacing(with: -x, where: x .< 0)
        let e = exp(2 * a.replacing(with: 20, where: a .> 20))
        let t = 1 - 2 / (e + 1)
        return t.replacing(with: -t, where: x .< 0)
    }

    @inline(__always)
    static func erf(_ x: V) -> V {
        let a = x.replacing(with: -x, where: x .< 0)
        let t = 1 / (1 + 0.3275911 * a)
        var p = V(repeating: 1.061405429)
        p = p * t - 1.453152027
        p = p * t + 1.421413741
        p = p * t - 0.284496736
        p = p * t + 0.254829592
        let y = 1 - p * t * exp(-a * a)
        return y.replacing(with: -y, where: x .< 0)
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }

    /// Applies `f` to n floats, 8 at a time; the tail is padded through a small buffer.
    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (V) -> V) {
        var i = 0
        while i + 8 <= n { store(f(load(x, i)), y, i); i += 8 }
        if i < n {
            var v = V(repeating: 0)
            for j in 0..<(n - i) { v[j] = x[i + j] }
            let r = f(v)
            for j in 0..<(n - i) { y[i + j] = r[j] }
        }
    }

    /// Maximum of n floats (NaN-propagating is not needed by callers; −∞ for n = 0).
    @inline(__always)
    static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = V(repeating: -.infinity)
        var i = 0
        while i + 8 <= n { let v = load(x, i); m = m.replacing(with: v, where: v .> m); i += 8 }
        var r = -Float.infinity
        for j in 0..<8 where m[j] > r { r = m[j] }
        while i < n { if x[i] > r { r = x[i] }; i += 1 }
        return r
    }

    /// y = exp(x − m) (y may be nil to only sum); returns Σ exp(x − m).
    @inline(__always)
    static func expSum(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>?, _ n: Int, minus m: Float) -> Float {
        var acc = V(repeating: 0)
        let mv = V(repeating: m)
        var i = 0
        while i + 8 <= n {
            let e = exp(load(x, i) - mv)
            if let y { store(e, y, i) }
            acc += e
            i += 8
        }
        var s = acc.sum()
        if i < n {
            var v = V(repeating: -.infinity)
            for j in 0..<(n - i) { v[j] = x[i + j] - m }
            let e = exp(v)
            for j in 0..<(n - i) { y?[i + j] = e[j]; s += e[j] }
        }
        return s
    }

    /// Σ x (eight accumulators).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V(repeating: 0)
        var i = 0
        while i + 8 <= n { acc += load(x, i); i += 8 }
        var s = acc.sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    /// y = x · a.
    @inline(__always)
    static func scale(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, by a: Float) {
        var i = 0
        let av = V(repeating: a)
        while i + 8 <= n { store(load(x, i) * av, y, i); i += 8 }
        while i < n { y[i] = x[i] * a; i += 1 }
    }
}

extension UnsafeMutablePointer {
    /// Reinterprets a pointer to a generic float as a `Float` pointer (only when `Pointee == Float`).
    @inline(__always) var asFloat: UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(self).assumingMemoryBound(to: Float.self) }
}
