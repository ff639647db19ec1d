// A training run in a folder, from a config: tokenizer, data, model (fresh or loaded), objective,
// the trainer, its metrics log, the final model, the summary and the HTML report.
// Run folder: config.json (what run this is), metrics.jsonl, checkpoints/, model/ (HF folder with
// tokenizer.json), summary.json, report.html. A folder holding another run is refused unless the
// caller resumes or overwrites.

import Foundation
import ScionCheckpoint
import ScionData
import ScionModels
import ScionNN
import ScionOptim
import ScionTensor
import ScionTokenizers

/// A configured training run in its output folder.
///
/// ```swift
/// let config = try TrainingConfig.load(file: "run.yaml", overrides: ["steps=100"])
/// let run = try TrainingRun.start(config: config)            // or .resume(directory:)
/// let summary = try run.train()
/// ```
public final class TrainingRun {
    /// The run folder.
    public let directory: URL
    /// The configuration.
    public let config: TrainingConfig
    /// The trainer.
    public let trainer: Trainer
    /// The tokenizer used for the data.
    public let tokenizer: Tokenizer
    /// The unigram entropy of the validation tokens (nats/token), a loss any context-aware model must beat.
    public let unigramEntropy: Double?

    /// The end-of-text id used for packing (written to the saved model's generation_config.json).
    public let eosTokenID: Int

    init(directory: URL, config: TrainingConfig, trainer: Trainer, tokenizer: Tokenizer, unigramEntropy: Double?,
         eosTokenID: Int) {
        self.directory = directory; self.config = config; self.trainer = trainer
        self.tokenizer = tokenizer; self.unigramEntropy = unigramEntropy; self.eosTokenID = eosTokenID
    }

    /// Starts a new run in `config.output`.
    ///
    /// - Parameter overwrite: Replace whatever the folder holds.
    /// - Throws: ``TrainingError/outputHoldsDifferentRun(path:)`` when the folder holds another run
    ///   (or anything else) and `overwrite` is false; config, data and model errors.
    ///   - prepareModel: Runs on the model before the trainer is built (e.g. to attach adapters).
    public static func start(config: TrainingConfig, overwrite: Bool = false,
                             prepareModel: ((any LanguageModel) throws -> Void)? = nil) throws -> TrainingRun {
        let dir = URL(fileURLWithPath: config.output)
        let fm = FileManager.default
        let configFile = dir.appendingPathComponent("config.json")
        let encoded = try encode(config)
        if fm.fileExists(atPath: dir.path) {
            let contents = (try? fm.contentsOfDirectory(atPath: dir.path)) ?? []
            if !contents.isEmpty && !overwrite {
                if let existing = fm.contents(atPath: configFile.path), existing == encoded {
                    throw TrainingError.io(path: dir.path, reason: "already holds this run; pass --resume to continue it or --overwrite to start again")
                }
                throw TrainingError.outputHoldsDifferentRun(path: dir.path)
            }
            if overwrite { try fm.removeItem(at: dir) }
        }
        let run = try make(config: config, directory: dir, prepareModel: prepareModel)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try encoded.write(to: configFile, options: .atomic)
        try? fm.removeItem(at: dir.appendingPathComponent("metrics.jsonl"))
        run.attachLog()
        return run
    }

