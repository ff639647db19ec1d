// The growth runner (TECHNIQUES.md §3.1): train a small model, grow it at a chosen step with any
// GrowthOperator, and keep training the grown model, counting tokens and FLOPs across both phases
// (≈ 6·N per trained token, Kaplan et al. 2020 §2.1, as `RunSummary`). This is what growth speedup
// claims (G_stack, bert2BERT) are measured against: total FLOPs to reach a loss.
// Defaults follow G_stack (Du et al. 2024): the operator is GStack with g = 4, and without an
// explicit growth step the step comes from G_stack's fitted growth-time rule (GStackTiming.swift).
// Phase 2 continues the phase-1 data stream exactly where it stopped (no replay, no reshuffled
// restart); it starts a fresh optimizer and schedule, since the grown parameters have no moments.
// Every folder written carries the lineage: small (train) → grown (train, operator) → final
// (train, operator, train).

import Foundation
import ScionCheckpoint
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
    /// The validation loss at the end of the phase (nil without validation data).
    public var validationLoss: Double?
}

/// The accounting of a growth run: both phases and their totals.
public struct GrowthRunReport: Codable, Sendable, Equatable {
    /// Before and after growth.
    public var phases: [GrowthPhase]
    /// The step at which the model was grown.
    public var growthStep: Int
    /// True when the growth step came from G_stack's rule (no explicit step was given).
    public var growthStepFromRule: Bool
    /// True when the rule's step was clamped into the run (the rule was extrapolated; see ``GStackTiming``).
    public var growthStepClamped: Bool
    /// The grown (untrained) model's folder, with its lineage manifest.
    public var grownPath: String
    /// The grown model after phase 2, with its lineage manifest.
    public var finalPath: String
    /// Tokens over both phases.
    public var totalTokens: Int { phases.reduce(0) { $0 + $1.tokens } }
    /// FLOPs over both phases.
    public var totalFLOPs: Double { phases.reduce(0) { $0 + $1.flops } }
}

/// Trains small, grows at `growthStep`, continues to `config.steps` in total.
///
/// ```swift
/// let runner = GrowthRunner(config: config, workingDirectory: "runs/g")   // G_stack, g = 4, rule's growth step
/// let (model, report) = try runner.run(small: smallModel, data: data)
/// print(report.growthStep, report.totalFLOPs)
/// ```
public struct GrowthRunner {
    /// The training configuration; `steps` is the total over both phases.
    public var config: TrainingConfig
    /// The step at which the model is grown (the growth time); nil: G_stack's fitted rule
    /// (``GStackTiming/recommendedGrowthStep(targetParameters:totalSteps:tokensPerStep:)``) for the grown size.
    public var growthStep: Int?
    /// The operator applied at the growth step (default: G_stack with g = 4).
    public var growth: any GrowthOperator
    /// Where the small, grown and final model folders are written.
    public var workingDirectory: String
    /// The loss of both phases (default: cross-entropy; a `DistillationLoss` distills both).
    public var objective: any TrainingObjective
    /// tokenizer.json written into the model folders, when known.
    public var tokenizerJSON: Data?
    /// The growth-time rule used when ``growthStep`` is nil.
    public var timing: GStackTiming
    /// The small model's origin for the lineage (nil: its in-memory digest, as a fresh model).
    public var origin: TrainingOrigin?
    /// Callbacks attached to both phases' trainers (progress, logs).
    public var callbacks: [any TrainerCallback] = []

    public init(config: TrainingConfig, growthStep: Int? = nil, growth: any GrowthOperator = GStack(),
                workingDirectory: String, objective: any TrainingObjective = CrossEntropyObjective(),
                tokenizerJSON: Data? = nil, timing: GStackTiming = GStackTiming(), origin: TrainingOrigin? = nil) {
        self.config = config; self.growthStep = growthStep; self.growth = growth; self.workingDirectory = workingDirectory
        self.objective = objective; self.tokenizerJSON = tokenizerJSON; self.timing = timing; self.origin = origin
    }

