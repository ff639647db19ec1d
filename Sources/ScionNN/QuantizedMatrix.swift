// A weight matrix kept in GGML block-quantized form (Q8_0, Q4_0, Q4_1), so a quantized model uses
// quantized memory. Rows run along the input dimension (GGUF's ne[0]) in blocks of 32 weights:
//   Q8_0  34 B: d:f16, q[32]:i8                 x = d·q
//   Q4_0  18 B: d:f16, qs[16]:u8                x = d·(nibble − 8)
//   Q4_1  20 B: d:f16, m:f16, qs[16]:u8         x = d·nibble + m
// (low nibbles give elements 0–15, high nibbles 16–31). Follows ggml's reference layouts.

import Foundation
import ScionTensor

/// The block formats a ``QuantizedMatrix`` can hold.
public enum QuantizationFormat: String, Sendable, CaseIterable {
    case q8_0 = "Q8_0", q4_0 = "Q4_0", q4_1 = "Q4_1"

    /// Weights per block.
    public var blockSize: Int { 32 }
    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        }
    }
}

/// A [rows, columns] matrix of quantized blocks (each row holds columns/32 blocks), read-only.
public final class QuantizedMatrix: @unchecked Sendable {
    public let format: QuantizationFormat
    /// Output features (HF `out_features`).
    public let rows: Int
    /// Input features; a multiple of 32.
    public let columns: Int
    let storage: Storage
    let byteOffset: Int

    /// Bytes per row.
    public var rowBytes: Int { columns / format.blockSize * format.blockBytes }
    /// Total bytes of the blocks.
    public var byteCount: Int { rows * rowBytes }

    /// Wraps blocks held in `storage` at `byteOffset` (for example a memory-mapped GGUF tensor).
    public init(format: QuantizationFormat, rows: Int, columns: Int, storage: Storage, byteOffset: Int) throws {
        guard rows >= 0, columns >= 0, columns % format.blockSize == 0 else {
            throw ModuleError.incompatibleQuantizedWeight(
                key: "", reason: "\(format.rawValue) needs columns divisible by 32, got [\(rows), \(columns)]")
        }
        self.format = format; self.rows = rows; self.columns = columns
        self.storage = storage; self.byteOffset = byteOffset
        guard byteOffset >= 0, byteOffset + rows * (columns / 32) * format.blockBytes <= storage.byteCount else {
            throw ModuleError.incompatibleQuantizedWeight(key: "", reason: "blocks extend past the end of their storage")
        }
    }

    /// Pointer to the first block of `row`.
    @inline(__always) func rowPointer(_ row: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(storage.pointer + byteOffset + row * rowBytes)
    }

    /// Dequantizes one row into `out` (`columns` floats).
    public func dequantizeRow(_ row: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows, "QuantizedMatrix.dequantizeRow: row \(row) of \(rows)")
        let p = rowPointer(row)
        for b in 0..<(columns / 32) {
            let block = p + b * format.blockBytes
            let o = out + b * 32
            let d = HalfConversion.float(fromHalf: block.loadUnaligned(as: UInt16.self))
            switch format {
            case .q8_0:
                let q = block.advanced(by: 2).assumingMemoryBound(to: Int8.self)
                for j in 0..<32 { o[j] = d * Float(q[j]) }
            case .q4_0:
                let q = block.advanced(by: 2).assumingMemoryBound(to: UInt8.self)
                for j in 0..<16 {
                    o[j] = d * Float(Int(q[j] & 0xF) - 8)
                    o[j + 16] = d * Float(Int(q[j] >> 4) - 8)
                }
            case .q4_1:
                let m = HalfConversion.float(fromHalf: block.advanced(by: 2).loadUnaligned(as: UInt16.self))
                let q = block.advanced(by: 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<16 {
                    o[j] = d * Float(q[j] & 0xF) + m
                    o[j + 16] = d * Float(q[j] >> 4) + m
                }
            }
        }
    }

    /// The whole matrix as float32 [rows, columns].
    public func dequantized() -> Tensor {
        var values = [Float](repeating: 0, count: rows * columns)
        values.withUnsafeMutableBufferPointer { buf in
            for r in 0..<rows { dequantizeRow(r, into: buf.baseAddress! + r * columns) }
        }
        return Tensor(values, shape: [rows, columns])
    }

    /// Selected rows as float32 [indices.count, columns] (embedding lookup).
    public func gatherRows(_ indices: [Int]) -> Tensor {
        var values = [Float](repeating: 0, count: indices.count * columns)
        values.withUnsafeMutableBufferPointer { buf in
            for (i, r) in indices.enumerated() { dequantizeRow(r, into: buf.baseAddress! + i * columns) }
        }
        return Tensor(values, shape: [indices.count, columns])
    }

