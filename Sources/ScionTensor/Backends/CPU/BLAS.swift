// The only file that talks to BLAS/LAPACK. On Linux, OpenBLAS is loaded at run time (dlopen) after
// choosing OPENBLAS_CORETYPE from the CPU's features: Debian's OpenBLAS 0.3.21 does not recognise
// recent Intel CPUs and silently runs its generic Prescott kernels (5× slower) unless told the core
// type, and it reads the variable only when loaded (see shared/design/PERFORMANCE.md). A user's own
// OPENBLAS_CORETYPE always wins. On Apple platforms Accelerate is used. Without any BLAS, a portable
// Swift GEMM keeps everything working and a one-line notice says how to get the fast path.

import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(Accelerate)
import Accelerate
#endif

/// Which GEMM implementation runs.
public enum BLASBackendKind: String, Sendable {
    case openBLAS = "OpenBLAS"
    case accelerate = "Accelerate"
    case portable = "portable Swift (no BLAS found)"
}

/// The loaded BLAS and LAPACK entry points.
public final class BLAS: @unchecked Sendable {
    typealias SGemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float,
        UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias DGemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Double,
        UnsafePointer<Double>?, Int32, UnsafePointer<Double>?, Int32, Double, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias SGemv = @convention(c) (Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
        UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias DGemv = @convention(c) (Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>?, Int32,
        UnsafePointer<Double>?, Int32, Double, UnsafeMutablePointer<Double>?, Int32) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void
    typealias CoreName = @convention(c) () -> UnsafePointer<CChar>?
    typealias ConfigString = @convention(c) () -> UnsafePointer<CChar>?

    /// The process-wide instance, loaded on first use.
    public static let shared = BLAS()

    /// Which backend is in use.
    public let kind: BLASBackendKind
    /// The library file that was loaded, if any.
    public let libraryPath: String?
    /// The kernel family OpenBLAS reports (`openblas_get_corename`), e.g. "SkylakeX".
    public let coreName: String?
    /// The OPENBLAS_CORETYPE Scion chose, or nil if the user set it or none was needed.
    public let chosenCoreType: String?
    /// True when the user had set OPENBLAS_CORETYPE before Scion loaded the library.
    public let coreTypeFromUser: Bool
    /// OpenBLAS's build configuration string.
    public let configuration: String?

    let sgemm: SGemm?
    let dgemm: DGemm?
    let sgemv: SGemv?
    let dgemv: DGemv?
    private let setThreadsFn: SetThreads?
    let handle: UnsafeMutableRawPointer?

    private init() {
        #if canImport(Accelerate)
        kind = .accelerate; libraryPath = "Accelerate.framework"; coreName = nil
        chosenCoreType = nil; coreTypeFromUser = false; configuration = nil
        sgemm = nil; dgemm = nil; sgemv = nil; dgemv = nil; setThreadsFn = nil; handle = nil
        #else
        let userCore = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        var chosen: String? = nil
        if userCore == nil, let core = BLAS.coreType(forCPUFlags: CPUInfo.flags) {
            setenv("OPENBLAS_CORETYPE", core, 0)
            chosen = core
        }
        coreTypeFromUser = userCore != nil
        chosenCoreType = chosen
        let candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0",
                          "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
                          "libblas.so.3"]
        var h: UnsafeMutableRawPointer? = nil
        var path: String? = nil
        for c in candidates {
            if let p = dlopen(c, RTLD_NOW | RTLD_LOCAL) { h = p; path = c; break }
        }
        handle = h
        libraryPath = path
        func sym<T>(_ name: String, _: T.Type) -> T? {
            guard let h, let s = dlsym(h, name) else { return nil }
            return unsafeBitCast(s, to: T.self)
        }
        sgemm = sym("cblas_sgemm", SGemm.self)
        dgemm = sym("cblas_dgemm", DGemm.self)
        sgemv = sym("cblas_sgemv", SGemv.self)
        dgemv = sym("cblas_dgemv", DGemv.self)
        setThreadsFn = sym("openblas_set_num_threads", SetThreads.self)
        coreName = sym("openblas_get_corename", CoreName.self).flatMap { $0() }.map { String(cString: $0) }
        configuration = sym("openblas_get_config", ConfigString.self).flatMap { $0() }.map { String(cString: $0) }
        kind = sgemm != nil ? .openBLAS : .portable
        if kind == .portable {
            FileHandle.standardError.write(Data(
                "scion: no BLAS library found; using the slow portable GEMM. Install OpenBLAS (Debian: apt-get install libopenblas0-pthread) for the fast path.\n".utf8))
        }
        // Scion splits GEMMs over its own threads (see `GEMM`); OpenBLAS itself stays single-threaded.
        setThreadsFn?(Int32(ComputeSettings.gemmThreading == .blas ? ProcessInfo.processInfo.activeProcessorCount : 1))
        #endif
    }

