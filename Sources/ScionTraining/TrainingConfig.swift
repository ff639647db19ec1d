// The trainer's configuration: one Codable value, read from YAML strictly (unknown keys and wrong
// types are errors naming the key path, before any work starts), with `--set key=value` overrides.
// Defaults live here and nowhere else. Not here: how the config is carried out (Trainer.swift,
// TrainingSetup.swift).

import Foundation
import ScionOptim

/// Everything a training run needs, as YAML:
///
/// ```yaml
/// model:
///   init: {architecture: gpt2, hiddenSize: 128, layers: 4, heads: 4, contextLength: 128}
/// data:
///   synthetic: {documents: 4000}
///   sequenceLength: 64
///   batchSize: 16
/// optimizer: {type: adamw, weightDecay: 0.1, gradientClip: 1.0}
/// schedule: {type: cosine, peak: 3.0e-3, minimum: 3.0e-4, steps: 600}
/// steps: 600
/// output: runs/demo
/// ```
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// The model to train: a fresh one or a checkpoint.
    public var model: ModelSpec
    /// The training and validation data.
    public var data: DataConfig
    /// The optimizer.
    public var optimizer: OptimizerConfig = OptimizerConfig()
    /// The learning-rate schedule (ScionOptim's `ScheduleConfig`).
    public var schedule: ScheduleConfig = .constant(ConstantSchedule(learningRate: 1e-3))
    /// Optimizer steps to take.
    public var steps: Int
    /// Micro-batches per optimizer step.
    public var gradientAccumulation: Int = 1
    /// Evaluate every this many steps (0: only at the end).
    public var evalEvery: Int = 0
    /// Validation batches per evaluation.
    public var evalBatches: Int = 4
    /// Write a checkpoint every this many steps (0: only at the end).
    public var checkpointEvery: Int = 0
    /// Checkpoints kept (older ones are deleted).
    public var keepCheckpoints: Int = 2
    /// Print a progress line every this many steps (on a terminal the bar updates every step).
    public var logEvery: Int = 10
    /// The run folder.
    public var output: String = "runs/run"
    /// The seed of model initialization.
    public var seed: UInt64 = 0
    /// Compute threads (nil: all cores). Resume is bit-for-bit on the same thread count.
    public var threads: Int?
    /// Recompute each block's activations during backward instead of keeping them.
    public var gradientCheckpointing: Bool = false
    /// A regular expression over parameter names; only matching parameters train (nil: all).
    public var trainable: String?
    /// Knowledge distillation from a frozen teacher.
    public var distillation: DistillationConfig?

    public init(model: ModelSpec, data: DataConfig, steps: Int) {
        self.model = model; self.data = data; self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case model, data, optimizer, schedule, steps, gradientAccumulation, evalEvery, evalBatches
        case checkpointEvery, keepCheckpoints, logEvery, output, seed, threads, gradientCheckpointing, trainable
        case distillation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelSpec.self, forKey: .model)
        data = try c.decode(DataConfig.self, forKey: .data)
        optimizer = try c.decodeIfPresent(OptimizerConfig.self, forKey: .optimizer) ?? optimizer
        schedule = try c.decodeIfPresent(ScheduleConfig.self, forKey: .schedule) ?? schedule
        steps = try c.decode(Int.self, forKey: .steps)
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? gradientAccumulation
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? evalEvery
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? evalBatches
        checkpointEvery = try c.decodeIfPresent(Int.self, forKey: .checkpointEvery) ?? checkpointEvery
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? keepCheckpoints
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? logEvery
        output = try c.decodeIfPresent(String.self, forKey: .output) ?? output
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        gradientCheckpointing = try c.decodeIfPresent(Bool.self, forKey: .gradientCheckpointing) ?? false
        trainable = try c.decodeIfPresent(String.self, forKey: .trainable)
        distillation = try c.decodeIfPresent(DistillationConfig.self, forKey: .distillation)
    }

    /// Reads a YAML (or JSON) config strictly, applying `overrides` ("optimizer.beta2=0.95", the value
    /// parsed as a YAML scalar) first, and validates it.
    ///
    /// - Throws: ``TrainingError/invalidConfig(path:reason:)`` naming the key and the expected type.
    public static func load(yaml text: String, overrides: [String] = []) throws -> TrainingConfig {
        var tree = try ConfigValue.parseYAML(text)
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw TrainingError.invalidConfig(path: o, reason: "an override must look like key=value")
            }
            tree = try tree.setting(String(o[..<eq]), to: ConfigValue.parseScalar(String(o[o.index(after: eq)...])))
        }
        let config = try StrictConfigDecoder.decode(TrainingConfig.self, from: tree)
        try config.validate()
        return config
    }

    /// Reads a config file (see ``load(yaml:overrides:)``).
    public static func load(file: String, overrides: [String] = []) throws -> TrainingConfig {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainingError.io(path: file, reason: "cannot read the config file")
        }
        do {
            return try load(yaml: String(decoding: data, as: UTF8.self), overrides: overrides)
        } catch TrainingError.invalidConfig(let path, let reason) {
            throw TrainingError.invalidConfig(path: path, reason: reason + " (in \(file))")
        }
    }

    /// Checks ranges that types alone do not.
    public func validate() throws {
        func bad(_ key: String, _ reason: String) -> TrainingError { .invalidConfig(path: key, reason: reason) }
        if steps < 1 { throw bad("steps", "expected a positive integer, got \(steps)") }
        if gradientAccumulation < 1 { throw bad("gradientAccumulation", "expected a positive integer") }
        if evalEvery < 0 { throw bad("evalEvery", "expected a non-negative integer") }
        if evalBatches < 1 { throw bad("evalBatches", "expected a positive integer") }
        if checkpointEvery < 0 { throw bad("checkpointEvery", "expected a non-negative integer") }
        if keepCheckpoints < 1 { throw bad("keepCheckpoints", "expected a positive integer") }
        if logEvery < 1 { throw bad("logEvery", "expected a positive integer") }
        if let t = threads, t < 1 { throw bad("threads", "expected a positive integer") }
        if data.sequenceLength < 2 { throw bad("data.sequenceLength", "expected an integer ≥ 2") }
        if data.batchSize < 1 { throw bad("data.batchSize", "expected a positive integer") }
        if !(0..<1).contains(data.validationFraction) { throw bad("data.validationFraction", "expected a number in [0, 1)") }
        if data.sources.isEmpty && data.synthetic == nil {
            throw bad("data", "expected `sources` or `synthetic`")
        }
        if let r = trainable {
            do { _ = try NSRegularExpression(pattern: r) } catch { throw bad("trainable", "not a regular expression: \(r)") }
        }
        if let m = model.initialize {
            if !["gpt2", "llama"].contains(m.architecture) {
                throw bad("model.init.architecture", "expected gpt2 or llama, got \(m.architecture)")
            }
            if m.hiddenSize % m.heads != 0 { throw bad("model.init.heads", "hiddenSize \(m.hiddenSize) is not a multiple of heads \(m.heads)") }
            if m.contextLength < data.sequenceLength {
                throw bad("model.init.contextLength", "\(m.contextLength) is shorter than data.sequenceLength \(data.sequenceLength)")
            }
        }
        if model.initialize == nil && model.from == nil { throw bad("model", "expected `init` or `from`") }
        if model.initialize != nil && model.from != nil { throw bad("model", "give `init` or `from`, not both") }
        if let d = distillation {
            if d.temperature <= 0 { throw bad("distillation.temperature", "expected a positive number") }
            if !(0...1).contains(d.alpha) { throw bad("distillation.alpha", "expected a number in [0, 1]") }
        }
        try optimizer.validate()
    }
}