    /// A copy whose row `i` is this matrix's row `order[i]`, still quantized (blocks are copied, not
    /// dequantized). Rows are independent, so this is exact; GGUF Q/K un-permutation uses it.
    public func rowsPermuted(_ order: [Int]) -> QuantizedMatrix {
        precondition(order.count == rows && order.allSatisfy { $0 >= 0 && $0 < rows },
                     "QuantizedMatrix.rowsPermuted: \(order.count) indices for \(rows) rows")
        let s = Storage(byteCount: max(1, byteCount))
        for (i, r) in order.enumerated() {
            (s.pointer + i * rowBytes).copyMemory(from: rowPointer(r), byteCount: rowBytes)
        }
        // Same format and shape over a buffer of exactly the right size: cannot fail.
        return try! QuantizedMatrix(format: format, rows: rows, columns: columns, storage: s, byteOffset: 0)
    }

    /// Inputs with at most this many rows use the fused dequantize-dot kernel; more rows dequantize
    /// tiles of weights and call the BLAS GEMM (measured crossover on the project's machine: see
    /// QuantizedMatmulTests / the decode measurement in the llama report).
    public static let fusedRowLimit = 4

    /// x [N, columns] × Wᵀ → [N, rows] without dequantizing the whole matrix.
    ///
    /// Small N (decoding) runs a fused dequantize-dot per weight row, split over threads by rows;
    /// each output element is computed by one thread in a fixed order, so results do not depend on
    /// the thread count. Large N (prefill) dequantizes tiles of rows and multiplies them with GEMM.
    public func matmulTransposed(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == columns && x.dtype == .float32,
                     "QuantizedMatrix.matmul: input \(x.shape) (\(x.dtype)) for weight [\(rows), \(columns)]")
        let n = x.shape[0]
        if n == 0 || rows == 0 { return Tensor.zeros([n, rows]) }
        if n <= Self.fusedRowLimit { return fusedMatmul(x.contiguous(), n: n) }
        return tiledMatmul(x, n: n)
    }

    /// Prefill path: dequantize `tile` rows at a time (in parallel) and multiply with GEMM.
    func tiledMatmul(_ x: Tensor, n: Int) -> Tensor {
        let tile = max(64, min(rows, (1 << 20) / max(columns, 1)))   // ≤ ~4 MB of f32 per tile
        var parts: [Tensor] = []
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tile)
            let s = Storage(byteCount: (r1 - r0) * columns * 4)
            let base = UnsafeSendablePointer(s.pointer.assumingMemoryBound(to: Float.self))
            Self.parallelRows(r1 - r0) { range in
                for r in range { self.dequantizeRow(r0 + r, into: base.pointer + r * self.columns) }
            }
            // The storage has exactly the tile's bytes, so the view cannot fail.
            let w = try! Tensor(storage: s, byteOffset: 0, shape: [r1 - r0, columns], dtype: .float32)
            parts.append(x.matmul(w.matrixTransposed))   // [N, tile]
            r0 = r1
        }
        return parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 1)
    }

    /// Decode path: y[i, r] = Σ_b d_b · (q_b · x_i,b) (+ m_b · Σ x_i,b for Q4_1), SIMD over each block.
    func fusedMatmul(_ x: Tensor, n: Int) -> Tensor {
        let blocks = columns / 32
        let out = Storage(byteCount: n * rows * 4)
        let o = UnsafeSendablePointer(out.pointer.assumingMemoryBound(to: Float.self))
        withExtendedLifetime(x) {
            let xp = UnsafeSendablePointer((x.storage.pointer + x.offset * 4).assumingMemoryBound(to: Float.self))
            // Per (input row, block) sums of x, for the Q4_1 minimum and the Q4_0 offset.
            var xsum = [Float](repeating: 0, count: n * blocks)
            for i in 0..<n {
                for b in 0..<blocks {
                    var s: Float = 0
                    for j in 0..<32 { s += xp.pointer[i * columns + b * 32 + j] }
                    xsum[i * blocks + b] = s
                }
            }
            xsum.withUnsafeBufferPointer { sums in
                let sp = UnsafeSendablePointer(UnsafeMutablePointer(mutating: sums.baseAddress!))
                switch format {
                case .q8_0: fusedRows(Q8_0Kernel.self, x: xp.pointer, sums: sp.pointer, n: n, out: o.pointer)
                case .q4_0: fusedRows(Q4_0Kernel.self, x: xp.pointer, sums: sp.pointer, n: n, out: o.pointer)
                case .q4_1: fusedRows(Q4_1Kernel.self, x: xp.pointer, sums: sp.pointer, n: n, out: o.pointer)
                }
            }
        }
        // Exactly n·rows floats: cannot fail.
        return try! Tensor(storage: out, byteOffset: 0, shape: [n, rows], dtype: .float32)
    }

    func fusedRows<K: BlockKernel>(_: K.Type, x: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                                   n: Int, out: UnsafeMutablePointer<Float>) {
        let blocks = columns / 32, cols = columns, bytes = K.blockBytes, rowBytes = self.rowBytes
        let base = UnsafeRawPointer(storage.pointer + byteOffset)
        let xs = UnsafeSendablePointer(x), ss = UnsafeSendablePointer(sums), os = UnsafeSendablePointer(out)
        let basePtr = UnsafeSendableRawPointer(base)
        Self.parallelRows(rows) { range in
            let x = UnsafeRawPointer(xs.pointer), sums = ss.pointer, out = os.pointer
            if n == 1 {
                for r in range {
                    let row = basePtr.pointer + r * rowBytes
                    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
                    var offset: Float = 0
                    for b in 0..<blocks {
                        let (w0, w1, w2, w3, d, m) = K.decode(row + b * bytes)
                        let xb = x + b * 128
                        let p: SIMD8<Float> = w0 * xb.loadUnaligned(as: SIMD8<Float>.self)
                            + w1 * xb.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        let q: SIMD8<Float> = w2 * xb.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                            + w3 * xb.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        acc0 += d * p
                        acc1 += d * q
                        offset += m * sums[b]
                    }
                    out[r] = (acc0 + acc1).sum() + offset
                }
                return
            }
            var acc = [SIMD8<Float>](repeating: SIMD8<Float>(), count: n)
            var offsets = [Float](repeating: 0, count: n)
            for r in range {
                let row = basePtr.pointer + r * rowBytes
                for i in 0..<n { acc[i] = SIMD8<Float>(); offsets[i] = 0 }
                for b in 0..<blocks {
                    let (w0, w1, w2, w3, d, m) = K.decode(row + b * bytes)
                    for i in 0..<n {
                        let xb = x + (i * cols + b * 32) * 4
                        let p: SIMD8<Float> = w0 * xb.loadUnaligned(as: SIMD8<Float>.self)
                            + w1 * xb.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        let q: SIMD8<Float> = w2 * xb.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                            + w3 * xb.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                        acc[i] += d * (p + q)
                        offsets[i] += m * sums[i * blocks + b]
                    }
                }
                for i in 0..<n { out[i * self.rows + r] = acc[i].sum() + offsets[i] }
            }
        }
    }

    /// Splits `count` rows into contiguous chunks over ``ComputeSettings/threadCount`` threads.
    static func parallelRows(_ count: Int, _ body: (Range<Int>) -> Void) {
        let threads = ComputeSettings.threadCount
        let chunks = min(threads, max(1, count / 16))
        if chunks <= 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableClosure(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                box.body(count * c / chunks..<count * (c + 1) / chunks)
            }
        }
    }
}

