// A weight matrix kept in GGML block-quantized form (Q8_0, Q4_0, Q4_1), so a quantized model uses
// quantized memory. Rows run along the input dimension (GGUF's ne[0]) in blocks of 32 weights:
//   Q8_0  34 B: d:f16, q[32]:i8                 x = d·q
//   Q4_0  18 B: d:f16, qs[16]:u8                x = d·(nibble − 8)
//   Q4_1  20 B: d:f16, m:f16, qs[16]:u8         x = d·nibble + m
// (low nibbles give elements 0–15, high nibbles 16–31). Follows ggml's reference layouts.
// matmulTransposed: for one input row (decoding) on x86-64, x rounded per block to int16 and an SSE2
// integer kernel (`pmaddwd`, exact int32 block sums); for 2-4 rows a fused dequantize-dot float kernel
// (SSE-width SIMD4); rows split over threads, results independent of the thread count; for more rows
// (prefill) dequantized row tiles + BLAS GEMM. The int16 kernel decoded SmolLM2-135M 2-2.6× faster than
// the float kernel (BENCHMARKS.md, Inference), with the same greedy tokens.

import Foundation
import CScionKernels
import ScionTensor
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

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

    /// The raw blocks, row after row (`byteCount` bytes in ggml's layout), for writers (GGUF).
    public var blockBytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(storage.pointer + byteOffset), count: byteCount))
    }

    /// Inputs with at most this many rows use the fused dequantize-dot kernel; more rows dequantize
    /// tiles of weights and call the BLAS GEMM (measured crossover on the project's machine: see
    /// QuantizedMatmulTests / the decode measurement in the llama report).
    public static let fusedRowLimit = 4

    /// Whether one-row inputs (decoding) use the int16 `pmaddwd` kernel on x86-64 (default) rather than the
    /// float kernel; a switch for benchmarks and accuracy comparisons, set before concurrent use.
    nonisolated(unsafe) public static var usesIntegerKernel = true

    /// Whether the integer kernel runs its AVX-512 form (CScionKernels) where the CPU has AVX-512 BW;
    /// false keeps the portable SSE2 form (same exact int32 block sums). For benchmarks and tests.
    nonisolated(unsafe) public static var usesWideKernel = true

    /// True when this CPU runs the AVX-512 integer kernel.
    public static let wideKernelAvailable: Bool = scion_quant_avx512_available() != 0

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
        #if arch(x86_64)
        if n == 1 && Self.usesIntegerKernel, let y = integerVectorProduct(x.contiguous()) { return y }
        #endif
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

    /// Decode path: y[i, r] = Σ_b d_b · (q_b · x_i,b) + m_b · Σ x_i,b, four lanes at a time.
    ///
    /// NOTE: a block's 32 quantized values are widened with 32-bit shifts and masks (native SSE2), which
    /// yields them in a strided order (lanes hold elements j, j+4, j+8, j+12); x is permuted once per call
    /// into that order (``BlockKernel/lane(_:)``), so the inner loop has no shuffles.
    func fusedMatmul(_ x: Tensor, n: Int) -> Tensor {
        let blocks = columns / 32
        let out = Storage(byteCount: n * rows * 4)
        let o = UnsafeSendablePointer(out.pointer.assumingMemoryBound(to: Float.self))
        // Permuted x [n, blocks, 32] and per-(row, block) sums of x (for Q4_1's minimum and Q4_0's −8).
        let permuted = Storage(byteCount: n * columns * 4)
        let xq = permuted.pointer.assumingMemoryBound(to: Float.self)
        var xsum = [Float](repeating: 0, count: n * blocks)
        let lanes: [Int] = (0..<32).map { k in
            switch format {
            case .q8_0: return Q8_0Kernel.lane(k)
            case .q4_0: return Q4_0Kernel.lane(k)
            case .q4_1: return Q4_1Kernel.lane(k)
            }
        }
        withExtendedLifetime(x) {
            let xp = (x.storage.pointer + x.offset * 4).assumingMemoryBound(to: Float.self)
            for i in 0..<n {
                for b in 0..<blocks {
                    let src = xp + i * columns + b * 32, dst = xq + i * columns + b * 32
                    var s: Float = 0
                    for j in 0..<32 { s += src[j]; dst[j] = src[lanes[j]] }
                    xsum[i * blocks + b] = s
                }
            }
        }
        xsum.withUnsafeBufferPointer { sums in
            let sp = UnsafeSendablePointer(UnsafeMutablePointer(mutating: sums.baseAddress!))
            let xs = UnsafeSendablePointer(xq)
            switch format {
            case .q8_0: fusedRows(Q8_0Kernel.self, x: xs, sums: sp, n: n, out: o)
            case .q4_0: fusedRows(Q4_0Kernel.self, x: xs, sums: sp, n: n, out: o)
            case .q4_1: fusedRows(Q4_1Kernel.self, x: xs, sums: sp, n: n, out: o)
            }
        }
        // Exactly n·rows floats: cannot fail.
        return try! Tensor(storage: out, byteOffset: 0, shape: [n, rows], dtype: .float32)
    }

    func fusedRows<K: BlockKernel>(_: K.Type, x xs: UnsafeSendablePointer, sums ss: UnsafeSendablePointer,
                                   n: Int, out os: UnsafeSendablePointer) {
        let blocks = columns / 32, cols = columns, rowBytes = self.rowBytes, rows = self.rows
        let basePtr = UnsafeSendableRawPointer(UnsafeRawPointer(storage.pointer + byteOffset))
        Self.parallelRows(rows) { range in
            let x = UnsafeRawPointer(xs.pointer), sums = ss.pointer, out = os.pointer
            if n == 1 {
                // Decoding: accumulators stay in registers.
                for r in range {
                    let row = basePtr.pointer + r &* rowBytes
                    var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>()
                    var offset: Float = 0
                    for b in 0..<blocks {
                        let block = row + b &* K.blockBytes
                        let w = K.decode(block)
                        let (d, m) = K.scales(block)
                        let xb = x + b &* 128
                        let (p, q) = blockDot(w, xb)
                        acc0 += d * p
                        acc1 += d * q
                        offset += m * sums[b]
                    }
                    out[r] = (acc0 + acc1).sum() + offset
                }
                return
            }
            let acc = UnsafeMutablePointer<SIMD4<Float>>.allocate(capacity: n)
            let offsets = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { acc.deallocate(); offsets.deallocate() }
            for r in range {
                let row = basePtr.pointer + r &* rowBytes
                for i in 0..<n { acc[i] = SIMD4<Float>(); offsets[i] = 0 }
                for b in 0..<blocks {
                    let block = row + b &* K.blockBytes
                    let w = K.decode(block)
                    let (d, m) = K.scales(block)
                    for i in 0..<n {
                        let xb = x + (i &* cols &+ b &* 32) &* 4
                        let (p, q) = blockDot(w, xb)
                        acc[i] += d * (p + q)
                        offsets[i] += m * sums[i &* blocks &+ b]
                    }
                }
                for i in 0..<n { out[i &* rows &+ r] = acc[i].sum() + offsets[i] }
            }
        }
    }

    #if arch(x86_64)
    /// Decode path for one input row (N = 1) with SSE2 integer multiply-adds (`pmaddwd`).
    ///
    /// x is quantized per block of 32 to int16 (scale s_b = max|x_b|/32767, relative error ≤ 2⁻¹⁶ of the
    /// block's largest value, 256× finer than the 8-bit x llama.cpp uses); then
    /// y[r] = Σ_b d_b·s_b·(q_b · x16_b) + m_b·Σx_b, with the integer dot product of a block in four
    /// `pmaddwd`s (exact in int32: |q| ≤ 127, |x16| ≤ 32767, 32 terms). Each row is computed by one thread
    /// in a fixed order, so results do not depend on the thread count. Nil when x has a non-finite value.
    func integerVectorProduct(_ x: Tensor) -> Tensor? {
        let blocks = columns / 32
        if Self.usesWideKernel && Self.wideKernelAvailable { return wideVectorProduct(x) }
        let xq = Storage(uninitializedByteCount: columns * 2)       // every block is written below
        var blockScales = [Float](repeating: 0, count: blocks), sums = [Float](repeating: 0, count: blocks)
        let finite: Bool = withExtendedLifetime(x) {
            let xp = (x.storage.pointer + x.offset * 4).assumingMemoryBound(to: Float.self)
            let q = xq.pointer.assumingMemoryBound(to: Int16.self)
            for b in 0..<blocks {
                let src = xp + b * 32
                var amax: Float = 0, sum: Float = 0
                for j in 0..<32 {
                    let v = src[j]
                    sum += v
                    let a = abs(v)
                    if !(a <= amax) { amax = a }          // NaN also lands here and fails the check below
                }
                guard amax.isFinite else { return false }
                let inverse: Float = amax > 0 ? 32767 / amax : 0
                for j in 0..<32 {
                    // Round to nearest (ties to even) without a libm call: for |v| < 2²², adding and
                    // subtracting 1.5·2²³ leaves v rounded to an integer.
                    var v = src[j] * inverse
                    v = (v + 12_582_912) - 12_582_912
                    q[b * 32 + j] = Int16(v > 32767 ? 32767 : (v < -32767 ? -32767 : v))
                }
                blockScales[b] = amax / 32767
                sums[b] = sum
            }
            return true
        }
        guard finite else { return nil }
        let out = Storage(uninitializedByteCount: rows * 4)         // every row is written by one thread
        let o = UnsafeSendablePointer(out.pointer.assumingMemoryBound(to: Float.self))
        blockScales.withUnsafeBufferPointer { sc in
            sums.withUnsafeBufferPointer { sm in
                let scales = UnsafeSendablePointer(UnsafeMutablePointer(mutating: sc.baseAddress!))
                let blockSums = UnsafeSendablePointer(UnsafeMutablePointer(mutating: sm.baseAddress!))
                let xs = UnsafeSendableRawPointer(UnsafeRawPointer(xq.pointer))
                switch format {
                case .q8_0: integerRows(Q8_0Kernel.self, x: xs, scales: scales, sums: blockSums, out: o)
                case .q4_0: integerRows(Q4_0Kernel.self, x: xs, scales: scales, sums: blockSums, out: o)
                case .q4_1: integerRows(Q4_1Kernel.self, x: xs, scales: scales, sums: blockSums, out: o)
                }
            }
        }
        withExtendedLifetime(xq) {}
        // Exactly rows floats: cannot fail.
        return try! Tensor(storage: out, byteOffset: 0, shape: [1, rows], dtype: .float32)
    }

    /// ``integerVectorProduct(_:)`` on the AVX-512 kernels (CScionKernels): x quantized and permuted
    /// into the kernel's order in one pass, then rows split over threads. The same int16 values and
    /// exact int32 block sums as the SSE2 path; block sums of x and the float accumulation order differ.
    func wideVectorProduct(_ x: Tensor) -> Tensor? {
        let blocks = columns / 32
        let code: Int32 = switch format { case .q8_0: 0; case .q4_0: 1; case .q4_1: 2 }
        let xq = Storage(uninitializedByteCount: columns * 2)                 // int16 [blocks, 32], kernel order
        let sidecar = Storage(uninitializedByteCount: max(1, blocks) * 8)     // scales [blocks], then sums [blocks]
        let scales = sidecar.pointer.assumingMemoryBound(to: Float.self), sums = scales + blocks
        let finite = withExtendedLifetime(x) {
            scion_quant_quantize_x_avx512(code, (x.storage.pointer + x.offset * 4).assumingMemoryBound(to: Float.self),
                                          Int32(blocks), xq.pointer.assumingMemoryBound(to: Int16.self), scales, sums) != 0
        }
        guard finite else { return nil }
        let out = Storage(uninitializedByteCount: rows * 4)                   // every row is written by one thread
        let o = UnsafeSendablePointer(out.pointer.assumingMemoryBound(to: Float.self))
        let (sp, mp) = (UnsafeSendablePointer(scales), UnsafeSendablePointer(sums))
        let px = UnsafeSendableRawPointer(UnsafeRawPointer(xq.pointer))
        let base = UnsafeSendableRawPointer(UnsafeRawPointer(storage.pointer + byteOffset))
        let rowBytes = self.rowBytes
        Self.parallelRows(rows) { range in
            scion_quant_rows_avx512(code, base.pointer.assumingMemoryBound(to: UInt8.self), rowBytes, Int32(blocks),
                                    px.pointer.assumingMemoryBound(to: Int16.self), sp.pointer, mp.pointer,
                                    o.pointer + range.lowerBound, Int32(range.lowerBound), Int32(range.upperBound))
        }
        withExtendedLifetime((xq, sidecar)) {}
        // Exactly rows floats: cannot fail.
        return try! Tensor(storage: out, byteOffset: 0, shape: [1, rows], dtype: .float32)
    }

    func integerRows<K: IntegerBlockKernel>(_: K.Type, x xs: UnsafeSendableRawPointer, scales ss: UnsafeSendablePointer,
                                            sums ms: UnsafeSendablePointer, out os: UnsafeSendablePointer) {
        let blocks = columns / 32, rowBytes = self.rowBytes
        let basePtr = UnsafeSendableRawPointer(UnsafeRawPointer(storage.pointer + byteOffset))
        Self.parallelRows(rows) { range in
            let x = xs.pointer, scales = ss.pointer, sums = ms.pointer, out = os.pointer
            var r = range.lowerBound
            // Two rows at a time share the loads of x.
            while r + 1 < range.upperBound {
                let row0 = basePtr.pointer + r &* rowBytes, row1 = row0 + rowBytes
                var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>()
                var offset0: Float = 0, offset1: Float = 0
                for b in 0..<blocks {
                    let xb = x + b &* 64
                    let x0 = xb.loadUnaligned(as: SIMD2<Int64>.self)
                    let x1 = xb.loadUnaligned(fromByteOffset: 16, as: SIMD2<Int64>.self)
                    let x2 = xb.loadUnaligned(fromByteOffset: 32, as: SIMD2<Int64>.self)
                    let x3 = xb.loadUnaligned(fromByteOffset: 48, as: SIMD2<Int64>.self)
                    let block0 = row0 + b &* K.blockBytes, block1 = row1 + b &* K.blockBytes
                    let p0 = _mm_cvtepi32_ps(K.dot(block0, x0, x1, x2, x3))
                    let p1 = _mm_cvtepi32_ps(K.dot(block1, x0, x1, x2, x3))
                    let (d0, m0) = K.scales(block0), (d1, m1) = K.scales(block1)
                    let s = scales[b], sum = sums[b]
                    acc0 += (d0 * s) * p0
                    acc1 += (d1 * s) * p1
                    offset0 += m0 * sum
                    offset1 += m1 * sum
                }
                out[r] = acc0.sum() + offset0
                out[r + 1] = acc1.sum() + offset1
                r += 2
            }
            if r < range.upperBound {
                let row = basePtr.pointer + r &* rowBytes
                var acc = SIMD4<Float>()
                var offset: Float = 0
                for b in 0..<blocks {
                    let xb = x + b &* 64
                    let block = row + b &* K.blockBytes
                    let p = _mm_cvtepi32_ps(K.dot(block, xb.loadUnaligned(as: SIMD2<Int64>.self),
                                                  xb.loadUnaligned(fromByteOffset: 16, as: SIMD2<Int64>.self),
                                                  xb.loadUnaligned(fromByteOffset: 32, as: SIMD2<Int64>.self),
                                                  xb.loadUnaligned(fromByteOffset: 48, as: SIMD2<Int64>.self)))
                    let (d, m) = K.scales(block)
                    acc += (d * scales[b]) * p
                    offset += m * sums[b]
                }
                out[r] = acc.sum() + offset
            }
        }
    }
    #endif

    /// Splits `count` rows into contiguous chunks over ``ComputeSettings/threadCount`` threads.
    static func parallelRows(_ count: Int, _ body: (Range<Int>) -> Void) {
        let threads = ComputeSettings.threadCount
        let chunks = min(threads, max(1, count / 16))
        if chunks <= 1 { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableClosure(body)
            parallelPerform(chunks) { c in
                box.body(count * c / chunks..<count * (c + 1) / chunks)
            }
        }
    }
}

