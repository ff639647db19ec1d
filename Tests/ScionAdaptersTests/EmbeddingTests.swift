// LoRA on Embedding modules: the lookup against a hand-written reference, PEFT's key names and layout,
// a PEFT-written embedding adapter reproducing PEFT's logits, GPT-2's tied `wte` (merging keeps the head
// on the base weights), a quantized embedding merged and re-quantized, and methods that cannot adapt
// embeddings refused with the rule named.

import Foundation
import Testing
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

@Suite struct EmbeddingAdapterTests {
    @Test func lookupMatchesTheReferenceAndKeysArePEFTs() throws {
        let model = try Fixtures.model("llama")
        let keys = try Injection.addAdapter(LoRA.Config(r: 3, loraAlpha: 6, targetModules: .names(["embed_tokens"])), to: model)
        #expect(keys == ["model.embed_tokens"])
        let e = try #require(Injection.embeddingLayers(of: model).first?.1)
        let a = try #require(e.activeAdapter as? LoRA.EmbeddingLayer)
        #expect(a.loraA.shape == [3, 100] && a.loraB.shape == [32, 3])
        #expect(a.loraA.value.floats().allSatisfy { $0 == 0 }, "A starts at zero (PEFT), so the output starts at the base")
        let names = Set(model.trainableParameters().map(\.0))
        #expect(names == ["model.embed_tokens.lora_embedding_A", "model.embed_tokens.lora_embedding_B"])
        randomizeAdapters(model)
        // y[i] = W[i] + s · Σ_k A[k, i] · B[:, k].
        let ids = Tensor(indices: [7, 0, 99, 7], shape: [2, 2])
        let y = e(ids).floats()
        let w = e.denseWeight.floats(), av = a.loraA.value.floats(), bv = a.loraB.value.floats()
        for (n, id) in [7, 0, 99, 7].enumerated() {
            for c in 0..<32 {
                var ref = Double(w[id * 32 + c])
                for k in 0..<3 { ref += 2 * Double(av[k * 100 + id]) * Double(bv[c * 3 + k]) }
                #expect(abs(Double(y[n * 32 + c]) - ref) <= 1e-5)
            }
        }
        // Merge: W + s·(B·A)ᵀ gives the same lookup; unmerge restores W.
        let before = e.denseWeight
        try Injection.merge(model)
        #expect(maxAbsDiff(e(ids), Tensor(y, shape: [2, 2, 32])) <= 1e-5)
        Injection.unmerge(model)
        #expect(maxAbsDiff(e.denseWeight, before) == 0)
    }

