// Randomized truncated SVD: Halko, Martinsson & Tropp, "Finding structure with randomness:
// Probabilistic algorithms for constructing approximate matrix decompositions", SIAM Review 53(2),
// 2011 — Algorithm 4.4 (randomized subspace iteration) followed by Algorithm 5.1 (direct SVD).
// Built from matmul, qr() and svd(); the Gaussian sketch comes from Scion's seeded generator, so a
// seed reproduces the result exactly. Results are detached (no gradients).

import Foundation

extension Tensor {
    /// A rank-`rank` approximation `A ≈ U · diag(S) · Vt` computed by randomized subspace iteration.
    ///
    /// Following Halko, Martinsson & Tropp (2011), with `ℓ = min(rank + oversampling, m, n)`:
    ///
    /// ```
    /// Ω ~ N(0, 1) [n, ℓ]        Gaussian test matrix
    /// Q = qr(A·Ω).q             [m, ℓ]  orthonormal basis for the sampled range
    /// repeat powerIterations:   (re-orthonormalizing at every step, Algorithm 4.4)
    ///     Q̃ = qr(Aᵀ·Q).q ;  Q = qr(A·Q̃).q
    /// B = Qᵀ·A                  [ℓ, n]
    /// B = Ũ·S·Vt                small SVD
    /// U = Q·Ũ                   truncated to the leading `rank` triplets
    /// ```
    ///
    /// Power iterations sharpen the spectrum (singular values decaying slowly need 1–2 of them).
    /// The results are detached from the gradient graph.
    ///
    /// - Parameters:
    ///   - rank: Number of singular triplets to return (clamped to `min(m, n)`).
    ///   - oversampling: Extra sketch columns that make the captured subspace accurate (default 10).
    ///   - powerIterations: Subspace iterations (default 2).
    ///   - generator: Seeded source of the Gaussian sketch.
    /// - Returns: `(u, s, vt)`: U [m, r], S [r] descending, Vt [r, n], with r = min(rank, m, n).
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` when the small SVD fails to converge.
    ///
    /// ```swift
    /// var rng = RandomGenerator(seed: 0)
    /// let (u, s, vt) = try weight.randomizedSVD(rank: 16, generator: &rng)
    /// ```
    public func randomizedSVD(rank: Int, oversampling: Int = 10, powerIterations: Int = 2,
                              generator: inout RandomGenerator) throws -> (u: Tensor, s: Tensor, vt: Tensor) {
        let (m, n) = linalgMatrixDimensions(op: "randomizedSVD")
        precondition(rank >= 0 && oversampling >= 0 && powerIterations >= 0,
                     "randomizedSVD: shape \(shape): rank \(rank), oversampling \(oversampling) and "
                     + "powerIterations \(powerIterations) must be non-negative")
        let r = Swift.min(rank, m, n)
        let l = Swift.min(r + oversampling, m, n)
        if r == 0 {
            return (Tensor.zeros([m, 0], dtype: dtype), Tensor.zeros([0], dtype: dtype), Tensor.zeros([0, n], dtype: dtype))
        }
        return try withoutGradients {
            let a = detached()
            let at = a.matrixTransposed                                     // [n, m] view
            let omega = Tensor.normal([n, l], dtype: dtype, generator: &generator)   // [n, ℓ]
            var q = try a.matmul(omega).qr().q                              // [m, ℓ]
            for _ in 0..<powerIterations {
                let qt = try at.matmul(q).qr().q                            // [n, ℓ]
                q = try a.matmul(qt).qr().q                                 // [m, ℓ]
            }
            let b = q.matrixTransposed.matmul(a)                            // [ℓ, n]
            let small = try b.svd()                                         // Ũ [ℓ, ℓ], S [ℓ], Vt [ℓ, n]
            let u = q.matmul(small.u)                                       // [m, ℓ]
            return (u.sliced(axis: 1, 0..<r).contiguous(),                  // [m, r]
                    small.s.sliced(axis: 0, 0..<r).contiguous(),            // [r]
                    small.vt.sliced(axis: 0, 0..<r).contiguous())           // [r, n]
        }
    }
}
