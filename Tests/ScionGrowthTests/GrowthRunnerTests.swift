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

/// Records the inputs of every micro-batch the trainer feeds it (and computes cross-entropy).
final class RecordingObjective: TrainingObjective, @unchecked Sendable {
    var inputs: [[Int]] = []
    func summedLoss(model: any LanguageModel, batch: Batch) -> Tensor {
        inputs.append(batch.inputIDs)
        return CrossEntropyObjective().summedLoss(model: model, batch: batch)
    }
}

@Suite("Growth runner: data, defaults, lineage")
struct GrowthRunnerContinuationTests {
    @Test("phase 2 continues the data stream where phase 1 stopped (no replay, no reshuffle)")
    func dataContinuation() throws {
        let (config, data, small) = GrowthRunnerTests.setup(steps: 5)
        // The uninterrupted stream: one trainer, five steps.
        let reference = RecordingObjective()
        let (_, _, other) = GrowthRunnerTests.setup(steps: 5)
        try Trainer(config: config, model: other, data: data, objective: reference).run(until: 5)
        #expect(reference.inputs.count == 5)
        let dir = GrowthFixtures.temporaryPath("runner-stream")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorded = RecordingObjective()
        _ = try GrowthRunner(config: config, growthStep: 2, growth: GStack(growthFactor: 2), workingDirectory: dir,
                             objective: recorded).run(small: small, data: data)
        #expect(recorded.inputs.count == 5)
        // Phase 2's first batch is the one right after phase 1's last: batch 3 of the same stream.
        #expect(recorded.inputs[2] == reference.inputs[2])
        #expect(recorded.inputs == reference.inputs)
        #expect(Set(recorded.inputs.map { $0.description }).count == 5)
    }

    @Test("without a growth step, G_stack's rule picks one (g = 4 by default)")
    func defaults() throws {
        let (config, data, small) = GrowthRunnerTests.setup(steps: 6)
        let dir = GrowthFixtures.temporaryPath("runner-defaults")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runner = GrowthRunner(config: config, workingDirectory: dir)
        #expect((runner.growth as? GStack)?.growthFactor == 4)
        let (grown, report) = try runner.run(small: small, data: data)
        #expect(grown.layerCount == 4)
        #expect(report.growthStepFromRule)
        let n = try Checkpoint(folder: report.grownPath).parameterCount
        let expected = GStackTiming().recommendedGrowthStep(targetParameters: n, totalSteps: 6, tokensPerStep: runner.tokensPerStep)
        #expect(report.growthStep == expected.step && report.growthStepClamped == expected.clamped)
        #expect(report.phases.map(\.steps) == [report.growthStep, 6 - report.growthStep])
    }

    @Test("lineage: small (train) → grown (train, gstack) → final (train, gstack, train), digests chained")
    func lineageChain() throws {
        let (config, data, small) = GrowthRunnerTests.setup(steps: 4)
        let initialDigest = try Lineage.digest(ofTensors: small.stateDictionary())
        let dir = GrowthFixtures.temporaryPath("runner-lineage")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, report) = try GrowthRunner(config: config, growthStep: 2, growth: GStack(growthFactor: 2), workingDirectory: dir)
            .run(small: small, data: data)
        let smallPath = (dir as NSString).appendingPathComponent("small")
        let chain = try #require(try Lineage.read(folder: report.finalPath))
        #expect(chain.steps.map(\.operatorName) == ["train", "gstack", "train"])
        #expect(chain.steps[0].parentSHA256 == initialDigest)
        #expect(chain.steps[0].parameters["steps"] == "2")
        #expect(chain.steps[1].parentSHA256 == (try Lineage.weightsDigest(folder: smallPath)))
        #expect(chain.steps[2].parentSHA256 == (try Lineage.weightsDigest(folder: report.grownPath)))
        #expect(chain.steps[2].parentPath == report.grownPath)
        #expect(chain.steps[2].parameters["steps"] == "2")
        #expect(chain.steps[2].parameters["tokens"] == "\(report.phases[1].tokens)")
    }
}

@Suite("G_stack growth timing")
struct GStackTimingTests {
    @Test("the fitted rule: log10 d = 0.88·log10 N + 163.27/log10 C − 5.74")
    func rule() {
        let t = GStackTiming()
        let n = 7e9, c = 1.3e22
        let expected = pow(10, 0.88 * log10(n) + 163.27 / log10(c) - 5.74)
        #expect(abs(t.growthTokens(targetParameters: n, computeFLOPs: c) / expected - 1) < 1e-12)
        #expect((1.5e10...2.5e10).contains(expected))
        // Larger targets grow later (a > 0); larger budgets grow earlier (b > 0 on 1/log C).
        #expect(t.growthTokens(targetParameters: 1e9, computeFLOPs: c) < t.growthTokens(targetParameters: 1e10, computeFLOPs: c))
        #expect(t.growthTokens(targetParameters: n, computeFLOPs: 1e23) < t.growthTokens(targetParameters: n, computeFLOPs: 1e21))
    }

    @Test("steps: in range when the rule fits, clamped to half the run when it extrapolates")
    func steps() {
        let t = GStackTiming()
        // 7B target, 300B tokens in steps of 4M tokens: d ≈ 2·10¹⁰ tokens ≈ 5000 of 75 000 steps.
        let big = t.recommendedGrowthStep(targetParameters: 7_000_000_000, totalSteps: 75_000, tokensPerStep: 4_000_000)
        #expect(!big.clamped && (3_000...7_000).contains(big.step))
        let tiny = t.recommendedGrowthStep(targetParameters: 1_000_000, totalSteps: 400, tokensPerStep: 512)
        #expect(tiny.clamped && tiny.step == 200)
        #expect(t.recommendedGrowthStep(targetParameters: 1_000_000, totalSteps: 1, tokensPerStep: 512).step == 1)
    }
}
