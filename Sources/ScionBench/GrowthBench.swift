// `scion-bench growth`: does growing a trained small model save training compute on real English
// text? Reproduces, at small scale, the claims of TECHNIQUES.md rows 12 and 41:
//   (a) G_stack (Du et al. 2024, "Stacking Your Transformers: A Closer Look at Model Growth for
//       Efficient LLM Pre-Training"): train a 2-layer GPT-2, stack it 4× into 8 layers, keep training;
//   (b) bert2BERT (Chen et al. 2022, "bert2BERT: Towards Reusable Pretrained Language Models", §3.1
//       FPI, §3.2 AKI): train a half-width GPT-2, widen it to the target width, keep training;
// each against the target model trained from scratch with the same recipe. Both growth runs go
// through `GrowthRunner`, so FLOPs are what it counts: ≈ 6·N·tokens per phase, both phases summed.
// The measure is the one both papers read off their curves: cumulative FLOPs until the validation
// loss (the trainer's evaluation, every `--eval-every` steps, interpolated between evaluations by
// `LossCurve`) first reaches the from-scratch model's final validation loss.
// Data: .bench-data/english.txt from `bash Scripts/bench/corpora.sh` (Debian Policy + English
// fortunes), cut into ~4 KB documents at line ends, 5% of them held out; a byte-level BPE
// (`BPETrainer`, vocabulary 2048) is trained on the training documents only.
// Usage: scion-bench growth [--part a|b|all] [--steps N] [--growth-step N] [--eval-every N]
//                           [--text FILE] [--threads N]

import Foundation
import ScionData
import ScionGrowth
import ScionModels
import ScionOptim
import ScionTensor
import ScionTokenizers
import ScionTraining
#if canImport(Glibc)
import Glibc
#endif

/// Options of `scion-bench growth` (the shared `--threads` and `--text` come from BenchOptions).
struct GrowthBenchOptions {
    /// "a" (G_stack), "b" (bert2BERT) or "all".
    var part = "all"
    /// Optimizer steps of the from-scratch target (and the total of each growth run).
    var steps = 800
    /// The step at which the small model is grown.
    var growthStep = 200
    /// Evaluate the validation loss every this many steps.
    var evalEvery = 40
    /// Validation batches per evaluation.
    var evalBatches = 8
    var batchSize = 16
    var sequenceLength = 64
    var vocabularySize = 2048
    /// Peak learning rate (AdamW, linear warmup then cosine decay to a tenth).
    var peakLearningRate = 2e-3
    var warmupSteps = 20

    init(_ arguments: [String]) {
        var i = 0
        func int() -> Int? { i + 1 < arguments.count ? Int(arguments[i + 1]) : nil }
        while i < arguments.count {
            switch arguments[i] {
            case "--part": part = i + 1 < arguments.count ? arguments[i + 1] : part; i += 1
            case "--steps": steps = int() ?? steps; i += 1
            case "--growth-step": growthStep = int() ?? growthStep; i += 1
            case "--eval-every": evalEvery = int() ?? evalEvery; i += 1
            default: break
            }
            i += 1
        }
    }
}

/// The English benchmark corpus: tokenizer, tokenized documents and the train/validation split.
struct GrowthBenchData {
    var tokenizer: Tokenizer
    var data: TrainingData
    var trainTokens: Int
    var validationTokens: Int
}

/// Cuts `text` into documents of at least `minimumCharacters`, ending at line ends.
func growthBenchDocuments(_ text: String, minimumCharacters: Int = 4000) -> [String] {
    var documents: [String] = []
    var current = ""
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        current += line
        current += "\n"
        if current.count >= minimumCharacters { documents.append(current); current = "" }
    }
    if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { documents.append(current) }
    return documents
}

