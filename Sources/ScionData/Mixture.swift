// Weighted mixtures of several sources with weights that change over training, e.g. end-of-training
// domain upsampling (TECHNIQUES.md row 34): train on a base mixture, then for the last 10–20% of
// steps switch or ramp to weights that favour small, dense domains. Each row of a batch picks its
// source by a seeded draw from the step's weights; the draw's generator and every source's stream
// position are in the Codable position, so sampling is deterministic and resumable.

import Foundation
import ScionTensor

/// Mixture weights as a function of the training step: piecewise constant or linear between
/// control points.
///
/// Before the first point the first weights hold; after the last, the last. Weights need not sum
/// to one (they are normalized when sampling).
///
/// ```swift
/// // Web/code/math 70/20/10, ramping to 40/30/30 over the last 15% of 10 000 steps.
/// let schedule = WeightSchedule.endOfTrainingUpsampling(
///     base: [0.7, 0.2, 0.1], final: [0.4, 0.3, 0.3], totalSteps: 10_000, finalFraction: 0.15,
///     rampSteps: 200)
/// ```
public struct WeightSchedule: Sendable, Codable, Equatable {
    /// A control point: the weights at a step.
    public struct Point: Sendable, Codable, Equatable {
        /// The step.
        public var step: Int
        /// The weights, one per source.
        public var weights: [Double]

        /// Creates a point.
        public init(step: Int, weights: [Double]) {
            self.step = step
            self.weights = weights
        }
    }

    /// How weights move between points.
    public enum Interpolation: String, Sendable, Codable {
        /// Hold each point's weights until the next point.
        case step
        /// Linear in the step between points.
        case linear
    }

    /// The control points, by increasing step.
    public var points: [Point]
    /// Between-point behaviour.
    public var interpolation: Interpolation

    /// Creates a schedule; points are sorted by step.
    public init(points: [Point], interpolation: Interpolation = .step) {
        self.points = points.sorted { $0.step < $1.step }
        self.interpolation = interpolation
    }

    /// The same weights at every step.
    public static func constant(_ weights: [Double]) -> WeightSchedule {
        WeightSchedule(points: [Point(step: 0, weights: weights)])
    }

    /// Base weights, then the final weights for the last `finalFraction` of `totalSteps`,
    /// reached by a linear ramp of `rampSteps` steps (0 = switch at once).
    public static func endOfTrainingUpsampling(base: [Double], final: [Double], totalSteps: Int,
                                               finalFraction: Double, rampSteps: Int = 0) -> WeightSchedule {
        let start = Int((Double(totalSteps) * (1 - finalFraction)).rounded())
        if rampSteps <= 0 {
            return WeightSchedule(points: [Point(step: 0, weights: base), Point(step: start, weights: final)])
        }
        return WeightSchedule(points: [Point(step: 0, weights: base), Point(step: start, weights: base),
                                       Point(step: start + rampSteps, weights: final)],
                              interpolation: .linear)
    }

    /// The weights at `step`.
    public func weights(atStep step: Int) -> [Double] {
        guard let first = points.first else { return [] }
        if step <= first.step { return first.weights }
        var i = 0
        while i + 1 < points.count && points[i + 1].step <= step { i += 1 }
        guard i + 1 < points.count, interpolation == .linear else { return points[i].weights }
        let a = points[i], b = points[i + 1]
        let f = Double(step - a.step) / Double(b.step - a.step)
        return zip(a.weights, b.weights).map { $0 + f * ($1 - $0) }
    }

    func validate(sourceCount: Int) throws {
        guard !points.isEmpty else { throw DataError.invalidConfiguration(reason: "weight schedule has no points") }
        for p in points {
            guard p.weights.count == sourceCount else {
                throw DataError.invalidConfiguration(
                    reason: "step \(p.step): \(p.weights.count) weights for \(sourceCount) sources")
            }
            guard p.weights.allSatisfy({ $0 >= 0 && $0.isFinite }), p.weights.reduce(0, +) > 0 else {
                throw DataError.invalidConfiguration(reason: "step \(p.step): weights must be ≥ 0 with a positive sum")
            }
        }
    }
}

