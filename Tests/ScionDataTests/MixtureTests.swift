// Mixture sampling: proportions, weight schedules (switch and ramp), determinism and resume.

import Foundation
import Testing

@testable import ScionData

@Suite struct MixtureTests {
    /// Source `s` holds only ids in 100·(s+1) ..< 100·(s+1) + 50.
    static func sources(_ n: Int) -> [(corpus: any TokenizedCorpus, documents: [Int]?)] {
        (0..<n).map { s in
            (TestData.corpus((0..<20).map { d in (0..<(5 + d % 7)).map { 100 * (s + 1) + ($0 + d) % 50 } }), nil)
        }
    }

    static let options = PackingOptions(sequenceLength: 8, eosTokenID: 0)

    @Test func proportionsMatchWeights() throws {
        let weights = [0.5, 0.3, 0.2]
        var mix = try MixtureLoader(sources: Self.sources(3), batchSize: 16, options: Self.options,
                                    schedule: .constant(weights), seed: 1)
        var counts = [0, 0, 0]
        for _ in 0..<500 {
            let batch = mix.nextBatch()
            for (row, s) in (batch.sourceIndices ?? []).enumerated() {
                counts[s] += 1
                // Each row really comes from the source it names.
                let ids = batch.inputIDs[(row * 8)..<(row * 8 + 8)].filter { $0 != 0 }
                #expect(ids.allSatisfy { $0 / 100 == s + 1 })
            }
        }
        let total = Double(counts.reduce(0, +))
        for (c, w) in zip(counts, weights) {
            // 8000 draws: the standard error is at most 0.0056, so 0.02 is over 3.5 sigma.
            #expect(abs(Double(c) / total - w) < 0.02)
        }
    }

    @Test func endOfTrainingUpsamplingSwitchesWeights() throws {
        let schedule = WeightSchedule.endOfTrainingUpsampling(base: [1, 0], final: [0, 1], totalSteps: 100,
                                                              finalFraction: 0.2)
        var mix = try MixtureLoader(sources: Self.sources(2), batchSize: 4, options: Self.options,
                                    schedule: schedule, seed: 2)
        for step in 0..<100 {
            let picked = mix.nextBatch().sourceIndices ?? []
            #expect(picked == [Int](repeating: step < 80 ? 0 : 1, count: 4), "step \(step)")
        }
        let ramp = WeightSchedule.endOfTrainingUpsampling(base: [0.8, 0.2], final: [0.2, 0.8], totalSteps: 1000,
                                                          finalFraction: 0.1, rampSteps: 50)
        #expect(ramp.weights(atStep: 0) == [0.8, 0.2])
        #expect(ramp.weights(atStep: 900) == [0.8, 0.2])
        let mid = ramp.weights(atStep: 925)
        #expect(abs(mid[0] - 0.5) < 1e-12 && abs(mid[1] - 0.5) < 1e-12)
        #expect(ramp.weights(atStep: 950) == [0.2, 0.8])
        #expect(ramp.weights(atStep: 5000) == [0.2, 0.8])
    }

    @Test func mixtureIsDeterministicAndResumable() throws {
        let schedule = WeightSchedule.endOfTrainingUpsampling(base: [0.7, 0.2, 0.1], final: [0.2, 0.4, 0.4],
                                                              totalSteps: 60, finalFraction: 0.5, rampSteps: 10)
        var a = try MixtureLoader(sources: Self.sources(3), batchSize: 5, options: Self.options,
                                  schedule: schedule, seed: 9)
        var b = try MixtureLoader(sources: Self.sources(3), batchSize: 5, options: Self.options,
                                  schedule: schedule, seed: 9)
        for _ in 0..<25 { #expect(a.nextBatch() == b.nextBatch()) }
        let saved = try JSONEncoder().encode(a.position)
        let expected = (0..<30).map { _ in a.nextBatch() }
        var resumed = try MixtureLoader(sources: Self.sources(3), batchSize: 5, options: Self.options,
                                        schedule: schedule,
                                        position: JSONDecoder().decode(MixturePosition.self, from: saved))
        #expect((0..<30).map { _ in resumed.nextBatch() } == expected)
    }

    @Test func badSchedulesAreRejected() {
        #expect(throws: DataError.self) {
            _ = try MixtureLoader(sources: Self.sources(2), batchSize: 1, options: Self.options,
                                  schedule: .constant([1]))
        }
        #expect(throws: DataError.self) {
            _ = try MixtureLoader(sources: Self.sources(2), batchSize: 1, options: Self.options,
                                  schedule: .constant([0, 0]))
        }
    }
}