    /// The growth step ``run(small:data:)`` will use for `small`: ``growthStep`` or the rule's.
    ///
    /// - Returns: The step, whether it came from the rule, and whether the rule's step was clamped.
    /// - Throws: ``GrowthError`` when the operator refuses `small`.
    public func resolvedGrowthStep(for small: Checkpoint) throws -> (step: Int, fromRule: Bool, clamped: Bool) {
        try growth.validate(small)
        if let growthStep { return (growthStep, false, false) }
        let n = try growth.grow(small).parameterCount
        let r = timing.recommendedGrowthStep(targetParameters: n, totalSteps: config.steps, tokensPerStep: tokensPerStep)
        return (r.step, true, r.clamped)
    }

    /// Tokens one optimizer step trains on (batch × sequence length × accumulation).
    public var tokensPerStep: Int { config.data.batchSize * config.data.sequenceLength * config.gradientAccumulation }

    static func phase(_ trainer: Trainer) -> GrowthPhase {
        let tokens = trainer.state.history.reduce(0) { $0 + $1.tokens }
        let n = trainer.model.numberOfParameters
        return GrowthPhase(steps: trainer.state.step, tokens: tokens, parameters: n, flops: 6 * Double(n) * Double(tokens),
                           finalLoss: trainer.state.history.last?.loss, validationLoss: trainer.state.evaluations.last?.loss)
    }

    /// Runs both phases.
    ///
    /// - Returns: the grown, trained model and the accounting.
    /// - Throws: ``GrowthError`` when `growthStep` is outside 1..<steps or the operator refuses the
    ///   small model (before any training), and the trainer's and loaders' errors.
    public func run(small: any TrainableLanguageModel, data: TrainingData) throws -> (model: any LanguageModel, report: GrowthRunReport) {
        guard config.steps >= 2 else {
            throw GrowthError.constraintViolated(operator: "runner", constraint: "steps >= 2",
                                                 detail: "a growth run needs a step before and after growth, got \(config.steps) steps")
        }
        if let growthStep, !(growthStep >= 1 && growthStep < config.steps) {
            throw GrowthError.constraintViolated(operator: "runner", constraint: "1 <= growth_step < steps",
                                                 detail: "growth step \(growthStep) for \(config.steps) steps")
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: workingDirectory, withIntermediateDirectories: true)
        let smallPath = (workingDirectory as NSString).appendingPathComponent("small")
        let grownPath = (workingDirectory as NSString).appendingPathComponent("grown")
        let finalPath = (workingDirectory as NSString).appendingPathComponent("final")
        // Refuse an impossible growth before spending any compute.
        try CheckpointStore.saveModel(small, to: URL(fileURLWithPath: smallPath), tokenizerJSON: tokenizerJSON)
        let (step, _, clamped) = try resolvedGrowthStep(for: try Checkpoint(folder: smallPath))

        var first = config
        first.steps = step
        let t1 = try Trainer(config: first, model: small, data: data, objective: objective, origin: origin)
        t1.callbacks = callbacks
        try t1.run(until: step)
        try CheckpointStore.saveModel(small, to: URL(fileURLWithPath: smallPath), tokenizerJSON: tokenizerJSON, lineage: t1.lineage())
        try growth.grow(try Checkpoint(folder: smallPath)).save(to: grownPath, overwrite: true)

        let grown = try ModelLoader.loadLanguageModel(path: grownPath).model
        var second = config
        second.steps = config.steps - step
        let t2 = try Trainer(config: second, model: grown, data: data, objective: objective,
                             origin: try TrainingOrigin(folder: grownPath, data: t1.origin.data),
                             dataPosition: t1.state.dataPosition)
        t2.callbacks = callbacks
        try t2.run(until: second.steps)
        try CheckpointStore.saveModel(grown, to: URL(fileURLWithPath: finalPath), tokenizerJSON: tokenizerJSON, lineage: t2.lineage())
        let report = GrowthRunReport(phases: [Self.phase(t1), Self.phase(t2)], growthStep: step,
                                     growthStepFromRule: growthStep == nil, growthStepClamped: clamped,
                                     grownPath: grownPath, finalPath: finalPath)
        return (grown, report)
    }
}
