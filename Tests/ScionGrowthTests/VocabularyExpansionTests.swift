// Vocabulary growth: old ids stay, new tokens get ids V…V+k−1 in tokenizer.json, embedding and head
// rows follow the initializer, and with mean init and a tied head the KL on old-vocabulary text
// stays within log(1 + k/V) (TECHNIQUES.md row 10). The seed is a small random GPT-2 with sharp
// outputs (initializer_range 0.5) and a byte-level BPE tokenizer of 300 ids trained on the corpus.

import Foundation
import Testing
import ScionModels
import ScionTensor
import ScionTokenizers
@testable import ScionGrowth

@Suite("Vocabulary growth")
struct VocabularyExpansionTests {
    static let corpus: [String] = {
        let url = GrowthFixtures.modelsRoot.deletingLastPathComponent().appendingPathComponent("tokenizers/corpus.txt")
        return (try! String(contentsOf: url, encoding: .utf8)).split(separator: "\n").map(String.init)
    }()

    /// A random tied GPT-2 (V = 300, C = 32, 2 layers) with a matching tokenizer, saved once.
    static let seedPath: String = {
        let tokenizerJSON = try! BPETrainer(vocabularySize: 300).trainedJSON(on: Array(repeating: corpus, count: 4).flatMap { $0 })
        var g = RandomGenerator(seed: 11)
        let model = GPT2LMHeadModel(config: GPT2Config(vocabSize: 300, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4,
                                                       initializerRange: 0.5), generator: &g)
        let p = GrowthFixtures.temporaryPath("vocab-seed")
        try! model.save(to: p)
        try! tokenizerJSON.write(to: URL(fileURLWithPath: p + "/tokenizer.json"))
        return p
    }()

    static let newTokens = (0..<20).map { "⟨grown-\($0)⟩" }

    /// Old-vocabulary ids of the corpus, in windows of 64.
    static func oldText(_ tok: Tokenizer) -> [[Int]] {
        let ids = corpus.prefix(40).flatMap { tok.encode($0, addSpecialTokens: false).ids }
        return stride(from: 0, to: ids.count, by: 64).map { Array(ids[$0..<min($0 + 64, ids.count)]) }
    }

    @Test("mean init + tied head: old logits unchanged, KL ≤ log(1 + k/V)")
    func meanInitKLBound() throws {
        let seed = try Checkpoint(folder: Self.seedPath)
        let grown = try VocabularyExpansion(tokens: Self.newTokens).grow(seed)
        #expect(grown.vocabularySize == 320)
        let tok = try #require(try seed.extraFiles["tokenizer.json"].map { try Tokenizer(jsonData: $0) })
        let r = try PreservationCheck.compare(before: seed, after: grown, sequences: Self.oldText(tok))
        let bound = VocabularyExpansion.meanInitKLBound(added: 20, vocabularySize: 300)
        print(String(format: "[vocab] mean init, k=20, V=300: mean KL %.4g, max KL %.4g, bound log(1+k/V) = %.4g, old-logit max|Δ| %.3g over %d positions",
                     r.meanKL!, r.maxKL!, bound, r.maxAbsDifference, r.positions))
        #expect(r.maxAbsDifference <= 1e-5)
        #expect(r.maxKL! <= bound)
        #expect(r.maxKL! > 0)
    }

