// FastMath's vectorized float32 exp, tanh and erf against libm over a dense sweep of inputs.

import Foundation
import Testing
@testable import ScionTensor

@Suite struct FastMathTests {
    static let inputs: [Float] = stride(from: -100.0, through: 100.0, by: 0.01).map { Float($0) }
        + [0, -0, .infinity, -.infinity, 88, -87, 1e-8, -1e-8]

    func check(_ f: (SIMD8<Float>) -> SIMD8<Float>, _ ref: (Float) -> Float, relative: Float, absolute: Float) {
        var worst: (Float, Float, Float) = (0, 0, 0)
        var i = 0
        while i < Self.inputs.count {
            var v = SIMD8<Float>(repeating: 0)
            let n = min(8, Self.inputs.count - i)
            for j in 0..<n { v[j] = Self.inputs[i + j] }
            let r = f(v)
            for j in 0..<n {
                let x = Self.inputs[i + j], want = ref(x), got = r[j]
                let err = abs(got - want)
                let allowed = absolute + relative * abs(want)
                if !(err <= allowed) && !(want.isInfinite && got == want) && err - allowed > worst.2 {
                    worst = (x, got, err - allowed)
                }
            }
            i += 8
        }
        #expect(worst.2 == 0, "worst input \(worst.0) gave \(worst.1), over tolerance by \(worst.2)")
    }

    @Test func expMatchesLibm() {
        // Relative 4e-7 covers the polynomial's truncation and the Horner roundings; results below the
        // smallest normal float (x < −87.33) are flushed to zero, hence the absolute 1.2e-38.
        check(FastMath.exp, { Foundation.expf($0) }, relative: 4e-7, absolute: 1.2e-38)
    }

    @Test func tanhMatchesLibm() {
        check(FastMath.tanh, { Foundation.tanhf($0) }, relative: 1e-6, absolute: 2e-7)
    }

    @Test func erfMatchesLibm() {
        // Abramowitz & Stegun 7.1.26 is accurate to 1.5e-7 absolute.
        check(FastMath.erf, { Foundation.erff($0) }, relative: 0, absolute: 3e-7)
    }
}