/// Eight groups of four unscaled weights of one block, in the lane order of ``BlockKernel/lane(_:)``.
typealias BlockLanes = (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>,
                        SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)

/// The two partial sums (even and odd lane groups) of one decoded block times 32 floats at `xb`
/// (permuted as the lanes are); two accumulators keep the dependency chains short.
@inline(__always) func blockDot(_ w: BlockLanes, _ xb: UnsafeRawPointer) -> (SIMD4<Float>, SIMD4<Float>) {
    var p = w.0 * xb.loadUnaligned(as: SIMD4<Float>.self)
    p += w.1 * xb.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
    var q = w.2 * xb.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)
    q += w.3 * xb.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)
    p += w.4 * xb.loadUnaligned(fromByteOffset: 64, as: SIMD4<Float>.self)
    q += w.5 * xb.loadUnaligned(fromByteOffset: 80, as: SIMD4<Float>.self)
    p += w.6 * xb.loadUnaligned(fromByteOffset: 96, as: SIMD4<Float>.self)
    q += w.7 * xb.loadUnaligned(fromByteOffset: 112, as: SIMD4<Float>.self)
    return (p, q)
}

/// Decodes one block so that its contribution to a dot product is d · (w · x′) + m · Σx, where x′ is x
/// permuted by ``lane(_:)``.
protocol BlockKernel {
    static var blockBytes: Int { get }
    /// The block element held in position `k` of the decoded lanes (group k/4, lane k%4).
    static func lane(_ k: Int) -> Int
    static func decode(_ p: UnsafeRawPointer) -> BlockLanes
    static func scales(_ p: UnsafeRawPointer) -> (d: Float, m: Float)
}

