// Llama-family models against transformers 5.24: tiny random-config Llama (GQA, untied), Llama-3 RoPE
// scaling (tied) and Qwen2 (q/k/v bias) from Scripts/fixtures/make_model_fixtures_llama.py, and the
// real SmolLM2-135M Q4_1 GGUF (gated on SCION_SMOLLM2_GGUF; set by Scripts/fetch-models.sh).

import Foundation
import Testing
import ScionCheckpoint
import ScionNN
import ScionTensor
@testable import ScionModels

enum LlamaFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    static func folder(_ name: String) throws -> HFFolder { try HFFolder(path: root.appendingPathComponent(name).path) }

    static func expected(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent(name).appendingPathComponent("expected.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func doubles(_ any: Any?) -> [Double] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue } ?? [] }
    static func ints(_ any: Any?) -> [Int] { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }

    static func maxAbsDiff(_ a: Tensor, _ b: [Double]) -> Double {
        let x = a.floats()
        precondition(x.count == b.count, "sizes \(x.count) vs \(b.count)")
        return zip(x, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
    }

    static func greedy(_ model: any LanguageModel, prompt: [Int], newTokens: Int) -> [Int] {
        let cache = model.makeCache(batchSize: 1, capacity: prompt.count + newTokens)
        var ids = prompt, out: [Int] = []
        for _ in 0..<newTokens {
            let logits = model.logits(Tensor(indices: ids, shape: [1, ids.count]), cache: cache, attentionMask: nil)
            let last = logits.sliced(axis: 1, (logits.shape[1] - 1)..<logits.shape[1]).reshaped([-1]).floats()
            let next = last.indices.max { last[$0] < last[$1] }!
            out.append(next); ids = [next]
        }
        return out
    }
}

@Suite struct LlamaTests {
    static let tinyModels = ["llama", "llama3_rope", "qwen2"]

    @Test(arguments: tinyModels) func strictKeysAndConfig(name: String) throws {
        let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
        let file = try SafetensorsCheckpoint(path: LlamaFixtures.root.appendingPathComponent(name).path)
        let keys = Set(model.namedLeaves().map { $0.0 })
        #expect(keys == Set(file.tensorNames))
        #expect(keys.contains("model.layers.1.mlp.down_proj.weight"))
        if name == "qwen2" {
            #expect(keys.contains("model.layers.0.self_attn.q_proj.bias") && !keys.contains("model.layers.0.self_attn.o_proj.bias"))
        }
        if name == "llama3_rope" {
            #expect(model.config.tieWordEmbeddings && model.config.ropeScaling?.ropeType == "llama3")
            #expect(!keys.contains("lm_head.weight"))
            #expect(model.lmHead.weight.parameter === model.model.embedTokens.weight.parameter)
        }
        #expect(model.config.numKeyValueHeads == 2 && model.config.headDim == 8)
    }

    @Test(arguments: tinyModels) func logitsAndHiddenStatesMatchTransformers(name: String) throws {
        let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
        let e = try LlamaFixtures.expected(name)
        let ids = LlamaFixtures.ints(e["ids"])
        let x = Tensor(indices: ids, shape: [1, ids.count])
        let logitsDiff = LlamaFixtures.maxAbsDiff(model(x), LlamaFixtures.doubles(e["logits"]))
        #expect(logitsDiff <= 1e-4, "\(name) logits max |Δ| \(logitsDiff)")
        let hidden = model.hiddenStates(x)
        let expected = try #require(e["hidden_states"] as? [Any])
        #expect(hidden.count == expected.count)
        for (i, h) in hidden.enumerated() {
            let d = LlamaFixtures.maxAbsDiff(h, LlamaFixtures.doubles(expected[i]))
            #expect(d <= 1e-4, "\(name) hidden state \(i) max |Δ| \(d)")
        }
        print("\(name): logits max |Δ| \(logitsDiff)")
    }

    @Test(arguments: tinyModels) func leftPaddedBatchMatchesTransformers(name: String) throws {
        let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
        let e = try LlamaFixtures.expected(name)
        let rows = try #require(e["padded_ids"] as? [[Int]]), masks = try #require(e["padded_mask"] as? [[Int]])
        let t = rows[0].count
        let logits = model.logits(Tensor(indices: rows.flatMap { $0 }, shape: [rows.count, t]), cache: nil,
                                  attentionMask: Tensor(indices: masks.flatMap { $0 }, shape: [rows.count, t]))
        // Only real tokens are compared: padding rows' outputs are unspecified (HF and Scion differ there).
        let got = logits.floats(), want = LlamaFixtures.doubles(e["padded_logits"])
        let v = model.vocabularySize
        var worst = 0.0
        for b in 0..<rows.count { for s in 0..<t where masks[b][s] == 1 {
            for j in 0..<v { worst = max(worst, abs(Double(got[(b * t + s) * v + j]) - want[(b * t + s) * v + j])) }
        } }
        #expect(worst <= 1e-4, "\(name) padded batch max |Δ| \(worst)")
    }

    @Test(arguments: tinyModels) func cachedDecodingEqualsFullRecompute(name: String) throws {
        let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
        let ids = LlamaFixtures.ints(try LlamaFixtures.expected(name)["ids"])
        let full = model(Tensor(indices: ids, shape: [1, ids.count])).floats()
        let cache = model.makeCache(batchSize: 1, capacity: ids.count)
        var pieces: [Float] = model.logits(Tensor(indices: Array(ids[..<4]), shape: [1, 4]), cache: cache, attentionMask: nil).floats()
        for id in ids[4...] { pieces += model.logits(Tensor(indices: [id], shape: [1, 1]), cache: cache, attentionMask: nil).floats() }
        let d = zip(full, pieces).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(cache.length == ids.count)
        #expect(d <= 1e-5, "\(name) cached vs full max |Δ| \(d)")
    }

    @Test(arguments: tinyModels) func greedyGenerationIsTokenIdentical(name: String) throws {
        let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
        let e = try LlamaFixtures.expected(name)
        let got = LlamaFixtures.greedy(model, prompt: LlamaFixtures.ints(e["generate_prompt"]), newTokens: 10)
        #expect(got == LlamaFixtures.ints(e["generated"]))
    }

    @Test func ropeScalingFrequencies() throws {
        // Llama 3 with head_dim 8, base 500000, factor 8, low 1, high 4, original context 16:
        // wavelengths 2π, 167, 4443, 118 000 → smoothed (4 < 2π < 16), then divided by 8 three times.
        let c = try LlamaFixtures.folder("llama3_rope").decodeConfig(LlamaConfig.self)
        let inv = c.inverseFrequencies
        let plain = (0..<4).map { 1 / pow(500_000.0, Double(2 * $0) / 8) }
        let smooth = (16 / (2 * Double.pi) - 1) / 3
        #expect(abs(inv[0] - ((1 - smooth) / 8 + smooth)) < 1e-6)
        for i in 1..<4 { #expect(abs(inv[i] / (plain[i] / 8) - 1) < 1e-5) }
        var linear = c
        linear.ropeScaling = RopeScaling(ropeType: "linear", factor: 4)
        for i in 0..<4 { #expect(abs(linear.inverseFrequencies[i] / (plain[i] / 4) - 1) < 1e-5) }
        // A bad rope type names its field.
        linear.ropeScaling = RopeScaling(ropeType: "yarn", factor: 4)
        #expect(throws: ModelLoadError.self) { try linear.validate() }
    }

    @Test func saveLoadRoundTrip() throws {
        for name in ["llama3_rope", "qwen2"] {
            let model = try LlamaForCausalLM.load(folder: try LlamaFixtures.folder(name))
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-llama-\(name)-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try model.save(to: dir, overwrite: true)
            let back = try LlamaForCausalLM.load(folder: HFFolder(path: dir))
            #expect(back.config == model.config)
            let a = model.stateDictionary(), b = back.stateDictionary()
            #expect(Set(a.keys) == Set(b.keys))
            for (k, t) in a { #expect(t.floats() == b[k]!.floats(), "\(k)") }
        }
    }

    @Test func randomInitAndRegistry() throws {
        var g = RandomGenerator(seed: 7)
        let config = LlamaConfig(vocabSize: 50, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1,
                                             numAttentionHeads: 4, numKeyValueHeads: 1, tieWordEmbeddings: true)
        let model = try LlamaForCausalLM(config: config, generator: &g)
        let w = try #require(model.parameter(at: "model.layers.0.mlp.up_proj.weight")).value.floats()
        let std = (w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(abs(std - 0.02) < 0.004)
        #expect(model(Tensor(indices: [1, 2, 3], shape: [1, 3])).shape == [1, 3, 50])
        let loaded = try ModelLoader.loadLanguageModel(path: LlamaFixtures.root.appendingPathComponent("qwen2").path)
        #expect(loaded.model is LlamaForCausalLM)
    }

    @Test func badConfigNamesTheField() throws {
        let bad = LlamaConfig(vocabSize: 10, hiddenSize: 12, intermediateSize: 8, numHiddenLayers: 1,
                                          numAttentionHeads: 3, numKeyValueHeads: 2)
        do {
            try bad.validate()
            Issue.record("expected invalidConfig")
        } catch let ModelLoadError.invalidConfig(_, field, _) {
            #expect(field == "num_key_value_heads")
        }
        var g = RandomGenerator(seed: 1)
        #expect(throws: ModelLoadError.self) { _ = try LlamaForCausalLM(config: bad, generator: &g) }
    }

    @Test func missingTensorNamesTheKey() throws {
        let src = LlamaFixtures.root.appendingPathComponent("llama")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-llama-missing-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tensors = try LlamaFixtures.folder("llama").tensors()
        tensors["model.layers.1.mlp.up_proj.weight"] = nil
        try HFFolder.save(to: dir, config: try Data(contentsOf: src.appendingPathComponent("config.json")), tensors: tensors,
                          overwrite: true)
        do {
            _ = try LlamaForCausalLM.load(folder: HFFolder(path: dir))
            Issue.record("expected checkpointMismatch")
        } catch let ModelLoadError.checkpointMismatch(message) {
            #expect(message.contains("model.layers.1.mlp.up_proj.weight"))
        }
    }

    @Test func slidingWindowIsRefusedNotIgnored() throws {
        let mistral = LlamaConfig(modelType: "mistral", vocabSize: 10, hiddenSize: 8, intermediateSize: 8,
                                              numHiddenLayers: 1, numAttentionHeads: 2, slidingWindow: 4)
        #expect(mistral.activeSlidingWindow == 4)
        var qwen = mistral
        qwen.modelType = "qwen2"
        #expect(qwen.activeSlidingWindow == nil)
        qwen.useSlidingWindow = true
        #expect(qwen.activeSlidingWindow == 4)
    }
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF against transformers' GGUF loader (which dequantizes to float32).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"] != nil, "set SCION_SMOLLM2_GGUF"),
       .serialized)
struct SmolLM2Tests {
    static func load() throws -> (LlamaForCausalLM, [String: Any]) {
        let path = try #require(ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"])
        let model = try LlamaForCausalLM.load(gguf: try GGUFFile(path: path))
        let data = try Data(contentsOf: LlamaFixtures.root.appendingPathComponent("smollm2_expected.json"))
        return (model, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
    }

    @Test func logitsPerplexityGenerationAndMemory() throws {
        let (model, e) = try Self.load()
        // Memory: every matrix stays quantized; dense weights are only the 61 norm vectors.
        let dense = model.namedParameters().reduce(0) { $0 + $1.1.value.count * 4 }
        let quantized = model.namedLeaves().reduce(0) { acc, leaf in
            if case .quantized(let q) = leaf.1 { return acc + q.byteCount } else { return acc }
        }
        #expect(dense < 1_000_000, "dense bytes \(dense)")
        // Q4_1 is 0.625 B/weight and the Q8_0 embedding 1.06 B/weight: under 1 B/weight, a quarter of f32.
        #expect(quantized < model.numberOfParameters, "quantized bytes \(quantized)")
        let viaLoader = try ModelLoader.loadLanguageModel(path: try #require(ProcessInfo.processInfo.environment["SCION_SMOLLM2_GGUF"]))
        #expect(viaLoader.model is LlamaForCausalLM && viaLoader.tokenizer != nil)

        // Logits at chosen positions. Scion multiplies the quantized blocks directly (d·Σq·x, or tiles
        // dequantized for GEMM) while transformers multiplies float32 dequantized weights: the same
        // products rounded in another order. Measured max |Δ| 3.1e-5 over 30 layers on logits of
        // magnitude ~20; 1e-3 leaves 30× margin and still catches any layout or RoPE error, which
        // moves logits by whole units (FORMATS.md §3).
        let cases = try #require(e["cases"] as? [[String: Any]])
        var worst = 0.0
        for c in cases.prefix(2) {
            let ids = LlamaFixtures.ints(c["ids"])
            let logits = model(Tensor(indices: ids, shape: [1, ids.count])).floats()
            let v = model.vocabularySize
            for p in try #require(c["positions"] as? [[String: Any]]) {
                let pos = try #require(p["position"] as? Int)
                for (id, want) in zip(LlamaFixtures.ints(p["ids"]), LlamaFixtures.doubles(p["values"])) {
                    worst = max(worst, abs(Double(logits[pos * v + id]) - want))
                }
            }
        }
        print("SmolLM2 logits max |Δ| \(worst)")
        #expect(worst < 1e-3)

        // Perplexity of the paragraph: mean NLL of each next token.
        let pids = LlamaFixtures.ints(e["perplexity_ids"])
        let logp = model(Tensor(indices: pids, shape: [1, pids.count])).logSoftmax(axis: -1).floats()
        let v = model.vocabularySize
        var nll = 0.0
        for i in 0..<(pids.count - 1) { nll -= Double(logp[i * v + pids[i + 1]]) }
        nll /= Double(pids.count - 1)
        let want = try #require(e["mean_nll"] as? Double)
        print("SmolLM2 mean NLL \(nll) vs transformers \(want) (perplexity \(exp(nll)) vs \(exp(want)))")
        #expect(abs(nll - want) < 1e-4)   // measured 8e-6

        // Greedy generation: all 12 fixture tokens in release; 3 in debug builds, where unoptimized
        // SIMD makes each decoded token take seconds.
        #if DEBUG
        let count = 3
        #else
        let count = 12
        #endif
        let gen = LlamaFixtures.greedy(model, prompt: LlamaFixtures.ints(e["generate_prompt_ids"]), newTokens: count)
        #expect(gen == Array(LlamaFixtures.ints(e["generated"]).prefix(count)))
    }
}
