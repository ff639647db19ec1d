// Unicode character classes used by the hand-written pre-tokenizer scanners.
// Follows the meaning Oniguruma (the regex engine inside HF tokenizers) gives to `\p{L}`, `\p{N}`,
// `\s` and `\w`, and Rust's `char::is_whitespace` / `is_numeric` / `is_alphanumeric`.
// ASCII goes through a lookup table; everything else asks `Unicode.Scalar.Properties`.

/// The coarse class of one Unicode scalar, as the split regexes see it.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other
}

enum UnicodeClasses {
    private static let asciiTable: [ScalarClass] = (0..<128).map { v in
        let u = UInt8(v)
        switch u {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }

    /// Class of a scalar: `\p{L}`, `\p{N}`, `\s` (Unicode White_Space) or anything else.
    @inline(__always)
    static func classify(_ value: UInt32) -> ScalarClass {
        if value < 128 { return asciiTable[Int(value)] }
        guard let scalar = Unicode.Scalar(value) else { return .other }
        return classifySlow(scalar)
    }

    static func classifySlow(_ scalar: Unicode.Scalar) -> ScalarClass {
        let p = scalar.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace }

    static func isNumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Rust's `char::is_alphanumeric`: Alphabetic or Numeric.
    static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic || isNumeric(s)
    }

    /// Oniguruma's `\w`: Alphabetic, marks, decimal digits, connector punctuation, joiners.
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        if s.value < 128 {
            return asciiTable[Int(s.value)] == .letter || asciiTable[Int(s.value)] == .number
                || s == "_"
        }
        let p = s.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return s.value == 0x200C || s.value == 0x200D
        }
    }

    /// BERT's punctuation test: ASCII punctuation or any Unicode `P*` category.
    static func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v)
            || (123...126).contains(v)
        {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// BERT's control test (`\t`, `\n`, `\r` count as whitespace, not control).
    static func isBertControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse: return true
        default: return false
        }
    }

    /// BERT's whitespace test: space, tab, newline, carriage return or category Zs.
    static func isBertWhitespace(_ s: Unicode.Scalar) -> Bool {
        if s == " " || s == "\t" || s == "\n" || s == "\r" { return true }
        return s.properties.generalCategory == .spaceSeparator
    }

    /// The CJK Unified Ideograph blocks BERT pads with spaces.
    static func isChineseCharacter(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
            0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
