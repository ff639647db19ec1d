// Method-specific behaviour beyond the contract: DyLoRA at every rank, SVFit's energy rule and
// its frozen singular vectors, Bone/Bat block rules, PiSSA's principal part.

import Foundation
import Testing
import ScionAdapters
import ScionModels
import ScionNN
import ScionTensor

@Suite struct MethodTests {
    @Test func dyLoRAWorksAtEveryRank() throws {
        let model = try Fixtures.model("llama")
        let config = DyLoRA.Config(r: 4, rMin: 1, loraAlpha: 8)
        try Injection.addAdapter(config, to: model, seed: 2)
        randomizeAdapters(model, seed: 3)
        let layers = Injection.linearLayers(of: model).compactMap { k, l in (l.activeAdapter as? DyLoRA.Layer).map { (k, l, $0) } }
        #expect(layers.count == 4)
        var outputs: [Tensor] = []
        for b in 1...4 {
            try DyLoRA.setRank(b, in: model)
            let out = Fixtures.logits(model)
            // Reference: a LoRA with the first b ranks, scale α/b, written into the weights by hand.
            let saved = layers.map { ($0.1, $0.1.weightOutIn) }
            Injection.setAdaptersEnabled(false, in: model)
            for (_, l, a) in layers {
                let d = a.loraB.value.sliced(axis: 1, 0..<b).matmul(a.loraA.value.sliced(axis: 0, 0..<b)) * (8 / Double(b))
                l.weight.parameter!.value = l.weightOutIn + d
            }
            #expect(maxAbsDiff(Fixtures.logits(model), out) <= 1e-5, "rank \(b)")
            for (l, w) in saved { l.weight.parameter!.value = w }
            Injection.setAdaptersEnabled(true, in: model)
            // Merged equals unmerged at this rank.
            try Injection.merge(model)
            #expect(maxAbsDiff(Fixtures.logits(model), out) <= 1e-5)
            Injection.unmerge(model)
            outputs.append(out)
        }
        #expect(maxAbsDiff(outputs[0], outputs[3]) > 1e-3, "ranks differ")
        var g = RandomGenerator(seed: 1)
        for _ in 0..<20 { let b = try DyLoRA.sampleRank(in: model, generator: &g); #expect((1...4).contains(b)) }
        #expect(throws: AdapterError.self) { try DyLoRA.setRank(5, in: model) }
    }

    @Test func svfitTrainsOnlyDeltaAndPicksRankByEnergy() throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(SVFit.Config(r: 0, energyThreshold: 0.9), to: model)
        let trainable = model.trainableParameters()
        #expect(trainable.allSatisfy { $0.0.hasSuffix("svfit_delta") })
        let layers = Dictionary(Injection.linearLayers(of: model), uniquingKeysWith: { a, _ in a })
        for (k, p) in trainable {
            let module = String(k.dropLast(".svfit_delta".count))
            let l = try #require(layers[module])
            let r = p.shape[0]
            // The fewest singular values holding 90% of ‖W‖²_F.
            let s = try l.weightOutIn.cast(.float64).svd().s.doubles()
            let total = s.reduce(0) { $0 + $1 * $1 }
            let kept = s.prefix(r).reduce(0) { $0 + $1 * $1 }, fewer = s.prefix(r - 1).reduce(0) { $0 + $1 * $1 }
            #expect(kept >= 0.9 * total && fewer < 0.9 * total, "\(k): r = \(r)")
        }
        #expect(throws: AdapterError.invalidConfig(method: "SVFit", rule: "energy_threshold must be in (0, 1] (got 1.5)")) {
            try Injection.addAdapter(SVFit.Config(r: 0, energyThreshold: 1.5), to: model, name: "x")
        }
    }

    @Test func blockAdaptersNameTheDivisibilityRule() throws {
        let model = try Fixtures.model("llama")
        let e = #expect(throws: AdapterError.self) { try Injection.addAdapter(Bat.makeConfig(r: 5, targetModules: nil), to: model) }
        #expect("\(e!)".contains("r (5) must divide in_features (32) and out_features (32)"))
    }

    @Test func pissaTakesThePrincipalPart() throws {
        let model = try Fixtures.model("llama")
        let q = try #require(Injection.linearLayers(of: model).first { $0.0 == "model.layers.0.self_attn.q_proj" }?.1)
        let w = q.weightOutIn
        try Injection.addAdapter(LoRA.Config(r: 4, loraAlpha: 4, targetModules: .names(["q_proj"]), initLoraWeights: .pissa), to: model)
        let a = try #require(q.activeAdapter as? LoRA.Layer)
        // s·B·A is W's best rank-4 approximation: its singular values are W's top 4.
        let (_, sw, _) = try w.svd()
        let (_, sd, _) = try (a.loraB.value.matmul(a.loraA.value) * a.scale).svd()
        #expect(maxAbsDiff(sd.sliced(axis: 0, 0..<4), sw.sliced(axis: 0, 0..<4)) <= 1e-4)
        #expect(maxAbsDiff(q.weightOutIn + a.loraB.value.matmul(a.loraA.value) * a.scale, w) <= 1e-5)
    }
}