/// The model: `init` (a fresh model from an architecture and sizes) or `from` (an HF folder or GGUF).
public struct ModelSpec: Codable, Equatable, Sendable {
    /// A fresh, randomly initialized model.
    public var initialize: ModelInit?
    /// A checkpoint to continue from.
    public var from: String?

    enum CodingKeys: String, CodingKey { case initialize = "init", from }

    public init(initialize: ModelInit? = nil, from: String? = nil) { self.initialize = initialize; self.from = from }
}

/// Sizes of a fresh model, in architecture-neutral names.
public struct ModelInit: Codable, Equatable, Sendable {
    /// "gpt2" or "llama".
    public var architecture: String
    /// V (nil: the tokenizer's vocabulary size).
    public var vocabSize: Int?
    /// C.
    public var hiddenSize: Int
    /// Transformer blocks.
    public var layers: Int
    /// H.
    public var heads: Int
    /// Key/value heads (Llama; nil: `heads`).
    public var kvHeads: Int?
    /// MLP width (nil: 4·C for GPT-2).
    public var intermediateSize: Int?
    /// Maximum positions.
    public var contextLength: Int
    /// Standard deviation of the weights (0.02 in GPT-2 and Llama).
    public var initializerRange: Double = 0.02
    /// Whether the LM head shares the token embedding.
    public var tieWordEmbeddings: Bool = true

