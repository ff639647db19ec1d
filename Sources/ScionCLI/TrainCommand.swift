// `scion train`: pretrain, continue pretraining or fine-tune from a YAML config, or resume a run.
// Wraps `TrainingConfig.load(file:overrides:)`, `TrainingRun.start(config:overwrite:)` /
// `TrainingRun.resume(directory:)` and `TrainingRun.train()`.

import ArgumentParser
import Foundation
import ScionTraining

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a language model from a YAML config, or resume a run.",
        discussion: """
        Examples:
          scion train --config Examples/demo.yaml
          scion train --config run.yaml --set steps=2000 --set optimizer.weightDecay=0.1
          scion train --resume runs/demo
        The run folder gets config.json, metrics.jsonl, checkpoints/, model/ (an HF folder),
        summary.json and report.html.
        """)

    @Option(help: "A YAML training config.") var config: String?
    @Option(name: .customLong("set"), help: "Override a config key: --set optimizer.beta2=0.95 (repeatable).")
    var overrides: [String] = []
    @Option(help: "The run folder (overrides the config's `output`).") var output: String?
    @Option(help: "Resume the run in this folder from its latest checkpoint.") var resume: String?
    @Flag(help: "Replace a run folder that already holds a run.") var overwrite = false
    @Flag(help: "Print the final summary as JSON (progress goes to standard error).") var json = false
    @Option(help: .hidden) var stepDelayMs: Int = 0

    func validate() throws {
        if config == nil && resume == nil { throw ValidationError("give --config FILE or --resume DIR") }
        if config != nil && resume != nil { throw ValidationError("give --config or --resume, not both") }
        if resume != nil && (!overrides.isEmpty || output != nil || overwrite) {
            throw ValidationError("--resume continues a run exactly as configured; --set, --output and --overwrite do not apply")
        }
    }

    func run() throws {
        let run: TrainingRun
        do {
            if let resume {
                run = try TrainingRun.resume(directory: URL(fileURLWithPath: resume))
            } else {
                var sets = overrides
                if let output { sets.append("output=\(output)") }
                let cfg = try TrainingConfig.load(file: config!, overrides: sets)
                run = try TrainingRun.start(config: cfg, overwrite: overwrite)
            }
        } catch let e as TrainingError {
            throw CLIError(e.description)
        }
        let progress = ProgressPrinter(totalSteps: run.config.steps, every: run.config.logEvery,
                                       handle: json ? .standardError : .standardOutput)
        run.trainer.callbacks.append(progress)
        if stepDelayMs > 0 { run.trainer.callbacks.append(Delay(milliseconds: stepDelayMs)) }
        let resumedAt = run.trainer.state.step
        if !json {
            let m = run.trainer.model
            say("training \(type(of: m)) (\(Format.count(m.numberOfParameters)) parameters, "
                  + "\(Format.count(run.trainer.trainableParameterCount)) trainable) for \(run.config.steps) steps"
                  + (resumedAt > 0 ? ", resuming at step \(resumedAt)" : "") + " → \(run.directory.path)")
        }
        let summary: RunSummary
        do {
            summary = try run.train()
        } catch let e as TrainingError {
            progress.finish()
            throw CLIError(e.description)
        }
        progress.finish()
        if json {
            try printJSON(summary)
        } else {
            say(summary.text)
            say("model:  \(run.directory.appendingPathComponent("model").path)")
            say("report: \(run.directory.appendingPathComponent("report.html").path)")
        }
    }
}

/// Slows each step (hidden --step-delay-ms), so tests can interrupt a run mid-way.
final class Delay: TrainerCallback {
    let milliseconds: Int
    init(milliseconds: Int) { self.milliseconds = milliseconds }
    func trainer(_ trainer: Trainer, didStep metrics: StepMetrics) { usleep(UInt32(milliseconds * 1000)) }
}

/// Writes a line to standard output unbuffered, in order with the progress printer's writes.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
