// `scion grow learngene`: instantiate any depth from a learngene (`expand`, the default: TLEG
// --depth from a 2-layer gene, SWS --profile from an S-layer gene, or --extract a TLEG gene by least
// squares), or train a gene by distillation from a teacher (`train`: TLEG, Xia et al. 2024
// "Transformer as Linear Expansion of Learngene"; SWS, "Exploring Learngene via Stage-wise Weight
// Sharing"). Wraps LearngeneExpansion and LearngeneTraining.

import ArgumentParser
import Foundation
import ScionGrowth
import ScionTraining

struct GrowLearngeneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learngene",
        abstract: "Learngenes (TLEG, SWS): instantiate any depth from a gene (expand, the default) or train a gene by distillation (train).",
        subcommands: [GrowLearngeneExpandCommand.self, GrowLearngeneTrainCommand.self],
        defaultSubcommand: GrowLearngeneExpandCommand.self)
}

struct GrowLearngeneExpandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expand",
        abstract: "Instantiate any depth from a learngene (TLEG: --depth from a 2-layer gene; SWS: --profile), or --extract a TLEG gene.")
    @OptionGroup var io: GrowIO
    @Option(help: "TLEG: the depth L of the model built from a 2-layer gene (θ_A, θ_B).") var depth: Int?
    @Option(help: "SWS: layers per stage, e.g. \"2,3,4\" for a 3-layer gene.") var profile: String?
    @Flag(help: "Fit a TLEG gene (θ_A, θ_B) to --model by least squares over depth instead.") var extract = false

    func run() throws {
        guard [depth != nil, profile != nil, extract].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --depth, --profile or --extract")
        }
        if extract {
            if FileManager.default.fileExists(atPath: io.output) && !io.overwrite {
                throw CLIError("\(io.output) exists (pass --overwrite to replace it)")
            }
            try LearngeneExpansion.extractGene(from: try Checkpoint(folder: io.model)).save(to: io.output, overwrite: io.overwrite)
            print("wrote \(io.output)")
            return
        }
        // A gene trained by `learngene train` names its method: refuse the other expansion.
        if let trained = try? LearngeneModel.readMethod(folder: io.model) {
            switch trained {
            case .tleg where profile != nil:
                throw CLIError("\(io.model) is a TLEG gene (θ_A, θ_B); expand it with --depth, not --profile")
            case .sws(let p) where depth != nil:
                throw CLIError("\(io.model) is an SWS gene with \(p.count) stages; expand it with --profile d1,…,d\(p.count), not --depth")
            default: break
            }
        }
        if let depth { return try io.run(LearngeneExpansion(.tleg(depth: depth))) }
        try io.run(LearngeneExpansion(.sws(profile: try parseInts(profile!, option: "--profile"))))
    }
}

struct GrowLearngeneTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a learngene by distillation from a teacher: TLEG (θ_A + (l/L)·θ_B) or SWS (one shared layer per stage).",
        discussion: """
        Examples:
          scion grow learngene train --teacher runs/big/model --data corpus.txt --method tleg --depth 8 --steps 300 --output gene
          scion grow learngene train --teacher T --data D --method sws --stages 3 --output gene      (3 stages over T's depth)
          scion grow learngene train --teacher T --data D --method sws --profile 2,2,2 --output gene
        Then: scion grow learngene --model gene --output six --depth 6   (TLEG)  or  --profile 2,2,2  (SWS).
        """)
    @Option(help: "The teacher: an HF folder (GPT-2 or Llama family) with a tokenizer.json, or give --tokenizer.") var teacher: String
    @Option(help: "A text file to distill on (repeatable); documents are blank-line-separated blocks.") var data: [String] = []
    @Option(help: "tleg or sws.") var method: String
    @Option(help: "Layers of the auxiliary model (default: the teacher's).") var depth: Int?
    @Option(help: "SWS: the number of stages, splitting --depth as evenly as possible.") var stages: Int?
    @Option(help: "SWS: the auxiliary model's layers per stage, e.g. \"2,2,2\" (instead of --stages).") var profile: String?
    @Option(help: "The gene folder to write.") var output: String
    @OptionGroup var training: GrowTrainingOptions
    @Flag(help: "Replace --output if it exists.") var overwrite = false
    @Flag(help: "Print the report as JSON (progress goes to standard error).") var json = false

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("give at least one --data FILE") }
        if let depth, depth < 1 { throw ValidationError("--depth must be at least 1") }
        switch method {
        case "tleg":
            guard stages == nil && profile == nil else { throw ValidationError("--stages and --profile are for --method sws; TLEG takes --depth") }
        case "sws":
            guard (stages == nil) != (profile == nil) else { throw ValidationError("--method sws needs exactly one of --stages or --profile") }
            if profile != nil && depth != nil { throw ValidationError("--profile fixes the depth; drop --depth") }
            if let stages, stages < 1 { throw ValidationError("--stages must be at least 1") }
        default:
            throw ValidationError("--method must be tleg or sws, got '\(method)'")
        }
        try training.check()
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw CLIError("\(output) exists (pass --overwrite to replace it)")
        }
        let teacherLayers = try Checkpoint(folder: teacher).layerCount
        let m: LearngeneModel.Method
        if method == "tleg" {
            m = .tleg(depth: depth ?? teacherLayers)
        } else if let profile {
            m = .sws(profile: try parseInts(profile, option: "--profile"))
        } else {
            let total = depth ?? teacherLayers, s = stages!
            guard total >= s else {
                throw CLIError("learngene: constraint 'depth >= stages' failed: \(s) stages need at least \(s) layers, got depth \(total)")
            }
            m = .sws(profile: (0..<s).map { total / s + ($0 < total % s ? 1 : 0) })
        }
        try m.validate()
        let config = try training.config(teacher: teacher, data: data, output: output)
        let (parts, cache) = try GrowTrainingOptions.components(config)
        defer { try? FileManager.default.removeItem(at: cache) }
        let progress = ProgressPrinter(totalSteps: config.steps, every: config.logEvery, handle: json ? .standardError : .standardOutput)
        if !json { say("training a \(m) learngene from \(teacher) by distillation (T = \(training.temperature), alpha = \(training.alpha))") }
        let (_, report) = try LearngeneTraining(method: m, config: config, temperature: training.temperature, alpha: training.alpha,
                                                seed: training.seed)
            .run(teacher: teacher, teacherModel: parts.model, data: parts.data, output: output, callbacks: [progress])
        progress.finish()
        if json { try printJSON(report); return }
        say("gene: \(report.geneParameters) parameters stored (the \(m.depth)-layer auxiliary model has \(report.auxiliaryParameters))")
        if let v = report.validationLoss { say(String(format: "validation cross-entropy of the auxiliary model: %.4f", v)) }
        say("wrote \(output); instantiate with: scion grow learngene --model \(output) --output OUT "
            + (m.geneLayers == 2 && method == "tleg" ? "--depth L" : "--profile " + Array(repeating: "d", count: m.geneLayers).joined(separator: ",")))
    }
}
