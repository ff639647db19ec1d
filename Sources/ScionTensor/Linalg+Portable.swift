// Portable linear algebra in Swift (Float64 throughout), used when no LAPACK is loaded: one-sided
// Jacobi SVD (Hestenes 1958; Demmel & Veselić 1992), cyclic Jacobi eigensolver for symmetric
// matrices, Householder QR, and Gaussian elimination with partial pivoting. O(n³) with small
// constants and no blocking: correct and accurate, not fast. Tests call these directly to check
// them against the LAPACK paths. Matrices are row-major `[Double]` with explicit dimensions.

import Foundation

/// Reference implementations of the linear-algebra routines, independent of LAPACK.
enum PortableLinalg {
    /// Sweeps before a Jacobi iteration is declared not to converge.
    static let maxSweeps = 60

    // MARK: SVD

    /// SVD of a row-major [m, n] matrix by one-sided Jacobi rotations.
    ///
    /// Returns `u` [m, k] (or [m, m] when `full`), `s` [k] descending, `vt` [k, n] (or [n, n]).
    static func svd(_ a: [Double], m: Int, n: Int, full: Bool) throws -> (u: [Double], s: [Double], vt: [Double]) {
        if m < n {
            // Aᵀ = U'·S·V'ᵀ  ⇒  A = V'·S·U'ᵀ.
            let t = try svd(transpose(a, rows: m, cols: n), m: n, n: m, full: full)
            let uCols = full ? n : m
            return (transpose(t.vt, rows: m, cols: m), t.s, transpose(t.u, rows: n, cols: uCols))
        }
        // m ≥ n: orthogonalize the n columns of A against each other; V accumulates the rotations.
        var g = (0..<n).map { j in (0..<m).map { i in a[i * n + j] } }   // columns of A
        var v = (0..<n).map { j in (0..<n).map { i in i == j ? 1.0 : 0.0 } }
        var converged = n < 2
        for _ in 0..<maxSweeps where !converged {
            var rotated = false
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let alpha = dot(g[p], g[p]), beta = dot(g[q], g[q]), gamma = dot(g[p], g[q])
                    if gamma == 0 || Swift.abs(gamma) <= Double.ulpOfOne * (alpha * beta).squareRoot() { continue }
                    rotated = true
                    // Choose the rotation that makes columns p and q orthogonal (smaller root of
                    // t² + 2ζt − 1 = 0, for stability).
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1.0 : -1.0) / (Swift.abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = c * t
                    rotate(&g, p, q, c: c, s: s)
                    rotate(&v, p, q, c: c, s: s)
                }
            }
            converged = !rotated
        }
        guard converged else { throw TensorError.linearAlgebra(routine: "svd (portable Jacobi)", info: maxSweeps) }
        let norms = g.map { dot($0, $0).squareRoot() }
        let order = (0..<n).sorted { norms[$0] > norms[$1] }
        let sigmaMax = norms.max() ?? 0
        let tiny = sigmaMax * Double.ulpOfOne * Double(Swift.max(m, n))
        var uColumns: [[Double]] = []
        var missing: [Int] = []
        for (slot, j) in order.enumerated() {
            if norms[j] > tiny && norms[j] > 0 {
                uColumns.append(g[j].map { $0 / norms[j] })
            } else {
                uColumns.append([Double](repeating: 0, count: m))
                missing.append(slot)
            }
        }
        // Columns with (numerically) zero singular value: any orthonormal completion is valid.
        completeBasis(&uColumns, fill: missing, dimension: m)
        let vColumns = order.map { v[$0] }   // m ≥ n: V is square
        if full {
            uColumns += Array(repeating: [Double](repeating: 0, count: m), count: m - n)
            completeBasis(&uColumns, fill: Array(n..<m), dimension: m)
        }
        let uCount = uColumns.count
        var u = [Double](repeating: 0, count: m * uCount)
        for (j, col) in uColumns.enumerated() { for i in 0..<m { u[i * uCount + j] = col[i] } }
        var vt = [Double](repeating: 0, count: n * n)
        for (j, col) in vColumns.enumerated() { for i in 0..<n { vt[j * n + i] = col[i] } }
        return (u, order.map { norms[$0] }, vt)
    }

    // MARK: Symmetric eigendecomposition

    /// Eigenvalues (ascending) and eigenvectors (columns of a row-major [n, n]) of a symmetric matrix,
    /// by cyclic Jacobi rotations. Reads the lower triangle only, like the LAPACK path.
    static func symmetricEigen(_ a: [Double], n: Int) throws -> (values: [Double], vectors: [Double]) {
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i { s[i * n + j] = a[i * n + j]; s[j * n + i] = a[i * n + j] }
        }
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let total = s.reduce(0) { $0 + $1 * $1 }
        var converged = false
        for _ in 0..<maxSweeps {
            var off = 0.0
            for i in 0..<n { for j in 0..<n where j != i { off += s[i * n + j] * s[i * n + j] } }
            // Off-diagonal norm ≤ 1e-15·‖S‖: eigenvalue error O(off²/gap), at rounding level.
            if off == 0 || off <= total * 1e-30 { converged = true; break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = s[p * n + q]
                    if apq == 0 { continue }
                    // Rotation J in the (p, q) plane with (Jᵀ S J)[p, q] = 0.
                    let theta = (s[q * n + q] - s[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (Swift.abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), sn = t * c
                    for k in 0..<n {   // S ← S·J (columns p, q)
                        let kp = s[k * n + p], kq = s[k * n + q]
                        s[k * n + p] = c * kp - sn * kq
                        s[k * n + q] = sn * kp + c * kq
                    }
                    for k in 0..<n {   // S ← Jᵀ·S (rows p, q)
                        let pk = s[p * n + k], qk = s[q * n + k]
                        s[p * n + k] = c * pk - sn * qk
                        s[q * n + k] = sn * pk + c * qk
                    }
                    s[p * n + q] = 0   // exact in exact arithmetic; drop the rounding residue
                    s[q * n + p] = 0
                    for k in 0..<n {   // V ← V·J
                        let kp = v[k * n + p], kq = v[k * n + q]
                        v[k * n + p] = c * kp - sn * kq
                        v[k * n + q] = sn * kp + c * kq
                    }
                }
            }
        }
        guard converged else { throw TensorError.linearAlgebra(routine: "symmetricEigen (portable Jacobi)", info: maxSweeps) }
        let order = (0..<n).sorted { s[$0 * n + $0] < s[$1 * n + $1] }
        var vectors = [Double](repeating: 0, count: n * n)
        for (j, src) in order.enumerated() { for i in 0..<n { vectors[i * n + j] = v[i * n + src] } }
        return (order.map { s[$0 * n + $0] }, vectors)
    }

    // MARK: QR

    /// Householder QR of a row-major [m, n] matrix: `q` [m, k], `r` [k, n], k = min(m, n), with a
    /// non-negative diagonal of R (the convention of ``Tensor/qr()``).
    static func qr(_ a: [Double], m: Int, n: Int) -> (q: [Double], r: [Double]) {
        let k = Swift.min(m, n)
        var r = a
        var reflectors: [[Double]] = []   // v for H = I − 2·v·vᵀ/(vᵀv), acting on rows j..<m
        for j in 0..<k {
            var v = (j..<m).map { r[$0 * n + j] }
            let norm = dot(v, v).squareRoot()
            // Reflect x onto −sign(x₀)·‖x‖·e₀, which avoids cancellation in v₀.
            v[0] += v[0] >= 0 ? norm : -norm
            let vv = dot(v, v)
            if norm == 0 || vv == 0 { reflectors.append([]); continue }
            for col in j..<n {
                var d = 0.0
                for i in j..<m { d += v[i - j] * r[i * n + col] }
                let f = 2 * d / vv
                for i in j..<m { r[i * n + col] -= f * v[i - j] }
            }
            reflectors.append(v)
        }
        // Q = H₀·H₁·…·H_{k−1} applied to the first k columns of the identity.
        var q = [Double](repeating: 0, count: m * k)
        for i in 0..<k { q[i * k + i] = 1 }
        for j in stride(from: k - 1, through: 0, by: -1) where !reflectors[j].isEmpty {
            let v = reflectors[j], vv = dot(v, v)
            for col in 0..<k {
                var d = 0.0
                for i in j..<m { d += v[i - j] * q[i * k + col] }
                let f = 2 * d / vv
                for i in j..<m { q[i * k + col] -= f * v[i - j] }
            }
        }
        var rOut = [Double](repeating: 0, count: k * n)
        for i in 0..<k { for j in i..<n { rOut[i * n + j] = r[i * n + j] } }
        for i in 0..<k where rOut[i * n + i] < 0 {
            for j in i..<n { rOut[i * n + j] = -rOut[i * n + j] }
            for row in 0..<m { q[row * k + i] = -q[row * k + i] }
        }
        return (q, rOut)
    }

    // MARK: Solve and inverse

    /// Solves A·X = B for square A [n, n] and B [n, r] (row-major) by Gaussian elimination with
    /// partial pivoting. Throws when a pivot is exactly zero (`info` = its 1-based index, as ?gesv).
    static func solve(_ a: [Double], _ b: [Double], n: Int, r: Int) throws -> [Double] {
        var a = a, x = b
        for col in 0..<n {
            var pivot = col
            for i in (col + 1)..<n where Swift.abs(a[i * n + col]) > Swift.abs(a[pivot * n + col]) {
                pivot = i
            }
            if a[pivot * n + col] == 0 { throw TensorError.linearAlgebra(routine: "gesv (portable)", info: col + 1) }
            if pivot != col {
                for j in 0..<n { a.swapAt(col * n + j, pivot * n + j) }
                for j in 0..<r { x.swapAt(col * r + j, pivot * r + j) }
            }
            let d = a[col * n + col]
            for i in (col + 1)..<n {
                let f = a[i * n + col] / d
                if f == 0 { continue }
                for j in col..<n { a[i * n + j] -= f * a[col * n + j] }
                for j in 0..<r { x[i * r + j] -= f * x[col * r + j] }
            }
        }
        for col in stride(from: n - 1, through: 0, by: -1) {   // back substitution
            let d = a[col * n + col]
            for j in 0..<r {
                var s = x[col * r + j]
                for k in (col + 1)..<n { s -= a[col * n + k] * x[k * r + j] }
                x[col * r + j] = s / d
            }
        }
        return x
    }

    /// The inverse of a square row-major [n, n] matrix (solve against the identity).
    static func inverse(_ a: [Double], n: Int) throws -> [Double] {
        var eye = [Double](repeating: 0, count: n * n)
        for i in 0..<n { eye[i * n + i] = 1 }
        do {
            return try solve(a, eye, n: n, r: n)
        } catch TensorError.linearAlgebra(_, let info) {
            throw TensorError.linearAlgebra(routine: "getrf (portable)", info: info)
        }
    }

    // MARK: Small helpers

    static func dot(_ x: [Double], _ y: [Double]) -> Double {
        var s = 0.0
        for i in x.indices { s += x[i] * y[i] }
        return s
    }

    static func transpose(_ a: [Double], rows: Int, cols: Int) -> [Double] {
        var t = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = a[i * cols + j] } }
        return t
    }

    /// Applies a plane rotation to vectors p and q: (p, q) ← (c·p − s·q, s·p + c·q).
    static func rotate(_ x: inout [[Double]], _ p: Int, _ q: Int, c: Double, s: Double) {
        for i in x[p].indices {
            let xp = x[p][i], xq = x[q][i]
            x[p][i] = c * xp - s * xq
            x[q][i] = s * xp + c * xq
        }
    }

    /// Replaces the vectors at `fill` with unit vectors orthogonal to all the others (the others
    /// must be orthonormal): for each, the standard basis vector with the largest component outside
    /// the current span, orthogonalized twice (Gram–Schmidt with reorthogonalization).
    static func completeBasis(_ columns: inout [[Double]], fill: [Int], dimension d: Int) {
        let missing = Set(fill)
        var basis = columns.indices.filter { !missing.contains($0) }
        for slot in fill {
            var best: [Double] = []
            var bestNorm = -1.0
            for e in 0..<d {
                var x = [Double](repeating: 0, count: d)
                x[e] = 1
                for _ in 0..<2 {
                    for b in basis {
                        let f = dot(columns[b], x)
                        for i in 0..<d { x[i] -= f * columns[b][i] }
                    }
                }
                let norm = dot(x, x).squareRoot()
                if norm > bestNorm { bestNorm = norm; best = x }
                if norm > 0.7 { break }   // comfortably independent: good enough
            }
            columns[slot] = best.map { $0 / bestNorm }
            basis.append(slot)
        }
    }
}