/// The resumable position of a ``MixtureLoader``.
public struct MixturePosition: Sendable, Codable, Equatable {
    /// Batches served so far (the schedule's step).
    public var step: Int
    /// The generator that picks each row's source.
    public var generator: RandomGenerator
    /// Each source's stream position.
    public var sources: [DataLoaderPosition]
}

/// Batches drawn from several corpora with scheduled weights.
///
/// ```swift
/// var mix = try MixtureLoader(
///     sources: [(web, nil), (math, nil)], batchSize: 8,
///     options: PackingOptions(sequenceLength: 256, eosTokenID: eos),
///     schedule: .endOfTrainingUpsampling(base: [0.9, 0.1], final: [0.5, 0.5],
///                                        totalSteps: 5000, finalFraction: 0.2),
///     seed: 3)
/// let batch = mix.nextBatch()   // batch.sourceIndices says where each row came from
/// ```
public struct MixtureLoader: Sendable, Sequence, IteratorProtocol {
    /// B.
    public let batchSize: Int
    /// The weight schedule.
    public let schedule: WeightSchedule
    var streams: [SequenceStream]
    var step: Int
    var generator: RandomGenerator

    /// Creates a mixture loader.
    ///
    /// - Parameters:
    ///   - sources: Each source's corpus and the documents to use (`nil` = all).
    ///   - batchSize: B.
    ///   - options: Packing options shared by all sources.
    ///   - schedule: Weights by step, one weight per source.
    ///   - seed: The seed; source `i`'s stream is shuffled with a seed derived from it.
    ///   - position: A saved ``position`` to resume from.
    /// - Throws: ``DataError/invalidConfiguration(reason:)`` for a bad schedule, batch size or data.
    public init(sources: [(corpus: any TokenizedCorpus, documents: [Int]?)], batchSize: Int, options: PackingOptions,
                schedule: WeightSchedule, seed: UInt64 = 0, position: MixturePosition? = nil) throws {
        guard batchSize > 0 else { throw DataError.invalidConfiguration(reason: "batchSize must be positive") }
        guard !sources.isEmpty else { throw DataError.invalidConfiguration(reason: "a mixture needs a source") }
        try schedule.validate(sourceCount: sources.count)
        if let position, position.sources.count != sources.count {
            throw DataError.invalidConfiguration(reason: "position has \(position.sources.count) sources, not \(sources.count)")
        }
        var streams: [SequenceStream] = []
        for (i, s) in sources.enumerated() {
            streams.append(try SequenceStream(
                corpus: s.corpus, documents: s.documents, options: options,
                seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(i + 1), position: position?.sources[i]))
        }
        self.batchSize = batchSize
        self.schedule = schedule
        self.streams = streams
        self.step = position?.step ?? 0
        self.generator = position?.generator ?? RandomGenerator(seed: seed)
    }

    /// Where the next batch comes from; save it to resume.
    public var position: MixturePosition {
        MixturePosition(step: step, generator: generator, sources: streams.map(\.position))
    }

    /// The next batch (never `nil`).
    public mutating func next() -> Batch? { nextBatch() }

    /// The next batch: each row from a source drawn with the current step's weights.
    public mutating func nextBatch() -> Batch {
        let w = schedule.weights(atStep: step)
        let total = w.reduce(0, +)
        var rows: [PackedSequence] = []
        var picked: [Int] = []
        for _ in 0..<batchSize {
            let u = generator.nextUniform() * total
            var s = 0
            var acc = w[0]
            while u >= acc && s + 1 < w.count {
                s += 1
                acc += w[s]
            }
            // NOTE: rounding can leave u at the very top; never pick a zero-weight source for it.
            while w[s] == 0 && s > 0 { s -= 1 }
            picked.append(s)
            rows.append(streams[s].next())
        }
        step += 1
        return Batch(rows: rows, withBoundaryIDs: streams[0].options.documentBoundaryReset, sourceIndices: picked)
    }
}
