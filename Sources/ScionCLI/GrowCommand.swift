// `scion grow stack | insert | widen | shrink | vocab | learngene` (ScionGrowth operators on HF folders, writing HF folders with
// the parent's tokenizer files and a lineage manifest) and `scion check preserved` (max |Δ logit|
// and KL between a model and its grown child). Every target shape is validated before any write.
// Two of them also train: `grow stack --config` runs the growth runner (train small → G_stack at the
// growth step, by default the paper's rule → keep training), and `grow shrink --distill-data`
// distills the shrunk student (in stages with --stages). `grow learngene` is in its own file.

import ArgumentParser
import Foundation
import ScionGrowth
import ScionModels
import ScionTokenizers
import ScionTraining

struct GrowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grow", abstract: "Grow a trained model into a deeper or wider one (G_stack, zero-block insertion, bert2BERT).",
        subcommands: [GrowStackCommand.self, GrowInsertCommand.self, GrowWidenCommand.self, GrowShrinkCommand.self,
                      GrowVocabCommand.self, GrowLearngeneCommand.self])
}

/// Options every grow subcommand takes.
struct GrowIO: ParsableArguments {
    @Option(help: "The source HF model folder.") var model: String
    @Option(help: "The folder to write the grown model to.") var output: String
    @Flag(help: "Replace --output if it exists.") var overwrite = false
    @Flag(help: "Print a JSON summary.") var json = false

    struct Summary: Encodable {
        let `operator`: String, output: String, parameters: [String: String]
        let preservesFunction: Bool, layers: Int, hiddenSize: Int, heads: Int, parameterCount: Int
    }

    func run(_ op: any GrowthOperator, source loaded: Checkpoint? = nil) throws {
        try runGrowth(op, model: model, output: output, overwrite: overwrite, json: json, source: loaded)
    }
}

/// Applies `op` to the folder `model` and writes `output`, printing a summary.
func runGrowth(_ op: any GrowthOperator, model: String, output: String, overwrite: Bool, json: Bool,
               source loaded: Checkpoint? = nil) throws {
    let source = try loaded ?? Checkpoint(folder: model)
    if FileManager.default.fileExists(atPath: output) && !overwrite {
        throw CLIError("\(output) exists (pass --overwrite to replace it)")
    }
    let grown = try op.grow(source)
    try grown.save(to: output, overwrite: overwrite)
    let s = GrowIO.Summary(operator: type(of: op).name, output: output, parameters: op.parameters,
                           preservesFunction: op.preservesFunction(for: source), layers: grown.layerCount,
                           hiddenSize: grown.hiddenSize, heads: grown.headCount, parameterCount: grown.parameterCount)
    if json { try printJSON(s); return }
    print("\(s.operator): \(source.layerCount) → \(s.layers) layers, hidden \(source.hiddenSize) → \(s.hiddenSize), "
          + "\(source.parameterCount) → \(s.parameterCount) parameters; "
          + (s.preservesFunction ? "function-preserving" : "approximate (check with `scion check preserved`)"))
    print("wrote \(output)")
}

func parseInts(_ s: String, option: String) throws -> [Int] {
    try s.split(whereSeparator: { $0 == "," || $0 == " " }).map {
        guard let v = Int($0) else { throw ValidationError("\(option): '\($0)' is not an integer") }
        return v
    }
}

