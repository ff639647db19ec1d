// PEFT's targeting fields beyond target_modules: `layers_to_transform` with and without `layers_pattern`
// (PEFT's first-numbered-segment rule), `exclude_modules` (list and regex), `modules_to_save` (never
// adapted), the regex + layers_to_transform rule, the fields written back on save, and PEFT's
// llama_lora_layers fixture (layers_to_transform [1], layers_pattern "layers").

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

@Suite struct TargetingTests {
    @Test func layerIndexFollowsPEFTsRule() {
        #expect(Injection.layerIndex(in: "model.layers.3.self_attn.q_proj", patterns: nil) == 3)
        #expect(Injection.layerIndex(in: "transformer.h.11.attn.c_attn", patterns: nil) == 11)
        #expect(Injection.layerIndex(in: "model.layers.1.experts.7.w1", patterns: nil) == 1, "the first index, not an expert's")
        #expect(Injection.layerIndex(in: "model.layers.2.mlp.up_proj", patterns: ["h", "layers"]) == 2)
        #expect(Injection.layerIndex(in: "model.layers.2.mlp.up_proj", patterns: ["blocks"]) == nil)
        #expect(Injection.layerIndex(in: "lm_head", patterns: nil) == nil)
    }

    @Test func layersToTransformSelectsLayers() throws {
        let llama = try Fixtures.model("llama")
        var c = LoRA.Config(r: 2, targetModules: .names(["q_proj", "v_proj"]))
        c.layersToTransform = .many([1])
        #expect(try Injection.targetKeys(c, in: llama) == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        c.layersToTransform = .one(0); c.layersPattern = .one("layers")
        #expect(try Injection.targetKeys(c, in: llama) == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"])
        c.layersPattern = .many(["blocks"])   // no such list: nothing is selected, and the error says why
        let e = #expect(throws: AdapterError.self) { try Injection.targetKeys(c, in: llama) }
        #expect("\(e!)".contains("no module matches target_modules (q_proj, v_proj in layers 0 of blocks)"))
        // all-linear is a list in PEFT, so layers_to_transform applies to it too.
        var all = LoRA.Config(r: 2, targetModules: .allLinear)
        all.layersToTransform = .one(1)
        let keys = try Injection.targetKeys(all, in: llama)
        #expect(keys.count == 7 && keys.allSatisfy { $0.hasPrefix("model.layers.1.") })
        let gpt2 = try Fixtures.model("gpt2")
        var g = LoRA.Config(r: 2, targetModules: .names(["c_attn"]))
        g.layersToTransform = .many([0]); g.layersPattern = .one("h")
        #expect(try Injection.targetKeys(g, in: gpt2) == ["transformer.h.0.attn.c_attn"])
    }

    @Test func regexTargetsRefuseLayerSelection() throws {
        var c = LoRA.Config(r: 2, targetModules: .regex(".*q_proj"))
        c.layersToTransform = .one(0)
        let e = #expect(throws: AdapterError.self) { try Injection.targetKeys(c, in: try Fixtures.model("llama")) }
        #expect("\(e!)".contains("layers_to_transform and layers_pattern cannot be used when target_modules is a regex string"))
    }

    @Test func excludeAndModulesToSaveAreNeverAdapted() throws {
        let llama = try Fixtures.model("llama")
        var c = LoRA.Config(r: 2, targetModules: .allLinear)
        c.excludeModules = .names(["down_proj", "model.layers.0.self_attn.o_proj"])
        var keys = try Injection.targetKeys(c, in: llama)
        #expect(!keys.contains { $0.hasSuffix("down_proj") } && !keys.contains("model.layers.0.self_attn.o_proj"))
        #expect(keys.contains("model.layers.1.self_attn.o_proj"))
        c.excludeModules = .regex(#"model\.layers\.1\..*"#)
        keys = try Injection.targetKeys(c, in: llama)
        #expect(keys.count == 7 && keys.allSatisfy { $0.hasPrefix("model.layers.0.") })
        var save = LoRA.Config(r: 2, targetModules: .names(["q_proj", "lm_head"]))
        save.common.modulesToSave = ["lm_head"]
        #expect(try !Injection.targetKeys(save, in: llama).contains("lm_head"))
        // Everything excluded: the error names the exclusion.
        var none = LoRA.Config(r: 2, targetModules: .names(["q_proj"]))
        none.excludeModules = .names(["q_proj"])
        let e = #expect(throws: AdapterError.self) { try Injection.targetKeys(none, in: llama) }
        #expect("\(e!)".contains("excluding q_proj"))
    }

    @Test func targetingFieldsAreWrittenAndReadBack() throws {
        let model = try Fixtures.model("llama")
        var c = LoRA.Config(r: 2, loraAlpha: 4, targetModules: .names(["q_proj", "v_proj"]))
        c.layersToTransform = .many([1]); c.layersPattern = .one("layers"); c.excludeModules = .names(["v_proj"])
        #expect(try Injection.addAdapter(c, to: model) == ["model.layers.1.self_attn.q_proj"])
        let dir = Fixtures.tempDirectory("targeting")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PEFTFormat.save(model, to: dir)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as? [String: Any])
        #expect(json["layers_to_transform"] as? [Int] == [1])
        #expect(json["layers_pattern"] as? String == "layers")
        #expect(json["exclude_modules"] as? [String] == ["v_proj"])
        let back = try #require(try PEFTFormat.readConfig(directory: dir) as? LoRA.Config)
        #expect(back.layersToTransform == .many([1]) && back.layersPattern == .one("layers") && back.excludeModules == .names(["v_proj"]))
        // The same selection again from the file's config.
        #expect(try Injection.targetKeys(back, in: try Fixtures.model("llama")) == ["model.layers.1.self_attn.q_proj"])
    }

    @Test func peftLayersFixtureSelectsTheSameModules() throws {
        let c = try #require(try PEFTFormat.readConfig(directory: Fixtures.peftPath("llama_lora_layers")) as? LoRA.Config)
        #expect(c.layersToTransform == .many([1]) && c.layersPattern == .one("layers"))
        let model = try Fixtures.model("llama")
        // The modules PEFT adapted (the file's keys) are the ones Scion's targeting picks from its config.
        try PEFTFormat.load(into: model, from: Fixtures.peftPath("llama_lora_layers"))
        let fresh = try Fixtures.model("llama")
        #expect(Injection.adaptedModuleKeys(in: model) == (try Injection.targetKeys(c, in: fresh)))
    }
}
