// `scion finetune`: parameter-efficient fine-tuning of a pretrained causal LM with any method in
// ScionAdapters' registry. Builds a training config (from --config, or defaults for the data and
// schedule), attaches the adapter before the trainer is built, drives per-step methods (AdaLoRA,
// IncreLoRA, DyLoRA) through `AdapterTraining.hooks`, and writes, beside the run's files,
// adapter/ in PEFT's format and model/ as the merged model (when the method can be merged), both
// with the lineage manifest (a "train" step from the base model naming the adapter method).

import ArgumentParser
import Foundation
import ScionAdapters
import ScionCheckpoint
import ScionModels
import ScionTraining

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a model with an adapter (LoRA, DoRA, IA3, AdaLoRA, …) and save it in PEFT's format.",
        discussion: """
        Examples:
          scion finetune --model SmolLM2-135M --method lora --data train.txt --r 8 --steps 200
          scion finetune --model M --method adalora --data D --config run.yaml --target q_proj,v_proj
        Methods: lora, dora, ia3, adalora, dylora, svfit, bone, bat, increlora, compacter, said, dsee.
        """)

    @Option(help: "The base model: an HF folder or a GGUF file (QLoRA: adapters on quantized weights).") var model: String
    @Option(help: "The adapter method.") var method: String
    @Option(help: "A text file (one document per blank-line-separated block, as `scion train`).") var data: String?
    @Option(help: "A YAML training config (its `model.from` and `trainable` are replaced).") var config: String?
    @Option(help: "The rank (or the method's size: bottleneck, intrinsic dimension).") var r = 8
    @Option(help: "Comma-separated target module names (default: the architecture's).") var target: String?
    @Option(help: "Training steps (overrides the config).") var steps: Int?
    @Option(name: .customLong("learning-rate"), help: "Learning rate (without --config).") var learningRate = 1e-3
    @Option(help: "The run folder.") var output = "runs/finetune"
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).") var overrides: [String] = []
    @Flag(help: "Replace a run folder that already holds a run.") var overwrite = false
    @Flag(help: "Print the final summary as JSON.") var json = false

    func validate() throws {
        guard allAdapterMethods.contains(where: { $0.name == method }) else {
            throw ValidationError("unknown --method \(method); choose one of \(allAdapterMethods.map { $0.name }.joined(separator: ", "))")
        }
        guard r >= 1 else { throw ValidationError("--r must be at least 1") }
        guard data != nil || config != nil else { throw ValidationError("give --data FILE or --config FILE") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        let m = allAdapterMethods.first { $0.name == method }!
        let targets = target.map { TargetModules.names($0.split(separator: ",").map(String.init)) }
        let adapterConfig = m.makeConfig(r: r, targetModules: targets)
        var sets = overrides + ["model.from=\(model)", "output=\(output)"]
        if let steps { sets.append("steps=\(steps)") }
        var cfg: TrainingConfig
        do {
            if let config {
                cfg = try TrainingConfig.load(file: config, overrides: sets)
                if let data { cfg.data.sources = [SourceConfig(path: data)]; cfg.data.synthetic = nil }
            } else {
                let yaml = """
                model: {from: \(model)}
                data: {sources: [{path: \(data!)}], sequenceLength: 64, batchSize: 4}
                schedule: {type: constant, learningRate: \(learningRate)}
                steps: \(steps ?? 100)
                logEvery: 10
                """
                cfg = try TrainingConfig.load(yaml: yaml, overrides: sets)
            }
        } catch let e as TrainingError { throw CLIError(e.description) }
        var report = ""
        let run: TrainingRun
        do {
            run = try TrainingRun.start(config: cfg, overwrite: overwrite) { model in
                try Injection.addAdapter(adapterConfig, to: model)
                report = Injection.trainableReport(model).description
            }
        } catch let e as TrainingError {
            throw CLIError(e.description)
        } catch let e as AdapterError {
            throw CLIError(e.description)
        }
        run.trainer.origin.parameters["adapter"] = method
        run.trainer.origin.parameters["r"] = "\(r)"
        for hook in try AdapterTraining.hooks(for: run.trainer.model, seed: cfg.seed) {
            run.trainer.stepHooks.beforeStep.append { hook.beforeForward(step: $0) }
            run.trainer.stepHooks.extraLoss.append { hook.regularization() }
            run.trainer.stepHooks.afterBackward.append { hook.afterBackward(step: $0, gradients: $1) }
        }
        let progress = ProgressPrinter(totalSteps: run.config.steps, every: run.config.logEvery,
                                       handle: json ? .standardError : .standardOutput)
        run.trainer.callbacks.append(progress)
        if !json { say("fine-tuning \(model) with \(method): \(report) → \(run.directory.path)") }
        let summary: RunSummary
        do { summary = try run.train() } catch let e as TrainingError {
            progress.finish(); throw CLIError(e.description)
        }
        progress.finish()
        let adapterDir = run.directory.appendingPathComponent("adapter").path
        try PEFTFormat.save(run.trainer.model, to: adapterDir, baseModelNameOrPath: model)
        let lineage = run.trainer.lineage()
        try lineage.jsonData().write(to: URL(fileURLWithPath: adapterDir).appendingPathComponent(Lineage.fileName), options: .atomic)
        // model/: the merged weights, a plain HF folder (kept unmerged with the adapter's keys when it cannot merge).
        do {
            try Injection.mergeAndUnload(run.trainer.model)
            try CheckpointStore.saveModel(run.trainer.model, to: run.directory.appendingPathComponent("model"),
                                          tokenizerJSON: run.tokenizer.jsonData(), lineage: lineage)
        } catch let e as AdapterError {
            guard case .notMergeable = e else { throw CLIError(e.description) }
        }
        if json {
            try printJSON(summary)
        } else {
            say(summary.text)
            say("adapter: \(adapterDir)")
        }
    }
}
