// BERT against transformers 5.24: tiny random-config BertModel and BertForMaskedLM written by
// Scripts/fixtures/make_model_fixtures_gpt2_bert.py (Tests/Fixtures/models/bert, bert_mlm), and the
// real all-MiniLM-L6-v2 against sentence-transformers 6.2 (gated on SCION_MINILM_DIR, set by
// `eval "$(bash Scripts/fetch-models.sh)"`).

import Foundation
import Testing
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor
import ScionTestSupport

private struct BertExpected: Decodable {
    var inputIds: [[Int]]
    var tokenTypeIds: [[Int]]
    var lastHiddenState: [Float]
    var hiddenShape: [Int]
    var hiddenStates: [[Float]]
    var poolerOutput: [Float]
    var paddedIds: [[Int]]
    var paddedMask: [[Int]]
    var paddedLastHiddenState: [Float]
    var unpaddedRow1LastHiddenState: [Float]
}

private struct BertMLMExpected: Decodable {
    var inputIds: [[Int]]
    var tokenTypeIds: [[Int]]
    var labels: [[Int]]
    var logits: [Float]
    var logitsShape: [Int]
    var loss: Double
}

private struct MiniLMExpected: Decodable {
    var maxSeqLength: Int
    var sentences: [String]
    var tokenCounts: [Int]
    var embeddings: [[Float]]
}

@Suite struct BERTTests {
    static let tolerance = 1e-4

    func ids(_ rows: [[Int]]) -> Tensor { Tensor(indices: rows.flatMap { $0 }, shape: [rows.count, rows[0].count]) }
    func model() throws -> BertModel { try BertModel.load(folder: HFFolder(path: TinyModelFixtures.path("bert"))) }
    func mlm() throws -> BertForMaskedLM { try BertForMaskedLM.load(folder: HFFolder(path: TinyModelFixtures.path("bert_mlm"))) }

