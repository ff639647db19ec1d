// WordPiece model: greedy longest-match-first subwords, as in BERT.
// Follows HF tokenizers' models/wordpiece/mod.rs: a word longer than max_input_chars_per_word
// scalars, or one with any unmatchable position, becomes a single unknown token.

/// A WordPiece vocabulary.
final class WordPieceModel: Sendable {
    let vocab: [String: Int]
    let idToToken: [Int: String]
    let unknownToken: String
    let unknownID: Int?
    let continuingSubwordPrefix: String
    let maxInputCharsPerWord: Int

    init(vocab: [String: Int], unknownToken: String, continuingSubwordPrefix: String,
         maxInputCharsPerWord: Int) {
        self.vocab = vocab
        var inverse: [Int: String] = [:]
        for (t, i) in vocab { inverse[i] = t }
        self.idToToken = inverse
        self.unknownToken = unknownToken
        self.unknownID = vocab[unknownToken]
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    func tokenize(_ word: String, into out: inout [Int]) {
        let scalars = Array(word.unicodeScalars)
        if scalars.isEmpty { return }
        if scalars.count > maxInputCharsPerWord {
            if let unk = unknownID { out.append(unk) }
            return
        }
        var pieces: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while start < end {
                var s = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { s = continuingSubwordPrefix + s }
                if let id = vocab[s] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else {
                if let unk = unknownID { out.append(unk) }
                return
            }
            pieces.append(id)
            start = end
        }
        out.append(contentsOf: pieces)
    }
}
