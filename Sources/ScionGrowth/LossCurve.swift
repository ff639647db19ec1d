// Validation loss against training compute, and where such a curve first reaches a target loss:
// the measure behind model-growth speedup claims ("the grown model reaches the from-scratch model's
// loss with X% fewer FLOPs": Du et al. 2024, "Stacking Your Transformers", G_stack; Chen et al. 2022,
// "bert2BERT", both reading the crossing off loss-vs-compute curves). Points are evaluations in
// training order; between two evaluations the curve is taken to be linear in compute, so a crossing
// is interpolated between the last point above the target and the first at or below it.

import Foundation

/// Why a loss curve was refused.
public enum LossCurveError: Error, Equatable, CustomStringConvertible {
    /// A point's compute, tokens or loss is NaN or infinite, or compute/tokens are negative.
    case invalidPoint(index: Int, detail: String)
    /// Compute went down from one point to the next (points must be in training order).
    case computeDecreases(index: Int, previous: Double, value: Double)

    public var description: String {
        switch self {
        case .invalidPoint(let i, let d): return "loss curve point \(i): \(d)"
        case .computeDecreases(let i, let p, let v):
            return "loss curve point \(i): FLOPs \(v) below the previous point's \(p) (points must be in training order)"
        }
    }
}

/// Validation loss as a function of cumulative training compute.
///
/// ```swift
/// var curve = LossCurve()
/// try curve.append(flops: 1e12, tokens: 100_000, loss: 5.1)
/// try curve.append(flops: 2e12, tokens: 200_000, loss: 4.3)
/// curve.crossing(of: 4.7)?.flops     // 1.5e12
/// ```
public struct LossCurve: Sendable, Equatable, Codable {
    /// One evaluation.
    public struct Point: Sendable, Equatable, Codable {
        /// Cumulative training FLOPs when the evaluation ran.
        public var flops: Double
        /// Cumulative trained tokens when the evaluation ran.
        public var tokens: Double
        /// The validation loss.
        public var loss: Double

        public init(flops: Double, tokens: Double, loss: Double) {
            self.flops = flops; self.tokens = tokens; self.loss = loss
        }
    }

    /// Where a curve first reaches a target loss.
    public struct Crossing: Sendable, Equatable, Codable {
        /// Interpolated cumulative FLOPs at the crossing.
        public var flops: Double
        /// Interpolated cumulative tokens at the crossing.
        public var tokens: Double
        /// The index of the first point at or below the target.
        public var pointIndex: Int
        /// False when the first point is already at or below the target (nothing earlier to interpolate
        /// from, so the crossing is that point and may overstate the compute needed).
        public var interpolated: Bool
    }

    /// The evaluations, in training order (compute never decreases).
    public private(set) var points: [Point] = []

    /// An empty curve.
    public init() {}

    /// A curve of `points` in training order.
    ///
    /// - Throws: ``LossCurveError`` for a non-finite or negative value or decreasing compute.
    public init(points: [Point]) throws {
        for p in points { try append(p) }
    }

    /// Appends an evaluation.
    ///
    /// - Throws: ``LossCurveError`` for a non-finite or negative value, or FLOPs below the last point's.
    public mutating func append(_ p: Point) throws {
        let i = points.count
        guard p.flops.isFinite, p.tokens.isFinite, p.loss.isFinite else {
            throw LossCurveError.invalidPoint(index: i, detail: "flops \(p.flops), tokens \(p.tokens), loss \(p.loss) must be finite")
        }
        guard p.flops >= 0, p.tokens >= 0 else {
            throw LossCurveError.invalidPoint(index: i, detail: "flops \(p.flops) and tokens \(p.tokens) must be ≥ 0")
        }
        if let last = points.last, p.flops < last.flops {
            throw LossCurveError.computeDecreases(index: i, previous: last.flops, value: p.flops)
        }
        points.append(p)
    }

    /// Appends an evaluation (see ``append(_:)``).
    public mutating func append(flops: Double, tokens: Double, loss: Double) throws {
        try append(Point(flops: flops, tokens: tokens, loss: loss))
    }

    /// The last evaluation's loss (nil when empty).
    public var finalLoss: Double? { points.last?.loss }

    /// The compute of the last evaluation (nil when empty).
    public var finalFLOPs: Double? { points.last?.flops }

    /// Where the curve first reaches `target` (loss ≤ target), linearly interpolated in FLOPs and
    /// tokens between the point before and the first point at or below the target.
    ///
    /// - Returns: nil when no point reaches the target.
    public func crossing(of target: Double) -> Crossing? {
        guard let i = points.firstIndex(where: { $0.loss <= target }) else { return nil }
        let b = points[i]
        guard i > 0 else { return Crossing(flops: b.flops, tokens: b.tokens, pointIndex: 0, interpolated: false) }
        let a = points[i - 1]
        // a.loss > target ≥ b.loss, so the denominator is positive.
        let u = (a.loss - target) / (a.loss - b.loss)
        return Crossing(flops: a.flops + u * (b.flops - a.flops), tokens: a.tokens + u * (b.tokens - a.tokens),
                        pointIndex: i, interpolated: true)
    }

    /// The loss at `flops`, linearly interpolated between the evaluations around it.
    ///
    /// - Returns: nil outside the curve's FLOPs range (before the first or after the last point).
    public func loss(atFLOPs flops: Double) -> Double? {
        guard let first = points.first, let last = points.last, flops >= first.flops, flops <= last.flops else { return nil }
        guard let j = points.firstIndex(where: { $0.flops >= flops }) else { return nil }
        let b = points[j]
        guard j > 0, b.flops > flops else { return b.loss }
        let a = points[j - 1]
        guard b.flops > a.flops else { return b.loss }
        return a.loss + (flops - a.flops) / (b.flops - a.flops) * (b.loss - a.loss)
    }
}
