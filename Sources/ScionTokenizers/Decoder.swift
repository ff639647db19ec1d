// Decoders: turn a list of token strings back into text.
// Follows HF tokenizers' decoders (byte_level.rs, wordpiece.rs, metaspace.rs, byte_fallback.rs,
// fuse.rs, strip.rs, replace via normalizers/replace.rs, bpe.rs, sequence.rs): each step maps a
// token list to a token list, and the final list is concatenated.

/// One decoding step.
indirect enum Decoder: Sendable {
    case byteLevel
    case wordPiece(prefix: String, cleanup: Bool)
    case metaspace(replacement: String, prependScheme: PrependScheme)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(pattern: TextPattern, content: String)
    case bpe(suffix: String)
    case sequence([Decoder])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                if let b = ByteLevel.decode(t) { bytes += b } else { bytes += Array(t.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { i, token in
                var t = token
                if i != 0 {
                    if t.utf8HasPrefix(prefix) { t = t.droppingUTF8Prefix(prefix) } else { t = " " + t }
                }
                return cleanup ? Decoder.cleanup(t) : t
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, token in
                let dropAll = i == 0 && scheme != .never
                return token.replacingAll(replacement, with: dropAll ? "" : " ")
            }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) {
                    out.append(s)
                } else {
                    out += [String](repeating: "\u{FFFD}", count: pending.count)
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Decoder.parseByteToken(t) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                var chars = Substring(token).unicodeScalars
                var k = 0
                while k < start, chars.first == content { chars.removeFirst(); k += 1 }
                k = 0
                while k < stop, chars.last == content { chars.removeLast(); k += 1 }
                return String(chars)
            }
        case let .replace(pattern, content):
            return tokens.map { pattern.replacingMatches(in: $0, with: content) }
        case let .bpe(suffix):
            return tokens.enumerated().map { i, t in
                t.replacingAll(suffix, with: i == tokens.count - 1 ? "" : " ")
            }
        case let .sequence(steps):
            var t = tokens
            for step in steps { t = step.decodeChain(t) }
            return t
        }
    }

    /// `<0xNN>` -> NN.
    static func parseByteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    /// BERT's `cleanup`: undo the spaces WordPiece decoding puts before punctuation and clitics.
    static func cleanup(_ s: String) -> String {
        var t = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                       (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"),
                       (" 've", "'ve"), (" 're", "'re")] {
            t = t.replacingAll(a, with: b)
        }
        return t
    }
}
