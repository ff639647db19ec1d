// Symmetry of bert2BERT width growth in the residual stream (found by `scion-bench growth`): with a
// uniform hidden-size doubling, FPI keeps every copied residual channel exactly equal to its source
// (that is what makes it function-preserving, and without dropout training never separates them),
// while AKI must give the copies different values after the first block, because the new residual
// columns of each block's output projections come from the next layer. Before the fix AKI left the
// residual copies identical too, so a widened model kept the narrow model's residual width.

import Foundation
import Testing
import ScionModels
import ScionTensor
@testable import ScionGrowth

@Suite("Width growth symmetry")
struct WidthSymmetryTests {
    /// Each layer's hidden states [T, C'] of the model in `folder` on the fixture ids.
    static func hiddenStates(_ folder: String) throws -> [Tensor] {
        let f = try HFFolder(path: folder)
        let ids = Tensor(indices: GrowthFixtures.ids).reshaped([1, GrowthFixtures.ids.count])     // [1, T]
        switch f.modelType {
        case "gpt2": return try GPT2LMHeadModel.load(folder: f).hiddenStates(ids)
        case "bert": return try BertModel.load(folder: f).hiddenStates(ids, attentionMask: nil, tokenTypeIDs: nil)
        default: return try LlamaForCausalLM.load(folder: f).hiddenStates(ids)
        }
    }

    /// The largest |h[…, j] − h[…, j + old]| over positions and j < old.
    static func copySpread(_ h: Tensor, old: Int) -> Double {
        let c = h.shape.last!
        let x = h.contiguous().floats()
        var m = 0.0
        for r in 0..<(x.count / c) {
            for j in 0..<old { m = max(m, Double(abs(x[r * c + j] - x[r * c + j + old]))) }
        }
        return m
    }

    @Test("AKI separates copied residual channels, FPI keeps them equal", arguments: ["gpt2", "llama", "bert"])
    func residualCopies(fixture: String) throws {
        let source = try GrowthFixtures.checkpoint(fixture)
        let old = source.hiddenSize
        #expect(source.layerCount >= 2)
        for method in [WidthExpansion.Method.fpi, .aki] {
            let grown = try WidthExpansion(hiddenSize: 2 * old, method: method).grow(source)
            let out = GrowthFixtures.temporaryPath("\(fixture)-\(method.rawValue)-symmetry")
            try grown.save(to: out)
            defer { try? FileManager.default.removeItem(atPath: out) }
            let states = try Self.hiddenStates(out)
            // states[0] is the embedding output: FPI copies for both methods.
            #expect(Self.copySpread(states[0], old: old) <= 1e-6, "\(fixture) \(method): embedding copies")
            let afterFirstBlock = Self.copySpread(states[1], old: old)
            if method == .fpi {
                #expect(afterFirstBlock <= 1e-6, "\(fixture) FPI: residual copies must stay identical")
            } else {
                #expect(afterFirstBlock > 1e-4, "\(fixture) AKI: residual copies still identical (max |Δ| \(afterFirstBlock))")
            }
        }
    }

    @Test("AKI without hidden growth is unchanged by the residual rule")
    func ffnOnlyAKIUntouchedResidual() throws {
        let source = try GrowthFixtures.checkpoint("gpt2")
        let grown = try WidthExpansion(intermediateSize: 2 * source.intermediateSize, method: .aki).grow(source)
        // Output projections keep the residual width, and their columns are the source layer's own.
        for i in 0..<source.layerCount {
            let key = "transformer.h.\(i).attn.c_proj.weight"
            #expect(grown.tensors[key]?.floats() == source.tensors[key]?.floats())
        }
    }
}
