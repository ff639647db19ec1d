// Float16 and BFloat16 conversions over all 65,536 bit patterns: widening is exact (checked
// against an independent decoding from the IEEE 754 field definitions), narrowing a widened value
// returns the same bits (NaNs stay NaN with the same sign), and narrowing rounds to nearest, ties
// to even, at every halfway point between neighbouring representable values.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

/// binary16 decoded from its fields: (−1)^s · 2^(e−15) · (1 + m/1024), subnormals 2^−14 · m/1024.
private func decodeHalf(_ h: UInt16) -> Double {
    let sign: Double = h & 0x8000 != 0 ? -1 : 1
    let e = Int((h >> 10) & 0x1F), m = Double(h & 0x3FF)
    if e == 0x1F { return m == 0 ? sign * .infinity : .nan }
    if e == 0 { return sign * m / 1024 * Foundation.pow(2, -14) }
    return sign * (1 + m / 1024) * Foundation.pow(2, Double(e - 15))
}

/// bfloat16 decoded from its fields: 8 exponent bits (bias 127), 7 mantissa bits.
private func decodeBFloat16(_ b: UInt16) -> Double {
    let sign: Double = b & 0x8000 != 0 ? -1 : 1
    let e = Int((b >> 7) & 0xFF), m = Double(b & 0x7F)
    if e == 0xFF { return m == 0 ? sign * .infinity : .nan }
    if e == 0 { return sign * m / 128 * Foundation.pow(2, -126) }
    return sign * (1 + m / 128) * Foundation.pow(2, Double(e - 127))
}

private func isHalfNaN(_ h: UInt16) -> Bool { h & 0x7C00 == 0x7C00 && h & 0x3FF != 0 }
private func isBFloat16NaN(_ b: UInt16) -> Bool { b & 0x7F80 == 0x7F80 && b & 0x7F != 0 }

struct HalfPrecisionTests {
    @Test func float16WideningIsExactForAllPatterns() {
        var failures: [String] = []
        for bits in 0...UInt16.max {
            let f = HalfConversion.float(fromHalf: bits), d = decodeHalf(bits)
            if d.isNaN {
                if !f.isNaN { failures.append(String(bits, radix: 16)) }
                else if (f.sign == .minus) != (bits & 0x8000 != 0) { failures.append("sign " + String(bits, radix: 16)) }
            } else if Double(f) != d || (d == 0 && (f.sign == .minus) != (bits & 0x8000 != 0)) {
                failures.append(String(bits, radix: 16))
            }
        }
        #expect(failures.isEmpty, "float16 widening wrong for \(failures.prefix(10))")
    }

    @Test func bfloat16WideningIsExactForAllPatterns() {
        var failures: [String] = []
        for bits in 0...UInt16.max {
            let f = HalfConversion.float(fromBFloat16: bits), d = decodeBFloat16(bits)
            if d.isNaN { if !f.isNaN { failures.append(String(bits, radix: 16)) } }
            else if Double(f) != d || (f.sign == .minus) != (bits & 0x8000 != 0) { failures.append(String(bits, radix: 16)) }
        }
        #expect(failures.isEmpty, "bfloat16 widening wrong for \(failures.prefix(10))")
    }

    @Test func narrowingAWidenedValueRoundTrips() {
        var failures: [String] = []
        for bits in 0...UInt16.max {
            let h = HalfConversion.half(fromFloat: HalfConversion.float(fromHalf: bits))
            if isHalfNaN(bits) {
                // NaN payloads may be canonicalised (quiet bit set); NaN-ness and sign must survive.
                if !isHalfNaN(h) || (h & 0x8000) != (bits & 0x8000) { failures.append("f16 " + String(bits, radix: 16)) }
            } else if h != bits { failures.append("f16 " + String(bits, radix: 16)) }
            let b = HalfConversion.bfloat16(fromFloat: HalfConversion.float(fromBFloat16: bits))
            if isBFloat16NaN(bits) {
                if !isBFloat16NaN(b) || (b & 0x8000) != (bits & 0x8000) { failures.append("bf16 " + String(bits, radix: 16)) }
            } else if b != bits { failures.append("bf16 " + String(bits, radix: 16)) }
        }
        #expect(failures.isEmpty, "round trip failed for \(failures.prefix(10))")
    }

