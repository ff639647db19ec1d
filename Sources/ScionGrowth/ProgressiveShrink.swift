// Shrink by inheritance, then progressive multi-stage distillation: stage k's student inherits
// weights from stage k−1's trained model (InheritanceShrink: chosen layers, heads, channels) and is
// distilled from that model (DistillationLoss: KL at temperature T mixed with cross-entropy,
// optionally hidden-state MSE), e.g. 12 → 8 → 4 layers. Follows TinyCLIP (Wu et al. 2023, "TinyCLIP:
// CLIP Distillation via Affinity Mimicking and Weight Inheritance", §3.3 multi-stage progressive
// distillation) for LMs: the cross-modal affinity loss becomes logit (and hidden-state) distillation.
// The whole schedule is validated (shapes computed stage by stage) before any training; the data
// stream continues across stages; every stage folder carries the lineage (…, shrink, train).

import Foundation
import ScionCheckpoint
import ScionData
import ScionModels
import ScionTraining

/// One distillation stage of a progressive shrink.
public struct ShrinkStageReport: Codable, Sendable, Equatable {
    /// The student's layer count.
    public var layers: Int
    /// The student's hidden size.
    public var hiddenSize: Int
    /// The student's parameter count.
    public var parameters: Int
    /// Optimizer steps.
    public var steps: Int
    /// The last step's distillation loss.
    public var finalLoss: Double?
    /// Validation cross-entropy right after inheritance, before training (nil without validation data).
    public var initialValidationLoss: Double?
    /// Validation cross-entropy after the stage (nil without validation data).
    public var validationLoss: Double?
    /// The stage's trained model folder.
    public var path: String
}

/// Shrinks a teacher in stages, each student inheriting from and distilled by the previous stage's model.
///
/// ```swift
/// let shrink = try ProgressiveShrink(layerSchedule: [8, 4], config: config, workingDirectory: "runs/shrink")
/// let stages = try shrink.run(teacher: "teacher-12L", data: data)
/// print(stages.last!.path)                       // the 4-layer student
/// ```
public struct ProgressiveShrink {
    /// The stages, applied in order; each must give a strictly smaller model than its source.
    public var stages: [InheritanceShrink]
    /// Optimizer, schedule, batch and `steps` *per stage*; `model` and `distillation` are not read.
    public var config: TrainingConfig
    /// Where `stage-1`, `stage-2`, … go (each with `init/`, the inherited student, and `model/`).
    public var workingDirectory: String
    /// T of the KL term.
    public var temperature: Double
    /// The KL weight; cross-entropy gets 1 − alpha.
    public var alpha: Double
    /// The hidden-state MSE weight (0: off; needs equal hidden sizes).
    public var hiddenWeight: Double

    /// - Parameters:
    ///   - stages: Any inheritance shrinks, in order.
    ///   - config: Per-stage training settings.
    public init(stages: [InheritanceShrink], config: TrainingConfig, workingDirectory: String, temperature: Double = 2,
                alpha: Double = 0.5, hiddenWeight: Double = 0) {
        self.stages = stages; self.config = config; self.workingDirectory = workingDirectory
        self.temperature = temperature; self.alpha = alpha; self.hiddenWeight = hiddenWeight
    }

