// One-line op tests (tinygrad's helper_test_op, in Swift Testing): `checkOp` runs an op forward in
// Float64 and Float32 against the naive reference and, when differentiable, its backward against
// central finite differences, for one shape list and one storage layout. Failures name the op,
// the shapes, the layout and the seed so they reproduce.

import ScionTensor
import ScionTestSupport
import Testing

/// Value range of one generated input.
struct Range2: Sendable {
    var low: Double, high: Double
    static let symmetric = Range2(low: -2, high: 2)
    static let positive = Range2(low: 0.3, high: 2.5)
}

/// Expects every comparison to pass, reporting each failure.
func expectAll(_ results: [Comparison], sourceLocation: SourceLocation = #_sourceLocation) {
    for r in results { #expect(r.ok, "\(r.report)", sourceLocation: sourceLocation) }
}

/// Expects one comparison to pass.
func expectOK(_ r: Comparison, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.ok, "\(r.report)", sourceLocation: sourceLocation)
}

/// Checks `f` against `ref` forward (Float64 and Float32) and, if `grad`, backward by finite differences.
func checkOp(_ name: String, _ shapes: [[Int]], layout: TestLayout = .contiguous, ranges: [Range2]? = nil,
             op: Tolerance.OpClass = .elementwise, grad: Bool = true, seed: UInt64 = 1,
             sourceLocation: SourceLocation = #_sourceLocation,
             _ f: ([Tensor]) -> Tensor, _ ref: ([RefTensor]) -> RefTensor) {
    var rng = TestRandom(seed: seed)
    let inputs = shapes.enumerated().map { i, s in
        let r = ranges?[Swift.min(i, ranges!.count - 1)] ?? .symmetric
        return rng.ref(s, low: r.low, high: r.high)
    }
    let expected = ref(inputs)
    let label = "\(name) \(shapes) [\(layout)] seed \(seed)"
    for dtype in [DType.float64, .float32] {
        // Float32 references are computed from the Float32-rounded inputs.
        let rounded = dtype == .float32 ? inputs.map { $0.map { Double(Float($0)) } } : inputs
        let exp32 = dtype == .float32 ? ref(rounded) : expected
        let xs = rounded.map { makeTensor($0, dtype: dtype, layout: layout) }
        let y = f(xs)
        #expect(y.dtype == dtype, "\(label): output dtype \(y.dtype)", sourceLocation: sourceLocation)
        expectOK(compare(y, exp32, Tolerance.for(dtype: dtype, op: op), label: "\(label) forward \(dtype)"),
                 sourceLocation: sourceLocation)
    }
    if grad {
        expectAll(gradientCheck(inputs, layout: layout, seed: seed, label: label, f), sourceLocation: sourceLocation)
    }
}

/// Shapes for unary ops: scalar, vector, matrix, size-1 and zero-size dimensions, rank 3.
let unaryShapes: [[Int]] = [[], [1], [5], [3, 4], [2, 1, 3], [0, 3], [2, 3, 4]]
