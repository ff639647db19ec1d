// Element types of tensors, and exact conversions for the 16-bit storage types.
// float32 is the compute type, float64 the gradient-check type; float16 and bfloat16 are storage
// types (checkpoints, quantized weights) converted exactly: widening is exact, narrowing rounds to
// nearest, ties to even, as IEEE 754 and PyTorch's `.to(torch.bfloat16)` do.

/// The element type of a ``Tensor``.
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float32, float64, float16, bfloat16, int64, int32, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .uint8, .bool: return 1
        }
    }

    /// True for the types arithmetic runs in (``float32``, ``float64``).
    public var isComputeFloat: Bool { self == .float32 || self == .float64 }
    /// True for every floating-point type, storage types included.
    public var isFloatingPoint: Bool { isComputeFloat || self == .float16 || self == .bfloat16 }
    /// True for the integer index types.
    public var isInteger: Bool { self == .int64 || self == .int32 || self == .uint8 }

    public var description: String { rawValue }
}

/// Bit-exact conversions between `Float` and the IEEE half / bfloat16 formats.
public enum HalfConversion {
    /// Widens an IEEE binary16 bit pattern to `Float` exactly (subnormals, infinities, NaN payloads kept).
    @inlinable
    public static func float(fromHalf h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal half: value = mantissa · 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Narrows a `Float` to IEEE binary16 with round-to-nearest-even (overflow → ±inf, NaN stays NaN).
    @inlinable
    public static func half(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        var mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {  // inf or NaN: keep NaN-ness with a quiet bit.
            return sign | 0x7C00 | (mantissa != 0 ? UInt16(0x200 | (mantissa >> 13)) : 0)
        }
        let e = exponent - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            // Result is subnormal (or zero): shift the full significand into place and round.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            let halfway: UInt32 = 1 << (shift - 1)
            var result = mantissa >> shift
            let remainder = mantissa & ((1 << shift) - 1)
            if remainder > halfway || (remainder == halfway && (result & 1) == 1) { result += 1 }
            return sign | UInt16(result)
        }
        var result = UInt32(e) << 10 | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        // NOTE: a carry out of the mantissa correctly bumps the exponent (and can reach inf).
        if remainder > 0x1000 || (remainder == 0x1000 && (result & 1) == 1) { result += 1 }
        return sign | UInt16(result)
    }

    /// Widens a bfloat16 bit pattern to `Float` (exact: bfloat16 is the top half of a Float).
    @inlinable
    public static func float(fromBFloat16 b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// Narrows a `Float` to bfloat16 with round-to-nearest-even; NaN stays a quiet NaN.
    @inlinable
    public static func bfloat16(fromFloat f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