struct GrowStackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack", abstract: "G_stack: stack the layer stack g times (Du et al. 2024); not function-preserving.",
        discussion: """
        Two modes:
          scion grow stack --model small --output big [--factor 4]
              stacks a trained model now.
          scion grow stack --config small.yaml [--growth-step S] [--factor 4]
              trains the config's (small) model, stacks it at the growth step and keeps training to the
              config's `steps`, in the config's `output` folder (small/, grown/, final/, report.json).
        Defaults follow the paper: g = 4, and without --growth-step the step comes from its fitted
        growth-time rule log10(d) = 0.88·log10(N) + 163.27/log10(C) − 5.74 (N: grown parameters,
        C: the run's FLOPs), clamped to half the run when the rule extrapolates (tiny models).
        """)
    @Option(help: "The source HF model folder (stack now).") var model: String?
    @Option(help: "The folder to write the grown model to (with --model).") var output: String?
    @Option(help: "A training config: train the small model, grow at the growth step, keep training.") var config: String?
    @Option(name: .customLong("set"), help: "Override a config key (with --config; repeatable).") var overrides: [String] = []
    @Option(help: "The step at which to grow (with --config; default: the paper's growth-time rule).") var growthStep: Int?
    @Option(help: "Growth factor g (new depth = g × old; default \(GStack.defaultGrowthFactor), the paper's guidance).")
    var factor = GStack.defaultGrowthFactor
    @Option(help: "stacked (0 1 0 1) or interleaved (0 0 1 1).") var layout = "stacked"
    @Option(help: "An explicit layer map, e.g. \"0,1,1,0\" (overrides --factor and --layout).") var map: String?
    @Flag(help: "Replace the output if it exists.") var overwrite = false
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        if config != nil {
            guard model == nil && output == nil else { throw ValidationError("--config trains its own model into its `output`; drop --model and --output") }
            if let growthStep, growthStep < 1 { throw ValidationError("--growth-step must be at least 1") }
        } else {
            guard model != nil && output != nil else { throw ValidationError("give --model and --output, or --config") }
            guard growthStep == nil && overrides.isEmpty else { throw ValidationError("--growth-step and --set need --config") }
        }
    }

    func run() throws {
        let l: GStack.Layout
        if let map { l = .custom(try parseInts(map, option: "--map")) } else {
            switch layout {
            case "stacked": l = .stacked
            case "interleaved": l = .interleaved
            default: throw ValidationError("--layout must be stacked or interleaved, got '\(layout)'")
            }
        }
        let op = GStack(growthFactor: factor, layout: l)
        guard let config else { return try runGrowth(op, model: model!, output: output!, overwrite: overwrite, json: json) }
        let cfg: TrainingConfig
        do { cfg = try TrainingConfig.load(file: config, overrides: overrides) } catch let e as TrainingError { throw CLIError(e.description) }
        let dir = URL(fileURLWithPath: cfg.output)
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        if !contents.isEmpty {
            guard overwrite else { throw CLIError("\(dir.path) is not empty (pass --overwrite to replace it)") }
            try FileManager.default.removeItem(at: dir)
        }
        let parts: TrainingComponents
        do { parts = try TrainingRun.components(config: cfg, directory: dir) } catch let e as TrainingError { throw CLIError(e.description) }
        guard let small = parts.model as? any TrainableLanguageModel else { throw CLIError("\(type(of: parts.model)) cannot be grown") }
        var runner = GrowthRunner(config: cfg, growthStep: growthStep, growth: op, workingDirectory: dir.path,
                                  objective: parts.objective, tokenizerJSON: parts.tokenizer.jsonData(), origin: parts.origin)
        let progress = ProgressPrinter(totalSteps: cfg.steps, every: cfg.logEvery, handle: json ? .standardError : .standardOutput)
        runner.callbacks = [progress]
        if !json { say("training \(Format.count(small.numberOfParameters))-parameter model, G_stack ×\(factor) at the growth step, \(cfg.steps) steps in all → \(dir.path)") }
        let (_, report) = try runner.run(small: small, data: parts.data)
        progress.finish()
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try e.encode(report).write(to: dir.appendingPathComponent("report.json"), options: .atomic)
        if json { try printJSON(report); return }
        say("grew at step \(report.growthStep)" + (report.growthStepFromRule
            ? " (the paper's growth-time rule" + (report.growthStepClamped ? ", clamped: the rule is fitted on 0.4–7 B-parameter runs; pass --growth-step)" : ")")
            : ""))
        for (i, p) in report.phases.enumerated() {
            say(String(format: "phase %d: %d steps, %d tokens, %@ parameters, %.3g FLOPs, last loss %.4f", i + 1, p.steps, p.tokens,
                       Format.count(p.parameters), p.flops, p.finalLoss ?? Double.nan)
                + (p.validationLoss.map { String(format: ", validation %.4f", $0) } ?? ""))
        }
        say("model: \(report.finalPath)")
    }
}

