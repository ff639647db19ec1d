// Block dequantizers for ggml types, and the round-to-nearest reference quantizers Scion writes.
// Follows ggml-quants.c (dequantize_row_* and quantize_row_*_ref) block for block, in the same order of
// float operations, so results match gguf-py's numpy dequantize bit for bit. Not SIMD-tuned: a later
// quantized matmul calls these per row (see GGUFTensor.dequantizeRow) or brings its own kernels.
// Layouts (all little-endian, f16 = IEEE half): see the per-type comments and FORMATS.md §4.

import ScionTensor

/// Dequantization and reference quantization of ggml blocks.
public enum GGMLQuantization {
    /// Dequantizes `count` elements of `type` from `source` (whole blocks) into `destination`.
    ///
    /// - Parameters:
    ///   - type: a type with ``GGMLType/canDequantize`` true (a precondition).
    ///   - source: the first block; need not be aligned.
    ///   - count: a multiple of `type.blockSize` (a precondition).
    ///   - destination: room for `count` floats.
    public static func dequantize(_ type: GGMLType, _ source: UnsafeRawPointer, count: Int,
                                  into destination: UnsafeMutablePointer<Float>) {
        precondition(type.canDequantize && count % type.blockSize == 0,
                     "dequantize: \(count) elements of \(type.name) (block \(type.blockSize))")
        let blocks = count / type.blockSize
        let size = type.blockByteCount
        switch type {
        case .f32:
            for i in 0..<count { destination[i] = Float(bitPattern: u32(source, 4 * i)) }
        case .f16:
            for i in 0..<count { destination[i] = HalfConversion.float(fromHalf: u16(source, 2 * i)) }
        case .bf16:
            for i in 0..<count { destination[i] = HalfConversion.float(fromBFloat16: u16(source, 2 * i)) }
        case .f64:
            for i in 0..<count { destination[i] = Float(Double(bitPattern: u64(source, 8 * i))) }
        case .i8:
            for i in 0..<count { destination[i] = Float(Int8(bitPattern: source.load(fromByteOffset: i, as: UInt8.self))) }
        case .i16:
            for i in 0..<count { destination[i] = Float(Int16(bitPattern: u16(source, 2 * i))) }
        case .i32:
            for i in 0..<count { destination[i] = Float(Int32(bitPattern: u32(source, 4 * i))) }
        case .i64:
            for i in 0..<count { destination[i] = Float(Int64(bitPattern: u64(source, 8 * i))) }
        default:
            for b in 0..<blocks {
                let block = source + b * size
                let out = destination + b * type.blockSize
                switch type {
                case .q4_0: q4_0(block, out)
                case .q4_1: q4_1(block, out)
                case .q5_0: q5_0(block, out)
                case .q5_1: q5_1(block, out)
                case .q8_0: q8_0(block, out)
                case .q2_K: q2_K(block, out)
                case .q3_K: q3_K(block, out)
                case .q4_K: q4_K(block, out)
                case .q5_K: q5_K(block, out)
                case .q6_K: q6_K(block, out)
                case .q8_K: q8_K(block, out)
                default: preconditionFailure("dequantize: \(type.name)")
                }
            }
        }
    }

    // MARK: Loads (unaligned, little-endian)

