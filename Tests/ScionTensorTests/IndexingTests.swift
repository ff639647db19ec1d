// Indexing: gather, scatterAdding, indexSelect, indexAdd and topK, forward against the reference
// and backward by finite differences (the index tensors are constants), in every layout,
// including repeated indices (accumulation) and empty index lists.

import ScionTensor
import ScionTestSupport
import Testing

struct IndexingTests {
    /// Random indices in 0..<bound.
    func indices(_ count: Int, below bound: Int, seed: UInt64) -> [Int] {
        var rng = TestRandom(seed: seed)
        return (0..<count).map { _ in rng.int(0...(bound - 1)) }
    }

    @Test(arguments: TestLayout.allCases)
    func gather(layout: TestLayout) {
        for (s, axis, idxShape) in [([3, 4], 1, [3, 6]), ([3, 4], 0, [2, 4]), ([2, 3, 4], 1, [2, 5, 3]), ([5], 0, [7]),
                                    ([3, 4], 1, [3, 0]), ([3, 4], -1, [2, 2])] {
            let a = axis < 0 ? axis + s.count : axis
            let idx = indices(idxShape.reduce(1, *), below: s[a], seed: 3)
            let index = Tensor(indices: idx, shape: idxShape)
            checkOp("gather axis \(axis)", [s], layout: layout, op: .movement,
                    { $0[0].gather(axis: axis, index: index) }, { $0[0].gather(axis: a, index: idx, indexShape: idxShape) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func scatterAdding(layout: TestLayout) {
        for (s, axis, srcShape) in [([3, 4], 1, [3, 6]), ([4, 3], 0, [6, 3]), ([2, 3, 4], 2, [2, 3, 5]), ([5], 0, [0])] {
            let idx = indices(srcShape.reduce(1, *), below: s[axis], seed: 4)
            let index = Tensor(indices: idx, shape: srcShape)
            checkOp("scatterAdding axis \(axis)", [s, srcShape], layout: layout, op: .accumulation,
                    { $0[0].scatterAdding(axis: axis, index: index, source: $0[1]) },
                    { $0[0].scatterAdding(axis: axis, index: idx, source: $0[1]) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func indexSelect(layout: TestLayout) {
        for (s, axis, n) in [([5, 3], 0, 7), ([2, 5, 3], 1, 4), ([4, 6], 1, 0), ([4], 0, 9), ([2, 3, 4], -1, 5)] {
            let a = axis < 0 ? axis + s.count : axis
            let idx = indices(n, below: s[a], seed: 5)
            let index = Tensor(indices: idx)
            checkOp("indexSelect axis \(axis)", [s], layout: layout, op: .movement,
                    { $0[0].indexSelect(axis: axis, index: index) }, { $0[0].indexSelect(axis: a, index: idx) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func indexAdd(layout: TestLayout) {
        for (s, axis, size) in [([7, 3], 0, 5), ([2, 4, 3], 1, 3), ([6], 0, 2), ([3, 0], 0, 4), ([2, 5], 1, 1)] {
            let idx = indices(s[axis], below: size, seed: 6)
            let index = Tensor(indices: idx)
            checkOp("indexAdd axis \(axis)", [s], layout: layout, op: .accumulation,
                    { $0[0].indexAdd(axis: axis, index: index, size: size) }, { $0[0].indexAdd(axis: axis, index: idx, size: size) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func topK(layout: TestLayout) {
        for (s, k) in [([6], 3), ([3, 5], 5), ([2, 3, 4], 1), ([3, 4], 0), ([0, 4], 2)] {
            var rng = TestRandom(seed: 9)
            let x = rng.ref(s)
            let (values, idx) = x.topK(k)
            checkOp("topK values k \(k)", [s], layout: layout, op: .movement, { $0[0].topK(k).values }, { $0[0].topK(k).values })
            #expect(makeTensor(x, layout: layout).topK(k).indices.ints() == idx, "topK indices \(s) k \(k)")
            #expect(values.shape == Array(s.dropLast()) + [k])
        }
        // Ties keep index order (stable).
        let (v, i) = Tensor(doubles: [1, 3, 2, 3, 1], shape: [5]).topK(4)
        #expect(v.doubles() == [3, 3, 2, 1] && i.ints() == [1, 3, 2, 0])
    }

    @Test func embeddingRoundTrip() {
        // indexSelect's backward is indexAdd: repeated ids accumulate.
        let table = Tensor(doubles: (0..<12).map(Double.init), shape: [4, 3]).requiringGradient()
        let ids = Tensor(indices: [2, 0, 2, 2])
        let g = table.indexSelect(axis: 0, index: ids).sum().gradients(of: [table])[0]
        #expect(g.doubles() == [1, 1, 1, 0, 0, 0, 3, 3, 3, 0, 0, 0])
    }
}
