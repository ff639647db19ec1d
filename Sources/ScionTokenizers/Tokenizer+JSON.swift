// Loading a Hugging Face `tokenizer.json` (the format written by tokenizers' `save`).
// Follows the serde layout of HF tokenizers 0.2x: `added_tokens`, `normalizer`, `pre_tokenizer`,
// `model`, `post_processor`, `decoder`, `padding`, `truncation`, each tagged by `type`.
// Every missing or mistyped field is reported as `TokenizerError.malformed(field:reason:)` with its
// JSON path; a `type` Scion does not implement as `TokenizerError.unsupported(component:name:)`.

import Foundation

/// A JSON object with its path, for typed access and precise errors.
struct JSONObject {
    let dict: [String: Any]
    let path: String

    init(_ value: Any?, path: String) throws {
        guard let d = value as? [String: Any] else {
            throw TokenizerError.malformed(field: path, reason: "expected an object")
        }
        self.dict = d
        self.path = path
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        if let v = dict[key], !(v is NSNull) { return true }
        return false
    }

    func string(_ key: String) throws -> String {
        guard let s = dict[key] as? String else {
            throw TokenizerError.malformed(field: field(key), reason: "expected a string")
        }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        return try string(key)
    }

    func bool(_ key: String, default d: Bool) throws -> Bool {
        guard has(key) else { return d }
        guard let n = dict[key] as? NSNumber, n.doubleValue == 0 || n.doubleValue == 1 else {
            throw TokenizerError.malformed(field: field(key), reason: "expected a boolean")
        }
        return n.boolValue
    }

    func int(_ key: String) throws -> Int {
        guard let n = dict[key] as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else {
            throw TokenizerError.malformed(field: field(key), reason: "expected an integer")
        }
        return n.intValue
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard has(key) else { return nil }
        return try int(key)
    }

    func object(_ key: String) throws -> JSONObject { try JSONObject(dict[key], path: field(key)) }

    func optionalObject(_ key: String) throws -> JSONObject? {
        guard has(key) else { return nil }
        return try object(key)
    }

    func array(_ key: String) throws -> [Any] {
        guard let a = dict[key] as? [Any] else {
            throw TokenizerError.malformed(field: field(key), reason: "expected an array")
        }
        return a
    }
}

