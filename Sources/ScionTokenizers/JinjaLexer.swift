// Jinja2 lexer: splits template source into data text and tag tokens.
// Follows Jinja2's lexer (jinja2/lexer.py) with the settings transformers uses for chat
// templates: trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, newlines
// normalized to "\n", and `-`/`+` whitespace control on tags.
// It is not a general Jinja lexer: line statements and custom delimiters are not supported.

/// One lexical token with its byte offset in the normalized source.
struct JinjaToken: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case blockBegin
        case blockEnd
        case variableBegin
        case variableEnd
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        case eof
    }

    var kind: Kind
    var offset: Int
}

/// Turns template source into tokens, applying whitespace control while it goes.
struct JinjaLexer {
    let bytes: [UInt8]
    var pos = 0
    var tokens: [JinjaToken] = []
    /// Whether the previous match ended with a newline; lstrip_blocks treats the start of
    /// the data after it as a line start (Jinja's `line_starting`).
    var lineStarting = true

    /// Normalizes newlines like Jinja: "\r\n" and "\r" become "\n", and one trailing
    /// newline is dropped (keep_trailing_newline=False).
    static func normalize(_ source: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(source.utf8.count)
        var it = Array(source.utf8)[...]
        while let c = it.popFirst() {
            if c == 0x0D {
                if it.first == 0x0A { it.removeFirst() }
                out.append(0x0A)
            } else {
                out.append(c)
            }
        }
        if out.last == 0x0A { out.removeLast() }
        return out
    }

    init(source: String) {
        bytes = JinjaLexer.normalize(source)
    }