    @Test func float16RoundsHalfwayCasesToEven() {
        var failures: [String] = []
        // Every pair of neighbours (h, h+1) among finite values of both signs, subnormals included.
        for sign: UInt16 in [0, 0x8000] {
            for h in UInt16(0)..<0x7BFF {
                let lo = sign | h, hi = sign | (h + 1)
                let a = Double(HalfConversion.float(fromHalf: lo)), b = Double(HalfConversion.float(fromHalf: hi))
                let mid = Float((a + b) / 2)                         // exact: 12 significant bits
                precondition(Double(mid) == (a + b) / 2)
                let even = (lo & 1) == 0 ? lo : hi
                if HalfConversion.half(fromFloat: mid) != even { failures.append("mid " + String(lo, radix: 16)) }
                // Just off the midpoint, rounding goes to the nearer neighbour.
                let toward = sign == 0 ? (mid.nextDown, mid.nextUp) : (mid.nextUp, mid.nextDown)
                if HalfConversion.half(fromFloat: toward.0) != lo { failures.append("below " + String(lo, radix: 16)) }
                if HalfConversion.half(fromFloat: toward.1) != hi { failures.append("above " + String(lo, radix: 16)) }
            }
        }
        // Above the largest finite value (65504): the halfway point 65520 ties to even, i.e. to ∞.
        #expect(HalfConversion.half(fromFloat: 65520) == 0x7C00)
        #expect(HalfConversion.half(fromFloat: Float(65520).nextDown) == 0x7BFF)
        #expect(HalfConversion.half(fromFloat: -65520) == 0xFC00)
        #expect(HalfConversion.half(fromFloat: 1e10) == 0x7C00)
        // Below the smallest subnormal (2^-24): 2^-25 ties to even, i.e. to zero.
        #expect(HalfConversion.half(fromFloat: 0x1p-25) == 0)
        #expect(HalfConversion.half(fromFloat: Float(0x1p-25).nextUp) == 1)
        #expect(HalfConversion.half(fromFloat: 0x1p-30) == 0 && HalfConversion.half(fromFloat: -0x1p-30) == 0x8000)
        #expect(failures.isEmpty, "float16 rounding wrong at \(failures.count) points, e.g. \(failures.prefix(10))")
    }

    @Test func bfloat16RoundsHalfwayCasesToEven() {
        var failures: [String] = []
        for sign: UInt16 in [0, 0x8000] {
            for b in UInt16(0)..<0x7F7F {
                let lo = sign | b, hi = sign | (b + 1)
                let lowBits = UInt32(lo) << 16
                let mid = Float(bitPattern: lowBits | 0x8000)        // halfway in the dropped 16 bits
                let even = (lo & 1) == 0 ? lo : hi
                if HalfConversion.bfloat16(fromFloat: mid) != even { failures.append("mid " + String(lo, radix: 16)) }
                if HalfConversion.bfloat16(fromFloat: Float(bitPattern: lowBits | 0x7FFF)) != lo {
                    failures.append("below " + String(lo, radix: 16))
                }
                if HalfConversion.bfloat16(fromFloat: Float(bitPattern: lowBits | 0x8001)) != hi {
                    failures.append("above " + String(lo, radix: 16))
                }
            }
        }
        // Halfway above the largest finite bfloat16 ties to even: ∞.
        #expect(HalfConversion.bfloat16(fromFloat: Float(bitPattern: 0x7F7F_8000)) == 0x7F80)
        #expect(HalfConversion.bfloat16(fromFloat: .nan) & 0x7F80 == 0x7F80)
        #expect(failures.isEmpty, "bfloat16 rounding wrong at \(failures.count) points, e.g. \(failures.prefix(10))")
    }

    @Test func tensorCastsUseTheSameConversions() {
        // All 65,536 patterns through Tensor(bytes:) and cast, for both 16-bit types.
        let patterns = (0...UInt16.max).map { $0 }
        for dtype in [DType.float16, .bfloat16] {
            let t = patterns.withUnsafeBytes { try? Tensor(bytes: $0, shape: [65536], dtype: dtype) }
            guard let t else { Issue.record("Tensor(bytes:) failed"); continue }
            let widened = t.cast(.float32).floats()
            let expected = patterns.map { dtype == .float16 ? HalfConversion.float(fromHalf: $0) : HalfConversion.float(fromBFloat16: $0) }
            #expect(zip(widened, expected).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
            // Narrowing back restores every pattern except NaN payloads.
            let back = t.cast(.float32).cast(dtype).bytes().withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
            let isNaN = dtype == .float16 ? isHalfNaN : isBFloat16NaN
            #expect(zip(back, patterns).allSatisfy { $0 == $1 || (isNaN($0) && isNaN($1)) })
            let narrowed = Tensor(widened, shape: [65536]).cast(dtype)
            #expect(narrowed.cast(.float32).floats().elementsEqual(widened) { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) })
        }
    }
}
