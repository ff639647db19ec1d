// Regression tests for defects found in review: each names what was wrong.

import Testing
@testable import ScionTensor

@Suite struct RegressionTests {
    /// A checkpointed function taking an index tensor used to trap in backward (indices were marked trainable).
    @Test func checkpointWithIndexInput() {
        var g = RandomGenerator(seed: 11)
        let table = Tensor.normal([5, 3], dtype: .float64, generator: &g).requiringGradient()
        let idx = Tensor(indices: [4, 0, 4])
        let f: ([Tensor]) -> Tensor = { xs in xs[0].indexSelect(axis: 0, index: xs[1]).squared().sum() }
        let plain = f([table, idx]).gradients(of: [table])[0]
        let checkpointed = Tensor.checkpointed([table, idx], f).gradients(of: [table])[0]
        #expect(plain.doubles() == checkpointed.doubles())
        // Row 4 is used twice: its gradient is 2 · 2x.
        #expect(abs(checkpointed[element: [4, 0]] - 4 * table[element: [4, 0]]) < 1e-12)
    }

    /// Unbiased variance of one element is NaN (0/0), as torch.var gives; it used to return 0.
    @Test func unbiasedVarianceOfOneElementIsNaN() {
        #expect(Tensor([3]).variance(axes: [0]).item().isNaN)
        #expect(Tensor([3]).variance(axes: [0], unbiased: false).item() == 0)
    }

    /// `arange(5)` did not compile (the leading parameter had a default but the next did not).
    @Test func arangeWithOneArgument() {
        #expect(Tensor.arange(5).floats() == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25).floats() == [1, 1.25, 1.5, 1.75])
    }
}
