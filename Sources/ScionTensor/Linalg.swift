// Dense linear algebra on 2-D tensors through LAPACK: thin/full SVD (?gesdd, falling back to ?gesvd),
// QR (?geqrf + ?orgqr), symmetric eigendecomposition (?syevd), linear solve (?gesv) and inverse
// (?getrf + ?getri), in float32 and float64. LAPACK symbols come from the OpenBLAS that BLAS.swift
// loads (Fortran interface, LP64: 32-bit integers) or, on Apple platforms, from Accelerate's LAPACK,
// looked up by name so that BLAS.swift stays the only file importing the C module. Without LAPACK,
// the portable Swift routines in Linalg+Portable.swift run instead (slower, same results).
// Not autograd ops: every result is detached (gradients through SVD/eigen are out of scope).
// NOTE: LAPACK is column-major and tensors are row-major; a row-major [m, n] buffer *is* the
// column-major Aᵀ, so routines are arranged to work on the transpose where that avoids a copy.

import Foundation

// MARK: - LAPACK entry points

/// Function-pointer types for the Fortran LAPACK routines used here, and their lookup.
///
/// Real arrays are passed as raw pointers so one type serves both the `s` and `d` variants.
/// Trailing `Int` parameters are the hidden character-length arguments of gfortran-built
/// libraries; C-translated builds ignore them (extra arguments are harmless in the C ABI).
enum LAPACK {
    typealias Real = UnsafeMutableRawPointer?
    typealias IntP = UnsafeMutablePointer<Int32>?
    typealias CharP = UnsafePointer<CChar>?

    // ?gesdd(jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork, info)
    typealias GESDD = @convention(c) (CharP, IntP, IntP, Real, IntP, Real, Real, IntP, Real, IntP,
                                      Real, IntP, IntP, IntP, Int) -> Void
    // ?gesvd(jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, info)
    typealias GESVD = @convention(c) (CharP, CharP, IntP, IntP, Real, IntP, Real, Real, IntP, Real, IntP,
                                      Real, IntP, IntP, Int, Int) -> Void
    // ?geqrf(m, n, a, lda, tau, work, lwork, info)
    typealias GEQRF = @convention(c) (IntP, IntP, Real, IntP, Real, Real, IntP, IntP) -> Void
    // ?orgqr(m, n, k, a, lda, tau, work, lwork, info)
    typealias ORGQR = @convention(c) (IntP, IntP, IntP, Real, IntP, Real, Real, IntP, IntP) -> Void
    // ?syevd(jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork, info)
    typealias SYEVD = @convention(c) (CharP, CharP, IntP, Real, IntP, Real, Real, IntP, IntP, IntP, IntP,
                                      Int, Int) -> Void
    // ?gesv(n, nrhs, a, lda, ipiv, b, ldb, info)
    typealias GESV = @convention(c) (IntP, IntP, Real, IntP, IntP, Real, IntP, IntP) -> Void
    // ?getrf(m, n, a, lda, ipiv, info)
    typealias GETRF = @convention(c) (IntP, IntP, Real, IntP, IntP, IntP) -> Void
    // ?getri(n, a, lda, ipiv, work, lwork, info)
    typealias GETRI = @convention(c) (IntP, Real, IntP, IntP, Real, IntP, IntP) -> Void

    /// The routine name with its precision prefix, e.g. `name("gesdd", Float.self)` = "sgesdd".
    static func name<T: TensorFloat>(_ base: String, _: T.Type) -> String {
        (T.self == Float.self ? "s" : "d") + base
    }

    /// The routine `base` ("gesdd") for element type `T`, or nil when no LAPACK is loaded.
    static func function<T: TensorFloat, F>(_ base: String, _ t: T.Type, as: F.Type) -> F? {
        let symbol = name(base, t) + "_"
        #if canImport(Accelerate)
        // Accelerate is linked into the process by BLAS.swift; RTLD_DEFAULT finds its CLAPACK symbols.
        guard let s = dlsym(UnsafeMutableRawPointer(bitPattern: -2), symbol) else { return nil }
        return unsafeBitCast(s, to: F.self)
        #else
        return BLAS.shared.lapack(symbol, as: F.self)
        #endif
    }

