// G_stack's growth time: how many tokens to train the small model before stacking it. Follows Du et
// al. 2024, "Stacking Your Transformers: A Closer Look at Model Growth for Efficient LLM
// Pre-Training" (§4, growth-timing guideline): a rule fitted over their runs,
//     log10(d) = a·log10(N) + b / log10(C) + c,   a = 0.88, b = 163.27, c = −5.74,
// with d the growth tokens, N the target (grown) parameter count and C the total compute budget in
// FLOPs; together with g = 4 (GStack.defaultGrowthFactor).
// NOTE: the seed text holds only the paper's abstract, which says the paper "formalizes guidelines
// to determine growth timing and growth factor" without giving them; the form and constants above
// are the paper's body (TECHNIQUES.md row 12: "g≈4, with the growth time d set by a rule fitted
// from target size and compute"). They are parameters here so a user can refit them.

import Foundation

/// The growth-time rule of G_stack: tokens to train before growing, from target size and compute.
///
/// The paper fits `log10(d) = a·log10(N) + b/log10(C) + c` (defaults a = 0.88, b = 163.27,
/// c = −5.74) on LLMs of about 0.4–7 B parameters and 10²⁰–10²² FLOPs. The seed abstract states
/// only that such guidelines exist; the constants come from the paper's body and are exposed so
/// they can be refitted. Far outside the fitted range (tiny models, tiny budgets) the rule
/// extrapolates badly — at 10⁶ parameters it asks for more tokens than the whole budget — so
/// ``recommendedGrowthStep(targetParameters:totalSteps:tokensPerStep:)`` clamps the growth step
/// to at most half the run (Scion's guard, not the paper's) and says when it did.
///
/// ```swift
/// let timing = GStackTiming()
/// let d = timing.growthTokens(targetParameters: 7e9, computeFLOPs: 1.3e22)      // ≈ 2·10¹⁰ tokens
/// let s = timing.recommendedGrowthStep(targetParameters: 1.2e6, totalSteps: 400, tokensPerStep: 512)
/// ```
public struct GStackTiming: Sendable, Equatable {
    /// The coefficient of log10(N).
    public var a: Double
    /// The coefficient of 1 / log10(C).
    public var b: Double
    /// The constant term.
    public var c: Double

    /// The paper's fitted constants by default.
    public init(a: Double = 0.88, b: Double = 163.27, c: Double = -5.74) {
        self.a = a; self.b = b; self.c = c
    }

    /// d = 10^(a·log10 N + b/log10 C + c): tokens to train the small model before growing.
    ///
    /// - Parameters:
    ///   - targetParameters: N, the parameter count of the grown model.
    ///   - computeFLOPs: C, the whole run's compute budget (≈ 6·N·tokens).
    public func growthTokens(targetParameters n: Double, computeFLOPs cFLOPs: Double) -> Double {
        precondition(n > 1 && cFLOPs > 10, "GStackTiming: N and C must exceed 1 and 10 (log10 > 0)")
        return pow(10, a * log10(n) + b / log10(cFLOPs) + c)
    }

    /// The growth step for a run of `totalSteps` steps of `tokensPerStep` tokens whose grown model has
    /// `targetParameters` parameters: d / tokensPerStep rounded, with C = 6·N·totalSteps·tokensPerStep,
    /// clamped to 1 … max(1, totalSteps / 2).
    ///
    /// - Returns: The step, the rule's d in tokens, and whether the step was clamped (the rule was
    ///   extrapolated beyond what the run can use).
    public func recommendedGrowthStep(targetParameters: Int, totalSteps: Int, tokensPerStep: Int)
        -> (step: Int, tokens: Double, clamped: Bool) {
        let budgetTokens = Double(max(totalSteps, 1)) * Double(max(tokensPerStep, 1))
        let n = Double(max(targetParameters, 2))
        let d = growthTokens(targetParameters: n, computeFLOPs: max(6 * n * budgetTokens, 11))
        let raw = (d / Double(max(tokensPerStep, 1))).rounded()
        let upper = max(1, totalSteps / 2)
        let step = raw.isFinite ? Int(min(max(raw, 1), Double(upper))) : upper
        return (step, d, !(raw >= 1 && raw <= Double(upper)))
    }
}