/// IEEE half → float for the block scales: exact for zero, subnormals and normals (the 15-bit magnitude
/// shifted into a float's exponent and mantissa, rescaled by 2¹¹²); infinities and NaN go the slow way.
@inline(__always) private func halfAt(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    let h = p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
    if h & 0x7C00 == 0x7C00 { return HalfConversion.float(fromHalf: h) }
    let magnitude = Float(bitPattern: UInt32(h & 0x7FFF) << 13) * 0x1p112
    return h & 0x8000 == 0 ? magnitude : -magnitude
}

/// Nibble groups of 16 packed bytes (qs[j] low nibble = element j, high nibble = element j + 16):
/// group g = 4·high + byte-in-lane, lane L holds byte 4L + byte-in-lane.
@inline(__always) private func nibbleLanes(_ p: UnsafeRawPointer, _ offset: Int) -> BlockLanes {
    let v = p.loadUnaligned(fromByteOffset: offset, as: SIMD4<UInt32>.self)
    let mask = SIMD4<UInt32>(repeating: 0xF)
    @inline(__always) func f(_ shift: UInt32) -> SIMD4<Float> {
        SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: (v &>> shift) & mask))
    }
    return (f(0), f(8), f(16), f(24), f(4), f(12), f(20), f(28))
}

enum Q8_0Kernel: BlockKernel {
    static var blockBytes: Int { 34 }
    // Group g = 4·half + byte-in-lane; lane L holds byte 16·half + 4L + byte-in-lane.
    static func lane(_ k: Int) -> Int { let g = k / 4, l = k % 4; return (g / 4) * 16 + 4 * l + g % 4 }
    @inline(__always)
    static func decode(_ p: UnsafeRawPointer) -> BlockLanes {
        let a = p.loadUnaligned(fromByteOffset: 2, as: SIMD4<Int32>.self)
        let b = p.loadUnaligned(fromByteOffset: 18, as: SIMD4<Int32>.self)
        // Byte k of each lane, sign-extended: shift it to the top, then arithmetic-shift down.
        @inline(__always) func f(_ v: SIMD4<Int32>, _ k: Int32) -> SIMD4<Float> { SIMD4<Float>((v &<< (24 - 8 * k)) &>> 24) }
        return (f(a, 0), f(a, 1), f(a, 2), f(a, 3), f(b, 0), f(b, 1), f(b, 2), f(b, 3))
    }
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (d: Float, m: Float) { (halfAt(p, 0), 0) }
}

