// Training a learngene by distillation: build the auxiliary model (LearngeneModel: TLEG or SWS) shaped
// like a frozen teacher, train it through the ordinary Trainer with DistillationLoss (KL at
// temperature T mixed with cross-entropy; Hinton et al. 2015), and save the gene folder with its
// method manifest and lineage. TLEG (Xia et al. 2024, §3.2: "we firstly construct an auxiliary
// Transformer linearly expanded from learngene, after which we train it through employing soft
// distillation") and SWS (same authors: "we build an auxiliary model comprising multiple stages where
// the layer weights in each stage are shared, after which we train it through distillation").
// Instantiating models of any depth from the saved gene is LearngeneExpansion's job.

import Foundation
import ScionCheckpoint
import ScionData
import ScionModels
import ScionTraining

/// What a learngene training run did.
public struct LearngeneTrainingReport: Codable, Sendable, Equatable {
    /// The method ("tleg(depth: 8)", "sws(profile: 2,2,2)").
    public var method: String
    /// Optimizer steps.
    public var steps: Int
    /// Supervised tokens trained on.
    public var tokens: Int
    /// The last step's loss (the distillation objective).
    public var finalLoss: Double?
    /// The validation cross-entropy of the auxiliary model at the end (nil without validation data).
    public var validationLoss: Double?
    /// Parameters stored in the gene (what initializes every size).
    public var geneParameters: Int
    /// Parameters of the auxiliary model it generates.
    public var auxiliaryParameters: Int
    /// The gene folder.
    public var genePath: String
}

/// Trains a learngene (TLEG or SWS) by distillation from a teacher folder.
///
/// ```swift
/// var config = TrainingConfig(model: ModelSpec(from: "teacher"), data: dataConfig, steps: 300)
/// let report = try LearngeneTraining(method: .tleg(depth: 8), config: config)
///     .run(teacher: "teacher", data: data, output: "gene")
/// let six = try LearngeneExpansion(.tleg(depth: 6)).grow(Checkpoint(folder: report.genePath))
/// ```
public struct LearngeneTraining {
    /// TLEG with the auxiliary depth, or SWS with the auxiliary stage profile.
    public var method: LearngeneModel.Method
    /// Optimizer, schedule, steps, batch; `model` and `distillation` are not read.
    public var config: TrainingConfig
    /// T of the KL term.
    public var temperature: Double
    /// The KL weight; cross-entropy gets 1 − alpha.
    public var alpha: Double
    /// The auxiliary model's initialization seed (default: `config.seed`).
    public var seed: UInt64

    public init(method: LearngeneModel.Method, config: TrainingConfig, temperature: Double = 2, alpha: Double = 0.5,
                seed: UInt64? = nil) {
        self.method = method; self.config = config; self.temperature = temperature; self.alpha = alpha
        self.seed = seed ?? config.seed
    }

    /// Builds the auxiliary model for `teacher` after checking the method and the data shape.
    ///
    /// - Throws: ``GrowthError`` naming the failed constraint (depth, profile, sequence length).
    public func makeAuxiliary(teacher path: String) throws -> LearngeneModel {
        try method.validate()
        guard temperature > 0, (0...1).contains(alpha) else {
            throw GrowthError.constraintViolated(operator: "learngene", constraint: "temperature > 0 and 0 <= alpha <= 1",
                                                 detail: "temperature \(temperature), alpha \(alpha)")
        }
        let aux = try LearngeneModel.random(like: path, method: method, seed: seed)
        guard config.data.sequenceLength <= aux.maxPositions else {
            throw GrowthError.constraintViolated(operator: "learngene", constraint: "sequence length <= the model's positions",
                                                 detail: "\(config.data.sequenceLength) > \(aux.maxPositions)")
        }
        return aux
    }

    /// Trains the gene and writes it to `output`: an HF folder of `method.geneLayers` layers with
    /// `scion_learngene.json`, the teacher's tokenizer files and the lineage (a "train" step whose
    /// parameters name the method and the teacher).
    ///
    /// - Parameters:
    ///   - teacher: The teacher's HF folder (GPT-2 or Llama family); the auxiliary model copies its shape.
    ///   - data: Tokens in the teacher's vocabulary.
    ///   - output: The gene folder (replaced if it exists).
    ///   - teacherModel: The teacher already loaded from `teacher` (nil: loaded here).
    ///   - checkpoints: Where training checkpoints go (nil: none).
    ///   - callbacks: Trainer callbacks (progress, logs).
    /// - Returns: The trained auxiliary model and the report.
    /// - Throws: ``GrowthError`` before any training for an impossible method or shape; load and
    ///   trainer errors.
    public func run(teacher: String, teacherModel: (any LanguageModel)? = nil, data: TrainingData, output: String,
                    checkpoints: CheckpointStore? = nil,
                    callbacks: [any TrainerCallback] = []) throws -> (model: LearngeneModel, report: LearngeneTrainingReport) {
        let aux = try makeAuxiliary(teacher: teacher)
        let teacherModel = try teacherModel ?? ModelLoader.loadLanguageModel(path: teacher).model
        guard teacherModel.vocabularySize == aux.vocabularySize else {
            throw GrowthError.constraintViolated(operator: "learngene", constraint: "teacher vocabulary == auxiliary vocabulary",
                                                 detail: "\(teacherModel.vocabularySize) vs \(aux.vocabularySize)")
        }
        var parameters = ["objective": "distillation", "learngene": method.description, "teacher": teacher,
                          "temperature": "\(temperature)", "alpha": "\(alpha)"]
        parameters["teacher_sha256"] = try Lineage.digest(path: teacher)
        let origin = TrainingOrigin(parentSHA256: try Lineage.digest(ofTensors: aux.stateDictionary()),
                                    data: data.lineageDescription, parameters: parameters)
        let trainer = try Trainer(config: config, model: aux, data: data,
                                  objective: DistillationLoss(teacher: teacherModel, temperature: temperature, alpha: alpha),
                                  checkpoints: checkpoints, origin: origin)
        trainer.callbacks = callbacks
        try trainer.run()
        var extra: [String: Data] = [:]
        for name in Checkpoint.carriedFiles {
            if let d = FileManager.default.contents(atPath: (teacher as NSString).appendingPathComponent(name)) { extra[name] = d }
        }
        try CheckpointStore.saveModel(aux, to: URL(fileURLWithPath: output), tokenizerJSON: nil, lineage: trainer.lineage(),
                                      extraFiles: extra)
        let report = LearngeneTrainingReport(
            method: method.description, steps: trainer.state.step, tokens: trainer.state.history.reduce(0) { $0 + $1.tokens },
            finalLoss: trainer.state.history.last?.loss, validationLoss: trainer.state.evaluations.last?.loss,
            geneParameters: aux.numberOfParameters, auxiliaryParameters: aux.expanded.numberOfParameters, genePath: output)
        return (aux, report)
    }
}
