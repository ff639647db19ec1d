// Views and movement: reshape, permute/transpose, expand/broadcast, slice, squeeze, concat, stack,
// split and pad. Views share storage; each op records its primitive for autograd.

import Foundation

extension Tensor {
    // MARK: Raw views (no recording)

    func permutedView(_ perm: [Int]) -> Tensor {
        Tensor(shape: perm.map { shape[$0] }, strides: perm.map { strides[$0] }, offset: offset,
               dtype: dtype, storage: storage, node: nil)
    }

    func sliceView(_ ranges: [SliceRange]) -> Tensor {
        var off = offset
        var newShape: [Int] = [], newStrides: [Int] = []
        for (d, r) in ranges.enumerated() {
            if r.count > 0 { off += r.start * strides[d] }
            newShape.append(r.count)
            newStrides.append(strides[d] * r.step)
        }
        return Tensor(shape: newShape, strides: newStrides, offset: off, dtype: dtype, storage: storage, node: nil)
    }

    // MARK: Reshape

    /// The same elements in a new shape; one dimension may be -1 (inferred). A view when contiguous.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        let known = s.filter { $0 != -1 }.reduce(1, *)
        if let i = s.firstIndex(of: -1) {
            precondition(s.filter { $0 == -1 }.count == 1 && known > 0 && count % known == 0,
                         "reshape: cannot reshape \(shape) into \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count && s.allSatisfy { $0 >= 0 },
                     "reshape: cannot reshape \(shape) (\(count) elements) into \(newShape)")
        if s == shape { return self }
        let base = isContiguous ? self : Kernels.contiguous(self)
        let view = Tensor(shape: s, strides: Tensor.contiguousStrides(for: s), offset: base.offset,
                          dtype: dtype, storage: base.storage, node: nil)
        return view.recorded(.reshape(s), [self])
    }

