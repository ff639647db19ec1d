// Elementwise primitives: unary math, binary arithmetic with broadcasting, select, comparisons
// and casts, forward against the reference and backward against finite differences, over shapes
// with scalars, size-1 and zero-size dimensions, in contiguous, permuted and strided layouts.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

struct UnaryCase: Sendable, CustomStringConvertible {
    let name: String
    let range: Range2
    let f: @Sendable (Tensor) -> Tensor
    let ref: @Sendable (Double) -> Double
    var description: String { name }
}

let unaryCases: [UnaryCase] = [
    UnaryCase(name: "neg", range: .symmetric, f: { -$0 }, ref: { -$0 }),
    UnaryCase(name: "exp", range: .symmetric, f: { $0.exp() }, ref: { Foundation.exp($0) }),
    UnaryCase(name: "log", range: .positive, f: { $0.log() }, ref: { Foundation.log($0) }),
    UnaryCase(name: "sqrt", range: .positive, f: { $0.sqrt() }, ref: { $0.squareRoot() }),
    UnaryCase(name: "sin", range: .symmetric, f: { $0.sin() }, ref: { Foundation.sin($0) }),
    UnaryCase(name: "cos", range: .symmetric, f: { $0.cos() }, ref: { Foundation.cos($0) }),
    UnaryCase(name: "tanh", range: .symmetric, f: { $0.tanh() }, ref: { Foundation.tanh($0) }),
    UnaryCase(name: "erf", range: .symmetric, f: { $0.erf() }, ref: { Foundation.erf($0) }),
    UnaryCase(name: "abs", range: .symmetric, f: { $0.abs() }, ref: { Swift.abs($0) }),
    UnaryCase(name: "pow(3)", range: .symmetric, f: { $0.pow(3) }, ref: { $0 * $0 * $0 }),
    UnaryCase(name: "pow(2.5)", range: .positive, f: { $0.pow(2.5) }, ref: { Foundation.pow($0, 2.5) }),
    UnaryCase(name: "squared", range: .symmetric, f: { $0.squared() }, ref: { $0 * $0 }),
    UnaryCase(name: "reciprocal", range: .positive, f: { $0.reciprocal() }, ref: { 1 / $0 }),
    UnaryCase(name: "rsqrt", range: .positive, f: { $0.rsqrt() }, ref: { 1 / $0.squareRoot() }),
    UnaryCase(name: "pow(0.5)", range: .positive, f: { $0.pow(0.5) }, ref: { $0.squareRoot() }),
    UnaryCase(name: "sigmoid", range: .symmetric, f: { $0.sigmoid() }, ref: { 1 / (1 + Foundation.exp(-$0)) }),
    UnaryCase(name: "relu", range: .symmetric, f: { $0.relu() }, ref: { Swift.max($0, 0) }),
]

struct ElementwiseTests {
    @Test(arguments: unaryCases, TestLayout.allCases)
    func unary(_ c: UnaryCase, layout: TestLayout) {
        for shape in unaryShapes {
            checkOp(c.name, [shape], layout: layout, ranges: [c.range], { c.f($0[0]) }, { $0[0].map(c.ref) })
        }
    }

    static let broadcastPairs: [([Int], [Int])] = [
        ([3, 4], [3, 4]), ([3, 4], [4]), ([3, 1], [1, 4]), ([2, 1, 3], [4, 1]), ([], [2, 3]),
        ([5, 1], []), ([0, 3], [1, 3]), ([2, 3, 1], [2, 1, 4]),
    ]

    struct BinaryCase: Sendable, CustomStringConvertible {
        let name: String
        let f: @Sendable (Tensor, Tensor) -> Tensor
        let ref: @Sendable (Double, Double) -> Double
        var description: String { name }
    }

    static let binaryCases: [BinaryCase] = [
        BinaryCase(name: "add", f: { $0 + $1 }, ref: { $0 + $1 }),
        BinaryCase(name: "sub", f: { $0 - $1 }, ref: { $0 - $1 }),
        BinaryCase(name: "mul", f: { $0 * $1 }, ref: { $0 * $1 }),
        BinaryCase(name: "div", f: { $0 / $1 }, ref: { $0 / $1 }),
        BinaryCase(name: "maximum", f: { Tensor.maximum($0, $1) }, ref: { Swift.max($0, $1) }),
        BinaryCase(name: "minimum", f: { Tensor.minimum($0, $1) }, ref: { Swift.min($0, $1) }),
    ]

    @Test(arguments: binaryCases, TestLayout.allCases)
    func binary(_ c: BinaryCase, layout: TestLayout) {
        for (sa, sb) in Self.broadcastPairs {
            // Denominators stay away from zero; values of the two sides overlap so max/min pick both.
            checkOp(c.name, [sa, sb], layout: layout, ranges: [.symmetric, Range2(low: 0.5, high: 2)],
                    { c.f($0[0], $0[1]) }, { RefTensor.zip($0[0], $0[1], c.ref) })
        }
    }

    @Test func scalarOperands() {
        let x = Tensor(doubles: [1, -2, 3], shape: [3])
        #expect((x + 1).doubles() == [2, -1, 4])
        #expect((1 - x).doubles() == [0, 3, -2])
        #expect((x * 2).doubles() == [2, -4, 6])
        #expect((6 / x).doubles() == [6, -3, 2])
        #expect(x.clamped(min: -1, max: 2).doubles() == [1, -1, 2])
    }

