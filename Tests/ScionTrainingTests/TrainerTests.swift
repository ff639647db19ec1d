// The trainer's contracts: accumulation equals one larger batch, resume repeats an uninterrupted
// run bit for bit, a tiny model memorises a tiny corpus, SFT masks leave prompts out of the loss,
// non-finite values are caught with their step and tensor, checkpoints are never torn, and a
// folder holding another run is refused.

import Foundation
import ScionData
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
import Testing
@testable import ScionTraining

@Suite struct TrainerTests {
    @Test func accumulationEqualsOneLargerBatch() throws {
        let corpus = Tiny.corpus()
        var loader = try DataLoader(corpus: corpus, batchSize: 2, options: PackingOptions(sequenceLength: 8, eosTokenID: 0), seed: 9)
        let micro = [loader.nextBatch(), loader.nextBatch(), loader.nextBatch()]
        var big = micro[0]
        big.batchSize = 6
        big.inputIDs = micro.flatMap(\.inputIDs)
        big.targetIDs = micro.flatMap(\.targetIDs)
        // Mask a few targets so the micro-batches hold different token counts.
        for i in [1, 2, 5] { big.targetIDs[i] = PackingOptions.ignoreIndex }
        var masked = micro
        masked[0].targetIDs = Array(big.targetIDs[0..<16])

        let a = Tiny.model(), b = Tiny.model()
        let optA = SGD(groups: ParameterGroup.standard(a, weightDecay: 0))
        let optB = SGD(groups: ParameterGroup.standard(b, weightDecay: 0))
        let ma = try Trainer.step(model: a, batches: masked, optimizer: optA, learningRate: 0.5)
        let mb = try Trainer.step(model: b, batches: [big], optimizer: optB, learningRate: 0.5)
        #expect(ma.tokens == mb.tokens)
        #expect(abs(ma.loss - mb.loss) < 1e-6, "\(ma.loss) vs \(mb.loss)")
        #expect(abs(ma.gradientNorm - mb.gradientNorm) < 1e-6 * max(1, mb.gradientNorm))
        let pa = a.namedParameters(), pb = b.namedParameters()
        for ((name, x), (_, y)) in zip(pa, pb) {
            let diff = zip(x.value.floats(), y.value.floats()).map { abs($0 - $1) }.max() ?? 0
            #expect(diff < 1e-6, "\(name): max |Δ| \(diff)")
        }
    }