    /// Variadic form of ``reshaped(_:)``.
    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims) }

    /// Collapses dimensions `start...end` into one.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        let s = axis(start, op: "flattened"), e = axis(end, op: "flattened")
        if rank == 0 { return reshaped([1]) }
        return reshaped(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// Inserts a size-1 dimension at `axis`.
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueezed: axis \(axis) out of range for shape \(shape)")
        var s = shape; s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes size-1 dimensions (all, or the given ones).
    public func squeezed(_ axes: [Int]? = nil) -> Tensor {
        let drop = Set((axes ?? shape.indices.filter { shape[$0] == 1 }).map { axis($0, op: "squeezed") })
        for a in drop { precondition(shape[a] == 1, "squeezed: axis \(a) of \(shape) has size \(shape[a])") }
        return reshaped(shape.indices.filter { !drop.contains($0) }.map { shape[$0] })
    }

    // MARK: Permute

    /// Reorders dimensions: result axis i is input axis `perm[i]`. A view.
    public func permuted(_ perm: [Int]) -> Tensor {
        precondition(perm.count == rank && Set(perm) == Set(0..<rank),
                     "permuted: \(perm) is not a permutation of the axes of \(shape)")
        if perm == Array(0..<rank) { return self }
        return permutedView(perm).recorded(.permute(perm), [self])
    }

    /// Variadic form of ``permuted(_:)``.
    public func permuted(_ perm: Int...) -> Tensor { permuted(perm) }

    /// Swaps two axes. A view.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var p = Array(0..<rank)
        p.swapAt(axis(a, op: "transposed"), axis(b, op: "transposed"))
        return permuted(p)
    }

    /// Swaps the last two axes (the matrix transpose of each batch element). A view.
    public var matrixTransposed: Tensor {
        precondition(rank >= 2, "matrixTransposed: shape \(shape) has rank < 2")
        return transposed(-2, -1)
    }

    // MARK: Broadcast

    /// The NumPy broadcast of two shapes; traps when incompatible.
    public static func broadcastShape(_ a: [Int], _ b: [Int], op: String = "broadcast") -> [Int] {
        let r = Swift.max(a.count, b.count)
        let pa = [Int](repeating: 1, count: r - a.count) + a, pb = [Int](repeating: 1, count: r - b.count) + b
        return (0..<r).map { i in
            precondition(pa[i] == pb[i] || pa[i] == 1 || pb[i] == 1, "\(op): shapes \(a) and \(b) do not broadcast")
            return pa[i] == 1 ? pb[i] : pa[i]
        }
    }

    /// Broadcasts to `newShape` (size-1 dimensions repeat with stride 0; leading dimensions are added). A view.
    public func expanded(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        precondition(newShape.count >= rank, "expanded: cannot expand \(shape) to \(newShape)")
        let base = newShape.count > rank ? reshaped([Int](repeating: 1, count: newShape.count - rank) + shape) : self
        var st = base.strides
        for d in 0..<newShape.count {
            if base.shape[d] != newShape[d] {
                precondition(base.shape[d] == 1, "expanded: cannot expand \(shape) to \(newShape)")
                st[d] = 0
            }
        }
        return Tensor(shape: newShape, strides: st, offset: base.offset, dtype: dtype, storage: base.storage, node: nil)
            .recorded(.expand(newShape), [base])
    }

    // MARK: Slice

    /// A strided slice: one ``SliceRange`` per leading axis (missing axes are taken whole). A view.
    public func sliced(_ ranges: [SliceRange]) -> Tensor {
        precondition(ranges.count <= rank, "sliced: \(ranges.count) ranges for shape \(shape)")
        var full = ranges
        for d in ranges.count..<rank { full.append(SliceRange(0, shape[d])) }
        for (d, r) in full.enumerated() {
            precondition(r.step >= 1 && r.start >= 0 && r.end <= shape[d] && r.start <= Swift.max(r.end, r.start),
                         "sliced: range \(r.start)..<\(r.end) step \(r.step) out of bounds for axis \(d) of \(shape)")
        }
        return sliceView(full).recorded(.slice(full), [self])
    }

    /// Elements `range` along `axis` (a view).
    public func sliced(axis: Int, _ range: Range<Int>, step: Int = 1) -> Tensor {
        let a = self.axis(axis, op: "sliced")
        var rs = shape.map { SliceRange(0, $0) }
        rs[a] = SliceRange(range.lowerBound, range.upperBound, step: step)
        return sliced(rs)
    }

    /// Index `i` along `axis`, removing that axis.
    public func selecting(axis: Int, index i: Int) -> Tensor {
        let a = self.axis(axis, op: "selecting")
        precondition(i >= 0 && i < shape[a], "selecting: index \(i) out of range for axis \(a) of \(shape)")
        return sliced(axis: a, i..<(i + 1)).squeezed([a])
    }

    /// Splits along `axis` into pieces of the given sizes.
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = self.axis(axis, op: "split")
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not sum to \(shape[a]) (shape \(shape))")
        var start = 0
        return sizes.map { s in defer { start += s }; return sliced(axis: a, start..<(start + s)) }
    }

    /// Splits along `axis` into `parts` equal pieces.
    public func chunked(_ parts: Int, axis: Int) -> [Tensor] {
        let a = self.axis(axis, op: "chunked")
        precondition(parts > 0 && shape[a] % parts == 0, "chunked: axis \(a) of \(shape) not divisible into \(parts)")
        return split(sizes: [Int](repeating: shape[a] / parts, count: parts), axis: a)
    }

    // MARK: Copies

    /// A contiguous copy when the view is not contiguous (recorded as an identity for autograd).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return Kernels.contiguous(self).recorded(.contiguous, [self])
    }

    /// Constant padding: `pads` holds (before, after) per axis, for the leading axes given.
    public func padded(_ pads: [(Int, Int)], value: Double = 0) -> Tensor {
        precondition(pads.count <= rank, "padded: \(pads.count) pads for shape \(shape)")
        var flat: [Int] = []
        for d in 0..<rank {
            let p = d < pads.count ? pads[d] : (0, 0)
            precondition(p.0 >= 0 && p.1 >= 0, "padded: negative padding \(p) for shape \(shape)")
            flat += [p.0, p.1]
        }
        return Kernels.pad(self, flat, value: value).recorded(.pad(flat, value: value), [self])
    }

    /// Concatenates along `axis`; all other dimensions must agree.
    public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        precondition(!xs.isEmpty, "concat: no tensors")
        let a = xs[0].axis(axis, op: "concat")
        for x in xs {
            precondition(x.rank == xs[0].rank && x.dtype == xs[0].dtype &&
                         x.shape.indices.allSatisfy { $0 == a || x.shape[$0] == xs[0].shape[$0] },
                         "concat: shapes \(xs.map { $0.shape }) do not agree off axis \(a)")
        }
        return Kernels.concat(xs, axis: a).recorded(.concat(axis: a), xs)
    }

    /// Stacks equal-shaped tensors along a new axis.
    public static func stack(_ xs: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!xs.isEmpty, "stack: no tensors")
        for x in xs { precondition(x.shape == xs[0].shape, "stack: shapes \(xs.map { $0.shape }) differ") }
        return concat(xs.map { $0.unsqueezed(axis) }, axis: axis)
    }

    /// Converts to another dtype (values rounded as in PyTorch).
    public func cast(_ to: DType) -> Tensor {
        if to == dtype { return self }
        let out = Kernels.cast(self, to: to)
        return (dtype.isComputeFloat && to.isComputeFloat) ? out.recorded(.cast(to), [self]) : out
    }
}
