// Re-quantization after merging an adapter into a quantized weight (QLoRA-style bases loaded from GGUF):
// the merged weight W' = dequant(Q) + ΔW is computed in float32 and quantized again in Q's own block
// format (Q8_0, Q4_0, Q4_1) with ggml's reference round-to-nearest quantizers, so a merged model keeps
// its quantized size. The error against the float merge is bounded per 32-weight block by the format's
// step (`stepBound`); unmerge restores the original blocks exactly (they are kept, not re-derived).
// Reference: ggml-quants.c quantize_row_q8_0_ref / q4_0_ref / q4_1_ref (ScionCheckpoint's
// GGMLQuantization.quantize follows them bit for bit); PEFT's advice for merging into quantized bases
// (dequantize, merge, re-quantize; ANCHORS.md §1.4 item 1).

import Foundation
import ScionCheckpoint
import ScionNN
import ScionTensor

/// Quantizing merged weights back to a block format, and the format's error bound.
public enum QuantizedMerge {
    /// The GGML type of a ``QuantizationFormat``.
    public static func ggmlType(_ format: QuantizationFormat) -> GGMLType {
        switch format {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        }
    }

    /// `w` [rows, columns] quantized to `format` (columns a multiple of 32).
    ///
    /// - Throws: ``AdapterError/invalidConfig(method:rule:)`` when `w` is not a matrix whose columns
    ///   split into 32-weight blocks.
    public static func quantize(_ w: Tensor, format: QuantizationFormat) throws -> QuantizedMatrix {
        guard w.rank == 2, w.shape[1] % format.blockSize == 0 else {
            throw AdapterError.invalidConfig(method: "merge", rule:
                "a \(format.rawValue) weight needs a matrix whose columns are a multiple of 32, got \(w.shape)")
        }
        let bytes = GGMLQuantization.quantize(w.cast(.float32).contiguous().floats(), as: ggmlType(format))
        let storage = Storage(byteCount: bytes.count)
        bytes.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return try QuantizedMatrix(format: format, rows: w.shape[0], columns: w.shape[1], storage: storage, byteOffset: 0)
    }

    /// The largest |dequant(quantize(x)) − x| `format` allows over one 32-value block `x`: half a step
    /// for round-to-nearest (Q8_0: step max|x|/127; Q4_1: step (max − min)/15), a whole step for Q4_0
    /// (step max|x|/8: the value opposite the extreme is clamped from +8 to +7), plus the rounding of
    /// the float16 scale (and Q4_1's float16 minimum).
    public static func stepBound(_ x: [Float], format: QuantizationFormat) -> Float {
        let halfULP: Float = 0x1p-11, tiny: Float = 128 * 0x1p-24   // f16 relative and subnormal rounding
        let amax = x.reduce(0) { max($0, abs($1)) }
        switch format {
        case .q8_0:
            let d = amax / 127
            return d / 2 + 127 * d * halfULP + tiny
        case .q4_0:
            let d = amax / 8
            return d + 8 * d * halfULP + tiny
        case .q4_1:
            let lo = x.min() ?? 0, hi = x.max() ?? 0
            let d = (hi - lo) / 15
            return d / 2 + 15 * d * halfULP + abs(lo) * halfULP + 2 * tiny
        }
    }
}