    /// True when LAPACK routines were found (otherwise the portable Swift routines run).
    static var isAvailable: Bool {
        function("gesdd", Double.self, as: GESDD.self) != nil && function("syevd", Double.self, as: SYEVD.self) != nil
    }

    /// The workspace size a LAPACK query (lwork = -1) wrote into `work[0]`.
    static func workspaceSize<T: TensorFloat>(_ value: T, minimum: Int) -> Int {
        // NOTE: float32 queries round large sizes down; round up and add slack.
        Swift.max(minimum, Int(Double(value).rounded(.up)) + 1)
    }
}

// MARK: - Helpers

extension Tensor {
    /// Checks a linear-algebra operand: 2-D and float32/float64. Returns its dimensions.
    func linalgMatrixDimensions(op: String) -> (m: Int, n: Int) {
        precondition(rank == 2, "\(op): expected a 2-D tensor, got shape \(shape)")
        precondition(dtype == .float32 || dtype == .float64,
                     "\(op): dtype \(dtype) of shape \(shape) is not supported (use float32 or float64)")
        return (shape[0], shape[1])
    }

    /// A fresh row-major copy of the elements in `storage` (LAPACK overwrites its input).
    func linalgRowMajorCopy() -> Storage {
        let c = detached().contiguous()
        let bytes = count * dtype.byteSize
        // A strided view was just gathered into fresh storage nobody else holds: use it as is.
        if c.storage !== storage && c.offset == 0 && c.storage.byteCount == bytes { return c.storage }
        let s = Storage(uninitializedByteCount: bytes)
        if bytes > 0 { s.pointer.copyMemory(from: c.storage.pointer + c.offset * dtype.byteSize, byteCount: bytes) }
        return s
    }

    /// A fresh column-major copy of a 2-D tensor (the transpose of the row-major layout).
    func linalgColumnMajorCopy<T: TensorFloat>(_: T.Type) -> Storage {
        let (m, n) = (shape[0], shape[1])
        let s = Storage(uninitializedByteCount: Swift.max(m * n, 0) * MemoryLayout<T>.stride)
        let dst = s.pointer.assumingMemoryBound(to: T.self)
        let src = pointer(T.self)
        let (rs, cs) = (strides[0], strides[1])
        for i in 0..<m {
            for j in 0..<n { dst[i + j * m] = src[i * rs + j * cs] }
        }
        return s
    }

    /// The elements as a row-major `[Double]` (the working type of the portable routines).
    func linalgDoubles() -> [Double] { detached().doubles() }

    /// A tensor of `dtype` holding `values` (row-major).
    static func linalgResult(_ values: [Double], shape: [Int], dtype: DType) -> Tensor {
        Tensor(doubles: values, shape: shape, dtype: dtype)
    }

    /// A contiguous tensor over `storage`.
    static func linalgTensor(_ storage: Storage, shape: [Int], dtype: DType) -> Tensor {
        Tensor(storage: storage, shape: shape, dtype: dtype)
    }

    /// The identity matrix [n, n].
    static func linalgIdentity(_ n: Int, dtype: DType) -> Tensor {
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        return Tensor(doubles: v, shape: [n, n], dtype: dtype)
    }
}

// MARK: - Public API

extension Tensor {
    /// Singular value decomposition `A = U · diag(S) · Vt` of a matrix.
    ///
    /// Runs LAPACK's divide-and-conquer `?gesdd`, and `?gesvd` if that fails to converge; without
    /// LAPACK a one-sided Jacobi SVD in Swift. Singular values are non-negative and descending.
    /// The row-major input is handed to LAPACK as its column-major transpose, so the routine's
    /// `U` and `Vt` outputs land, without copies, as this matrix's `Vt` and `U`.
    ///
    /// ```
    /// A [m, n],  k = min(m, n)
    /// thin (full: false): U [m, k], S [k], Vt [k, n]
    /// full (full: true):  U [m, m], S [k], Vt [n, n]
    /// ```
    ///
    /// The results are detached: gradients do not flow through the SVD.
    ///
    /// - Parameter full: Return square `U` and `Vt` (complete orthonormal bases) instead of thin ones.
    /// - Returns: `(u, s, vt)` in this tensor's dtype.
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` when the SVD does not converge.
    ///
    /// ```swift
    /// let (u, s, vt) = try a.svd()
    /// ```
    public func svd(full: Bool = false) throws -> (u: Tensor, s: Tensor, vt: Tensor) {
        try svd(full: full, usingLAPACK: true)
    }

