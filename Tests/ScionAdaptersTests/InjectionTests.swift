// Shared machinery: targeting (names, regex, defaults), named adapters and switching, QLoRA (LoRA on
// a Q8_0 Linear), AdaLoRA's budget schedule and pruning, and bad input with errors that name the
// modules or the rule broken.

import Foundation
import Testing
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionNN
import ScionTensor

@Suite struct InjectionTests {
    @Test func defaultTargetsPerArchitecture() throws {
        let llama = try Fixtures.model("llama")
        #expect(try Injection.targetKeys(LoRA.Config(r: 2), in: llama) ==
                ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                 "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        let gpt2 = try Fixtures.model("gpt2")
        #expect(try Injection.targetKeys(LoRA.Config(r: 2), in: gpt2) == ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"])
        let regex = LoRA.Config(r: 2, targetModules: .regex(#".*layers\.1\.mlp\.(up|down)_proj"#))
        #expect(try Injection.targetKeys(regex, in: llama) == ["model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"])
        #expect(try !Injection.targetKeys(LoRA.Config(r: 2, targetModules: .allLinear), in: llama).contains("lm_head"))
    }

    @Test func adapterKeysArePEFTKeysWithoutPrefix() throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(LoRA.Config(r: 2, useDora: true), to: model)
        let keys = Set(model.trainableParameters().map(\.0))
        #expect(keys.contains("model.layers.0.self_attn.q_proj.lora_A.weight"))
        #expect(keys.contains("model.layers.1.self_attn.v_proj.lora_magnitude_vector"))
        #expect(model.parameter(at: "model.layers.0.self_attn.q_proj.weight")?.isTrainable == false)
    }

    @Test func namedAdaptersSwitch() throws {
        let model = try Fixtures.model("llama")
        let base = Fixtures.logits(model)
        try Injection.addAdapter(LoRA.Config(r: 2), to: model, name: "a", seed: 1)
        randomizeAdapters(model, seed: 1)
        let a = Fixtures.logits(model)
        try Injection.addAdapter(IA3.makeConfig(r: 0, targetModules: nil), to: model, name: "b")
        randomizeAdapters(model, seed: 2)
        let b = Fixtures.logits(model)
        #expect(Injection.adapterNames(in: model) == ["a", "b"])
        #expect(maxAbsDiff(a, b) > 1e-3)
        try Injection.setActiveAdapter("a", in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), a) <= 1e-6)
        #expect(model.trainableParameters().allSatisfy { $0.0.contains("lora_") })
        try Injection.setActiveAdapter(nil, in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), base) <= 1e-6)
        #expect(throws: AdapterError.unknownAdapter("c", available: ["a", "b"])) { try Injection.setActiveAdapter("c", in: model) }
        #expect(throws: AdapterError.duplicateAdapter("a")) { try Injection.addAdapter(LoRA.Config(r: 2), to: model, name: "a") }
        try Injection.deleteAdapter("b", from: model)
        #expect(Injection.adapterNames(in: model) == ["a"])
    }

    @Test(arguments: [QuantizationFormat.q8_0, .q4_0, .q4_1])
    func qloraIsLoRAOnAQuantizedLinear(_ format: QuantizationFormat) throws {
        let model = try Fixtures.model("llama")
        quantizeProjections(model, format)
        let base = Fixtures.logits(model)
        try Injection.addAdapter(LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj", "down_proj"])), to: model)
        #expect(maxAbsDiff(Fixtures.logits(model), base) <= 1e-6)
        randomizeAdapters(model)
        let adapted = Fixtures.logits(model)
        let q = try #require(Injection.linearLayers(of: model).first { $0.0.hasSuffix("0.self_attn.q_proj") }?.1)
        // A dense merge reproduces the adapter exactly.
        try Injection.merge(model, requantize: false)
        #expect(q.weight.parameter != nil, "merged into the dequantized weight")
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-5)
        Injection.unmerge(model)
        if case .quantized = q.weight {} else { Issue.record("unmerge must restore the quantized weight") }
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-6)
        // The default merge re-quantizes in the same format (tested against its bound in QuantizedMergeTests).
        try Injection.merge(model)
        guard case .quantized(let merged) = q.weight else { Issue.record("merged weight must stay quantized"); return }
        #expect(merged.format == format)
        Injection.unmerge(model)
        #expect(maxAbsDiff(Fixtures.logits(model), adapted) <= 1e-6)
    }

    @Test func adaLoRABudgetScheduleAndPruning() throws {
        var c = AdaLoRA.Config(); c.initR = 6; c.targetR = 2; c.tinit = 10; c.tfinal = 10; c.totalStep = 100; c.deltaT = 5
        c.targetModules = .names(["q_proj", "v_proj"])
        #expect(c.budget(step: 0, moduleCount: 4) == (24, false))
        #expect(c.budget(step: 95, moduleCount: 4) == (8, true))
        var last = Int.max
        for s in 11...90 { let b = c.budget(step: s, moduleCount: 4).budget; #expect(b <= last && b >= 8 && b <= 24); last = b }

        let model = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: model, seed: 9)
        randomizeAdapters(model, seed: 4)
        let allocator = try AdaLoRA.RankAllocator(model: model)
        let ids = Tensor(indices: Fixtures.ids, shape: [1, Fixtures.ids.count])
        for step in 1...100 where step % 5 == 0 || step > 90 {
            var loss = (model as any LanguageModel).logits(ids, cache: nil, attentionMask: nil).squared().mean()
            if let reg = AdaLoRA.orthogonalRegularization(model) { loss = loss + reg }
            let budget = allocator.step(step, gradients: loss.backward())
            #expect(allocator.ranks.values.reduce(0, +) <= budget, "step \(step): never above the scheduled budget")
        }
        #expect(allocator.ranks.values.reduce(0, +) <= 8)
    }

    // MARK: Bad input

    @Test func adapterForAnotherArchitectureNamesTheMissingModules() throws {
        let llama = try Fixtures.model("llama")
        do {
            try PEFTFormat.load(into: llama, from: Fixtures.peftPath("gpt2_lora"))
            Issue.record("expected an error")
        } catch let e as AdapterError {
            guard case .baseModelMismatch(let missing, _) = e else { Issue.record("\(e)"); return }
            #expect(missing.contains("transformer.h.0.attn.c_attn"))
            #expect("\(e)".contains("transformer.h.1.mlp.c_fc"))
        }
        #expect(Injection.adapterNames(in: llama).isEmpty, "nothing attached on failure")
    }

    @Test func wrongShapesAreNamed() throws {
        // The Llama LoRA adapter with one lora_B widened.
        let dir = Fixtures.tempDirectory("shapes")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = Fixtures.peftPath("llama_lora")
        try FileManager.default.copyItem(atPath: src + "/adapter_config.json", toPath: dir + "/adapter_config.json")
        let file = try SafetensorsFile(path: src + "/adapter_model.safetensors")
        var tensors: [String: Tensor] = [:]
        for n in file.tensorNames { tensors[n] = try file.floatTensor(named: n) }
        let bad = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"
        tensors[bad] = Tensor.zeros([24, 4])
        try SafetensorsWriter.write(tensors, to: dir + "/adapter_model.safetensors")
        let model = try Fixtures.model("llama")
        let error = #expect(throws: AdapterError.self) { try PEFTFormat.load(into: model, from: dir) }
        #expect("\(error!)".contains("model.layers.1.self_attn.v_proj.lora_B.weight: model needs [16, 4], file has [24, 4]"))
        #expect(Injection.adapterNames(in: model).isEmpty)
    }

    @Test func impossibleRanksNameTheRule() throws {
        let model = try Fixtures.model("llama")
        let zero = #expect(throws: AdapterError.self) { try Injection.addAdapter(LoRA.Config(r: 0), to: model) }
        #expect("\(zero!)".contains("r must be a positive integer (got 0)"))
        let pissa = #expect(throws: AdapterError.self) {
            try Injection.addAdapter(LoRA.Config(r: 20, initLoraWeights: .pissa), to: model)
        }
        #expect("\(pissa!)".contains("r (20) must not exceed min(in_features, out_features) = 16"))
        var ada = AdaLoRA.Config(); ada.initR = 4; ada.targetR = 6
        let adaError = #expect(throws: AdapterError.self) { try Injection.addAdapter(ada, to: model) }
        #expect("\(adaError!)".contains("target_r must be in 1...init_r"))
        let none = #expect(throws: AdapterError.self) { try Injection.addAdapter(LoRA.Config(r: 2, targetModules: .names(["qkv"])), to: model) }
        #expect("\(none!)".contains("no module matches target_modules (qkv)"))
        #expect(Injection.adapterNames(in: model).isEmpty)
    }
}

