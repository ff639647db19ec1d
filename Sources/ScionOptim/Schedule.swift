// Learning-rate schedules: closed-form functions of the step, each a Codable value, and a composer
// of segments so multi-phase recipes (warmup → cosine; warmup-stable-decay; re-warming for continual
// pretraining, Gupta et al. 2023 "Continual Pre-Training of Large Language Models: How to (re)warm
// your model?") are configurations, not code. Steps count from 0, the step about to be taken.
// Warmups follow transformers' `get_*_schedule_with_warmup`: lr(s) = start + (peak − start)·s/w.

import Foundation

/// A learning rate as a function of the optimizer step.
public protocol Schedule: Sendable {
    /// The learning rate for the step about to be taken (`step` counts from 0).
    func learningRate(at step: Int) -> Double
}

/// The same learning rate at every step.
public struct ConstantSchedule: Schedule, Codable, Equatable {
    public var learningRate: Double
    public init(learningRate: Double) { self.learningRate = learningRate }
    public func learningRate(at step: Int) -> Double { learningRate }
}

/// Linear warmup from `start` to `peak` over `steps` steps, then `peak`.
///
/// `lr(s) = start + (peak − start)·min(s, steps)/steps` (`peak` from step 0 when `steps == 0`).
public struct LinearWarmup: Schedule, Codable, Equatable {
    public var start: Double, peak: Double, steps: Int
    public init(start: Double = 0, peak: Double, steps: Int) { self.start = start; self.peak = peak; self.steps = steps }
    public func learningRate(at step: Int) -> Double {
        guard steps > 0 else { return peak }
        return start + (peak - start) * Double(min(max(step, 0), steps)) / Double(steps)
    }
}

/// Cosine decay from `peak` to `minimum` over `steps` steps, then `minimum`.
///
/// `lr(s) = minimum + ½(peak − minimum)(1 + cos(π·min(s, steps)/steps))`.
public struct CosineDecay: Schedule, Codable, Equatable {
    public var peak: Double, minimum: Double, steps: Int
    public init(peak: Double, minimum: Double = 0, steps: Int) { self.peak = peak; self.minimum = minimum; self.steps = steps }
    public func learningRate(at step: Int) -> Double {
        guard steps > 0 else { return minimum }
        let progress = Double(min(max(step, 0), steps)) / Double(steps)
        return minimum + 0.5 * (peak - minimum) * (1 + cos(Double.pi * progress))
    }
}

/// Linear decay from `peak` to `minimum` over `steps` steps, then `minimum`.
///
/// `lr(s) = peak + (minimum − peak)·min(s, steps)/steps`.
public struct LinearDecay: Schedule, Codable, Equatable {
    public var peak: Double, minimum: Double, steps: Int
    public init(peak: Double, minimum: Double = 0, steps: Int) { self.peak = peak; self.minimum = minimum; self.steps = steps }
    public func learningRate(at step: Int) -> Double {
        guard steps > 0 else { return minimum }
        return peak + (minimum - peak) * Double(min(max(step, 0), steps)) / Double(steps)
    }
}

/// Warmup-stable-decay ("trapezoidal"; Hu et al. 2024 MiniCPM, Hägele et al. 2024): linear warmup from
/// 0 to `peak`, `peak` for `stableSteps`, then a decay to `minimum` over `decaySteps`, then `minimum`.
///
/// With `u = (s − warmupSteps − stableSteps)/decaySteps` in the decay phase, the factor `f(u)` from
/// 1 to 0 is `1 − u` (linear), `½(1 + cos πu)` (cosine) or `1 − √u` (1-sqrt), and
/// `lr = minimum + (peak − minimum)·f(u)`.
public struct WarmupStableDecay: Schedule, Codable, Equatable {
    /// The shape of the decay phase.
    public enum DecayShape: String, Codable, Sendable { case linear, cosine, oneMinusSqrt }
    public var peak: Double, minimum: Double
    public var warmupSteps: Int, stableSteps: Int, decaySteps: Int
    public var decayShape: DecayShape

    public init(peak: Double, minimum: Double = 0, warmupSteps: Int, stableSteps: Int, decaySteps: Int,
                decayShape: DecayShape = .linear) {
        self.peak = peak; self.minimum = minimum; self.warmupSteps = warmupSteps
        self.stableSteps = stableSteps; self.decaySteps = decaySteps; self.decayShape = decayShape
    }

    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return LinearWarmup(start: 0, peak: peak, steps: warmupSteps).learningRate(at: step) }
        let decayStart = warmupSteps + stableSteps
        if step < decayStart { return peak }
        guard decaySteps > 0 else { return minimum }
        let u = Double(min(step - decayStart, decaySteps)) / Double(decaySteps)
        let f: Double
        switch decayShape {
        case .linear: f = 1 - u
        case .cosine: f = 0.5 * (1 + cos(Double.pi * u))
        case .oneMinusSqrt: f = 1 - u.squareRoot()
        }
        return minimum + (peak - minimum) * f
    }
}

/// Inverse square-root decay after a linear warmup (Vaswani et al. 2017, as a peak-normalised form).
///
/// `lr(s) = peak·s/w` for `s < w`, then `peak·√(w/s)`; with `w = 0`, `peak/√max(s, 1)`.
public struct InverseSqrtSchedule: Schedule, Codable, Equatable {
    public var peak: Double, warmupSteps: Int
    public init(peak: Double, warmupSteps: Int) { self.peak = peak; self.warmupSteps = warmupSteps }
    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(max(step, 0)) / Double(warmupSteps) }
        let w = Double(max(warmupSteps, 1))
        return peak * (w / Double(max(step, 1, warmupSteps))).squareRoot()
    }
}

