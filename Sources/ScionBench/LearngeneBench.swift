// `scion-bench learngene`: benchmark (c) of the growth issue — does a learngene trained by
// distillation initialize models of several depths better than random init, on real English text?
// Follows TLEG (Xia et al. 2024, "Transformer as Linear Expansion of Learngene"; TECHNIQUES.md row 73:
// "after distillation, instantiations at depths 4/6/8 start at lower loss than random init") and,
// with --method sws, SWS (row 1).
// Pipeline, all in Scion on the CPU: a byte-level BPE tokenizer (~2k ids) trained on the text; a
// GPT-2-shaped teacher (d = 128, 8 layers, context 64) trained from scratch; one learngene distilled
// from it (an 8-layer auxiliary model whose layers are θ_A + (l/8)·θ_B, or SWS stages); models of 4, 6
// and 8 layers instantiated from the gene and, beside each, a random-init model of the same shape and
// a control with random layers but the gene's embeddings and final norm (what the gene's *layers*
// add), all trained N steps on the same batches with the same schedule; validation loss along the
// way. Stored parameters: the gene once versus one pretrained model per size.
// Usage: scion-bench learngene [--text FILE] [--teacher-steps N] [--gene-steps N] [--steps N]
//                              [--method tleg|sws] [--threads N] [--gene-lr X] [--lr X] [--alpha X]
//                              [--temperature X] [--reuse-teacher] [--gene-only]
// Defaults (600 teacher steps, 400 distillation steps at 1e-3, 200 steps per instantiation at 2e-3,
// batches of 16 × 64) keep the run near 10 minutes on 2 cores. --reuse-teacher keeps the teacher in
// the scratch folder between runs (for tuning); --gene-only stops after the distillation.

import Foundation
import ScionData
import ScionGrowth
import ScionModels
import ScionOptim
import ScionTensor
import ScionTokenizers
import ScionTraining

struct LearngeneBenchOptions {
    var teacherSteps = 600
    var geneSteps = 400
    var steps = 200
    var method = "tleg"
    var vocabulary = 2000
    var batchSize = 16
    var context = 64
    var geneLearningRate = 1e-3
    var learningRate = 2e-3
    var alpha = 0.5
    var temperature = 2.0
    /// Stop after the gene (for tuning the distillation).
    var geneOnly = false
    /// Reuse a teacher trained with the same settings by an earlier run (kept in the scratch folder).
    var reuseTeacher = false

    init(_ arguments: [String]) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if i + 1 < arguments.count {
                let v = arguments[i + 1]
                switch a {
                case "--teacher-steps": teacherSteps = Int(v) ?? teacherSteps; i += 2; continue
                case "--gene-steps": geneSteps = Int(v) ?? geneSteps; i += 2; continue
                case "--steps": steps = Int(v) ?? steps; i += 2; continue
                case "--method": method = v; i += 2; continue
                case "--vocabulary": vocabulary = Int(v) ?? vocabulary; i += 2; continue
                case "--batch-size": batchSize = Int(v) ?? batchSize; i += 2; continue
                case "--gene-lr": geneLearningRate = Double(v) ?? geneLearningRate; i += 2; continue
                case "--lr": learningRate = Double(v) ?? learningRate; i += 2; continue
                case "--alpha": alpha = Double(v) ?? alpha; i += 2; continue
                case "--temperature": temperature = Double(v) ?? temperature; i += 2; continue
                default: break
                }
            }
            if a == "--gene-only" { geneOnly = true }
            if a == "--reuse-teacher" { reuseTeacher = true }
            i += 1
        }
    }
}

/// Records validation losses at fixed steps.
final class EvalRecorder: TrainerCallback {
    var losses: [Int: Double] = [:]
    func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics) { losses[metrics.step] = metrics.loss }
}

@MainActor func benchLearngene() {
    do { try runLearngeneBench() } catch {
        FileHandle.standardError.write(Data("learngene benchmark failed: \(error)\n".utf8))
        exit(1)
    }
}