enum Q4_0Kernel: BlockKernel {
    static var blockBytes: Int { 18 }
    static func lane(_ k: Int) -> Int { let g = k / 4, l = k % 4; return (g / 4) * 16 + 4 * l + g % 4 }
    @inline(__always) static func decode(_ p: UnsafeRawPointer) -> BlockLanes { nibbleLanes(p, 2) }
    // x = d·(nibble − 8): the −8·d·Σx term is the additive part.
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (d: Float, m: Float) { let d = halfAt(p, 0); return (d, -8 * d) }
}

enum Q4_1Kernel: BlockKernel {
    static var blockBytes: Int { 20 }
    static func lane(_ k: Int) -> Int { let g = k / 4, l = k % 4; return (g / 4) * 16 + 4 * l + g % 4 }
    @inline(__always) static func decode(_ p: UnsafeRawPointer) -> BlockLanes { nibbleLanes(p, 4) }
    @inline(__always) static func scales(_ p: UnsafeRawPointer) -> (d: Float, m: Float) { (halfAt(p, 0), halfAt(p, 2)) }
}

#if arch(x86_64)
/// A block's integer dot product with 32 int16 values of x (in natural element order, four SSE registers):
/// four int32 partial sums whose total is q · x16 (q the unscaled weights; Q4_0's −8 is in its `scales`).
protocol IntegerBlockKernel: BlockKernel {
    static func dot(_ p: UnsafeRawPointer, _ x0: SIMD2<Int64>, _ x1: SIMD2<Int64>, _ x2: SIMD2<Int64>,
                    _ x3: SIMD2<Int64>) -> SIMD2<Int64>
}

