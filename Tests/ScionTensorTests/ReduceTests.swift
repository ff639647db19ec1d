// Reductions (sum, max, min, mean, argmax, logSumExp, variance) over single and multiple axes,
// keeping dimensions and not, in every layout; backward by finite differences. Also the
// property tests: sum is linear, and reducing in two steps equals reducing at once.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

struct ReduceTests {
    /// (shape, axes) pairs, including negative axes, all axes, size-1 and zero-size dimensions.
    static let cases: [([Int], [Int])] = [
        ([5], [0]), ([3, 4], [0]), ([3, 4], [1]), ([3, 4], [-1]), ([3, 4], [0, 1]),
        ([2, 3, 4], [1]), ([2, 3, 4], [0, 2]), ([2, 1, 3], [1]), ([4, 1], [0]), ([2, 0, 3], [2]),
        ([2, 3, 2, 3], [1, 3]),
    ]

    @Test(arguments: TestLayout.allCases, [false, true])
    func sum(layout: TestLayout, keep: Bool) {
        for (s, a) in Self.cases {
            checkOp("sum\(a)", [s], layout: layout, op: .accumulation, { $0[0].sum(axes: a, keepingDimensions: keep) },
                    { $0[0].sum(axes: a, keep: keep) })
        }
        checkOp("sum all", [[2, 3]], layout: layout, op: .accumulation, { $0[0].sum() }, { $0[0].sum(axes: [0, 1]) })
    }

    @Test(arguments: TestLayout.allCases, [false, true])
    func maxAndMin(layout: TestLayout, keep: Bool) {
        for (s, a) in Self.cases where !s.contains(0) {
            checkOp("max\(a)", [s], layout: layout, { $0[0].max(axes: a, keepingDimensions: keep) },
                    { $0[0].max(axes: a, keep: keep) })
            checkOp("min\(a)", [s], layout: layout, { $0[0].min(axes: a, keepingDimensions: keep) },
                    { $0[0].min(axes: a, keep: keep) })
        }
    }

    @Test func maxOverEmptyAxisIsMinusInfinity() {
        let y = Tensor.zeros([2, 0, 3], dtype: .float64).max(axes: [1])
        #expect(y.shape == [2, 3] && y.doubles().allSatisfy { $0 == -.infinity })
    }

    @Test func maxTiesSplitGradient() {
        let x = Tensor(doubles: [1, 3, 3, 2], shape: [4]).requiringGradient()
        #expect(x.max().gradients(of: [x])[0].doubles() == [0, 0.5, 0.5, 0])
    }

    @Test func maxPropagatesNaN() {
        let x = Tensor(doubles: [1, .nan, 3, 2, 5, 4], shape: [2, 3])
        #expect(x.max(axes: [1]).doubles()[0].isNaN)
        #expect(x.max(axes: [0]).doubles()[1].isNaN)
    }

    @Test(arguments: TestLayout.allCases, [false, true])
    func mean(layout: TestLayout, keep: Bool) {
        for (s, a) in Self.cases where !s.contains(0) {
            checkOp("mean\(a)", [s], layout: layout, op: .accumulation, { $0[0].mean(axes: a, keepingDimensions: keep) },
                    { $0[0].mean(axes: a, keep: keep) })
        }
    }

    @Test(arguments: TestLayout.allCases, [false, true])
    func logSumExp(layout: TestLayout, keep: Bool) {
        for (s, a) in Self.cases where !s.contains(0) {
            checkOp("logSumExp\(a)", [s], layout: layout, ranges: [Range2(low: -5, high: 5)], op: .accumulation,
                    { $0[0].logSumExp(axes: a, keepingDimensions: keep) }, { $0[0].logSumExp(axes: a, keep: keep) })
        }
    }

    @Test func logSumExpOfInfinities() {
        let x = Tensor(doubles: [-.infinity, -.infinity, 1, -.infinity, .infinity, 0], shape: [3, 2])
        let y = x.logSumExp(axes: [1]).doubles()
        #expect(y[0] == -.infinity && y[1] == 1 && y[2] == .infinity)
        let big = Tensor(doubles: [1000, 1000], shape: [2]).logSumExp(axes: [0]).item()
        #expect(Swift.abs(big - (1000 + Foundation.log(2))) < 1e-9)
    }

    @Test(arguments: TestLayout.allCases, [false, true])
    func variance(layout: TestLayout, unbiased: Bool) {
        for (s, a) in Self.cases where !s.contains(0) && a.map({ s[$0 < 0 ? $0 + s.count : $0] }).reduce(1, *) > 1 {
            checkOp("variance\(a)", [s], layout: layout, op: .accumulation,
                    { $0[0].variance(axes: a, unbiased: unbiased) }, { $0[0].variance(axes: a, unbiased: unbiased) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func argmax(layout: TestLayout) {
        var rng = TestRandom(seed: 21)
        for (s, axis) in [([5], 0), ([3, 4], 0), ([3, 4], 1), ([2, 3, 4], -2), ([4, 1], 1), ([0, 3], 1)] {
            let x = rng.ref(s)
            for keep in [false, true] {
                for dtype in [DType.float64, .float32] {
                    let y = makeTensor(x, dtype: dtype, layout: layout).argmax(axis: axis, keepingDimensions: keep)
                    #expect(y.dtype == .int64)
                    expectOK(compare(y, x.argmax(axis: axis, keep: keep), .exact, label: "argmax \(s) axis \(axis)"))
                }
            }
        }
        // Ties go to the first index.
        #expect(Tensor(doubles: [1, 3, 3, 0], shape: [4]).argmax(axis: 0).ints() == [1])
    }

    @Test func sumIsLinear() {
        var rng = TestRandom(seed: 99)
        for _ in 0..<10 {
            let shape = rng.shape(rank: 3)
            let a = makeTensor(rng.ref(shape)), b = makeTensor(rng.ref(shape))
            let axis = rng.int(0...2)
            let lhs = (a * 2 + b * 3).sum(axes: [axis]), rhs = a.sum(axes: [axis]) * 2 + b.sum(axes: [axis]) * 3
            expectOK(compare(lhs, rhs, Tolerance.for(dtype: .float64, op: .accumulation), label: "seed \(rng.seed) \(shape)"))
            // Two steps equal one step.
            expectOK(compare(a.sum(axes: [2]).sum(axes: [0]), a.sum(axes: [0, 2]),
                             Tolerance.for(dtype: .float64, op: .accumulation), label: "two-step sum \(shape)"))
        }
    }

    @Test func largeReductionsMatchReference() {
        // Big enough for the parallel, column and unrolled paths.
        var rng = TestRandom(seed: 5)
        let x = rng.ref([67, 301])
        for dtype in [DType.float64, .float32] {
            let t = makeTensor(x, dtype: dtype)
            let x = dtype == .float32 ? x.map { Double(Float($0)) } : x
            let tol = Tolerance.for(dtype: dtype, op: .accumulation)
            expectOK(compare(t.sum(axes: [0]), x.sum(axes: [0]), tol, label: "column sum \(dtype)"))
            expectOK(compare(t.sum(axes: [1]), x.sum(axes: [1]), tol, label: "row sum \(dtype)"))
            expectOK(compare(t.max(axes: [0]), x.max(axes: [0]), .exact, label: "column max \(dtype)"))
            expectOK(compare(t.max(axes: [1]), x.max(axes: [1]), .exact, label: "row max \(dtype)"))
        }
    }
}