    /// The OpenBLAS core type for a CPU with the given /proc/cpuinfo flags; nil to let OpenBLAS decide.
    static func coreType(forCPUFlags flags: Set<String>) -> String? {
        #if arch(x86_64)
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
        #else
        return nil
        #endif
    }

    /// True when LAPACK routines (SVD, QR, eigen, solve) are available from the loaded library.
    public var hasLAPACK: Bool {
        #if canImport(Accelerate)
        return true
        #else
        return lapack("sgesdd_", as: UnsafeMutableRawPointer.self) != nil
        #endif
    }

    /// Sets OpenBLAS's thread count.
    func setThreads(_ n: Int) { setThreadsFn?(Int32(n)) }

    /// Looks up a LAPACK routine by its Fortran symbol name (e.g. "sgesdd_").
    func lapack<T>(_ name: String, as: T.Type) -> T? {
        guard let handle, let s = dlsym(handle, name) else { return nil }
        return unsafeBitCast(s, to: T.self)
    }
}

/// CPU facts for `scion doctor` and core-type selection.
public enum CPUInfo {
    /// The flags line of /proc/cpuinfo (empty elsewhere).
    public static let flags: Set<String> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
            if let colon = line.firstIndex(of: ":") {
                return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
            }
        }
        return []
    }()

    /// The CPU model name, if known.
    public static let modelName: String? = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }()
}

/// GEMM on raw row-major matrices: C = alpha·op(A)·op(B) + beta·C.
///
/// With OpenBLAS, Scion threads GEMM itself: OpenBLAS runs single-threaded, and a product big enough
/// to share is cut into one block of C per thread (column strips, or row strips when C is narrow),
/// each a single-threaded call on its own worker. Measured here (scion-bench gemm, 2 threads):
/// OpenBLAS's own threading ran the prefill's 128×3072×768 MLP projection at 84 GFLOPS, *slower* than
/// one thread (124), and its idle workers spin in `sched_yield` between calls, taking CPU from Scion's
/// element-wise kernels (~10% of a training step's samples). Every element of C is one single-threaded
/// dot product over all of K, and a given thread count always cuts C the same way, so results repeat
/// bit for bit on the same thread count. Across thread counts they may differ in the last bits: OpenBLAS
/// picks other kernels for other block sizes (measured: a row split of 300×97×40 changed bits, the column
/// splits tested did not), as its own threading did.
enum GEMM {
    /// Smallest product (M·N·K multiply-adds) worth splitting across threads.
    static let parallelThreshold = 1 << 18