extension Tokenizer {
    /// Loads a tokenizer from a Hugging Face `tokenizer.json` file.
    ///
    /// - Parameter url: The file's location.
    /// - Throws: `TokenizerError.unreadable` if the file cannot be read, `.malformed` for bad JSON,
    ///   `.unsupported` for components Scion does not implement.
    public convenience init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(path: url.path, reason: "\(error.localizedDescription)")
        }
        try self.init(jsonData: data)
    }

    /// Loads a tokenizer from the bytes of a Hugging Face `tokenizer.json`.
    ///
    /// - Parameter jsonData: UTF-8 JSON.
    /// - Throws: `TokenizerError.malformed` or `.unsupported`.
    public convenience init(jsonData: Data) throws {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: jsonData, options: [.fragmentsAllowed])
        } catch {
            throw TokenizerError.malformed(field: "<root>", reason: "not valid JSON")
        }
        let top = try JSONObject(root, path: "")
        var added: [AddedToken] = []
        if top.has("added_tokens") {
            for (i, raw) in try top.array("added_tokens").enumerated() {
                let o = try JSONObject(raw, path: "added_tokens[\(i)]")
                added.append(AddedToken(
                    id: try o.int("id"), content: try o.string("content"),
                    special: try o.bool("special", default: false),
                    singleWord: try o.bool("single_word", default: false),
                    lstrip: try o.bool("lstrip", default: false),
                    rstrip: try o.bool("rstrip", default: false),
                    normalized: try o.bool("normalized", default: false)))
            }
        }
        let normalizer = try top.optionalObject("normalizer").map(Self.parseNormalizer)
        let pre = try top.optionalObject("pre_tokenizer").map(Self.parsePreTokenizer)
        let model = try Self.parseModel(try top.object("model"))
        func idOf(_ token: String, _ field: String) throws -> Int {
            if let a = added.first(where: { $0.content == token }) { return a.id }
            guard let id = model.id(for: token) else {
                throw TokenizerError.malformed(field: field, reason: "token \"\(token)\" is not in the vocabulary")
            }
            return id
        }
        let post = try top.optionalObject("post_processor").map { try Self.parsePostProcessor($0, idOf) }
        let decoder = try top.optionalObject("decoder").map(Self.parseDecoder)
        var padding: PaddingSettings?
        if let p = try top.optionalObject("padding") {
            var fixed: Int?
            if let s = p.dict["strategy"] as? [String: Any] {
                fixed = try JSONObject(s, path: p.field("strategy")).int("Fixed")
            } else if (p.dict["strategy"] as? String) != "BatchLongest" {
                throw TokenizerError.malformed(field: p.field("strategy"), reason: "expected BatchLongest or {Fixed: n}")
            }
            padding = PaddingSettings(
                fixedLength: fixed, padToMultipleOf: try p.optionalInt("pad_to_multiple_of"),
                padsLeft: (try p.optionalString("direction")) == "Left",
                padID: try p.optionalInt("pad_id") ?? 0, padTypeID: try p.optionalInt("pad_type_id") ?? 0,
                padToken: try p.optionalString("pad_token") ?? "[PAD]")
        }
        var truncation: TruncationSettings?
        if let t = try top.optionalObject("truncation") {
            truncation = TruncationSettings(maxLength: try t.int("max_length"),
                                            truncatesLeft: (try t.optionalString("direction")) == "Left")
        }
        self.init(addedTokens: added, normalizer: normalizer, preTokenizer: pre, model: model,
                  postProcessor: post, decoder: decoder, padding: padding, truncation: truncation,
                  sourceJSON: jsonData)
    }

    static func parsePattern(_ o: JSONObject, key: String = "pattern") throws -> TextPattern {
        let p = try o.object(key)
        if let s = try p.optionalString("String") { return .literal(s) }
        if let r = try p.optionalString("Regex") {
            if let scanner = SplitScanner(pattern: r) { return .scanner(scanner) }
            guard (try? NSRegularExpression(pattern: r)) != nil else {
                throw TokenizerError.unsupported(component: p.path, name: "Regex \(r)")
            }
            return .regex(r)
        }
        throw TokenizerError.malformed(field: p.path, reason: "expected String or Regex")
    }

    static func parseNormalizer(_ o: JSONObject) throws -> Normalizer {
        let type = try o.string("type")
        switch type {
        case "BertNormalizer":
            let lower = try o.bool("lowercase", default: true)
            let strip = o.has("strip_accents") ? try o.bool("strip_accents", default: lower) : lower
            return .bert(cleanText: try o.bool("clean_text", default: true),
                         handleChineseChars: try o.bool("handle_chinese_chars", default: true),
                         stripAccents: strip, lowercase: lower)
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip":
            return .strip(left: try o.bool("strip_left", default: true),
                          right: try o.bool("strip_right", default: true))
        case "Replace": return .replace(pattern: try parsePattern(o), content: try o.string("content"))
        case "Prepend": return .prepend(try o.string("prepend"))
        case "Sequence":
            return .sequence(try o.array("normalizers").enumerated().map {
                try parseNormalizer(JSONObject($1, path: o.field("normalizers[\($0)]")))
            })
        default: throw TokenizerError.unsupported(component: "normalizer", name: type)
        }
    }

    static func parseBehavior(_ o: JSONObject) throws -> SplitBehavior {
        let s = try o.optionalString("behavior") ?? "Isolated"
        guard let b = SplitBehavior(rawValue: s) else {
            throw TokenizerError.malformed(field: o.field("behavior"), reason: "unknown behavior \(s)")
        }
        return b
    }

    static func parsePrependScheme(_ o: JSONObject) throws -> PrependScheme {
        if let s = try o.optionalString("prepend_scheme") {
            guard let p = PrependScheme(rawValue: s) else {
                throw TokenizerError.malformed(field: o.field("prepend_scheme"), reason: "unknown scheme \(s)")
            }
            return p
        }
        return try o.bool("add_prefix_space", default: true) ? .always : .never
    }

    static func parsePreTokenizer(_ o: JSONObject) throws -> PreTokenizer {
        let type = try o.string("type")
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try o.bool("add_prefix_space", default: true),
                              useRegex: try o.bool("use_regex", default: true))
        case "Split":
            return .split(pattern: try parsePattern(o), behavior: try parseBehavior(o),
                          invert: try o.bool("invert", default: false))
        case "Digits": return .digits(individual: try o.bool("individual_digits", default: false))
        case "BertPreTokenizer": return .bert
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "Punctuation": return .punctuation(behavior: try parseBehavior(o))
        case "Metaspace":
            return .metaspace(replacement: try o.optionalString("replacement") ?? "▁",
                              prependScheme: try parsePrependScheme(o),
                              split: try o.bool("split", default: true))
        case "Sequence":
            return .sequence(try o.array("pretokenizers").enumerated().map {
                try parsePreTokenizer(JSONObject($1, path: o.field("pretokenizers[\($0)]")))
            })
        default: throw TokenizerError.unsupported(component: "pre_tokenizer", name: type)
        }
    }

    static func parseVocab(_ o: JSONObject) throws -> [String: Int] {
        guard let raw = o.dict["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(field: o.field("vocab"), reason: "expected an object of ids")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(raw.count)
        for (k, v) in raw {
            guard let n = v as? NSNumber else {
                throw TokenizerError.malformed(field: o.field("vocab.\(k)"), reason: "expected an integer id")
            }
            vocab[k] = n.intValue
        }
        return vocab
    }

    static func parseModel(_ o: JSONObject) throws -> TokenizerModel {
        let type = try o.optionalString("type") ?? (o.has("merges") ? "BPE" : "")
        switch type {
        case "BPE":
            let vocab = try parseVocab(o)
            var merges: [(String, String)] = []
            let rawMerges = o.has("merges") ? try o.array("merges") : []
            merges.reserveCapacity(rawMerges.count)
            for (i, m) in rawMerges.enumerated() {
                if let s = m as? String {
                    let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else {
                        throw TokenizerError.malformed(field: o.field("merges[\(i)]"), reason: "expected \"a b\"")
                    }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let a = m as? [Any], a.count == 2, let l = a[0] as? String, let r = a[1] as? String {
                    merges.append((l, r))
                } else {
                    throw TokenizerError.malformed(field: o.field("merges[\(i)]"), reason: "expected \"a b\" or [a, b]")
                }
            }
            if let dropout = o.dict["dropout"] as? NSNumber, dropout.doubleValue > 0 {
                throw TokenizerError.unsupported(component: "model", name: "BPE dropout")
            }
            return .bpe(try BPEModel(
                vocab: vocab, merges: merges, unknownToken: try o.optionalString("unk_token"),
                fuseUnknown: try o.bool("fuse_unk", default: false),
                byteFallback: try o.bool("byte_fallback", default: false),
                ignoreMerges: try o.bool("ignore_merges", default: false),
                continuingSubwordPrefix: try o.optionalString("continuing_subword_prefix"),
                endOfWordSuffix: try o.optionalString("end_of_word_suffix")))
        case "WordPiece":
            return .wordPiece(WordPieceModel(
                vocab: try parseVocab(o), unknownToken: try o.optionalString("unk_token") ?? "[UNK]",
                continuingSubwordPrefix: try o.optionalString("continuing_subword_prefix") ?? "##",
                maxInputCharsPerWord: try o.optionalInt("max_input_chars_per_word") ?? 100))
        case "Unigram":
            var pieces: [(String, Double)] = []
            for (i, entry) in try o.array("vocab").enumerated() {
                guard let pair = entry as? [Any], pair.count == 2, let p = pair[0] as? String,
                      let s = pair[1] as? NSNumber else {
                    throw TokenizerError.malformed(field: o.field("vocab[\(i)]"), reason: "expected [piece, score]")
                }
                pieces.append((p, s.doubleValue))
            }
            let unk = try o.optionalInt("unk_id")
            if let unk, !pieces.indices.contains(unk) {
                throw TokenizerError.malformed(field: o.field("unk_id"), reason: "out of range")
            }
            return .unigram(UnigramModel(pieces: pieces, unknownID: unk,
                                         byteFallback: try o.bool("byte_fallback", default: false)))
        default:
            throw TokenizerError.unsupported(component: "model", name: type)
        }
    }

    static func parsePostProcessor(_ o: JSONObject, _ idOf: (String, String) throws -> Int) throws
        -> PostProcessor
    {
        let type = try o.string("type")
        switch type {
        case "TemplateProcessing":
            let specials = try o.object("special_tokens")
            var pieces: [TemplatePiece] = []
            for (i, raw) in try o.array("single").enumerated() {
                let item = try JSONObject(raw, path: o.field("single[\(i)]"))
                if let s = try item.optionalObject("SpecialToken") {
                    let name = try s.string("id")
                    let entry = try specials.object(name)
                    let ids = try entry.array("ids").map { v -> Int in
                        guard let n = v as? NSNumber else {
                            throw TokenizerError.malformed(field: entry.field("ids"), reason: "expected integers")
                        }
                        return n.intValue
                    }
                    pieces.append(.special(ids: ids, typeID: try s.optionalInt("type_id") ?? 0))
                } else if let s = try item.optionalObject("Sequence") {
                    pieces.append(.sequence(typeID: try s.optionalInt("type_id") ?? 0))
                } else {
                    throw TokenizerError.malformed(field: item.path, reason: "expected SpecialToken or Sequence")
                }
            }
            return .template(single: pieces)
        case "BertProcessing", "RobertaProcessing":
            func pair(_ key: String) throws -> Int {
                guard let a = o.dict[key] as? [Any], a.count == 2, let n = a[1] as? NSNumber else {
                    throw TokenizerError.malformed(field: o.field(key), reason: "expected [token, id]")
                }
                return n.intValue
            }
            return .wrap(cls: try pair("cls"), sep: try pair("sep"))
        case "ByteLevel": return .byteLevel
        case "Sequence":
            return .sequence(try o.array("processors").enumerated().map {
                try parsePostProcessor(JSONObject($1, path: o.field("processors[\($0)]")), idOf)
            })
        default: throw TokenizerError.unsupported(component: "post_processor", name: type)
        }
    }

    static func parseDecoder(_ o: JSONObject) throws -> Decoder {
        let type = try o.string("type")
        switch type {
        case "ByteLevel": return .byteLevel
        case "WordPiece":
            return .wordPiece(prefix: try o.optionalString("prefix") ?? "##",
                              cleanup: try o.bool("cleanup", default: true))
        case "Metaspace":
            return .metaspace(replacement: try o.optionalString("replacement") ?? "▁",
                              prependScheme: try parsePrependScheme(o))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            let c = try o.string("content")
            guard let u = c.unicodeScalars.first, c.unicodeScalars.count == 1 else {
                throw TokenizerError.malformed(field: o.field("content"), reason: "expected one character")
            }
            return .strip(content: u, start: try o.optionalInt("start") ?? 0,
                          stop: try o.optionalInt("stop") ?? 0)
        case "Replace": return .replace(pattern: try parsePattern(o), content: try o.string("content"))
        case "BPEDecoder": return .bpe(suffix: try o.optionalString("suffix") ?? "</w>")
        case "Sequence":
            return .sequence(try o.array("decoders").enumerated().map {
                try parseDecoder(JSONObject($1, path: o.field("decoders[\($0)]")))
            })
        default: throw TokenizerError.unsupported(component: "decoder", name: type)
        }
    }
}