    @Test(arguments: ["bert", "bert_mlm"])
    func strictLoadMatchesCheckpointKeys(name: String) throws {
        let file = try TinyModelFixtures.tensors(TinyModelFixtures.path(name) + "/model.safetensors")
        let m: any Module = name == "bert" ? try model() : try mlm()
        let params = Dictionary(uniqueKeysWithValues: m.namedParameters().map { ($0.0, $0.1.shape) })
        #expect(Set(params.keys) == Set(file.keys))
        for (k, t) in file { #expect(params[k] == t.shape, "\(k)") }
    }

    @Test func hiddenStatesAndPoolerMatchTransformers() throws {
        let m = try model()
        let e = try TinyModelFixtures.decode(BertExpected.self, "bert/expected.json")
        let x = ids(e.inputIds), types = ids(e.tokenTypeIds)
        let last = m.encode(x, attentionMask: nil, tokenTypeIDs: types)
        #expect(last.shape == e.hiddenShape)
        let d = TinyModelFixtures.maxAbsDiff(last.floats(), e.lastHiddenState)
        print("BERT last hidden state maxAbsDiff \(d)")
        #expect(d <= Self.tolerance)
        let states = m.hiddenStates(x, attentionMask: nil, tokenTypeIDs: types)
        #expect(states.count == e.hiddenStates.count)
        for (i, (s, ref)) in zip(states, e.hiddenStates).enumerated() {
            let dh = TinyModelFixtures.maxAbsDiff(s.floats(), ref)
            print("BERT hidden state \(i) maxAbsDiff \(dh)")
            #expect(dh <= Self.tolerance, "hidden state \(i)")
        }
        let pooled = try #require(m.pooled(last))
        let dp = TinyModelFixtures.maxAbsDiff(pooled.floats(), e.poolerOutput)
        print("BERT pooler maxAbsDiff \(dp)")
        #expect(dp <= Self.tolerance)
    }

    @Test func paddedBatchMatchesTransformersAndUnpaddedRow() throws {
        let m = try model()
        let e = try TinyModelFixtures.decode(BertExpected.self, "bert/expected.json")
        let h = m.encode(ids(e.paddedIds), attentionMask: ids(e.paddedMask), tokenTypeIDs: nil).floats()
        let (t, c) = (e.paddedIds[0].count, e.hiddenShape[2])
        var worst = 0.0, worstUnpadded = 0.0
        for b in 0..<2 { for j in 0..<t where e.paddedMask[b][j] == 1 {
            let o = (b * t + j) * c
            worst = Swift.max(worst, TinyModelFixtures.maxAbsDiff(Array(h[o..<(o + c)]), Array(e.paddedLastHiddenState[o..<(o + c)])))
            if b == 1 {
                let u = j * c
                worstUnpadded = Swift.max(worstUnpadded, TinyModelFixtures.maxAbsDiff(
                    Array(h[o..<(o + c)]), Array(e.unpaddedRow1LastHiddenState[u..<(u + c)])))
            }
        } }
        print("BERT padded batch maxAbsDiff \(worst), padded row vs unpadded \(worstUnpadded)")
        #expect(worst <= Self.tolerance && worstUnpadded <= Self.tolerance)
    }

    @Test func maskedLMLogitsAndLossMatchTransformers() throws {
        let m = try mlm()
        let e = try TinyModelFixtures.decode(BertMLMExpected.self, "bert_mlm/expected.json")
        let logits = m.logits(ids(e.inputIds), tokenTypeIDs: ids(e.tokenTypeIds))
        #expect(logits.shape == e.logitsShape)
        let d = TinyModelFixtures.maxAbsDiff(logits.floats(), e.logits)
        print("BERT MLM logits maxAbsDiff \(d)")
        #expect(d <= Self.tolerance)
        let v = e.logitsShape[2]
        let loss = logits.reshaped(-1, v).crossEntropy(targets: ids(e.labels).reshaped(-1)).item()
        print("BERT MLM loss \(loss) vs \(e.loss)")
        #expect(Swift.abs(loss - e.loss) <= Self.tolerance)
    }

    @Test func encoderLoadsFromMaskedLMCheckpoint() throws {
        // "bert."-prefixed keys are stripped, the head skipped, and no pooler is built.
        let enc = try BertModel.load(folder: HFFolder(path: TinyModelFixtures.path("bert_mlm")))
        let full = try mlm()
        let e = try TinyModelFixtures.decode(BertMLMExpected.self, "bert_mlm/expected.json")
        let x = ids(e.inputIds)
        #expect(bitwiseEqual(enc.encode(x, attentionMask: nil, tokenTypeIDs: nil), full.encode(x, attentionMask: nil, tokenTypeIDs: nil)))
        #expect(enc.pooled(enc.encode(x, attentionMask: nil, tokenTypeIDs: nil)) == nil)
    }

    @Test(arguments: ["bert", "bert_mlm"])
    func saveThenLoadIsByteIdentical(name: String) throws {
        let dir = try TinyModelFixtures.temporaryFolder("bert-save")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/saved"
        if name == "bert" { try model().save(to: out) } else { try mlm().save(to: out) }
        let saved = try TinyModelFixtures.tensors(out + "/model.safetensors")
        let original = try TinyModelFixtures.tensors(TinyModelFixtures.path(name) + "/model.safetensors")
        #expect(Set(saved.keys) == Set(original.keys))
        for (k, t) in original { #expect(saved[k].map { bitwiseEqual($0, t) } == true, "\(k)") }
        if name == "bert" {
            let re = try BertModel.load(folder: HFFolder(path: out))
            #expect(re.config == (try model()).config)
        } else {
            let re = try BertForMaskedLM.load(folder: HFFolder(path: out))
            #expect(re.config == (try mlm()).config)
        }
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        #expect(config["model_type"] as? String == "bert" && config["layer_norm_eps"] as? Double == 1e-12)
        #expect(config["architectures"] as? [String] == [name == "bert" ? "BertModel" : "BertForMaskedLM"])
    }

    @Test func legacyGammaBetaAndPositionIDsLoad() throws {
        let original = try TinyModelFixtures.tensors(TinyModelFixtures.path("bert") + "/model.safetensors")
        var legacy: [String: Tensor] = [:]
        for (k, t) in original {
            var key = "bert." + k
            if k.contains("LayerNorm") { key = key.replacingOccurrences(of: ".weight", with: ".gamma").replacingOccurrences(of: ".bias", with: ".beta") }
            legacy[key] = t
        }
        legacy["bert.embeddings.position_ids"] = Tensor(indices: Array(0..<64), shape: [1, 64])
        let m = BertModel(config: try model().config)
        try m.loadCheckpoint(legacy)
        #expect(bitwiseEqual(try #require(m.parameter(at: "encoder.layer.1.output.LayerNorm.bias")).value,
                             try #require(original["encoder.layer.1.output.LayerNorm.bias"])))
    }

    @Test func badConfigAndCheckpointErrors() throws {
        let dir = try TinyModelFixtures.copy("bert")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModelFixtures.editConfig(dir) { $0["hidden_size"] = "thirty-two" }
        #expect { try BertModel.load(folder: HFFolder(path: dir)) } throws: { error in
            guard case ModelLoadError.invalidConfig(_, let field, _) = error else { return false }
            return field == "hidden_size"
        }
        try TinyModelFixtures.editConfig(dir) { $0["hidden_size"] = 32; $0["intermediate_size"] = nil }
        #expect { try BertModel.load(folder: HFFolder(path: dir)) } throws: { error in
            guard case ModelLoadError.invalidConfig(_, let field, _) = error else { return false }
            return field == "intermediate_size"
        }
        try TinyModelFixtures.editConfig(dir) { $0["intermediate_size"] = 64 }
        var t = try TinyModelFixtures.tensors(dir + "/model.safetensors")
        t["encoder.layer.0.attention.self.key.weight"] = nil
        try SafetensorsWriter.write(t, metadata: ["format": "pt"], to: dir + "/model.safetensors")
        #expect { try BertModel.load(folder: HFFolder(path: dir)) } throws: { error in
            guard case ModelLoadError.checkpointMismatch(let m) = error else { return false }
            return m.contains("encoder.layer.0.attention.self.key.weight")
        }
        try TinyModelFixtures.editConfig(dir) { $0["model_type"] = "roberta-xl" }
        #expect { try ModelLoader.loadEncoder(path: dir) } throws: { error in
            guard case ModelLoadError.unknownArchitecture(let name, let supported) = error else { return false }
            return name == "roberta-xl" && supported.contains("bert") && supported.contains("gpt2")
        }
    }

    @Test func registryBuildsBert() throws {
        let loaded = try ModelLoader.loadEncoder(path: TinyModelFixtures.path("bert"))
        #expect(loaded.model is BertModel)
    }

    static var minilmDirectory: String? { ProcessInfo.processInfo.environment["SCION_MINILM_DIR"] }

    @Test(.enabled(if: minilmDirectory != nil, "set SCION_MINILM_DIR (eval \"$(bash Scripts/fetch-models.sh)\")"))
    func miniLMEmbeddingsMatchSentenceTransformers() throws {
        let e = try TinyModelFixtures.decode(MiniLMExpected.self, "minilm_expected.json")
        let embedder = try SentenceEmbedder.load(path: try #require(Self.minilmDirectory), batchSize: 3)
        #expect(embedder.maxSequenceLength == e.maxSeqLength)
        let vectors = embedder.embed(e.sentences)
        #expect(vectors.count == e.sentences.count)
        var worstCosine = 1.0, worstDiff = 0.0
        for (v, ref) in zip(vectors, e.embeddings) {
            let dot = zip(v, ref).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let nv = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let nr = ref.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            worstCosine = Swift.min(worstCosine, dot / (nv * nr))
            worstDiff = Swift.max(worstDiff, TinyModelFixtures.maxAbsDiff(v, ref))
            #expect(Swift.abs(nv - 1) < 1e-5)
        }
        print("MiniLM min cosine \(worstCosine), maxAbsDiff \(worstDiff)")
        #expect(worstCosine >= 0.99999)
        // Batching does not change results.
        let single = SentenceEmbedder(model: embedder.model, tokenizer: embedder.tokenizer,
                                      maxSequenceLength: embedder.maxSequenceLength, batchSize: 1).embed(Array(e.sentences.suffix(2)))
        #expect(TinyModelFixtures.maxAbsDiff(single[1], vectors.last!) < 1e-5)
    }
}