    /// ``svd(full:)`` with the portable Swift routine forced when `usingLAPACK` is false (for tests).
    func svd(full: Bool, usingLAPACK: Bool) throws -> (u: Tensor, s: Tensor, vt: Tensor) {
        let (m, n) = linalgMatrixDimensions(op: "svd")
        let k = Swift.min(m, n)
        if k == 0 {
            return (full ? Tensor.linalgIdentity(m, dtype: dtype) : Tensor.zeros([m, 0], dtype: dtype),
                    Tensor.zeros([0], dtype: dtype),
                    full ? Tensor.linalgIdentity(n, dtype: dtype) : Tensor.zeros([0, n], dtype: dtype))
        }
        var result: (u: Tensor, s: Tensor, vt: Tensor)?
        if usingLAPACK {
            switch dtype {
            case .float32: result = try Linalg.lapackSVD(self, Float.self, full: full)
            default: result = try Linalg.lapackSVD(self, Double.self, full: full)
            }
        }
        if let result { return result }
        let p = try PortableLinalg.svd(linalgDoubles(), m: m, n: n, full: full)
        return (Tensor.linalgResult(p.u, shape: [m, full ? m : k], dtype: dtype),
                Tensor.linalgResult(p.s, shape: [k], dtype: dtype),
                Tensor.linalgResult(p.vt, shape: [full ? n : k, n], dtype: dtype))
    }

    /// Reduced QR decomposition `A = Q · R` of a matrix.
    ///
    /// Runs LAPACK's Householder `?geqrf` and forms Q with `?orgqr`; without LAPACK a Householder
    /// QR in Swift. Q has orthonormal columns and R is upper triangular (upper trapezoidal when
    /// the matrix is wide).
    ///
    /// Sign convention: R's diagonal is made non-negative (rows of R and columns of Q whose
    /// diagonal entry is negative are negated), so the factorization of a full-rank matrix is
    /// unique and the same with or without LAPACK. (Raw Householder QR leaves arbitrary signs.)
    ///
    /// ```
    /// A [m, n],  k = min(m, n):  Q [m, k], R [k, n]
    /// ```
    ///
    /// The results are detached from the gradient graph.
    ///
    /// - Returns: `(q, r)` in this tensor's dtype.
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` if LAPACK reports a failure.
    public func qr() throws -> (q: Tensor, r: Tensor) {
        try qr(usingLAPACK: true)
    }

    /// ``qr()`` with the portable Swift routine forced when `usingLAPACK` is false (for tests).
    func qr(usingLAPACK: Bool) throws -> (q: Tensor, r: Tensor) {
        let (m, n) = linalgMatrixDimensions(op: "qr")
        let k = Swift.min(m, n)
        if k == 0 { return (Tensor.zeros([m, 0], dtype: dtype), Tensor.zeros([0, n], dtype: dtype)) }
        var result: (q: Tensor, r: Tensor)?
        if usingLAPACK {
            switch dtype {
            case .float32: result = try Linalg.lapackQR(self, Float.self)
            default: result = try Linalg.lapackQR(self, Double.self)
            }
        }
        if let result { return result }
        let p = PortableLinalg.qr(linalgDoubles(), m: m, n: n)
        return (Tensor.linalgResult(p.q, shape: [m, k], dtype: dtype),
                Tensor.linalgResult(p.r, shape: [k, n], dtype: dtype))
    }

    /// Eigendecomposition `A = V · diag(λ) · Vᵀ` of a symmetric matrix.
    ///
    /// Runs LAPACK's divide-and-conquer `?syevd`; without LAPACK a cyclic Jacobi eigensolver in
    /// Swift. Only the lower triangle (`A[i, j]`, `i ≥ j`) is read; the matrix is assumed symmetric.
    ///
    /// ```
    /// A [n, n]:  eigenvalues [n] (ascending), eigenvectors [n, n] (column j belongs to eigenvalue j)
    /// ```
    ///
    /// The results are detached from the gradient graph. `eigenvectors` may be a transposed view.
    ///
    /// - Returns: `(eigenvalues, eigenvectors)` in this tensor's dtype.
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` when the algorithm does not converge.
    ///
    /// ```swift
    /// let (lambda, v) = try (x.matrixTransposed.matmul(x)).symmetricEigen()
    /// ```
    public func symmetricEigen() throws -> (eigenvalues: Tensor, eigenvectors: Tensor) {
        try symmetricEigen(usingLAPACK: true)
    }

