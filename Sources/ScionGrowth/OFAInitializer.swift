// OFA ("One For All") initialization of new-token rows, from "OFA: A Framework of Initializing
// Unseen Subword Embeddings for Efficient Large-scale Multilingual Continued Pretraining"
// (TECHNIQUES.md row 66, §3.2). The old matrix is factorized by SVD, E ≈ F·P with coordinates
// F = U_{d'}·S_{d'} [V, d'] and an orthonormal basis P = Vt_{d'} [d', C]. A new token identical to an
// old one keeps that token's coordinates; any other new token gets a similarity-weighted mean of
// the coordinates of its most similar old tokens (top `neighbours`, weights softmax(sim/τ) as in
// WECHSEL, which OFA follows); its row is coordinates·P, so every new row lies in the span of P.
//
// Similarity: OFA takes it from external, cross-lingually aligned static word vectors. Scion has
// no such vectors built in: `.staticVectors` takes them from the caller (per-token vectors, e.g.
// averaged from a word-vector file with `subwordVectors(words:tokenize:count:)`), and
// `.characterNGrams` is the substitute used when none are available — Jaccard overlap of the
// tokens' character 1-grams and boundary-marked 2/3-grams (the sub-word surface overlap that
// fastText-style vectors are built from). It is NOT an aligned embedding: it finds old tokens
// that are spelled alike, not ones that mean the same. A token with no similar old token gets the
// mean coordinates (the projected mean row). OFA's other half — training with the factorized,
// smaller embedding — is not done here: the grown checkpoint keeps a dense [V + k, C] matrix.

import Foundation
import ScionTensor

/// New rows from SVD coordinates of similar old tokens (OFA).
///
/// ```swift
/// let old = (0..<v).map { tokenizer.token(forID: $0) ?? "" }
/// let op = VocabularyExpansion(extension: ext, initializer: OFAInitializer(oldTokens: old))
/// ```
public struct OFAInitializer: EmbeddingInitializer {
    /// Where token similarity comes from.
    public enum Similarity: Sendable {
        /// Cosine similarity of external static vectors: `old` [V, dimension] for the old ids and
        /// `new` [k, dimension] for the new tokens (row-major). An all-zero row means "no vector":
        /// such old tokens are never neighbours, such new tokens fall back to character n-grams.
        case staticVectors(old: [Float], new: [Float], dimension: Int)
        /// The substitute for aligned vectors: character n-gram overlap of the token strings.
        case characterNGrams
    }

    public var name: String { "ofa" }
    /// The old vocabulary's strings by id, spelled as ``NewToken/content`` is (e.g. both byte-level
    /// vocabulary strings). With character n-grams, ids past the end and empty strings are never
    /// neighbours; with static vectors, old ids whose vector is all zeros are never neighbours.
    public var oldTokens: [String]
    /// The similarity source.
    public var similarity: Similarity
    /// The factorization rank d' (nil: min(V, C), an exact factorization).
    public var rank: Int?
    /// How many most-similar old tokens contribute.
    public var neighbours: Int
    /// The softmax temperature τ of the similarity weights.
    public var temperature: Double

    /// Creates the initializer; see the properties for the settings.
    public init(oldTokens: [String], similarity: Similarity = .characterNGrams, rank: Int? = nil, neighbours: Int = 10,
                temperature: Double = 0.1) {
        self.oldTokens = oldTokens; self.similarity = similarity; self.rank = rank
        self.neighbours = neighbours; self.temperature = temperature
    }

    /// The factorization and the new tokens' coordinates.
    public struct Result: Sendable {
        /// The rank d'.
        public var rank: Int
        /// Old coordinates F [V, d'] (row-major).
        public var oldCoordinates: [Float]
        /// The basis P [d', C] (row-major, orthonormal rows).
        public var basis: [Float]
        /// New coordinates [k, d'] (row-major).
        public var coordinates: [Float]
        /// New rows coordinates · P [k, C] (row-major).
        public var rows: [Float]
        /// For each new token, its neighbours' old ids and weights (empty when it copied an
        /// identical old token, which is `copied`, or fell back to the mean).
        public var neighbours: [[(id: Int, weight: Double)]]
        /// For each new token, the id of the identical old token whose coordinates it kept.
        public var copied: [Int?]
    }

