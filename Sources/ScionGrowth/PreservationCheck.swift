// The function-preservation checker (TECHNIQUES.md §3.1): run the model before and after an
// operator on the same tokens and report the largest absolute logit difference and the KL
// divergence KL(before ‖ after) of the next-token distributions. Models are built fresh from the
// checkpoints (or loaded from folders), never shared with the operator.

import Foundation
import ScionModels
import ScionNN
import ScionTensor

/// How far a grown model's outputs are from its parent's on one token sequence.
public struct PreservationReport: Codable, Sendable, Equatable {
    /// max |after − before| over all positions and compared output channels.
    public var maxAbsDifference: Double
    /// Mean over positions of KL(softmax(before) ‖ softmax(after)) in nats; nil for encoders
    /// without an LM head (their outputs are hidden states, not distributions).
    public var meanKL: Double?
    /// Largest per-position KL in nats (nil as ``meanKL``).
    public var maxKL: Double?
    /// Number of token positions compared.
    public var positions: Int
    /// What was compared: "logits" or "hidden_states" (the first min(C, C') channels of an encoder).
    public var output: String

    enum CodingKeys: String, CodingKey {
        case maxAbsDifference = "max_abs_difference", meanKL = "mean_kl", maxKL = "max_kl", positions, output
    }
}

/// Compares a model before and after growth.
public enum PreservationCheck {
    /// Compares two HF folders on `ids`, loading each model fresh through ScionModels.
    ///
    /// - Throws: `ModelLoadError` when a folder does not load; ``GrowthError`` when the outputs
    ///   cannot be compared (different vocabularies, a narrower "after" model).
    public static func compare(before: String, after: String, ids: [Int]) throws -> PreservationReport {
        try compare(before: Checkpoint(folder: before), after: Checkpoint(folder: after), ids: ids)
    }

    /// Compares two in-memory checkpoints on `ids` (each instantiated as a fresh model).
    public static func compare(before: Checkpoint, after: Checkpoint, ids: [Int]) throws -> PreservationReport {
        try compare(before: before, after: after, sequences: [ids])
    }

    /// Compares two checkpoints over several token sequences (each within the models' context):
    /// the largest difference and KL over all of them, and the KL averaged over all positions.
    public static func compare(before: Checkpoint, after: Checkpoint, sequences: [[Int]]) throws -> PreservationReport {
        let ma = try before.instantiate(), mb = try after.instantiate()
        var total: PreservationReport? = nil
        for ids in sequences where !ids.isEmpty {
            let (a, kindA) = try outputs(ma, ids)
            let (b, kindB) = try outputs(mb, ids)
            guard kindA == kindB else { throw GrowthError.invalidCheckpoint("cannot compare \(kindA) with \(kindB)") }
            let r = try report(a, b, positions: ids.count, output: kindA)
            guard var t = total else { total = r; continue }
            let n = Double(t.positions), m = Double(r.positions)
            t.maxAbsDifference = max(t.maxAbsDifference, r.maxAbsDifference)
            if let x = t.meanKL, let y = r.meanKL { t.meanKL = (x * n + y * m) / (n + m) }
            if let x = t.maxKL, let y = r.maxKL { t.maxKL = max(x, y) }
            t.positions += r.positions
            total = t
        }
        guard let total else { throw GrowthError.invalidCheckpoint("no tokens to compare") }
        return total
    }

    /// Output rows [T][width]: logits for LMs, last hidden states for a bare encoder.
    static func outputs(_ model: any Module, _ ids: [Int]) throws -> ([[Float]], String) {
        let x = Tensor(indices: ids, shape: [1, ids.count])
        let y: Tensor, kind: String
        if let lm = model as? any LanguageModel {
            y = lm(x); kind = "logits"
        } else if let mlm = model as? BertForMaskedLM {
            y = mlm.logits(x); kind = "logits"
        } else if let enc = model as? any EncoderModel {
            y = enc.encode(x, attentionMask: nil, tokenTypeIDs: nil); kind = "hidden_states"
        } else {
            throw GrowthError.invalidCheckpoint("model \(type(of: model)) has no comparable output")
        }
        let w = y.shape[2], v = y.floats()
        return ((0..<ids.count).map { Array(v[($0 * w)..<(($0 + 1) * w)]) }, kind)
    }

    static func report(_ a: [[Float]], _ b: [[Float]], positions: Int, output: String) throws -> PreservationReport {
        var maxDiff = 0.0, klSum = 0.0, klMax = 0.0
        for (ra, rb) in zip(a, b) {
            if output == "logits" {
                // A grown vocabulary appends ids; the old ids are compared, the KL uses the full new softmax.
                guard rb.count >= ra.count else {
                    throw GrowthError.invalidCheckpoint("the after vocabulary is smaller: \(rb.count) < \(ra.count)")
                }
            }
            // NOTE: hidden states of a widened encoder are compared on the first C channels (the
            // identity part of the index map); of a shrunk one, on its C' channels (indicative only).
            for j in 0..<min(ra.count, rb.count) { maxDiff = max(maxDiff, abs(Double(ra[j]) - Double(rb[j]))) }
            if output == "logits" {
                let kl = klDivergence(ra, rb)
                klSum += kl; klMax = max(klMax, kl)
            }
        }
        return PreservationReport(maxAbsDifference: maxDiff, meanKL: output == "logits" ? klSum / Double(max(a.count, 1)) : nil,
                                  maxKL: output == "logits" ? klMax : nil, positions: positions, output: output)
    }

    /// KL(softmax(p) ‖ softmax(q)) in nats, computed in Double with log-sum-exp. When q is longer
    /// (a grown vocabulary), p is zero on the extra outcomes: the sum runs over p's entries while q's
    /// softmax normalizes over all of q.
    public static func klDivergence(_ p: [Float], _ q: [Float]) -> Double {
        func logSoftmax(_ x: [Float]) -> [Double] {
            let m = Double(x.max() ?? 0)
            let lse = m + Foundation.log(x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
            return x.map { Double($0) - lse }
        }
        let lp = logSoftmax(p), lq = logSoftmax(q)
        var kl = 0.0
        for i in 0..<lp.count { kl += Foundation.exp(lp[i]) * (lp[i] - lq[i]) }
        return max(0, kl)
    }
}
