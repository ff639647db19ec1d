// Seeded random numbers that are identical on every platform and thread count: xoshiro256**
// (Blackman & Vigna 2018) seeded through SplitMix64, with distributions computed in Double by
// fixed formulas (Box–Muller for normals), generated sequentially.

import Foundation

/// A seeded, platform-independent random number generator (xoshiro256**).
public struct RandomGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The full generator state (save it to resume a run exactly).
    public var state: [UInt64]

    /// A generator for `seed`.
    public init(seed: UInt64) {
        var z = seed
        func splitMix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        state = [splitMix(), splitMix(), splitMix(), splitMix()]
    }

    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t
        state[3] = state[3] << 45 | state[3] >> 19
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller; one value per call).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextUniform(), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}

extension Tensor {
    static func generated(_ shape: [Int], dtype: DType, _ f: () -> Double) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "random: negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        let s = Storage(uninitializedByteCount: n * dtype.byteSize)
        for i in 0..<n { ElementIO.store(f(), to: s.pointer, index: i, dtype: dtype) }
        return Tensor(storage: s, shape: shape, dtype: dtype)
    }

    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               generator: inout RandomGenerator) -> Tensor {
        generated(shape, dtype: dtype) { low + (high - low) * generator.nextUniform() }
    }

    /// Normal samples with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              generator: inout RandomGenerator) -> Tensor {
        generated(shape, dtype: dtype) { mean + std * generator.nextNormal() }
    }

    /// Normal samples redrawn until they fall in [mean + a·std, mean + b·std] (torch's trunc_normal_ uses absolute bounds; pass them as a, b with mean 0, std 1 for that).
    public static func truncatedNormal(_ shape: [Int], mean: Double = 0, std: Double = 1, a: Double = -2, b: Double = 2,
                                       dtype: DType = .float32, generator: inout RandomGenerator) -> Tensor {
        precondition(a < b, "truncatedNormal: bounds [\(a), \(b)] are empty")
        return generated(shape, dtype: dtype) {
            var z = generator.nextNormal()
            var tries = 0
            while z < a || z > b {
                z = generator.nextNormal(); tries += 1
                // Far tails: fall back to uniform within the bounds rather than loop for ever.
                if tries > 1000 { z = a + (b - a) * generator.nextUniform(); break }
            }
            return mean + std * z
        }
    }

    /// Bernoulli samples: 1 with probability `probability`, else 0.
    public static func bernoulli(_ shape: [Int], probability p: Double, dtype: DType = .float32,
                                 generator: inout RandomGenerator) -> Tensor {
        generated(shape, dtype: dtype) { generator.nextUniform() < p ? 1 : 0 }
    }
}
