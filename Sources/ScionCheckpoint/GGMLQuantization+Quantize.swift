// Round-to-nearest reference quantizers for the types Scion writes: F32, F16, BF16, Q8_0, Q4_0, Q4_1.
// Follows ggml-quants.c quantize_row_q8_0_ref / q4_0_ref / q4_1_ref exactly (same float operations,
// same first-maximum tie rule), so the bytes equal gguf-py's `gguf.quants.quantize`. Not the
// importance-weighted (imatrix) quantizers of llama-quantize.

import ScionTensor

extension GGMLQuantization {
    /// The types ``quantize(_:as:)`` supports.
    public static let quantizableTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// Quantizes `values` (a whole number of blocks) to `type`'s block bytes.
    ///
    /// Non-finite inputs do not trap; they give unspecified (but in-range) codes.
    /// - Parameters:
    ///   - values: count a multiple of `type.blockSize` (a precondition).
    ///   - type: one of ``quantizableTypes`` (a precondition).
    /// - Returns: `values.count / blockSize · blockByteCount` bytes.
    public static func quantize(_ values: [Float], as type: GGMLType) -> [UInt8] {
        precondition(quantizableTypes.contains(type) && values.count % type.blockSize == 0,
                     "quantize: \(values.count) values to \(type.name)")
        var out: [UInt8] = []
        out.reserveCapacity(values.count / type.blockSize * type.blockByteCount)
        func put16(_ v: UInt16) { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
        switch type {
        case .f32:
            for v in values { let b = v.bitPattern; for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: b >> (8 * k))) } }
        case .f16:
            for v in values { put16(HalfConversion.half(fromFloat: v)) }
        case .bf16:
            for v in values { put16(HalfConversion.bfloat16(fromFloat: v)) }
        case .q8_0:
            for start in stride(from: 0, to: values.count, by: 32) {
                let x = values[start..<start + 32]
                var amax: Float = 0
                for v in x { amax = max(amax, abs(v)) }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                put16(HalfConversion.half(fromFloat: d))
                for v in x { out.append(UInt8(bitPattern: Int8(truncatingIfNeeded: clampedInt((v * id).rounded(.toNearestOrAwayFromZero))))) }
            }
        case .q4_0:
            for start in stride(from: 0, to: values.count, by: 32) {
                // The signed value of largest magnitude (first one on ties) maps to −8.
                var amax: Float = 0, maxValue: Float = 0
                for j in 0..<32 where amax < abs(values[start + j]) { amax = abs(values[start + j]); maxValue = values[start + j] }
                let d = maxValue / -8
                let id: Float = d != 0 ? 1 / d : 0
                put16(HalfConversion.half(fromFloat: d))
                for j in 0..<16 {
                    let q0 = min(15, clampedInt(values[start + j] * id + 8.5))
                    let q1 = min(15, clampedInt(values[start + 16 + j] * id + 8.5))
                    out.append(UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4)
                }
            }
        case .q4_1:
            for start in stride(from: 0, to: values.count, by: 32) {
                var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
                for j in 0..<32 { lo = min(lo, values[start + j]); hi = max(hi, values[start + j]) }
                let d = (hi - lo) / 15
                let id: Float = d != 0 ? 1 / d : 0
                put16(HalfConversion.half(fromFloat: d))
                put16(HalfConversion.half(fromFloat: lo))
                for j in 0..<16 {
                    let q0 = min(15, clampedInt((values[start + j] - lo) * id + 0.5))
                    let q1 = min(15, clampedInt((values[start + 16 + j] - lo) * id + 0.5))
                    out.append(UInt8(truncatingIfNeeded: q0) | UInt8(truncatingIfNeeded: q1) << 4)
                }
            }
        default:
            preconditionFailure("quantize: \(type.name)")
        }
        return out
    }

    /// C's `(int8_t)x` truncation for in-range values, clamped to 0…127 / −128 so NaN or ±inf cannot trap.
    @inline(__always) static func clampedInt(_ x: Float) -> Int {
        guard x.isFinite else { return 0 }
        return Int(max(-128, min(127, x)).rounded(.towardZero))
    }
}
