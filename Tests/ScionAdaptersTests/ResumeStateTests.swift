// What a resumed fine-tuning run needs from the adapter side: AdaLoRA's and IncreLoRA's allocator state
// saved and restored exactly (IncreLoRA's layers resized to the grown ranks before the weights load),
// and the optimizer carrying a grown parameter's moments over. (The end-to-end kill-and-resume check is
// the `scion finetune --resume` CLI test.)

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor

@Suite struct ResumeStateTests {
    static let ids = Tensor(indices: Fixtures.ids, shape: [1, Fixtures.ids.count])
    static func loss(_ model: any LanguageModel) -> Tensor { model.logits(ids, cache: nil, attentionMask: nil).squared().mean() }

    @Test func adaLoRAAllocatorStateRoundTrips() throws {
        var c = AdaLoRA.Config(); c.initR = 4; c.targetR = 2; c.totalStep = 20; c.tinit = 1; c.tfinal = 2; c.deltaT = 1
        c.targetModules = .names(["q_proj", "v_proj"])
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: model, seed: 1)
        randomizeAdapters(model)
        let a = try AdaLoRA.RankAllocator(model: model)
        for step in 1...6 { a.step(step, gradients: Self.loss(model).backward()) }
        let saved = try a.checkpointState()
        // A second model with the same weights (as a resumed run loads them) and a fresh allocator that
        // restores the state: both continue identically.
        let resumed = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: resumed, seed: 1)
        try resumed.load(model.stateDictionary())
        let b = try AdaLoRA.RankAllocator(model: resumed)
        try b.restoreCheckpointState(saved)
        #expect(try b.checkpointState() == saved)
        #expect(b.currentBudget == a.currentBudget)
        a.step(7, gradients: Self.loss(model).backward())
        b.step(7, gradients: Self.loss(resumed).backward())
        #expect(try b.checkpointState() == (try a.checkpointState()))
        let eA = model.stateDictionary()
        for (k, v) in resumed.stateDictionary() where k.hasSuffix("lora_E") { #expect(maxAbsDiff(v, eA[k]!) == 0, "\(k)") }
        // A state for other modules is refused, naming one.
        let other = try Fixtures.model("llama")
        var c2 = c; c2.targetModules = .names(["k_proj"])
        try Injection.addAdapter(c2, to: other)
        #expect(throws: AdapterError.self) { try AdaLoRA.RankAllocator(model: other).restoreCheckpointState(saved) }
    }

    @Test func increLoRAStateRestoresGrownRanks() throws {
        var c = IncreLoRA.Config(initR: 1, targetR: 3, targetModules: .names(["q_proj", "v_proj"])); c.deltaT = 1; c.topH = 2
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: model, seed: 2)
        randomizeAdapters(model)
        let a = try IncreLoRA.RankAllocator(model: model, seed: 3)
        for step in 1...3 { a.step(step, gradients: Self.loss(model).backward()) }
        #expect(a.ranks.values.reduce(0, +) == 4 + 6)
        let saved = try a.checkpointState(), weights = model.stateDictionary()
        // A fresh model at the initial ranks: restoring resizes, then the weights load strictly.
        let fresh = try Fixtures.model("llama")
        try Injection.addAdapter(c, to: fresh, seed: 2)
        let b = try IncreLoRA.RankAllocator(model: fresh, seed: 3)
        try b.restoreCheckpointState(saved)
        #expect(b.ranks == a.ranks)
        try fresh.load(weights)
        #expect(maxAbsDiff(Fixtures.logits(fresh), Fixtures.logits(model)) == 0)
        #expect(try b.checkpointState() == saved)
        // Both continue the same way (same growth generator).
        let g1 = Self.loss(model).backward(), g2 = Self.loss(fresh).backward()
        #expect(a.step(4, gradients: g1) == b.step(4, gradients: g2))
        #expect(b.ranks == a.ranks)
    }

    @Test func optimizerStateFollowsAGrowingParameter() throws {
        let p = Parameter(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        let opt = AdamW(groups: [ParameterGroup(name: "p", parameters: [("p", p)])])
        var g = Gradients(); g[p.value] = Tensor([1, 1, 1, 1, 1, 1], shape: [2, 3])
        opt.step(gradients: g, learningRate: 0.1)
        let before = try #require(opt.state().parameters["p"]?.buffers["exp_avg"])
        // Grow a column (IncreLoRA's B) and a row (its A): old moments keep their positions, new ones are 0.
        p.value = Tensor.concat([p.value, Tensor.zeros([2, 1])], axis: 1)   // [2, 4]
        var g2 = Gradients(); g2[p.value] = Tensor.zeros([2, 4])
        opt.step(gradients: g2, learningRate: 0.0)
        let grown = try #require(opt.state().parameters["p"]?.buffers["exp_avg"])
        #expect(grown.count == 8)
        let beta1: Float = 0.9
        for r in 0..<2 {
            for c in 0..<3 { #expect(abs(grown[r * 4 + c] - before[r * 3 + c] * beta1) < 1e-7) }
            #expect(grown[r * 4 + 3] == 0)
        }
        // A state saved after growth loads into an optimizer built before it.
        let saved = opt.state()
        let p2 = Parameter(Tensor.zeros([2, 3]))
        let opt2 = AdamW(groups: [ParameterGroup(name: "p", parameters: [("p", p2)])])
        p2.value = Tensor.zeros([2, 4])
        try opt2.load(saved)
        #expect(opt2.state().parameters["p"]?.buffers["exp_avg"] == grown)
    }
}