    @inline(__always)
    static func run<T: TensorFloat>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                    beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        if m == 0 || n == 0 { return }
        #if !canImport(Accelerate)
        let threads = ComputeSettings.threadCount
        if threads > 1 && m * n * max(k, 1) >= parallelThreshold && BLAS.shared.kind == .openBLAS
            && !ParallelRegion.isInside && ComputeSettings.gemmThreading == .scion {
            // Column strips (multiples of 16 columns) when C is wide enough; each worker then packs
            // only its own part of B (usually the weight), and all of A (usually the smaller operand).
            let stripsN = min(threads, n / 64), stripsM = min(threads, m / 32)
            let box = UnsafeSendableBox((a, b, c))
            if stripsN >= 2 {
                let blocks = (n + 15) / 16
                parallelPerform(stripsN) { s in
                    let (a, b, c) = box.value
                    let lo = min(n, blocks * s / stripsN * 16), hi = min(n, blocks * (s + 1) / stripsN * 16)
                    guard hi > lo else { return }
                    runSingle(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                              b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
                return
            }
            if stripsM >= 2 {
                parallelPerform(stripsM) { s in
                    let (a, b, c) = box.value
                    let lo = m * s / stripsM, hi = m * (s + 1) / stripsM
                    runSingle(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                              a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                              c: c + lo * ldc, ldc: ldc)
                }
                return
            }
        }
        #endif
        runSingle(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// One BLAS call (single-threaded under OpenBLAS) or the portable GEMM.
    @inline(__always)
    static func runSingle<T: TensorFloat>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                          a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                          beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        if m == 0 || n == 0 { return }
        let ta: Int32 = transA ? 112 : 111, tb: Int32 = transB ? 112 : 111
        #if canImport(Accelerate)
        if T.self == Float.self {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha as! Float,
                        UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb), beta as! Float,
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
            return
        }
        if T.self == Double.self {
            cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha as! Double,
                        UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), beta as! Double,
                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
            return
        }
        #else
        // One output row (decoding): a matrix-vector product. OpenBLAS's sgemm packs all of B even for
        // M = 1 (measured ~2 GB/s on the 768×50257 LM head); sgemv streams B once at memory speed.
        if m == 1 && k > 0 {
            let incX = Int32(transA ? lda : 1)
            // C[1, n] = a · op(B):  op(B) = Bᵀ with B [n, k] → y = B·a;  op(B) = B [k, n] → y = Bᵀ·a.
            let (trans, rowsB, colsB): (Int32, Int, Int) = transB ? (111, n, k) : (112, k, n)
            // NOTE: with beta = 0 the output may be uninitialized memory; zero it so no NaN survives 0·y.
            if beta == 0 { c.update(repeating: 0, count: n) }
            if T.self == Float.self, let f = BLAS.shared.sgemv {
                f(101, trans, Int32(rowsB), Int32(colsB), Float(alpha),
                  UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb),
                  UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), incX, Float(beta),
                  UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), 1)
                return
            }
            if T.self == Double.self, let f = BLAS.shared.dgemv {
                f(101, trans, Int32(rowsB), Int32(colsB), Double(alpha),
                  UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb),
                  UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), incX, Double(beta),
                  UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), 1)
                return
            }
        }
        if k > 0, T.self == Float.self, let f = BLAS.shared.sgemm {
            f(101, ta, tb, Int32(m), Int32(n), Int32(k), Float(alpha),
              UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
              UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb), Float(beta),
              UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
            return
        }
        if k > 0, T.self == Double.self, let f = BLAS.shared.dgemm {
            f(101, ta, tb, Int32(m), Int32(n), Int32(k), Double(alpha),
              UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
              UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb), Double(beta),
              UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
            return
        }
        #endif
        portable(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                 b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Portable GEMM: rows of C in parallel, an i-k-j loop that streams rows of B. Slow but correct.
    static func portable<T: TensorFloat>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                         a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                         beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
        let box = UnsafeSendableBox((a, b, c))
        parallelFor(m, grain: max(1, 4096 / max(n * k, 1))) { rows in
            let (a, b, c) = box.value
            var row = [T](repeating: 0, count: n)
            for i in rows {
                for j in 0..<n { row[j] = 0 }
                for p in 0..<k {
                    let aip = transA ? a[p * lda + i] : a[i * lda + p]
                    if aip == 0 { continue }
                    if transB {
                        for j in 0..<n { row[j] += aip * b[j * ldb + p] }
                    } else {
                        let bp = b + p * ldb
                        for j in 0..<n { row[j] += aip * bp[j] }
                    }
                }
                let ci = c + i * ldc
                for j in 0..<n { ci[j] = alpha * row[j] + (beta == 0 ? 0 : beta * ci[j]) }
            }
        }
    }
}