/// Bad input beyond the basics above: every method's impossible size names its rule, and a file whose
/// rank is zero or whose modules the base lacks is refused with the modules named.
@Suite struct BadInputTests {
    @Test func everyImpossibleSizeNamesItsRule() throws {
        let model = try Fixtures.model("llama")
        func rule(_ c: any AdapterConfig) -> String {
            do { try Injection.addAdapter(c, to: model); return "no error" } catch { return "\(error)" }
        }
        var dy = DyLoRA.Config(r: 4, loraAlpha: 8); dy.rMin = 5
        #expect(rule(dy).contains("r_min must be in 1...r (got 5, r 4)"))
        #expect(rule(SAID.Config(intrinsicDimension: 600, targetModules: .names(["k_proj"]))).contains("intrinsic_dim (600) must not exceed 512"))
        #expect(rule(SVFit.Config(r: 17)).contains("r (17) must not exceed min(in_features, out_features) = 16"))
        var ada = AdaLoRA.Config(); ada.initR = 40; ada.targetR = 2
        #expect(rule(ada).contains("init_r (40) must not exceed min(in_features, out_features)"))
        var pattern = LoRA.Config(r: 2); pattern.rankPattern = ["q_proj": 0]
        #expect(rule(pattern).contains("rank_pattern[q_proj] must be positive (got 0)"))
        var drop = LoRA.Config(r: 2); drop.loraDropout = 1
        #expect(rule(drop).contains("lora_dropout must be in [0, 1) (got 1.0)"))
        #expect(rule(Compacter.Config(bottleneck: 6, phmDimension: 4)).contains("reduction_dim (6) must be a positive multiple of phm_dim (4)"))
        #expect(rule(DSEE.Config(r: 2, loraAlpha: 4, sparseCount: -1)).contains("sparse_count must not be negative"))
        var inc = IncreLoRA.Config(initR: 4, targetR: 2); inc.targetModules = .names(["q_proj"])
        #expect(rule(inc).contains("target_r must be at least init_r (got 2, init_r 4)"))
        #expect(Injection.adapterNames(in: model).isEmpty, "nothing attached by any failure")
    }

