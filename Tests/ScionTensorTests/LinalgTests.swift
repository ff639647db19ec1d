// Tests for Linalg.swift, Linalg+Portable.swift and Linalg+Randomized.swift: factorization
// identities (reconstruction, orthogonality, triangularity, residuals) for the LAPACK paths in
// float32 and float64 over odd shapes, typed errors for singular matrices, randomized SVD on a
// matrix of known spectrum, and the portable Swift routines checked directly against LAPACK.

import Foundation
import Testing
@testable import ScionTensor

// MARK: - Helpers

private func randomMatrix(_ m: Int, _ n: Int, dtype: DType = .float64, seed: UInt64 = 1) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.normal([m, n], dtype: dtype, generator: &g)
}

/// Row-major product of [m, k] and [k, n] in Double.
private func product(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for p in 0..<k { let x = a[i * k + p]; for j in 0..<n { c[i * n + j] += x * b[p * n + j] } } }
    return c
}

private func transpose(_ a: [Double], _ m: Int, _ n: Int) -> [Double] {
    PortableLinalg.transpose(a, rows: m, cols: n)
}

private func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { Swift.max($0, abs($1.0 - $1.1)) }
}

private func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { Swift.max($0, abs($1)) } }

private func identity(_ n: Int) -> [Double] {
    var e = [Double](repeating: 0, count: n * n)
    for i in 0..<n { e[i * n + i] = 1 }
    return e
}

/// Relative tolerance for factorization identities: float32 results carry single-precision error.
private func tolerance(_ dtype: DType) -> Double { dtype == .float32 ? 1e-4 : 1e-10 }

/// Checks the columns of a row-major [m, c] matrix are orthonormal: QᵀQ = I.
private func expectOrthonormalColumns(_ q: [Double], rows m: Int, cols c: Int, tol: Double,
                                      sourceLocation: SourceLocation = #_sourceLocation) {
    let qtq = product(transpose(q, m, c), q, m: c, k: m, n: c)
    #expect(maxAbsDiff(qtq, identity(c)) <= tol, "QᵀQ ≠ I", sourceLocation: sourceLocation)
}

/// U·diag(S)·Vt for row-major U [m, k] (first k of uCols columns), S [k], Vt [k, n] (first k rows).
private func reconstruct(u: [Double], uCols: Int, s: [Double], vt: [Double], m: Int, n: Int) -> [Double] {
    let k = s.count
    var us = [Double](repeating: 0, count: m * k)
    for i in 0..<m { for j in 0..<k { us[i * k + j] = u[i * uCols + j] * s[j] } }
    return product(us, Array(vt.prefix(k * n)), m: m, k: k, n: n)
}

private let svdShapes: [(Int, Int)] = [(5, 3), (3, 5), (4, 4), (1, 6), (6, 1), (1, 1), (17, 9), (8, 20)]
private let floatTypes: [DType] = [.float32, .float64]

// MARK: - LAPACK paths

