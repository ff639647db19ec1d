// The learned vocabulary initializers and merges-based vocabulary growth: CW2V rows are convex
// combinations of the old rows (weights ≥ 0, summing to 1) and its skip-gram loss falls; OFA rows
// lie in the span of the SVD basis and a token identical to an old one gets that token's row;
// growing a model by new BPE merges keeps every old id and writes the grown tokenizer.json.

import Foundation
import Testing
import ScionModels
import ScionTensor
import ScionTokenizers
@testable import ScionGrowth

@Suite("Vocabulary initializers")
struct VocabularyInitializerTests {
    /// A random old matrix [V, C].
    static func matrix(_ v: Int, _ c: Int, seed: UInt64 = 5) -> [Float] {
        var g = RandomGenerator(seed: seed)
        return (0..<(v * c)).map { _ in Float(g.nextNormal()) }
    }

    /// Sequences over V = 40 old ids plus k = 4 new ids, where new token i (id 40 + i) is a substitute
    /// for old token 3i: it appears in exactly the contexts old token 3i appears in.
    static func substitutionCorpus(seed: UInt64 = 9) -> [[Int]] {
        var g = RandomGenerator(seed: seed)
        var out: [[Int]] = []
        for _ in 0..<300 {
            let j = Int(g.next() % 4), left = 12 + 2 * j, right = 13 + 2 * j
            let centre = g.next() % 2 == 0 ? 3 * j : 40 + j
            out.append([20 + Int(g.next() % 20), left, centre, right, 20 + Int(g.next() % 20)])
        }
        return out
    }

    static let news = (0..<4).map { NewToken(content: "n\($0)", pieces: []) }

    @Test("CW2V: convex weights, falling loss, deterministic, weight on the substituted token")
    func cw2vConvex() throws {
        // C = 32 > V: every old row is a vertex of the hull, so a linear objective can single it out.
        let c = 32
        let e = Self.matrix(40, c)
        let init_ = CW2VInitializer(corpus: Self.substitutionCorpus(), window: 1, steps: 150, batchSize: 128, seed: 1)
        let r = try init_.train(for: Self.news, matrix: e, rows: 40, columns: c)
        #expect(r.weights.count == 4 * 40 && r.rows.count == 4 * c)
        for i in 0..<4 {
            let w = r.weights[(i * 40)..<((i + 1) * 40)]
            #expect(w.allSatisfy { $0 >= 0 })
            #expect(abs(w.reduce(0, +) - 1) < 1e-5)
            for j in 0..<c {
                let combo = (0..<40).reduce(0.0) { $0 + Double(w[i * 40 + $1]) * Double(e[$1 * c + j]) }
                #expect(abs(Double(r.rows[i * c + j]) - combo) < 1e-4)
            }
            // The old token with the same contexts gets far more than the uniform 1/40.
            let target = w[i * 40 + 3 * i]
            print(String(format: "[cw2v] new token %d: weight on its substitute %.3f (uniform %.3f), max %.3f", i, target, 1.0 / 40, w.max()!))
            #expect(target > 5.0 / 40 && target == w.max()!, "token \(i): \(target)")
        }
        func drop(_ l: [Double]) -> (Double, Double) { (l.prefix(15).reduce(0, +) / 15, l.suffix(15).reduce(0, +) / 15) }
        let (c0, c1) = drop(r.contextLosses), (w0, w1) = drop(r.losses)
        print(String(format: "[cw2v] skip-gram loss: context phase %.4f → %.4f, weight phase %.4f → %.4f (%d steps each)",
                     c0, c1, w0, w1, r.losses.count))
        #expect(r.losses.count == 150 && c1 < c0 * 0.8)
        #expect(w1 < w0 * 0.9)
        var short = init_
        short.steps = 5
        let a = try short.train(for: Self.news, matrix: e, rows: 40, columns: c), again = try short.train(for: Self.news, matrix: e, rows: 40, columns: c)
        #expect(again.weights == a.weights && again.losses == a.losses)
    }

