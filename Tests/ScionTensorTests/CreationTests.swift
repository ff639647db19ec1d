// Creating and reading tensors: zeros/ones/full/arange/scalars/indices, element access on views
// (item, subscript, floats, bytes), and dropout's seeded mask.

import ScionTensor
import ScionTestSupport
import Testing

struct CreationTests {
    @Test func constructors() {
        #expect(Tensor.zeros([2, 3]).doubles() == [Double](repeating: 0, count: 6))
        #expect(Tensor.ones([2], dtype: .float64).doubles() == [1, 1])
        #expect(Tensor.full([2], value: 2.5, dtype: .bfloat16).doubles() == [2.5, 2.5])
        #expect(Tensor.full([3], value: 7, dtype: .int32).ints() == [7, 7, 7])
        #expect(Tensor(scalar: 3).shape == [] && Tensor(scalar: 3).item() == 3)
        #expect(Tensor.zeros([0, 4]).count == 0)
        #expect(Tensor.arange(0, 5).doubles() == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25, dtype: .float64).doubles() == [1, 1.25, 1.5, 1.75])
        #expect(Tensor.arange(3, 0, step: -1).doubles() == [3, 2, 1])
        #expect(Tensor.arange(0, 0.3, step: 0.1, dtype: .float64).count == 3)
        #expect(Tensor.arange(2, 1).count == 0)
        #expect(Tensor(indices: [1, 2, 3, 4], shape: [2, 2]).dtype == .int64)
        #expect(Tensor([1, 2, 3]).shape == [3])
    }

    @Test(arguments: TestLayout.allCases)
    func readingViews(layout: TestLayout) {
        let values = (0..<12).map { Double($0) * 0.5 - 2 }
        let ref = RefTensor(shape: [3, 4], data: values)
        for dtype in [DType.float32, .float64, .float16, .bfloat16] {
            let t = makeTensor(ref, dtype: dtype, layout: layout)
            #expect(t.doubles() == values, "\(dtype) \(layout)")
            #expect(t.floats() == values.map { Float($0) })
            #expect(t[element: [2, 1]] == values[9])
            #expect(t.sliced(axis: 0, 1..<2).sliced(axis: 1, 3..<4).item() == values[7])
            #expect(t.bytes() == makeTensor(ref, dtype: dtype).bytes())
            #expect(t.contiguous().doubles() == values)
        }
    }

    @Test func dropoutIsSeededAndScaled() {
        let x = Tensor.ones([1000], dtype: .float64)
        var g1 = RandomGenerator(seed: 4), g2 = RandomGenerator(seed: 4)
        let a = x.dropout(0.25, generator: &g1), b = x.dropout(0.25, generator: &g2)
        #expect(bitwiseEqual(a, b))
        let v = a.doubles()
        #expect(Set(v).isSubset(of: [0, 1 / 0.75]))
        #expect(Swift.abs(Double(v.filter { $0 == 0 }.count) / 1000 - 0.25) < 0.05)
        // The backward applies the same mask.
        let xr = x.requiringGradient()
        var g3 = RandomGenerator(seed: 4)
        #expect(xr.dropout(0.25, generator: &g3).sum().gradients(of: [xr])[0].doubles() == v)
    }
}
