// How the next token is chosen from logits: temperature, top-k, top-p, min-p, repetition penalty
// and the seed. Defaults and "off" values follow transformers' GenerationConfig, except that top-k
// is off by default (transformers defaults to 50). Validation throws typed errors.

import Foundation

/// Settings of the ``Sampler``.
///
/// A temperature of 0 means greedy decoding (argmax after the repetition penalty). Each filter has a
/// value that turns it off: `topK` nil or 0, `topP` 1, `minP` 0, `repetitionPenalty` 1.
///
/// ```swift
/// let options = SamplingOptions(temperature: 0.7, topK: 40, topP: 0.95, seed: 42)
/// try options.validate()
/// ```
public struct SamplingOptions: Sendable, Equatable, Codable {
    /// Divides the logits; 0 selects greedy decoding.
    public var temperature: Double
    /// Keeps the `topK` highest logits (ties with the k-th are kept); nil or 0 turns it off.
    public var topK: Int?
    /// Keeps the smallest set of most likely tokens whose probability reaches `topP`; 1 turns it off.
    public var topP: Double
    /// Drops tokens whose probability is below `minP` times the top probability; 0 turns it off.
    public var minP: Double
    /// Penalizes tokens already in the sequence (prompt included): positive logits are divided by
    /// it, negative ones multiplied; 1 turns it off.
    public var repetitionPenalty: Double
    /// Seed of the ``RandomGenerator`` that draws samples.
    public var seed: UInt64

    /// Creates sampling settings.
    public init(temperature: Double = 1, topK: Int? = nil, topP: Double = 1, minP: Double = 0,
                repetitionPenalty: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.minP = minP
        self.repetitionPenalty = repetitionPenalty; self.seed = seed
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingOptions(temperature: 0)

    /// True when sampling reduces to argmax.
    public var isGreedy: Bool { temperature == 0 }

    /// Checks every value's range.
    ///
    /// - Throws: ``GenerationError/invalidOption(name:reason:)`` naming the first bad option.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else {
            throw GenerationError.invalidOption(name: "temperature", reason: "must be a finite number ≥ 0, got \(temperature)")
        }
        if let topK, topK < 0 {
            throw GenerationError.invalidOption(name: "top-k", reason: "must be ≥ 0 (0 turns it off), got \(topK)")
        }
        guard topP > 0, topP <= 1 else {
            throw GenerationError.invalidOption(name: "top-p", reason: "must be in (0, 1], got \(topP)")
        }
        guard minP >= 0, minP <= 1 else {
            throw GenerationError.invalidOption(name: "min-p", reason: "must be in [0, 1], got \(minP)")
        }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw GenerationError.invalidOption(name: "repetition-penalty", reason: "must be a finite number > 0, got \(repetitionPenalty)")
        }
    }
}