    @Test func peftEmbeddingAdapterReproducesPEFTLogits() throws {
        let expected = try Fixtures.expected("llama_lora_embedding")
        let model = try Fixtures.model("llama")
        let ids = Fixtures.ints(expected["ids"])
        let config = try PEFTFormat.load(into: model, from: Fixtures.peftPath("llama_lora_embedding"))
        #expect(Injection.adaptedModuleKeys(in: model).contains("model.embed_tokens"))
        #expect((config as? LoRA.Config)?.targetModules == .names(["embed_tokens", "q_proj"]) ||
                (config as? LoRA.Config)?.targetModules == .names(["q_proj", "embed_tokens"]))
        let diff = maxAbsDiff(Fixtures.logits(model, ids), Fixtures.doubles(expected["logits"]))
        print("PEFT parity llama_lora_embedding: max |Δlogit| = \(diff)")
        #expect(diff <= 1e-4)
        try Injection.merge(model)
        #expect(maxAbsDiff(Fixtures.logits(model, ids), Fixtures.doubles(expected["logits"])) <= 1e-4)
        // Save → the same keys and shapes as PEFT wrote.
        let dir = Fixtures.tempDirectory("emb-save")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        Injection.unmerge(model)
        try PEFTFormat.save(model, to: dir)
        // (PEFT also saves the whole embedding table as base_layer.weight; Scion reads it but does not write it.)
        let theirs = try SafetensorsFileShapes.read(Fixtures.peftPath("llama_lora_embedding") + "/adapter_model.safetensors")
            .filter { !$0.key.hasSuffix(".base_layer.weight") }
        let ours = try SafetensorsFileShapes.read(dir + "/adapter_model.safetensors")
        #expect(ours == theirs)
        #expect(theirs.keys.contains("base_model.model.model.embed_tokens.lora_embedding_A"))
    }

    @Test func tiedEmbeddingMergeKeepsTheHeadOnBaseWeights() throws {
        let model = try Fixtures.model("gpt2")
        #expect(Injection.tiedEmbeddingKeys(in: model) == ["transformer.wte"])
        try Injection.addAdapter(LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(["wte"])), to: model)
        randomizeAdapters(model)
        let adapted = Fixtures.logits(model)
        let head = try #require(Injection.linearLayers(of: model).first { $0.0 == "lm_head" }?.1)
        let headWeight = head.weightOutIn
        try Injection.merge(model)
        #expect(maxAbsDiff(head.weightOutIn, headWeight) == 0, "the tied head keeps W")
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-5)
        Injection.unmerge(model)
        #expect(Injection.tiedEmbeddingKeys(in: model) == ["transformer.wte"], "unmerge re-ties")
    }

    @Test(arguments: [QuantizationFormat.q8_0, .q4_1])
    func quantizedEmbeddingMergesAndRequantizes(_ format: QuantizationFormat) throws {
        let model = try Fixtures.model("llama")
        let e = try #require(Injection.embeddingLayers(of: model).first?.1)
        e.weight = .quantized(try QuantizedMerge.quantize(e.denseWeight, format: format))
        try Injection.addAdapter(LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(["embed_tokens"])), to: model)
        randomizeAdapters(model)
        let a = try #require(e.activeAdapter as? LoRA.EmbeddingLayer)
        let float = e.denseWeight + (a.deltaWeight(base: e) ?? Tensor.zeros([100, 32]))
        try Injection.merge(model)
        guard case .quantized(let q) = e.weight else { Issue.record("stays quantized"); return }
        #expect(q.format == format)
        try expectWithinBound(q.dequantized(), float, format)
        Injection.unmerge(model)
        #expect(e.unmergedState == nil)
    }

    @Test func methodsWithoutEmbeddingSupportNameTheRule() throws {
        let model = try Fixtures.model("llama")
        let ia3 = #expect(throws: AdapterError.self) {
            var c = IA3.Config(); c.targetModules = .names(["embed_tokens", "k_proj"])
            try Injection.addAdapter(c, to: model)
        }
        #expect("\(ia3!)".contains("model.embed_tokens is an Embedding module; IA3 adapts only Linear modules"))
        let dora = #expect(throws: AdapterError.self) {
            try Injection.addAdapter(LoRA.Config(r: 2, targetModules: .names(["embed_tokens"]), useDora: true), to: model)
        }
        #expect("\(dora!)".contains("model.embed_tokens: DoRA on Embedding modules is not supported"))
        #expect(Injection.adapterNames(in: model).isEmpty, "nothing attached")
        // all-linear never selects embeddings.
        #expect(try !Injection.targetKeys(LoRA.Config(r: 2, targetModules: .allLinear), in: model).contains("model.embed_tokens"))
    }

    @Test func embeddingShapeMismatchIsNamed() throws {
        let dir = Fixtures.tempDirectory("emb-shapes")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(LoRA.Config(r: 2, targetModules: .names(["embed_tokens"])), to: model)
        try PEFTFormat.save(model, to: dir)
        // A base with another vocabulary size: the GPT-2 fixture has no embed_tokens at all.
        let gpt2 = try Fixtures.model("gpt2")
        let error = #expect(throws: AdapterError.self) { try PEFTFormat.load(into: gpt2, from: dir) }
        #expect("\(error!)".contains("model.embed_tokens"))
    }
}

/// |requantized − float| ≤ the format's per-block bound everywhere.
func expectWithinBound(_ requantized: Tensor, _ float: Tensor, _ format: QuantizationFormat,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = requantized.floats(), f = float.contiguous().floats()
    #expect(r.count == f.count, sourceLocation: sourceLocation)
    var worst: Float = 0, tightest: Float = .infinity
    for start in stride(from: 0, to: f.count, by: 32) {
        let block = Array(f[start..<start + 32])
        let bound = QuantizedMerge.stepBound(block, format: format)
        for j in 0..<32 {
            let err = abs(r[start + j] - f[start + j])
            worst = max(worst, err)
            tightest = min(tightest, bound - err)
        }
    }
    #expect(tightest >= 0, "error exceeds the \(format.rawValue) bound by \(-tightest) (worst error \(worst))", sourceLocation: sourceLocation)
}

/// Tensor names and shapes of a safetensors file.
enum SafetensorsFileShapes {
    static func read(_ path: String) throws -> [String: [Int]] {
        let file = try SafetensorsFile(path: path)
        return Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.shape) })
    }
}
