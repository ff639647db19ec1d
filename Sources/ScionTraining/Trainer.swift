// The training loop: a deterministic step (accumulate → check finite → clip → optimizer step),
// evaluation, checkpoints and callbacks. It trains whatever parameters are trainable and knows
// nothing about adapters or growth.
// Invariants: gradients of micro-batches are *added* and the loss of a window is Σ token losses /
// window tokens, so accumulation equals one larger batch; nothing random happens outside the data
// loader and the saved RNG, so a resumed run repeats an uninterrupted one bit for bit on the same
// thread count. Every checkpoint carries the lineage manifest (TrainingOrigin.swift).

import Foundation
import ScionCheckpoint
import ScionData
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor

/// What one optimizer step did.
public struct StepMetrics: Codable, Equatable, Sendable {
    /// Optimizer steps done, this one included (1-based).
    public var step: Int
    /// Mean cross-entropy (or objective) per supervised token over the accumulation window.
    public var loss: Double
    /// The learning rate used.
    public var learningRate: Double
    /// The global gradient norm before clipping.
    public var gradientNorm: Double
    /// Supervised target tokens in the window.
    public var tokens: Int
    /// Wall-clock seconds of the step.
    public var seconds: Double

    public init(step: Int, loss: Double, learningRate: Double, gradientNorm: Double, tokens: Int, seconds: Double) {
        self.step = step; self.loss = loss; self.learningRate = learningRate
        self.gradientNorm = gradientNorm; self.tokens = tokens; self.seconds = seconds
    }
}

/// A validation pass.
public struct EvalMetrics: Codable, Equatable, Sendable {
    /// The step after which it ran.
    public var step: Int
    /// Mean cross-entropy per validation token.
    public var loss: Double
    /// exp(loss).
    public var perplexity: Double
    /// Validation tokens.
    public var tokens: Int
}

/// Everything besides weights and optimizer moments that a resume needs.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Optimizer steps done.
    public var step: Int = 0
    /// The trainer's random generator (reserved for stochastic techniques; saved and restored).
    public var generator: RandomGenerator
    /// Where the training data continues.
    public var dataPosition: DataLoaderPosition
    /// Every step so far.
    public var history: [StepMetrics] = []
    /// Every evaluation so far.
    public var evaluations: [EvalMetrics] = []
    /// Training seconds so far (across resumes).
    public var elapsed: Double = 0
    /// Where the run started (the parent of every checkpoint's "train" lineage step); kept across resumes.
    public var origin: TrainingOrigin?
}

/// Hooks called by ``Trainer/run(until:)``; all have empty defaults.
public protocol TrainerCallback: AnyObject {
    /// After each optimizer step.
    func trainer(_ trainer: Trainer, didStep metrics: StepMetrics)
    /// After each evaluation.
    func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics)
    /// After a checkpoint is in place.
    func trainer(_ trainer: Trainer, didSaveCheckpoint url: URL)
}

extension TrainerCallback {
    public func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) {}
    public func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics) {}
    public func trainer(_ trainer: Trainer, didSaveCheckpoint url: URL) {}
}

/// Training and validation tokens.
public struct TrainingData {
    /// The corpus.
    public var corpus: any TokenizedCorpus
    /// Training documents (nil: all).
    public var trainDocuments: [Int]?
    /// Validation documents (empty: no validation).
    public var validationDocuments: [Int]
    /// Packing options (T, EOS).
    public var packing: PackingOptions
    /// The shuffling seed.
    public var seed: UInt64
    /// How the lineage manifest names the data (file paths); nil: a digest of the token ids
    /// (see ``lineageDescription``).
    public var provenance: String?

    public init(corpus: any TokenizedCorpus, trainDocuments: [Int]?, validationDocuments: [Int], packing: PackingOptions,
                seed: UInt64, provenance: String? = nil) {
        self.corpus = corpus; self.trainDocuments = trainDocuments; self.validationDocuments = validationDocuments
        self.packing = packing; self.seed = seed; self.provenance = provenance
    }
}