    /// Stages that keep `layerSchedule[k]` layers (12 → [8, 4]), chosen by `choice`, width unchanged.
    ///
    /// - Throws: ``GrowthError/constraintViolated(operator:constraint:detail:)`` for an empty or not
    ///   strictly decreasing schedule, or a stage below 1 layer.
    public init(layerSchedule: [Int], choice: InheritanceShrink.Choice = .evenlySpaced, config: TrainingConfig,
                workingDirectory: String, temperature: Double = 2, alpha: Double = 0.5, hiddenWeight: Double = 0) throws {
        guard !layerSchedule.isEmpty else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "at least one stage",
                                                 detail: "the stage schedule is empty")
        }
        guard layerSchedule.allSatisfy({ $0 >= 1 }) else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "every stage keeps >= 1 layer",
                                                 detail: "schedule \(layerSchedule)")
        }
        guard zip(layerSchedule, layerSchedule.dropFirst()).allSatisfy({ $0 > $1 }) else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "stage layer counts strictly decreasing",
                                                 detail: "schedule \(layerSchedule)")
        }
        self.init(stages: layerSchedule.map { InheritanceShrink(layers: $0, choice: choice) }, config: config,
                  workingDirectory: workingDirectory, temperature: temperature, alpha: alpha, hiddenWeight: hiddenWeight)
    }

    /// Applies every stage's inheritance to `teacher` without training: the students' shapes, or the
    /// first impossible stage's error. Writes nothing.
    ///
    /// - Returns: Each stage's (untrained) student, in order.
    /// - Throws: ``GrowthError`` naming the stage and the failed constraint.
    public func plan(_ teacher: Checkpoint) throws -> [Checkpoint] {
        guard !stages.isEmpty else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "at least one stage",
                                                 detail: "the stage schedule is empty")
        }
        guard temperature > 0, (0...1).contains(alpha), hiddenWeight >= 0 else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink",
                                                 constraint: "temperature > 0, 0 <= alpha <= 1, hidden weight >= 0",
                                                 detail: "temperature \(temperature), alpha \(alpha), hidden weight \(hiddenWeight)")
        }
        guard config.data.sequenceLength <= teacher.maxPositions else {
            throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "sequence length <= the model's positions",
                                                 detail: "\(config.data.sequenceLength) > \(teacher.maxPositions)")
        }
        var source = teacher
        var out: [Checkpoint] = []
        for (k, stage) in stages.enumerated() {
            let student: Checkpoint
            do { student = try stage.grow(source) } catch let GrowthError.constraintViolated(op, c, d) {
                throw GrowthError.constraintViolated(operator: op, constraint: c, detail: "stage \(k + 1): \(d)")
            }
            guard student.parameterCount < source.parameterCount else {
                throw GrowthError.constraintViolated(
                    operator: "progressive-shrink", constraint: "each stage smaller than the previous",
                    detail: "stage \(k + 1) keeps \(student.parameterCount) of \(source.parameterCount) parameters "
                        + "(\(student.layerCount) of \(source.layerCount) layers)")
            }
            if hiddenWeight > 0 && student.hiddenSize != source.hiddenSize {
                throw GrowthError.constraintViolated(operator: "progressive-shrink", constraint: "hidden-state MSE needs equal hidden sizes",
                                                     detail: "stage \(k + 1): \(student.hiddenSize) vs \(source.hiddenSize)")
            }
            out.append(student)
            source = student
        }
        return out
    }

    /// Runs every stage: inherit from the previous model, distill from it, save.
    ///
    /// - Parameters:
    ///   - teacher: The first teacher's HF folder.
    ///   - data: Tokens in the teacher's vocabulary (the stream continues from stage to stage).
    ///   - callbacks: Made per stage (progress printers, logs), given the stage number (1-based).
    /// - Returns: One report per stage; the last stage's `path` is the final student.
    /// - Throws: ``GrowthError`` for an impossible schedule, before any training; loader and trainer errors.
    public func run(teacher: String, data: TrainingData,
                    callbacks: (Int) -> [any TrainerCallback] = { _ in [] }) throws -> [ShrinkStageReport] {
        _ = try plan(try Checkpoint(folder: teacher))
        let fm = FileManager.default
        try fm.createDirectory(atPath: workingDirectory, withIntermediateDirectories: true)
        var previous = teacher
        var position: DataLoaderPosition? = nil
        var reports: [ShrinkStageReport] = []
        for (k, stage) in stages.enumerated() {
            let dir = (workingDirectory as NSString).appendingPathComponent("stage-\(k + 1)")
            let initPath = (dir as NSString).appendingPathComponent("init")
            let modelPath = (dir as NSString).appendingPathComponent("model")
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let source = try Checkpoint(folder: previous)
            try stage.grow(source).save(to: initPath, overwrite: true)
            let student = try ModelLoader.loadLanguageModel(path: initPath).model
            let teacherModel = try ModelLoader.loadLanguageModel(path: previous).model
            var parameters = ["objective": "distillation", "teacher": previous, "stage": "\(k + 1) of \(stages.count)",
                              "temperature": "\(temperature)", "alpha": "\(alpha)"]
            parameters["teacher_sha256"] = source.sourceDigest
            let trainer = try Trainer(config: config, model: student, data: data,
                                      objective: DistillationLoss(teacher: teacherModel, temperature: temperature, alpha: alpha,
                                                                  hiddenWeight: hiddenWeight),
                                      origin: try TrainingOrigin(folder: initPath, data: data.lineageDescription, parameters: parameters),
                                      dataPosition: position)
            trainer.callbacks = callbacks(k + 1)
            let before = trainer.evaluate()?.loss
            try trainer.run()
            var extra: [String: Data] = [:]
            for name in Checkpoint.carriedFiles {
                if let d = fm.contents(atPath: (initPath as NSString).appendingPathComponent(name)) { extra[name] = d }
            }
            try CheckpointStore.saveModel(student, to: URL(fileURLWithPath: modelPath), tokenizerJSON: nil,
                                          lineage: trainer.lineage(), extraFiles: extra)
            position = trainer.state.dataPosition
            let saved = try Checkpoint(folder: modelPath)
            reports.append(ShrinkStageReport(layers: saved.layerCount, hiddenSize: saved.hiddenSize, parameters: saved.parameterCount,
                                             steps: trainer.state.step, finalLoss: trainer.state.history.last?.loss,
                                             initialValidationLoss: before, validationLoss: trainer.state.evaluations.last?.loss,
                                             path: modelPath))
            previous = modelPath
        }
        return reports
    }
}