    @Test("tokenizer keeps old ids and gives new tokens V, V+1, …")
    func tokenizerIDs() throws {
        let seed = try Checkpoint(folder: Self.seedPath)
        let out = GrowthFixtures.temporaryPath("vocab-grown")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try VocabularyExpansion(tokens: Self.newTokens, initializer: SubPieceMeanInitializer()).grow(seed).save(to: out)
        let old = try Tokenizer(contentsOf: URL(fileURLWithPath: Self.seedPath + "/tokenizer.json"))
        let new = try Tokenizer(contentsOf: URL(fileURLWithPath: out + "/tokenizer.json"))
        for line in Self.corpus.prefix(20) {
            #expect(new.encode(line, addSpecialTokens: false).ids == old.encode(line, addSpecialTokens: false).ids)
        }
        for (i, t) in Self.newTokens.enumerated() { #expect(new.id(forToken: t) == 300 + i) }
        #expect(new.encode("a" + Self.newTokens[3] + "b", addSpecialTokens: false).ids.contains(303))
        let reloaded = try GPT2LMHeadModel.load(folder: HFFolder(path: out))
        #expect(reloaded.config.vocabSize == 320)
    }

    @Test("sub-piece mean rows are the mean of the pieces' rows")
    func subPieceMean() throws {
        let seed = try Checkpoint(folder: Self.seedPath)
        let op = VocabularyExpansion(tokens: ["⟨a⟩", "⟨b⟩"], initializer: SubPieceMeanInitializer())
        let news = try op.newTokens(seed)
        let grown = try op.grow(seed)
        let e = seed.tensors["transformer.wte.weight"]!.floats(), g = grown.tensors["transformer.wte.weight"]!.floats()
        for (n, t) in news.enumerated() {
            #expect(!t.pieces.isEmpty)
            for j in 0..<32 {
                let mean = t.pieces.reduce(0.0) { $0 + Double(e[$1 * 32 + j]) } / Double(t.pieces.count)
                #expect(abs(Double(g[(300 + n) * 32 + j]) - mean) < 1e-6)
            }
        }
    }

    @Test("Gaussian rows: finite, centred on the old mean, spread like the old rows")
    func gaussian() throws {
        let seed = try Checkpoint(folder: Self.seedPath)
        let k = 400
        let grown = try VocabularyExpansion(tokens: (0..<k).map { "⟨g\($0)⟩" }, initializer: GaussianInitializer(seed: 3)).grow(seed)
        let e = seed.tensors["transformer.wte.weight"]!.floats(), g = grown.tensors["transformer.wte.weight"]!.floats()
        let oldMean = EmbeddingStatistics.mean(e, rows: 300, columns: 32)
        let newMean = EmbeddingStatistics.mean(Array(g[(300 * 32)...]), rows: k, columns: 32)
        #expect(g.allSatisfy { $0.isFinite })
        func variance(_ m: [Float], _ rows: Int, _ mu: [Double]) -> Double {
            var s = 0.0
            for i in 0..<rows { for j in 0..<32 { s += pow(Double(m[i * 32 + j]) - mu[j], 2) } }
            return s / Double(rows * 32)
        }
        let vOld = variance(e, 300, oldMean), vNew = variance(Array(g[(300 * 32)...]), k, newMean)
        for j in 0..<32 { #expect(abs(newMean[j] - oldMean[j]) < 4 * (vOld / Double(k)).squareRoot(), "column \(j)") }
        #expect(abs(vNew / vOld - 1) < 0.25, "variance ratio \(vNew / vOld)")
    }

    @Test("untied head rows are grown too; impossible requests are refused")
    func untiedAndErrors() throws {
        let llama = try GrowthFixtures.checkpoint("llama")
        let grown = try VocabularyExpansion(tokens: ["x", "y"], initializer: MeanInitializer()).grow(llama)
        #expect(grown.tensors["lm_head.weight"]!.shape == [102, 32])
        #expect(grown.tensors["model.embed_tokens.weight"]!.shape == [102, 32])
        #expect(throws: GrowthError.self) {
            try VocabularyExpansion(tokens: ["x"], initializer: SubPieceMeanInitializer()).grow(llama)   // no tokenizer, no pieces
        }
        let seed = try Checkpoint(folder: Self.seedPath)
        let tok = try Tokenizer(jsonData: seed.extraFiles["tokenizer.json"]!)
        let existing = try #require(tok.token(forID: 100))
        do {
            _ = try VocabularyExpansion(tokens: [existing]).grow(seed)
            Issue.record("grew with an existing token")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == "new tokens are not in the vocabulary")
        }
    }
}
