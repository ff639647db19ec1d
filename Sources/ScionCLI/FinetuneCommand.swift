// `scion finetune`: parameter-efficient fine-tuning of a pretrained causal LM with any method in
// ScionAdapters' registry. Builds a training config (from --config, or defaults for the data and
// schedule), attaches the adapter before the trainer is built, drives per-step methods (training mode
// for `lora_dropout`, AdaLoRA, IncreLoRA, DyLoRA) through `AdapterTraining.hooks`, saves their state
// in every checkpoint, and writes, beside the run's files, adapter/ in PEFT's format and model/ as the
// merged model (when the method can be merged), both with the lineage manifest (a "train" step from
// the base model naming the adapter method).
// `--resume DIR` continues a killed run from its latest checkpoint exactly: the adapter is rebuilt from
// DIR/finetune.json, then weights, optimizer moments, data position and the methods' schedules
// (AdaLoRA's EMAs, IncreLoRA's grown ranks) come back from the checkpoint; dropout masks and DyLoRA's
// ranks derive from (seed, step), so the resumed steps equal the uninterrupted ones.

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
          scion finetune --model M --method increlora --data D --adapter-set deltaT=5 --adapter-set top_h=1
          scion finetune --resume runs/finetune        (continue a killed run from its last checkpoint)
        Methods: lora, dora, ia3, adalora, dylora, svfit, bone, bat, increlora, compacter, said, dsee.
        """)

    @Option(help: "The base model: an HF folder or a GGUF file (QLoRA: adapters on quantized weights).") var model: String?
    @Option(help: "The adapter method.") var method: String?
    @Option(help: "A text file (one document per blank-line-separated block, as `scion train`).") var data: String?
    @Option(help: "A YAML training config (its `model.from` and `trainable` are replaced).") var config: String?
    @Option(help: "The rank (or the method's size: bottleneck, intrinsic dimension).") var r = 8
    @Option(help: "Comma-separated target module names (default: the architecture's; embed_tokens/wte adapt the embedding).")
    var target: String?
    @Option(help: "lora_dropout for lora, dora and adalora: dropout on the adapter input during training.") var dropout: Double?
    @Option(name: .customLong("adapter-set"),
            help: "Set an adapter config key as PEFT names it, e.g. deltaT=5, total_step=200, lora_dropout=0.1 (repeatable).")
    var adapterOverrides: [String] = []
    @Option(help: "Training steps (overrides the config).") var steps: Int?
    @Option(name: .customLong("learning-rate"), help: "Learning rate (without --config).") var learningRate = 1e-3
    @Option(help: "The run folder.") var output = "runs/finetune"
    @Option(name: .customLong("set"), help: "Override a config key (repeatable).") var overrides: [String] = []
    @Option(help: "Continue the fine-tuning run in this folder from its latest checkpoint.") var resume: String?
    @Option(name: .customLong("stop-after"),
            help: "Stop after this step with a checkpoint, as if killed there (continue with --resume).") var stopAfter: Int?
    @Flag(help: "Replace a run folder that already holds a run.") var overwrite = false
    @Flag(help: "Print the final summary as JSON.") var json = false

    /// What `--resume` needs besides the training config: the base, the method and its config.
    struct RunRecord: Codable {
        var model: String
        var method: String
        var adapterConfig: String
        enum CodingKeys: String, CodingKey { case model, method, adapterConfig = "adapter_config" }
    }

    static let recordFile = "finetune.json"

    func validate() throws {
        if let stopAfter, stopAfter < 1 { throw ValidationError("--stop-after must be at least 1") }
        if resume != nil {
            guard model == nil, method == nil, data == nil, config == nil, target == nil, dropout == nil, steps == nil,
                  overrides.isEmpty, adapterOverrides.isEmpty, !overwrite else {
                throw ValidationError("--resume continues a run exactly as configured; give only --resume DIR (and --stop-after, --json)")
            }
            return
        }
        guard let method else { throw ValidationError("give --method (or --resume DIR)") }
        guard model != nil else { throw ValidationError("give --model (or --resume DIR)") }
        guard allAdapterMethods.contains(where: { $0.name == method }) else {
            throw ValidationError("unknown --method \(method); choose one of \(allAdapterMethods.map { $0.name }.joined(separator: ", "))")
        }
        guard r >= 1 else { throw ValidationError("--r must be at least 1") }
        guard data != nil || config != nil else { throw ValidationError("give --data FILE or --config FILE") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let dropout {
            guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1)") }
            guard ["lora", "dora", "adalora"].contains(method) else { throw ValidationError("--dropout applies to lora, dora and adalora") }
        }
    }

    /// The adapter config from the command line (`--adapter-set` keys applied to its JSON form and
    /// decoded again, so any field the method reads can be set; the config's own rules then apply).
    func makeAdapterConfig(_ m: any AdapterMethod.Type) throws -> any AdapterConfig {
        let targets = target.map { TargetModules.names($0.split(separator: ",").map(String.init)) }
        var c = m.makeConfig(r: r, targetModules: targets)
        if let dropout {
            if var l = c as? LoRA.Config { l.loraDropout = dropout; c = l }
            if var a = c as? AdaLoRA.Config { a.loraDropout = dropout; c = a }
        }
        guard !adapterOverrides.isEmpty else { return c }
        guard var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any] else { return c }
        for item in adapterOverrides {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw CLIError("--adapter-set \(item): expected KEY=VALUE")
            }
            let key = String(item[..<eq]), text = String(item[item.index(after: eq)...])
            // A JSON value (number, true/false, null, list, object) or else a string.
            object[key] = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        }
        let decoded: any AdapterConfig
        do { decoded = try m.decodeConfig(JSONSerialization.data(withJSONObject: object)) } catch {
            throw CLIError("--adapter-set: the \(m.name) config does not accept these values: \(error)")
        }
        // Decoding ignores unknown keys (PEFT files carry many); a typo here must not pass silently.
        let known = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded)) as? [String: Any]) ?? [:]
        for item in adapterOverrides {
            let key = String(item[..<item.firstIndex(of: "=")!])
            guard known[key] != nil else { throw CLIError("--adapter-set \(key): not a field of the \(m.name) config") }
        }
        return decoded
    }

    /// Registers the adapter's per-step hooks and their checkpoint state with the trainer.
    static func wire(_ trainer: Trainer, seed: UInt64) throws {
        for hook in try AdapterTraining.hooks(for: trainer.model, seed: seed) {
            trainer.stepHooks.beforeStep.append { hook.beforeForward(step: $0) }
            trainer.stepHooks.beforeMicroBatch.append { hook.beforeMicroBatch(step: $0, index: $1) }
            trainer.stepHooks.extraLoss.append { hook.regularization() }
            trainer.stepHooks.afterBackward.append { hook.afterBackward(step: $0, gradients: $1) }
            if let name = hook.checkpointName {
                trainer.checkpointExtras.append(CheckpointExtra(name: name, save: { try hook.checkpointState() },
                                                                restore: { try hook.restoreCheckpointState($0) }))
            }
        }
    }

    func run() throws {
        let run: TrainingRun
        let record: RunRecord
        var report = ""
        do {
            if let resume {
                let dir = URL(fileURLWithPath: resume)
                guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(Self.recordFile).path) else {
                    throw CLIError("\(resume) holds no fine-tuning run to resume (no \(Self.recordFile))")
                }
                record = try JSONDecoder().decode(RunRecord.self, from: data)
                guard let m = allAdapterMethods.first(where: { $0.name == record.method }) else {
                    throw CLIError("\(resume)/\(Self.recordFile): unknown method \(record.method)")
                }
                let adapterConfig = try m.decodeConfig(Data(record.adapterConfig.utf8))
                run = try TrainingRun.resume(directory: dir, prepareModel: { model in
                    try Injection.addAdapter(adapterConfig, to: model)
                    report = Injection.trainableReport(model).description
                }, prepareTrainer: { try Self.wire($0, seed: $0.config.seed) })
                if !json { say("resuming \(record.method) fine-tuning of \(record.model) at step \(run.trainer.state.step) → \(dir.path)") }
            } else {
                let m = allAdapterMethods.first { $0.name == method }!
                let adapterConfig = try makeAdapterConfig(m)
                let cfg = try trainingConfig()
                run = try TrainingRun.start(config: cfg, overwrite: overwrite) { model in
                    try Injection.addAdapter(adapterConfig, to: model)
                    report = Injection.trainableReport(model).description
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                record = RunRecord(model: model!, method: m.name,
                                   adapterConfig: String(decoding: try encoder.encode(adapterConfig), as: UTF8.self))
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                try encoder.encode(record).write(to: run.directory.appendingPathComponent(Self.recordFile), options: .atomic)
                try Self.wire(run.trainer, seed: cfg.seed)
                if !json { say("fine-tuning \(record.model) with \(record.method): \(report) → \(run.directory.path)") }
            }
        } catch let e as TrainingError {
            throw CLIError(e.description)
        } catch let e as AdapterError {
            throw CLIError(e.description)
        }
        run.trainer.origin.parameters["adapter"] = record.method
        run.trainer.origin.parameters["adapter_config"] = record.adapterConfig
        let progress = ProgressPrinter(totalSteps: run.config.steps, every: run.config.logEvery,
                                       handle: json ? .standardError : .standardOutput)
        run.trainer.callbacks.append(progress)
        if let stopAfter, stopAfter < run.config.steps {
            do { try run.trainer.run(until: stopAfter) } catch let e as TrainingError {
                progress.finish(); throw CLIError(e.description)
            }
            progress.finish()
            if json {
                struct Stopped: Encodable { var stopped_at: Int, resume: String }
                try printJSON(Stopped(stopped_at: run.trainer.state.step, resume: run.directory.path))
            } else {
                say("stopped after step \(run.trainer.state.step); continue with: scion finetune --resume \(run.directory.path)")
            }
            return
        }
        let summary: RunSummary
        do { summary = try run.train() } catch let e as TrainingError {
            progress.finish(); throw CLIError(e.description)
        }
        progress.finish()
        let adapterDir = run.directory.appendingPathComponent("adapter").path
        try PEFTFormat.save(run.trainer.model, to: adapterDir, baseModelNameOrPath: record.model)
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

    /// The training config from --config / --data and the overrides.
    func trainingConfig() throws -> TrainingConfig {
        var sets = overrides + ["model.from=\(model!)", "output=\(output)"]
        if let steps { sets.append("steps=\(steps)") }
        do {
            if let config {
                var cfg = try TrainingConfig.load(file: config, overrides: sets)
                if let data { cfg.data.sources = [SourceConfig(path: data)]; cfg.data.synthetic = nil }
                return cfg
            }
            let yaml = """
            model: {from: \(model!)}
            data: {sources: [{path: \(data!)}], sequenceLength: 64, batchSize: 4}
            schedule: {type: constant, learningRate: \(learningRate)}
            steps: \(steps ?? 100)
            logEvery: 10
            """
            return try TrainingConfig.load(yaml: yaml, overrides: sets)
        } catch let e as TrainingError { throw CLIError(e.description) }
    }
}
