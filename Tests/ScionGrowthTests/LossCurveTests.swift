// LossCurve: the first crossing of a target loss, interpolated linearly in FLOPs and tokens between
// evaluations (what `scion-bench growth` reports), the loss at a given compute, and the refusal of
// malformed curves; and a curve recorded through GrowthRunner's callbacks across both phases.

import Foundation
import Testing
import ScionData
import ScionModels
import ScionTensor
import ScionTraining
@testable import ScionGrowth

@Suite("Loss curve")
struct LossCurveTests {
    static func curve(_ points: [(Double, Double)]) throws -> LossCurve {
        try LossCurve(points: points.map { LossCurve.Point(flops: $0.0, tokens: $0.0 / 10, loss: $0.1) })
    }

    @Test func crossingIsInterpolatedBetweenTheBracketingEvaluations() throws {
        let c = try Self.curve([(100, 6.0), (200, 5.0), (300, 4.0), (400, 3.5)])
        let x = try #require(c.crossing(of: 4.5))
        #expect(x.pointIndex == 2)
        #expect(x.interpolated)
        #expect(abs(x.flops - 250) < 1e-9)
        #expect(abs(x.tokens - 25) < 1e-9)
        // Exactly on an evaluation: that evaluation's compute.
        #expect(c.crossing(of: 5.0)?.flops == 200)
        #expect(abs((c.crossing(of: 3.75)?.flops ?? 0) - 350) < 1e-9)
    }

    @Test func firstCrossingWinsOnANonMonotoneCurve() throws {
        // Dips below 4.0 at 200, rises, dips again: the first crossing counts.
        let c = try Self.curve([(100, 5.0), (200, 3.9), (300, 4.2), (400, 3.8)])
        let x = try #require(c.crossing(of: 4.0))
        #expect(x.pointIndex == 1)
        #expect(abs(x.flops - (100 + 100 * (1.0 / 1.1))) < 1e-9)
    }

    @Test func unreachedTargetAndFirstPointBelow() throws {
        let c = try Self.curve([(100, 5.0), (200, 4.5)])
        #expect(c.crossing(of: 4.4) == nil)
        let first = try #require(c.crossing(of: 6.0))
        #expect(first.flops == 100 && first.pointIndex == 0 && !first.interpolated)
        #expect(LossCurve().crossing(of: 1) == nil)
        #expect(c.finalLoss == 4.5 && c.finalFLOPs == 200)
    }

    @Test func lossAtFLOPs() throws {
        let c = try Self.curve([(100, 6.0), (200, 5.0), (400, 4.0)])
        #expect(c.loss(atFLOPs: 100) == 6.0)
        #expect(abs((c.loss(atFLOPs: 150) ?? 0) - 5.5) < 1e-12)
        #expect(abs((c.loss(atFLOPs: 300) ?? 0) - 4.5) < 1e-12)
        #expect(c.loss(atFLOPs: 400) == 4.0)
        #expect(c.loss(atFLOPs: 99) == nil)
        #expect(c.loss(atFLOPs: 401) == nil)
    }

    @Test func refusesMalformedPoints() throws {
        var c = try Self.curve([(100, 6.0)])
        #expect(throws: LossCurveError.computeDecreases(index: 1, previous: 100, value: 50)) {
            try c.append(flops: 50, tokens: 5, loss: 5)
        }
        #expect(throws: LossCurveError.self) { try c.append(flops: 200, tokens: 20, loss: .nan) }
        #expect(throws: LossCurveError.self) { try c.append(flops: .infinity, tokens: 20, loss: 1) }
        #expect(throws: LossCurveError.self) { try LossCurve(points: [.init(flops: -1, tokens: 0, loss: 1)]) }
        #expect(c.points.count == 1)
        // Equal compute (an evaluation repeated at the same step) is allowed.
        try c.append(flops: 100, tokens: 10, loss: 5.5)
        #expect(c.points.count == 2)
    }

    /// Records (cumulative FLOPs, validation loss) per evaluation, a new phase at each step 1.
    final class Recorder: TrainerCallback {
        var curve = LossCurve()
        var base = 0.0, phaseTokens = 0.0, parameters = 0, phases = 0
        func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) {
            if metrics.step == 1 {
                base += 6 * Double(parameters) * phaseTokens
                phaseTokens = 0
                parameters = trainer.model.numberOfParameters
                phases += 1
            }
            phaseTokens += Double(metrics.tokens)
        }
        func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics) {
            try? curve.append(flops: base + 6 * Double(parameters) * phaseTokens, tokens: phaseTokens, loss: metrics.loss)
        }
    }

    @Test func runnerCallbacksSeeBothPhases() throws {
        var g = RandomGenerator(seed: 1)
        let small = GPT2LMHeadModel(config: GPT2Config(vocabSize: 32, nPositions: 32, nEmbd: 16, nLayer: 1, nHead: 2,
                                                       eosTokenId: 0), generator: &g)
        var r = RandomGenerator(seed: 3)
        let corpus = InMemoryCorpus(documents: (0..<30).map { _ in
            TokenizedDocument(ids: (0..<20).map { _ in 1 + Int(r.next() % 31) })
        })
        var config = TrainingConfig(model: ModelSpec(initialize: ModelInit(hiddenSize: 16, layers: 1, heads: 2, contextLength: 32)),
                                    data: DataConfig(synthetic: SyntheticConfig(), sequenceLength: 8, batchSize: 2), steps: 6)
        config.evalEvery = 1
        config.evalBatches = 2
        let data = TrainingData(corpus: corpus, trainDocuments: Array(0..<25), validationDocuments: Array(25..<30),
                                packing: PackingOptions(sequenceLength: 8, eosTokenID: 0), seed: 5)
        let dir = GrowthFixtures.temporaryPath("curve")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorder = Recorder()
        var runner = GrowthRunner(config: config, growthStep: 2, growth: GStack(growthFactor: 2), workingDirectory: dir)
        runner.callbacks = [recorder]
        let (_, report) = try runner.run(small: small, data: data)
        #expect(recorder.phases == 2)
        // One evaluation per step in each phase (2 + 4), compute rising across the growth.
        #expect(recorder.curve.points.count == 6)
        let final = try #require(recorder.curve.finalFLOPs)
        #expect(abs(final - report.totalFLOPs) <= 1e-9 * final)
        #expect(abs(recorder.curve.points[1].flops - report.phases[0].flops) <= 1e-9 * final)
    }
}
