// Shrink by inheritance: evenly spaced layer choice, exact copies of inherited layers, identity
// selection reproduces the teacher, magnitude importance skips a dead unit, and impossible student
// shapes name the failed constraint.

import Foundation
import Testing
import ScionTensor
@testable import ScionGrowth

@Suite("Shrink by inheritance")
struct InheritanceShrinkTests {
    @Test func evenlySpacedLayers() {
        #expect(InheritanceShrink.evenlySpaced(6, of: 12) == [0, 2, 4, 6, 8, 10])
        #expect(InheritanceShrink.evenlySpaced(3, of: 8) == [0, 2, 5])
        #expect(InheritanceShrink(layers: 2, choice: .first).keptLayers(of: 5) == [0, 1])
        #expect(InheritanceShrink(layerIndices: [1, 3]).keptLayers(of: 5) == [1, 3])
    }

    @Test("inherited layers are exact copies", arguments: ["gpt2", "llama", "bert"])
    func layerCopies(fixture: String) throws {
        let teacher = try GrowthFixtures.checkpoint(fixture)
        let student = try InheritanceShrink(layerIndices: [1]).grow(teacher)
        #expect(student.layerCount == 1)
        for (k, t) in teacher.layer(1) { #expect(student.layer(0)[k]!.floats() == t.floats(), "\(k)") }
    }

    @Test("selecting every unit reproduces the teacher", arguments: ["gpt2", "llama", "qwen2", "bert_mlm"])
    func identity(fixture: String) throws {
        let teacher = try GrowthFixtures.checkpoint(fixture)
        let student = try InheritanceShrink(hiddenSize: teacher.hiddenSize, intermediateSize: teacher.intermediateSize,
                                            choice: .importance).grow(teacher)
        let r = try PreservationCheck.compare(before: teacher, after: student, ids: GrowthFixtures.ids)
        #expect(r.maxAbsDifference <= 1e-6)
    }

    @Test("importance never keeps a dead FFN channel")
    func importanceSkipsDeadUnit() throws {
        var teacher = try GrowthFixtures.checkpoint("llama")
        let p = "model.layers.0."
        func zeroRow(_ key: String, _ j: Int) {
            let t = teacher.tensors[key]!
            var v = t.floats()
            let w = t.shape[1]
            for i in 0..<w { v[j * w + i] = 0 }
            teacher.tensors[key] = Tensor(v, shape: t.shape)
        }
        zeroRow(p + "mlp.gate_proj.weight", 5)
        zeroRow(p + "mlp.up_proj.weight", 5)
        let student = try InheritanceShrink(intermediateSize: 63, choice: .importance).grow(teacher)
        let kept = student.tensors[p + "mlp.up_proj.weight"]!.floats()
        #expect(!stride(from: 0, to: 63 * 32, by: 32).contains { j in kept[j..<(j + 32)].allSatisfy { $0 == 0 } })
        let r = try PreservationCheck.compare(before: teacher, after: student, ids: GrowthFixtures.ids)
        #expect(r.meanKL! > 0)   // layer 1 lost a live channel (every layer shrinks to 63)
    }

    static let impossible: [(@Sendable () -> InheritanceShrink, String, String)] = [
        ({ InheritanceShrink(attentionHeads: 3) }, "llama", "num_attention_heads % num_key_value_heads == 0"),
        ({ InheritanceShrink(attentionHeads: 4, keyValueHeads: 1) }, "llama", "num_attention_heads / num_key_value_heads <= 2"),
        ({ InheritanceShrink(layers: 5) }, "gpt2", "1 <= layers <= 2"),
        ({ InheritanceShrink(hiddenSize: 20) }, "bert", "hidden_size % head_dim == 0"),
        ({ InheritanceShrink(intermediateSize: 500) }, "llama", "1 <= intermediate_size <= 64"),
    ]

    @Test("impossible student shapes name the constraint", arguments: impossible.indices)
    func impossibleShapes(index: Int) throws {
        let (make, fixture, constraint) = Self.impossible[index]
        do {
            _ = try make().grow(try GrowthFixtures.checkpoint(fixture))
            Issue.record("shrank")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == constraint)
        }
    }
}