    /// Factorizes `matrix` [V, C] and computes coordinates and rows for `tokens`.
    ///
    /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` for a rank outside
    ///   1...min(V, C), non-positive settings, more old strings than rows, or vector tables of the
    ///   wrong size; `TensorError` if the SVD fails to converge.
    public func factorize(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> Result {
        let k = tokens.count, full = min(v, c)
        let r = rank ?? full
        try check(v >= 1 && c >= 1 && matrix.count == v * c, "the old matrix is [V, C]", "\(matrix.count) values for V = \(v), C = \(c)")
        try check(r >= 1 && r <= full, "1 <= OFA rank <= min(V, C)", "rank \(r), V = \(v), C = \(c)")
        try check(neighbours >= 1 && temperature > 0, "OFA neighbours >= 1 and temperature > 0",
                  "neighbours \(neighbours), temperature \(temperature)")
        try check(oldTokens.count <= v, "at most V old token strings", "\(oldTokens.count) strings for V = \(v)")
        if case let .staticVectors(old, new, d) = similarity {
            try check(d >= 1 && old.count == v * d && new.count == k * d, "static vectors are [V, d] and [k, d]",
                      "\(old.count) and \(new.count) values for V = \(v), k = \(k), d = \(d)")
        }

        // E = U S Vt: coordinates F = U[:, :r]·diag(S[:r]) [V, r], basis P = Vt[:r, :] [r, C].
        let (u, s, vt) = try Tensor(matrix, shape: [v, c]).svd()                 // U [V, full], S [full], Vt [full, C]
        let f = (u.sliced(axis: 1, 0..<r) * s.sliced(axis: 0, 0..<r).reshaped([1, r])).contiguous()   // [V, r]
        let p = vt.sliced(axis: 0, 0..<r).contiguous()                                               // [r, C]
        let fv = f.floats()
        var mean = [Double](repeating: 0, count: r)
        for i in 0..<v { for j in 0..<r { mean[j] += Double(fv[i * r + j]) / Double(v) } }

        var exact: [String: Int] = [:]
        for (id, t) in oldTokens.enumerated() where !t.isEmpty && exact[t] == nil { exact[t] = id }
        let similarities = try similarityLists(tokens)
        var coords = [Float](), lists: [[(id: Int, weight: Double)]] = [], copied: [Int?] = []
        coords.reserveCapacity(k * r)
        for (i, t) in tokens.enumerated() {
            if let j = exact[t.content] {
                coords += fv[(j * r)..<((j + 1) * r)]
                lists.append([]); copied.append(j)
                continue
            }
            copied.append(nil)
            let top = similarities[i].sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(neighbours)
            guard !top.isEmpty else {
                coords += mean.map(Float.init)
                lists.append([])
                continue
            }
            let hi = top.first!.1
            let e = top.map { Foundation.exp(($0.1 - hi) / temperature) }
            let z = e.reduce(0, +)
            var row = [Double](repeating: 0, count: r)
            var list: [(id: Int, weight: Double)] = []
            for ((id, _), ei) in zip(top, e) {
                let w = ei / z
                list.append((id, w))
                for j in 0..<r { row[j] += w * Double(fv[id * r + j]) }
            }
            coords += row.map(Float.init)
            lists.append(list)
        }
        let newRows = k == 0 ? [] : Tensor(coords, shape: [k, r]).matmul(p).floats()          // [k, C]
        return Result(rank: r, oldCoordinates: fv, basis: p.floats(), coordinates: coords, rows: newRows,
                      neighbours: lists, copied: copied)
    }

    public func rows(for tokens: [NewToken], matrix: [Float], rows v: Int, columns c: Int) throws -> [Float] {
        try factorize(for: tokens, matrix: matrix, rows: v, columns: c).rows
    }

    /// For each new token, (old id, similarity) of every candidate neighbour.
    func similarityLists(_ tokens: [NewToken]) throws -> [[(Int, Double)]] {
        var out = [[(Int, Double)]](repeating: [], count: tokens.count)
        var needGrams = Array(tokens.indices)
        if case let .staticVectors(old, new, d) = similarity {
            let o = Self.normalizedRows(old, dimension: d), n = Self.normalizedRows(new, dimension: d)
            let oldHas = (0..<(old.count / d)).filter { i in o[(i * d)..<((i + 1) * d)].contains { $0 != 0 } }
            needGrams = []
            let sims = Tensor(n, shape: [tokens.count, d]).matmul(Tensor(o, shape: [old.count / d, d]).transposed(0, 1)).floats()   // [k, V]
            let v = old.count / d
            for i in tokens.indices {
                guard n[(i * d)..<((i + 1) * d)].contains(where: { $0 != 0 }) else { needGrams.append(i); continue }
                out[i] = oldHas.map { ($0, Double(sims[i * v + $0])) }
            }
        }
        if needGrams.isEmpty { return out }
        // Inverted index over the old tokens' n-gram sets, then Jaccard |A ∩ B| / |A ∪ B|.
        var postings: [String: [Int]] = [:]
        var sizes = [Int](repeating: 0, count: oldTokens.count)
        for (id, t) in oldTokens.enumerated() where !t.isEmpty {
            let grams = Self.nGrams(t)
            sizes[id] = grams.count
            for gram in grams { postings[gram, default: []].append(id) }
        }
        for i in needGrams {
            let grams = Self.nGrams(tokens[i].content)
            var shared: [Int: Int] = [:]
            for gram in grams { for id in postings[gram] ?? [] { shared[id, default: 0] += 1 } }
            out[i] = shared.map { id, n in (id, Double(n) / Double(grams.count + sizes[id] - n)) }
        }
        return out
    }

    /// A token's character 1-grams and its 2- and 3-grams with "⟨" "⟩" marking the ends.
    static func nGrams(_ s: String) -> Set<String> {
        let chars = Array(s), marked = ["⟨"] + chars.map(String.init) + ["⟩"]
        var grams = Set(chars.map(String.init))
        for n in 2...3 where marked.count >= n {
            for i in 0...(marked.count - n) { grams.insert(marked[i..<(i + n)].joined()) }
        }
        return grams
    }

    static func normalizedRows(_ m: [Float], dimension d: Int) -> [Float] {
        var out = m
        for i in 0..<(m.count / d) {
            let norm = (i * d..<(i + 1) * d).reduce(0.0) { $0 + Double(m[$1]) * Double(m[$1]) }.squareRoot()
            if norm > 0 { for j in (i * d)..<((i + 1) * d) { out[j] = Float(Double(m[j]) / norm) } }
        }
        return out
    }

    /// Per-token static vectors from word vectors, as WECHSEL and OFA build subword vectors: each
    /// token's vector is the mean of the vectors of the words whose tokenization contains it.
    ///
    /// - Parameters:
    ///   - words: Word vectors of one dimension (e.g. from ``readWordVectors(path:)``).
    ///   - tokenize: The (grown) tokenizer's ids for a word.
    ///   - count: The number of ids (V + k); tokens no word reaches get a zero row.
    /// - Returns: [count, d] row-major.
    public static func subwordVectors(words: [String: [Float]], tokenize: (String) -> [Int], count: Int) -> [Float] {
        guard let d = words.values.first?.count else { return [] }
        var sum = [Double](repeating: 0, count: count * d), n = [Int](repeating: 0, count: count)
        for w in words.keys.sorted() {
            let vec = words[w]!
            for id in Set(tokenize(w)) where id >= 0 && id < count && vec.count == d {
                n[id] += 1
                for j in 0..<d { sum[id * d + j] += Double(vec[j]) }
            }
        }
        return (0..<(count * d)).map { n[$0 / d] > 0 ? Float(sum[$0] / Double(n[$0 / d])) : 0 }
    }

    /// Reads a word2vec/fastText text file ("word v1 … vd" per line; a first "count d" line is skipped).
    ///
    /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` for an unreadable
    ///   file, a line with a non-number or a dimension other than the first line's.
    public static func readWordVectors(path: String) throws -> [String: [Float]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw GrowthError.constraintViolated(operator: "vocab", constraint: "the word-vector file is readable UTF-8", detail: path)
        }
        var out: [String: [Float]] = [:]
        var d: Int?
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if n == 0 && parts.count == 2 && Int(parts[0]) != nil && Int(parts[1]) != nil { continue }
            let values = parts.dropFirst().map { Float($0) }
            guard parts.count >= 2, !values.contains(nil), values.count == (d ?? values.count) else {
                throw GrowthError.constraintViolated(operator: "vocab", constraint: "word-vector lines are 'word v1 … vd' with one d",
                                                     detail: "\(path) line \(n + 1)")
            }
            d = values.count
            out[String(parts[0])] = values.map { $0! }
        }
        guard !out.isEmpty else {
            throw GrowthError.constraintViolated(operator: "vocab", constraint: "the word-vector file has vectors", detail: path)
        }
        return out
    }

    private func check(_ condition: Bool, _ constraint: String, _ detail: @autoclosure () -> String) throws {
        if !condition { throw GrowthError.constraintViolated(operator: "vocab", constraint: constraint, detail: detail()) }
    }
}