@Suite("LinalgTests")
struct LinalgTests {
    @Test func lapackIsFoundWhenOpenBLASIsLoaded() {
        if BLAS.shared.kind != .portable { #expect(LAPACK.isAvailable) }
    }

    @Test(arguments: floatTypes, [false, true])
    func svdReconstructsAndIsOrthonormal(dtype: DType, full: Bool) throws {
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, dtype: dtype, seed: UInt64(m * 31 + n))
            let (u, s, vt) = try a.svd(full: full)
            let k = min(m, n)
            #expect(u.shape == [m, full ? m : k] && s.shape == [k] && vt.shape == [full ? n : k, n])
            #expect(u.dtype == dtype && s.dtype == dtype && vt.dtype == dtype)
            let sv = s.doubles()
            #expect(zip(sv, sv.dropFirst()).allSatisfy { $0 >= $1 } && sv.allSatisfy { $0 >= 0 }, "S not descending")
            let ad = a.doubles(), tol = tolerance(dtype)
            let r = reconstruct(u: u.doubles(), uCols: u.shape[1], s: sv, vt: vt.doubles(), m: m, n: n)
            #expect(maxAbsDiff(r, ad) <= tol * maxAbs(ad), "U·S·Vt ≠ A for [\(m), \(n)] \(dtype)")
            expectOrthonormalColumns(u.doubles(), rows: m, cols: u.shape[1], tol: tol)
            expectOrthonormalColumns(transpose(vt.doubles(), vt.shape[0], n), rows: n, cols: vt.shape[0], tol: tol)
        }
    }

    @Test(arguments: floatTypes, [false, true])
    func gesvdFallbackMatchesGesdd(dtype: DType, full: Bool) throws {
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, dtype: dtype, seed: UInt64(m * 17 + n))
            let result: (u: Tensor, s: Tensor, vt: Tensor)?
            if dtype == .float32 {
                result = try Linalg.lapackSVD(a, Float.self, full: full, forceGESVD: true)
            } else {
                result = try Linalg.lapackSVD(a, Double.self, full: full, forceGESVD: true)
            }
            guard let (u, s, vt) = result else { return }   // no LAPACK here
            let ref = try a.svd(full: full), tol = tolerance(dtype)
            #expect(u.shape == ref.u.shape && vt.shape == ref.vt.shape)
            #expect(maxAbsDiff(s.doubles(), ref.s.doubles()) <= tol * maxAbs(ref.s.doubles()))
            let r = reconstruct(u: u.doubles(), uCols: u.shape[1], s: s.doubles(), vt: vt.doubles(), m: m, n: n)
            #expect(maxAbsDiff(r, a.doubles()) <= tol * maxAbs(a.doubles()))
            expectOrthonormalColumns(u.doubles(), rows: m, cols: u.shape[1], tol: tol)
        }
    }

    @Test(arguments: floatTypes)
    func mediumSizedFactorizations(dtype: DType) throws {
        // Large enough for blocked LAPACK code paths and non-trivial workspace queries.
        let (m, n) = (150, 90)
        let a = randomMatrix(m, n, dtype: dtype, seed: 99)
        let tol = dtype == .float32 ? 1e-3 : 1e-9   // float32 error grows with size (about √n·ε·‖A‖)
        let (u, s, vt) = try a.svd()
        let r = reconstruct(u: u.doubles(), uCols: n, s: s.doubles(), vt: vt.doubles(), m: m, n: n)
        #expect(maxAbsDiff(r, a.doubles()) <= tol * maxAbs(a.doubles()))
        let (q, rr) = try a.qr()
        #expect(maxAbsDiff(product(q.doubles(), rr.doubles(), m: m, k: n, n: n), a.doubles()) <= tol * maxAbs(a.doubles()))
        let gram = a.matrixTransposed.matmul(a)                                   // [n, n], symmetric
        let (w, v) = try gram.symmetricEigen()
        let lhs = product(gram.doubles(), v.doubles(), m: n, k: n, n: n)
        var rhs = v.doubles()
        let wv = w.doubles()
        for i in 0..<n { for j in 0..<n { rhs[i * n + j] *= wv[j] } }
        #expect(maxAbsDiff(lhs, rhs) <= tol * maxAbs(gram.doubles()))
        let inv = try gram.inverse()
        #expect(maxAbsDiff(product(inv.doubles(), gram.doubles(), m: n, k: n, n: n), identity(n)) <= tol * 10)
    }

    @Test func misuseTrapsWithOpNameAndShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = try? Tensor.zeros([4]).svd()
        }
        if let result {
            let stderr = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(stderr.contains("svd: expected a 2-D tensor, got shape [4]"), "stderr: \(stderr)")
        }
        await #expect(processExitsWith: .failure) { _ = try? Tensor.zeros([2, 3]).inverse() }
        await #expect(processExitsWith: .failure) { _ = try? Tensor.zeros([3, 3]).solve(Tensor.zeros([2])) }
    }

    @Test func svdOfZeroSizeMatrices() throws {
        let (u, s, vt) = try Tensor.zeros([0, 3], dtype: .float64).svd()
        #expect(u.shape == [0, 0] && s.shape == [0] && vt.shape == [0, 3])
        let full = try Tensor.zeros([3, 0]).svd(full: true)
        #expect(full.u.shape == [3, 3] && full.s.shape == [0] && full.vt.shape == [0, 0])
        #expect(maxAbsDiff(full.u.doubles(), identity(3)) == 0)
    }

    @Test func svdOfNonContiguousInputAndDetachedResults() throws {
        let a = randomMatrix(6, 4, seed: 9).requiringGradient()
        let at = a.matrixTransposed                                   // [4, 6] strided view
        let (u, s, vt) = try at.svd()
        #expect(!u.requiresGradient && !s.requiresGradient && !vt.requiresGradient)
        let r = reconstruct(u: u.doubles(), uCols: 4, s: s.doubles(), vt: vt.doubles(), m: 4, n: 6)
        #expect(maxAbsDiff(r, at.doubles()) <= 1e-10 * maxAbs(at.doubles()))
    }

    @Test func svdOfRankDeficientMatrix() throws {
        // Outer product: rank 1, so four singular values are (numerically) zero.
        let x = Tensor(doubles: [1, 2, 3, 4, 5], shape: [5, 1]), y = Tensor(doubles: [1, -1, 2, 0.5], shape: [1, 4])
        let a = x.matmul(y)
        let (u, s, _) = try a.svd()
        let sv = s.doubles()
        #expect(abs(sv[0] - (55.0).squareRoot() * (6.25).squareRoot()) < 1e-12)
        #expect(sv.dropFirst().allSatisfy { $0 < 1e-12 })
        expectOrthonormalColumns(u.doubles(), rows: 5, cols: 4, tol: 1e-12)
    }

    @Test(arguments: floatTypes)
    func qrReconstructsWithUpperTriangularR(dtype: DType) throws {
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, dtype: dtype, seed: UInt64(m * 7 + n))
            let (q, r) = try a.qr()
            let k = min(m, n)
            #expect(q.shape == [m, k] && r.shape == [k, n])
            let rv = r.doubles(), tol = tolerance(dtype)
            for i in 0..<k {
                #expect(rv[i * n + i] >= 0, "R's diagonal must be non-negative")
                for j in 0..<min(i, n) { #expect(rv[i * n + j] == 0, "R not upper triangular at [\(i), \(j)]") }
            }
            expectOrthonormalColumns(q.doubles(), rows: m, cols: k, tol: tol)
            let qr = product(q.doubles(), rv, m: m, k: k, n: n)
            #expect(maxAbsDiff(qr, a.doubles()) <= tol * maxAbs(a.doubles()), "Q·R ≠ A for [\(m), \(n)] \(dtype)")
        }
        let empty = try Tensor.zeros([4, 0], dtype: dtype).qr()
        #expect(empty.q.shape == [4, 0] && empty.r.shape == [0, 0])
    }

    @Test(arguments: floatTypes, [1, 2, 5, 12])
    func symmetricEigenResidual(dtype: DType, n: Int) throws {
        let x = randomMatrix(n, n, dtype: .float64, seed: UInt64(n))
        let sym = (x + x.matrixTransposed).cast(dtype)
        let (values, vectors) = try sym.symmetricEigen()
        #expect(values.shape == [n] && vectors.shape == [n, n])
        let w = values.doubles(), v = vectors.doubles(), a = sym.doubles(), tol = tolerance(dtype)
        #expect(zip(w, w.dropFirst()).allSatisfy { $0 <= $1 }, "eigenvalues not ascending")
        let av = product(a, v, m: n, k: n, n: n)
        var lv = v
        for i in 0..<n { for j in 0..<n { lv[i * n + j] *= w[j] } }
        #expect(maxAbsDiff(av, lv) <= tol * maxAbs(a), "A·v ≠ λ·v (n = \(n), \(dtype))")
        expectOrthonormalColumns(v, rows: n, cols: n, tol: tol)
    }

    @Test(arguments: floatTypes)
    func solveResidual(dtype: DType) throws {
        let n = 7
        let a = randomMatrix(n, n, dtype: dtype, seed: 3) + Tensor.linalgIdentity(n, dtype: dtype) * 3
        let b2 = randomMatrix(n, 3, dtype: dtype, seed: 4)
        let x2 = try a.solve(b2)
        #expect(x2.shape == [n, 3])
        let tol = tolerance(dtype)
        #expect(maxAbsDiff(product(a.doubles(), x2.doubles(), m: n, k: n, n: 3), b2.doubles()) <= tol * 10)
        let b1 = randomMatrix(n, 1, dtype: dtype, seed: 5).reshaped([n])
        let x1 = try a.solve(b1)
        #expect(x1.shape == [n])
        #expect(maxAbsDiff(product(a.doubles(), x1.doubles(), m: n, k: n, n: 1), b1.doubles()) <= tol * 10)
        #expect(try Tensor.zeros([0, 0], dtype: dtype).solve(Tensor.zeros([0, 2], dtype: dtype)).shape == [0, 2])
    }

    @Test(arguments: floatTypes)
    func inverseTimesMatrixIsIdentity(dtype: DType) throws {
        for n in [1, 2, 6] {
            let a = randomMatrix(n, n, dtype: dtype, seed: UInt64(10 + n)) + Tensor.linalgIdentity(n, dtype: dtype) * 2
            let inv = try a.inverse()
            let p = product(inv.doubles(), a.doubles(), m: n, k: n, n: n)
            #expect(maxAbsDiff(p, identity(n)) <= tolerance(dtype) * 10, "A⁻¹·A ≠ I (n = \(n), \(dtype))")
        }
        #expect(try Tensor.zeros([0, 0], dtype: dtype).inverse().shape == [0, 0])
    }

    @Test(arguments: floatTypes)
    func singularMatrixThrowsTypedError(dtype: DType) {
        let a = Tensor(doubles: [1, 2, 3, 2, 4, 6, 1, 0, 1], shape: [3, 3], dtype: dtype)   // row 2 = 2·row 1
        let b = Tensor(doubles: [1, 2, 3], shape: [3], dtype: dtype)
        let prefix = dtype == .float32 ? "s" : "d"
        #expect(throws: TensorError.linearAlgebra(routine: prefix + "gesv", info: 3)) { try a.solve(b) }
        // The LU runs on the stored transpose, so getrf's zero pivot index need not be 3.
        let error = #expect(throws: TensorError.self) { try a.inverse() }
        if case .linearAlgebra(let routine, let info)? = error {
            #expect(routine == prefix + "getrf" && info > 0)
        } else {
            Issue.record("expected .linearAlgebra, got \(String(describing: error))")
        }
        #expect(throws: TensorError.self) { try Tensor.zeros([2, 2], dtype: dtype).inverse() }
    }

    // MARK: Randomized SVD

    @Test(arguments: floatTypes)
    func randomizedSVDRecoversLowRankSpectrum(dtype: DType) throws {
        // A = Q₁·diag(σ)·Q₂ᵀ with known σ (rank 5), built in float64.
        let (m, n) = (60, 40)
        let sigma: [Double] = [10, 7, 4, 2, 0.5]
        let q1 = try randomMatrix(m, 5, seed: 21).qr().q.doubles()
        let q2 = try randomMatrix(n, 5, seed: 22).qr().q.doubles()
        let a = Tensor(doubles: reconstruct(u: q1, uCols: 5, s: sigma, vt: transpose(q2, n, 5), m: m, n: n),
                       shape: [m, n], dtype: dtype)
        var rng = RandomGenerator(seed: 7)
        let (u, s, vt) = try a.randomizedSVD(rank: 5, oversampling: 5, powerIterations: 1, generator: &rng)
        #expect(u.shape == [m, 5] && s.shape == [5] && vt.shape == [5, n])
        let tol = tolerance(dtype)
        #expect(maxAbsDiff(s.doubles(), sigma) <= tol * 10 * sigma[0], "σ = \(s.doubles())")
        let r = reconstruct(u: u.doubles(), uCols: 5, s: s.doubles(), vt: vt.doubles(), m: m, n: n)
        #expect(maxAbsDiff(r, a.doubles()) <= tol * 10 * maxAbs(a.doubles()))
        expectOrthonormalColumns(u.doubles(), rows: m, cols: 5, tol: tol * 10)

        // Same seed, same result.
        var again = RandomGenerator(seed: 7)
        let s2 = try a.randomizedSVD(rank: 5, oversampling: 5, powerIterations: 1, generator: &again).s
        #expect(s2.doubles() == s.doubles())
    }

    @Test func randomizedSVDClampsRank() throws {
        var rng = RandomGenerator(seed: 1)
        let (u, s, vt) = try randomMatrix(3, 8).randomizedSVD(rank: 10, generator: &rng)
        #expect(u.shape == [3, 3] && s.shape == [3] && vt.shape == [3, 8])
        let exact = try randomMatrix(3, 8).svd().s.doubles()
        #expect(maxAbsDiff(s.doubles(), exact) <= 1e-10)
    }
}

