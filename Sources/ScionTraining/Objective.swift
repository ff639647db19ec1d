// Training objectives: next-token cross-entropy and knowledge distillation. Each returns the *sum*
// of per-token losses over a micro-batch's supervised targets; the trainer divides by the token
// count of the whole accumulation window, so k micro-batches give exactly the loss (and gradient)
// of one batch k times larger. Targets equal to -100 (prompt tokens in SFT, padding) are left out.
// Distillation follows Hinton et al. 2015 ("Distilling the Knowledge in a Neural Network", §2:
// soft targets at temperature T, gradients scaled by T²) and TinyBERT (Jiao et al. 2020, Eq. 7)
// for the hidden-state MSE.

import Foundation
import ScionData
import ScionModels
import ScionNN
import ScionTensor

/// A loss the trainer minimizes.
public protocol TrainingObjective {
    /// The sum of per-token losses over `batch`'s supervised targets: a scalar tensor.
    ///
    /// - Parameters:
    ///   - model: The model being trained.
    ///   - batch: Inputs and targets [B, T]; targets of -100 count for nothing.
    func summedLoss(model: any LanguageModel, batch: Batch) -> Tensor
}

/// Next-token cross-entropy, summed over supervised targets.
public struct CrossEntropyObjective: TrainingObjective {
    public init() {}

    public func summedLoss(model: any LanguageModel, batch: Batch) -> Tensor {
        let (b, t) = (batch.batchSize, batch.sequenceLength)
        let logits = model.logits(batch.inputs, cache: nil, attentionMask: nil)       // [B, T, V]
        return logits.reshaped(b * t, model.vocabularySize)                             // [B·T, V]
            .crossEntropy(targets: batch.targets.reshaped(b * t), ignoreIndex: PackingOptions.ignoreIndex,
                          reduction: .sum)
    }
}

/// Knowledge distillation against a frozen teacher: KL(teacher‖student) at temperature T, mixed
/// with cross-entropy, plus an optional hidden-state MSE.
///
/// Per supervised token, with student logits zₛ and teacher logits zₜ:
/// ```
/// pₜ = softmax(zₜ / T),  log qₛ = log_softmax(zₛ / T)
/// KL = Σᵥ pₜ (log pₜ − log qₛ)
/// loss = alpha · T² · KL + (1 − alpha) · CE + hiddenWeight · MSE(hₛ[i], hₜ[map(i)])
/// ```
/// The teacher runs without gradients; it must share the student's vocabulary (and, for the MSE,
/// its hidden size). Student hidden state i (0 = embeddings, L = final) is matched with teacher
/// state `round(i · Lₜ / Lₛ)` unless `layerMap` says otherwise.
public struct DistillationLoss: TrainingObjective {
    /// The frozen teacher.
    public let teacher: any LanguageModel
    /// T.
    public var temperature: Double
    /// The weight of the KL term (CE gets 1 − alpha).
    public var alpha: Double
    /// The weight of the hidden-state MSE (0: not computed).
    public var hiddenWeight: Double
    /// Student hidden-state index → teacher hidden-state index (nil: spread evenly).
    public var layerMap: [Int: Int]?

    /// Creates the loss and freezes the teacher.
    public init(teacher: any LanguageModel, temperature: Double = 2, alpha: Double = 0.5, hiddenWeight: Double = 0,
                layerMap: [Int: Int]? = nil) {
        teacher.freeze()
        self.teacher = teacher; self.temperature = temperature; self.alpha = alpha
        self.hiddenWeight = hiddenWeight; self.layerMap = layerMap
    }

    public func summedLoss(model: any LanguageModel, batch: Batch) -> Tensor {
        let (b, t, v) = (batch.batchSize, batch.sequenceLength, model.vocabularySize)
        let n = b * t
        let targets = batch.targets.reshaped(n)
        let studentLogits = model.logits(batch.inputs, cache: nil, attentionMask: nil).reshaped(n, v)   // [N, V]
        let teacherLogits = withoutGradients {
            teacher.logits(batch.inputs, cache: nil, attentionMask: nil).reshaped(n, teacher.vocabularySize)
        }
        precondition(teacher.vocabularySize == v,
                     "DistillationLoss: teacher vocabulary \(teacher.vocabularySize) ≠ student \(v)")
        let ce = studentLogits.crossEntropy(targets: targets, ignoreIndex: PackingOptions.ignoreIndex, reduction: .sum)
        let mask = batch.lossMask.reshaped(n)                                               // [N]
        let p = withoutGradients { (teacherLogits / temperature).softmax(axis: -1) }        // [N, V]
        let logP = withoutGradients { (teacherLogits / temperature).logSoftmax(axis: -1) }
        let logQ = (studentLogits / temperature).logSoftmax(axis: -1)
        let kl = ((p * (logP - logQ)).sum(axes: [1]) * mask).sum()                          // Σ over kept tokens
        var loss = kl * (alpha * temperature * temperature) + ce * (1 - alpha)
        if hiddenWeight > 0 {
            let hs = model.hiddenStates(batch.inputs)
            let ht = withoutGradients { teacher.hiddenStates(batch.inputs) }
            let ls = hs.count - 1, lt = ht.count - 1
            var mse: Tensor? = nil
            for i in 0...ls {
                let j = layerMap?[i] ?? Int((Double(i * lt) / Double(max(ls, 1))).rounded())
                guard j >= 0, j <= lt, hs[i].shape == ht[j].shape else {
                    preconditionFailure("DistillationLoss: student state \(i) \(hs[i].shape) vs teacher state \(j)")
                }
                let d = hs[i] - ht[j]
                let term = (d * d).mean()
                mse = mse.map { $0 + term } ?? term
            }
            // Per-token weight: the mean over states, counted once per supervised token.
            if let mse { loss = loss + mse * (hiddenWeight * Double(batch.supervisedTargetCount) / Double(ls + 1)) }
        }
        return loss
    }
}
