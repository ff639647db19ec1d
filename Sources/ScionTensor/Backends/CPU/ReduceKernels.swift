// CPU kernels for reductions (sum, max, argmax) and data movement (pad, concat, slice-scatter,
// gather/scatter, index-select/add). Every output element is produced by one thread in a fixed
// order, so results do not depend on the thread count.

import Foundation

extension Kernels {
    /// Splits `shape` for a reduction over `axes`: permutation that moves reduced axes last,
    /// the kept count and the reduced count.
    static func reductionLayout(_ shape: [Int], _ axes: [Int]) -> (perm: [Int], kept: Int, reduced: Int) {
        let set = Set(axes)
        let keptAxes = shape.indices.filter { !set.contains($0) }
        let redAxes = shape.indices.filter { set.contains($0) }
        return (keptAxes + redAxes, keptAxes.reduce(1) { $0 * shape[$1] }, redAxes.reduce(1) { $0 * shape[$1] })
    }

    /// Shape with reduced axes set to 1.
    static func keptShape(_ shape: [Int], _ axes: [Int]) -> [Int] {
        var s = shape
        for a in axes { s[a] = 1 }
        return s
    }

    enum ReduceKind { case sum, max }

    static func reduce(_ x: Tensor, axes: [Int], kind: ReduceKind) -> Tensor {
        switch x.dtype {
        case .float32: return reduceTyped(x, axes: axes, kind: kind, Float.self)
        case .float64: return reduceTyped(x, axes: axes, kind: kind, Double.self)
        default: preconditionFailure("reduce: unsupported dtype \(x.dtype) for shape \(x.shape)")
        }
    }

    static func reduceTyped<T: TensorFloat>(_ x: Tensor, axes: [Int], kind: ReduceKind, _: T.Type) -> Tensor {
        let outShape = keptShape(x.shape, axes)
        let (perm, kept, red) = reductionLayout(x.shape, axes)
        let out = Storage(uninitializedByteCount: kept * MemoryLayout<T>.stride)
        let o = out.pointer.assumingMemoryBound(to: T.self)
        if kept == 0 { return Tensor(storage: out, shape: outShape, dtype: T.dtype) }
        if red == 0 {
            o.initialize(repeating: kind == .sum ? 0 : -.infinity, count: kept)
            return Tensor(storage: out, shape: outShape, dtype: T.dtype)
        }
        let sortedAxes = axes.sorted()
        let isPrefix = sortedAxes == Array(0..<sortedAxes.count)
        if isPrefix && x.isContiguous && kept > 1 {
            // Column reduction over leading axes (bias gradients): out[j] = Σ_i x[i, j].
            let xp = x.pointer(T.self)
            parallelFor(kept, grain: 256) { cols in
                for j in cols { o[j] = xp[j] }
                for i in 1..<red {
                    let row = xp + i * kept
                    if kind == .sum { for j in cols { o[j] += row[j] } } else {
                        for j in cols { let v = row[j]; if v > o[j] || v.isNaN { o[j] = v } }
                    }
                }
            }
            return Tensor(storage: out, shape: outShape, dtype: T.dtype)
        }
        let src = (perm == Array(x.shape.indices) && x.isContiguous) ? x : contiguous(x.permutedView(perm))
        defer { withExtendedLifetime(src) {} }
        let xp = src.pointer(T.self)
        parallelFor(kept, grain: max(1, 8192 / red)) { range in
            for i in range {
                let row = xp + i * red
                if kind == .sum {
                    var a0: T = 0, a1: T = 0, a2: T = 0, a3: T = 0
                    var j = 0
                    while j + 4 <= red { a0 += row[j]; a1 += row[j + 1]; a2 += row[j + 2]; a3 += row[j + 3]; j += 4 }
                    while j < red { a0 += row[j]; j += 1 }
                    o[i] = (a0 + a1) + (a2 + a3)
                } else {
                    var m = row[0]
                    for j in 1..<red { let v = row[j]; if v > m || v.isNaN { m = v } }
                    o[i] = m
                }
            }
        }
        return Tensor(storage: out, shape: outShape, dtype: T.dtype)
    }