    /// Resumes the run in `directory` from its latest checkpoint (from step 0 when it has none).
    ///
    /// - Parameters:
    ///   - prepareModel: Runs on the model before the trainer is built (e.g. to attach adapters).
    ///   - prepareTrainer: Runs on the trainer before the checkpoint is restored (e.g. to register
    ///     step hooks and ``Trainer/checkpointExtras``).
    /// - Throws: ``TrainingError/io(path:reason:)`` when the folder holds no run;
    ///   ``TrainingError/badCheckpoint(path:reason:)``.
    public static func resume(directory: URL, prepareModel: ((any LanguageModel) throws -> Void)? = nil,
                              prepareTrainer: ((Trainer) throws -> Void)? = nil) throws -> TrainingRun {
        let configFile = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configFile.path) else {
            throw TrainingError.io(path: directory.path, reason: "holds no run to resume (no config.json)")
        }
        var config = try JSONDecoder().decode(TrainingConfig.self, from: data)
        config.output = directory.path
        let run = try make(config: config, directory: directory, prepareModel: prepareModel)
        try prepareTrainer?(run.trainer)
        if let latest = run.trainer.checkpoints?.latest() { try run.trainer.restore(from: latest) }
        run.attachLog()
        return run
    }

    static func encode(_ config: TrainingConfig) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(config)
    }

    func attachLog() {
        let log = MetricsLog(url: directory.appendingPathComponent("metrics.jsonl"))
        log.rewrite(trainer.state)
        trainer.callbacks.append(log)
    }

    // MARK: Building from the config

    static func make(config: TrainingConfig, directory: URL,
                     prepareModel: ((any LanguageModel) throws -> Void)? = nil) throws -> TrainingRun {
        let c = try components(config: config, directory: directory, prepareModel: prepareModel)
        let store = CheckpointStore(directory: directory.appendingPathComponent("checkpoints"), keep: config.keepCheckpoints)
        let trainer = try Trainer(config: config, model: c.model, data: c.data, objective: c.objective, checkpoints: store,
                                  origin: c.origin)
        trainer.tokenizerJSON = c.tokenizer.jsonData()
        var entropy: Double? = nil
        if let docs = c.syntheticDocuments {
            entropy = SyntheticCorpus.unigramEntropy(of: c.data.validationDocuments.map { docs[$0] }, tokenizer: c.tokenizer)
        }
        return TrainingRun(directory: directory, config: config, trainer: trainer, tokenizer: c.tokenizer,
                           unigramEntropy: entropy, eosTokenID: c.eosTokenID)
    }

    /// What a config builds before any training: the model (fresh or loaded), the tokenizer, the
    /// data split and packing, the objective (distillation when configured) and the lineage origin.
    /// `TrainingRun` trains these with one ``Trainer``; other drivers (ScionGrowth's growth runner,
    /// learngene and progressive-shrink distillation) use them directly.
    ///
    /// - Parameters:
    ///   - config: A validated config.
    ///   - directory: The run folder (the token cache of file sources goes under it unless `data.cache` is set).
    ///   - prepareModel: Runs on the model before the origin digest is taken (e.g. to attach adapters).
    /// - Throws: ``TrainingError`` naming the config key or path at fault.
    public static func components(config: TrainingConfig, directory: URL,
                                  prepareModel: ((any LanguageModel) throws -> Void)? = nil) throws -> TrainingComponents {
        if let t = config.threads { ComputeSettings.threadCount = t }
        var loaded: LoadedLanguageModel? = nil
        if let from = config.model.from {
            do { loaded = try ModelLoader.loadLanguageModel(path: from) } catch {
                throw TrainingError.io(path: from, reason: "cannot load the model: \(error)")
            }
        }
        let tokenizer = try makeTokenizer(config.data, modelTokenizer: loaded?.tokenizer)
        let eos = tokenizer.id(forToken: SyntheticCorpus.endOfText) ?? loaded?.eosTokenIDs.first
            ?? tokenizer.specialAndAddedTokens.first?.id ?? 0
        let (corpus, entropyDocs) = try makeCorpus(config.data, tokenizer: tokenizer, directory: directory)
        let split = try SeededShuffle.split(documentCount: corpus.documentCount,
                                            validationFraction: config.data.validationFraction, seed: config.data.seed)
        let model: any LanguageModel
        if let loaded {
            model = loaded.model
        } else if let spec = config.model.initialize {
            model = try makeModel(spec, vocabularySize: tokenizer.vocabularySize, eos: eos, seed: config.seed)
        } else {
            throw TrainingError.invalidConfig(path: "model", reason: "expected `init` or `from`")
        }
        if tokenizer.vocabularySize > model.vocabularySize {
            throw TrainingError.invalidConfig(path: "data.tokenizer",
                                              reason: "the tokenizer has \(tokenizer.vocabularySize) ids but the model only \(model.vocabularySize)")
        }
        if config.data.sequenceLength > model.maxPositions {
            throw TrainingError.invalidConfig(path: "data.sequenceLength",
                                              reason: "\(config.data.sequenceLength) exceeds the model's \(model.maxPositions) positions")
        }
        try prepareModel?(model)
        var objective: any TrainingObjective = CrossEntropyObjective()
        var parameters: [String: String] = [:]
        if let d = config.distillation {
            let teacher: LoadedLanguageModel
            do { teacher = try ModelLoader.loadLanguageModel(path: d.teacher) } catch {
                throw TrainingError.io(path: d.teacher, reason: "cannot load the teacher: \(error)")
            }
            objective = DistillationLoss(teacher: teacher.model, temperature: d.temperature, alpha: d.alpha,
                                         hiddenWeight: d.hiddenWeight)
            parameters["objective"] = "distillation"
            parameters["teacher"] = d.teacher
            parameters["teacher_sha256"] = try? Lineage.digest(path: d.teacher)
        }
        let provenance = dataProvenance(config.data)
        let data = TrainingData(corpus: corpus, trainDocuments: split.train, validationDocuments: split.validation,
                                packing: PackingOptions(sequenceLength: config.data.sequenceLength, eosTokenID: eos),
                                seed: config.data.seed, provenance: provenance)
        let origin: TrainingOrigin
        do {
            if let from = config.model.from {
                origin = try TrainingOrigin(folder: from, data: provenance, parameters: parameters)
            } else {
                origin = TrainingOrigin(parentSHA256: try Lineage.digest(ofTensors: model.stateDictionary()), data: provenance,
                                        parameters: parameters)
            }
        } catch {
            throw TrainingError.io(path: config.model.from ?? "model", reason: "cannot digest the starting weights: \(error)")
        }
        return TrainingComponents(model: model, tokenizer: tokenizer, eosTokenID: eos, data: data, objective: objective,
                                  origin: origin, syntheticDocuments: entropyDocs)
    }

    /// How the lineage names a config's data: its source paths, or the synthetic corpus's settings.
    static func dataProvenance(_ data: DataConfig) -> String {
        if let s = data.synthetic {
            return "synthetic(documents: \(s.documents), seed: \(s.seed), vocabularySize: \(s.vocabularySize))"
        }
        return data.sources.map { "\($0.format):\($0.path)" }.joined(separator: ", ")
    }

    static func makeTokenizer(_ data: DataConfig, modelTokenizer: Tokenizer?) throws -> Tokenizer {
        if let path = data.tokenizer, path != "synthetic" {
            do { return try Tokenizer(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw TrainingError.io(path: path, reason: "cannot read the tokenizer: \(error)")
            }
        }
        if data.tokenizer == nil, let modelTokenizer { return modelTokenizer }
        return try SyntheticCorpus.tokenizer(vocabularySize: data.synthetic?.vocabularySize ?? 512)
    }

    static func makeCorpus(_ data: DataConfig, tokenizer: Tokenizer, directory: URL) throws
        -> (any TokenizedCorpus, [String]?) {
        if let s = data.synthetic {
            let docs = SyntheticCorpus.generate(documents: s.documents, seed: s.seed)
            return (SyntheticCorpus.corpus(documents: docs, tokenizer: tokenizer), docs)
        }
        var sources: [DataSource] = []
        for (i, s) in data.sources.enumerated() {
            let url = URL(fileURLWithPath: s.path)
            switch s.format {
            case "text":
                let splitting = TextSplitting(rawValue: s.splitting ?? "wholeFile")
                guard let splitting else {
                    throw TrainingError.invalidConfig(path: "data.sources[\(i)].splitting", reason: "expected wholeFile or blankLines")
                }
                sources.append(.text(url, splitting: splitting))
            case "jsonl": sources.append(.jsonl(url, textField: s.field ?? "text"))
            case "promptCompletion": sources.append(.promptCompletion(url))
            case "chat": sources.append(.chat(url))
            default:
                throw TrainingError.invalidConfig(path: "data.sources[\(i)].format",
                                                  reason: "expected text, jsonl, promptCompletion or chat, got \(s.format)")
            }
        }
        let cacheDir = data.cache.map { URL(fileURLWithPath: $0) } ?? directory.appendingPathComponent("token-cache")
        return (try TokenCache.prepare(sources: sources, tokenizer: tokenizer, directory: cacheDir), nil)
    }

    static func makeModel(_ spec: ModelInit, vocabularySize: Int, eos: Int, seed: UInt64) throws -> any LanguageModel {
        var generator = RandomGenerator(seed: seed)
        switch spec.architecture {
        case "gpt2":
            let c = GPT2Config(vocabSize: spec.vocabSize ?? vocabularySize, nPositions: spec.contextLength,
                               nEmbd: spec.hiddenSize, nLayer: spec.layers, nHead: spec.heads,
                               nInner: spec.intermediateSize, initializerRange: spec.initializerRange,
                               tieWordEmbeddings: spec.tieWordEmbeddings, bosTokenId: eos, eosTokenId: eos)
            do { try c.validate(path: "model.init") } catch {
                throw TrainingError.invalidConfig(path: "model.init", reason: "\(error)")
            }
            return GPT2LMHeadModel(config: c, generator: &generator)
        case "llama":
            let c = LlamaConfig(vocabSize: spec.vocabSize ?? vocabularySize, hiddenSize: spec.hiddenSize,
                                intermediateSize: spec.intermediateSize ?? LlamaInit.intermediateSize(spec.hiddenSize),
                                numHiddenLayers: spec.layers, numAttentionHeads: spec.heads, numKeyValueHeads: spec.kvHeads,
                                maxPositionEmbeddings: spec.contextLength, tieWordEmbeddings: spec.tieWordEmbeddings)
            do { return try LlamaForCausalLM(config: c, generator: &generator) } catch {
                throw TrainingError.invalidConfig(path: "model.init", reason: "\(error)")
            }
        default:
            throw TrainingError.invalidConfig(path: "model.init.architecture", reason: "expected gpt2 or llama, got \(spec.architecture)")
        }
    }

    // MARK: Running

    /// Trains to `config.steps`, then saves the model to `model/`, and writes summary.json and report.html.
    ///
    /// - Returns: The summary.
    /// - Throws: ``TrainingError/nonFinite(step:tensor:value:)`` (the last good checkpoint is kept,
    ///   and the report is still written), I/O errors.
    @discardableResult
    public func train() throws -> RunSummary {
        do {
            try trainer.run()
        } catch {
            try? writeReport(summary: summary())
            throw error
        }
        let modelDir = directory.appendingPathComponent("model")
        try CheckpointStore.saveModel(trainer.model, to: modelDir, tokenizerJSON: tokenizer.jsonData(), lineage: trainer.lineage(),
                                      extraFiles: ["generation_config.json": Data("{\n  \"eos_token_id\": \(eosTokenID)\n}\n".utf8)])
        let s = summary()
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try e.encode(s).write(to: directory.appendingPathComponent("summary.json"), options: .atomic)
        try writeReport(summary: s)
        return s
    }

    /// The accounting of the run so far.
    public func summary() -> RunSummary {
        RunSummary.make(trainer: trainer, directory: directory, unigramEntropy: unigramEntropy)
    }

    func writeReport(summary: RunSummary) throws {
        let html = ReportWriter.html(config: config, summary: summary, history: trainer.state.history,
                                     evaluations: trainer.state.evaluations)
        try Data(html.utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
    }
}

/// What ``TrainingRun/components(config:directory:prepareModel:)`` builds from a config.
public struct TrainingComponents {
    /// The model: fresh from `model.init`, or loaded from `model.from`.
    public var model: any LanguageModel
    /// The tokenizer of the data.
    public var tokenizer: Tokenizer
    /// The end-of-text id used for packing.
    public var eosTokenID: Int
    /// The split, packed data.
    public var data: TrainingData
    /// Cross-entropy, or distillation when the config has a `distillation` section.
    public var objective: any TrainingObjective
    /// The model's digest, lineage and the data's provenance, for the lineage manifest.
    public var origin: TrainingOrigin
    /// The synthetic corpus's documents (for the unigram-entropy baseline), when synthetic.
    public var syntheticDocuments: [String]?
}

enum LlamaInit {
    /// Llama's MLP width: 8/3·C rounded up to a multiple of 64 (as the Llama papers size it).
    static func intermediateSize(_ hidden: Int) -> Int { (8 * hidden / 3 + 63) / 64 * 64 }
}

/// Appends each step and evaluation to `metrics.jsonl`, one JSON object per line.
///
/// Lines: `{"kind":"train","step":…,"loss":…,"lr":…,"grad_norm":…,"tokens":…,"tokens_per_second":…}`
/// and `{"kind":"eval","step":…,"val_loss":…,"val_perplexity":…}`.
public final class MetricsLog: TrainerCallback {
    /// The file.
    public let url: URL
    var handle: FileHandle?

    public init(url: URL) { self.url = url }

    /// Rewrites the file from a state (after a resume: lines past the checkpoint are dropped).
    public func rewrite(_ state: TrainerState) {
        var text = ""
        var evals = state.evaluations[...]
        for m in state.history {
            text += MetricsLog.line(m)
            while let e = evals.first, e.step <= m.step { text += MetricsLog.line(e); evals = evals.dropFirst() }
        }
        for e in evals { text += MetricsLog.line(e) }
        try? Data(text.utf8).write(to: url, options: .atomic)
        handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
    }

    static func line(_ m: StepMetrics) -> String {
        let tps = m.seconds > 0 ? Double(m.tokens) / m.seconds : 0
        return "{\"kind\":\"train\",\"step\":\(m.step),\"loss\":\(m.loss),\"lr\":\(m.learningRate),"
            + "\"grad_norm\":\(m.gradientNorm),\"tokens\":\(m.tokens),\"seconds\":\(m.seconds),\"tokens_per_second\":\(tps)}\n"
    }

    static func line(_ e: EvalMetrics) -> String {
        "{\"kind\":\"eval\",\"step\":\(e.step),\"val_loss\":\(e.loss),\"val_perplexity\":\(e.perplexity),\"tokens\":\(e.tokens)}\n"
    }

    func append(_ s: String) { handle?.write(Data(s.utf8)) }

    public func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) { append(MetricsLog.line(metrics)) }
    public func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics) { append(MetricsLog.line(metrics)) }
}
