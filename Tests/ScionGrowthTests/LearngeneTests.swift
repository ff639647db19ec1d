// Learngene expansion: TLEG layers are θ_A + (l/L)·θ_B exactly, a gene fitted to a model whose layers
// lie on a line reproduces them, and SWS copies stage layers by the depth profile.

import Foundation
import Testing
import ScionTensor
@testable import ScionGrowth

@Suite("Learngene")
struct LearngeneTests {
    @Test("TLEG: layer l = θ_A + (l/L)·θ_B", arguments: ["gpt2", "llama", "bert"])
    func tlegClosedForm(fixture: String) throws {
        let gene = try GrowthFixtures.checkpoint(fixture)
        let model = try LearngeneExpansion(.tleg(depth: 4)).grow(gene)
        #expect(model.layerCount == 4)
        let a = gene.layer(0), b = gene.layer(1)
        for i in 0..<4 {
            for (k, t) in model.layer(i) {
                let w = Float(i + 1) / 4
                let expected = zip(a[k]!.floats(), b[k]!.floats()).map { $0 + w * $1 }
                #expect(zip(t.floats(), expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "layer \(i) \(k)")
            }
        }
    }

    @Test("extracting a gene from a TLEG model recovers the gene")
    func extractRoundTrip() throws {
        let gene = try GrowthFixtures.checkpoint("llama")
        let model = try LearngeneExpansion(.tleg(depth: 6)).grow(gene)
        let fitted = try LearngeneExpansion.extractGene(from: model)
        #expect(fitted.layerCount == 2)
        for l in 0..<2 {
            for (k, t) in gene.layer(l) {
                let d = zip(t.floats(), fitted.layer(l)[k]!.floats()).map { abs($0 - $1) }.max() ?? 0
                #expect(d <= 1e-4, "layer \(l) \(k): \(d)")
            }
        }
    }

    @Test("SWS: stage s fills d_s layers")
    func swsProfile() throws {
        let gene = try GrowthFixtures.checkpoint("gpt2")
        let model = try LearngeneExpansion(.sws(profile: [1, 3])).grow(gene)
        #expect(model.layerCount == 4)
        for (i, s) in [0, 1, 1, 1].enumerated() {
            for (k, t) in model.layer(i) { #expect(t.floats() == gene.layer(s)[k]!.floats()) }
        }
        do {
            _ = try LearngeneExpansion(.sws(profile: [2, 2, 2])).grow(gene)
            Issue.record("expanded a 2-stage gene with 3 stage depths")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == "profile length == gene n_layer")
        }
        #expect(throws: GrowthError.self) { try LearngeneExpansion(.tleg(depth: 3)).grow(try GStack(growthFactor: 2).grow(gene)) }
    }
}