// MARK: - Portable fallbacks against LAPACK

@Suite("LinalgTests.Portable")
struct LinalgPortableTests {
    @Test(arguments: [false, true])
    func portableSVDMatchesLAPACK(full: Bool) throws {
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, seed: UInt64(m * 13 + n))
            let p = try PortableLinalg.svd(a.doubles(), m: m, n: n, full: full)
            let ref = try a.svd(full: full)
            let k = min(m, n), uCols = full ? m : k, vtRows = full ? n : k
            #expect(p.u.count == m * uCols && p.vt.count == vtRows * n)
            #expect(maxAbsDiff(p.s, ref.s.doubles()) <= 1e-12 * maxAbs(p.s), "[\(m), \(n)]")
            let r = reconstruct(u: p.u, uCols: uCols, s: p.s, vt: p.vt, m: m, n: n)
            #expect(maxAbsDiff(r, a.doubles()) <= 1e-12 * maxAbs(a.doubles()))
            expectOrthonormalColumns(p.u, rows: m, cols: uCols, tol: 1e-12)
            expectOrthonormalColumns(transpose(p.vt, vtRows, n), rows: n, cols: vtRows, tol: 1e-12)
        }
    }

    @Test func portableSVDOfRankDeficientAndZeroMatrices() throws {
        let a = [1.0, 2, 2, 4, 3, 6]                                         // [3, 2], rank 1
        let p = try PortableLinalg.svd(a, m: 3, n: 2, full: true)
        #expect(abs(p.s[0] - (70.0).squareRoot()) < 1e-12 && abs(p.s[1]) < 1e-12)
        expectOrthonormalColumns(p.u, rows: 3, cols: 3, tol: 1e-12)
        let z = try PortableLinalg.svd([Double](repeating: 0, count: 6), m: 2, n: 3, full: false)
        #expect(z.s == [0, 0])
        expectOrthonormalColumns(z.u, rows: 2, cols: 2, tol: 1e-12)
    }

    @Test func portableQRMatchesLAPACK() throws {
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, seed: UInt64(m * 5 + n))
            let p = PortableLinalg.qr(a.doubles(), m: m, n: n)
            let ref = try a.qr()
            // With R's diagonal non-negative the factorization is unique, so Q and R match entrywise.
            #expect(maxAbsDiff(p.q, ref.q.doubles()) <= 1e-12, "Q for [\(m), \(n)]")
            #expect(maxAbsDiff(p.r, ref.r.doubles()) <= 1e-12 * maxAbs(a.doubles()), "R for [\(m), \(n)]")
        }
    }

    @Test(arguments: [1, 3, 8])
    func portableEigenMatchesLAPACK(n: Int) throws {
        let x = randomMatrix(n, n, seed: UInt64(40 + n))
        let sym = x + x.matrixTransposed
        let p = try PortableLinalg.symmetricEigen(sym.doubles(), n: n)
        let ref = try sym.symmetricEigen()
        #expect(maxAbsDiff(p.values, ref.eigenvalues.doubles()) <= 1e-12 * maxAbs(p.values))
        // Eigenvectors agree up to sign (eigenvalues of a random matrix are distinct).
        let rv = ref.eigenvectors.doubles()
        for j in 0..<n {
            let d = (0..<n).reduce(0.0) { $0 + p.vectors[$1 * n + j] * rv[$1 * n + j] }
            #expect(abs(abs(d) - 1) <= 1e-10, "eigenvector \(j)")
        }
    }

    @Test func portableEigenReadsLowerTriangleLikeLAPACK() throws {
        let a = Tensor(doubles: [2, 99, 99, 1, 3, 99, 0, 1, 4], shape: [3, 3])   // upper triangle is junk
        let p = try PortableLinalg.symmetricEigen(a.doubles(), n: 3)
        #expect(maxAbsDiff(p.values, try a.symmetricEigen().eigenvalues.doubles()) <= 1e-12)
    }

    @Test func portableSolveAndInverseMatchLAPACK() throws {
        let n = 6
        let a = randomMatrix(n, n, seed: 50)
        let b = randomMatrix(n, 2, seed: 51)
        let x = try PortableLinalg.solve(a.doubles(), b.doubles(), n: n, r: 2)
        #expect(maxAbsDiff(x, try a.solve(b).doubles()) <= 1e-10)
        let inv = try PortableLinalg.inverse(a.doubles(), n: n)
        #expect(maxAbsDiff(inv, try a.inverse().doubles()) <= 1e-10)
    }

    @Test(arguments: floatTypes)
    func tensorAPIWithoutLAPACKMatchesLAPACK(dtype: DType) throws {
        let tol = tolerance(dtype)
        for (m, n) in svdShapes {
            let a = randomMatrix(m, n, dtype: dtype, seed: UInt64(m * 3 + n))
            for full in [false, true] {
                let p = try a.svd(full: full, usingLAPACK: false), ref = try a.svd(full: full)
                #expect(p.u.shape == ref.u.shape && p.s.shape == ref.s.shape && p.vt.shape == ref.vt.shape)
                #expect(p.u.dtype == dtype)
                #expect(maxAbsDiff(p.s.doubles(), ref.s.doubles()) <= tol * maxAbs(ref.s.doubles()))
                let r = reconstruct(u: p.u.doubles(), uCols: p.u.shape[1], s: p.s.doubles(), vt: p.vt.doubles(), m: m, n: n)
                #expect(maxAbsDiff(r, a.doubles()) <= tol * maxAbs(a.doubles()))
            }
            let q = try a.qr(usingLAPACK: false), qRef = try a.qr()
            #expect(q.q.shape == qRef.q.shape && q.r.shape == qRef.r.shape)
            #expect(maxAbsDiff(q.q.doubles(), qRef.q.doubles()) <= tol * 10)
        }
        let x = randomMatrix(5, 5, dtype: dtype, seed: 77)
        let sym = x + x.matrixTransposed
        let e = try sym.symmetricEigen(usingLAPACK: false), eRef = try sym.symmetricEigen()
        #expect(e.eigenvectors.shape == [5, 5])
        #expect(maxAbsDiff(e.eigenvalues.doubles(), eRef.eigenvalues.doubles()) <= tol * maxAbs(sym.doubles()))
        let b = randomMatrix(5, 1, dtype: dtype, seed: 78).reshaped([5])
        let xs = try x.solve(b, usingLAPACK: false)
        #expect(xs.shape == [5])
        #expect(maxAbsDiff(product(x.doubles(), xs.doubles(), m: 5, k: 5, n: 1), b.doubles()) <= tol * 100)
        let inv = try x.inverse(usingLAPACK: false)
        #expect(maxAbsDiff(product(inv.doubles(), x.doubles(), m: 5, k: 5, n: 5), identity(5)) <= tol * 100)
        let singular = Tensor(doubles: [1, 2, 2, 4], shape: [2, 2], dtype: dtype)
        #expect(throws: TensorError.self) { try singular.inverse(usingLAPACK: false) }
        #expect(throws: TensorError.self) { try singular.solve(b.sliced(axis: 0, 0..<2), usingLAPACK: false) }
    }

    @Test func portableSingularThrows() {
        let a: [Double] = [1, 2, 3, 2, 4, 6, 1, 0, 1]
        #expect(throws: TensorError.linearAlgebra(routine: "gesv (portable)", info: 3)) {
            try PortableLinalg.solve(a, [1, 2, 3], n: 3, r: 1)
        }
        #expect(throws: TensorError.linearAlgebra(routine: "getrf (portable)", info: 3)) {
            try PortableLinalg.inverse(a, n: 3)
        }
    }
}
