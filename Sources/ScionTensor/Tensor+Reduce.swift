// Reductions (sum, mean, max, min, argmax, logsumexp, variance) and indexing (gather, scatter-add,
// index-select, top-k).

import Foundation

extension Tensor {
    func normalizedAxes(_ axes: [Int]?, op: String) -> [Int] {
        let a = (axes ?? Array(0..<rank)).map { axis($0, op: op) }
        precondition(Set(a).count == a.count, "\(op): repeated axis in \(axes ?? [])")
        return a.sorted()
    }

    func dropAxes(_ axes: [Int], keep: Bool) -> Tensor {
        keep ? self : reshaped(shape.indices.filter { !axes.contains($0) }.map { shape[$0] })
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepingDimensions keep: Bool = false) -> Tensor {
        let a = normalizedAxes(axes, op: "sum")
        if a.isEmpty { return self }
        return Kernels.reduce(self, axes: a, kind: .sum).recorded(.sum(axes: a), [self]).dropAxes(a, keep: keep)
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepingDimensions keep: Bool = false) -> Tensor {
        let a = normalizedAxes(axes, op: "mean")
        let n = a.reduce(1) { $0 * shape[$1] }
        return sum(axes: a, keepingDimensions: keep) / Double(Swift.max(n, 1)) * (n == 0 ? Double.nan : 1)
    }

    /// Maximum over `axes` (gradient split evenly between ties).
    public func max(axes: [Int]? = nil, keepingDimensions keep: Bool = false) -> Tensor {
        let a = normalizedAxes(axes, op: "max")
        if a.isEmpty { return self }
        let y = Kernels.reduce(self, axes: a, kind: .max)
        return y.recorded(.max(axes: a), [self], saving: [self.detached(), y]).dropAxes(a, keep: keep)
    }

    /// Minimum over `axes`.
    public func min(axes: [Int]? = nil, keepingDimensions keep: Bool = false) -> Tensor {
        -((-self).max(axes: axes, keepingDimensions: keep))
    }

    /// Index of the maximum along `axis` (int64; first index on ties).
    public func argmax(axis: Int, keepingDimensions keep: Bool = false) -> Tensor {
        let a = self.axis(axis, op: "argmax")
        return Kernels.argmax(self, axis: a).dropAxes([a], keep: keep)
    }

    /// log Σ exp over `axes`, computed stably (the max is subtracted first).
    public func logSumExp(axes: [Int], keepingDimensions keep: Bool = false) -> Tensor {
        let m = max(axes: axes, keepingDimensions: true).detached()
        let safe = Tensor.select(m.isFinite(), m, Tensor.zeros(m.shape, dtype: dtype))
        let y = (self - safe).exp().sum(axes: axes, keepingDimensions: true).log() + safe
        return keep ? y : y.squeezed(normalizedAxes(axes, op: "logSumExp"))
    }

    /// Variance over `axes` (`unbiased` divides by n − 1, as torch.var's default).
    public func variance(axes: [Int], unbiased: Bool = true, keepingDimensions keep: Bool = false) -> Tensor {
        let a = normalizedAxes(axes, op: "variance")
        let n = a.reduce(1) { $0 * shape[$1] }
        let d = self - mean(axes: a, keepingDimensions: true)
        // NOTE: n − 1 = 0 gives 0/0 = NaN for a single element, as torch.var does.
        return d.squared().sum(axes: a, keepingDimensions: keep) / Double(unbiased ? n - 1 : n)
    }

    /// A bool mask of finite elements.
    public func isFinite() -> Tensor {
        let d = detached()
        let finite = Kernels.binary(d - d, Tensor.zeros([], dtype: dtype).expanded(to: shape), .equal)
        return finite
    }

    // MARK: Indexing

    /// torch.gather along `axis`: `index` has the same rank; out[…i…] = self[…index[…i…]…].
    public func gather(axis: Int, index: Tensor) -> Tensor {
        let a = self.axis(axis, op: "gather")
        precondition(index.rank == rank && index.dtype.isInteger, "gather: index \(index.shape) (\(index.dtype)) for \(shape)")
        for d in 0..<rank where d != a {
            precondition(index.shape[d] <= shape[d], "gather: index shape \(index.shape) exceeds \(shape) on axis \(d)")
        }
        return Kernels.gather(self, axis: a, index: index).recorded(.gather(axis: a), [self, index], saving: [index])
    }

    /// torch.scatter_add: a copy of `self` with `source` added at `index` along `axis`.
    public func scatterAdding(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        let a = self.axis(axis, op: "scatterAdd")
        precondition(index.shape == source.shape && index.rank == rank,
                     "scatterAdd: index \(index.shape), source \(source.shape), self \(shape)")
        return Kernels.scatterAdd(self, axis: a, index: index, src: source)
            .recorded(.scatterAdd(axis: a), [self, index, source], saving: [index])
    }

    /// index_select with a 1-D integer index: the embedding lookup. Shape: axis size becomes index.count.
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        let a = self.axis(axis, op: "indexSelect")
        precondition(index.rank == 1 && index.dtype.isInteger, "indexSelect: index must be 1-D integers, got \(index.shape) \(index.dtype)")
        return Kernels.indexSelect(self, axis: a, index: index).recorded(.indexSelect(axis: a), [self, index], saving: [index])
    }

    /// index_add into zeros of size `size` along `axis` (the embedding backward).
    public func indexAdd(axis: Int, index: Tensor, size: Int) -> Tensor {
        let a = self.axis(axis, op: "indexAdd")
        precondition(index.rank == 1 && index.count == shape[a], "indexAdd: index \(index.shape) for axis \(a) of \(shape)")
        return Kernels.indexAdd(self, axis: a, index: index, size: size)
            .recorded(.indexAdd(axis: a, size: size), [self, index], saving: [index])
    }

    /// The `k` largest values along the last axis and their indices (sorted descending, stable).
    public func topK(_ k: Int) -> (values: Tensor, indices: Tensor) {
        precondition(rank >= 1 && k >= 0 && k <= shape[rank - 1], "topK: k = \(k) for shape \(shape)")
        let n = shape[rank - 1]
        let rows = count / Swift.max(n, 1)
        let flat = detached().cast(.float64).reshaped(rows, n).doubles()
        var idx: [Int] = []
        idx.reserveCapacity(rows * k)
        for r in 0..<rows {
            let row = flat[(r * n)..<((r + 1) * n)]
            let order = row.indices.sorted { (row[$0], -$0) > (row[$1], -$1) }
            idx += order.prefix(k).map { $0 - r * n }
        }
        let indices = Tensor(indices: idx, shape: Array(shape.dropLast()) + [k])
        return (gather(axis: rank - 1, index: indices), indices)
    }
}