    public init(architecture: String = "gpt2", vocabSize: Int? = nil, hiddenSize: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, intermediateSize: Int? = nil, contextLength: Int, initializerRange: Double = 0.02,
                tieWordEmbeddings: Bool = true) {
        self.architecture = architecture; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize
        self.layers = layers; self.heads = heads; self.kvHeads = kvHeads; self.intermediateSize = intermediateSize
        self.contextLength = contextLength; self.initializerRange = initializerRange
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    enum CodingKeys: String, CodingKey {
        case architecture, vocabSize, hiddenSize, layers, heads, kvHeads, intermediateSize, contextLength
        case initializerRange, tieWordEmbeddings
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? "gpt2"
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        contextLength = try c.decode(Int.self, forKey: .contextLength)
        initializerRange = try c.decodeIfPresent(Double.self, forKey: .initializerRange) ?? 0.02
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? true
    }
}

/// Where the tokens come from and how they are batched.
public struct DataConfig: Codable, Equatable, Sendable {
    /// Input files (each one kind of source).
    public var sources: [SourceConfig] = []
    /// Scion's embedded synthetic corpus instead of files.
    public var synthetic: SyntheticConfig?
    /// A tokenizer.json path, or "synthetic" for the demo tokenizer (nil: the model's own, else the demo one).
    public var tokenizer: String?
    /// T.
    public var sequenceLength: Int
    /// B (per micro-batch).
    public var batchSize: Int
    /// The share of documents held out for validation.
    public var validationFraction: Double = 0.05
    /// The seed of the split and of shuffling.
    public var seed: UInt64 = 0
    /// A folder for the token cache of file sources (nil: `<output>/token-cache`).
    public var cache: String?

    public init(sources: [SourceConfig] = [], synthetic: SyntheticConfig? = nil, tokenizer: String? = nil,
                sequenceLength: Int, batchSize: Int, validationFraction: Double = 0.05, seed: UInt64 = 0) {
        self.sources = sources; self.synthetic = synthetic; self.tokenizer = tokenizer
        self.sequenceLength = sequenceLength; self.batchSize = batchSize
        self.validationFraction = validationFraction; self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case sources, synthetic, tokenizer, sequenceLength, batchSize, validationFraction, seed, cache
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sources = try c.decodeIfPresent([SourceConfig].self, forKey: .sources) ?? []
        synthetic = try c.decodeIfPresent(SyntheticConfig.self, forKey: .synthetic)
        tokenizer = try c.decodeIfPresent(String.self, forKey: .tokenizer)
        sequenceLength = try c.decode(Int.self, forKey: .sequenceLength)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction) ?? 0.05
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        cache = try c.decodeIfPresent(String.self, forKey: .cache)
    }
}