/// Closures run inside each training step (see ``Trainer/stepHooks``).
public struct StepHooks {
    /// Called with the 1-based step number before its forward passes.
    public var beforeStep: [(Int) -> Void] = []
    /// Called with the step number and the 0-based micro-batch index before each micro-batch's
    /// forward pass (stochastic layers derive their randomness from both).
    public var beforeMicroBatch: [(Int, Int) -> Void] = []
    /// Terms added to the loss (each once per step), e.g. an orthogonality penalty.
    public var extraLoss: [() -> Tensor?] = []
    /// Called with the step number and the accumulated gradients before the optimizer update.
    public var afterBackward: [(Int, Gradients) -> Void] = []
    public init() {}
}

/// State a technique keeps outside the model and the optimizer (an adapter's rank schedule and
/// importance estimates), saved into every checkpoint and restored, before the weights, on resume.
public struct CheckpointExtra {
    /// A file-name-safe name (letters, digits, "-", "_"), unique per trainer.
    public var name: String
    /// The state now.
    public var save: () throws -> Data
    /// Puts a saved state back (called before the weights are loaded, so shapes can be prepared).
    public var restore: (Data) throws -> Void

    public init(name: String, save: @escaping () throws -> Data, restore: @escaping (Data) throws -> Void) {
        self.name = name; self.save = save; self.restore = restore
    }
}

/// Trains a language model: steps, evaluation, checkpoints, resume.
///
/// ```swift
/// let trainer = try Trainer(config: config, model: model, data: data)
/// trainer.callbacks.append(myLogger)
/// try trainer.run()                       // config.steps steps, evaluating and checkpointing
/// ```
public final class Trainer {
    /// The configuration.
    public let config: TrainingConfig
    /// The model (its trainable parameters are trained).
    public let model: any LanguageModel
    /// The optimizer over the trainable parameters.
    public let optimizer: any Optimizer
    /// The loss.
    public let objective: any TrainingObjective
    /// Step, data position, RNG and history.
    public private(set) var state: TrainerState
    /// Hooks.
    public var callbacks: [any TrainerCallback] = []
    /// Per-step hooks of methods that act inside a step (adapter methods such as AdaLoRA, DyLoRA):
    /// called before the step's forward passes, adding a term to the loss, and seeing the gradients
    /// before the optimizer update.
    public var stepHooks = StepHooks()
    /// Where checkpoints go (nil: none are written).
    public let checkpoints: CheckpointStore?
    /// Extra state written into each checkpoint and required back by ``restore(from:)``.
    public var checkpointExtras: [CheckpointExtra] = []
    /// Saved into each checkpoint's model folder (tokenizer.json), when known.
    public var tokenizerJSON: Data?
    /// Peak bytes of tensor memory during a training step (measured on the first step run).
    public private(set) var peakStepBytes: Int = 0

    /// The training and validation tokens.
    public let data: TrainingData
    var loader: DataLoader
    let validationBatches: [Batch]

