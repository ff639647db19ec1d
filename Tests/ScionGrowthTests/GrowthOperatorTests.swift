// Operator-specific tests: G_stack index maps and exact copies, insertion positions, bert2BERT
// index maps (copy counts, uniformity), constraint errors that name the failed rule before any
// file is written, and the lineage manifest (SHA-256 vectors, parent digests, chains of steps).

import Foundation
import Testing
import ScionCheckpoint
import ScionTensor
@testable import ScionGrowth

@Suite("Growth operators")
struct GrowthOperatorTests {
    @Test("G_stack maps: stacked, interleaved, custom")
    func gstackMaps() {
        #expect(GStack(growthFactor: 4).layerMap(layerCount: 2) == [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(GStack(growthFactor: 2, layout: .interleaved).layerMap(layerCount: 3) == [0, 0, 1, 1, 2, 2])
        #expect(GStack(layout: .custom([1, 1, 0])).layerMap(layerCount: 2) == [1, 1, 0])
        #expect(GStack().growthFactor == 4)
    }

    @Test("G_stack copies are exact, non-layer tensors untouched", arguments: ["gpt2", "llama", "bert"])
    func gstackExactCopies(fixture: String) throws {
        let source = try GrowthFixtures.checkpoint(fixture)
        let grown = try GStack(growthFactor: 4).grow(source)
        #expect(grown.layerCount == 4 * source.layerCount)
        for i in 0..<grown.layerCount {
            let new = grown.layer(i), old = source.layer(i % source.layerCount)
            #expect(Set(new.keys) == Set(old.keys))
            for (k, t) in new { #expect(t.floats() == old[k]!.floats() && t.shape == old[k]!.shape, "layer \(i) \(k)") }
        }
        for (k, t) in source.nonLayerTensors { #expect(grown.tensors[k]!.floats() == t.floats(), "\(k)") }
    }

    @Test("insertion: positions, zeroed outputs, copied rest")
    func insertion() throws {
        let source = try GrowthFixtures.checkpoint("llama")
        let grown = try ZeroBlockInsertion(after: [0]).grow(source)
        #expect(grown.layerCount == 3)
        let new = grown.layer(1)
        #expect(new["self_attn.o_proj.weight"]!.floats().allSatisfy { $0 == 0 })
        #expect(new["mlp.down_proj.weight"]!.floats().allSatisfy { $0 == 0 })
        #expect(new["self_attn.q_proj.weight"]!.floats() == source.layer(0)["self_attn.q_proj.weight"]!.floats())
        #expect(grown.layer(2)["mlp.down_proj.weight"]!.floats() == source.layer(1)["mlp.down_proj.weight"]!.floats())
        #expect(ZeroBlockInsertion(count: 2, evenlyInto: 4).after == [0, 1])
        #expect(ZeroBlockInsertion(count: 3, evenlyInto: 6).after == [0, 2, 3])
        #expect(ZeroBlockInsertion(after: [0]).preservesFunction(for: source))
        #expect(!ZeroBlockInsertion(after: [0]).preservesFunction(for: try GrowthFixtures.checkpoint("bert")))
    }

    @Test("index maps: identity prefix, copy counts, uniformity, FPI scale")
    func indexMaps() {
        let m = IndexMap(oldCount: 3, newCount: 7)
        #expect(m.map == [0, 1, 2, 0, 1, 2, 0])
        #expect(m.copyCounts == [3, 2, 2])
        #expect(!m.isUniform)
        let third: Float = 1 / 3
        let expectedScale: [Float] = [third, 0.5, 0.5, third, 0.5, 0.5, third]
        #expect(m.outgoingScale == expectedScale)
        #expect(IndexMap(oldCount: 4, newCount: 12).isUniform)
        let r = IndexMap(oldCount: 5, newCount: 20, selection: .random(seed: 7))
        #expect(Array(r.map.prefix(5)) == [0, 1, 2, 3, 4])
        #expect(r.copyCounts.reduce(0, +) == 20)
        #expect(r == IndexMap(oldCount: 5, newCount: 20, selection: .random(seed: 7)))
        #expect(IndexMap(oldCount: 2, newCount: 3).expanded(blockWidth: 2).map == [0, 1, 2, 3, 0, 1])
    }

    @Test("GQA head map keeps every query head in a copy of its own group")
    func gqaHeadMap() throws {
        let source = try GrowthFixtures.checkpoint("llama")     // 4 query heads, 2 KV groups
        let op = WidthExpansion(attentionHeads: 12, keyValueHeads: 4, selection: .random(seed: 2))
        let p = try op.plan(source)
        #expect(p.queryHeads.newCount == 12 && p.kvHeads.newCount == 4)
        for h in 0..<12 {
            let group = h / 3, oldHead = p.queryHeads.map[h]
            #expect(oldHead / 2 == p.kvHeads.map[group], "head \(h)")
        }
    }

    /// (operator, fixture, the constraint text the error must contain)
    static let impossible: [(String, @Sendable () -> any GrowthOperator, String, String)] = [
        ("heads not divisible by KV groups", { WidthExpansion(attentionHeads: 5) }, "llama", "num_attention_heads % num_key_value_heads == 0"),
        ("fewer heads per group", { WidthExpansion(attentionHeads: 4, keyValueHeads: 4) }, "llama", "num_attention_heads / num_key_value_heads >= 2"),
        ("shrinking FFN", { WidthExpansion(intermediateSize: 16) }, "llama", "intermediate_size >= 64"),
        ("GPT-2 hidden not a multiple of D", { WidthExpansion(hiddenSize: 36) }, "gpt2", "n_embd % head_dim == 0"),
        ("GPT-2 heads disagree with C'/D", { WidthExpansion(hiddenSize: 64, attentionHeads: 4) }, "gpt2", "n_head == n_embd / head_dim"),
        ("BERT has no GQA", { WidthExpansion(keyValueHeads: 2) }, "bert", "num_key_value_heads == num_attention_heads"),
        ("G_stack map out of range", { GStack(layout: .custom([0, 2])) }, "gpt2", "0 <= map[i] < n_layer"),
        ("G_stack factor 0", { GStack(growthFactor: 0) }, "llama", "growth_factor >= 1"),
        ("insert past the end", { ZeroBlockInsertion(after: [2]) }, "bert", "-1 <= after[i] < num_hidden_layers"),
    ]

    @Test("impossible shapes: the error names the constraint", arguments: impossible.indices)
    func impossibleShapes(index: Int) throws {
        let (label, make, fixture, constraint) = Self.impossible[index]
        let source = try GrowthFixtures.checkpoint(fixture)
        let op = make()
        do {
            _ = try op.grow(source)
            Issue.record("\(label): grew")
        } catch let GrowthError.constraintViolated(_, c, detail) {
            #expect(c == constraint, "\(label): \(c) — \(detail)")
        }
        #expect(throws: GrowthError.self) { try op.validate(source) }
    }

    @Test("a checkpoint ScionModels would refuse is not written")
    func nothingWritten() throws {
        var c = try GrowthFixtures.checkpoint("gpt2")
        try c.updateConfig { $0["n_head"] = 5 }
        let out = GrowthFixtures.temporaryPath("refused")
        #expect(throws: (any Error).self) { try c.save(to: out) }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("lineage: manifest beside config.json, parent digests chain back to the seed")
    func lineage() throws {
        let seedPath = GrowthFixtures.path("gpt2")
        let seed = try Checkpoint(folder: seedPath)
        #expect(seed.lineage.steps.isEmpty)
        let a = GrowthFixtures.temporaryPath("lineage-a"), b = GrowthFixtures.temporaryPath("lineage-b")
        defer { try? FileManager.default.removeItem(atPath: a); try? FileManager.default.removeItem(atPath: b) }
        try GStack(growthFactor: 2).grow(seed).save(to: a)
        #expect(FileManager.default.fileExists(atPath: a + "/" + Lineage.fileName))
        let mid = try Checkpoint(folder: a)
        try WidthExpansion(intermediateSize: 200).grow(mid).save(to: b)
        let chain = try #require(try Lineage.read(folder: b))
        #expect(chain.steps.map(\.operatorName) == ["gstack", "widen"])
        #expect(chain.steps[0].parentSHA256 == (try Lineage.weightsDigest(folder: seedPath)))
        #expect(chain.steps[0].parentPath == seedPath)
        #expect(chain.steps[1].parentSHA256 == (try Lineage.weightsDigest(folder: a)))
        #expect(chain.steps[0].parameters == ["growth_factor": "2", "layout": "stacked"])
        #expect(chain.steps[1].scionVersion == ScionVersion.string)
    }
}
