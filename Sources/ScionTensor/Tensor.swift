// The Tensor value type: shape, strides and offset over shared immutable storage, plus an
// optional autograd node. Views (reshape of contiguous data, permute, expand, slice) share storage
// and cost nothing; ops write fresh storage. Follows candle's Tensor/Layout/Storage split.
// Invariant: storage is never mutated after the op that created it returns.

import Foundation

/// An n-dimensional array of one ``DType``, a value type that is cheap to copy.
///
/// Tensors are immutable: every op returns a new tensor. Reverse-mode gradients are recorded on a
/// tape when an input ``requiresGradient`` (see ``Tensor/gradients(of:)``).
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4], shape: [2, 2]).requiringGradient()
/// let y = (x * x).sum()
/// let g = y.gradients(of: [x])[0]   // 2·x
/// ```
public struct Tensor: Sendable {
    /// Size of each dimension, outermost first.
    public let shape: [Int]
    /// Element steps between neighbours along each dimension (0 for broadcast dimensions).
    public let strides: [Int]
    /// Offset of element [0, …, 0] from the start of `storage`, in elements.
    public let offset: Int
    /// Element type.
    public let dtype: DType
    /// The shared bytes.
    public let storage: Storage
    /// The autograd node that produced this tensor, or the leaf node of a trainable tensor.
    let node: GradNode?

    init(shape: [Int], strides: [Int], offset: Int, dtype: DType, storage: Storage, node: GradNode?) {
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
        self.storage = storage
        self.node = node
    }

    /// A fresh contiguous tensor wrapping `storage`.
    init(storage: Storage, shape: [Int], dtype: DType, node: GradNode? = nil) {
        self.init(shape: shape, strides: Tensor.contiguousStrides(for: shape), offset: 0,
                  dtype: dtype, storage: storage, node: node)
    }

