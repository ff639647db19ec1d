// Hand-written scanners for the three split regexes every byte-level BPE family uses.
// Each reproduces, alternative by alternative and with the same leftmost-first backtracking result,
//   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2:   the Llama 3 pattern with \p{N} instead of \p{N}{1,3}
// NSRegularExpression is deliberately not used here: on Linux it is far too slow for the hot path.

/// One of the split regexes Scion scans by hand.
enum SplitScanner: Sendable, Equatable {
    case gpt2
    case llama3
    case qwen2

    static let gpt2Pattern =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The scanner for a regex source string, or nil when the pattern is not one of the three.
    init?(pattern: String) {
        switch pattern {
        case Self.gpt2Pattern: self = .gpt2
        case Self.llama3Pattern: self = .llama3
        case Self.qwen2Pattern: self = .qwen2
        default: return nil
        }
    }

    /// The byte ranges of successive matches in `utf8`; together they cover the whole input.
    func matches(in utf8: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        // Decode once: scalar values, classes and the byte offset where each scalar starts.
        var vals: [UInt32] = []
        var cls: [ScalarClass] = []
        var starts: [Int] = []
        vals.reserveCapacity(utf8.count)
        cls.reserveCapacity(utf8.count)
        starts.reserveCapacity(utf8.count + 1)
        var p = 0
        let count = utf8.count
        while p < count {
            let (v, len) = UTF8Scalars.decode(utf8, at: p)
            vals.append(v)
            cls.append(UnicodeClasses.classify(v))
            starts.append(p)
            p += len
        }
        starts.append(count)
        let ranges: [Range<Int>]
        switch self {
        case .gpt2: ranges = Self.scanGPT2(vals, cls)
        case .llama3: ranges = Self.scanLlama3(vals, cls, maxDigits: 3)
        case .qwen2: ranges = Self.scanLlama3(vals, cls, maxDigits: 1)
        }
        return ranges.map { starts[$0.lowerBound]..<starts[$0.upperBound] }
    }

    /// Length of a contraction ('s 't 're 've 'm 'll 'd) starting at `i`, or 0.
    @inline(__always)
    private static func contraction(_ v: [UInt32], _ i: Int, caseInsensitive: Bool) -> Int {
        let n = v.count
        guard v[i] == 0x27, i + 1 < n else { return 0 }
        func low(_ x: UInt32) -> UInt32 {
            guard caseInsensitive else { return x }
            if x >= 0x41 && x <= 0x5A { return x + 32 }
            if x == 0x17F { return 0x73 }  // NOTE: long s case-folds to "s" under (?i).
            return x
        }
        let a = low(v[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        guard i + 2 < n else { return 0 }
        let b = low(v[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) {
            return 3  // re ve ll
        }
        return 0
    }

    private static func scanGPT2(_ v: [UInt32], _ c: [ScalarClass]) -> [Range<Int>] {
        let n = v.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        var i = 0
        while i < n {
            let k = contraction(v, i, caseInsensitive: false)
            if k > 0 {
                out.append(i..<(i + k))
                i += k
                continue
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class.
            var j = i
            if v[i] == 0x20 && i + 1 < n && c[i + 1] != .whitespace { j = i + 1 }
            let cj = c[j]
            if cj != .whitespace {
                j += 1
                while j < n && c[j] == cj { j += 1 }
                out.append(i..<j)
                i = j
                continue
            }
            // `\s+(?!\S)` then `\s+`.
            j = i + 1
            while j < n && c[j] == .whitespace { j += 1 }
            if j < n && j - i > 1 { j -= 1 }
            out.append(i..<j)
            i = j
        }
        return out
    }

    private static func scanLlama3(_ v: [UInt32], _ c: [ScalarClass], maxDigits: Int)
        -> [Range<Int>]
    {
        let n = v.count
        var out: [Range<Int>] = []
        out.reserveCapacity(n / 3 + 1)
        @inline(__always) func isNewline(_ k: Int) -> Bool { v[k] == 0x0A || v[k] == 0x0D }
        var i = 0
        while i < n {
            let k = contraction(v, i, caseInsensitive: true)
            if k > 0 {
                out.append(i..<(i + k))
                i += k
                continue
            }
            let ci = c[i]
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            var j = i
            if ci == .letter {
                j = i + 1
            } else if ci != .number && !isNewline(i) && i + 1 < n && c[i + 1] == .letter {
                j = i + 2
            }
            if j > i {
                while j < n && c[j] == .letter { j += 1 }
                out.append(i..<j)
                i = j
                continue
            }
            // `\p{N}{1,maxDigits}`
            if ci == .number {
                j = i + 1
                while j < n && c[j] == .number && j - i < maxDigits { j += 1 }
                out.append(i..<j)
                i = j
                continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            j = i
            if v[i] == 0x20 && i + 1 < n && c[i + 1] == .other { j = i + 1 }
            if c[j] == .other {
                j += 1
                while j < n && c[j] == .other { j += 1 }
                while j < n && isNewline(j) { j += 1 }
                out.append(i..<j)
                i = j
                continue
            }
            // Whitespace: `\s*[\r\n]+` ends at the last newline of the run, if it has one.
            var end = i
            var lastNewline = -1
            while end < n && c[end] == .whitespace {
                if isNewline(end) { lastNewline = end }
                end += 1
            }
            if lastNewline >= 0 {
                j = lastNewline + 1
            } else if end < n && end - i > 1 {
                j = end - 1  // `\s+(?!\S)` leaves the last space for the next word.
            } else {
                j = end
            }
            out.append(i..<j)
            i = j
        }
        return out
    }
}

/// Minimal UTF-8 decoding over valid input (Swift strings are always valid UTF-8).
enum UTF8Scalars {
    @inline(__always)
    static func decode(_ b: UnsafeBufferPointer<UInt8>, at p: Int) -> (UInt32, Int) {
        let b0 = UInt32(b[p])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(b[p + 1] & 0x3F), 2) }
        if b0 < 0xF0 {
            return ((b0 & 0x0F) << 12 | UInt32(b[p + 1] & 0x3F) << 6 | UInt32(b[p + 2] & 0x3F), 3)
        }
        let v = (b0 & 0x07) << 18 | UInt32(b[p + 1] & 0x3F) << 12 | UInt32(b[p + 2] & 0x3F) << 6
            | UInt32(b[p + 3] & 0x3F)
        return (v, 4)
    }
}