/// Decodes one block into 32 unscaled weights (4 × SIMD8), its scale d and its additive term m, so
/// that a block's contribution to a dot product is d · (w · x) + m · Σx.
protocol BlockKernel {
    static var blockBytes: Int { get }
    static func decode(_ p: UnsafeRawPointer)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, Float, Float)
}

@inline(__always) private func halfAt(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    HalfConversion.float(fromHalf: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always) private func floats(_ v: SIMD8<UInt8>) -> SIMD8<Float> {
    SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v))
}

enum Q8_0Kernel: BlockKernel {
    static var blockBytes: Int { 34 }
    @inline(__always)
    static func decode(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, Float, Float) {
        let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
        func f(_ v: SIMD8<Int8>) -> SIMD8<Float> { SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v)) }
        return (f(q.lowHalf.lowHalf), f(q.lowHalf.highHalf), f(q.highHalf.lowHalf), f(q.highHalf.highHalf),
                halfAt(p, 0), 0)
    }
}

enum Q4_0Kernel: BlockKernel {
    static var blockBytes: Int { 18 }
    @inline(__always)
    static func decode(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, Float, Float) {
        let q = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        let d = halfAt(p, 0)
        // x = d·(nibble − 8): the −8·d·Σx term goes into m, with Σx supplied by the caller.
        return (floats(lo.lowHalf), floats(lo.highHalf), floats(hi.lowHalf), floats(hi.highHalf), d, -8 * d)
    }
}

enum Q4_1Kernel: BlockKernel {
    static var blockBytes: Int { 20 }
    @inline(__always)
    static func decode(_ p: UnsafeRawPointer) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, Float, Float) {
        let q = p.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        let lo = q & 0x0F, hi = q &>> 4
        return (floats(lo.lowHalf), floats(lo.highHalf), floats(hi.lowHalf), floats(hi.highHalf),
                halfAt(p, 0), halfAt(p, 2))
    }
}

/// Pointers carried into `concurrentPerform`; the kernels write disjoint rows.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

struct UnsafeSendableRawPointer: @unchecked Sendable {
    let pointer: UnsafeRawPointer
    init(_ pointer: UnsafeRawPointer) { self.pointer = pointer }
}

struct UnsafeSendableClosure<Body>: @unchecked Sendable {
    let body: Body
    init(_ body: Body) { self.body = body }
}