    @Test func resumeRepeatsTheRunBitForBit() throws {
        let corpus = Tiny.corpus()
        var config = Tiny.config(steps: 8)
        config.evalEvery = 3
        config.gradientAccumulation = 2
        let straight = try Trainer(config: config, model: Tiny.model(), data: Tiny.data(corpus))
        try straight.run()

        let dir = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = CheckpointStore(directory: dir, keep: 2)
        let first = try Trainer(config: config, model: Tiny.model(), data: Tiny.data(corpus), checkpoints: store)
        try first.run(until: 4)
        // A fresh process would start from a differently initialized model: restore must replace everything.
        let second = try Trainer(config: config, model: Tiny.model(seed: 99), data: Tiny.data(corpus),
                                 checkpoints: CheckpointStore(directory: dir, keep: 2))
        try second.restore(from: try #require(store.latest()))
        #expect(second.state.step == 4)
        try second.run()
        let lossesA = straight.state.history.map { $0.loss.bitPattern }
        let lossesB = second.state.history.map { $0.loss.bitPattern }
        #expect(lossesA == lossesB)
        #expect(straight.state.evaluations.map { $0.loss.bitPattern } == second.state.evaluations.map { $0.loss.bitPattern })
        for ((name, x), (_, y)) in zip(straight.model.namedParameters(), second.model.namedParameters()) {
            #expect(x.value.floats() == y.value.floats(), "\(name)")
        }
    }

    @Test func tinyModelMemorisesTinyCorpus() throws {
        // One 24-token document, repeated epoch after epoch: every next token is determined by context.
        let corpus = Tiny.corpus(documents: 1, length: 24, seed: 11)
        var config = Tiny.config(steps: 60, batchSize: 4, sequenceLength: 12, learningRate: 2e-2)
        config.optimizer.gradientClip = nil
        let trainer = try Trainer(config: config, model: Tiny.model(layers: 1, width: 32),
                                  data: Tiny.data(corpus, sequenceLength: 12, validation: false))
        try trainer.run()
        let final = try #require(trainer.state.history.last).loss
        // Stated bound: ln(32) ≈ 3.47 at the start; memorised means below 0.25 nats/token.
        #expect(final < 0.25, "final loss \(final)")
    }

    @Test func sftMaskLeavesPromptTokensOutOfTheLoss() throws {
        // Documents: 5 prompt tokens (not supervised) then 5 completion tokens.
        var g = RandomGenerator(seed: 4)
        let docs = (0..<6).map { _ in
            TokenizedDocument(ids: (0..<10).map { _ in 1 + Int(g.next() % 31) }, lossMask: Array(repeating: false, count: 5) + Array(repeating: true, count: 5))
        }
        let corpus = InMemoryCorpus(documents: docs)
        var loader = try DataLoader(corpus: corpus, batchSize: 2,
                                    options: PackingOptions(sequenceLength: 10, eosTokenID: 0, shuffle: false))
        let batch = loader.nextBatch()
        // The stream's own next tokens, where the batch says "ignore".
        let stream = docs.flatMap { $0.ids + [0] }
        let fullTargets = (0..<2).flatMap { r in Array(stream[(r * 10 + 1)..<(r * 10 + 11)]) }
        #expect(batch.targetIDs.contains(PackingOptions.ignoreIndex))
        #expect(batch.supervisedTargetCount < batch.targetIDs.count)

        let model = Tiny.model()
        let loss = withoutGradients {
            CrossEntropyObjective().summedLoss(model: model, batch: batch).item() / Double(batch.supervisedTargetCount)
        }
        // Per-token losses against the full targets, averaged over the supervised positions only.
        let perToken = withoutGradients {
            model(batch.inputs).reshaped(20, Tiny.vocabulary)
                .crossEntropy(targets: Tensor(indices: fullTargets), reduction: .none).floats()
        }
        let supervised = batch.targetIDs.indices.filter { batch.targetIDs[$0] != PackingOptions.ignoreIndex }
        for i in supervised { #expect(batch.targetIDs[i] == fullTargets[i]) }
        let expected = supervised.reduce(0.0) { $0 + Double(perToken[$1]) } / Double(supervised.count)
        let everything = perToken.reduce(0.0) { $0 + Double($1) } / Double(perToken.count)
        #expect(abs(loss - expected) < 1e-5)
        #expect(abs(loss - everything) > 1e-4)
        // Changing the prompt positions' targets changes nothing: they are ignored whatever they hold.
        let shifted = zip(fullTargets.indices, fullTargets).map { i, t in
            batch.targetIDs[i] == PackingOptions.ignoreIndex ? (t + 7) % Tiny.vocabulary : t
        }
        let perTokenShifted = withoutGradients {
            model(batch.inputs).reshaped(20, Tiny.vocabulary)
                .crossEntropy(targets: Tensor(indices: shifted), reduction: .none).floats()
        }
        let expectedShifted = supervised.reduce(0.0) { $0 + Double(perTokenShifted[$1]) } / Double(supervised.count)
        #expect(expectedShifted == expected)
    }

    @Test func nonFiniteGradientNamesStepAndParameter() throws {
        let corpus = Tiny.corpus()
        let dir = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = Tiny.config(steps: 6)
        config.checkpointEvery = 2
        let model = Tiny.model()
        let store = CheckpointStore(directory: dir, keep: 5)
        let trainer = try Trainer(config: config, model: model, data: Tiny.data(corpus), checkpoints: store)

        final class Poison: TrainerCallback {
            func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) {
                guard metrics.step == 3, let p = trainer.model.parameter(at: "transformer.ln_f.weight") else { return }
                p.value = Tensor(Array(repeating: Float.nan, count: p.value.count), shape: p.shape)
            }
        }
        trainer.callbacks.append(Poison())
        var caught: TrainingError? = nil
        do { try trainer.run() } catch let e as TrainingError { caught = e }
        guard case .nonFinite(let step, let tensor, _)? = caught else {
            Issue.record("expected a non-finite error, got \(String(describing: caught))")
            return
        }
        #expect(step == 4)
        #expect(tensor == "gradient of transformer.wte.weight")
        #expect(caught?.description.contains("step 4") == true)
        // The last good checkpoint (step 2) is kept and readable.
        #expect(store.latestStep() == 2)
        let good = try CheckpointStore.read(try #require(store.latest()))
        #expect(good.state.step == 2)
        #expect(good.weights.values.allSatisfy { $0.floats().allSatisfy(\.isFinite) })
    }

    struct Injected: Error {}

    @Test(arguments: ["model", "optimizer", "trainer", "rename", "latest"])
    func interruptedCheckpointLeavesOldOrNew(stage: String) throws {
        let corpus = Tiny.corpus()
        let dir = Tiny.temporaryDirectory(stage)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = CheckpointStore(directory: dir, keep: 3)
        let trainer = try Trainer(config: Tiny.config(steps: 4), model: Tiny.model(), data: Tiny.data(corpus),
                                  checkpoints: store)
        try trainer.run(until: 2)                      // writes step-2
        try trainer.trainStep()
        try trainer.trainStep()
        store.faultInjection = { if $0 == stage { throw Injected() } }
        #expect(throws: (any Error).self) { try trainer.saveCheckpoint() }
        store.faultInjection = nil
        // A new process sees a complete checkpoint: the old one.
        let reader = CheckpointStore(directory: dir, keep: 3)
        let latest = try #require(reader.latest())
        let loaded = try CheckpointStore.read(latest)
        #expect(loaded.state.step == 2)
        #expect(reader.latestStep() == 2)
        // Writing again afterwards succeeds and cleans up leftovers.
        try trainer.saveCheckpoint()
        #expect(reader.latestStep() == 4)
        #expect(try CheckpointStore.read(try #require(reader.latest())).state.step == 4)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!names.contains { $0.hasPrefix(".step-") }, "\(names)")
    }

    @Test func frozenParametersDoNotChange() throws {
        var config = Tiny.config(steps: 2)
        config.trainable = "^transformer\\.h\\.0\\.mlp\\."
        let model = Tiny.model()
        let before = model.stateDictionary().mapValues { $0.floats() }
        let trainer = try Trainer(config: config, model: model, data: Tiny.data(Tiny.corpus()))
        try trainer.run()
        for (name, values) in model.stateDictionary().mapValues({ $0.floats() }) {
            if name.hasPrefix("transformer.h.0.mlp.") {
                #expect(values != before[name], "\(name) should train")
            } else {
                #expect(values == before[name], "\(name) should be frozen")
            }
        }
        #expect(trainer.trainableParameterCount < model.numberOfParameters)
    }

    @Test(arguments: ["gpt2", "llama"])
    func gradientCheckpointingGivesTheSameStep(architecture: String) throws {
        let corpus = Tiny.corpus()
        let spec = ModelInit(architecture: architecture, hiddenSize: 16, layers: 2, heads: 2, contextLength: 32)
        func model() throws -> any LanguageModel {
            try TrainingRun.makeModel(spec, vocabularySize: Tiny.vocabulary, eos: 0, seed: 3)
        }
        var config = Tiny.config(steps: 3)
        let plain = try Trainer(config: config, model: try model(), data: Tiny.data(corpus))
        try plain.run()
        config.gradientCheckpointing = true
        let recomputed = try Trainer(config: config, model: try model(), data: Tiny.data(corpus))
        #expect((recomputed.model as? any TrainableLanguageModel)?.gradientCheckpointing == true)
        try recomputed.run()
        for (a, b) in zip(plain.state.history, recomputed.state.history) {
            #expect(abs(a.loss - b.loss) < 1e-6)
        }
        #expect(plain.state.history.allSatisfy { $0.loss.isFinite && $0.gradientNorm > 0 })
    }

    @Test func distillationFromItselfHasZeroKL() throws {
        let corpus = Tiny.corpus()
        var loader = try DataLoader(corpus: corpus, batchSize: 2, options: PackingOptions(sequenceLength: 8, eosTokenID: 0))
        let batch = loader.nextBatch()
        let student = Tiny.model()
        let teacher = Tiny.model()
        let ce = withoutGradients { CrossEntropyObjective().summedLoss(model: student, batch: batch).item() }
        let pureKL = DistillationLoss(teacher: teacher, temperature: 2, alpha: 1, hiddenWeight: 1)
        #expect(abs(withoutGradients { pureKL.summedLoss(model: student, batch: batch).item() }) < 1e-4)
        let mixed = DistillationLoss(teacher: teacher, temperature: 2, alpha: 0.25)
        #expect(abs(withoutGradients { mixed.summedLoss(model: student, batch: batch).item() } - 0.75 * ce) < 1e-3)
        // Against a different teacher the KL is positive and the loss trains the student.
        let other = DistillationLoss(teacher: Tiny.model(seed: 7), temperature: 2, alpha: 1, hiddenWeight: 0.5)
        let l = other.summedLoss(model: student, batch: batch)
        #expect(l.item() > 0)
        #expect(l.backward()[try #require(student.parameter(at: "transformer.wte.weight")).value] != nil)
        #expect(teacher.trainableParameters().isEmpty)
    }

    @Test func refusesAFolderHoldingAnotherRun() throws {
        let dir = Tiny.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = Tiny.config(steps: 3)
        config.output = dir.path
        try Data("{\"steps\": 1}".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(throws: TrainingError.outputHoldsDifferentRun(path: dir.path)) {
            _ = try TrainingRun.start(config: config)
        }
        // Any non-empty folder that is not this run is refused too.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        try Data("x".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        #expect(throws: TrainingError.outputHoldsDifferentRun(path: dir.path)) {
            _ = try TrainingRun.start(config: config)
        }
        #expect(throws: TrainingError.self) { _ = try TrainingRun.resume(directory: dir) }
    }

    @Test func reportIsSelfContainedHTMLWithPlots() throws {
        let history = (1...30).map { StepMetrics(step: $0, loss: 4 / Double($0), learningRate: 1e-3, gradientNorm: 1, tokens: 64, seconds: 0.01) }
        let evals = [EvalMetrics(step: 10, loss: 0.5, perplexity: 1.6, tokens: 100), EvalMetrics(step: 30, loss: 0.2, perplexity: 1.2, tokens: 100)]
        let summary = RunSummary(output: "runs/x", steps: 30, parameters: 1000, trainableParameters: 1000, weightBytes: 4000,
                                 gradientBytes: 4000, optimizerStateBytes: 8000, activationBytes: 1 << 20, tokens: 1920,
                                 flops: 1.2e7, seconds: 0.3, tokensPerSecond: 6400, initialLoss: 4, finalLoss: 0.13,
                                 validationLoss: 0.2, validationPerplexity: 1.2, unigramEntropy: 3)
        let html = ReportWriter.html(config: Tiny.config(steps: 30), summary: summary, history: history, evaluations: evals)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 3)
        #expect(html.contains("<polyline"))
        #expect(html.contains("validation"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"))
    }
}
