// Watching a run in the terminal: on a TTY a one-line bar redrawn with a carriage return
// (step, loss, tokens/s, ETA); otherwise (a pipe, a log file, CI) a plain line every `logEvery`
// steps. Evaluations and checkpoints always get their own line.

import Foundation

/// Prints progress to a file handle (standard output by default).
public final class ProgressPrinter: TrainerCallback {
    let handle: FileHandle
    let isTerminal: Bool
    let totalSteps: Int
    let every: Int
    var smoothedTokensPerSecond = 0.0
    var barShown = false

    /// - Parameters:
    ///   - totalSteps: The run's target step.
    ///   - every: Steps between plain lines when not on a terminal.
    ///   - handle: Where to print.
    public init(totalSteps: Int, every: Int, handle: FileHandle = .standardOutput) {
        self.handle = handle; self.totalSteps = totalSteps; self.every = max(1, every)
        isTerminal = isatty(handle.fileDescriptor) != 0
    }

    func write(_ s: String) { handle.write(Data(s.utf8)) }

    public func trainer(_ trainer: Trainer, didStep m: StepMetrics) {
        let tps = m.seconds > 0 ? Double(m.tokens) / m.seconds : 0
        smoothedTokensPerSecond = smoothedTokensPerSecond == 0 ? tps : 0.9 * smoothedTokensPerSecond + 0.1 * tps
        let done = trainer.state.history.count
        let average = done > 0 ? trainer.state.elapsed / Double(done) : 0
        let eta = Format.duration(average * Double(max(0, totalSteps - m.step)))
        let stats = String(format: "loss %.4f  lr %.2e  ", m.loss, m.learningRate)
            + "\(Format.count(Int(smoothedTokensPerSecond))) tok/s  ETA \(eta)"
        if isTerminal {
            let width = 24
            let filled = min(width, width * m.step / max(1, totalSteps))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write("\r\u{1B}[2Kstep \(m.step)/\(totalSteps) \(bar) \(stats)")
            barShown = true
        } else if m.step % every == 0 || m.step == totalSteps || m.step == 1 {
            write("step \(m.step)/\(totalSteps)  \(stats)\n")
        }
    }

    func line(_ s: String) {
        if isTerminal && barShown { write("\r\u{1B}[2K") }
        write(s + "\n")
        barShown = false
    }

    public func trainer(_ trainer: Trainer, didEvaluate e: EvalMetrics) {
        line(String(format: "eval  step %d  val loss %.4f  perplexity %.3f", e.step, e.loss, e.perplexity))
    }

    public func trainer(_ trainer: Trainer, didSaveCheckpoint url: URL) {
        if !isTerminal { line("checkpoint \(url.lastPathComponent)") }
    }

    /// Ends the bar's line.
    public func finish() { if isTerminal && barShown { write("\n"); barShown = false } }
}
