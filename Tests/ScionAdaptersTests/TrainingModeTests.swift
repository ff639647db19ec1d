// Training mode: `lora_dropout` drops the adapter's input during a training step only — outputs differ
// from inference in training, equal it outside, are the same for the same (seed, step, micro-batch) and
// differ across steps; the base path keeps the undropped input. DyLoRA trains only the sampled b-th
// slice (gradients elsewhere are zero) and samples its rank from (seed, step).

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

@Suite struct TrainingModeTests {
    static let dropoutConfigs: [String] = ["lora", "dora", "adalora"]

    static func config(_ name: String) -> any AdapterConfig {
        switch name {
        case "dora": var c = LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj"]), useDora: true); c.loraDropout = 0.5; return c
        case "adalora":
            var c = AdaLoRA.Config(); c.initR = 4; c.targetR = 2; c.loraDropout = 0.5; c.targetModules = .names(["q_proj", "v_proj"]); return c
        default: var c = LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj", "v_proj"])); c.loraDropout = 0.5; return c
        }
    }

    @Test(arguments: dropoutConfigs)
    func dropoutActsInTrainingOnly(_ name: String) throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(Self.config(name), to: model)
        randomizeAdapters(model)
        let eval = Fixtures.logits(model)
        let s1 = AdapterTrainingState(seed: 7, step: 1)
        Injection.setTrainingState(s1, in: model)
        let train1 = Fixtures.logits(model)
        #expect(maxAbsDiff(train1, eval) > 1e-3, "training mode differs")
        #expect(maxAbsDiff(Fixtures.logits(model), train1) == 0, "the same state gives the same masks")
        Injection.setTrainingState(AdapterTrainingState(seed: 7, step: 2), in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), train1) > 1e-3, "another step, other masks")
        Injection.setTrainingState(AdapterTrainingState(seed: 7, step: 1, microBatch: 1), in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), train1) > 1e-3, "another micro-batch, other masks")
        Injection.setTrainingState(nil, in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), eval) == 0, "inference mode equals the eval output exactly")
    }

    @Test func dropoutMasksOnlyTheAdapterInput() throws {
        let model = try Fixtures.model("llama")
        var c = LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj"])); c.loraDropout = 0.3
        try Injection.addAdapter(c, to: model)
        randomizeAdapters(model)
        let (key, q) = try #require(Injection.linearLayers(of: model).first { $0.0 == "model.layers.0.self_attn.q_proj" })
        let lora = try #require(q.activeAdapter as? LoRA.Layer)
        var g = RandomGenerator(seed: 3)
        let x = Tensor.normal([5, 32], generator: &g)
        let state = AdapterTrainingState(seed: 1, step: 4, microBatch: 2)
        lora.trainingState = state
        let mask = AdapterDropout.mask(shape: [5, 32], probability: 0.3, key: key, state: state)
        // y = W·x + s·B·A·(x ⊙ mask): the base path sees x itself.
        let expected = q.baseForward(x) + (x * mask).matmul(lora.loraA.value.matrixTransposed).matmul(lora.loraB.value.matrixTransposed) * lora.scale
        #expect(maxAbsDiff(q(x), expected) <= 1e-5)
        // Inverted dropout: about p of the entries are 0, the rest 1/(1 − p).
        let m = AdapterDropout.mask(shape: [20_000], probability: 0.3, key: key, state: state).floats()
        let zeros = Double(m.filter { $0 == 0 }.count) / Double(m.count)
        #expect(abs(zeros - 0.3) < 0.02)
        #expect(m.filter { $0 != 0 }.allSatisfy { abs($0 - Float(1 / 0.7)) < 1e-6 })
    }

    @Test func trainingModeHookCoversTheStep() throws {
        let model = try Fixtures.model("llama")
        var c = LoRA.Config(r: 4, loraAlpha: 8, targetModules: .names(["q_proj"])); c.loraDropout = 0.5
        try Injection.addAdapter(c, to: model)
        let lora = try #require(Injection.linearLayers(of: model).compactMap { $0.1.activeAdapter as? LoRA.Layer }.first)
        let hooks = try AdapterTraining.hooks(for: model, seed: 9)
        #expect(hooks.count == 1 && hooks[0].checkpointName == nil, "dropout keeps no state: masks derive from the step")
        hooks[0].beforeForward(step: 3)
        #expect(lora.trainingState == AdapterTrainingState(seed: 9, step: 3))
        hooks[0].beforeMicroBatch(step: 3, index: 1)
        #expect(lora.trainingState == AdapterTrainingState(seed: 9, step: 3, microBatch: 1))
        hooks[0].afterBackward(step: 3, gradients: Gradients())
        #expect(lora.trainingState == nil, "evaluation after the step runs in inference mode")
    }

    @Test func dyLoRATrainsOnlyTheSampledSlice() throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(DyLoRA.Config(r: 4, rMin: 1, loraAlpha: 8), to: model, seed: 1)
        randomizeAdapters(model, seed: 2)
        let layers = Injection.linearLayers(of: model).compactMap { $0.1.activeAdapter as? DyLoRA.Layer }
        let ids = Tensor(indices: Fixtures.ids, shape: [1, Fixtures.ids.count])
        func gradients(training: Bool) -> Gradients {
            Injection.setTrainingState(training ? AdapterTrainingState(seed: 0, step: 1) : nil, in: model)
            defer { Injection.setTrainingState(nil, in: model) }
            return (model as any LanguageModel).logits(ids, cache: nil, attentionMask: nil).squared().mean().backward()
        }
        try DyLoRA.setRank(3, in: model)
        let eval = Fixtures.logits(model)
        let g = gradients(training: true)
        Injection.setTrainingState(AdapterTrainingState(seed: 0, step: 1), in: model)
        #expect(maxAbsDiff(Fixtures.logits(model), eval) == 0, "the same forward values in training")
        Injection.setTrainingState(nil, in: model)
        for l in layers {
            let ga = try #require(g[l.loraA.value]).floats(), gb = try #require(g[l.loraB.value]).floats()
            let inF = l.loraA.shape[1], outF = l.loraB.shape[0]
            for row in 0..<4 {
                let norm = (0..<inF).reduce(0.0) { $0 + abs(Double(ga[row * inF + $1])) }
                if row == 2 { #expect(norm > 0, "slice b = 3 (row 2) trains") } else { #expect(norm == 0, "row \(row) must get no gradient") }
            }
            for col in 0..<4 {
                let norm = (0..<outF).reduce(0.0) { $0 + abs(Double(gb[$1 * 4 + col])) }
                if col == 2 { #expect(norm > 0) } else { #expect(norm == 0, "column \(col) must get no gradient") }
            }
        }
        // Outside training the whole prefix 1…b learns.
        let ge = gradients(training: false)
        let ga = try #require(ge[layers[0].loraA.value]).floats()
        #expect((0..<32).reduce(0.0) { $0 + abs(Double(ga[$1])) } > 0)
        // Ranks come from (seed, step): repeatable, and the hook returns to r_max after the backward pass.
        #expect(try DyLoRA.sampleRank(in: model, seed: 5, step: 10) == (try DyLoRA.sampleRank(in: model, seed: 5, step: 10)))
        let samples = try (1...40).map { try DyLoRA.sampleRank(in: model, seed: 5, step: $0) }
        #expect(Set(samples) == [1, 2, 3, 4])
        let hooks = try AdapterTraining.hooks(for: model, seed: 5)
        hooks.forEach { $0.beforeForward(step: 10) }
        #expect(layers.allSatisfy { $0.rank == samples[9] })
        hooks.forEach { $0.afterBackward(step: 10, gradients: Gradients()) }
        #expect(layers.allSatisfy { $0.rank == 4 && $0.trainingState == nil })
    }
}