@MainActor func runLearngeneBench() throws {
    let o = LearngeneBenchOptions(Array(CommandLine.arguments.dropFirst()))
    if threadList.count == 1 { ComputeSettings.threadCount = threadList[0] }
    let start = Date()
    func elapsed() -> String { String(format: "%.0f s", Date().timeIntervalSince(start)) }
    let textPath = options.text ?? repositoryRoot().appendingPathComponent(".bench-data/english.txt").path
    guard let text = try? String(contentsOfFile: textPath, encoding: .utf8) else {
        FileHandle.standardError.write(Data("no text at \(textPath): run `bash Scripts/bench/corpora.sh` (or pass --text FILE)\n".utf8))
        exit(2)
    }
    header("Learngene (\(o.method)): gene-initialized vs random-init models of 4, 6, 8 layers on \(textPath)")

    // Documents: blank-line-separated blocks of at least 40 characters.
    let documents = text.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        .filter { $0.count >= 40 }
    let tokenizerSample = Array(documents.prefix(documents.count / 3))
    let cached = benchScratchDirectory().appendingPathComponent("learngene-teacher-v\(o.vocabulary)-b\(o.batchSize)-s\(o.teacherSteps)")
    let tokenizer: Tokenizer
    if o.reuseTeacher, let t = try? Tokenizer(contentsOf: cached.appendingPathComponent("tokenizer.json")) {
        tokenizer = t
    } else {
        tokenizer = try BPETrainer(vocabularySize: o.vocabulary, specialTokens: [SyntheticCorpus.endOfText]).train(on: tokenizerSample)
    }
    let eos = tokenizer.id(forToken: SyntheticCorpus.endOfText) ?? 0
    let corpus = InMemoryCorpus(documents: documents.map { TextDocument(text: $0) }, tokenizer: tokenizer)
    let split = try SeededShuffle.split(documentCount: corpus.documentCount, validationFraction: 0.05, seed: 7)
    let data = TrainingData(corpus: corpus, trainDocuments: split.train, validationDocuments: split.validation,
                            packing: PackingOptions(sequenceLength: o.context, eosTokenID: eos), seed: 11,
                            provenance: "text:\(textPath)")
    print("text: \(documents.count) documents, \(corpus.tokenCount) tokens (BPE, \(tokenizer.vocabularySize) ids, trained on a third "
          + "of the documents); validation: \(split.validation.count) documents; batches of \(o.batchSize) × \(o.context) tokens "
          + "(\(elapsed()))")

    let vocabulary = tokenizer.vocabularySize
    func gptConfig(layers: Int) -> GPT2Config {
        GPT2Config(vocabSize: vocabulary, nPositions: o.context, nEmbd: 128, nLayer: layers, nHead: 4, bosTokenId: eos, eosTokenId: eos)
    }
    func trainingConfig(steps: Int, peak: Double, evalEvery: Int) -> TrainingConfig {
        var c = TrainingConfig(model: ModelSpec(initialize: ModelInit(hiddenSize: 128, layers: 8, heads: 4, contextLength: o.context)),
                               data: DataConfig(sources: [SourceConfig(path: textPath)], sequenceLength: o.context, batchSize: o.batchSize),
                               steps: steps)
        c.schedule = .warmupCosine(peak: peak, minimum: peak / 10, warmupSteps: max(1, steps / 10), decaySteps: steps)
        c.optimizer = OptimizerConfig(type: "adamw", weightDecay: 0.01, gradientClip: 1)
        c.evalEvery = evalEvery
        c.evalBatches = 8
        c.logEvery = 1000
        return c
    }
    let scratch = benchScratchDirectory().appendingPathComponent("learngene-\(getpid())")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }

    // 1. The teacher: 8 layers from scratch.
    var g = RandomGenerator(seed: 1)
    let teacher: GPT2LMHeadModel
    let teacherLoss: Double
    let teacherPath: URL
    if o.reuseTeacher, FileManager.default.fileExists(atPath: cached.appendingPathComponent("model.safetensors").path) {
        teacher = try GPT2LMHeadModel.load(folder: HFFolder(path: cached.path))
        teacherPath = cached
        let probe = try Trainer(config: trainingConfig(steps: 1, peak: 3e-3, evalEvery: 0), model: teacher, data: data)
        teacherLoss = probe.evaluate()?.loss ?? .nan
        print("teacher: reused \(cached.path)")
    } else {
        teacher = GPT2LMHeadModel(config: gptConfig(layers: 8), generator: &g)
        let teacherTrainer = try Trainer(config: trainingConfig(steps: o.teacherSteps, peak: 3e-3, evalEvery: 0), model: teacher, data: data)
        try teacherTrainer.run()
        teacherLoss = teacherTrainer.state.evaluations.last?.loss ?? .nan
        teacherPath = scratch.appendingPathComponent("teacher")
        try CheckpointStore.saveModel(teacher, to: teacherPath, tokenizerJSON: tokenizer.jsonData(), lineage: teacherTrainer.lineage())
        try? CheckpointStore.saveModel(teacher, to: cached, tokenizerJSON: tokenizer.jsonData(), lineage: teacherTrainer.lineage())
    }
    print(String(format: "teacher: %d parameters, %d steps, validation loss %.4f (%@)", teacher.numberOfParameters, o.teacherSteps,
                 teacherLoss, elapsed()))

    // 2. One learngene distilled from it.
    let method: LearngeneModel.Method = o.method == "sws" ? .sws(profile: [3, 2, 3]) : .tleg(depth: 8)
    let genePath = scratch.appendingPathComponent("gene").path
    let geneRecorder = EvalRecorder()
    let (aux, report) = try LearngeneTraining(method: method,
                                              config: trainingConfig(steps: o.geneSteps, peak: o.geneLearningRate,
                                                                     evalEvery: max(1, o.geneSteps / 4)),
                                              temperature: o.temperature, alpha: o.alpha, seed: 2)
        .run(teacher: teacherPath.path, teacherModel: teacher, data: data, output: genePath, callbacks: [geneRecorder])
    print("auxiliary model validation loss during distillation: "
          + geneRecorder.losses.sorted { $0.key < $1.key }.map { String(format: "@%d %.4f", $0.key, $0.value) }.joined(separator: ", "))
    print(String(format: "gene (%@): %d stored parameters; %d-layer auxiliary model (%d parameters) after %d distillation steps: "
                 + "validation loss %.4f (%@)", method.description, report.geneParameters, aux.layerCount, report.auxiliaryParameters,
                 o.geneSteps, report.validationLoss ?? .nan, elapsed()))
    if o.geneOnly { return }
    let gene = try Checkpoint(folder: genePath)

    // 3. Instantiate 4, 6, 8 layers; train each and a random-init twin for N steps on the same batches.
    let evalEvery = max(1, o.steps / 4)
    print("")
    print("| layers | init | parameters | val loss @0 | @\(evalEvery) | @\(2 * evalEvery) | @\(o.steps) | gene − this @\(o.steps) |")
    print("|---|---|---|---|---|---|---|---|")
    var storedPerSize = 0
    for depth in [4, 6, 8] {
        let mode: LearngeneExpansion.Mode
        switch method {
        case .tleg: mode = .tleg(depth: depth)
        case .sws(let p):
            // Spread `depth` layers over the gene's stages as evenly as possible.
            mode = .sws(profile: (0..<p.count).map { depth / p.count + ($0 < depth % p.count ? 1 : 0) })
        }
        let folder = scratch.appendingPathComponent("from-gene-\(depth)").path
        try LearngeneExpansion(mode).grow(gene).save(to: folder, overwrite: true)
        let fromGene = try ModelLoader.loadLanguageModel(path: folder).model
        var rg = RandomGenerator(seed: 100 + UInt64(depth))
        let random = GPT2LMHeadModel(config: gptConfig(layers: depth), generator: &rg)
        storedPerSize += random.numberOfParameters
        // Control: random layers, the gene's embeddings and final norm.
        var cg = RandomGenerator(seed: 100 + UInt64(depth))
        let control = GPT2LMHeadModel(config: gptConfig(layers: depth), generator: &cg)
        try control.load(gene.nonLayerTensors, strict: false)
        var final: [String: Double] = [:]
        for (label, model) in [("gene", fromGene), ("gene embeddings only", control as any LanguageModel),
                               ("random", random as any LanguageModel)] {
            let recorder = EvalRecorder()
            let t = try Trainer(config: trainingConfig(steps: o.steps, peak: o.learningRate, evalEvery: evalEvery), model: model, data: data)
            t.callbacks = [recorder]
            t.evaluate()
            try t.run()
            final[label] = recorder.losses[o.steps]
            let row = [0, evalEvery, 2 * evalEvery, o.steps].map { recorder.losses[$0].map { String(format: "%.4f", $0) } ?? "–" }
            let delta = label == "gene" ? "" : String(format: "%+.4f", (final["gene"] ?? .nan) - (final[label] ?? .nan))
            print("| \(depth) | \(label) | \(model.numberOfParameters) | \(row.joined(separator: " | ")) | \(delta) |")
        }
    }
    print("")
    print("stored to initialize the three sizes: one gene \(report.geneParameters) parameters (\(method.geneLayers) layers + embeddings) "
          + "vs one model per size \(storedPerSize) parameters (4 + 6 + 8 layers), "
          + String(format: "%.1f× fewer", Double(storedPerSize) / Double(report.geneParameters)))
    print("total time \(elapsed()) on \(ComputeSettings.threadCount) threads")
}