/// Reads the text, splits documents, trains the tokenizer on the training part and tokenizes.
func prepareGrowthData(path: String, options o: GrowthBenchOptions) throws -> GrowthBenchData? {
    guard let raw = FileManager.default.contents(atPath: path) else {
        print("no text at \(path): run `bash Scripts/bench/corpora.sh` first (or pass --text FILE)")
        return nil
    }
    let texts = growthBenchDocuments(String(decoding: raw, as: UTF8.self))
    let split = try SeededShuffle.split(documentCount: texts.count, validationFraction: 0.05, seed: 17)
    var tokenizer: Tokenizer? = nil
    let tTok = try seconds {
        tokenizer = try BPETrainer(vocabularySize: o.vocabularySize, specialTokens: ["<|endoftext|>"])
            .train(on: split.train.map { texts[$0] })
    }
    guard let tokenizer, let eos = tokenizer.id(forToken: "<|endoftext|>") else { return nil }
    var documents: [TokenizedDocument] = []
    let tEnc = seconds {
        documents = texts.map { DocumentTokenizer.tokenize(TextDocument(text: $0), with: tokenizer) }
    }
    let corpus = InMemoryCorpus(documents: documents)
    let count = { (ids: [Int]) in ids.reduce(0) { $0 + documents[$1].ids.count } }
    let trainTokens = count(split.train), validationTokens = count(split.validation)
    print(String(format: "text: %@, %d bytes, %d documents (%d train, %d validation); BPE vocabulary %d trained in %.1f s, "
                 + "encoded in %.1f s: %d train tokens, %d validation tokens",
                 path, raw.count, texts.count, split.train.count, split.validation.count, tokenizer.vocabularySize, tTok,
                 tEnc, trainTokens, validationTokens))
    let data = TrainingData(corpus: corpus, trainDocuments: split.train, validationDocuments: split.validation,
                            packing: PackingOptions(sequenceLength: o.sequenceLength, eosTokenID: eos), seed: 23)
    return GrowthBenchData(tokenizer: tokenizer, data: data, trainTokens: trainTokens, validationTokens: validationTokens)
}

/// Records a run's validation curve against cumulative FLOPs (≈ 6·N·tokens per phase, as
/// `GrowthRunner` counts) across the phases of a growth run, and prints progress to stderr.
final class GrowthCurveRecorder: TrainerCallback {
    let label: String
    let totalSteps: Int
    private(set) var curve = LossCurve()
    private var baseFLOPs = 0.0, baseTokens = 0.0
    private var phaseTokens = 0.0, parameters = 0, phase = 0, stepsDone = 0
    private let start = DispatchTime.now().uptimeNanoseconds

    init(label: String, totalSteps: Int) { self.label = label; self.totalSteps = totalSteps }

    var phaseFLOPs: Double { 6 * Double(parameters) * phaseTokens }
    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) {
        if metrics.step == 1 {                    // a new trainer: a new phase
            baseFLOPs += phaseFLOPs; baseTokens += phaseTokens
            phaseTokens = 0
            parameters = trainer.model.numberOfParameters
            phase += 1
        }
        phaseTokens += Double(metrics.tokens)
        stepsDone += 1
        if stepsDone % 50 == 0 || stepsDone == totalSteps {
            FileHandle.standardError.write(Data(String(format: "  [%@] step %d/%d (phase %d, N=%d) train loss %.3f, %.0f s\n",
                                                       label, stepsDone, totalSteps, phase, parameters, metrics.loss, elapsed).utf8))
        }
    }

    func trainer(_ trainer: Trainer, didEvaluate metrics: EvalMetrics) {
        try? curve.append(flops: baseFLOPs + phaseFLOPs, tokens: baseTokens + phaseTokens, loss: metrics.loss)
        FileHandle.standardError.write(Data(String(format: "  [%@] step %d/%d val loss %.4f at %.3g FLOPs\n", label,
                                                   stepsDone, totalSteps, metrics.loss, baseFLOPs + phaseFLOPs).utf8))
    }
}

/// One measured run: its curve and what the table prints.
struct GrowthBenchRun {
    var label: String
    var curve: LossCurve
    var phases: [(steps: Int, parameters: Int, flops: Double)]
    var seconds: Double
    /// Validation loss of the small model when it was grown, and of the grown model before any further training.
    var lossAtGrowth: (small: Double, grown: Double)?
    /// Extra lines (diagnostics) printed under the table.
    var notes: [String] = []
    var totalFLOPs: Double { phases.reduce(0) { $0 + $1.flops } }
}