struct GrowInsertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insert", abstract: "Insert blocks with zeroed output projections (exact for GPT-2 and Llama).")
    @OptionGroup var io: GrowIO
    @Option(help: "Source layers after which to insert a block, e.g. \"0,1\" (-1: at the front).") var after: String?
    @Option(help: "Insert this many blocks spread evenly instead.") var count: Int?

    func run() throws {
        guard (after == nil) != (count == nil) else { throw ValidationError("give exactly one of --after or --count") }
        if let after { return try io.run(ZeroBlockInsertion(after: try parseInts(after, option: "--after"))) }
        let layers = try Checkpoint(folder: io.model).layerCount
        try io.run(ZeroBlockInsertion(count: count!, evenlyInto: layers))
    }
}

struct GrowWidenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "widen", abstract: "bert2BERT width growth (FPI or AKI) of FFN, heads and hidden size.")
    @OptionGroup var io: GrowIO
    @Option(help: "New hidden size (GPT-2/BERT heads grow with it at fixed head dim).") var hiddenSize: Int?
    @Option(help: "New FFN inner size.") var intermediateSize: Int?
    @Option(help: "New number of query heads (Llama family).") var heads: Int?
    @Option(help: "New number of key/value heads (Llama GQA groups).") var kvHeads: Int?
    @Option(help: "fpi (function-preserving) or aki (copies from the next layer).") var method = "fpi"
    @Option(help: "Pick copied units at random with this seed (default: cyclic, exact for integer multiples).") var seed: UInt64?

    func run() throws {
        guard let m = WidthExpansion.Method(rawValue: method) else { throw ValidationError("--method must be fpi or aki") }
        try io.run(WidthExpansion(hiddenSize: hiddenSize, intermediateSize: intermediateSize, attentionHeads: heads,
                                  keyValueHeads: kvHeads, method: m, selection: seed.map { .random(seed: $0) } ?? .cyclic))
    }
}