    @inline(__always) static func u8(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ i: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
    }
    @inline(__always) static func u32(_ p: UnsafeRawPointer, _ i: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self))
    }
    @inline(__always) static func u64(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
    }
    @inline(__always) static func f16(_ p: UnsafeRawPointer, _ i: Int) -> Float { HalfConversion.float(fromHalf: u16(p, i)) }

    // MARK: 32-element blocks

    /// Q4_0, 18 bytes: d:f16, qs[16]. x[j] = d·((qs[j] & 0xF) − 8), x[j+16] = d·((qs[j] >> 4) − 8).
    static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        for j in 0..<16 {
            let q = u8(b, 2 + j)
            y[j] = Float(Int(q & 0xF) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    /// Q4_1, 20 bytes: d:f16, m:f16, qs[16]. x = d·q + m, low nibbles first half, high nibbles second.
    static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), m = f16(b, 2)
        for j in 0..<16 {
            let q = u8(b, 4 + j)
            y[j] = Float(q & 0xF) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// Q5_0, 22 bytes: d:f16, qh:u32, qs[16]. Bit j of qh is the fifth bit of element j; x = d·(q − 16).
    static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), qh = u32(b, 2)
        for j in 0..<16 {
            let q = u8(b, 6 + j)
            let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
            let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int((q & 0xF) | h0) - 16) * d
            y[j + 16] = Float(Int((q >> 4) | h1) - 16) * d
        }
    }

    /// Q5_1, 24 bytes: d:f16, m:f16, qh:u32, qs[16]. x = d·q + m.
    static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), m = f16(b, 2), qh = u32(b, 4)
        for j in 0..<16 {
            let q = u8(b, 8 + j)
            let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
            let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
            y[j] = Float((q & 0xF) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    /// Q8_0, 34 bytes: d:f16, qs[32]:i8. x = d·q.
    static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: u8(b, 2 + j))) * d }
    }

    // MARK: 256-element K-quant blocks

    /// Q2_K, 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d:f16, dmin:f16.
    static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 80), dmin = f16(b, 82)
        var out = 0, scaleIndex = 0
        for half in 0..<2 {
            let q = 16 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let sc = u8(b, scaleIndex)
                    scaleIndex += 1
                    let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 { y[out + l] = dl * Float((u8(b, q + 16 * part + l) >> UInt8(shift)) & 3) - ml }
                    out += 16
                }
            }
        }
    }

    /// Q3_K, 110 bytes: hmask[32], qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales), d:f16.
    /// q = low2 − (high bit clear ? 4 : 0); x = d·(scale − 32)·q.
    static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 108)
        // Unpack the 12 scale bytes into sixteen 6-bit values (kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f).
        let a0 = u32(b, 96), a1 = u32(b, 100), tmp = u32(b, 104)
        let k1: UInt32 = 0x0303_0303, k2: UInt32 = 0x0F0F_0F0F
        let aux: [UInt32] = [
            (a0 & k2) | (((tmp >> 0) & k1) << 4),
            (a1 & k2) | (((tmp >> 2) & k1) << 4),
            ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4),
            ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4),
        ]
        var scales = [Int](repeating: 0, count: 16)
        for i in 0..<16 { scales[i] = Int(Int8(bitPattern: UInt8(truncatingIfNeeded: aux[i / 4] >> UInt32(8 * (i % 4))))) }
        var out = 0, scaleIndex = 0
        var mask: UInt8 = 1
        for half in 0..<2 {
            let q = 32 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0..<2 {
                    let dl = d * Float(scales[scaleIndex] - 32)
                    scaleIndex += 1
                    for l in 0..<16 {
                        let low = Int((u8(b, q + 16 * part + l) >> UInt8(shift)) & 3)
                        let high = (u8(b, 16 * part + l) & mask) != 0 ? 0 : 4
                        y[out + l] = dl * Float(low - high)
                    }
                    out += 16
                }
                mask <<= 1
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` from the 12 packed bytes at `s` (get_scale_min_k4).
    @inline(__always) static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (Float, Float) {
        if j < 4 { return (Float(u8(s, j) & 63), Float(u8(s, j + 4) & 63)) }
        let sc = (u8(s, j + 4) & 0xF) | ((u8(s, j - 4) >> 6) << 4)
        let m = (u8(s, j + 4) >> 4) | ((u8(s, j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// Q4_K, 144 bytes: d:f16, dmin:f16, scales[12], qs[128]. x = d·sc·q − dmin·m per 32-element sub-block.
    static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), dmin = f16(b, 2)
        let s = b + 4
        for chunk in 0..<4 {
            let (sc1, m1) = scaleMin(2 * chunk, s), (sc2, m2) = scaleMin(2 * chunk + 1, s)
            let d1 = d * sc1, dm1 = dmin * m1, d2 = d * sc2, dm2 = dmin * m2
            let q = 16 + 32 * chunk
            for l in 0..<32 {
                let v = u8(b, q + l)
                y[64 * chunk + l] = d1 * Float(v & 0xF) - dm1
                y[64 * chunk + 32 + l] = d2 * Float(v >> 4) - dm2
            }
        }
    }

    /// Q5_K, 176 bytes: d:f16, dmin:f16, scales[12], qh[32], qs[128]; fifth bits from qh, two per chunk.
    static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 0), dmin = f16(b, 2)
        let s = b + 4
        for chunk in 0..<4 {
            let (sc1, m1) = scaleMin(2 * chunk, s), (sc2, m2) = scaleMin(2 * chunk + 1, s)
            let d1 = d * sc1, dm1 = dmin * m1, d2 = d * sc2, dm2 = dmin * m2
            let u1 = UInt8(1) << UInt8(2 * chunk), u2 = UInt8(2) << UInt8(2 * chunk)
            let q = 48 + 32 * chunk
            for l in 0..<32 {
                let v = u8(b, q + l), h = u8(b, 16 + l)
                y[64 * chunk + l] = d1 * Float((v & 0xF) + (h & u1 != 0 ? 16 : 0)) - dm1
                y[64 * chunk + 32 + l] = d2 * Float((v >> 4) + (h & u2 != 0 ? 16 : 0)) - dm2
            }
        }
    }

    /// Q6_K, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16]:i8, d:f16. x = d·scale·(q − 32).
    static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = f16(b, 208)
        for half in 0..<2 {
            let ql = 64 * half, qh = 128 + 32 * half, sc = 192 + 8 * half
            let out = y + 128 * half
            for l in 0..<32 {
                let i = l / 16
                let h = u8(b, qh + l)
                let lo = u8(b, ql + l), hi = u8(b, ql + 32 + l)
                let q1 = Int((lo & 0xF) | ((h & 3) << 4)) - 32
                let q2 = Int((hi & 0xF) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((lo >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((hi >> 4) | (((h >> 6) & 3) << 4)) - 32
                func scale(_ k: Int) -> Float { d * Float(Int8(bitPattern: u8(b, sc + k))) }
                out[l] = scale(i) * Float(q1)
                out[l + 32] = scale(i + 2) * Float(q2)
                out[l + 64] = scale(i + 4) * Float(q3)
                out[l + 96] = scale(i + 6) * Float(q4)
            }
        }
    }

    /// Q8_K, 292 bytes: d:f32, qs[256]:i8, bsums[16]:i16 (sums for dot products, unused here). x = d·q.
    static func q8_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Float(bitPattern: u32(b, 0))
        for j in 0..<256 { y[j] = d * Float(Int8(bitPattern: u8(b, 4 + j))) }
    }
}
