// Normalizers: the text rewrites applied before pre-tokenization.
// Follows HF tokenizers' normalizers (bert.rs, unicode.rs, strip.rs, replace.rs, prepend.rs, utils.rs).
// Offsets are not tracked, so a normalizer is a plain String -> String function here.
// `Precompiled` (SentencePiece's charsmap) is not implemented and is reported as unsupported.

import Foundation

/// One normalization step of a tokenizer pipeline.
enum Normalizer: Sendable {
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case stripAccents
    case strip(left: Bool, right: Bool)
    case replace(pattern: TextPattern, content: String)
    case prepend(String)
    case sequence([Normalizer])

    func normalize(_ text: String) -> String {
        switch self {
        case let .bert(cleanText, handleChinese, stripAccents, lowercase):
            var s = text
            if cleanText || handleChinese {
                var view = String.UnicodeScalarView()
                for u in s.unicodeScalars {
                    if cleanText {
                        if u.value == 0 || u.value == 0xFFFD || UnicodeClasses.isBertControl(u) { continue }
                        if UnicodeClasses.isBertWhitespace(u) {
                            view.append(" ")
                            continue
                        }
                    }
                    if handleChinese && UnicodeClasses.isChineseCharacter(u) {
                        view.append(" ")
                        view.append(u)
                        view.append(" ")
                    } else {
                        view.append(u)
                    }
                }
                s = String(view)
            }
            if stripAccents { s = Normalizer.removeNonspacingMarks(s.decomposedStringWithCanonicalMapping) }
            if lowercase { s = Normalizer.lowercased(s) }
            return s
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase: return Normalizer.lowercased(text)
        case .stripAccents: return Normalizer.removeMarks(text)
        case let .strip(left, right):
            var scalars = Substring(text).unicodeScalars
            if left { while let f = scalars.first, f.properties.isWhitespace { scalars.removeFirst() } }
            if right { while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() } }
            return String(scalars)
        case let .replace(pattern, content):
            return pattern.replacingMatches(in: text, with: content)
        case let .prepend(prefix):
            return text.isEmpty ? text : prefix + text
        case let .sequence(steps):
            var s = text
            for step in steps { s = step.normalize(s) }
            return s
        }
    }

    /// Scalar-by-scalar full lowercase mapping (Rust's `char::to_lowercase`, no final-sigma rule).
    static func lowercased(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            let mapped = u.properties.lowercaseMapping
            if mapped.unicodeScalars.count == 1, mapped.unicodeScalars.first == u {
                out.append(u)
            } else {
                out.append(contentsOf: mapped.unicodeScalars)
            }
        }
        return String(out)
    }

    /// HF `StripAccents` drops every mark (Mn, Mc, Me); BertNormalizer only drops Mn.
    static func removeMarks(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            switch u.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            default: out.append(u)
            }
        }
        return String(out)
    }

    static func removeNonspacingMarks(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars where u.properties.generalCategory != .nonspacingMark {
            out.append(u)
        }
        return String(out)
    }
}

/// A `Split`/`Replace` pattern: a literal string or a regex.
enum TextPattern: Sendable {
    case literal(String)
    /// One of the three split regexes, scanned by hand.
    case scanner(SplitScanner)
    /// Any other regex, run through NSRegularExpression (slow on Linux; off the common paths).
    case regex(String)

    /// Byte ranges (in `text.utf8`) of the successive matches.
    func matchRanges(in text: String) -> [Range<Int>] {
        switch self {
        case let .literal(needle):
            let hay = Array(text.utf8)
            let pat = Array(needle.utf8)
            guard !pat.isEmpty, pat.count <= hay.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + pat.count <= hay.count {
                if hay[i] == pat[0] && hay[i..<(i + pat.count)].elementsEqual(pat) {
                    out.append(i..<(i + pat.count))
                    i += pat.count
                } else {
                    i += 1
                }
            }
            return out
        case let .scanner(scanner):
            var s = text
            return s.withUTF8 { scanner.matches(in: $0) }
        case let .regex(source):
            guard let re = try? NSRegularExpression(pattern: source) else { return [] }
            let ns = text as NSString
            var out: [Range<Int>] = []
            for m in re.matches(in: text, range: NSRange(location: 0, length: ns.length))
            where m.range.length > 0 {
                guard let r = Range(m.range, in: text) else { continue }
                let lo = text.utf8.distance(from: text.startIndex, to: r.lowerBound)
                let hi = lo + text.utf8.distance(from: r.lowerBound, to: r.upperBound)
                out.append(lo..<hi)
            }
            return out
        }
    }

    func replacingMatches(in text: String, with content: String) -> String {
        let ranges = matchRanges(in: text)
        if ranges.isEmpty { return text }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var last = 0
        for r in ranges {
            out.append(contentsOf: bytes[last..<r.lowerBound])
            out.append(contentsOf: content.utf8)
            last = r.upperBound
        }
        out.append(contentsOf: bytes[last...])
        return String(decoding: out, as: UTF8.self)
    }
}