struct GrowShrinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shrink", abstract: "Build a smaller student that inherits chosen layers, heads and channels (TinyCLIP-style).",
        discussion: """
        With --distill-data the student is then distilled from the model (KL at --temperature mixed
        with cross-entropy); with --stages it shrinks progressively, each stage inheriting from and
        distilled by the previous stage's model:
          scion grow shrink --model teacher-12L --output runs/shrink --stages 8,4 --distill-data corpus.txt --steps 300
        writes runs/shrink/stage-1/model (8 layers) and runs/shrink/stage-2/model (4 layers).
        """)
    @OptionGroup var io: GrowIO
    @Option(help: "Number of layers to keep.") var layers: Int?
    @Option(help: "Explicit teacher layers to keep, e.g. \"0,2,4\".") var layerIndices: String?
    @Option(help: "New hidden size.") var hiddenSize: Int?
    @Option(help: "New FFN inner size.") var intermediateSize: Int?
    @Option(help: "New number of query heads (Llama family).") var heads: Int?
    @Option(help: "New number of key/value heads (Llama family).") var kvHeads: Int?
    @Option(help: "evenlySpaced, first or importance (magnitude).") var choice = "evenlySpaced"
    @Option(help: "Progressive stages: layers kept at each stage, strictly decreasing, e.g. \"8,4\" (needs --distill-data).")
    var stages: String?
    @Option(help: "A text file to distill the student(s) on (repeatable).") var distillData: [String] = []
    @Option(help: "Weight of the hidden-state MSE while distilling (0: off; needs an unchanged hidden size).") var hiddenWeight = 0.0
    @OptionGroup var training: GrowTrainingOptions

    func validate() throws {
        if stages != nil {
            guard !distillData.isEmpty else { throw ValidationError("--stages distills every stage; give --distill-data FILE") }
            guard layers == nil && layerIndices == nil && hiddenSize == nil && intermediateSize == nil && heads == nil && kvHeads == nil else {
                throw ValidationError("--stages gives the layer count of each stage; drop --layers, --layer-indices and the width options")
            }
        }
        if distillData.isEmpty && (hiddenWeight != 0 || !training.isDefault) {
            throw ValidationError("the training options (--steps, --learning-rate, --temperature, …) need --distill-data")
        }
        if hiddenWeight < 0 { throw ValidationError("--hidden-weight must be non-negative") }
    }

    func run() throws {
        guard let c = InheritanceShrink.Choice(rawValue: choice) else {
            throw ValidationError("--choice must be evenlySpaced, first or importance")
        }
        let op = InheritanceShrink(layers: layers, layerIndices: try layerIndices.map { try parseInts($0, option: "--layer-indices") },
                                   hiddenSize: hiddenSize, intermediateSize: intermediateSize, attentionHeads: heads,
                                   keyValueHeads: kvHeads, choice: c)
        guard !distillData.isEmpty else { return try io.run(op) }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: io.output)) ?? []
        if !contents.isEmpty {
            guard io.overwrite else { throw CLIError("\(io.output) is not empty (pass --overwrite to replace it)") }
            try FileManager.default.removeItem(atPath: io.output)
        }
        let config = try training.config(teacher: io.model, data: distillData, output: io.output)
        let shrink: ProgressiveShrink
        if let stages {
            shrink = try ProgressiveShrink(layerSchedule: try parseInts(stages, option: "--stages"), choice: c, config: config,
                                           workingDirectory: io.output, temperature: training.temperature, alpha: training.alpha,
                                           hiddenWeight: hiddenWeight)
        } else {
            shrink = ProgressiveShrink(stages: [op], config: config, workingDirectory: io.output, temperature: training.temperature,
                                       alpha: training.alpha, hiddenWeight: hiddenWeight)
        }
        _ = try shrink.plan(try Checkpoint(folder: io.model))     // refuse an impossible schedule before reading data
        let (parts, cache) = try GrowTrainingOptions.components(config)
        defer { try? FileManager.default.removeItem(at: cache) }
        let handle: FileHandle = io.json ? .standardError : .standardOutput
        let reports = try shrink.run(teacher: io.model, data: parts.data) { stage in
            if !io.json { say("stage \(stage) of \(shrink.stages.count): inherit from and distill by the previous model") }
            return [ProgressPrinter(totalSteps: config.steps, every: config.logEvery, handle: handle)]
        }
        if io.json { try printJSON(reports); return }
        for (i, r) in reports.enumerated() {
            say("stage \(i + 1): \(r.layers) layers, hidden \(r.hiddenSize), \(Format.count(r.parameters)) parameters"
                + (r.initialValidationLoss.map { String(format: ", validation %.4f", $0) } ?? "")
                + (r.validationLoss.map { String(format: " → %.4f after %d steps", $0, r.steps) } ?? "") + ": \(r.path)")
        }
    }
}