    @Test("CW2V: an untied head gets the same convex weights; bad settings are typed errors")
    func cw2vHeadAndErrors() throws {
        let e = Self.matrix(40, 8), h = Self.matrix(40, 8, seed: 6)
        let init_ = CW2VInitializer(corpus: Self.substitutionCorpus(), window: 1, steps: 20, seed: 2)
        let both = try init_.rows(for: Self.news, matrices: [e, h], rows: 40, columns: 8)
        let r = try init_.train(for: Self.news, matrix: e, rows: 40, columns: 8)
        #expect(both[0] == r.rows)
        let headRows = Tensor(r.weights, shape: [4, 40]).matmul(Tensor(h, shape: [40, 8])).floats()
        #expect(zip(both[1], headRows).allSatisfy { abs($0 - $1) < 1e-5 })
        do {
            _ = try CW2VInitializer(corpus: [[1, 2, 99]]).train(for: Self.news, matrix: e, rows: 40, columns: 8)
            Issue.record("accepted id 99 with V + k = 44")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == "CW2V corpus ids are in 0..<V+k")
        }
        #expect(throws: GrowthError.self) { try CW2VInitializer(corpus: [[1]]).train(for: Self.news, matrix: e, rows: 40, columns: 8) }
        #expect(throws: GrowthError.self) {
            try CW2VInitializer(corpus: [[1, 2]], steps: 0).train(for: Self.news, matrix: e, rows: 40, columns: 8)
        }
    }

    static let oldStrings = ["Ġthe", "Ġand", "Ġunder", "ing", "ter", "Ġin", "er", "Ġun", "d", "Ġwater", "Ġinter", "s", "ĠThe", "Ġa", "t", "Ġhouse"]
        + (0..<14).map { "x\($0)" }

    @Test("OFA: rows in the span of the SVD basis; an identical token gets the old row")
    func ofaSpanAndCopy() throws {
        let v = 30, c = 8
        let e = Self.matrix(v, c, seed: 7)
        let tokens = [NewToken(content: "Ġunter", pieces: []), NewToken(content: "Ġwasser", pieces: []),
                      NewToken(content: "Ġinter", pieces: []), NewToken(content: "ZZZ", pieces: [])]
        let r = try OFAInitializer(oldTokens: Self.oldStrings, rank: 4).factorize(for: tokens, matrix: e, rows: v, columns: c)
        #expect(r.rank == 4 && r.basis.count == 4 * c)
        let p = Tensor(r.basis, shape: [4, c])
        let ppt = p.matmul(p.transposed(0, 1)).floats()                                    // P Pᵀ = I (orthonormal rows)
        for i in 0..<4 { for j in 0..<4 { #expect(abs(ppt[i * 4 + j] - (i == j ? 1 : 0)) < 1e-4) } }
        let rows = Tensor(r.rows, shape: [4, c])
        let residual = (rows - rows.matmul(p.transposed(0, 1)).matmul(p)).abs().max().item()   // r − r Pᵀ P
        #expect(residual < 1e-4)
        #expect(r.copied == [nil, nil, 10, nil])
        // Identical token: its coordinates are the old token's, its row that token's rank-4 reconstruction.
        #expect(Array(r.coordinates[(2 * 4)..<(3 * 4)]) == Array(r.oldCoordinates[(10 * 4)..<(11 * 4)]))
        // Neighbours: weights sum to 1; "Ġunter" is spelled most like "Ġunder"/"Ġun"/"Ġinter"/"ter".
        let nUnter = r.neighbours[0]
        #expect(abs(nUnter.reduce(0) { $0 + $1.weight } - 1) < 1e-9)
        #expect(Set(nUnter.prefix(2).map(\.id)).isSubset(of: [2, 7, 10, 4]), "\(nUnter)")
        #expect(r.neighbours[3].isEmpty && r.copied[3] == nil)                               // no shared n-gram: mean coordinates
        // Full rank: the identical token's row is exactly the old row.
        let full = try OFAInitializer(oldTokens: Self.oldStrings).factorize(for: tokens, matrix: e, rows: v, columns: c)
        #expect(full.rank == 8)
        for j in 0..<c { #expect(abs(full.rows[2 * c + j] - e[10 * c + j]) < 1e-4) }
    }

    @Test("OFA: external static vectors pick the neighbours; bad settings are typed errors")
    func ofaStaticVectors() throws {
        let v = 30, c = 8, d = 30
        let e = Self.matrix(v, c, seed: 8)
        var old = [Float](repeating: 0, count: v * d)
        for i in 0..<v { old[i * d + i] = 1 }                                                   // one-hot: orthogonal old vectors
        var new = [Float](repeating: 0, count: 2 * d)
        new[5] = 1                                                                             // new token 0 has old token 5's vector
        let tokens = [NewToken(content: "q0", pieces: []), NewToken(content: "Ġunter", pieces: [])]   // token 1: no vector
        let ofa = OFAInitializer(oldTokens: Self.oldStrings, similarity: .staticVectors(old: old, new: new, dimension: d))
        let r = try ofa.factorize(for: tokens, matrix: e, rows: v, columns: c)
        #expect(r.neighbours[0].first?.id == 5 && r.neighbours[0].first!.weight > 0.99)
        var expected = [Double](repeating: 0, count: c)
        for (id, w) in r.neighbours[0] { for j in 0..<c { expected[j] += w * Double(e[id * c + j]) } }   // full rank: weighted old rows
        for j in 0..<c { #expect(abs(Double(r.rows[j]) - expected[j]) < 1e-4) }
        #expect(Set(r.neighbours[1].prefix(2).map(\.id)).isSubset(of: [2, 7, 10, 4]))               // fell back to n-grams
        #expect(throws: GrowthError.self) { try OFAInitializer(oldTokens: [], rank: 0).factorize(for: tokens, matrix: e, rows: v, columns: c) }
        #expect(throws: GrowthError.self) { try OFAInitializer(oldTokens: [], rank: 9).factorize(for: tokens, matrix: e, rows: v, columns: c) }
        #expect(throws: GrowthError.self) {
            try OFAInitializer(oldTokens: [], similarity: .staticVectors(old: old, new: [1], dimension: d))
                .factorize(for: tokens, matrix: e, rows: v, columns: c)
        }
    }

    @Test("merges growth: old ids kept, tokenizer.json replaced, CW2V and OFA rows through the operator")
    func mergesGrowth() throws {
        let seed = try Checkpoint(folder: VocabularyExpansionTests.seedPath)
        let baseJSON = try #require(seed.extraFiles["tokenizer.json"])
        let text = Array(repeating: VocabularyExpansionTests.corpus, count: 2).flatMap { $0 }
        let ext = try BPETrainer(vocabularySize: 0).extending(baseJSON, on: text, addingTokens: 30, firstID: 300)
        let grownTok = try ext.tokenizer()
        let ids = text.map { grownTok.encode($0, addSpecialTokens: false).ids }
        let cw2v = CW2VInitializer(corpus: ids, steps: 20)
        let old = try Tokenizer(jsonData: baseJSON)
        let ofa = OFAInitializer(oldTokens: (0..<300).map { old.token(forID: $0) ?? "" }, rank: 16)
        for initializer in [cw2v, ofa] as [any EmbeddingInitializer] {
            let grown = try VocabularyExpansion(extension: ext, initializer: initializer).grow(seed)
            #expect(grown.vocabularySize == 330)
            #expect(grown.extraFiles["tokenizer.json"] == ext.tokenizerJSON)
            #expect(grown.lineage.steps.last?.parameters["tokenizer"] == "merges")
            let w = grown.tensors["transformer.wte.weight"]!
            #expect(w.shape == [330, 32] && w.floats().allSatisfy { $0.isFinite })
            #expect(Array(w.floats().prefix(300 * 32)) == seed.tensors["transformer.wte.weight"]!.floats())
        }
        let out = GrowthFixtures.temporaryPath("vocab-merges")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try VocabularyExpansion(extension: ext, initializer: SubPieceMeanInitializer()).grow(seed).save(to: out)
        let reloaded = try Tokenizer(contentsOf: URL(fileURLWithPath: out + "/tokenizer.json"))
        for line in VocabularyExpansionTests.corpus.prefix(10) {
            #expect(reloaded.decode(reloaded.encode(line, addSpecialTokens: false).ids) == line)
        }
        #expect(try GPT2LMHeadModel.load(folder: HFFolder(path: out)).config.vocabSize == 330)
        // An extension that does not start at vocab_size is refused, naming the constraint.
        let off = try BPETrainer(vocabularySize: 0).extending(baseJSON, on: text, addingTokens: 5, firstID: 301)
        do {
            _ = try VocabularyExpansion(extension: off).grow(seed)
            Issue.record("grew with an extension starting at 301")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == "merges extension starts at vocab_size")
        }
    }
}
