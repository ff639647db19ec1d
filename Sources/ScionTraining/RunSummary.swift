// The run summary: losses and the accounting a user checks before scaling up (parameters, bytes of
// weights, gradients and optimizer state, an activation estimate, FLOPs, tokens, throughput).
// FLOPs follow Kaplan et al. 2020 (§2.1): ≈ 6·N per trained token (2N forward, 4N backward).

import Foundation
import ScionModels
import ScionNN
import ScionTensor

/// What a run did and what it costs.
public struct RunSummary: Codable, Equatable, Sendable {
    /// The run folder.
    public var output: String
    /// Optimizer steps done.
    public var steps: Int
    /// All parameters.
    public var parameters: Int
    /// Parameters that train.
    public var trainableParameters: Int
    /// Bytes of all weights.
    public var weightBytes: Int
    /// Bytes of the gradients (one per trainable weight).
    public var gradientBytes: Int
    /// Bytes of optimizer state (moments).
    public var optimizerStateBytes: Int
    /// Peak tensor bytes allocated during one training step beyond what was live before it
    /// (activations, logits and gradients), measured.
    public var activationBytes: Int
    /// Supervised tokens trained on.
    public var tokens: Int
    /// ≈ 6 · parameters · tokens.
    public var flops: Double
    /// Training seconds (excluding evaluation and checkpoints).
    public var seconds: Double
    /// Tokens per training second.
    public var tokensPerSecond: Double
    /// The first step's loss.
    public var initialLoss: Double?
    /// The last step's loss.
    public var finalLoss: Double?
    /// The last validation loss.
    public var validationLoss: Double?
    /// exp(validation loss).
    public var validationPerplexity: Double?
    /// The unigram entropy of the validation text (synthetic corpus), in nats per token.
    public var unigramEntropy: Double?

    static func make(trainer: Trainer, directory: URL, unigramEntropy: Double?) -> RunSummary {
        let model = trainer.model
        let parameters = model.numberOfParameters
        let trainable = trainer.trainableParameterCount
        let optimizerFloats = trainer.optimizer.state().parameters.values.reduce(0) { acc, p in
            acc + p.buffers.values.reduce(0) { $0 + $1.count }
        }
        let history = trainer.state.history
        let tokens = history.reduce(0) { $0 + $1.tokens }
        let seconds = trainer.state.elapsed
        let last = trainer.state.evaluations.last
        return RunSummary(
            output: directory.path, steps: trainer.state.step, parameters: parameters, trainableParameters: trainable,
            weightBytes: parameters * 4, gradientBytes: trainable * 4, optimizerStateBytes: optimizerFloats * 4,
            activationBytes: trainer.peakStepBytes, tokens: tokens, flops: 6 * Double(parameters) * Double(tokens),
            seconds: seconds, tokensPerSecond: seconds > 0 ? Double(tokens) / seconds : 0,
            initialLoss: history.first?.loss, finalLoss: history.last?.loss, validationLoss: last?.loss,
            validationPerplexity: last?.perplexity, unigramEntropy: unigramEntropy)
    }

    /// Rows for a table: (label, formatted value).
    public var rows: [(String, String)] {
        var r: [(String, String)] = [
            ("steps", "\(steps)"),
            ("parameters", Format.count(parameters)),
            ("trainable parameters", Format.count(trainableParameters)),
            ("weights", Format.bytes(weightBytes)),
            ("gradients", Format.bytes(gradientBytes)),
            ("optimizer state", Format.bytes(optimizerStateBytes)),
            ("activations (peak per step)", Format.bytes(activationBytes)),
            ("tokens", Format.count(tokens)),
            ("FLOPs (≈ 6·N·tokens)", String(format: "%.3g", flops)),
            ("training time", Format.duration(seconds)),
            ("throughput", "\(Format.count(Int(tokensPerSecond))) tokens/s"),
        ]
        if let l = initialLoss { r.append(("first train loss", String(format: "%.4f", l))) }
        if let l = finalLoss { r.append(("last train loss", String(format: "%.4f", l))) }
        if let l = validationLoss { r.append(("validation loss", String(format: "%.4f", l))) }
        if let p = validationPerplexity { r.append(("validation perplexity", String(format: "%.3f", p))) }
        if let u = unigramEntropy { r.append(("unigram entropy (baseline)", String(format: "%.4f", u))) }
        return r
    }

    /// The summary as aligned text lines.
    public var text: String {
        let width = rows.map { $0.0.count }.max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}

/// Human-readable numbers.
public enum Format {
    /// 1234567 → "1.23M".
    public static func count(_ n: Int) -> String {
        let d = Double(n)
        if d >= 1e9 { return String(format: "%.2fB", d / 1e9) }
        if d >= 1e6 { return String(format: "%.2fM", d / 1e6) }
        if d >= 1e4 { return String(format: "%.1fK", d / 1e3) }
        return "\(n)"
    }

    /// Bytes in KiB/MiB/GiB.
    public static func bytes(_ n: Int) -> String {
        let d = Double(n)
        if n >= 1 << 30 { return String(format: "%.2f GiB", d / Double(1 << 30)) }
        if n >= 1 << 20 { return String(format: "%.2f MiB", d / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.1f KiB", d / Double(1 << 10)) }
        return "\(n) B"
    }

    /// Seconds as "1h02m", "3m05s" or "12.3s".
    public static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        if s >= 3600 { return String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60) }
        if s >= 60 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
        return String(format: "%.1fs", s)
    }
}
