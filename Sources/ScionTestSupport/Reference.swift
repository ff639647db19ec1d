// Naive reference implementations of every ScionTensor op on row-major [Double] arrays with an
// explicit shape: the "living definition" each kernel is tested against (ARCHITECTURE.md §2.11).
// Written for obviousness, not speed: plain index loops over multi-indices, all in Float64, no
// views, no fusion, no shared code with the engine. Broadcasting follows NumPy.

import Foundation

/// A row-major array of `Double` with a shape: the reference backend's only data type.
public struct RefTensor: Equatable, Sendable, CustomStringConvertible {
    public var shape: [Int]
    public var data: [Double]

    public init(shape: [Int], data: [Double]) {
        precondition(data.count == shape.reduce(1, *), "RefTensor: \(data.count) values for shape \(shape)")
        self.shape = shape; self.data = data
    }

    /// A reference array filled with `value`.
    public init(shape: [Int], repeating value: Double) {
        self.init(shape: shape, data: [Double](repeating: value, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }
    public var description: String { "RefTensor(\(shape)) \(data.prefix(16))" }

    /// Row-major strides.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// The multi-index of flat position `flat`.
    public static func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
        var idx = [Int](repeating: 0, count: shape.count)
        var rem = flat
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            idx[d] = rem % shape[d]; rem /= shape[d]
        }
        return idx
    }

    /// The flat position of multi-index `idx`.
    public static func ravel(_ idx: [Int], _ shape: [Int]) -> Int {
        var flat = 0
        for d in shape.indices { flat = flat * shape[d] + idx[d] }
        return flat
    }

    public subscript(_ idx: [Int]) -> Double {
        get { data[RefTensor.ravel(idx, shape)] }
        set { data[RefTensor.ravel(idx, shape)] = newValue }
    }

    /// Normalizes a possibly negative axis.
    public func axis(_ a: Int) -> Int { a < 0 ? a + rank : a }

    // MARK: Elementwise

    public func map(_ f: (Double) -> Double) -> RefTensor { RefTensor(shape: shape, data: data.map(f)) }