/// Nibbles of 16 packed bytes (low = elements 0–15, high = 16–31) widened to int16 and multiplied with x.
@inline(__always) private func nibbleDot(_ p: UnsafeRawPointer, _ offset: Int, _ x0: SIMD2<Int64>, _ x1: SIMD2<Int64>,
                                         _ x2: SIMD2<Int64>, _ x3: SIMD2<Int64>) -> SIMD2<Int64> {
    let q = p.loadUnaligned(fromByteOffset: offset, as: SIMD2<Int64>.self)
    let mask = _mm_set1_epi8(0x0F), zero = _mm_setzero_si128()
    let lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask)
    let a = _mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), x0), _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), x1))
    let b = _mm_add_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), x2), _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), x3))
    return _mm_add_epi32(a, b)
}

extension Q8_0Kernel: IntegerBlockKernel {
    @inline(__always)
    static func dot(_ p: UnsafeRawPointer, _ x0: SIMD2<Int64>, _ x1: SIMD2<Int64>, _ x2: SIMD2<Int64>,
                    _ x3: SIMD2<Int64>) -> SIMD2<Int64> {
        let w0 = p.loadUnaligned(fromByteOffset: 2, as: SIMD2<Int64>.self)
        let w1 = p.loadUnaligned(fromByteOffset: 18, as: SIMD2<Int64>.self)
        // int8 → int16: each byte duplicated into a 16-bit lane, then arithmetic-shifted down.
        let a = _mm_add_epi32(_mm_madd_epi16(_mm_srai_epi16(_mm_unpacklo_epi8(w0, w0), 8), x0),
                              _mm_madd_epi16(_mm_srai_epi16(_mm_unpackhi_epi8(w0, w0), 8), x1))
        let b = _mm_add_epi32(_mm_madd_epi16(_mm_srai_epi16(_mm_unpacklo_epi8(w1, w1), 8), x2),
                              _mm_madd_epi16(_mm_srai_epi16(_mm_unpackhi_epi8(w1, w1), 8), x3))
        return _mm_add_epi32(a, b)
    }
}

extension Q4_0Kernel: IntegerBlockKernel {
    @inline(__always)
    static func dot(_ p: UnsafeRawPointer, _ x0: SIMD2<Int64>, _ x1: SIMD2<Int64>, _ x2: SIMD2<Int64>,
                    _ x3: SIMD2<Int64>) -> SIMD2<Int64> { nibbleDot(p, 2, x0, x1, x2, x3) }
}

extension Q4_1Kernel: IntegerBlockKernel {
    @inline(__always)
    static func dot(_ p: UnsafeRawPointer, _ x0: SIMD2<Int64>, _ x1: SIMD2<Int64>, _ x2: SIMD2<Int64>,
                    _ x3: SIMD2<Int64>) -> SIMD2<Int64> { nibbleDot(p, 4, x0, x1, x2, x3) }
}
#endif

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