    static func argmax(_ x: Tensor, axis: Int) -> Tensor {
        let outShape = keptShape(x.shape, [axis])
        let (perm, kept, red) = reductionLayout(x.shape, [axis])
        precondition(red > 0, "argmax: axis \(axis) of shape \(x.shape) is empty")
        let src = contiguous(x.permutedView(perm).cast(.float64))
        defer { withExtendedLifetime(src) {} }
        let xp = src.pointer(Double.self)
        let out = Storage(uninitializedByteCount: kept * 8)
        let o = out.pointer.assumingMemoryBound(to: Int64.self)
        for i in 0..<kept {
            let row = xp + i * red
            var best = 0
            for j in 1..<red where row[j] > row[best] || (row[j].isNaN && !row[best].isNaN) { best = j }
            o[i] = Int64(best)
        }
        return Tensor(storage: out, shape: outShape, dtype: .int64)
    }

    // MARK: Movement

    /// Constant padding; `pads` holds (before, after) per axis.
    static func pad(_ x: Tensor, _ pads: [Int], value: Double) -> Tensor {
        let outShape = x.shape.indices.map { x.shape[$0] + pads[2 * $0] + pads[2 * $0 + 1] }
        let out = Tensor.full(outShape, value: value, dtype: x.dtype)
        let region = x.shape.indices.map { SliceRange(pads[2 * $0], pads[2 * $0] + x.shape[$0]) }
        copy(x, into: out.sliceView(region))
        return out
    }

    /// Copies `src` into the (writable, freshly allocated) view `dst` of the same shape.
    static func copy(_ src: Tensor, into dst: Tensor) {
        precondition(src.shape == dst.shape && src.dtype == dst.dtype, "copy: \(src.shape) into \(dst.shape)")
        let size = src.dtype.byteSize
        func run<E>(_: E.Type) {
            let sp = src.storage.pointer.assumingMemoryBound(to: E.self)
            let dp = dst.storage.pointer.assumingMemoryBound(to: E.self)
            // Walk the destination's layout; the destination is written through its own strides.
            let (s, st) = StridedWalk.coalesce(shape: src.shape, strides: [src.strides, dst.strides])
            if src.count == 0 { return }
            var idx = [Int](repeating: 0, count: s.count)
            let inner = s.last!, ss = st[0].last!, ds = st[1].last!
            var so = src.offset, d0 = dst.offset
            while true {
                for j in 0..<inner { dp[d0 + j * ds] = sp[so + j * ss] }
                var k = s.count - 2
                while k >= 0 {
                    idx[k] += 1; so += st[0][k]; d0 += st[1][k]
                    if idx[k] < s[k] { break }
                    so -= st[0][k] * s[k]; d0 -= st[1][k] * s[k]; idx[k] = 0; k -= 1
                }
                if k < 0 { break }
            }
        }
        switch size {
        case 8: run(UInt64.self)
        case 4: run(UInt32.self)
        case 2: run(UInt16.self)
        default: run(UInt8.self)
        }
    }

    static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        var outShape = xs[0].shape
        outShape[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
        let out = Tensor.zeros(outShape, dtype: xs[0].dtype)
        var start = 0
        for x in xs {
            var region = outShape.map { SliceRange(0, $0) }
            region[axis] = SliceRange(start, start + x.shape[axis])
            copy(x, into: out.sliceView(region))
            start += x.shape[axis]
        }
        return out
    }

    /// Zeros of `shape` with `g` written into the strided region (backward of slice).
    static func sliceScatter(_ g: Tensor, into shape: [Int], _ ranges: [SliceRange]) -> Tensor {
        let out = Tensor.zeros(shape, dtype: g.dtype)
        copy(g, into: out.sliceView(ranges))
        return out
    }

    // MARK: Indexing

    /// torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis`.
    static func gather(_ x: Tensor, axis: Int, index: Tensor) -> Tensor {
        let xc = x.contiguous(), ic = index.contiguous()
        defer { withExtendedLifetime(xc) {} }
        let idx = ic.ints()
        let outShape = index.shape
        var dims = x.shape; dims[axis] = 1
        let out = Tensor.zeros(outShape, dtype: x.dtype)
        let xs = xc.strides
        let oStrides = Tensor.contiguousStrides(for: outShape)
        let esize = x.dtype.byteSize
        let xb = xc.storage.pointer + xc.offset * esize, ob = out.storage.pointer
        for flat in 0..<idx.count {
            var rem = flat, off = 0
            for d in outShape.indices {
                let i = rem / oStrides[d]; rem %= oStrides[d]
                if d == axis {
                    precondition(idx[flat] >= 0 && idx[flat] < x.shape[axis],
                                 "gather: index \(idx[flat]) out of range for axis \(axis) of \(x.shape)")
                    off += idx[flat] * xs[d]
                } else { off += i * xs[d] }
            }
            (ob + flat * esize).copyMemory(from: xb + off * esize, byteCount: esize)
        }
        return out
    }

