// The growth runner (TECHNIQUES.md §3.1): train a small model, grow it at a chosen step with any
// GrowthOperator, and keep training the grown model, counting tokens and FLOPs across both phases
// (≈ 6·N per trained token, Kaplan et al. 2020 §2.1, as `RunSummary`). This is what growth speedup
// claims (G_stack, bert2BERT) are measured against: total FLOPs to reach a loss.
// NOTE: phase 2 starts a fresh optimizer and schedule (the grown parameters have no moments) and
// reshuffles the data with seed + 1, so it does not replay phase 1's order.

import Foundation
import ScionData
import ScionModels
import ScionTraining

/// One training phase of a growth run.
public struct GrowthPhase: Codable, Sendable, Equatable {
    /// Optimizer steps taken.
    public var steps: Int
    /// Trained tokens.
    public var tokens: Int
    /// Parameters N of the model trained in this phase.
    public var parameters: Int
    /// ≈ 6 · N · tokens.
    public var flops: Double
    /// The last step's training loss.
    public var finalLoss: Double?
}

/// The accounting of a growth run: both phases and their totals.
public struct GrowthRunReport: Codable, Sendable, Equatable {
    /// Before and after growth.
    public var phases: [GrowthPhase]
    /// The grown model's folder (with its lineage manifest).
    public var grownPath: String
    /// Tokens over both phases.
    public var totalTokens: Int { phases.reduce(0) { $0 + $1.tokens } }
    /// FLOPs over both phases.
    public var totalFLOPs: Double { phases.reduce(0) { $0 + $1.flops } }
}

/// Trains small, grows at `growthStep`, continues to `config.steps` in total.
///
/// ```swift
/// let runner = GrowthRunner(config: config, growthStep: 200, growth: GStack(growthFactor: 4), workingDirectory: "runs/g")
/// let (model, report) = try runner.run(small: smallModel, data: data)
/// print(report.totalFLOPs)
/// ```
public struct GrowthRunner {
    /// The training configuration; `steps` is the total over both phases.
    public var config: TrainingConfig
    /// The step at which the model is grown (the growth time).
    public var growthStep: Int
    /// The operator applied at `growthStep`.
    public var growth: any GrowthOperator
    /// Where the small and grown model folders are written.
    public var workingDirectory: String
    /// Attached to both phases' trainers (progress, evaluation curves); a callback can tell the phases
    /// apart by the trainer it is handed.
    public var callbacks: [any TrainerCallback] = []

    public init(config: TrainingConfig, growthStep: Int, growth: any GrowthOperator, workingDirectory: String) {
        self.config = config; self.growthStep = growthStep; self.growth = growth; self.workingDirectory = workingDirectory
    }

    static func phase(_ trainer: Trainer) -> GrowthPhase {
        let tokens = trainer.state.history.reduce(0) { $0 + $1.tokens }
        let n = trainer.model.numberOfParameters
        return GrowthPhase(steps: trainer.state.step, tokens: tokens, parameters: n, flops: 6 * Double(n) * Double(tokens),
                           finalLoss: trainer.state.history.last?.loss)
    }

    /// Runs both phases.
    ///
    /// - Returns: the grown, trained model and the accounting.
    /// - Throws: ``GrowthError`` when `growthStep` is outside 1..<steps or the operator refuses the
    ///   small model (before any training), and the trainer's and loaders' errors.
    public func run(small: any TrainableLanguageModel, data: TrainingData) throws -> (model: any LanguageModel, report: GrowthRunReport) {
        guard growthStep >= 1 && growthStep < config.steps else {
            throw GrowthError.constraintViolated(operator: "runner", constraint: "1 <= growth_step < steps",
                                                 detail: "growth step \(growthStep) for \(config.steps) steps")
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: workingDirectory, withIntermediateDirectories: true)
        let smallPath = (workingDirectory as NSString).appendingPathComponent("small")
        let grownPath = (workingDirectory as NSString).appendingPathComponent("grown")
        // Refuse an impossible growth before spending any compute.
        try small.save(to: smallPath, overwrite: true)
        try growth.validate(try Checkpoint(folder: smallPath))

        var first = config
        first.steps = growthStep
        let t1 = try Trainer(config: first, model: small, data: data)
        t1.callbacks = callbacks
        try t1.run(until: growthStep)
        try small.save(to: smallPath, overwrite: true)
        try growth.grow(try Checkpoint(folder: smallPath)).save(to: grownPath, overwrite: true)

        let grown = try ModelLoader.loadLanguageModel(path: grownPath).model
        var second = config
        second.steps = config.steps - growthStep
        var data2 = data
        data2.seed = data.seed &+ 1
        let t2 = try Trainer(config: second, model: grown, data: data2)
        t2.callbacks = callbacks
        try t2.run(until: second.steps)
        return (grown, GrowthRunReport(phases: [Self.phase(t1), Self.phase(t2)], grownPath: grownPath))
    }
}