    /// Creates a trainer.
    ///
    /// - Parameters:
    ///   - config: Optimizer, schedule, accumulation, evaluation and checkpoint settings.
    ///   - model: The model; parameters matching `config.trainable` (all, when nil) train, the rest are frozen.
    ///   - data: The tokens.
    ///   - objective: The loss (default: cross-entropy).
    ///   - checkpoints: Where checkpoints go.
    ///   - origin: The starting model, for the lineage manifest (default: the digest of `model`'s
    ///     weights as they are now, no parent lineage, and `data`'s ``TrainingData/lineageDescription``).
    ///   - dataPosition: Where the training data continues (default: the start of `data.seed`'s
    ///     stream); a later phase passes the previous trainer's `state.dataPosition` to continue the
    ///     same stream without replaying or reshuffling it.
    /// - Throws: ``TrainingError`` for an unusable config, `DataError` for too little data.
    public init(config: TrainingConfig, model: any LanguageModel, data: TrainingData,
                objective: any TrainingObjective = CrossEntropyObjective(), checkpoints: CheckpointStore? = nil,
                origin: TrainingOrigin? = nil, dataPosition: DataLoaderPosition? = nil) throws {
        self.config = config
        self.model = model
        self.objective = objective
        self.checkpoints = checkpoints
        if let pattern = config.trainable {
            let regex = try NSRegularExpression(pattern: pattern)
            model.freeze { name in
                regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) == nil
            }
        }
        let trainable = model.trainableParameters()
        guard !trainable.isEmpty else {
            throw TrainingError.invalidConfig(path: "trainable", reason: "no parameter matches \(config.trainable ?? "")")
        }
        if let m = model as? any TrainableLanguageModel { m.gradientCheckpointing = config.gradientCheckpointing }
        self.data = data
        optimizer = Trainer.makeOptimizer(config.optimizer, parameters: trainable)
        loader = try DataLoader(corpus: data.corpus, documents: data.trainDocuments, batchSize: config.data.batchSize,
                                options: data.packing, seed: data.seed, position: dataPosition)
        var validation: [Batch] = []
        if !data.validationDocuments.isEmpty {
            var options = data.packing
            options.shuffle = false
            var v = try DataLoader(corpus: data.corpus, documents: data.validationDocuments,
                                   batchSize: config.data.batchSize, options: options, seed: data.seed)
            let count = min(config.evalBatches, max(1, v.batchesPerEpoch))
            validation = (0..<count).map { _ in v.nextBatch() }
        }
        validationBatches = validation
        state = TrainerState(generator: RandomGenerator(seed: config.seed ^ 0x7EA1), dataPosition: loader.position)
        let start: TrainingOrigin
        if let origin {
            start = origin
        } else {
            let digest: String
            do { digest = try Lineage.digest(ofTensors: model.stateDictionary()) } catch {
                throw TrainingError.unsupported("cannot digest the starting weights for the lineage: \(error)")
            }
            start = TrainingOrigin(parentSHA256: digest, data: data.lineageDescription)
        }
        state.origin = start
    }

    /// Where the run started; its lineage plus a "train" step is written into every checkpoint.
    public var origin: TrainingOrigin {
        get { state.origin ?? TrainingOrigin(parentSHA256: nil, data: data.lineageDescription) }
        set { state.origin = newValue }
    }

    /// The lineage of the model as it is now: ``origin``'s lineage plus a "train" step with the steps
    /// and tokens so far, the data and the config.
    public func lineage() -> Lineage {
        origin.lineage(steps: state.step, tokens: state.history.reduce(0) { $0 + $1.tokens }, config: config)
    }

    static func makeOptimizer(_ c: OptimizerConfig, parameters: [(String, Parameter)]) -> any Optimizer {
        let groups = ParameterGroup.standard(parameters, weightDecay: c.weightDecay)
        switch c.type {
        case "sgd": return SGD(groups: groups, momentum: c.momentum)
        case "lion": return Lion(groups: groups, beta1: c.beta1 ?? 0.9, beta2: c.beta2 ?? 0.99)
        default: return AdamW(groups: groups, beta1: c.beta1 ?? 0.9, beta2: c.beta2 ?? 0.999, epsilon: c.epsilon)
        }
    }

    /// The number of parameters that train.
    public var trainableParameterCount: Int { model.trainableParameters().reduce(0) { $0 + $1.1.value.count } }

    // MARK: The step

    /// One optimizer step over `batches` (the accumulation window): forward and backward per
    /// micro-batch with gradients added, a finiteness check, clipping, and the optimizer update.
    ///
    /// The loss is Σ (token losses) / (supervised tokens of the whole window), so the result equals
    /// one batch holding all the micro-batches.
    ///
    /// - Parameters:
    ///   - model: The model.
    ///   - batches: The micro-batches of one window.
    ///   - optimizer: The optimizer (its parameters must be the model's trainable ones).
    ///   - learningRate: This step's learning rate.
    ///   - gradientClip: The global norm to clip to (nil: none).
    ///   - objective: The loss.
    ///   - step: The 1-based number of this step (for errors and metrics).
    /// - Returns: The step's metrics.
    /// - Throws: ``TrainingError/nonFinite(step:tensor:value:)`` naming the loss or the first
    ///   parameter (in model order) whose gradient is NaN or infinite; the model is then unchanged.
    public static func step(model: any LanguageModel, batches: [Batch], optimizer: any Optimizer,
                            learningRate: Double, gradientClip: Double? = nil,
                            objective: any TrainingObjective = CrossEntropyObjective(), step: Int = 1,
                            hooks: StepHooks = StepHooks()) throws -> StepMetrics {
        let start = Date()
        let tokens = batches.reduce(0) { $0 + $1.supervisedTargetCount }
        let named = model.trainableParameters()
        var gradients = Gradients()
        var loss = 0.0
        guard tokens > 0 else {
            return StepMetrics(step: step, loss: 0, learningRate: learningRate, gradientNorm: 0, tokens: 0, seconds: 0)
        }
        for (index, batch) in batches.enumerated() {
            for before in hooks.beforeMicroBatch { before(step, index) }
            var l = objective.summedLoss(model: model, batch: batch) / Double(tokens)
            // Extra terms are weighted by the micro-batch's share, so the window adds each once.
            for extra in hooks.extraLoss { if let e = extra() { l = l + e * (Double(batch.supervisedTargetCount) / Double(tokens)) } }
            loss += l.item()
            let g = l.backward()
            for (_, p) in named {
                let v = p.value
                guard let gi = g[v] else { continue }
                if let acc = gradients[v] {
                    gradients[v] = withoutGradients { acc + gi }
                } else {
                    gradients[v] = gi
                }
            }
        }
        let parameters = named.map { $0.1 }
        let norm = gradientNorm(gradients, parameters: parameters)
        if !norm.isFinite || !loss.isFinite {
            for (name, p) in named {
                guard let g = gradients[p.value] else { continue }
                if let bad = firstNonFinite(g) { throw TrainingError.nonFinite(step: step, tensor: "gradient of \(name)", value: bad) }
            }
            throw TrainingError.nonFinite(step: step, tensor: "loss", value: loss)
        }
        if let clip = gradientClip, clip > 0 {
            clipGradientNorm(&gradients, parameters: parameters, maxNorm: clip)
        }
        // Hooks may replace parameter values (AdaLoRA masks E, IncreLoRA grows ranks). Gradients are
        // keyed by the identity of each value's graph node, which a freed node's successor can reuse:
        // the values the gradients belong to stay alive until the update, so a replaced value finds no
        // gradient instead of another parameter's.
        let gradientOwners = named.map { $0.1.value }
        for observe in hooks.afterBackward { observe(step, gradients) }
        withExtendedLifetime(gradientOwners) { optimizer.step(gradients: gradients, learningRate: learningRate) }
        return StepMetrics(step: step, loss: loss, learningRate: learningRate, gradientNorm: norm, tokens: tokens,
                           seconds: Date().timeIntervalSince(start))
    }

    static func firstNonFinite(_ t: Tensor) -> Double? {
        for x in t.floats() where !x.isFinite { return Double(x) }
        return nil
    }

    /// Takes one step on the next window of the training data, with the schedule's learning rate.
    ///
    /// - Throws: ``TrainingError/nonFinite(step:tensor:value:)``.
    @discardableResult
    public func trainStep() throws -> StepMetrics {
        let batches = (0..<config.gradientAccumulation).map { _ in loader.nextBatch() }
        let measure = peakStepBytes == 0
        let before = MemoryStats.liveBytes
        if measure { MemoryStats.resetPeak() }
        for before in stepHooks.beforeStep { before(state.step + 1) }
        let metrics = try Trainer.step(model: model, batches: batches, optimizer: optimizer,
                                       learningRate: config.schedule.learningRate(at: state.step),
                                       gradientClip: config.optimizer.gradientClip, objective: objective,
                                       step: state.step + 1, hooks: stepHooks)
        if measure { peakStepBytes = max(1, MemoryStats.peakBytes - before) }
        state.step += 1
        state.dataPosition = loader.position
        state.history.append(metrics)
        state.elapsed += metrics.seconds
        for c in callbacks { c.trainer(self, didStep: metrics) }
        return metrics
    }

    /// Mean validation loss over the fixed validation batches (no gradients).
    ///
    /// - Returns: nil without validation data.
    @discardableResult
    public func evaluate() -> EvalMetrics? {
        guard !validationBatches.isEmpty else { return nil }
        var sum = 0.0, tokens = 0
        withoutGradients {
            for b in validationBatches {
                sum += CrossEntropyObjective().summedLoss(model: model, batch: b).item()
                tokens += b.supervisedTargetCount
            }
        }
        let loss = sum / Double(max(tokens, 1))
        let e = EvalMetrics(step: state.step, loss: loss, perplexity: Foundation.exp(loss), tokens: tokens)
        state.evaluations.append(e)
        for c in callbacks { c.trainer(self, didEvaluate: e) }
        return e
    }

    /// Runs until `steps` optimizer steps are done (default: `config.steps`), evaluating every
    /// `evalEvery` steps and after the last configured step, and checkpointing every
    /// `checkpointEvery` steps and where it stops.
    ///
    /// - Throws: ``TrainingError/nonFinite(step:tensor:value:)`` (the last good checkpoint stays), or
    ///   checkpoint write errors.
    public func run(until steps: Int? = nil) throws {
        let target = steps ?? config.steps
        while state.step < target {
            try trainStep()
            let s = state.step
            if config.evalEvery > 0 && s % config.evalEvery == 0 && s < target { evaluate() }
            if config.checkpointEvery > 0 && s % config.checkpointEvery == 0 && s < target { try saveCheckpoint() }
        }
        if target >= config.steps && state.evaluations.last?.step != state.step { evaluate() }
        if checkpoints != nil && checkpoints?.latestStep() != state.step { try saveCheckpoint() }
    }

    // MARK: Checkpoints

    /// Writes a checkpoint of the current step atomically and prunes old ones.
    ///
    /// - Returns: The checkpoint folder.
    @discardableResult
    public func saveCheckpoint() throws -> URL {
        guard let checkpoints else { throw TrainingError.unsupported("this trainer has no checkpoint folder") }
        var extras: [String: Data] = [:]
        for e in checkpointExtras {
            do { extras[e.name] = try e.save() } catch {
                throw TrainingError.io(path: checkpoints.directory.path, reason: "saving \(e.name) state: \(error)")
            }
        }
        let url = try checkpoints.write(step: state.step, model: model, optimizer: optimizer, state: state,
                                        tokenizerJSON: tokenizerJSON, extras: extras, lineage: lineage())
        for c in callbacks { c.trainer(self, didSaveCheckpoint: url) }
        return url
    }

    /// Restores the ``checkpointExtras`` (first), weights, optimizer moments, step, RNG, data position
    /// and history from a checkpoint.
    ///
    /// - Throws: ``TrainingError/badCheckpoint(path:reason:)``, also when a registered extra state is missing.
    public func restore(from checkpoint: URL) throws {
        let loaded = try CheckpointStore.read(checkpoint)
        for e in checkpointExtras {
            guard let data = loaded.extras[e.name] else {
                throw TrainingError.badCheckpoint(path: checkpoint.path, reason: "no \(e.name) state (written by another kind of run?)")
            }
            do { try e.restore(data) } catch {
                throw TrainingError.badCheckpoint(path: checkpoint.path, reason: "\(e.name) state: \(error)")
            }
        }
        do {
            try model.load(loaded.weights, strict: true)
        } catch {
            throw TrainingError.badCheckpoint(path: checkpoint.path, reason: "weights: \(error)")
        }
        do {
            try optimizer.load(loaded.optimizer)
        } catch {
            throw TrainingError.badCheckpoint(path: checkpoint.path, reason: "optimizer: \(error)")
        }
        let origin = state.origin
        state = loaded.state
        if state.origin == nil { state.origin = origin }     // checkpoints written before lineage existed
        loader = try DataLoader(corpus: data.corpus, documents: data.trainDocuments, batchSize: config.data.batchSize,
                                options: data.packing, seed: data.seed, position: state.dataPosition)
    }
}