    @Test func maximumTiesSplitGradient() {
        // torch splits the gradient evenly between tied inputs of maximum/minimum.
        let a = Tensor(doubles: [1, 2, 3], shape: [3]).requiringGradient()
        let b = Tensor(doubles: [1, 5, 0], shape: [3]).requiringGradient()
        let g = Tensor.maximum(a, b).sum().gradients(of: [a, b])
        #expect(g[0].doubles() == [0.5, 0, 1])
        #expect(g[1].doubles() == [0.5, 1, 0])
    }

    @Test func nanPropagatesThroughMaximum() {
        let a = Tensor(doubles: [.nan, 1], shape: [2]), b = Tensor(doubles: [0, .nan], shape: [2])
        #expect(Tensor.maximum(a, b).doubles().allSatisfy { $0.isNaN })
        #expect(Tensor.minimum(a, b).doubles().allSatisfy { $0.isNaN })
    }

    @Test(arguments: TestLayout.allCases)
    func select(layout: TestLayout) {
        for (sm, sa, sb) in [([3, 4], [3, 4], [3, 4]), ([3, 1], [1, 4], [3, 4]), ([4], [3, 4], []), ([0, 2], [0, 2], [2])] {
            var rng = TestRandom(seed: 11)
            let maskValues = rng.ref(sm).map { $0 > 0 ? 1 : 0 }
            let mask = makeTensor(maskValues, layout: layout) .> 0.5
            checkOp("select", [sa, sb], layout: layout, { Tensor.select(mask, $0[0], $0[1]) },
                    { RefTensor.select(maskValues, $0[0], $0[1]) })
        }
    }

    @Test(arguments: TestLayout.allCases)
    func comparisons(layout: TestLayout) {
        var rng = TestRandom(seed: 3)
        let a = rng.ref([3, 4]).map { ($0 * 2).rounded() }, b = rng.ref([4]).map { ($0 * 2).rounded() }
        let ta = makeTensor(a, layout: layout), tb = makeTensor(b, layout: layout)
        let cases: [(Tensor, (Double, Double) -> Bool)] = [
            (ta .< tb, { $0 < $1 }), (ta .<= tb, { $0 <= $1 }), (ta .> tb, { $0 > $1 }),
            (ta .>= tb, { $0 >= $1 }), (ta .== tb, { $0 == $1 }),
        ]
        for (t, r) in cases {
            #expect(t.dtype == .bool)
            expectOK(compare(t, RefTensor.zip(a, b) { r($0, $1) ? 1 : 0 }, .exact))
        }
        expectOK(compare((ta .< tb).logicalNot(), RefTensor.zip(a, b) { $0 < $1 ? 0 : 1 }, .exact))
    }

    @Test(arguments: TestLayout.allCases)
    func castFloat32Float64(layout: TestLayout) {
        for shape in unaryShapes {
            // f64 → f32 → f64 rounds to Float; the backward casts the gradient back.
            checkOp("cast f64→f32→f64", [shape], layout: layout, grad: false,
                    { $0[0].cast(.float32).cast(.float64).cast($0[0].dtype) }, { $0[0].map { Double(Float($0)) } })
            // NOTE: the Float32 round trip adds ~1e-7 noise, so the step is 1e-2 and the function
            // linear (no truncation error); the tolerance covers noise / step ≈ 1e-5.
            var rng = TestRandom(seed: 5)
            expectAll(gradientCheck([rng.ref(shape)], layout: layout, eps: 1e-2, tolerance: Tolerance(rtol: 1e-4, atol: 1e-4),
                                    label: "cast") { ($0[0].cast(.float32) * 3).cast(.float64) })
        }
    }

    @Test func castToIntegersAndBool() {
        let x = Tensor(doubles: [-2.7, -0.5, 0, 0.5, 3.9], shape: [5])
        #expect(x.cast(.int64).ints() == [-2, 0, 0, 0, 3])              // truncation, as torch
        #expect(x.cast(.bool).doubles() == [1, 1, 0, 1, 1])
        #expect(Tensor(indices: [3, 1]).cast(.float32).doubles() == [3, 1])
    }
}

extension ElementwiseTests {
    /// Unary ops and a binary op reading an expanded (stride-0) view directly.
    @Test func opsOnExpandedViews() {
        for (base, target) in [([3, 1], [3, 4]), ([1, 4], [2, 3, 4]), ([], [2, 2])] {
            for c in unaryCases where ["exp", "tanh", "abs", "sin"].contains(c.name) {
                checkOp("\(c.name) on expand \(target)", [base], { c.f($0[0].expanded(to: target)) },
                        { $0[0].expanded(target).map(c.ref) })
            }
            checkOp("mul of two expanded views", [base, base], { $0[0].expanded(to: target) * $0[1].expanded(to: target).exp() },
                    { $0[0].expanded(target) * $0[1].expanded(target).map { Foundation.exp($0) } })
            checkOp("sum of expanded", [base], op: .accumulation, { $0[0].expanded(to: target).sum(axes: [0]) },
                    { $0[0].expanded(target).sum(axes: [0]) })
        }
    }
}
