// The training options shared by the `scion grow` subcommands that train (learngene training,
// shrink with distillation): steps, learning rate, batch shape, distillation temperature and
// weight, and the data (text files tokenized with the teacher's tokenizer). They become a
// TrainingConfig whose model is the teacher, so the data pipeline is exactly `scion train`'s
// (TrainingRun.components).

import ArgumentParser
import Foundation
import ScionTraining

struct GrowTrainingOptions: ParsableArguments {
    @Option(help: "Optimizer steps (per stage for a staged shrink).") var steps = 200
    @Option(name: .customLong("learning-rate"), help: "Peak learning rate (warmup over 5% of the steps, then cosine to a tenth).")
    var learningRate = 1e-3
    @Option(help: "Sequences per batch.") var batchSize = 8
    @Option(help: "Tokens per sequence (at most the teacher's positions).") var sequenceLength = 64
    @Option(help: "Distillation temperature T (the KL term is scaled by T²).") var temperature = 2.0
    @Option(help: "Weight of the KL term; cross-entropy gets 1 − alpha.") var alpha = 0.5
    @Option(help: "Share of the documents held out for validation.") var validationFraction = 0.05
    @Option(help: "A tokenizer.json for the data (default: the teacher's).") var tokenizer: String?
    @Option(help: "Seed of initialization, the split and shuffling.") var seed: UInt64 = 0

    /// True when no training option was changed from its default (for subcommands that train only sometimes).
    var isDefault: Bool {
        let d = GrowTrainingOptions.defaults
        return steps == d.steps && learningRate == d.learningRate && batchSize == d.batchSize && sequenceLength == d.sequenceLength
            && temperature == d.temperature && alpha == d.alpha && validationFraction == d.validationFraction
            && tokenizer == d.tokenizer && seed == d.seed
    }

    static var defaults: GrowTrainingOptions { try! GrowTrainingOptions.parse([]) }

    /// Checks the ranges before any file is read.
    func check() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard sequenceLength >= 2 else { throw ValidationError("--sequence-length must be at least 2") }
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be in [0, 1]") }
        guard (0..<1).contains(validationFraction) else { throw ValidationError("--validation-fraction must be in [0, 1)") }
    }

    /// A training config over `data` (text files, one document per blank-line-separated block) whose
    /// model is `teacher`.
    func config(teacher: String, data: [String], output: String) throws -> TrainingConfig {
        try check()
        for d in data where !FileManager.default.fileExists(atPath: d) { throw CLIError("--data \(d) does not exist") }
        var sources = data.map { SourceConfig(path: $0) }
        for i in sources.indices { sources[i].splitting = "blankLines" }
        var c = TrainingConfig(model: ModelSpec(from: teacher),
                               data: DataConfig(sources: sources, tokenizer: tokenizer, sequenceLength: sequenceLength,
                                                batchSize: batchSize, validationFraction: validationFraction, seed: seed),
                               steps: steps)
        let warmup = max(1, steps / 20)
        c.schedule = .warmupCosine(peak: learningRate, minimum: learningRate / 10, warmupSteps: warmup, decaySteps: steps)
        c.optimizer = OptimizerConfig(type: "adamw", weightDecay: 0.01, gradientClip: 1)
        c.seed = seed
        c.output = output
        c.logEvery = max(1, steps / 20)
        do { try c.validate() } catch let e as TrainingError { throw CLIError(e.description) }
        return c
    }

    /// The teacher, tokenizer and split data of `config`, with the token cache in a temporary folder.
    static func components(_ config: TrainingConfig) throws -> (TrainingComponents, cache: URL) {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("scion-grow-data-\(UUID().uuidString)")
        do {
            return (try TrainingRun.components(config: config, directory: cache), cache)
        } catch let e as TrainingError {
            try? FileManager.default.removeItem(at: cache)
            throw CLIError(e.description)
        }
    }
}
