// Every schedule against its closed-form formula at many steps, boundaries included; Codable round
// trips; the segment composer and the re-warming recipe for continual pretraining.

import Foundation
import Testing
import ScionOptim

@Suite struct ScheduleTests {
    static let steps = Array(0...300) + [999, 1000, 1001, 5000]

    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-15 + 1e-12 * abs(b) }

    @Test func constant() {
        let s = ConstantSchedule(learningRate: 3e-4)
        for t in Self.steps { #expect(s.learningRate(at: t) == 3e-4) }
    }

    @Test func linearWarmup() {
        let s = LinearWarmup(start: 1e-5, peak: 1e-3, steps: 100)
        for t in Self.steps {
            let expected = t >= 100 ? 1e-3 : 1e-5 + (1e-3 - 1e-5) * Double(t) / 100
            #expect(close(s.learningRate(at: t), expected), "step \(t)")
        }
        #expect(s.learningRate(at: 0) == 1e-5)
        #expect(s.learningRate(at: 100) == 1e-3)
        #expect(LinearWarmup(peak: 2, steps: 0).learningRate(at: 0) == 2)
    }

    @Test func cosine() {
        let s = CosineDecay(peak: 6e-4, minimum: 6e-5, steps: 250)
        for t in Self.steps {
            let u = Double(min(t, 250)) / 250
            #expect(close(s.learningRate(at: t), 6e-5 + 0.5 * (6e-4 - 6e-5) * (1 + cos(Double.pi * u))), "step \(t)")
        }
        #expect(s.learningRate(at: 0) == 6e-4)
        #expect(close(s.learningRate(at: 125), (6e-4 + 6e-5) / 2))
        #expect(close(s.learningRate(at: 250), 6e-5))
        #expect(s.learningRate(at: 251) == s.learningRate(at: 250))
    }

    @Test func linearDecay() {
        let s = LinearDecay(peak: 1, minimum: 0.1, steps: 200)
        for t in Self.steps {
            #expect(close(s.learningRate(at: t), 1 + (0.1 - 1) * Double(min(t, 200)) / 200), "step \(t)")
        }
        #expect(close(s.learningRate(at: 200), 0.1))
    }

    @Test(arguments: [WarmupStableDecay.DecayShape.linear, .cosine, .oneMinusSqrt])
    func warmupStableDecay(_ shape: WarmupStableDecay.DecayShape) {
        let s = WarmupStableDecay(peak: 1e-3, minimum: 1e-4, warmupSteps: 20, stableSteps: 100, decaySteps: 50,
                                  decayShape: shape)
        for t in Self.steps {
            let expected: Double
            if t < 20 { expected = 1e-3 * Double(t) / 20 }
            else if t < 120 { expected = 1e-3 }
            else {
                let u = Double(min(t - 120, 50)) / 50
                let f = shape == .linear ? 1 - u : shape == .cosine ? 0.5 * (1 + cos(Double.pi * u)) : 1 - u.squareRoot()
                expected = 1e-4 + (1e-3 - 1e-4) * f
            }
            #expect(close(s.learningRate(at: t), expected), "\(shape) step \(t)")
        }
        #expect(s.learningRate(at: 0) == 0)
        #expect(s.learningRate(at: 20) == 1e-3)
        #expect(s.learningRate(at: 120) == 1e-3)   // decay starts from the peak
        #expect(close(s.learningRate(at: 170), 1e-4))
    }

    @Test func inverseSqrt() {
        let s = InverseSqrtSchedule(peak: 1e-3, warmupSteps: 16)
        for t in Self.steps {
            let expected = t < 16 ? 1e-3 * Double(t) / 16 : 1e-3 * (16.0 / Double(t)).squareRoot()
            #expect(close(s.learningRate(at: t), expected), "step \(t)")
        }
        #expect(s.learningRate(at: 16) == 1e-3)
        #expect(close(s.learningRate(at: 64), 5e-4))
        #expect(InverseSqrtSchedule(peak: 1, warmupSteps: 0).learningRate(at: 0) == 1)
        #expect(close(InverseSqrtSchedule(peak: 1, warmupSteps: 0).learningRate(at: 4), 0.5))
    }

    @Test func warmupCosineIsTwoSegments() {
        let s = ScheduleConfig.warmupCosine(peak: 6e-4, minimum: 6e-5, warmupSteps: 10, decaySteps: 90)
        let warm = LinearWarmup(peak: 6e-4, steps: 10), cosine = CosineDecay(peak: 6e-4, minimum: 6e-5, steps: 90)
        for t in Self.steps {
            #expect(s.learningRate(at: t) == (t < 10 ? warm.learningRate(at: t) : cosine.learningRate(at: t - 10)))
        }
    }

    /// Continual pretraining (Gupta et al. 2023): pretrain with warmup + cosine to step 1000, then re-warm
    /// from ~0 to a new maximum over 50 steps and decay again by cosine. Pure configuration.
    @Test func rewarmingIsAConfiguration() throws {
        let json = """
        {"type": "segments", "segments": [
          {"startStep": 0, "schedule": {"type": "segments", "segments": [
            {"startStep": 0, "schedule": {"type": "linearWarmup", "start": 0, "peak": 6e-4, "steps": 100}},
            {"startStep": 100, "schedule": {"type": "cosine", "peak": 6e-4, "minimum": 6e-5, "steps": 900}}]}},
          {"startStep": 1000, "schedule": {"type": "segments", "segments": [
            {"startStep": 0, "schedule": {"type": "linearWarmup", "start": 1e-7, "peak": 3e-4, "steps": 50}},
            {"startStep": 50, "schedule": {"type": "cosine", "peak": 3e-4, "minimum": 3e-5, "steps": 950}}]}}]}
        """
        let s = try JSONDecoder().decode(ScheduleConfig.self, from: Data(json.utf8))
        #expect(s.learningRate(at: 0) == 0)
        #expect(s.learningRate(at: 100) == 6e-4)
        #expect(close(s.learningRate(at: 999), CosineDecay(peak: 6e-4, minimum: 6e-5, steps: 900).learningRate(at: 899)))
        #expect(s.learningRate(at: 1000) == 1e-7)                     // re-warm starts near 0 …
        #expect(close(s.learningRate(at: 1025), 1e-7 + (3e-4 - 1e-7) / 2))
        #expect(s.learningRate(at: 1050) == 3e-4)                     // … reaches the new maximum …
        #expect(close(s.learningRate(at: 2000), 3e-5))                // … and decays by cosine.
        for t in 1050...2000 {
            #expect(s.learningRate(at: t) == CosineDecay(peak: 3e-4, minimum: 3e-5, steps: 950).learningRate(at: t - 1050))
        }
        // The same schedule built in Swift encodes to a value that decodes equal.
        let built = ScheduleConfig.segments(SegmentedSchedule([
            .init(startStep: 0, schedule: .warmupCosine(peak: 6e-4, minimum: 6e-5, warmupSteps: 100, decaySteps: 900)),
            .init(startStep: 1000, schedule: .warmupCosine(start: 1e-7, peak: 3e-4, minimum: 3e-5, warmupSteps: 50,
                                                           decaySteps: 950)),
        ]))
        #expect(built == s)
        let again = try JSONDecoder().decode(ScheduleConfig.self, from: JSONEncoder().encode(built))
        #expect(again == built)
    }

    @Test func segmentsSeeRelativeSteps() {
        let s = SegmentedSchedule([
            .init(startStep: 10, schedule: .linearDecay(LinearDecay(peak: 1, minimum: 0, steps: 10))),
            .init(startStep: 0, schedule: .constant(ConstantSchedule(learningRate: 5))),
        ])
        #expect(s.segments.map(\.startStep) == [0, 10])
        #expect(s.learningRate(at: 9) == 5)
        #expect(s.learningRate(at: 10) == 1)
        #expect(s.learningRate(at: 15) == 0.5)
        #expect(s.learningRate(at: 40) == 0)
    }

    @Test func everyConfigRoundTrips() throws {
        let configs: [ScheduleConfig] = [
            .constant(.init(learningRate: 1)), .linearWarmup(.init(peak: 1, steps: 3)), .cosine(.init(peak: 1, steps: 3)),
            .linearDecay(.init(peak: 1, steps: 3)),
            .warmupStableDecay(.init(peak: 1, warmupSteps: 1, stableSteps: 2, decaySteps: 3, decayShape: .oneMinusSqrt)),
            .inverseSqrt(.init(peak: 1, warmupSteps: 4)),
        ]
        for c in configs {
            let back = try JSONDecoder().decode(ScheduleConfig.self, from: JSONEncoder().encode(c))
            #expect(back == c)
            for t in 0..<10 { #expect(back.learningRate(at: t) == c.schedule.learningRate(at: t)) }
        }
    }
}