/// A GPT-2 of the benchmark's shape (context 64, head dimension 32), seeded.
func growthBenchModel(vocabulary: Int, eos: Int, options o: GrowthBenchOptions, hidden: Int, layers: Int, seed: UInt64) -> GPT2LMHeadModel {
    var g = RandomGenerator(seed: seed)
    return GPT2LMHeadModel(config: GPT2Config(vocabSize: vocabulary, nPositions: o.sequenceLength, nEmbd: hidden, nLayer: layers,
                                              nHead: hidden / 32, bosTokenId: eos, eosTokenId: eos), generator: &g)
}

/// The recipe shared by every run: AdamW (weight decay 0.1, clip 1.0), warmup then cosine to a tenth
/// of the peak over `decaySteps` (for growth runs: the phase-2 length, since each phase restarts the schedule).
func growthBenchConfig(_ o: GrowthBenchOptions, steps: Int, scheduleSteps: Int) -> TrainingConfig {
    var c = TrainingConfig(model: ModelSpec(initialize: ModelInit(hiddenSize: 128, layers: 8, heads: 4, contextLength: o.sequenceLength)),
                           data: DataConfig(synthetic: SyntheticConfig(), sequenceLength: o.sequenceLength, batchSize: o.batchSize),
                           steps: steps)
    c.optimizer = OptimizerConfig(type: "adamw", weightDecay: 0.1, gradientClip: 1.0)
    c.schedule = .warmupCosine(peak: o.peakLearningRate, minimum: o.peakLearningRate / 10, warmupSteps: o.warmupSteps,
                               decaySteps: scheduleSteps - o.warmupSteps)
    c.evalEvery = o.evalEvery
    c.evalBatches = o.evalBatches
    c.logEvery = 1000
    c.seed = 1
    return c
}

/// Trains `model` from scratch for `o.steps` steps.
func growthBenchScratch(_ label: String, model: GPT2LMHeadModel, data: TrainingData, options o: GrowthBenchOptions) throws -> GrowthBenchRun {
    let recorder = GrowthCurveRecorder(label: label, totalSteps: o.steps)
    let trainer = try Trainer(config: growthBenchConfig(o, steps: o.steps, scheduleSteps: o.steps), model: model, data: data)
    trainer.callbacks.append(recorder)
    try trainer.run()
    let n = model.numberOfParameters
    let tokens = trainer.state.history.reduce(0) { $0 + $1.tokens }
    return GrowthBenchRun(label: label, curve: recorder.curve, phases: [(o.steps, n, 6 * Double(n) * Double(tokens))],
                          seconds: recorder.elapsed)
}

/// Validation loss of the model in `folder` (the trainer's evaluation on the same validation batches).
func growthBenchEvaluate(folder: String, data: TrainingData, options o: GrowthBenchOptions) throws -> Double {
    let model = try ModelLoader.loadLanguageModel(path: folder).model
    let trainer = try Trainer(config: growthBenchConfig(o, steps: 1, scheduleSteps: o.steps), model: model, data: data)
    return trainer.evaluate()?.loss ?? .nan
}

/// Trains `small` for `o.growthStep` steps, grows it with `growth`, trains to `o.steps` in total.
func growthBenchGrown(_ label: String, small: GPT2LMHeadModel, growth: any GrowthOperator, data: TrainingData,
                      options o: GrowthBenchOptions) throws -> (GrowthBenchRun, any LanguageModel) {
    let recorder = GrowthCurveRecorder(label: label, totalSteps: o.steps)
    let dir = benchScratchDirectory().appendingPathComponent("growth-\(label.filter { $0.isLetter || $0.isNumber })").path
    var runner = GrowthRunner(config: growthBenchConfig(o, steps: o.steps, scheduleSteps: o.steps - o.growthStep),
                              growthStep: o.growthStep, growth: growth, workingDirectory: dir)
    runner.callbacks = [recorder]
    let (grown, report) = try runner.run(small: small, data: data)
    let seconds = recorder.elapsed
    // The small model as grown (folder "small") and the grown model before phase 2 (folder "grown").
    let smallLoss = try growthBenchEvaluate(folder: (dir as NSString).appendingPathComponent("small"), data: data, options: o)
    let grownLoss = try growthBenchEvaluate(folder: report.grownPath, data: data, options: o)
    let run = GrowthBenchRun(label: label, curve: recorder.curve,
                             phases: report.phases.map { ($0.steps, $0.parameters, $0.flops) }, seconds: seconds,
                             lossAtGrowth: (smallLoss, grownLoss))
    return (run, grown)
}

