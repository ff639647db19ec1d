// Seeded, platform-independent shuffling and splitting on ScionTensor's xoshiro256** generator.
// Bounded integers use rejection sampling defined here (not the standard library's
// `random(in:using:)`, whose algorithm may change between Swift versions), so the same seed gives
// the same order everywhere.

import Foundation
import ScionTensor

extension RandomGenerator {
    /// A uniform integer in `0..<bound` (rejection sampling on the top bits; unbiased).
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "nextIndex(below:) needs a positive bound")
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b  // accept values below a multiple of b
        while true {
            let x = next()
            if x < limit { return Int(x % b) }
        }
    }
}

/// Seeded permutations and splits.
public enum SeededShuffle {
    /// Fisher–Yates shuffle of `array` driven by `generator`.
    public static func shuffle<T>(_ array: inout [T], generator: inout RandomGenerator) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = generator.nextIndex(below: i + 1)
            if i != j { array.swapAt(i, j) }
        }
    }

    /// A permutation of `0..<count` for `seed`.
    public static func permutation(count: Int, seed: UInt64) -> [Int] {
        var g = RandomGenerator(seed: seed)
        var p = Array(0..<count)
        shuffle(&p, generator: &g)
        return p
    }

    /// Splits document indices `0..<documentCount` into training and validation sets.
    ///
    /// Exactly `round(validationFraction · documentCount)` documents (at least one when the
    /// fraction is positive and there are two or more documents) go to validation, chosen by a
    /// seeded permutation; both lists are returned in ascending order.
    ///
    /// - Throws: ``DataError/invalidConfiguration(reason:)`` when the fraction is outside [0, 1).
    public static func split(documentCount: Int, validationFraction: Double, seed: UInt64) throws
        -> (train: [Int], validation: [Int]) {
        guard validationFraction >= 0, validationFraction < 1 else {
            throw DataError.invalidConfiguration(reason: "validationFraction \(validationFraction) not in [0, 1)")
        }
        var k = Int((validationFraction * Double(documentCount)).rounded())
        if validationFraction > 0 && documentCount >= 2 { k = max(k, 1) }
        k = min(k, max(0, documentCount - 1))
        let p = permutation(count: documentCount, seed: seed)
        return (Array(p[k...]).sorted(), Array(p[..<k]).sorted())
    }
}
