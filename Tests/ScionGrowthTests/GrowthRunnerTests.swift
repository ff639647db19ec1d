// The growth runner on a tiny GPT-2: train 2 steps, G_stack ×2, train 2 more; tokens and FLOPs are
// counted per phase with the phase's own parameter count, and impossible growth fails before training.

import Foundation
import Testing
import ScionCheckpoint
import ScionData
import ScionModels
import ScionTensor
import ScionTraining
@testable import ScionGrowth

@Suite("Growth runner")
struct GrowthRunnerTests {
    static func setup(steps: Int) -> (TrainingConfig, TrainingData, GPT2LMHeadModel) {
        var g = RandomGenerator(seed: 1)
        let model = GPT2LMHeadModel(config: GPT2Config(vocabSize: 32, nPositions: 32, nEmbd: 16, nLayer: 1, nHead: 2,
                                                       eosTokenId: 0), generator: &g)
        var r = RandomGenerator(seed: 3)
        let corpus = InMemoryCorpus(documents: (0..<30).map { _ in
            TokenizedDocument(ids: (0..<20).map { _ in 1 + Int(r.next() % 31) })
        })
        var c = TrainingConfig(model: ModelSpec(initialize: ModelInit(hiddenSize: 16, layers: 1, heads: 2, contextLength: 32)),
                               data: DataConfig(synthetic: SyntheticConfig(), sequenceLength: 8, batchSize: 2), steps: steps)
        c.logEvery = 0
        let data = TrainingData(corpus: corpus, trainDocuments: nil, validationDocuments: [],
                                packing: PackingOptions(sequenceLength: 8, eosTokenID: 0), seed: 5)
        return (c, data, model)
    }

    @Test func stackAtStepTwo() throws {
        let (config, data, small) = Self.setup(steps: 4)
        let dir = GrowthFixtures.temporaryPath("runner")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (grown, report) = try GrowthRunner(config: config, growthStep: 2, growth: GStack(growthFactor: 2),
                                               workingDirectory: dir).run(small: small, data: data)
        #expect(grown.layerCount == 2)
        #expect(report.phases.map(\.steps) == [2, 2])
        #expect(report.phases[1].parameters > report.phases[0].parameters)
        for p in report.phases {
            #expect(p.tokens > 0)
            #expect(p.flops == 6 * Double(p.parameters) * Double(p.tokens))
            #expect(p.finalLoss?.isFinite == true)
        }
        #expect(report.totalFLOPs == report.phases[0].flops + report.phases[1].flops)
        let lineage = try #require(try Lineage.read(folder: report.grownPath))
        #expect(lineage.steps.last?.operatorName == "gstack")
    }

    @Test func refusesBeforeTraining() throws {
        let (config, data, small) = Self.setup(steps: 4)
        let dir = GrowthFixtures.temporaryPath("runner-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try GrowthRunner(config: config, growthStep: 2, growth: WidthExpansion(hiddenSize: 20),
                                 workingDirectory: dir).run(small: small, data: data)
            Issue.record("ran")
        } catch let GrowthError.constraintViolated(_, c, _) {
            #expect(c == "n_embd % head_dim == 0")
        }
        #expect(throws: GrowthError.self) {
            try GrowthRunner(config: config, growthStep: 4, growth: GStack(), workingDirectory: dir).run(small: small, data: data)
        }
    }
}
