// The contract suite over every growth operator (ARCHITECTURE.md §2.11 item 5): for each operator
// configuration and each fixture architecture, the grown checkpoint validates, saves, loads fresh
// into a model of the new config, has the closed-form parameter count, records its lineage, and —
// when the operator claims exactness — reproduces the original outputs within 1e-5. Approximate
// cases print their measured max difference and KL and are bounded loosely.

import Foundation
import Testing
import ScionModels
@testable import ScionGrowth

struct GrowthCase: CustomTestStringConvertible, Sendable {
    var label: String
    var op: any GrowthOperator
    var fixtures: [String]
    var testDescription: String { label }
}

let growthCases: [GrowthCase] = [
    GrowthCase(label: "gstack x2 stacked", op: GStack(growthFactor: 2), fixtures: GrowthFixtures.names),
    GrowthCase(label: "gstack x3 interleaved", op: GStack(growthFactor: 3, layout: .interleaved), fixtures: GrowthFixtures.names),
    GrowthCase(label: "gstack custom", op: GStack(layout: .custom([1, 0, 1])), fixtures: GrowthFixtures.names),
    GrowthCase(label: "insert front+middle+end", op: ZeroBlockInsertion(after: [-1, 0, 1, 1]), fixtures: GrowthFixtures.names),
    GrowthCase(label: "widen ffn random", op: WidthExpansion(intermediateSize: 150, selection: .random(seed: 3)),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "widen heads GQA (more groups)", op: WidthExpansion(attentionHeads: 8, keyValueHeads: 4, selection: .random(seed: 5)),
               fixtures: ["llama", "qwen2", "llama_tied"]),
    GrowthCase(label: "widen heads GQA (more per group)", op: WidthExpansion(attentionHeads: 6, selection: .random(seed: 9)),
               fixtures: ["llama", "qwen2", "llama_tied"]),
    GrowthCase(label: "widen hidden x2 cyclic", op: WidthExpansion(hiddenSize: 64, intermediateSize: 160),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "widen hidden 32→48 (non-uniform)", op: WidthExpansion(hiddenSize: 48), fixtures: GrowthFixtures.names),
    GrowthCase(label: "widen hidden random", op: WidthExpansion(hiddenSize: 64, selection: .random(seed: 1)),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "vocab +3 mean", op: VocabularyExpansion(tokens: ["<n0>", "<n1>", "<n2>"]), fixtures: GrowthFixtures.names),
    GrowthCase(label: "vocab +2 pieces", op: VocabularyExpansion(tokens: ["<p0>", "<p1>"], initializer: SubPieceMeanInitializer(),
                                                                 pieces: [[4, 5], [6]]), fixtures: GrowthFixtures.names),
    GrowthCase(label: "shrink every other layer", op: InheritanceShrink(layers: 1), fixtures: GrowthFixtures.names),
    GrowthCase(label: "shrink ffn by importance", op: InheritanceShrink(intermediateSize: 40, choice: .importance),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "shrink hidden by importance", op: InheritanceShrink(hiddenSize: 16, choice: .importance),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "shrink GQA heads", op: InheritanceShrink(attentionHeads: 2, keyValueHeads: 1, choice: .importance),
               fixtures: ["llama", "qwen2", "llama_tied"]),
    GrowthCase(label: "learngene TLEG depth 5 (2-layer fixture as gene)", op: LearngeneExpansion(.tleg(depth: 5)),
               fixtures: GrowthFixtures.names),
    GrowthCase(label: "learngene SWS profile 2,3", op: LearngeneExpansion(.sws(profile: [2, 3])), fixtures: GrowthFixtures.names),
    GrowthCase(label: "widen AKI ffn+heads", op: WidthExpansion(intermediateSize: 160, method: .aki),
               fixtures: GrowthFixtures.names),
]

@Suite("Growth operator contract")
struct GrowthContractTests {
    @Test("every registered operator type has a case", arguments: GrowthOperators.all.map { $0.name })
    func registryCovered(name: String) {
        #expect(growthCases.contains { type(of: $0.op).name == name })
    }

    @Test("grow, save, load fresh, compare", arguments: growthCases)
    func contract(_ c: GrowthCase) throws {
        for fixture in c.fixtures {
            let source = try GrowthFixtures.checkpoint(fixture)
            try c.op.validate(source)
            let grown = try c.op.grow(source)
            #expect(grown.parameterCount == GrowthFixtures.closedFormParameterCount(grown), "\(fixture): parameter count")
            #expect(grown.lineage.steps.last?.operatorName == type(of: c.op).name)
            #expect(grown.lineage.steps.last?.parentSHA256 == source.sourceDigest)
            let out = GrowthFixtures.temporaryPath("\(fixture)-grown")
            try grown.save(to: out)
            defer { try? FileManager.default.removeItem(atPath: out) }
            let before = try GrowthFixtures.freshOutputs(source.sourcePath!)
            let after = try GrowthFixtures.freshOutputs(out)
            let width = min(before[0].count, after[0].count)
            let diff = GrowthFixtures.maxAbsDifference(before, after, width: width)
            if c.op.preservesFunction(for: source) {
                print("[exact] \(c.label) on \(fixture): max|Δ| \(String(format: "%.3g", diff))")
                #expect(diff <= 1e-5, "\(c.label) on \(fixture): max |Δ| = \(diff)")
            } else {
                let r = try PreservationCheck.compare(before: source.sourcePath!, after: out, ids: GrowthFixtures.ids)
                print("[approx] \(c.label) on \(fixture): max|Δ| \(String(format: "%.3g", r.maxAbsDifference))"
                      + (r.meanKL.map { String(format: ", mean KL %.3g nats, max KL %.3g", $0, r.maxKL!) } ?? " (hidden states)"))
                #expect(r.maxAbsDifference.isFinite)
                if let kl = r.meanKL { #expect(kl.isFinite && kl >= 0) }
            }
        }
    }
}