    /// torch.scatter_add: base with src[..., i, ...] added at index[..., i, ...] along `axis`.
    static func scatterAdd(_ base: Tensor, axis: Int, index: Tensor, src: Tensor) -> Tensor {
        let out = Kernels.cast(base, to: .float64)
        let s = src.contiguous().doubles()
        let idx = index.contiguous().ints()
        let op = out.pointer(Double.self)
        let outStrides = out.strides
        let iStrides = Tensor.contiguousStrides(for: index.shape)
        for flat in 0..<idx.count {
            var rem = flat, off = 0
            for d in index.shape.indices {
                let i = rem / iStrides[d]; rem %= iStrides[d]
                if d == axis {
                    precondition(idx[flat] >= 0 && idx[flat] < base.shape[axis],
                                 "scatterAdd: index \(idx[flat]) out of range for axis \(axis) of \(base.shape)")
                    off += idx[flat] * outStrides[d]
                } else { off += i * outStrides[d] }
            }
            op[off] += s[flat]
        }
        return Kernels.cast(out, to: base.dtype)
    }

    /// index_select along `axis` with a 1-D index: the embedding lookup.
    static func indexSelect(_ x: Tensor, axis: Int, index: Tensor) -> Tensor {
        let idx = index.ints()
        let xc = x.contiguous()
        defer { withExtendedLifetime(xc) {} }
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let n = x.shape[axis]
        var outShape = x.shape; outShape[axis] = idx.count
        let out = Storage(uninitializedByteCount: outShape.reduce(1, *) * x.dtype.byteSize)
        let es = x.dtype.byteSize
        let xb = xc.storage.pointer + xc.offset * es
        for i in idx {
            precondition(i >= 0 && i < n, "indexSelect: index \(i) out of range for axis \(axis) of \(x.shape)")
        }
        let box = UnsafeSendableBox(idx)
        parallelFor(outer * idx.count, grain: max(1, 4096 / max(inner, 1))) { range in
            for r in range {
                let o = r / box.value.count, k = r % box.value.count
                (out.pointer + (r * inner) * es).copyMemory(from: xb + ((o * n + box.value[k]) * inner) * es, byteCount: inner * es)
            }
        }
        return Tensor(storage: out, shape: outShape, dtype: x.dtype)
    }

    /// index_add into zeros: out[..., idx[k], ...] += src[..., k, ...] (embedding backward).
    static func indexAdd(_ src: Tensor, axis: Int, index: Tensor, size: Int) -> Tensor {
        precondition(src.dtype.isComputeFloat, "indexAdd: dtype \(src.dtype) is not a float type")
        var outShape = src.shape; outShape[axis] = size
        let out = Tensor.zeros(outShape, dtype: src.dtype)
        indexAdd(src, axis: axis, index: index, into: out)
        return out
    }

    /// index_add into `out` (contiguous, freshly made or owned by the caller): out[..., idx[k], ...] += src[..., k, ...].
    static func indexAdd(_ src: Tensor, axis: Int, index: Tensor, into out: Tensor) {
        precondition(src.dtype.isComputeFloat && out.dtype == src.dtype && out.isContiguous,
                     "indexAdd: dtype \(src.dtype) into \(out.dtype)")
        let idx = index.ints()
        let sc = src.contiguous()
        defer { withExtendedLifetime(sc) {} }
        let outer = src.shape[..<axis].reduce(1, *), inner = src.shape[(axis + 1)...].reduce(1, *)
        let size = out.shape[axis]
        for i in idx { precondition(i >= 0 && i < size, "indexAdd: index \(i) out of range for size \(size)") }
        func run<T: TensorFloat>(_: T.Type) {
            let sp = sc.pointer(T.self), op = out.pointer(T.self)
            // Parallel over the inner (column) dimension so each output element has one writer
            // and rows are added in index order: deterministic for any thread count.
            parallelFor(inner, grain: 64) { cols in
                for o in 0..<outer {
                    for (k, i) in idx.enumerated() {
                        let s = sp + (o * idx.count + k) * inner, d = op + (o * size + i) * inner
                        for j in cols { d[j] += s[j] }
                    }
                }
            }
        }
        if src.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    }
}