    /// NumPy broadcast of two shapes.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let r = Swift.max(a.count, b.count)
        let pa = [Int](repeating: 1, count: r - a.count) + a, pb = [Int](repeating: 1, count: r - b.count) + b
        return (0..<r).map { pa[$0] == 1 ? pb[$0] : pa[$0] }
    }

    /// This array broadcast to `target` (copies).
    public func expanded(_ target: [Int]) -> RefTensor {
        let padded = [Int](repeating: 1, count: target.count - rank) + shape
        var out = RefTensor(shape: target, repeating: 0)
        for flat in 0..<out.count {
            let idx = RefTensor.unravel(flat, target)
            let src = target.indices.map { padded[$0] == 1 ? 0 : idx[$0] }
            out.data[flat] = data[RefTensor.ravel(src, padded)]
        }
        return out
    }

    /// Elementwise `f(a, b)` with broadcasting.
    public static func zip(_ a: RefTensor, _ b: RefTensor, _ f: (Double, Double) -> Double) -> RefTensor {
        let s = broadcastShape(a.shape, b.shape)
        let ae = a.expanded(s), be = b.expanded(s)
        return RefTensor(shape: s, data: (0..<ae.count).map { f(ae.data[$0], be.data[$0]) })
    }

    /// `a` where `mask` ≠ 0, else `b`, with broadcasting.
    public static func select(_ mask: RefTensor, _ a: RefTensor, _ b: RefTensor) -> RefTensor {
        let s = broadcastShape(broadcastShape(mask.shape, a.shape), b.shape)
        let m = mask.expanded(s), ae = a.expanded(s), be = b.expanded(s)
        return RefTensor(shape: s, data: (0..<m.count).map { m.data[$0] != 0 ? ae.data[$0] : be.data[$0] })
    }

    public static func + (a: RefTensor, b: RefTensor) -> RefTensor { zip(a, b, +) }
    public static func - (a: RefTensor, b: RefTensor) -> RefTensor { zip(a, b, -) }
    public static func * (a: RefTensor, b: RefTensor) -> RefTensor { zip(a, b, *) }
    public static func / (a: RefTensor, b: RefTensor) -> RefTensor { zip(a, b, /) }

    // MARK: Reductions

    /// Folds `axes` with `combine` starting from `initial`; reduced axes are kept as size 1 or dropped.
    public func reduce(axes: [Int], keep: Bool, initial: Double, _ combine: (Double, Double) -> Double) -> RefTensor {
        let ax = Set(axes.map(axis))
        let kept = shape.indices.map { ax.contains($0) ? 1 : shape[$0] }
        var out = RefTensor(shape: kept, repeating: initial)
        for flat in 0..<count {
            var idx = RefTensor.unravel(flat, shape)
            for a in ax { idx[a] = 0 }
            out[idx] = combine(out[idx], data[flat])
        }
        if !keep { out.shape = shape.indices.filter { !ax.contains($0) }.map { shape[$0] } }
        return out
    }

    public func sum(axes: [Int], keep: Bool = false) -> RefTensor { reduce(axes: axes, keep: keep, initial: 0, +) }

    /// Maximum with NaN propagation.
    public func max(axes: [Int], keep: Bool = false) -> RefTensor {
        reduce(axes: axes, keep: keep, initial: -.infinity) { a, b in a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
    }

    public func min(axes: [Int], keep: Bool = false) -> RefTensor {
        reduce(axes: axes, keep: keep, initial: .infinity) { a, b in a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }
    }

    public func mean(axes: [Int], keep: Bool = false) -> RefTensor {
        let n = axes.map { shape[axis($0)] }.reduce(1, *)
        return sum(axes: axes, keep: keep).map { $0 / Double(n) }
    }

    /// Variance with divisor n − 1 (`unbiased`) or n.
    public func variance(axes: [Int], unbiased: Bool, keep: Bool = false) -> RefTensor {
        let n = axes.map { shape[axis($0)] }.reduce(1, *)
        let d = self - mean(axes: axes, keep: true)
        return d.map { $0 * $0 }.sum(axes: axes, keep: keep).map { $0 / Double(Swift.max(unbiased ? n - 1 : n, 1)) }
    }

    /// log Σ exp over `axes`, computed naively in Float64 with the max subtracted.
    public func logSumExp(axes: [Int], keep: Bool = false) -> RefTensor {
        let m = max(axes: axes, keep: true)
        let s = (self - m).map { Foundation.exp($0) }.sum(axes: axes, keep: true).map { Foundation.log($0) } + m
        return keep ? s : RefTensor(shape: shape.indices.filter { !axes.map(axis).contains($0) }.map { shape[$0] },
                                    data: s.data)
    }

    /// Index of the first maximum along `axis`.
    public func argmax(axis a: Int, keep: Bool = false) -> RefTensor {
        let ax = axis(a)
        var outShape = shape; outShape[ax] = 1
        var out = RefTensor(shape: outShape, repeating: 0)
        for flat in 0..<out.count {
            var idx = RefTensor.unravel(flat, outShape)
            var best = 0, bestValue = -Double.infinity
            for i in 0..<shape[ax] {
                idx[ax] = i
                let v = self[idx]
                if i == 0 || v > bestValue { best = i; bestValue = v }
            }
            out.data[flat] = Double(best)
        }
        if !keep { out.shape.remove(at: ax) }
        return out
    }

    // MARK: Shape and movement

    public func reshaped(_ s: [Int]) -> RefTensor { RefTensor(shape: s, data: data) }

    /// Result axis i is input axis `perm[i]`.
    public func permuted(_ perm: [Int]) -> RefTensor {
        let outShape = perm.map { shape[$0] }
        var out = RefTensor(shape: outShape, repeating: 0)
        for flat in 0..<out.count {
            let idx = RefTensor.unravel(flat, outShape)
            var src = [Int](repeating: 0, count: rank)
            for (i, p) in perm.enumerated() { src[p] = idx[i] }
            out.data[flat] = self[src]
        }
        return out
    }

    /// Strided slice with one (start, end, step) per axis.
    public func sliced(_ ranges: [(Int, Int, Int)]) -> RefTensor {
        let axes = ranges.map { r in Array(stride(from: r.0, to: r.1, by: r.2)) }
        let outShape = axes.map(\.count)
        var out = RefTensor(shape: outShape, repeating: 0)
        for flat in 0..<out.count {
            let idx = RefTensor.unravel(flat, outShape)
            out.data[flat] = self[idx.indices.map { axes[$0][idx[$0]] }]
        }
        return out
    }

    /// Writes `values` (row-major over the selected region) into the strided region.
    public mutating func assign(_ values: [Double], at ranges: [SliceRangeLike]) {
        let axes = ranges.map { r in Array(stride(from: r.start, to: r.end, by: r.step)) }
        let regionShape = axes.map(\.count)
        for flat in 0..<values.count {
            let idx = RefTensor.unravel(flat, regionShape)
            self[idx.indices.map { axes[$0][idx[$0]] }] = values[flat]
        }
    }

    public static func concat(_ xs: [RefTensor], axis a: Int) -> RefTensor {
        let ax = xs[0].axis(a)
        var outShape = xs[0].shape
        outShape[ax] = xs.map { $0.shape[ax] }.reduce(0, +)
        var out = RefTensor(shape: outShape, repeating: 0)
        var start = 0
        for x in xs {
            for flat in 0..<x.count {
                var idx = RefTensor.unravel(flat, x.shape)
                idx[ax] += start
                out[idx] = x.data[flat]
            }
            start += x.shape[ax]
        }
        return out
    }

    /// Constant padding with (before, after) per axis.
    public func padded(_ pads: [(Int, Int)], value: Double) -> RefTensor {
        let outShape = shape.indices.map { shape[$0] + pads[$0].0 + pads[$0].1 }
        var out = RefTensor(shape: outShape, repeating: value)
        for flat in 0..<count {
            let idx = RefTensor.unravel(flat, shape)
            out[idx.indices.map { idx[$0] + pads[$0].0 }] = data[flat]
        }
        return out
    }

    // MARK: Linear algebra

    /// NumPy matmul: 1-D operands promoted, batch dimensions broadcast.
    public static func matmul(_ a0: RefTensor, _ b0: RefTensor) -> RefTensor {
        let a = a0.rank == 1 ? a0.reshaped([1, a0.shape[0]]) : a0
        let b = b0.rank == 1 ? b0.reshaped([b0.shape[0], 1]) : b0
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let batch = broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let ae = a.expanded(batch + [m, k]), be = b.expanded(batch + [k, n])
        let nb = batch.reduce(1, *)
        var out = [Double](repeating: 0, count: nb * m * n)
        for bi in 0..<nb {
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += ae.data[bi * m * k + i * k + p] * be.data[bi * k * n + p * n + j] }
                    out[bi * m * n + i * n + j] = s
                }
            }
        }
        var outShape = batch + [m, n]
        if a0.rank == 1 { outShape.remove(at: outShape.count - 2) }
        if b0.rank == 1 { outShape.removeLast() }
        return RefTensor(shape: outShape, data: out)
    }

    /// Kronecker product of two matrices.
    public static func kronecker(_ a: RefTensor, _ b: RefTensor) -> RefTensor {
        let (m, n, p, q) = (a.shape[0], a.shape[1], b.shape[0], b.shape[1])
        var out = RefTensor(shape: [m * p, n * q], repeating: 0)
        for i in 0..<m { for j in 0..<n { for r in 0..<p { for c in 0..<q {
            out[[i * p + r, j * q + c]] = a[[i, j]] * b[[r, c]]
        } } } }
        return out
    }

    // MARK: Indexing

    /// torch.gather.
    public func gather(axis a: Int, index: [Int], indexShape: [Int]) -> RefTensor {
        let ax = axis(a)
        var out = RefTensor(shape: indexShape, repeating: 0)
        for flat in 0..<out.count {
            var idx = RefTensor.unravel(flat, indexShape)
            idx[ax] = index[flat]
            out.data[flat] = self[idx]
        }
        return out
    }

    /// torch.scatter_add (out of place).
    public func scatterAdding(axis a: Int, index: [Int], source: RefTensor) -> RefTensor {
        let ax = axis(a)
        var out = self
        for flat in 0..<source.count {
            var idx = RefTensor.unravel(flat, source.shape)
            idx[ax] = index[flat]
            out[idx] += source.data[flat]
        }
        return out
    }

    /// index_select with a 1-D index.
    public func indexSelect(axis a: Int, index: [Int]) -> RefTensor {
        let ax = axis(a)
        var outShape = shape; outShape[ax] = index.count
        var out = RefTensor(shape: outShape, repeating: 0)
        for flat in 0..<out.count {
            var idx = RefTensor.unravel(flat, outShape)
            idx[ax] = index[idx[ax]]
            out.data[flat] = self[idx]
        }
        return out
    }

    /// index_add into zeros of `size` along `axis`.
    public func indexAdd(axis a: Int, index: [Int], size: Int) -> RefTensor {
        let ax = axis(a)
        var outShape = shape; outShape[ax] = size
        var out = RefTensor(shape: outShape, repeating: 0)
        for flat in 0..<count {
            var idx = RefTensor.unravel(flat, shape)
            idx[ax] = index[idx[ax]]
            out[idx] += data[flat]
        }
        return out
    }

    /// The k largest along the last axis (descending; ties by lower index), values and indices.
    public func topK(_ k: Int) -> (values: RefTensor, indices: [Int]) {
        let n = shape.last ?? 1
        let rows = n == 0 ? 0 : count / n
        var values: [Double] = [], indices: [Int] = []
        for r in 0..<rows {
            var order = Array(0..<n)
            // Insertion sort: stable, so equal values keep index order.
            for i in 1..<Swift.max(n, 1) {
                var j = i
                while j > 0 && data[r * n + order[j]] > data[r * n + order[j - 1]] { order.swapAt(j, j - 1); j -= 1 }
            }
            for i in 0..<k { indices.append(order[i]); values.append(data[r * n + order[i]]) }
        }
        return (RefTensor(shape: Array(shape.dropLast()) + [k], data: values), indices)
    }

    // MARK: Neural-network ops (over the last axis unless stated)

    public func softmax(axis a: Int) -> RefTensor {
        let e = (self - max(axes: [a], keep: true)).map { Foundation.exp($0) }
        return e / e.sum(axes: [a], keep: true)
    }

    public func logSoftmax(axis a: Int) -> RefTensor { self - logSumExp(axes: [a], keep: true) }

    public func layerNorm(weight: RefTensor?, bias: RefTensor?, eps: Double) -> RefTensor {
        let mu = mean(axes: [-1], keep: true)
        let v = variance(axes: [-1], unbiased: false, keep: true)
        var y = (self - mu) / v.map { ($0 + eps).squareRoot() }
        if let weight { y = y * weight }
        if let bias { y = y + bias }
        return y
    }

    public func rmsNorm(weight: RefTensor, eps: Double) -> RefTensor {
        let ms = map { $0 * $0 }.mean(axes: [-1], keep: true)
        return self / ms.map { ($0 + eps).squareRoot() } * weight
    }

    public func gelu(tanhApproximation: Bool) -> RefTensor {
        map { x in
            tanhApproximation
                ? 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                : 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        }
    }

    public func silu() -> RefTensor { map { $0 / (1 + Foundation.exp(-$0)) } }

    /// Per-token cross-entropy of logits [N, V] (0 for ignored tokens).
    public func crossEntropyPerToken(targets: [Int], ignoreIndex: Int) -> RefTensor {
        let ls = logSoftmax(axis: -1)
        let v = shape[1]
        return RefTensor(shape: [shape[0]], data: targets.enumerated().map { i, t in
            t == ignoreIndex ? 0 : -ls.data[i * v + t]
        })
    }

    /// Attention over q [B, H, T, D], k/v [B, Hkv, S, ·]; `mask` additive, broadcast to [B, H, T, S].
    public static func attention(q: RefTensor, k: RefTensor, v: RefTensor, mask: RefTensor?, causal: Bool,
                                 scale: Double) -> RefTensor {
        let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (hkv, s, dv) = (k.shape[1], k.shape[2], v.shape[3])
        let m = mask?.expanded([b, h, t, s])
        var out = RefTensor(shape: [b, h, t, dv], repeating: 0)
        for bi in 0..<b { for hi in 0..<h {
            let kh = hi / (h / hkv)
            for i in 0..<t {
                var scores = [Double](repeating: 0, count: s)
                for j in 0..<s {
                    var dot = 0.0
                    for c in 0..<d { dot += q[[bi, hi, i, c]] * k[[bi, kh, j, c]] }
                    scores[j] = dot * scale + (m?[[bi, hi, i, j]] ?? 0)
                    if causal && j > i + (s - t) { scores[j] = -.infinity }
                }
                let mx = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - mx) }
                let z = e.reduce(0, +)
                for c in 0..<dv {
                    var acc = 0.0
                    for j in 0..<s { acc += e[j] / z * v[[bi, kh, j, c]] }
                    out[[bi, hi, i, c]] = acc
                }
            }
        } }
        return out
    }

    /// Rotary embedding of [..., T, D] with angle tables [T, R/2] given as cos and sin values.
    public func rope(cos: RefTensor, sin: RefTensor, adjacentPairs: Bool) -> RefTensor {
        let d = shape[rank - 1], t = shape[rank - 2], half = cos.shape[1]
        var out = self
        for row in 0..<(count / Swift.max(d, 1)) {
            let pos = row % t
            for i in 0..<half {
                let (a, b) = adjacentPairs ? (2 * i, 2 * i + 1) : (i, i + half)
                let c = cos.data[pos * half + i], s = sin.data[pos * half + i]
                let x1 = data[row * d + a], x2 = data[row * d + b]
                out.data[row * d + a] = x1 * c - x2 * s
                out.data[row * d + b] = x2 * c + x1 * s
            }
        }
        return out
    }
}

/// Anything with start, end and step (the engine's `SliceRange`).
public protocol SliceRangeLike {
    var start: Int { get }
    var end: Int { get }
    var step: Int { get }
}