    // MARK: Geometry

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Number of elements (1 for a scalar, 0 when any dimension is 0).
    public var count: Int { shape.reduce(1, *) }
    /// True when the elements are laid out row-major without gaps, starting anywhere in storage.
    public var isContiguous: Bool { strides == Tensor.contiguousStrides(for: shape) || count <= 1 }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= Swift.max(shape[i], 1)
        }
        return strides
    }

    /// Normalizes a possibly negative axis; traps when out of range.
    @inlinable
    public func axis(_ a: Int, op: String) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < rank, "\(op): axis \(a) out of range for shape \(shape)")
        return r
    }

    // MARK: Creation

    /// A tensor of `shape` filled with zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "zeros: negative dimension in \(shape)")
        return Tensor(storage: Storage(byteCount: shape.reduce(1, *) * dtype.byteSize), shape: shape, dtype: dtype)
    }

    /// A tensor of `shape` filled with ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        full(shape, value: 1, dtype: dtype)
    }

    /// A tensor of `shape` with every element equal to `value` (converted to `dtype`).
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "full: negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        let s = Storage(uninitializedByteCount: n * dtype.byteSize)
        ElementIO.fill(s.pointer, count: n, dtype: dtype, value: value)
        return Tensor(storage: s, shape: shape, dtype: dtype)
    }

    /// A scalar (rank-0) tensor.
    public init(scalar value: Double, dtype: DType = .float32) {
        self = Tensor.full([], value: value, dtype: dtype)
    }

    /// `[0, 1, …, end − 1]`, as `torch.arange(end)`.
    public static func arange(_ end: Double, dtype: DType = .float32) -> Tensor { arange(0, end, dtype: dtype) }

    /// `[start, start+step, …)` up to `end` (exclusive), as in `torch.arange`.
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(doubles: (0..<n).map { start + Double($0) * step }, shape: [n], dtype: dtype)
    }

    /// A `Float` tensor from `values`; traps when the count does not match (use ``init(validating:shape:)`` for user data).
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor(_:shape:): \(values.count) values for shape \(shape) (\(shape.reduce(1, *)) elements)")
        let s = Storage(uninitializedByteCount: values.count * 4)
        values.withUnsafeBytes { s.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(storage: s, shape: shape, dtype: .float32)
    }

    /// A 1-D `Float` tensor.
    public init(_ values: [Float]) { self.init(values, shape: [values.count]) }

    /// A tensor of any dtype from `Double` values (rounded/truncated to the dtype).
    public init(doubles values: [Double], shape: [Int], dtype: DType = .float64) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor(doubles:shape:): \(values.count) values for shape \(shape)")
        let s = Storage(uninitializedByteCount: values.count * dtype.byteSize)
        for (i, v) in values.enumerated() { ElementIO.store(v, to: s.pointer, index: i, dtype: dtype) }
        self.init(storage: s, shape: shape, dtype: dtype)
    }

    /// An integer index tensor (`int64`).
    public init(indices values: [Int], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(values.count == shape.reduce(1, *), "Tensor(indices:): \(values.count) values for shape \(shape)")
        let s = Storage(uninitializedByteCount: values.count * 8)
        let p = s.pointer.assumingMemoryBound(to: Int64.self)
        for (i, v) in values.enumerated() { p[i] = Int64(v) }
        self.init(storage: s, shape: shape, dtype: .int64)
    }

    /// A `Float` tensor from user data: throws ``TensorError/elementCountMismatch(expected:actual:shape:)``
    /// or ``TensorError/invalidShape(_:)`` instead of trapping.
    public init(validating values: [Float], shape: [Int]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidShape(shape) }
        let n = shape.reduce(1, *)
        guard n == values.count else {
            throw TensorError.elementCountMismatch(expected: n, actual: values.count, shape: shape)
        }
        self.init(values, shape: shape)
    }

    /// A tensor from raw little-endian bytes of `dtype` (copied); throws when the byte count does not match.
    public init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidShape(shape) }
        let n = shape.reduce(1, *)
        guard n * dtype.byteSize == bytes.count else {
            throw TensorError.byteCountMismatch(expected: n * dtype.byteSize, actual: bytes.count, shape: shape, dtype: dtype)
        }
        let s = Storage(uninitializedByteCount: bytes.count)
        if bytes.count > 0 { s.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        self.init(storage: s, shape: shape, dtype: dtype)
    }

    /// A contiguous tensor over existing storage (for example a memory-mapped checkpoint), without copying.
    public init(storage: Storage, byteOffset: Int, shape: [Int], dtype: DType) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorError.invalidShape(shape) }
        let n = shape.reduce(1, *)
        guard byteOffset >= 0, byteOffset % dtype.byteSize == 0,
              byteOffset + n * dtype.byteSize <= storage.byteCount else {
            throw TensorError.byteCountMismatch(expected: n * dtype.byteSize, actual: storage.byteCount - byteOffset,
                                                shape: shape, dtype: dtype)
        }
        self.init(shape: shape, strides: Tensor.contiguousStrides(for: shape), offset: byteOffset / dtype.byteSize,
                  dtype: dtype, storage: storage, node: nil)
    }

    // MARK: Reading values

    /// The elements in row-major order, converted to `Float`.
    public func toArray() -> [Float] { doubles().map { Float($0) } }

    /// The elements in row-major order as `Float` (fast path for float32).
    public func floats() -> [Float] {
        if dtype == .float32 {
            let c = contiguous()
            return withExtendedLifetime(c) {
                Array(UnsafeBufferPointer(start: c.storage.pointer.assumingMemoryBound(to: Float.self) + c.offset, count: count))
            }
        }
        return toArray()
    }

    /// The elements in row-major order, converted to `Double`.
    public func doubles() -> [Double] {
        var out = [Double](repeating: 0, count: count)
        var i = 0
        StridedWalk.forEachOffset(shape: shape, strides: strides, offset: offset) { off in
            out[i] = ElementIO.load(storage.pointer, index: off, dtype: dtype)
            i += 1
        }
        return out
    }

    /// The elements as integers (indices); floats are truncated.
    public func ints() -> [Int] { doubles().map { Int($0) } }

    /// The value of a one-element tensor.
    public func item() -> Double {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return ElementIO.load(storage.pointer, index: offset, dtype: dtype)
    }

    /// The element at `index` (one coordinate per dimension).
    public subscript(element index: [Int]) -> Double {
        precondition(index.count == rank, "subscript: \(index.count) indices for shape \(shape)")
        var off = offset
        for (d, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[d], "subscript: index \(index) out of range for shape \(shape)")
            off += i * strides[d]
        }
        return ElementIO.load(storage.pointer, index: off, dtype: dtype)
    }

    /// The raw bytes of the elements in row-major order.
    public func bytes() -> [UInt8] {
        let c = contiguous()
        return withExtendedLifetime(c) {
            Array(UnsafeRawBufferPointer(start: c.storage.pointer + c.offset * dtype.byteSize, count: count * dtype.byteSize))
        }
    }
}

/// Errors for tensors built from user data. Misuse of tensor math traps instead (a programmer error).
public enum TensorError: Error, Equatable, Sendable {
    /// The number of values does not fill the shape.
    case elementCountMismatch(expected: Int, actual: Int, shape: [Int])
    /// The number of bytes does not fill the shape for the dtype.
    case byteCountMismatch(expected: Int, actual: Int, shape: [Int], dtype: DType)
    /// A shape with a negative dimension.
    case invalidShape([Int])
    /// A linear-algebra routine did not converge or met a singular matrix.
    case linearAlgebra(routine: String, info: Int)
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = count <= 16 ? doubles().map { String(format: "%.5g", $0) }.joined(separator: ", ") : "…"
        return "Tensor(\(dtype), \(shape)) [\(values)]"
    }
}
