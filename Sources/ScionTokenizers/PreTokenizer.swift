// Pre-tokenizers: split normalized text into the words the model tokenizes one by one.
// Follows HF tokenizers' pre_tokenizers (byte_level.rs, split.rs, digits.rs, bert.rs, whitespace.rs,
// metaspace.rs, punctuation.rs, sequence.rs) and their SplitDelimiterBehavior semantics.
// Pieces are plain Strings (no offsets). ByteLevel both splits (GPT-2 regex) and maps bytes to the
// printable byte alphabet, so the pieces it emits are already in vocabulary form.

/// What a split does with the matched delimiters (HF `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// When Metaspace adds the replacement character in front of a word.
enum PrependScheme: String, Sendable {
    case always, first, never
}

/// One pre-tokenization step.
indirect enum PreTokenizer: Sendable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(pattern: TextPattern, behavior: SplitBehavior, invert: Bool)
    case digits(individual: Bool)
    case bert
    case whitespace
    case whitespaceSplit
    case punctuation(behavior: SplitBehavior)
    case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    case sequence([PreTokenizer])

    /// Splits each piece further. `isFirstSegment` is true when the pieces start the input (no
    /// added token before them), which Metaspace's `first` scheme needs.
    func preTokenize(_ pieces: [String], isFirstSegment: Bool) -> [String] {
        switch self {
        case let .sequence(steps):
            var p = pieces
            for step in steps { p = step.preTokenize(p, isFirstSegment: isFirstSegment) }
            return p
        case let .metaspace(replacement, scheme, split):
            var out: [String] = []
            for (k, piece) in pieces.enumerated() {
                var s = piece.replacingAll(" ", with: replacement)
                let prepend: Bool
                switch scheme {
                case .always: prepend = true
                case .first: prepend = isFirstSegment && k == 0
                case .never: prepend = false
                }
                if prepend && !s.utf8HasPrefix(replacement) { s = replacement + s }
                if split {
                    out += Self.splitting(s, at: TextPattern.literal(replacement).matchRanges(in: s),
                                          behavior: .mergedWithNext, invert: false)
                } else {
                    out.append(s)
                }
            }
            return out
        default:
            var out: [String] = []
            out.reserveCapacity(pieces.count * 4)
            for piece in pieces { splitOne(piece, into: &out) }
            return out
        }
    }

    private func splitOne(_ piece: String, into out: inout [String]) {
        switch self {
        case let .byteLevel(addPrefixSpace, useRegex):
            var s = piece
            if addPrefixSpace && s.utf8.first != 0x20 { s = " " + s }
            if useRegex {
                s.withUTF8 { buf in
                    for r in SplitScanner.gpt2.matches(in: buf) {
                        out.append(ByteLevel.encode(UnsafeBufferPointer(rebasing: buf[r])))
                    }
                }
            } else if !s.isEmpty {
                out.append(ByteLevel.encode(s.utf8))
            }
        case let .split(pattern, behavior, invert):
            out += Self.splitting(piece, at: pattern.matchRanges(in: piece), behavior: behavior,
                                  invert: invert)
        case let .digits(individual):
            out += Self.splitByScalar(piece, behavior: individual ? .isolated : .contiguous) {
                UnicodeClasses.isNumeric($0)
            }
        case let .punctuation(behavior):
            out += Self.splitByScalar(piece, behavior: behavior) { UnicodeClasses.isBertPunctuation($0) }
        case .bert:
            for word in Self.splitByScalar(piece, behavior: .removed, { $0.properties.isWhitespace }) {
                out += Self.splitByScalar(word, behavior: .isolated) {
                    UnicodeClasses.isBertPunctuation($0)
                }
            }
        case .whitespaceSplit:
            out += Self.splitByScalar(piece, behavior: .removed) { $0.properties.isWhitespace }
        case .whitespace:
            // `\w+|[^\w\s]+`: runs of word characters and runs of other non-space characters.
            var current = String.UnicodeScalarView()
            var currentIsWord = false
            for u in piece.unicodeScalars {
                if u.properties.isWhitespace {
                    if !current.isEmpty { out.append(String(current)); current = .init() }
                    continue
                }
                let w = UnicodeClasses.isWordCharacter(u)
                if !current.isEmpty && w != currentIsWord {
                    out.append(String(current))
                    current = .init()
                }
                currentIsWord = w
                current.append(u)
            }
            if !current.isEmpty { out.append(String(current)) }
        case .metaspace, .sequence:
            out += preTokenize([piece], isFirstSegment: false)
        }
    }

    /// Splits on every scalar satisfying `isDelimiter`, with HF's delimiter behaviors.
    static func splitByScalar(_ s: String, behavior: SplitBehavior,
                              _ isDelimiter: (Unicode.Scalar) -> Bool) -> [String] {
        var ranges: [Range<Int>] = []
        var offset = 0
        for u in s.unicodeScalars {
            let len = UTF8.width(u)
            if isDelimiter(u) { ranges.append(offset..<(offset + len)) }
            offset += len
        }
        if ranges.isEmpty { return s.isEmpty ? [] : [s] }
        return splitting(s, at: ranges, behavior: behavior, invert: false)
    }

    /// Cuts `s` around the matched byte ranges according to `behavior` (HF `NormalizedString::split`).
    static func splitting(_ s: String, at matches: [Range<Int>], behavior: SplitBehavior,
                          invert: Bool) -> [String] {
        let bytes = Array(s.utf8)
        // Every byte belongs to one segment, flagged as a match or not.
        var segments: [(Range<Int>, Bool)] = []
        var last = 0
        for m in matches {
            if m.lowerBound > last { segments.append((last..<m.lowerBound, invert)) }
            segments.append((m, !invert))
            last = m.upperBound
        }
        if last < bytes.count { segments.append((last..<bytes.count, invert)) }

        var pieces: [Range<Int>] = []
        switch behavior {
        case .removed:
            pieces = segments.filter { !$0.1 }.map { $0.0 }
        case .isolated:
            pieces = segments.map { $0.0 }
        case .contiguous:
            var previousMatch = false
            for (r, isMatch) in segments {
                if isMatch && previousMatch, let p = pieces.popLast() {
                    pieces.append(p.lowerBound..<r.upperBound)
                } else {
                    pieces.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for (r, isMatch) in segments {
                if isMatch && !previousMatch, let p = pieces.popLast() {
                    pieces.append(p.lowerBound..<r.upperBound)
                } else {
                    pieces.append(r)
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (r, isMatch) in segments {
                if !isMatch && previousMatch, let p = pieces.popLast() {
                    pieces.append(p.lowerBound..<r.upperBound)
                } else {
                    pieces.append(r)
                }
                previousMatch = isMatch
            }
        }
        return pieces.filter { !$0.isEmpty }.map { String(decoding: bytes[$0], as: UTF8.self) }
    }
}

extension String {
    /// Byte-wise prefix test. `hasPrefix` compares graphemes, so "##" is not a prefix of "##\u{940}".
    func utf8HasPrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Drops a byte-wise prefix (which must be present).
    func droppingUTF8Prefix(_ prefix: String) -> String {
        String(decoding: utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
    }

    /// Literal, byte-exact replacement (Foundation's version compares canonically equivalent text).
    func replacingAll(_ needle: String, with replacement: String) -> String {
        guard let first = needle.utf8.first, self.utf8.contains(first) else { return self }
        return TextPattern.literal(needle).replacingMatches(in: self, with: replacement)
    }
}