    /// ``symmetricEigen()`` with the portable Swift routine forced when `usingLAPACK` is false (for tests).
    func symmetricEigen(usingLAPACK: Bool) throws -> (eigenvalues: Tensor, eigenvectors: Tensor) {
        let (m, n) = linalgMatrixDimensions(op: "symmetricEigen")
        precondition(m == n, "symmetricEigen: expected a square matrix, got shape \(shape)")
        if n == 0 { return (Tensor.zeros([0], dtype: dtype), Tensor.zeros([0, 0], dtype: dtype)) }
        var result: (eigenvalues: Tensor, eigenvectors: Tensor)?
        if usingLAPACK {
            switch dtype {
            case .float32: result = try Linalg.lapackSymmetricEigen(self, Float.self)
            default: result = try Linalg.lapackSymmetricEigen(self, Double.self)
            }
        }
        if let result { return result }
        let p = try PortableLinalg.symmetricEigen(linalgDoubles(), n: n)
        return (Tensor.linalgResult(p.values, shape: [n], dtype: dtype),
                Tensor.linalgResult(p.vectors, shape: [n, n], dtype: dtype))
    }

    /// Solves the linear system `A · X = B` for a square matrix `A` (this tensor).
    ///
    /// Runs LAPACK's LU solver `?gesv` (partial pivoting); without LAPACK Gaussian elimination
    /// with partial pivoting in Swift.
    ///
    /// ```
    /// A [n, n],  B [n] → X [n],  or  B [n, r] → X [n, r]
    /// ```
    ///
    /// The result is detached from the gradient graph.
    ///
    /// - Parameter b: The right-hand side(s), same dtype as `A`.
    /// - Returns: `X`, shaped like `b`.
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` when `A` is singular (`info` is the
    ///   1-based index of the zero pivot, as in LAPACK).
    public func solve(_ b: Tensor) throws -> Tensor {
        try solve(b, usingLAPACK: true)
    }

    /// ``solve(_:)`` with the portable Swift routine forced when `usingLAPACK` is false (for tests).
    func solve(_ b: Tensor, usingLAPACK: Bool) throws -> Tensor {
        let (m, n) = linalgMatrixDimensions(op: "solve")
        precondition(m == n, "solve: \(shape) · X = \(b.shape): A must be square")
        precondition(b.rank == 1 || b.rank == 2, "solve: \(shape) · X = \(b.shape): B must be 1-D or 2-D")
        precondition(b.shape[0] == n, "solve: \(shape) · X = \(b.shape): rows \(n) ≠ \(b.shape[0])")
        precondition(b.dtype == dtype, "solve: dtypes \(dtype) and \(b.dtype) differ")
        let r = b.rank == 1 ? 1 : b.shape[1]
        let b2 = b.rank == 1 ? b.reshaped([n, 1]) : b
        if n == 0 || r == 0 { return Tensor.zeros(b.shape, dtype: dtype) }
        var result: Tensor?
        if usingLAPACK {
            switch dtype {
            case .float32: result = try Linalg.lapackSolve(self, b2, Float.self)
            default: result = try Linalg.lapackSolve(self, b2, Double.self)
            }
        }
        let x: Tensor
        if let result {
            x = result
        } else {
            let p = try PortableLinalg.solve(linalgDoubles(), b2.linalgDoubles(), n: n, r: r)
            x = Tensor.linalgResult(p, shape: [n, r], dtype: dtype)
        }
        return b.rank == 1 ? x.reshaped([n]) : x
    }

    /// The inverse `A⁻¹` of a square matrix.
    ///
    /// Runs LAPACK's `?getrf` (LU with partial pivoting) and `?getri`; without LAPACK Gauss–Jordan
    /// elimination in Swift. Prefer ``solve(_:)`` to multiplying by an inverse.
    ///
    /// The result is detached from the gradient graph.
    ///
    /// - Returns: `A⁻¹` [n, n].
    /// - Throws: ``TensorError/linearAlgebra(routine:info:)`` when `A` is singular.
    public func inverse() throws -> Tensor {
        try inverse(usingLAPACK: true)
    }

    /// ``inverse()`` with the portable Swift routine forced when `usingLAPACK` is false (for tests).
    func inverse(usingLAPACK: Bool) throws -> Tensor {
        let (m, n) = linalgMatrixDimensions(op: "inverse")
        precondition(m == n, "inverse: expected a square matrix, got shape \(shape)")
        if n == 0 { return Tensor.zeros([0, 0], dtype: dtype) }
        var result: Tensor?
        if usingLAPACK {
            switch dtype {
            case .float32: result = try Linalg.lapackInverse(self, Float.self)
            default: result = try Linalg.lapackInverse(self, Double.self)
            }
        }
        if let result { return result }
        let p = try PortableLinalg.inverse(linalgDoubles(), n: n)
        return Tensor.linalgResult(p, shape: [n, n], dtype: dtype)
    }
}

// MARK: - LAPACK drivers

/// The LAPACK-backed implementations. Each returns nil when the routine is not available.
enum Linalg {
    /// SVD through ?gesdd, or ?gesvd when that fails to converge (or at once when `forceGESVD`, for tests).
    static func lapackSVD<T: TensorFloat>(_ a: Tensor, _ t: T.Type, full: Bool, forceGESVD: Bool = false)
        throws -> (u: Tensor, s: Tensor, vt: Tensor)?
    {
        guard let gesdd = LAPACK.function("gesdd", t, as: LAPACK.GESDD.self) else { return nil }
        let (m, n) = (a.shape[0], a.shape[1])
        let k = Swift.min(m, n)
        let size = MemoryLayout<T>.stride
        // LAPACK factors B = Aᵀ (column-major [n, m], lda = n): B = Ub·S·Vbt gives A = Vbtᵀ·S·Ubᵀ.
        // Ub (column-major [n, p], ldu = n) read row-major is Ubᵀ [p, n] = our Vt;
        // Vbt (column-major [q, m], ldvt = q) read row-major is Vbtᵀ [m, q] = our U.
        let uCols = full ? m : k        // q
        let vtRows = full ? n : k       // p
        let uStorage = Storage(uninitializedByteCount: m * uCols * size)
        let sStorage = Storage(uninitializedByteCount: k * size)
        let vtStorage = Storage(uninitializedByteCount: vtRows * n * size)

        var job = CChar(UInt8(ascii: full ? "A" : "S"))
        var rowsB = Int32(n), colsB = Int32(m), lda = Int32(n), ldu = Int32(n), ldvt = Int32(uCols)
        var info: Int32 = 0
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var query = [T](repeating: 0, count: 1)
        var lwork: Int32 = -1
        var input = a.linalgRowMajorCopy()
        if forceGESVD {
            info = 1
        } else {
            gesdd(&job, &rowsB, &colsB, input.pointer, &lda, sStorage.pointer, vtStorage.pointer, &ldu,
                  uStorage.pointer, &ldvt, &query, &lwork, &iwork, &info, 1)
            if info == 0 {
                let size = LAPACK.workspaceSize(query[0], minimum: 3 * k * k + Swift.max(m, n, 4 * k * k + 4 * k))
                var work = [T](repeating: 0, count: size)
                lwork = Int32(size)
                gesdd(&job, &rowsB, &colsB, input.pointer, &lda, sStorage.pointer, vtStorage.pointer, &ldu,
                      uStorage.pointer, &ldvt, &work, &lwork, &iwork, &info, 1)
            }
        }
        if info < 0 { preconditionFailure("svd: \(LAPACK.name("gesdd", t)) rejected argument \(-info) for shape \(a.shape)") }
        if info > 0 {
            // Divide and conquer did not converge: retry with the QR-iteration driver.
            guard let gesvd = LAPACK.function("gesvd", t, as: LAPACK.GESVD.self) else {
                throw TensorError.linearAlgebra(routine: LAPACK.name("gesdd", t), info: Int(info))
            }
            input = a.linalgRowMajorCopy()
            var jobU = job, jobVt = job
            lwork = -1
            gesvd(&jobU, &jobVt, &rowsB, &colsB, input.pointer, &lda, sStorage.pointer, vtStorage.pointer, &ldu,
                  uStorage.pointer, &ldvt, &query, &lwork, &info, 1, 1)
            if info == 0 {
                let size = LAPACK.workspaceSize(query[0], minimum: Swift.max(3 * k + Swift.max(m, n), 5 * k))
                var work = [T](repeating: 0, count: size)
                lwork = Int32(size)
                gesvd(&jobU, &jobVt, &rowsB, &colsB, input.pointer, &lda, sStorage.pointer, vtStorage.pointer,
                      &ldu, uStorage.pointer, &ldvt, &work, &lwork, &info, 1, 1)
            }
            if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("gesvd", t), info: Int(info)) }
        }
        return (Tensor.linalgTensor(uStorage, shape: [m, uCols], dtype: T.dtype),
                Tensor.linalgTensor(sStorage, shape: [k], dtype: T.dtype),
                Tensor.linalgTensor(vtStorage, shape: [vtRows, n], dtype: T.dtype))
    }

    static func lapackQR<T: TensorFloat>(_ a: Tensor, _ t: T.Type) throws -> (q: Tensor, r: Tensor)? {
        guard let geqrf = LAPACK.function("geqrf", t, as: LAPACK.GEQRF.self),
              let orgqr = LAPACK.function("orgqr", t, as: LAPACK.ORGQR.self) else { return nil }
        let (m, n) = (a.shape[0], a.shape[1])
        let k = Swift.min(m, n)
        // geqrf needs A itself in column-major order: one transposing copy (it is overwritten anyway).
        let aStorage = a.linalgColumnMajorCopy(t)   // column-major [m, n], lda = m
        var tau = [T](repeating: 0, count: k)
        var mm = Int32(m), nn = Int32(n), kk = Int32(k), lda = Int32(m), info: Int32 = 0
        var query = [T](repeating: 0, count: 1)
        var lwork: Int32 = -1
        geqrf(&mm, &nn, aStorage.pointer, &lda, &tau, &query, &lwork, &info)
        var work = [T](repeating: 0, count: LAPACK.workspaceSize(query[0], minimum: Swift.max(1, n)))
        lwork = Int32(work.count)
        geqrf(&mm, &nn, aStorage.pointer, &lda, &tau, &work, &lwork, &info)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("geqrf", t), info: Int(info)) }

        // R: the upper triangle of the first k rows, read before orgqr overwrites the buffer.
        let f = aStorage.pointer.assumingMemoryBound(to: T.self)
        let rStorage = Storage(byteCount: k * n * MemoryLayout<T>.stride)
        let r = rStorage.pointer.assumingMemoryBound(to: T.self)
        for i in 0..<k {
            for j in i..<n { r[i * n + j] = f[i + j * m] }
        }
        var qCols = Int32(k)
        lwork = -1
        orgqr(&mm, &qCols, &kk, aStorage.pointer, &lda, &tau, &query, &lwork, &info)
        work = [T](repeating: 0, count: LAPACK.workspaceSize(query[0], minimum: Swift.max(1, k)))
        lwork = Int32(work.count)
        orgqr(&mm, &qCols, &kk, aStorage.pointer, &lda, &tau, &work, &lwork, &info)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("orgqr", t), info: Int(info)) }
        // Sign convention: non-negative diagonal of R (negate row i of R and column i of Q).
        for i in 0..<k where r[i * n + i] < 0 {
            for j in i..<n { r[i * n + j] = -r[i * n + j] }
            for row in 0..<m { f[row + i * m] = -f[row + i * m] }
        }
        // Q's k columns are the first m·k elements, column-major: a row-major [k, m] read transposed.
        let q = Tensor.linalgTensor(aStorage, shape: [k, m], dtype: T.dtype).permutedView([1, 0])   // [m, k]
        return (q, Tensor.linalgTensor(rStorage, shape: [k, n], dtype: T.dtype))
    }

    static func lapackSymmetricEigen<T: TensorFloat>(_ a: Tensor, _ t: T.Type)
        throws -> (eigenvalues: Tensor, eigenvectors: Tensor)?
    {
        guard let syevd = LAPACK.function("syevd", t, as: LAPACK.SYEVD.self) else { return nil }
        let n = a.shape[0]
        // The row-major buffer is Aᵀ column-major; LAPACK's upper triangle is our lower triangle.
        let aStorage = a.linalgRowMajorCopy()
        let wStorage = Storage(uninitializedByteCount: n * MemoryLayout<T>.stride)
        var jobz = CChar(UInt8(ascii: "V")), uplo = CChar(UInt8(ascii: "U"))
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var query = [T](repeating: 0, count: 1)
        var iquery = [Int32](repeating: 0, count: 1)
        var lwork: Int32 = -1, liwork: Int32 = -1
        syevd(&jobz, &uplo, &nn, aStorage.pointer, &lda, wStorage.pointer, &query, &lwork, &iquery, &liwork, &info, 1, 1)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("syevd", t), info: Int(info)) }
        var work = [T](repeating: 0, count: LAPACK.workspaceSize(query[0], minimum: 1 + 6 * n + 2 * n * n))
        var iwork = [Int32](repeating: 0, count: Swift.max(Int(iquery[0]), 3 + 5 * n))
        lwork = Int32(work.count)
        liwork = Int32(iwork.count)
        syevd(&jobz, &uplo, &nn, aStorage.pointer, &lda, wStorage.pointer, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("syevd", t), info: Int(info)) }
        // Eigenvectors are the columns of the column-major result: row-major [n, n] read transposed.
        let vectors = Tensor.linalgTensor(aStorage, shape: [n, n], dtype: T.dtype).permutedView([1, 0])
        return (Tensor.linalgTensor(wStorage, shape: [n], dtype: T.dtype), vectors)
    }

    static func lapackSolve<T: TensorFloat>(_ a: Tensor, _ b: Tensor, _ t: T.Type) throws -> Tensor? {
        guard let gesv = LAPACK.function("gesv", t, as: LAPACK.GESV.self) else { return nil }
        let (n, r) = (b.shape[0], b.shape[1])
        let aStorage = a.linalgColumnMajorCopy(t)   // column-major [n, n]
        let bStorage = b.linalgColumnMajorCopy(t)   // column-major [n, r]
        var ipiv = [Int32](repeating: 0, count: n)
        var nn = Int32(n), nrhs = Int32(r), lda = Int32(n), ldb = Int32(n), info: Int32 = 0
        gesv(&nn, &nrhs, aStorage.pointer, &lda, &ipiv, bStorage.pointer, &ldb, &info)
        if info < 0 { preconditionFailure("solve: \(LAPACK.name("gesv", t)) rejected argument \(-info) for \(a.shape), \(b.shape)") }
        if info > 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("gesv", t), info: Int(info)) }
        // X column-major [n, r] is a row-major [r, n] read transposed (for r = 1, simply [n, 1]).
        if r == 1 { return Tensor.linalgTensor(bStorage, shape: [n, 1], dtype: T.dtype) }
        return Tensor.linalgTensor(bStorage, shape: [r, n], dtype: T.dtype).permutedView([1, 0])
    }

    static func lapackInverse<T: TensorFloat>(_ a: Tensor, _ t: T.Type) throws -> Tensor? {
        guard let getrf = LAPACK.function("getrf", t, as: LAPACK.GETRF.self),
              let getri = LAPACK.function("getri", t, as: LAPACK.GETRI.self) else { return nil }
        let n = a.shape[0]
        // The row-major buffer is Aᵀ column-major, and (Aᵀ)⁻¹ column-major is A⁻¹ row-major: no transposes.
        let aStorage = a.linalgRowMajorCopy()
        var ipiv = [Int32](repeating: 0, count: n)
        var mm = Int32(n), nn = Int32(n), lda = Int32(n), info: Int32 = 0
        getrf(&mm, &nn, aStorage.pointer, &lda, &ipiv, &info)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("getrf", t), info: Int(info)) }
        var query = [T](repeating: 0, count: 1)
        var lwork: Int32 = -1
        getri(&nn, aStorage.pointer, &lda, &ipiv, &query, &lwork, &info)
        var work = [T](repeating: 0, count: LAPACK.workspaceSize(query[0], minimum: Swift.max(1, n)))
        lwork = Int32(work.count)
        getri(&nn, aStorage.pointer, &lda, &ipiv, &work, &lwork, &info)
        if info != 0 { throw TensorError.linearAlgebra(routine: LAPACK.name("getri", t), info: Int(info)) }
        return Tensor.linalgTensor(aStorage, shape: [n, n], dtype: T.dtype)
    }
}
