// GPT-2 against transformers 5.24: a tiny random-config GPT2LMHeadModel written by
// Scripts/fixtures/make_model_fixtures_gpt2_bert.py (Tests/Fixtures/models/gpt2). Checks key
// conformance, logits / hidden states / loss, left-padded batches, KV-cache decoding, greedy
// generation, save → load round trips, config and checkpoint errors, and the random init.

import Foundation
import Testing
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor
import ScionTestSupport

/// Fixture folders and helpers shared by the GPT-2 and BERT tests.
enum TinyModelFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/models")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    static func decode<T: Decodable>(_ type: T.Type, _ file: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(contentsOf: root.appendingPathComponent(file)))
    }

    /// A fresh temporary folder (removed by the caller).
    static func temporaryFolder(_ label: String) throws -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("scion-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Copies a fixture folder's config.json and model.safetensors into a temporary folder.
    static func copy(_ name: String) throws -> String {
        let dst = try temporaryFolder(name)
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: path(name) + "/" + f, toPath: dst + "/" + f)
        }
        return dst
    }

    /// Rewrites config.json in `folder` through `edit`.
    static func editConfig(_ folder: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: folder + "/config.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    /// Every tensor of a safetensors file, by name.
    static func tensors(_ file: String) throws -> [String: Tensor] {
        let c = try SafetensorsCheckpoint(path: file)
        var out: [String: Tensor] = [:]
        for n in c.tensorNames { out[n] = try c.tensor(named: n) }
        return out
    }

    /// Largest |a − b| over equal-length arrays (∞ when lengths differ).
    static func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { Swift.max($0, Double(Swift.abs($1.0 - $1.1))) }
    }
}

private struct GPT2Expected: Decodable {
    var inputIds: [[Int]]
    var logits: [Float]
    var logitsShape: [Int]
    var hiddenStates: [[Float]]
    var hiddenShape: [Int]
    var loss: Double
    var paddedIds: [[Int]]
    var paddedMask: [[Int]]
    var paddedLogits: [Float]
    var generationPrompt: [[Int]]
    var generated: [[Int]]
    var batchGenerated: [[Int]]
}

@Suite struct GPT2Tests {
    static let tolerance = 1e-4

    func model() throws -> GPT2LMHeadModel { try GPT2LMHeadModel.load(folder: HFFolder(path: TinyModelFixtures.path("gpt2"))) }
    fileprivate func expected() throws -> GPT2Expected { try TinyModelFixtures.decode(GPT2Expected.self, "gpt2/expected.json") }

    func ids(_ rows: [[Int]]) -> Tensor { Tensor(indices: rows.flatMap { $0 }, shape: [rows.count, rows[0].count]) }

