// Merging into quantized weights: the merged weight is written back re-quantized in the same format and
// differs from the float merge by no more than the format's per-block bound; a merged GGUF (tiny Llama
// with Q8_0 / Q4_0 / Q4_1 / F32 tensors, tied and untied heads) reloads to exactly the merged model,
// with every untouched tensor byte-identical.

import Foundation
import Testing
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

@Suite struct QuantizedMergeTests {
    @Test(arguments: QuantizationFormat.allCases)
    func requantizedMergeIsWithinTheFormatsBound(_ format: QuantizationFormat) throws {
        let model = try Fixtures.model("llama")
        quantizeProjections(model, format)
        try Injection.addAdapter(LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "k_proj", "down_proj"])), to: model)
        randomizeAdapters(model)
        let adapted = Fixtures.logits(model)
        var floats: [(Linear, Tensor)] = []
        for (_, l) in Injection.linearLayers(of: model) {
            guard let a = l.activeAdapter, case .quantized(let q) = l.weight else { continue }
            floats.append((l, q.dequantized() + a.deltaWeight(base: l)!))
        }
        #expect(floats.count == 6)
        try Injection.merge(model)
        var worst = 0.0
        for (l, float) in floats {
            guard case .quantized(let q) = l.weight else { Issue.record("not re-quantized"); continue }
            #expect(q.format == format)
            try expectWithinBound(q.dequantized(), float, format)
            worst = max(worst, maxAbsDiff(q.dequantized(), float))
        }
        #expect(worst > 0, "re-quantization rounds (the check is not vacuous)")
        print("re-quantized merge \(format.rawValue): max weight error \(worst), max logit change \(maxAbsDiff(Fixtures.logits(model), adapted))")
        Injection.unmerge(model)
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-6, "unmerge restores the original blocks")
    }

    @Test func boundIsTight() {
        // Q8_0 rounds to nearest: the worst error approaches half a step and never passes it.
        var g = RandomGenerator(seed: 4)
        let x = Tensor.normal([64, 64], generator: &g)
        for format in QuantizationFormat.allCases {
            let q = try! QuantizedMerge.quantize(x, format: format).dequantized().floats(), v = x.floats()
            var ratio: Float = 0
            for start in stride(from: 0, to: v.count, by: 32) {
                let bound = QuantizedMerge.stepBound(Array(v[start..<start + 32]), format: format)
                for j in 0..<32 { ratio = max(ratio, abs(q[start + j] - v[start + j]) / bound) }
            }
            #expect(ratio <= 1 && ratio > 0.5, "\(format.rawValue): worst error / bound = \(ratio)")
        }
    }

    /// The tiny Llama fixture as a GGUF file: Q8_0 q_proj and embedding, Q4_1 k_proj, Q4_0 v_proj,
    /// F32 for the rest; the head as `output.weight` unless `tied`.
    static func tinyGGUF(tied: Bool) throws -> GGUFFile {
        let folder = try HFFolder(path: Fixtures.modelPath("llama"))
        let tensors = try folder.tensors()
        var w = GGUFWriter(architecture: "llama")
        w.set("llama.block_count", .uint32(2))
        w.set("llama.context_length", .uint32(128))
        w.set("llama.embedding_length", .uint32(32))
        w.set("llama.feed_forward_length", .uint32(64))
        w.set("llama.attention.head_count", .uint32(4))
        w.set("llama.attention.head_count_kv", .uint32(2))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.set("llama.rope.freq_base", .float32(10_000))
        w.set("llama.vocab_size", .uint32(100))
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
            if tied && name == "lm_head.weight" { continue }
            var stored = t
            if name.hasSuffix("q_proj.weight") { stored = LlamaGGUF.permuteForGGUF(t, headCount: 4) }
            if name.hasSuffix("k_proj.weight") { stored = LlamaGGUF.permuteForGGUF(t, headCount: 2) }
            let type: GGMLType = name.hasSuffix("q_proj.weight") || name.hasSuffix("embed_tokens.weight") ? .q8_0
                : name.hasSuffix("k_proj.weight") ? .q4_1 : name.hasSuffix("v_proj.weight") ? .q4_0 : .f32
            try w.addTensor(name: try #require(LlamaGGUF.ggufName(forHF: name)), tensor: stored, type: type)
        }
        let path = Fixtures.tempDirectory("gguf-base") + "/base.gguf"
        try w.write(to: path)
        return try GGUFFile(path: path)
    }

    @Test(arguments: [false, true])
    func mergedGGUFReloadsToTheMergedModel(_ tied: Bool) throws {
        let base = try Self.tinyGGUF(tied: tied)
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: base.path).deletingLastPathComponent().path) }
        let model = try LlamaForCausalLM.load(gguf: base)
        #expect(model.config.tieWordEmbeddings == tied)
        let targets: [String] = ["embed_tokens", "q_proj", "k_proj", "v_proj", "o_proj"]
        try Injection.addAdapter(LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(targets)), to: model)
        randomizeAdapters(model)
        let modules = Injection.adaptedModuleKeys(in: model)
        try Injection.mergeAndUnload(model)
        let merged = Fixtures.logits(model)
        let out = URL(fileURLWithPath: base.path).deletingLastPathComponent().appendingPathComponent("merged.gguf").path
        let written = try GGUFMerge.write(model: model, modules: modules, base: base, to: out)
        #expect(written.count == 9, "token_embd + 2 × (q, k, v, o): \(written)")
        let file = try GGUFFile(path: out)
        for t in base.tensors where !written.contains(t.name) {
            #expect(try file.tensor(named: t.name).rawData == t.rawData, "\(t.name) copied as is")
            #expect(try file.tensor(named: t.name).type == t.type)
        }
        for name in written { #expect(try file.tensor(named: name).type == (try base.tensor(named: name)).type, "\(name) keeps its type") }
        if tied {
            // The head keeps the base embedding, as in memory.
            #expect(try file.tensor(named: "output.weight").rawData == (try base.tensor(named: "token_embd.weight")).rawData)
        }
        let reloaded = try LlamaForCausalLM.load(gguf: file)
        #expect(maxAbsDiff(Fixtures.logits(reloaded), merged) <= 1e-6, "the file holds exactly the merged model")
    }
}
