// Index-map surgery on dense tensors: gather along an axis by an index map, scale slices along an
// axis, and pick slices from one of two tensors. Works on float32 copies (checkpoints in bf16/f16
// come out as float32); these are checkpoint-time operations, not part of any forward pass.

import Foundation
import ScionTensor

enum TensorSurgery {
    /// (outer, axis size, inner) element counts around `axis`.
    static func split(_ shape: [Int], axis: Int) -> (Int, Int, Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// `out[…, j, …] = t[…, map[j], …] · (scale?[j] ?? 1)` along `axis`.
    static func gathered(_ t: Tensor, axis: Int, map: [Int], scale: [Float]? = nil) -> Tensor {
        let src = t.floats()
        let (outer, n, inner) = split(t.shape, axis: axis)
        var out = [Float](repeating: 0, count: outer * map.count * inner)
        for o in 0..<outer {
            for (j, i) in map.enumerated() {
                precondition(i >= 0 && i < n, "index map entry \(i) outside 0..<\(n)")
                let s = scale?[j] ?? 1
                let from = (o * n + i) * inner, to = (o * map.count + j) * inner
                for k in 0..<inner { out[to + k] = src[from + k] * s }
            }
        }
        var shape = t.shape
        shape[axis] = map.count
        return Tensor(out, shape: shape)
    }

    /// Along `axis`, slices where `useSecond[j]` come from `second`, the rest from `first` (same shape).
    static func blended(_ first: Tensor, _ second: Tensor, axis: Int, useSecond: [Bool]) -> Tensor {
        precondition(first.shape == second.shape, "blended: shapes \(first.shape) and \(second.shape)")
        var a = first.floats()
        let b = second.floats()
        let (outer, n, inner) = split(first.shape, axis: axis)
        for o in 0..<outer {
            for j in 0..<n where useSecond[j] {
                let base = (o * n + j) * inner
                for k in 0..<inner { a[base + k] = b[base + k] }
            }
        }
        return Tensor(a, shape: first.shape)
    }

    /// The same tensor with every element multiplied by `factor`.
    static func scaled(_ t: Tensor, by factor: Float) -> Tensor {
        Tensor(t.floats().map { $0 * factor }, shape: t.shape)
    }

    /// Zeros of `t`'s shape (float32).
    static func zeros(like t: Tensor) -> Tensor {
        Tensor([Float](repeating: 0, count: t.shape.reduce(1, *)), shape: t.shape)
    }
}
