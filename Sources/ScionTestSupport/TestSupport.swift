// Shared helpers for Scion's test targets: centralized tolerances, value comparison with a
// readable report, seeded generators of values and shapes, and tensors built in non-contiguous
// layouts. This library never imports Testing: it returns reports, and tests `#expect` on them.
// The naive reference ops live in Reference.swift, the finite-difference checker in GradCheck.swift.

import Foundation
import ScionTensor

/// A relative and absolute tolerance: `|actual − expected| ≤ atol + rtol·|expected|`.
public struct Tolerance: Sendable, CustomStringConvertible {
    public var rtol: Double
    public var atol: Double

    public init(rtol: Double, atol: Double) { self.rtol = rtol; self.atol = atol }

    /// Bitwise equality (used for views, data movement and determinism checks).
    public static let exact = Tolerance(rtol: 0, atol: 0)

    /// The kind of computation being compared; each loses precision differently.
    public enum OpClass: Sendable {
        /// Data movement and views: no arithmetic, results must match exactly.
        case movement
        /// One libm call or one arithmetic op per element.
        case elementwise
        /// Sums over many terms (reductions, matmul, norms, attention).
        case accumulation
        /// A fused kernel against its composite: different but equally valid evaluation orders.
        case fused
        /// Analytic gradient against central finite differences in float64.
        case gradientCheck
    }

    /// The tolerance for comparing results of `op` computed in `dtype` with a float64 reference.
    public static func `for`(dtype: DType, op: OpClass) -> Tolerance {
        switch (dtype, op) {
        case (_, .movement): return .exact
        case (.float64, .elementwise): return Tolerance(rtol: 1e-12, atol: 1e-12)
        case (.float64, .accumulation), (.float64, .fused): return Tolerance(rtol: 1e-10, atol: 1e-10)
        // Central differences with h = 1e-6 have truncation error O(h²·f''') and cancellation
        // error O(ε/h) ≈ 1e-10 relative; 1e-6 leaves margin for inputs of size ~1.
        case (_, .gradientCheck): return Tolerance(rtol: 1e-5, atol: 1e-6)
        case (.float32, .elementwise): return Tolerance(rtol: 2e-6, atol: 1e-6)
        case (.float32, .accumulation), (.float32, .fused): return Tolerance(rtol: 1e-4, atol: 1e-5)
        default: return Tolerance(rtol: 1e-2, atol: 1e-2)   // 16-bit storage types
        }
    }

    public var description: String { "rtol \(rtol), atol \(atol)" }
}

/// The outcome of comparing two arrays elementwise.
public struct Comparison: Sendable, CustomStringConvertible {
    /// True when shapes agree and every element is within tolerance (NaN matches NaN).
    public let ok: Bool
    /// The largest absolute difference (NaN-vs-number counts as infinity).
    public let maxAbsDiff: Double
    /// A one-paragraph report naming the worst element.
    public let report: String

    public var description: String { report }
}

/// Compares `actual` with `expected` (same shape), reporting the worst element.
public func compare(_ actual: [Double], shape actualShape: [Int], _ expected: [Double], shape expectedShape: [Int],
                    _ tol: Tolerance, label: String = "") -> Comparison {
    if actualShape != expectedShape || actual.count != expected.count {
        return Comparison(ok: false, maxAbsDiff: .infinity,
                          report: "\(label) shape \(actualShape) (\(actual.count) values) ≠ expected \(expectedShape) (\(expected.count) values)")
    }
    var worst = 0.0, worstIndex = -1, ok = true
    for i in actual.indices {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        if a == e { continue }                        // also equal infinities
        let d = (a.isNaN || e.isNaN) ? Double.infinity : Swift.abs(a - e)
        if !(d <= tol.atol + tol.rtol * Swift.abs(e)) { ok = false }
        if d > worst || worstIndex < 0 { worst = d; worstIndex = i }
    }
    let detail = worstIndex >= 0
        ? "worst at flat index \(worstIndex): \(actual[worstIndex]) vs \(expected[worstIndex])" : "all equal"
    return Comparison(ok: ok, maxAbsDiff: worst,
                      report: "\(label) shape \(expectedShape): maxAbsDiff \(worst) (\(tol)); \(detail)")
}

/// Compares a tensor with a reference array.
public func compare(_ actual: Tensor, _ expected: RefTensor, _ tol: Tolerance, label: String = "") -> Comparison {
    compare(actual.doubles(), shape: actual.shape, expected.data, shape: expected.shape, tol, label: label)
}