    @Test func strictLoadMatchesCheckpointKeys() throws {
        let m = try model()
        let file = try TinyModelFixtures.tensors(TinyModelFixtures.path("gpt2") + "/model.safetensors")
        let params = Dictionary(uniqueKeysWithValues: m.namedParameters().map { ($0.0, $0.1.shape) })
        #expect(Set(params.keys) == Set(file.keys))
        for (k, t) in file { #expect(params[k] == t.shape, "\(k)") }
        #expect(m.parameter(at: "transformer.h.0.attn.c_attn.weight")?.shape == [32, 96])   // Conv1D [in, out]
        // Tied: lm_head is the token embedding's own Parameter.
        #expect(m.lmHead.weight.parameter === m.transformer.wte.weight.parameter)
    }

    @Test func logitsHiddenStatesAndLossMatchTransformers() throws {
        let (m, e) = (try model(), try expected())
        let x = ids(e.inputIds)
        let logits = m(x)
        #expect(logits.shape == e.logitsShape)
        let d = TinyModelFixtures.maxAbsDiff(logits.floats(), e.logits)
        print("GPT2 logits maxAbsDiff \(d)")
        #expect(d <= Self.tolerance)
        let states = m.hiddenStates(x)
        #expect(states.count == e.hiddenStates.count)
        for (i, (s, ref)) in zip(states, e.hiddenStates).enumerated() {
            #expect(s.shape == e.hiddenShape)
            let dh = TinyModelFixtures.maxAbsDiff(s.floats(), ref)
            print("GPT2 hidden state \(i) maxAbsDiff \(dh)")
            #expect(dh <= Self.tolerance, "hidden state \(i)")
        }
        let loss = m.loss(x).item()
        print("GPT2 loss \(loss) vs \(e.loss)")
        #expect(Swift.abs(loss - e.loss) <= Self.tolerance)
    }

    @Test func leftPaddedBatchMatchesTransformers() throws {
        let (m, e) = (try model(), try expected())
        let logits = m.logits(ids(e.paddedIds), cache: nil, attentionMask: ids(e.paddedMask)).floats()
        let v = m.vocabularySize, t = e.paddedIds[0].count
        var worst = 0.0
        for b in 0..<e.paddedIds.count { for j in 0..<t where e.paddedMask[b][j] == 1 {
            let o = (b * t + j) * v
            worst = Swift.max(worst, TinyModelFixtures.maxAbsDiff(Array(logits[o..<(o + v)]), Array(e.paddedLogits[o..<(o + v)])))
        } }
        print("GPT2 left-padded logits maxAbsDiff \(worst)")
        #expect(worst <= Self.tolerance)
    }

    @Test func kvCacheDecodingEqualsFullRecompute() throws {
        let (m, e) = (try model(), try expected())
        let x = ids(e.inputIds)
        let full = m(x).floats()
        let (b, t, v) = (2, x.shape[1], m.vocabularySize)
        let cache = m.makeCache(batchSize: b, capacity: 16)
        var pieces = [m.logits(x.sliced(axis: 1, 0..<4), cache: cache, attentionMask: nil)]   // prefill 4
        for j in 4..<t { pieces.append(m.logits(x.sliced(axis: 1, j..<(j + 1)), cache: cache, attentionMask: nil)) }
        #expect(cache.length == t)
        let cached = Tensor.concat(pieces, axis: 1).floats()
        let d = TinyModelFixtures.maxAbsDiff(cached, full)
        print("GPT2 KV-cache vs full recompute maxAbsDiff \(d)")
        #expect(d <= 1e-5)
        #expect(cached.count == b * t * v)
    }

    /// Greedy decoding with the cache: prefill, then one token per step (mask grows by one column).
    func greedy(_ m: GPT2LMHeadModel, prompt: [[Int]], mask: [[Int]]?, newTokens: Int) -> [[Int]] {
        let b = prompt.count
        var rows = prompt, maskRows = mask
        let cache = m.makeCache(batchSize: b, capacity: prompt[0].count + newTokens)
        var input = ids(prompt)
        for _ in 0..<newTokens {
            let lg = m.logits(input, cache: cache, attentionMask: maskRows.map(ids))
            let last = lg.selecting(axis: 1, index: lg.shape[1] - 1)            // [B, V]
            let next = last.argmax(axis: -1).ints()
            for i in 0..<b { rows[i].append(next[i]) }
            if maskRows != nil { for i in 0..<b { maskRows![i].append(1) } }
            input = Tensor(indices: next, shape: [b, 1])
        }
        return rows
    }

    @Test func greedyGenerationIsTokenIdenticalToTransformers() throws {
        let (m, e) = (try model(), try expected())
        #expect(greedy(m, prompt: e.generationPrompt, mask: nil, newTokens: 10) == e.generated)
        #expect(greedy(m, prompt: e.paddedIds, mask: e.paddedMask, newTokens: 10) == e.batchGenerated)
    }

    @Test func saveThenLoadIsByteIdentical() throws {
        let m = try model()
        let dir = try TinyModelFixtures.temporaryFolder("gpt2-save")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/saved"
        try m.save(to: out)
        let saved = try TinyModelFixtures.tensors(out + "/model.safetensors")
        let original = try TinyModelFixtures.tensors(TinyModelFixtures.path("gpt2") + "/model.safetensors")
        #expect(Set(saved.keys) == Set(original.keys))
        #expect(saved["lm_head.weight"] == nil)
        for (k, t) in original { #expect(saved[k].map { bitwiseEqual($0, t) } == true, "\(k)") }
        let reloaded = try GPT2LMHeadModel.load(folder: HFFolder(path: out))
        #expect(reloaded.config == m.config)
        #expect(reloaded.lmHead.weight.parameter === reloaded.transformer.wte.weight.parameter)
        #expect(throws: CheckpointError.self) { try m.save(to: out) }    // exists, no overwrite
        try m.save(to: out, overwrite: true)
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        #expect(config["model_type"] as? String == "gpt2")
        #expect(config["n_embd"] as? Int == 32 && config["layer_norm_epsilon"] as? Double == 1e-5)
        #expect(config["architectures"] as? [String] == ["GPT2LMHeadModel"])
    }

    @Test func registryBuildsGPT2() throws {
        let loaded = try ModelLoader.loadLanguageModel(path: TinyModelFixtures.path("gpt2"))
        #expect(loaded.model is GPT2LMHeadModel)
        #expect(loaded.model.layerCount == 2 && loaded.model.maxPositions == 64)
    }

    @Test func checkpointKeysWithoutPrefixAndWithBuffersLoad() throws {
        let original = try TinyModelFixtures.tensors(TinyModelFixtures.path("gpt2") + "/model.safetensors")
        var renamed: [String: Tensor] = [:]
        for (k, t) in original { renamed[String(k.dropFirst("transformer.".count))] = t }
        renamed["h.0.attn.bias"] = Tensor.ones([1, 1, 64, 64])                   // old causal-mask buffer
        renamed["h.0.attn.masked_bias"] = Tensor(scalar: -1e4)
        renamed["lm_head.weight"] = original["transformer.wte.weight"]
        let m = GPT2LMHeadModel(config: try model().config)
        try m.loadCheckpoint(renamed)
        #expect(bitwiseEqual(try #require(m.parameter(at: "transformer.h.1.mlp.c_fc.weight")).value,
                             try #require(original["transformer.h.1.mlp.c_fc.weight"])))
    }

    /// (key, new JSON value or nil to delete, field the error must name).
    @Test(arguments: [("n_embd", "\"32\"", "n_embd"), ("n_layer", nil, "n_layer"),
                      ("layer_norm_epsilon", "\"x\"", "layer_norm_epsilon"),
                      ("activation_function", "\"swiglu\"", "activation_function"),
                      ("n_head", "5", "n_head")] as [(String, String?, String)])
    func badConfigNamesTheField(key: String, json: String?, field: String) throws {
        let dir = try TinyModelFixtures.copy("gpt2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let value = try json.map { try JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) }
        try TinyModelFixtures.editConfig(dir) { $0[key] = value }
        do {
            _ = try GPT2LMHeadModel.load(folder: HFFolder(path: dir))
            Issue.record("loaded a config with a bad \(key)")
        } catch let ModelLoadError.invalidConfig(_, f, reason) {
            #expect(f == field, "field \(f): \(reason)")
        }
    }

    @Test func missingTensorIsNamed() throws {
        let dir = try TinyModelFixtures.copy("gpt2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var t = try TinyModelFixtures.tensors(dir + "/model.safetensors")
        t["transformer.h.1.ln_2.bias"] = nil
        t["transformer.h.0.mlp.c_fc.weight"] = Tensor.zeros([128, 32])          // transposed: wrong shape
        try SafetensorsWriter.write(t, metadata: ["format": "pt"], to: dir + "/model.safetensors")
        do {
            _ = try GPT2LMHeadModel.load(folder: HFFolder(path: dir))
            Issue.record("loaded a checkpoint with a missing tensor")
        } catch ModelLoadError.checkpointMismatch(let message) {
            #expect(message.contains("transformer.h.1.ln_2.bias"))
            #expect(message.contains("transformer.h.0.mlp.c_fc.weight"))
        }
    }

    @Test func unknownModelTypeListsSupported() throws {
        let dir = try TinyModelFixtures.copy("gpt2")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModelFixtures.editConfig(dir) { $0["model_type"] = "gpt5" }
        do {
            _ = try ModelLoader.loadLanguageModel(path: dir)
            Issue.record("loaded an unknown model_type")
        } catch let ModelLoadError.unknownArchitecture(name, supported) {
            #expect(name == "gpt5")
            #expect(supported.contains("gpt2") && supported.contains("bert"))
        }
    }

    @Test func randomInitFollowsGPT2Scheme() {
        let config = GPT2Config(vocabSize: 64, nPositions: 32, nEmbd: 64, nLayer: 8, nHead: 4)
        var g = RandomGenerator(seed: 3)
        let m = GPT2LMHeadModel(config: config, generator: &g)
        func std(_ key: String) -> Double {
            let v = m.parameter(at: key)!.value.doubles()
            let mean = v.reduce(0, +) / Double(v.count)
            return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot()
        }
        #expect(Swift.abs(std("transformer.h.0.attn.c_attn.weight") - 0.02) < 0.002)
        #expect(Swift.abs(std("transformer.wte.weight") - 0.02) < 0.002)
        #expect(Swift.abs(std("transformer.h.3.mlp.c_proj.weight") - 0.02 / 4) < 0.0005)      // 1/√(2·8)
        #expect(Swift.abs(std("transformer.h.3.attn.c_proj.weight") - 0.02 / 4) < 0.0008)
        #expect(m.parameter(at: "transformer.h.0.ln_1.weight")!.value.doubles().allSatisfy { $0 == 1 })
        #expect(m.parameter(at: "transformer.h.0.attn.c_attn.bias")!.value.doubles().allSatisfy { $0 == 0 })
        #expect(m.lmHead.weight.parameter === m.transformer.wte.weight.parameter)
        // A training step's gradient reaches the tied embedding from both uses.
        let x = Tensor(indices: Array(0..<16), shape: [2, 8])
        let grads = m.loss(x).backward()
        #expect(grads[m.transformer.wte.weight.parameter!.value] != nil)
    }
}

/// Writes Scion-saved GPT-2, BERT and BERT-MLM folders for Scripts/fixtures/check_saved_models.py,
/// which loads them in transformers (only when SCION_MODEL_SAVE_DIR is set).
@Suite struct SavedModelsForTransformers {
    static var directory: String? { ProcessInfo.processInfo.environment["SCION_MODEL_SAVE_DIR"] }

    @Test(.enabled(if: directory != nil, "set SCION_MODEL_SAVE_DIR to write folders for check_saved_models.py"))
    func saveFoldersForGPT2AndBERT() throws {
        let dir = try #require(Self.directory)
        try GPT2LMHeadModel.load(folder: HFFolder(path: TinyModelFixtures.path("gpt2"))).save(to: dir + "/gpt2", overwrite: true)
        try BertModel.load(folder: HFFolder(path: TinyModelFixtures.path("bert"))).save(to: dir + "/bert", overwrite: true)
        try BertForMaskedLM.load(folder: HFFolder(path: TinyModelFixtures.path("bert_mlm"))).save(to: dir + "/bert_mlm", overwrite: true)
    }
}
