// Chooses the next token from one row of logits. The processors run in transformers' `generate`
// order — repetition penalty → temperature → top-k → top-p → min-p — with the semantics of its
// RepetitionPenaltyLogitsProcessor, TopKLogitsWarper, TopPLogitsWarper and MinPLogitsWarper.
// Arithmetic is in Double and the draw uses `RandomGenerator` (xoshiro256**), scanning tokens in id
// order, so a seed gives the same tokens on every platform. Works on [Float] rows, not Tensors:
// one row of V logits per step is cheap to process on the CPU and needs no autograd.

import Foundation
import ScionTensor

/// Picks token ids from logits with the settings of ``SamplingOptions``.
///
/// ```swift
/// var sampler = Sampler(options: SamplingOptions(temperature: 0.8, topP: 0.9, seed: 1))
/// let next = sampler.sample(logits: row, history: idsSoFar)
/// ```
public struct Sampler: Sendable {
    /// The settings.
    public let options: SamplingOptions
    /// The random state; advances by one draw per sampled token (none when greedy).
    public var generator: RandomGenerator

    /// A sampler seeded with `options.seed`.
    public init(options: SamplingOptions) {
        self.options = options
        generator = RandomGenerator(seed: options.seed)
    }

    /// The next token id for one row of logits.
    ///
    /// - Parameters:
    ///   - logits: Scores over the vocabulary [V].
    ///   - history: Tokens already in the sequence (prompt and generated), for the repetition penalty.
    /// - Returns: The chosen id: the argmax when greedy (lowest id on ties), else a draw from
    ///   ``probabilities(logits:history:)``.
    public mutating func sample(logits: [Float], history: [Int] = []) -> Int {
        precondition(!logits.isEmpty, "Sampler.sample: empty logits")
        if options.isGreedy {
            let scores = Sampler.penalized(logits, history: history, penalty: options.repetitionPenalty)
            var best = 0
            for i in 1..<scores.count where scores[i] > scores[best] { best = i }
            return best
        }
        let p = probabilities(logits: logits, history: history)
        let u = generator.nextUniform()
        var cumulative = 0.0, last = 0
        for (i, pi) in p.enumerated() where pi > 0 {
            cumulative += pi
            last = i
            if u < cumulative { return i }
        }
        return last  // u within rounding of 1
    }

    /// The distribution a sample is drawn from: every processor applied, then softmax.
    ///
    /// Masked tokens get probability exactly 0. With temperature 0 this is one-hot at the argmax.
    ///
    /// - Parameters:
    ///   - logits: Scores over the vocabulary [V].
    ///   - history: Tokens already in the sequence.
    /// - Returns: Probabilities [V] summing to 1.
    public func probabilities(logits: [Float], history: [Int] = []) -> [Double] {
        if options.isGreedy {
            var copy = self
            let i = copy.sample(logits: logits, history: history)
            var p = [Double](repeating: 0, count: logits.count)
            p[i] = 1
            return p
        }
        var s = Sampler.penalized(logits, history: history, penalty: options.repetitionPenalty)
        if options.temperature != 1 { for i in s.indices { s[i] /= options.temperature } }
        if let k = options.topK, k > 0, k < s.count { Sampler.applyTopK(&s, k) }
        if options.topP < 1 { Sampler.applyTopP(&s, options.topP) }
        if options.minP > 0 { Sampler.applyMinP(&s, options.minP) }
        return Sampler.softmax(s)
    }

    /// HF's repetition penalty: for each distinct id in `history`, a positive score is divided by
    /// `penalty` and a negative one multiplied.
    static func penalized(_ logits: [Float], history: [Int], penalty: Double) -> [Double] {
        var s = logits.map(Double.init)
        guard penalty != 1 else { return s }
        for id in Set(history) where id >= 0 && id < s.count {
            s[id] = s[id] < 0 ? s[id] * penalty : s[id] / penalty
        }
        return s
    }

    /// Masks (to -inf) every score below the k-th largest; ties with it survive, as in HF.
    static func applyTopK(_ s: inout [Double], _ k: Int) {
        let threshold = s.sorted(by: >)[k - 1]
        for i in s.indices where s[i] < threshold { s[i] = -.infinity }
    }

    /// HF's top-p: sort ascending, drop tokens while the cumulative probability stays ≤ 1 − p,
    /// always keeping the most likely token.
    static func applyTopP(_ s: inout [Double], _ p: Double) {
        let probs = softmax(s)
        // Ascending by probability; ties broken by id (descending) so the order is total.
        let order = s.indices.sorted { probs[$0] != probs[$1] ? probs[$0] < probs[$1] : $0 > $1 }
        var cumulative = 0.0
        for (rank, i) in order.enumerated() where rank < order.count - 1 {
            cumulative += probs[i]
            if cumulative <= 1 - p { s[i] = -.infinity } else { break }
        }
    }

    /// HF's min-p: drops tokens whose probability is below `minP` × the largest probability.
    static func applyMinP(_ s: inout [Double], _ minP: Double) {
        let probs = softmax(s)
        let threshold = minP * (probs.max() ?? 0)
        for i in s.indices where probs[i] < threshold { s[i] = -.infinity }
    }

    /// Softmax in Double; -inf scores give exactly 0.
    static func softmax(_ s: [Double]) -> [Double] {
        let m = s.max() ?? 0
        guard m.isFinite else { return [Double](repeating: 1 / Double(s.count), count: s.count) }
        var e = s.map { $0 == -.infinity ? 0 : Foundation.exp($0 - m) }
        let total = e.reduce(0, +)
        for i in e.indices { e[i] /= total }
        return e
    }
}