/// Any schedule, as one Codable configuration (the form stored in training configs).
///
/// JSON form: the schedule's fields plus a `"type"` naming the case, for example
/// `{"type": "warmupStableDecay", "peak": 1e-3, "minimum": 0, "warmupSteps": 100, "stableSteps": 800,
/// "decaySteps": 100, "decayShape": "linear"}`.
public indirect enum ScheduleConfig: Schedule, Codable, Equatable {
    case constant(ConstantSchedule)
    case linearWarmup(LinearWarmup)
    case cosine(CosineDecay)
    case linearDecay(LinearDecay)
    case warmupStableDecay(WarmupStableDecay)
    case inverseSqrt(InverseSqrtSchedule)
    case segments(SegmentedSchedule)

    /// The wrapped schedule.
    public var schedule: any Schedule {
        switch self {
        case .constant(let s): return s
        case .linearWarmup(let s): return s
        case .cosine(let s): return s
        case .linearDecay(let s): return s
        case .warmupStableDecay(let s): return s
        case .inverseSqrt(let s): return s
        case .segments(let s): return s
        }
    }

    public func learningRate(at step: Int) -> Double { schedule.learningRate(at: step) }

    private enum TypeKey: String, CodingKey { case type }

    /// Decodes `{"type": "cosine", "peak": …, "minimum": …, "steps": …}`; the type names are the case names.
    public init(from decoder: Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "constant": self = .constant(try ConstantSchedule(from: decoder))
        case "linearWarmup": self = .linearWarmup(try LinearWarmup(from: decoder))
        case "cosine": self = .cosine(try CosineDecay(from: decoder))
        case "linearDecay": self = .linearDecay(try LinearDecay(from: decoder))
        case "warmupStableDecay": self = .warmupStableDecay(try WarmupStableDecay(from: decoder))
        case "inverseSqrt": self = .inverseSqrt(try InverseSqrtSchedule(from: decoder))
        case "segments": self = .segments(try SegmentedSchedule(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: try decoder.container(keyedBy: TypeKey.self),
                                                   debugDescription: "unknown schedule type \(type)")
        }
    }

    /// Encodes the wrapped schedule's fields plus `"type"`.
    public func encode(to encoder: Encoder) throws {
        let type: String
        switch self {
        case .constant(let s): type = "constant"; try s.encode(to: encoder)
        case .linearWarmup(let s): type = "linearWarmup"; try s.encode(to: encoder)
        case .cosine(let s): type = "cosine"; try s.encode(to: encoder)
        case .linearDecay(let s): type = "linearDecay"; try s.encode(to: encoder)
        case .warmupStableDecay(let s): type = "warmupStableDecay"; try s.encode(to: encoder)
        case .inverseSqrt(let s): type = "inverseSqrt"; try s.encode(to: encoder)
        case .segments(let s): type = "segments"; try s.encode(to: encoder)
        }
        var c = encoder.container(keyedBy: TypeKey.self)
        try c.encode(type, forKey: .type)
    }

    /// Linear warmup from `start` to `peak` over `warmupSteps`, then cosine decay to `minimum` over
    /// `decaySteps` (the usual pretraining schedule, and the re-warm of continual pretraining).
    public static func warmupCosine(start: Double = 0, peak: Double, minimum: Double, warmupSteps: Int,
                                    decaySteps: Int) -> ScheduleConfig {
        .segments(SegmentedSchedule([
            .init(startStep: 0, schedule: .linearWarmup(LinearWarmup(start: start, peak: peak, steps: warmupSteps))),
            .init(startStep: warmupSteps, schedule: .cosine(CosineDecay(peak: peak, minimum: minimum, steps: decaySteps))),
        ]))
    }
}

/// Schedules one after another: each segment starts at an absolute step and sees steps relative to it.
///
/// The segment in force at step `s` is the last one with `startStep ≤ s`; its learning rate is
/// `segment.schedule.learningRate(at: s − segment.startStep)`. Before the first segment the first one
/// applies at relative step 0.
///
/// Re-warming for continual pretraining, as configuration:
/// ```swift
/// let schedule = SegmentedSchedule([
///     .init(startStep: 0, schedule: .warmupCosine(peak: 6e-4, minimum: 6e-5, warmupSteps: 100, decaySteps: 900)),
///     .init(startStep: 1000, schedule: .warmupCosine(start: 0, peak: 3e-4, minimum: 3e-5,
///                                                    warmupSteps: 50, decaySteps: 950)),
/// ])
/// ```
public struct SegmentedSchedule: Schedule, Codable, Equatable {
    /// One phase of a segmented schedule.
    public struct Segment: Codable, Equatable, Sendable {
        /// The absolute step where this segment begins.
        public var startStep: Int
        /// The schedule, evaluated at steps relative to `startStep`.
        public var schedule: ScheduleConfig
        public init(startStep: Int, schedule: ScheduleConfig) { self.startStep = startStep; self.schedule = schedule }
    }

    /// The segments, sorted by `startStep`.
    public var segments: [Segment]

    /// A schedule of `segments` (sorted by start step; at least one).
    public init(_ segments: [Segment]) {
        precondition(!segments.isEmpty, "SegmentedSchedule: at least one segment")
        self.segments = segments.sorted { $0.startStep < $1.startStep }
    }

    public func learningRate(at step: Int) -> Double {
        let segment = segments.last { $0.startStep <= step } ?? segments[0]
        return segment.schedule.learningRate(at: max(step - segment.startStep, 0))
    }
}
