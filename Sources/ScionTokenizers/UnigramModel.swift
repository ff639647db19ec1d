// Unigram language-model tokenizer: the Viterbi segmentation that maximises the sum of piece scores.
// Follows HF tokenizers' models/unigram/model.rs (`encode_optimized`): an unknown character costs
// min_score - 10, runs of unknowns are fused into one piece, and with byte_fallback an unknown piece
// becomes its UTF-8 bytes as <0xNN> tokens. Ties keep the first (shortest-piece) candidate.

/// A Unigram vocabulary of (piece, log-probability) pairs.
final class UnigramModel: Sendable {
    let pieces: [(String, Double)]
    let vocab: [String: Int]
    let unknownID: Int?
    let byteFallback: Bool
    let minScore: Double
    let maxPieceLength: Int

    init(pieces: [(String, Double)], unknownID: Int?, byteFallback: Bool) {
        self.pieces = pieces
        var v: [String: Int] = [:]
        var minScore = Double.infinity
        var maxLen = 1
        for (i, (p, s)) in pieces.enumerated() {
            if v[p] == nil { v[p] = i }
            minScore = min(minScore, s)
            maxLen = max(maxLen, p.unicodeScalars.count)
        }
        self.vocab = v
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        self.minScore = minScore.isFinite ? minScore : 0
        self.maxPieceLength = maxLen
    }

    func tokenize(_ word: String, into out: inout [Int]) {
        let scalars = Array(word.unicodeScalars)
        let n = scalars.count
        if n == 0 { return }
        let unknownScore = minScore - 10
        var bestScore = [Double](repeating: 0, count: n + 1)
        var bestStart = [Int](repeating: -1, count: n + 1)
        var bestID = [Int](repeating: -1, count: n + 1)
        for start in 0..<n {
            // Every position is reachable: an unknown single character is always possible.
            let base = bestScore[start]
            var hasSingle = false
            var piece = String.UnicodeScalarView()
            for end in (start + 1)...min(n, start + maxPieceLength) {
                piece.append(scalars[end - 1])
                guard let id = vocab[String(piece)] else { continue }
                let candidate = base + pieces[id].1
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = id
                }
                if end == start + 1 { hasSingle = true }
            }
            if !hasSingle {
                let candidate = base + unknownScore
                if bestStart[start + 1] < 0 || candidate > bestScore[start + 1] {
                    bestScore[start + 1] = candidate
                    bestStart[start + 1] = start
                    bestID[start + 1] = unknownID ?? -1
                }
            }
        }
        // Backtrack, fusing consecutive unknown pieces.
        var segments: [(Range<Int>, Bool)] = []
        var end = n
        while end > 0 {
            let start = bestStart[end]
            let isUnknown = bestID[end] == unknownID || bestID[end] < 0
            if isUnknown, let last = segments.last, last.1, last.0.lowerBound == end {
                segments[segments.count - 1].0 = start..<last.0.upperBound
            } else {
                segments.append((start..<end, isUnknown))
            }
            end = start
        }
        for (r, _) in segments.reversed() {
            let text = String(String.UnicodeScalarView(scalars[r]))
            if let id = vocab[text] {
                out.append(id)
                continue
            }
            if byteFallback {
                let ids = text.utf8.map { vocab[BPEModel.byteToken($0)] }
                if ids.allSatisfy({ $0 != nil }) {
                    out.append(contentsOf: ids.compactMap { $0 })
                    continue
                }
            }
            if let unk = unknownID { out.append(unk) }
        }
    }
}
