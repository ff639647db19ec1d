// SentencePiece-style BPE driven by piece scores, as GGUF `tokenizer.ggml.model = "llama"` stores it.
// Follows llama.cpp's llm_tokenizer_spm: start from UTF-8 characters, repeatedly merge the adjacent
// pair whose concatenation is a vocabulary piece with the highest score (leftmost on ties), then map
// pieces missing from the vocabulary to <0xNN> byte tokens. No merge list is needed.

/// A scored SentencePiece vocabulary used with score-ordered BPE merges.
final class SentencePieceBPEModel: Sendable {
    let vocab: [String: Int]
    let scores: [Float]
    let unknownID: Int?
    let byteTokenIDs: [Int?]

    init(tokens: [String], scores: [Float], unknownID: Int?) {
        var v: [String: Int] = [:]
        v.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where v[t] == nil { v[t] = i }
        self.vocab = v
        self.scores = scores
        self.unknownID = unknownID
        self.byteTokenIDs = (0..<256).map { v[BPEModel.byteToken(UInt8($0))] }
    }

    private struct Bigram: Comparable {
        var score: Float
        var left: Int
        var size: Int
        // Max-heap on score through MinHeap: "smaller" means higher score, then lower left index.
        static func < (a: Bigram, b: Bigram) -> Bool {
            a.score != b.score ? a.score > b.score : a.left < b.left
        }
    }

    func tokenize(_ text: String, into out: inout [Int]) {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return }
        // Symbols are byte ranges [start, start + length) linked in a list.
        var start: [Int] = []
        var length: [Int] = []
        var p = 0
        while p < bytes.count {
            let b = bytes[p]
            let len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            let l = min(len, bytes.count - p)
            start.append(p)
            length.append(l)
            p += l
        }
        let n = start.count
        var prev = Array(-1..<(n - 1))
        var next = Array(1...n)
        var heap = MinHeap<Bigram>()
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right < n else { return }
            let s = String(decoding: bytes[start[left]..<(start[right] + length[right])], as: UTF8.self)
            guard let id = vocab[s] else { return }
            heap.push(Bigram(score: scores[id], left: left, size: length[left] + length[right]))
        }
        for i in 1..<max(n, 1) { tryAdd(i - 1, i) }
        while let top = heap.pop() {
            let l = top.left
            let r = next[l]
            guard r < n, length[l] > 0, length[r] > 0, length[l] + length[r] == top.size else {
                continue
            }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] < n { prev[next[r]] = l }
            tryAdd(prev[l], l)
            tryAdd(l, next[l])
        }
        var i = 0
        while i < n {
            let piece = bytes[start[i]..<(start[i] + length[i])]
            if let id = vocab[String(decoding: piece, as: UTF8.self)] {
                out.append(id)
            } else {
                for b in piece {
                    if let id = byteTokenIDs[Int(b)] {
                        out.append(id)
                    } else if let unk = unknownID {
                        out.append(unk)
                    }
                }
            }
            i = next[i]
        }
    }
}