/// One data source: `path` and its `format` (text, jsonl, promptCompletion, chat).
public struct SourceConfig: Codable, Equatable, Sendable {
    /// A file or folder.
    public var path: String
    /// "text" (default), "jsonl", "promptCompletion" or "chat".
    public var format: String = "text"
    /// For text: "wholeFile" (default) or "blankLines".
    public var splitting: String?
    /// For jsonl: the text field (default "text").
    public var field: String?

    public init(path: String, format: String = "text") { self.path = path; self.format = format }

    enum CodingKeys: String, CodingKey { case path, format, splitting, field }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? "text"
        splitting = try c.decodeIfPresent(String.self, forKey: .splitting)
        field = try c.decodeIfPresent(String.self, forKey: .field)
    }
}

/// The embedded corpus: `documents` generated from `seed`.
public struct SyntheticConfig: Codable, Equatable, Sendable {
    /// Documents to generate.
    public var documents: Int = 2000
    /// The generator seed.
    public var seed: UInt64 = 1
    /// The demo tokenizer's vocabulary size.
    public var vocabularySize: Int = 512

    public init(documents: Int = 2000, seed: UInt64 = 1, vocabularySize: Int = 512) {
        self.documents = documents; self.seed = seed; self.vocabularySize = vocabularySize
    }

    enum CodingKeys: String, CodingKey { case documents, seed, vocabularySize }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        documents = try c.decodeIfPresent(Int.self, forKey: .documents) ?? 2000
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 1
        vocabularySize = try c.decodeIfPresent(Int.self, forKey: .vocabularySize) ?? 512
    }
}

/// The optimizer and its hyperparameters (the learning rate comes from the schedule).
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// "adamw", "sgd" or "lion".
    public var type: String = "adamw"
    /// β₁ (AdamW, Lion).
    public var beta1: Double?
    /// β₂ (AdamW, Lion).
    public var beta2: Double?
    /// ε (AdamW).
    public var epsilon: Double = 1e-8
    /// Momentum (SGD).
    public var momentum: Double = 0
    /// Decoupled weight decay, applied to matrices only (not biases or norms).
    public var weightDecay: Double = 0
    /// Global gradient-norm clip (nil or 0: none).
    public var gradientClip: Double?

    public init(type: String = "adamw", weightDecay: Double = 0, gradientClip: Double? = nil) {
        self.type = type; self.weightDecay = weightDecay; self.gradientClip = gradientClip
    }

    enum CodingKeys: String, CodingKey { case type, beta1, beta2, epsilon, momentum, weightDecay, gradientClip }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? "adamw"
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1)
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2)
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-8
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? 0
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? 0
        gradientClip = try c.decodeIfPresent(Double.self, forKey: .gradientClip)
    }

    func validate() throws {
        guard ["adamw", "sgd", "lion"].contains(type) else {
            throw TrainingError.invalidConfig(path: "optimizer.type", reason: "expected adamw, sgd or lion, got \(type)")
        }
    }
}

/// Knowledge distillation from a frozen teacher (Hinton et al. 2015; hidden-state MSE as in TinyBERT).
public struct DistillationConfig: Codable, Equatable, Sendable {
    /// The teacher: an HF folder or GGUF with the student's vocabulary.
    public var teacher: String
    /// T: both distributions are softened by T, and the KL term is scaled by T².
    public var temperature: Double = 2
    /// The weight of the KL term; CE gets 1 − alpha.
    public var alpha: Double = 0.5
    /// The weight of the hidden-state MSE (0: off).
    public var hiddenWeight: Double = 0

    public init(teacher: String, temperature: Double = 2, alpha: Double = 0.5, hiddenWeight: Double = 0) {
        self.teacher = teacher; self.temperature = temperature; self.alpha = alpha; self.hiddenWeight = hiddenWeight
    }

    enum CodingKeys: String, CodingKey { case teacher, temperature, alpha, hiddenWeight }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        teacher = try c.decode(String.self, forKey: .teacher)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? 2
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? 0.5
        hiddenWeight = try c.decodeIfPresent(Double.self, forKey: .hiddenWeight) ?? 0
    }
}
