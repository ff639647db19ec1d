// Added and special tokens: literal strings split out of the input before anything else runs.
// Follows HF tokenizers' added_vocabulary.rs: tokens with `normalized: false` are matched on the raw
// text, the others on normalized text; leftmost-longest matching; `lstrip`/`rstrip` swallow the
// whitespace beside a match; `single_word` only matches between non-word characters.

/// A token that is matched literally in the input, like `<|endoftext|>` or `[MASK]`.
public struct AddedToken: Sendable, Equatable {
    /// The token id.
    public var id: Int
    /// The literal text.
    public var content: String
    /// Whether decoding with `skipSpecialTokens` drops it.
    public var special: Bool
    /// Only match when not surrounded by word characters.
    public var singleWord: Bool
    /// Swallow whitespace on the left of a match.
    public var lstrip: Bool
    /// Swallow whitespace on the right of a match.
    public var rstrip: Bool
    /// Match on normalized text instead of raw text.
    public var normalized: Bool

    /// Creates an added token.
    public init(id: Int, content: String, special: Bool, singleWord: Bool = false,
                lstrip: Bool = false, rstrip: Bool = false, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}

/// A literal matcher over UTF-8 bytes: candidates indexed by first byte, longest first.
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        var bytes: [UInt8]
        var token: AddedToken
    }
    private let byFirstByte: [[Candidate]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken], content: (AddedToken) -> String) {
        var table = [[Candidate]](repeating: [], count: 256)
        var any = false
        for t in tokens {
            let bytes = Array(content(t).utf8)
            guard let f = bytes.first else { continue }
            table[Int(f)].append(Candidate(bytes: bytes, token: t))
            any = true
        }
        for i in 0..<256 { table[i].sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
        isEmpty = !any
    }

    /// Splits `text` into plain segments (id nil) and matched tokens (id set).
    func split(_ text: String) -> [(text: String, id: Int?)] {
        if isEmpty { return [(text, nil)] }
        let b = Array(text.utf8)
        let n = b.count
        var out: [(text: String, id: Int?)] = []
        var segmentStart = 0
        var pos = 0
        func isSpace(_ x: UInt8) -> Bool { x == 0x20 || (x >= 0x09 && x <= 0x0D) }
        while pos < n {
            var matched = false
            for c in byFirstByte[Int(b[pos])] {
                let len = c.bytes.count
                guard pos + len <= n, b[pos..<(pos + len)].elementsEqual(c.bytes) else { continue }
                if c.token.singleWord {
                    let before = String(decoding: b[..<pos], as: UTF8.self).unicodeScalars.last
                    let after = String(decoding: b[(pos + len)...], as: UTF8.self).unicodeScalars.first
                    let wordy: (Unicode.Scalar?) -> Bool = {
                        guard let s = $0 else { return false }
                        return UnicodeClasses.isAlphanumeric(s) || s == "_"
                    }
                    if wordy(before) || wordy(after) { continue }
                }
                var start = pos
                var end = pos + len
                if c.token.lstrip { while start > segmentStart && isSpace(b[start - 1]) { start -= 1 } }
                if c.token.rstrip { while end < n && isSpace(b[end]) { end += 1 } }
                if start > segmentStart {
                    out.append((String(decoding: b[segmentStart..<start], as: UTF8.self), nil))
                }
                out.append((c.token.content, c.token.id))
                segmentStart = end
                pos = end
                matched = true
                break
            }
            if !matched { pos += 1 }
        }
        if segmentStart < n { out.append((String(decoding: b[segmentStart..<n], as: UTF8.self), nil)) }
        return out
    }
}