/// Compares two tensors.
public func compare(_ actual: Tensor, _ expected: Tensor, _ tol: Tolerance, label: String = "") -> Comparison {
    compare(actual.doubles(), shape: actual.shape, expected.doubles(), shape: expected.shape, tol, label: label)
}

/// True when two tensors have the same shape and bitwise-identical elements.
public func bitwiseEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && a.dtype == b.dtype && a.bytes() == b.bytes()
}

// MARK: Seeded generators

/// Seeded random values and shapes for tests (a failing seed reproduces everywhere).
public struct TestRandom {
    public var generator: RandomGenerator
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed; generator = RandomGenerator(seed: seed) }

    /// Uniform values in [low, high).
    public mutating func values(_ count: Int, low: Double = -1, high: Double = 1) -> [Double] {
        (0..<count).map { _ in low + (high - low) * generator.nextUniform() }
    }

    /// Standard-normal values.
    public mutating func normals(_ count: Int) -> [Double] { (0..<count).map { _ in generator.nextNormal() } }

    /// A uniform integer in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(generator.next() % UInt64(range.count))
    }

    /// A reference array of `shape` with uniform values.
    public mutating func ref(_ shape: [Int], low: Double = -1, high: Double = 1) -> RefTensor {
        RefTensor(shape: shape, data: values(shape.reduce(1, *), low: low, high: high))
    }

    /// A random shape of rank `rank` with dimensions in `sizes`.
    public mutating func shape(rank: Int, sizes: ClosedRange<Int> = 1...4) -> [Int] {
        (0..<rank).map { _ in int(sizes) }
    }
}

// MARK: Layouts

/// How a test tensor's elements are laid out in storage (its logical values are the same).
public enum TestLayout: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Row-major, no gaps.
    case contiguous
    /// Stored with the axes reversed, then permuted back (a transposed view).
    case permuted
    /// Every other element of a larger buffer, starting at an offset (a strided slice).
    case strided
    /// Row-major but starting three elements into its storage (a contiguous slice).
    case offset

    public var description: String { rawValue }
}

/// A tensor with `values` (row-major) of `shape`, laid out as `layout`. It carries no gradient node.
public func makeTensor(_ values: [Double], shape: [Int], dtype: DType = .float64,
                       layout: TestLayout = .contiguous) -> Tensor {
    precondition(values.count == shape.reduce(1, *), "makeTensor: \(values.count) values for \(shape)")
    switch layout {
    case .contiguous:
        return Tensor(doubles: values, shape: shape, dtype: dtype)
    case .permuted:
        let r = shape.count
        let reverse = Array((0..<r).reversed())
        let stored = RefTensor(shape: shape, data: values).permuted(reverse)   // shape reversed
        return Tensor(doubles: stored.data, shape: stored.shape, dtype: dtype).permuted(reverse).detached()
    case .strided:
        // Buffer of shape 2·d + 1 per axis; element i sits at 1 + 2i.
        let big = shape.map { 2 * $0 + 1 }
        var buffer = RefTensor(shape: big, data: [Double](repeating: -777, count: big.reduce(1, *)))
        let ranges = shape.map { SliceRange(1, 1 + 2 * $0, step: 2) }
        buffer.assign(values, at: ranges)
        let t = Tensor(doubles: buffer.data, shape: big, dtype: dtype)
        return t.sliced(ranges).detached()
    case .offset:
        let n = values.count
        let buffer = Tensor(doubles: [-777, -777, -777] + values, shape: [n + 3], dtype: dtype)
        return buffer.sliced(axis: 0, 3..<(n + 3)).reshaped(shape).detached()
    }
}

/// A tensor with the values of `ref`, laid out as `layout`.
public func makeTensor(_ ref: RefTensor, dtype: DType = .float64, layout: TestLayout = .contiguous) -> Tensor {
    makeTensor(ref.data, shape: ref.shape, dtype: dtype, layout: layout)
}

extension RefTensor {
    /// The values and shape of a tensor.
    public init(_ t: Tensor) { self.init(shape: t.shape, data: t.doubles()) }
}

/// Runs `body` with `ComputeSettings.threadCount` set to `n`, restoring the old value.
public func withThreadCount<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let old = ComputeSettings.threadCount
    ComputeSettings.threadCount = n
    defer { ComputeSettings.threadCount = old }
    return try body()
}

extension SliceRange: SliceRangeLike {}