/// The largest |difference| between hidden channel j and its copy j + `oldHidden` in the token
/// embedding, relative to the largest |entry|: 0 means the copies never separated in training.
func copiedChannelSpread(_ model: any LanguageModel, oldHidden: Int) -> Double? {
    guard let wte = model.stateDictionary()["transformer.wte.weight"] else { return nil }   // [V, C']
    let v = wte.shape[0], c = wte.shape[1]
    guard c >= 2 * oldHidden else { return nil }
    let x = wte.contiguous().floats()
    var diff: Float = 0, scale: Float = 0
    for r in 0..<v {
        for j in 0..<oldHidden {
            let a = x[r * c + j], b = x[r * c + j + oldHidden]
            diff = max(diff, abs(a - b)); scale = max(scale, abs(a), abs(b))
        }
    }
    return scale > 0 ? Double(diff / scale) : 0
}

/// Prints the comparison table of `runs` against the from-scratch `reference` run.
func printGrowthTable(reference: GrowthBenchRun, runs: [GrowthBenchRun]) {
    guard let target = reference.curve.finalLoss, let refCross = reference.curve.crossing(of: target) else {
        print("the from-scratch run has no evaluations"); return
    }
    print(String(format: "Target: the from-scratch model's final validation loss, %.4f.\n", target))
    print("| run | phases (steps × params) | total FLOPs | final val loss | val loss at growth (small → grown) | "
        + "FLOPs to reach target | tokens to reach target | vs scratch | scratch val loss at this run's total FLOPs | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in [reference] + runs {
        let phases = r.phases.map { "\($0.steps) × \(String(format: "%.2fM", Double($0.parameters) / 1e6))" }.joined(separator: " + ")
        let growth = r.lossAtGrowth.map { String(format: "%.4f → %.4f", $0.small, $0.grown) } ?? "—"
        var reach = "not reached", tokens = "—", ratio = "—"
        if let c = r.curve.crossing(of: target) {
            reach = String(format: "%.3e", c.flops) + (c.interpolated ? "" : " (first eval)")
            tokens = String(format: "%.0f", c.tokens)
            ratio = String(format: "%.3f× (%+.1f%%)", c.flops / refCross.flops, (c.flops / refCross.flops - 1) * 100)
        }
        let same = r.label == reference.label ? "—"
            : reference.curve.loss(atFLOPs: r.totalFLOPs).map { String(format: "%.4f", $0) } ?? "—"
        print(String(format: "| %@ | %@ | %.3e | %.4f | %@ | %@ | %@ | %@ | %@ | %.0f |", r.label, phases, r.totalFLOPs,
                     r.curve.finalLoss ?? .nan, growth, reach, tokens, ratio, same, r.seconds))
    }
    // The same measure at intermediate losses: where along the way growth is ahead, and by how much.
    let points = reference.curve.points
    var levels: [Double] = []
    var level = (points[points.count / 5].loss / 0.2).rounded(.down) * 0.2
    while level > target + 0.05 { levels.append(level); level -= 0.2 }
    levels.append(target)
    print("\nFLOPs to reach each validation loss (ratio to scratch in brackets; the last row is the target):\n")
    print("| val loss | " + ([reference] + runs).map(\.label).joined(separator: " | ") + " |")
    print("|---|" + String(repeating: "---|", count: runs.count + 1))
    for l in levels {
        let ref = reference.curve.crossing(of: l)?.flops
        let cells = ([reference] + runs).map { r -> String in
            guard let c = r.curve.crossing(of: l) else { return "not reached" }
            guard let ref, r.label != reference.label else { return String(format: "%.3e", c.flops) }
            return String(format: "%.3e (%.2f×)", c.flops, c.flops / ref)
        }
        print(String(format: "| %.4f | ", l) + cells.joined(separator: " | ") + " |")
    }
    for r in runs { for n in r.notes { print("\n\(r.label): \(n)") } }
    print("\nValidation curves (cumulative FLOPs : loss), every evaluation:")
    for r in [reference] + runs {
        print("- \(r.label): " + r.curve.points.map { String(format: "%.2e:%.3f", $0.flops, $0.loss) }.joined(separator: " "))
    }
}

