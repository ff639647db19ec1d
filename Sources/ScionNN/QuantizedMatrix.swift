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

    /// x [N, columns] × Wᵀ → [N, rows], dequantizing a block of rows at a time (never the whole matrix).
    public func matmulTransposed(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == columns && x.dtype == .float32,
                     "QuantizedMatrix.matmul: input \(x.shape) (\(x.dtype)) for weight [\(rows), \(columns)]")
        let n = x.shape[0]
        let tile = 128
        var parts: [Tensor] = []
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tile)
            var w = [Float](repeating: 0, count: (r1 - r0) * columns)
            w.withUnsafeMutableBufferPointer { buf in
                for r in r0..<r1 { dequantizeRow(r, into: buf.baseAddress! + (r - r0) * columns) }
            }
            parts.append(x.matmul(Tensor(w, shape: [r1 - r0, columns]).matrixTransposed))   // [N, tile]
            r0 = r1
        }
        if parts.isEmpty { return Tensor.zeros([n, 0]) }
        return parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 1)
    }
}
