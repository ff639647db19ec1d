// Element access helpers: typed loads and stores by dtype, strided iteration over views, and the
// float protocol that generic kernels are specialized over (Float and Double).

import Foundation

/// Scalar access to raw storage by dtype. Slow-path helpers for creation, conversion and tests.
enum ElementIO {
    @inline(__always)
    static func load(_ p: UnsafeMutableRawPointer, index i: Int, dtype: DType) -> Double {
        switch dtype {
        case .float32: return Double(p.assumingMemoryBound(to: Float.self)[i])
        case .float64: return p.assumingMemoryBound(to: Double.self)[i]
        case .float16: return Double(HalfConversion.float(fromHalf: p.assumingMemoryBound(to: UInt16.self)[i]))
        case .bfloat16: return Double(HalfConversion.float(fromBFloat16: p.assumingMemoryBound(to: UInt16.self)[i]))
        case .int64: return Double(p.assumingMemoryBound(to: Int64.self)[i])
        case .int32: return Double(p.assumingMemoryBound(to: Int32.self)[i])
        case .uint8, .bool: return Double(p.assumingMemoryBound(to: UInt8.self)[i])
        }
    }

    @inline(__always)
    static func store(_ v: Double, to p: UnsafeMutableRawPointer, index i: Int, dtype: DType) {
        switch dtype {
        case .float32: p.assumingMemoryBound(to: Float.self)[i] = Float(v)
        case .float64: p.assumingMemoryBound(to: Double.self)[i] = v
        case .float16: p.assumingMemoryBound(to: UInt16.self)[i] = HalfConversion.half(fromFloat: Float(v))
        case .bfloat16: p.assumingMemoryBound(to: UInt16.self)[i] = HalfConversion.bfloat16(fromFloat: Float(v))
        case .int64: p.assumingMemoryBound(to: Int64.self)[i] = Int64(v)
        case .int32: p.assumingMemoryBound(to: Int32.self)[i] = Int32(v)
        case .uint8: p.assumingMemoryBound(to: UInt8.self)[i] = UInt8(clamping: Int(v))
        case .bool: p.assumingMemoryBound(to: UInt8.self)[i] = v != 0 ? 1 : 0
        }
    }

    static func fill(_ p: UnsafeMutableRawPointer, count n: Int, dtype: DType, value: Double) {
        switch dtype {
        case .float32: p.assumingMemoryBound(to: Float.self).initialize(repeating: Float(value), count: n)
        case .float64: p.assumingMemoryBound(to: Double.self).initialize(repeating: value, count: n)
        default: for i in 0..<n { store(value, to: p, index: i, dtype: dtype) }
        }
    }
}

/// Iteration over the element offsets of a strided view in row-major order.
enum StridedWalk {
    /// Calls `body` with the storage offset of every element, in row-major order.
    static func forEachOffset(shape: [Int], strides: [Int], offset: Int, _ body: (Int) -> Void) {
        let n = shape.reduce(1, *)
        if n == 0 { return }
        let rank = shape.count
        if rank == 0 { body(offset); return }
        var index = [Int](repeating: 0, count: rank)
        var off = offset
        let last = rank - 1
        let lastStride = strides[last], lastSize = shape[last]
        while true {
            var o = off
            for _ in 0..<lastSize { body(o); o += lastStride }
            // Advance the outer index (odometer).
            var d = last - 1
            while d >= 0 {
                index[d] += 1
                off += strides[d]
                if index[d] < shape[d] { break }
                off -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    /// Merges adjacent dimensions that are contiguous with each other in every operand, so loops run
    /// over as few, as long, dimensions as possible. Returns the merged shape and per-operand strides.
    static func coalesce(shape: [Int], strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        var s: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let lastSize = s.last, strides.indices.allSatisfy({ strides[$0][d] * shape[d] == st[$0].last! }) {
                _ = lastSize
                s[s.count - 1] *= shape[d]
                for k in strides.indices { st[k][st[k].count - 1] = strides[k][d] }
            } else {
                s.append(shape[d])
                for k in strides.indices { st[k].append(strides[k][d]) }
            }
        }
        if s.isEmpty { return ([1], strides.map { _ in [1] }) }
        return (s, st)
    }
}

/// The floating-point element types kernels are written over (`Float`, `Double`).
public protocol TensorFloat: BinaryFloatingPoint, SIMDScalar, Sendable, LosslessStringConvertible, Codable
where Self.RawSignificand: FixedWidthInteger {
    /// The ``DType`` of this Swift type.
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: TensorFloat {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) public static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    @inline(__always) public static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    @inline(__always) public static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: TensorFloat {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) public static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    @inline(__always) public static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

extension Tensor {
    /// Typed pointer to element [0, …] (the view's offset applied). Only valid while `self` is alive.
    @inline(__always)
    func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        storage.pointer.assumingMemoryBound(to: T.self) + offset
    }
}