@MainActor func benchGrowth() {
    let o = GrowthBenchOptions(Array(CommandLine.arguments.dropFirst()))
    guard ["a", "b", "all"].contains(o.part) else { print("--part must be a, b or all"); return }
    guard o.growthStep >= 1, o.growthStep < o.steps, o.steps > o.warmupSteps + o.growthStep, o.evalEvery >= 1 else {
        print("need 1 ≤ --growth-step < --steps − \(o.warmupSteps) and --eval-every ≥ 1"); return
    }
    ComputeSettings.threadCount = threadList.max() ?? 2
    let path = options.text ?? repositoryRoot().appendingPathComponent(".bench-data/english.txt").path
    header("Growth: G_stack and bert2BERT vs from scratch (threads \(ComputeSettings.threadCount), \(o.steps) steps, "
        + "growth at step \(o.growthStep), B\(o.batchSize)×T\(o.sequenceLength), eval every \(o.evalEvery) steps × \(o.evalBatches) batches)")
    let t0 = DispatchTime.now().uptimeNanoseconds
    var load = [Double](repeating: 0, count: 3)
    getloadavg(&load, 3)
    print(String(format: "load average at start: %.2f %.2f %.2f", load[0], load[1], load[2]))
    defer {
        getloadavg(&load, 3)
        print(String(format: "\nTotal wall time %.0f s; load average at end: %.2f %.2f %.2f",
                     Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, load[0], load[1], load[2]))
    }
    do {
        guard let bench = try prepareGrowthData(path: path, options: o) else { return }
        let v = bench.tokenizer.vocabularySize, eos = bench.data.packing.eosTokenID
        // The target: 8 layers, C = 128, 4 heads of 32, FFN 512.
        let scratch = try growthBenchScratch("scratch 8L C128", model: growthBenchModel(vocabulary: v, eos: eos, options: o,
                                                                                        hidden: 128, layers: 8, seed: 101),
                                             data: bench.data, options: o)
        if o.part == "a" || o.part == "all" {
            header("(a) G_stack: 2 layers → 8 (stacked ×4) at step \(o.growthStep)")
            let small = growthBenchModel(vocabulary: v, eos: eos, options: o, hidden: 128, layers: 2, seed: 102)
            let (run, _) = try growthBenchGrown("G_stack 2L→8L C128", small: small, growth: GStack(growthFactor: 4),
                                                data: bench.data, options: o)
            printGrowthTable(reference: scratch, runs: [run])
        }
        if o.part == "b" || o.part == "all" {
            header("(b) bert2BERT: 8 layers C 64 (2 heads, FFN 256) → C 128 (4 heads, FFN 512) at step \(o.growthStep)")
            var runs: [GrowthBenchRun] = []
            for method in [WidthExpansion.Method.fpi, .aki] {
                let small = growthBenchModel(vocabulary: v, eos: eos, options: o, hidden: 64, layers: 8, seed: 103)
                let (measured, grown) = try growthBenchGrown("\(method.rawValue.uppercased()) 8L C64→C128", small: small,
                                                        growth: WidthExpansion(hiddenSize: 128, intermediateSize: 512, method: method),
                                                        data: bench.data, options: o)
                var run = measured
                if let s = copiedChannelSpread(grown, oldHidden: 64) {
                    run.notes.append(String(format: "after training, token-embedding hidden channel j and its copy j+64 differ by "
                                            + "at most %.3g of the largest entry (0: the copies never separated)", s))
                }
                runs.append(run)
            }
            printGrowthTable(reference: scratch, runs: runs)
        }
    } catch {
        print("growth benchmark failed: \(error)")
    }
}
