// The GPT-2 byte-to-Unicode table: every byte maps to a printable scalar so that BPE vocabularies can
// be stored as text. Follows `bytes_to_unicode` in OpenAI's gpt-2 encoder.py (also used by HF
// tokenizers' ByteLevel pre-tokenizer and decoder): printable Latin-1 bytes map to themselves, the
// other 68 bytes to U+0100 onwards in byte order.

enum ByteLevel {
    /// `byteToScalar[b]` is the printable scalar that stands for byte `b`.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, keyed by scalar value.
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The byte-level form of a piece of text: one scalar per UTF-8 byte.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for b in bytes { view.append(byteToScalar[Int(b)]) }
        return String(view)
    }

    /// The bytes a byte-level token stands for, or nil if it has a scalar outside the table.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