    @Test func zeroRankFileAndMissingModulesAreNamed() throws {
        let dir = Fixtures.tempDirectory("zero-rank")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = Fixtures.peftPath("llama_lora")
        try FileManager.default.copyItem(atPath: src + "/adapter_config.json", toPath: dir + "/adapter_config.json")
        let file = try SafetensorsFile(path: src + "/adapter_model.safetensors")
        var tensors: [String: Tensor] = [:]
        for n in file.tensorNames { tensors[n] = try file.floatTensor(named: n) }
        tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = Tensor.zeros([0, 32])
        tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"] = Tensor.zeros([32, 0])
        try SafetensorsWriter.write(tensors, to: dir + "/adapter_model.safetensors")
        let model = try Fixtures.model("llama")
        let zero = #expect(throws: AdapterError.self) { try PEFTFormat.load(into: model, from: dir) }
        #expect("\(zero!)".contains("model.layers.0.self_attn.q_proj: rank must be positive"))
        // A module the base lacks (an adapter for a deeper model).
        tensors = [:]
        for n in file.tensorNames { tensors[n.replacingOccurrences(of: "layers.1.", with: "layers.7.")] = try file.floatTensor(named: n) }
        try SafetensorsWriter.write(tensors, to: dir + "/adapter_model.safetensors")
        let missing = #expect(throws: AdapterError.self) { try PEFTFormat.load(into: model, from: dir) }
        #expect("\(missing!)".contains("model.layers.7.self_attn.q_proj"))
        #expect(Injection.adapterNames(in: model).isEmpty)
    }
}

@Suite struct TrainingHookTests {
    /// A generic loop (as the trainer runs it) drives AdaLoRA through the discovered hooks alone.
    @Test func genericLoopDrivesAdaLoRA() throws {
        var c = AdaLoRA.Config(); c.initR = 4; c.targetR = 1; c.totalStep = 20; c.tinit = 2; c.tfinal = 2; c.deltaT = 2
        c.targetModules = .names(["q_proj", "v_proj"])
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: model, seed: 1)
        randomizeAdapters(model, seed: 2)
        let hooks = try AdapterTraining.hooks(for: model)
        #expect(hooks.count == 2, "training mode (lora_dropout) and AdaLoRA's allocator")
        #expect(hooks.compactMap(\.checkpointName) == ["adalora"])
        #expect(try AdapterTraining.hooks(for: try Fixtures.model("llama")).isEmpty)
        let ids = Tensor(indices: Fixtures.ids, shape: [1, Fixtures.ids.count])
        for step in 1...20 {
            hooks.forEach { $0.beforeForward(step: step) }
            var loss = (model as any LanguageModel).logits(ids, cache: nil, attentionMask: nil).squared().mean()
            for h in hooks { if let r = h.regularization() { loss = loss + r } }
            let g = loss.backward()
            hooks.forEach { $0.afterBackward(step: step, gradients: g) }
            let ranks = Injection.linearLayers(of: model).compactMap { $0.1.activeAdapter as? AdaLoRA.Layer }
                .reduce(0) { $0 + $1.loraE.value.floats().filter { $0 != 0 }.count }
            #expect(ranks <= c.budget(step: step, moduleCount: 4).budget, "step \(step)")
        }
    }
}

/// Quantizes every attention and MLP projection of the tiny Llama to `format`.
func quantizeProjections(_ model: any Module, _ format: QuantizationFormat) {
    for (k, l) in Injection.linearLayers(of: model) where k.contains("layers") {
        l.weight = .quantized(try! QuantizedMerge.quantize(l.weightOutIn.contiguous(), format: format))
    }
}
