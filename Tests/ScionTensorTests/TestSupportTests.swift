// Tests of the test helpers themselves: the gradient checker must reject a wrong gradient, the
// comparison must reject wrong values and shapes, and every layout must hold the same values.

import ScionTensor
import ScionTestSupport
import Testing

struct TestSupportTests {
    @Test func gradientCheckRejectsAWrongGradient() {
        let x = RefTensor(shape: [3], data: [0.5, -1, 2])
        // x · detached(x) has analytic gradient x but true derivative 2x.
        let results = gradientCheck([x]) { $0[0] * $0[0].detached() }
        #expect(results.count == 1 && !results[0].ok)
        let good = gradientCheck([x]) { $0[0] * $0[0] }
        #expect(good.allSatisfy { $0.ok })
    }

    @Test func compareRejectsWrongValuesAndShapes() {
        let t = Tensor(doubles: [1, 2, 3], shape: [3])
        #expect(compare(t, RefTensor(shape: [3], data: [1, 2, 3]), .exact).ok)
        #expect(!compare(t, RefTensor(shape: [3], data: [1, 2, 3.001]), Tolerance(rtol: 1e-6, atol: 1e-6)).ok)
        #expect(!compare(t, RefTensor(shape: [1, 3], data: [1, 2, 3]), .exact).ok)
        #expect(!compare(Tensor(doubles: [.nan], shape: [1]), RefTensor(shape: [1], data: [1]), Tolerance(rtol: 1, atol: 1)).ok)
        #expect(compare(Tensor(doubles: [.nan], shape: [1]), RefTensor(shape: [1], data: [.nan]), .exact).ok)
    }

    @Test func layoutsHoldTheSameValues() {
        var rng = TestRandom(seed: 2)
        for shape in [[], [4], [2, 3], [2, 0, 3], [2, 3, 4]] {
            let r = rng.ref(shape)
            for layout in TestLayout.allCases {
                let t = makeTensor(r, layout: layout)
                #expect(t.shape == shape && t.doubles() == r.data, "\(layout) \(shape)")
                if layout == .permuted && r.count > 1 && shape.filter({ $0 > 1 }).count > 1 { #expect(!t.isContiguous) }
                if layout == .strided && r.count > 1 { #expect(!t.isContiguous) }
                if layout == .offset && r.count > 0 { #expect(t.offset == 3) }
            }
        }
    }
}
