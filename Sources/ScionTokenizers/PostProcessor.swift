// Post-processors: add the special tokens a model expects around one encoded sequence.
// Follows HF tokenizers' processors (template.rs, bert.rs, roberta.rs, byte_level.rs, sequence.rs)
// for single sequences. ByteLevel only trims offsets, which Scion does not track, so it adds nothing.

/// One piece of a `TemplateProcessing` template.
enum TemplatePiece: Sendable {
    case sequence(typeID: Int)
    case special(ids: [Int], typeID: Int)
}

/// A post-processing step.
indirect enum PostProcessor: Sendable {
    case template(single: [TemplatePiece])
    /// BERT and RoBERTa: `cls A sep`.
    case wrap(cls: Int, sep: Int)
    case byteLevel
    case sequence([PostProcessor])

    /// How many tokens processing adds to a single sequence (truncation leaves room for them).
    var addedTokenCount: Int {
        switch self {
        case let .template(single):
            return single.reduce(0) {
                if case let .special(ids, _) = $1 { return $0 + ids.count }
                return $0
            }
        case .wrap: return 2
        case .byteLevel: return 0
        case let .sequence(steps): return steps.reduce(0) { $0 + $1.addedTokenCount }
        }
    }

    /// Adds the special tokens. `special` marks which positions are special tokens.
    func process(ids: inout [Int], typeIDs: inout [Int], special: inout [Bool]) {
        switch self {
        case let .template(single):
            var i: [Int] = [], t: [Int] = [], s: [Bool] = []
            for piece in single {
                switch piece {
                case let .sequence(typeID):
                    i += ids
                    t += [Int](repeating: typeID, count: ids.count)
                    s += special
                case let .special(sids, typeID):
                    i += sids
                    t += [Int](repeating: typeID, count: sids.count)
                    s += [Bool](repeating: true, count: sids.count)
                }
            }
            ids = i
            typeIDs = t
            special = s
        case let .wrap(cls, sep):
            ids = [cls] + ids + [sep]
            typeIDs = [0] + typeIDs + [0]
            special = [true] + special + [true]
        case .byteLevel:
            break
        case let .sequence(steps):
            for step in steps { step.process(ids: &ids, typeIDs: &typeIDs, special: &special) }
        }
    }
}