@Suite struct IncreLoRATests {
    @Test func ranksGrowOnlyWhereImportanceIsHighest() throws {
        let model = try Fixtures.model("llama")
        var c = IncreLoRA.Config(initR: 1, targetR: 3, targetModules: .names(["q_proj", "v_proj"]))
        c.deltaT = 2; c.topH = 1
        try Injection.addAdapter(c, to: model, seed: 4)
        randomizeAdapters(model, seed: 5)
        let before = Fixtures.logits(model)
        let allocator = try IncreLoRA.RankAllocator(model: model)
        let hot = "model.layers.1.self_attn.v_proj"
        var grownAll: [String] = []
        for step in 1...40 {
            let importance = Dictionary(uniqueKeysWithValues: allocator.ranks.keys.map { ($0, $0 == hot ? 10.0 : 1.0) })
            grownAll += allocator.step(step, importance: importance)
            #expect(allocator.ranks.values.reduce(0, +) <= allocator.budget)
        }
        // The most important module grows first and most; growth stops at the budget (3 × 4 = 12).
        #expect(grownAll.first == hot)
        #expect(allocator.ranks.values.reduce(0, +) == 12)
        #expect(allocator.ranks[hot] == allocator.ranks.values.max())
        // New components start with E = 0: the function is continuous.
        #expect(maxAbsDiff(Fixtures.logits(model), before) <= 1e-6)
        // A real backward step feeds the allocator too.
        let ids = Tensor(indices: Fixtures.ids, shape: [1, Fixtures.ids.count])
        let loss = (model as any LanguageModel).logits(ids, cache: nil, attentionMask: nil).squared().mean()
        allocator.step(41, gradients: loss.backward())
    }
}

@Suite struct SAIDAndDSEETests {
    @Test func fastWalshHadamardMatchesTheMatrix() {
        let l = 8
        let x = Tensor((0..<l).map { Float($0 * $0 % 7) - 3 }, shape: [l])
        let y = SAID.fastWalshHadamard(x).floats()
        for i in 0..<l {
            // Sylvester Hadamard entry: (−1)^popcount(i & j).
            let ref = (0..<l).reduce(0.0) { $0 + Double(x.floats()[$1]) * ((i & $1).nonzeroBitCount % 2 == 0 ? 1 : -1) }
            #expect(abs(Double(y[i]) - ref) <= 1e-5)
        }
        #expect(maxAbsDiff(SAID.fastWalshHadamard(SAID.fastWalshHadamard(x)) / Double(l), x) <= 1e-5)
    }

    @Test func saidSharesOneVectorAndReportsD90() throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(SAID.Config(intrinsicDimension: 50), to: model)
        let trainable = model.trainableParameters()
        // One z (deduplicated in the tree) plus one λ per adapted layer.
        #expect(trainable.filter { $0.0.hasSuffix("said_z") }.count == 1)
        #expect(trainable.filter { $0.0.hasSuffix("said_lambda") }.count == 4)
        #expect(SAID.d90(results: [10: 0.5, 100: 0.85, 1000: 0.93, 10000: 0.95], fullFineTuning: 1.0) == 1000)
        #expect(SAID.d90(results: [10: 0.5], fullFineTuning: 1.0) == nil)
    }

    @Test func dseeSupportIsTheResidualsLargestEntries() throws {
        let model = try Fixtures.model("llama")
        try Injection.addAdapter(DSEE.Config(r: 2, loraAlpha: 4, sparseCount: 5, targetModules: .names(["q_proj"])), to: model)
        let (_, l) = try #require(Injection.linearLayers(of: model).first { $0.0 == "model.layers.0.self_attn.q_proj" })
        let a = try #require(l.activeAdapter as? DSEE.Layer)
        let w = l.weightOutIn.cast(.float64)
        let (u, s, vt) = try w.svd()
        let residual = (w - (u.sliced(axis: 1, 0..<2) * s.sliced(axis: 0, 0..<2).reshaped([1, 2])).matmul(vt.sliced(axis: 0, 0..<2))).abs().doubles()
        let top = Set(residual.indices.sorted { residual[$0] > residual[$1] }.prefix(5))
        #expect(Set(a.index.value.ints()) == top)
        try Injection.merge(model)
        #expect(DSEE.pruneMagnitude(model, fraction: 0.25) == 2 * 256)
    }
}