struct GrowVocabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocab",
        abstract: "Add tokens (old ids kept) — given ones, or BPE merges learned on new text — and initialize their embedding and head rows.",
        discussion: """
            Tokens: --tokens / --tokens-file add whole strings (tokenizer.json added_tokens); --train-merges FILE \
            --new-tokens K learns up to K new BPE merges on FILE on top of the model's tokenizer.json and appends \
            them after the old ids (old ids and merges unchanged).
            Rows: mean (of all rows), subpiece (mean of the old sub-pieces), gaussian (sample of N(μ, Σ) of the rows), \
            cw2v (learned convex weights, skip-gram on --corpus or the --train-merges text), ofa (SVD coordinates of \
            similar old tokens: --ofa-vectors word vectors if given, else character n-gram overlap).
            """)
    @OptionGroup var io: GrowIO
    @Option(help: "New tokens, comma-separated.") var tokens: String?
    @Option(help: "A file with one new token per line.") var tokensFile: String?
    @Option(help: "Learn new BPE merges on this text file (one text per line) and add their tokens.") var trainMerges: String?
    @Option(help: "With --train-merges: how many tokens to add (at most).") var newTokens: Int?
    @Option(help: "With --train-merges: pairs seen fewer times are never merged.") var minFrequency = 2
    @Option(help: "mean, subpiece (alias: pieces), gaussian, cw2v or ofa.") var `init` = "mean"
    @Option(help: "Seed for --init gaussian and cw2v.") var seed: UInt64 = 0
    @Option(help: "--init cw2v: text file (one text per line) to learn the weights on (default: the --train-merges file).") var corpus: String?
    @Option(help: "--init cw2v: Adam steps.") var cw2vSteps = 300
    @Option(help: "--init cw2v: context window.") var cw2vWindow = 3
    @Option(help: "--init ofa: factorization rank (default: min(V, C)).") var ofaRank: Int?
    @Option(help: "--init ofa: number of similar old tokens averaged.") var ofaNeighbours = 10
    @Option(help: "--init ofa: word vectors (word2vec/fastText text format) for the similarity.") var ofaVectors: String?

    static func lines(_ path: String, option: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError("cannot read \(option) \(path)") }
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw CLIError("\(option) \(path) holds no text") }
        return lines
    }

    func run() throws {
        let given = [tokens != nil, tokensFile != nil, trainMerges != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --tokens, --tokens-file or --train-merges") }
        if trainMerges == nil && newTokens != nil { throw ValidationError("--new-tokens goes with --train-merges") }
        let known = ["mean", "subpiece", "pieces", "gaussian", "cw2v", "ofa"]
        guard known.contains(`init`) else { throw ValidationError("--init must be mean, subpiece, gaussian, cw2v or ofa, got '\(`init`)'") }
        if `init` == "cw2v" && corpus == nil && trainMerges == nil {
            throw ValidationError("--init cw2v needs text to learn on: give --corpus (or use --train-merges)")
        }
        if ofaVectors != nil && `init` != "ofa" { throw ValidationError("--ofa-vectors goes with --init ofa") }
        if FileManager.default.fileExists(atPath: io.output) && !io.overwrite {
            throw CLIError("\(io.output) exists (pass --overwrite to replace it)")
        }

        let source = try Checkpoint(folder: io.model)
        let v = source.vocabularySize
        let oldTokenizer = try source.extraFiles["tokenizer.json"].map { try Tokenizer(jsonData: $0) }
        var op: VocabularyExpansion
        if let trainMerges {
            guard let k = newTokens, k >= 1 else { throw ValidationError("--train-merges needs --new-tokens K with K >= 1") }
            guard let base = source.extraFiles["tokenizer.json"] else { throw CLIError("--train-merges needs \(io.model)/tokenizer.json") }
            let ext = try BPETrainer(vocabularySize: 0, minimumFrequency: minFrequency)
                .extending(base, on: try Self.lines(trainMerges, option: "--train-merges"), addingTokens: k, firstID: v)
            if !io.json && ext.newTokens.count < k {
                print("learned \(ext.newTokens.count) of \(k) merges (no other pair occurs \(minFrequency)+ times)")
            }
            op = VocabularyExpansion(extension: ext)
        } else {
            let list = try tokens.map { $0.split(separator: ",").map(String.init) }
                ?? Self.lines(tokensFile!, option: "--tokens-file")
            op = VocabularyExpansion(tokens: list.filter { !$0.isEmpty })
        }
        let k = op.tokens.count
        switch `init` {
        case "mean": op.initializer = MeanInitializer()
        case "subpiece", "pieces": op.initializer = SubPieceMeanInitializer()
        case "gaussian": op.initializer = GaussianInitializer(seed: seed)
        case "cw2v":
            guard let data = try op.grownTokenizerJSON(source) else { throw CLIError("--init cw2v needs \(io.model)/tokenizer.json") }
            let grown = try Tokenizer(jsonData: data)
            let text = try Self.lines(corpus ?? trainMerges!, option: corpus == nil ? "--train-merges" : "--corpus")
            op.initializer = CW2VInitializer(corpus: text.map { grown.encode($0, addSpecialTokens: false).ids }, window: cw2vWindow,
                                             steps: cw2vSteps, seed: seed)
        default:
            guard let old = oldTokenizer else { throw CLIError("--init ofa needs \(io.model)/tokenizer.json") }
            let specials = Set(old.specialAndAddedTokens.filter(\.special).map(\.id))
            // Merge tokens are spelled like the old vocabulary; added tokens are plain text, so compare decoded text.
            let merges = op.mergesExtension != nil
            let oldStrings = (0..<v).map { id in
                specials.contains(id) ? "" : (merges ? old.token(forID: id) : old.decode([id])) ?? ""
            }
            var similarity = OFAInitializer.Similarity.characterNGrams
            if let ofaVectors {
                let words = try OFAInitializer.readWordVectors(path: ofaVectors)
                let grown = try op.grownTokenizerJSON(source).map { try Tokenizer(jsonData: $0) } ?? old
                let vectors = OFAInitializer.subwordVectors(words: words, tokenize: { grown.encode($0, addSpecialTokens: false).ids },
                                                            count: v + k)
                let d = vectors.count / (v + k)
                similarity = .staticVectors(old: Array(vectors[..<(v * d)]), new: Array(vectors[(v * d)...]), dimension: d)
            }
            op.initializer = OFAInitializer(oldTokens: oldStrings, similarity: similarity, rank: ofaRank, neighbours: ofaNeighbours)
        }
        try io.run(op, source: source)
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Checks on models.", subcommands: [CheckPreservedCommand.self])
}

struct CheckPreservedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preserved",
        abstract: "Compare a model with its grown child: max |Δ logit| and mean KL(before ‖ after) over a text's tokens.")
    @Option(help: "The original HF folder.") var before: String
    @Option(help: "The grown HF folder.") var after: String
    @Option(help: "A text file, tokenized with --before's tokenizer (or --tokenizer).") var file: String?
    @Option(help: "Token ids instead of a file, e.g. \"1,5,17\".") var ids: String?
    @Option(help: "tokenizer.json or a folder holding one (default: --before).") var tokenizer: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard (file == nil) != (ids == nil) else { throw ValidationError("give exactly one of --file or --ids") }
        let a = try Checkpoint(folder: before), b = try Checkpoint(folder: after)
        var tokens: [Int]
        if let ids {
            tokens = try parseInts(ids, option: "--ids")
        } else {
            guard let file, let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("cannot read --file \(file ?? "")") }
            tokens = try TokenizerLoading.load(path: tokenizer ?? before).encode(text, addSpecialTokens: false).ids
        }
        let v = min(a.vocabularySize, b.vocabularySize)
        if let bad = tokens.first(where: { $0 < 0 || $0 >= v }) { throw CLIError("token id \(bad) is outside the vocabulary (\(v))") }
        let window = min(a.maxPositions, b.maxPositions)
        let sequences = stride(from: 0, to: tokens.count, by: window).map { Array(tokens[$0..<min($0 + window, tokens.count)]) }
        let r = try PreservationCheck.compare(before: a, after: b, sequences: sequences)
        if json { try printJSON(r); return }
        print(String(format: "max |Δ %@|: %.3g over %d positions", r.output == "logits" ? "logit" : "hidden", r.maxAbsDifference, r.positions))
        if let kl = r.meanKL, let mx = r.maxKL { print(String(format: "KL(before ‖ after): mean %.3g nats, max %.3g nats", kl, mx)) }
    }
}