    static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)
    }

    func syntaxError(_ message: String, at offset: Int) -> ChatTemplateError {
        let (line, column) = JinjaLexer.lineColumn(of: offset, in: bytes)
        return .syntax(message: message, line: line, column: column)
    }

    /// 1-based line and column (in bytes) of `offset`.
    static func lineColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1
        var lineStart = 0
        let end = min(offset, bytes.count)
        for i in 0..<end where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return (line, end - lineStart + 1)
    }

    func has(_ s: String, at i: Int) -> Bool {
        var j = i
        for c in s.utf8 {
            guard j < bytes.count, bytes[j] == c else { return false }
            j += 1
        }
        return true
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    mutating func tokenize() throws -> [JinjaToken] {
        while pos < bytes.count {
            try lexData()
        }
        tokens.append(JinjaToken(kind: .eof, offset: bytes.count))
        return tokens
    }

    /// Finds the next tag opener at or after `from`.
    func nextTag(from: Int) -> Int? {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "{") {
                let n = bytes[i + 1]
                if n == UInt8(ascii: "{") || n == UInt8(ascii: "%") || n == UInt8(ascii: "#") { return i }
            }
            i += 1
        }
        return nil
    }

    /// Applies `{%-` / lstrip_blocks to the data preceding a tag.
    func stripData(_ text: ArraySlice<UInt8>, sign: UInt8?, isVariable: Bool) -> ArraySlice<UInt8> {
        if sign == UInt8(ascii: "-") {
            var t = text
            while let last = t.last, JinjaLexer.isSpace(last) { t.removeLast() }
            return t
        }
        if sign == UInt8(ascii: "+") || isVariable { return text }
        // lstrip_blocks: drop spaces between the line start and the tag.
        let lineStart = (text.lastIndex(of: 0x0A).map { $0 + 1 }) ?? text.startIndex
        guard lineStart > text.startIndex || lineStarting else { return text }
        let tail = text[lineStart...]
        if !tail.isEmpty && tail.allSatisfy(JinjaLexer.isSpace) { return text[..<lineStart] }
        return text
    }

    mutating func emitText(_ text: ArraySlice<UInt8>, offset: Int) {
        if !text.isEmpty {
            tokens.append(JinjaToken(kind: .text(String(decoding: text, as: UTF8.self)), offset: offset))
        }
    }

    /// Consumes whitespace after a `-%}` or the single newline trim_blocks removes.
    mutating func afterTagEnd(sign: UInt8?, trimNewline: Bool) {
        if sign == UInt8(ascii: "-") {
            while pos < bytes.count, JinjaLexer.isSpace(bytes[pos]) { pos += 1 }
        } else if sign != UInt8(ascii: "+"), trimNewline, pos < bytes.count, bytes[pos] == 0x0A {
            pos += 1
        }
        lineStarting = pos > 0 && bytes[pos - 1] == 0x0A
    }

    mutating func lexData() throws {
        let start = pos
        guard let tag = nextTag(from: pos) else {
            emitText(bytes[start...], offset: start)
            pos = bytes.count
            return
        }
        let kind = bytes[tag + 1]
        var sign: UInt8? = nil
        if tag + 2 < bytes.count, bytes[tag + 2] == UInt8(ascii: "-") || bytes[tag + 2] == UInt8(ascii: "+") {
            sign = bytes[tag + 2]
        }
        let afterOpen = tag + 2 + (sign == nil ? 0 : 1)
        let text = stripData(bytes[start..<tag], sign: sign, isVariable: kind == UInt8(ascii: "{"))
        emitText(text, offset: start)
        lineStarting = false

        switch kind {
        case UInt8(ascii: "#"):
            try lexComment(openAt: tag, from: afterOpen)
        case UInt8(ascii: "%"):
            if try lexRaw(openAt: tag, from: afterOpen) { return }
            tokens.append(JinjaToken(kind: .blockBegin, offset: tag))
            pos = afterOpen
            try lexTagBody(isBlock: true, openAt: tag)
        default:
            tokens.append(JinjaToken(kind: .variableBegin, offset: tag))
            pos = afterOpen
            try lexTagBody(isBlock: false, openAt: tag)
        }
    }

    mutating func lexComment(openAt: Int, from: Int) throws {
        var i = from
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "#"), bytes[i + 1] == UInt8(ascii: "}") {
                var sign: UInt8? = nil
                if i > from, bytes[i - 1] == UInt8(ascii: "-") || bytes[i - 1] == UInt8(ascii: "+") {
                    sign = bytes[i - 1]
                }
                pos = i + 2
                afterTagEnd(sign: sign, trimNewline: true)
                return
            }
            i += 1
        }
        throw syntaxError("missing end of comment tag", at: openAt)
    }

    /// Skips spaces from `i`, then matches `word`; returns the index after it.
    func matchWord(_ word: String, from i: Int) -> Int? {
        var j = i
        while j < bytes.count, JinjaLexer.isSpace(bytes[j]) { j += 1 }
        guard has(word, at: j) else { return nil }
        j += word.utf8.count
        if j < bytes.count, JinjaLexer.isNameByte(bytes[j]) { return nil }
        return j
    }

    /// Matches optional spaces then `%}`, `-%}` or `+%}`; returns (sign, index after).
    func matchBlockClose(from i: Int) -> (UInt8?, Int)? {
        var j = i
        while j < bytes.count, JinjaLexer.isSpace(bytes[j]) { j += 1 }
        if has("%}", at: j) { return (nil, j + 2) }
        if has("-%}", at: j) { return (UInt8(ascii: "-"), j + 3) }
        if has("+%}", at: j) { return (UInt8(ascii: "+"), j + 3) }
        return nil
    }

    /// Handles `{% raw %}…{% endraw %}`; returns false when the block is not `raw`.
    mutating func lexRaw(openAt: Int, from: Int) throws -> Bool {
        // NOTE: Jinja's raw opener accepts `%}` and `-%}` but not `+%}`.
        guard let afterWord = matchWord("raw", from: from),
            let (openSign, bodyStart) = matchBlockClose(from: afterWord), openSign != UInt8(ascii: "+")
        else { return false }
        // NOTE: Jinja's raw opener applies `-%}` but not trim_blocks.
        pos = bodyStart
        if openSign == UInt8(ascii: "-") {
            while pos < bytes.count, JinjaLexer.isSpace(bytes[pos]) { pos += 1 }
        }
        lineStarting = pos > 0 && bytes[pos - 1] == 0x0A
        var i = pos
        while let tag = nextTag(from: i) {
            if bytes[tag + 1] == UInt8(ascii: "%") {
                var sign: UInt8? = nil
                var j = tag + 2
                if j < bytes.count, bytes[j] == UInt8(ascii: "-") || bytes[j] == UInt8(ascii: "+") {
                    sign = bytes[j]
                    j += 1
                }
                if let afterEnd = matchWord("endraw", from: j), let (closeSign, end) = matchBlockClose(from: afterEnd) {
                    emitText(stripData(bytes[pos..<tag], sign: sign, isVariable: false), offset: pos)
                    pos = end
                    afterTagEnd(sign: closeSign, trimNewline: true)
                    return true
                }
            }
            i = tag + 1
        }
        throw syntaxError("missing endraw for raw block", at: openAt)
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Lexes expression tokens until the closing `%}` or `}}`.
    mutating func lexTagBody(isBlock: Bool, openAt: Int) throws {
        var balance: [UInt8] = []
        while true {
            while pos < bytes.count, JinjaLexer.isSpace(bytes[pos]) { pos += 1 }
            guard pos < bytes.count else {
                throw syntaxError(isBlock ? "missing end of block tag '%}'" : "missing end of variable tag '}}'", at: openAt)
            }
            if balance.isEmpty {
                if isBlock {
                    for (close, sign) in [("-%}", UInt8(ascii: "-")), ("+%}", UInt8(ascii: "+")), ("%}", 0)] where has(close, at: pos) {
                        tokens.append(JinjaToken(kind: .blockEnd, offset: pos))
                        pos += close.utf8.count
                        afterTagEnd(sign: sign == 0 ? nil : sign, trimNewline: true)
                        return
                    }
                } else {
                    for (close, sign) in [("-}}", UInt8(ascii: "-")), ("}}", 0)] where has(close, at: pos) {
                        tokens.append(JinjaToken(kind: .variableEnd, offset: pos))
                        pos += close.utf8.count
                        afterTagEnd(sign: sign == 0 ? nil : sign, trimNewline: false)
                        return
                    }
                }
            }
            let c = bytes[pos]
            let start = pos
            if JinjaLexer.isNameByte(c) && !JinjaLexer.isDigit(c) {
                while pos < bytes.count, JinjaLexer.isNameByte(bytes[pos]) { pos += 1 }
                tokens.append(JinjaToken(kind: .name(string(start..<pos)), offset: start))
            } else if JinjaLexer.isDigit(c) {
                tokens.append(JinjaToken(kind: try lexNumber(), offset: start))
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                tokens.append(JinjaToken(kind: .string(try lexString()), offset: start))
            } else {
                var op: String? = nil
                for candidate in ["//", "**", "==", "!=", "<=", ">="] where has(candidate, at: pos) {
                    op = candidate
                    break
                }
                if op == nil, "+-/*%~[](){}<>=.:|,;".utf8.contains(c) {
                    op = String(UnicodeScalar(c))
                }
                guard let op else {
                    throw syntaxError("unexpected character '\(String(UnicodeScalar(c)))'", at: pos)
                }
                switch op {
                case "(", "[", "{": balance.append(c)
                case ")", "]", "}":
                    let expected: UInt8 = op == ")" ? UInt8(ascii: "(") : op == "]" ? UInt8(ascii: "[") : UInt8(ascii: "{")
                    guard balance.last == expected else { throw syntaxError("unexpected '\(op)'", at: pos) }
                    balance.removeLast()
                default: break
                }
                pos += op.utf8.count
                tokens.append(JinjaToken(kind: .op(op), offset: start))
            }
        }
    }

    /// Integers and floats, with Python's `_` digit separators and 0x/0o/0b prefixes.
    mutating func lexNumber() throws -> JinjaToken.Kind {
        let start = pos
        if bytes[pos] == UInt8(ascii: "0"), pos + 1 < bytes.count {
            let p = bytes[pos + 1] | 0x20
            let radix = p == UInt8(ascii: "x") ? 16 : p == UInt8(ascii: "o") ? 8 : p == UInt8(ascii: "b") ? 2 : 0
            if radix != 0 {
                pos += 2
                let digitsStart = pos
                while pos < bytes.count, JinjaLexer.isNameByte(bytes[pos]) { pos += 1 }
                let digits = string(digitsStart..<pos).replacingOccurrences(of: "_", with: "")
                guard let v = Int(digits, radix: radix) else { throw syntaxError("invalid integer literal", at: start) }
                return .int(v)
            }
        }
        func digits() {
            while pos < bytes.count, JinjaLexer.isDigit(bytes[pos]) || bytes[pos] == UInt8(ascii: "_") { pos += 1 }
        }
        digits()
        var isFloat = false
        if pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "."), JinjaLexer.isDigit(bytes[pos + 1]) {
            isFloat = true
            pos += 1
            digits()
        }
        if pos < bytes.count, bytes[pos] | 0x20 == UInt8(ascii: "e") {
            var j = pos + 1
            if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
            if j < bytes.count, JinjaLexer.isDigit(bytes[j]) {
                isFloat = true
                pos = j
                digits()
            }
        }
        let text = string(start..<pos).replacingOccurrences(of: "_", with: "")
        if isFloat {
            guard let d = Double(text) else { throw syntaxError("invalid float literal", at: start) }
            return .float(d)
        }
        guard let v = Int(text) else { throw syntaxError("integer literal too large", at: start) }
        return .int(v)
    }

    /// A quoted string, unescaped like Python's "unicode-escape" codec as Jinja does.
    mutating func lexString() throws -> String {
        let quote = bytes[pos]
        let start = pos
        pos += 1
        var raw: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw syntaxError("unterminated string literal", at: start) }
            let c = bytes[pos]
            if c == quote { pos += 1; break }
            if c == UInt8(ascii: "\\"), pos + 1 < bytes.count {
                raw.append(c)
                raw.append(bytes[pos + 1])
                pos += 2
                continue
            }
            raw.append(c)
            pos += 1
        }
        guard let s = JinjaLexer.unescape(raw) else { throw syntaxError("invalid escape in string literal", at: start) }
        return s
    }

    static func unescape(_ raw: [UInt8]) -> String? {
        guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
        var out = ""
        var i = 0
        var pending: [UInt8] = []
        func flush() {
            if !pending.isEmpty { out += String(decoding: pending, as: UTF8.self); pending = [] }
        }
        func hex(_ n: Int) -> UInt32? {
            guard i + n <= raw.count, let v = UInt32(String(decoding: raw[i..<i + n], as: UTF8.self), radix: 16) else { return nil }
            i += n
            return v
        }
        while i < raw.count {
            let c = raw[i]
            guard c == UInt8(ascii: "\\"), i + 1 < raw.count else {
                pending.append(c)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            var scalar: UInt32? = nil
            switch e {
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "a"): scalar = 0x07
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "v"): scalar = 0x0B
            case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): scalar = UInt32(e)
            case 0x0A: continue  // line continuation
            case UInt8(ascii: "x"): guard let v = hex(2) else { return nil }; scalar = v
            case UInt8(ascii: "u"): guard let v = hex(4) else { return nil }; scalar = v
            case UInt8(ascii: "U"): guard let v = hex(8) else { return nil }; scalar = v
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = UInt32(e - 0x30)
                var n = 1
                while n < 3, i < raw.count, raw[i] >= 0x30, raw[i] <= 0x37 {
                    v = v * 8 + UInt32(raw[i] - 0x30)
                    i += 1
                    n += 1
                }
                scalar = v
            default:
                pending.append(c)
                pending.append(e)
                continue
            }
            flush()
            guard let s = scalar, let u = Unicode.Scalar(s) else { return nil }
            out.unicodeScalars.append(u)
        }
        flush()
        return out
    }
}
